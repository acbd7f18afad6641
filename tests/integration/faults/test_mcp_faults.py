"""MCP faults through the whole server: a real MCP server (our fixture server) behind a real aura HTTP server.

Nothing is lost: every accepted stream ends with a final chunk and `[DONE]`, and the server keeps
serving afterwards. The fixture server records what reached it (`--record`), which is how the
disconnect test proves the tool received `notifications/cancelled`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from aura.adapters.http import ServerOptions
from aura.adapters.mcp import McpToolset, StdioTransport, StreamableHttpTransport
from aura.domain.agent import Agent, AgentSettings
from aura.domain.messages import ToolResultMessage, UserMessage
from aura.domain.tools import ToolCallContext
from aura.ports.chat_model import ChatRequest
from aura.testing import ScriptedChatModel, ScriptedRound, call_tool, reply
from tests.integration.faults.support import assert_closed_properly, stream
from tests.integration.http.support import content_of, events, iter_frames, running_server, user
from tests.integration.mcp.servers import (
    ServerProcess,
    fixture_command,
    fixture_url,
    read_events,
    running_fixture_server,
    wait_for,
)

pytestmark = pytest.mark.timeout(90)

OPTIONS = ServerOptions(aura_custom_events=True, heartbeat_interval_secs=0.5)


def scripted_round(request: ChatRequest) -> ScriptedRound:
    """`slow <seconds>` calls slow_task, `add` calls add, anything else is answered; a tool result is summarised."""
    last = request.messages[-1]
    if isinstance(last, ToolResultMessage):
        return reply(f"{last.tool_name} {'failed' if last.is_error else 'worked'}: {last.content}")
    text = last.text if isinstance(last, UserMessage) else ""
    if text.startswith("slow"):
        return call_tool("slow_task", {"seconds": float(text.split()[1]), "label": "fault"})
    if text == "add":
        return call_tool("add", {"a": 2, "b": 3})
    return reply("plain answer")


def agent(toolset: McpToolset) -> Agent:
    model = ScriptedChatModel([], then=scripted_round)
    return Agent(AgentSettings(name="mcp", system_prompt="x", tool_timeout_secs=None), model, [toolset])


@pytest.fixture
def record(tmp_path: Path) -> Path:
    return tmp_path / "events.jsonl"


@pytest.fixture
def http_server(tmp_path: Path, record: Path) -> Iterator[ServerProcess]:
    with running_fixture_server("streamable-http", tmp_path, record=record) as server:
        yield server


@pytest.fixture
async def http_toolset(http_server: ServerProcess) -> AsyncIterator[Callable[..., Any]]:
    made: list[McpToolset] = []

    async def make(**options: Any) -> McpToolset:
        toolset = McpToolset(
            "fixture", StreamableHttpTransport(fixture_url("streamable-http", http_server.port)), **options
        )
        await toolset.start()
        made.append(toolset)
        return toolset

    yield make
    for toolset in made:
        await toolset.aclose()


def slow_events(record: Path, kind: str) -> list[dict[str, Any]]:
    return [event for event in read_events(record) if event.get("event") == kind]


async def test_mcp_server_killed_mid_call(
    http: aiohttp.ClientSession, http_server: ServerProcess, http_toolset: Callable[..., Any], record: Path
) -> None:
    toolset = await http_toolset(call_timeout=30)
    async with running_server([agent(toolset)], OPTIONS) as server:
        reading = asyncio.create_task(stream(http, server.url, "slow 30"))
        await wait_for(lambda: bool(slow_events(record, "slow_started")), what="the slow call to start")
        http_server.stop()  # SIGKILL mid-call
        frames = await asyncio.wait_for(reading, 30)
        final = assert_closed_properly(frames)
        assert "usage" in final
        completed = events(frames, "aura.tool_complete")
        assert [frame.data["success"] for frame in completed] == [False]
        assert content_of(frames).startswith("slow_task failed: Tool execution failed")
        frames = await stream(http, server.url, "plain")  # still serving, without the MCP server
        assert_closed_properly(frames)
        assert content_of(frames) == "plain answer"
        http_server.start()  # back on the same port: the next call reconnects
        frames = await stream(http, server.url, "add")
        assert_closed_properly(frames)
    assert content_of(frames) == 'add worked: {"result":"5"}'


async def test_mcp_stdio_server_killed_mid_call(http: aiohttp.ClientSession, record: Path) -> None:
    command = fixture_command("stdio", record=record)
    toolset = McpToolset("fixture", StdioTransport(command[0], command[1:]), call_timeout=30)
    await toolset.start()
    try:
        answer = await toolset.call_tool("pid", {}, ToolCallContext("call_pid", "pid"))
        pid = int(json.loads(answer.content)["result"])
        async with running_server([agent(toolset)], OPTIONS) as server:
            reading = asyncio.create_task(stream(http, server.url, "slow 30"))
            await wait_for(lambda: bool(slow_events(record, "slow_started")), what="the slow call to start")
            os.kill(pid, signal.SIGKILL)
            frames = await asyncio.wait_for(reading, 30)
            assert_closed_properly(frames)
            assert content_of(frames).startswith("slow_task failed: Tool execution failed")
            frames = await stream(http, server.url, "add")  # a new child is started for the next call
            assert_closed_properly(frames)
            assert content_of(frames) == 'add worked: {"result":"5"}'
    finally:
        await toolset.aclose()


async def test_mcp_tool_that_hangs_past_its_timeout(
    http: aiohttp.ClientSession, http_toolset: Callable[..., Any], record: Path
) -> None:
    toolset = await http_toolset(call_timeout=1.0)
    async with running_server([agent(toolset)], OPTIONS) as server:
        frames = await asyncio.wait_for(stream(http, server.url, "slow 30"), 30)
        assert_closed_properly(frames)
        assert content_of(frames) == "slow_task failed: Timeout: tool 'slow_task' did not finish within 1 s"
        frames = await stream(http, server.url, "add")
        assert_closed_properly(frames)
        assert content_of(frames) == 'add worked: {"result":"5"}'
    await wait_for(lambda: bool(slow_events(record, "slow_cancelled")), what="the server to cancel the slow call")


async def test_client_disconnect_mid_tool_call_cancels_the_mcp_request(
    http: aiohttp.ClientSession, http_toolset: Callable[..., Any], record: Path
) -> None:
    toolset = await http_toolset(call_timeout=60)
    async with running_server([agent(toolset)], OPTIONS) as server:
        payload = {"messages": user("slow 30"), "stream": True}
        async with http.post(f"{server.url}/v1/chat/completions", json=payload) as response:
            async for frame in iter_frames(response):
                if frame.kind == "event" and frame.event == "aura.tool_start":
                    break
            await wait_for(lambda: bool(slow_events(record, "slow_started")), what="the slow call to start")
            response.close()  # the client goes away mid-tool-call
        await wait_for(lambda: bool(slow_events(record, "cancelled")), what="notifications/cancelled at the server")
        await wait_for(lambda: bool(slow_events(record, "slow_cancelled")), what="the tool to be cancelled")
        frames = await stream(http, server.url, "add")  # still serving
        assert_closed_properly(frames)
        assert content_of(frames) == 'add worked: {"result":"5"}'
    started = slow_events(record, "slow_started")[0]
    cancelled = slow_events(record, "cancelled")[0]
    assert str(cancelled["requestId"]) == str(started["requestId"])  # the SDK keeps ids as int or str
    assert not slow_events(record, "slow_finished")
