"""An agent rebuilds its tool registry only when a toolset's tools change, and offers the same specs meanwhile."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aura.domain.agent import Agent, AgentSettings
from aura.domain.tools import ToolCallContext, ToolResult, ToolSpec
from aura.testing import ScriptedChatModel, reply

PARAMS = {"type": "object", "properties": {"q": {"type": "string"}}}


class ChangingToolset:
    """Hands out the same `ToolSpec` objects (in a new list each time) until `tools` is replaced, as MCP does."""

    def __init__(self, name: str, *tool_names: str) -> None:
        self.name = name
        self.tools = [ToolSpec(tool, f"{tool} of {name}", PARAMS) for tool in tool_names]
        self.listed = 0

    async def list_tools(self) -> Sequence[ToolSpec]:
        self.listed += 1
        return list(self.tools)

    async def call_tool(self, name: str, arguments: Mapping[str, Any], context: ToolCallContext) -> ToolResult:
        return ToolResult(f"{name} ran")

    async def aclose(self) -> None:
        pass


async def test_the_registry_is_reused_until_a_toolset_hands_out_other_tools() -> None:
    first, second = ChangingToolset("a", "search", "fetch"), ChangingToolset("b", "search")
    model = ScriptedChatModel([reply("one"), reply("two"), reply("three")])
    agent = Agent(AgentSettings(name="reuse", system_prompt="x"), model, [first, second])

    registry = await agent.tool_registry()
    assert list(registry.tools) == ["search", "fetch", "b__search"]
    assert await agent.tool_registry() is registry
    assert registry.specs is registry.specs  # one tuple: provider adapters recognise it and reuse their schemas

    await agent.run("hi")
    await agent.run("again")
    assert [request.tools for request in model.requests] == [registry.specs, registry.specs]
    assert first.listed == second.listed == 4  # listed every time: a change is seen on the next turn

    second.tools = [ToolSpec("lookup", "", PARAMS)]  # the server's tools changed (tools/list_changed)
    changed = await agent.tool_registry()
    assert changed is not registry
    assert list(changed.tools) == ["search", "fetch", "lookup"]
    await agent.run("after the change")
    assert [spec.name for spec in model.requests[-1].tools] == ["search", "fetch", "lookup"]

    first.tools = [*first.tools[:1], ToolSpec("fetch", "fetch, redescribed", PARAMS)]  # same names, new spec
    assert (await agent.tool_registry()).tools["fetch"].spec.description == "fetch, redescribed"
