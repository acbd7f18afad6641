"""What the server reports about its traffic, as a small port the entrypoint plugs a metrics backend into.

The HTTP adapter must not import the telemetry adapter (adapters never import each other across
kinds), so it declares what it reports as a `typing.Protocol`; `aura serve` passes the telemetry
adapter's `ServerMetrics`, which satisfies it structurally. The method names follow that class so
no glue is needed, but any object with these methods works (a test recorder, StatsD, ...).
"""

from __future__ import annotations

import logging
import time
from typing import Protocol, runtime_checkable

from aura.adapters.http.sse import tool_succeeded
from aura.domain.approvals import ApprovalDecision, Decision, DecisionSource
from aura.domain.events import ApprovalDecided, ApprovalRequested, TextDelta, ToolCompleted, ToolStarted, TurnEvent

logger = logging.getLogger(__name__)

TOOL_SUCCESS = "success"
TOOL_ERROR = "error"
TOOL_CANCELLED = "cancelled"

# `aura_requests_total{status}` for a client that left before its answer (nginx's convention).
CLIENT_CLOSED_REQUEST = 499
# The agent label of a chat request rejected before an agent was chosen (bad body, unknown model,
# missing API key, shutdown). Never the client's `model` value: that would let clients create series.
UNKNOWN_AGENT = "unknown"
# The tool label of a call to a tool the agent does not have. Never the name the model made up: 300
# invented names would be 300 new series.
UNKNOWN_TOOL = "unknown"


@runtime_checkable
class ServerObserver(Protocol):
    """Receives one call per notable server event; implementations must be fast and must not raise.

    Stream outcomes are the `Termination` values (`complete`, `first_chunk_timeout`,
    `stream_timeout`, `shutdown`, `failed`) plus `error` (the turn ended with a provider or
    tool-round error) and `disconnected` (the client left). Tool outcomes are `success`, `error`
    and `cancelled`. `stream_started`/`stream_ended` pairs give the number of active streams.
    """

    def record_request(self, agent: str, status: int) -> None:
        """One `POST /v1/chat/completions` finished with this HTTP status (a stream counts its 200)."""
        ...

    def stream_started(self, agent: str) -> None: ...

    def stream_ended(self, agent: str, outcome: str, duration_secs: float) -> None: ...

    def observe_time_to_first_token(self, agent: str, seconds: float) -> None:
        """Seconds from the start of a stream to its first content delta."""
        ...

    def record_tool_call(self, tool: str, outcome: str, duration_secs: float | None = None) -> None: ...

    def record_approval(self, agent: str, outcome: str) -> None:
        """An approval was `requested`, `approved`, `denied` or `expired`."""
        ...


class NoopObserver:
    """The default observer: reports nothing, costs nothing."""

    def record_request(self, agent: str, status: int) -> None:
        return None

    def stream_started(self, agent: str) -> None:
        return None

    def stream_ended(self, agent: str, outcome: str, duration_secs: float) -> None:
        return None

    def observe_time_to_first_token(self, agent: str, seconds: float) -> None:
        return None

    def record_tool_call(self, tool: str, outcome: str, duration_secs: float | None = None) -> None:
        return None

    def record_approval(self, agent: str, outcome: str) -> None:
        return None


class GuardedObserver:
    """Forwards to an observer but never lets its failure reach a request: a metrics bug is logged once."""

    def __init__(self, inner: ServerObserver) -> None:
        self.inner = inner
        self._warned = False

    def _failed(self, method: str) -> None:
        if not self._warned:
            self._warned = True
            logger.warning(
                "server observer %s.%s failed; metrics may be incomplete",
                type(self.inner).__name__,
                method,
                exc_info=True,
            )

    def record_request(self, agent: str, status: int) -> None:
        try:
            self.inner.record_request(agent, status)
        except Exception:
            self._failed("record_request")

    def stream_started(self, agent: str) -> None:
        try:
            self.inner.stream_started(agent)
        except Exception:
            self._failed("stream_started")

    def stream_ended(self, agent: str, outcome: str, duration_secs: float) -> None:
        try:
            self.inner.stream_ended(agent, outcome, duration_secs)
        except Exception:
            self._failed("stream_ended")

    def observe_time_to_first_token(self, agent: str, seconds: float) -> None:
        try:
            self.inner.observe_time_to_first_token(agent, seconds)
        except Exception:
            self._failed("observe_time_to_first_token")

    def record_tool_call(self, tool: str, outcome: str, duration_secs: float | None = None) -> None:
        try:
            self.inner.record_tool_call(tool, outcome, duration_secs)
        except Exception:
            self._failed("record_tool_call")

    def record_approval(self, agent: str, outcome: str) -> None:
        try:
            self.inner.record_approval(agent, outcome)
        except Exception:
            self._failed("record_approval")


class TurnObservation:
    """Watches the events of one turn: time to first token and every tool call's outcome.

    A tool that started but never completed (the turn was cancelled: disconnect, timeout,
    shutdown) is reported as `cancelled` by `close()`. Tools are reported by name only when the
    agent has them (`ToolStarted.known_tool`); calls to names the model invented are `unknown`.
    """

    def __init__(self, observer: ServerObserver, agent: str, *, streaming: bool) -> None:
        self.observer = observer
        self.agent = agent
        self.streaming = streaming
        self.started = time.monotonic()
        self.first_token_seen = False
        self._running_tools: dict[str, tuple[str, float]] = {}

    def observe(self, event: TurnEvent) -> None:
        if isinstance(event, TextDelta):
            if self.streaming and not self.first_token_seen and event.text:
                self.first_token_seen = True
                self.observer.observe_time_to_first_token(self.agent, time.monotonic() - self.started)
        elif isinstance(event, ToolStarted):
            label = event.call.name if event.known_tool else UNKNOWN_TOOL
            self._running_tools[event.call.id] = (label, time.monotonic())
        elif isinstance(event, ToolCompleted):
            label, _ = self._running_tools.pop(event.call.id, (UNKNOWN_TOOL, 0.0))
            outcome = TOOL_SUCCESS if tool_succeeded(event.result) else TOOL_ERROR
            self.observer.record_tool_call(label, outcome, event.duration_ms / 1000)
        elif isinstance(event, ApprovalRequested):
            self.observer.record_approval(self.agent, "requested")
        elif isinstance(event, ApprovalDecided):
            self.observer.record_approval(self.agent, approval_outcome(event.decision))

    def close(self) -> None:
        """Report the tool calls that never completed as cancelled."""
        now = time.monotonic()
        for name, started in self._running_tools.values():
            self.observer.record_tool_call(name, TOOL_CANCELLED, now - started)
        self._running_tools.clear()


def approval_outcome(decision: ApprovalDecision) -> str:
    if decision.source is DecisionSource.EXPIRY:
        return "expired"
    return "approved" if decision.decision is Decision.APPROVE else "denied"
