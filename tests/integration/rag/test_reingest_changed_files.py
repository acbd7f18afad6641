"""Re-ingesting a changed file replaces its chunks: the outdated ones are deleted, other files are untouched."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from aura.adapters.embeddings.local import HashingEmbedder
from aura.adapters.vectors.in_memory import InMemoryVectorStore
from aura.adapters.vectors.qdrant import QdrantVectorStore
from aura.entrypoints.ingest_command import collect_files, ingest_files
from aura.ports.vector_store import VectorStore

StoreFactory = Callable[[Path], VectorStore]

STORES: dict[str, StoreFactory] = {
    "in_memory": lambda tmp: InMemoryVectorStore(HashingEmbedder(dimensions=64), path=str(tmp / "index.npz")),
    "qdrant": lambda tmp: QdrantVectorStore(HashingEmbedder(dimensions=64), "docs", path=str(tmp / "qdrant")),
}


@pytest.fixture(params=sorted(STORES))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VectorStore]:
    made = STORES[request.param](tmp_path)
    yield made
    await made.aclose()


async def count(store: VectorStore) -> int:
    return int(await store.count())  # type: ignore[attr-defined]


async def test_changed_file_loses_its_outdated_chunks(store: VectorStore, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    runbook = docs / "disk.md"
    other = docs / "dns.md"
    runbook.write_text("Disk full: rotate logs.\n\nOld step: reboot the frobnicator.\n\nCheck inodes.")
    other.write_text("DNS: check resolv.conf.")
    files = collect_files([docs])

    first = await ingest_files(store, files, chunk_size=40, overlap=0)
    assert first.stale_removed == 0
    before = await count(store)
    assert before == first.chunks

    runbook.write_text("Disk full: rotate logs.\n\nCheck inodes.")
    second = await ingest_files(store, collect_files([docs]), chunk_size=40, overlap=0)
    assert second.stale_removed > 0
    assert await count(store) == second.chunks  # exactly the new version's chunks remain

    hits = await store.search("reboot the frobnicator", limit=10)
    assert all("frobnicator" not in hit.content for hit in hits)
    assert any("resolv.conf" in hit.content for hit in await store.search("DNS resolv.conf", limit=10))

    third = await ingest_files(store, collect_files([docs]), chunk_size=40, overlap=0)
    assert third.stale_removed == 0
    assert await count(store) == second.chunks
