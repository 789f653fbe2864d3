"""Where the sandbox keeps its state: one SQLite database and a content-addressed file store.

`Database` wraps a single sqlite3 connection behind a lock: every transaction takes the lock,
so concurrent requests (threads, event loops, uvicorn workers' threads) are serialised and
each one commits before its response leaves.  `db=None` keeps everything in memory (files
in a temporary directory removed with the app).

Organizations are identified by a digest of their api_token; the token itself is never stored.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS projects (
    id INTEGER PRIMARY KEY AUTOINCREMENT, org TEXT NOT NULL,
    project_name TEXT NOT NULL, project_description TEXT NOT NULL DEFAULT '',
    ip_name TEXT NOT NULL DEFAULT '', ip_description TEXT NOT NULL DEFAULT '',
    ip_medium TEXT NOT NULL, ip_type TEXT NOT NULL, training_version TEXT,
    created_at REAL NOT NULL, updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS projects_org ON projects(org);
CREATE TABLE IF NOT EXISTS datasets (
    id INTEGER PRIMARY KEY AUTOINCREMENT, org TEXT NOT NULL, project_id INTEGER NOT NULL,
    name TEXT NOT NULL, description TEXT, visual_schema TEXT,
    status TEXT NOT NULL DEFAULT 'draft', captions_update_status TEXT NOT NULL DEFAULT 'empty',
    captions_ready_at REAL, upload_type TEXT NOT NULL DEFAULT 'basic',
    created_at REAL NOT NULL, updated_at REAL NOT NULL, training_version TEXT
);
CREATE INDEX IF NOT EXISTS datasets_org ON datasets(org);
CREATE INDEX IF NOT EXISTS datasets_project ON datasets(project_id);
CREATE INDEX IF NOT EXISTS datasets_captions ON datasets(captions_update_status);
CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY AUTOINCREMENT, org TEXT NOT NULL, dataset_id INTEGER NOT NULL,
    image_name TEXT NOT NULL, blob TEXT NOT NULL, ext TEXT NOT NULL,
    width INTEGER NOT NULL, height INTEGER NOT NULL, facts TEXT NOT NULL,
    caption TEXT, caption_source TEXT, upload_source_url TEXT,
    created_at REAL NOT NULL, updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS images_dataset ON images(dataset_id, id);
CREATE TABLE IF NOT EXISTS bulk_jobs (
    dataset_id INTEGER PRIMARY KEY, org TEXT NOT NULL, zip_path TEXT NOT NULL,
    entries TEXT NOT NULL, total INTEGER NOT NULL, claimed INTEGER NOT NULL DEFAULT 0,
    done INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0,
    failed_images TEXT NOT NULL DEFAULT '[]', status TEXT NOT NULL,
    content_moderation INTEGER NOT NULL DEFAULT 0, started_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS bulk_status ON bulk_jobs(status);
CREATE TABLE IF NOT EXISTS models (
    id INTEGER PRIMARY KEY AUTOINCREMENT, org TEXT NOT NULL, project_id INTEGER NOT NULL,
    dataset_id INTEGER, name TEXT NOT NULL, description TEXT NOT NULL DEFAULT '',
    training_mode TEXT NOT NULL, status TEXT NOT NULL, params TEXT,
    started_at REAL, duration REAL, halted_at REAL, stop_ready_at REAL,
    active_model_version TEXT NOT NULL DEFAULT 'default', custom_metadata TEXT NOT NULL DEFAULT '',
    origin TEXT NOT NULL DEFAULT 'trained',
    created_at REAL NOT NULL, updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS models_org ON models(org);
CREATE INDEX IF NOT EXISTS models_status ON models(status);
CREATE TABLE IF NOT EXISTS checkpoints (
    model_id INTEGER NOT NULL, step INTEGER NOT NULL, created_at REAL NOT NULL,
    PRIMARY KEY (model_id, step)
);
CREATE TABLE IF NOT EXISTS requests (
    request_id TEXT PRIMARY KEY, org TEXT NOT NULL, kind TEXT NOT NULL, model_id INTEGER,
    status TEXT NOT NULL, result TEXT, error TEXT, created_at REAL NOT NULL, ready_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS requests_status ON requests(status);
"""

# Ids live in separate ranges so that a dataset id used as a model id is a visible 404.
ID_OFFSETS = {"projects": 10_000, "datasets": 20_000, "models": 30_000, "images": 1_000_000}


def org_of(token: str) -> str:
    """The organization key for an api_token: a digest, so the token is never stored."""
    return hashlib.sha256(b"bria-sandbox-org:" + token.encode("utf-8")).hexdigest()[:32]


class Database:
    """One sqlite3 connection, one lock, explicit transactions."""

    def __init__(self, path: str | os.PathLike | None) -> None:
        self.path = None if path is None else Path(path)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(
            ":memory:" if self.path is None else str(self.path),
            check_same_thread=False,
            isolation_level=None,
            timeout=30.0,
        )
        self._conn.row_factory = sqlite3.Row
        with self._lock:
            if self.path is not None:
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=OFF")
            self._conn.executescript(SCHEMA)
            columns = {r[1] for r in self._conn.execute("PRAGMA table_info(datasets)")}
            if "training_version" not in columns:  # a database written before datasets had one
                self._conn.execute("ALTER TABLE datasets ADD COLUMN training_version TEXT")
            for table, offset in ID_OFFSETS.items():
                row = self._conn.execute("SELECT seq FROM sqlite_sequence WHERE name=?", (table,)).fetchone()
                if row is None:
                    self._conn.execute("INSERT INTO sqlite_sequence(name, seq) VALUES (?, ?)", (table, offset))

    @contextlib.contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; commits on success, rolls back on any exception."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")

    def secret(self) -> str:
        """A per-database secret used to make file URLs unguessable (like pre-signed URLs)."""
        with self.tx() as db:
            row = db.execute("SELECT value FROM meta WHERE key='secret'").fetchone()
            if row is not None:
                return row["value"]
            value = secrets.token_hex(16)
            db.execute("INSERT INTO meta(key, value) VALUES ('secret', ?)", (value,))
            return value

    def wipe(self) -> None:
        with self.tx() as db:
            for table in ("projects", "datasets", "images", "bulk_jobs", "models", "checkpoints", "requests"):
                db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class BlobStore:
    """Content-addressed files (sha256) plus named staging uploads, on disk."""

    CHUNK = 1 << 20

    def __init__(self, root: str | os.PathLike | None) -> None:
        if root is None:
            self._tmp: tempfile.TemporaryDirectory[str] | None = tempfile.TemporaryDirectory(prefix="bria-sandbox-")
            self.root = Path(self._tmp.name)
        else:
            self._tmp = None
            self.root = Path(root)
        for sub in ("blobs", "staging", "zips", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        return self.root / "blobs" / digest[:2] / digest

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        self._write_once(self.path(digest), data)
        return digest

    def put_named(self, name: str, data: bytes) -> Path:
        """Store derived content (thumbnails, downloads) under a stable name inside blobs/."""
        return self._write_once(self.named(name), data)

    def _write_once(self, target: Path, data: bytes) -> Path:
        """Atomically create `target` unless it exists (same name, same content)."""
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._tmp_path()
            tmp.write_bytes(data)
            os.replace(tmp, target)
        return target

    def named(self, name: str) -> Path:
        return self.root / "blobs" / "derived" / name

    def read(self, digest: str) -> bytes:
        return self.path(digest).read_bytes()

    def _tmp_path(self) -> Path:
        return self.root / "tmp" / secrets.token_hex(8)

    def open_writer(self) -> tuple[Path, IO[bytes]]:
        tmp = self._tmp_path()
        return tmp, open(tmp, "wb")  # noqa: SIM115 - the caller closes it

    def staging_path(self, name: str) -> Path:
        return self.root / "staging" / name

    def commit_staging(self, tmp: Path, name: str) -> Path:
        target = self.staging_path(name)
        os.replace(tmp, target)
        return target

    def zip_path(self, key: str) -> Path:
        return self.root / "zips" / f"{key}.zip"

    def adopt_zip(self, source: Path, key: str) -> Path:
        """Keep a private copy of a zip (hard link when possible: no copy, no memory)."""
        target = self.zip_path(key)
        if target.exists():
            target.unlink()
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)
        return target

    def discard(self, path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

    def wipe(self) -> None:
        for sub in ("blobs", "staging", "zips", "tmp"):
            shutil.rmtree(self.root / sub, ignore_errors=True)
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
