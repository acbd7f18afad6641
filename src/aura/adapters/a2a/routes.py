"""The A2A JSON-RPC endpoints and agent cards, served by the same aiohttp app as chat completions.

`a2a-sdk` ships Starlette/FastAPI apps; this module does their job over aiohttp with the SDK's own request handler
(`DefaultRequestHandler`), its protobuf types (A2A 1.0) and its v0.3 compatibility layer (`RequestHandler03` and the
v0.3 pydantic types), so every A2A route stays behind this server's middlewares (shutdown gate, CORS, API keys,
metrics) and no second HTTP server is started.

    GET  /a2a/{agent}/.well-known/agent-card.json   the card (1.0 fields merged with the v0.3 ones)
    GET  /a2a/{agent}/.well-known/agent.json        the same card, at the path older clients ask for
    POST /a2a/{agent}/                               JSON-RPC: SendMessage, SendStreamingMessage, GetTask,
                                                     CancelTask, SubscribeToTask (1.0) and message/send,
                                                     message/stream, tasks/get, tasks/cancel, tasks/resubscribe (0.3)

A 1.0 method name answers in 1.0 JSON; a v0.3 method name (`message/send`...) answers in v0.3 JSON, as kagent expects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from typing import Any

import attrs
import pydantic
from a2a.compat.v0_3 import types as types_v03
from a2a.compat.v0_3.request_handler import RequestHandler03
from a2a.server.context import ServerCallContext
from a2a.server.request_handlers import DefaultRequestHandler, build_error_response
from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    CancelTaskRequest,
    GetTaskRequest,
    SendMessageRequest,
    SendMessageResponse,
    SubscribeToTaskRequest,
    Task,
)
from a2a.utils import proto_utils
from a2a.utils.constants import PROTOCOL_VERSION_0_3, PROTOCOL_VERSION_1_0, TransportProtocol
from a2a.utils.errors import A2AError, InvalidParamsError
from aiohttp import web
from google.protobuf.json_format import MessageToDict, ParseDict
from google.protobuf.message import Message as ProtoMessage

from aura.adapters.a2a.executor import HEADERS_STATE, REQUEST_ID_STATE, STREAMING_STATE, TurnExecutor
from aura.adapters.a2a.options import A2A_PREFIX, A2AAgentOptions, a2a_base_path
from aura.adapters.a2a.task_store import SessionTaskStore
from aura.adapters.http.chat_request import forwardable_headers, new_request_id
from aura.adapters.http.errors import ApiError
from aura.adapters.http.observer import ServerObserver
from aura.adapters.http.options import ServerOptions
from aura.adapters.http.request_keys import AGENT_ID, RESPONSE_STATUS
from aura.adapters.http.request_scope import RequestScope
from aura.adapters.http.shutdown import ShutdownCoordinator
from aura.domain.agent import Agent
from aura.ports.session_store import SessionStore
from aura.ports.tracer import Tracer

logger = logging.getLogger(__name__)

CARD_PATHS = (".well-known/agent-card.json", ".well-known/agent.json")
STREAM_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
AGENT_VERSION = "1.0.0"

# 1.0 methods: request type, handler method, streams?
_V10_METHODS: dict[str, tuple[type[ProtoMessage], str, bool]] = {
    "SendMessage": (SendMessageRequest, "on_message_send", False),
    "SendStreamingMessage": (SendMessageRequest, "on_message_send_stream", True),
    "GetTask": (GetTaskRequest, "on_get_task", False),
    "CancelTask": (CancelTaskRequest, "on_cancel_task", False),
    "SubscribeToTask": (SubscribeToTaskRequest, "on_subscribe_to_task", True),
}
# v0.3 methods: request model, `RequestHandler03` method, response model (None: streams)
_V03_METHODS: dict[str, tuple[type[pydantic.BaseModel], str, type[pydantic.BaseModel] | None]] = {
    "message/send": (types_v03.SendMessageRequest, "on_message_send", types_v03.SendMessageSuccessResponse),
    "message/stream": (types_v03.SendStreamingMessageRequest, "on_message_send_stream", None),
    "tasks/get": (types_v03.GetTaskRequest, "on_get_task", types_v03.GetTaskSuccessResponse),
    "tasks/cancel": (types_v03.CancelTaskRequest, "on_cancel_task", types_v03.CancelTaskSuccessResponse),
    "tasks/resubscribe": (types_v03.TaskResubscriptionRequest, "on_subscribe_to_task", None),
}


@attrs.define
class _Served:
    """One agent's A2A server: its request handlers and the card's parts that do not depend on the request."""

    agent: Agent
    options: A2AAgentOptions
    handler: DefaultRequestHandler
    handler_03: RequestHandler03
    skills: list[AgentSkill] | None = None


def _description(agent: Agent, options: A2AAgentOptions) -> str:
    if options.description:
        return options.description
    first = agent.settings.system_prompt.strip().splitlines()
    return first[0].strip() if first else f"The {agent.settings.name} agent"


def build_card(agent: Agent, options: A2AAgentOptions, url: str, skills: Sequence[AgentSkill]) -> AgentCard:
    """The agent card: one JSON-RPC endpoint, offered as A2A 1.0 and as v0.3; a skill per tool."""
    return AgentCard(
        name=agent.settings.name,
        description=_description(agent, options),
        version=AGENT_VERSION,
        supported_interfaces=[
            AgentInterface(
                url=url, protocol_binding=TransportProtocol.JSONRPC.value, protocol_version=PROTOCOL_VERSION_1_0
            ),
            AgentInterface(
                url=url, protocol_binding=TransportProtocol.JSONRPC.value, protocol_version=PROTOCOL_VERSION_0_3
            ),
        ],
        capabilities=AgentCapabilities(streaming=True, push_notifications=False),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain", "application/json"],
        skills=list(skills),
    )


async def agent_skills(agent: Agent) -> list[AgentSkill]:
    """A skill per tool the model is offered (MCP tools, RAG tools), or one general skill for an agent without tools."""
    registry = await agent.tool_registry()
    skills = [
        AgentSkill(
            id=name,
            name=tool.spec.annotations.title if tool.spec.annotations and tool.spec.annotations.title else name,
            description=tool.spec.description or name,
            tags=[tool.toolset.name],
        )
        for name, tool in registry.tools.items()
    ]
    return skills or [chat_skill(agent)]


def chat_skill(agent: Agent) -> AgentSkill:
    """The one skill of an agent without tools: answering."""
    return AgentSkill(id="chat", name="Chat", description=_description(agent, A2AAgentOptions()), tags=["chat"])


class A2AServer:
    """The A2A side of one app: an SDK request handler per A2A-enabled agent, all sharing one task store."""

    def __init__(
        self,
        agents: Sequence[tuple[Agent, A2AAgentOptions]],
        *,
        options: ServerOptions,
        coordinator: ShutdownCoordinator,
        tracer: Tracer,
        observer: ServerObserver,
        request_scope: RequestScope,
        store: SessionStore,
    ) -> None:
        self.options = options
        self.coordinator = coordinator
        self.observer = observer
        self._served: dict[str, _Served] = {}
        for agent, agent_options in agents:
            task_store = SessionTaskStore(store, agent.id, options.a2a_task_ttl_secs)
            executor = TurnExecutor(
                agent,
                options=options,
                coordinator=coordinator,
                tracer=tracer,
                observer=observer,
                request_scope=request_scope,
                store=store,
                tasks=task_store,
                ttl_secs=options.a2a_task_ttl_secs,
            )
            # the handler's copy of the card (never served: `card` builds the served one with its absolute URL)
            placeholder = build_card(agent, agent_options, a2a_base_path(agent.id), [chat_skill(agent)])
            handler = DefaultRequestHandler(executor, task_store, placeholder)
            self._served[agent.id] = _Served(agent, agent_options, handler, RequestHandler03(handler))

    @property
    def agent_ids(self) -> list[str]:
        return list(self._served)

    def routes(self) -> list[web.RouteDef]:
        routes = [web.get(f"{A2A_PREFIX}{{agent:.+}}/{path}", self.card) for path in CARD_PATHS]
        routes.append(web.post(f"{A2A_PREFIX}{{agent:.+}}", self.rpc))
        return routes

    async def aclose(self, _: web.Application | None = None) -> None:
        for served in self._served.values():
            try:
                await served.handler.aclose()
            except Exception:
                logger.exception("closing the A2A handler of %r failed", served.agent.id)

    def _find(self, request: web.Request) -> _Served:
        agent_id = request.match_info["agent"].rstrip("/")
        served = self._served.get(agent_id)
        if served is None:
            shown = agent_id if len(agent_id) <= 128 else agent_id[:128] + "…"
            raise ApiError(
                404,
                f"No agent '{shown}' is served over A2A here; A2A agents: {', '.join(self._served) or 'none'}",
                "invalid_request_error",
                "agent",
                "agent_not_found",
            )
        request[AGENT_ID] = served.agent.id
        return served

    # --- the card ----------------------------------------------------------------------------------------------

    async def card(self, request: web.Request) -> web.Response:
        served = self._find(request)
        if served.skills is None:
            served.skills = await agent_skills(served.agent)
        url = f"{request.url.origin()}{a2a_base_path(served.agent.id)}"
        return web.json_response(agent_card_to_dict(build_card(served.agent, served.options, url, served.skills)))

    # --- JSON-RPC ----------------------------------------------------------------------------------------------

    async def rpc(self, request: web.Request) -> web.StreamResponse:
        served = self._find(request)
        if request.content_length is not None and request.content_length > self.options.max_body_bytes:
            raise ApiError(413, f"Request body is too large (limit {self.options.max_body_bytes} bytes)")
        try:
            body = json.loads(await request.read())
        except ValueError as error:
            return _rpc_error(None, -32700, f"Parse error: the body is not JSON ({error})")
        if not isinstance(body, dict):
            return _rpc_error(
                None, -32600, "Invalid request: send one JSON-RPC request object (batches are not supported)"
            )
        request_id = body.get("id")
        if isinstance(request_id, bool) or not isinstance(request_id, str | int | None):
            return _rpc_error(None, -32600, "Invalid request: 'id' must be a string, an integer or null")
        method = body.get("method")
        if body.get("jsonrpc") != "2.0" or not isinstance(method, str):
            return _rpc_error(request_id, -32600, "Invalid request: 'jsonrpc' must be \"2.0\" and 'method' a string")
        headers = forwardable_headers(request.headers)
        if self.options.auth_enabled:
            headers.pop("authorization", None)  # this server's own key never travels on to an MCP server
        state: dict[str, Any] = {
            "headers": dict(request.headers),
            HEADERS_STATE: headers,
            REQUEST_ID_STATE: new_request_id(),
            "method": method,
            "request_id": request_id,
        }
        context = ServerCallContext(state=state)
        if method in _V03_METHODS:
            model, handler_method, answer = _V03_METHODS[method]
            state[STREAMING_STATE] = answer is None
            return await self._v03(request, served, context, body, model, handler_method, answer)
        if method in _V10_METHODS:
            request_type, handler_method, streams = _V10_METHODS[method]
            state[STREAMING_STATE] = streams
            return await self._v10(request, served, context, body, request_type, handler_method, streams)
        return _rpc_error(request_id, -32601, f"Method not found: {method[:64]!r} is not an A2A method served here")

    async def _v10(
        self,
        request: web.Request,
        served: _Served,
        context: ServerCallContext,
        body: dict[str, Any],
        request_type: type[ProtoMessage],
        handler_method: str,
        streams: bool,
    ) -> web.StreamResponse:
        request_id = context.state["request_id"]
        params = body.get("params", {})
        try:
            if not isinstance(params, dict):
                raise InvalidParamsError(message="'params' must be an object")
            parsed = ParseDict(params, request_type(), ignore_unknown_fields=True)
        except A2AError as error:
            return _error_response(request_id, error)
        except Exception as error:
            return _error_response(request_id, InvalidParamsError(message=f"Invalid params: {error}"))
        call: Callable[..., Any] = getattr(served.handler, handler_method)
        if streams:

            async def frames() -> AsyncGenerator[dict[str, Any], None]:
                async for event in call(parsed, context):
                    result = MessageToDict(proto_utils.to_stream_response(event))
                    yield {"jsonrpc": "2.0", "id": request_id, "result": result}

            return await self._stream(request, served, frames(), request_id)
        with self.coordinator.track(streaming=False):
            try:
                outcome = await call(parsed, context)
            except A2AError as error:
                return _error_response(request_id, error)
            except Exception:
                logger.exception("A2A %s failed", context.state["method"])
                return _rpc_error(request_id, -32603, "Internal error")
        if handler_method == "on_message_send":
            answer = (
                SendMessageResponse(task=outcome) if isinstance(outcome, Task) else SendMessageResponse(message=outcome)
            )
            result: Any = MessageToDict(answer)
        else:
            result = MessageToDict(outcome)
        return web.json_response({"jsonrpc": "2.0", "id": request_id, "result": result})

    async def _v03(
        self,
        request: web.Request,
        served: _Served,
        context: ServerCallContext,
        body: dict[str, Any],
        model: type[pydantic.BaseModel],
        handler_method: str,
        answer: type[pydantic.BaseModel] | None,
    ) -> web.StreamResponse:
        request_id = context.state["request_id"]
        try:
            parsed = model.model_validate(body)
        except pydantic.ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}" for item in error.errors()[:5]
            )
            return _rpc_error(request_id, -32602, f"Invalid params: {problems}")
        call: Callable[..., Any] = getattr(served.handler_03, handler_method)
        if answer is None:

            async def frames() -> AsyncGenerator[dict[str, Any], None]:
                async for item in call(parsed, context):
                    dumped: dict[str, Any] = item.model_dump(mode="json", by_alias=True, exclude_none=True)
                    yield dumped

            return await self._stream(request, served, frames(), request_id)
        with self.coordinator.track(streaming=False):
            try:
                outcome = await call(parsed, context)
            except A2AError as error:
                return _error_response(request_id, error)
            except Exception:
                logger.exception("A2A %s failed", context.state["method"])
                return _rpc_error(request_id, -32603, "Internal error")
        response = answer.model_validate({"jsonrpc": "2.0", "id": request_id, "result": outcome})
        return web.json_response(response.model_dump(mode="json", by_alias=True, exclude_none=True))

    async def _stream(
        self,
        request: web.Request,
        served: _Served,
        frames: AsyncGenerator[dict[str, Any], None],
        request_id: str | int | None,
    ) -> web.StreamResponse:
        """Send each JSON-RPC response as one SSE `data:` line; an error ends the stream with an error response."""
        async with contextlib.aclosing(frames):
            with self.coordinator.track(streaming=True):
                try:
                    first: dict[str, Any] | None = await anext(frames)
                except StopAsyncIteration:
                    first = None
                except A2AError as error:  # before anything was sent: a plain JSON-RPC error answer
                    return _error_response(request_id, error)
                except Exception:
                    logger.exception("A2A stream %s failed to start", request_id)
                    return _rpc_error(request_id, -32603, "Internal error")
                return await self._write(request, served, first, frames, request_id)

    async def _write(
        self,
        request: web.Request,
        served: _Served,
        first: dict[str, Any] | None,
        frames: AsyncGenerator[dict[str, Any], None],
        request_id: str | int | None,
    ) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers=STREAM_HEADERS)
        await response.prepare(request)
        request[RESPONSE_STATUS] = response.status
        agent_id = served.agent.id
        self.observer.stream_started(agent_id)
        started = time.monotonic()
        outcome = "disconnected"
        lock = asyncio.Lock()
        heartbeat = asyncio.create_task(self._beat(response, lock))
        try:
            if first is not None:
                await _send(response, lock, first)
            outcome = "complete"
            try:
                async for frame in frames:
                    await _send(response, lock, frame)
            except A2AError as error:
                outcome = "error"
                await _send(response, lock, build_error_response(request_id, error))
            except (ConnectionError, asyncio.CancelledError):
                outcome = "disconnected"
                raise
            except Exception:
                outcome = "error"
                logger.exception("A2A stream %s failed", request_id)
                await _send(response, lock, _rpc_error_body(request_id, -32603, "Internal error"))
            await response.write_eof()
        except ConnectionError:
            outcome = "disconnected"
            logger.info("A2A stream %s: the client went away; its task runs on", request_id)
        finally:
            heartbeat.cancel()
            self.observer.stream_ended(agent_id, outcome, time.monotonic() - started)
        return response

    async def _beat(self, response: web.StreamResponse, lock: asyncio.Lock) -> None:
        interval = self.options.heartbeat_interval_secs
        while True:
            await asyncio.sleep(interval)
            async with lock:
                await response.write(b": heartbeat\n\n")


async def _send(response: web.StreamResponse, lock: asyncio.Lock, frame: Mapping[str, Any]) -> None:
    data = json.dumps(frame, separators=(",", ":"))
    async with lock:
        await response.write(f"data: {data}\n\n".encode())


def _rpc_error_body(request_id: str | int | None, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


def _rpc_error(request_id: str | int | None, code: int, message: str) -> web.Response:
    return web.json_response(_rpc_error_body(request_id, code, message))


def _error_response(request_id: str | int | None, error: A2AError) -> web.Response:
    return web.json_response(build_error_response(request_id, error))
