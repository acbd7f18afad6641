"""Ollama `fallback_tool_parsing`: tool calls written as text become real calls, through the real SDK.

Every test streams the answer from the NDJSON fake, so chunk boundaries are real stream lines.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aura.domain.events import (
    FinishReason,
    ModelEvent,
    ModelFinished,
    TextDelta,
    ToolCallReady,
)
from aura.domain.messages import UserMessage
from aura.domain.tools import ToolSpec
from aura.ports.chat_model import ChatRequest
from tests.contract.harnesses.ollama import OllamaHarness
from tests.contract.scenario import Response, Scenario, StreamedToolCall

TIMEOUT = 20.0
WEATHER = ToolSpec(
    "get_weather",
    "Current weather",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
TIME = ToolSpec("get_time", "Current time", {"type": "object", "properties": {"zone": {"type": "string"}}})
ASK = ChatRequest((UserMessage("Weather in Oslo?"),), (WEATHER, TIME))
CALL_JSON = '{"name": "get_weather", "arguments": {"city": "Oslo"}}'


@pytest.fixture
async def harness() -> AsyncIterator[OllamaHarness]:
    built = OllamaHarness()
    await built.start()
    try:
        yield built
    finally:
        await built.stop()


async def answer(
    harness: OllamaHarness,
    chunks: Sequence[str],
    *,
    request: ChatRequest = ASK,
    fallback: bool = True,
    native: tuple[StreamedToolCall, ...] = (),
) -> list[ModelEvent]:
    harness.load(Scenario((Response(text_chunks=tuple(chunks), tool_calls=native),)))
    model = harness.make_model(fallback_tool_parsing=fallback)
    try:
        async with asyncio.timeout(TIMEOUT):
            return [event async for event in model.stream(request)]
    finally:
        await model.aclose()


def shown(events: Sequence[ModelEvent]) -> str:
    return "".join(event.text for event in events if isinstance(event, TextDelta))


def calls(events: Sequence[ModelEvent]) -> list[tuple[str, dict[str, object]]]:
    return [(e.call.name, json.loads(e.call.arguments)) for e in events if isinstance(e, ToolCallReady)]


async def test_a_bare_json_answer_becomes_a_tool_call_and_no_text(harness: OllamaHarness) -> None:
    events = await answer(harness, [CALL_JSON])
    assert shown(events) == ""
    [ready] = [event for event in events if isinstance(event, ToolCallReady)]
    assert ready.call.name == "get_weather"
    assert json.loads(ready.call.arguments) == {"city": "Oslo"}
    assert re.fullmatch(r"call_[0-9a-f]{24}", ready.call.id)
    assert events[-1] == ModelFinished(FinishReason.TOOL_CALLS)


async def test_prose_streams_at_once_and_a_fenced_call_is_withheld(harness: OllamaHarness) -> None:
    chunks = ["Let me check. ", "```json\n", CALL_JSON[:20], CALL_JSON[20:], "\n```", " One moment."]
    events = await answer(harness, chunks)
    assert events[0] == TextDelta("Let me check. "), "prose before the call is not held back"
    assert shown(events) == "Let me check.  One moment."
    assert calls(events) == [("get_weather", {"city": "Oslo"})]


async def test_a_list_of_calls_becomes_calls_in_order(harness: OllamaHarness) -> None:
    text = (
        '[{"name": "get_weather", "parameters": {"city": "Oslo"}}, {"name": "get_time", "arguments": {"zone": "CET"}}]'
    )
    events = await answer(harness, [text])
    assert calls(events) == [("get_weather", {"city": "Oslo"}), ("get_time", {"zone": "CET"})]
    assert shown(events) == ""


async def test_tool_call_tags_split_character_by_character_are_found(harness: OllamaHarness) -> None:
    text = f"Checking.<tool_call>{CALL_JSON}</tool_call>"
    events = await answer(harness, list(text))
    assert shown(events) == "Checking."
    assert calls(events) == [("get_weather", {"city": "Oslo"})]


async def test_a_call_to_a_tool_that_was_not_offered_stays_text(harness: OllamaHarness) -> None:
    text = 'Try {"name": "delete_everything", "arguments": {}} yourself.'
    events = await answer(harness, [text[:9], text[9:]])
    assert shown(events) == text
    assert calls(events) == []
    assert events[-1] == ModelFinished(FinishReason.STOP)


async def test_json_that_is_not_a_call_is_released_once_complete(harness: OllamaHarness) -> None:
    text = 'The config is {"name": "prod", "replicas": 3} today.'
    events = await answer(harness, [text[:20], text[20:]], request=ChatRequest((UserMessage("q"),), (WEATHER,)))
    assert shown(events) == text
    assert calls(events) == []


async def test_without_fallback_parsing_call_text_is_plain_text(harness: OllamaHarness) -> None:
    events = await answer(harness, [CALL_JSON], fallback=False)
    assert shown(events) == CALL_JSON
    assert calls(events) == []


async def test_without_offered_tools_nothing_is_parsed(harness: OllamaHarness) -> None:
    events = await answer(harness, [CALL_JSON], request=ChatRequest((UserMessage("q"),)))
    assert shown(events) == CALL_JSON
    assert calls(events) == []


async def test_a_native_tool_call_turns_the_fallback_off_and_releases_held_text(harness: OllamaHarness) -> None:
    native = (StreamedToolCall("x", "get_time", ('{"zone": "UTC"}',)),)
    events = await answer(harness, ["Note: ", CALL_JSON], native=native)
    assert shown(events) == "Note: " + CALL_JSON, "with a native call the text is not a call and is shown as sent"
    assert calls(events) == [("get_time", {"zone": "UTC"})]
    assert events[-1] == ModelFinished(FinishReason.TOOL_CALLS)


async def test_a_native_call_switches_the_fallback_off_for_that_response_only(harness: OllamaHarness) -> None:
    native = (StreamedToolCall("x", "get_time", ("{}",)),)
    first = await answer(harness, [CALL_JSON], native=native)
    assert calls(first) == [("get_time", {})]
    second = await answer(harness, [CALL_JSON])
    assert calls(second) == [("get_weather", {"city": "Oslo"})]


# --- property: any chunking of a text-written call gives the same result --------------------------

PROSE = st.text(alphabet=st.sampled_from("abcdefghij XYZ.,!?:;-'\n"), max_size=30)
CITY = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters='"\\', exclude_categories=("Cs", "Cc")), max_size=12
)


def _wrap(style: str, city: str) -> str:
    call = json.dumps({"name": "get_weather", "arguments": {"city": city}}, ensure_ascii=False)
    return {
        "bare": call,
        "fenced": f"```json\n{call}\n```",
        "tagged": f"<tool_call>{call}</tool_call>",
        "listed": f"[{call}]",
    }[style]


def _split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({cut % (len(text) + 1) for cut in cuts})
    pieces = [text[start:end] for start, end in zip([0, *points], [*points, len(text)], strict=True)]
    return [piece for piece in pieces if piece]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    prefix=PROSE,
    suffix=PROSE,
    city=CITY,
    style=st.sampled_from(["bare", "fenced", "tagged", "listed"]),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
)
async def test_any_chunking_of_a_written_call_yields_the_call_and_only_the_prose(
    harness: OllamaHarness, prefix: str, suffix: str, city: str, style: str, cuts: list[int]
) -> None:
    separator = " " if prefix else ""
    text = f"{prefix}{separator}{_wrap(style, city)}{' ' if suffix else ''}{suffix}"
    events = await answer(harness, _split(text, cuts))
    assert calls(events) == [("get_weather", {"city": city})]
    assert shown(events) == f"{prefix}{separator}{' ' if suffix else ''}{suffix}"
    assert events[-1] == ModelFinished(FinishReason.TOOL_CALLS)
