"""Tools from plain Python functions: schema from the signature, description from the docstring, validated calls."""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import Any, Literal, TypedDict

import attrs
import jsonschema
import pytest

from aura import Agent, AgentSettings, FunctionToolset, ScriptedChatModel, ToolCallContext, call_tools, reply
from aura.adapters.tools.python_functions import function_signature, parse_docstring


class Severity(enum.Enum):
    LOW = "low"
    HIGH = "high"


@dataclasses.dataclass
class TimeWindow:
    """A time range in minutes before now."""

    start_minutes: int
    end_minutes: int = 0


@attrs.frozen
class Target:
    """A host and port to probe."""

    host: str
    port: int = 443


class Labels(TypedDict, total=False):
    team: str
    region: str


def context(call: str = "c1", tool: str = "t") -> ToolCallContext:
    return ToolCallContext(call_id=call, tool_name=tool)


async def test_an_agent_from_two_plain_functions_offers_their_schemas_to_the_model() -> None:
    tools = FunctionToolset("ops")

    @tools.tool
    def service_health(service: str, window: Literal["5m", "1h"] = "5m") -> dict[str, object]:
        """Whether a service is healthy.

        Args:
            service: Service name, e.g. checkout.
            window: How far back to look.
        """
        return {"service": service, "window": window, "healthy": service != "checkout"}

    @tools.tool
    async def open_incident(title: str, severity: Severity, notify: list[str] | None = None) -> str:
        """Open an incident.

        Args:
            title: One line saying what is wrong.
            severity: How bad it is.
            notify: Teams to page.
        """
        return f"opened {title!r} ({severity.value}) paging {notify}"

    model = ScriptedChatModel(
        [
            call_tools(
                [
                    ("service_health", {"service": "checkout"}),
                    ("open_incident", {"title": "checkout down", "severity": "high", "notify": ["payments"]}),
                ]
            ),
            reply("Checkout is down; incident opened."),
        ]
    )
    async with Agent(AgentSettings(name="ops", system_prompt="Check first."), model, [tools]) as agent:
        final = await agent.run("Is checkout healthy?")

    assert final.error is None
    offered = {tool.name: tool for tool in model.requests[0].tools}
    assert set(offered) == {"service_health", "open_incident"}
    health = offered["service_health"]
    assert health.description == "Whether a service is healthy."
    assert health.parameters == {
        "type": "object",
        "properties": {
            "service": {"type": "string", "description": "Service name, e.g. checkout."},
            "window": {"type": "string", "enum": ["5m", "1h"], "description": "How far back to look.", "default": "5m"},
        },
        "required": ["service"],
        "additionalProperties": False,
    }
    incident = offered["open_incident"].parameters
    assert incident["required"] == ["title", "severity"]
    assert incident["properties"]["title"] == {"type": "string", "description": "One line saying what is wrong."}
    assert incident["$defs"]["Severity"] == {"type": "string", "enum": ["low", "high"]}
    notify = incident["properties"]["notify"]
    assert notify["anyOf"] == [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]
    jsonschema.Draft202012Validator.check_schema(incident)

    results = {m.tool_name: m.content for m in model.requests[1].messages if getattr(m, "tool_name", None)}
    assert json.loads(results["service_health"]) == {"service": "checkout", "window": "5m", "healthy": False}
    assert results["open_incident"] == "opened 'checkout down' (high) paging ['payments']"


async def test_structured_parameters_arrive_as_their_python_types() -> None:
    seen: dict[str, Any] = {}
    tools = FunctionToolset()

    @tools.tool
    def probe(target: Target, window: TimeWindow, labels: Labels, severity: Severity = Severity.LOW) -> str:
        """Probe a target."""
        seen.update(target=target, window=window, labels=labels, severity=severity)
        return "ok"

    [spec] = await tools.list_tools()
    schema = spec.parameters
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$defs"]["Target"]["properties"] == {"host": {"type": "string"}, "port": {"type": "integer"}}
    assert schema["$defs"]["Target"]["required"] == ["host"]
    assert schema["$defs"]["Target"]["description"] == "A host and port to probe."
    assert schema["properties"]["severity"]["default"] == "low"

    arguments = {"target": {"host": "db1"}, "window": {"start_minutes": 30}, "labels": {"team": "sre"}}
    jsonschema.validate(arguments, schema)
    result = await tools.call_tool("probe", arguments, context())
    assert result.content == "ok"
    assert seen == {
        "target": Target("db1", 443),
        "window": TimeWindow(30, 0),
        "labels": {"team": "sre"},
        "severity": Severity.LOW,
    }


async def test_wrong_arguments_are_an_error_result_naming_each_problem() -> None:
    tools = FunctionToolset()
    calls: list[object] = []

    @tools.tool
    def scale(deployment: str, replicas: int) -> str:
        calls.append((deployment, replicas))
        return "scaled"

    result = await tools.call_tool("scale", {"replicas": "many", "force": True}, context())
    assert result.is_error
    assert "deployment" in result.content
    assert "replicas" in result.content
    assert "force" in result.content
    assert calls == []


async def test_the_context_parameter_is_filled_not_offered() -> None:
    tools = FunctionToolset()

    @tools.tool(name="whoami", description="The call's id.")
    async def who(context: ToolCallContext) -> str:
        return context.call_id

    [spec] = await tools.list_tools()
    assert spec.name == "whoami"
    assert spec.description == "The call's id."
    assert spec.parameters["properties"] == {}
    assert (await tools.call_tool("whoami", {}, context("call_7"))).content == "call_7"


async def test_a_hand_written_schema_is_kept_and_arguments_are_passed_as_sent() -> None:
    tools = FunctionToolset()
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    tools.add(lambda city: f"Sunny in {city}", name="weather", parameters=schema)
    [spec] = await tools.list_tools()
    assert spec.parameters == schema
    assert (await tools.call_tool("weather", {"city": "Oslo"}, context())).content == "Sunny in Oslo"


def test_what_a_json_object_cannot_fill_is_refused_when_registering() -> None:
    def variadic(*names: str) -> str:
        return ""

    with pytest.raises(TypeError, match=r"\*args"):
        FunctionToolset().add(variadic)
    with pytest.raises(ValueError, match="lambda"):
        FunctionToolset().add(lambda: 1)
    tools = FunctionToolset().add(variadic, name="x", parameters={"type": "object"})
    with pytest.raises(ValueError, match="already has a tool named 'x'"):
        tools.add(variadic, name="x", parameters={"type": "object"})


async def test_exceptions_and_return_values() -> None:
    @dataclasses.dataclass
    class Status:
        healthy: bool

    def broken() -> str:
        raise RuntimeError("database unreachable")

    def status() -> Status:
        return Status(True)

    tools = FunctionToolset(functions=[broken, status])
    failed = await tools.call_tool("broken", {}, context())
    assert failed.is_error
    assert "database unreachable" in failed.content
    ok = await tools.call_tool("status", {}, context())
    assert ok.content == '{"healthy":true}'
    assert ok.structured == {"healthy": True}


@pytest.mark.parametrize(
    "docstring",
    [
        """Restart a service.

        Args:
            name: The service
                to restart.
            force (bool): Skip the drain.

        Returns:
            What happened.
        """,
        """Restart a service.

        Parameters
        ----------
        name : str
            The service
            to restart.
        force : bool
            Skip the drain.

        Returns
        -------
        str
        """,
        """Restart a service.

        :param name: The service
            to restart.
        :param bool force: Skip the drain.
        :returns: What happened.
        """,
    ],
    ids=["google", "numpy", "sphinx"],
)
def test_docstring_styles(docstring: str) -> None:
    parsed = parse_docstring(docstring)
    assert parsed.summary == "Restart a service."
    assert parsed.parameters == {"name": "The service to restart.", "force": "Skip the drain."}


def test_signature_schema_of_optional_and_defaults() -> None:
    def search(query: str, limit: int = 5, after: str | None = None) -> list[str]:
        return []

    signature = function_signature(search)
    assert signature.schema["required"] == ["query"]
    assert signature.schema["properties"]["limit"] == {"type": "integer", "default": 5}
    assert signature.schema["properties"]["after"] == {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}
    assert signature.context_parameter is None
