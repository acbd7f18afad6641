"""`OpenAIEmbedder` (real openai SDK) against a local fake of `POST /v1/embeddings`."""

from __future__ import annotations

import pytest
from aiohttp import web

from aura.adapters.embeddings.openai import OpenAIEmbedder
from aura.domain.vector_search import EmbeddingError
from aura.ports.vector_store import Embedder
from tests.contract.embeddings.fake_server import FakeServer, RecordedRequest, json_response

API_KEY = "sk-test-secret-key-1234567890"


def vector_for(text: str) -> list[float]:
    return [float(len(text)), float(sum(map(ord, text)) % 97), 1.0]


async def embeddings_ok(request: web.Request, recorded: RecordedRequest) -> web.Response:
    body = recorded.json
    # Answer in reverse order: the API gives `index`, and clients must not rely on order.
    data = [{"object": "embedding", "index": i, "embedding": vector_for(text)} for i, text in enumerate(body["input"])][
        ::-1
    ]
    return json_response(
        {"object": "list", "data": data, "model": body["model"], "usage": {"prompt_tokens": 3, "total_tokens": 3}}
    )


async def test_embeds_in_batches_keeping_input_order() -> None:
    async with FakeServer([("POST", "/v1/embeddings", embeddings_ok)]) as server:
        embedder = OpenAIEmbedder("text-embedding-3-small", API_KEY, f"{server.base_url}/v1", batch_size=2)
        assert isinstance(embedder, Embedder)
        assert embedder.dimensions == 1536  # known before the first call
        texts = ["alpha", "be", "gamma ray", "", "delta"]
        vectors = await embedder.embed(texts, "document")
        await embedder.aclose()
    assert vectors == [vector_for(t) for t in ["alpha", "be", "gamma ray", " ", "delta"]]
    assert embedder.dimensions == 3  # learned from the answer
    assert [r.json["input"] for r in server.requests] == [["alpha", "be"], ["gamma ray", " "], ["delta"]]
    first = server.requests[0]
    assert first.json["model"] == "text-embedding-3-small"
    assert first.json["encoding_format"] == "float"
    assert first.headers["Authorization"] == f"Bearer {API_KEY}"


async def test_requested_dimensions_are_sent() -> None:
    async with FakeServer([("POST", "/v1/embeddings", embeddings_ok)]) as server:
        embedder = OpenAIEmbedder("text-embedding-3-large", API_KEY, f"{server.base_url}/v1", dimensions=256)
        await embedder.embed(["x"], "query")
        await embedder.aclose()
    assert server.requests[0].json["dimensions"] == 256


async def test_authentication_failure_is_clear_and_hides_the_key() -> None:
    async def unauthorized(request: web.Request, recorded: RecordedRequest) -> web.Response:
        message = f"Incorrect API key provided: {API_KEY}. You can find your API key at the dashboard."
        return json_response({"error": {"message": message, "type": "invalid_request_error"}}, status=401)

    async with FakeServer([("POST", "/v1/embeddings", unauthorized)]) as server:
        embedder = OpenAIEmbedder("text-embedding-3-small", API_KEY, f"{server.base_url}/v1")
        with pytest.raises(EmbeddingError) as caught:
            await embedder.embed(["x"], "query")
        await embedder.aclose()
    message = str(caught.value)
    assert "HTTP 401" in message
    assert "text-embedding-3-small" in message
    assert "Incorrect API key provided" in message
    assert API_KEY not in message
    assert "1234567890" not in message


async def test_server_errors_are_retried_then_reported() -> None:
    async def broken(request: web.Request, recorded: RecordedRequest) -> web.Response:
        return json_response({"error": {"message": "upstream overloaded"}}, status=503)

    async with FakeServer([("POST", "/v1/embeddings", broken)]) as server:
        embedder = OpenAIEmbedder("m", API_KEY, f"{server.base_url}/v1", max_retries=1)
        with pytest.raises(EmbeddingError, match=r"HTTP 503.*upstream overloaded"):
            await embedder.embed(["x"], "query")
        await embedder.aclose()
    assert len(server.requests) == 2


async def test_a_short_answer_is_an_error() -> None:
    async def short(request: web.Request, recorded: RecordedRequest) -> web.Response:
        return json_response({"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [1.0]}]})

    async with FakeServer([("POST", "/v1/embeddings", short)]) as server:
        embedder = OpenAIEmbedder("m", API_KEY, f"{server.base_url}/v1")
        with pytest.raises(EmbeddingError, match="returned 1 vectors for 2 inputs"):
            await embedder.embed(["x", "y"], "document")
        await embedder.aclose()


async def test_unreachable_endpoint_is_a_connection_error() -> None:
    embedder = OpenAIEmbedder("m", API_KEY, "http://127.0.0.1:9/v1", max_retries=0, request_timeout=5)
    with pytest.raises(EmbeddingError, match="could not reach"):
        await embedder.embed(["x"], "query")
    await embedder.aclose()
