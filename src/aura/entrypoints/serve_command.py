"""`aura serve` (and `aura-web-server`): load the config, build the agents, serve them over HTTP.

Options are flags and environment variables (`serve_options`). Bad option values exit with status 2 and
a message listing what is allowed; configuration and startup errors exit with status 1 and a message on
stderr, never a traceback. Agents are assembled by the composition root (`container.build_agents`).

`GET /metrics` serves the telemetry adapter's Prometheus metrics, fed through the HTTP adapter's
`ServerObserver` port. With `--workers N` (N > 1) this process becomes a supervisor of N worker
processes sharing the port (SO_REUSEPORT); see `aura.entrypoints.workers`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from aiohttp import web

from aura import __version__
from aura.adapters.a2a.options import A2AAgentOptions
from aura.adapters.http import ServerOptions, run_server
from aura.adapters.http.server import STOP_SIGNALS
from aura.adapters.telemetry import (
    ServerMetrics,
    configure_logging,
    configure_tracing,
    log_context,
    metrics_handler,
    shutdown_tracing,
)
from aura.domain.agent import Agent, close_agents, start_agents
from aura.domain.errors import AuraError
from aura.entrypoints.serve_options import OPTIONS, OptionError, add_arguments, options_from
from aura.ports.toolset import ConnectedToolset
from aura.ports.tracer import Tracer

if TYPE_CHECKING:
    from aura.entrypoints.config import LoadedConfig

logger = logging.getLogger("aura.serve")

# approval requests and decisions are an audit trail: logged by default
SERVER_LOGGERS = ("aura.serve", "aura.adapters.http", "aura.entrypoints", "aura.domain.approvals")

# The option system lives in `serve_options`; these names stay importable from here.
__all__ = ["OPTIONS", "OptionError", "add_arguments", "options_from", "run", "serve", "start_agents"]


def configure_server_logging(options: ServerOptions, environ: Mapping[str, str]) -> None:
    """Server lifecycle lines by default; `-v` all aura INFO logs; `-d` DEBUG; `LOG_LEVEL` overrides.

    Logs go through the telemetry adapter's handler: secrets from the environment are masked and
    `LOG_FORMAT=json` gives JSON lines.
    """
    override = environ.get("LOG_LEVEL", "").strip().upper()
    valid_override = override in ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
    level = override if valid_override else ("DEBUG" if options.debug else "INFO")
    configure_logging(
        level,
        json=environ.get("LOG_FORMAT", "").strip().lower() == "json",
        environ=environ,
        secrets=options.api_keys,  # a key given as a flag is not in the environment the filter reads
    )
    if not (valid_override or options.debug or options.verbose):
        logging.getLogger("aura").setLevel(logging.WARNING)
        for name in SERVER_LOGGERS:
            logging.getLogger(name).setLevel(logging.INFO)
    skip_unused_record_fields()


def skip_unused_record_fields() -> None:
    """Stop the standard library from looking up, for every log line, what Aura's formatters never print.

    A record otherwise walks the stack for its source line and asks for the thread and process names: a
    third of the cost of the per-request INFO line under load. The switches are the logging HOWTO's own
    ("Optimization"); they are process-wide, so only the server, which owns its process, turns them off.
    """
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def run(args: argparse.Namespace) -> int:
    try:
        options = options_from(args, os.environ)
    except OptionError as error:
        print(f"aura serve: error: {error}", file=sys.stderr)
        return 2
    configure_server_logging(options, os.environ)
    logger.info("Starting Aura Web Server v%s", __version__)
    logger.info("Configuration: %s", options.config)
    warn_about_short_keys(options)
    if options.workers > 1:
        from aura.entrypoints.workers import supervise_workers

        return supervise_workers(options)
    return asyncio.run(serve(options))


MIN_RECOMMENDED_KEY_LENGTH = 16


def warn_about_short_keys(options: ServerOptions) -> None:
    short = sum(1 for key in options.api_keys if len(key) < MIN_RECOMMENDED_KEY_LENGTH)
    if short:
        logger.warning(
            "%d API key(s) are shorter than %d characters; use long random keys (e.g. `openssl rand -hex 32`)",
            short,
            MIN_RECOMMENDED_KEY_LENGTH,
        )


async def serve(
    options: ServerOptions,
    *,
    stop_signals: Sequence[signal.Signals] = STOP_SIGNALS,
    on_listening: Callable[[int], None] | None = None,
) -> int:
    """Load, build, connect, serve. Returns the process exit status.

    `stop_signals` and `on_listening` are for worker processes (see `aura.entrypoints.workers`).
    """
    tracer = configure_tracing(os.environ)
    try:
        return await _serve(options, tracer, stop_signals, on_listening)
    finally:
        shutdown_tracing(tracer)


def load_and_check_config(options: ServerOptions) -> LoadedConfig:
    """Load the configuration and check DEFAULT_AGENT against it; raises `ConfigError`."""
    from aura.entrypoints.config import load_config

    loaded = load_config(options.config)
    if options.default_agent is not None:
        loaded.default_agent(options.default_agent)  # validates DEFAULT_AGENT before anything connects
    return loaded


def mcp_health_probe(agents: Sequence[Agent]) -> Callable[[], dict[str, bool]]:
    """`{server name: connected}` over every agent's connected toolsets (MCP), read at each scrape.

    A server used by several agents (one connection each) counts as up only when all are connected.
    """
    toolsets = [t for agent in agents for t in agent.toolsets if isinstance(t, ConnectedToolset)]

    def probe() -> dict[str, bool]:
        states: dict[str, bool] = {}
        for toolset in toolsets:
            states[toolset.name] = states.get(toolset.name, True) and toolset.connected
        return states

    return probe


def server_metrics(agents: Sequence[Agent]) -> tuple[ServerMetrics, list[web.RouteDef]]:
    """The Prometheus metrics of this process and the `GET /metrics` route serving them."""
    metrics = ServerMetrics()
    metrics.add_mcp_health_probe(mcp_health_probe(agents))
    return metrics, [web.get("/metrics", metrics_handler(metrics))]


async def _serve(
    options: ServerOptions,
    tracer: Tracer,
    stop_signals: Sequence[signal.Signals],
    on_listening: Callable[[int], None] | None,
) -> int:
    # imported late: `aura --help` stays fast
    from aura.entrypoints.config import ConfigError
    from aura.entrypoints.factories import build_session_store, check_session_store
    from aura.entrypoints.optional_imports import DEPENDENCY_INJECTOR_EXTRAS, without_modules

    with without_modules(DEPENDENCY_INJECTOR_EXTRAS):  # FastAPI & co. are not ours to import (~0.3 s)
        from aura.entrypoints.container import build_agents

    agents: list[Agent] = []
    try:
        loaded = load_and_check_config(options)
        for warning in loaded.warnings:
            logger.warning("%s", warning)
        session_store = build_session_store(options.session_store_url)
        await check_session_store(session_store)
        if session_store is None:  # one store for the process: stored responses and pending approvals
            from aura.adapters.sessions.in_memory import InMemorySessionStore

            session_store = InMemorySessionStore()
        agents = build_agents(loaded, tracer=tracer, session_store=session_store)
        await start_agents(agents)
        for agent in agents:
            registry = await agent.tool_registry()
            logger.info("Loaded agent '%s' (%s) with %d tool(s)", agent.id, agent.model_string, len(registry.tools))
    except ConfigError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        await close_agents(agents)
        return 1
    except AuraError as error:
        print(f"Startup error: {error}", file=sys.stderr)
        await close_agents(agents)
        return 1
    except Exception as error:  # an adapter failing to start must not print a traceback
        logger.debug("startup failed", exc_info=True)
        print(f"Startup error: {type(error).__name__}: {error}", file=sys.stderr)
        await close_agents(agents)
        return 1
    metrics, metrics_routes = server_metrics(agents)
    tune_garbage_collector()
    return await run_server(
        agents,
        options,
        default_agent=options.default_agent,
        tracer=tracer,
        observer=metrics,
        extra_routes=metrics_routes,
        stop_signals=stop_signals,
        on_listening=on_listening,
        request_scope=log_context,  # every log line of a request carries its ids
        session_store=session_store,  # stored /v1/responses and A2A tasks (and, through the agents, pending approvals)
        a2a_agents=a2a_agents(loaded, options),
    )


def a2a_agents(loaded: LoadedConfig, options: ServerOptions) -> dict[str, A2AAgentOptions]:
    """The agents served over A2A: all with `--a2a` / `A2A_ENABLED`, unless their `[a2a]` says `enabled = false`;
    without it, those whose `[a2a]` table says `enabled = true`."""
    chosen: dict[str, A2AAgentOptions] = {}
    for agent_file in loaded.agents:
        config = agent_file.config
        section = config.a2a
        if section.enabled if section is not None else options.a2a_enabled:
            chosen[config.id] = A2AAgentOptions(description=section.description if section is not None else None)
    return chosen


# Collect the young generation every 10,000 net allocations instead of 700, the middle one every 50 of those
# (not 10) and the oldest every 100 of the middle's (not 10). Streaming allocates many short-lived objects per
# token while thousands of streams keep theirs alive, so the defaults spent about a fifth of the server's CPU at
# 1000 streams in collections that found little to free (docs/performance.md); with these, a few percent, and the
# same peak memory.
GC_THRESHOLDS = (10_000, 50, 100)


def tune_garbage_collector() -> None:
    """Set `GC_THRESHOLDS` and freeze what startup built, before serving.

    Startup's objects (modules, config, clients, MCP sessions) live as long as the process; frozen, they are
    no longer walked by every full collection.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
