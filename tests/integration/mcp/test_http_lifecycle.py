"""HTTP MCP servers that are down, hung, restart, go away mid-call or reject our credentials; startup rules."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import web

from aura.adapters.mcp import McpServerUnavailable, McpToolset, StreamableHttpTransport
from aura.domain.tools import ToolCallContext
from tests.integration.mcp.servers import (
    HTTP_TRANSPORTS,
    ServerProcess,
    fixture_server,
    fixture_url,
    free_port,
    http_transport,
)

pytestmark = pytest.mark.timeout(60)

SECRET = "s3cr3t-value"


def context(tool: str) -> ToolCallContext:
    return ToolCallContext(call_id=f"call_{tool}", tool_name=tool)


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
        server = fixture_server(transport, tmp_path, port=port)
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


async def test_connect_timeout_bounds_a_server_that_never_answers(silent_server: str) -> None:
    toolset = McpToolset("hung", StreamableHttpTransport(silent_server), connect_timeout=0.5, required=True)
    try:
        with pytest.raises(McpServerUnavailable, match=r"no answer within 0\.5 s"):
            await toolset.start()
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
