"""`aura serve --workers N`: a supervisor process and N worker processes sharing the port.

Each worker is a fresh interpreter (multiprocessing "spawn": no state forked from the supervisor) that
runs the same `serve` as a single-process server and listens with SO_REUSEPORT; the kernel spreads new
connections between them. The supervisor forwards stop signals, replaces workers that die, and fails
the start when a worker cannot come up.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import multiprocessing.connection
import os
import queue
import signal
import sys
import time
from typing import Any

import attrs

from aura.adapters.http import ServerOptions
from aura.adapters.http.server import STOP_SIGNALS

logger = logging.getLogger("aura.serve")

WORKER_STARTUP_SECS = 120.0
"""A worker that has not started listening by then fails the start: the supervisor stops every worker and exits 1."""
WORKER_KILL_MARGIN_SECS = 30.0
"""After a stop signal, workers get the shutdown grace period plus this much before SIGKILL."""
MAX_RESTARTS = 5
RESTART_WINDOW_SECS = 60.0
PARENT_WATCH_SECS = 1.0


@attrs.define
class _Worker:
    index: int
    process: Any  # multiprocessing.process.BaseProcess
    started_at: float
    ready: bool = False


def supervise_workers(options: ServerOptions, *, startup_secs: float = WORKER_STARTUP_SECS) -> int:
    """Run `options.workers` server processes on one port and supervise them; returns the exit status.

    The configuration is checked here first, so a mistake is reported once rather than by every
    worker. Each worker is a fresh interpreter (multiprocessing "spawn": no state forked from this
    process) that builds its own agents and listens with SO_REUSEPORT; the kernel spreads new
    connections between them. SIGTERM or SIGINT here is forwarded to every worker as SIGTERM, which
    starts its two-phase graceful shutdown (a second signal cuts the grace period short in each).
    Workers ignore SIGINT themselves, so Ctrl-C in a terminal (sent to the whole process group)
    reaches them once, through here. A worker that fails before listening, or is not listening
    `startup_secs` after it was started, stops the server (exit 1); one that dies later is replaced,
    up to `MAX_RESTARTS` in `RESTART_WINDOW_SECS`.
    """
    from aura.entrypoints.config import ConfigError
    from aura.entrypoints.serve_command import load_and_check_config

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
        workers[index] = _Worker(index, process, time.monotonic())

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
            if stopping_since is None:
                late = [w for w in alive if not w.ready and time.monotonic() - w.started_at > startup_secs]
                for worker in late:
                    logger.error(
                        "worker %d did not start listening within %g s (the startup deadline); see its log above",
                        worker.index,
                        startup_secs,
                    )
                if late:
                    failed = True
                    stop_all("A worker failed to start")
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
    from aura.entrypoints.serve_command import configure_server_logging, serve

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
