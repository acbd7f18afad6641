"""The VectorStore contract: one suite, run against every store adapter that can write.

Each harness builds a fresh, empty store around the same exact embedder, so expected rankings are the
same for every store. `aura.adapters.vectors.bedrock_kb` is read-only (a Knowledge Base is filled by
AWS, not by us) and is covered by its own tests. A store adapter added to `aura.adapters.vectors` without
a harness here (or an exemption) fails `test_every_store_adapter_has_a_harness`.

A Qdrant server joins the suite when `AURA_TEST_QDRANT_URL` names one (e.g. `http://localhost:6333`).
"""

from __future__ import annotations

import os
import pkgutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import pytest

import aura.adapters.vectors
from aura.adapters.vectors.in_memory import InMemoryVectorStore
from aura.adapters.vectors.qdrant import QdrantVectorStore
from aura.domain.vector_search import VectorStoreError
from aura.ports.vector_store import Document, EmbeddingPurpose, SupportsCheck, VectorStore

READ_ONLY_ADAPTERS = {"bedrock_kb"}
QDRANT_URL_VARIABLE = "AURA_TEST_QDRANT_URL"

WORDS = {"disk": 0, "memory": 1, "network": 2, "cpu": 3}


class WordAxisEmbedder:
    """One axis per known word, so a text's nearest documents are the ones sharing its words."""

    @property
    def dimensions(self) -> int | None:
        return len(WORDS)

    async def embed(self, texts: Sequence[str], purpose: EmbeddingPurpose) -> list[list[float]]:
        vectors = []
        for text in texts:
            vector = [0.0] * len(WORDS)
            for word in text.lower().split():
                if word in WORDS:
                    vector[WORDS[word]] += 1.0
            vectors.append(vector if any(vector) else [0.01] * len(WORDS))
        return vectors

    async def aclose(self) -> None:
        return None


StoreFactory = Callable[[Path], Awaitable[VectorStore]]


async def in_memory(tmp_path: Path) -> VectorStore:
    return InMemoryVectorStore(WordAxisEmbedder())


async def in_memory_file(tmp_path: Path) -> VectorStore:
    return InMemoryVectorStore(WordAxisEmbedder(), str(tmp_path / "index.npz"))


async def qdrant_embedded(tmp_path: Path) -> VectorStore:
    return QdrantVectorStore(WordAxisEmbedder(), "contract")


async def qdrant_embedded_on_disk(tmp_path: Path) -> VectorStore:
    return QdrantVectorStore(WordAxisEmbedder(), "contract", path=str(tmp_path / "qdrant"))


async def qdrant_server(tmp_path: Path) -> VectorStore:
    url = os.environ.get(QDRANT_URL_VARIABLE)
    if not url:
        pytest.skip(f"no Qdrant server: set {QDRANT_URL_VARIABLE} to run the suite against one")
    return QdrantVectorStore(WordAxisEmbedder(), f"contract_{uuid.uuid4().hex[:12]}", url=url)


#: harness name -> (adapter module it covers, factory)
HARNESSES: dict[str, tuple[str, StoreFactory]] = {
    "in_memory": ("in_memory", in_memory),
    "in_memory_file": ("in_memory", in_memory_file),
    "qdrant_embedded": ("qdrant", qdrant_embedded),
    "qdrant_embedded_on_disk": ("qdrant", qdrant_embedded_on_disk),
    "qdrant_server": ("qdrant", qdrant_server),
}


def test_every_store_adapter_has_a_harness() -> None:
    adapters = {info.name for info in pkgutil.iter_modules(aura.adapters.vectors.__path__)}
    covered = {module for module, _ in HARNESSES.values()}
    assert adapters - READ_ONLY_ADAPTERS <= covered, f"store adapters without a contract harness: {adapters}"
    assert {"in_memory", "qdrant"} <= adapters


@pytest.fixture(params=list(HARNESSES))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VectorStore]:
    _, factory = HARNESSES[request.param]
    built = await factory(tmp_path)
    try:
        yield built
    finally:
        await built.aclose()


DOCS = [
    Document("a", "disk full on db1", {"source": "runbook.md", "team": "storage"}),
    Document("b", "memory leak in api", {"source": "runbook.md", "team": "platform"}),
    Document("c", "network partition", {"source": "postmortem.md", "team": "platform"}),
]


async def test_the_store_satisfies_the_port(store: VectorStore) -> None:
    assert isinstance(store, VectorStore)


async def test_a_reachable_store_passes_its_readiness_check_before_and_after_filling(store: VectorStore) -> None:
    """Every writable store can be asked by `GET /ready`; an empty store (nothing ingested yet) is reachable."""
    assert isinstance(store, SupportsCheck)
    await store.check()
    await store.upsert(DOCS)
    await store.check()


async def test_a_store_never_filled_finds_nothing_or_says_so(store: VectorStore) -> None:
    """In memory an empty index simply has no hits; a Qdrant collection that was never created is an
    operator's mistake (wrong name, `aura ingest` not run), reported as a `VectorStoreError` saying so."""
    outcome: object
    try:
        outcome = list(await store.search("disk", limit=5))
    except VectorStoreError as error:
        outcome = str(error)
    assert outcome == [] or "aura ingest" in str(outcome)


async def test_upsert_counts_and_search_ranks_the_nearest_first(store: VectorStore) -> None:
    assert await store.upsert(DOCS) == 3
    hits = await store.search("disk usage", limit=3)
    assert hits[0].content == "disk full on db1"
    assert hits[0].metadata["team"] == "storage"
    assert hits[0].score > hits[-1].score
    assert len(await store.search("disk", limit=2)) == 2


async def test_upsert_replaces_a_document_with_the_same_id(store: VectorStore) -> None:
    await store.upsert(DOCS)
    await store.upsert([Document("a", "cpu throttling on db1", {"source": "runbook.md", "team": "storage"})])
    contents = [hit.content for hit in await store.search("cpu disk", limit=10)]
    assert "cpu throttling on db1" in contents
    assert "disk full on db1" not in contents
    assert len(contents) == 3


async def test_label_filters_match_metadata_exactly(store: VectorStore) -> None:
    await store.upsert(DOCS)
    hits = await store.search("network memory disk", limit=10, label_filters={"team": "platform"})
    assert sorted(hit.content for hit in hits) == ["memory leak in api", "network partition"]
    assert list(await store.search("disk", limit=10, label_filters={"team": "nobody"})) == []


async def test_delete_where_removes_matching_documents_except_the_kept_ones(store: VectorStore) -> None:
    await store.upsert(DOCS)
    removed = await store.delete_where({"source": "runbook.md"}, keep_ids={"b"})
    assert removed == 1
    contents = sorted(hit.content for hit in await store.search("disk memory network", limit=10))
    assert contents == ["memory leak in api", "network partition"]
    assert await store.delete_where({"source": "nowhere.md"}) == 0
