"""`aura serve` (and `aura-web-server`): load the config, build the agents, serve them over HTTP.

Every option is a flag and an environment variable (the flag wins), with the names and defaults of
SPEC §2. Bad option values exit with status 2 and a message listing what is allowed; configuration
and startup errors exit with status 1 and a message on stderr, never a traceback.

`GET /metrics` serves the telemetry adapter's Prometheus metrics, fed through the HTTP adapter's
`ServerObserver` port. With `--workers N` (N > 1) this process becomes a supervisor of N worker
processes sharing the port (SO_REUSEPORT); see `supervise_workers`.
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
from typing import TYPE_CHECKING, Any

import attrs
from aiohttp import web

from aura import __version__
from aura.adapters.a2a.options import A2AAgentOptions
from aura.adapters.http import ServerOptions, ToolResultMode, run_server
from aura.adapters.http.options import DEFAULT_MAX_BODY_BYTES
from aura.adapters.http.security import invalid_api_key_reason, invalid_origin_reason
from aura.adapters.http.server import STOP_SIGNALS
from aura.adapters.telemetry import (
    ServerMetrics,
    configure_logging,
    configure_tracing,
    log_context,
    metrics_handler,
    shutdown_tracing,
)
from aura.domain.agent import Agent
from aura.domain.errors import AuraError
from aura.ports.tracer import Tracer

if TYPE_CHECKING:
    from aura.entrypoints.config import LoadedConfig

logger = logging.getLogger("aura.serve")

# approval requests and decisions are an audit trail: logged by default
SERVER_LOGGERS = ("aura.serve", "aura.adapters.http", "aura.entrypoints", "aura.domain.approvals")
TRUE_WORDS = ("true", "1", "yes")
FALSE_WORDS = ("false", "0", "no")


class OptionError(ValueError):
    """An option value that cannot be used; the message names the flag, the env var and what is allowed."""


def parse_bool(text: str) -> bool:
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"invalid boolean {text!r}; allowed values: {', '.join(TRUE_WORDS + FALSE_WORDS)}")


def parse_count(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError(f"invalid value {text!r}; expected a non-negative integer") from None
    if value < 0:
        raise ValueError(f"invalid value {text!r}; expected a non-negative integer")
    return value


def parse_positive_count(text: str) -> int:
    value = parse_count(text)
    if value < 1:
        raise ValueError(f"invalid value {text!r}; expected an integer >= 1")
    return value


def parse_port(text: str) -> int:
    value = parse_count(text)
    if value > 65535:
        raise ValueError(f"invalid port {text!r}; expected an integer from 0 to 65535")
    return value


def parse_seconds(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError(f"invalid value {text!r}; expected a non-negative number of seconds") from None
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"invalid value {text!r}; expected a non-negative number of seconds")
    return value


def parse_mode(text: str) -> ToolResultMode:
    return ToolResultMode.parse(text.strip())


def parse_text(text: str) -> str:
    return text


def parse_api_keys(text: str) -> tuple[str, ...]:
    """Comma-separated keys; errors name the key's position, never the key."""
    keys = tuple(key.strip() for key in text.split(","))
    keys = tuple(key for key in keys if key)
    if not keys:
        raise ValueError("no API key given (expected one or more keys separated by commas)")
    for number, key in enumerate(keys, start=1):
        reason = invalid_api_key_reason(key)
        if reason is not None:
            raise ValueError(f"API key #{number} cannot be used: {reason}")
    return keys


def parse_origins(text: str) -> tuple[str, ...]:
    """Comma-separated CORS origins (`*` or scheme://host[:port])."""
    origins = tuple(origin.strip() for origin in text.split(",") if origin.strip())
    if not origins:
        raise ValueError("no origin given (expected '*' or origins separated by commas)")
    for origin in origins:
        reason = invalid_origin_reason(origin)
        if reason is not None:
            raise ValueError(f"invalid origin {origin!r}: {reason}")
    return origins


@attrs.frozen
class OptionSpec:
    """One server option: its flags, environment variable, parser and default."""

    dest: str
    flags: tuple[str, ...]
    env: str
    parse: Callable[[str], Any]
    default: Any
    help: str
    boolean: bool = False
    repeatable: bool = False
    """The flag may be given several times; the values are joined with commas before parsing."""


OPTIONS = (
    OptionSpec("config", ("-c", "--config"), "CONFIG_PATH", parse_text, "config.toml", "TOML file or directory"),
    OptionSpec("host", ("--host",), "HOST", parse_text, "127.0.0.1", "bind host"),
    OptionSpec("port", ("-p", "--port"), "PORT", parse_port, 8080, "bind port"),
    OptionSpec(
        "streaming_timeout_secs",
        ("--streaming-timeout-secs",),
        "STREAMING_TIMEOUT_SECS",
        parse_seconds,
        900,
        "whole-response time limit in seconds (0 = none)",
    ),
    OptionSpec(
        "first_chunk_timeout_secs",
        ("--first-chunk-timeout-secs",),
        "FIRST_CHUNK_TIMEOUT_SECS",
        parse_seconds,
        30,
        "time limit for the first event of a stream (0 = none)",
    ),
    OptionSpec(
        "streaming_buffer_size",
        ("--streaming-buffer-size",),
        "STREAMING_BUFFER_SIZE",
        parse_positive_count,
        400,
        "SSE frames buffered per stream before the turn waits for the client (>= 1)",
    ),
    OptionSpec(
        "aura_custom_events",
        ("--aura-custom-events",),
        "AURA_CUSTOM_EVENTS",
        parse_bool,
        False,
        "emit aura.* SSE events",
        boolean=True,
    ),
    OptionSpec(
        "aura_emit_reasoning",
        ("--aura-emit-reasoning",),
        "AURA_EMIT_REASONING",
        parse_bool,
        False,
        "emit aura.reasoning events (needs --aura-custom-events)",
        boolean=True,
    ),
    OptionSpec(
        "tool_result_mode",
        ("--tool-result-mode",),
        "TOOL_RESULT_MODE",
        parse_mode,
        ToolResultMode.NONE,
        "tool results in the stream: none, open-web-ui or aura",
    ),
    OptionSpec(
        "tool_result_max_length",
        ("--tool-result-max-length",),
        "TOOL_RESULT_MAX_LENGTH",
        parse_count,
        100,
        "bytes of tool results shown in the stream (0 = no truncation)",
    ),
    OptionSpec(
        "shutdown_timeout_secs",
        ("--shutdown-timeout-secs",),
        "SHUTDOWN_TIMEOUT_SECS",
        parse_seconds,
        30,
        "grace period for in-flight requests on SIGTERM/SIGINT",
    ),
    OptionSpec(
        "default_agent",
        ("--default-agent",),
        "DEFAULT_AGENT",
        parse_text,
        None,
        "agent id for requests without `model`",
    ),
    OptionSpec(
        "max_body_bytes",
        ("--max-body-bytes",),
        "MAX_BODY_BYTES",
        parse_positive_count,
        DEFAULT_MAX_BODY_BYTES,
        "largest accepted request body in bytes",
    ),
    OptionSpec(
        "api_keys",
        ("--api-key",),
        "AURA_API_KEYS",
        parse_api_keys,
        (),
        "require 'Authorization: Bearer <key>' on every path but /health; repeat the flag or separate keys "
        "with commas (prefer the env var: flags show in the process list)",
        repeatable=True,
    ),
    OptionSpec(
        "cors_allow_origins",
        ("--cors-allow-origins",),
        "CORS_ALLOW_ORIGINS",
        parse_origins,
        (),
        "browser origins allowed to call the API, comma-separated, or '*' (CORS is off when unset)",
    ),
    OptionSpec(
        "workers",
        ("--workers",),
        "WORKERS",
        parse_positive_count,
        1,
        "server processes sharing the port (SO_REUSEPORT); needs a fixed --port when > 1",
    ),
    OptionSpec(
        "responses_ttl_secs",
        ("--responses-ttl-secs",),
        "RESPONSES_TTL_SECS",
        parse_seconds,
        86400,
        "how long /v1/responses keeps a stored response for previous_response_id and GET",
    ),
    OptionSpec(
        "session_store_url",
        ("--session-store-url",),
        "SESSION_STORE_URL",
        parse_text,
        None,
        "where pending approvals live: a redis:// URL shared by every worker and pod (default: this process's memory)",
    ),
    OptionSpec(
        "a2a_enabled",
        ("--a2a",),
        "A2A_ENABLED",
        parse_bool,
        False,
        "serve every agent over A2A at /a2a/{agent}/ (an agent's [a2a] table turns it on or off for itself)",
        boolean=True,
    ),
    OptionSpec(
        "a2a_task_ttl_secs",
        ("--a2a-task-ttl-secs",),
        "A2A_TASK_TTL_SECS",
        parse_seconds,
        86400,
        "how long an A2A task and its context's conversation are kept after their last change",
    ),
    OptionSpec(
        "approver_header",
        ("--approver-header",),
        "APPROVER_HEADER",
        parse_text,
        "X-Aura-Approver",
        "request header naming who answers an approval (logged and traced with the decision)",
    ),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for spec in OPTIONS:
        default = spec.default.value if isinstance(spec.default, ToolResultMode) else spec.default
        default = "none" if default is None or default == () else str(default).lower()
        extra: dict[str, Any] = {"nargs": "?", "const": "true", "metavar": "BOOL"} if spec.boolean else {}
        if spec.repeatable:
            extra = {"action": "append", "metavar": "KEY"}
        parser.add_argument(
            *spec.flags,
            dest=spec.dest,
            default=None,
            help=f"{spec.help} (env {spec.env}, default {default})",
            **extra,
        )
    parser.add_argument("-v", "--verbose", action="store_true", help="INFO logs for every aura module")
    parser.add_argument("-d", "--debug", action="store_true", help="DEBUG logs for every aura module")


def options_from(args: argparse.Namespace, environ: Mapping[str, str]) -> ServerOptions:
    """Flags first, then environment variables, then defaults; raises `OptionError`."""
    values: dict[str, Any] = {}
    for spec in OPTIONS:
        given = getattr(args, spec.dest, None)
        if isinstance(given, list):
            given = ",".join(given)
        source = spec.flags[-1]
        if given is None and environ.get(spec.env, "") != "":
            given, source = environ[spec.env], spec.env
        if given is None:
            values[spec.dest] = spec.default
            continue
        try:
            values[spec.dest] = spec.parse(given)
        except ValueError as error:
            raise OptionError(f"{source}: {error}") from None
    if values["workers"] > 1 and values["port"] == 0:
        raise OptionError("--workers: more than one worker needs a fixed port (--port/PORT other than 0)")
    try:
        return ServerOptions(verbose=bool(args.verbose), debug=bool(args.debug), **values)
    except ValueError as error:
        raise OptionError(str(error)) from None


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

    `stop_signals` and `on_listening` are for worker processes (see `supervise_workers`).
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
    """`{MCP server name: connected}` over every agent's MCP toolsets, read at each scrape.

    A server used by several agents (one connection each) counts as up only when all are connected.
    """
    mcp = sys.modules.get("aura.adapters.mcp")  # not loaded: no MCP toolset exists, and importing mcp costs ~1 s
    toolsets = [] if mcp is None else [t for agent in agents for t in agent.toolsets if isinstance(t, mcp.McpToolset)]

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
    from aura.entrypoints.container import build_agents
    from aura.entrypoints.factories import build_session_store, check_session_store

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
    except ConfigError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        await _close_quietly(agents)
        return 1
    except AuraError as error:
        print(f"Startup error: {error}", file=sys.stderr)
        await _close_quietly(agents)
        return 1
    except Exception as error:  # an adapter failing to start must not print a traceback
        logger.debug("startup failed", exc_info=True)
        print(f"Startup error: {type(error).__name__}: {error}", file=sys.stderr)
        await _close_quietly(agents)
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


async def start_agents(agents: Sequence[Agent]) -> None:
    """Connect every toolset that needs it (MCP) and discover tools, so the first request pays nothing.

    Every toolset of every agent starts at once: startup takes as long as the slowest server, not
    the sum of all. The first failure (a `required` MCP server that is down) is raised as is, and
    the starts still running are cancelled.
    """
    starts = [
        asyncio.ensure_future(start())
        for agent in agents
        for toolset in agent.toolsets
        if (start := getattr(toolset, "start", None)) is not None
    ]
    try:
        await asyncio.gather(*starts)
    finally:
        for pending in starts:
            pending.cancel()
        await asyncio.gather(*starts, return_exceptions=True)
    for agent in agents:
        registry = await agent.tool_registry()
        logger.info("Loaded agent '%s' (%s) with %d tool(s)", agent.id, agent.model_string, len(registry.tools))


async def _close_quietly(agents: Sequence[Agent]) -> None:
    for agent in agents:
        try:
            await agent.aclose()
        except Exception:
            logger.debug("closing agent %r failed", agent.id, exc_info=True)


# --- `--workers N`: a supervisor process and N workers sharing the port -------------------------

WORKER_STARTUP_SECS = 120.0
"""A worker that has not started listening by then is treated as failed to start."""
WORKER_KILL_MARGIN_SECS = 30.0
"""After a stop signal, workers get the shutdown grace period plus this much before SIGKILL."""
MAX_RESTARTS = 5
RESTART_WINDOW_SECS = 60.0
PARENT_WATCH_SECS = 1.0


@attrs.define
class _Worker:
    index: int
    process: Any  # multiprocessing.process.BaseProcess
    ready: bool = False


def supervise_workers(options: ServerOptions) -> int:
    """Run `options.workers` server processes on one port and supervise them; returns the exit status.

    The configuration is checked here first, so a mistake is reported once rather than by every
    worker. Each worker is a fresh interpreter (multiprocessing "spawn": no state forked from this
    process) that builds its own agents and listens with SO_REUSEPORT; the kernel spreads new
    connections between them. SIGTERM or SIGINT here is forwarded to every worker as SIGTERM, which
    starts its two-phase graceful shutdown (a second signal cuts the grace period short in each).
    Workers ignore SIGINT themselves, so Ctrl-C in a terminal (sent to the whole process group)
    reaches them once, through here. A worker that fails before listening stops the server (exit
    1); one that dies later is replaced, up to `MAX_RESTARTS` in `RESTART_WINDOW_SECS`.
    """
    import multiprocessing
    import multiprocessing.connection
    import queue
    import time

    from aura.entrypoints.config import ConfigError

    try:
        loaded = load_and_check_config(options)
    except ConfigError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 1
    for warning in loaded.warnings:
        logger.warning("%s", warning)
    if options.session_store_url is None and any(agent.config.approval is not None for agent in loaded.agents):
        logger.warning(
            "approvals with --workers %d keep pending approvals in each worker's memory: a decision that reaches "
            "another worker is not found. Set SESSION_STORE_URL=redis://... to share them.",
            options.workers,
        )

    context = multiprocessing.get_context("spawn")
    ready_queue: Any = context.Queue()
    worker_options = attrs.evolve(options, workers=1, reuse_port=True)
    parent_pid = os.getpid()
    workers: dict[int, _Worker] = {}
    received: list[int] = []
    restarts: list[float] = []
    stopping_since: float | None = None
    failed = False

    def start(index: int) -> None:
        process = context.Process(
            target=_worker_main,
            args=(worker_options, index, parent_pid, ready_queue),
            name=f"aura-worker-{index}",
            daemon=False,
        )
        process.start()
        workers[index] = _Worker(index, process)

    def forward(signum: int, _frame: object = None) -> None:
        received.append(signum)

    def stop_all(reason: str) -> None:
        nonlocal stopping_since
        if stopping_since is None:
            stopping_since = time.monotonic()
            logger.info("%s; stopping %d worker(s)", reason, sum(w.process.is_alive() for w in workers.values()))
        for worker in workers.values():
            if worker.process.is_alive() and worker.process.pid is not None:
                os.kill(worker.process.pid, signal.SIGTERM)

    previous = {signum: signal.signal(signum, forward) for signum in STOP_SIGNALS}
    try:
        for index in range(options.workers):
            start(index)
        while True:
            while received:
                signum = received.pop(0)
                stop_all(f"Received {signal.Signals(signum).name}, initiating graceful shutdown")
            while True:
                try:
                    index, pid, port = ready_queue.get_nowait()
                except queue.Empty:
                    break
                if index in workers:
                    workers[index].ready = True
                    logger.info("worker %d (pid %d) listening on port %d", index, pid, port)
            alive = [w for w in workers.values() if w.process.is_alive()]
            if not alive and stopping_since is not None:
                break
            for worker in list(workers.values()):
                if worker.process.is_alive() or stopping_since is not None:
                    continue
                code = worker.process.exitcode
                if not worker.ready:
                    logger.error("worker %d exited with status %s before it was listening", worker.index, code)
                    failed = True
                    stop_all("A worker failed to start")
                    break
                now = time.monotonic()
                restarts[:] = [at for at in restarts if now - at < RESTART_WINDOW_SECS]
                if len(restarts) >= MAX_RESTARTS:
                    logger.error("worker %d exited with status %s; too many restarts, giving up", worker.index, code)
                    failed = True
                    stop_all("Workers keep dying")
                    break
                restarts.append(now)
                logger.warning("worker %d exited with status %s; starting a new one", worker.index, code)
                start(worker.index)
            if stopping_since is not None:
                deadline = stopping_since + options.shutdown_timeout_secs + WORKER_KILL_MARGIN_SECS
                if time.monotonic() > deadline:
                    for worker in workers.values():
                        if worker.process.is_alive():
                            logger.error("worker %d did not stop in time; killing it", worker.index)
                            worker.process.kill()
                    failed = True
            sentinels = [w.process.sentinel for w in workers.values() if w.process.is_alive()]
            multiprocessing.connection.wait(sentinels, timeout=0.2)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for worker in workers.values():
            worker.process.join(timeout=5)
        ready_queue.close()
    codes = [worker.process.exitcode for worker in workers.values()]
    # -SIGTERM: a worker stopped while still starting up, before it could handle the signal gracefully.
    if failed or any(code not in (0, -signal.SIGTERM) for code in codes):
        logger.error("Server stopped; worker exit statuses: %s", codes)
        return 1
    logger.info("Server stopped")
    return 0


def _worker_main(options: ServerOptions, index: int, parent_pid: int, ready_queue: Any) -> None:
    """One worker process: serve until SIGTERM (from the supervisor) or until the supervisor is gone."""
    # Signals sent to the supervisor's process group (Ctrl-C in a terminal, `timeout`, `kill -- -PGID`)
    # must reach a worker once, forwarded by the supervisor, or the second copy would cut its grace
    # period short: a session of its own keeps the worker out of that group.
    os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_server_logging(options, os.environ)
    logger.info("worker %d (pid %d) starting", index, os.getpid())

    def listening(port: int) -> None:
        ready_queue.put((index, os.getpid(), port))

    async def serve_watching_parent() -> int:
        watcher = asyncio.create_task(_watch_parent(parent_pid))
        try:
            return await serve(options, stop_signals=(signal.SIGTERM,), on_listening=listening)
        finally:
            watcher.cancel()
            # Stopping already; a late SIGTERM from the supervisor must not kill the exiting process.
            signal.signal(signal.SIGTERM, signal.SIG_IGN)

    sys.exit(asyncio.run(serve_watching_parent()))


async def _watch_parent(parent_pid: int) -> None:
    """Shut this worker down gracefully if its supervisor disappears (e.g. SIGKILL), instead of lingering."""
    while True:
        await asyncio.sleep(PARENT_WATCH_SECS)
        if os.getppid() != parent_pid:
            logger.warning("the supervisor (pid %d) is gone; shutting down", parent_pid)
            os.kill(os.getpid(), signal.SIGTERM)
            return
