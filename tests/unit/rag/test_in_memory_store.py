"""`InMemoryVectorStore` without a file: cosine ranking, upsert by id, label filters."""

from __future__ import annotations

from collections.abc import Sequence

from aura.adapters.embeddings.local import HashingEmbedder
from aura.adapters.vectors.in_memory import InMemoryVectorStore
from aura.ports.vector_store import Document, EmbeddingPurpose, VectorStore


class AxisEmbedder:
    """Maps known words to fixed vectors, so expected scores are exact."""

    def __init__(self, dimensions: int = 3) -> None:
        self._dimensions = dimensions

    @property
    def dimensions(self) -> int | None:
        return self._dimensions

    async def embed(self, texts: Sequence[str], purpose: EmbeddingPurpose) -> list[list[float]]:
        table = {"x": [1.0, 0.0, 0.0], "y": [0.0, 1.0, 0.0], "xy": [1.0, 1.0, 0.0], "-x": [-1.0, 0.0, 0.0]}
        return [(table[text] + [0.0] * self._dimensions)[: self._dimensions] for text in texts]


async def test_ranks_by_cosine_similarity() -> None:
    store = InMemoryVectorStore(AxisEmbedder())
    assert isinstance(store, VectorStore)
    await store.upsert([Document("1", "y"), Document("2", "xy"), Document("3", "x"), Document("4", "-x")])
    hits = await store.search("x", limit=10)
    assert [hit.content for hit in hits] == ["x", "xy", "y", "-x"]
    assert [round(hit.score, 4) for hit in hits] == [1.0, 0.7071, 0.0, -1.0]
    assert [hit.content for hit in await store.search("x", limit=2)] == ["x", "xy"]


async def test_upsert_replaces_a_document_with_the_same_id() -> None:
    store = InMemoryVectorStore(AxisEmbedder())
    await store.upsert([Document("doc", "x", {"v": 1})])
    written = await store.upsert([Document("doc", "y", {"v": 2}), Document("doc", "xy", {"v": 3})])
    assert written == 1
    assert await store.count() == 1
    [hit] = await store.search("y", limit=5)
    assert (hit.content, hit.metadata) == ("xy", {"v": 3, "id": "doc"})


async def test_label_filters_match_metadata_exactly() -> None:
    store = InMemoryVectorStore(HashingEmbedder())
    await store.upsert(
        [
            Document("1", "disk full alert", {"team": "sre", "severity": 2}),
            Document("2", "disk full alert runbook", {"team": "dba", "severity": 2}),
            Document("3", "disk alert", {"team": "sre", "severity": 3}),
        ]
    )
    hits = await store.search("disk full", 10, {"team": "sre", "severity": 2})
    assert [hit.metadata["id"] for hit in hits] == ["1"]
    assert await store.search("disk full", 10, {"team": "nobody"}) == []


async def test_empty_store_returns_nothing() -> None:
    assert await InMemoryVectorStore(HashingEmbedder()).search("anything", 5) == []
