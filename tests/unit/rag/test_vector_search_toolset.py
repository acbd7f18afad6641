"""`VectorSearchToolset`: the tool the model sees, argument handling, output and failures."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from aura.adapters.embeddings.local import HashingEmbedder
from aura.adapters.vectors.in_memory import InMemoryVectorStore
from aura.domain.tools import ToolCallContext
from aura.domain.vector_search import (
    VectorSearchToolset,
    VectorStoreError,
    format_results,
    parse_label_value,
    vector_search_tool_name,
)
from aura.ports.toolset import Toolset
from aura.ports.vector_store import Document, SearchHit
from tests.unit.strict_schema_checker import check_strict_schema

DOCS = [
    Document(
        "a", "To reset your password open Settings and choose Reset password.", {"source": "faq.md", "lang": "en"}
    ),
    Document("b", "Billing happens monthly; invoices are emailed as PDF.", {"source": "billing.md", "lang": "en"}),
    Document("c", "Pour réinitialiser le mot de passe, ouvrez Paramètres.", {"source": "faq-fr.md", "lang": "fr"}),
]


def context(name: str = "vector_search_docs") -> ToolCallContext:
    return ToolCallContext(call_id="call_1", tool_name=name)


async def docs_toolset(context_prefix: str | None = None) -> VectorSearchToolset:
    store = InMemoryVectorStore(HashingEmbedder())
    await store.upsert(DOCS)
    return VectorSearchToolset("docs", store, context_prefix)


async def search(toolset: VectorSearchToolset, **arguments: Any) -> tuple[bool, Any]:
    result = await toolset.call_tool(toolset.tool_name, arguments, context(toolset.tool_name))
    return result.is_error, (result.content if result.is_error else json.loads(result.content))


async def test_offers_one_strict_tool_named_after_the_store() -> None:
    toolset = await docs_toolset()
    assert isinstance(toolset, Toolset)
    [spec] = await toolset.list_tools()
    assert spec.name == "vector_search_docs"
    assert check_strict_schema(spec.parameters) == []
    assert set(spec.parameters["properties"]) == {"query", "limit", "min_score", "label_filters"}
    assert "'docs' vector store" in spec.description
    assert "label_filters" in spec.description


@pytest.mark.parametrize(
    ("store_name", "tool_name"),
    [
        ("docs", "vector_search_docs"),
        ("my docs.v2", "vector_search_my_docs_v2"),
        ("café", "vector_search_cafe"),
        ("x" * 80, "vector_search_" + "x" * 50),
    ],
)
def test_store_names_become_valid_tool_names(store_name: str, tool_name: str) -> None:
    assert vector_search_tool_name(store_name) == tool_name


async def test_context_prefix_tells_the_model_what_the_store_holds() -> None:
    toolset = await docs_toolset("Based on the following information from the product handbook:")
    [spec] = await toolset.list_tools()
    assert "This vector store contains: product handbook." in spec.description
    assert "Based on the following" not in spec.description


async def test_search_returns_the_relevant_passage_first_with_metadata() -> None:
    failed, output = await search(await docs_toolset(), query="how do I reset my password")
    assert not failed
    assert output["query"] == "how do I reset my password"
    first = output["results"][0]
    assert "Reset password" in first["content"]
    assert first["metadata"]["source"] == "faq.md"
    assert first["metadata"]["id"] == "a"
    assert 0.0 < first["score"] <= 1.0
    assert output["total_found"] == len(output["results"])
    assert output["formatted_results"].startswith("Result 1 (score: ")
    assert "source: faq.md" in output["formatted_results"]


async def test_min_score_drops_weak_results() -> None:
    toolset = await docs_toolset()
    _, loose = await search(toolset, query="reset password", min_score=0.0)
    _, strict = await search(toolset, query="reset password", min_score=0.3)
    assert loose["total_found"] >= 2
    assert strict["total_found"] == 1
    assert all(result["score"] >= 0.3 for result in strict["results"])


async def test_no_results_message_names_the_query() -> None:
    _, output = await search(await docs_toolset(), query="reset password", min_score=1.0)
    assert output["results"] == []
    assert output["total_found"] == 0
    assert output["formatted_results"] == "No results found for query: 'reset password'"


async def test_label_filters_keep_only_matching_documents() -> None:
    _, output = await search(
        await docs_toolset(), query="reset password", label_filters=[{"key": "lang", "value": "fr"}]
    )
    assert [result["metadata"]["source"] for result in output["results"]] == ["faq-fr.md"]


async def test_limit_defaults_to_five_and_is_clamped_to_twenty() -> None:
    store = InMemoryVectorStore(HashingEmbedder())
    await store.upsert([Document(f"d{i}", f"note number {i} about backups", {}) for i in range(30)])
    toolset = VectorSearchToolset("notes", store)
    _, default = await search(toolset, query="backups", limit=None)
    _, many = await search(toolset, query="backups", limit=50)
    _, one = await search(toolset, query="backups", limit=0)
    assert (default["total_found"], many["total_found"], one["total_found"]) == (5, 20, 1)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "'query' is required"),
        ({"query": "   "}, "'query' is required"),
        ({"query": "x", "limit": "many"}, "'limit' must be an integer"),
        ({"query": "x", "min_score": True}, "'min_score' must be a number"),
        ({"query": "x", "label_filters": {"lang": "fr"}}, "'label_filters' must be an array"),
        ({"query": "x", "label_filters": [{"key": "lang"}]}, "'label_filters[0]'"),
    ],
)
async def test_bad_arguments_are_tool_errors_naming_the_argument(arguments: dict[str, Any], message: str) -> None:
    failed, content = await search(await docs_toolset(), **arguments)
    assert failed
    assert message in content


class BrokenStore:
    """A store whose backend is down (the failure path has no real component to stand in)."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.closed = False

    async def search(
        self, query: str, limit: int, label_filters: Mapping[str, Any] | None = None
    ) -> Sequence[SearchHit]:
        raise self.error

    async def upsert(self, documents: Sequence[Document]) -> int:
        raise self.error

    async def aclose(self) -> None:
        self.closed = True


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (VectorStoreError("Qdrant search failed on collection 'kb': connection refused"), "connection refused"),
        (RuntimeError("adapter bug"), "RuntimeError: adapter bug"),
    ],
)
async def test_store_failures_become_error_results(error: Exception, expected: str) -> None:
    toolset = VectorSearchToolset("kb", BrokenStore(error))
    result = await toolset.call_tool("vector_search_kb", {"query": "x"}, context("vector_search_kb"))
    assert result.is_error
    assert result.content.startswith("Vector store error: ")
    assert expected in result.content


async def test_unknown_tool_name_is_an_error_and_aclose_closes_the_store() -> None:
    store = BrokenStore(RuntimeError("unused"))
    toolset = VectorSearchToolset("kb", store)
    result = await toolset.call_tool("vector_search_other", {"query": "x"}, context())
    assert result.is_error
    await toolset.aclose()
    assert store.closed


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [("42", 42), ("true", True), ("null", None), ('"x"', "x"), ("2.5", 2.5), ("hello", "hello"), ("[1]", "[1]")],
)
def test_label_values_are_parsed_as_json_scalars(raw: str, parsed: Any) -> None:
    assert parse_label_value(raw) == parsed


def test_formatted_results_follow_the_reference_layout() -> None:
    hits = [SearchHit('{"text":"a"}', 0.9123), SearchHit('{"text":"b"}', 0.8)]
    assert format_results("q", hits, "Docs") == (
        'Docs\n\nResult 1 (score: 0.912):\n{"text":"a"}\n\n---\n\nResult 2 (score: 0.800):\n{"text":"b"}\n'
    )
