"""Fixtures: our MCP fixture server over each transport, as a ready-to-use `McpToolset`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aura.adapters.mcp import McpToolset, StdioTransport
from tests.integration.mcp.servers import ServerProcess, fixture_command, fixture_server, fixture_url, http_transport

ToolsetFactory = Callable[..., Awaitable[McpToolset]]


@pytest.fixture
def record(tmp_path: Path) -> Path:
    """The file the fixture server appends its events to."""
    return tmp_path / "events.jsonl"


@pytest.fixture
def http_servers(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Starts fixture servers over HTTP on free ports; all are killed after the test."""
    started: list[ServerProcess] = []

    def start(transport: str, *, record: Path | None = None, port: int | None = None) -> ServerProcess:
        server = fixture_server(transport, tmp_path, record=record, port=port)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture
async def fixture_toolset(http_servers: Callable[..., ServerProcess], record: Path) -> AsyncIterator[ToolsetFactory]:
    """`await fixture_toolset(transport, **toolset_options)`: the fixture server over that transport."""
    toolsets: list[McpToolset] = []

    async def make(
        transport: str,
        *,
        name: str = "fixture",
        headers: dict[str, str] | None = None,
        headers_from_request: dict[str, str] | None = None,
        start: bool = True,
        **options: Any,
    ) -> McpToolset:
        if transport == "stdio":
            command = fixture_command("stdio", record=record)
            toolset = McpToolset(name, StdioTransport(command[0], command[1:]), **options)
        else:
            server = http_servers(transport, record=record)
            url = fixture_url(transport, server.port)
            toolset = McpToolset(name, http_transport(transport, url, headers, headers_from_request), **options)
        toolsets.append(toolset)
        if start:
            await toolset.start()
        return toolset

    yield make
    for toolset in toolsets:
        await toolset.aclose()
