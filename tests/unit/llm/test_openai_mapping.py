"""OpenAI adapter without I/O: request bodies, the chunk reader, SSE decoding, the adapter over an in-memory
transport, error classification, shared error helpers."""

from __future__ import annotations

import asyncio
import email.utils
import itertools
import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from typing import Any

import httpx2
import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aura.adapters.llm._errors import (
    REDACTED,
    kind_for_status,
    provider_message,
    redact,
    retry_after_seconds,
)
from aura.adapters.llm.openai import (
    DONE_DRAIN_SECONDS,
    ChatCompletionStreamReader,
    OpenAIChatModel,
    SseDataDecoder,
    build_request_body,
    classify_openai_error,
    decode_chunk,
    is_reasoning_model,
    retry_after_hint,
)
from aura.adapters.llm.retry import RetryPolicy
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
URL = "https://api.example.test/v1/chat/completions"
KEY = "test-key-abcdef123456"


# --- request bodies -----------------------------------------------------------------------------


def test_body_maps_every_message_kind_tools_and_streaming_options() -> None:
    request = ChatRequest(
        (
            SystemMessage("Be brief."),
            UserMessage("Hi"),
            UserMessage((TextPart("What is this?"), ImagePart("data:image/png;base64,AAAA", "image/png"))),
            AssistantMessage("", (ToolCall("call_1", "lookup", '{"city":"Oslo"}'), ToolCall("call_2", "noop", ""))),
            ToolResultMessage("call_1", "lookup", "cold", is_error=False),
            ToolResultMessage("call_2", "noop", "Tool returned an error: boom", is_error=True),
            AssistantMessage("It is cold.", reasoning="thought about it"),
        ),
        (ToolSpec("lookup", "Look a city up", SCHEMA),),
        GenerationSettings(temperature=0.2, max_tokens=50),
    )
    assert build_request_body("gpt-4o", request) == {
        "model": "gpt-4o",
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.2,
        "max_tokens": 50,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": '{"city":"Oslo"}'},
                    },
                    {"id": "call_2", "type": "function", "function": {"name": "noop", "arguments": "{}"}},
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "cold"},
            {"role": "tool", "tool_call_id": "call_2", "content": "Tool returned an error: boom"},
            {"role": "assistant", "content": "It is cold."},
        ],
        "tools": [
            {"type": "function", "function": {"name": "lookup", "description": "Look a city up", "parameters": SCHEMA}}
        ],
    }


def test_body_leaves_out_unset_settings_and_empty_tools() -> None:
    body = build_request_body("gpt-4o", ChatRequest((UserMessage("Hi"),)))
    assert set(body) == {"model", "messages", "stream", "stream_options"}


@pytest.mark.parametrize(
    ("model", "reasoning"),
    [
        ("o1", True),
        ("o3-mini", True),
        ("o4-mini-2025-04-16", True),
        ("gpt-5", True),
        ("gpt-5.1-codex", True),
        ("openai/gpt-5-mini", True),
        ("gpt-4o", False),
        ("gpt-4.1", False),
        ("llama-3.1-8b-instruct", False),
        ("deepseek-reasoner", False),
    ],
)
def test_reasoning_models_are_recognised_by_name(model: str, reasoning: bool) -> None:
    assert is_reasoning_model(model) is reasoning


def test_reasoning_models_get_max_completion_tokens_and_reasoning_effort() -> None:
    settings = GenerationSettings(max_tokens=100, reasoning_effort="high")
    body = build_request_body("o3-mini", ChatRequest((UserMessage("Hi"),), settings=settings))
    assert body["max_completion_tokens"] == 100
    assert body["reasoning_effort"] == "high"
    assert "max_tokens" not in body


def test_other_models_get_max_tokens_and_no_reasoning_effort() -> None:
    settings = GenerationSettings(max_tokens=100, reasoning_effort="high")
    body = build_request_body("gpt-4o", ChatRequest((UserMessage("Hi"),), settings=settings))
    assert body["max_tokens"] == 100
    assert "reasoning_effort" not in body
    assert "max_completion_tokens" not in body


async def test_dropped_reasoning_effort_is_warned_about_once(caplog: pytest.LogCaptureFixture) -> None:
    model = OpenAIChatModel("gpt-4o", KEY, "http://127.0.0.1:9/v1")
    try:
        with caplog.at_level(logging.WARNING, logger="aura.adapters.llm.openai"):
            for _ in range(3):
                model._warn_if_reasoning_effort_dropped(GenerationSettings(reasoning_effort="low"))
    finally:
        await model.aclose()
    [record] = caplog.records
    assert "reasoning_effort='low'" in record.getMessage()
    assert "gpt-4o" in record.getMessage()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": " "}, "`model` must name a model"),
        ({"api_key": ""}, "`api_key` is empty"),
        ({"request_timeout": 0}, "`request_timeout` must be positive"),
    ],
)
def test_constructor_rejects_bad_arguments_clearly(kwargs: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"model": "gpt-4o", "api_key": KEY, **kwargs}
    with pytest.raises(ValueError, match=message):
        OpenAIChatModel(**arguments)


# --- the chunk reader ---------------------------------------------------------------------------


def chunk(delta: dict[str, Any] | None = None, finish_reason: str | None = None, **extra: Any) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta or {}, "finish_reason": finish_reason}
    return {"id": "c", "object": "chat.completion.chunk", "choices": [choice], **extra}


def usage_chunk(prompt: int, completion: int) -> dict[str, Any]:
    return {"id": "c", "choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": completion}}


def read(*chunks: object) -> list[ModelEvent]:
    reader = ChatCompletionStreamReader()
    events: list[ModelEvent] = []
    for data in chunks:
        events.extend(reader.feed(data))
    return events + reader.finish()


def read_error(*chunks: object) -> ProviderError:
    with pytest.raises(ProviderError) as raised:
        read(*chunks)
    return raised.value


def test_text_usage_and_finish() -> None:
    events = read(
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hel"}),
        chunk({"content": "lo"}),
        chunk({}, "stop"),
        usage_chunk(9, 2),
    )
    assert events == [
        TextDelta("Hel"),
        TextDelta("lo"),
        UsageReported(Usage(9, 2, 11)),
        ModelFinished(FinishReason.STOP),
    ]


def test_a_stream_without_usage_still_finishes() -> None:
    assert read(chunk({"content": "ok"}), chunk({}, "stop")) == [TextDelta("ok"), ModelFinished(FinishReason.STOP)]


def test_a_stream_without_finish_reason_finishes_as_stop() -> None:
    assert read(chunk({"content": "ok"}))[-1] == ModelFinished(FinishReason.STOP)


def test_length_finish_reason_is_kept() -> None:
    assert read(chunk({"content": "ok"}), chunk({}, "length"))[-1] == ModelFinished(FinishReason.LENGTH)


def test_interleaved_tool_call_fragments_are_assembled_by_index_and_emitted_in_index_order() -> None:
    events = read(
        chunk({"tool_calls": [{"index": 1, "id": "call_b", "type": "function", "function": {"name": "two"}}]}),
        chunk({"tool_calls": [{"index": 0, "id": "call_a", "function": {"name": "one", "arguments": '{"x"'}}]}),
        chunk({"tool_calls": [{"index": 1, "function": {"arguments": '{"y": 2}'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}),
        chunk({}, "tool_calls"),
        usage_chunk(5, 5),
    )
    assert events == [
        ToolCallReady(ToolCall("call_a", "one", '{"x": 1}')),
        ToolCallReady(ToolCall("call_b", "two", '{"y": 2}')),
        UsageReported(Usage(5, 5, 10)),
        ModelFinished(FinishReason.TOOL_CALLS),
    ]


def test_tool_calls_are_ready_as_soon_as_the_choice_finishes() -> None:
    reader = ChatCompletionStreamReader()
    reader.feed(chunk({"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": "{}"}}]}))
    assert reader.feed(chunk({}, "tool_calls")) == [ToolCallReady(ToolCall("c1", "f", "{}"))]
    assert reader.finish() == [ModelFinished(FinishReason.TOOL_CALLS)]


def test_servers_that_repeat_id_and_name_on_every_fragment_are_not_doubled() -> None:
    fragment = {"index": 0, "id": "c1", "type": "function"}
    [ready, _] = read(
        chunk({"tool_calls": [{**fragment, "function": {"name": "lookup", "arguments": '{"city":'}}]}),
        chunk({"tool_calls": [{**fragment, "function": {"name": "lookup", "arguments": '"Rome"}'}}]}),
    )
    assert ready == ToolCallReady(ToolCall("c1", "lookup", '{"city":"Rome"}'))


def test_missing_id_is_synthesised_and_empty_arguments_become_an_empty_object() -> None:
    [ready, finished] = read(chunk({"tool_calls": [{"index": 0, "function": {"name": "ping"}}]}), chunk({}, "stop"))
    assert isinstance(ready, ToolCallReady)
    assert ready.call.id.startswith("call_")
    assert ready.call.arguments == "{}"
    assert finished == ModelFinished(FinishReason.TOOL_CALLS)  # a local server said "stop" after a tool call


def test_fragments_without_index_are_told_apart_by_id() -> None:
    events = read(
        chunk({"tool_calls": [{"id": "a", "function": {"name": "one", "arguments": "{"}}]}),
        chunk({"tool_calls": [{"function": {"arguments": "}"}}]}),
        chunk({"tool_calls": [{"id": "b", "function": {"name": "two", "arguments": "{}"}}]}),
    )
    assert [event.call for event in events if isinstance(event, ToolCallReady)] == [
        ToolCall("a", "one", "{}"),
        ToolCall("b", "two", "{}"),
    ]


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_fields_of_compatible_servers_become_reasoning_deltas(field: str) -> None:
    events = read(chunk({field: "Hmm."}), chunk({"content": "Yes."}))
    assert events[:2] == [ReasoningDelta("Hmm."), TextDelta("Yes.")]


def test_a_delta_carrying_both_reasoning_fields_counts_once() -> None:
    events = read(chunk({"reasoning_content": "Hmm.", "reasoning": "Hmm."}))
    assert [event for event in events if isinstance(event, ReasoningDelta)] == [ReasoningDelta("Hmm.")]


def test_other_choices_are_ignored() -> None:
    data = chunk({"content": "first"})
    data["choices"].append({"index": 1, "delta": {"content": "second"}, "finish_reason": None})
    assert read(data)[0] == TextDelta("first")


@pytest.mark.parametrize(
    ("data", "what"),
    [
        ([1, 2], "not an object"),
        ({"choices": "nope"}, "`choices` is not a list"),
        (chunk({"content": 5}), "`content` is not a string"),
        (chunk({"tool_calls": {"index": 0}}), "`tool_calls` is not a list"),
        (chunk({"tool_calls": [{"index": "0", "function": {"name": "f"}}]}), "`index` is not an integer"),
        (chunk({"tool_calls": [{"index": 0, "function": {"arguments": {"a": 1}}}]}), "JSON string"),
        ({"choices": [], "usage": {"prompt_tokens": -1}}, "non-negative integer"),
        (chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}), "has no function name"),
    ],
)
def test_malformed_chunks_are_malformed_response_errors(data: object, what: str) -> None:
    error = read_error(data)
    assert error.kind is ProviderErrorKind.MALFORMED_RESPONSE
    assert not error.retryable
    assert what in error.message


# --- SSE decoding -------------------------------------------------------------------------------


def decode_all(*pieces: bytes) -> list[bytes]:
    decoder = SseDataDecoder()
    return [data for piece in pieces for data in decoder.feed(piece)]


SSE_BODY = (
    b": keep-alive comment\n"
    b'event: message\nid: 7\nretry: 100\ndata: {"a": 1}\n\n'
    b'data:{"b": 2}\r\n\r\n'
    b'data: {"c":\r'
    b"data:  3}\r\r"
    b"data\n\n"
    b"database: not data\n\n"
    b"data: [DONE]\n\n"
)
SSE_EVENTS = [b'{"a": 1}', b'{"b": 2}', b'{"c":\n 3}', b"", b"[DONE]"]


def test_sse_events_are_split_on_lf_crlf_and_cr_with_data_lines_joined() -> None:
    assert decode_all(SSE_BODY) == SSE_EVENTS


@pytest.mark.parametrize("cut", range(1, len(SSE_BODY)))
def test_sse_events_survive_any_split_of_the_body(cut: int) -> None:
    assert decode_all(SSE_BODY[:cut], SSE_BODY[cut:]) == SSE_EVENTS


def test_sse_events_survive_a_body_fed_byte_by_byte() -> None:
    assert decode_all(*(SSE_BODY[i : i + 1] for i in range(len(SSE_BODY)))) == SSE_EVENTS


@given(st.lists(st.integers(min_value=0, max_value=len(SSE_BODY)), max_size=12))
def test_sse_events_survive_any_number_of_splits(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(SSE_BODY)]
    assert decode_all(*(SSE_BODY[a:b] for a, b in itertools.pairwise(bounds))) == SSE_EVENTS


def test_an_event_the_body_leaves_unfinished_is_dropped() -> None:
    assert decode_all(b'data: {"a": 1}\n\ndata: {"b"', b": 2}\n") == [b'{"a": 1}']


def test_events_without_data_are_not_dispatched() -> None:
    assert decode_all(b"event: ping\n\nid: 3\n\n\n\n: comment\n\n") == []


def test_an_in_stream_error_object_is_raised_like_the_sdk_raises_it() -> None:
    request = httpx2.Request("POST", URL)
    body = {"message": f"internal failure (key {KEY})", "type": "server_error", "code": 500}
    with pytest.raises(openai.APIError) as raised:
        decode_chunk(json.dumps({"error": body}).encode(), request)
    assert raised.value.body == body
    error = classify(raised.value)
    assert error.kind is ProviderErrorKind.SERVER_ERROR
    assert "internal failure" in error.message
    assert KEY not in error.message
    with pytest.raises(openai.APIError) as plain:
        decode_chunk(b'{"error": "overloaded"}', request)
    assert plain.value.body == "overloaded"
    assert decode_chunk(b'{"error": null, "choices": []}', request) == {"error": None, "choices": []}


def test_undecodable_event_data_is_malformed() -> None:
    request = httpx2.Request("POST", URL)
    with pytest.raises(ProviderError) as not_utf8:
        decode_chunk(b'{"choices": "\xff"}', request)
    assert not_utf8.value.kind is ProviderErrorKind.MALFORMED_RESPONSE
    with pytest.raises(json.JSONDecodeError) as not_json:
        decode_chunk(b'{"choices": [', request)
    assert classify(not_json.value).kind is ProviderErrorKind.MALFORMED_RESPONSE


# --- the adapter over an in-memory transport ----------------------------------------------------


class ScriptedBody(httpx2.AsyncByteStream):
    """A response body sent in pieces; an exception in `pieces` is raised there, `None` never ends."""

    def __init__(self, pieces: Sequence[bytes | Exception | None]) -> None:
        self.pieces = pieces
        self.sent = 0
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            if piece is None:
                await asyncio.sleep(3600)
            elif isinstance(piece, Exception):
                raise piece
            else:
                self.sent += 1
                yield piece

    async def aclose(self) -> None:
        self.closed = True


class ScriptedUpstream:
    """Answers each request with the next scripted response; records requests and response bodies."""

    def __init__(self, *responses: Callable[[], httpx2.Response]) -> None:
        self.responses = list(responses)
        self.requests: list[httpx2.Request] = []
        self.bodies: list[ScriptedBody] = []

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        response = self.responses.pop(0)()
        if isinstance(response.stream, ScriptedBody):
            self.bodies.append(response.stream)
        return response

    def model(self, model: str = "gpt-4o") -> OpenAIChatModel:
        chat_model = OpenAIChatModel(
            model, KEY, "https://api.example.test/v1", retry=RetryPolicy(max_attempts=2, base_delay=0.001)
        )
        chat_model._client = openai.AsyncOpenAI(
            api_key=KEY,
            base_url="https://api.example.test/v1",
            max_retries=0,
            http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(self.handle)),
        )
        return chat_model


def sse(*pieces: bytes | Exception | None) -> Callable[[], httpx2.Response]:
    return lambda: httpx2.Response(200, headers={"content-type": "text/event-stream"}, stream=ScriptedBody(pieces))


def event(data: dict[str, Any] | str) -> bytes:
    return f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n".encode()


def status(code: int, message: str, **headers: str) -> Callable[[], httpx2.Response]:
    return lambda: httpx2.Response(code, json={"error": {"message": message, "type": "x"}}, headers=headers)


REQUEST = ChatRequest((SystemMessage("Be brief."), UserMessage("Hi")), settings=GenerationSettings(temperature=0.1))


async def collect(model: OpenAIChatModel, request: ChatRequest = REQUEST) -> list[ModelEvent]:
    try:
        return [item async for item in model.stream(request)]
    finally:
        await model.aclose()


async def collect_error(model: OpenAIChatModel) -> tuple[list[ModelEvent], ProviderError]:
    events: list[ModelEvent] = []

    async def consume() -> None:
        async for item in model.stream(REQUEST):
            events.append(item)

    try:
        with pytest.raises(ProviderError) as raised:
            await consume()
    finally:
        await model.aclose()
    return events, raised.value


async def test_the_body_built_by_the_mapping_is_what_goes_on_the_wire() -> None:
    upstream = ScriptedUpstream(sse(event("[DONE]")))
    await collect(upstream.model())
    [request] = upstream.requests
    assert (request.method, str(request.url)) == ("POST", URL)
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(request.content) == build_request_body("gpt-4o", REQUEST)


async def test_a_stream_in_odd_pieces_with_crlf_is_read_up_to_done() -> None:
    wire = (
        event(chunk({"role": "assistant", "content": ""}))
        + event(chunk({"reasoning_content": "Hmm."}))
        + event(chunk({"content": "Hel"}))
        + event(chunk({"content": "lo"}))
        + event(chunk({}, "stop"))
        + event(usage_chunk(9, 2))
    ).replace(b"\n", b"\r\n")
    upstream = ScriptedUpstream(
        sse(wire[:7], wire[7:90], wire[90:], b"data: [DONE]\r\n\r\n", event(chunk({"content": "late"})))
    )
    assert await collect(upstream.model()) == [
        ReasoningDelta("Hmm."),
        TextDelta("Hel"),
        TextDelta("lo"),
        UsageReported(Usage(9, 2, 11)),
        ModelFinished(FinishReason.STOP),
    ]
    assert upstream.bodies[0].closed


async def test_tool_calls_are_assembled_from_the_wire() -> None:
    opening = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": ""}}
    upstream = ScriptedUpstream(
        sse(
            event(chunk({"tool_calls": [opening]})),
            event(chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]})),
            event(chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Oslo"}'}}]})),
            event(chunk({}, "tool_calls")),
            event("[DONE]"),
        )
    )
    assert await collect(upstream.model()) == [
        ToolCallReady(ToolCall("call_1", "lookup", '{"city":"Oslo"}')),
        ModelFinished(FinishReason.TOOL_CALLS),
    ]


async def test_a_consumer_that_stops_early_closes_the_response_at_once() -> None:
    upstream = ScriptedUpstream(sse(event(chunk({"content": "one"})), event(chunk({"content": "two"})), None))
    model = upstream.model()
    events = model.stream(REQUEST)
    assert isinstance(events, AsyncGenerator)
    try:
        assert await anext(events) == TextDelta("one")
        await events.aclose()
    finally:
        await model.aclose()
    assert upstream.bodies[0].closed
    assert upstream.bodies[0].sent == 1


async def test_a_server_that_keeps_the_stream_open_after_done_is_not_waited_for() -> None:
    upstream = ScriptedUpstream(sse(event(chunk({"content": "ok"})), event("[DONE]"), None))
    started = time.monotonic()
    assert await collect(upstream.model()) == [TextDelta("ok"), ModelFinished(FinishReason.STOP)]
    assert time.monotonic() - started < DONE_DRAIN_SECONDS + 2
    assert upstream.bodies[0].closed


async def test_a_body_that_ends_without_done_finishes_cleanly() -> None:
    upstream = ScriptedUpstream(sse(event(chunk({"content": "ok"})), b'data: {"unfinished'))
    assert await collect(upstream.model()) == [TextDelta("ok"), ModelFinished(FinishReason.STOP)]


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        (httpx2.RemoteProtocolError("peer closed connection without sending complete message body"), "CONNECTION"),
        (httpx2.ReadTimeout("timed out"), "TIMEOUT"),
    ],
)
async def test_a_transport_failure_after_the_first_event_surfaces_and_is_not_retried(
    failure: Exception, kind: str
) -> None:
    upstream = ScriptedUpstream(sse(event(chunk({"content": "Partial"})), failure), sse(event("[DONE]")))
    events, error = await collect_error(upstream.model())
    assert events == [TextDelta("Partial")]
    assert error.kind is ProviderErrorKind[kind]
    assert "api.example.test" in error.message
    assert len(upstream.requests) == 1
    assert upstream.bodies[0].closed


async def test_a_transport_failure_before_the_first_event_is_retried() -> None:
    upstream = ScriptedUpstream(sse(httpx2.ReadError("reset")), sse(event(chunk({"content": "ok"})), event("[DONE]")))
    assert await collect(upstream.model()) == [TextDelta("ok"), ModelFinished(FinishReason.STOP)]
    assert len(upstream.requests) == 2


async def test_an_error_object_before_the_first_event_is_retried_then_reported_without_the_key() -> None:
    failure = event({"error": {"message": f"overloaded, key {KEY}", "type": "server_error"}})
    upstream = ScriptedUpstream(sse(failure), sse(failure))
    events, error = await collect_error(upstream.model())
    assert events == []
    assert error.kind is ProviderErrorKind.SERVER_ERROR
    assert "overloaded" in error.message
    assert KEY not in error.message
    assert len(upstream.requests) == 2


async def test_an_undecodable_chunk_is_malformed_and_not_retried() -> None:
    upstream = ScriptedUpstream(sse(event(chunk({"content": "ok"})), b'data: {"choices": [\n\n'), sse(event("[DONE]")))
    events, error = await collect_error(upstream.model())
    assert events == [TextDelta("ok")]
    assert error.kind is ProviderErrorKind.MALFORMED_RESPONSE
    assert "not valid JSON" in error.message
    assert len(upstream.requests) == 1


async def test_status_errors_before_the_stream_are_classified_and_retried_after_retry_after() -> None:
    upstream = ScriptedUpstream(
        status(429, "slow down", **{"retry-after-ms": "1"}), sse(event(chunk({"content": "ok"})), event("[DONE]"))
    )
    assert await collect(upstream.model()) == [TextDelta("ok"), ModelFinished(FinishReason.STOP)]
    assert len(upstream.requests) == 2
    denied = ScriptedUpstream(status(401, f"Incorrect API key provided: {KEY}"))
    _, error = await collect_error(denied.model())
    assert (error.kind, error.status_code) == (ProviderErrorKind.AUTHENTICATION, 401)
    assert KEY not in error.message
    assert len(denied.requests) == 1


# --- error classification -----------------------------------------------------------------------


def status_exception(cls: type[openai.APIStatusError], status: int, body: dict[str, Any], **headers: str) -> Exception:
    response = httpx2.Response(status, request=httpx2.Request("POST", URL), json={"error": body}, headers=headers)
    return cls(f"Error code: {status} - {body}", response=response, body=body)


def classify(error: Exception) -> ProviderError:
    classified = classify_openai_error(error, where="https://api.example.test/v1", secrets=(KEY,))
    assert classified is not None, f"{error!r} was not recognised as a provider error"
    return classified


def test_401_is_authentication_with_the_key_redacted() -> None:
    body = {
        "message": f"Incorrect API key provided: {KEY}.",
        "type": "invalid_request_error",
        "code": "invalid_api_key",
    }
    error = classify(status_exception(openai.AuthenticationError, 401, body))
    assert error.kind is ProviderErrorKind.AUTHENTICATION
    assert error.status_code == 401
    assert not error.retryable
    assert KEY not in str(error)
    assert REDACTED in str(error)
    assert "API key" in error.message


@pytest.mark.parametrize(
    ("cls", "status", "body", "kind"),
    [
        (openai.PermissionDeniedError, 403, {"message": "region"}, ProviderErrorKind.AUTHENTICATION),
        (
            openai.RateLimitError,
            429,
            {"message": "slow down", "code": "rate_limit_exceeded"},
            ProviderErrorKind.RATE_LIMITED,
        ),
        (openai.InternalServerError, 500, {"message": "oops"}, ProviderErrorKind.SERVER_ERROR),
        (openai.InternalServerError, 503, {"message": "overloaded"}, ProviderErrorKind.SERVER_ERROR),
        (openai.NotFoundError, 404, {"message": "The model `gpt-9` does not exist"}, ProviderErrorKind.BAD_REQUEST),
        (
            openai.BadRequestError,
            400,
            {"message": "This model's maximum context length is 128000 tokens.", "code": "context_length_exceeded"},
            ProviderErrorKind.CONTEXT_OVERFLOW,
        ),
        (openai.BadRequestError, 400, {"message": "Invalid 'tools[0].function.name'"}, ProviderErrorKind.BAD_REQUEST),
    ],
)
def test_status_errors_map_to_their_kind(
    cls: type[openai.APIStatusError], status: int, body: dict[str, Any], kind: ProviderErrorKind
) -> None:
    error = classify(status_exception(cls, status, body))
    assert (error.kind, error.status_code) == (kind, status)
    assert body["message"].split()[0] in error.message


def test_retryable_kinds_are_marked_retryable() -> None:
    limited = classify(status_exception(openai.RateLimitError, 429, {"message": "x"}))
    broken = classify(status_exception(openai.InternalServerError, 502, {"message": "x"}))
    bad = classify(status_exception(openai.BadRequestError, 400, {"message": "x"}))
    assert limited.retryable
    assert broken.retryable
    assert not bad.retryable


def test_the_retry_after_header_of_a_status_error_reaches_the_retry_policy() -> None:
    limited = status_exception(openai.RateLimitError, 429, {"message": "x"}, **{"retry-after": "7"})
    assert retry_after_hint(limited) == 7.0
    assert retry_after_hint(status_exception(openai.InternalServerError, 500, {"message": "x"})) is None
    assert retry_after_hint(openai.APITimeoutError(request=httpx2.Request("POST", URL))) is None


def test_timeouts_and_connection_failures() -> None:
    request = httpx2.Request("POST", URL)
    timeout = classify(openai.APITimeoutError(request=request))
    assert timeout.kind is ProviderErrorKind.TIMEOUT
    try:
        raise openai.APIConnectionError(request=request) from httpx2.ConnectError("Connection refused")
    except openai.APIConnectionError as error:
        connection = classify(error)
    assert connection.kind is ProviderErrorKind.CONNECTION
    assert "ConnectError: Connection refused" in connection.message
    assert "https://api.example.test/v1" in connection.message
    dropped = classify(httpx2.RemoteProtocolError("peer closed connection"))
    assert dropped.kind is ProviderErrorKind.CONNECTION


def test_an_error_object_inside_the_stream_is_a_server_error() -> None:
    body = {"message": "The server had an error", "type": "server_error", "param": None, "code": None}
    error = classify(openai.APIError("The server had an error", httpx2.Request("POST", URL), body=body))
    assert error.kind is ProviderErrorKind.SERVER_ERROR
    assert "The server had an error" in error.message


def test_undecodable_stream_data_is_malformed() -> None:
    try:
        json.loads('{"choices": [')
    except json.JSONDecodeError as decode_error:
        error = classify(decode_error)
    assert error.kind is ProviderErrorKind.MALFORMED_RESPONSE
    assert "not valid JSON" in error.message


def test_bugs_are_not_provider_errors() -> None:
    assert classify_openai_error(KeyError("x"), where="here") is None
    assert classify_openai_error(TypeError("x"), where="here") is None


# --- shared error helpers -----------------------------------------------------------------------


def test_retry_after_reads_milliseconds_seconds_and_http_dates() -> None:
    assert retry_after_seconds({"retry-after-ms": "250"}) == 0.25
    assert retry_after_seconds({"Retry-After": "3"}) == 3.0
    assert retry_after_seconds({"Retry-After": "-3"}) == 0.0
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert retry_after_seconds({"retry-after": date}, now=1_000_000) == pytest.approx(30)
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None
    assert retry_after_seconds(None) is None


def test_redact_removes_given_secrets_and_key_shaped_tokens() -> None:
    text = f"bad key {KEY}; also sk-proj-abcdefghijklmnop and AKIAABCDEFGHIJKLMNOP"
    redacted = redact(text, [KEY])
    assert KEY not in redacted
    assert "sk-proj" not in redacted
    assert "AKIA" not in redacted
    assert redacted.count(REDACTED) == 3
    assert redact("nothing secret", [""]) == "nothing secret"


@pytest.mark.parametrize(
    ("status", "message", "kind"),
    [
        (401, "", ProviderErrorKind.AUTHENTICATION),
        (403, "", ProviderErrorKind.AUTHENTICATION),
        (408, "", ProviderErrorKind.TIMEOUT),
        (429, "", ProviderErrorKind.RATE_LIMITED),
        (529, "", ProviderErrorKind.SERVER_ERROR),
        (400, "prompt is too long: 210000 tokens > 200000 maximum", ProviderErrorKind.CONTEXT_OVERFLOW),
        (400, "rate limit exceeded", ProviderErrorKind.BAD_REQUEST),
        (422, "bad schema", ProviderErrorKind.BAD_REQUEST),
    ],
)
def test_kind_for_status(status: int, message: str, kind: ProviderErrorKind) -> None:
    assert kind_for_status(status, message) is kind


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"error": {"message": "nested"}}, "nested"),
        ({"message": "flat"}, "flat"),
        ({"error": "plain string"}, "plain string"),
        ("<html>  Bad   Gateway </html>", "<html> Bad Gateway </html>"),
        (None, "fallback"),
        ({"error": {"message": ""}}, "fallback"),
    ],
)
def test_provider_message_finds_the_human_text(body: object, text: str) -> None:
    assert provider_message(body, "fallback") == text
