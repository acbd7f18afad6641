"""Serving the app: `AppRunner`/`TCPSite`, signal handling and the two-phase graceful shutdown."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Iterable, Mapping, Sequence

from aiohttp import web

from aura.adapters.a2a.options import A2AAgentOptions
from aura.adapters.http.agent_directory import UnknownDefaultAgent
from aura.adapters.http.app import SERVER_STATE, create_app
from aura.adapters.http.edge import EdgeAppRunner
from aura.adapters.http.observer import ServerObserver
from aura.adapters.http.options import ServerOptions
from aura.adapters.http.request_scope import RequestScope, no_request_scope
from aura.domain.agent import Agent, close_agents
from aura.ports.session_store import SessionStore
from aura.ports.tracer import Tracer

logger = logging.getLogger(__name__)

# After phase 2: how long stopped turns get to hand over their closing answer (a stream's final
# frames, a non-streaming 503), then how long aiohttp lets open connections drain.
TURN_STOP_SECS = 5.0
CONNECTION_DRAIN_SECS = 10.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def start_app(
    app: web.Application, host: str, port: int, *, reuse_port: bool = False
) -> tuple[web.AppRunner, int]:
    """Start serving `app`; returns the runner (for `cleanup()`) and the bound port (useful with port 0).

    `handler_cancellation=True` makes aiohttp cancel a handler whose client disconnected, which is
    how a non-streaming turn notices a disconnect. `reuse_port` sets SO_REUSEPORT so several worker
    processes can listen on the same port (the kernel spreads connections between them). Requests aiohttp
    cannot parse are answered in the OpenAI error envelope and never echoed (`EdgeAppRunner`).
    """
    runner = EdgeAppRunner(
        app,
        handle_signals=False,
        handler_cancellation=True,
        shutdown_timeout=CONNECTION_DRAIN_SECS,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_port = port
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            bound_port = int(address[1])
            break
    return runner, bound_port


async def shutdown_gracefully(
    app: web.Application, grace_secs: float, *, interrupt: asyncio.Event | None = None
) -> None:
    """Phase 1 (gate closes), grace period (early exit when idle or on `interrupt`), phase 2 (turns stopped).

    In phase 2 every running turn is cancelled: streams end with their closing frames and `[DONE]`,
    non-streaming requests are answered 503.
    """
    coordinator = app[SERVER_STATE].coordinator
    coordinator.begin()
    idle = await coordinator.wait_idle(grace_secs, interrupt=interrupt)
    if idle:
        logger.info("no active requests; shutting down")
        return
    logger.info(
        "grace period over; stopping %d active request(s), %d of them stream(s)",
        coordinator.active_turns,
        coordinator.active_streams,
    )
    if not await coordinator.stop_turns(TURN_STOP_SECS):
        logger.warning("%d request(s) did not stop in time", coordinator.active_turns)


async def run_server(
    agents: Sequence[Agent],
    options: ServerOptions,
    *,
    default_agent: str | None = None,
    tracer: Tracer | None = None,
    observer: ServerObserver | None = None,
    extra_routes: Iterable[web.AbstractRouteDef] = (),
    stop_signals: Sequence[signal.Signals] = STOP_SIGNALS,
    on_listening: Callable[[int], None] | None = None,
    request_scope: RequestScope = no_request_scope,
    session_store: SessionStore | None = None,
    a2a_agents: Mapping[str, A2AAgentOptions] | None = None,
) -> int:
    """Serve `agents` until one of `stop_signals`, shut down gracefully, close the agents; returns the exit code.

    A second signal during the grace period skips the rest of it. `observer`, `extra_routes`, `request_scope`,
    `session_store` and `a2a_agents` are passed to `create_app`; `options.reuse_port` shares the port with other
    processes;
    `on_listening(port)` is called once the socket accepts connections.
    """
    try:
        app = create_app(
            agents,
            options,
            default_agent=default_agent,
            tracer=tracer,
            observer=observer,
            extra_routes=extra_routes,
            request_scope=request_scope,
            session_store=session_store,
            a2a_agents=a2a_agents,
        )
    except UnknownDefaultAgent as error:
        logger.error("%s", error)
        await close_agents(agents)
        return 1
    try:
        runner, port = await start_app(app, options.host, options.port, reuse_port=options.reuse_port)
    except OSError as error:
        logger.error("cannot listen on %s:%d: %s", options.host, options.port, error)
        await close_agents(agents)
        return 1
    logger.info("Listening on http://%s:%d", options.host, port)
    if options.api_keys:
        logger.info("API-key authentication is on (%d key(s)); /health and /ready stay open", len(options.api_keys))
    if options.cors_allow_origins:
        logger.info("CORS allowed origins: %s", ", ".join(options.cors_allow_origins))
    if on_listening is not None:
        on_listening(port)

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    hurry = asyncio.Event()
    received: list[str] = []

    def on_signal(signum: signal.Signals) -> None:
        received.append(signum.name)
        if stop.is_set():
            hurry.set()
        stop.set()

    handled = tuple(stop_signals)
    for signum in handled:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        await stop.wait()
        logger.info("Received %s, initiating graceful shutdown", received[0])
        await shutdown_gracefully(app, options.shutdown_timeout_secs, interrupt=hurry)
    finally:
        try:
            await runner.cleanup()
            await close_agents(agents)
        finally:
            # Removed only now: a signal during the cleanup above must not kill the process.
            for signum in handled:
                loop.remove_signal_handler(signum)
    logger.info("Server stopped")
    return 0
