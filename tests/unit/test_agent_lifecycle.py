"""The agent as a resource (start, `async with`, `aclose`), its settings' validation, and a turn that a
failing tracer or clock cannot hang."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from aura import (
    Agent,
    AgentClosedError,
    AgentSettings,
    FunctionToolset,
    ScriptedChatModel,
    ToolCallContext,
    ToolCompleted,
    ToolResult,
    ToolSpec,
    call_tool,
    call_tools,
    reply,
)
from aura.ports.tracer import AttributeValue, NoopTracer, Span, SpanKind

# Only a bound for a broken implementation (a hang); a passing run never waits for it.
HANG_GUARD_SECS = 10


class RecordingToolset:
    """A startable toolset that records its lifecycle and can fail to close."""

    def __init__(self, name: str, log: list[str], *, close_error: Exception | None = None) -> None:
        self._name = name
        self.log = log
        self.close_error = close_error

    @property
    def name(self) -> str:
        return self._name

    async def start(self) -> None:
        self.log.append(f"start {self._name}")

    async def list_tools(self) -> Sequence[ToolSpec]:
        return [ToolSpec(f"{self._name}_tool", "")]

    async def call_tool(self, name: str, arguments: Mapping[str, Any], context: ToolCallContext) -> ToolResult:
        return ToolResult("ok")

    async def aclose(self) -> None:
        self.log.append(f"close {self._name}")
        if self.close_error is not None:
            raise self.close_error


class ClosingModel(ScriptedChatModel):
    def __init__(self, log: list[str], *, close_error: Exception | None = None) -> None:
        super().__init__([reply("hi")])
        self.log = log
        self.close_error = close_error

    async def aclose(self) -> None:
        self.log.append("close model")
        if self.close_error is not None:
            raise self.close_error


SETTINGS = AgentSettings(name="ops", system_prompt="-")


async def test_async_with_starts_toolsets_and_closes_everything() -> None:
    log: list[str] = []
    agent = Agent(SETTINGS, ClosingModel(log), [RecordingToolset("a", log), RecordingToolset("b", log)])
    async with agent as entered:
        assert entered is agent
        assert sorted(log) == ["start a", "start b"]
        assert (await agent.run("hello")).content == "hi"
    assert log[2:] == ["close a", "close b", "close model"]
    assert agent.closed


async def test_aclose_closes_everything_even_when_some_fail_and_raises_them_together() -> None:
    log: list[str] = []
    first, second = RuntimeError("a stuck"), ValueError("model stuck")
    agent = Agent(
        SETTINGS,
        ClosingModel(log, close_error=second),
        [RecordingToolset("a", log, close_error=first), RecordingToolset("b", log)],
    )
    with pytest.raises(ExceptionGroup) as raised:
        await agent.aclose()
    assert raised.value.exceptions == (first, second)
    assert log == ["close a", "close b", "close model"]
    await agent.aclose()  # idempotent: nothing closed twice, nothing raised
    assert log == ["close a", "close b", "close model"]


async def test_a_closed_agent_refuses_new_turns() -> None:
    agent = Agent(SETTINGS, ScriptedChatModel([reply("hi")]))
    await agent.aclose()
    with pytest.raises(AgentClosedError, match="'ops' is closed"):
        agent.run_turn("hello")
    with pytest.raises(AgentClosedError):
        await agent.run("hello")
    with pytest.raises(AgentClosedError):
        await agent.start()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("turn_depth", -1, r"turn_depth: expected a number >= 0 \(0 = no tools offered\), got -1"),
        ("tool_timeout_secs", -0.5, r"tool_timeout_secs: expected a number >= 0 \(0 = no limit\)"),
        ("tool_timeout_secs", float("nan"), "tool_timeout_secs"),
        ("max_tool_result_chars", -1, "max_tool_result_chars"),
        ("temperature", -0.1, "temperature"),
        ("max_tokens", 0, r"max_tokens: expected a number >= 1"),
        ("name", "  ", "name: expected a non-empty string"),
        ("alias", "", "alias: expected a non-empty string"),
    ],
)
def test_settings_reject_values_with_a_message_naming_the_field(field: str, value: object, message: str) -> None:
    values: dict[str, Any] = {"name": "ops", "system_prompt": "-", field: value}
    with pytest.raises(ValueError, match=message):
        AgentSettings(**values)


def test_turn_depth_zero_is_valid_and_offers_no_tools() -> None:
    assert AgentSettings(name="ops", system_prompt="-", turn_depth=0).turn_depth == 0


async def test_tool_timeout_zero_means_no_limit_as_in_config() -> None:
    tools = FunctionToolset("slow")

    @tools.tool
    async def nap() -> str:
        """Sleeps a moment."""
        await asyncio.sleep(0.01)
        return "rested"

    settings = AgentSettings(name="ops", system_prompt="-", tool_timeout_secs=0)
    assert settings.tool_timeout is None
    model = ScriptedChatModel([call_tool("nap"), reply("done")])
    async with Agent(settings, model, [tools]) as agent:
        events = [event async for event in agent.run_turn("rest")]
    [completed] = [event for event in events if isinstance(event, ToolCompleted)]
    assert completed.result == ToolResult("rested")


class _RaisingSpan:
    def set_attribute(self, key: str, value: AttributeValue) -> None:
        raise RuntimeError("exporter broken")

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        raise RuntimeError("exporter broken")

    def record_error(self, message: str) -> None:
        raise RuntimeError("exporter broken")

    def end(self) -> None:
        raise RuntimeError("exporter broken")

    @property
    def trace_id(self) -> str | None:
        return None


class ToolCallRaisingTracer:
    """Raises when a `tool.call` span starts, and from every method of every other span."""

    records_content = True

    def start_span(
        self,
        name: str,
        kind: SpanKind,
        attributes: Mapping[str, AttributeValue] | None = None,
        parent: Span | None = None,
    ) -> Span:
        if name == "tool.call":
            raise RuntimeError("tracer broken on tool.call")
        return _RaisingSpan()


def echo_tools() -> FunctionToolset:
    tools = FunctionToolset("echo")

    @tools.tool
    def echo(text: str) -> str:
        """Echo the text."""
        return text

    return tools


async def test_a_tracer_raising_on_tool_call_does_not_hang_the_turn(caplog: pytest.LogCaptureFixture) -> None:
    model = ScriptedChatModel([call_tools([("echo", {"text": "a"}), ("echo", {"text": "b"})]), reply("done")])
    agent = Agent(SETTINGS, model, [echo_tools()], tracer=ToolCallRaisingTracer())
    with caplog.at_level(logging.WARNING, logger="aura.ports.tracer"):
        events = await asyncio.wait_for(_events(agent, "echo twice"), HANG_GUARD_SECS)
    completed = [event for event in events if isinstance(event, ToolCompleted)]
    assert sorted(event.result.content for event in completed) == ["a", "b"]  # the tools still ran
    assert events[-1].content == "done"  # type: ignore[attr-defined]
    assert sum("tracer" in record.getMessage() for record in caplog.records) == 1  # logged once, not per call


class FailingClock:
    """A clock that works for the turn's start and fails inside the tool task."""

    def __init__(self) -> None:
        self.calls = 0

    def monotonic(self) -> float:
        self.calls += 1
        raise RuntimeError("clock broken")

    def now(self) -> float:
        return 0.0


async def test_a_failure_inside_a_tool_task_ends_the_round_with_an_error_result() -> None:
    model = ScriptedChatModel([call_tool("echo", {"text": "a"}), reply("recovered")])
    agent = Agent(SETTINGS, model, [echo_tools()], tracer=NoopTracer(), clock=FailingClock())
    events = await asyncio.wait_for(_events(agent, "echo"), HANG_GUARD_SECS)
    [completed] = [event for event in events if isinstance(event, ToolCompleted)]
    assert completed.result.is_error
    assert "clock broken" in completed.result.content
    assert model.requests[1].messages[-1].is_error  # type: ignore[union-attr]
    assert events[-1].content == "recovered"  # type: ignore[attr-defined]


async def _events(agent: Agent, question: str) -> list[Any]:
    return [event async for event in agent.run_turn(question)]
