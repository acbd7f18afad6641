"""`InMemoryVectorStore` with a file: saved after each upsert, loaded by the next process."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from aura.adapters.embeddings.local import HashingEmbedder
from aura.adapters.vectors.in_memory import InMemoryVectorStore
from aura.domain.vector_search import VectorStoreError
from aura.ports.vector_store import Document, EmbeddingPurpose

DOCS = [
    Document("faq#0", "Reset your password from the Settings page.", {"source": "faq.md"}),
    Document("faq#1", "Invoices are emailed on the first day of the month.", {"source": "faq.md"}),
]


async def test_index_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "index" / "docs.npz"
    writer = InMemoryVectorStore(HashingEmbedder(), str(path))
    await writer.upsert(DOCS)
    await writer.aclose()
    assert path.is_file()
    assert [p.name for p in path.parent.iterdir()] == ["docs.npz"]  # no temporary file left behind
    assert path.stat().st_mode & 0o777 == 0o644  # readable like any file the user writes, not 0600

    reader = InMemoryVectorStore(HashingEmbedder(), str(path))
    assert await reader.count() == 2
    [hit] = await reader.search("reset password", 1)
    assert hit.content == DOCS[0].text
    assert hit.metadata == {"source": "faq.md", "id": "faq#0"}


async def test_upserting_the_same_ids_again_adds_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "docs.npz")
    for _ in range(2):
        store = InMemoryVectorStore(HashingEmbedder(), path)
        await store.upsert(DOCS)
    assert await InMemoryVectorStore(HashingEmbedder(), path).count() == 2


async def test_a_new_store_file_is_empty_until_written(tmp_path: Path) -> None:
    store = InMemoryVectorStore(HashingEmbedder(), str(tmp_path / "missing.npz"))
    assert await store.search("anything", 3) == []
    assert not (tmp_path / "missing.npz").exists()


async def test_an_unreadable_file_is_reported_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "broken.npz"
    path.write_bytes(b"not an archive")
    with pytest.raises(VectorStoreError, match=r"cannot read the vector index .*broken\.npz"):
        await InMemoryVectorStore(HashingEmbedder(), str(path)).search("x", 1)


class FixedSizeEmbedder:
    def __init__(self, size: int) -> None:
        self.model = f"fixed-{size}"
        self._size = size

    @property
    def dimensions(self) -> int | None:
        return self._size

    async def embed(self, texts: Sequence[str], purpose: EmbeddingPurpose) -> list[list[float]]:
        return [[1.0] * self._size for _ in texts]


async def test_opening_an_index_with_another_embedding_size_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "docs.npz")
    await InMemoryVectorStore(FixedSizeEmbedder(3), path).upsert(DOCS)
    other = InMemoryVectorStore(FixedSizeEmbedder(2), path)
    with pytest.raises(VectorStoreError, match="re-ingest"):
        await other.search("x", 1)
    with pytest.raises(VectorStoreError, match=r"holds 3-dimensional vectors .* makes 2: re-ingest"):
        await other.upsert([Document("new", "y")])


async def test_the_readiness_check_passes_for_a_readable_or_missing_file_and_names_an_unreadable_one(
    tmp_path: Path,
) -> None:
    missing = InMemoryVectorStore(HashingEmbedder(), str(tmp_path / "not-yet.npz"))
    await missing.check()  # nothing ingested yet: an empty index, searchable

    path = tmp_path / "docs.npz"
    writer = InMemoryVectorStore(HashingEmbedder(), str(path))
    await writer.upsert(DOCS)
    await InMemoryVectorStore(HashingEmbedder(), str(path)).check()

    folder = tmp_path / "folder.npz"
    folder.mkdir()  # unreadable as a file, even for root
    with pytest.raises(VectorStoreError, match=f"cannot read the vector index {folder}: "):
        await InMemoryVectorStore(HashingEmbedder(), str(folder)).check()
