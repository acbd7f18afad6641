"""stdio MCP servers that cannot start, crash or are closed; one toolset used from many tasks."""

from __future__ import annotations

import asyncio
import json
import os
import signal

import pytest

from aura.adapters.mcp import McpServerUnavailable, McpToolset, StdioTransport
from aura.domain.tools import ToolCallContext
from tests.integration.mcp.servers import fixture_command, wait_for

pytestmark = pytest.mark.timeout(60)


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
