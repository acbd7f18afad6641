"""Tool-schema profiles on the wire: each adapter sends its provider's profile of a tool's own schema, and the
model's arguments come back in the tool's own shape.

The generic tests run against every harness (each names its adapter's profile in `traits`); the provider
tests below pin what the profile looks like in the real request body for OpenAI (strict), Gemini and Anthropic.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from google.genai import types as genai_types
from jsonschema import Draft202012Validator

from aura.domain.agent import Agent, AgentSettings
from aura.domain.events import ToolCallReady, ToolCompleted, TurnFinished
from aura.domain.messages import SystemMessage, UserMessage
from aura.domain.schema_profiles import SchemaProfile
from aura.domain.tools import ToolSpec
from aura.ports.chat_model import ChatModel, ChatRequest
from aura.testing import FunctionToolset
from tests.contract.harnesses import running
from tests.contract.harnesses.anthropic import AnthropicHarness
from tests.contract.harnesses.gemini import GeminiHarness
from tests.contract.harnesses.openai import OpenAIHarness
from tests.contract.scenario import HarnessTraits, ProviderHarness, Response, Scenario, SentRequest, StreamedToolCall

CALL_TIMEOUT = 15.0

# A schema as MCP servers and function signatures write it: optional properties, a map, a constant,
# an `allOf`, a recursive definition and a draft-4 exclusive bound.
SEARCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "minLength": 1, "description": "What to look for"},
        "limit": {"type": "integer", "default": 10, "minimum": 0, "exclusiveMinimum": True},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "mode": {"const": "fast"},
        "window": {"allOf": [{"type": "object", "properties": {"days": {"type": "integer"}}}, {"required": ["days"]}]},
        "tree": {"$ref": "#/definitions/Node"},
    },
    "required": ["query"],
    "definitions": {
        "Node": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "children": {"type": "array", "items": {"$ref": "#/definitions/Node"}},
            },
        }
    },
}
SEARCH_TOOL = ToolSpec("search", "Search the logs", SEARCH_SCHEMA)
ASK = (SystemMessage("You are terse."), UserMessage("Find errors."))


def profile_of(harness: ProviderHarness) -> SchemaProfile:
    traits = getattr(harness, "traits", None)
    profile = traits.schema_profile if isinstance(traits, HarnessTraits) else None
    assert profile is not None, f"harness {harness.name!r} must name its adapter's schema profile (traits)"
    return profile


def sent_request(harness: ProviderHarness, index: int = 0) -> SentRequest:
    extract = getattr(harness, "extract_request", None)
    assert extract is not None, f"harness {harness.name!r} has no extract_request hook"
    sent = extract(harness.requests[index])
    assert isinstance(sent, SentRequest)
    return sent


async def ready_calls(model: ChatModel, request: ChatRequest) -> list[ToolCallReady]:
    async with asyncio.timeout(CALL_TIMEOUT):
        return [event async for event in model.stream(request) if isinstance(event, ToolCallReady)]


async def ready_calls_once(model: ChatModel, request: ChatRequest) -> list[ToolCallReady]:
    """`ready_calls` on a model built for this one call, closed afterwards."""
    try:
        return await ready_calls(model, request)
    finally:
        await model.aclose()


@pytest.fixture
async def openai() -> AsyncIterator[OpenAIHarness]:
    async with running(OpenAIHarness()) as harness:
        yield harness


@pytest.fixture
async def gemini() -> AsyncIterator[GeminiHarness]:
    async with running(GeminiHarness()) as harness:
        yield harness


@pytest.fixture
async def anthropic() -> AsyncIterator[AnthropicHarness]:
    async with running(AnthropicHarness()) as harness:
        yield harness


# --- every adapter --------------------------------------------------------------------------------------


async def test_request_carries_the_adapters_profile_of_each_tool_schema(
    harness: ProviderHarness, model: ChatModel
) -> None:
    profile = profile_of(harness)
    opted_out = ToolSpec("search_plain", "Search, never strict", SEARCH_SCHEMA, strict=False)
    request = ChatRequest(ASK, (SEARCH_TOOL, opted_out))
    traits = getattr(harness, "traits", None)
    if isinstance(traits, HarnessTraits) and traits.tool_schema_sent_with_call:
        # The schema goes with a call to the tool: one request calling each, the schema of each from its request.
        calls = [StreamedToolCall(f"call_{tool.name}", tool.name, ('{"query": "disk"}',)) for tool in request.tools]
        harness.load(Scenario(tuple(Response(tool_calls=(call,)) for call in calls)))
        for _ in calls:
            await ready_calls(model, request)
        requests = [sent_request(harness, index) for index in range(len(calls))]
        tools = [requests[0].tools[0], requests[1].tools[1]]
        assert [t.name for t in requests[0].tools] == [t.name for t in requests[1].tools] == ["search", "search_plain"]
    else:
        harness.load(Scenario((Response(text_chunks=("ok",)),)))
        await ready_calls(model, request)
        tools = list(sent_request(harness).tools)

    expected = profile.to_provider(SEARCH_SCHEMA)
    plain = profile.to_provider(SEARCH_SCHEMA, strict=False)
    assert [(t.name, dict(t.parameters), t.strict) for t in tools] == [
        ("search", expected.schema, expected.strict),
        ("search_plain", plain.schema, False),
    ]
    assert tools[0].parameters != SEARCH_SCHEMA  # every provider needs something changed here
    for tool in tools:
        assert tool.parameters["type"] == "object"
        assert set(SEARCH_SCHEMA["properties"]) <= set(tool.parameters["properties"])  # type: ignore[arg-type]


async def test_tool_calls_reach_the_domain_in_the_tools_own_shape(harness: ProviderHarness, model: ChatModel) -> None:
    provider = profile_of(harness).to_provider(SEARCH_SCHEMA)
    # What a model bound to the provider's schema sends: for a strict profile, nulls and key/value pairs.
    if provider.strict:
        sent = {"query": "disk", "limit": None, "labels": [{"key": "app", "value": "db"}], "mode": None}
        sent |= {"window": None, "tree": None}
    else:
        sent = {"query": "disk", "labels": {"app": "db"}}
    call = StreamedToolCall("call_s1", "search", (json.dumps(sent),))
    harness.load(Scenario((Response(tool_calls=(call,)),)))

    [ready] = await ready_calls(model, ChatRequest(ASK, (SEARCH_TOOL,)))

    arguments = json.loads(ready.call.arguments)
    assert arguments == {"query": "disk", "labels": {"app": "db"}}
    assert Draft202012Validator(SEARCH_SCHEMA).is_valid(arguments)


# --- OpenAI: strict -------------------------------------------------------------------------------------

WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer", "default": 1}},
    "required": ["city"],
}


async def test_openai_sends_strict_true_with_the_strict_rewrite_of_a_strict_valid_tool(openai: OpenAIHarness) -> None:
    openai.load(Scenario((Response(text_chunks=("ok",)),)))
    tools = (ToolSpec("weather", "Weather", WEATHER), ToolSpec("weather_loose", "Weather", WEATHER, strict=False))
    await ready_calls_once(openai.make_model(), ChatRequest(ASK, tools))

    [body] = openai.requests
    strict, loose = body["tools"]  # type: ignore[misc]
    assert strict == {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "Weather",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "days": {"anyOf": [{"type": "integer"}, {"type": "null"}], "description": "Default: 1."},
                },
                "required": ["city", "days"],
                "additionalProperties": False,
            },
            "strict": True,
        },
    }
    # opted out (an MCP server with sanitize_schemas = false): the tool's own schema, and no `strict` at all
    assert loose == {
        "type": "function",
        "function": {"name": "weather_loose", "description": "Weather", "parameters": WEATHER},
    }


async def test_openai_sends_a_tool_the_rewrite_cannot_make_strict_as_it_is(openai: OpenAIHarness) -> None:
    # More enum values than OpenAI allows in strict mode: the tool goes non-strict, its schema unchanged.
    many = {"type": "object", "properties": {"code": {"enum": list(range(1200))}}, "required": ["code"]}
    openai.load(Scenario((Response(text_chunks=("ok",)),)))
    await ready_calls_once(openai.make_model(), ChatRequest(ASK, (ToolSpec("lookup", "Look up", many),)))

    [tool] = openai.requests[0]["tools"]  # type: ignore[misc]
    assert "strict" not in tool["function"]
    assert tool["function"]["parameters"] == many


async def test_an_agent_on_openai_calls_the_tool_with_the_restored_arguments(openai: OpenAIHarness) -> None:
    received: list[Mapping[str, Any]] = []
    toolset = FunctionToolset("weather")

    def weather(**arguments: Any) -> str:
        received.append(arguments)
        return "sunny"

    toolset.add(weather, description="Weather", parameters=WEATHER)
    call = StreamedToolCall("call_w", "weather", ('{"city": "Oslo", "days": null}',))
    openai.load(Scenario((Response(tool_calls=(call,)), Response(text_chunks=("Sunny.",)))))
    agent = Agent(AgentSettings(name="strict", system_prompt="You are terse."), openai.make_model(), [toolset])
    try:
        async with asyncio.timeout(CALL_TIMEOUT):
            events = [event async for event in agent.run_turn("Weather in Oslo?")]
    finally:
        await agent.aclose()

    assert received == [{"city": "Oslo"}]  # the null of the optional `days` never reaches the tool
    [completed] = [e for e in events if isinstance(e, ToolCompleted)]
    assert json.loads(completed.call.arguments) == {"city": "Oslo"}
    final = events[-1]
    assert isinstance(final, TurnFinished)
    assert final.content == "Sunny."
    assert openai.requests[0]["tools"][0]["function"]["strict"] is True  # type: ignore[index]
    # the conversation sent back carries the arguments in the tool's shape, as the domain holds them
    history = openai.requests[1]["messages"]
    assert json.loads(history[2]["tool_calls"][0]["function"]["arguments"]) == {"city": "Oslo"}  # type: ignore[index]


# --- Gemini: the parametersJsonSchema subset ---------------------------------------------------------


async def test_gemini_sends_its_json_schema_subset(gemini: GeminiHarness) -> None:
    gemini.load(Scenario((Response(text_chunks=("ok",)),)))
    await ready_calls_once(gemini.make_model(), ChatRequest(ASK, (SEARCH_TOOL,)))

    [tool] = gemini.requests[0]["tools"]  # type: ignore[misc]
    [declaration] = tool["functionDeclarations"]
    assert "parameters" not in declaration
    # google-genai writes the proto field name; the API reads both spellings
    sent = declaration.get("parametersJsonSchema", declaration.get("parameters_json_schema"))
    assert sent == {
        "type": "object",
        "properties": {
            "query": {"type": "string", "minLength": 1, "description": "What to look for"},
            "limit": {
                "type": "integer",
                "default": 10,
                "minimum": 0,
                "description": "(Constraints: exclusiveMinimum=0)",
            },
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "mode": {"enum": ["fast"]},
            "window": {"type": "object", "properties": {"days": {"type": "integer"}}, "required": ["days"]},
            "tree": {"$ref": "#/$defs/Node"},
        },
        "required": ["query"],
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                },
            }
        },
    }
    genai_types.JSONSchema.model_validate(sent)  # only fields google-genai's JSONSchema type knows


# --- Anthropic: JSON Schema, draft 2020-12, plain object root ----------------------------------------


async def test_anthropic_gets_a_plain_object_root_in_draft_2020_12(anthropic: AnthropicHarness) -> None:
    either = {
        "anyOf": [
            {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]},
            {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
        ],
        "$schema": "http://json-schema.org/draft-04/schema#",
    }
    anthropic.load(Scenario((Response(text_chunks=("ok",)),)))
    await ready_calls_once(anthropic.make_model(), ChatRequest(ASK, (SEARCH_TOOL, ToolSpec("find", "Find", either))))

    search, find = anthropic.requests[0]["tools"]  # type: ignore[misc]
    assert find["input_schema"] == {
        "type": "object",
        "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
        "required": [],
    }
    limit = search["input_schema"]["properties"]["limit"]
    assert limit == {"type": "integer", "default": 10, "exclusiveMinimum": 0}  # the draft-4 boolean, respelled
    assert search["input_schema"]["properties"]["labels"] == SEARCH_SCHEMA["properties"]["labels"]  # kept as is
    for tool in (search, find):
        Draft202012Validator.check_schema(tool["input_schema"])
