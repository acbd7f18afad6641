"""The aiohttp application: routes, middlewares and the state they share."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
from aiohttp import web
from aiohttp.typedefs import Middleware

from aura.adapters.a2a.options import A2A_PREFIX, A2AAgentOptions
from aura.adapters.http.agent_directory import AgentDirectory, model_not_found
from aura.adapters.http.approvals import APPROVALS_PATH, ApprovalsHandler
from aura.adapters.http.chat_completions import CHAT_COMPLETIONS_PATH, ChatCompletionsHandler
from aura.adapters.http.errors import Handler, error_middleware
from aura.adapters.http.observer import (
    CLIENT_CLOSED_REQUEST,
    UNKNOWN_AGENT,
    GuardedObserver,
    NoopObserver,
    ServerObserver,
)
from aura.adapters.http.openapi import openapi_document
from aura.adapters.http.options import ServerOptions, ToolResultMode
from aura.adapters.http.readiness import (
    READY_PATH,
    DependencyCheck,
    ReadinessProbe,
    readiness_handler,
    vector_store_checks,
)
from aura.adapters.http.request_keys import AGENT_ID, RESPONSE_STATUS
from aura.adapters.http.request_scope import RequestScope, no_request_scope
from aura.adapters.http.responses import RESPONSE_PATH, RESPONSES_PATH, ResponsesHandler
from aura.adapters.http.security import ApiKeyVerifier, CorsPolicy, api_key_auth
from aura.adapters.http.shutdown import ShutdownCoordinator, shutdown_gate
from aura.domain.agent import Agent
from aura.ports.session_store import SessionStore
from aura.ports.tracer import NoopTracer, Tracer

logger = logging.getLogger(__name__)


@attrs.frozen
class ServerState:
    """What the handlers share; reachable from the app as `app[SERVER_STATE]`."""

    directory: AgentDirectory
    options: ServerOptions
    coordinator: ShutdownCoordinator
    started_at: int
    observer: ServerObserver = attrs.field(factory=NoopObserver)


SERVER_STATE = web.AppKey("aura_server_state", ServerState)


def create_app(
    agents: Sequence[Agent],
    options: ServerOptions,
    *,
    default_agent: str | None = None,
    tracer: Tracer | None = None,
    observer: ServerObserver | None = None,
    extra_routes: Iterable[web.AbstractRouteDef] = (),
    request_scope: RequestScope = no_request_scope,
    session_store: SessionStore | None = None,
    a2a_agents: Mapping[str, A2AAgentOptions] | None = None,
    readiness_checks: Sequence[DependencyCheck] | None = None,
) -> web.Application:
    """Build the OpenAI-compatible application for already-built agents.

    `default_agent` overrides `options.default_agent`; an unknown default raises
    `UnknownDefaultAgent`. `observer` receives the traffic figures (requests, streams, time to
    first token, tool calls; see `ServerObserver`); its failures are logged, never raised.
    `extra_routes` (e.g. `web.get("/metrics", handler)`) are served behind the same middlewares:
    shutdown gate, CORS, API-key authentication, error envelope. `request_scope` is entered around
    the handling of each chat completion (see `RequestScope`), e.g. the telemetry adapter's
    `log_context` so that every log line of a request carries its ids.

    `a2a_agents` (agent id → its A2A options) are served over A2A under `/a2a/{agent id}/`; None means every agent
    when `options.a2a_enabled`, none otherwise. `a2a-sdk` is imported only when at least one agent is served.

    `GET /ready` runs `readiness_checks`; None means one per vector store of each agent (`vector_store_checks`).

    Serve it with `run_server`, or with an `AppRunner` created with `handler_cancellation=True` so a
    client that disconnects from a non-streaming request cancels its turn too (streams notice a
    disconnect on their own).
    """
    directory = AgentDirectory(agents, default_agent if default_agent is not None else options.default_agent)
    if options.tool_result_mode is ToolResultMode.AURA and not options.aura_custom_events:
        logger.warning("TOOL_RESULT_MODE=aura shows tool results only in aura.tool_complete events, which are off")
    coordinator = ShutdownCoordinator()
    guarded = GuardedObserver(observer) if observer is not None else NoopObserver()
    state = ServerState(directory, options, coordinator, int(time.time()), guarded)
    middlewares: list[Middleware] = [observe_requests(guarded), shutdown_gate(coordinator)]
    cors = CorsPolicy(options.cors_allow_origins) if options.cors_allow_origins else None
    if cors is not None:
        middlewares.append(cors.middleware())
    if options.api_keys:
        middlewares.append(api_key_auth(ApiKeyVerifier(options.api_keys)))
    middlewares.append(error_middleware)
    app = web.Application(middlewares=middlewares, client_max_size=options.max_body_bytes)
    if cors is not None:
        app.on_response_prepare.append(cors.add_response_headers)
    app[SERVER_STATE] = state
    chat = ChatCompletionsHandler(directory, options, coordinator, tracer or NoopTracer(), guarded, request_scope)
    app.router.add_get("/health", health)
    readiness = ReadinessProbe(vector_store_checks(agents) if readiness_checks is None else readiness_checks)
    app.router.add_get(READY_PATH, readiness_handler(readiness))
    app.on_cleanup.append(lambda _: readiness.aclose())
    app.router.add_get("/v1/models", list_models)
    # `.+`: an agent id may contain a slash (`team/sre`).
    app.router.add_get("/v1/models/{model:.+}", retrieve_model)
    app.router.add_post(CHAT_COMPLETIONS_PATH, chat.handle)
    approvals = ApprovalsHandler(directory, approver_header=options.approver_header)
    app.router.add_post(APPROVALS_PATH, approvals.decide)
    app.router.add_get(APPROVALS_PATH, approvals.show)
    responses = ResponsesHandler(
        directory, options, coordinator, tracer or NoopTracer(), guarded, session_store, request_scope
    )
    app.router.add_post(RESPONSES_PATH, responses.create)
    app.router.add_get(RESPONSE_PATH, responses.retrieve)
    app.router.add_delete(RESPONSE_PATH, responses.delete)
    app.router.add_get("/openapi.json", openapi)
    a2a = _a2a_agents(directory, options, a2a_agents)
    if a2a:
        _add_a2a_routes(app, a2a, state, tracer or NoopTracer(), request_scope, session_store)
    app.router.add_routes(list(extra_routes))
    return app


def _a2a_agents(
    directory: AgentDirectory, options: ServerOptions, chosen: Mapping[str, A2AAgentOptions] | None
) -> list[tuple[Agent, A2AAgentOptions]]:
    if chosen is None:
        return [(agent, A2AAgentOptions()) for agent in directory.agents] if options.a2a_enabled else []
    served = []
    for agent_id, agent_options in chosen.items():
        agent = directory.find(agent_id)
        if agent is None:
            raise ValueError(f"A2A is enabled for an unknown agent {agent_id!r}")
        served.append((agent, agent_options))
    return served


def _add_a2a_routes(
    app: web.Application,
    agents: Sequence[tuple[Agent, A2AAgentOptions]],
    state: ServerState,
    tracer: Tracer,
    request_scope: RequestScope,
    session_store: SessionStore | None,
) -> None:
    from aura.adapters.a2a.routes import A2AServer  # imports a2a-sdk: only when A2A is on

    if session_store is None:
        from aura.adapters.sessions.in_memory import InMemorySessionStore

        session_store = InMemorySessionStore()
    a2a = A2AServer(
        agents,
        options=state.options,
        coordinator=state.coordinator,
        tracer=tracer,
        observer=state.observer,
        request_scope=request_scope,
        store=session_store,
    )
    app.router.add_routes(a2a.routes())
    app.on_cleanup.append(a2a.aclose)
    logger.info("A2A: serving %s under %s{agent}/", ", ".join(a2a.agent_ids), A2A_PREFIX)


def observe_requests(observer: ServerObserver) -> Middleware:
    """The outermost middleware: report every chat-completion request with its final status.

    Outermost so that answers of the other middlewares (503 during shutdown, 401, 413) count too.
    A client that leaves a non-streaming request counts as 499; a stream counts its 200.
    """

    @web.middleware
    async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path not in (CHAT_COMPLETIONS_PATH, RESPONSES_PATH) and not (
            path.startswith(A2A_PREFIX) and request.method == "POST"
        ):
            return await handler(request)
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except asyncio.CancelledError:
            status = request.get(RESPONSE_STATUS, CLIENT_CLOSED_REQUEST)
            raise
        except web.HTTPException as error:
            status = error.status
            raise
        finally:
            observer.record_request(request.get(AGENT_ID, UNKNOWN_AGENT), status)

    return observe


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "healthy"})


async def list_models(request: web.Request) -> web.Response:
    state = request.app[SERVER_STATE]
    return web.json_response(
        {"object": "list", "data": [_model_entry(agent, state) for agent in state.directory.agents]}
    )


async def retrieve_model(request: web.Request) -> web.Response:
    """OpenAI "retrieve model": the agent with this id (or name), or 404 `model_not_found`."""
    state = request.app[SERVER_STATE]
    model = request.match_info["model"]
    agent = state.directory.find(model)
    if agent is None:
        raise model_not_found(model)
    return web.json_response({**_model_entry(agent, state), "tools": await tool_listing(agent)})


async def tool_listing(agent: Agent) -> list[dict[str, Any]]:
    """Each tool the model is offered, with its MCP annotations and whether a call waits for approval (and why)."""
    registry = await agent.tool_registry()
    gate = agent.approval_gate
    listing: list[dict[str, Any]] = []
    for name, tool in registry.tools.items():
        spec = tool.spec
        entry: dict[str, Any] = {
            "name": name,
            "description": spec.description,
            "toolset": tool.toolset.name,
            "annotations": spec.annotations.to_mcp() if spec.annotations is not None else {},
        }
        if gate is None:
            entry["approval"] = {"required": False, "rule": "never", "reason": "approvals are not enabled"}
        else:
            requirement = gate.policy.requirement(
                tool.toolset.name, tool.original_name, spec.annotations, builtin_read_only=spec.builtin_read_only
            )
            entry["approval"] = {
                "required": requirement.needs_approval,
                "rule": requirement.rule.value,
                "reason": requirement.reason,
            }
        listing.append(entry)
    return listing


def _model_entry(agent: Agent, state: ServerState) -> dict[str, Any]:
    settings = agent.settings
    created = settings.created_at_ms // 1000 if settings.created_at_ms is not None else state.started_at
    return {
        "id": agent.id,
        "object": "model",
        "created": created,
        "owned_by": settings.model_owner or agent.model.provider,
    }


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())
