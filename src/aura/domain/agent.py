"""The agent and its turn loop: call the model, run the tools it asks for, repeat up to `turn_depth`."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Coroutine, Iterable, Sequence
from typing import Any, Generic, TypeVar

import attrs

from aura.domain.approvals import (
    ApprovalDecision,
    ApprovalGate,
    Decision,
    ParkedTurn,
    PendingApproval,
    ResumedTurn,
    approval_request_text,
    denial_text,
    new_decision_id,
)
from aura.domain.errors import AgentClosedError, ProviderError, ProviderErrorKind, is_context_overflow
from aura.domain.events import (
    ApprovalDecided,
    ApprovalRequested,
    FinishReason,
    ModelFinished,
    ModelStatus,
    ReasoningDelta,
    RoundUsage,
    TextDelta,
    ToolCallReady,
    ToolCompleted,
    ToolProgress,
    ToolRequested,
    ToolStarted,
    TurnError,
    TurnErrorKind,
    TurnEvent,
    TurnFinished,
    UsageReported,
)
from aura.domain.messages import (
    AssistantMessage,
    Message,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
    UserMessage,
)
from aura.domain.tool_registry import ToolRegistry, list_all, same_listing
from aura.domain.tools import ClientToolPolicy, ProgressUpdate, RequestContext, ToolCallContext, ToolResult, ToolSpec
from aura.domain.usage import Usage, UsageTracker
from aura.ports.chat_model import ChatModel, ChatRequest, GenerationSettings
from aura.ports.clock import Clock, SystemClock
from aura.ports.toolset import StartableToolset, Toolset
from aura.ports.tracer import NoopTracer, Span, SpanKind, Tracer, guarded

logger = logging.getLogger(__name__)

TOOL_RESULT_SEPARATOR = "\n\n"
CONTEXT_OVERFLOW_MESSAGE = (
    "My tools returned more data than I can work with at once.\n\n**To help me out, try:**\n"
    "- Narrowing your search with filters\n- Asking for a summary instead of full results\n"
    "- Splitting into smaller requests"
)

T = TypeVar("T")


class _closing(Generic[T]):  # lower case: it reads as the function it replaced, `async with _closing(gen)`
    """Close a nested async generator as soon as its consumer stops, instead of at garbage collection.

    Without it, cancelling a turn would leave in-flight tool calls to asyncio's finaliser. A class rather than an
    `@asynccontextmanager` generator: a turn enters it at least twice.
    """

    __slots__ = ("_iterator",)

    def __init__(self, iterator: AsyncIterator[T]) -> None:
        self._iterator = iterator

    async def __aenter__(self) -> AsyncIterator[T]:
        return self._iterator

    async def __aexit__(self, *exc_info: object) -> None:
        close = getattr(self._iterator, "aclose", None)
        if close is not None:
            await close()


def _at_least(minimum: float, meaning: str = "", *, optional: bool = False) -> Any:
    """An attrs validator: a finite number >= `minimum` (or `None` when `optional`)."""

    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None and optional:
            return
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not value >= minimum
            or value == float("inf")
        ):
            expected = f"a number >= {minimum:g}{f' ({meaning})' if meaning else ''}"
            raise ValueError(f"AgentSettings.{attribute.name}: expected {expected}, got {value!r}")

    return check


def _paragraphs(value: Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _not_blank(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ValueError(f"AgentSettings.{attribute.name}: expected a non-empty string, got {value!r}")


@attrs.frozen
class BackgroundTaskPolicy:
    """How the agent answers a chat UI's background requests (titles, tags, follow-ups, autocomplete).

    The HTTP adapter recognises such requests. `agent` hands them to another agent (by id or name);
    otherwise this agent answers them, without tools when `tools` is false, and with at most
    `max_tokens` output tokens when set. The defaults answer them like any other request.
    """

    agent: str | None = None
    tools: bool = True
    max_tokens: int | None = None


@attrs.frozen
class AgentSettings:
    """Identity and runtime behaviour of one agent: the `[agent]` table of a config file, minus the model.

    Values mean the same as there, and are checked when the settings are built (a `ValueError` names the
    field): `turn_depth` bounds tool-calling rounds (at most N rounds run tools, so the model is called at
    most N+1 times; if call N+1 still asks for tools the turn ends with a max-depth error; `0` offers no
    tools at all). `tool_timeout_secs` limits each tool call (`0` or `None`: no limit);
    `max_tool_result_chars` cuts longer tool results (`0`: no limit). `context` entries are appended to
    the system prompt as extra paragraphs.
    """

    name: str = attrs.field(validator=_not_blank)
    system_prompt: str
    alias: str | None = attrs.field(default=None, validator=_not_blank)
    context: tuple[str, ...] = attrs.field(default=(), converter=_paragraphs)
    temperature: float | None = attrs.field(default=None, validator=_at_least(0, optional=True))
    max_tokens: int | None = attrs.field(default=None, validator=_at_least(1, optional=True))
    reasoning_effort: str | None = None
    turn_depth: int = attrs.field(default=5, validator=_at_least(0, "0 = no tools offered"))
    context_window: int | None = attrs.field(default=None, validator=_at_least(0, optional=True))
    model_owner: str | None = None
    created_at_ms: int | None = attrs.field(default=None, validator=_at_least(0, optional=True))
    tool_timeout_secs: float | None = attrs.field(default=300.0, validator=_at_least(0, "0 = no limit", optional=True))
    max_tool_result_chars: int = attrs.field(default=100_000, validator=_at_least(0, "0 = no limit"))
    client_tools: ClientToolPolicy = attrs.field(factory=ClientToolPolicy)
    background_tasks: BackgroundTaskPolicy = attrs.field(factory=BackgroundTaskPolicy)

    @property
    def id(self) -> str:
        return self.alias if self.alias is not None else self.name

    @property
    def full_system_prompt(self) -> str:
        """The system prompt with `context` entries appended as extra paragraphs."""
        return "\n\n".join((self.system_prompt, *self.context))

    @property
    def tool_timeout(self) -> float | None:
        """The per-call limit in seconds, `None` for no limit (`tool_timeout_secs` 0 or `None`)."""
        return self.tool_timeout_secs or None


class Agent:
    """An LLM with tools. Stateless between turns: the caller supplies the history each time.

    Use it as an async context manager (`async with Agent(...) as agent:`), which starts the toolsets that
    need it (MCP connections) and closes everything on exit; or call `start()` and `aclose()` yourself.
    A closed agent refuses new turns with `AgentClosedError`.
    """

    guarded_tracer: Tracer
    """The tracer turns use: `tracer`, with its failures logged instead of raised into the turn."""

    def __init__(
        self,
        settings: AgentSettings,
        model: ChatModel,
        toolsets: Sequence[Toolset] = (),
        *,
        tracer: Tracer | None = None,
        clock: Clock | None = None,
        approval_gate: ApprovalGate | None = None,
    ) -> None:
        self.settings = settings
        self.model = model
        self.toolsets = tuple(toolsets)
        self.tracer = tracer or NoopTracer()
        self.clock: Clock = clock or SystemClock()
        #: holds tool calls that need a person's decision (None: every call runs)
        self.approval_gate = approval_gate
        self._closed = False
        self._reported_collisions: set[str] = set()
        self._registry: tuple[Sequence[Sequence[ToolSpec]], ToolRegistry] | None = None

    @property
    def id(self) -> str:
        return self.settings.id

    @property
    def tracer(self) -> Tracer:
        return self._tracer

    @tracer.setter
    def tracer(self, tracer: Tracer) -> None:
        self._tracer = tracer
        self.guarded_tracer = guarded(tracer)

    @property
    def model_string(self) -> str:
        """`<provider>/<model>`, as reported in responses."""
        return f"{self.model.provider}/{self.model.model_name}"

    @property
    def closed(self) -> bool:
        return self._closed

    async def __aenter__(self) -> Agent:
        try:
            await self.start()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Start every toolset that needs it (`StartableToolset`: MCP connections) and discover the tools.

        The toolsets start concurrently; the first failure (a required MCP server that is down) is raised as
        it is and the starts still running are cancelled. Optional: a toolset that is not started connects on
        first use.
        """
        self._check_open()
        await _all_or_first_failure(
            [toolset.start() for toolset in self.toolsets if isinstance(toolset, StartableToolset)]
        )
        await self.tool_registry()

    async def aclose(self) -> None:
        """Close every toolset (MCP sessions, stdio children) and the model client; idempotent.

        Everything is closed even when some closes fail; the failures are raised together afterwards as
        an `ExceptionGroup`.
        """
        if self._closed:
            return
        self._closed = True
        errors: list[Exception] = []
        closeables: list[Toolset | ChatModel] = [*self.toolsets, self.model]
        for closeable in closeables:
            try:
                await closeable.aclose()
            except Exception as error:
                errors.append(error)
        if errors:
            raise ExceptionGroup(f"closing agent {self.id!r} failed", errors)

    def _check_open(self) -> None:
        if self._closed:
            raise AgentClosedError(f"agent {self.id!r} is closed; build a new one to run more turns")

    async def tool_registry(self) -> ToolRegistry:
        """The tools offered to the model right now, under the names it sees them by."""
        self._check_open()
        if self.settings.turn_depth == 0 or not self.toolsets:
            return ToolRegistry()
        listed = await list_all(self.toolsets)
        cached = self._registry
        if cached is not None and same_listing(cached[0], listed):
            return cached[1]  # the same tools as last time: no rebuild, and the same specs for the schema caches
        registry = ToolRegistry.of(self.toolsets, listed)
        self._registry = (listed, registry)
        for collision in registry.collisions:
            if collision not in self._reported_collisions:
                self._reported_collisions.add(collision)
                logger.warning("agent %r: %s", self.id, collision)
        return registry

    async def run(self, history: Sequence[Message] | str, context: RequestContext | None = None) -> TurnFinished:
        """Run a turn to the end and return its final event (the library's non-streaming API)."""
        final: TurnFinished | None = None
        async for event in self.run_turn(history, context):
            if isinstance(event, TurnFinished):
                final = event
        assert final is not None  # run_turn always ends with TurnFinished
        return final

    def run_turn(
        self, history: Sequence[Message] | str, context: RequestContext | None = None
    ) -> AsyncGenerator[TurnEvent, None]:
        """Stream one turn. The last event is always `TurnFinished`.

        Cancelling the consuming task (or closing this generator) cancels in-flight tool calls. The turn's own
        generator is returned as it is: a pass-through layer would cost a hop per streamed token.
        Raises `AgentClosedError` once the agent is closed.
        """
        self._check_open()
        context = context or RequestContext()
        if isinstance(history, str):
            history = [UserMessage(history)]
        return _Turn(self, context).run(history)


async def start_agents(agents: Sequence[Agent]) -> None:
    """Start every agent's toolsets at once, so startup takes as long as the slowest server, not the sum.

    The first failure (a required MCP server that is down) is raised as it is and the starts still running
    are cancelled. Each agent's tools are discovered too, so the first request pays nothing.
    """
    await _all_or_first_failure([agent.start() for agent in agents])


async def _all_or_first_failure(coroutines: Sequence[Coroutine[Any, Any, None]]) -> None:
    """Run concurrently; the first failure is raised as it is (not in a group) once the rest are cancelled."""
    tasks = [asyncio.ensure_future(coroutine) for coroutine in coroutines]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def close_agents(agents: Sequence[Agent]) -> None:
    """Close every agent, even when some fail to close (each failure is logged, none raised)."""
    for agent in agents:
        try:
            await agent.aclose()
        except Exception:
            logger.exception("closing agent %r failed", agent.id)


@attrs.define
class _Turn:
    """State of one running turn."""

    agent: Agent
    context: RequestContext
    tracker: UsageTracker = attrs.field(factory=UsageTracker)
    content: list[str] = attrs.field(factory=list)
    tools_ran: bool = False
    separator_pending: bool = False
    completed_since_round: list[str] = attrs.field(factory=list)
    decisions: dict[str, ApprovalDecision] = attrs.field(factory=dict)

    async def run(self, history: Sequence[Message]) -> AsyncGenerator[TurnEvent, None]:
        agent = self.agent
        settings = agent.settings
        span = agent.guarded_tracer.start_span(
            "agent.turn",
            SpanKind.AGENT,
            {
                "llm.model_name": agent.model.model_name,
                "llm.provider": agent.model.provider,
                "llm.system": agent.model.provider,
                "agent.name": settings.id,
                "session.id": self.context.session_id,
                "http.request_id": self.context.request_id,
                "message_count": len(history),
            },
            parent=self.context.parent_span,
        )
        if agent.guarded_tracer.records_content and history:
            span.set_attribute("input.value", _message_text(history[-1]))
        final: TurnFinished | None = None
        try:
            async with _closing(self._rounds(history, span)) as events:
                async for event in events:
                    if isinstance(event, TurnFinished):
                        final = event
                    yield event
        finally:
            self._finish_span(span, final)

    def _finish_span(self, span: Span, final: TurnFinished | None) -> None:
        turn_usage = self.tracker.turn
        if self.tracker.known:
            span.set_attributes(
                {
                    "llm.token_count.prompt": turn_usage.prompt_tokens,
                    "llm.token_count.completion": turn_usage.completion_tokens,
                    "llm.token_count.total": turn_usage.total_tokens,
                }
            )
            if self.tracker.tool_completion_tokens:
                span.set_attribute("llm.token_count.tool_completion", self.tracker.tool_completion_tokens)
        if final is None:
            span.record_error("cancelled")
        elif final.error is not None:
            span.record_error(final.error.detail or final.error.message)
        elif self.agent.guarded_tracer.records_content:
            span.set_attribute("output.value", final.content)
        span.end()

    async def _rounds(self, history: Sequence[Message], turn_span: Span) -> AsyncIterator[TurnEvent]:
        agent = self.agent
        settings = agent.settings
        registry = await agent.tool_registry()
        client_specs = _offered_client_tools(settings, registry, self.context.client_tools)
        client_names = {spec.name for spec in client_specs}
        specs = (*registry.specs, *client_specs) if client_specs else registry.specs
        messages: list[Message] = [SystemMessage(settings.full_system_prompt), *history]
        generation = GenerationSettings(
            settings.temperature, output_cap(settings.max_tokens, self.context.max_tokens), settings.reasoning_effort
        )
        first_round = 0
        resumed = None if agent.approval_gate is None else await agent.approval_gate.resume(history, self.context)
        if resumed is not None:
            messages = [SystemMessage(settings.full_system_prompt), *resumed.parked.messages]
            async for decided_event in self._run_decided(resumed, registry, messages, turn_span):
                yield decided_event
            first_round = resumed.parked.round_index + 1
        for round_index in range(first_round, settings.turn_depth + 1):
            request = ChatRequest(tuple(messages), specs, generation, background=self.context.background)
            calls: list[ToolCall] = []
            round_text: list[str] = []
            round_reasoning: list[str] = []
            model_finish = FinishReason.STOP
            llm_span = agent.guarded_tracer.start_span(
                "llm.call",
                SpanKind.LLM,
                {
                    "llm.model_name": agent.model.model_name,
                    "llm.provider": agent.model.provider,
                    "llm.system": agent.model.provider,
                    "agent.turn": round_index,
                    "llm.invocation_parameters": _invocation_parameters(generation),
                },
                parent=turn_span,
            )
            if agent.guarded_tracer.records_content:
                _record_input_messages(llm_span, messages)
            round_usage: Usage | None = None
            try:
                async with _closing(agent.model.stream(request)) as model_events:
                    async for event in model_events:
                        if isinstance(event, TextDelta):
                            if not event.text:
                                continue
                            text = self._with_separator(event.text)
                            round_text.append(event.text)
                            self.content.append(text)
                            yield event if text is event.text else TextDelta(text)
                        elif isinstance(event, ReasoningDelta):
                            round_reasoning.append(event.text)
                            yield event
                        elif isinstance(event, ToolCallReady):
                            calls.append(event.call)
                        elif isinstance(event, UsageReported):
                            round_usage = event.usage if round_usage is None else round_usage + event.usage
                        elif isinstance(event, ModelFinished):
                            model_finish = event.finish_reason
                        elif isinstance(event, ModelStatus):
                            yield event
            except ProviderError as error:
                # adapters redact secrets from provider errors, so the detail is safe for the operator's log
                logger.warning("model %s failed (request %s): %s", agent.model_string, self.context.request_id, error)
                llm_span.record_error(str(error))
                llm_span.end()
                yield self._failed(_provider_turn_error(error, agent.model_string))
                return
            except (asyncio.CancelledError, GeneratorExit):  # GeneratorExit: the turn was closed at a yield
                llm_span.record_error("cancelled")
                llm_span.end()
                raise
            except Exception as error:  # a bug in an adapter must not kill the stream silently
                logger.exception("model adapter %s failed", agent.model_string)
                llm_span.record_error(repr(error))
                llm_span.end()
                yield self._failed(
                    TurnError(TurnErrorKind.INTERNAL, _generic_provider_message(agent.model_string), repr(error))
                )
                return
            self._end_llm_span(llm_span, round_usage, "".join(round_text), calls)
            if round_usage is not None:
                self.tracker.record(round_usage, round_called_tools=bool(calls))
                yield RoundUsage(round_usage, round_index, tuple(self.completed_since_round))
                self.completed_since_round.clear()

            if not calls:
                finish = FinishReason.LENGTH if model_finish is FinishReason.LENGTH else FinishReason.STOP
                yield self._finished(finish)
                return
            client_calls = tuple(call for call in calls if call.name in client_names)
            server_calls = [call for call in calls if call.name not in client_names]
            if round_index == settings.turn_depth and server_calls:
                n = settings.turn_depth
                yield self._failed(
                    TurnError(
                        TurnErrorKind.MAX_DEPTH,
                        f"I stopped after {n} tool-calling round{'s' if n != 1 else ''} "
                        "(the agent's turn_depth limit) before reaching an answer.",
                        f"MaxDepthError: reached limit {n}",
                    )
                )
                return
            messages.append(
                AssistantMessage("".join(round_text), tuple(server_calls), reasoning="".join(round_reasoning))
            )
            held = await self._held_calls(server_calls, registry, "".join(round_text))
            held_ids = {item.call.id for item in held}
            runnable = [call for call in server_calls if call.id not in held_ids]
            async for tool_event in self._run_round(runnable, registry, messages, turn_span):
                yield tool_event
            if held:
                async for park_event in self._park(held, messages, round_index):
                    yield park_event
                return
            if client_calls:
                # Server tools of the round have run; the caller runs the rest and continues the conversation.
                yield attrs.evolve(self._finished(FinishReason.TOOL_CALLS), client_tool_calls=client_calls)
                return
        raise AssertionError("unreachable: the loop returns on its last round")  # pragma: no cover

    async def _run_round(
        self, calls: list[ToolCall], registry: ToolRegistry, messages: list[Message], turn_span: Span
    ) -> AsyncIterator[TurnEvent]:
        """Run one round's calls and append their results to the conversation."""
        if not calls:
            return
        for call in calls:
            yield ToolRequested(call)
        results: dict[str, ToolResult] = {}
        async with _closing(self._run_tools(calls, registry, turn_span)) as tool_events:
            async for tool_event in tool_events:
                if isinstance(tool_event, ToolCompleted):
                    results[tool_event.call.id] = tool_event.result
                    self.completed_since_round.append(tool_event.call.id)
                yield tool_event
        for call in calls:
            result = results[call.id]
            messages.append(ToolResultMessage(call.id, call.name, result.content, result.is_error))
        self.tools_ran = True
        self.separator_pending = True

    async def _held_calls(
        self, calls: list[ToolCall], registry: ToolRegistry, round_text: str
    ) -> list[PendingApproval]:
        """The calls the agent's approval policy holds for a person (none once they said "approve all")."""
        gate = self.agent.approval_gate
        if gate is None or not gate.policy.enabled or await gate.session_approves_all(self.context.session_id):
            return []
        held: list[PendingApproval] = []
        expires_at = self.agent.clock.now() + gate.policy.timeout_secs
        for call in calls:
            tool = registry.get(call.name)
            if tool is None:  # an unknown tool only gets "not found": nothing to approve
                continue
            requirement = gate.policy.requirement(
                tool.toolset.name,
                tool.original_name,
                tool.spec.annotations,
                builtin_read_only=tool.spec.builtin_read_only,
            )
            if requirement.needs_approval:
                pending = PendingApproval(
                    new_decision_id(),
                    call,
                    tool.toolset.name,
                    tool.original_name,
                    requirement.reason,
                    round_text,
                    expires_at,
                )
                held.append(pending)
        return held

    async def _park(
        self, held: list[PendingApproval], messages: list[Message], round_index: int
    ) -> AsyncIterator[TurnEvent]:
        gate = self.agent.approval_gate
        assert gate is not None  # only called when calls were held
        parked = ParkedTurn(
            turn_id="turn_" + held[0].decision_id.removeprefix("apr_"),
            agent_id=self.agent.id,
            session_id=self.context.session_id,
            messages=tuple(messages[1:]),  # the system prompt is the agent's, re-added on resume
            round_index=round_index,
            pending=tuple(held),
        )
        await gate.park(parked, self.context)
        for pending in held:
            yield ApprovalRequested(self.agent.id, pending)
        text = self._with_separator(approval_request_text(held, gate.policy.timeout_secs))
        self.content.append(text)
        yield TextDelta(text)
        yield self._finished(FinishReason.STOP)

    async def _run_decided(
        self, resumed: ResumedTurn, registry: ToolRegistry, messages: list[Message], turn_span: Span
    ) -> AsyncIterator[TurnEvent]:
        """Apply the decisions of a resumed turn: run the approved calls, answer the denied ones with the denial."""
        approved: list[ToolCall] = []
        for pending in resumed.parked.pending:
            decision = resumed.decisions[pending.decision_id]
            self.decisions[pending.call.id] = decision
            yield ApprovalDecided(self.agent.id, pending, decision)
            if decision.decision is Decision.APPROVE:
                approved.append(pending.call)
            else:
                messages.append(ToolResultMessage(pending.call.id, pending.call.name, denial_text(decision), True))
        async for event in self._run_round(approved, registry, messages, turn_span):
            yield event
        self.separator_pending = False

    def _with_separator(self, text: str) -> str:
        if self.separator_pending:
            self.separator_pending = False
            if any(self.content):
                return TOOL_RESULT_SEPARATOR + text
        return text

    def _end_llm_span(self, span: Span, usage: Usage | None, text: str, calls: list[ToolCall]) -> None:
        if usage is not None:
            span.set_attributes(
                {
                    "llm.token_count.prompt": usage.prompt_tokens,
                    "llm.token_count.completion": usage.completion_tokens,
                    "llm.token_count.total": usage.total_tokens,
                }
            )
        if self.agent.guarded_tracer.records_content:
            span.set_attribute("llm.output_messages.0.message.role", "assistant")
            span.set_attribute("llm.output_messages.0.message.content", text)
            for i, call in enumerate(calls):
                prefix = f"llm.output_messages.0.message.tool_calls.{i}.tool_call"
                span.set_attribute(f"{prefix}.function.name", call.name)
                span.set_attribute(f"{prefix}.function.arguments", call.arguments)
        span.end()

    def _finished(self, finish: FinishReason, error: TurnError | None = None) -> TurnFinished:
        return TurnFinished(
            finish_reason=finish,
            content="".join(self.content),
            usage=self.tracker.aggregate if self.tracker.known and error is None else None,
            turn_usage=self.tracker.turn if self.tracker.known else None,
            tool_completion_tokens=self.tracker.tool_completion_tokens,
            rounds=self.tracker.rounds,
            error=error,
        )

    def _failed(self, error: TurnError) -> TurnFinished:
        return self._finished(FinishReason.STOP, error)

    async def _run_tools(
        self, calls: list[ToolCall], registry: ToolRegistry, turn_span: Span
    ) -> AsyncIterator[TurnEvent]:
        """Run one round's calls concurrently; yield their events in arrival order.

        Every call ends with exactly one `ToolCompleted`: `_run_tool` turns any failure of its own (a
        toolset, a tracer, the clock) into an error result, and a task that still ends without one
        (a bug) is reported here as an error result instead of leaving the round waiting.
        """
        events: asyncio.Queue[TurnEvent] = asyncio.Queue(maxsize=1024)
        tasks = {
            asyncio.create_task(self._run_tool(call, registry, events, turn_span), name=f"tool:{call.name}"): call
            for call in calls
        }
        pending_calls = {call.id for call in calls}
        next_event: asyncio.Task[TurnEvent] | None = None
        try:
            while pending_calls:
                next_event = asyncio.ensure_future(events.get())
                running = [task for task in tasks if not task.done()]
                await asyncio.wait([next_event, *running], return_when=asyncio.FIRST_COMPLETED)
                if next_event.done():
                    event = next_event.result()
                    next_event = None
                    if isinstance(event, ToolCompleted):
                        pending_calls.discard(event.call.id)
                    yield event
                    continue
                next_event.cancel()
                next_event = None
                if not events.empty():
                    continue  # drain what the finished tasks queued before judging them
                for task, call in tasks.items():
                    if task.done() and call.id in pending_calls:
                        pending_calls.discard(call.id)
                        yield ToolCompleted(call, _lost_result(task), 0)
        finally:
            if next_event is not None:
                next_event.cancel()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _run_tool(
        self,
        call: ToolCall,
        registry: ToolRegistry,
        events: asyncio.Queue[TurnEvent],
        turn_span: Span,
    ) -> None:
        agent = self.agent
        tracer = agent.guarded_tracer
        started = agent.clock.monotonic()
        token = call.id
        await events.put(ToolStarted(call, token, known_tool=registry.get(call.name) is not None))

        async def report_progress(update: ProgressUpdate) -> None:
            await events.put(ToolProgress(call, token, update))

        span = tracer.start_span(
            "tool.call", SpanKind.TOOL, {"tool.name": call.name, "tool.call_id": call.id}, parent=turn_span
        )
        try:
            if tracer.records_content:
                span.set_attribute("tool.parameters", call.arguments)
                span.set_attribute("input.value", call.arguments)
            decision = self.decisions.get(call.id)
            if decision is not None:
                span.set_attribute("approval.decision", decision.decision.value)
                span.set_attribute("approval.source", decision.source.value)
                span.set_attribute("approval.approver", decision.approver or "")
            result = await self._execute(call, registry, report_progress, span)
        except asyncio.CancelledError:
            span.record_error("cancelled")
            span.set_attribute("tool.cancelled", True)
            span.end()
            raise
        except Exception as error:  # a toolset bug becomes a tool error, never a dead turn
            logger.exception("tool %s failed unexpectedly", call.name)
            result = ToolResult.error(f"Tool execution failed: {error}")
        result = _bounded(result, agent.settings.max_tool_result_chars)
        span.set_attribute("tool.result.length", len(result.content))
        if tracer.records_content:
            span.set_attribute("output.value", result.content)
        if result.is_error:
            span.record_error(result.content)
        span.end()
        try:
            duration_ms = int((agent.clock.monotonic() - started) * 1000)
        except Exception:
            logger.exception("the agent's clock failed")
            duration_ms = 0
        await events.put(ToolCompleted(call, result, duration_ms))

    async def _execute(self, call: ToolCall, registry: ToolRegistry, report_progress: Any, span: Span) -> ToolResult:
        tool = registry.get(call.name)
        if tool is None:
            return ToolResult.error(f"Tool not found: {call.name}")
        try:
            arguments = json.loads(call.arguments) if call.arguments.strip() else {}
        except json.JSONDecodeError as error:
            return ToolResult.error(f"Invalid tool arguments: not valid JSON ({error})")
        if not isinstance(arguments, dict):
            return ToolResult.error(f"Invalid tool arguments: expected a JSON object, got {type(arguments).__name__}")
        timeout = self.agent.settings.tool_timeout
        context = ToolCallContext(
            call_id=call.id,
            tool_name=call.name,
            request=self.context,
            progress_token=call.id,
            report_progress=report_progress,
            timeout=timeout,
            span=span,
            tracer=self.agent.guarded_tracer,
        )
        try:
            async with asyncio.timeout(timeout):
                return await tool.toolset.call_tool(tool.original_name, arguments, context)
        except TimeoutError:
            return ToolResult.error(f"Timeout: tool '{call.name}' did not finish within {timeout:g} s")


def _offered_client_tools(
    settings: AgentSettings, registry: ToolRegistry, client_tools: Sequence[ToolSpec]
) -> tuple[ToolSpec, ...]:
    """The caller's tools the model may see: admitted by the agent's policy, never shadowing a server tool.

    A client tool named like one of the agent's own tools is hidden (the agent's tool wins), with a
    warning: the model cannot tell two tools of one name apart, and a server tool must never be handed
    to the caller. With `turn_depth = 0` no tools at all are offered.
    """
    if not client_tools or settings.turn_depth == 0:
        return ()
    offered: dict[str, ToolSpec] = {}
    for spec in client_tools:
        if not settings.client_tools.admits(spec.name):
            continue
        if registry.get(spec.name) is not None:
            logger.warning("client tool %r is hidden: agent %s has a tool of that name", spec.name, settings.id)
            continue
        offered.setdefault(spec.name, spec)
    return tuple(offered.values())


def _lost_result(task: asyncio.Task[None]) -> ToolResult:
    """The error result of a tool task that ended without reporting its call's completion."""
    error = None if task.cancelled() else task.exception()
    if error is not None:
        logger.error("tool task %s failed", task.get_name(), exc_info=error)
    reason = "it was cancelled" if error is None else f"{type(error).__name__}: {error}"
    return ToolResult.error(f"Tool execution failed: {reason}")


def output_cap(agent_max_tokens: int | None, request_max_tokens: int | None) -> int | None:
    """The output cap sent to the provider: the smaller of the agent's and the request's, whichever are set.

    A request's `0` becomes 1: no provider accepts a cap of zero tokens.
    """
    if request_max_tokens is None:
        return agent_max_tokens
    request_max_tokens = max(request_max_tokens, 1)
    return request_max_tokens if agent_max_tokens is None else min(agent_max_tokens, request_max_tokens)


def _bounded(result: ToolResult, limit: int) -> ToolResult:
    if limit <= 0 or len(result.content) <= limit:
        return result
    marker = f"\n... [truncated: result was {len(result.content)} characters, limit {limit}]"
    return attrs.evolve(result, content=result.content[:limit] + marker)


def _generic_provider_message(model_string: str) -> str:
    return (
        f"The upstream model provider ({model_string}) returned an error and the request could not be "
        "completed. Please try again or contact support if the issue persists."
    )


def _provider_turn_error(error: ProviderError, model_string: str) -> TurnError:
    if error.kind is ProviderErrorKind.CONTEXT_OVERFLOW or is_context_overflow(error.message):
        return TurnError(TurnErrorKind.CONTEXT_OVERFLOW, CONTEXT_OVERFLOW_MESSAGE, str(error))
    if error.kind is ProviderErrorKind.TIMEOUT:
        return TurnError(
            TurnErrorKind.TIMEOUT,
            f"The upstream model provider ({model_string}) timed out. Please try again.",
            str(error),
        )
    if error.kind is ProviderErrorKind.OVERLOADED:
        message = (
            f"This agent is already running as many model requests as it is configured for, so {model_string} "
            "was not called. Please try again shortly."
        )
        return TurnError(TurnErrorKind.OVERLOADED, message, str(error))
    if error.kind is ProviderErrorKind.AUTHENTICATION:
        message = (
            f"The upstream model provider ({model_string}) rejected this server's credentials; "
            "the server's operator needs to check its API key."
        )
        return TurnError(TurnErrorKind.PROVIDER, message, str(error))
    if error.kind is ProviderErrorKind.RATE_LIMITED:
        message = f"The upstream model provider ({model_string}) is rate limiting requests. Please try again shortly."
        return TurnError(TurnErrorKind.PROVIDER, message, str(error))
    return TurnError(TurnErrorKind.PROVIDER, _generic_provider_message(model_string), str(error))


def _message_text(message: Message) -> str:
    if isinstance(message, UserMessage):
        return message.text
    return message.content


def _record_input_messages(span: Span, messages: Sequence[Message]) -> None:
    for i, message in enumerate(messages):
        prefix = f"llm.input_messages.{i}.message"
        span.set_attribute(f"{prefix}.role", message.role)
        span.set_attribute(f"{prefix}.content", _message_text(message))
        if isinstance(message, AssistantMessage):
            for j, call in enumerate(message.tool_calls):
                span.set_attribute(f"{prefix}.tool_calls.{j}.tool_call.id", call.id)
                span.set_attribute(f"{prefix}.tool_calls.{j}.tool_call.function.name", call.name)
                span.set_attribute(f"{prefix}.tool_calls.{j}.tool_call.function.arguments", call.arguments)
        elif isinstance(message, ToolResultMessage):
            span.set_attribute(f"{prefix}.tool_call_id", message.tool_call_id)
            span.set_attribute(f"{prefix}.name", message.tool_name)


@functools.lru_cache(maxsize=64)  # the same few settings on every round of every turn
def _invocation_parameters(generation: GenerationSettings) -> str:
    """OpenInference `llm.invocation_parameters`: the generation settings that are set, as JSON."""
    parameters = {
        "temperature": generation.temperature,
        "max_tokens": generation.max_tokens,
        "reasoning_effort": generation.reasoning_effort,
    }
    return json.dumps({key: value for key, value in parameters.items() if value is not None})
