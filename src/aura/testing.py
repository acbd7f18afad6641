"""Test doubles users can import: a scripted `ChatModel` that plays back one round per model call.

    model = ScriptedChatModel([
        call_tool("get_weather", {"city": "Paris"}),
        reply("It is sunny in Paris."),
    ])

Each entry is one LLM round. The model records every `ChatRequest` it receives in `requests`.

Tools from plain Python functions are `aura.FunctionToolset` (not a test double); it is importable from
here too, where earlier versions kept it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import attrs

from aura.adapters.tools.python_functions import FunctionToolset
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
from aura.domain.messages import ToolCall, new_tool_call_id
from aura.domain.usage import Usage
from aura.ports.chat_model import ChatRequest

__all__ = [
    "DEFAULT_USAGE",
    "FunctionToolset",
    "RoundSource",
    "ScriptedChatModel",
    "ScriptedRound",
    "call_tool",
    "call_tools",
    "fail",
    "reply",
]

DEFAULT_USAGE = Usage.of(10, 5)


@attrs.frozen
class ScriptedRound:
    """One scripted LLM response.

    `text` is streamed chunk by chunk, then `tool_calls` are emitted, then `usage`; if `error` is
    set it is raised after `fail_after_chunks` text chunks. `delay` sleeps before each chunk.
    """

    text: tuple[str, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    reasoning: tuple[str, ...] = ()
    usage: Usage | None = DEFAULT_USAGE
    error: ProviderError | None = None
    fail_after_chunks: int = 0
    delay: float = 0.0
    finish_reason: FinishReason | None = None


def reply(*chunks: str, usage: Usage | None = DEFAULT_USAGE, delay: float = 0.0) -> ScriptedRound:
    """A round that answers with text (given as one or more streamed chunks)."""
    return ScriptedRound(text=chunks, usage=usage, delay=delay)


def call_tool(
    name: str,
    arguments: Mapping[str, Any] | str | None = None,
    *,
    call_id: str | None = None,
    text: str = "",
    usage: Usage | None = DEFAULT_USAGE,
) -> ScriptedRound:
    """A round that calls one tool (optionally after some text)."""
    return call_tools([(name, arguments)], text=text, call_ids=[call_id] if call_id else None, usage=usage)


def call_tools(
    calls: Sequence[tuple[str, Mapping[str, Any] | str | None]],
    *,
    text: str = "",
    call_ids: Sequence[str] | None = None,
    usage: Usage | None = DEFAULT_USAGE,
) -> ScriptedRound:
    """A round that calls several tools at once (they run concurrently)."""
    ids = list(call_ids) if call_ids else [new_tool_call_id() for _ in calls]
    built = tuple(
        ToolCall(
            call_id,
            name,
            arguments if isinstance(arguments, str) else json.dumps(dict(arguments or {})),
        )
        for call_id, (name, arguments) in zip(ids, calls, strict=True)
    )
    return ScriptedRound(text=(text,) if text else (), tool_calls=built, usage=usage)


def fail(
    kind: ProviderErrorKind = ProviderErrorKind.SERVER_ERROR,
    message: str = "scripted provider failure",
    *,
    after: Sequence[str] = (),
) -> ScriptedRound:
    """A round that raises a provider error, optionally after streaming some text."""
    return ScriptedRound(
        text=tuple(after),
        error=ProviderError(kind, message, provider="scripted"),
        fail_after_chunks=len(after),
        usage=None,
    )


RoundSource = ScriptedRound | Callable[[ChatRequest], ScriptedRound]


class ScriptedChatModel:
    """A `ChatModel` that plays back scripted rounds, one per call.

    Entries may be `ScriptedRound`s or functions of the `ChatRequest` returning one. When the
    script runs out, `then` (default: an error) decides what happens.
    """

    def __init__(
        self,
        rounds: Sequence[RoundSource],
        *,
        provider: str = "scripted",
        model_name: str = "scripted-model",
        then: RoundSource | None = None,
    ) -> None:
        self._rounds = list(rounds)
        self._then = then
        self._provider = provider
        self._model_name = model_name
        self.requests: list[ChatRequest] = []

    @property
    def provider(self) -> str:
        return self._provider

    @property
    def model_name(self) -> str:
        return self._model_name

    def _next_round(self, request: ChatRequest) -> ScriptedRound:
        index = len(self.requests) - 1
        source: RoundSource | None = self._rounds[index] if index < len(self._rounds) else self._then
        if source is None:
            return fail(ProviderErrorKind.BAD_REQUEST, f"script exhausted after {len(self._rounds)} rounds")
        return source(request) if callable(source) else source

    async def stream(self, request: ChatRequest) -> AsyncIterator[ModelEvent]:
        self.requests.append(request)
        scripted = self._next_round(request)
        for chunk in scripted.reasoning:
            yield ReasoningDelta(chunk)
        for i, chunk in enumerate(scripted.text):
            if scripted.error is not None and i == scripted.fail_after_chunks:
                raise scripted.error
            if scripted.delay:
                await asyncio.sleep(scripted.delay)
            yield TextDelta(chunk)
        if scripted.error is not None:
            raise scripted.error
        for call in scripted.tool_calls:
            yield ToolCallReady(call)
        if scripted.usage is not None:
            yield UsageReported(scripted.usage)
        finish = scripted.finish_reason or (FinishReason.TOOL_CALLS if scripted.tool_calls else FinishReason.STOP)
        yield ModelFinished(finish)

    async def aclose(self) -> None:
        return None
