"""A backend behind the working copy: it lost what this checkout pushed (restored from an older
copy, an object version rolled back, a bucket replaced). Taking it as the authority, as a run
does when only the backend changed, would forget work already paid for and pay it again; the
"both changed" refusal used to say to delete the working copy's state, with the same effect.

    missing = paid_but_missing(remote_state, remote_manifest, local_state, local_manifest)
    if missing:
        raise backend_behind(missing, where=..., spec=..., url=...)

"Behind" is decided by what was paid for, never by time: the backend's records (remote ids) and
billed outputs (their request ids) are all in the working copy, and the working copy holds more.
A backend holding anything the working copy lacks is not behind (another run pushed): that is a
conflict, decided elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import StateError


@dataclass(frozen=True)
class Missing:
    records: int
    outputs: int

    def __bool__(self) -> bool:
        return bool(self.records or self.outputs)


def paid(state: dict[str, Any] | None, manifest: dict[str, Any] | None) -> set[tuple[str, str]]:
    """What a state and a manifest know was made or paid for: remote ids, billed request ids."""
    found = {("record", f"{r.get('kind')}:{r.get('id')}") for r in (state or {}).get("records", [])
             if isinstance(r, dict)}
    outputs = (manifest or {}).get("outputs", {})
    found |= {("output", f"{key}:{o.get('request_id')}") for key, o in outputs.items()
              if isinstance(o, dict) and o.get("request_id")}
    return found


def paid_but_missing(remote_state: dict[str, Any] | None, remote_manifest: dict[str, Any] | None,
                     local_state: dict[str, Any] | None, local_manifest: dict[str, Any] | None) -> Missing:
    """What the working copy paid for and the backend lacks, when the backend holds nothing the
    working copy lacks (else nothing: not behind)."""
    remote, local = paid(remote_state, remote_manifest), paid(local_state, local_manifest)
    if not remote < local:
        return Missing(0, 0)
    extra = local - remote
    return Missing(sum(1 for kind, _ in extra if kind == "record"), sum(1 for kind, _ in extra if kind == "output"))


def spec_of(state_path: Path) -> str:
    """The spec a working copy's state belongs to (``DIR/.bria/NAME/state.json`` -> ``DIR/NAME.yaml``)."""
    folder = state_path.parent
    for suffix in (".yaml", ".yml"):
        candidate = folder.parent.parent / f"{folder.name}{suffix}"
        if candidate.is_file():
            return str(candidate)
    return str(folder.parent.parent / f"{folder.name}.yaml")


def backend_behind(missing: Missing, *, where: str, state_path: Path, url: str) -> StateError:
    lacks = " and ".join(part for part in (f"{missing.records} resource record(s)" if missing.records else "",
                                           f"{missing.outputs} paid output(s)" if missing.outputs else "") if part)
    return StateError(
        f"the backend {where} is behind this working copy: it lacks {lacks} this checkout knows, and holds "
        "nothing this checkout lacks (restored from an older copy, or rolled back); nothing was sent",
        hint=f"keep what was paid for by pushing the working copy to it: bria-pipeline state push "
             f"{spec_of(state_path)} --backend {url}   (then run again)",
    )
