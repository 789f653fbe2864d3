"""A spec's backend: where its state, manifest, outputs and apply lock live when they must outlive
the machine that ran apply (a CI runner, a laptop).

    backend = Backend.for_spec(spec_path, "s3://bucket/bria")
    backend.key                       # "brands/lucy/spec": the spec's path in its repository
    backend.root_key                  # "brands/lucy/spec/root.json"

Layout under the URL, one folder per spec (its *backend key*, given by `backend_key`)::

    <key>/root.json         THE commit: serial, lineage, the state (records, intents), and the
                            names of the manifest segments; replaced only by compare-and-swap
    <key>/objects/<sha256>.json.gz
                            manifest segments: immutable, named by their content, written before
                            the root that names them (see commit.py)
    <key>/lock.json         the apply lock, while a run holds it
    <key>/outputs/...       every generated file, .thumbs/ and index.html (relative links: the
                            gallery opens from the bucket), written before the root that names them
    <key>/state.json, <key>/manifest.json
                            the layout before root.json (read, never written: the first commit
                            migrates them into root.json and a segment)

Which URL: `--backend URL`, else ``BRIA_PIPELINE_BACKEND``, else the spec's ``backend: {url:}``.
None of them: state stays in ``.bria/`` and outputs in ``output_dir``, as without this module.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..masking import mask_url
from .objects import ObjectStore, check_backend_url, open_store

ENV_BACKEND = "BRIA_PIPELINE_BACKEND"
ROOT_OBJECT = "root.json"
OBJECTS_PREFIX = "objects"
STATE_OBJECT = "state.json"  # the layout before root.json: read to migrate it, never written
MANIFEST_OBJECT = "manifest.json"
LOCK_OBJECT = "lock.json"
OUTPUTS_PREFIX = "outputs"


def repo_root(start: Path) -> Path | None:
    """The nearest folder at or above `start` holding `.git` (a repository or a worktree)."""
    start = Path(start).absolute()
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def spec_identity(spec_path: Path) -> str:
    """The spec's path as its lineage and backend key name it: relative to its repository
    (``brands/lucy/spec.yaml``); outside a repository, its folder and name (``lucy/spec.yaml``)."""
    spec = Path(spec_path).absolute()
    root = repo_root(spec.parent)
    if root is not None:
        try:
            return spec.relative_to(root).as_posix()
        except ValueError:
            pass
    return f"{spec.parent.name}/{spec.name}" if spec.parent.name else spec.name


def backend_key(spec_path: Path) -> str:
    return str(PurePosixPath(spec_identity(spec_path)).with_suffix(""))


def resolve_backend_url(flag: str | None, spec_url: str | None) -> str | None:
    """The flag wins, then the environment, then the spec; each one given is checked (a secret in
    any of them is refused, shown masked)."""
    sources = (("--backend", flag), (ENV_BACKEND, os.environ.get(ENV_BACKEND)), ("the spec's backend.url", spec_url))
    for source, given in sources:
        if given:
            check_backend_url(given, source=source)
    return next((given for _, given in sources if given), None)


@dataclass
class Backend:
    url: str
    key: str
    store: ObjectStore = field(repr=False)

    @classmethod
    def for_spec(cls, spec_path: Path, url: str, store: ObjectStore | None = None, *,
                 timeout: float | None = None) -> Backend:
        return cls(url, backend_key(spec_path), store if store is not None else open_store(url, timeout=timeout))

    def _k(self, name: str) -> str:
        return f"{self.key}/{name}"

    @property
    def root_key(self) -> str:
        return self._k(ROOT_OBJECT)

    def object_key(self, name: str) -> str:
        return self._k(f"{OBJECTS_PREFIX}/{name}")

    @property
    def objects_prefix(self) -> str:
        return self._k(OBJECTS_PREFIX) + "/"

    @property
    def state_key(self) -> str:
        return self._k(STATE_OBJECT)

    @property
    def manifest_key(self) -> str:
        return self._k(MANIFEST_OBJECT)

    @property
    def lock_key(self) -> str:
        return self._k(LOCK_OBJECT)

    def output_key(self, file: str) -> str:
        return self._k(f"{OUTPUTS_PREFIX}/{file}")

    @property
    def outputs_prefix(self) -> str:
        return self._k(OUTPUTS_PREFIX) + "/"

    def where(self, name: str) -> str:
        return mask_url(f"{self.url.rstrip('/')}/{self._k(name)}")

    @property
    def requests(self) -> int:
        return self.store.requests
