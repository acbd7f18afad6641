"""`POST /v1/chat/completions`: request → agent → streamed SSE or one JSON `chat.completion`.

Both answers run the turn with the same `TurnRunner` (timeouts, shutdown, client disconnect); the
stream's sink encodes frames, the JSON sink collects the answer. Before the turn starts, the request
is routed: a chat UI's background task may go to another agent or lose its tools
(`AgentSettings.background_tasks`), and the request's `tools` reach the turn only for an agent that
accepts client tools (`AgentSettings.client_tools`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import attrs
from aiohttp import web

from aura.adapters.http.agent_directory import AgentDirectory
from aura.adapters.http.chat_request import (
    ChatCompletionRequest,
    forwardable_headers,
    new_completion_id,
    new_request_id,
    parse_chat_request,
    resolve_session_id,
)
from aura.adapters.http.errors import INTERNAL, UNAVAILABLE, UPSTREAM, ApiError, invalid_request
from aura.adapters.http.observer import ServerObserver, TurnObservation
from aura.adapters.http.openwebui import render_tool_panel
from aura.adapters.http.options import ServerOptions, ToolResultMode
from aura.adapters.http.request_keys import AGENT_ID, RESPONSE_STATUS
from aura.adapters.http.request_scope import RequestScope, no_request_scope
from aura.adapters.http.shutdown import ShutdownCoordinator
from aura.adapters.http.sse import (
    ChunkEncoder,
    StreamIdentity,
    after_panel,
    finish_reason_of,
    tool_call_json,
    truncate_utf8,
    usage_json,
)
from aura.adapters.http.streaming import SseStream, Termination, TurnRunner
from aura.domain.agent import Agent
from aura.domain.events import RoundUsage, TextDelta, ToolCompleted, TurnErrorKind, TurnEvent, TurnFinished
from aura.domain.tools import RequestContext, ToolSpec
from aura.domain.usage import Usage
from aura.ports.tracer import Span, SpanKind, Tracer

logger = logging.getLogger(__name__)

CHAT_COMPLETIONS_PATH = "/v1/chat/completions"
SESSION_HEADER = "X-Chat-Session-Id"
DISCONNECTED = "disconnected"
TURN_ERROR = "error"
SHUT_DOWN_BEFORE_ANSWER = "The server shut down before the answer was ready. Please try again."
STREAM_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}

# Turn errors that mean "the provider failed": before any text they become 502/504 on the JSON path.
_GATEWAY_STATUS = {
    TurnErrorKind.PROVIDER: 502,
    TurnErrorKind.CONTEXT_OVERFLOW: 502,
    TurnErrorKind.INTERNAL: 502,
    TurnErrorKind.TIMEOUT: 504,
    TurnErrorKind.OVERLOADED: 503,  # our own connection limit: the provider was not called
}


@attrs.frozen
class _Prepared:
    agent: Agent
    request: ChatCompletionRequest
    context: RequestContext
    completion_id: str
    created: int


@attrs.define
class _Collected:
    """The JSON answer's sink: what a non-streaming turn produced so far.

    In `open-web-ui` mode the server's tool calls go into the text as OpenWebUI's tool panels, as in a stream.
    """

    panels: bool = False
    panel_result_limit: int = 0
    texts: list[str] = attrs.Factory(list)
    round_usage: Usage | None = None
    final: TurnFinished | None = None
    _after_panel: bool = False

    async def __call__(self, event: TurnEvent) -> None:
        if isinstance(event, TextDelta):
            text = after_panel(event.text) if self._after_panel and event.text else event.text
            self._after_panel = self._after_panel and not event.text
            self.texts.append(text)
        elif isinstance(event, ToolCompleted) and self.panels:
            result = truncate_utf8(event.result.content, self.panel_result_limit)
            panel = render_tool_panel(event.call, result, event.result.is_error)
            self.texts.append(f"\n\n{panel}" if any(self.texts) else panel)
            self._after_panel = True
        elif isinstance(event, RoundUsage):
            usage = self.round_usage
            self.round_usage = event.usage if usage is None else usage + event.usage
        elif isinstance(event, TurnFinished):
            self.final = event


class ChatCompletionsHandler:
    """Handles chat completions for a fixed set of agents."""

    def __init__(
        self,
        directory: AgentDirectory,
        options: ServerOptions,
        coordinator: ShutdownCoordinator,
        tracer: Tracer,
        observer: ServerObserver,
        request_scope: RequestScope = no_request_scope,
    ) -> None:
        self.directory = directory
        self.options = options
        self.coordinator = coordinator
        self.tracer = tracer
        self.observer = observer
        self.request_scope = request_scope
        for agent in directory.agents:
            target = agent.settings.background_tasks.agent
            if target is not None and directory.find(target) is None:
                raise ValueError(
                    f"agent {agent.id!r}: background_tasks.agent {target!r} "
                    "does not match any loaded agent name or alias"
                )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Parse, pick the agent, run the turn and answer, inside the request scope (log correlation)."""
        request_id = new_request_id()
        with self.request_scope(request_id=request_id, session_id=None, agent_id=None, trace_id=None):
            return await self._handle(request, request_id)

    async def _handle(self, request: web.Request, request_id: str) -> web.StreamResponse:
        if request.content_length is not None and request.content_length > self.options.max_body_bytes:
            raise _too_large(self.options.max_body_bytes)
        body = await request.read()
        chat_request = parse_chat_request(body)
        agent = self.directory.select(chat_request.model)
        if chat_request.task_kind is not None:
            agent = self._task_agent(agent, chat_request.task_kind)
        client_tools = self._client_tools(agent, chat_request)
        request[AGENT_ID] = agent.id
        headers = forwardable_headers(request.headers)
        if self.options.auth_enabled:
            # The header carries this server's own API key: it must never travel on to an MCP server.
            headers.pop("authorization", None)
        session_id = resolve_session_id(chat_request.metadata_session_id, headers)
        span = self.tracer.start_span(
            "POST /v1/chat/completions",
            SpanKind.CHAIN,
            {
                "http.request_id": request_id,
                "session.id": session_id,
                "agent.name": agent.id,
                "http.streaming": chat_request.stream,
            },
        )
        approver_header = self.options.approver_header
        context = RequestContext(
            request_id=request_id,
            session_id=session_id,
            headers=headers,
            parent_span=span,
            client_tools=client_tools,
            approver=request.headers.get(approver_header) if approver_header else None,
            max_tokens=chat_request.max_tokens,
            background=chat_request.task_kind is not None,
        )
        prepared = _Prepared(agent, chat_request, context, new_completion_id(), int(time.time()))
        try:
            # Tasks started inside (the SSE producer, the turn, tool calls) copy the scope's context.
            with self.request_scope(
                request_id=request_id, session_id=session_id, agent_id=agent.id, trace_id=span.trace_id
            ):
                logger.info(
                    "chat completion %s: agent=%s session=%s stream=%s history=%d%s%s%s",
                    request_id,
                    agent.id,
                    session_id,
                    chat_request.stream,
                    len(chat_request.history),
                    f" client_tools={len(client_tools)}" if client_tools else "",
                    " continues=tool_results" if chat_request.continues else "",
                    f" task={chat_request.task_kind}" if chat_request.task_kind else "",
                )
                with self.coordinator.track(streaming=chat_request.stream):
                    if chat_request.stream:
                        return await self._stream(request, prepared, span)
                    return await self._complete(prepared, span)
        except asyncio.CancelledError:
            span.record_error("client disconnected")
            raise
        finally:
            span.end()

    def _task_agent(self, agent: Agent, kind: str) -> Agent:
        """The agent that answers a chat UI's background task, per the selected agent's `background_tasks`."""
        policy = agent.settings.background_tasks
        target = self.directory.find(policy.agent) if policy.agent is not None else agent
        assert target is not None  # checked at construction
        settings = target.settings
        max_tokens = settings.max_tokens
        if policy.max_tokens is not None:
            max_tokens = policy.max_tokens if max_tokens is None else min(max_tokens, policy.max_tokens)
        if policy.tools and max_tokens == settings.max_tokens:
            return target
        logger.debug("background task %s: answered by %s (tools=%s)", kind, target.id, policy.tools)
        # A per-request view of the agent: same model client and toolsets, other settings. Never closed here.
        settings = attrs.evolve(settings, max_tokens=max_tokens, turn_depth=settings.turn_depth if policy.tools else 0)
        return Agent(
            settings,
            target.model,
            target.toolsets,
            tracer=target.tracer,
            clock=target.clock,
            approval_gate=target.approval_gate,
        )

    def _client_tools(self, agent: Agent, chat_request: ChatCompletionRequest) -> tuple[ToolSpec, ...]:
        """The request's `tools` when the agent accepts client tools; a 400 for a continuation it cannot accept."""
        policy = agent.settings.client_tools
        if chat_request.continues and not policy.enabled:
            raise invalid_request(
                f"messages: the conversation ends in tool results, but agent '{agent.id}' runs its tools itself and "
                "accepts no client tools (set [agent] client_tools.enabled to allow them); "
                "the last message must be from the user",
                "messages",
            )
        if not policy.enabled or chat_request.task_kind is not None:
            if chat_request.tools:
                logger.info("the request's tools are ignored: agent %s accepts no client tools here", agent.id)
            return ()
        if chat_request.tool_choice_none:
            return ()
        return chat_request.tools

    async def _stream(self, request: web.Request, prepared: _Prepared, span: Span) -> web.StreamResponse:
        identity = StreamIdentity(
            completion_id=prepared.completion_id,
            created=prepared.created,
            model=prepared.agent.model_string,
            agent_id=prepared.agent.id,
            session_id=prepared.context.session_id,
            trace_id=span.trace_id,
            context_window=prepared.agent.settings.context_window,
        )
        encoder = ChunkEncoder(identity, self.options, max_tokens=prepared.request.max_tokens)
        response = web.StreamResponse(status=200, headers={**STREAM_HEADERS, SESSION_HEADER: identity.session_id})
        await response.prepare(request)
        request[RESPONSE_STATUS] = response.status
        agent_id = prepared.agent.id
        observation = TurnObservation(self.observer, agent_id, streaming=True)
        stream = SseStream(
            prepared.agent,
            prepared.request.messages,
            prepared.context,
            encoder,
            self.options,
            self.coordinator,
            observation,
        )
        self.observer.stream_started(agent_id)
        outcome = DISCONNECTED  # unless the stream runs to one of its ends below
        try:
            await stream.run(response)
            outcome = _stream_outcome(stream)
        finally:
            observation.close()
            self.observer.stream_ended(agent_id, outcome, time.monotonic() - observation.started)
        if stream.disconnected:
            span.record_error("client disconnected")
        elif stream.termination is not None and stream.termination is not Termination.COMPLETE:
            span.record_error(stream.termination.value)
        return response

    async def _complete(self, prepared: _Prepared, span: Span) -> web.Response:
        """Run the turn to its end and answer one JSON object.

        The turn is bounded by the stream timeout. It is cancelled (tools see `CancelledError`) when
        the client disconnects (handler cancellation) and in phase 2 of a shutdown, which answers 503
        instead of leaving the client to a dropped connection.
        """
        request_id = prepared.context.request_id
        collected = _Collected(
            panels=self.options.tool_result_mode is ToolResultMode.OPEN_WEB_UI,
            panel_result_limit=self.options.tool_result_max_length,
        )
        observation = TurnObservation(self.observer, prepared.agent.id, streaming=False)
        runner = TurnRunner(
            prepared.agent,
            prepared.request.messages,
            prepared.context,
            self.options,
            self.coordinator,
            observation,
            first_chunk_timeout=False,
        )
        try:
            termination = await runner.run(collected)
        finally:
            observation.close()
        if termination is Termination.SHUTDOWN:
            logger.info("chat completion %s stopped: the server is shutting down", request_id)
            span.record_error("shutdown")
            response = ApiError(503, SHUT_DOWN_BEFORE_ANSWER, UNAVAILABLE).response()
            response.force_close()
            return response
        if termination is Termination.STREAM_TIMEOUT:
            span.record_error("stream timeout")
            return self._timed_out(prepared, "".join(collected.texts), collected.round_usage)
        final = collected.final
        if termination is not Termination.COMPLETE or final is None:
            span.record_error(termination.value)
            raise ApiError(500, "Internal server error", INTERNAL)
        content = "".join(collected.texts) if collected.panels else final.content
        if final.error is not None:
            span.record_error(final.error.detail or final.error.message)
            status = _GATEWAY_STATUS.get(final.error.kind)
            if status is not None and not content.strip():
                raise ApiError(status, final.error.message, UPSTREAM, None, final.error.kind.value)
            content = _appended(content, final.error.message)
        usage = final.usage or final.turn_usage or Usage()
        finish_reason = finish_reason_of(final, prepared.request.max_tokens)
        calls = final.client_tool_calls if final.error is None else ()
        return self._completion(prepared, content, finish_reason, usage, [tool_call_json(call) for call in calls])

    def _timed_out(self, prepared: _Prepared, text: str, usage: Usage | None) -> web.Response:
        note = (
            f"The response took longer than the {self.options.streaming_timeout_secs:g}-second limit and was stopped."
        )
        logger.info("chat completion %s timed out", prepared.context.request_id)
        if not text.strip():
            raise ApiError(504, note, UPSTREAM, None, "timeout")
        return self._completion(prepared, _appended(text, note), "stop", usage or Usage())

    def _completion(
        self,
        prepared: _Prepared,
        content: str,
        finish_reason: str,
        usage: Usage,
        tool_calls: list[dict[str, Any]] | None = None,
    ) -> web.Response:
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if tool_calls:
            # OpenAI's shape for a response that hands tool calls over: content null when there is no text.
            message = {"role": "assistant", "content": content or None, "tool_calls": tool_calls}
        body: dict[str, Any] = {
            "id": prepared.completion_id,
            "object": "chat.completion",
            "created": prepared.created,
            "model": prepared.agent.model_string,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": finish_reason,
                }
            ],
            "usage": usage_json(usage),
            "metadata": {"chat_session_id": prepared.context.session_id},
        }
        return web.json_response(body, headers={SESSION_HEADER: prepared.context.session_id})


def _stream_outcome(stream: SseStream) -> str:
    """The `outcome` a finished stream reports to the observer."""
    if stream.disconnected:
        return DISCONNECTED
    if stream.termination is None:
        return DISCONNECTED
    if stream.termination is Termination.COMPLETE and stream.turn_error:
        return TurnErrorKind.OVERLOADED.value if stream.turn_error_kind is TurnErrorKind.OVERLOADED else TURN_ERROR
    return stream.termination.value


def _appended(text: str, message: str) -> str:
    return f"{text}\n\n{message}" if text else message


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        f"Request body is larger than the limit of {limit} bytes",
        "invalid_request_error",
        None,
        "request_too_large",
    )
