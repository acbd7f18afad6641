"""A2A against a real MCP server (the fixture server): cancelling a task mid-tool, and per-request header forwarding."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from a2a.types.a2a_pb2 import CancelTaskRequest, GetTaskRequest, TaskState

from aura.adapters.http.options import ServerOptions
from aura.domain.agent import Agent
from tests.integration.a2a.support import a2a_client, collect, events_of, text_of, user_message
from tests.integration.http.support import running_server
from tests.integration.mcp.servers import wait_for

pytestmark = pytest.mark.timeout(90)

ON = ServerOptions(a2a_enabled=True, heartbeat_interval_secs=0.5)


async def test_cancel_mid_tool_cancels_the_mcp_call(agent: Agent, record: Path) -> None:
    async with running_server([agent], ON) as server, a2a_client(server.url, "ops") as client:
        seen: list[Any] = []

        async def stream() -> None:
            async for event in client.send_message(user_message("slow 30")):
                seen.append(event)

        streaming = asyncio.create_task(stream())
        await wait_for(lambda: bool(events_of(record, "slow_started")), what="the slow MCP call to start")
        task_id = next(event.task.id for event in seen if event.HasField("task"))

        cancelled = await client.cancel_task(CancelTaskRequest(id=task_id))

        assert cancelled.status.state == TaskState.TASK_STATE_CANCELED
        # the MCP server is sent notifications/cancelled, and the tool stops
        await wait_for(lambda: bool(events_of(record, "cancelled")), what="notifications/cancelled")
        await wait_for(lambda: bool(events_of(record, "slow_cancelled")), what="the tool to notice")
        assert not events_of(record, "slow_finished")
        fetched = await client.get_task(GetTaskRequest(id=task_id))
        assert fetched.status.state == TaskState.TASK_STATE_CANCELED
        await asyncio.wait_for(streaming, 10)  # the stream ends too
        # and the server keeps serving
        done = [event async for event in client.send_message(user_message("after", message_id="m2"))]
        assert done[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED


async def test_forwarded_headers_reach_the_mcp_server_per_a2a_request(agent: Agent) -> None:
    """Like chat completions: a mapped incoming header goes to the MCP server for its own request only."""

    async def ask(http: aiohttp.ClientSession, url: str, token: str | None) -> dict[str, str]:
        message = {"kind": "message", "messageId": "h", "role": "user", "parts": [{"kind": "text", "text": "headers"}]}
        body = {"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {"message": message}}
        headers = {"X-User-Token": token} if token else {}
        async with http.post(f"{url}/a2a/ops/", json=body, headers=headers) as response:
            answer = await response.json()
        text = "".join(part["text"] for part in answer["result"]["artifacts"][0]["parts"])
        seen: dict[str, str] = json.loads(text.removeprefix("echo_headers: "))
        return seen

    tokens = [f"Bearer token-{index:02d}" for index in range(12)]
    async with running_server([agent], ON) as server, aiohttp.ClientSession() as http:
        seen = await asyncio.gather(*(ask(http, server.url, token) for token in tokens))
        plain = await ask(http, server.url, None)
    assert [headers.get("authorization") for headers in seen] == tokens
    assert "authorization" not in plain
    assert all("x-user-token" not in headers for headers in seen)


async def test_mcp_progress_notifications_become_working_updates(agent: Agent) -> None:
    async with running_server([agent], ON) as server, a2a_client(server.url, "ops") as client:
        events = await collect(client, user_message("progress"))
    parts = [
        part
        for event in events
        if "statusUpdate" in event
        for part in event["statusUpdate"]["status"].get("message", {}).get("parts", [])
        if "data" in part
    ]
    kinds = [part["metadata"]["kagent_type"] for part in parts]
    assert kinds == ["function_call", "tool_progress", "tool_progress", "tool_progress", "function_response"]
    assert [(part["data"]["progress"], part["data"]["total"]) for part in parts[1:4]] == [(1, 3), (2, 3), (3, 3)]
    assert parts[3]["data"]["message"] == "step 3 of 3"
    assert "done after 3 steps" in text_of(events)
