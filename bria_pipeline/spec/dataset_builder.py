"""`datasets:` -> `DesiredDataset`s: sources, upload type, visual schema, captions, completion.

Two passes, so that every local file of every dataset is inspected in one concurrent batch:
`prepare()` resolves paths and globs, `build()` checks the facts and makes the datasets.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bria_pipeline.model import DesiredDataset, ImageSource, StagingSpec, UploadType, VisualSchemaSpec
from bria_pipeline.spec.context import BuildContext
from bria_pipeline.spec.image_preflight import ImagePreflight, PendingImage
from bria_pipeline.spec.local_files import LocateError, check_inside, normalise_key
from bria_pipeline.spec.problems import SpecPath, SpecProblem, did_you_mean, format_path
from bria_pipeline.spec.yaml_source import MAX_SPEC_BYTES

BASIC_MAX = 200
ADVANCED_MAX = 5000
COMPLETE_MIN = 5
SAMPLES_MIN, SAMPLES_MAX = 5, 10


def as_tuple(value: Any) -> tuple[str, ...]:
    """`refine: text` or `refine: [a, b]` -> a tuple of instructions."""
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def json_text(ctx: BuildContext, at: SpecPath, value: Any, what: str) -> str | None:
    """A JSON text given as a string (checked) or as a YAML map (serialised, order kept)."""
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    try:
        json.loads(value)
    except ValueError as exc:
        ctx.error(at, f"{what} is not valid JSON: {exc}",
                  "write it as a YAML map instead, or fix the JSON text (the API stores it as JSON)")
        return None
    return value.strip()


def staging_of(raw: dict[str, Any] | None, ctx: BuildContext, at: SpecPath) -> StagingSpec | None:
    if not isinstance(raw, dict) or not ctx.sound(at):
        return None
    kind = raw["kind"]
    needs = {"url_template": ("url_template", "upload_command"), "fsspec": ("base",), "sandbox": ()}[kind]
    for name in needs:
        if name not in raw:
            ctx.error(at, f"staging kind {kind} needs {name}", "see the staging section of the spec reference")
    return StagingSpec(
        kind=kind,
        url_template=raw.get("url_template"),
        upload_command=tuple(raw.get("upload_command", ())),
        base=raw.get("base"),
        presign_seconds=raw.get("presign_seconds", 3600),
        public_url=raw.get("public_url"),
        storage_options=tuple(sorted((raw.get("storage_options") or {}).items())),
        mark=ctx.mark(at),
    )


@dataclass
class _Prepared:
    name: str
    at: SpecPath
    raw: dict[str, Any]
    images: list[PendingImage] = field(default_factory=list)
    samples: list[PendingImage] = field(default_factory=list)


class DatasetSection:
    def __init__(self, ctx: BuildContext, preflight: ImagePreflight) -> None:
        self.ctx = ctx
        self.preflight = preflight
        self.prepared: list[_Prepared] = []

    def prepare(self) -> None:
        datasets = self.ctx.get(("datasets",))
        if not isinstance(datasets, dict):
            return
        for name, raw in datasets.items():
            at = ("datasets", name)
            if not isinstance(raw, dict) or self.ctx.broken(at):
                continue
            # wrong scalar settings are left out (reported by the schema); the sections below are
            # checked piece by piece so their sound parts are still validated
            kept = {k: v for k, v in raw.items() if k in ("images", "visual_schema", "captions") or self.ctx.sound(at + (k,))}
            item = _Prepared(name, at, kept)
            upscale = raw.get("increase_resolution", False)
            moderate = raw.get("content_moderation", False)
            if isinstance(raw.get("images"), list) and self.ctx.sound(at + ("images",)):
                item.images = self.preflight.sources(at + ("images",), raw["images"], upscale, moderate)
            schema = raw.get("visual_schema")
            if isinstance(schema, dict) and isinstance(schema.get("samples"), list) \
                    and self.ctx.sound(at + ("visual_schema", "samples")):
                item.samples = self.preflight.strings(at + ("visual_schema", "samples"), schema["samples"], upscale)
            self.prepared.append(item)

    def build(self) -> dict[str, DesiredDataset]:
        out: dict[str, DesiredDataset] = {}
        for item in self.prepared:
            dataset = self._build_one(item)
            if dataset is not None:
                out[item.name] = dataset
        return out

    # -- one dataset ---------------------------------------------------------------------------
    def _build_one(self, item: _Prepared) -> DesiredDataset | None:
        ctx, raw, at = self.ctx, item.raw, item.at
        images = self.preflight.finish(item.images, f"datasets.{item.name}.images")
        zip_url = raw.get("zip_url")
        complete = raw.get("complete", True)
        upload_type, auto = self._upload_type(item, images, zip_url)
        self._counts(item, images, upload_type, auto, zip_url, complete)
        images = self._captions(item, images, zip_url)
        schema = self._visual_schema(item, complete)
        staging = staging_of(raw.get("staging"), ctx, at + ("staging",)) or staging_of(
            ctx.get(("staging",)), ctx, ("staging",)
        )
        if not ctx.sound(at):
            return None
        return DesiredDataset(
            key=item.name,
            upload_type=upload_type,
            images=tuple(images),
            visual_schema=schema or VisualSchemaSpec(),
            zip_url=zip_url,
            complete=complete,
            content_moderation=raw.get("content_moderation", False),
            mark=ctx.mark(at),
            staging=staging if upload_type == "advanced" and zip_url is None else None,
            upload_type_auto=auto,
        )

    def _upload_type(self, item: _Prepared, images: list[ImageSource], zip_url: str | None) -> tuple[UploadType, bool]:
        ctx, raw, at = self.ctx, item.raw, item.at
        declared = raw.get("upload_type")
        if zip_url is not None:
            if declared == "basic":
                ctx.error(at + ("zip_url",), "zip_url is for advanced datasets; this one has upload_type basic",
                          "set upload_type: advanced, or list the images instead of a zip")
            if "images" in raw:
                ctx.error(at + ("zip_url",), "give either images or zip_url, not both",
                          "an advanced dataset takes one bulk upload: a zip the runner builds from images:, or your zip_url")
            return "advanced", declared is None
        if "images" not in raw:
            ctx.error(at, "the dataset has no images", "add images: (paths, globs or URLs), or a zip_url for an advanced dataset")
        count = len(item.images) if item.images else len(images)
        if declared is None:
            return ("basic" if count <= BASIC_MAX else "advanced"), True
        return declared, False

    def _counts(self, item: _Prepared, images: list[ImageSource], upload_type: str, auto: bool,
                zip_url: str | None, complete: bool) -> None:
        ctx, at = self.ctx, item.at
        if not ctx.sound(at + ("images",)):
            return  # the list itself is wrong: counting it would only repeat that
        count = len(item.images)
        where = at + ("upload_type",) if not auto else at + ("images",)
        if upload_type == "basic" and count > BASIC_MAX:
            ctx.error(where, f"a basic dataset takes at most {BASIC_MAX} images; this one lists {count}",
                      "set upload_type: advanced (one zip, up to 5000 images), or leave upload_type out to choose by count")
        if upload_type == "advanced" and count > ADVANCED_MAX:
            ctx.error(at + ("images",), f"an advanced dataset takes at most {ADVANCED_MAX} images; this one lists {count}",
                      "split the images over two datasets, or remove some")
        urls = [image for image in item.images if image.url is not None]
        if upload_type == "advanced" and zip_url is None and urls:
            ctx.error(urls[0].at, f"{urls[0].key}: an advanced dataset is uploaded as one zip built from local files; "
                      f"it cannot include image URLs ({len(urls)} listed)",
                      "download the images into the spec's directory and list the files, or use upload_type: basic")
        if complete and zip_url is None and "images" in item.raw and count < COMPLETE_MIN \
                and self.preflight.resolved(at + ("images",)):
            ctx.error(at + ("images",), f"a dataset needs at least {COMPLETE_MIN} images to be completed; this one lists {count}",
                      "add images, or set complete: false to keep it a draft")

    def _captions(self, item: _Prepared, images: list[ImageSource], zip_url: str | None) -> list[ImageSource]:
        ctx, at = self.ctx, item.at + ("captions",)
        captions = item.raw.get("captions")
        if not isinstance(captions, dict) or ctx.broken(at):
            return images
        captions = ctx.sound_fields(at, captions)
        if zip_url is not None:
            ctx.error(at, "captions need listed images; this dataset is a zip_url",
                      "list the images (images:) to set captions per image")
            return images
        index = {normalise_key(img.key) if img.url is None else img.key: n for n, img in enumerate(images)}
        listed = {p.key for p in item.images}
        updated = list(images)
        for written, entry in captions.items():
            key = written if written.startswith(("http://", "https://")) else normalise_key(written)
            here = at + (written,)
            if key not in index:
                if key in listed or not self.preflight.resolved(item.at + ("images",)):
                    continue  # the image itself, or a glob naming nothing, is reported already
                close = did_you_mean(key, list(index))
                ctx.error(here, f"no image {written!r} in this dataset",
                          (f"did you mean '{close}'? " if close else "") + "caption keys are image paths relative to the spec, or URLs",
                          key=True)
                continue
            caption = None
            if "caption" in entry:
                caption = json_text(ctx, here + ("caption",), entry["caption"], "the caption")
            n = index[key]
            updated[n] = replace(updated[n], caption=caption, caption_refine=as_tuple(entry.get("refine")))
        return updated

    def _visual_schema(self, item: _Prepared, complete: bool) -> VisualSchemaSpec | None:
        ctx, at = self.ctx, item.at + ("visual_schema",)
        raw = item.raw.get("visual_schema")
        if raw is None:
            if complete:
                ctx.error(item.at, "the dataset needs a visual_schema to be completed",
                          "add visual_schema: {samples: [5-10 images]}, or set complete: false")
            return None
        if not isinstance(raw, dict) or ctx.broken(at):
            return None
        given = [k for k in ("samples", "file", "inline") if k in raw]
        if any(not ctx.sound(at + (k,)) for k in given):
            return None
        if len(given) != 1:
            message = "give exactly one of samples, file or inline" + (f", not {' and '.join(given)}" if given else "")
            ctx.error(at, message, "samples: 5-10 images; file: a JSON file; inline: the schema itself")
            return None
        refine = as_tuple(raw.get("refine")) if ctx.sound(at + ("refine",)) else ()
        mark = ctx.mark(at)
        if "samples" in raw:
            samples = self.preflight.finish(item.samples, f"{format_path(at)}.samples")
            count = len(item.samples)
            if not SAMPLES_MIN <= count <= SAMPLES_MAX:
                ctx.error(at + ("samples",), f"the visual schema needs {SAMPLES_MIN}-{SAMPLES_MAX} sample images; "
                          f"these name {count}", "pick 5 to 10 images that show what all training images share")
            return VisualSchemaSpec(samples=tuple(samples), refine=refine, mark=mark)
        if "inline" in raw:
            text = json_text(ctx, at + ("inline",), raw["inline"], "the inline visual schema")
            return VisualSchemaSpec(text=text, refine=refine, mark=mark)
        text = self._schema_file(at + ("file",), raw["file"])
        return VisualSchemaSpec(text=text, refine=refine, mark=mark)

    def _schema_file(self, at: SpecPath, written: str) -> str | None:
        ctx = self.ctx
        lexical = Path(os.path.normpath(ctx.spec_dir / written))
        try:
            local = check_inside(normalise_key(written), lexical, ctx.spec_dir, ctx.allow_outside)
        except LocateError as exc:
            ctx.error(at, str(exc), exc.hint)
            return None
        try:
            data = local.real.read_bytes()
        except OSError as exc:
            ctx.error(at, f"{written}: cannot be read ({exc.strerror or exc})", "paths are relative to the spec's directory")
            return None
        if len(data) > MAX_SPEC_BYTES:
            ctx.error(at, f"{written}: {len(data):,} bytes is more than a visual schema can be ({MAX_SPEC_BYTES:,})")
            return None
        try:
            text = data.decode("utf-8-sig")
            json.loads(text)
        except UnicodeDecodeError:
            ctx.error(at, f"{written}: not UTF-8 text", "save the file as UTF-8 JSON")
            return None
        except json.JSONDecodeError as exc:
            display = (Path(ctx.doc.file).parent / written).as_posix()
            ctx.problems.append(SpecProblem(display, exc.lineno, exc.colno, "(file)",
                                            f"invalid JSON in the visual schema file: {exc.msg}",
                                            f"referenced from {ctx.doc.file} at {format_path(at)}"))
            return None
        return text.strip()

