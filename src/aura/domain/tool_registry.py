"""Merges the tools of several toolsets into one namespace the model sees."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import attrs

from aura.domain.tools import ToolSpec
from aura.ports.toolset import Toolset

MAX_TOOL_NAME_LENGTH = 64


@attrs.frozen
class RegisteredTool:
    spec: ToolSpec
    toolset: Toolset
    original_name: str


def _qualified_name(toolset_name: str, tool_name: str) -> str:
    safe_prefix = "".join(c if c.isascii() and (c.isalnum() or c in "_-") else "_" for c in toolset_name)
    return f"{safe_prefix}__{tool_name}"[:MAX_TOOL_NAME_LENGTH]


@attrs.frozen
class ToolRegistry:
    """Tools by the name offered to the model.

    Collision rule: the first toolset (in configuration order) keeps a tool's plain name; a later
    toolset's tool with the same name is offered as `<toolset>__<tool>`. A name still taken after
    that is dropped. Each such event is described in `collisions`; the agent logs each one once,
    when it first discovers it, rather than on every turn.
    """

    tools: dict[str, RegisteredTool] = attrs.field(factory=dict)
    collisions: list[str] = attrs.field(factory=list)

    @property
    def specs(self) -> tuple[ToolSpec, ...]:
        return tuple(tool.spec for tool in self.tools.values())

    def get(self, name: str) -> RegisteredTool | None:
        return self.tools.get(name)

    @classmethod
    async def discover(cls, toolsets: Sequence[Toolset]) -> ToolRegistry:
        listed = await asyncio.gather(*(toolset.list_tools() for toolset in toolsets))
        registry = cls()
        for toolset, specs in zip(toolsets, listed, strict=True):
            for spec in specs:
                registry._add(toolset, spec)
        return registry

    def _add(self, toolset: Toolset, spec: ToolSpec) -> None:
        name = spec.name
        if name in self.tools:
            name = _qualified_name(toolset.name, spec.name)
            if name in self.tools:
                self.collisions.append(
                    f"tool {spec.name!r} of toolset {toolset.name!r} dropped: its name collides with another tool"
                )
                return
            self.collisions.append(
                f"tool {spec.name!r} of toolset {toolset.name!r} collides with a tool of "
                f"{self.tools[spec.name].toolset.name!r}; offered as {name!r}"
            )
        self.tools[name] = RegisteredTool(attrs.evolve(spec, name=name), toolset, spec.name)
