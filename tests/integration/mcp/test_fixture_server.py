"""`McpToolset` against our FastMCP fixture server, over stdio, SSE and streamable HTTP."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from aura.adapters.mcp import McpToolset, StdioTransport
from aura.domain.schema_profiles import OPENAI
from aura.domain.tools import ProgressUpdate, ToolCallContext
from tests.integration.mcp.servers import (
    HTTP_TRANSPORTS,
    TRANSPORTS,
    ServerProcess,
    fixture_command,
    fixture_url,
    http_transport,
    read_events,
    running_fixture_servers,
    wait_for,
)
from tests.unit.strict_schema_checker import check_strict_schema

# One server per transport and one event loop for the whole module: starting a Python MCP server
# takes a second or two, which per test would blow the time budget of this file.
pytestmark = [pytest.mark.timeout(60), pytest.mark.asyncio(loop_scope="module")]

ALL_FIXTURE_TOOLS = {
    "add",
    "echo",
    "weird_name_tool_v2",
    "greet",
    "repeat",
    "multi_text",
    "progress_task",
    "slow_task",
    "echo_headers",
    "failing_tool",
    "structured",
    "image",
    "resources",
    "audio",
    "pid",
    "write_stderr",
    "grow",
    "big_text",
}


def context(tool: str, updates: list[ProgressUpdate] | None = None) -> ToolCallContext:
    async def report(update: ProgressUpdate) -> None:
        if updates is not None:
            updates.append(update)

    return ToolCallContext(call_id=f"call_{tool}", tool_name=tool, report_progress=report)


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Per transport, the file its fixture server appends events to."""
    directory = tmp_path_factory.mktemp("mcp-events")
    return {transport: directory / f"{transport}.jsonl" for transport in TRANSPORTS}


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, records: dict[str, Path]) -> Iterator[dict[str, ServerProcess]]:
    with running_fixture_servers(HTTP_TRANSPORTS, tmp_path_factory.mktemp("mcp-logs"), records=records) as started:
        yield started


ToolsetFactory = Callable[..., Awaitable[McpToolset]]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def make_toolset(servers: dict[str, ServerProcess], records: dict[str, Path]) -> AsyncIterator[ToolsetFactory]:
    """`await make_toolset(transport, **options)`: a started toolset on that transport's fixture server."""
    toolsets: list[McpToolset] = []

    async def make(transport: str, *, name: str = "fixture", **options: Any) -> McpToolset:
        if transport == "stdio":
            command = fixture_command("stdio", record=records["stdio"])
            toolset = McpToolset(name, StdioTransport(command[0], command[1:]), **options)
        else:
            url = fixture_url(transport, servers[transport].port)
            toolset = McpToolset(name, http_transport(transport, url), **options)
        toolsets.append(toolset)
        await toolset.start()
        return toolset

    yield make
    await asyncio.gather(*(toolset.aclose() for toolset in toolsets))


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def shared(make_toolset: ToolsetFactory) -> dict[str, McpToolset]:
    """One default toolset per transport, shared by the tests that need no special options."""
    return {transport: await make_toolset(transport) for transport in TRANSPORTS}


def events_of(record: Path, label: str) -> list[dict[str, Any]]:
    """The slow-task events with this label plus the cancellations of those requests."""
    events = read_events(record)
    request_ids = {str(e["requestId"]) for e in events if e.get("label") == label}
    return [
        e
        for e in events
        if e.get("label") == label or (e["event"] == "cancelled" and str(e["requestId"]) in request_ids)
    ]


def has_event(record: Path, label: str, kind: str) -> Callable[[], bool]:
    return lambda: any(e["event"] == kind for e in events_of(record, label))


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_discovers_every_page_with_sanitized_names_and_schemas_the_openai_profile_makes_strict(
    shared: dict[str, McpToolset], transport: str
) -> None:
    specs = {spec.name: spec for spec in await shared[transport].list_tools()}

    # The fixture pages tools/list three at a time: the later pages are only seen by following nextCursor.
    assert {name for name in specs if not name.startswith("grown_")} == ALL_FIXTURE_TOOLS
    assert "weird name.tool/v2" not in specs
    for spec in specs.values():
        provider = OPENAI.to_provider(spec.parameters)
        assert provider.strict, spec.name
        assert check_strict_schema(provider.schema) == [], spec.name
    assert specs["add"].description == "Add two integers."


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_calls_tools_and_converts_results(shared: dict[str, McpToolset], transport: str) -> None:
    toolset = shared[transport]

    added = await toolset.call_tool("add", {"a": 2, "b": 40}, context("add"))
    renamed = await toolset.call_tool("weird_name_tool_v2", {}, context("weird_name_tool_v2"))
    structured = await toolset.call_tool("structured", {}, context("structured"))
    texts = await toolset.call_tool("multi_text", {}, context("multi_text"))
    image = await toolset.call_tool("image", {}, context("image"))
    resources = await toolset.call_tool("resources", {}, context("resources"))
    audio = await toolset.call_tool("audio", {}, context("audio"))
    failed = await toolset.call_tool("failing_tool", {"reason": "the disk is full"}, context("failing_tool"))

    assert (added.content, added.is_error, added.structured) == ('{"result":"42"}', False, {"result": "42"})
    assert renamed.content == '{"result":"weird ok"}'  # called under its original MCP name
    assert structured.content == '{"temperature":21.5,"unit":"C","tags":["sunny","dry"]}'
    assert structured.structured == {"temperature": 21.5, "unit": "C", "tags": ["sunny", "dry"]}
    assert texts.content == "first\nsecond"
    assert image.content == "Here is an image:\n[Image: image/png, 68 bytes]"
    assert resources.content == (
        "[Resource: file:///notes.txt]\nthe notes\n"
        "[Resource: file:///data.bin, x/bin, 4 bytes]\n"
        "[Resource link: file:///linked.md (linked, text/markdown)]"
    )
    assert audio.content == "[Audio: audio/wav, 8 bytes]"
    assert failed.is_error
    assert failed.content.startswith("Tool returned an error: ")
    assert "the disk is full" in failed.content


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_arguments_restored_by_the_openai_profile_are_accepted_by_the_server(
    shared: dict[str, McpToolset], transport: str
) -> None:
    toolset = shared[transport]
    spec = next(spec for spec in await toolset.list_tools() if spec.name == "repeat")
    assert spec.parameters["required"] == ["text"]  # the server's own schema reaches the adapter
    provider = OPENAI.to_provider(spec.parameters)
    assert provider.schema["required"] == ["text", "times"]  # optional became required-but-nullable

    # A strict model sends null for the optional `times`; the server rejects null, so the restore drops it.
    restored = provider.restore_arguments({"text": "hi", "times": None})
    result = await toolset.call_tool("repeat", restored, context("repeat"))

    assert restored == {"text": "hi"}
    assert (result.content, result.is_error) == ('{"result":"hi hi"}', False)


@pytest.mark.parametrize("transport", HTTP_TRANSPORTS)
async def test_without_sanitizing_the_server_schema_is_offered_as_is(
    make_toolset: ToolsetFactory, transport: str
) -> None:
    toolset = await make_toolset(transport, sanitize_schemas=False)

    spec = next(spec for spec in await toolset.list_tools() if spec.name == "repeat")

    assert spec.parameters["required"] == ["text"]
    assert "additionalProperties" not in spec.parameters
    assert spec.strict is False  # never sent in OpenAI strict mode
    assert "weird_name_tool_v2" in {spec.name for spec in await toolset.list_tools()}  # names are always sanitized


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_progress_notifications_reach_the_call_context(shared: dict[str, McpToolset], transport: str) -> None:
    updates: list[ProgressUpdate] = []

    result = await shared[transport].call_tool("progress_task", {"steps": 3}, context("progress_task", updates))

    assert result.content == '{"result":"done after 3 steps"}'
    assert updates == [ProgressUpdate(step, 3, f"step {step:g} of 3") for step in (1.0, 2.0, 3.0)]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_cancelling_the_caller_sends_notifications_cancelled(
    shared: dict[str, McpToolset], records: dict[str, Path], transport: str
) -> None:
    toolset, record, label = shared[transport], records[transport], f"doomed-{transport}"
    call = asyncio.create_task(toolset.call_tool("slow_task", {"seconds": 30, "label": label}, context("slow_task")))
    await wait_for(has_event(record, label, "slow_started"), what="the slow task to start")

    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call

    await wait_for(has_event(record, label, "cancelled"), what="notifications/cancelled for the slow task")
    await wait_for(has_event(record, label, "slow_cancelled"), what="the slow task to stop")
    assert not has_event(record, label, "slow_finished")()
    # The connection is still usable after the cancellation.
    echoed = await toolset.call_tool("echo", {"message": "still here"}, context("echo"))
    assert echoed.content == '{"result":"still here"}'


@pytest.mark.parametrize("transport", HTTP_TRANSPORTS)
async def test_call_timeout_cancels_the_request_and_reports_a_timeout(
    make_toolset: ToolsetFactory, records: dict[str, Path], transport: str
) -> None:
    toolset, record, label = await make_toolset(transport, call_timeout=0.5), records[transport], f"late-{transport}"

    result = await toolset.call_tool("slow_task", {"seconds": 30, "label": label}, context("slow_task"))

    assert result.is_error
    assert result.content == "Timeout: tool 'slow_task' did not finish within 0.5 s"
    await wait_for(has_event(record, label, "cancelled"), what="notifications/cancelled for the slow task")
    cancelled = next(e for e in events_of(record, label) if e["event"] == "cancelled")
    assert "timed out" in cancelled["reason"]


async def test_stdio_stderr_goes_to_the_server_logger(
    shared: dict[str, McpToolset], caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.INFO, logger="aura.mcp.fixture")

    await shared["stdio"].call_tool("write_stderr", {"text": "a line for the log"}, context("write_stderr"))

    def logged() -> bool:
        return any(r.name == "aura.mcp.fixture" and "a line for the log" in r.getMessage() for r in caplog.records)

    await wait_for(logged, what="the stderr line in the log")
    assert "a line for the log" not in capfd.readouterr().err


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_concurrent_calls_share_one_connection(shared: dict[str, McpToolset], transport: str) -> None:
    toolset = shared[transport]

    results = await asyncio.gather(
        *(toolset.call_tool("echo", {"message": f"m{i}"}, context("echo")) for i in range(20))
    )

    assert [json.loads(r.content)["result"] for r in results] == [f"m{i}" for i in range(20)]
    sessions = await asyncio.gather(*(toolset.call_tool("echo_headers", {}, context("echo_headers")) for _ in range(5)))
    if transport == "streamable-http":
        assert len({json.loads(r.content)["mcp-session-id"] for r in sessions}) == 1


async def test_unknown_tool_is_a_tool_error(shared: dict[str, McpToolset]) -> None:
    result = await shared["stdio"].call_tool("no_such_tool", {}, context("no_such_tool"))

    assert result.is_error
    assert result.content.startswith("Tool not found: no_such_tool")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_tools_list_changed_refreshes_the_tools(shared: dict[str, McpToolset], transport: str) -> None:
    toolset, new_tool = shared[transport], f"grown_{transport.replace('-', '_')}"
    assert new_tool not in {spec.name for spec in await toolset.list_tools()}

    await toolset.call_tool("grow", {"name": new_tool}, context("grow"))

    async def listed() -> set[str]:
        return {spec.name for spec in await toolset.list_tools()}

    for _ in range(100):
        if new_tool in await listed():
            break
        await asyncio.sleep(0.05)
    assert new_tool in await listed()
    assert (await toolset.call_tool(new_tool, {}, context(new_tool))).content == f'{{"result":"{new_tool} works"}}'
