"""OpenAI adapter: request bodies, the chunk reader, SSE decoding, the adapter against a real HTTP server on
loopback (scripted replies: event streams in pieces, hung and dropped connections, error statuses), error
classification, shared error helpers."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import gc
import itertools
import json
import logging
import socket
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import attrs
import pytest
from aiohttp import web
from hypothesis import given, settings
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
    classify_transport_error,
    decode_chunk,
    is_reasoning_model,
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
            {
                "type": "function",
                "function": {
                    "name": "lookup",
                    "description": "Look a city up",
                    "parameters": {**SCHEMA, "additionalProperties": False},
                    "strict": True,
                },
            }
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
        ({"request_timeout": -1.0}, "`request_timeout` must be positive"),
        ({"max_connections": 0}, "`max_connections` must be at least 1"),
        ({"base_url": "ftp://x"}, r"`base_url` must be an http\(s\) URL"),
        ({"base_url": "not a url"}, r"`base_url` must be an http\(s\) URL"),
        ({"base_url": "http://"}, r"`base_url` must be an http\(s\) URL"),
        ({"base_url": "http://host/v1?api-version=1"}, "without query or fragment"),
        ({"base_url": "http://host/v1#frag"}, "without query or fragment"),
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


def test_an_in_stream_error_object_is_raised_as_a_provider_error_without_the_key() -> None:
    body = {"message": f"internal failure (key {KEY})", "type": "server_error", "code": 500}
    with pytest.raises(ProviderError) as raised:
        decode_chunk(json.dumps({"error": body}).encode(), (KEY,))
    assert raised.value.kind is ProviderErrorKind.SERVER_ERROR
    assert raised.value.retryable
    assert "internal failure" in raised.value.message
    assert KEY not in raised.value.message
    with pytest.raises(ProviderError) as plain:
        decode_chunk(b'{"error": "overloaded"}')
    assert plain.value.kind is ProviderErrorKind.SERVER_ERROR
    assert "overloaded" in plain.value.message
    assert decode_chunk(b'{"error": null, "choices": []}') == {"error": None, "choices": []}


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ({"message": "The server had an error", "type": "server_error"}, ProviderErrorKind.SERVER_ERROR),
        ({"message": "slow down", "type": "rate_limit_error"}, ProviderErrorKind.RATE_LIMITED),
        ({"message": "bad key", "code": "invalid_api_key"}, ProviderErrorKind.AUTHENTICATION),
        ({"message": "no such parameter", "type": "invalid_request_error"}, ProviderErrorKind.BAD_REQUEST),
        (
            {"message": "This model's maximum context length is 8192 tokens", "type": "invalid_request_error"},
            ProviderErrorKind.CONTEXT_OVERFLOW,
        ),
        ({"message": "something odd", "type": "unheard_of"}, ProviderErrorKind.SERVER_ERROR),
    ],
)
def test_an_in_stream_error_object_gets_the_kind_of_its_type(error: dict[str, Any], kind: ProviderErrorKind) -> None:
    with pytest.raises(ProviderError) as raised:
        decode_chunk(json.dumps({"error": error}).encode())
    assert raised.value.kind is kind
    assert error["message"].split()[0] in raised.value.message


def test_undecodable_event_data_is_malformed() -> None:
    with pytest.raises(ProviderError) as not_utf8:
        decode_chunk(b'{"choices": "\xff"}')
    assert not_utf8.value.kind is ProviderErrorKind.MALFORMED_RESPONSE
    assert "not valid UTF-8" in not_utf8.value.message
    with pytest.raises(ProviderError) as not_json:
        decode_chunk(b'{"choices": [')
    assert not_json.value.kind is ProviderErrorKind.MALFORMED_RESPONSE
    assert not not_json.value.retryable
    assert "not valid JSON" in not_json.value.message


def test_chunks_the_fast_decoder_refuses_are_decoded_as_the_standard_library_does() -> None:
    # orjson stops at 64-bit integers, NaN and a lone UTF-16 surrogate escape; providers have sent all three
    huge = 2**70
    assert decode_chunk(f'{{"created": {huge}, "choices": []}}'.encode()) == {"created": huge, "choices": []}
    nan = decode_chunk(b'{"choices": [], "score": NaN}')
    assert isinstance(nan, dict)
    assert nan["score"] != nan["score"]
    assert decode_chunk(b'{"choices": [{"delta": {"content": "\\ud800"}}]}') == {
        "choices": [{"delta": {"content": "\ud800"}}]
    }


@settings(max_examples=200)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text(),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
        max_leaves=12,
    )
)
def test_the_fast_decoder_reads_any_chunk_as_the_standard_library_does(value: Any) -> None:
    chunk = {"choices": [{"index": 0, "delta": {"content": "x"}}], "extra": value}
    try:
        data = json.dumps(chunk, ensure_ascii=False).encode()
    except UnicodeEncodeError:  # text with a lone surrogate is not UTF-8: sent escaped, as a provider would
        data = json.dumps(chunk).encode()
    assert decode_chunk(data) == json.loads(data)


# --- the adapter against a real HTTP server -----------------------------------------------------

HANG = "hang"  # a script step: keep the response open until the client closes the connection
DROP = "drop"  # a script step: close the connection without ending the body
PIECE_PAUSE = 0.01  # between the pieces of a scripted body, so they arrive as separate reads
HANG_LIMIT = 10.0  # a hanging response gives up after this long, so a broken test cannot hang the run
FAST_RETRY = RetryPolicy(max_attempts=2, base_delay=0.001)
NO_RETRY = RetryPolicy(max_attempts=1)
RETRYABLE_KINDS = {
    ProviderErrorKind.RATE_LIMITED,
    ProviderErrorKind.SERVER_ERROR,
    ProviderErrorKind.TIMEOUT,
    ProviderErrorKind.CONNECTION,
}


@attrs.define
class Served:
    """One request the fake upstream answered, and what became of its connection."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: Any
    peer_port: int
    pieces_written: int = 0
    body_ended: bool = False  # the response was completed (the terminating chunk sent)
    closed: asyncio.Event = attrs.field(factory=asyncio.Event)  # see `closed_by_client`
    response: web.StreamResponse | None = None  # once its status and headers are sent

    @property
    def closed_by_client(self) -> bool:
        """Did the client close the connection while the response was still open?"""
        return self.closed.is_set()

    async def wait_closed(self, within: float = 1.0) -> bool:
        """Has the client closed the connection of this response (waiting up to `within` seconds)?"""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closed.wait(), within)
        return self.closed_by_client


Reply = Callable[[web.Request, Served], Awaitable[web.StreamResponse]]


async def start_response(
    request: web.Request, served: Served, code: int, content_type: str, headers: Mapping[str, str] | None = None
) -> web.StreamResponse:
    response = web.StreamResponse(status=code, headers={"Content-Type": content_type, **(headers or {})})
    await response.prepare(request)
    served.response = response
    return response


async def hang(transport: asyncio.BaseTransport, served: Served) -> None:
    """Keep the response open until the client closes the connection."""
    deadline = time.monotonic() + HANG_LIMIT
    while not transport.is_closing():
        if time.monotonic() > deadline:
            return
        await asyncio.sleep(0.005)
    served.closed.set()


def sse(*pieces: bytes | str | float) -> Reply:
    """A 200 event stream written piece by piece (each flushed after a pause); a number is a longer pause
    (in seconds) before the next piece; HANG and DROP as above."""

    async def reply(request: web.Request, served: Served) -> web.StreamResponse:
        transport = request.transport
        assert transport is not None
        response = await start_response(request, served, 200, "text/event-stream")
        for piece in pieces:
            if piece == HANG:
                await hang(transport, served)
                return response
            if piece == DROP:
                transport.close()
                return response
            if isinstance(piece, float):
                await asyncio.sleep(piece)
                continue
            assert isinstance(piece, bytes)
            await asyncio.sleep(PIECE_PAUSE)
            await response.write(piece)
            served.pieces_written += 1
        await asyncio.sleep(PIECE_PAUSE)  # the end of the body comes apart from [DONE], as from a real server
        await response.write_eof()
        served.body_ended = True
        return response

    return reply


def json_reply(
    body: object,
    code: int = 200,
    *,
    pieces: int = 1,
    headers: Mapping[str, str] | None = None,
    stall: bool = False,
) -> Reply:
    """A JSON document (an error body, or a non-streamed completion), optionally written in several pieces;
    `stall` sends only its first piece and then hangs."""

    async def reply(request: web.Request, served: Served) -> web.StreamResponse:
        data = json.dumps(body).encode()
        response = await start_response(request, served, code, "application/json", headers)
        size = -(-len(data) // pieces)
        for start in range(0, len(data), size):
            await response.write(data[start : start + size])
            served.pieces_written += 1
            if stall:
                assert request.transport is not None
                await hang(request.transport, served)
                return response
            await asyncio.sleep(PIECE_PAUSE)
        await response.write_eof()
        served.body_ended = True
        return response

    return reply


def status(code: int, message: str, *, pieces: int = 1, headers: Mapping[str, str] | None = None) -> Reply:
    return json_reply({"error": {"message": message, "type": "x"}}, code, pieces=pieces, headers=headers)


def text_status(code: int, text: str) -> Reply:
    async def reply(request: web.Request, served: Served) -> web.StreamResponse:
        return web.Response(status=code, text=text, content_type="text/html")

    return reply


def no_headers() -> Reply:
    """Never answer (not even the status line), until the client gives up."""

    async def reply(request: web.Request, served: Served) -> web.StreamResponse:
        assert request.transport is not None
        await hang(request.transport, served)
        return web.Response()  # never sent

    return reply


def disconnect() -> Reply:
    """Close the connection without answering at all."""

    async def reply(request: web.Request, served: Served) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.close()
        return web.Response()  # never sent

    return reply


class FakeUpstream:
    """A real HTTP server on 127.0.0.1 answering each request with the next scripted reply, recording them.

    A request beyond the script gets a 418 (a bad request, never retried), so a test that makes more requests
    than it scripted fails on its assertions instead of hanging.
    """

    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.served: list[Served] = []
        self.models: list[OpenAIChatModel] = []
        self._runner: web.AppRunner | None = None
        self._port = 0

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/v1"

    def model(self, model: str = "gpt-4o", *, retry: RetryPolicy = FAST_RETRY, **kwargs: Any) -> OpenAIChatModel:
        chat_model = OpenAIChatModel(model, KEY, self.base_url, retry=retry, **kwargs)
        self.models.append(chat_model)
        return chat_model

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        for chat_model in self.models:
            await chat_model.aclose()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        transport = request.transport
        assert transport is not None
        raw = await request.read()
        served = Served(
            request.method,
            request.path,
            request.headers.copy(),  # looked up case-insensitively
            json.loads(raw) if raw else None,
            transport.get_extra_info("peername")[1],
        )
        self.served.append(served)
        if not self.replies:
            return web.json_response({"error": {"message": "the fake upstream has no reply scripted"}}, status=418)
        try:
            return await self.replies.pop(0)(request, served)
        except ConnectionResetError:  # a write after the client closed the connection
            served.closed.set()
            if served.response is None:
                raise
            return served.response


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    server = FakeUpstream()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def event(data: dict[str, Any] | str) -> bytes:
    return f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n".encode()


DONE = event("[DONE]")
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


async def test_the_body_built_by_the_mapping_is_what_goes_on_the_wire(upstream: FakeUpstream) -> None:
    upstream.script(sse(DONE))
    assert await collect(upstream.model()) == [ModelFinished(FinishReason.STOP)]
    [served] = upstream.served
    assert (served.method, served.path) == ("POST", "/v1/chat/completions")
    assert served.headers["Authorization"] == f"Bearer {KEY}"
    assert served.body == build_request_body("gpt-4o", REQUEST)


async def test_the_request_asks_for_an_event_stream_and_names_aura(upstream: FakeUpstream) -> None:
    upstream.script(sse(DONE))
    await collect(upstream.model())
    [served] = upstream.served
    assert served.headers["Accept"] == "text/event-stream"
    assert served.headers["Content-Type"] == "application/json"
    assert served.headers["User-Agent"].startswith("aura/")


async def test_a_base_url_with_a_trailing_slash_gets_one_path(upstream: FakeUpstream) -> None:
    upstream.script(sse(DONE))
    await collect(OpenAIChatModel("gpt-4o", KEY, upstream.base_url + "/", retry=FAST_RETRY))
    assert [served.path for served in upstream.served] == ["/v1/chat/completions"]


async def test_a_stream_in_odd_pieces_with_crlf_is_read_up_to_done(upstream: FakeUpstream) -> None:
    wire = (
        event(chunk({"role": "assistant", "content": ""}))
        + event(chunk({"reasoning_content": "Hmm."}))
        + event(chunk({"content": "Hel"}))
        + event(chunk({"content": "lo"}))
        + event(chunk({}, "stop"))
        + event(usage_chunk(9, 2))
    ).replace(b"\n", b"\r\n")
    upstream.script(sse(wire[:7], wire[7:90], wire[90:], b"data: [DONE]\r\n\r\n", event(chunk({"content": "late"}))))
    assert await collect(upstream.model()) == [
        ReasoningDelta("Hmm."),
        TextDelta("Hel"),
        TextDelta("lo"),
        UsageReported(Usage(9, 2, 11)),
        ModelFinished(FinishReason.STOP),
    ]
    [served] = upstream.served
    assert served.pieces_written == 5  # the late event was sent, and not passed on


async def test_tool_calls_are_assembled_from_the_wire(upstream: FakeUpstream) -> None:
    opening = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": ""}}
    upstream.script(
        sse(
            event(chunk({"tool_calls": [opening]})),
            event(chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]})),
            event(chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Oslo"}'}}]})),
            event(chunk({}, "tool_calls")),
            DONE,
        )
    )
    assert await collect(upstream.model()) == [
        ToolCallReady(ToolCall("call_1", "lookup", '{"city":"Oslo"}')),
        ModelFinished(FinishReason.TOOL_CALLS),
    ]


async def test_a_consumer_that_stops_early_closes_the_connection_at_once(upstream: FakeUpstream) -> None:
    upstream.script(sse(event(chunk({"content": "one"})), HANG))
    model = upstream.model()
    events = model.stream(REQUEST)
    assert isinstance(events, AsyncGenerator)
    try:
        assert await anext(events) == TextDelta("one")
        await events.aclose()
        # closed by the stream itself, not by closing the adapter's session
        assert await upstream.served[0].wait_closed()
    finally:
        await model.aclose()


async def test_a_server_that_keeps_the_stream_open_after_done_is_not_waited_for(upstream: FakeUpstream) -> None:
    upstream.script(sse(event(chunk({"content": "ok"})), DONE, HANG))
    model = upstream.model()
    try:
        started = time.monotonic()
        assert [item async for item in model.stream(REQUEST)] == [TextDelta("ok"), ModelFinished(FinishReason.STOP)]
        assert DONE_DRAIN_SECONDS < time.monotonic() - started < 1.0  # the drain's brief wait, no more
        assert await upstream.served[0].wait_closed()  # cut off, not left open in the pool
    finally:
        await model.aclose()


async def test_a_body_that_ends_without_done_finishes_cleanly(upstream: FakeUpstream) -> None:
    upstream.script(sse(event(chunk({"content": "ok"})), b'data: {"unfinished'))
    assert await collect(upstream.model()) == [TextDelta("ok"), ModelFinished(FinishReason.STOP)]
    assert upstream.served[0].body_ended


async def test_sequential_streams_reuse_one_connection(upstream: FakeUpstream) -> None:
    upstream.script(
        sse(event(chunk({"content": "one"})), DONE),
        sse(event(chunk({"content": "two"})), DONE),
        sse(event(chunk({"content": "three"})), DONE),
    )
    model = upstream.model()
    try:
        for text in ("one", "two", "three"):
            assert [item async for item in model.stream(REQUEST)] == [TextDelta(text), ModelFinished(FinishReason.STOP)]
    finally:
        await model.aclose()
    # [DONE] is followed by reading the end of the body, which returns the connection to the pool
    assert len(upstream.served) == 3
    assert len({served.peer_port for served in upstream.served}) == 1


async def test_a_stream_cut_off_after_done_is_not_reused(upstream: FakeUpstream) -> None:
    upstream.script(sse(event(chunk({"content": "one"})), DONE, HANG), sse(event(chunk({"content": "two"})), DONE))
    model = upstream.model()
    try:
        assert [item async for item in model.stream(REQUEST)] == [TextDelta("one"), ModelFinished(FinishReason.STOP)]
        assert [item async for item in model.stream(REQUEST)] == [TextDelta("two"), ModelFinished(FinishReason.STOP)]
    finally:
        await model.aclose()
    assert upstream.served[0].closed_by_client
    assert upstream.served[0].peer_port != upstream.served[1].peer_port


async def test_a_dropped_connection_after_the_first_event_surfaces_and_is_not_retried(upstream: FakeUpstream) -> None:
    upstream.script(sse(event(chunk({"content": "Partial"})), DROP), sse(DONE))
    events, error = await collect_error(upstream.model())
    assert events == [TextDelta("Partial")]
    assert error.kind is ProviderErrorKind.CONNECTION
    assert upstream.base_url in error.message
    assert len(upstream.served) == 1


async def test_a_read_timeout_after_the_first_event_surfaces_and_is_not_retried(upstream: FakeUpstream) -> None:
    upstream.script(sse(event(chunk({"content": "Partial"})), HANG), sse(DONE))
    started = time.monotonic()
    events, error = await collect_error(upstream.model(request_timeout=0.3))
    assert time.monotonic() - started < 2
    assert events == [TextDelta("Partial")]
    assert error.kind is ProviderErrorKind.TIMEOUT
    assert upstream.base_url in error.message
    assert len(upstream.served) == 1
    assert await upstream.served[0].wait_closed()


@pytest.mark.parametrize("silence", [no_headers(), sse(HANG)], ids=["no-headers", "no-body"])
async def test_a_server_that_never_answers_times_out_and_is_retried(upstream: FakeUpstream, silence: Reply) -> None:
    upstream.script(silence, sse(event(chunk({"content": "ok"})), DONE))
    started = time.monotonic()
    assert await collect(upstream.model(request_timeout=0.2)) == [TextDelta("ok"), ModelFinished(FinishReason.STOP)]
    assert time.monotonic() - started < 1.5
    assert len(upstream.served) == 2
    assert await upstream.served[0].wait_closed()


async def test_a_server_that_never_answers_is_reported_as_a_timeout(upstream: FakeUpstream) -> None:
    upstream.script(no_headers(), sse(HANG))
    events, error = await collect_error(upstream.model(request_timeout=0.2))
    assert events == []
    assert error.kind is ProviderErrorKind.TIMEOUT
    assert upstream.base_url in error.message
    assert len(upstream.served) == 2


async def test_the_request_timeout_limits_each_silence_not_the_whole_stream(upstream: FakeUpstream) -> None:
    upstream.script(
        sse(
            event(chunk({"content": "a"})),
            0.2,
            event(chunk({"content": "b"})),
            0.2,
            event(chunk({"content": "c"})),
            DONE,
        )
    )
    started = time.monotonic()
    assert await collect(upstream.model(request_timeout=0.3)) == [
        TextDelta("a"),
        TextDelta("b"),
        TextDelta("c"),
        ModelFinished(FinishReason.STOP),
    ]
    assert time.monotonic() - started > 0.4  # longer than the timeout, in total
    assert len(upstream.served) == 1


@pytest.mark.parametrize(
    "stalled",
    [
        json_reply({"error": {"message": "overloaded", "type": "x"}}, 503, pieces=3, stall=True),
        json_reply({"error": {"message": "busy", "type": "server_error"}}, pieces=3, stall=True),
    ],
    ids=["error-status", "json-instead-of-stream"],
)
async def test_an_error_body_that_stalls_times_out(upstream: FakeUpstream, stalled: Reply) -> None:
    upstream.script(stalled)
    async with asyncio.timeout(1.0):  # the request timeout is 0.3 s: waiting longer fails the test
        _, error = await collect_error(upstream.model(request_timeout=0.3, retry=NO_RETRY))
    assert error.kind is ProviderErrorKind.TIMEOUT
    assert upstream.base_url in error.message


@pytest.mark.parametrize("failure", [sse(DROP), disconnect()], ids=["after-headers", "before-headers"])
async def test_a_transport_failure_before_the_first_event_is_retried(upstream: FakeUpstream, failure: Reply) -> None:
    upstream.script(failure, sse(event(chunk({"content": "ok"})), DONE))
    assert await collect(upstream.model()) == [TextDelta("ok"), ModelFinished(FinishReason.STOP)]
    assert len(upstream.served) == 2


async def test_a_transport_failure_on_every_attempt_is_reported_as_a_connection_error(upstream: FakeUpstream) -> None:
    upstream.script(disconnect(), disconnect())
    _, error = await collect_error(upstream.model())
    assert error.kind is ProviderErrorKind.CONNECTION
    assert upstream.base_url in error.message
    assert len(upstream.served) == 2


async def test_an_error_object_before_the_first_event_is_retried_then_reported_without_the_key(
    upstream: FakeUpstream,
) -> None:
    failure = event({"error": {"message": f"overloaded, key {KEY}", "type": "server_error"}})
    upstream.script(sse(failure), sse(failure))
    events, error = await collect_error(upstream.model())
    assert events == []
    assert error.kind is ProviderErrorKind.SERVER_ERROR
    assert "overloaded" in error.message
    assert KEY not in error.message
    assert len(upstream.served) == 2


async def test_an_undecodable_chunk_is_malformed_and_not_retried(upstream: FakeUpstream) -> None:
    upstream.script(sse(event(chunk({"content": "ok"})), b'data: {"choices": [\n\n'), sse(DONE))
    events, error = await collect_error(upstream.model())
    assert events == [TextDelta("ok")]
    assert error.kind is ProviderErrorKind.MALFORMED_RESPONSE
    assert "not valid JSON" in error.message
    assert len(upstream.served) == 1


async def test_status_errors_before_the_stream_are_retried_after_retry_after(upstream: FakeUpstream) -> None:
    upstream.script(
        status(429, "slow down", headers={"retry-after-ms": "200"}), sse(event(chunk({"content": "ok"})), DONE)
    )
    started = time.monotonic()
    assert await collect(upstream.model()) == [TextDelta("ok"), ModelFinished(FinishReason.STOP)]
    assert time.monotonic() - started >= 0.2  # base_delay alone would wait at most 1 ms
    assert len(upstream.served) == 2


async def test_a_rejected_key_is_not_retried_and_not_repeated(upstream: FakeUpstream) -> None:
    upstream.script(status(401, f"Incorrect API key provided: {KEY}"), sse(DONE))
    _, error = await collect_error(upstream.model())
    assert (error.kind, error.status_code) == (ProviderErrorKind.AUTHENTICATION, 401)
    assert not error.retryable
    assert "Incorrect API key provided" in error.message
    assert KEY not in str(error)
    assert REDACTED in error.message
    assert len(upstream.served) == 1


@pytest.mark.parametrize(
    ("code", "body", "kind"),
    [
        (403, {"message": "region not supported"}, ProviderErrorKind.AUTHENTICATION),
        (408, {"message": "request timed out"}, ProviderErrorKind.TIMEOUT),
        (429, {"message": "slow down", "code": "rate_limit_exceeded"}, ProviderErrorKind.RATE_LIMITED),
        (500, {"message": "oops"}, ProviderErrorKind.SERVER_ERROR),
        (502, {"message": "bad gateway"}, ProviderErrorKind.SERVER_ERROR),
        (503, {"message": "overloaded"}, ProviderErrorKind.SERVER_ERROR),
        (404, {"message": "The model `gpt-9` does not exist"}, ProviderErrorKind.BAD_REQUEST),
        (
            400,
            {"message": "This model's maximum context length is 128000 tokens.", "code": "context_length_exceeded"},
            ProviderErrorKind.CONTEXT_OVERFLOW,
        ),
        (400, {"message": "Invalid 'tools[0].function.name'"}, ProviderErrorKind.BAD_REQUEST),
        (422, {"message": "unprocessable"}, ProviderErrorKind.BAD_REQUEST),
    ],
)
async def test_status_errors_map_to_their_kind(
    upstream: FakeUpstream, code: int, body: dict[str, Any], kind: ProviderErrorKind
) -> None:
    upstream.script(json_reply({"error": body}, code))
    _, error = await collect_error(upstream.model(retry=NO_RETRY))
    assert (error.kind, error.status_code) == (kind, code)
    assert body["message"].split()[0] in error.message
    assert error.retryable is (kind in RETRYABLE_KINDS)


@pytest.mark.parametrize(("code", "retried"), [(429, True), (502, True), (503, True), (400, False), (404, False)])
async def test_retryable_statuses_are_retried_and_others_are_not(
    upstream: FakeUpstream, code: int, retried: bool
) -> None:
    upstream.script(status(code, "x"), sse(event(chunk({"content": "ok"})), DONE))
    model = upstream.model()
    if retried:
        assert await collect(model) == [TextDelta("ok"), ModelFinished(FinishReason.STOP)]
    else:
        _, error = await collect_error(model)
        assert not error.retryable
        assert error.status_code == code
    assert len(upstream.served) == (2 if retried else 1)


async def test_an_error_page_that_is_not_json_is_reported_by_its_text(upstream: FakeUpstream) -> None:
    upstream.script(text_status(502, "<html>  Bad   Gateway </html>"))
    _, error = await collect_error(upstream.model(retry=NO_RETRY))
    assert (error.kind, error.status_code) == (ProviderErrorKind.SERVER_ERROR, 502)
    assert "Bad Gateway" in error.message


async def test_an_empty_error_body_is_reported_by_its_status(upstream: FakeUpstream) -> None:
    upstream.script(text_status(503, ""))
    _, error = await collect_error(upstream.model(retry=NO_RETRY))
    assert (error.kind, error.status_code) == (ProviderErrorKind.SERVER_ERROR, 503)
    assert "HTTP 503" in error.message


async def test_an_error_body_that_arrives_in_pieces_is_read_whole(upstream: FakeUpstream) -> None:
    upstream.script(status(400, "Invalid 'messages[0].role'", pieces=4))
    _, error = await collect_error(upstream.model(retry=NO_RETRY))
    assert (error.kind, error.status_code) == (ProviderErrorKind.BAD_REQUEST, 400)
    assert "Invalid 'messages[0].role'" in error.message


@attrs.frozen
class RecordingRetry(RetryPolicy):
    """A retry policy that waits not at all and records the Retry-After it was handed."""

    hints: list[float | None] = attrs.field(factory=list)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        self.hints.append(retry_after)
        return 0.0


@pytest.mark.parametrize(
    ("failure", "hint"),
    [
        (status(429, "x", headers={"Retry-After": "7"}), 7.0),
        (status(503, "x", headers={"retry-after-ms": "1500"}), 1.5),
        (status(500, "x"), None),
        (sse(DROP), None),
    ],
)
async def test_the_retry_after_of_a_failure_reaches_the_retry_policy(
    upstream: FakeUpstream, failure: Reply, hint: float | None
) -> None:
    policy = RecordingRetry(max_attempts=2)
    upstream.script(failure, sse(DONE))
    assert await collect(upstream.model(retry=policy)) == [ModelFinished(FinishReason.STOP)]
    assert policy.hints == [hint]


# --- a 200 with a JSON document instead of an event stream --------------------------------------


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ({"message": f"quota exceeded for {KEY}", "type": "insufficient_quota"}, ProviderErrorKind.RATE_LIMITED),
        ({"message": f"key {KEY} is not allowed here", "type": "invalid_request_error"}, ProviderErrorKind.BAD_REQUEST),
        ({"message": f"upstream failed ({KEY})", "type": "server_error"}, ProviderErrorKind.SERVER_ERROR),
    ],
)
async def test_an_error_object_sent_as_json_instead_of_a_stream_gets_the_kind_of_its_type(
    upstream: FakeUpstream, error: dict[str, Any], kind: ProviderErrorKind
) -> None:
    upstream.script(json_reply({"error": error}))
    _, raised = await collect_error(upstream.model(retry=NO_RETRY))
    assert raised.kind is kind
    assert error["message"].split()[0] in raised.message
    assert KEY not in str(raised)


async def test_a_retryable_error_object_sent_as_json_is_retried(upstream: FakeUpstream) -> None:
    upstream.script(
        json_reply({"error": {"message": "busy", "type": "server_error"}}), sse(event(chunk({"content": "ok"})), DONE)
    )
    assert await collect(upstream.model()) == [TextDelta("ok"), ModelFinished(FinishReason.STOP)]
    assert len(upstream.served) == 2


async def test_a_completion_sent_as_json_instead_of_a_stream_is_malformed_and_not_retried(
    upstream: FakeUpstream,
) -> None:
    completion = {
        "id": "c",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    }
    upstream.script(json_reply(completion), sse(DONE))
    _, error = await collect_error(upstream.model())
    assert error.kind is ProviderErrorKind.MALFORMED_RESPONSE
    assert "instead of an event stream" in error.message
    assert len(upstream.served) == 1


async def test_an_error_object_sent_as_json_in_pieces_is_read_whole(upstream: FakeUpstream) -> None:
    upstream.script(json_reply({"error": {"message": "no such model", "type": "invalid_request_error"}}, pieces=4))
    _, error = await collect_error(upstream.model(retry=NO_RETRY))
    assert error.kind is ProviderErrorKind.BAD_REQUEST
    assert "no such model" in error.message


# --- transport error classification -------------------------------------------------------------

WHERE = "https://api.example.test/v1"


def classify(error: Exception) -> ProviderError:
    classified = classify_transport_error(error, where=WHERE, secrets=(KEY,))
    assert classified is not None, f"{error!r} was not recognised as a provider error"
    return classified


def test_timeouts_are_timeouts_and_say_whether_connecting_or_reading_timed_out() -> None:
    connecting = classify(aiohttp.ConnectionTimeoutError("Connection timeout to host"))
    assert connecting.kind is ProviderErrorKind.TIMEOUT
    assert connecting.retryable
    assert f"could not connect to {WHERE}" in connecting.message
    for error in (aiohttp.SocketTimeoutError("Timeout on reading data from socket"), TimeoutError()):
        reading = classify(error)
        assert reading.kind is ProviderErrorKind.TIMEOUT
        assert f"no response from {WHERE}" in reading.message


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (aiohttp.ClientPayloadError("Response payload is not completed"), "ClientPayloadError: Response payload"),
        (aiohttp.ServerDisconnectedError(), "ServerDisconnectedError: Server disconnected"),
        (ConnectionResetError(104, "Connection reset by peer"), "ConnectionResetError: [Errno 104]"),
        (OSError(), "connection to https://api.example.test/v1 failed: OSError"),
    ],
)
def test_connection_failures_name_the_url_and_the_cause(error: Exception, cause: str) -> None:
    classified = classify(error)
    assert classified.kind is ProviderErrorKind.CONNECTION
    assert classified.retryable
    assert f"connection to {WHERE} failed" in classified.message
    assert cause in classified.message


def test_a_connection_failure_naming_the_key_is_redacted() -> None:
    classified = classify(aiohttp.ClientConnectionError(f"proxy rejected {KEY}"))
    assert KEY not in classified.message
    assert REDACTED in classified.message


async def test_a_refused_connection_is_a_connection_error_naming_the_url() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}/v1"
    _, error = await collect_error(OpenAIChatModel("gpt-4o", KEY, base_url, retry=FAST_RETRY))
    assert error.kind is ProviderErrorKind.CONNECTION
    assert f"connection to {base_url} failed" in error.message
    assert "Connect" in error.message  # the cause: aiohttp's ClientConnectorError


def test_bugs_are_not_provider_errors() -> None:
    assert classify_transport_error(KeyError("x"), where="here") is None
    assert classify_transport_error(TypeError("x"), where="here") is None
    assert classify_transport_error(ValueError("x"), where="here") is None


async def test_a_bug_inside_the_stream_is_raised_as_it_is_and_not_retried(
    upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_: object) -> list[ModelEvent]:
        raise KeyError("bug")

    monkeypatch.setattr(ChatCompletionStreamReader, "finish", broken)
    upstream.script(sse(DONE), sse(DONE))
    with pytest.raises(KeyError, match="bug"):
        await collect(upstream.model())
    assert len(upstream.served) == 1


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


def test_one_model_serves_successive_event_loops(caplog: pytest.LogCaptureFixture) -> None:
    """A program calling `asyncio.run` per question reuses one adapter: each loop gets its own connections."""
    served: list[int] = []
    ready = threading.Event()
    stop: list[asyncio.Event] = []
    ports: list[int] = []

    async def answer(request: web.Request) -> web.StreamResponse:
        served.append(1)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(event(chunk({"content": f"answer {len(served)}"})) + b"data: [DONE]\n\n")
        return response

    async def serve() -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", answer)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        ports.append(runner.addresses[0][1])
        stop.append(asyncio.Event())
        ready.set()
        await stop[0].wait()
        await runner.cleanup()

    server_loop = asyncio.new_event_loop()
    thread = threading.Thread(target=server_loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    model = OpenAIChatModel("gpt-4o", KEY, f"http://127.0.0.1:{ports[0]}/v1", retry=RetryPolicy(max_attempts=1))

    async def ask() -> list[ModelEvent]:
        return [item async for item in model.stream(REQUEST)]

    try:
        with caplog.at_level(logging.ERROR, logger="asyncio"):
            first = asyncio.run(ask())
            second = asyncio.run(ask())
            asyncio.run(model.aclose())
            gc.collect()
    finally:
        server_loop.call_soon_threadsafe(stop[0].set)
        thread.join(10)
        server_loop.close()
    assert first == [TextDelta("answer 1"), ModelFinished(FinishReason.STOP)]
    assert second == [TextDelta("answer 2"), ModelFinished(FinishReason.STOP)]
    assert "Unclosed" not in caplog.text
