"""The A2A `AgentExecutor` of one agent: runs the domain turn under the server's `TurnRunner`, publishing A2A events.

    message ──► TurnExecutor.execute ──► TurnRunner(agent.run_turn) ──► _TaskPublisher
                                                                    ├─ text ──► artifact "answer" (appended chunks)
                                                                    ├─ tool call / result / progress ──► status
                                                                    │    `working` with a data part (kagent's
                                                                    │    `kagent_type` function_call / _response)
                                                                    └─ end ──► completed | failed | input-required

A task's conversation continues across messages with the same `contextId`: the context's messages are kept in the
session store next to the tasks. `cancel` cancels the running turn (and with it its MCP calls, which send
`notifications/cancelled`) and waits for it to settle before the task turns `canceled`. With a shared store (Redis) a
running turn also watches for a cancel that reached another worker (`CANCEL_POLL_SECS`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from a2a.helpers.proto_helpers import new_data_part, new_task, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater
from a2a.types.a2a_pb2 import Message, Part, Role, TaskState

from aura.adapters.a2a.task_store import SessionTaskStore
from aura.adapters.http.chat_request import new_request_id
from aura.adapters.http.observer import ServerObserver, TurnObservation
from aura.adapters.http.options import ServerOptions
from aura.adapters.http.request_scope import RequestScope
from aura.adapters.http.shutdown import ShutdownCoordinator
from aura.adapters.http.streaming import TURN_CLEANUP_SECS, Termination, TurnRunner, termination_note
from aura.domain.agent import Agent
from aura.domain.events import (
    ApprovalRequested,
    TextDelta,
    ToolCompleted,
    ToolProgress,
    ToolRequested,
    TurnEvent,
    TurnFinished,
)
from aura.domain.messages import AssistantMessage, UserMessage, message_from_json, message_to_json
from aura.domain.messages import Message as DomainMessage
from aura.domain.tools import RequestContext as TurnContext
from aura.ports.session_store import SessionStore
from aura.ports.tracer import SpanKind, Tracer

logger = logging.getLogger(__name__)

CONTEXTS_NAMESPACE = "a2a_contexts"
ANSWER_ARTIFACT = "answer"
#: text deltas are gathered for this long before they go out as one artifact chunk (and one task-store write)
TEXT_FLUSH_SECS = 0.05
#: with a shared session store, how often a running turn looks for a `tasks/cancel` answered by another worker
CANCEL_POLL_SECS = 1.0
#: `ServerCallContext.state` keys the JSON-RPC handler fills in
HEADERS_STATE = "aura_forwarded_headers"
REQUEST_ID_STATE = "aura_request_id"
STREAMING_STATE = "aura_streaming"


def agent_message(text: str, task_id: str, context_id: str, *parts: Part) -> Message:
    message = Message(
        message_id=f"msg_{new_request_id()[4:]}", role=Role.ROLE_AGENT, task_id=task_id, context_id=context_id
    )
    if text:
        message.parts.append(new_text_part(text))
    message.parts.extend(parts)
    return message


def _arguments(text: str) -> Any:
    try:
        return json.loads(text) if text else {}
    except ValueError:
        return {"raw": text}


class _TaskPublisher:
    """The `TurnRunner` sink: turns the turn's events into A2A status and artifact updates."""

    def __init__(self, updater: TaskUpdater, options: ServerOptions) -> None:
        self.updater = updater
        self.options = options
        self.final: TurnFinished | None = None
        self.approvals: list[ApprovalRequested] = []
        self._pending: list[str] = []
        self._last_flush = time.monotonic()
        self._artifact_open = False
        self._lock = asyncio.Lock()
        self._timer: asyncio.Task[None] | None = None

    async def __call__(self, event: TurnEvent) -> None:
        if isinstance(event, TextDelta):
            if event.text:
                self._pending.append(event.text)
                wait = TEXT_FLUSH_SECS - (time.monotonic() - self._last_flush)
                if wait <= 0:
                    await self.flush()
                elif self._timer is None:  # text never waits longer than TEXT_FLUSH_SECS, even when the model pauses
                    self._timer = asyncio.create_task(self._flush_after(wait))
            return
        await self.flush()
        if isinstance(event, ToolRequested):
            call = event.call
            data = {"id": call.id, "name": call.name, "args": _arguments(call.arguments)}
            await self._working(f"Calling tool {call.name}", data, "function_call")
        elif isinstance(event, ToolProgress):
            update = event.update
            data = {"id": event.call.id, "name": event.call.name, "progress": update.progress, "total": update.total}
            if update.message:
                data["message"] = update.message
            await self._working("", data, "tool_progress")
        elif isinstance(event, ToolCompleted):
            result = event.result.content
            limit = self.options.tool_result_max_length
            if limit and len(result) > limit:
                result = result[:limit] + "…"
            data = {
                "id": event.call.id,
                "name": event.call.name,
                "response": {"result": result, "isError": event.result.is_error},
            }
            await self._working("", data, "function_response")
        elif isinstance(event, ApprovalRequested):
            self.approvals.append(event)
        elif isinstance(event, TurnFinished):
            self.final = event

    async def _working(self, text: str, data: dict[str, Any], kind: str) -> None:
        updater = self.updater
        part = new_data_part(data)
        part.metadata.update({"kagent_type": kind})
        message = agent_message(text, updater.task_id, updater.context_id, part)
        await updater.update_status(TaskState.TASK_STATE_WORKING, message)

    async def _flush_after(self, wait: float) -> None:
        await asyncio.sleep(wait)
        self._timer = None
        await self.flush()

    def close(self) -> None:
        """Drop the pending timed flush (the turn ended or was cancelled)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def flush(self, *, last: bool = False) -> None:
        """Send the gathered text as one chunk of the `answer` artifact (`last`: and close the artifact)."""
        if self._timer is not None and self._timer is not asyncio.current_task():
            self.close()
        async with self._lock:
            self._last_flush = time.monotonic()
            if not self._pending and not (last and self._artifact_open):
                return
            text, self._pending = "".join(self._pending), []
            await self.updater.add_artifact(
                [new_text_part(text)] if text else [],
                artifact_id=ANSWER_ARTIFACT,
                name=ANSWER_ARTIFACT,
                append=self._artifact_open,
                last_chunk=last,
            )
            self._artifact_open = True


class TurnExecutor(AgentExecutor):
    """Runs `agent`'s turn for each A2A message (see the module docstring)."""

    def __init__(
        self,
        agent: Agent,
        *,
        options: ServerOptions,
        coordinator: ShutdownCoordinator,
        tracer: Tracer,
        observer: ServerObserver,
        request_scope: RequestScope,
        store: SessionStore,
        tasks: SessionTaskStore,
        ttl_secs: float,
    ) -> None:
        self.agent = agent
        self.options = options
        self.coordinator = coordinator
        self.tracer = tracer
        self.observer = observer
        self.request_scope = request_scope
        self.store = store
        self.tasks = tasks
        self.ttl_secs = ttl_secs
        self._running: dict[str, asyncio.Task[Termination]] = {}
        self._cancelled: set[str] = set()
        self._cancelled_elsewhere: set[str] = set()

    def _context_key(self, context_id: str) -> str:
        return f"{self.agent.id}/{context_id}"

    async def _conversation(self, context_id: str) -> tuple[DomainMessage, ...]:
        try:
            stored = await self.store.get(CONTEXTS_NAMESPACE, self._context_key(context_id))
        except Exception as error:  # the task can still run; it only loses the earlier messages
            logger.warning("A2A context %s could not be read: %s", context_id, error)
            return ()
        if stored is None:
            return ()
        return tuple(message_from_json(item) for item in stored["messages"])

    async def _keep(self, context_id: str, messages: tuple[DomainMessage, ...]) -> None:
        value = {"messages": [message_to_json(message) for message in messages]}
        try:
            await self.store.put(CONTEXTS_NAMESPACE, self._context_key(context_id), value, self.ttl_secs)
        except Exception as error:  # the client has its answer; a store outage only loses the continuation
            logger.warning("A2A context %s could not be stored: %s", context_id, error)

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        task_id = context.task_id or ""
        context_id = context.context_id or ""
        state = context.call_context.state
        request_id = state.get(REQUEST_ID_STATE) or new_request_id()
        with self.request_scope(request_id=request_id, session_id=context_id, agent_id=self.agent.id, trace_id=None):
            await self._execute(context, event_queue, task_id, context_id, request_id)

    async def _execute(
        self, context: RequestContext, event_queue: EventQueue, task_id: str, context_id: str, request_id: str
    ) -> None:
        updater = TaskUpdater(event_queue, task_id, context_id)
        if context.current_task is None:  # the first message of a task: the task comes before its updates
            first = [context.message] if context.message is not None else []
            await event_queue.enqueue_event(
                new_task(task_id, context_id, TaskState.TASK_STATE_SUBMITTED, history=first)
            )
        state = context.call_context.state
        text = context.get_user_input()
        if not text.strip():
            note = "The message has no text part: send the request as a text part."
            await updater.reject(agent_message(note, task_id, context_id))
            return
        history = (*await self._conversation(context_id), UserMessage(text))
        headers: dict[str, str] = dict(state.get(HEADERS_STATE) or {})
        # the A2A context is the conversation, so it is the session MCP servers see, unless a header names one
        session_id = headers.get("x-chat-session-id") or context_id
        span = self.tracer.start_span(
            "A2A message",
            SpanKind.CHAIN,
            {
                "http.request_id": request_id,
                "session.id": session_id,
                "agent.name": self.agent.id,
                "a2a.task_id": task_id,
            },
        )
        turn_context = TurnContext(request_id=request_id, session_id=session_id, headers=headers, parent_span=span)
        logger.info("A2A task %s: agent=%s context=%s", task_id, self.agent.id, context_id)
        observation = TurnObservation(self.observer, self.agent.id, streaming=bool(state.get(STREAMING_STATE)))
        publisher = _TaskPublisher(updater, self.options)
        runner = TurnRunner(
            self.agent, history, turn_context, self.options, self.coordinator, observation, first_chunk_timeout=False
        )
        await updater.start_work()
        run = asyncio.create_task(runner.run(publisher), name=f"a2a-turn:{task_id}")
        self._running[task_id] = run
        watcher = asyncio.create_task(self._watch_for_cancel(task_id, run)) if self.store.shared else None
        try:
            termination = await run
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task_id in self._cancelled and run.cancelled() and (current is None or not current.cancelling()):
                span.record_error("cancelled by tasks/cancel")
                if task_id in self._cancelled_elsewhere:  # else `cancel` publishes the canceled status
                    await updater.cancel(agent_message("The task was cancelled.", task_id, context_id))
                return
            span.record_error("cancelled")
            raise
        finally:
            if watcher is not None:
                watcher.cancel()
            publisher.close()
            self._running.pop(task_id, None)
            self._cancelled.discard(task_id)
            self._cancelled_elsewhere.discard(task_id)
            if not run.done():
                run.cancel()
                await asyncio.wait({run}, timeout=TURN_CLEANUP_SECS)
            observation.close()
            span.end()
        await self._finish(updater, publisher, termination, history, context_id)

    async def _watch_for_cancel(self, task_id: str, run: asyncio.Task[Termination]) -> None:
        """Stop the turn when another worker answered `tasks/cancel` for this task (it marked it in the store)."""
        while not run.done():
            await asyncio.sleep(CANCEL_POLL_SECS)
            try:
                requested = await self.tasks.cancel_requested(task_id)
            except Exception as error:  # a store hiccup: look again next time
                logger.debug("A2A task %s: cancel check failed: %s", task_id, error)
                continue
            if requested and not run.done():
                logger.info("A2A task %s: cancelled on another worker; cancelling its turn", task_id)
                self._cancelled.add(task_id)
                self._cancelled_elsewhere.add(task_id)
                run.cancel()
                return

    async def _finish(
        self,
        updater: TaskUpdater,
        publisher: _TaskPublisher,
        termination: Termination,
        history: tuple[DomainMessage, ...],
        context_id: str,
    ) -> None:
        task_id = updater.task_id
        await publisher.flush(last=True)
        final = publisher.final
        if termination is not Termination.COMPLETE or final is None:
            note = termination_note(termination, self.options) or "The turn ended without an answer."
            await updater.failed(agent_message(note, task_id, context_id))
            return
        if final.error is not None:
            await updater.failed(agent_message(final.error.message, task_id, context_id))
            return
        await self._keep(context_id, (*history, AssistantMessage(final.content)))
        if publisher.approvals:
            parts = [new_data_part(event.pending.to_json()) for event in publisher.approvals]
            for part in parts:
                part.metadata.update({"kagent_type": "approval_request"})
            note = "A tool call waits for approval: answer 'approve' or 'deny' in this context."
            await updater.requires_input(agent_message(note, task_id, context_id, *parts))
            return
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        task_id = context.task_id or ""
        run = self._running.get(task_id)
        if run is not None and not run.done():
            logger.info("A2A task %s: cancelling its turn", task_id)
            self._cancelled.add(task_id)
            run.cancel()
            # the turn's MCP calls send notifications/cancelled while it settles
            await asyncio.wait({run}, timeout=TURN_CLEANUP_SECS)
        updater = TaskUpdater(event_queue, task_id, context.context_id or "")
        await updater.cancel(agent_message("The task was cancelled.", task_id, context.context_id or ""))
