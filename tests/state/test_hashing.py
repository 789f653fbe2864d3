"""One home for sha256 (state/hashing.py): the same digests as before, whole or in the short forms
names carry, for bytes, text, streamed files and the working copy's manifest files."""

from __future__ import annotations

import hashlib
from pathlib import Path

from bria_pipeline.state.hashing import sha256_bytes, sha256_file, sha256_text
from bria_pipeline.state.locate import beside_key
from bria_pipeline.state.manifest import JOURNAL_FILE, MANIFEST_FILE
from bria_pipeline.state.working_copy import files_digest


def test_bytes_text_and_files_hash_as_hashlib_does(tmp_path: Path):
    data = bytes(range(256)) * 5000  # more than one chunk
    (tmp_path / "big.bin").write_bytes(data)
    assert sha256_bytes(data) == hashlib.sha256(data).hexdigest()
    assert sha256_file(tmp_path / "big.bin", chunk=4096) == hashlib.sha256(data).hexdigest()
    assert sha256_text("lucy-lora · ü") == hashlib.sha256("lucy-lora · ü".encode("utf-8")).hexdigest()
    assert beside_key("brands/lucy", "l-1") == "brands/lucy-" + hashlib.sha256(b"brands/lucy:l-1").hexdigest()[:8]


def test_the_manifest_files_digest_is_the_one_recorded_before(tmp_path: Path):
    """backend.json keeps this digest as the sync point: it must not change for the same files."""

    def streamed(folder: Path) -> str | None:  # how it was computed before: each file, then a NUL
        h, found = hashlib.sha256(), False
        for name in (MANIFEST_FILE, JOURNAL_FILE):
            if (folder / name).exists():
                h.update((folder / name).read_bytes())
                found = True
            h.update(b"\0")
        return h.hexdigest() if found else None

    assert files_digest(tmp_path) is None and files_digest(None) is None
    (tmp_path / JOURNAL_FILE).write_bytes(b'{"drop": "k"}\n')
    assert files_digest(tmp_path) == streamed(tmp_path)
    (tmp_path / MANIFEST_FILE).write_bytes(b'{"version": 1}\n')
    assert files_digest(tmp_path) == streamed(tmp_path)
