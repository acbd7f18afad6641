"""`request_scope`: every log line of a chat completion, tool calls included, carries the request's ids."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from aura.adapters.telemetry import configure_logging, log_context
from aura.testing import FunctionToolset, call_tool, reply
from tests.integration.http.support import make_agent, running_server, stream_frames, user

tool_logger = logging.getLogger("aura.tests.lookup_tool")


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """JSON log lines of every `aura.*` logger, as `aura serve` configures them."""
    root, aura = logging.getLogger(), logging.getLogger("aura")
    levels = root.level, aura.level
    output = io.StringIO()
    handler = configure_logging("INFO", json=True, stream=output, environ={})
    try:
        yield output
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(levels[0])
        aura.setLevel(levels[1])


def entries(output: io.StringIO, fragment: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in output.getvalue().splitlines()]
    return [line for line in lines if fragment in line["message"]]


def lookup_agent() -> Any:
    async def lookup(city: str) -> str:
        tool_logger.info("looking up %s", city)
        return "sunny"

    toolset = FunctionToolset("local").add(
        lookup, parameters={"type": "object", "properties": {"city": {"type": "string"}}}
    )
    rounds = [call_tool("lookup", {"city": "Paris"}), reply("Sunny.")]
    return make_agent(rounds, name="weather", toolsets=[toolset])


@pytest.mark.parametrize("stream", [True, False])
async def test_request_and_tool_log_lines_carry_the_request_ids(
    json_log: io.StringIO, http: aiohttp.ClientSession, stream: bool
) -> None:
    payload = {"messages": user("Weather?"), "metadata": {"chat_session_id": "sess-log-1"}}
    async with running_server([lookup_agent()], request_scope=log_context) as server:
        if stream:
            await stream_frames(http, server.url, payload)
        else:
            async with http.post(f"{server.url}/v1/chat/completions", json=payload) as response:
                assert response.status == 200, await response.text()

    [request_line] = entries(json_log, "chat completion req_")
    request_id = request_line["message"].split()[2].rstrip(":")
    ids = {"request_id": request_id, "session_id": "sess-log-1", "agent_id": "weather"}
    assert {key: request_line.get(key) for key in ids} == ids
    [tool_line] = entries(json_log, "looking up Paris")
    assert {key: tool_line.get(key) for key in ids} == ids
    assert "trace_id" not in tool_line  # tracing is off


async def test_lines_logged_while_parsing_carry_the_request_id(
    json_log: io.StringIO, http: aiohttp.ClientSession
) -> None:
    messages = [{"role": "system", "content": "Be brief."}, *user("Weather?")]
    async with (
        running_server([lookup_agent()], request_scope=log_context) as server,
        http.post(f"{server.url}/v1/chat/completions", json={"messages": messages}) as response,
    ):
        assert response.status == 200, await response.text()

    [dropped] = entries(json_log, "dropped 1 client system message")
    [request_line] = entries(json_log, "chat completion req_")
    assert dropped["request_id"] == request_line["request_id"]
    assert "session_id" not in dropped  # not known before the body is parsed


async def test_without_a_request_scope_lines_carry_no_ids(json_log: io.StringIO, http: aiohttp.ClientSession) -> None:
    async with running_server([lookup_agent()]) as server:
        await stream_frames(http, server.url, {"messages": user("Weather?")})
    [tool_line] = entries(json_log, "looking up Paris")
    assert "request_id" not in tool_line
