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
    _specs: tuple[ToolSpec, ...] | None = attrs.field(default=None, init=False, eq=False, repr=False)

    @property
    def specs(self) -> tuple[ToolSpec, ...]:
        """The offered specs; the same tuple every time, so a provider adapter can reuse its converted schemas."""
        if self._specs is None:
            object.__setattr__(self, "_specs", tuple(tool.spec for tool in self.tools.values()))
        assert self._specs is not None
        return self._specs

    def get(self, name: str) -> RegisteredTool | None:
        return self.tools.get(name)

    @classmethod
    async def discover(cls, toolsets: Sequence[Toolset]) -> ToolRegistry:
        return cls.of(toolsets, await list_all(toolsets))

    @classmethod
    def of(cls, toolsets: Sequence[Toolset], listed: Sequence[Sequence[ToolSpec]]) -> ToolRegistry:
        """The registry of `toolsets` whose tools are `listed` (one sequence per toolset, same order)."""
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
        object.__setattr__(self, "_specs", None)


async def list_all(toolsets: Sequence[Toolset]) -> list[Sequence[ToolSpec]]:
    """Every toolset's tools, listed concurrently."""
    return list(await asyncio.gather(*(toolset.list_tools() for toolset in toolsets)))


def same_listing(listed: Sequence[Sequence[ToolSpec]], other: Sequence[Sequence[ToolSpec]]) -> bool:
    """True when both listings hold the very same spec objects in the same order (toolsets hand out the same
    `ToolSpec` objects until their tools change, so this is how a caller knows its registry is still current)."""
    return len(listed) == len(other) and all(
        len(specs) == len(others) and all(spec is same for spec, same in zip(specs, others, strict=True))
        for specs, others in zip(listed, other, strict=True)
    )
