"""GeminiChatModel: request mapping, synthetic call ids, thought signatures and stream edge cases.

Wire tests run the real google-genai client against a loopback fake speaking `streamGenerateContent` SSE.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from aura.adapters.llm.gemini import SKIP_SIGNATURE_SENTINEL, GeminiChatModel, gemini_contents, generation_config
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
from aura.domain.tools import ToolSpec
from aura.domain.usage import Usage
from aura.ports.chat_model import ChatRequest, GenerationSettings
from tests.contract.harnesses.gemini import API_KEY
from tests.contract.wire.raw_server import RawReply, RawReplyServer
from tests.unit.llm.helpers import FAST, SYNTHETIC_ID, collect, collect_until_error

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
}
SIGNATURE = base64.b64encode(b"opaque-signature-\x00\xff-bytes").decode()


@pytest.fixture
async def raw() -> AsyncIterator[RawReplyServer]:
    server = RawReplyServer(["/{api_version}/models/{model_and_method}"])
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def model_for(raw: RawReplyServer, name: str = "gemini-3-flash") -> GeminiChatModel:
    return GeminiChatModel(name, API_KEY, raw.base_url, request_timeout=10.0, retry=FAST)


def sse(*chunks: dict[str, Any]) -> RawReply:
    return RawReply(
        tuple(f"data: {json.dumps(chunk)}\r\n\r\n".encode() for chunk in chunks), content_type="text/event-stream"
    )


def candidate(parts: list[dict[str, Any]], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        entry["finishReason"] = finish
    return {"candidates": [entry], **extra}


# --- pure mapping -------------------------------------------------------------------------------


def test_config_carries_system_sampling_max_tokens_and_json_schema_tools() -> None:
    request = ChatRequest(
        (SystemMessage("Be terse."), SystemMessage("Cluster: prod."), UserMessage("hi")),
        (ToolSpec("search", "Search things", NESTED_SCHEMA),),
        GenerationSettings(temperature=0.4, max_tokens=256),
    )
    config = generation_config(request)
    assert config.system_instruction == "Be terse.\n\nCluster: prod."
    assert config.temperature == 0.4
    assert config.max_output_tokens == 256
    assert config.automatic_function_calling is not None
    assert config.automatic_function_calling.disable is True
    assert config.automatic_continuation is False
    [tool] = config.tools or []
    [declaration] = tool.function_declarations or []  # type: ignore[union-attr]
    assert (declaration.name, declaration.description) == ("search", "Search things")
    assert declaration.parameters_json_schema == NESTED_SCHEMA


def test_history_maps_calls_and_results_and_sends_back_only_provider_ids() -> None:
    synthetic = "call_0123456789abcdef01234567"
    contents = gemini_contents(
        (
            SystemMessage("sys"),
            UserMessage("Oslo and Rome?"),
            AssistantMessage(
                "Checking.",
                (
                    ToolCall(synthetic, "get_weather", '{"city": "Oslo"}'),
                    ToolCall("gid-7", "get_weather", '{"city":"Rome"}'),
                ),
            ),
            ToolResultMessage(synthetic, "get_weather", "cold"),
            ToolResultMessage("gid-7", "get_weather", "backend down", is_error=True),
            UserMessage("Thanks."),
        ),
        lambda _: None,
        False,
    )
    assert [content.role for content in contents] == ["user", "model", "user"]
    model_parts = contents[1].parts or []
    assert model_parts[0].text == "Checking."
    first, second = (part.function_call for part in model_parts[1:])
    assert first is not None
    assert second is not None
    assert (first.name, first.args, first.id) == ("get_weather", {"city": "Oslo"}, None)
    assert (second.args, second.id) == ({"city": "Rome"}, "gid-7")
    results = [part.function_response for part in (contents[2].parts or [])[:2]]
    assert [(r.name, r.response, r.id) for r in results if r is not None] == [
        ("get_weather", {"output": "cold"}, None),
        ("get_weather", {"error": "backend down"}, "gid-7"),
    ]
    assert (contents[2].parts or [])[2].text == "Thanks."


def test_replayed_calls_get_their_signature_or_the_sentinel_on_the_first_call_only() -> None:
    known = b"real-signature"
    history = (
        UserMessage("q"),
        AssistantMessage("", (ToolCall("call_a", "f", "{}"), ToolCall("call_b", "f", "{}"))),
        ToolResultMessage("call_a", "f", "1"),
        ToolResultMessage("call_b", "f", "2"),
        AssistantMessage("", (ToolCall("call_c", "f", "{}"),)),
        ToolResultMessage("call_c", "f", "3"),
    )
    contents = gemini_contents(history, {"call_c": known}.get, True)
    signatures = [part.thought_signature for content in contents for part in content.parts or [] if part.function_call]
    assert signatures == [SKIP_SIGNATURE_SENTINEL, None, known]
    older = gemini_contents(history, lambda _: None, False)
    assert [part.thought_signature for c in older for part in c.parts or [] if part.function_call] == [None, None, None]


def test_images_are_inlined_from_data_urls_and_remote_urls_skipped(caplog: pytest.LogCaptureFixture) -> None:
    raw_bytes = b"\x89PNGfake"
    data_url = "data:image/png;base64," + base64.b64encode(raw_bytes).decode()
    [content] = gemini_contents(
        (UserMessage((TextPart("what?"), ImagePart(data_url), ImagePart("https://example.com/a.png"))),),
        lambda _: None,
        False,
    )
    parts = content.parts or []
    assert len(parts) == 2
    assert parts[1].inline_data is not None
    assert (parts[1].inline_data.mime_type, parts[1].inline_data.data) == ("image/png", raw_bytes)
    assert "image skipped" in caplog.text


def test_constructor_rejects_missing_key_or_model() -> None:
    with pytest.raises(ValueError, match="api_key"):
        GeminiChatModel("gemini-2.5-flash", "")
    with pytest.raises(ValueError, match="model"):
        GeminiChatModel("", "key")


# --- against the fake ---------------------------------------------------------------------------


async def test_request_uses_the_key_header_and_keeps_nested_schemas(raw: RawReplyServer) -> None:
    raw.queue(sse(candidate([{"text": "ok"}], "STOP")))
    model = model_for(raw)
    request = ChatRequest(
        (UserMessage("hi"),), (ToolSpec("search", "s", NESTED_SCHEMA),), GenerationSettings(max_tokens=99)
    )
    await collect(model, request)
    await model.aclose()
    [received] = raw.recorded
    assert received.path.endswith("/models/gemini-3-flash:streamGenerateContent")
    assert received.headers["x-goog-api-key"] == API_KEY
    assert API_KEY not in received.path
    [declaration] = received.body["tools"][0]["functionDeclarations"]  # type: ignore[index]
    schema = declaration.get("parametersJsonSchema", declaration.get("parameters_json_schema"))
    assert schema == NESTED_SCHEMA
    assert received.body["generationConfig"]["maxOutputTokens"] == 99  # type: ignore[index]


async def test_thoughts_text_calls_and_usage_are_translated(raw: RawReplyServer) -> None:
    raw.queue(
        sse(
            candidate([{"text": "Weighing options.", "thought": True}]),
            candidate([{"text": "Checking both."}]),
            candidate(
                [
                    {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}, "thoughtSignature": SIGNATURE},
                    {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}},
                ],
                "STOP",
                usageMetadata={
                    "promptTokenCount": 30,
                    "candidatesTokenCount": 8,
                    "thoughtsTokenCount": 12,
                    "totalTokenCount": 50,
                },
            ),
        )
    )
    model = model_for(raw)
    events = await collect(model)
    await model.aclose()
    assert events[:2] == [ReasoningDelta("Weighing options."), TextDelta("Checking both.")]
    calls = [event.call for event in events if isinstance(event, ToolCallReady)]
    assert [(call.name, json.loads(call.arguments)) for call in calls] == [
        ("get_weather", {"city": "Oslo"}),
        ("get_weather", {"city": "Rome"}),
    ]
    assert all(SYNTHETIC_ID.fullmatch(call.id) for call in calls)
    assert calls[0].id != calls[1].id
    assert events[-2:] == [UsageReported(Usage(30, 20, 50)), ModelFinished(FinishReason.TOOL_CALLS)]


async def test_a_received_signature_is_replayed_verbatim_with_its_call(raw: RawReplyServer) -> None:
    raw.queue(
        sse(candidate([{"functionCall": {"name": "ping", "args": {}}, "thoughtSignature": SIGNATURE}], "STOP")),
        sse(candidate([{"text": "pong"}], "STOP")),
    )
    model = model_for(raw)
    [call] = [event.call for event in await collect(model) if isinstance(event, ToolCallReady)]
    follow_up = ChatRequest(
        (UserMessage("ping it"), AssistantMessage("", (call,)), ToolResultMessage(call.id, "ping", "pong"))
    )
    await collect(model, follow_up)
    await model.aclose()
    replayed = raw.recorded[1].body["contents"][1]["parts"][0]  # type: ignore[index]
    assert base64.urlsafe_b64decode(replayed["thoughtSignature"]) == base64.b64decode(SIGNATURE)
    assert "id" not in replayed["functionCall"], "a synthetic id is not Gemini's to see"


async def test_unsigned_replayed_call_carries_the_documented_sentinel_on_the_wire(raw: RawReplyServer) -> None:
    raw.queue(sse(candidate([{"text": "ok"}], "STOP")))
    model = model_for(raw)
    history = (
        UserMessage("q"),
        AssistantMessage("", (ToolCall("call_x", "f", "{}"),)),
        ToolResultMessage("call_x", "f", "1"),
    )
    await collect(model, ChatRequest(history))
    await model.aclose()
    part = raw.recorded[0].body["contents"][1]["parts"][0]  # type: ignore[index]
    assert part["thoughtSignature"] == "skip_thought_signature_validator"


async def test_max_tokens_is_a_length_finish_and_other_reasons_stop(raw: RawReplyServer) -> None:
    raw.queue(
        sse(candidate([{"text": "Once"}]), candidate([{"text": ""}], "MAX_TOKENS")),
        sse(candidate([{"text": "Hm"}], "SAFETY")),
    )
    model = model_for(raw)
    assert (await collect(model))[-1] == ModelFinished(FinishReason.LENGTH)
    assert (await collect(model))[-1] == ModelFinished(FinishReason.STOP)
    await model.aclose()


async def test_a_stream_without_finish_reason_is_an_error_after_the_text(raw: RawReplyServer) -> None:
    raw.queue(sse(candidate([{"text": "half"}])))
    model = model_for(raw)
    seen, error = await collect_until_error(model)
    assert seen == [TextDelta("half")]
    assert error.kind is ProviderErrorKind.CONNECTION
    assert len(raw.recorded) == 1


async def test_a_blocked_prompt_is_a_bad_request(raw: RawReplyServer) -> None:
    raw.queue(sse({"promptFeedback": {"blockReason": "SAFETY"}}))
    model = model_for(raw)
    with pytest.raises(ProviderError) as raised:
        await collect(model)
    await model.aclose()
    assert raised.value.kind is ProviderErrorKind.BAD_REQUEST
    assert "blocked" in raised.value.message


async def test_an_invalid_key_answered_with_400_is_an_authentication_error_without_the_key(raw: RawReplyServer) -> None:
    body = {"error": {"code": 400, "message": f"API key not valid: {API_KEY}", "status": "INVALID_ARGUMENT"}}
    raw.queue(RawReply((json.dumps(body).encode(),), status=400))
    model = model_for(raw)
    with pytest.raises(ProviderError) as raised:
        await collect(model)
    await model.aclose()
    assert raised.value.kind is ProviderErrorKind.AUTHENTICATION
    assert API_KEY not in str(raised.value)
    assert len(raw.recorded) == 1


async def test_rate_limit_with_retry_info_is_retried(raw: RawReplyServer) -> None:
    body = {
        "error": {
            "code": 429,
            "message": "Resource has been exhausted",
            "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0s"}],
        }
    }
    raw.queue(RawReply((json.dumps(body).encode(),), status=429), sse(candidate([{"text": "ok"}], "STOP")))
    model = model_for(raw)
    events = await collect(model)
    await model.aclose()
    assert events[0] == TextDelta("ok")
    assert len(raw.recorded) == 2


async def test_prompt_too_large_is_a_context_overflow(raw: RawReplyServer) -> None:
    message = "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."
    body = {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}
    raw.queue(RawReply((json.dumps(body).encode(),), status=400))
    model = model_for(raw)
    with pytest.raises(ProviderError) as raised:
        await collect(model)
    await model.aclose()
    assert raised.value.kind is ProviderErrorKind.CONTEXT_OVERFLOW
