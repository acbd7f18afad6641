"""Turning a server's tool listing into the specs the model sees (names, schemas, rejections)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from mcp import types

from aura.adapters.mcp import McpToolset, StdioTransport


def listed(name: str, schema: dict[str, Any], description: str | None = "d") -> types.Tool:
    # model_construct: the SDK would refuse a non-object root on the wire; servers still send them.
    return types.Tool.model_construct(name=name, input_schema=schema, description=description)


def convert(toolset: McpToolset, tools: list[types.Tool]) -> dict[str, Any]:
    return toolset._convert_tools(tools)  # the listing → specs step, without a server


OPTIONAL_ARG = {"type": "object", "properties": {"q": {"type": "string"}, "n": {"type": "integer"}}, "required": ["q"]}


def test_names_are_sanitized_and_originals_kept_for_calls() -> None:
    tools = convert(
        McpToolset("s", StdioTransport("x")), [listed("get weather", OPTIONAL_ARG), listed("ns.tool/v2", OPTIONAL_ARG)]
    )

    assert list(tools) == ["get_weather", "ns_tool_v2"]
    assert [tool.original_name for tool in tools.values()] == ["get weather", "ns.tool/v2"]


def test_schemas_are_handed_over_as_the_server_wrote_them() -> None:
    # The model adapter applies its provider's profile (and restores arguments), not the toolset.
    tool = convert(McpToolset("s", StdioTransport("x")), [listed("search", OPTIONAL_ARG, description=None)])["search"]

    assert tool.spec.parameters == OPTIONAL_ARG
    assert tool.spec.description == ""
    assert tool.spec.strict is None


def test_without_sanitizing_the_tools_stay_out_of_strict_mode() -> None:
    tool = convert(McpToolset("s", StdioTransport("x"), sanitize_schemas=False), [listed("search", OPTIONAL_ARG)])[
        "search"
    ]

    assert tool.spec.parameters == OPTIONAL_ARG
    assert tool.spec.strict is False


def test_a_rejected_schema_drops_the_tool_with_a_warning_naming_it(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="aura.mcp.files"):
        tools = convert(
            McpToolset("files", StdioTransport("x")),
            [listed("read", OPTIONAL_ARG), listed("stringly", {"type": "string"})],
        )

    assert list(tools) == ["read"]
    assert "'stringly'" in caplog.text
    assert "'files'" in caplog.text


def test_a_name_that_collides_after_sanitizing_keeps_the_first_tool(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="aura.mcp.s"):
        tools = convert(
            McpToolset("s", StdioTransport("x")), [listed("a.b", OPTIONAL_ARG), listed("a/b", OPTIONAL_ARG)]
        )

    assert [tool.original_name for tool in tools.values()] == ["a.b"]
    assert "'a/b'" in caplog.text
