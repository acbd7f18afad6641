"""A2A tasks live in the session store: with Redis, a task sent to one server is found (and continued) on another."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from a2a.types.a2a_pb2 import CancelTaskRequest, GetTaskRequest, TaskState

from aura.adapters.http.options import ServerOptions
from aura.adapters.sessions.redis import RedisSessionStore
from aura.testing import ScriptedChatModel
from tests.integration.a2a.support import a2a_client, collect, events_of, fixture_agent, scripted, user_message
from tests.integration.http.support import make_agent, running_server
from tests.integration.mcp.servers import ServerProcess, wait_for
from tests.redis_server import redis_server_binary, running_redis_server

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(redis_server_binary() is None, reason="redis-server is not installed (Debian package)"),
]

ON = ServerOptions(a2a_enabled=True)


async def test_tasks_get_and_the_context_work_from_a_second_server_sharing_redis() -> None:
    with running_redis_server() as redis_url:
        first_store, second_store = RedisSessionStore(redis_url), RedisSessionStore(redis_url)
        second_model = ScriptedChatModel([], then=scripted)
        try:
            async with (
                running_server(
                    [make_agent(ScriptedChatModel([], then=scripted), name="ops")], ON, session_store=first_store
                ) as one,
                running_server([make_agent(second_model, name="ops")], ON, session_store=second_store) as two,
            ):
                async with a2a_client(one.url, "ops", streaming=False) as client:
                    task = (await collect(client, user_message("hello")))[0]["task"]
                async with a2a_client(two.url, "ops", streaming=False) as client:
                    fetched = await client.get_task(GetTaskRequest(id=task["id"]))
                    follow_up = await collect(
                        client, user_message("again", context_id=task["contextId"], message_id="m2")
                    )
                async with aiohttp.ClientSession() as http:
                    body = {"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": {"id": task["id"]}}
                    async with http.post(f"{two.url}/a2a/ops/", json=body) as response:
                        legacy = await response.json()
        finally:
            await first_store.aclose()
            await second_store.aclose()
    assert fetched.status.state == TaskState.TASK_STATE_COMPLETED
    assert "".join(part.text for part in fetched.artifacts[0].parts) == "You said: hello"
    assert legacy["result"]["status"]["state"] == "completed"
    assert follow_up[0]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
    # the second server continued the conversation the first one stored
    seen = [getattr(message, "content", "") for message in second_model.requests[-1].messages[1:]]
    assert seen == ["hello", "You said: hello", "again"]


async def test_a_cancel_that_reaches_another_worker_stops_the_running_turn(
    mcp_server: ServerProcess, record: Path
) -> None:
    with running_redis_server() as redis_url:
        first_store, second_store = RedisSessionStore(redis_url), RedisSessionStore(redis_url)
        try:
            async with (
                fixture_agent(mcp_server) as first_agent,
                fixture_agent(mcp_server) as second_agent,
                running_server([first_agent], ON, session_store=first_store) as one,
                running_server([second_agent], ON, session_store=second_store) as two,
                a2a_client(one.url, "ops") as running_on_one,
                a2a_client(two.url, "ops", streaming=False) as other,
            ):
                seen: list[Any] = []

                async def stream() -> None:
                    async for event in running_on_one.send_message(user_message("slow 30")):
                        seen.append(event)

                streaming = asyncio.create_task(stream())
                await wait_for(lambda: bool(events_of(record, "slow_started")), what="the slow MCP call to start")
                task_id = next(event.task.id for event in seen if event.HasField("task"))

                answered = await other.cancel_task(CancelTaskRequest(id=task_id))

                assert answered.status.state == TaskState.TASK_STATE_CANCELED
                await wait_for(lambda: bool(events_of(record, "slow_cancelled")), what="the first worker to stop it")
                await asyncio.wait_for(streaming, 15)
                assert seen[-1].status_update.status.state == TaskState.TASK_STATE_CANCELED
                fetched = await other.get_task(GetTaskRequest(id=task_id))
        finally:
            await first_store.aclose()
            await second_store.aclose()
    assert fetched.status.state == TaskState.TASK_STATE_CANCELED
    assert events_of(record, "cancelled")  # notifications/cancelled reached the MCP server
    assert not events_of(record, "slow_finished")
