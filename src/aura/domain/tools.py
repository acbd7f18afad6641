"""Tool specifications, results and the per-call context handed to a toolset."""

from __future__ import annotations

import fnmatch
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs

from aura.domain.approval_policy import ToolAnnotations
from aura.ports.tracer import NoopTracer, Span, Tracer


@attrs.frozen
class ToolSpec:
    """A tool as offered to the model: its name, description and JSON Schema of arguments.

    `parameters` is the tool's own schema (as the MCP server or the function signature gives it), and
    the arguments a toolset receives follow it. Each model adapter converts it for its provider
    (`aura.domain.schema_profiles`) and restores the model's arguments to this shape. `strict=False`
    keeps the tool out of a provider's strict mode (the OpenAI strict rewrite); None lets the adapter
    decide. `annotations` are the MCP hints the server published (None when it gave none);
    `builtin_read_only` marks Aura's own read-only tools (vector search, the filesystem reader), which
    never need a person's approval.
    """

    name: str
    description: str
    parameters: Mapping[str, Any] = attrs.field(factory=lambda: {"type": "object", "properties": {}})
    strict: bool | None = None
    annotations: ToolAnnotations | None = None
    builtin_read_only: bool = False


@attrs.frozen
class ToolResult:
    """What a tool returned. `content` is the text the model sees; `is_error` marks failures."""

    content: str
    is_error: bool = False
    structured: Any = None

    @staticmethod
    def error(message: str) -> ToolResult:
        return ToolResult(content=message, is_error=True)


@attrs.frozen
class ProgressUpdate:
    """One progress report of a running tool (from MCP `notifications/progress`)."""

    progress: float
    total: float | None = None
    message: str | None = None

    @property
    def percent(self) -> int | None:
        if self.total is None:
            return None
        if self.total <= 0:
            return 100
        return int(min(self.progress / self.total * 100, 100))

    @property
    def text(self) -> str:
        if self.message:
            return self.message
        if self.total is None:
            return f"Progress: {_number(self.progress)}"
        return f"Progress: {_number(self.progress)}/{_number(self.total)}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


ProgressCallback = Callable[[ProgressUpdate], Awaitable[None]]


async def _ignore_progress(_: ProgressUpdate) -> None:
    return None


@attrs.frozen
class ClientToolPolicy:
    """Whether an agent offers the tools a request brings (OpenAI `tools`) to its model, and which.

    Client tools are run by the caller, not by the agent: when the model calls one, the turn ends
    and hands the call over (`TurnFinished.client_tool_calls`). Off by default. `allow` holds
    shell-style patterns (`fnmatch`, case-sensitive) of the client tool names that may be offered.
    """

    enabled: bool = False
    allow: tuple[str, ...] = ("*",)

    def admits(self, name: str) -> bool:
        return self.enabled and any(fnmatch.fnmatchcase(name, pattern) for pattern in self.allow)


@attrs.frozen
class RequestContext:
    """What one incoming request carries down to the tools.

    `headers` holds the incoming request headers with lower-cased names; toolsets forward only
    those their configuration maps (`headers_from_request`), and only for this request.
    `client_tools` are the tools the caller offers to run itself; the agent's `ClientToolPolicy`
    decides which of them its model sees.
    `max_tokens` is the client's own output cap (`max_tokens` / `max_completion_tokens`); the
    agent sends the provider the smaller of it and its own `max_tokens`.
    `background` marks a chat UI's background task (title, tags, follow-ups): the agent's model
    requests carry it, so a provider with one model slot serves people first.
    """

    request_id: str = "req_local"
    session_id: str = "cs_local"
    headers: Mapping[str, str] = attrs.field(factory=dict)
    parent_span: Span | None = None
    client_tools: tuple[ToolSpec, ...] = ()
    approver: str | None = None
    """Who is asking, as the server's configured approver header names them: recorded with chat decisions."""
    max_tokens: int | None = None
    background: bool = False


@attrs.frozen
class ToolCallContext:
    """Per-call context: which call this is, the request it belongs to, where progress goes.

    `span` is the call's `tool.call` span and `tracer` the agent's tracer, so a toolset can open
    child spans (retrieval, MCP requests) in the same trace.
    """

    call_id: str
    tool_name: str
    request: RequestContext = attrs.field(factory=RequestContext)
    progress_token: str | int | None = None
    report_progress: ProgressCallback = _ignore_progress
    timeout: float | None = None
    span: Span | None = None
    tracer: Tracer = attrs.field(factory=NoopTracer)
