"""Anthropic adapter without I/O: request bodies, the event reader and error classification."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2
import pytest

from aura.adapters.llm._errors import REDACTED
from aura.adapters.llm.anthropic import (
    DEFAULT_MAX_TOKENS,
    AnthropicChatModel,
    MessageStreamReader,
    build_request_body,
    classify_anthropic_error,
    retry_after_hint,
)
from aura.domain.errors import ProviderError, ProviderErrorKind
from aura.domain.events import (
    FinishReason,
    ModelEvent,
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

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
URL = "https://api.anthropic.example/v1/messages"
KEY = "test-anthropic-key-9f8e7d6c"


# --- request bodies -----------------------------------------------------------------------------


def test_body_maps_system_tools_settings_and_the_tool_round() -> None:
    request = ChatRequest(
        (
            SystemMessage("Be brief."),
            UserMessage("Weather in Oslo and Rome?"),
            AssistantMessage(
                "Checking.",
                (ToolCall("toolu_1", "lookup", '{"city": "Oslo"}'), ToolCall("toolu_2", "lookup", '{"city": "Rome"}')),
            ),
            ToolResultMessage("toolu_1", "lookup", "cold"),
            ToolResultMessage("toolu_2", "lookup", "Tool returned an error: timeout", is_error=True),
            UserMessage("Thanks, and Paris?"),
        ),
        (ToolSpec("lookup", "Look a city up", SCHEMA),),
        GenerationSettings(temperature=0.3, max_tokens=200, reasoning_effort="high"),
    )
    assert build_request_body("claude-x", request) == {
        "model": "claude-x",
        "max_tokens": 200,
        "stream": True,
        "system": "Be brief.",
        "temperature": 0.3,
        "tools": [{"name": "lookup", "description": "Look a city up", "input_schema": SCHEMA}],
        "messages": [
            {"role": "user", "content": "Weather in Oslo and Rome?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"city": "Oslo"}},
                    {"type": "tool_use", "id": "toolu_2", "name": "lookup", "input": {"city": "Rome"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "cold"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_2",
                        "content": "Tool returned an error: timeout",
                        "is_error": True,
                    },
                    {"type": "text", "text": "Thanks, and Paris?"},
                ],
            },
        ],
    }


def test_max_tokens_defaults_when_the_agent_sets_none() -> None:
    body = build_request_body("claude-x", ChatRequest((UserMessage("Hi"),)))
    assert body["max_tokens"] == DEFAULT_MAX_TOKENS == 8192
    assert build_request_body("claude-x", ChatRequest((UserMessage("Hi"),)), default_max_tokens=99)["max_tokens"] == 99
    assert {"system", "tools", "temperature"}.isdisjoint(body)


def test_several_system_messages_are_joined() -> None:
    body = build_request_body("m", ChatRequest((SystemMessage("One."), SystemMessage("Two."), UserMessage("Hi"))))
    assert body["system"] == "One.\n\nTwo."


def test_empty_assistant_turns_are_dropped_and_the_user_turns_around_them_merged() -> None:
    body = build_request_body("m", ChatRequest((UserMessage("a"), AssistantMessage(""), UserMessage("b"))))
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
    ]


@pytest.mark.parametrize("arguments", ["not json", "[1, 2]", ""])
def test_tool_use_input_is_always_an_object(arguments: str) -> None:
    request = ChatRequest((UserMessage("a"), AssistantMessage("", (ToolCall("t1", "f", arguments),))))
    [block] = build_request_body("m", request)["messages"][1]["content"]
    assert block == {"type": "tool_use", "id": "t1", "name": "f", "input": {}}


def test_images_become_base64_or_url_sources() -> None:
    content = (
        TextPart("Compare:"),
        ImagePart("data:image/png;base64,iVBORw0KGgo="),
        ImagePart("data:application/octet-stream;base64,AAAA", media_type="image/jpeg"),
        ImagePart("https://example.test/cat.webp"),
    )
    [message] = build_request_body("m", ChatRequest((UserMessage(content),)))["messages"]
    assert message["content"] == [
        {"type": "text", "text": "Compare:"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "AAAA"}},
        {"type": "image", "source": {"type": "url", "url": "https://example.test/cat.webp"}},
    ]


def test_a_data_url_that_is_not_base64_is_a_clear_bad_request() -> None:
    with pytest.raises(ProviderError) as raised:
        build_request_body("m", ChatRequest((UserMessage((ImagePart("data:image/png,rawbytes"),)),)))
    assert raised.value.kind is ProviderErrorKind.BAD_REQUEST
    assert "data: URL" in raised.value.message


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": ""}, "`model` must name a model"),
        ({"api_key": ""}, "`api_key` is empty"),
        ({"default_max_tokens": 0}, "`default_max_tokens` must be positive"),
        ({"request_timeout": -1}, "`request_timeout` must be positive"),
    ],
)
def test_constructor_rejects_bad_arguments_clearly(kwargs: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"model": "claude-x", "api_key": KEY, **kwargs}
    with pytest.raises(ValueError, match=message):
        AnthropicChatModel(**arguments)


# --- the event reader ---------------------------------------------------------------------------


def message_start(input_tokens: int = 10, **cache: int) -> dict[str, Any]:
    usage = {"input_tokens": input_tokens, "output_tokens": 1, **cache}
    return {"type": "message_start", "message": {"id": "msg", "role": "assistant", "content": [], "usage": usage}}


def block_start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def delta(index: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": body}


def block_stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def message_end(stop_reason: str, output_tokens: int = 5) -> list[dict[str, Any]]:
    return [
        {"type": "message_delta", "delta": {"stop_reason": stop_reason}, "usage": {"output_tokens": output_tokens}},
        {"type": "message_stop"},
    ]


def read(*events: object) -> list[ModelEvent]:
    reader = MessageStreamReader()
    out: list[ModelEvent] = []
    for event in events:
        out.extend(reader.feed(event))
    return out + reader.finish()


def read_error(*events: object) -> ProviderError:
    with pytest.raises(ProviderError) as raised:
        read(*events)
    return raised.value


def test_thinking_text_and_tool_use_blocks_in_stream_order() -> None:
    events = read(
        message_start(12),
        {"type": "ping"},
        block_start(0, {"type": "thinking", "thinking": ""}),
        delta(0, {"type": "thinking_delta", "thinking": "Need the "}),
        delta(0, {"type": "thinking_delta", "thinking": "weather."}),
        delta(0, {"type": "signature_delta", "signature": "sig"}),
        block_stop(0),
        block_start(1, {"type": "text", "text": ""}),
        delta(1, {"type": "text_delta", "text": "Let me "}),
        delta(1, {"type": "text_delta", "text": "check."}),
        block_stop(1),
        block_start(2, {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {}}),
        delta(2, {"type": "input_json_delta", "partial_json": ""}),
        delta(2, {"type": "input_json_delta", "partial_json": '{"city": '}),
        delta(2, {"type": "input_json_delta", "partial_json": '"Oslo"}'}),
        block_stop(2),
        block_start(3, {"type": "tool_use", "id": "toolu_2", "name": "noop", "input": {}}),
        block_stop(3),
        *message_end("tool_use", 30),
    )
    assert events == [
        ReasoningDelta("Need the "),
        ReasoningDelta("weather."),
        TextDelta("Let me "),
        TextDelta("check."),
        ToolCallReady(ToolCall("toolu_1", "lookup", '{"city": "Oslo"}')),
        ToolCallReady(ToolCall("toolu_2", "noop", "{}")),
        UsageReported(Usage(12, 30, 42)),
        ModelFinished(FinishReason.TOOL_CALLS),
    ]


def test_prompt_tokens_include_cache_tokens_and_the_last_output_count_wins() -> None:
    events = read(
        message_start(3, cache_creation_input_tokens=100, cache_read_input_tokens=1000),
        {"type": "message_delta", "delta": {}, "usage": {"output_tokens": 4}},
        *message_end("end_turn", 9),
    )
    assert UsageReported(Usage(1103, 9, 1112)) in events


def test_a_tool_use_block_with_its_input_up_front_keeps_it() -> None:
    events = read(
        message_start(),
        block_start(0, {"type": "tool_use", "id": "t", "name": "f", "input": {"a": 1}}),
        block_stop(0),
        *message_end("tool_use"),
    )
    assert events[0] == ToolCallReady(ToolCall("t", "f", '{"a": 1}'))


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", FinishReason.STOP),
        ("stop_sequence", FinishReason.STOP),
        ("refusal", FinishReason.STOP),
        ("tool_use", FinishReason.TOOL_CALLS),
        ("max_tokens", FinishReason.LENGTH),
        ("model_context_window_exceeded", FinishReason.LENGTH),
        ("something_new", FinishReason.STOP),
    ],
)
def test_stop_reasons_map_to_finish_reasons(stop_reason: str, finish: FinishReason) -> None:
    assert read(message_start(), *message_end(stop_reason))[-1] == ModelFinished(finish)


def test_a_stream_cut_off_before_message_stop_is_a_connection_error() -> None:
    error = read_error(
        message_start(), block_start(0, {"type": "text", "text": ""}), delta(0, {"type": "text_delta", "text": "Hi"})
    )
    assert error.kind is ProviderErrorKind.CONNECTION
    assert "message_stop" in error.message


def test_an_error_event_is_a_provider_error_of_its_type() -> None:
    error = read_error(
        message_start(), {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    )
    assert error.kind is ProviderErrorKind.SERVER_ERROR
    assert "Overloaded" in error.message


@pytest.mark.parametrize(
    ("event", "what"),
    [
        ("text", "not an object"),
        ({"type": "message_start"}, "no `message` object"),
        (block_start(0, {"type": "tool_use", "id": "t"}), "lacks an `id` or `name`"),
        (delta(0, {"type": "input_json_delta", "partial_json": "{"}), "not a tool_use block"),
        (delta(0, {"type": "text_delta", "text": 5}), "no string `text`"),
        ({"type": "content_block_stop"}, "no integer `index`"),
        ({"type": "message_delta", "delta": {}, "usage": {"output_tokens": "many"}}, "non-negative integer"),
    ],
)
def test_malformed_events_are_malformed_response_errors(event: object, what: str) -> None:
    error = read_error(event)
    assert error.kind is ProviderErrorKind.MALFORMED_RESPONSE
    assert what in error.message


# --- error classification -----------------------------------------------------------------------


def status_exception(
    cls: type[anthropic.APIStatusError], status: int, error_type: str, message: str, **headers: str
) -> Exception:
    body = {"type": "error", "error": {"type": error_type, "message": message}}
    response = httpx2.Response(status, request=httpx2.Request("POST", URL), json=body, headers=headers)
    return cls(f"Error code: {status} - {body}", response=response, body=body)


def classify(error: Exception) -> ProviderError:
    classified = classify_anthropic_error(error, where="https://api.anthropic.example", secrets=(KEY,))
    assert classified is not None, f"{error!r} was not recognised as a provider error"
    return classified


def test_401_is_authentication_with_the_key_redacted() -> None:
    error = classify(status_exception(anthropic.AuthenticationError, 401, "authentication_error", f"bad key {KEY}"))
    assert error.kind is ProviderErrorKind.AUTHENTICATION
    assert error.status_code == 401
    assert KEY not in str(error)
    assert REDACTED in error.message


@pytest.mark.parametrize(
    ("cls", "status", "error_type", "message", "kind"),
    [
        (anthropic.RateLimitError, 429, "rate_limit_error", "slow down", ProviderErrorKind.RATE_LIMITED),
        (anthropic.InternalServerError, 500, "api_error", "oops", ProviderErrorKind.SERVER_ERROR),
        (anthropic.OverloadedError, 529, "overloaded_error", "Overloaded", ProviderErrorKind.SERVER_ERROR),
        (anthropic.NotFoundError, 404, "not_found_error", "model: claude-9", ProviderErrorKind.BAD_REQUEST),
        (
            anthropic.BadRequestError,
            400,
            "invalid_request_error",
            "prompt is too long: 210000 tokens > 200000 maximum",
            ProviderErrorKind.CONTEXT_OVERFLOW,
        ),
    ],
)
def test_status_errors_map_to_their_kind(
    cls: type[anthropic.APIStatusError], status: int, error_type: str, message: str, kind: ProviderErrorKind
) -> None:
    error = classify(status_exception(cls, status, error_type, message))
    assert (error.kind, error.status_code) == (kind, status)
    assert message in error.message


def test_an_in_stream_error_event_is_classified_by_its_type_not_the_200_status() -> None:
    error = classify(status_exception(anthropic.APIStatusError, 200, "overloaded_error", "Overloaded"))
    assert error.kind is ProviderErrorKind.SERVER_ERROR
    assert error.status_code is None
    limited = classify(status_exception(anthropic.APIStatusError, 200, "rate_limit_error", "slow"))
    assert limited.kind is ProviderErrorKind.RATE_LIMITED


def test_the_retry_after_header_reaches_the_retry_policy() -> None:
    limited = status_exception(anthropic.RateLimitError, 429, "rate_limit_error", "slow", **{"retry-after": "12"})
    assert retry_after_hint(limited) == 12.0
    in_stream = status_exception(anthropic.APIStatusError, 200, "overloaded_error", "x", **{"retry-after": "12"})
    assert retry_after_hint(in_stream) is None


def test_transport_failures_mid_stream_are_connection_or_timeout_errors() -> None:
    assert classify(httpx2.RemoteProtocolError("incomplete chunked read")).kind is ProviderErrorKind.CONNECTION
    assert classify(httpx2.ReadTimeout("read timed out")).kind is ProviderErrorKind.TIMEOUT
    assert classify(anthropic.APITimeoutError(httpx2.Request("POST", URL))).kind is ProviderErrorKind.TIMEOUT


def test_bugs_are_not_provider_errors() -> None:
    assert classify_anthropic_error(AttributeError("x"), where="here") is None
