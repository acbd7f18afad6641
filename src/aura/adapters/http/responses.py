"""`/v1/responses`: the OpenAI Responses API over the same domain turn as chat completions.

`POST /v1/responses` runs one turn with the chat path's `TurnRunner` (timeouts, first-chunk timeout, shutdown, client
disconnect) and answers a `response` object, or with `stream: true` the Responses SSE events
(`response.created`, `response.output_item.added`, `response.output_text.delta`, ..., `response.completed` or
`response.failed`). With `store` (the default) the response and its conversation are kept in the session store for
`RESPONSES_TTL_SECS`, so `previous_response_id` continues a conversation without the client re-sending it, and
`GET` / `DELETE /v1/responses/{id}` work from any worker sharing that store.

Server tools follow `TOOL_RESULT_MODE`: in `none` they stay invisible; otherwise each appears as a `function_call`
item and a `function_call_output` item, both marked `"executed_by": "server"`, so a client never mistakes them for
calls it must run. Client function tools (the request's `tools`, for agents that accept client tools) end the
response with their `function_call` items; the client answers with `function_call_output` items.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web

from aura.adapters.http.agent_directory import AgentDirectory
from aura.adapters.http.chat_request import forwardable_headers, new_request_id, resolve_session_id
from aura.adapters.http.errors import ApiError
from aura.adapters.http.observer import ServerObserver, TurnObservation
from aura.adapters.http.options import ServerOptions, ToolResultMode
from aura.adapters.http.request_keys import AGENT_ID, RESPONSE_STATUS
from aura.adapters.http.request_scope import RequestScope, no_request_scope
from aura.adapters.http.responses_request import (
    ResponsesRequest,
    conversation_from_items,
    new_item_id,
    new_response_id,
    parse_responses_request,
)
from aura.adapters.http.shutdown import ShutdownCoordinator
from aura.adapters.http.streaming import Termination, TurnRunner
from aura.domain.agent import Agent
from aura.domain.events import (
    FinishReason,
    ReasoningDelta,
    TextDelta,
    ToolCompleted,
    ToolRequested,
    TurnEvent,
    TurnFinished,
)
from aura.domain.messages import AssistantMessage, Message, message_from_json, message_to_json
from aura.domain.tools import RequestContext
from aura.domain.usage import Usage
from aura.ports.session_store import SessionStore
from aura.ports.tracer import SpanKind, Tracer

logger = logging.getLogger(__name__)

RESPONSES_PATH = "/v1/responses"
RESPONSE_PATH = "/v1/responses/{response_id}"
STORED_RESPONSES = "responses"
STREAM_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

Emit = Callable[[str, dict[str, Any]], Awaitable[None]]


class ResponseBuilder:
    """Turns one turn's events into the Responses output items, announcing each step through `emit`.

    Text goes into message items (a new one after each server tool round, when those are shown); server tool calls
    become `function_call` + `function_call_output` items when `show_server_tools`; client tool calls end the output.
    """

    def __init__(self, response: dict[str, Any], emit: Emit, *, show_server_tools: bool, show_reasoning: bool) -> None:
        self.response = response
        self.output: list[dict[str, Any]] = response["output"]
        self._emit = emit
        self._show_tools = show_server_tools
        self._show_reasoning = show_reasoning
        self._message: dict[str, Any] | None = None
        self._reasoning: dict[str, Any] | None = None
        self.final: TurnFinished | None = None

    async def start(self) -> None:
        await self._emit("response.created", {"response": _snapshot(self.response)})
        await self._emit("response.in_progress", {"response": _snapshot(self.response)})

    async def __call__(self, event: TurnEvent) -> None:
        if isinstance(event, TextDelta):
            await self._text(event.text)
        elif isinstance(event, ReasoningDelta):
            await self._reasoning_text(event.text)
        elif isinstance(event, ToolRequested) and self._show_tools:
            await self._close_open_items()
            item = {
                "type": "function_call",
                "id": new_item_id("fc"),
                "call_id": event.call.id,
                "name": event.call.name,
                "arguments": event.call.arguments,
                "status": "completed",
                "executed_by": "server",
            }
            await self._add_done_item(item)
        elif isinstance(event, ToolCompleted) and self._show_tools:
            item = {
                "type": "function_call_output",
                "id": new_item_id("fco"),
                "call_id": event.call.id,
                "output": event.result.content,
                "status": "incomplete" if event.result.is_error else "completed",
                "executed_by": "server",
            }
            await self._add_done_item(item)
        elif isinstance(event, TurnFinished):
            self.final = event

    async def finish(self, final: TurnFinished | None, failure: tuple[str, str] | None) -> None:
        """Close the open items, add the client's tool calls, set status and usage; emit the closing event."""
        await self._close_open_items()
        response = self.response
        if final is not None and final.error is None:
            for call in final.client_tool_calls:
                item = {
                    "type": "function_call",
                    "id": new_item_id("fc"),
                    "call_id": call.id,
                    "name": call.name,
                    "arguments": call.arguments,
                    "status": "completed",
                }
                await self._add_done_item(item)
        if final is not None:
            usage = final.usage or final.turn_usage
            response["usage"] = usage_json(usage) if usage is not None else None
        if failure is None and final is not None and final.error is not None:
            failure = (final.error.kind.value, final.error.message)
        response["completed_at"] = int(time.time())
        if failure is not None:
            code, message = failure
            response["status"] = "failed"
            response["error"] = {"code": code, "message": message}
            await self._emit("response.failed", {"response": _snapshot(response)})
        elif final is not None and final.finish_reason is FinishReason.LENGTH:
            response["status"] = "incomplete"
            response["incomplete_details"] = {"reason": "max_output_tokens"}
            await self._emit("response.incomplete", {"response": _snapshot(response)})
        else:
            response["status"] = "completed"
            await self._emit("response.completed", {"response": _snapshot(response)})

    async def _text(self, text: str) -> None:
        if not text:
            return
        await self._close_reasoning()
        message = self._message
        if message is None:
            message = {"type": "message", "id": new_item_id("msg"), "status": "in_progress", "role": "assistant"}
            message["content"] = []
            self._message = message
            index = len(self.output)
            self.output.append(message)
            await self._emit("response.output_item.added", {"output_index": index, "item": _snapshot(message)})
            part = {"type": "output_text", "text": "", "annotations": []}
            message["content"].append(part)
            await self._emit(
                "response.content_part.added",
                {"item_id": message["id"], "output_index": index, "content_index": 0, "part": dict(part)},
            )
        part = message["content"][0]
        part["text"] += text
        await self._emit(
            "response.output_text.delta",
            {
                "item_id": message["id"],
                "output_index": self.output.index(message),
                "content_index": 0,
                "delta": text,
                "logprobs": [],
            },
        )

    async def _reasoning_text(self, text: str) -> None:
        if not self._show_reasoning or not text:
            return
        item = self._reasoning
        if item is None:
            item = {"type": "reasoning", "id": new_item_id("rs"), "summary": [], "status": "in_progress"}
            item["content"] = [{"type": "reasoning_text", "text": ""}]
            self._reasoning = item
            self.output.append(item)
            await self._emit(
                "response.output_item.added", {"output_index": len(self.output) - 1, "item": _snapshot(item)}
            )
        item["content"][0]["text"] += text
        await self._emit(
            "response.reasoning_text.delta",
            {"item_id": item["id"], "output_index": self.output.index(item), "content_index": 0, "delta": text},
        )

    async def _close_reasoning(self) -> None:
        item, self._reasoning = self._reasoning, None
        if item is None:
            return
        item["status"] = "completed"
        index = self.output.index(item)
        await self._emit(
            "response.reasoning_text.done",
            {"item_id": item["id"], "output_index": index, "content_index": 0, "text": item["content"][0]["text"]},
        )
        await self._emit("response.output_item.done", {"output_index": index, "item": _snapshot(item)})

    async def _close_open_items(self) -> None:
        await self._close_reasoning()
        message, self._message = self._message, None
        if message is None:
            return
        message["status"] = "completed"
        index = self.output.index(message)
        part = message["content"][0]
        common = {"item_id": message["id"], "output_index": index, "content_index": 0}
        await self._emit("response.output_text.done", {**common, "text": part["text"], "logprobs": []})
        await self._emit("response.content_part.done", {**common, "part": dict(part)})
        await self._emit("response.output_item.done", {"output_index": index, "item": _snapshot(message)})

    async def _add_done_item(self, item: dict[str, Any]) -> None:
        self.output.append(item)
        index = len(self.output) - 1
        await self._emit("response.output_item.added", {"output_index": index, "item": dict(item)})
        await self._emit("response.output_item.done", {"output_index": index, "item": dict(item)})


def usage_json(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.total_tokens,
    }


def _snapshot(value: dict[str, Any]) -> dict[str, Any]:
    # events carry the state at that moment; later changes to the live object must not reach an already-sent event
    copied: dict[str, Any] = json.loads(json.dumps(value))
    return copied


class ResponsesHandler:
    """`POST /v1/responses`, `GET` and `DELETE /v1/responses/{id}`."""

    def __init__(
        self,
        directory: AgentDirectory,
        options: ServerOptions,
        coordinator: ShutdownCoordinator,
        tracer: Tracer,
        observer: ServerObserver,
        store: SessionStore | None,
        request_scope: RequestScope = no_request_scope,
    ) -> None:
        self.directory = directory
        self.options = options
        self.coordinator = coordinator
        self.tracer = tracer
        self.observer = observer
        self.store = store
        self.request_scope = request_scope

    # --- stored responses --------------------------------------------------------------------------------------

    async def retrieve(self, request: web.Request) -> web.Response:
        stored = await self._stored(request.match_info["response_id"])
        return web.json_response(stored["response"])

    async def delete(self, request: web.Request) -> web.Response:
        response_id = request.match_info["response_id"]
        await self._stored(response_id)
        if self.store is None or not await self.store.delete(STORED_RESPONSES, response_id):
            raise _not_found(response_id)
        return web.json_response({"id": response_id, "object": "response", "deleted": True})

    async def _stored(self, response_id: str) -> dict[str, Any]:
        if self.store is None:
            raise ApiError(
                404,
                f"Response with id '{response_id[:128]}' not found: this server keeps no responses (it was started "
                "without a session store).",
                "invalid_request_error",
                "response_id",
                "not_found",
            )
        stored = await self.store.get(STORED_RESPONSES, response_id) if len(response_id) <= 128 else None
        if stored is None:
            raise _not_found(response_id)
        return stored

    # --- create ------------------------------------------------------------------------------------------------

    async def create(self, request: web.Request) -> web.StreamResponse:
        request_id = new_request_id()
        with self.request_scope(request_id=request_id, session_id=None, agent_id=None, trace_id=None):
            return await self._create(request, request_id)

    async def _create(self, request: web.Request, request_id: str) -> web.StreamResponse:
        if request.content_length is not None and request.content_length > self.options.max_body_bytes:
            raise ApiError(413, f"Request body is too large (limit {self.options.max_body_bytes} bytes)")
        parsed = parse_responses_request(await request.read())
        agent = self.directory.select(parsed.model)
        request[AGENT_ID] = agent.id
        earlier: Sequence[Message] = ()
        stored_session: str | None = None
        if parsed.previous_response_id is not None:
            stored = await self._stored(parsed.previous_response_id)
            earlier = tuple(message_from_json(m) for m in stored["conversation"])
            stored_session = stored.get("session_id")
        conversation = conversation_from_items(parsed.input_items, earlier)
        client_tools = parsed.tools if agent.settings.client_tools.enabled and not parsed.tool_choice_none else ()
        client_tools = tuple(spec for spec in client_tools if agent.settings.client_tools.admits(spec.name))
        if parsed.tools and not client_tools:
            logger.info("the request's tools are ignored: agent %s accepts no client tools here", agent.id)
        headers = forwardable_headers(request.headers)
        if self.options.auth_enabled:
            headers.pop("authorization", None)  # this server's own key never travels on to an MCP server
        # a chain of responses is one conversation: it keeps the session of its first response unless a header says
        session_id = (
            resolve_session_id(None, headers)
            if stored_session is None or "x-chat-session-id" in headers
            else stored_session
        )
        span = self.tracer.start_span(
            "POST /v1/responses",
            SpanKind.CHAIN,
            {
                "http.request_id": request_id,
                "session.id": session_id,
                "agent.name": agent.id,
                "http.streaming": parsed.stream,
            },
        )
        context = RequestContext(
            request_id=request_id,
            session_id=session_id,
            headers=headers,
            parent_span=span,
            client_tools=client_tools,
            max_tokens=parsed.max_output_tokens,
            approver=request.headers.get(self.options.approver_header) if self.options.approver_header else None,
        )
        response = _response_object(new_response_id(), agent, parsed)
        try:
            with self.request_scope(
                request_id=request_id, session_id=session_id, agent_id=agent.id, trace_id=span.trace_id
            ):
                logger.info(
                    "response %s: agent=%s stream=%s items=%d%s",
                    response["id"],
                    agent.id,
                    parsed.stream,
                    len(parsed.input_items),
                    f" previous={parsed.previous_response_id}" if parsed.previous_response_id else "",
                )
                with self.coordinator.track(streaming=parsed.stream):
                    if parsed.stream:
                        return await self._stream(request, agent, parsed, conversation, context, response)
                    return await self._complete(agent, parsed, conversation, context, response)
        except asyncio.CancelledError:
            span.record_error("client disconnected")
            raise
        finally:
            span.end()

    def _builder(self, response: dict[str, Any], emit: Emit) -> ResponseBuilder:
        return ResponseBuilder(
            response,
            emit,
            show_server_tools=self.options.tool_result_mode is not ToolResultMode.NONE,
            show_reasoning=self.options.emits_reasoning,
        )

    async def _complete(
        self,
        agent: Agent,
        parsed: ResponsesRequest,
        conversation: Sequence[Message],
        context: RequestContext,
        response: dict[str, Any],
    ) -> web.Response:
        async def ignore(_: str, __: dict[str, Any]) -> None:
            return None

        builder = self._builder(response, ignore)
        observation = TurnObservation(self.observer, agent.id, streaming=False)
        runner = TurnRunner(
            agent, conversation, context, self.options, self.coordinator, observation, first_chunk_timeout=False
        )
        try:
            termination = await runner.run(builder)
        finally:
            observation.close()
        if termination is Termination.SHUTDOWN:
            error = ApiError(
                503, "The server shut down before the response was ready. Please try again.", "service_unavailable"
            )
            answer = error.response()
            answer.force_close()
            return answer
        await builder.finish(builder.final, _failure(termination, self.options))
        await self._keep(parsed, conversation, builder, context.session_id)
        return web.json_response(response)

    async def _stream(
        self,
        request: web.Request,
        agent: Agent,
        parsed: ResponsesRequest,
        conversation: Sequence[Message],
        context: RequestContext,
        response: dict[str, Any],
    ) -> web.StreamResponse:
        answer = web.StreamResponse(status=200, headers=STREAM_HEADERS)
        await answer.prepare(request)
        request[RESPONSE_STATUS] = answer.status
        writer = _EventWriter(answer, self.options.heartbeat_interval_secs)
        builder = self._builder(response, writer.emit)
        observation = TurnObservation(self.observer, agent.id, streaming=True)
        runner = TurnRunner(
            agent, conversation, context, self.options, self.coordinator, observation, first_chunk_timeout=True
        )
        self.observer.stream_started(agent.id)
        outcome = "disconnected"
        try:
            await builder.start()
            termination = await runner.run(builder)
            await builder.finish(builder.final, _failure(termination, self.options))
            outcome = termination.value if builder.final is None or builder.final.error is None else "error"
        except (ConnectionResetError, asyncio.CancelledError):
            logger.info("response %s: the client went away", response["id"])
            raise
        finally:
            writer.close()
            observation.close()
            self.observer.stream_ended(agent.id, outcome, time.monotonic() - observation.started)
        await self._keep(parsed, conversation, builder, context.session_id)
        return answer

    async def _keep(
        self, parsed: ResponsesRequest, conversation: Sequence[Message], builder: ResponseBuilder, session_id: str
    ) -> None:
        """Store the response and its conversation (with this answer) when the request asked for it."""
        if not parsed.store or self.store is None:
            return
        final = builder.final
        answer = AssistantMessage(
            final.content if final is not None else "", final.client_tool_calls if final is not None else ()
        )
        record = {
            "response": builder.response,
            "conversation": [message_to_json(message) for message in (*conversation, answer)],
            "input_items": [dict(item) for item in parsed.input_items],
            "session_id": session_id,
        }
        try:
            await self.store.put(STORED_RESPONSES, builder.response["id"], record, self.options.responses_ttl_secs)
        except Exception as error:  # the client has its answer; a store outage only loses the continuation
            logger.warning("response %s could not be stored: %s", builder.response["id"], error)


class _EventWriter:
    """Writes Responses SSE events in order, numbering them, with a heartbeat comment while nothing else is sent."""

    def __init__(self, response: web.StreamResponse, heartbeat_secs: float) -> None:
        self._response = response
        self._sequence = 0
        self._lock = asyncio.Lock()
        self._heartbeat = asyncio.create_task(self._beat(heartbeat_secs))

    async def emit(self, kind: str, payload: dict[str, Any]) -> None:
        async with self._lock:
            data = {"type": kind, "sequence_number": self._sequence, **payload}
            self._sequence += 1
            frame = f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
            await self._response.write(frame.encode())

    async def _beat(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            async with self._lock:
                await self._response.write(b": heartbeat\n\n")

    def close(self) -> None:
        self._heartbeat.cancel()


def _failure(termination: Termination, options: ServerOptions) -> tuple[str, str] | None:
    if termination is Termination.COMPLETE:
        return None
    if termination is Termination.STREAM_TIMEOUT:
        return "timeout", f"The response took longer than the {options.streaming_timeout_secs:g}-second limit."
    if termination is Termination.FIRST_CHUNK_TIMEOUT:
        return "timeout", f"The model did not start responding within {options.first_chunk_timeout_secs:g} seconds."
    if termination is Termination.SHUTDOWN:
        return "shutdown", "The server shut down before the response was complete. Please try again."
    return "server_error", "The response failed on the server."


def _response_object(response_id: str, agent: Agent, parsed: ResponsesRequest) -> dict[str, Any]:
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": "in_progress",
        "model": agent.model_string,
        "output": [],
        "error": None,
        "incomplete_details": None,
        "instructions": parsed.instructions,
        "max_output_tokens": parsed.max_output_tokens,
        "temperature": parsed.temperature,
        "top_p": None,
        "tools": [dict(tool) for tool in parsed.raw_tools],
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "previous_response_id": parsed.previous_response_id,
        "store": parsed.store,
        "metadata": dict(parsed.metadata or {}),
        "text": {"format": {"type": "text"}},
        "truncation": "disabled",
        "usage": None,
    }


def _not_found(response_id: str) -> ApiError:
    shown = response_id if len(response_id) <= 128 else response_id[:128] + "…"
    return ApiError(
        404,
        f"Response with id '{shown}' not found (never stored, deleted, or expired).",
        "invalid_request_error",
        "response_id",
        "not_found",
    )
