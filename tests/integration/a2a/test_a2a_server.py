"""A2A with the `a2a-sdk` client (and plain JSON-RPC for the v0.3 wire format kagent speaks) against a real server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import pytest
from a2a.types.a2a_pb2 import GetTaskRequest, TaskState

from aura.adapters.a2a import A2AAgentOptions
from aura.adapters.http.options import ServerOptions
from aura.adapters.sessions.in_memory import InMemorySessionStore
from aura.domain.agent import Agent, AgentSettings
from aura.domain.approval_policy import ApprovalPolicy
from aura.domain.approvals import ApprovalGate
from aura.domain.events import FinishReason, ModelEvent, ModelFinished, TextDelta
from aura.ports.chat_model import ChatRequest
from aura.ports.clock import SystemClock
from aura.testing import FunctionToolset, ScriptedChatModel, call_tool, fail, reply
from tests.integration.a2a.support import a2a_client, collect, json_lines, scripted, text_of, user_message
from tests.integration.http.support import make_agent, running_server

pytestmark = pytest.mark.timeout(60)

ON = ServerOptions(a2a_enabled=True)


def ops_tools() -> FunctionToolset:
    tools = FunctionToolset("ops")
    tools.add(lambda: "3 alerts", name="alerts", description="Open alerts")
    return tools


async def test_the_card_names_the_agent_and_lists_its_tools_as_skills() -> None:
    agent = make_agent([], name="Ops", alias="ops", toolsets=[ops_tools()])
    async with running_server([agent], ON) as server, httpx.AsyncClient() as http:
        card = (await http.get(f"{server.url}/a2a/ops/.well-known/agent-card.json")).json()
        legacy = (await http.get(f"{server.url}/a2a/ops/.well-known/agent.json")).json()
    assert card == legacy
    assert (card["name"], card["description"]) == ("Ops", "You test.")
    assert card["skills"] == [{"id": "alerts", "name": "alerts", "description": "Open alerts", "tags": ["ops"]}]
    endpoint = f"{server.url}/a2a/ops/"
    assert {(i["protocolVersion"], i["url"]) for i in card["supportedInterfaces"]} == {
        ("1.0", endpoint),
        ("0.3", endpoint),
    }
    # the v0.3 fields, for v0.3 clients such as kagent
    assert (card["url"], card["protocolVersion"], card["preferredTransport"]) == (endpoint, "0.3", "JSONRPC")
    assert card["capabilities"]["streaming"] is True


async def test_a2a_is_off_by_default_and_per_agent_when_asked() -> None:
    ops, other = make_agent([], name="ops"), make_agent([], name="other")
    only_ops = {"ops": A2AAgentOptions(description="Runs ops")}
    async with running_server([ops, other], a2a_agents=only_ops) as server, httpx.AsyncClient() as http:
        card = await http.get(f"{server.url}/a2a/ops/.well-known/agent-card.json")
        missing = await http.get(f"{server.url}/a2a/other/.well-known/agent-card.json")
    assert card.json()["description"] == "Runs ops"
    assert missing.status_code == 404
    assert "other" in missing.json()["error"]["message"]
    async with running_server([make_agent([], name="ops")]) as server, httpx.AsyncClient() as http:
        assert (await http.get(f"{server.url}/a2a/ops/.well-known/agent-card.json")).status_code == 404


async def test_send_answers_a_completed_task_with_the_answer_artifact_and_get_finds_it() -> None:
    agent = make_agent([reply("Hello ", "there.")], name="ops")
    async with running_server([agent], ON) as server, a2a_client(server.url, "ops", streaming=False) as client:
        events = await collect(client, user_message("hi"))
        assert len(events) == 1
        task = events[0]["task"]
        fetched = await client.get_task(GetTaskRequest(id=task["id"]))
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert [artifact["name"] for artifact in task["artifacts"]] == ["answer"]
    assert "".join(part["text"] for part in task["artifacts"][0]["parts"]) == "Hello there."
    assert fetched.status.state == TaskState.TASK_STATE_COMPLETED
    assert fetched.id == task["id"]


async def test_stream_sends_status_and_artifact_updates_with_tool_progress() -> None:
    agent = make_agent(
        [call_tool("alerts", {}, call_id="c1"), reply("There are ", "3 alerts.")], toolsets=[ops_tools()], name="ops"
    )
    async with running_server([agent], ON) as server, a2a_client(server.url, "ops") as client:
        events = await collect(client, user_message("alerts?"))
    assert "task" in events[0]
    states = [event["statusUpdate"]["status"]["state"] for event in events if "statusUpdate" in event]
    assert states[0] == "TASK_STATE_WORKING"
    assert states[-1] == "TASK_STATE_COMPLETED"
    tool_parts = [
        part
        for event in events
        if "statusUpdate" in event
        for part in event["statusUpdate"]["status"].get("message", {}).get("parts", [])
        if "data" in part
    ]
    kinds = [(part["metadata"]["kagent_type"], part["data"]["id"]) for part in tool_parts]
    assert kinds == [("function_call", "c1"), ("function_response", "c1")]
    assert tool_parts[1]["data"]["response"] == {"result": "3 alerts", "isError": False}
    assert text_of(events) == "There are 3 alerts."
    last_artifact = [event["artifactUpdate"] for event in events if "artifactUpdate" in event][-1]
    assert last_artifact.get("lastChunk") is True


async def test_a_context_continues_the_conversation() -> None:
    model = ScriptedChatModel([], then=scripted)
    agent = make_agent(model, name="ops")
    async with running_server([agent], ON) as server, a2a_client(server.url, "ops", streaming=False) as client:
        first = (await collect(client, user_message("one")))[0]["task"]
        second = (await collect(client, user_message("two", context_id=first["contextId"], message_id="m2")))[0]["task"]
    assert second["contextId"] == first["contextId"]
    assert second["id"] != first["id"]
    seen = [(message.role, getattr(message, "content", "")) for message in model.requests[-1].messages[1:]]
    assert seen == [("user", "one"), ("assistant", "You said: one"), ("user", "two")]


async def test_v03_json_rpc_as_kagent_sends_it() -> None:
    agent = make_agent(
        [call_tool("alerts", {}, call_id="c1"), reply("3 alerts."), reply("Plain.")], toolsets=[ops_tools()], name="ops"
    )
    message = {"kind": "message", "messageId": "k1", "role": "user", "parts": [{"kind": "text", "text": "alerts?"}]}
    async with running_server([agent], ON) as server, aiohttp.ClientSession() as http:
        endpoint = f"{server.url}/a2a/ops/"
        body = {"jsonrpc": "2.0", "id": "s1", "method": "message/stream", "params": {"message": message}}
        async with http.post(endpoint, json=body) as response:
            assert response.headers["Content-Type"].startswith("text/event-stream")
            frames = json_lines(await response.text())
        plain = {**body, "id": 7, "method": "message/send", "params": {"message": {**message, "messageId": "k2"}}}
        async with http.post(endpoint, json=plain) as response:
            sent = await response.json()
        get = {"jsonrpc": "2.0", "id": 8, "method": "tasks/get", "params": {"id": sent["result"]["id"]}}
        async with http.post(endpoint, json=get) as response:
            fetched = await response.json()
    assert all(frame["id"] == "s1" and frame["jsonrpc"] == "2.0" for frame in frames)
    kinds = [frame["result"]["kind"] for frame in frames]
    assert (kinds[0], kinds[-1]) == ("task", "status-update")
    assert "artifact-update" in kinds
    assert (frames[-1]["result"]["status"]["state"], frames[-1]["result"]["final"]) == ("completed", True)
    calls = [
        part
        for frame in frames
        if frame["result"]["kind"] == "status-update"
        for part in frame["result"]["status"].get("message", {}).get("parts", [])
        if part["kind"] == "data"
    ]
    assert (calls[0]["metadata"]["kagent_type"], calls[0]["data"]["name"]) == ("function_call", "alerts")
    assert (sent["id"], sent["result"]["kind"], sent["result"]["status"]["state"]) == (7, "task", "completed")
    assert sent["result"]["artifacts"][0]["parts"] == [{"kind": "text", "text": "Plain."}]
    assert fetched["result"]["status"]["state"] == "completed"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", -32700),
        (b"[]", -32600),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "tasks/teleport"}', -32601),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": {}}', -32602),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": "nope"}}', -32001),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": {"id": "nope"}}', -32001),
    ],
)
async def test_bad_requests_are_json_rpc_errors(body: bytes, code: int) -> None:
    async with (
        running_server([make_agent([], name="ops")], ON) as server,
        aiohttp.ClientSession() as http,
        http.post(f"{server.url}/a2a/ops/", data=body) as response,
    ):
        assert response.status == 200
        answer: dict[str, Any] = await response.json()
    assert answer["error"]["code"] == code, answer
    assert "Traceback" not in answer["error"]["message"]


async def test_api_keys_guard_the_a2a_routes() -> None:
    options = ServerOptions(a2a_enabled=True, api_keys=("k" * 32,))
    agent = make_agent([reply("ok")], name="ops")
    async with running_server([agent], options) as server:
        async with httpx.AsyncClient() as http:
            refused = await http.post(f"{server.url}/a2a/ops/", json={"jsonrpc": "2.0", "id": 1, "method": "tasks/get"})
        assert refused.status_code == 401
        async with a2a_client(
            server.url, "ops", streaming=False, headers={"Authorization": f"Bearer {'k' * 32}"}
        ) as client:
            task = (await collect(client, user_message("hi")))[0]["task"]
        assert task["status"]["state"] == "TASK_STATE_COMPLETED"


async def test_a_provider_failure_fails_the_task_with_a_message() -> None:
    agent = make_agent([fail()], name="ops")
    async with (
        running_server([agent], ON, session_store=InMemorySessionStore()) as server,
        a2a_client(server.url, "ops") as client,
    ):
        events = await collect(client, user_message("hi"))
    final = events[-1]["statusUpdate"]["status"]
    assert final["state"] == "TASK_STATE_FAILED"
    assert "provider" in final["message"]["parts"][0]["text"]


async def test_an_approval_asks_for_input_and_the_answer_resumes_the_task() -> None:
    store = InMemorySessionStore()
    ran: list[str] = []
    tools = FunctionToolset("kube")
    tools.add(lambda: ran.append("restart") or "restarted", name="restart", description="Restart the api")
    gate = ApprovalGate(ApprovalPolicy(enabled=True, timeout_secs=60), store, SystemClock(), agent_id="ops")
    model = ScriptedChatModel([call_tool("restart", {}, call_id="r1"), reply("Restarted.")])
    agent = Agent(AgentSettings(name="ops", system_prompt="Be careful."), model, [tools], approval_gate=gate)
    async with (
        running_server([agent], ON, session_store=store) as server,
        a2a_client(server.url, "ops", streaming=False) as client,
    ):
        asked = (await collect(client, user_message("restart the api")))[0]["task"]
        assert asked["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
        held = [part for part in asked["status"]["message"]["parts"] if "data" in part]
        assert held[0]["metadata"]["kagent_type"] == "approval_request"
        assert held[0]["data"]["call"]["name"] == "restart"
        assert ran == []
        follow_up = user_message("approve", context_id=asked["contextId"], task_id=asked["id"], message_id="m2")
        done = (await collect(client, follow_up))[0]["task"]
    assert done["id"] == asked["id"]
    assert done["status"]["state"] == "TASK_STATE_COMPLETED"
    assert ran == ["restart"]


class PausingModel(ScriptedChatModel):
    """Streams `He`, `l` at once, pauses a second, then `lo`."""

    async def stream(self, request: ChatRequest) -> AsyncIterator[ModelEvent]:
        self.requests.append(request)
        yield TextDelta("He")
        yield TextDelta("l")
        await asyncio.sleep(1.0)
        yield TextDelta("lo")
        yield ModelFinished(FinishReason.STOP)


async def test_text_waiting_for_a_paused_model_still_goes_out() -> None:
    """Deltas are gathered into chunks, but a pause of the model does not hold back text already received."""
    agent = make_agent(PausingModel([]), name="ops")
    async with running_server([agent], ON) as server, a2a_client(server.url, "ops") as client:
        events = await collect(client, user_message("hi"))
    chunks = [
        "".join(part.get("text", "") for part in event["artifactUpdate"]["artifact"].get("parts", []))
        for event in events
        if "artifactUpdate" in event
    ]
    assert chunks == ["Hel", "lo", ""]  # the last, empty chunk closes the artifact
