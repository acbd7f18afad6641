"""Servers that are down, slow, crash or restart; closing; using one toolset from many tasks."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import web

from aura.adapters.mcp import McpServerUnavailable, McpToolset, StdioTransport, StreamableHttpTransport
from aura.domain.tools import ToolCallContext
from tests.integration.mcp.servers import (
    HTTP_TRANSPORTS,
    ServerProcess,
    fixture_command,
    fixture_url,
    free_port,
    http_transport,
    wait_for,
)

pytestmark = pytest.mark.timeout(60)

SECRET = "s3cr3t-value"


def context(tool: str) -> ToolCallContext:
    return ToolCallContext(call_id=f"call_{tool}", tool_name=tool)


def stdio_toolset(name: str = "local", **options: object) -> McpToolset:
    command = fixture_command("stdio")
    return McpToolset(name, StdioTransport(command[0], command[1:]), **options)  # type: ignore[arg-type]


def pid_of(content: str) -> int:
    return int(json.loads(content)["result"])


def process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A killed child stays a zombie until reaped; that counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.fixture
def unused_url() -> str:
    return f"http://127.0.0.1:{free_port()}/mcp"


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP port that accepts connections and never answers (a hung MCP server)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/mcp"


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[[str, int], ServerProcess]]:
    started: list[ServerProcess] = []

    def start(transport: str, port: int) -> ServerProcess:
        server = ServerProcess(fixture_command(transport, port=port), port, log=tmp_path / f"{transport}.log")
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture
async def refusing_server() -> AsyncIterator[int]:
    """An HTTP server that answers everything with 401 (credentials rejected)."""

    async def refuse(request: web.Request) -> web.Response:
        return web.Response(status=401, text="bad token")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", refuse)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


def unavailable_warnings(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == f"aura.mcp.{name}" and "is unavailable" in r.getMessage()]


async def test_optional_server_down_at_startup_offers_no_tools_then_recovers_with_backoff(
    caplog: pytest.LogCaptureFixture, start_server: Callable[[str, int], ServerProcess]
) -> None:
    caplog.set_level(logging.INFO, logger="aura.mcp.late")
    port = free_port()
    toolset = McpToolset("late", StreamableHttpTransport(fixture_url("streamable-http", port)), connect_timeout=5)
    try:
        await toolset.start()  # does not raise: the server is optional

        [warning] = unavailable_warnings(caplog, "late")
        message = warning.getMessage()
        assert "'late'" in message
        assert f"url http://127.0.0.1:{port}/mcp" in message
        assert "ConnectError" in message
        # Within the backoff period list_tools() does not try again.
        for _ in range(5):
            assert await toolset.list_tools() == []
        assert len(unavailable_warnings(caplog, "late")) == 1

        start_server("streamable-http", port)
        for _ in range(150):  # the next attempt comes once the backoff has passed
            if await toolset.list_tools():
                break
            await asyncio.sleep(0.2)

        assert any("is available again" in r.getMessage() for r in caplog.records)
        added = await toolset.call_tool("add", {"a": 1, "b": 1}, context("add"))
        assert added.content == '{"result":"2"}'
    finally:
        await toolset.aclose()


async def test_required_server_down_fails_startup_without_leaking_secrets(
    caplog: pytest.LogCaptureFixture, unused_url: str
) -> None:
    caplog.set_level(logging.DEBUG)
    url = unused_url.replace("http://", f"http://user:{SECRET}@") + f"?token={SECRET}"
    transport = StreamableHttpTransport(url, headers={"Authorization": f"Bearer {SECRET}"})
    toolset = McpToolset("billing", transport, required=True, connect_timeout=5)
    try:
        with pytest.raises(McpServerUnavailable) as raised:
            await toolset.start()
    finally:
        await toolset.aclose()

    message = str(raised.value)
    assert "'billing'" in message
    assert unused_url in message
    assert SECRET not in message
    # Our own logs stay clean (the SDK's DEBUG output of its request URL is beyond our control).
    assert not [r for r in caplog.records if r.name.startswith("aura") and SECRET in r.getMessage()]


async def test_required_stdio_server_that_cannot_start_fails_startup() -> None:
    toolset = McpToolset("ghost", StdioTransport("/nonexistent/mcp-server", ["--flag"]), required=True)
    try:
        with pytest.raises(McpServerUnavailable, match=r"'ghost' \(command /nonexistent/mcp-server --flag\)"):
            await toolset.start()
        # Calls report the failure as a tool error instead of raising.
        result = await toolset.call_tool("anything", {}, context("anything"))
        assert result.is_error
    finally:
        await toolset.aclose()


async def test_connect_timeout_bounds_a_server_that_never_answers(silent_server: str) -> None:
    toolset = McpToolset("hung", StreamableHttpTransport(silent_server), connect_timeout=0.5, required=True)
    try:
        with pytest.raises(McpServerUnavailable, match=r"no answer within 0\.5 s"):
            await toolset.start()
    finally:
        await toolset.aclose()


async def test_killed_stdio_child_is_restarted_by_the_next_call() -> None:
    toolset = stdio_toolset()
    try:
        await toolset.start()
        first_pid = pid_of((await toolset.call_tool("pid", {}, context("pid"))).content)

        os.kill(first_pid, signal.SIGKILL)
        await wait_for(lambda: not toolset.connected, what="the toolset to notice the dead child")
        result = await toolset.call_tool("pid", {}, context("pid"))

        assert not result.is_error, result.content
        assert pid_of(result.content) != first_pid
    finally:
        await toolset.aclose()


async def test_a_call_in_flight_when_the_child_dies_fails_and_the_next_call_reconnects() -> None:
    toolset = stdio_toolset()
    try:
        await toolset.start()
        pid = pid_of((await toolset.call_tool("pid", {}, context("pid"))).content)
        slow = asyncio.create_task(toolset.call_tool("slow_task", {"seconds": 30}, context("slow_task")))
        await asyncio.sleep(0.3)

        os.kill(pid, signal.SIGKILL)
        result = await slow

        assert result.is_error
        assert result.content.startswith("Tool execution failed: ")
        after = await toolset.call_tool("echo", {"message": "back"}, context("echo"))
        assert after.content == '{"result":"back"}'
    finally:
        await toolset.aclose()


@pytest.mark.parametrize("transport", HTTP_TRANSPORTS)
async def test_restarted_http_server_is_reconnected_on_the_next_call(
    transport: str, start_server: Callable[[str, int], ServerProcess]
) -> None:
    port = free_port()
    server = start_server(transport, port)
    toolset = McpToolset("restarting", http_transport(transport, fixture_url(transport, port)))
    try:
        await toolset.start()
        assert (await toolset.call_tool("echo", {"message": "before"}, context("echo"))).content == (
            '{"result":"before"}'
        )

        await asyncio.to_thread(server.restart)
        result = await toolset.call_tool("echo", {"message": "after"}, context("echo"))
        if result.is_error:  # the restart raced the call; the one after must work
            result = await toolset.call_tool("echo", {"message": "after"}, context("echo"))

        assert (result.content, result.is_error) == ('{"result":"after"}', False)
    finally:
        await toolset.aclose()


async def test_aclose_stops_the_stdio_child_and_later_calls_fail_cleanly() -> None:
    toolset = stdio_toolset()
    await toolset.start()
    pid = pid_of((await toolset.call_tool("pid", {}, context("pid"))).content)

    await toolset.aclose()

    await wait_for(lambda: process_gone(pid), what="the stdio child to exit")
    result = await toolset.call_tool("pid", {}, context("pid"))
    assert result.is_error
    assert await toolset.list_tools() == []


async def test_start_call_and_close_from_different_tasks() -> None:
    # The anyio pitfall: a session opened in one task and closed in another. Each step here runs
    # in a task of its own, as server startup, request handlers and shutdown do.
    toolset = stdio_toolset()
    await asyncio.create_task(toolset.start())
    results = await asyncio.gather(
        *(asyncio.create_task(toolset.call_tool("echo", {"message": str(i)}, context("echo"))) for i in range(5))
    )
    await asyncio.create_task(toolset.aclose())

    assert [r.content for r in results] == [f'{{"result":"{i}"}}' for i in range(5)]
    assert not toolset.connected


@pytest.mark.parametrize("transport", HTTP_TRANSPORTS)
async def test_server_down_during_a_call_is_a_tool_error(
    transport: str, start_server: Callable[[str, int], ServerProcess]
) -> None:
    port = free_port()
    server = start_server(transport, port)
    toolset = McpToolset("flaky", http_transport(transport, fixture_url(transport, port)), connect_timeout=2)
    try:
        await toolset.start()
        server.stop()

        result = await toolset.call_tool("echo", {"message": "anyone?"}, context("echo"))

        assert result.is_error
        assert result.content.startswith("Tool execution failed: ")
    finally:
        await toolset.aclose()


@pytest.mark.parametrize("transport", HTTP_TRANSPORTS)
async def test_rejected_credentials_are_reported_as_an_authentication_failure(
    transport: str, refusing_server: int
) -> None:
    url = fixture_url(transport, refusing_server)
    transport_config = http_transport(transport, url, headers={"Authorization": f"Bearer {SECRET}"})
    toolset = McpToolset("guarded", transport_config, required=True)
    try:
        with pytest.raises(McpServerUnavailable) as raised:
            await toolset.start()
    finally:
        await toolset.aclose()

    assert "authentication failed (HTTP 401 Unauthorized)" in str(raised.value)
    assert SECRET not in str(raised.value)
