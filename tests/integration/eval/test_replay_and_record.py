"""The replay MCP server over stdio and streamable HTTP with the `mcp` SDK's own client, and `aura eval record`
proxying our SRE example server (a real MCP server) into a case that then replays what was recorded."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from aura.entrypoints.eval_cases import load_case
from tests.integration.mcp.servers import ServerProcess, free_port

REPO = Path(__file__).resolve().parents[3]
CRASHLOOP = REPO / "examples" / "eval" / "crashloop-missing-env.toml"
SRE_SERVER = REPO / "examples" / "sre_tools" / "server.py"
AURA = [sys.executable, "-m", "aura.entrypoints.cli"]

SMALL_CASE = """
id = "small"
question = "Why is the queue stuck?"

[[tools]]
name = "consumer_lag"
description = "Lag of a consumer group"
input_schema = { type = "object", required = ["group"], properties = { group = { type = "string" }, topic = {} } }

[[tools.recordings]]
match = "exact"
arguments = { group = "billing", topic = "invoices" }
output = "exact: lag 0"

[[tools.recordings]]
arguments = { group = "billing" }
output = "subset: lag 120000"

[[tools.recordings]]
match = "pattern"
arguments = { group = "ship.*" }
output = "pattern: rebalancing"
error = true

[[expect.facts]]
phrases = ["rebalance"]
"""


@asynccontextmanager
async def stdio_session(*args: str) -> AsyncIterator[ClientSession]:
    parameters = StdioServerParameters(command=AURA[0], args=[*AURA[1:], *args], cwd=str(REPO))
    async with AsyncExitStack() as stack:
        read, write = await stack.enter_async_context(stdio_client(parameters))
        session = await stack.enter_async_context(ClientSession(read, write))
        await session.initialize()
        yield session


def text_of(result) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(block.text for block in result.content)


async def test_replay_over_stdio_lists_the_case_tools_and_answers_from_recordings(tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    async with stdio_session("eval", "replay", str(CRASHLOOP), "--log", str(log)) as session:
        listed = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert list(listed) == ["get_logs", "get_events", "describe", "query_metrics", "deploy_history"]
        logs_tool = listed["get_logs"]
        assert logs_tool.annotations is not None
        assert logs_tool.annotations.read_only_hint is True
        assert logs_tool.annotations.title == "Pod logs"
        assert logs_tool.input_schema["required"] == ["service"]
        assert "previous" in logs_tool.input_schema["properties"]

        matched = await session.call_tool("get_logs", {"service": "payments-api", "tail": 50})
        assert "KeyError: 'PAYMENTS_DB_URL'" in text_of(matched)
        assert not matched.is_error
        fallback = await session.call_tool("get_logs", {"service": "checkout-web"})
        assert text_of(fallback).startswith("No pods match that service")
        unknown = await session.call_tool("kubectl_delete", {"name": "everything"})
        assert unknown.is_error

    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(c["tool"], c["matched"]) for c in calls] == [
        ("get_logs", "recordings[0]"),
        ("get_logs", "default"),
        ("kubectl_delete", "unknown-tool"),
    ]
    assert calls[0]["arguments"] == {"service": "payments-api", "tail": 50}


async def test_replay_over_streamable_http_matches_exact_then_subset_then_pattern(tmp_path: Path) -> None:
    case = tmp_path / "small.toml"
    case.write_text(SMALL_CASE)
    port = free_port()
    server = ServerProcess(
        [*AURA, "eval", "replay", str(case), "--transport", "streamable-http", "--port", str(port)],
        port,
        log=tmp_path / "server.log",
    ).start()
    try:
        async with AsyncExitStack() as stack:
            read, write = await stack.enter_async_context(streamable_http_client(f"http://127.0.0.1:{port}/mcp"))
            session = await stack.enter_async_context(ClientSession(read, write))
            await session.initialize()
            assert [tool.name for tool in (await session.list_tools()).tools] == ["consumer_lag"]
            exact = await session.call_tool("consumer_lag", {"group": "billing", "topic": "invoices"})
            subset = await session.call_tool("consumer_lag", {"group": "billing", "topic": "refunds"})
            pattern = await session.call_tool("consumer_lag", {"group": "shipping-events"})
            unmatched = await session.call_tool("consumer_lag", {"group": "search"})
    finally:
        server.stop()
    assert text_of(exact) == "exact: lag 0"
    assert text_of(subset) == "subset: lag 120000"
    assert text_of(pattern) == "pattern: rebalancing"
    assert pattern.is_error
    assert unmatched.is_error
    assert 'no recorded output for consumer_lag with arguments {"group": "search"}' in text_of(unmatched)


async def test_record_proxies_a_live_server_and_the_recorded_case_replays_it(tmp_path: Path) -> None:
    out = tmp_path / "recorded.toml"
    record = (
        "eval",
        "record",
        str(out),
        "--question",
        "Is the host out of disk?",
        "--",
        sys.executable,
        str(SRE_SERVER),
    )
    async with stdio_session(*record) as session:
        live_tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        disk = await session.call_tool("disk_usage", {"path": "/"})
        failed = await session.call_tool("top_processes", {"sort_by": "colour"})
    assert "disk_usage" in live_tools
    assert failed.is_error

    case = load_case(out)
    assert case.id == "recorded"
    assert case.question == "Is the host out of disk?"
    assert [tool.name for tool in case.tools] == list(live_tools)
    disk_tool = case.tool("disk_usage")
    assert disk_tool is not None
    assert disk_tool.description == live_tools["disk_usage"].description
    assert dict(disk_tool.input_schema)["properties"] == live_tools["disk_usage"].input_schema["properties"]
    (recording,) = disk_tool.recordings
    assert recording.match == "exact"
    assert recording.arguments == {"path": "/"}
    assert recording.structured == disk.structured_content
    assert recording.output == text_of(disk)
    top = case.tool("top_processes")
    assert top is not None
    assert top.recordings[0].is_error

    # the recorded case replays the live answers
    async with stdio_session("eval", "replay", str(out)) as session:
        replayed = await session.call_tool("disk_usage", {"path": "/"})
        replayed_error = await session.call_tool("top_processes", {"sort_by": "colour"})
    assert text_of(replayed) == text_of(disk)
    assert replayed.structured_content == disk.structured_content
    assert replayed_error.is_error
    assert text_of(replayed_error) == text_of(failed)


@pytest.mark.parametrize("args", [("eval", "replay"), ("eval", "record", "out.toml")])
def test_record_and_replay_usage_errors_exit_2(args: tuple[str, ...], tmp_path: Path) -> None:
    import subprocess

    result = subprocess.run([*AURA, *args], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 2
    assert "error:" in result.stderr
    assert "Traceback" not in result.stderr


async def test_the_recorder_stands_in_for_a_server_in_an_agent(tmp_path: Path) -> None:
    """As docs/eval.md suggests: the recorder as an agent's stdio MCP server, recording what the agent asks."""
    from aura.adapters.mcp import McpToolset, StdioTransport
    from aura.domain.agent import Agent, AgentSettings
    from aura.testing import ScriptedChatModel, call_tool, reply

    out = tmp_path / "cases" / "load.toml"
    command = [*AURA[1:], "eval", "record", str(out), "--", sys.executable, str(SRE_SERVER)]
    toolset = McpToolset("sre_tools", StdioTransport(AURA[0], command), required=True, connect_timeout=60)
    model = ScriptedChatModel([call_tool("load_average", {}), reply("The load is fine.")])
    agent = Agent(AgentSettings(name="sre", system_prompt="Look first."), model, [toolset])
    try:
        await toolset.start()
        finished = await agent.run("How loaded is the host?")
    finally:
        await agent.aclose()
    assert finished.error is None
    case = load_case(out)
    assert case.question == "TODO: the alert or question the user sends"
    assert case.facts[0].id == "todo"
    load = case.tool("load_average")
    assert load is not None
    (recording,) = load.recordings
    assert recording.arguments == {}
    assert "cpu_count" in recording.output
