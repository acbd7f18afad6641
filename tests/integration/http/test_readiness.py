"""`GET /ready` over a real server: real Qdrant stores (embedded, and a URL where nothing listens), real files.

The body names each store and its state and nothing else (no URL, host or error text: the route is open
without an API key); the log says where and why, once. `/health` stays a cheap 200 meanwhile.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from jsonschema import Draft202012Validator

from aura.adapters.embeddings.local import HashingEmbedder
from aura.adapters.http import ServerOptions
from aura.adapters.http.app import SERVER_STATE
from aura.adapters.http.openapi import openapi_document
from aura.adapters.vectors.in_memory import InMemoryVectorStore
from aura.adapters.vectors.qdrant import QdrantVectorStore
from aura.domain.agent import Agent, close_agents
from aura.domain.vector_search import VectorSearchToolset
from aura.entrypoints.container import build_agents
from tests.integration.http.support import make_agent, running_server

pytestmark = pytest.mark.timeout(90)

API_KEY = "sk-readiness-test-key-0123456789"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once the socket is closed


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, str, Any]:
    async with http.get(url) as response:
        text = await response.text()
        return response.status, text, await response.json()


def conforms(body: Any) -> None:
    """The body matches the `Readiness` schema of `/openapi.json`."""
    doc = openapi_document()
    errors = list(Draft202012Validator({**doc, "$ref": "#/components/schemas/Readiness"}).iter_errors(body))
    assert errors == [], errors


async def test_an_unreachable_qdrant_url_makes_the_server_not_ready_without_saying_where(
    http: aiohttp.ClientSession, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    embedded = QdrantVectorStore(HashingEmbedder(64), "docs", path=str(tmp_path / "qdrant"))
    unreachable = QdrantVectorStore(HashingEmbedder(64), "runbooks", url=url, timeout=5)
    agent = make_agent(
        name="sre", toolsets=[VectorSearchToolset("docs", embedded), VectorSearchToolset("runbooks", unreachable)]
    )
    caplog.set_level(logging.INFO, "aura.adapters.http.readiness")
    try:
        async with running_server([agent]) as server:
            first = await get(http, f"{server.url}/ready")
            health = await get(http, f"{server.url}/health")
            again = await get(http, f"{server.url}/ready")
    finally:
        await close_agents([agent])

    status, text, body = first
    assert status == 503
    assert body == {
        "status": "not_ready",
        "checks": {"sre/vector_store/docs": "ok", "sre/vector_store/runbooks": "unreachable"},
    }
    conforms(body)
    assert url not in text
    assert "127.0.0.1" not in text
    assert "Qdrant" not in text
    assert health[0] == 200
    assert health[2] == {"status": "healthy"}
    assert again[0] == 503
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "vector store 'runbooks' of agent 'sre' (required) cannot be reached" in warnings[0]
    assert url in warnings[0]
    assert "\n" not in warnings[0]


async def test_reachable_stores_make_it_ready(http: aiohttp.ClientSession, tmp_path: Path) -> None:
    qdrant = QdrantVectorStore(HashingEmbedder(64), "docs")  # embedded, in memory
    index = InMemoryVectorStore(HashingEmbedder(64), str(tmp_path / "not-ingested-yet.npz"))
    agent = make_agent(name="sre", toolsets=[VectorSearchToolset("docs", qdrant), VectorSearchToolset("notes", index)])
    try:
        async with running_server([agent]) as server:
            status, _, body = await get(http, f"{server.url}/ready")
    finally:
        await close_agents([agent])
    assert status == 200
    assert body == {"status": "ready", "checks": {"sre/vector_store/docs": "ok", "sre/vector_store/notes": "ok"}}
    conforms(body)


async def test_an_unreadable_index_file_is_unreachable(http: aiohttp.ClientSession, tmp_path: Path) -> None:
    where = tmp_path / "index.npz"
    where.mkdir()  # a directory where the file should be: it cannot be read, even by root
    agent = make_agent(
        name="notes", toolsets=[VectorSearchToolset("notes", InMemoryVectorStore(HashingEmbedder(64), str(where)))]
    )
    try:
        async with running_server([agent]) as server:
            status, text, body = await get(http, f"{server.url}/ready")
    finally:
        await close_agents([agent])
    assert status == 503
    assert body == {"status": "not_ready", "checks": {"notes/vector_store/notes": "unreachable"}}
    assert str(tmp_path) not in text


async def test_an_agent_without_vector_stores_is_ready_with_no_checks(http: aiohttp.ClientSession) -> None:
    async with running_server([make_agent(name="plain")]) as server:
        status, _, body = await get(http, f"{server.url}/ready")
    assert (status, body) == (200, {"status": "ready", "checks": {}})


async def test_ready_needs_no_api_key_and_answers_503_once_shutdown_began(http: aiohttp.ClientSession) -> None:
    async with running_server([make_agent(name="plain")], ServerOptions(api_keys=(API_KEY,))) as server:
        assert (await get(http, f"{server.url}/ready"))[0] == 200
        async with http.get(f"{server.url}/v1/models") as models:
            assert models.status == 401
        server.app[SERVER_STATE].coordinator.begin()
        status, _, body = await get(http, f"{server.url}/ready")
    assert status == 503
    assert body["error"]["type"] == "service_unavailable"


def write_config(root: Path, url: str, *, required: str) -> Path:
    config = root / "agent.toml"
    config.write_text(
        f"""
[llm]
provider = "openai"
model = "m"
api_key = "x"

[agent]
name = "sre"
system_prompt = "s"

[[vector_stores]]
type = "qdrant"
name = "runbooks"
collection_name = "runbooks"
url = "{url}"
{required}
embedding_model = {{ provider = "local", model = "hashing" }}
""",
        encoding="utf-8",
    )
    return config


@pytest.mark.parametrize(
    ("required", "status", "state"),
    [("", 503, "unreachable"), ("required = false", 200, "unreachable (optional)")],
)
async def test_the_config_says_whether_a_store_is_required(
    http: aiohttp.ClientSession, tmp_path: Path, required: str, status: int, state: str
) -> None:
    agents: list[Agent] = build_agents(write_config(tmp_path, f"http://127.0.0.1:{closed_port()}", required=required))
    try:
        async with running_server(agents) as server:
            answer = await get(http, f"{server.url}/ready")
    finally:
        await close_agents(agents)
    assert answer[0] == status
    assert answer[2]["checks"] == {"sre/vector_store/runbooks": state}
