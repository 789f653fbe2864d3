"""The HTML gallery, `output_dir/index.html`: opens from disk, no server, no script, no external asset.

Layout, per prompt set (in spec order):

- a set made with several models (a training sweep) is a comparison table: one row per prompt
  (variables and seed), one column per model, the same prompt side by side;
- a matrix set is a grid: rows are the first variable's values, columns the second's, seeds side
  by side in each cell; a third and further variables make one grid per combination;
- a set without variables is a row of cards, one per seed.

Each card links to the full file and opens a <details> block with the prompt, the structured
prompt and every parameter. A video that browsers play (an MP4, WebM or Ogg file, by its
content) gets a <video> player with the source image as poster and a visible link to the file;
any other video (the sandbox's MJPEG AVI without PyAV) is never a dead player: its source frame
is shown, linked to the file, with a note saying why it does not play inline. Outputs the spec
no longer asks for sit beside the current output of the same prompt and seed when there is one
(an earlier model version: a set then shows one row per prompt and seed, a column per version,
newest first; a sweep keeps its columns, earlier versions stacked under the current one), else
they are listed apart. With the spec's decisions (``<spec>.decisions.yaml``) each card shows
its approval, rejection and note, read-only; the review server (`bria-pipeline review serve`)
serves the same page with buttons that edit that file. Cards sit in a grid that follows the window's width. Links
are relative, so the folder can be moved or zipped whole. Thumbnails are cached under
`output_dir/.thumbs/`, named by content hash.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Iterable, Mapping
from typing import Any

from bria_pipeline import __version__
from bria_pipeline.atomic import write_atomic
from bria_pipeline.decisions import NO_DECISIONS, Decisions
from bria_pipeline.model import Desired
from bria_pipeline.plan.generation_steps import record_address as output_address
from bria_pipeline.identity import model_base
from bria_pipeline.state.manifest import Manifest
from bria_pipeline.state.records import OutputRecord
from bria_pipeline.reports.templates import href, render
from bria_pipeline.generate.thumbnails import cached_frame_thumbnail, cached_thumbnail, sweep_thumbnails
from bria_pipeline.model import digest
from bria_pipeline.output_names import slug, thumbnail_name

INDEX_FILE = "index.html"
PLAYABLE = {"mp4": "video/mp4", "webm": "video/webm", "ogg": "video/ogg"}  # container -> the <source> type


@dataclass
class GalleryItem:
    """One card: what the template shows of one manifest record."""

    record: OutputRecord
    href: str | None
    thumb: str | None
    poster: str | None = None
    label: str = ""
    container: str | None = None  # videos: "mp4", "webm", "ogg", "avi" or None, read from the file's first bytes
    address: str = ""  # the output's plan address: what the decisions file names
    decision: str | None = None  # "approve", "reject" or None
    note: str | None = None
    earlier: bool = False  # made by an earlier version of the model (no longer in the spec)
    version: str = ""  # the model version that made it: remote name, checkpoint, differing parameters

    @property
    def animated(self) -> bool:
        """A video stored as an animated image (the sandbox's fallback): shown by an <img>."""
        return self.container in ("webp", "gif")

    @property
    def playable(self) -> bool:
        """A video file browsers play inline (MP4, WebM, Ogg)."""
        return self.container in PLAYABLE

    def __getattr__(self, name: str) -> Any:  # the record's fields, for the template
        return getattr(self.record, name)

    @property
    def alt(self) -> str:
        text = self.record.prompt or self.record.name
        return text if len(text) <= 200 else text[:199] + "…"

    @property
    def structured_prompt(self) -> str | None:
        text = self.record.structured_prompt
        if not text:
            return None
        try:
            return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            return text

    @property
    def details(self) -> list[tuple[str, str]]:
        r = self.record
        rows: list[tuple[str, Any]] = [("file", r.file or r.name), ("status", r.status)]
        if r.kind == "video":
            rows.append(("source image", r.source))
        rows += [(f"{name}", value) for name, value in r.variables.items()]
        rows.append(("seed", r.seed))
        rows += [(name, value) for name, value in sorted(r.params.items())]
        rows += [
            ("model", r.model),
            ("model name", r.model_name),
            ("model id", r.model_id),
            ("model version", r.model_version),
            ("request id", r.request_id),
            ("key", r.key),
            ("sha256", r.sha256),
            ("created", r.created),
            ("completed", r.completed),
        ]
        if r.attempts > 1:
            rows.append(("attempts", r.attempts))
        if r.paid_again:
            rows.append(("paid again", "yes: the answer to an earlier request was lost"))
        if r.error:
            rows.append(("error", r.error))
        return [(name, "" if value is None else str(value)) for name, value in rows if value is not None]


@dataclass
class GridRow:
    label: str
    cells: list[list[GalleryItem]]
    note: str | None = None  # sweeps: the prompt the row compares


@dataclass
class Grid:
    caption: str | None
    row_var: str
    col_var: str | None
    columns: list[str]
    rows: list[GridRow]


@dataclass
class SetView:
    name: str
    anchor: str
    layout: str  # "sweep", "grid" or "list"
    items: list[GalleryItem] = field(default_factory=list)
    grids: list[Grid] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # sweep: model keys
    rows: list[GridRow] = field(default_factory=list)  # sweep rows
    count: int = 0
    earlier: int = 0  # outputs of earlier model versions shown beside the current ones


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _ordered(values: list[Any]) -> list[str]:
    seen: dict[str, None] = {}
    for v in values:
        seen.setdefault(_text(v), None)
    return list(seen)


def _vars_label(variables: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_text(v)}" for k, v in variables.items())


def _row_label(r: OutputRecord) -> str:
    return " · ".join(p for p in (_vars_label(r.variables), f"seed {r.seed}") if p)


def _versions_view(view: SetView, items: list[GalleryItem]) -> None:
    """One row per prompt and seed, one column per model version, newest first."""
    view.layout = "versions"
    current = _ordered([i.version for i in items if not i.earlier])
    newest: dict[str, str] = {}
    for i in items:
        newest[i.version] = max(newest.get(i.version, ""), i.record.completed or "")
    earlier = sorted({i.version for i in items if i.version not in current}, key=lambda v: newest[v], reverse=True)
    view.columns = current + earlier
    rows: dict[str, dict[str, list[GalleryItem]]] = {}
    notes: dict[str, str | None] = {}
    for item in sorted(items, key=_seed_order):
        label = _row_label(item.record)
        rows.setdefault(label, {}).setdefault(item.version, []).append(item)
        notes.setdefault(label, item.alt if item.record.prompt else None)
    view.rows = [GridRow(label, [cells.get(v, []) for v in view.columns], notes[label]) for label, cells in rows.items()]


def _sweep_view(view: SetView, items: list[GalleryItem]) -> None:
    view.layout = "sweep"
    view.columns = _ordered([i.record.model for i in items])
    rows: dict[str, dict[str, list[GalleryItem]]] = {}
    notes: dict[str, str | None] = {}
    for item in sorted(items, key=lambda i: i.earlier):  # in each cell the current output first
        r = item.record
        label = _row_label(r)
        rows.setdefault(label, {}).setdefault(r.model, []).append(item)
        notes.setdefault(label, item.alt if r.prompt else None)
    view.rows = [GridRow(label, [cells.get(m, []) for m in view.columns], notes[label]) for label, cells in rows.items()]


def _grid_view(view: SetView, items: list[GalleryItem], names: list[str]) -> None:
    view.layout = "grid"
    row_var = names[0]
    col_var = names[1] if len(names) > 1 else None
    rest = names[2:]
    groups: dict[str, list[GalleryItem]] = {}
    for item in items:
        caption = ", ".join(f"{n}={_text(item.record.variables.get(n))}" for n in rest)
        groups.setdefault(caption, []).append(item)
    for caption, members in groups.items():
        row_values = _ordered([m.record.variables.get(row_var) for m in members])
        col_values = _ordered([m.record.variables.get(col_var) for m in members]) if col_var else [""]
        cells: dict[tuple[str, str], list[GalleryItem]] = {}
        for m in members:
            v = m.record.variables
            col = _text(v.get(col_var)) if col_var else ""
            cells.setdefault((_text(v.get(row_var)), col), []).append(m)
        rows = [GridRow(rv, [sorted(cells.get((rv, cv), []), key=_seed_order) for cv in col_values]) for rv in row_values]
        view.grids.append(Grid(caption or None, row_var, col_var, col_values if col_var else [], rows))


def _seed_order(item: GalleryItem) -> tuple[int, str]:
    seed = item.record.seed
    return (seed if isinstance(seed, int) else 0, item.record.key)


def _set_view(name: str, items: list[GalleryItem]) -> SetView:
    view = SetView(name=name, anchor=slug(name) or digest(name)[:8], layout="list", count=len(items))
    variable_names: list[str] = []
    for item in items:
        for n in item.record.variables:
            if n not in variable_names:
                variable_names.append(n)
    for item in items:
        item.label = f"seed {item.record.seed}" if item.record.seed is not None else item.record.name
        if item.earlier:
            item.label += f" · earlier: {item.version}"
    view.earlier = sum(1 for i in items if i.earlier)
    if len({i.record.model for i in items}) > 1:
        _sweep_view(view, items)
    elif view.earlier:
        _versions_view(view, items)
    elif variable_names:
        _grid_view(view, items, variable_names)
    else:
        view.items = sorted(items, key=_seed_order)
    return view


def video_container(path: Path) -> str | None:
    """The container of a video file by its first bytes, whatever its name says."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return None
    if head[4:8] == b"ftyp":
        return "mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return None


def _item(output_dir: Path, record: OutputRecord, elsewhere: bool = False, prefix: str = "") -> GalleryItem:
    """`elsewhere`: the file is not in this working copy but beside the page in the backend."""
    path = output_dir / record.file if record.file else None
    present = path is not None and (path.is_file() or elsewhere)
    link = prefix + href(record.file) if present and record.file else None
    thumb = None
    container = None
    if present and record.kind == "image" and path is not None:
        rel = cached_thumbnail(output_dir, path, _content_hash(record))
        thumb = prefix + href(rel) if rel else None
    elif present and record.kind == "video" and path is not None:  # in the backend only: by its name
        container = video_container(path) if path.is_file() else (path.suffix.lstrip(".").lower() or None)
    return GalleryItem(record=record, href=link, thumb=thumb, label=record.name, container=container)


def _content_hash(record: OutputRecord) -> str:
    return record.sha256 or digest(record.file)


def _order(record: OutputRecord) -> tuple[int, str]:
    return (record.order if record.order is not None else 1 << 30, record.name)


def gallery_title(project: str, spec: Path) -> str:
    """``lucy-example · lucy/spec.yaml``: the project and the spec (with its folder) the outputs are of."""
    return f"{project} · {spec.parent.name}/{spec.name}" if spec.parent.name else f"{project} · {spec.name}"


def _version_label(record: OutputRecord, model_params: Mapping[str, Mapping[str, Any]], current: Mapping[str, Any]) -> str:
    """``lucy-lora-1a2b3c4d (checkpoint 500; rank 16)``: the version, with what differs from the current one."""
    parts = []
    if record.model_version not in (None, "latest"):
        parts.append(f"checkpoint {record.model_version}")
    mine = model_params.get(record.model_name or "", {})
    other = current.get(model_base(record.model), {})
    parts += [f"{k} {_text(mine.get(k))}" for k in sorted(set(mine) | set(other)) if mine.get(k) != other.get(k) and k in mine]
    name = record.model_name or record.model
    return f"{name} ({'; '.join(parts)})" if parts else name


def model_parameters(desired: Desired, models: Iterable[Any] = ()) -> dict[str, dict[str, Any]]:
    """Remote model name -> training parameters: of `models` (observed, with ``name`` and
    ``training_parameters``), then of the spec's own models (what the spec trains them with)."""
    found = {m.name: dict(m.training_parameters or {}) for m in models}
    found.update({m.remote_name(desired.dataset_of(m)): m.training.as_body() for m in desired.models.values()})
    return found


def _signature(record: OutputRecord) -> tuple[str, str, str, Any]:
    """What makes two records the same prompt and seed, whichever model version made them."""
    return (record.set_name, model_base(record.model), json.dumps(record.variables, sort_keys=True, default=str), record.seed)


def write_gallery(output_dir: Path, manifest: Manifest, *, title: str | None = None,
                  decisions: Decisions = NO_DECISIONS, model_params: Mapping[str, Mapping[str, Any]] | None = None) -> Path:
    """Write `output_dir/index.html` from the manifest; returns its path.

    `title` names what the outputs are of (see `gallery_title`); the page's title reads
    "<title> · generated outputs". `decisions`: shown on each card, read-only. `model_params`:
    remote model name -> training parameters, to label earlier versions with what differs.
    """
    output_dir = Path(output_dir)
    html = gallery_html(output_dir, manifest, title=title, decisions=decisions, model_params=model_params)
    target = output_dir / INDEX_FILE
    data = html.encode("utf-8")
    try:
        unchanged = target.read_bytes() == data
    except OSError:
        unchanged = False
    if not unchanged:  # the page depends only on the manifest and files: same inputs, same bytes
        write_atomic(target, data)
    # thumbnails of outputs pruned or replaced since would pile up in .thumbs/ forever
    sweep_thumbnails(output_dir, {thumbnail_name(_content_hash(r)) for r in manifest if r.file and r.kind in ("image", "video")})
    return target


def gallery_html(output_dir: Path, manifest: Manifest, *, title: str | None = None,
                 decisions: Decisions = NO_DECISIONS, model_params: Mapping[str, Mapping[str, Any]] | None = None,
                 review: Mapping[str, Any] | None = None, prefix: str = "") -> str:
    """The gallery page. `review`: served by the review server (its token, the dataset panel):
    the page gets the buttons, filters and zoom; `prefix` goes before every file link."""
    output_dir = Path(output_dir)
    model_params = model_params or {}
    records = sorted(manifest, key=_order)
    items = {r.key: _item(output_dir, r, r.file in manifest.files and not manifest.files[r.file].local, prefix)
             for r in records}
    current_params = {model_base(r.model): model_params.get(r.model_name or "", {}) for r in records if not r.retired}
    for record in records:
        item = items[record.key]
        item.address = output_address(record)
        found = decisions.for_output(record.key, item.address)
        if found is not None:
            item.decision, item.note = found.decision, found.note
        item.version = _version_label(record, model_params, current_params)
    current = {_signature(r) for r in records if not r.retired and r.kind == "image"}
    sets: dict[str, list[GalleryItem]] = {}
    videos: list[GalleryItem] = []
    retired: list[GalleryItem] = []
    for record in records:
        item = items[record.key]
        if record.retired and record.kind == "image" and _signature(record) in current:
            item.earlier = True
            sets.setdefault(record.set_name, []).append(item)
        elif record.retired:
            retired.append(item)
        elif record.kind == "video":
            source = items.get(record.source or "")
            if item.animated:
                item.thumb = item.href
            item.poster = source.thumb if source else None
            if item.poster is None and item.container == "avi" and record.file:  # its own first frame
                rel = cached_frame_thumbnail(output_dir, output_dir / record.file, _content_hash(record))
                item.poster = prefix + href(rel) if rel else None
            item.label = record.set_name
            videos.append(item)
        else:
            sets.setdefault(record.set_name, []).append(item)
    counts = {
        status: sum(1 for r in records if r.status == status and not r.retired)
        for status in ("done", "pending", "failed")
    }
    counted = [i for i in items.values() if i.record.file]
    return render(
        "gallery.html.j2",
        review=review,
        reviewed={"approved": sum(1 for i in counted if i.decision == "approve"),
                  "rejected": sum(1 for i in counted if i.decision == "reject"),
                  "undecided": sum(1 for i in counted if i.decision is None)} if decisions.file or review else None,
        title=f"{title} · generated outputs" if title else "Generated outputs",
        playable_types=PLAYABLE,
        folder=output_dir.name,
        version=__version__,
        latest=max((r.completed for r in records if r.completed), default=None),
        counts=counts,
        sets=[_set_view(name, members) for name, members in sets.items()],
        videos=videos,
        retired=retired,
        models=_ordered([i.version for i in items.values()]),
    )
