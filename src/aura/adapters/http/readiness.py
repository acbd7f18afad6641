"""`GET /ready`, the readiness probe: can every dependency the agents need be reached now?

`/health` (liveness) says the process serves and stays cheap; `/ready` asks each vector store an
agent searches (stores that implement `SupportsCheck`). Both are open without an API key, so the
body names the checks and their state only; what failed and where (URL, error) goes to the log, at
WARNING, once when a dependency goes down and at INFO once when it is back.

Cost is bounded: the checks run concurrently, each within `CHECK_TIMEOUT_SECS`; a report is reused
for `CACHE_SECS`, and probes that arrive while one is being made wait for it instead of starting
another, so a probe storm does not reach the stores.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import attrs
from aiohttp import web

from aura.domain.agent import Agent
from aura.domain.vector_search import VectorSearchToolset
from aura.ports.vector_store import SupportsCheck

logger = logging.getLogger(__name__)

READY_PATH = "/ready"
CHECK_TIMEOUT_SECS = 2.0
CACHE_SECS = 5.0

OK = "ok"
UNREACHABLE = "unreachable"
UNREACHABLE_OPTIONAL = "unreachable (optional)"
NOT_CHECKED = "not checked"


@attrs.frozen
class DependencyCheck:
    """One dependency to ask: `name` is its key in the report, `what` describes it in log lines.

    `check` returns when the dependency answers and raises otherwise; None means it cannot be
    checked (reported as "not checked", never "not ready"). A dependency that is not `required`
    and down is reported as "unreachable (optional)" and leaves the server ready.
    """

    name: str
    what: str
    check: Callable[[], Awaitable[None]] | None
    required: bool = True


@attrs.frozen
class ReadinessReport:
    ready: bool
    checks: Mapping[str, str]

    def body(self) -> dict[str, Any]:
        return {"status": "ready" if self.ready else "not_ready", "checks": dict(self.checks)}


def vector_store_checks(agents: Sequence[Agent]) -> list[DependencyCheck]:
    """One check per vector store of each agent, named `<agent id>/vector_store/<store name>`."""
    checks = []
    for agent in agents:
        for toolset in agent.toolsets:
            if not isinstance(toolset, VectorSearchToolset):
                continue
            store = toolset.store
            checks.append(
                DependencyCheck(
                    name=f"{agent.id}/vector_store/{toolset.name}",
                    what=f"vector store {toolset.name!r} of agent {agent.id!r}",
                    check=store.check if isinstance(store, SupportsCheck) else None,
                    required=toolset.required,
                )
            )
    return checks


class ReadinessProbe:
    """Runs the checks and remembers the last report for `cache_secs` (see the module docstring)."""

    def __init__(
        self,
        checks: Sequence[DependencyCheck],
        *,
        timeout_secs: float = CHECK_TIMEOUT_SECS,
        cache_secs: float = CACHE_SECS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        names = [check.name for check in checks]
        if len(set(names)) != len(names):
            raise ValueError(f"readiness check names must be unique, got {names}")
        self._checks = tuple(checks)
        self._timeout_secs = timeout_secs
        self._cache_secs = cache_secs
        self._clock = clock
        self._report: ReadinessReport | None = None
        self._made_at = 0.0
        self._running: asyncio.Task[ReadinessReport] | None = None
        self._down: set[str] = set()

    async def report(self) -> ReadinessReport:
        if self._report is not None and self._clock() - self._made_at < self._cache_secs:
            return self._report
        if self._running is None:
            self._running = asyncio.create_task(self._make_report(), name="aura-readiness")
        # shielded: a probe that gives up (its client left) does not cancel the report the others wait for
        return await asyncio.shield(self._running)

    async def aclose(self) -> None:
        running, self._running = self._running, None
        if running is not None and not running.done():
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)

    async def _make_report(self) -> ReadinessReport:
        try:
            failures = await asyncio.gather(*(self._failure(check) for check in self._checks))
            states: dict[str, str] = {}
            ready = True
            for check, failure in zip(self._checks, failures, strict=True):
                if check.check is None:
                    states[check.name] = NOT_CHECKED
                elif failure is None:
                    states[check.name] = OK
                else:
                    states[check.name] = UNREACHABLE if check.required else UNREACHABLE_OPTIONAL
                    ready = ready and not check.required
                self._log_change(check, failure)
            self._report = ReadinessReport(ready, states)
            self._made_at = self._clock()
            return self._report
        finally:
            self._running = None

    async def _failure(self, check: DependencyCheck) -> str | None:
        """None when the dependency answered (or cannot be checked), else one line saying why not."""
        if check.check is None:
            return None
        try:
            async with asyncio.timeout(self._timeout_secs) as deadline:
                await check.check()
        except TimeoutError:
            if deadline.expired():
                return f"no answer within {self._timeout_secs:g} s"
            return "timed out"
        except Exception as error:  # any failure means "not reachable"; the message goes to the log only
            return " ".join((str(error) or type(error).__name__).split())
        return None

    def _log_change(self, check: DependencyCheck, failure: str | None) -> None:
        if failure is not None and check.name not in self._down:
            self._down.add(check.name)
            kind = "required" if check.required else "optional"
            logger.warning("readiness: %s (%s) cannot be reached: %s", check.what, kind, failure)
        elif failure is None and check.name in self._down:
            self._down.discard(check.name)
            logger.info("readiness: %s is reachable again", check.what)


def readiness_handler(probe: ReadinessProbe) -> Callable[[web.Request], Awaitable[web.Response]]:
    """`GET /ready`: 200 `{"status": "ready", "checks": {...}}`, or 503 with `"status": "not_ready"`."""

    async def ready(request: web.Request) -> web.Response:
        report = await probe.report()
        return web.json_response(
            report.body(), status=200 if report.ready else 503, headers={"Cache-Control": "no-store"}
        )

    return ready
