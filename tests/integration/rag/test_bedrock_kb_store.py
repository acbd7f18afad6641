"""`BedrockKnowledgeBaseStore` (real aioboto3, dummy credentials) against a local fake of the Retrieve API."""

from __future__ import annotations

import json

import pytest
from aiohttp import web

from aura.adapters.vectors.bedrock_kb import BedrockKnowledgeBaseStore
from aura.domain.tools import ToolCallContext
from aura.domain.vector_search import ReadOnlyStoreError, VectorSearchToolset, VectorStoreError
from aura.ports.vector_store import Document, VectorStore
from tests.contract.embeddings.fake_server import FakeServer, RecordedRequest, json_response

pytestmark = pytest.mark.usefixtures("aws_env")
RETRIEVE = "/knowledgebases/{kb_id}/retrieve"
RESULTS = [
    {
        "content": {"text": "The VPN requires the corporate certificate.", "type": "TEXT"},
        "location": {"type": "S3", "s3Location": {"uri": "s3://kb-docs/vpn.md"}},
        "score": 0.91,
        "metadata": {"x-amzn-bedrock-kb-chunk-id": "c1", "team": "it"},
    },
    {"content": {"type": "IMAGE", "byteContent": "aGk="}, "location": {"type": "S3"}, "score": 0.8},
    {
        "content": {"text": "Wi-Fi guests use the portal.", "type": "TEXT"},
        "location": {"type": "WEB", "webLocation": {"url": "https://intranet/wifi"}},
    },
]


async def retrieve(request: web.Request, recorded: RecordedRequest) -> web.Response:
    return json_response({"retrievalResults": RESULTS})


async def test_retrieve_maps_text_results_and_skips_the_rest() -> None:
    async with FakeServer([("POST", RETRIEVE, retrieve)]) as server:
        store = BedrockKnowledgeBaseStore("KB123", "us-west-2", endpoint_url=server.base_url)
        assert isinstance(store, VectorStore)
        hits = await store.search("vpn certificate", 4)
        await store.aclose()
    assert [hit.content for hit in hits] == [
        "The VPN requires the corporate certificate.",
        "Wi-Fi guests use the portal.",
    ]
    assert hits[0].score == 0.91
    assert hits[0].metadata == {
        "x-amzn-bedrock-kb-chunk-id": "c1",
        "team": "it",
        "type": "S3",
        "source": "s3://kb-docs/vpn.md",
    }
    assert (hits[1].score, hits[1].metadata) == (0.0, {"type": "WEB", "source": "https://intranet/wifi"})
    [request] = server.requests
    assert request.match_info["kb_id"] == "KB123"
    assert request.json == {
        "retrievalQuery": {"text": "vpn certificate"},
        "retrievalConfiguration": {"vectorSearchConfiguration": {"numberOfResults": 4}},
    }
    assert "/us-west-2/bedrock/aws4_request" in request.headers["Authorization"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"team": "it"}, {"equals": {"key": "team", "value": "it"}}),
        (
            {"team": "it", "year": 2024},
            {"andAll": [{"equals": {"key": "team", "value": "it"}}, {"equals": {"key": "year", "value": 2024}}]},
        ),
    ],
)
async def test_label_filters_become_a_retrieve_filter(filters: dict[str, object], expected: dict[str, object]) -> None:
    async with FakeServer([("POST", RETRIEVE, retrieve)]) as server:
        store = BedrockKnowledgeBaseStore("KB123", "us-east-1", endpoint_url=server.base_url)
        await store.search("q", 3, filters)
        await store.aclose()
    assert server.requests[0].json["retrievalConfiguration"]["vectorSearchConfiguration"]["filter"] == expected


async def test_service_errors_reach_the_model_as_tool_errors() -> None:
    async def missing(request: web.Request, recorded: RecordedRequest) -> web.Response:
        return json_response(
            {"message": "Knowledge base KB404 does not exist"}, 404, {"x-amzn-ErrorType": "ResourceNotFoundException"}
        )

    async with FakeServer([("POST", RETRIEVE, missing)]) as server:
        toolset = VectorSearchToolset(
            "kb", BedrockKnowledgeBaseStore("KB404", "us-east-1", endpoint_url=server.base_url)
        )
        result = await toolset.call_tool("vector_search_kb", {"query": "x"}, ToolCallContext("c", "vector_search_kb"))
        await toolset.aclose()
    assert result.is_error
    assert "Bedrock KB retrieve failed for knowledge base 'KB404'" in result.content
    assert "ResourceNotFoundException" in result.content
    assert "does not exist" in result.content


async def test_the_tool_reports_results_from_the_knowledge_base() -> None:
    async with FakeServer([("POST", RETRIEVE, retrieve)]) as server:
        toolset = VectorSearchToolset("kb", BedrockKnowledgeBaseStore("KB1", "us-east-1", endpoint_url=server.base_url))
        result = await toolset.call_tool(
            "vector_search_kb", {"query": "vpn", "min_score": 0.5}, ToolCallContext("c", "vector_search_kb")
        )
        await toolset.aclose()
    output = json.loads(result.content)
    assert output["total_found"] == 1
    assert output["results"][0]["metadata"]["source"] == "s3://kb-docs/vpn.md"


async def test_upsert_says_the_store_is_managed_by_aws() -> None:
    store = BedrockKnowledgeBaseStore("KB1", "us-east-1")
    with pytest.raises(ReadOnlyStoreError, match="managed store: ingest through AWS"):
        await store.upsert([Document("a", "text")])


async def test_null_filter_values_are_refused_before_calling_aws() -> None:
    store = BedrockKnowledgeBaseStore("KB1", "us-east-1", endpoint_url="http://127.0.0.1:9")
    with pytest.raises(VectorStoreError, match="label filter 'team'"):
        await store.search("q", 3, {"team": None})
    await store.aclose()
