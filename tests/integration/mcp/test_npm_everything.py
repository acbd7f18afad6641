"""`McpToolset` against a real peer: npm's `@modelcontextprotocol/server-everything`, over all transports.

Needs node and `npm ci --prefix tests/npm` (done by .ci/run); skipped with a reason otherwise.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from aura.adapters.mcp import McpToolset, SseTransport, StdioTransport, StreamableHttpTransport
from aura.domain.schema_profiles import OPENAI
from aura.domain.tools import ProgressUpdate, ToolCallContext
from tests.integration.mcp.servers import NPM_EVERYTHING, ServerProcess, free_port, node_available
from tests.unit.strict_schema_checker import check_strict_schema

pytestmark = [
    pytest.mark.npm,
    pytest.mark.timeout(60),
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(
        not node_available(),
        reason="needs node and tests/npm/node_modules (run `npm ci --prefix tests/npm`)",
    ),
]

EVERYTHING_TRANSPORTS = ("stdio", "sse", "streamableHttp")


@pytest.fixture(scope="module")
def http_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ServerProcess]]:
    logs = tmp_path_factory.mktemp("npm-logs")
    started: dict[str, ServerProcess] = {}
    try:
        for transport in ("sse", "streamableHttp"):
            port = free_port()
            command = ["node", str(NPM_EVERYTHING), transport]
            server = ServerProcess(command, port, env={"PORT": str(port)}, log=logs / f"{transport}.log")
            started[transport] = server.start()
        yield started
    finally:
        for server in started.values():
            server.stop()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def everything(http_servers: dict[str, ServerProcess]) -> AsyncIterator[dict[str, McpToolset]]:
    toolsets = {
        "stdio": McpToolset("everything", StdioTransport("node", [str(NPM_EVERYTHING), "stdio"])),
        "sse": McpToolset("everything", SseTransport(f"http://127.0.0.1:{http_servers['sse'].port}/sse")),
        "streamableHttp": McpToolset(
            "everything", StreamableHttpTransport(f"http://127.0.0.1:{http_servers['streamableHttp'].port}/mcp")
        ),
    }
    try:
        await asyncio.gather(*(toolset.start() for toolset in toolsets.values()))
        yield toolsets
    finally:
        await asyncio.gather(*(toolset.aclose() for toolset in toolsets.values()))


def context(tool: str, updates: list[ProgressUpdate] | None = None) -> ToolCallContext:
    async def report(update: ProgressUpdate) -> None:
        if updates is not None:
            updates.append(update)

    return ToolCallContext(call_id=f"call_{tool}", tool_name=tool, report_progress=report)


@pytest.mark.parametrize("transport", EVERYTHING_TRANSPORTS)
async def test_lists_tools_that_the_openai_profile_makes_strict(
    everything: dict[str, McpToolset], transport: str
) -> None:
    specs = {spec.name: spec for spec in await everything[transport].list_tools()}

    assert {"echo", "get-sum", "get-tiny-image", "get-structured-content", "trigger-long-running-operation"} <= set(
        specs
    )
    offered = {name: OPENAI.to_provider(spec.parameters) for name, spec in specs.items()}
    assert [name for name, provider in offered.items() if not provider.strict] == []
    problems = {name: check_strict_schema(provider.schema) for name, provider in offered.items()}
    assert {name: found for name, found in problems.items() if found} == {}


@pytest.mark.parametrize("transport", EVERYTHING_TRANSPORTS)
async def test_calls_text_image_resource_and_structured_tools(
    everything: dict[str, McpToolset], transport: str
) -> None:
    toolset = everything[transport]

    echo = await toolset.call_tool("echo", {"message": "hello"}, context("echo"))
    total = await toolset.call_tool("get-sum", {"a": 2, "b": 3}, context("get-sum"))
    image = await toolset.call_tool("get-tiny-image", {}, context("get-tiny-image"))
    # A strict model sends null for optional arguments; the OpenAI profile's restore drops them before the call.
    spec = next(spec for spec in await toolset.list_tools() if spec.name == "get-resource-reference")
    restored = OPENAI.to_provider(spec.parameters).restore_arguments({"resourceType": None, "resourceId": 3})
    reference = await toolset.call_tool("get-resource-reference", restored, context("get-resource-reference"))
    weather = await toolset.call_tool("get-structured-content", {"location": "Chicago"}, context("structured"))

    assert (echo.content, echo.is_error) == ("Echo: hello", False)
    assert total.content == "The sum of 2 and 3 is 5."
    assert re.search(r"\[Image: image/png, \d+ bytes\]", image.content), image.content
    assert "iVBOR" not in image.content  # the base64 payload never reaches the model
    assert "[Resource: demo://resource/dynamic/text/3]\n" in reference.content
    assert "Resource 3: This is a plaintext resource" in reference.content
    assert weather.structured is not None
    assert json.loads(weather.content) == weather.structured
    assert set(weather.structured) >= {"temperature", "conditions"}


@pytest.mark.parametrize("transport", EVERYTHING_TRANSPORTS)
async def test_long_running_operation_reports_progress(everything: dict[str, McpToolset], transport: str) -> None:
    updates: list[ProgressUpdate] = []

    result = await everything[transport].call_tool(
        "trigger-long-running-operation",
        {"duration": 0.6, "steps": 3},
        context("trigger-long-running-operation", updates),
    )

    assert not result.is_error, result.content
    assert "Long running operation completed" in result.content
    assert [(update.progress, update.total) for update in updates] == [(1, 3), (2, 3), (3, 3)]
