"""The store interface every backend implements, against a folder and against moto's S3 server:
create-if-absent lets exactly one writer win, compare-and-swap detects a lost update."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bria_pipeline.state.errors import StateError
from bria_pipeline.state.objects import ABSENT, ObjectConflict, open_store


@pytest.fixture(params=["file", "s3"])
def store(request, tmp_path: Path):
    if request.param == "file":
        return open_store((tmp_path / "backend").as_uri())
    return open_store(request.getfixturevalue("s3_url"))


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


@pytest.mark.parametrize("url", ["s3://AKIA:secret@bucket/x", "s3://bucket/x?secret_access_key=y", "ftp://host/x", "s3:///x"])
def test_backend_urls_carry_no_credentials(url: str):
    with pytest.raises(StateError) as refused:
        open_store(url)
    assert "secret" not in refused.value.message

