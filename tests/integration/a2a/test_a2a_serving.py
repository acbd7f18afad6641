"""A2A gets what chat completions get from the server: metrics, log correlation, CORS and the graceful shutdown."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from a2a.types.a2a_pb2 import TaskState
from aiohttp import web

from aura.adapters.http.options import ServerOptions
from aura.adapters.http.server import shutdown_gracefully
from aura.adapters.telemetry import ServerMetrics, configure_logging, log_context, metrics_handler
from aura.domain.agent import Agent
from aura.testing import FunctionToolset, call_tool, reply
from tests.integration.a2a.support import a2a_client, collect, events_of, user_message
from tests.integration.http.support import make_agent, running_server
from tests.integration.http.test_metrics_wiring import sample
from tests.integration.mcp.servers import wait_for

pytestmark = pytest.mark.timeout(60)

ON = ServerOptions(a2a_enabled=True, heartbeat_interval_secs=0.5)
tool_logger = logging.getLogger("aura.tests.a2a_tool")


def ops_agent() -> Any:
    def alerts() -> str:
        tool_logger.info("counting alerts")
        return "3 alerts"

    tools = FunctionToolset("ops").add(alerts, description="Open alerts")
    return make_agent([call_tool("alerts", {}), reply("3 alerts.")], name="ops", toolsets=[tools], then=reply("ok"))


async def test_metrics_count_a2a_requests_streams_and_tool_calls() -> None:
    metrics = ServerMetrics()
    routes = [web.get("/metrics", metrics_handler(metrics))]
    async with running_server([ops_agent()], ON, observer=metrics, extra_routes=routes) as server:
        async with a2a_client(server.url, "ops") as client:
            await collect(client, user_message("alerts?"))
        async with a2a_client(server.url, "ops", streaming=False) as client:
            await collect(client, user_message("again", message_id="m2"))
        async with aiohttp.ClientSession() as http, http.get(f"{server.url}/metrics") as response:
            text = await response.text()
    assert sample(text, "aura_requests_total", {"agent": "ops", "status": "200"}) == 2
    assert sample(text, "aura_tool_calls_total", {"tool": "alerts", "outcome": "success"}) == 1
    assert sample(text, "aura_stream_duration_seconds_count", {"agent": "ops", "outcome": "complete"}) == 1
    assert sample(text, "aura_active_streams", {"agent": "ops"}) == 0


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
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


async def test_log_lines_of_a_task_carry_its_request_context_and_agent(json_log: io.StringIO) -> None:
    async with (
        running_server([ops_agent()], ON, request_scope=log_context) as server,
        a2a_client(server.url, "ops") as client,
    ):
        events = await collect(client, user_message("alerts?"))
    context_id = events[0]["task"]["contextId"]
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    [tool_line] = [line for line in lines if line["message"] == "counting alerts"]
    assert tool_line["session_id"] == context_id
    assert tool_line["agent_id"] == "ops"
    assert tool_line["request_id"].startswith("req_")


async def test_cors_preflight_is_answered_for_a2a_routes() -> None:
    origin = "https://agents.example.com"
    options = ServerOptions(a2a_enabled=True, cors_allow_origins=(origin,))
    preflight = {"Origin": origin, "Access-Control-Request-Method": "POST"}
    async with running_server([make_agent([], name="ops")], options) as server, aiohttp.ClientSession() as http:
        async with http.options(f"{server.url}/a2a/ops/", headers=preflight) as response:
            assert response.status in (200, 204)
            assert response.headers["Access-Control-Allow-Origin"] == origin
        async with http.get(
            f"{server.url}/a2a/ops/.well-known/agent-card.json", headers={"Origin": origin}
        ) as response:
            assert response.headers["Access-Control-Allow-Origin"] == origin


async def test_shutdown_fails_a_running_task_with_a_note_and_ends_its_stream(agent: Agent, record: Path) -> None:
    async with running_server([agent], ON) as server, a2a_client(server.url, "ops") as client:
        seen: list[Any] = []

        async def stream() -> None:
            async for event in client.send_message(user_message("slow 30")):
                seen.append(event)

        streaming = asyncio.create_task(stream())
        await wait_for(lambda: bool(events_of(record, "slow_started")), what="the slow MCP call to start")
        await shutdown_gracefully(server.app, 0.1)
        await asyncio.wait_for(streaming, 15)
    final = seen[-1].status_update.status
    assert final.state == TaskState.TASK_STATE_FAILED
    assert "shutting down" in final.message.parts[0].text
    await wait_for(lambda: bool(events_of(record, "slow_cancelled")), what="the MCP call to be cancelled")
