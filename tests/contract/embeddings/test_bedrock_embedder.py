"""`BedrockEmbedder` (real aioboto3/botocore, dummy credentials) against a local fake of `InvokeModel`."""

from __future__ import annotations

import pytest
from aiohttp import web

from aura.adapters.embeddings.bedrock import BedrockEmbedder
from aura.domain.vector_search import EmbeddingError
from tests.contract.embeddings.fake_server import FakeServer, RecordedRequest, json_response

pytestmark = pytest.mark.usefixtures("aws_env")
INVOKE = "/model/{model_id}/invoke"


def vector_for(text: str, size: int = 4) -> list[float]:
    return [float(len(text))] + [0.5] * (size - 1)


async def invoke(request: web.Request, recorded: RecordedRequest) -> web.Response:
    model_id = recorded.match_info["model_id"]
    body = recorded.json
    if model_id.startswith("amazon.titan"):
        return json_response({"embedding": vector_for(body["inputText"]), "inputTextTokenCount": 2})
    if "cohere" in model_id:
        return json_response({"id": "x", "embeddings": [vector_for(t) for t in body["texts"]], "texts": body["texts"]})
    return json_response(
        {"message": f"model {model_id} not found"}, 404, {"x-amzn-ErrorType": "ResourceNotFoundException"}
    )


async def test_titan_v2_sends_one_text_per_call_with_dimensions_and_normalize() -> None:
    async with FakeServer([("POST", INVOKE, invoke)]) as server:
        embedder = BedrockEmbedder("amazon.titan-embed-text-v2:0", "us-east-1", endpoint_url=server.base_url)
        assert embedder.dimensions == 1024
        vectors = await embedder.embed(["one", "three"], "document")
        await embedder.aclose()
    assert vectors == [vector_for("one"), vector_for("three")]
    assert sorted(r.json["inputText"] for r in server.requests) == ["one", "three"]
    assert all(
        r.json == {"inputText": r.json["inputText"], "dimensions": 1024, "normalize": True} for r in server.requests
    )
    request = server.requests[0]
    assert request.match_info["model_id"] == "amazon.titan-embed-text-v2:0"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIATESTTESTTESTTEST/")
    assert "/us-east-1/bedrock/aws4_request" in request.headers["Authorization"]


async def test_titan_v1_body_is_only_the_text() -> None:
    async with FakeServer([("POST", INVOKE, invoke)]) as server:
        embedder = BedrockEmbedder("amazon.titan-embed-text-v1", "eu-west-1", endpoint_url=server.base_url)
        assert embedder.dimensions == 1536
        await embedder.embed(["hello"], "query")
        await embedder.aclose()
    assert server.requests[0].json == {"inputText": "hello"}


@pytest.mark.parametrize(("purpose", "input_type"), [("document", "search_document"), ("query", "search_query")])
async def test_cohere_batches_texts_and_says_what_they_are_for(purpose: str, input_type: str) -> None:
    async with FakeServer([("POST", INVOKE, invoke)]) as server:
        embedder = BedrockEmbedder("cohere.embed-english-v3", "us-east-1", endpoint_url=server.base_url)
        texts = [f"text {i}" for i in range(100)]
        vectors = await embedder.embed(texts, purpose)  # type: ignore[arg-type]
        await embedder.aclose()
    assert vectors == [vector_for(t) for t in texts]
    assert sorted(len(r.json["texts"]) for r in server.requests) == [4, 96]
    assert all(r.json["input_type"] == input_type and r.json["truncate"] == "END" for r in server.requests)


async def test_cohere_v4_float_embeddings_shape_is_understood() -> None:
    async def v4(request: web.Request, recorded: RecordedRequest) -> web.Response:
        return json_response({"embeddings": {"float": [[0.1, 0.2]]}, "response_type": "embeddings_by_type"})

    async with FakeServer([("POST", INVOKE, v4)]) as server:
        embedder = BedrockEmbedder("us.cohere.embed-v4:0", "us-east-1", endpoint_url=server.base_url)
        assert await embedder.embed(["x"], "query") == [[0.1, 0.2]]
        await embedder.aclose()


async def test_service_errors_name_the_model_and_the_aws_error() -> None:
    async def denied(request: web.Request, recorded: RecordedRequest) -> web.Response:
        return json_response(
            {"message": "You don't have access to the model"}, 403, {"x-amzn-ErrorType": "AccessDeniedException"}
        )

    async with FakeServer([("POST", INVOKE, denied)]) as server:
        embedder = BedrockEmbedder("amazon.titan-embed-text-v2:0", "us-east-1", endpoint_url=server.base_url)
        with pytest.raises(EmbeddingError) as caught:
            await embedder.embed(["x"], "query")
        await embedder.aclose()
    message = str(caught.value)
    assert "amazon.titan-embed-text-v2:0" in message
    assert "AccessDeniedException" in message
    assert "don't have access" in message
    assert "test-secret-key" not in message


async def test_an_answer_without_a_vector_is_an_error() -> None:
    async def empty(request: web.Request, recorded: RecordedRequest) -> web.Response:
        return json_response({"inputTextTokenCount": 1})

    async with FakeServer([("POST", INVOKE, empty)]) as server:
        embedder = BedrockEmbedder("amazon.titan-embed-text-v1", "us-east-1", endpoint_url=server.base_url)
        with pytest.raises(EmbeddingError, match="without an 'embedding' vector"):
            await embedder.embed(["x"], "query")
        await embedder.aclose()


def test_unsupported_models_and_missing_region_are_refused_up_front() -> None:
    with pytest.raises(ValueError, match=r"unsupported Bedrock embedding model: meta\.llama3"):
        BedrockEmbedder("meta.llama3", "us-east-1")
    with pytest.raises(ValueError, match="'region' is required"):
        BedrockEmbedder("amazon.titan-embed-text-v1", "")
