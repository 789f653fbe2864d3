"""A run killed after its outputs were committed, before it uploaded their thumbnails and the
gallery: the next run (a fresh checkout, nothing new to generate) makes and uploads every missing
thumbnail and the gallery naming them; the run after it writes nothing more than its lock.

The kill is a real SIGKILL of a `bria-pipeline apply` process right after its first thumbnail
write reached the store: for S3 (moto), through the proxy of test_kill_at_every_write.py; for
file://, by the process itself, once the local store's write of that thumbnail returned."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from backend_helpers import billed, checkout, sandbox_stats, sent, subprocess_env
from test_kill_at_every_write import KillingProxy

from bria_pipeline.cli import main
from bria_pipeline.pipeline import Pipeline
from bria_pipeline.state.backend import Backend
from bria_pipeline.state.remote_lock import RemoteLock
from bria_pipeline.state.working_copy import image_thumbnails, read_committed

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
TOKEN = "thumbs-token"
RUN_TIMEOUT = 120
THUMBS = "/.thumbs/"

# `bria-pipeline apply`, killed by itself right after the local store wrote its first thumbnail
KILLED_AT_FIRST_THUMBNAIL = """
import os, signal, sys
from bria_pipeline.state.objects_local import LocalObjectStore
from bria_pipeline.cli import main

write = LocalObjectStore.write
def write_then_die(self, key, data, **kw):
    version = write(self, key, data, **kw)
    if "/.thumbs/" in key:
        os.kill(os.getpid(), signal.SIGKILL)
    return version
LocalObjectStore.write = write_then_die
sys.argv = ["bria-pipeline", *sys.argv[1:]]
main()
"""


class ThumbnailKiller(KillingProxy):
    """Kills the run it watches right after its first thumbnail write; logs every write."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.log: list[str] = []

    def wrote(self, what: str) -> None:
        with self._lock:
            self.log.append(what)
            if self.victim is not None and self.killed_at is None and THUMBS in what:
                self.killed_at = what
                os.kill(self.victim, signal.SIGKILL)


def killed_apply(spec: Path, api: str, backend: str, env: dict[str, str], proxy: ThumbnailKiller | None) -> None:
    args = ["--api-url", api, "apply", str(spec), "--auto-approve", "--backend", backend, "--concurrency", "10"]
    command = [sys.executable, "-m", "bria_pipeline", *args] if proxy else [sys.executable, "-c", KILLED_AT_FIRST_THUMBNAIL, *args]
    extra = {"AWS_ENDPOINT_URL": proxy.endpoint} if proxy else {}
    proc = subprocess.Popen(command, env=subprocess_env({**env, **extra, "BRIA_API_TOKEN": TOKEN}),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=spec.parent, text=True)
    if proxy:
        proxy.watch(proc.pid, 0)
    try:
        _out, err = proc.communicate(timeout=RUN_TIMEOUT)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, err[-2000:])


def stored_thumbnails(backend: Backend) -> set[str]:
    prefix = backend.output_key("")
    return {k[len(prefix):] for k in backend.store.list(backend.outputs_prefix) if THUMBS in "/" + k[len(prefix):]}


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path):
    """(backend URL, environment, proxy or None)."""
    if request.param == "file":
        yield (tmp_path / "bucket").as_uri(), {}, None
        return
    url, env = request.getfixturevalue("s3_url"), request.getfixturevalue("s3_env")
    with ThumbnailKiller(request.getfixturevalue("s3_server").endpoint) as proxy:
        yield url, env, proxy


def killed_and_unlocked(tmp_path: Path, api: str, url: str, env: dict[str, str],
                        proxy: ThumbnailKiller | None) -> tuple[Path, Backend, dict[str, str]]:
    """A first apply killed right after its first thumbnail write, its lock then forced away:
    (its spec, the backend, thumbnail -> image of every committed done image)."""
    first = checkout(tmp_path, "killed")
    killed_apply(first, api, url, env, proxy)
    backend = Backend.for_spec(first, url)
    committed = read_committed(backend)
    images = image_thumbnails(committed.view.as_manifest_json())
    assert len(images) == 9  # every image committed, then killed at the first thumbnail
    assert len(stored_thumbnails(backend)) == 1 and backend.store.read(backend.output_key("index.html")) is None
    assert committed.root.gallery_due  # the root says thumbnails may be missing
    holder = RemoteLock(backend, command="test", spec=str(first)).holder()
    assert holder is not None
    Pipeline(first, backend=url).force_unlock(holder["id"])
    return first, backend, images


def test_thumbnails_of_a_killed_runs_images_are_uploaded_by_the_next_run(tmp_path: Path, served, store, monkeypatch):
    api, _app = served
    url, env, proxy = store
    first, backend, images = killed_and_unlocked(tmp_path, api, url, env, proxy)
    pulling = checkout(tmp_path, "pulling", lock_from=first.parent / "spec.lock.yaml")  # pull writes no backend object:
    assert Pipeline(pulling, backend=url).pull() == (10, 0)  # the missing thumbnails are made here
    local_gallery = (pulling.parent / "outputs" / "index.html").read_text(encoding="utf-8")
    assert all((pulling.parent / "outputs" / name).is_file() and name in local_gallery for name in images)
    assert len(stored_thumbnails(backend)) == 1

    if proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)  # every later request through the proxy, logged
    second = checkout(tmp_path, "second", lock_from=first.parent / "spec.lock.yaml")
    before = sandbox_stats(api)
    result = Pipeline(second, api_url=api, token=TOKEN, backend=url, concurrency=10).apply(auto_approve=True)
    assert result.ok and billed(sent(before, sandbox_stats(api))) == 0  # nothing new to generate
    assert stored_thumbnails(backend) == set(images)
    for name in images:  # each the thumbnail of its image, as the gallery makes it
        assert backend.store.read(backend.output_key(name)).data == (second.parent / "outputs" / name).read_bytes()
    gallery = backend.store.read(backend.output_key("index.html")).data.decode("utf-8")
    assert all(name in gallery for name in images), gallery[:2000]
    assert not read_committed(backend).root.gallery_due

    third = checkout(tmp_path, "third", lock_from=first.parent / "spec.lock.yaml")
    if proxy:
        proxy.log.clear()
    bucket = tmp_path / "bucket"
    objects = {p: p.stat().st_mtime_ns for p in bucket.rglob("*") if p.is_file()} if not proxy else {}
    pipeline = Pipeline(third, api_url=api, token=TOKEN, backend=url)
    assert pipeline.apply(auto_approve=True).ok
    assert pipeline.backend_requests <= 6  # as any no-op: the lock, the root, its segment; nothing per output
    assert not read_committed(backend).root.gallery_due
    # what any no-op apply writes: its lock, and the root when the state's last apply changed; no output
    if proxy:
        released = [w for w in proxy.log if w.endswith("?delete")]  # the lock's release
        assert len(released) == 1 and all(w.endswith(("/lock.json", "/root.json")) for w in proxy.log
                                          if w not in released), proxy.log
    else:
        after = {p: p.stat().st_mtime_ns for p in bucket.rglob("*") if p.is_file()}
        assert {p: t for p, t in after.items() if p.name != "root.json"} == \
            {p: t for p, t in objects.items() if p.name != "root.json"}
    assert not (third.parent / "outputs" / "places").exists()  # and nothing fetched


def test_state_push_uploads_the_thumbnails_a_killed_run_left_due(tmp_path: Path, served):
    """A checkout that pulled (the thumbnails made there) pushes them with `state push`, though
    the backend holds its state and outputs already."""
    api, _app = served
    url = (tmp_path / "bucket").as_uri()
    first, backend, images = killed_and_unlocked(tmp_path, api, url, {}, None)
    pulling = checkout(tmp_path, "pulling", lock_from=first.parent / "spec.lock.yaml")
    assert Pipeline(pulling, backend=url).pull() == (10, 0)
    pushed = CliRunner().invoke(main, ["state", "push", str(pulling), "--backend", url])
    assert pushed.exit_code == 0 and "10 already there, verified by sha256" in pushed.output, pushed.output
    assert stored_thumbnails(backend) == set(images) and not read_committed(backend).root.gallery_due
    again = CliRunner().invoke(main, ["state", "push", str(pulling), "--backend", url])
    assert again.exit_code == 0 and "nothing to push" in again.output, again.output
