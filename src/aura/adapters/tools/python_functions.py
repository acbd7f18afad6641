"""Tools from plain Python functions: the name, description and JSON Schema come from the function itself.

    tools = FunctionToolset("ops")

    @tools.tool
    async def service_health(service: str, window: Literal["5m", "1h"] = "5m") -> dict[str, object]:
        \"\"\"Whether a service is healthy right now.

        Args:
            service: Service name, e.g. checkout.
            window: How far back to look.
        \"\"\"

The parameters' type hints become the schema (with pydantic: dataclasses, TypedDicts, enums, `Literal`,
`Optional`, lists and dicts; attrs classes too), the docstring's first paragraph the description and its
`Args:` (Google), `Parameters` (NumPy) or `:param x:` (Sphinx) entries the parameters' descriptions. The
model's arguments are validated against the same types before the function runs: a call with a wrong or
missing argument returns an error result naming it, which the model sees and can correct.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import sys
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal, TypeVar, overload

import attrs
import pydantic
import pydantic_core
import typing_extensions

from aura.domain.tools import ToolCallContext, ToolResult, ToolSpec

ToolFunction = Callable[..., Any]
F = TypeVar("F", bound=ToolFunction)

CONTEXT_PARAMETER = "context"
"""A parameter of this name (or annotated `ToolCallContext`) receives the call's context and is not offered."""

_EMPTY_SCHEMA: Mapping[str, Any] = {"type": "object", "properties": {}, "additionalProperties": False}


@attrs.frozen
class _FunctionTool:
    spec: ToolSpec
    function: ToolFunction
    context_parameter: str | None
    arguments: pydantic.TypeAdapter[Any] | None
    """Validates and converts the model's arguments; `None` when the schema was given by hand."""


class FunctionToolset:
    """A toolset of plain Python functions, sync or async.

    Register with `add(function)` or the `@toolset.tool` decorator (bare or with `name=`, `description=`).
    A function that declares a `context` parameter receives the `ToolCallContext` (progress reports,
    forwarded headers). Return values that are not strings are sent as compact JSON; return a
    `ToolResult` to control the content and `is_error` yourself. An exception becomes an error result.
    """

    def __init__(self, name: str = "python", functions: Sequence[ToolFunction] = ()) -> None:
        self._name = name
        self._tools: dict[str, _FunctionTool] = {}
        for function in functions:
            self.add(function)

    @property
    def name(self) -> str:
        return self._name

    def add(
        self,
        function: ToolFunction,
        *,
        name: str | None = None,
        description: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> FunctionToolset:
        """Offer `function` as a tool. `parameters` replaces the schema built from the signature (then
        the arguments are passed as the model sent them, unvalidated)."""
        tool_name = name or getattr(function, "__name__", "")
        if not tool_name or tool_name == "<lambda>":
            raise ValueError("a lambda (or a callable without __name__) needs an explicit tool name: add(f, name=...)")
        if tool_name in self._tools:
            raise ValueError(f"toolset {self._name!r} already has a tool named {tool_name!r}")
        docstring = parse_docstring(inspect.getdoc(function) or "")
        if description is None:
            description = docstring.summary
        if parameters is not None:
            wants_context = CONTEXT_PARAMETER in inspect.signature(function).parameters
            spec = ToolSpec(tool_name, description, dict(parameters))
            tool = _FunctionTool(spec, function, CONTEXT_PARAMETER if wants_context else None, None)
        else:
            signature = function_signature(function, docstring.parameters)
            spec = ToolSpec(tool_name, description, signature.schema)
            tool = _FunctionTool(spec, function, signature.context_parameter, signature.adapter)
        self._tools[tool_name] = tool
        return self

    @overload
    def tool(self, function: F, /) -> F: ...

    @overload
    def tool(
        self,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> Callable[[F], F]: ...

    def tool(
        self,
        function: F | None = None,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> F | Callable[[F], F]:
        """Decorator form of `add`: `@tools.tool` or `@tools.tool(name=..., description=...)`.

        The function is returned unchanged, so it stays callable from your own code.
        """

        def register(function: F) -> F:
            self.add(function, name=name, description=description, parameters=parameters)
            return function

        return register if function is None else register(function)

    async def list_tools(self) -> Sequence[ToolSpec]:
        return [tool.spec for tool in self._tools.values()]

    async def call_tool(self, name: str, arguments: Mapping[str, Any], context: ToolCallContext) -> ToolResult:
        tool = self._tools.get(name)
        if tool is None:
            return ToolResult.error(f"Tool not found: {name}")
        if tool.arguments is None:
            kwargs = dict(arguments)
        else:
            try:
                kwargs = dict(tool.arguments.validate_python(dict(arguments)))
            except pydantic.ValidationError as error:
                return ToolResult.error(f"Invalid arguments for tool {name!r}: {_describe(error)}")
        if tool.context_parameter is not None:
            kwargs[tool.context_parameter] = context
        try:
            value = tool.function(**kwargs)
            if inspect.isawaitable(value):
                value = await value
        except asyncio.CancelledError:
            raise
        except Exception as error:
            return ToolResult.error(f"Tool returned an error: {error}")
        if isinstance(value, ToolResult):
            return value
        if isinstance(value, str):
            return ToolResult(value)
        structured = to_jsonable(value)
        return ToolResult(json.dumps(structured, separators=(",", ":")), structured=structured)

    async def aclose(self) -> None:
        return None


def to_jsonable(value: Any) -> Any:
    """JSON-compatible data for a tool's return value (dataclasses, pydantic models, attrs classes, enums, ...)."""

    def fallback(item: Any) -> Any:
        if attrs.has(type(item)):
            return attrs.asdict(item, recurse=False)
        return str(item)

    return pydantic_core.to_jsonable_python(value, fallback=fallback)


def _describe(error: pydantic.ValidationError) -> str:
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in item["loc"]) or "arguments"
        problems.append(f"{where}: {item['msg']}")
    return "; ".join(problems)


# --- signature -> schema -------------------------------------------------------------------------


@attrs.frozen
class FunctionSignature:
    schema: Mapping[str, Any]
    adapter: pydantic.TypeAdapter[Any]
    context_parameter: str | None


def function_signature(function: ToolFunction, descriptions: Mapping[str, str] | None = None) -> FunctionSignature:
    """The JSON Schema of a function's parameters and the validator of arguments against it.

    Raises `TypeError` for what a JSON object of arguments cannot fill: `*args`, `**kwargs`,
    positional-only parameters, or a type pydantic cannot describe.
    """
    descriptions = descriptions or {}
    name = getattr(function, "__name__", "tool")
    hints = _parameter_hints(function)
    fields: dict[str, Any] = {}
    required: set[str] = set()
    defaults: dict[str, Any] = {}
    context_parameter: str | None = None
    for parameter in inspect.signature(function).parameters.values():
        hint = hints.get(parameter.name, Any)
        if parameter.name == CONTEXT_PARAMETER or hint is ToolCallContext:
            context_parameter = parameter.name
            continue
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise TypeError(f"{name}: *args and **kwargs cannot be tool parameters; name each parameter")
        if parameter.kind is inspect.Parameter.POSITIONAL_ONLY:
            raise TypeError(f"{name}: parameter {parameter.name!r} is positional-only; tools are called by keyword")
        field_type = pydantic_compatible(hint)
        description = descriptions.get(parameter.name)
        if description:
            field_type = Annotated[field_type, pydantic.Field(description=description)]
        if parameter.default is inspect.Parameter.empty:
            required.add(parameter.name)
            fields[parameter.name] = field_type
        else:
            fields[parameter.name] = typing_extensions.NotRequired[field_type]
            defaults[parameter.name] = parameter.default
    arguments = _make_typed_dict(f"{name}_arguments", fields)
    arguments.__pydantic_config__ = pydantic.ConfigDict(extra="forbid")
    try:
        adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(arguments)
        schema = adapter.json_schema()
    except pydantic.PydanticUserError as error:
        raise TypeError(f"{name}: a parameter's type cannot be described as JSON Schema: {error}") from None
    except pydantic.errors.PydanticSchemaGenerationError as error:  # pragma: no cover - subclass of the above
        raise TypeError(f"{name}: {error}") from None
    _strip_titles(schema)
    properties = schema.setdefault("properties", {})
    for key, value in defaults.items():
        jsonable = _jsonable_default(value)
        if jsonable is not _NO_DEFAULT and key in properties:
            properties[key]["default"] = jsonable
    schema["additionalProperties"] = False
    return FunctionSignature(schema, adapter, context_parameter)


def _parameter_hints(function: ToolFunction) -> dict[str, Any]:
    """The evaluated type hints of the parameters (the return annotation is not needed, nor evaluated)."""
    target = inspect.unwrap(function)
    annotations = dict(getattr(target, "__annotations__", None) or {})
    annotations.pop("return", None)

    def holder() -> None: ...

    holder.__annotations__ = annotations
    try:
        return typing.get_type_hints(holder, globalns=getattr(target, "__globals__", {}), include_extras=True)
    except Exception as error:  # an annotation naming something undefined
        name = getattr(function, "__name__", "tool")
        raise TypeError(f"cannot read the type hints of {name}'s parameters: {error}") from None


_NO_DEFAULT = object()
_make_typed_dict: Any = typing_extensions.TypedDict  # called with computed names and fields, which mypy cannot check
_DATA_KEYWORDS = frozenset({"default", "enum", "const", "examples"})
_NAME_MAPS = frozenset({"properties", "$defs", "patternProperties"})


def _strip_titles(node: Any) -> None:
    """Drop pydantic's generated `title`s (the property name again, or the class name): noise to a model."""
    if isinstance(node, list):
        for item in node:
            _strip_titles(item)
        return
    if not isinstance(node, dict):
        return
    if isinstance(node.get("title"), str):
        del node["title"]
    for key, value in node.items():
        if key in _NAME_MAPS and isinstance(value, dict):
            for child in value.values():
                _strip_titles(child)
        elif key not in _DATA_KEYWORDS:
            _strip_titles(value)


def _jsonable_default(value: Any) -> Any:
    try:
        jsonable = to_jsonable(value)
        json.dumps(jsonable)
    except (TypeError, ValueError, pydantic_core.PydanticSerializationError):
        return _NO_DEFAULT
    return jsonable


_mirrors: dict[type, Any] = {}


def pydantic_compatible(hint: Any) -> Any:
    """`hint` with what pydantic cannot validate replaced by an equivalent it can.

    attrs classes become a TypedDict of their `__init__` arguments whose validated value is handed to
    the class (so its defaults, converters and validators apply); `typing.TypedDict` becomes
    `typing_extensions.TypedDict`, which pydantic requires before Python 3.12. Other hints are returned
    as they are, rebuilt only when an argument changed.
    """
    if isinstance(hint, type) and attrs.has(hint):
        return _attrs_mirror(hint)
    if typing_extensions.is_typeddict(hint) and sys.version_info < (3, 12) and type(hint) is not type(_Probe):
        return _typeddict_mirror(hint)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is None or not args or origin is Literal:
        return hint
    if origin is Annotated:
        inner = pydantic_compatible(args[0])
        return hint if inner is args[0] else Annotated[(inner, *hint.__metadata__)]
    converted = tuple(pydantic_compatible(arg) if arg is not Ellipsis else arg for arg in args)
    if all(new is old for new, old in zip(converted, args, strict=True)):
        return hint
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return typing.Union[converted]  # noqa: UP007 - built from a tuple
    return origin[converted]


class _Probe(typing_extensions.TypedDict):
    """The class of TypedDicts pydantic accepts as they are."""


def _attrs_mirror(cls: type) -> Any:
    if cls in _mirrors:
        return _mirrors[cls]
    hints = typing.get_type_hints(cls, include_extras=True)
    fields: dict[str, Any] = {}
    for field in attrs.fields(cls):
        if not field.init:
            continue
        field_type = pydantic_compatible(hints.get(field.name, Any))
        fields[field.alias] = (
            field_type if field.default is attrs.NOTHING else typing_extensions.NotRequired[field_type]
        )
    mirror = _make_typed_dict(cls.__name__, fields)
    mirror.__doc__ = cls.__doc__
    mirror.__pydantic_config__ = pydantic.ConfigDict(extra="forbid")

    def build(values: dict[str, Any]) -> Any:
        try:
            return cls(**values)
        except TypeError as error:
            raise ValueError(str(error)) from None

    _mirrors[cls] = Annotated[mirror, pydantic.AfterValidator(build)]
    return _mirrors[cls]


def _typeddict_mirror(cls: Any) -> Any:
    if cls in _mirrors:
        return _mirrors[cls]
    hints = typing.get_type_hints(cls, include_extras=True)
    required_keys = getattr(cls, "__required_keys__", frozenset(hints))
    fields: dict[str, Any] = {}
    for key, hint in hints.items():
        converted = pydantic_compatible(hint)
        fields[key] = converted if key in required_keys else typing_extensions.NotRequired[converted]
    mirror = _make_typed_dict(cls.__name__, fields)
    mirror.__doc__ = cls.__doc__
    _mirrors[cls] = mirror
    return mirror


# --- docstrings ------------------------------------------------------------------------------------


@attrs.frozen
class Docstring:
    summary: str
    parameters: Mapping[str, str]


_GOOGLE_SECTION = re.compile(r"^(Args|Arguments|Parameters|Params)\s*:\s*$")
_GOOGLE_OTHER_SECTION = re.compile(
    r"^(Returns?|Yields?|Raises|Examples?|Notes?|Attributes|See Also|Warnings?|References|Todo)\s*:\s*$"
)
_NUMPY_UNDERLINE = re.compile(r"^-{3,}\s*$")
_SPHINX_FIELD = re.compile(r"^:(\w+)(?:\s+([^:]*?))?:\s*(.*)$")
_GOOGLE_ENTRY = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_NUMPY_ENTRY = re.compile(r"^\*{0,2}(\w+)\s*(?::.*)?$")


def parse_docstring(text: str) -> Docstring:
    """The description (everything before the first section) and per-parameter descriptions.

    Reads Google (`Args:`), NumPy (`Parameters` underlined with dashes) and Sphinx (`:param name:`) styles.
    """
    lines = inspect.cleandoc(text).splitlines() if text else []
    summary: list[str] = []
    parameters: dict[str, str] = {}
    in_summary = True
    index = 0
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        next_line = lines[index + 1] if index + 1 < len(lines) else ""
        if (
            _GOOGLE_SECTION.match(stripped)
            or _GOOGLE_OTHER_SECTION.match(stripped)
            or _SPHINX_FIELD.match(stripped)
            or (stripped and _NUMPY_UNDERLINE.match(next_line.strip()))
        ):
            in_summary = False
        if _GOOGLE_SECTION.match(stripped):
            index = _google_entries(lines, index + 1, parameters)
            continue
        if _NUMPY_UNDERLINE.match(next_line.strip()) and stripped:
            if stripped.lower() in ("parameters", "params", "arguments", "args", "other parameters"):
                index = _numpy_entries(lines, index + 2, parameters)
            else:
                index = _skip_numpy_section(lines, index + 2)
            continue
        if _GOOGLE_OTHER_SECTION.match(stripped):
            index = _skip_indented(lines, index + 1)
            continue
        field = _SPHINX_FIELD.match(stripped)
        if field is not None:
            index = _sphinx_field(lines, index, field, parameters)
            continue
        if in_summary:
            summary.append(line)
        index += 1
    return Docstring("\n".join(summary).strip(), parameters)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _google_entries(lines: list[str], index: int, parameters: dict[str, str]) -> int:
    base: int | None = None
    current: str | None = None
    while index < len(lines):
        line = lines[index]
        if not line.strip():
            index += 1
            continue
        indent = _indent(line)
        if base is None:
            if indent == 0:
                return index
            base = indent
        if indent < base:
            return index
        if indent == base:
            entry = _GOOGLE_ENTRY.match(line.strip())
            current = entry.group(1) if entry else None
            if current is not None and entry is not None:
                parameters[current] = entry.group(2).strip()
        elif current is not None:
            parameters[current] = f"{parameters[current]} {line.strip()}".strip()
        index += 1
    return index


def _numpy_entries(lines: list[str], index: int, parameters: dict[str, str]) -> int:
    current: str | None = None
    while index < len(lines):
        line = lines[index]
        if index + 1 < len(lines) and _NUMPY_UNDERLINE.match(lines[index + 1].strip()) and line.strip():
            return index
        if not line.strip():
            index += 1
            continue
        if _indent(line) == 0:
            entry = _NUMPY_ENTRY.match(line.strip())
            current = entry.group(1) if entry else None
            if current is not None:
                parameters.setdefault(current, "")
        elif current is not None:
            parameters[current] = f"{parameters[current]} {line.strip()}".strip()
        index += 1
    return index


def _skip_numpy_section(lines: list[str], index: int) -> int:
    while index < len(lines):
        if index + 1 < len(lines) and _NUMPY_UNDERLINE.match(lines[index + 1].strip()) and lines[index].strip():
            return index
        index += 1
    return index


def _skip_indented(lines: list[str], index: int) -> int:
    while index < len(lines) and (not lines[index].strip() or _indent(lines[index]) > 0):
        index += 1
    return index


def _sphinx_field(lines: list[str], index: int, field: re.Match[str], parameters: dict[str, str]) -> int:
    kind, target, text = field.group(1), field.group(2), field.group(3)
    parts = [text.strip()]
    index += 1
    while index < len(lines) and lines[index].strip() and _indent(lines[index]) > 0:
        parts.append(lines[index].strip())
        index += 1
    if kind in ("param", "parameter", "arg", "argument", "key", "keyword") and target:
        name = target.split()[-1]
        parameters[name] = " ".join(part for part in parts if part)
    return index
