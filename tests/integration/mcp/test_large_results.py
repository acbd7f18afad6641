"""Large tool results over every transport: carried whole up to `max_result_bytes`, cut beyond it, never a lost
connection (the SDK's HTTP clients stop at 1 MiB an event by default, and a FastMCP server sends text twice)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio

from aura.adapters.mcp import McpToolset, StdioTransport
from aura.domain.tools import ToolCallContext
from tests.integration.mcp.servers import (
    HTTP_TRANSPORTS,
    TRANSPORTS,
    ServerProcess,
    fixture_command,
    fixture_url,
    http_transport,
    running_fixture_servers,
)

pytestmark = [pytest.mark.timeout(120), pytest.mark.asyncio(loop_scope="module")]

MIB = 1024 * 1024
CONTEXT = ToolCallContext(call_id="call_big", tool_name="big_text")


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ServerProcess]]:
    with running_fixture_servers(HTTP_TRANSPORTS, tmp_path_factory.mktemp("mcp-large-logs")) as started:
        yield started


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def toolsets(servers: dict[str, ServerProcess]) -> AsyncIterator[dict[tuple[str, str], McpToolset]]:
    """Per transport, one toolset with the default cap and one with a small cap (256 KiB)."""
    made: dict[tuple[str, str], McpToolset] = {}
    for transport in TRANSPORTS:
        for kind, options in (("default", {}), ("small", {"max_result_bytes": 256 * 1024})):
            if transport == "stdio":
                command = fixture_command("stdio")
                toolset = McpToolset(f"big-{kind}", StdioTransport(command[0], command[1:]), **options)
            else:
                url = fixture_url(transport, servers[transport].port)
                toolset = McpToolset(f"big-{kind}", http_transport(transport, url), **options)
            await toolset.start()
            made[(transport, kind)] = toolset
    yield made
    await asyncio.gather(*(toolset.aclose() for toolset in made.values()))


def payload(content: str) -> str:
    """The text inside `{"result": ...}` (FastMCP's structured form of a str result, which the model is shown)."""
    assert content.startswith('{"result":"'), content[:80]
    return content[len('{"result":"') :].partition('"')[0]


async def call_big(toolset: McpToolset, size: int) -> Any:
    async with asyncio.timeout(90):
        return await toolset.call_tool("big_text", {"size": size}, CONTEXT)


async def echo_still_works(toolset: McpToolset) -> None:
    result = await toolset.call_tool("echo", {"message": "still here"}, CONTEXT)
    assert not result.is_error, result.content
    assert "still here" in result.content


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_2_mb_result_arrives_whole(toolsets: dict[tuple[str, str], McpToolset], transport: str) -> None:
    toolset = toolsets[(transport, "default")]
    result = await call_big(toolset, 2_000_000)
    assert not result.is_error, result.content[:300]
    assert len(payload(result.content)) == 2_000_000
    assert "Result cut" not in result.content
    assert result.structured == {"result": payload(result.content)}


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_20_mb_result_is_cut_at_max_result_bytes_with_a_note(
    toolsets: dict[tuple[str, str], McpToolset], transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    toolset = toolsets[(transport, "default")]
    with caplog.at_level(logging.WARNING):
        result = await call_big(toolset, 20_000_000)
    assert not result.is_error, result.content[:300]
    kept, _, note = result.content.partition("\n\n[Result cut:")
    assert len(kept.encode()) == 8 * MIB
    assert kept.startswith('{"result":"0123456789abcdef')
    assert "only the first 8,388,608 are shown" in note
    assert "max_result_bytes of MCP server 'big-default'" in note
    assert result.structured is None  # not kept past the cap either
    assert not [r for r in caplog.records if "lost" in r.getMessage()]
    await echo_still_works(toolset)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_beyond_the_wire_limit_the_call_fails_clearly_and_the_connection_stays(
    toolsets: dict[tuple[str, str], McpToolset], transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    # 256 KiB cap: a message may be 2 MiB on the wire; 2 MB of text sent twice is 4 MB.
    toolset = toolsets[(transport, "small")]
    with caplog.at_level(logging.WARNING):
        result = await call_big(toolset, 2_000_000)
        if transport == "stdio":
            # The SDK reads stdio lines whole: the result arrives and is cut like any other.
            assert not result.is_error
            assert "only the first 262,144 are shown" in result.content
        else:
            assert result.is_error
            assert result.content.startswith("Tool execution failed: the result was too large to read")
            assert "limit of 2,097,152 bytes" in result.content
        await echo_still_works(toolset)
    assert toolset.connected
    assert not [r for r in caplog.records if "lost" in r.getMessage() or "closed by the server" in r.getMessage()]
