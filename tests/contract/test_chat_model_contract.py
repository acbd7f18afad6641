"""The ChatModel contract: one suite, run against every provider adapter through its wire-protocol fake.

Each test scripts the fake with a provider-neutral `Scenario`; the harness renders it as the provider's
real bytes, so the real SDK inside the adapter parses them. What providers legitimately differ in is
declared by the harness (`traits`, `extract_request`, see `tests/contract/scenario.py`).
"""

from __future__ import annotations

import asyncio
import json
import pkgutil
from collections.abc import Sequence

import attrs
import pytest

import aura.adapters.llm
from aura.domain.agent import Agent, AgentSettings
from aura.domain.errors import ProviderError, ProviderErrorKind
from aura.domain.events import (
    FinishReason,
    ModelEvent,
    ModelFinished,
    ModelStatus,
    ReasoningDelta,
    TextDelta,
    ToolCallReady,
    ToolCompleted,
    ToolRequested,
    TurnFinished,
    UsageReported,
)
from aura.domain.messages import AssistantMessage, SystemMessage, ToolCall, ToolResultMessage, UserMessage
from aura.domain.tools import RequestContext, ToolSpec
from aura.domain.usage import Usage
from aura.ports.chat_model import ChatModel, ChatRequest, GenerationSettings
from aura.testing import FunctionToolset
from tests.contract.harnesses import discover_harnesses
from tests.contract.scenario import (
    FailAfterFirstChunk,
    HarnessTraits,
    HttpFailure,
    MalformedChunk,
    ProviderHarness,
    Response,
    Scenario,
    SentRequest,
    StreamedToolCall,
)

CALL_TIMEOUT = 15.0
NOT_CHAT_MODELS = {"retry"}  # modules of aura.adapters.llm that are not a provider
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    "required": ["city"],
    "additionalProperties": False,
}
WEATHER_TOOL = ToolSpec("get_weather", "Current weather for a city", WEATHER_SCHEMA)
TIME_SCHEMA = {"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]}
TIME_TOOL = ToolSpec("get_time", "Current time in a time zone", TIME_SCHEMA)
HELLO = ChatRequest((SystemMessage("You are terse."), UserMessage("Say hello.")))
# The tool-call tests offer the tools they script calls to: a model bound to the offered tools (llama.cpp's
# grammar) cannot call any other.
WITH_TOOLS = ChatRequest(HELLO.messages, (WEATHER_TOOL, TIME_TOOL))


def traits_of(harness: ProviderHarness) -> HarnessTraits:
    traits = getattr(harness, "traits", None)
    return traits if isinstance(traits, HarnessTraits) else HarnessTraits()


def sent_request(harness: ProviderHarness, index: int) -> SentRequest:
    extract = getattr(harness, "extract_request", None)
    if extract is None:
        pytest.skip(f"harness {harness.name!r} has no extract_request hook to decode its request bodies")
    sent = extract(harness.requests[index])
    assert isinstance(sent, SentRequest)
    return sent


async def collect(model: ChatModel, request: ChatRequest = HELLO) -> list[ModelEvent]:
    async with asyncio.timeout(CALL_TIMEOUT):
        return [event async for event in model.stream(request)]


async def collect_until_error(model: ChatModel, request: ChatRequest = HELLO) -> tuple[list[ModelEvent], ProviderError]:
    events: list[ModelEvent] = []

    async def consume() -> None:
        async for event in model.stream(request):
            events.append(event)

    async with asyncio.timeout(CALL_TIMEOUT):
        with pytest.raises(ProviderError) as raised:
            await consume()
    return events, raised.value


def texts(events: Sequence[ModelEvent]) -> list[str]:
    return [event.text for event in events if isinstance(event, TextDelta)]


def tool_calls(events: Sequence[ModelEvent]) -> list[ToolCall]:
    return [event.call for event in events if isinstance(event, ToolCallReady)]


def test_every_chat_model_adapter_has_a_harness() -> None:
    """A provider adapter added to `aura.adapters.llm` without a harness (or whose harness breaks) fails here."""
    adapters = {
        info.name
        for info in pkgutil.iter_modules(aura.adapters.llm.__path__)
        if not info.name.startswith("_") and info.name not in NOT_CHAT_MODELS
    }
    found = {entry.module for entry in discover_harnesses() if entry.factory is not None}
    assert adapters == {"openai", "anthropic", "bedrock", "gemini", "ollama", "llamacpp"}
    assert adapters <= found, f"adapters without a working harness: {sorted(adapters - found)}"


def skip_in_process(harness: ProviderHarness) -> None:
    reason = traits_of(harness).in_process
    if reason:
        pytest.skip(reason)


async def test_plain_text_turn(harness: ProviderHarness, model: ChatModel) -> None:
    harness.load(Scenario((Response(text_chunks=("Hello!",)),)))
    events = await collect(model)
    assert "".join(texts(events)) == "Hello!"
    assert tool_calls(events) == []
    assert events[-1] == ModelFinished(FinishReason.STOP)
    assert len(harness.requests) == 1


async def test_streamed_text_arrives_as_several_deltas(harness: ProviderHarness, model: ChatModel) -> None:
    harness.load(Scenario((Response(text_chunks=("Hel", "lo, ", "world", "!")),)))
    events = await collect(model)
    assert texts(events) == ["Hel", "lo, ", "world", "!"]


async def test_single_tool_call(harness: ProviderHarness, model: ChatModel) -> None:
    call = StreamedToolCall("call_w1", "get_weather", ('{"city": "Paris"}',))
    harness.load(Scenario((Response(tool_calls=(call,)),)))
    events = await collect(model, WITH_TOOLS)
    [ready] = tool_calls(events)
    assert ready.name == "get_weather"
    assert json.loads(ready.arguments) == {"city": "Paris"}
    assert ready.id
    if traits_of(harness).tool_call_ids_preserved:
        assert ready.id == "call_w1"
    assert events[-1] == ModelFinished(FinishReason.TOOL_CALLS)


async def test_two_tool_calls_in_one_round_keep_their_order(harness: ProviderHarness, model: ChatModel) -> None:
    one_call = traits_of(harness).one_tool_call_per_request
    if one_call:
        pytest.skip(f"{harness.name} asks for one tool call per request: {one_call}")
    calls = (
        StreamedToolCall("call_a", "get_weather", ('{"city": "Oslo"}',)),
        StreamedToolCall("call_b", "get_time", ('{"zone": "CET"}',)),
    )
    harness.load(Scenario((Response(tool_calls=calls),)))
    ready = tool_calls(await collect(model, WITH_TOOLS))
    assert [(call.name, json.loads(call.arguments)) for call in ready] == [
        ("get_weather", {"city": "Oslo"}),
        ("get_time", {"zone": "CET"}),
    ]
    assert len({call.id for call in ready}) == 2
    if traits_of(harness).tool_call_ids_preserved:
        assert [call.id for call in ready] == ["call_a", "call_b"]


async def test_tool_call_arguments_arriving_in_pieces_are_joined(harness: ProviderHarness, model: ChatModel) -> None:
    pieces = ('{"ci', 'ty": "Pa', 'ris", "da', 'ys": 3', "}")
    harness.load(Scenario((Response(tool_calls=(StreamedToolCall("call_p", "get_weather", pieces),)),)))
    [ready] = tool_calls(await collect(model, WITH_TOOLS))
    assert json.loads(ready.arguments) == {"city": "Paris", "days": 3}


async def test_reasoning_is_streamed_before_the_answer(harness: ProviderHarness, model: ChatModel) -> None:
    unsupported = traits_of(harness).reasoning_unsupported
    if unsupported:
        pytest.skip(f"{harness.name} has no reasoning stream: {unsupported}")
    harness.load(Scenario((Response(reasoning_chunks=("Let me ", "think."), text_chunks=("Done.",)),)))
    events = await collect(model)
    reasoning = [event.text for event in events if isinstance(event, ReasoningDelta)]
    assert "".join(reasoning) == "Let me think."
    assert texts(events) == ["Done."]
    first_text = next(i for i, event in enumerate(events) if isinstance(event, TextDelta))
    assert all(isinstance(event, ReasoningDelta) for event in events[: len(reasoning)])
    assert first_text >= len(reasoning)


async def test_usage_is_reported_once(harness: ProviderHarness, model: ChatModel) -> None:
    harness.load(Scenario((Response(text_chunks=("ok",), prompt_tokens=42, completion_tokens=5),)))
    events = await collect(model)
    usages = [event.usage for event in events if isinstance(event, UsageReported)]
    if traits_of(harness).usage_counted_locally:
        [usage] = usages
        assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens > 0
    else:
        assert usages == [Usage(42, 5, 47)]
    assert isinstance(events[-1], ModelFinished)


async def test_rejected_credentials_give_a_clear_authentication_error_without_the_key(
    harness: ProviderHarness, model: ChatModel
) -> None:
    skip_in_process(harness)
    key = traits_of(harness).api_key
    # Providers echo (parts of) the key they rejected; OpenAI does. The adapter must not pass it on.
    message = f"Incorrect API key provided: {key}." if key else "Invalid credentials."
    harness.load(Scenario((HttpFailure(401, message),)))
    events, error = await collect_until_error(model)
    assert events == []
    assert error.kind is ProviderErrorKind.AUTHENTICATION
    assert not error.retryable
    assert any(word in str(error).lower() for word in ("api key", "credential", "authentication", "unauthorized"))
    if key:
        assert key not in str(error)
        assert all(key not in str(arg) for arg in error.args)
    assert len(harness.requests) == 1, "an authentication failure must not be retried"


async def test_rate_limit_is_retried_and_then_succeeds(harness: ProviderHarness, model: ChatModel) -> None:
    skip_in_process(harness)
    harness.load(Scenario((HttpFailure(429, "Rate limit reached, slow down"), Response(text_chunks=("ok",)))))
    events = await collect(model)
    assert texts(events) == ["ok"]
    assert len(harness.requests) == 2


async def test_server_error_before_the_first_byte_is_retried(harness: ProviderHarness, model: ChatModel) -> None:
    skip_in_process(harness)
    harness.load(Scenario((HttpFailure(503, "upstream unavailable"), Response(text_chunks=("ok",)))))
    assert texts(await collect(model)) == ["ok"]
    assert len(harness.requests) == 2


async def test_failure_after_the_first_byte_surfaces_on_the_stream_unretried(
    harness: ProviderHarness, model: ChatModel
) -> None:
    harness.load(Scenario((FailAfterFirstChunk(Response(text_chunks=("partial ", "rest"))), Response(("unused",)))))
    events, error = await collect_until_error(model)
    assert texts(events) == ["partial "]
    # ModelStatus (queued, loading) only says the model has not started: the first output is the text.
    assert isinstance(next(event for event in events if not isinstance(event, ModelStatus)), TextDelta)
    # An in-stream error event is a server error; a provider without one drops the connection.
    assert error.kind in (ProviderErrorKind.SERVER_ERROR, ProviderErrorKind.CONNECTION)
    assert len(harness.requests) == 1, "text already reached the caller, so the call must not be retried"


async def test_malformed_chunk_is_a_malformed_response_error(harness: ProviderHarness, model: ChatModel) -> None:
    skip_in_process(harness)
    harness.load(Scenario((MalformedChunk(), Response(("unused",)))))
    _, error = await collect_until_error(model)
    assert error.kind is ProviderErrorKind.MALFORMED_RESPONSE
    # The wording is the adapter's; it must say the data was unreadable, not just repeat an exception name.
    assert any(word in error.message.lower() for word in ("malformed", "valid", "unreadable", "parse", "decode"))
    assert len(error.message.split()) >= 3
    assert len(harness.requests) == 1


async def test_request_carries_system_prompt_messages_tools_and_temperature(
    harness: ProviderHarness, model: ChatModel
) -> None:
    request = ChatRequest(
        (
            SystemMessage("You are terse."),
            UserMessage("Weather in Paris?"),
            AssistantMessage("Let me check.", (ToolCall("call_1", "get_weather", '{"city": "Paris"}'),)),
            ToolResultMessage("call_1", "get_weather", "sunny, 21 C"),
            UserMessage("And tomorrow?"),
        ),
        (WEATHER_TOOL,),
        GenerationSettings(temperature=0.25, max_tokens=321),
    )
    harness.load(Scenario((Response(text_chunks=("ok",)),)))
    await collect(model, request)
    sent = sent_request(harness, 0)
    assert sent.system == "You are terse."
    assert [(message.role, message.text) for message in sent.messages] == [
        ("user", "Weather in Paris?"),
        ("assistant", "Let me check."),
        ("tool", "sunny, 21 C"),
        ("user", "And tomorrow?"),
    ]
    [call] = sent.messages[1].tool_calls
    assert (call.name, dict(call.arguments)) == ("get_weather", {"city": "Paris"})
    if traits_of(harness).tool_call_ids_preserved:
        assert call.id == "call_1"
        assert sent.messages[2].tool_call_id == "call_1"
    [tool] = sent.tools
    profile = traits_of(harness).schema_profile
    assert profile is not None, f"harness {harness.name!r} must name its adapter's schema profile (traits)"
    expected = profile.to_provider(WEATHER_SCHEMA)
    if traits_of(harness).tool_schema_sent_with_call:  # no call here: the schema is checked on calls
        expected = attrs.evolve(expected, schema={})
    assert (tool.name, tool.description, dict(tool.parameters), tool.strict) == (
        "get_weather",
        WEATHER_TOOL.description,
        expected.schema,
        expected.strict,
    )
    assert sent.temperature == pytest.approx(0.25)
    assert sent.max_tokens == 321


@pytest.mark.parametrize(
    ("agent_cap", "request_cap", "sent_cap"),
    [(400, 50, 50), (40, 500, 40), (None, 77, 77), (90, None, 90)],
    ids=["request-smaller", "agent-smaller", "request-only", "agent-only"],
)
async def test_the_smaller_of_the_request_and_agent_output_caps_reaches_the_wire(
    harness: ProviderHarness, model: ChatModel, agent_cap: int | None, request_cap: int | None, sent_cap: int
) -> None:
    harness.load(Scenario((Response(text_chunks=("ok",)),)))
    agent = Agent(AgentSettings(name="contract", system_prompt="You are terse.", max_tokens=agent_cap), model)
    async with asyncio.timeout(CALL_TIMEOUT):
        final = await agent.run("Say hello.", RequestContext(max_tokens=request_cap))
    assert final.error is None
    assert sent_request(harness, 0).max_tokens == sent_cap


async def test_agent_turn_runs_a_tool_and_answers(harness: ProviderHarness, model: ChatModel) -> None:
    toolset = FunctionToolset("weather")

    def get_weather(city: str) -> str:
        return f"sunny in {city}, 21 C"

    toolset.add(get_weather, description=WEATHER_TOOL.description, parameters=WEATHER_SCHEMA)
    call = StreamedToolCall("call_t1", "get_weather", ('{"city": ', '"Paris"}'))
    harness.load(
        Scenario(
            (
                Response(tool_calls=(call,), prompt_tokens=20, completion_tokens=4),
                Response(text_chunks=("It is sunny ", "in Paris."), prompt_tokens=30, completion_tokens=6),
            )
        )
    )
    agent = Agent(AgentSettings(name="contract", system_prompt="You are terse.", temperature=0.5), model, [toolset])
    async with asyncio.timeout(CALL_TIMEOUT):
        events = [event async for event in agent.run_turn("Weather in Paris?")]

    [requested] = [event for event in events if isinstance(event, ToolRequested)]
    assert requested.call.name == "get_weather"
    [completed] = [event for event in events if isinstance(event, ToolCompleted)]
    assert completed.result.content == "sunny in Paris, 21 C"
    assert not completed.result.is_error
    final = events[-1]
    assert isinstance(final, TurnFinished)
    assert final.error is None
    assert final.content == "It is sunny in Paris."
    assert final.rounds == 2
    if not traits_of(harness).usage_counted_locally:
        assert final.usage == Usage(50, 10, 60)
    assert len(harness.requests) == 2

    if getattr(harness, "extract_request", None) is not None:
        second = sent_request(harness, 1)
        assert second.system == "You are terse."
        assert [tool.name for tool in second.tools] == ["get_weather"]
        assert [message.role for message in second.messages] == ["user", "assistant", "tool"]
        assert second.messages[2].text == "sunny in Paris, 21 C"
        assert second.messages[1].tool_calls[0].name == "get_weather"
        assert second.temperature == pytest.approx(0.5)
