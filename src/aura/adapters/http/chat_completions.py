"""`POST /v1/chat/completions`: request → agent → streamed SSE or one JSON `chat.completion`."""

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
from aura.adapters.http.errors import UNAVAILABLE, UPSTREAM, ApiError
from aura.adapters.http.observer import ServerObserver, TurnObservation
from aura.adapters.http.options import ServerOptions
from aura.adapters.http.request_keys import AGENT_ID, RESPONSE_STATUS
from aura.adapters.http.request_scope import RequestScope, no_request_scope
from aura.adapters.http.shutdown import ShutdownCoordinator
from aura.adapters.http.sse import ChunkEncoder, StreamIdentity, finish_reason_of, usage_json
from aura.adapters.http.streaming import SseStream, Termination, settle, turn_events
from aura.domain.agent import Agent
from aura.domain.events import RoundUsage, TextDelta, TurnErrorKind, TurnFinished
from aura.domain.tools import RequestContext
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
    """What a non-streaming turn produced so far."""

    texts: list[str] = attrs.Factory(list)
    round_usage: Usage | None = None
    final: TurnFinished | None = None


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
            approver=request.headers.get(approver_header) if approver_header else None,
            max_tokens=chat_request.max_tokens,
        )
        prepared = _Prepared(agent, chat_request, context, new_completion_id(), int(time.time()))
        try:
            # Tasks started inside (the SSE producer, the turn, tool calls) copy the scope's context.
            with self.request_scope(
                request_id=request_id, session_id=session_id, agent_id=agent.id, trace_id=span.trace_id
            ):
                logger.info(
                    "chat completion %s: agent=%s session=%s stream=%s history=%d",
                    request_id,
                    agent.id,
                    session_id,
                    chat_request.stream,
                    len(chat_request.history),
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
            (*prepared.request.history, prepared.request.query),
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

        The turn runs in a task bounded by the stream timeout. It is cancelled (tools see
        `CancelledError`) when the client disconnects (handler cancellation) and in phase 2 of a
        shutdown, which answers 503 instead of leaving the client to a dropped connection.
        """
        request_id = prepared.context.request_id
        collected = _Collected()
        observation = TurnObservation(self.observer, prepared.agent.id, streaming=False)
        work = asyncio.create_task(self._collect(prepared, collected, observation), name=f"turn:{request_id}")
        try:
            with self.coordinator.stop_signal() as stop:
                done, _ = await asyncio.wait({work, stop}, return_when=asyncio.FIRST_COMPLETED)
            if work not in done:
                logger.info("chat completion %s stopped: the server is shutting down", request_id)
                span.record_error("shutdown")
                work.cancel()
                await settle(work, f"turn {request_id}")
                response = ApiError(503, SHUT_DOWN_BEFORE_ANSWER, UNAVAILABLE).response()
                response.force_close()
                return response
        finally:
            if not work.done():
                work.cancel()
                await settle(work, f"turn {request_id}")
            observation.close()
        try:
            work.result()
        except TimeoutError:
            span.record_error("stream timeout")
            return self._timed_out(prepared, "".join(collected.texts), collected.round_usage)
        final = collected.final
        assert final is not None  # run_turn always ends with TurnFinished
        content = final.content
        if final.error is not None:
            span.record_error(final.error.detail or final.error.message)
            status = _GATEWAY_STATUS.get(final.error.kind)
            if status is not None and not content.strip():
                raise ApiError(status, final.error.message, UPSTREAM, None, final.error.kind.value)
            content = _appended(content, final.error.message)
        usage = final.usage or final.turn_usage or Usage()
        return self._completion(prepared, content, finish_reason_of(final, prepared.request.max_tokens), usage)

    async def _collect(self, prepared: _Prepared, collected: _Collected, observation: TurnObservation) -> None:
        """The non-streaming turn; raises `TimeoutError` after `STREAMING_TIMEOUT_SECS` (0 = no limit)."""
        timeout = self.options.streaming_timeout_secs or None
        history = (*prepared.request.history, prepared.request.query)
        async with asyncio.timeout(timeout):
            async with turn_events(prepared.agent, history, prepared.context) as events:
                async for event in events:
                    observation.observe(event)
                    if isinstance(event, TextDelta):
                        collected.texts.append(event.text)
                    elif isinstance(event, RoundUsage):
                        usage = collected.round_usage
                        collected.round_usage = event.usage if usage is None else usage + event.usage
                    elif isinstance(event, TurnFinished):
                        collected.final = event

    def _timed_out(self, prepared: _Prepared, text: str, usage: Usage | None) -> web.Response:
        note = (
            f"The response took longer than the {self.options.streaming_timeout_secs:g}-second limit and was stopped."
        )
        logger.info("chat completion %s timed out", prepared.context.request_id)
        if not text.strip():
            raise ApiError(504, note, UPSTREAM, None, "timeout")
        return self._completion(prepared, _appended(text, note), "stop", usage or Usage())

    def _completion(self, prepared: _Prepared, content: str, finish_reason: str, usage: Usage) -> web.Response:
        body: dict[str, Any] = {
            "id": prepared.completion_id,
            "object": "chat.completion",
            "created": prepared.created,
            "model": prepared.agent.model_string,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
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
