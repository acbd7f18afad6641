"""The SSE encoder: truncation, chunk shapes and key order, role and index rules, aura.* event fields."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aura.adapters.http.options import ServerOptions, ToolResultMode
from aura.adapters.http.sse import (
    DONE,
    HEARTBEAT,
    TRUNCATION_MARKER,
    ChunkEncoder,
    StreamIdentity,
    data_frame,
    json_bytes,
    truncate_utf8,
)
from aura.domain.events import (
    FinishReason,
    ReasoningDelta,
    RoundUsage,
    TextDelta,
    ToolCompleted,
    ToolProgress,
    ToolRequested,
    ToolStarted,
    TurnError,
    TurnErrorKind,
    TurnFinished,
)
from aura.domain.messages import ToolCall
from aura.domain.tools import ProgressUpdate, ToolResult
from aura.domain.usage import Usage

IDENTITY = StreamIdentity(
    completion_id="chatcmpl-11111111-2222-3333-4444-555555555555",
    created=1700000000,
    model="openai/gpt-4o",
    agent_id="helper",
    session_id="sess_1",
)
CALL = ToolCall("call_1", "list_files", '{"path": "/tmp"}')
SOME_USAGE = Usage(3, 4, 7)


def encoder(identity: StreamIdentity = IDENTITY, max_tokens: int | None = None, **options: Any) -> ChunkEncoder:
    return ChunkEncoder(identity, ServerOptions(**options), max_tokens=max_tokens)


def decode(frame: bytes) -> tuple[str | None, Any]:
    """(event name or None, parsed data) of one frame."""
    text = frame.decode()
    assert text.endswith("\n\n")
    lines = text[:-2].split("\n")
    event = None
    if lines[0].startswith("event: "):
        event = lines.pop(0)[len("event: ") :]
    assert len(lines) == 1
    assert lines[0].startswith("data: ")
    return event, json.loads(lines[0][len("data: ") :])


def finished(content: str = "", usage: Usage | None = SOME_USAGE, error: TurnError | None = None) -> TurnFinished:
    return TurnFinished(FinishReason.STOP, content, usage, usage, error=error)


# --- truncation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("Hello, world!", 5, "Hello... [truncated]"),
        ("Hello", 5, "Hello"),
        ("Hello 🎉 World", 8, "Hello ... [truncated]"),
        ("Hello 🎉 World", 10, "Hello 🎉... [truncated]"),
        ("Hello 🎉 World", 16, "Hello 🎉 World"),
        ("anything at all", 0, "anything at all"),
        ("", 3, ""),
    ],
)
def test_truncation_examples(text: str, limit: int, expected: str) -> None:
    assert truncate_utf8(text, limit) == expected


@given(st.text(), st.integers(min_value=1, max_value=64))
def test_truncation_never_splits_a_character_and_keeps_a_prefix(text: str, limit: int) -> None:
    result = truncate_utf8(text, limit)
    if len(text.encode()) <= limit:
        assert result == text
    else:
        assert result.endswith(TRUNCATION_MARKER)
        kept = result[: -len(TRUNCATION_MARKER)]
        assert text.startswith(kept)
        assert len(kept.encode()) <= limit
        next_char = text[len(kept)]
        assert len(kept.encode()) + len(next_char.encode()) > limit  # the largest boundary that fits


# --- chunks --------------------------------------------------------------------------------------


def test_text_chunk_shape_and_key_order() -> None:
    frame = encoder().encode(TextDelta("Hi"))[0]
    text = frame.decode()
    assert text == (
        'data: {"id":"chatcmpl-11111111-2222-3333-4444-555555555555","object":"chat.completion.chunk",'
        '"created":1700000000,"model":"openai/gpt-4o","choices":[{"index":0,"delta":{"role":"assistant",'
        '"content":"Hi"}}]}\n\n'
    )


def test_only_the_first_text_chunk_carries_the_role() -> None:
    enc = encoder()
    deltas = [decode(enc.encode(TextDelta(t))[0])[1]["choices"][0]["delta"] for t in ("a", "b", "c")]
    assert deltas == [{"role": "assistant", "content": "a"}, {"content": "b"}, {"content": "c"}]


@pytest.mark.parametrize("mode", list(ToolResultMode))
@pytest.mark.parametrize("custom_events", [False, True])
def test_server_tool_calls_never_become_tool_call_chunks(mode: ToolResultMode, custom_events: bool) -> None:
    enc = encoder(tool_result_mode=mode, aura_custom_events=custom_events)
    frames = [
        *enc.encode(ToolRequested(CALL)),
        *enc.encode(ToolStarted(CALL, "call_1")),
        *enc.encode(ToolCompleted(CALL, ToolResult("files"), 3)),
        *enc.encode(TextDelta("Done")),
        *enc.encode(finished("Done")),
    ]
    chunks = [decode(frame)[1] for frame in frames if frame.startswith(b"data: {")]
    assert all("tool_calls" not in chunk["choices"][0]["delta"] for chunk in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all("role" not in chunk["choices"][0]["delta"] for chunk in chunks[1:])


def test_the_first_chunk_carries_the_role_whatever_it_carries() -> None:
    final = TurnFinished(FinishReason.STOP, "", None, None)
    frames = encoder().encode(final)
    assert decode(frames[0])[1]["choices"][0] == {"index": 0, "delta": {"role": "assistant"}, "finish_reason": "stop"}
    handover = TurnFinished(FinishReason.TOOL_CALLS, "", None, None, client_tool_calls=(CALL,))
    first = decode(encoder().encode(handover)[0])[1]["choices"][0]["delta"]
    assert list(first) == ["role", "tool_calls"]
    assert first["role"] == "assistant"


def test_client_tool_calls_end_the_stream_with_a_tool_calls_delta_and_finish_reason() -> None:
    enc = encoder()
    enc.encode(TextDelta("Let me look."))
    other = ToolCall("call_2", "glob_files", "{}")
    final = TurnFinished(
        FinishReason.TOOL_CALLS, "Let me look.", SOME_USAGE, SOME_USAGE, client_tool_calls=(CALL, other)
    )
    frames = enc.encode(final)
    assert frames[-1] == DONE
    delta = decode(frames[0])[1]["choices"][0]["delta"]
    assert delta == {
        "tool_calls": [
            {
                "index": 0,
                "id": "call_1",
                "type": "function",
                "function": {"name": "list_files", "arguments": '{"path": "/tmp"}'},
            },
            {"index": 1, "id": "call_2", "type": "function", "function": {"name": "glob_files", "arguments": "{}"}},
        ]
    }
    last = decode(frames[-2])[1]
    assert last["choices"][0]["finish_reason"] == "tool_calls"
    assert last["usage"]["total_tokens"] == 7


def test_final_chunk_carries_finish_reason_and_aggregated_usage_then_done() -> None:
    enc = encoder()
    enc.encode(TextDelta("ok"))
    frames = enc.encode(finished("ok", Usage(20, 10, 30)))
    assert frames[-1] == DONE
    text = frames[-2].decode()
    assert text.endswith(
        '"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],'
        '"usage":{"prompt_tokens":20,"completion_tokens":10,"total_tokens":30}}\n\n'
    )
    _, chunk = decode(frames[-2])
    assert list(chunk) == ["id", "object", "created", "model", "choices", "usage"]
    assert list(chunk["choices"][0]) == ["index", "delta", "finish_reason"]


def test_non_final_chunks_have_no_finish_reason_and_no_usage() -> None:
    _, chunk = decode(encoder().encode(TextDelta("x"))[0])
    assert "finish_reason" not in chunk["choices"][0]
    assert "usage" not in chunk


@pytest.mark.parametrize(
    ("max_tokens", "completion", "model_finish", "expected"),
    [
        (None, 100, FinishReason.STOP, "stop"),
        (10, 9, FinishReason.STOP, "stop"),
        (10, 10, FinishReason.STOP, "length"),
        (None, 1, FinishReason.LENGTH, "length"),
    ],
)
def test_finish_reason_length(
    max_tokens: int | None, completion: int, model_finish: FinishReason, expected: str
) -> None:
    usage = Usage.of(5, completion)
    final = TurnFinished(model_finish, "x", usage, usage)
    frames = encoder(max_tokens=max_tokens).encode(final)
    assert decode(frames[-2])[1]["choices"][0]["finish_reason"] == expected


def test_turn_error_becomes_a_text_chunk_before_a_final_chunk_without_usage() -> None:
    enc = encoder()
    enc.encode(TextDelta("partial"))
    error = TurnError(TurnErrorKind.PROVIDER, "The upstream model provider failed.", "secret detail 500")
    frames = enc.encode(finished("partial", None, error))
    _, text = decode(frames[0])
    assert text["choices"][0]["delta"] == {"content": "\n\nThe upstream model provider failed."}
    _, final = decode(frames[-2])
    assert final["choices"][0]["finish_reason"] == "stop"
    assert "usage" not in final
    assert all(b"secret detail" not in frame for frame in frames)


def test_error_as_first_text_carries_the_role() -> None:
    error = TurnError(TurnErrorKind.PROVIDER, "failed")
    frames = encoder().encode(finished("", None, error))
    assert decode(frames[0])[1]["choices"][0]["delta"] == {"role": "assistant", "content": "failed"}


def test_interrupted_stream_gets_note_final_chunk_and_done_once() -> None:
    enc = encoder()
    frames = enc.interrupted("timed out")
    assert decode(frames[0])[1]["choices"][0]["delta"] == {"role": "assistant", "content": "timed out"}
    assert decode(frames[-2])[1]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop"}
    assert frames[-1] == DONE
    assert enc.interrupted("again") == []
    assert enc.encode(TextDelta("late")) == []


def test_constants() -> None:
    assert HEARTBEAT == b": heartbeat\n\n"
    assert DONE == b"data: [DONE]\n\n"


# --- tool-result modes ---------------------------------------------------------------------------


def test_open_web_ui_mode_renders_openwebuis_own_tool_panel_in_the_content() -> None:
    enc = encoder(tool_result_mode=ToolResultMode.OPEN_WEB_UI, tool_result_max_length=5)
    enc.encode(TextDelta("Looking."))
    assert enc.encode(ToolRequested(CALL)) == []  # no aura events with custom events off
    [frame] = enc.encode(ToolCompleted(CALL, ToolResult('Hello, "world"!'), 12))
    content = decode(frame)[1]["choices"][0]["delta"]["content"]
    assert content == (
        '\n\n<details type="tool_calls" done="true" id="call_1" name="list_files" '
        'arguments="{&quot;path&quot;:&quot;/tmp&quot;}">\n<summary>Tool Executed</summary>\n'
        "Hello... [truncated]\n</details>\n"
    )


def test_open_web_ui_panel_of_a_failed_tool_reads_as_an_error() -> None:
    enc = encoder(tool_result_mode=ToolResultMode.OPEN_WEB_UI)
    [frame] = enc.encode(ToolCompleted(CALL, ToolResult.error("boom"), 1))
    delta = decode(frame)[1]["choices"][0]["delta"]
    assert delta["role"] == "assistant"  # the panel is the stream's first chunk
    assert "<summary>Tool Executed</summary>\nError: boom\n</details>" in delta["content"]
    assert delta["content"].startswith("<details")  # nothing before it: no paragraph break needed


@pytest.mark.parametrize("mode", [ToolResultMode.NONE, ToolResultMode.AURA])
def test_other_modes_send_nothing_for_tools_without_custom_events(mode: ToolResultMode) -> None:
    enc = encoder(tool_result_mode=mode)
    assert enc.encode(ToolRequested(CALL)) == []
    assert enc.encode(ToolCompleted(CALL, ToolResult("files"), 3)) == []


# --- aura.* events -------------------------------------------------------------------------------


def events_of(frames: list[bytes]) -> list[tuple[str | None, Any]]:
    return [decode(frame) for frame in frames if frame.startswith(b"event: ")]


def test_no_aura_events_when_custom_events_are_off() -> None:
    enc = encoder(aura_emit_reasoning=True)
    frames = [
        *enc.session_info(),
        *enc.encode(ReasoningDelta("hmm")),
        *enc.encode(ToolRequested(CALL)),
        *enc.encode(ToolStarted(CALL, "call_1")),
        *enc.encode(ToolProgress(CALL, "call_1", ProgressUpdate(1, 2))),
        *enc.encode(ToolCompleted(CALL, ToolResult("ok"), 1)),
        *enc.encode(RoundUsage(Usage.of(1, 1), 1, ("call_1",))),
        *enc.encode(finished()),
    ]
    assert events_of(frames) == []


def test_session_info_fields_and_optional_context_limit() -> None:
    with_limit = StreamIdentity(
        "chatcmpl-x", 1, "openai/gpt-4o", "helper", "s1", trace_id="ab" * 16, context_window=128000
    )
    [(name, data)] = events_of(encoder(with_limit, aura_custom_events=True).session_info())
    assert name == "aura.session_info"
    assert data == {
        "model": "openai/gpt-4o",
        "model_context_limit": 128000,
        "agent_id": "helper",
        "session_id": "s1",
        "trace_id": "ab" * 16,
    }
    [(_, bare)] = events_of(encoder(aura_custom_events=True).session_info())
    assert bare == {"model": "openai/gpt-4o", "agent_id": "helper", "session_id": "sess_1"}


def test_tool_lifecycle_events_in_causal_order_with_their_fields() -> None:
    enc = encoder(aura_custom_events=True, tool_result_max_length=5)
    frames = [
        *enc.encode(ToolRequested(CALL)),
        *enc.encode(ToolStarted(CALL, 7)),
        *enc.encode(ToolProgress(CALL, 7, ProgressUpdate(5, 10))),
        *enc.encode(ToolProgress(CALL, 7, ProgressUpdate(3, None, "warming up"))),
        *enc.encode(ToolCompleted(CALL, ToolResult("Hello, world!"), 42)),
    ]
    assert all(frame.startswith(b"event: ") for frame in frames)  # no tool-call chunks for server tools
    events = events_of(frames)
    assert [name for name, _ in events] == [
        "aura.tool_requested",
        "aura.tool_start",
        "aura.progress",
        "aura.progress",
        "aura.tool_complete",
    ]
    common = {"agent_id": "helper", "session_id": "sess_1"}
    assert events[0][1] == {"tool_id": "call_1", "tool_name": "list_files", "arguments": {"path": "/tmp"}, **common}
    assert events[1][1] == {"tool_id": "call_1", "tool_name": "list_files", "progress_token": 7, **common}
    assert events[2][1] == {
        "message": "Progress: 5/10",
        "phase": "mcp_progress",
        "percent": 50,
        "progress_token": 7,
        "tool_id": "call_1",
        **common,
    }
    assert "percent" not in events[3][1]
    assert events[3][1]["message"] == "warming up"
    assert events[4][1] == {
        "tool_id": "call_1",
        "tool_name": "list_files",
        "duration_ms": 42,
        "success": True,
        "result": "Hello... [truncated]",
        **common,
    }
    assert all(data.get("trace_id") is None and "trace_id" not in data for _, data in events)


def test_unparsable_arguments_are_reported_as_an_empty_object() -> None:
    enc = encoder(aura_custom_events=True)
    [(_, data)] = events_of(enc.encode(ToolRequested(ToolCall("c", "t", "{not json"))))
    assert data["arguments"] == {}


def test_failed_tool_reports_the_full_error_and_no_result() -> None:
    enc = encoder(aura_custom_events=True, tool_result_max_length=5)
    enc.encode(ToolRequested(CALL))
    long_error = "Tool returned an error: " + "x" * 300
    [(_, data)] = events_of(enc.encode(ToolCompleted(CALL, ToolResult.error(long_error), 9)))
    assert data["success"] is False
    assert data["error_message"] == long_error
    assert "result" not in data
    assert "error" not in data  # OpenWebUI would show a frame with a top-level `error` as a failed response


@pytest.mark.parametrize("text", ["Timeout: too slow", "MCP error: gone", "Tool not found: x"])
def test_success_is_the_toolsets_verdict_not_a_guess_from_the_text(text: str) -> None:
    enc = encoder(aura_custom_events=True, tool_result_max_length=0)
    [(_, data)] = events_of(enc.encode(ToolCompleted(CALL, ToolResult(text), 1)))
    assert data["success"] is True
    assert data["result"] == text
    [(_, failed)] = events_of(enc.encode(ToolCompleted(CALL, ToolResult(text, is_error=True), 1)))
    assert failed["success"] is False
    assert failed["error_message"] == text


def test_reasoning_needs_both_switches() -> None:
    assert events_of(encoder(aura_custom_events=True).encode(ReasoningDelta("think"))) == []
    [(name, data)] = events_of(
        encoder(aura_custom_events=True, aura_emit_reasoning=True).encode(ReasoningDelta("think"))
    )
    assert name == "aura.reasoning"
    assert data == {"content": "think", "agent_id": "helper", "session_id": "sess_1"}


def test_tool_usage_only_for_rounds_after_completed_tools() -> None:
    enc = encoder(aura_custom_events=True)
    assert events_of(enc.encode(RoundUsage(Usage.of(10, 5), 0, ()))) == []
    [(name, data)] = events_of(enc.encode(RoundUsage(Usage.of(30, 7), 1, ("c1", "c2"))))
    assert name == "aura.tool_usage"
    assert data == {
        "tool_ids": ["c1", "c2"],
        "prompt_tokens": 30,
        "completion_tokens": 7,
        "total_tokens": 37,
        "agent_id": "helper",
        "session_id": "sess_1",
    }


def test_usage_event_reports_the_turn_view_before_the_final_chunk() -> None:
    final = TurnFinished(FinishReason.STOP, "ok", Usage(40, 12, 52), Usage(10, 12, 22))
    frames = encoder(aura_custom_events=True).encode(final)
    name, data = decode(frames[0])
    assert name == "aura.usage"
    assert data == {
        "prompt_tokens": 10,
        "completion_tokens": 12,
        "total_tokens": 22,
        "agent_id": "helper",
        "session_id": "sess_1",
    }
    assert decode(frames[1])[1]["usage"] == {"prompt_tokens": 40, "completion_tokens": 12, "total_tokens": 52}


def test_usage_event_is_skipped_without_prompt_tokens() -> None:
    final = TurnFinished(FinishReason.STOP, "ok", None, None)
    assert events_of(encoder(aura_custom_events=True).encode(final)) == []


def test_interrupted_stream_reports_turn_usage_so_far() -> None:
    enc = encoder(aura_custom_events=True)
    enc.encode(RoundUsage(Usage.of(10, 5), 0, ()))
    enc.encode(RoundUsage(Usage.of(25, 3), 1, ()))
    frames = enc.interrupted(None)
    name, data = decode(frames[0])
    assert name == "aura.usage"
    assert (data["prompt_tokens"], data["completion_tokens"], data["total_tokens"]) == (10, 8, 18)
    assert "usage" not in decode(frames[1])[1]


@given(
    text=st.text(),
    completion_id=st.text(min_size=1),
    model=st.text(min_size=1),
    created=st.integers(min_value=0, max_value=2**40),
)
def test_content_frames_from_the_template_match_the_generic_chunk_byte_for_byte(
    text: str, completion_id: str, model: str, created: int
) -> None:
    encoder = ChunkEncoder(StreamIdentity(completion_id, created, model, "agent", "session"), ServerOptions())
    first = encoder.text("first")
    assert json.loads(first.removeprefix(b"data: "))["choices"][0]["delta"] == {"role": "assistant", "content": "first"}
    frame = encoder.text(text)
    assert frame == encoder.chunk({"content": text})
    assert json.loads(frame.removeprefix(b"data: "))["choices"][0]["delta"] == {"content": text}


def test_model_status_is_an_aura_event_or_a_comment_clients_skip() -> None:
    from aura.domain.events import ModelStatus

    status = ModelStatus("queued", "the local model is answering another request;\n1 waiting")
    [frame] = encoder(aura_custom_events=True).encode(status)
    name, data = decode(frame)
    assert name == "aura.status"
    assert data["state"] == "queued"
    assert data["message"] == status.message
    [comment] = encoder(aura_custom_events=False).encode(status)
    assert comment == b": queued: the local model is answering another request; 1 waiting\n\n"


@settings(max_examples=300)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
        max_leaves=16,
    )
)
def test_frames_carry_the_json_the_standard_library_would_write(payload: Any) -> None:
    # the fast encoder and its fallback (integers beyond 64 bits) give JSON that reads back as the payload
    frame = data_frame({"payload": payload})
    assert frame.startswith(b"data: ")
    assert frame.endswith(b"\n\n")
    assert json.loads(frame[6:-2]) == {"payload": payload}
    assert "\n" not in frame[6:-2].decode()  # one line per data field, whatever the text holds


def test_json_that_the_fast_encoder_refuses_is_written_by_the_standard_one() -> None:
    assert json_bytes({"n": 2**70}) == b'{"n":1180591620717411303424}'
    assert json_bytes({1: "a"}) == b'{"1":"a"}'
    assert json_bytes({"text": "é \u2028 \x01"}) == '{"text":"é \u2028 \\u0001"}'.encode()
