"""RAG through the HTTP server: ingest with `aura ingest`, then ask `POST /v1/chat/completions`.

The agent comes from the config file via the container (only the chat model is scripted) and is
served by the real aiohttp app on 127.0.0.1, so the passage travels store → tool → model → client.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from dependency_injector import providers

from aura.adapters.http import ServerOptions, create_app, start_app
from aura.domain.agent import Agent
from aura.entrypoints import cli
from aura.entrypoints.config import load_config
from aura.entrypoints.container import container_for
from aura.testing import ScriptedChatModel, call_tool
from tests.integration.rag.test_ingest_and_answer import (
    TOKEN_PASSAGE,
    answer_from_tool_result,
    in_memory_store,
    write_config,
    write_docs,
)

TIMEOUT = aiohttp.ClientTimeout(total=30)


@pytest.fixture
async def docs_agent(tmp_path: Path) -> AsyncIterator[Agent]:
    config = write_config(tmp_path, in_memory_store(tmp_path))
    code = await asyncio.to_thread(cli.main, ["ingest", str(config), "--store", "docs", str(write_docs(tmp_path))])
    assert code == 0
    container = container_for(load_config(config, environ={}).agents[0])
    search = {"query": "rotate API tokens", "limit": 1, "min_score": None, "label_filters": None}
    container.chat_model.override(
        providers.Object(ScriptedChatModel([call_tool("vector_search_docs", search), answer_from_tool_result]))
    )
    agent = container.agent()
    yield agent
    await agent.aclose()


async def post_chat(options: ServerOptions, agent: Agent, body: dict[str, Any]) -> str:
    runner, port = await start_app(create_app([agent], options), "127.0.0.1", 0)
    try:
        async with (
            aiohttp.ClientSession(timeout=TIMEOUT) as session,
            session.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body) as response,
        ):
            assert response.status == 200
            return await response.text()
    finally:
        await runner.cleanup()


async def test_the_answer_carries_the_ingested_passage(docs_agent: Agent) -> None:
    body = {"model": "anything", "messages": [{"role": "user", "content": "How do I rotate API tokens?"}]}
    text = await post_chat(ServerOptions(), docs_agent, body)
    completion = json.loads(text)
    assert completion["object"] == "chat.completion"
    assert TOKEN_PASSAGE in completion["choices"][0]["message"]["content"]
    assert completion["choices"][0]["finish_reason"] == "stop"


async def test_streaming_reports_the_search_result_as_an_aura_event(docs_agent: Agent) -> None:
    options = ServerOptions(aura_custom_events=True, tool_result_mode="aura", tool_result_max_length=0)
    body = {
        "model": "anything",
        "stream": True,
        "messages": [{"role": "user", "content": "How do I rotate API tokens?"}],
    }
    text = await post_chat(options, docs_agent, body)
    events: dict[str, list[Any]] = {}
    content = ""
    for frame in text.split("\n\n"):
        lines = frame.strip().splitlines()
        name = next((line[len("event: ") :] for line in lines if line.startswith("event: ")), "chunk")
        data = "".join(line[len("data: ") :] for line in lines if line.startswith("data: "))
        if not data or data == "[DONE]":
            continue
        payload = json.loads(data)
        events.setdefault(name, []).append(payload)
        if name == "chunk" and payload.get("choices"):
            content += payload["choices"][0]["delta"].get("content") or ""
    [completed] = events["aura.tool_complete"]
    assert completed["tool_name"] == "vector_search_docs"
    assert completed["success"] is True
    result = json.loads(completed["result"])
    assert result["results"][0]["metadata"]["source"].endswith("security.md")
    assert TOKEN_PASSAGE in result["results"][0]["content"]
    assert TOKEN_PASSAGE in content
