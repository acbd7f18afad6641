"""OllamaChatModel: `/api/chat` body mapping (options order, think, tools), stream translation, errors.

Wire tests run the real `ollama` SDK client against a loopback fake speaking NDJSON.
"""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from aura.adapters.llm.ollama import OllamaChatModel, chat_body
from aura.domain.errors import ProviderError, ProviderErrorKind
from aura.domain.events import (
    FinishReason,
    ModelFinished,
    ReasoningDelta,
    TextDelta,
    ToolCallReady,
    UsageReported,
)
from aura.domain.messages import (
    AssistantMessage,
    ImagePart,
    SystemMessage,
    TextPart,
    ToolCall,
    ToolResultMessage,
    UserMessage,
)
from aura.domain.schema_profiles import OLLAMA
from aura.domain.tools import ToolSpec
from aura.domain.usage import Usage
from aura.ports.chat_model import ChatRequest, GenerationSettings
from tests.contract.harnesses.ollama import MODEL, OllamaHarness
from tests.contract.scenario import Response, Scenario, StreamedToolCall
from tests.contract.wire.raw_server import RawReply, RawReplyServer
from tests.unit.llm.helpers import FAST, HELLO, SYNTHETIC_ID, collect, collect_until_error

NESTED_SCHEMA = {
    "type": "object",
    "properties": {
        "filter": {
            "type": "object",
            "properties": {"field": {"type": "string"}, "values": {"type": "array", "items": {"type": "string"}}},
            "required": ["field", "values"],
            "additionalProperties": False,
        },
        "limit": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
    },
    "required": ["filter", "limit"],
    "additionalProperties": False,
}


@pytest.fixture
async def harness() -> AsyncIterator[OllamaHarness]:
    built = OllamaHarness()
    await built.start()
    try:
        yield built
    finally:
        await built.stop()


@pytest.fixture
async def raw() -> AsyncIterator[RawReplyServer]:
    server = RawReplyServer(["/api/chat"])
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def ndjson(*lines: dict[str, Any]) -> RawReply:
    return RawReply(tuple(json.dumps(line).encode() + b"\n" for line in lines), content_type="application/x-ndjson")


def line(content: str = "", *, done: bool = False, **extra: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    for key in ("thinking", "tool_calls"):
        if key in extra:
            message[key] = extra.pop(key)
    return {"model": MODEL, "created_at": "2026-01-01T00:00:00Z", "message": message, "done": done, **extra}


def model_for(base_url: str, **kwargs: Any) -> OllamaChatModel:
    return OllamaChatModel(MODEL, base_url, request_timeout=10.0, retry=FAST, **kwargs)


# --- pure mapping -------------------------------------------------------------------------------


def test_options_keep_config_order_and_the_agent_temperature_wins_last() -> None:
    options = {"num_ctx": 8192, "num_predict": 256, "temperature": 0.9, "top_k": 20, "think": True, "keep_alive": "5m"}
    request = ChatRequest((UserMessage("hi"),), settings=GenerationSettings(temperature=0.3, max_tokens=1000))
    body = chat_body(MODEL, request, options)
    assert list(body["options"].items()) == [
        ("num_ctx", 8192),
        ("num_predict", 256),
        ("temperature", 0.3),
        ("top_k", 20),
    ]
    assert body["think"] is True, "think is a request field in Ollama's API, not an option"
    assert body["keep_alive"] == "5m"
    assert body["stream"] is True


def test_max_tokens_fills_num_predict_and_the_smaller_cap_wins() -> None:
    settings = GenerationSettings(max_tokens=64)
    assert chat_body(MODEL, ChatRequest((), settings=settings), {})["options"] == {"num_predict": 64}
    assert chat_body(MODEL, ChatRequest((), settings=settings), {"num_predict": 10})["options"] == {"num_predict": 10}
    assert chat_body(MODEL, ChatRequest((), settings=settings), {"num_predict": 500})["options"] == {"num_predict": 64}
    # a negative num_predict means "no limit" to Ollama: the cap applies
    assert chat_body(MODEL, ChatRequest((), settings=settings), {"num_predict": -1})["options"] == {"num_predict": 64}


def test_without_settings_or_options_no_options_object_is_sent() -> None:
    body = chat_body(MODEL, HELLO, {})
    assert "options" not in body
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    kept = chat_body(MODEL, HELLO, {"temperature": 0.7})
    assert kept["options"] == {"temperature": 0.7}, "an unset agent temperature leaves additional_params alone"


def test_history_maps_tool_calls_as_objects_and_results_as_tool_messages() -> None:
    png = base64.b64encode(b"\x89PNGfake").decode()
    body = chat_body(
        MODEL,
        ChatRequest(
            (
                SystemMessage("sys"),
                UserMessage((TextPart("see "), TextPart("this"), ImagePart(f"data:image/png;base64,{png}"))),
                AssistantMessage(
                    "Checking.", (ToolCall("call_1", "get_weather", '{"city": "Oslo"}'),), reasoning="hmm"
                ),
                ToolResultMessage("call_1", "get_weather", "cold"),
            ),
            (ToolSpec("search", "Search things", NESTED_SCHEMA),),
        ),
        {},
    )
    assert body["messages"] == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "see this", "images": [png]},
        {
            "role": "assistant",
            "content": "Checking.",
            "thinking": "hmm",
            "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}],
        },
        {"role": "tool", "content": "cold", "tool_name": "get_weather"},
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "search",
                "description": "Search things",
                "parameters": OLLAMA.to_provider(NESTED_SCHEMA).schema,
            },
        }
    ]


def test_constructor_rejects_an_empty_model() -> None:
    with pytest.raises(ValueError, match="model"):
        OllamaChatModel("")


# --- against the fake ---------------------------------------------------------------------------


async def test_nested_tool_schemas_reach_the_server_in_the_shape_it_keeps(harness: OllamaHarness) -> None:
    """The SDK's own `chat()` would drop nested `properties` and `anyOf`; what the Ollama server itself drops
    from a property (here `additionalProperties`) is written into its description by the Ollama profile."""
    harness.load(Scenario((Response(text_chunks=("ok",)),)))
    await collect(harness.make_model(), ChatRequest((UserMessage("q"),), (ToolSpec("search", "s", NESTED_SCHEMA),)))
    [received] = harness.server.recorded
    assert received.path == "/api/chat"
    sent = received.body["tools"][0]["function"]["parameters"]  # type: ignore[index]
    assert sent == OLLAMA.to_provider(NESTED_SCHEMA).schema
    nested = sent["properties"]["filter"]
    assert nested["properties"] == NESTED_SCHEMA["properties"]["filter"]["properties"]  # type: ignore[index]
    assert nested["required"] == ["field", "values"]
    assert "additionalProperties=false" in nested["description"]
    assert sent["properties"]["limit"] == {"anyOf": [{"type": "integer"}, {"type": "null"}]}


async def test_think_from_options_streams_thinking_as_reasoning(harness: OllamaHarness) -> None:
    harness.load(Scenario((Response(reasoning_chunks=("Let me see.",), text_chunks=("Done.",)),)))
    model = harness.make_model(options={"num_ctx": 4096, "think": True})
    events = await collect(model)
    assert events[:2] == [ReasoningDelta("Let me see."), TextDelta("Done.")]
    body = harness.requests[0]
    assert body["think"] is True
    assert body["options"] == {"num_ctx": 4096}


async def test_complete_tool_calls_get_unique_synthetic_ids(harness: OllamaHarness) -> None:
    calls = (
        StreamedToolCall("ignored", "get_weather", ('{"city": "Oslo"}',)),
        StreamedToolCall("ignored", "get_weather", ('{"city": "Rome"}',)),
    )
    harness.load(Scenario((Response(tool_calls=calls, prompt_tokens=12, completion_tokens=3),)))
    events = await collect(harness.make_model())
    ready = [event.call for event in events if isinstance(event, ToolCallReady)]
    assert [json.loads(call.arguments) for call in ready] == [{"city": "Oslo"}, {"city": "Rome"}]
    assert all(SYNTHETIC_ID.fullmatch(call.id) for call in ready)
    assert ready[0].id != ready[1].id
    assert events[-2:] == [UsageReported(Usage(12, 3, 15)), ModelFinished(FinishReason.TOOL_CALLS)]


async def test_length_done_reason_is_a_length_finish_and_missing_counts_are_zero(raw: RawReplyServer) -> None:
    raw.queue(ndjson(line("Once upon"), line(done=True, done_reason="length", eval_count=4)))
    events = await collect(model_for(raw.base_url))
    assert events == [TextDelta("Once upon"), UsageReported(Usage(0, 4, 4)), ModelFinished(FinishReason.LENGTH)]


async def test_a_stream_cut_before_done_is_an_error_after_the_text(raw: RawReplyServer) -> None:
    raw.queue(ndjson(line("half")))
    model = model_for(raw.base_url)
    seen, error = await collect_until_error(model)
    assert seen == [TextDelta("half")]
    assert error.kind is ProviderErrorKind.CONNECTION
    assert len(raw.recorded) == 1


async def test_unknown_model_is_a_bad_request_with_a_pull_hint_and_not_retried(raw: RawReplyServer) -> None:
    raw.queue(RawReply((json.dumps({"error": f"model '{MODEL}' not found"}).encode(),), status=404))
    with pytest.raises(ProviderError) as raised:
        await collect(model_for(raw.base_url))
    assert raised.value.kind is ProviderErrorKind.BAD_REQUEST
    assert raised.value.status_code == 404
    assert "ollama pull" in raised.value.message
    assert len(raw.recorded) == 1


async def test_context_overflow_reported_mid_stream_is_classified(raw: RawReplyServer) -> None:
    raw.queue(ndjson({"error": "the input length exceeds the context length"}))
    with pytest.raises(ProviderError) as raised:
        await collect(model_for(raw.base_url))
    assert raised.value.kind is ProviderErrorKind.CONTEXT_OVERFLOW


async def test_an_unreachable_server_is_a_connection_error_naming_the_url_without_credentials() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on `port` any more: every attempt is refused at once.
    model = model_for(f"http://user:hunter2@127.0.0.1:{port}")
    with pytest.raises(ProviderError) as raised:
        await collect(model)
    assert raised.value.kind is ProviderErrorKind.CONNECTION
    assert f"127.0.0.1:{port}" in raised.value.message
    assert "hunter2" not in str(raised.value)
