"""`QdrantVectorStore` against qdrant-client's embedded mode, on disk (`path`) and in memory."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from qdrant_client import AsyncQdrantClient, models

from aura.adapters.embeddings.local import HashingEmbedder
from aura.adapters.vectors.qdrant import QdrantVectorStore, point_id
from aura.domain.tools import ToolCallContext
from aura.domain.vector_search import VectorSearchToolset, VectorStoreError
from aura.ports.vector_store import Document, VectorStore

DOCS = [
    Document(
        "runbook.md#0", "Restart the ingest worker when the queue is stuck.", {"source": "runbook.md", "team": "sre"}
    ),
    Document("runbook.md#1", "Rotate the database password every 90 days.", {"source": "runbook.md", "team": "dba"}),
    Document(
        "faq.md#0", "Reset your password from the Settings page.", {"source": "faq.md", "team": "support", "tier": 2}
    ),
]


@pytest.fixture(params=["memory", "disk"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[QdrantVectorStore]:
    path = str(tmp_path / "qdrant") if request.param == "disk" else None
    qdrant = QdrantVectorStore(HashingEmbedder(), "docs", path=path)
    yield qdrant
    await qdrant.aclose()


async def test_search_ranks_ingested_passages(store: QdrantVectorStore) -> None:
    assert isinstance(store, VectorStore)
    assert await store.upsert(DOCS) == 3
    hits = await store.search("reset my password", 2)
    assert len(hits) == 2
    assert hits[0].content == "Reset your password from the Settings page."
    assert hits[0].metadata == {"source": "faq.md", "team": "support", "tier": 2, "id": "faq.md#0"}
    assert hits[0].score > hits[1].score


async def test_upserting_again_is_idempotent(store: QdrantVectorStore) -> None:
    await store.upsert(DOCS)
    await store.upsert(DOCS)
    await store.upsert(DOCS[:1])
    assert await store.count() == 3


@pytest.mark.parametrize(
    ("filters", "expected"),
    [({"team": "dba"}, ["runbook.md#1"]), ({"tier": 2}, ["faq.md#0"]), ({"team": "sre", "tier": 2}, [])],
)
async def test_label_filters_run_in_qdrant(
    store: QdrantVectorStore, filters: dict[str, object], expected: list[str]
) -> None:
    await store.upsert(DOCS)
    hits = await store.search("password", 5, filters)
    assert [hit.metadata["id"] for hit in hits] == expected


async def test_searching_before_any_ingest_says_so(store: QdrantVectorStore) -> None:
    with pytest.raises(VectorStoreError, match=r"collection 'docs' does not exist.*aura ingest"):
        await store.search("x", 1)


async def test_the_tool_applies_min_score_on_top_of_qdrant(store: QdrantVectorStore) -> None:
    await store.upsert(DOCS)
    toolset = VectorSearchToolset("docs", store)
    result = await toolset.call_tool(
        "vector_search_docs", {"query": "reset password", "min_score": 0.3}, ToolCallContext("c", "vector_search_docs")
    )
    output = json.loads(result.content)
    assert [r["metadata"]["id"] for r in output["results"]] == ["faq.md#0"]


async def test_on_disk_collection_survives_reopening(tmp_path: Path) -> None:
    path = str(tmp_path / "qdrant")
    first = QdrantVectorStore(HashingEmbedder(), "docs", path=path)
    await first.upsert(DOCS)
    await first.aclose()
    second = QdrantVectorStore(HashingEmbedder(), "docs", path=path)
    await second.upsert(DOCS)  # re-ingest after restart: same point ids
    assert await second.count() == 3
    [hit] = await second.search("rotate database password", 1)
    assert hit.metadata["id"] == "runbook.md#1"
    await second.aclose()


async def test_embedder_of_another_size_is_refused_on_an_existing_collection(tmp_path: Path) -> None:
    path = str(tmp_path / "qdrant")
    first = QdrantVectorStore(HashingEmbedder(64), "docs", path=path)
    await first.upsert(DOCS)
    await first.aclose()
    second = QdrantVectorStore(HashingEmbedder(32), "docs", path=path)
    with pytest.raises(VectorStoreError, match="holds 64-dimensional vectors but the embedder makes 32"):
        await second.upsert(DOCS)
    await second.aclose()


async def test_collections_filled_elsewhere_are_readable(tmp_path: Path) -> None:
    """Points without our `text` key still come back: their payload as compact JSON."""
    path = str(tmp_path / "qdrant")
    embedder = HashingEmbedder()
    client = AsyncQdrantClient(path=path)
    await client.create_collection(
        "ext", vectors_config=models.VectorParams(size=embedder.dimensions or 0, distance=models.Distance.COSINE)
    )
    [vector] = await embedder.embed(["kubernetes pod restarts"], "document")
    await client.upsert("ext", [models.PointStruct(id=7, vector=vector, payload={"title": "Pods", "body": "restarts"})])
    await client.close()
    store = QdrantVectorStore(embedder, "ext", path=path)
    [hit] = await store.search("pod restarts", 1)
    await store.aclose()
    assert json.loads(hit.content) == {"title": "Pods", "body": "restarts"}
    assert hit.metadata == {"id": "7"}


def test_point_ids_are_stable_uuids() -> None:
    assert point_id("faq.md#0") == point_id("faq.md#0")
    assert point_id("faq.md#0") != point_id("faq.md#1")
    assert len(point_id("x")) == 36


def test_url_and_path_together_are_refused() -> None:
    with pytest.raises(ValueError, match="either 'url'"):
        QdrantVectorStore(HashingEmbedder(), "docs", url="http://localhost:6333", path="/tmp/x")


async def test_unreachable_server_is_a_clear_error() -> None:
    store = QdrantVectorStore(HashingEmbedder(), "docs", url="http://127.0.0.1:9", timeout=5)
    with pytest.raises(VectorStoreError, match="Qdrant search failed on collection 'docs'"):
        await store.search("x", 1)
    await store.aclose()
