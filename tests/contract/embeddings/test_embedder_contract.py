"""The Embedder contract: one suite, run against every embedding adapter (remote ones through a fake of
their provider's API, speaking the real wire format to the real SDK inside the adapter).

An embedder added to `aura.adapters.embeddings` without a harness here fails
`test_every_embedder_adapter_has_a_harness`. The local MiniLM model needs the `embeddings` extra; the
`local` harness uses the numpy-only hashing model of the same adapter.
"""

from __future__ import annotations

import math
import pkgutil
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web

import aura.adapters.embeddings
from aura.adapters.embeddings.bedrock import BedrockEmbedder
from aura.adapters.embeddings.local import LocalEmbedder
from aura.adapters.embeddings.openai import OpenAIEmbedder
from aura.ports.vector_store import Embedder
from tests.contract.embeddings.fake_server import FakeServer, RecordedRequest, dummy_aws_environment, json_response

SIZE = 8


def fake_vector(text: str) -> list[float]:
    """What the fakes answer: deterministic per text, different for different texts."""
    codes = [ord(character) for character in text] or [0]
    return [float((sum(codes) * (i + 1) + len(text)) % 101) + 1.0 for i in range(SIZE)]


async def openai_embeddings(request: web.Request, recorded: RecordedRequest) -> web.Response:
    body = recorded.json
    data = [{"object": "embedding", "index": i, "embedding": fake_vector(text)} for i, text in enumerate(body["input"])]
    usage = {"prompt_tokens": 1, "total_tokens": 1}
    return json_response({"object": "list", "data": data[::-1], "model": body["model"], "usage": usage})


async def bedrock_invoke(request: web.Request, recorded: RecordedRequest) -> web.Response:
    return json_response({"embedding": fake_vector(recorded.json["inputText"]), "inputTextTokenCount": 1})


@asynccontextmanager
async def local(_: pytest.MonkeyPatch, __: Path) -> AsyncIterator[Embedder]:
    embedder = LocalEmbedder(f"hashing-{SIZE * 4}")
    try:
        yield embedder
    finally:
        await embedder.aclose()


@asynccontextmanager
async def openai(_: pytest.MonkeyPatch, __: Path) -> AsyncIterator[Embedder]:
    async with FakeServer([("POST", "/v1/embeddings", openai_embeddings)]) as server:
        embedder = OpenAIEmbedder("text-embedding-3-small", "sk-contract-test", f"{server.base_url}/v1", batch_size=2)
        try:
            yield embedder
        finally:
            await embedder.aclose()


@asynccontextmanager
async def bedrock(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[Embedder]:
    environment = dummy_aws_environment(monkeypatch, tmp_path)
    next(environment)
    async with FakeServer([("POST", "/model/{model_id}/invoke", bedrock_invoke)]) as server:
        embedder = BedrockEmbedder("amazon.titan-embed-text-v2:0", "us-east-1", endpoint_url=server.base_url)
        try:
            yield embedder
        finally:
            await embedder.aclose()
    next(environment, None)


HARNESSES: dict[str, Callable[[pytest.MonkeyPatch, Path], AbstractAsyncContextManager[Embedder]]] = {
    "local": local,
    "openai": openai,
    "bedrock": bedrock,
}


def test_every_embedder_adapter_has_a_harness() -> None:
    adapters = {info.name for info in pkgutil.iter_modules(aura.adapters.embeddings.__path__)}
    assert adapters <= set(HARNESSES), f"embedders without a contract harness: {adapters - set(HARNESSES)}"


@pytest.fixture(params=list(HARNESSES))
async def embedder(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[Embedder]:
    async with HARNESSES[request.param](monkeypatch, tmp_path) as built:
        yield built


TEXTS = ["disk full on db1", "memory leak", "network partition between zones"]


async def test_the_embedder_satisfies_the_port(embedder: Embedder) -> None:
    assert isinstance(embedder, Embedder)


async def test_one_vector_per_text_in_order_all_of_one_size(embedder: Embedder) -> None:
    vectors = await embedder.embed(TEXTS, "document")
    assert len(vectors) == len(TEXTS)
    sizes = {len(vector) for vector in vectors}
    assert len(sizes) == 1
    assert all(math.isfinite(value) for vector in vectors for value in vector)
    assert vectors[0] != vectors[1]
    singles = [(await embedder.embed([text], "document"))[0] for text in TEXTS]
    assert singles == vectors  # the order of the answer follows the order of the texts, batched or not


async def test_known_dimensions_match_the_vectors(embedder: Embedder) -> None:
    [vector] = await embedder.embed(["disk full"], "query")
    assert embedder.dimensions == len(vector)  # known before, or learned from the first answer


async def test_queries_and_documents_embed_alike_for_the_same_text(embedder: Embedder) -> None:
    [document] = await embedder.embed(["disk full"], "document")
    [query] = await embedder.embed(["disk full"], "query")
    assert len(document) == len(query)


async def test_nothing_to_embed_is_an_empty_answer(embedder: Embedder) -> None:
    assert await embedder.embed([], "document") == []
