"""`/v1/responses` with the real `openai` SDK as the client: plain and streamed answers, `previous_response_id`
chains, a client function tool round trip, server tools by mode, stored responses, and the errors around them."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import openai
import pytest

from aura.adapters.http.options import ServerOptions, ToolResultMode
from aura.adapters.sessions.in_memory import InMemorySessionStore
from aura.domain.tools import ClientToolPolicy
from aura.testing import FunctionToolset, call_tool, call_tools, fail, reply
from tests.integration.http.support import make_agent, running_server

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def server_tools() -> FunctionToolset:
    tools = FunctionToolset("server")
    tools.add(lambda: "3 alerts", name="alerts", description="Open alerts")
    return tools


def client(url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)


async def test_a_plain_response_and_its_stored_copy() -> None:
    agent = make_agent([reply("Hello ", "there.")], alias="ops")
    store = InMemorySessionStore()
    async with running_server([agent], session_store=store) as server:
        sdk = client(server.url)
        response = await sdk.responses.create(model="ops", input="Say hello", max_output_tokens=50)

        assert response.status == "completed"
        assert response.output_text == "Hello there."
        assert response.id.startswith("resp_")
        assert response.usage is not None
        assert response.usage.total_tokens > 0
        assert response.max_output_tokens == 50
        [message] = response.output
        assert message.type == "message"

        fetched = await sdk.responses.retrieve(response.id)
        assert fetched.output_text == "Hello there."
        await sdk.responses.delete(response.id)  # the SDK returns None; the next call proves the deletion
        with pytest.raises(openai.NotFoundError) as missing:
            await sdk.responses.retrieve(response.id)
        assert "not found" in str(missing.value)


async def test_streaming_sends_the_responses_events_in_order() -> None:
    agent = make_agent([reply("One ", "two ", "three.")], alias="ops")
    async with running_server([agent], session_store=InMemorySessionStore()) as server:
        sdk = client(server.url)
        stream = await sdk.responses.create(model="ops", input="count", stream=True)
        kinds: list[str] = []
        deltas: list[str] = []
        sequence: list[int] = []
        final: Any = None
        async for event in stream:
            kinds.append(event.type)
            sequence.append(event.sequence_number)
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
            if event.type == "response.completed":
                final = event.response
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert kinds.index("response.output_item.added") < kinds.index("response.output_text.delta")
    assert kinds.index("response.output_text.done") < kinds.index("response.output_item.done")
    assert sequence == list(range(len(sequence)))
    assert "".join(deltas) == "One two three."
    assert final.output_text == "One two three."
    assert final.usage.output_tokens > 0


async def test_previous_response_id_continues_the_conversation_without_resending_it() -> None:
    agent = make_agent([reply("Your name is noted."), reply("You are Ada.")], alias="ops")
    async with running_server([agent], session_store=InMemorySessionStore()) as server:
        sdk = client(server.url)
        first = await sdk.responses.create(model="ops", input="My name is Ada.")
        second = await sdk.responses.create(model="ops", input="What is my name?", previous_response_id=first.id)
    assert second.output_text == "You are Ada."
    assert second.previous_response_id == first.id
    seen = agent.model.requests[-1].messages  # type: ignore[attr-defined]
    texts = [getattr(message, "content", "") for message in seen]
    assert "My name is Ada." in texts
    assert "Your name is noted." in texts
    assert texts[-1] == "What is my name?"


async def test_a_missing_previous_response_is_a_404_in_the_error_format() -> None:
    agent = make_agent([], alias="ops")
    async with running_server([agent], session_store=InMemorySessionStore()) as server:
        sdk = client(server.url)
        with pytest.raises(openai.NotFoundError) as missing:
            await sdk.responses.create(model="ops", input="hi", previous_response_id="resp_nope")
    body = missing.value.body
    assert isinstance(body, dict)
    assert body["code"] == "not_found"
    assert body["param"] == "response_id"


async def test_a_client_function_tool_round_trip() -> None:
    agent = make_agent(
        [
            call_tools([("alerts", {}), ("get_weather", {"city": "Oslo"})], call_ids=["s1", "c1"], text="Checking."),
            reply("Oslo is sunny and there are 3 alerts."),
        ],
        alias="ops",
        toolsets=[server_tools()],
        client_tools=ClientToolPolicy(enabled=True),
    )
    async with running_server([agent], session_store=InMemorySessionStore()) as server:
        sdk = client(server.url)
        first = await sdk.responses.create(model="ops", input="weather and alerts?", tools=[WEATHER])  # type: ignore[list-item]
        calls = [item for item in first.output if item.type == "function_call"]
        assert [(call.name, call.call_id, json.loads(call.arguments)) for call in calls] == [
            ("get_weather", "c1", {"city": "Oslo"})
        ]  # the server tool `alerts` ran on the server and stays invisible in `none` mode
        second = await sdk.responses.create(
            model="ops",
            previous_response_id=first.id,
            input=[{"type": "function_call_output", "call_id": "c1", "output": "sunny"}],
            tools=[WEATHER],  # type: ignore[list-item]
        )
    assert second.output_text == "Oslo is sunny and there are 3 alerts."
    last = agent.model.requests[-1].messages[-1]  # type: ignore[attr-defined]
    assert (last.role, last.tool_call_id, last.content) == ("tool", "c1", "sunny")


@pytest.mark.parametrize("mode", [ToolResultMode.OPEN_WEB_UI, ToolResultMode.AURA])
async def test_server_tools_show_as_items_executed_by_the_server(mode: ToolResultMode) -> None:
    agent = make_agent([call_tool("alerts", {}), reply("There are 3 alerts.")], alias="ops", toolsets=[server_tools()])
    body = {"model": "ops", "input": "alerts?", "store": False}
    async with (
        running_server([agent], ServerOptions(tool_result_mode=mode), session_store=None) as server,
        aiohttp.ClientSession() as http,
        http.post(f"{server.url}/v1/responses", json=body) as response,
    ):
        assert response.status == 200
        answer = await response.json()
    kinds = [(item["type"], item.get("executed_by")) for item in answer["output"]]
    assert kinds == [("function_call", "server"), ("function_call_output", "server"), ("message", None)]
    assert answer["output"][1]["output"] == "3 alerts"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "ops"}, "input"),
        ({"model": "ops", "input": 3}, "input"),
        (
            {"model": "ops", "input": [{"type": "function_call_output", "call_id": "x", "output": "1"}]},
            "input[0].call_id",
        ),
        ({"model": "ops", "input": "hi", "tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"model": "ops", "input": "hi", "tools": 0}, "tools"),  # falsy is not "no tools" (found by schemathesis)
        ({"model": "ops", "input": "hi", "tools": ""}, "tools"),
        ({"model": "ops", "input": "hi", "max_output_tokens": 0}, "max_output_tokens"),
        ({"model": "ops", "input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
    ],
)
async def test_bad_requests_name_the_field(body: dict[str, Any], param: str) -> None:
    agent = make_agent([], alias="ops")
    async with (
        running_server([agent]) as server,
        aiohttp.ClientSession() as http,
        http.post(f"{server.url}/v1/responses", json=body) as response,
    ):
        assert response.status == 400
        error = (await response.json())["error"]
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"


async def test_a_provider_failure_ends_the_stream_with_response_failed() -> None:
    agent = make_agent([fail(), fail()], alias="ops")
    async with running_server([agent], session_store=InMemorySessionStore()) as server:
        sdk = client(server.url)
        stream = await sdk.responses.create(model="ops", input="hi", stream=True)
        events = [event async for event in stream]
        plain = await sdk.responses.create(model="ops", input="hi again")
    assert events[-1].type == "response.failed"
    assert events[-1].response.status == "failed"
    assert events[-1].response.error is not None
    assert "upstream model provider" in events[-1].response.error.message
    assert plain.status == "failed"


async def test_max_output_tokens_caps_the_model_call_below_the_agents_own_cap() -> None:
    agent = make_agent([reply("Short.")], alias="ops", max_tokens=500)
    async with running_server([agent], session_store=InMemorySessionStore()) as server:
        await client(server.url).responses.create(model="ops", input="hi", max_output_tokens=20)
    assert agent.model.requests[-1].settings.max_tokens == 20  # type: ignore[attr-defined]
