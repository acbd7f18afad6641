"""The RETRIEVER span a search records when its call context carries a tracer (the proposed
`ToolCallContext.tracer` / `.span` fields, stood in for here by a subclass)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from aura.adapters.embeddings.local import HashingEmbedder
from aura.adapters.vectors.in_memory import InMemoryVectorStore
from aura.domain.tools import ToolCallContext
from aura.domain.vector_search import VectorSearchToolset, VectorStoreError
from aura.ports.tracer import AttributeValue, Span, SpanKind, Tracer
from aura.ports.vector_store import Document, SearchHit


@attrs.define
class RecordedSpan:
    name: str
    kind: SpanKind
    parent: Span | None
    attributes: dict[str, AttributeValue] = attrs.field(factory=dict)
    errors: list[str] = attrs.field(factory=list)
    ended: bool = False

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        self.attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        self.attributes.update(attributes)

    def record_error(self, message: str) -> None:
        self.errors.append(message)

    def end(self) -> None:
        self.ended = True

    @property
    def trace_id(self) -> str | None:
        return None


@attrs.define
class RecordingTracer:
    records_content: bool = True
    spans: list[RecordedSpan] = attrs.field(factory=list)

    def start_span(
        self,
        name: str,
        kind: SpanKind,
        attributes: Mapping[str, AttributeValue] | None = None,
        parent: Span | None = None,
    ) -> Span:
        span = RecordedSpan(name, kind, parent, dict(attributes or {}))
        self.spans.append(span)
        return span


@attrs.frozen
class TracedCallContext(ToolCallContext):
    tracer: Tracer | None = None
    span: Span | None = None


async def geo_toolset() -> VectorSearchToolset:
    store = InMemoryVectorStore(HashingEmbedder(64))
    await store.upsert(
        [
            Document("geo-1", "Paris is the capital of France", {"source": "geo.md"}),
            Document("geo-2", "Lyon is a city in France", {"source": "geo.md"}),
        ]
    )
    return VectorSearchToolset("geo", store)


async def test_search_records_a_retriever_span_under_the_tool_span() -> None:
    tracer = RecordingTracer()
    tool_span = tracer.start_span("tool.call", SpanKind.TOOL)
    context = TracedCallContext("c1", "vector_search_geo", tracer=tracer, span=tool_span)
    toolset = await geo_toolset()
    result = await toolset.call_tool("vector_search_geo", {"query": "capital of France", "limit": 1}, context)
    assert not result.is_error
    retrieval = tracer.spans[-1]
    assert (retrieval.name, retrieval.kind, retrieval.parent, retrieval.ended) == (
        "vector.search",
        SpanKind.RETRIEVER,
        tool_span,
        True,
    )
    assert retrieval.attributes["input.value"] == "capital of France"
    assert retrieval.attributes["retrieval.documents.0.document.content"] == "Paris is the capital of France"
    assert retrieval.attributes["retrieval.documents.0.document.id"] == "geo-1"
    assert isinstance(retrieval.attributes["retrieval.documents.0.document.score"], float)
    assert retrieval.attributes["retrieval.document_count"] == 1


async def test_without_content_recording_only_ids_and_scores_are_kept() -> None:
    tracer = RecordingTracer(records_content=False)
    toolset = await geo_toolset()
    await toolset.call_tool(
        "vector_search_geo", {"query": "capital"}, TracedCallContext("c1", "vector_search_geo", tracer=tracer)
    )
    [retrieval] = tracer.spans
    assert "input.value" not in retrieval.attributes
    assert not any(key.endswith(".content") for key in retrieval.attributes)
    assert retrieval.attributes["retrieval.documents.0.document.id"] in {"geo-1", "geo-2"}


class UnreachableStore:
    """A store whose backend is down."""

    async def search(self, query: str, limit: int, label_filters: Mapping[str, Any] | None = None) -> list[SearchHit]:
        raise VectorStoreError("Qdrant search failed on collection 'geo': connection refused")

    async def upsert(self, documents: Sequence[Document]) -> int:
        return 0

    async def aclose(self) -> None:
        return None


async def test_a_failed_search_records_the_error_on_the_span() -> None:
    tracer = RecordingTracer()
    toolset = VectorSearchToolset("geo", UnreachableStore())
    result = await toolset.call_tool(
        "vector_search_geo", {"query": "x"}, TracedCallContext("c1", "vector_search_geo", tracer=tracer)
    )
    assert result.is_error
    [retrieval] = tracer.spans
    assert retrieval.ended
    assert retrieval.errors == ["Qdrant search failed on collection 'geo': connection refused"]
