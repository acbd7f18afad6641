"""Encoding `TurnEvent`s as OpenAI `chat.completion.chunk` SSE frames and `aura.*` events.

Pure and synchronous: one `ChunkEncoder` per streamed response keeps the little state the wire
format needs (has the role been sent, turn usage so far) and returns the bytes to write. Frames:
`data: <json>\\n\\n` chunks, `event: aura.<name>\\ndata: <json>\\n\\n` events, `: heartbeat\\n\\n`
comments, `data: [DONE]\\n\\n`.

Tools the server runs never appear as `delta.tool_calls`: a client would take them for calls it
must run itself. They show as `aura.*` events (custom events on) and, in `open-web-ui` mode, as
OpenWebUI's own tool panels inside the content. Only calls of client tools are streamed as
`tool_calls`, at the end of the response, with `finish_reason: "tool_calls"`. The first chunk of
every stream carries `delta.role = "assistant"`, whatever else it carries.
"""

from __future__ import annotations

import json
import logging
from json.encoder import encode_basestring
from typing import Any

import attrs
import orjson

from aura.adapters.http.openwebui import render_tool_panel
from aura.adapters.http.options import ServerOptions, ToolResultMode
from aura.domain.events import (
    ApprovalDecided,
    ApprovalRequested,
    FinishReason,
    ModelStatus,
    ReasoningDelta,
    RoundUsage,
    TextDelta,
    ToolCompleted,
    ToolProgress,
    ToolRequested,
    ToolStarted,
    TurnEvent,
    TurnFinished,
)
from aura.domain.messages import ToolCall
from aura.domain.tools import ToolResult
from aura.domain.usage import Usage

logger = logging.getLogger(__name__)

HEARTBEAT = b": heartbeat\n\n"
DONE = b"data: [DONE]\n\n"
TRUNCATION_MARKER = "... [truncated]"
_PLACEHOLDER = "\x00"  # stands for the text in the content-delta template (its last string)

_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def json_bytes(payload: Any) -> bytes:
    """Compact JSON as UTF-8, non-ASCII kept as it is (the original's serde output).

    orjson, about ten times faster than the standard library here, with the same bytes; what it cannot
    encode (integers beyond 64 bits, non-string keys) goes through one shared standard encoder instead.
    """
    try:
        return orjson.dumps(payload)
    except TypeError:
        return _COMPACT_JSON.encode(payload).encode()


def to_json(payload: Any) -> str:
    return json_bytes(payload).decode()


def data_frame(payload: Any) -> bytes:
    return b"data: " + json_bytes(payload) + b"\n\n"


def event_frame(name: str, payload: Any) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + json_bytes(payload) + b"\n\n"


def truncate_utf8(text: str, limit: int) -> str:
    """Cut `text` to at most `limit` UTF-8 bytes on a character boundary, marking the cut.

    `limit == 0` means no truncation. The marker is appended after the cut, so the result may be
    longer than `limit`.
    """
    encoded = text.encode()
    if limit <= 0 or len(encoded) <= limit:
        return text
    return encoded[:limit].decode(errors="ignore") + TRUNCATION_MARKER


def tool_succeeded(result: ToolResult) -> bool:
    """The toolset's own verdict: failures travel as `is_error`, never guessed from the text."""
    return not result.is_error


def usage_json(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def finish_reason_of(final: TurnFinished, max_tokens: int | None) -> str:
    """`tool_calls` when client tools were called, `length` when the model hit its limit or the client's
    `max_tokens` was reached, else `stop`.

    Server-side tools never make it `tool_calls`: the server runs them, the client has nothing to do.
    """
    if final.client_tool_calls and final.error is None:
        return "tool_calls"
    if final.finish_reason is FinishReason.LENGTH:
        return "length"
    if max_tokens is not None and final.usage is not None and final.usage.completion_tokens >= max_tokens:
        return "length"
    return "stop"


def after_panel(text: str) -> str:
    """Text that follows a tool panel starts a new paragraph (the panel ends with one newline)."""
    return text if text.startswith("\n") else f"\n{text}"


def tool_call_json(call: ToolCall) -> dict[str, Any]:
    """A client tool call as in an OpenAI `message.tool_calls` entry."""
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def _parsed_arguments(arguments: str) -> Any:
    try:
        return json.loads(arguments) if arguments.strip() else {}
    except json.JSONDecodeError:
        return {}


@attrs.frozen
class StreamIdentity:
    """What every chunk and event of one response repeats."""

    completion_id: str
    created: int
    model: str
    agent_id: str
    session_id: str
    trace_id: str | None = None
    context_window: int | None = None


class ChunkEncoder:
    """Turns one response's `TurnEvent`s into SSE frames, in order."""

    def __init__(self, identity: StreamIdentity, options: ServerOptions, *, max_tokens: int | None = None) -> None:
        self.identity = identity
        self.custom_events = options.aura_custom_events
        self.emit_reasoning = options.emits_reasoning
        self.tool_result_mode = options.tool_result_mode
        self.tool_result_max_length = options.tool_result_max_length
        self.max_tokens = max_tokens
        self.role_sent = False
        self.text_sent = False
        self._after_panel = False
        self._first_prompt_tokens = 0
        self._completion_tokens = 0
        self.finished = False
        # A content delta is most of a stream's frames and differs from the last only in its text, so its JSON
        # is this template around the text instead of a dict dumped each time (byte for byte the same).
        prefix, _, suffix = to_json(self._content_template()).rpartition(to_json(_PLACEHOLDER))
        self._content_prefix, self._content_suffix = prefix, suffix

    def _content_template(self) -> dict[str, Any]:
        return {
            "id": self.identity.completion_id,
            "object": "chat.completion.chunk",
            "created": self.identity.created,
            "model": self.identity.model,
            "choices": [{"index": 0, "delta": {"content": _PLACEHOLDER}}],
        }

    # --- frames -------------------------------------------------------------------------------

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None, usage: Usage | None = None) -> bytes:
        if not self.role_sent:
            # The first chunk names the role whatever it carries: LangChain builds a generic message chunk
            # (and drops tool-call pieces) from a stream whose first chunk has no `role`.
            self.role_sent = True
            delta = {"role": "assistant", **delta}
        choice: dict[str, Any] = {"index": 0, "delta": delta}
        if finish_reason is not None:
            choice["finish_reason"] = finish_reason
        payload: dict[str, Any] = {
            "id": self.identity.completion_id,
            "object": "chat.completion.chunk",
            "created": self.identity.created,
            "model": self.identity.model,
            "choices": [choice],
        }
        if usage is not None:
            payload["usage"] = usage_json(usage)
        return data_frame(payload)

    def event(self, name: str, fields: dict[str, Any]) -> bytes:
        payload = dict(fields)
        payload["agent_id"] = self.identity.agent_id
        payload["session_id"] = self.identity.session_id
        if self.identity.trace_id is not None:
            payload["trace_id"] = self.identity.trace_id
        return event_frame(name, payload)

    def text(self, text: str) -> bytes:
        self.text_sent = self.text_sent or bool(text)
        if not self.role_sent:
            return self.chunk({"content": text})
        return f"data: {self._content_prefix}{encode_basestring(text)}{self._content_suffix}\n\n".encode()

    # --- events -------------------------------------------------------------------------------

    def session_info(self) -> list[bytes]:
        """`aura.session_info`, the first frame of a stream when custom events are on."""
        if not self.custom_events:
            return []
        fields: dict[str, Any] = {"model": self.identity.model}
        if self.identity.context_window is not None:
            fields["model_context_limit"] = self.identity.context_window
        return [self.event("aura.session_info", fields)]

    def encode(self, event: TurnEvent) -> list[bytes]:
        """Frames for one turn event; `TurnFinished` yields the closing frames up to `[DONE]`."""
        if self.finished:
            return []
        if isinstance(event, TextDelta):
            if not event.text:
                return []
            if self._after_panel:
                self._after_panel = False
                return [self.text(after_panel(event.text))]
            return [self.text(event.text)]
        if isinstance(event, ReasoningDelta):
            return [self.event("aura.reasoning", {"content": event.text})] if self.emit_reasoning and event.text else []
        if isinstance(event, ToolRequested):
            return self._requested(event.call)
        if isinstance(event, ToolStarted):
            return self._started(event)
        if isinstance(event, ToolProgress):
            return self._progress(event)
        if isinstance(event, ToolCompleted):
            return self._completed(event)
        if isinstance(event, RoundUsage):
            return self._round_usage(event)
        if isinstance(event, ApprovalRequested | ApprovalDecided):
            return self._approval(event)
        if isinstance(event, ModelStatus):
            return [self._status(event)]
        return self._finished(event)

    def _approval(self, event: ApprovalRequested | ApprovalDecided) -> list[bytes]:
        """`aura.approval_requested` / `aura.approval_decided` (custom events only: the plain text says it all)."""
        if not self.custom_events:
            return []
        pending = event.pending
        fields: dict[str, Any] = {
            "decision_id": pending.decision_id,
            "agent": event.agent_id,
            "tool": pending.call.name,
            "server": pending.server,
            "arguments": pending.call.arguments,
        }
        if isinstance(event, ApprovalRequested):
            fields.update(reason=pending.why, model_reason=pending.model_reason, expires_at=int(pending.expires_at))
            return [self.event("aura.approval_requested", fields)]
        decision = event.decision
        fields.update(
            decision=decision.decision.value,
            source=decision.source.value,
            approver=decision.approver,
            reason=decision.reason,
        )
        return [self.event("aura.approval_decided", fields)]

    def _status(self, status: ModelStatus) -> bytes:
        """`aura.status` with custom events on, else an SSE comment (clients skip it; a person reading sees it)."""
        if self.custom_events:
            return self.event("aura.status", {"state": status.state, "message": status.message})
        return f": {status.state}: {' '.join(status.message.split())}\n\n".encode()

    def _requested(self, call: ToolCall) -> list[bytes]:
        if not self.custom_events:
            return []
        fields = {"tool_id": call.id, "tool_name": call.name, "arguments": _parsed_arguments(call.arguments)}
        return [self.event("aura.tool_requested", fields)]

    def _started(self, event: ToolStarted) -> list[bytes]:
        if not self.custom_events:
            return []
        fields: dict[str, Any] = {"tool_id": event.call.id, "tool_name": event.call.name}
        if event.progress_token is not None:
            fields["progress_token"] = event.progress_token
        return [self.event("aura.tool_start", fields)]

    def _progress(self, event: ToolProgress) -> list[bytes]:
        if not self.custom_events:
            return []
        fields: dict[str, Any] = {"message": event.update.text, "phase": "mcp_progress"}
        percent = event.update.percent
        if percent is not None:
            fields["percent"] = percent
        if event.progress_token is not None:
            fields["progress_token"] = event.progress_token
        fields["tool_id"] = event.call.id
        return [self.event("aura.progress", fields)]

    def _completed(self, event: ToolCompleted) -> list[bytes]:
        frames: list[bytes] = []
        result = event.result
        if self.custom_events:
            fields: dict[str, Any] = {
                "tool_id": event.call.id,
                "tool_name": event.call.name,
                "duration_ms": event.duration_ms,
            }
            if tool_succeeded(result):
                fields["success"] = True
                fields["result"] = truncate_utf8(result.content, self.tool_result_max_length)
            else:
                # Not `error`: OpenAI-stream parsers (OpenWebUI) take a frame with a top-level `error` for a failed
                # response, whatever its `event:` line says.
                fields["success"] = False
                fields["error_message"] = result.content
            frames.append(self.event("aura.tool_complete", fields))
        if self.tool_result_mode is ToolResultMode.OPEN_WEB_UI:
            # OpenWebUI's panel is a block of its own: it must start a new paragraph.
            panel = render_tool_panel(
                event.call, truncate_utf8(result.content, self.tool_result_max_length), result.is_error
            )
            frames.append(self.text(f"\n\n{panel}" if self.text_sent else panel))
            self._after_panel = True
        return frames

    def _round_usage(self, event: RoundUsage) -> list[bytes]:
        usage = event.usage
        if not self._first_prompt_tokens and usage.prompt_tokens > 0:
            self._first_prompt_tokens = usage.prompt_tokens
        self._completion_tokens += usage.completion_tokens
        if not self.custom_events or not event.tool_call_ids:
            return []
        fields: dict[str, Any] = {"tool_ids": list(event.tool_call_ids), **usage_json(usage)}
        return [self.event("aura.tool_usage", fields)]

    # --- the end ------------------------------------------------------------------------------

    def _usage_event(self, turn_usage: Usage | None) -> list[bytes]:
        if not self.custom_events or turn_usage is None or turn_usage.prompt_tokens <= 0:
            return []
        return [self.event("aura.usage", usage_json(turn_usage))]

    def _turn_usage_so_far(self) -> Usage | None:
        if not self._first_prompt_tokens and not self._completion_tokens:
            return None
        return Usage.of(self._first_prompt_tokens, self._completion_tokens)

    def _finished(self, final: TurnFinished) -> list[bytes]:
        frames: list[bytes] = []
        if final.error is not None:
            frames.append(self.text(self._appended(final.error.message)))
        elif final.client_tool_calls:
            calls = [{"index": index, **tool_call_json(call)} for index, call in enumerate(final.client_tool_calls)]
            frames.append(self.chunk({"tool_calls": calls}))
        frames.extend(self._usage_event(final.turn_usage))
        usage = final.usage if final.error is None else None
        frames.append(self.chunk({}, finish_reason_of(final, self.max_tokens), usage))
        frames.append(DONE)
        self.finished = True
        return frames

    def interrupted(self, note: str | None) -> list[bytes]:
        """Closing frames for a stream the server stops (timeout, shutdown): no usage in the final chunk."""
        if self.finished:
            return []
        frames: list[bytes] = []
        if note:
            frames.append(self.text(self._appended(note)))
        frames.extend(self._usage_event(self._turn_usage_so_far()))
        frames.append(self.chunk({}, "stop"))
        frames.append(DONE)
        self.finished = True
        return frames

    def _appended(self, message: str) -> str:
        """A message after streamed text starts a new paragraph."""
        return f"\n\n{message}" if self.text_sent else message
