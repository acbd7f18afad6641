"""Which tool calls need a person's decision before they run.

The default follows the MCP tool annotations a server publishes, with the MCP specification's defaults for what a
server leaves out: a tool that says `readOnlyHint: true` runs without asking; any other tool asks unless it says
`destructiveHint: false` (a tool that is not read-only is assumed destructive). Servers often label tools wrongly, so
overrides (glob patterns on server and tool names) can force `always` or `never`, or go back to `by-annotation`.
Built-in read-only tools (vector search, the filesystem reader) never ask: nothing they do needs a person.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any

import attrs


@attrs.frozen
class ToolAnnotations:
    """The MCP tool annotations (hints, not guarantees): None where the server said nothing."""

    title: str | None = None
    read_only: bool | None = None
    destructive: bool | None = None
    idempotent: bool | None = None
    open_world: bool | None = None

    @classmethod
    def from_mcp(cls, annotations: Mapping[str, Any] | None) -> ToolAnnotations | None:
        """From the `annotations` object of an MCP `tools/list` entry (camelCase keys); None when there is none."""
        if not annotations:
            return None

        def flag(key: str) -> bool | None:
            value = annotations.get(key)
            return value if isinstance(value, bool) else None

        title = annotations.get("title")
        return cls(
            title=title if isinstance(title, str) else None,
            read_only=flag("readOnlyHint"),
            destructive=flag("destructiveHint"),
            idempotent=flag("idempotentHint"),
            open_world=flag("openWorldHint"),
        )

    def to_mcp(self) -> dict[str, Any]:
        """The camelCase form, with only the hints that were given (for tool listings a UI reads)."""
        pairs = {
            "title": self.title,
            "readOnlyHint": self.read_only,
            "destructiveHint": self.destructive,
            "idempotentHint": self.idempotent,
            "openWorldHint": self.open_world,
        }
        return {key: value for key, value in pairs.items() if value is not None}


class ApprovalRule(enum.Enum):
    ALWAYS = "always"
    NEVER = "never"
    BY_ANNOTATION = "by-annotation"


@attrs.frozen
class ApprovalOverride:
    """`rule` for tools whose server name matches `server` and whose tool name matches `tool` (shell-style globs)."""

    rule: ApprovalRule
    server: str = "*"
    tool: str = "*"

    def matches(self, server: str, tool: str) -> bool:
        return fnmatchcase(server, self.server) and fnmatchcase(tool, self.tool)

    def describe(self) -> str:
        return f"rule server={self.server!r} tool={self.tool!r} → {self.rule.value}"


@attrs.frozen
class ApprovalRequirement:
    """Whether a tool asks, and why, in words an operator reads in `aura check` and a UI shows."""

    needs_approval: bool
    reason: str
    rule: ApprovalRule


@attrs.frozen
class ApprovalPolicy:
    """Overrides are tried in order and the first that matches decides; without one, `default` applies.

    `enabled = False` (the default) asks for nothing: approvals are opt-in per agent.
    """

    enabled: bool = False
    default: ApprovalRule = ApprovalRule.BY_ANNOTATION
    overrides: tuple[ApprovalOverride, ...] = ()
    timeout_secs: float = 300.0

    def __attrs_post_init__(self) -> None:
        if not self.timeout_secs > 0:
            raise ValueError(f"approval timeout_secs must be positive, got {self.timeout_secs!r}")

    def requirement(
        self, server: str, tool: str, annotations: ToolAnnotations | None, *, builtin_read_only: bool = False
    ) -> ApprovalRequirement:
        if not self.enabled:
            return ApprovalRequirement(False, "approvals are not enabled for this agent", ApprovalRule.NEVER)
        if builtin_read_only:
            return ApprovalRequirement(False, "built-in read-only tool", ApprovalRule.NEVER)
        for override in self.overrides:
            if override.matches(server, tool):
                return _apply(override.rule, annotations, override.describe())
        return _apply(self.default, annotations, f"default rule → {self.default.value}")


def _apply(rule: ApprovalRule, annotations: ToolAnnotations | None, source: str) -> ApprovalRequirement:
    if rule is ApprovalRule.ALWAYS:
        return ApprovalRequirement(True, source, rule)
    if rule is ApprovalRule.NEVER:
        return ApprovalRequirement(False, source, rule)
    needs, why = annotation_requires_approval(annotations)
    return ApprovalRequirement(needs, f"{source}: {why}", rule)


def annotation_requires_approval(annotations: ToolAnnotations | None) -> tuple[bool, str]:
    """The MCP defaults: readOnlyHint false and destructiveHint true unless the server says otherwise."""
    if annotations is None:
        return True, "no annotations (MCP default: may be destructive)"
    if annotations.read_only is True:
        return False, "readOnlyHint: true"
    if annotations.destructive is False:
        return False, "destructiveHint: false"
    if annotations.destructive is True:
        return True, "destructiveHint: true"
    return True, "not read-only and destructiveHint not given (MCP default: destructive)"
