"""`start_agents` (aura serve startup, `open_agents`): every toolset of every agent starts concurrently."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from aura.domain.agent import Agent, AgentSettings, start_agents
from aura.domain.errors import AuraError
from aura.domain.tools import ToolCallContext, ToolResult, ToolSpec
from aura.testing import FunctionToolset, ScriptedChatModel

# Only a bound for a broken implementation (a deadlock); a passing run never waits for it.
DEADLOCK_GUARD_SECS = 10


class ServerDown(AuraError):
    pass


class SlowStartingToolset:
    """A toolset whose `start()` returns only once every toolset sharing `barrier` has started too."""

    def __init__(self, name: str, barrier: asyncio.Barrier, tools: int = 1) -> None:
        self._name = name
        self.barrier = barrier
        self.tools = [ToolSpec(f"{name}_{i}", "") for i in range(tools)]
        self.started = False

    @property
    def name(self) -> str:
        return self._name

    async def start(self) -> None:
        await self.barrier.wait()
        self.started = True

    async def list_tools(self) -> Sequence[ToolSpec]:
        return self.tools

    async def call_tool(self, name: str, arguments: Mapping[str, Any], context: ToolCallContext) -> ToolResult:
        return ToolResult("ok")

    async def aclose(self) -> None:
        return None


class FailingToolset(SlowStartingToolset):
    """A required server that is down: `start()` fails once the others are connecting."""

    def __init__(self, name: str, connecting: asyncio.Event) -> None:
        super().__init__(name, asyncio.Barrier(1))
        self.connecting = connecting

    async def start(self) -> None:
        await self.connecting.wait()
        raise ServerDown(f"required MCP server {self.name!r} is unavailable: connection refused")


class HangingToolset(SlowStartingToolset):
    """A server that never answers; records its cancellation."""

    def __init__(self, name: str, connecting: asyncio.Event) -> None:
        super().__init__(name, asyncio.Barrier(1))
        self.connecting = connecting
        self.cancelled = False

    async def start(self) -> None:
        self.connecting.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise


def agent(name: str, *toolsets: Any) -> Agent:
    return Agent(AgentSettings(name=name, system_prompt="x"), ScriptedChatModel([]), toolsets)


async def test_toolsets_of_every_agent_start_concurrently() -> None:
    barrier = asyncio.Barrier(3)  # sequential starts would wait here forever
    first, second, third = (SlowStartingToolset(name, barrier, tools=2) for name in ("one", "two", "three"))
    agents = [agent("alpha", first, second), agent("beta", third)]

    await asyncio.wait_for(start_agents(agents), DEADLOCK_GUARD_SECS)

    assert [toolset.started for toolset in (first, second, third)] == [True, True, True]
    assert len((await agents[0].tool_registry()).tools) == 4


async def test_a_required_server_failing_fails_startup_and_cancels_the_other_starts() -> None:
    connecting = asyncio.Event()
    hanging = HangingToolset("slow", connecting)
    agents = [agent("alpha", hanging), agent("beta", FailingToolset("required", connecting))]

    with pytest.raises(ServerDown, match="required MCP server 'required' is unavailable: connection refused"):
        await asyncio.wait_for(start_agents(agents), DEADLOCK_GUARD_SECS)

    assert hanging.cancelled


async def test_toolsets_without_start_are_only_discovered() -> None:
    functions = FunctionToolset("local").add(lambda: "ok", name="ping")
    alpha = agent("alpha", functions)
    await asyncio.wait_for(start_agents([alpha]), DEADLOCK_GUARD_SECS)
    assert list((await alpha.tool_registry()).tools) == ["ping"]
