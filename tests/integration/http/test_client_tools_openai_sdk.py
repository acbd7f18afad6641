"""Client tools with the real `openai` SDK as the client: a round trip, streamed and not; the 400s around them."""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp
import openai
import pytest
from jsonschema import Draft202012Validator

from aura.domain.tools import ClientToolPolicy
from aura.testing import FunctionToolset, call_tools, reply
from tests.integration.http.support import chunks, make_agent, running_server, stream_frames

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def server_tools() -> FunctionToolset:
    tools = FunctionToolset("server")
    tools.add(lambda: "3 alerts", name="alerts", description="Open alerts")
    return tools


def agent() -> Any:
    return make_agent(
        [
            call_tools([("alerts", {}), ("get_weather", {"city": "Oslo"})], call_ids=["s1", "c1"], text="Checking."),
            reply("Oslo is sunny and there are 3 alerts."),
        ],
        alias="ops",
        toolsets=[server_tools()],
        client_tools=ClientToolPolicy(enabled=True),
    )


async def test_client_tool_round_trip_without_streaming() -> None:
    async with running_server([agent()]) as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        messages: list[Any] = [{"role": "user", "content": "weather and alerts?"}]
        first = await client.chat.completions.create(model="ops", messages=messages, tools=[WEATHER])  # type: ignore[list-item]
        choice = first.choices[0]
        assert choice.finish_reason == "tool_calls"
        assert choice.message.content == "Checking."
        [tool_call] = choice.message.tool_calls or []
        assert tool_call.id == "c1"
        assert tool_call.function.name == "get_weather"  # type: ignore[union-attr]
        assert json.loads(tool_call.function.arguments) == {"city": "Oslo"}  # type: ignore[union-attr]
        messages.append(choice.message.model_dump(exclude_none=True))
        messages.append({"role": "tool", "tool_call_id": tool_call.id, "content": "sunny"})
        second = await client.chat.completions.create(model="ops", messages=messages, tools=[WEATHER])  # type: ignore[list-item]
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == "Oslo is sunny and there are 3 alerts."
    assert not second.choices[0].message.tool_calls


async def test_client_tool_round_trip_streaming() -> None:
    async with running_server([agent()]) as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        messages: list[Any] = [{"role": "user", "content": "weather and alerts?"}]
        stream = await client.chat.completions.create(model="ops", messages=messages, tools=[WEATHER], stream=True)  # type: ignore[list-item]
        text, calls, finish, roles = "", {}, None, []
        async for chunk in stream:
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            roles.append(delta.role)
            text += delta.content or ""
            for piece in delta.tool_calls or []:
                call = calls.setdefault(piece.index, {"id": "", "name": "", "arguments": ""})
                call["id"] += piece.id or ""
                call["name"] += (piece.function.name if piece.function else None) or ""
                call["arguments"] += (piece.function.arguments if piece.function else None) or ""
            finish = chunk.choices[0].finish_reason or finish
        assert roles[0] == "assistant"
        assert finish == "tool_calls"
        assert text == "Checking."
        assert list(calls.values()) == [{"id": "c1", "name": "get_weather", "arguments": '{"city": "Oslo"}'}]
        messages.append(
            {
                "role": "assistant",
                "content": text,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                    }
                ],
            }
        )
        messages.append({"role": "tool", "tool_call_id": "c1", "content": "sunny"})
        stream = await client.chat.completions.create(model="ops", messages=messages, tools=[WEATHER], stream=True)  # type: ignore[list-item]
        answer = ""
        async for chunk in stream:
            if chunk.choices:
                answer += chunk.choices[0].delta.content or ""
                assert not chunk.choices[0].delta.tool_calls
    assert answer == "Oslo is sunny and there are 3 alerts."


async def test_tool_results_for_an_agent_without_client_tools_are_a_logged_400(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="aura.adapters.http.errors")
    plain = make_agent([reply("hi")], alias="plain", toolsets=[server_tools()])
    messages = [
        {"role": "user", "content": "q"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "x", "type": "function", "function": {"name": "echo", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "x", "content": 'Error: Tool "echo" not found'},
    ]
    async with running_server([plain]) as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(model="plain", messages=messages)  # type: ignore[arg-type]
    assert "agent 'plain' runs its tools itself and accepts no client tools" in caught.value.message
    [line] = [record for record in caplog.records if record.name == "aura.adapters.http.errors"]
    assert line.levelno == logging.INFO
    assert line.getMessage().startswith("answered 400 (invalid_request_error): messages: the conversation ends in tool")


async def test_the_request_tools_are_ignored_when_client_tools_are_off() -> None:
    model_agent = make_agent([reply("hi")], alias="plain", toolsets=[server_tools()])
    async with running_server([model_agent]) as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        answer = await client.chat.completions.create(
            model="plain",
            messages=[{"role": "user", "content": "q"}],
            tools=[WEATHER],  # type: ignore[list-item]
        )
    assert answer.choices[0].message.content == "hi"
    assert [spec.name for spec in model_agent.model.requests[0].tools] == ["alerts"]  # type: ignore[attr-defined]


async def test_malformed_tools_are_a_400_even_for_an_agent_that_ignores_them() -> None:
    model_agent = make_agent([reply("hi")], alias="plain")
    async with running_server([model_agent]) as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(
                model="plain",
                messages=[{"role": "user", "content": "q"}],
                tools=[{"type": "function", "function": {"name": ""}}],
            )
    assert "tools[0].function.name: expected a non-empty string" in caught.value.message
    assert model_agent.model.requests == []  # type: ignore[attr-defined]


async def test_client_tool_hand_overs_conform_to_the_openapi_document(http: aiohttp.ClientSession) -> None:
    body = {"model": "ops", "messages": [{"role": "user", "content": "q"}], "tools": [WEATHER]}
    async with running_server([agent()]) as server:
        async with http.get(f"{server.url}/openapi.json") as response:
            doc = await response.json()
        async with http.post(f"{server.url}/v1/chat/completions", json=body) as response:
            completion = await response.json()
    async with running_server([agent()]) as server:
        frames = await stream_frames(http, server.url, body)
    assert completion["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks(frames)[-1]["choices"][0]["finish_reason"] == "tool_calls"
    for schema, instance in [("ChatCompletion", completion), *(("ChatCompletionChunk", c) for c in chunks(frames))]:
        errors = [
            e.message
            for e in Draft202012Validator({**doc, "$ref": f"#/components/schemas/{schema}"}).iter_errors(instance)
        ]
        assert errors == [], (schema, instance)
