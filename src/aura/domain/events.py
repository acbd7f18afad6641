"""The two event streams of Aura.

`ModelEvent`s come out of a `ChatModel` for one LLM call (one round).
`TurnEvent`s come out of `Agent.run_turn` for a whole turn; the HTTP adapter encodes them as
OpenAI chunks and `aura.*` SSE events, so the domain never knows about SSE.
"""

from __future__ import annotations

import enum

import attrs

from aura.domain.approvals import ApprovalDecision, PendingApproval
from aura.domain.messages import ToolCall
from aura.domain.tools import ProgressUpdate, ToolResult
from aura.domain.usage import Usage


class FinishReason(enum.Enum):
    STOP = "stop"
    LENGTH = "length"
    TOOL_CALLS = "tool_calls"


# --- events of one model call -------------------------------------------------------------------


@attrs.frozen
class TextDelta:
    text: str


@attrs.frozen
class ReasoningDelta:
    text: str


@attrs.frozen
class ToolCallReady:
    """A complete tool call (name and full arguments) assembled by the model adapter."""

    call: ToolCall


@attrs.frozen
class UsageReported:
    usage: Usage


@attrs.frozen
class ModelFinished:
    finish_reason: FinishReason


@attrs.frozen
class ModelStatus:
    """The model is not generating yet, and why: `queued` (busy with another request) or `loading`.

    Passed through the turn unchanged, so a client can be told instead of seeing nothing.
    """

    state: str
    message: str


ModelEvent = TextDelta | ReasoningDelta | ToolCallReady | UsageReported | ModelFinished | ModelStatus


# --- events of a whole turn ---------------------------------------------------------------------


@attrs.frozen
class ToolRequested:
    """The model decided to call a tool; emitted in call order before any of the round runs."""

    call: ToolCall


@attrs.frozen
class ToolStarted:
    """A tool call begins. `known_tool` is False when the model named a tool the agent does not have
    (the call then completes at once with a "Tool not found" error); metrics label such calls `unknown`."""

    call: ToolCall
    progress_token: str | int | None
    known_tool: bool = True


@attrs.frozen
class ToolProgress:
    call: ToolCall
    progress_token: str | int | None
    update: ProgressUpdate


@attrs.frozen
class ToolCompleted:
    call: ToolCall
    result: ToolResult
    duration_ms: int


@attrs.frozen
class RoundUsage:
    """Usage of one finished LLM round, with the tool calls completed since the previous round."""

    usage: Usage
    round_index: int
    tool_call_ids: tuple[str, ...]


@attrs.frozen
class ApprovalRequested:
    """A tool call is held until a person decides; the turn ends after the round's other calls ran."""

    agent_id: str
    pending: PendingApproval


@attrs.frozen
class ApprovalDecided:
    """A held call of a resumed turn got its decision; an approved call then runs with the usual tool events."""

    agent_id: str
    pending: PendingApproval
    decision: ApprovalDecision


class TurnErrorKind(enum.Enum):
    PROVIDER = "provider"
    CONTEXT_OVERFLOW = "context_overflow"
    MAX_DEPTH = "max_depth"
    TIMEOUT = "timeout"
    INTERNAL = "internal"
    OVERLOADED = "overloaded"


@attrs.frozen
class TurnError:
    kind: TurnErrorKind
    message: str
    """Safe for clients: says what happened without provider internals or secrets."""
    detail: str = ""
    """The raw error, for logs and traces only."""


@attrs.frozen
class TurnFinished:
    """Always the last event of a turn.

    `content` is the answer text (all rounds' text, with the separator after tool results).
    `usage` is the sum over rounds (None when no round reported usage); `turn_usage` is the
    first-round prompt + all completions view. `error` is set when the turn ended early.
    `client_tool_calls` is set (with `finish_reason` `TOOL_CALLS`) when the turn stops to hand
    calls of client tools over to the caller, who runs them and continues the conversation.
    """

    finish_reason: FinishReason
    content: str
    usage: Usage | None
    turn_usage: Usage | None
    tool_completion_tokens: int = 0
    rounds: int = 0
    error: TurnError | None = None
    client_tool_calls: tuple[ToolCall, ...] = ()


TurnEvent = (
    TextDelta
    | ReasoningDelta
    | ToolRequested
    | ToolStarted
    | ToolProgress
    | ToolCompleted
    | RoundUsage
    | ApprovalRequested
    | ApprovalDecided
    | TurnFinished
    | ModelStatus
)
