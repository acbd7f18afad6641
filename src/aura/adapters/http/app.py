"""The aiohttp application: routes, middlewares and the state they share."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import attrs
from aiohttp import web

from aura.adapters.http.agent_directory import AgentDirectory
from aura.adapters.http.chat_completions import ChatCompletionsHandler
from aura.adapters.http.errors import error_middleware
from aura.adapters.http.openapi import openapi_document
from aura.adapters.http.options import ServerOptions, ToolResultMode
from aura.adapters.http.shutdown import ShutdownCoordinator, shutdown_gate
from aura.domain.agent import Agent
from aura.ports.tracer import NoopTracer, Tracer

logger = logging.getLogger(__name__)


@attrs.frozen
class ServerState:
    """What the handlers share; reachable from the app as `app[SERVER_STATE]`."""

    directory: AgentDirectory
    options: ServerOptions
    coordinator: ShutdownCoordinator
    started_at: int


SERVER_STATE = web.AppKey("aura_server_state", ServerState)


def create_app(
    agents: Sequence[Agent],
    options: ServerOptions,
    *,
    default_agent: str | None = None,
    tracer: Tracer | None = None,
) -> web.Application:
    """Build the OpenAI-compatible application for already-built agents.

    `default_agent` overrides `options.default_agent`; an unknown default raises
    `UnknownDefaultAgent`. Serve it with `run_server`, or with an `AppRunner` created with
    `handler_cancellation=True` so a client that disconnects from a non-streaming request
    cancels its turn too (streams notice a disconnect on their own).
    """
    directory = AgentDirectory(agents, default_agent if default_agent is not None else options.default_agent)
    if options.tool_result_mode is ToolResultMode.AURA and not options.aura_custom_events:
        logger.warning("TOOL_RESULT_MODE=aura shows tool results only in aura.tool_complete events, which are off")
    coordinator = ShutdownCoordinator()
    state = ServerState(directory, options, coordinator, int(time.time()))
    app = web.Application(
        middlewares=[shutdown_gate(coordinator), error_middleware],
        client_max_size=options.max_body_bytes,
    )
    app[SERVER_STATE] = state
    chat = ChatCompletionsHandler(directory, options, coordinator, tracer or NoopTracer())
    app.router.add_get("/health", health)
    app.router.add_get("/v1/models", list_models)
    app.router.add_post("/v1/chat/completions", chat.handle)
    app.router.add_get("/openapi.json", openapi)
    return app


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "healthy"})


async def list_models(request: web.Request) -> web.Response:
    state = request.app[SERVER_STATE]
    return web.json_response(
        {"object": "list", "data": [_model_entry(agent, state) for agent in state.directory.agents]}
    )


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
