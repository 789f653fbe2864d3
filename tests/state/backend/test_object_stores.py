"""The store interface every backend implements, against a folder and the three cloud stores
(moto's S3, Azurite, fake-gcs-server): create-if-absent lets exactly one writer win, compare-and-
swap detects a lost update; a missing bucket is named; configuration comes from each cloud's own
environment; a URL carrying a secret is refused and never shown."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from stores import KINDS, use_cloud

from bria_pipeline.state.errors import StateError
from bria_pipeline.state.objects import ABSENT, ObjectConflict, ObjectStoreError, open_store


@pytest.fixture(params=["file", *KINDS])
def store(request, tmp_path: Path):
    if request.param == "file":
        return open_store((tmp_path / "backend").as_uri())
    return open_store(use_cloud(request.param, request).url)


def test_create_if_absent_lets_exactly_one_of_many_writers_win(store):
    def take(n: int) -> int | None:
        try:
            store.write("spec/lock.json", f"holder {n}".encode(), expect=ABSENT)
            return n
        except ObjectConflict:
            return None

    with ThreadPoolExecutor(8) as pool:
        winners = [n for n in pool.map(take, range(8)) if n is not None]
    assert len(winners) == 1
    assert store.read("spec/lock.json").data == f"holder {winners[0]}".encode()


def test_compare_and_swap_detects_a_lost_update(store):
    assert store.read("spec/state.json") is None
    store.write("spec/state.json", b"v1", expect=ABSENT)
    first = store.read("spec/state.json")
    second = store.read("spec/state.json")
    store.write("spec/state.json", b"v2 from the first reader", expect=first.version)
    with pytest.raises(ObjectConflict, match="changed since it was read"):
        store.write("spec/state.json", b"v2 from the second reader", expect=second.version)
    assert store.read("spec/state.json").data == b"v2 from the first reader"
    assert store.list("spec") == {"spec/state.json": len(b"v2 from the first reader")}
    store.delete_many(["spec/state.json"])
    assert store.read("spec/state.json") is None and store.requests >= 8


def test_compare_and_swap_lets_exactly_one_of_many_updates_win(store):
    store.write("spec/root.json", b"v0", expect=ABSENT)
    seen = store.read("spec/root.json")

    def swap(n: int) -> int | None:
        try:
            store.write("spec/root.json", f"v1 by {n}".encode(), expect=seen.version)
            return n
        except ObjectConflict:
            return None

    with ThreadPoolExecutor(6) as pool:
        winners = [n for n in pool.map(swap, range(6)) if n is not None]
    assert len(winners) == 1 and store.read("spec/root.json").data == f"v1 by {winners[0]}".encode()


def test_a_missing_bucket_is_named_not_taken_for_an_empty_state(cloud):
    missing = f"{cloud.kind}://no-such-bucket-{int(time.time())}/bria"
    with pytest.raises(ObjectStoreError) as refused:
        open_store(missing).read("brands/lucy/spec/state.json")
    what = "container" if cloud.kind == "az" else "bucket"
    assert f"the {what} no-such-bucket" in refused.value.message and "does not exist" in refused.value.message
    assert "backend.url" in refused.value.hint and "create" in refused.value.hint
    with pytest.raises(ObjectStoreError, match="does not exist"):
        open_store(missing).write("brands/lucy/spec/lock.json", b"{}", expect=ABSENT)


def test_a_private_endpoint_over_http_comes_from_the_clouds_own_environment(cloud, monkeypatch):
    """<PREFIX>_ALLOW_HTTP (and the endpoint) are the cloud's own variables: without ALLOW_HTTP an
    http endpoint is refused by the client, with it the store works; nothing in the URL."""
    allow = {"s3": "AWS_ALLOW_HTTP", "az": "AZURE_ALLOW_HTTP", "gs": "GOOGLE_ALLOW_HTTP"}[cloud.kind]
    monkeypatch.delenv(allow)
    with pytest.raises(ObjectStoreError) as refused:
        open_store(cloud.url).read("k")
    assert "testing-secret" not in refused.value.message
    monkeypatch.setenv(allow, "true")
    store = open_store(cloud.url)
    store.write("k", b"over http", expect=ABSENT)
    assert store.read("k").data == b"over http"


def test_azurite_through_the_emulator_variables(object_stores, monkeypatch):
    store = object_stores("az")
    for name in ("AZURE_STORAGE_ENDPOINT", "AZURE_ALLOW_HTTP", "AZURE_STORAGE_ACCOUNT_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_STORAGE_USE_EMULATOR", "true")
    monkeypatch.setenv("AZURITE_BLOB_STORAGE_URL", f"http://127.0.0.1:{store.door.port}")
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_NAME", "devstoreaccount1")
    backend = open_store(store.url())
    backend.write("spec/state.json", b"{}", expect=ABSENT)
    assert backend.list("spec") == {"spec/state.json": 2}


def test_a_hanging_store_fails_a_request_within_its_timeout_and_the_next_at_once(cloud):
    store = open_store(cloud.url, timeout=1.5)
    store.write("spec/state.json", b"{}", expect=ABSENT)
    cloud.store.door.hang()
    started = time.monotonic()
    with pytest.raises(ObjectStoreError) as hung:
        store.read("spec/state.json")
    first = time.monotonic() - started
    with pytest.raises(ObjectStoreError, match="did not answer within 1.5 s"):
        store.write("spec/lock.json", b"{}", expect=ABSENT)
    assert 1.4 <= first < 4.0 and time.monotonic() - started < first + 0.5
    assert "did not answer within 1.5 s" in hung.value.message and "--timeout" in hung.value.hint


def test_a_store_that_refuses_connections_fails_fast(cloud):
    store = open_store(cloud.url, timeout=20)
    cloud.store.door.down()
    started = time.monotonic()
    with pytest.raises(ObjectStoreError, match="cannot access"):
        store.read("spec/state.json")
    assert time.monotonic() - started < 10


SECRET_URLS = ["s3://AKIAKEY:secretCANARY@bucket/x", "s3://bucket/x?secret_access_key=secretCANARY",
               "gs://bucket/x#secretCANARY", "az://container/x;sig=secretCANARY", "s3://AKIA:se/cret#CANARY@bucket/x"]


@pytest.mark.parametrize("url", SECRET_URLS)
def test_backend_urls_carry_no_secret_and_are_shown_masked(url: str):
    with pytest.raises(StateError) as refused:
        open_store(url)
    assert "CANARY" not in refused.value.message + (refused.value.hint or "") and "secret" not in refused.value.message
    assert "****" in refused.value.message


@pytest.mark.parametrize("url", ["ftp://host/x", "s3:///x"])
def test_backend_urls_name_a_bucket_of_a_known_store(url: str):
    with pytest.raises(StateError):
        open_store(url)


def test_the_backend_commands_take_a_timeout_too(cloud, tmp_path: Path):
    from click.testing import CliRunner
    from backend_helpers import checkout

    from bria_pipeline.cli import main

    spec = checkout(tmp_path, "repo")
    cloud.store.door.hang()
    started = time.monotonic()
    done = CliRunner().invoke(main, ["force-unlock", str(spec), "0badc0ffee00", "--backend", cloud.url, "--timeout", "1s"])
    assert done.exit_code == 1 and "did not answer within 1 s" in done.output, done.output
    assert time.monotonic() - started < 5
