"""The readiness probe: states per check, bounded checks, one report per cache period, one log line per change."""

from __future__ import annotations

import asyncio
import logging

import pytest

from aura.adapters.http.readiness import DependencyCheck, ReadinessProbe, vector_store_checks
from aura.domain.agent import Agent, AgentSettings
from aura.domain.vector_search import VectorSearchToolset, VectorStoreError
from aura.testing import ScriptedChatModel

LOGGER = "aura.adapters.http.readiness"


class Switch:
    """A dependency that is up or down as the test says, counting how often it was asked."""

    def __init__(self, up: bool = True, reason: str = "cannot reach http://10.0.0.7:6333 (refused)") -> None:
        self.up = up
        self.reason = reason
        self.calls = 0

    async def check(self) -> None:
        self.calls += 1
        if not self.up:
            raise VectorStoreError(self.reason)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def probe(*checks: DependencyCheck, clock: Clock | None = None, timeout_secs: float = 2.0) -> ReadinessProbe:
    return ReadinessProbe(checks, clock=clock or Clock(), cache_secs=5.0, timeout_secs=timeout_secs)


def dependency(name: str, switch: Switch | None, *, required: bool = True) -> DependencyCheck:
    return DependencyCheck(name, f"store {name!r}", switch.check if switch is not None else None, required)


async def test_every_state_has_its_word_and_only_a_required_failure_makes_it_not_ready() -> None:
    report = await probe(
        dependency("a/vector_store/up", Switch()),
        dependency("a/vector_store/optional", Switch(up=False), required=False),
        dependency("a/vector_store/managed", None),
    ).report()
    assert report.body() == {
        "status": "ready",
        "checks": {
            "a/vector_store/up": "ok",
            "a/vector_store/optional": "unreachable (optional)",
            "a/vector_store/managed": "not checked",
        },
    }

    report = await probe(dependency("a/vector_store/down", Switch(up=False))).report()
    assert report.body() == {"status": "not_ready", "checks": {"a/vector_store/down": "unreachable"}}


async def test_no_checks_is_ready() -> None:
    assert (await probe().report()).body() == {"status": "ready", "checks": {}}


async def test_a_report_is_reused_until_the_cache_period_is_over() -> None:
    clock, switch = Clock(), Switch()
    readiness = probe(dependency("s", switch), clock=clock)
    await readiness.report()
    clock.now += 4.9
    await readiness.report()
    assert switch.calls == 1
    switch.up = False
    clock.now += 0.2
    assert not (await readiness.report()).ready
    assert switch.calls == 2


async def test_probes_that_arrive_together_share_one_round_of_checks() -> None:
    release = asyncio.Event()
    calls = 0

    async def slow() -> None:
        nonlocal calls
        calls += 1
        await release.wait()

    readiness = probe(DependencyCheck("s", "store 's'", slow))
    waiting = [asyncio.create_task(readiness.report()) for _ in range(20)]
    await asyncio.sleep(0)
    release.set()
    reports = await asyncio.gather(*waiting)
    assert calls == 1
    assert all(report.ready for report in reports)


async def test_a_probe_that_gives_up_does_not_cancel_the_round_the_others_wait_for() -> None:
    release = asyncio.Event()

    async def slow() -> None:
        await release.wait()

    readiness = probe(DependencyCheck("s", "store 's'", slow))
    leaver = asyncio.create_task(readiness.report())
    stayer = asyncio.create_task(readiness.report())
    await asyncio.sleep(0)
    leaver.cancel()
    release.set()
    assert (await stayer).ready
    assert leaver.cancelled()


async def test_a_check_that_does_not_answer_in_time_is_unreachable(caplog: pytest.LogCaptureFixture) -> None:
    async def hangs() -> None:
        await asyncio.Event().wait()

    caplog.set_level(logging.WARNING, LOGGER)
    report = await probe(DependencyCheck("s", "store 's'", hangs), timeout_secs=0.05).report()
    assert report.body() == {"status": "not_ready", "checks": {"s": "unreachable"}}
    assert caplog.messages == ["readiness: store 's' (required) cannot be reached: no answer within 0.05 s"]


async def test_a_failure_is_logged_once_when_it_starts_and_once_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, switch = Clock(), Switch(up=False, reason="Qdrant check failed at http://10.0.0.7:6333:\n  refused")
    readiness = probe(dependency("sre/vector_store/docs", switch), clock=clock)
    caplog.set_level(logging.INFO, LOGGER)
    for _ in range(3):
        clock.now += 10
        assert not (await readiness.report()).ready
    switch.up = True
    for _ in range(2):
        clock.now += 10
        assert (await readiness.report()).ready
    assert [(record.levelname, record.getMessage()) for record in caplog.records] == [
        (
            "WARNING",
            "readiness: store 'sre/vector_store/docs' (required) cannot be reached: "
            "Qdrant check failed at http://10.0.0.7:6333: refused",
        ),
        ("INFO", "readiness: store 'sre/vector_store/docs' is reachable again"),
    ]


async def test_an_unexpected_exception_is_a_failure_not_a_crash() -> None:
    async def broken() -> None:
        raise RuntimeError

    report = await probe(DependencyCheck("s", "store 's'", broken)).report()
    assert report.checks == {"s": "unreachable"}


def test_check_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match="unique"):
        ReadinessProbe([dependency("s", Switch()), dependency("s", Switch())])


class UncheckedStore:
    """A store without `check` (as a managed knowledge base)."""

    async def search(self, *args: object, **kwargs: object) -> list[object]:
        return []

    async def upsert(self, *args: object) -> int:
        return 0

    async def delete_where(self, *args: object) -> int:
        return 0

    async def aclose(self) -> None:
        pass


class CheckedStore(UncheckedStore, Switch):
    pass


def test_every_vector_store_of_every_agent_is_a_check_named_after_both() -> None:
    first = Agent(
        AgentSettings(name="sre", system_prompt="x"),
        ScriptedChatModel([]),
        [
            VectorSearchToolset("docs", CheckedStore()),  # type: ignore[arg-type]
            VectorSearchToolset("notes", CheckedStore(), required=False),  # type: ignore[arg-type]
        ],
    )
    second = Agent(
        AgentSettings(name="helper", alias="team/helper", system_prompt="x"),
        ScriptedChatModel([]),
        [VectorSearchToolset("docs", UncheckedStore())],  # type: ignore[arg-type]
    )
    bare = Agent(AgentSettings(name="bare", system_prompt="x"), ScriptedChatModel([]))
    checks = vector_store_checks([first, second, bare])
    assert [(check.name, check.required) for check in checks] == [
        ("sre/vector_store/docs", True),
        ("sre/vector_store/notes", False),
        ("team/helper/vector_store/docs", True),
    ]
    assert checks[0].what == "vector store 'docs' of agent 'sre'"
    assert [check.check is not None for check in checks] == [True, True, False]


async def test_a_store_without_check_is_reported_as_not_checked() -> None:
    agent = Agent(
        AgentSettings(name="kb", system_prompt="x"),
        ScriptedChatModel([]),
        [VectorSearchToolset("managed", UncheckedStore())],  # type: ignore[arg-type]
    )
    report = await ReadinessProbe(vector_store_checks([agent])).report()
    assert report.body() == {"status": "ready", "checks": {"kb/vector_store/managed": "not checked"}}
