"""Evaluation cases: a frozen incident an agent is asked about, with its recorded tools and expected facts.

A case is plain data (docs/eval.md has the file format): the question the user sends, the tools the agent
may see with their recorded outputs, the facts a good answer states, the claims it must not make, and
optionally the tools a good investigation uses. This module parses a case from an already-decoded
document (a mapping, as TOML gives it) and matches tool calls against recordings; reading and writing
files is the entrypoint's job.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import attrs

MatchMode = Literal["exact", "subset", "pattern"]
MATCH_MODES: tuple[MatchMode, ...] = ("exact", "subset", "pattern")
#: The order in which recordings are tried: the most specific kind of match wins.
MATCH_PRIORITY: dict[str, int] = {"exact": 0, "subset": 1, "pattern": 2}

NO_RECORDING = "no recorded output for {tool} with arguments {arguments}"


class CaseError(ValueError):
    """A case document that cannot be used; the message names the file and the key path."""

    def __init__(self, source: str, path: str, problem: str) -> None:
        where = f"{source}: {path}" if path else source
        super().__init__(f"{where}: {problem}")
        self.source = source
        self.path = path
        self.problem = problem


def _normalize(text: str) -> str:
    return " ".join(text.lower().split())


@attrs.frozen
class Recording:
    """One recorded answer of a tool, returned when a call's arguments match.

    `match`: `exact` (the arguments equal these), `subset` (these keys have these values; other
    arguments are ignored) or `pattern` (each value here is a regular expression the argument's text
    must match in full). `structured`, when set, is returned as MCP structured content (and as JSON text).
    """

    arguments: Mapping[str, Any] = attrs.field(factory=dict)
    output: str = ""
    match: MatchMode = "subset"
    is_error: bool = False
    structured: Mapping[str, Any] | None = None

    def matches(self, arguments: Mapping[str, Any]) -> bool:
        if self.match == "exact":
            return dict(arguments) == dict(self.arguments)
        if self.match == "subset":
            return all(key in arguments and arguments[key] == value for key, value in self.arguments.items())
        for key, pattern in self.arguments.items():
            if key not in arguments:
                return False
            value = arguments[key]
            text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
            if re.fullmatch(str(pattern), text, flags=re.IGNORECASE | re.DOTALL) is None:
                return False
        return True


@attrs.frozen
class ReplayAnswer:
    """What the replay server returns for one call, and which recording produced it."""

    output: str
    is_error: bool
    structured: Mapping[str, Any] | None
    #: `recordings[N]` (0-based, file order), `default` or `unmatched`.
    matched: str


@attrs.frozen
class ReplayTool:
    """A tool as an MCP server lists it (name, description, input schema, annotations) plus its recordings.

    A call no recording matches gets `default_output` (an error when `default_is_error`); without a
    default it gets an error saying that nothing was recorded for those arguments.
    """

    name: str
    description: str = ""
    input_schema: Mapping[str, Any] = attrs.field(factory=lambda: {"type": "object", "properties": {}})
    annotations: Mapping[str, Any] = attrs.field(factory=dict)
    title: str | None = None
    recordings: tuple[Recording, ...] = ()
    default_output: str | None = None
    default_is_error: bool = False

    def answer(self, arguments: Mapping[str, Any]) -> ReplayAnswer:
        ranked = sorted(enumerate(self.recordings), key=lambda item: (MATCH_PRIORITY[item[1].match], item[0]))
        for index, recording in ranked:
            if recording.matches(arguments):
                return ReplayAnswer(recording.output, recording.is_error, recording.structured, f"recordings[{index}]")
        if self.default_output is not None:
            return ReplayAnswer(self.default_output, self.default_is_error, None, "default")
        shown = json.dumps(dict(arguments), sort_keys=True, ensure_ascii=False)
        return ReplayAnswer(NO_RECORDING.format(tool=self.name, arguments=shown), True, None, "unmatched")


@attrs.frozen
class Claim:
    """A statement an answer is checked for: an expected fact, or a forbidden claim.

    Rule-based scoring finds it when any of `phrases` occurs in the answer (case and spacing ignored)
    or any of `patterns` (regular expressions, case-insensitive) matches. `description` says what the
    claim means in a sentence; an LLM judge grades that.
    """

    id: str
    description: str
    phrases: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()

    def evidence_in(self, answer: str) -> str | None:
        """The phrase or the matched text that shows the claim is in `answer`, or None."""
        normalized = _normalize(answer)
        for phrase in self.phrases:
            if _normalize(phrase) and _normalize(phrase) in normalized:
                return phrase
        for pattern in self.patterns:
            found = re.search(pattern, answer, flags=re.IGNORECASE)
            if found is not None:
                return found.group(0)
        return None


@attrs.frozen
class EvalCase:
    """One frozen incident."""

    id: str
    question: str
    tools: tuple[ReplayTool, ...]
    facts: tuple[Claim, ...]
    forbidden: tuple[Claim, ...] = ()
    expected_tools: tuple[str, ...] = ()
    #: With True, a run that did not call every expected tool fails; by default it is only reported.
    require_tools: bool = False
    title: str = ""
    tags: tuple[str, ...] = ()
    #: Where the case was read from (a file or a directory), as given; empty for cases built in code.
    source: str = ""

    def tool(self, name: str) -> ReplayTool | None:
        return next((tool for tool in self.tools if tool.name == name), None)


# ------------------------------------------------------------------------------------------ parsing

CASE_KEYS = frozenset({"id", "title", "tags", "question", "tools", "expect"})
TOOL_KEYS = frozenset(
    {
        "name",
        "title",
        "description",
        "input_schema",
        "annotations",
        "recordings",
        "default_output",
        "default_output_file",
        "default_is_error",
    }
)
RECORDING_KEYS = frozenset({"arguments", "output", "output_file", "match", "error", "structured"})
CLAIM_KEYS = frozenset({"id", "description", "phrases", "patterns"})
EXPECT_KEYS = frozenset({"facts", "forbidden", "tools", "require_tools"})


class _Reader:
    """Typed access to a decoded document; every problem names the source and the key path."""

    def __init__(self, source: str, read_file: Callable[[str], str] | None) -> None:
        self.source = source
        self.read_file = read_file

    def fail(self, path: str, problem: str) -> CaseError:
        return CaseError(self.source, path, problem)

    def table(self, value: Any, path: str, allowed: frozenset[str]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(path, f"expected a table, got {_kind(value)}")
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise self.fail(
                f"{path}.{unknown[0]}" if path else unknown[0], f"unknown key (allowed: {', '.join(sorted(allowed))})"
            )
        return value

    def text(self, table: Mapping[str, Any], key: str, path: str, *, default: str | None = None) -> str:
        value = table.get(key, default)
        if value is None:
            raise self.fail(_join(path, key), "is required")
        if not isinstance(value, str):
            raise self.fail(_join(path, key), f"expected a string, got {_kind(value)}")
        return value

    def strings(self, table: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
        value = table.get(key, ())
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, Sequence) or not all(isinstance(item, str) for item in value):
            raise self.fail(_join(path, key), "expected a string or an array of strings")
        return tuple(value)

    def boolean(self, table: Mapping[str, Any], key: str, path: str) -> bool:
        value = table.get(key, False)
        if not isinstance(value, bool):
            raise self.fail(_join(path, key), f"expected true or false, got {_kind(value)}")
        return value

    def array_of_tables(self, table: Mapping[str, Any], key: str, path: str) -> list[tuple[str, Any]]:
        value = table.get(key, ())
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise self.fail(_join(path, key), f"expected an array of tables ([[{_join(path, key)}]])")
        return [(f"{_join(path, key)}[{index}]", item) for index, item in enumerate(value)]

    def output(self, table: Mapping[str, Any], key: str, file_key: str, path: str) -> str | None:
        if key in table and file_key in table:
            raise self.fail(path, f"give either `{key}` or `{file_key}`, not both")
        if file_key in table:
            name = self.text(table, file_key, path)
            if self.read_file is None:
                raise self.fail(_join(path, file_key), "output files need a case directory")
            try:
                return self.read_file(name)
            except OSError as error:
                raise self.fail(_join(path, file_key), f"cannot read {name!r}: {error.strerror or error}") from None
        if key in table:
            return self.text(table, key, path)
        return None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, Sequence):
        return "an array"
    return type(value).__name__


def parse_case(
    document: Mapping[str, Any],
    *,
    source: str,
    default_id: str,
    read_file: Callable[[str], str] | None = None,
) -> EvalCase:
    """Build an `EvalCase` from a decoded document. Raises `CaseError` naming the key path of a problem.

    `read_file(name)` returns the text of an `output_file` (relative to the case directory).
    """
    reader = _Reader(source, read_file)
    root = reader.table(document, "", CASE_KEYS)
    case_id = reader.text(root, "id", "", default=default_id).strip()
    if not case_id:
        raise reader.fail("id", "expected a non-empty id")
    question = reader.text(root, "question", "")
    if not question.strip():
        raise reader.fail("question", "expected the alert or question the user sends (a non-empty string)")
    tools = tuple(_parse_tool(reader, path, item) for path, item in reader.array_of_tables(root, "tools", ""))
    names = [tool.name for tool in tools]
    for index, name in enumerate(names):
        if name in names[:index]:
            raise reader.fail(f"tools[{index}].name", f"duplicate tool name {name!r}")
    expect = reader.table(root.get("expect", {}), "expect", EXPECT_KEYS)
    facts = _parse_claims(reader, expect, "facts", "expect")
    if not facts:
        raise reader.fail("expect.facts", "a case needs at least one expected fact ([[expect.facts]])")
    forbidden = _parse_claims(reader, expect, "forbidden", "expect")
    expected_tools = reader.strings(expect, "tools", "expect")
    for index, name in enumerate(expected_tools):
        if name not in names:
            raise reader.fail(f"expect.tools[{index}]", f"{name!r} is not one of the case's tools ({', '.join(names)})")
    return EvalCase(
        id=case_id,
        question=question,
        tools=tools,
        facts=facts,
        forbidden=forbidden,
        expected_tools=expected_tools,
        require_tools=reader.boolean(expect, "require_tools", "expect"),
        title=reader.text(root, "title", "", default=""),
        tags=reader.strings(root, "tags", ""),
        source=source,
    )


def _parse_tool(reader: _Reader, path: str, value: Any) -> ReplayTool:
    table = reader.table(value, path, TOOL_KEYS)
    name = reader.text(table, "name", path)
    if not name.strip():
        raise reader.fail(_join(path, "name"), "expected a non-empty tool name")
    schema = table.get("input_schema", {"type": "object", "properties": {}})
    if not isinstance(schema, Mapping) or schema.get("type", "object") != "object":
        raise reader.fail(_join(path, "input_schema"), 'expected a JSON Schema table with type = "object"')
    annotations = table.get("annotations", {})
    if not isinstance(annotations, Mapping):
        raise reader.fail(_join(path, "annotations"), "expected a table (e.g. { readOnlyHint = true })")
    title = table.get("title")
    if title is not None and not isinstance(title, str):
        raise reader.fail(_join(path, "title"), f"expected a string, got {_kind(title)}")
    recordings = tuple(
        _parse_recording(reader, item_path, item)
        for item_path, item in reader.array_of_tables(table, "recordings", path)
    )
    return ReplayTool(
        name=name,
        description=reader.text(table, "description", path, default=""),
        input_schema={"type": "object", **schema},
        annotations=dict(annotations),
        title=title,
        recordings=recordings,
        default_output=reader.output(table, "default_output", "default_output_file", path),
        default_is_error=reader.boolean(table, "default_is_error", path),
    )


def _parse_recording(reader: _Reader, path: str, value: Any) -> Recording:
    table = reader.table(value, path, RECORDING_KEYS)
    arguments = table.get("arguments", {})
    if not isinstance(arguments, Mapping):
        raise reader.fail(_join(path, "arguments"), "expected a table of argument values")
    match = table.get("match", "subset")
    if match not in MATCH_MODES:
        raise reader.fail(_join(path, "match"), f"expected one of {', '.join(MATCH_MODES)}, got {match!r}")
    if match == "pattern":
        for key, pattern in arguments.items():
            if not isinstance(pattern, str):
                raise reader.fail(_join(path, f"arguments.{key}"), "a pattern match needs a regular expression string")
            try:
                re.compile(pattern)
            except re.error as error:
                raise reader.fail(_join(path, f"arguments.{key}"), f"invalid regular expression: {error}") from None
    structured = table.get("structured")
    if structured is not None and not isinstance(structured, Mapping):
        raise reader.fail(_join(path, "structured"), "expected a table (returned as structured content)")
    output = reader.output(table, "output", "output_file", path)
    if output is None:
        if structured is None:
            raise reader.fail(path, "a recording needs `output`, `output_file` or `structured`")
        output = json.dumps(structured, ensure_ascii=False)
    return Recording(
        arguments=dict(arguments),
        output=output,
        match=match,
        is_error=reader.boolean(table, "error", path),
        structured=dict(structured) if structured is not None else None,
    )


def _parse_claims(reader: _Reader, expect: Mapping[str, Any], key: str, path: str) -> tuple[Claim, ...]:
    claims: list[Claim] = []
    for item_path, item in reader.array_of_tables(expect, key, path):
        table = reader.table(item, item_path, CLAIM_KEYS)
        phrases = reader.strings(table, "phrases", item_path)
        patterns = reader.strings(table, "patterns", item_path)
        for index, pattern in enumerate(patterns):
            try:
                re.compile(pattern)
            except re.error as error:
                raise reader.fail(f"{item_path}.patterns[{index}]", f"invalid regular expression: {error}") from None
        if not any(p.strip() for p in phrases) and not patterns:
            raise reader.fail(item_path, "give at least one of `phrases` (accepted wordings) or `patterns` (regexes)")
        claim_id = reader.text(table, "id", item_path, default=f"{key}-{len(claims) + 1}")
        if any(existing.id == claim_id for existing in claims):
            raise reader.fail(_join(item_path, "id"), f"duplicate id {claim_id!r}")
        description = reader.text(table, "description", item_path, default=phrases[0] if phrases else patterns[0])
        claims.append(Claim(claim_id, description, phrases, patterns))
    return tuple(claims)


# --------------------------------------------------------------------------------------- writing


def case_document(case: EvalCase) -> dict[str, Any]:
    """The document `parse_case` reads back as `case` (outputs inline; no None values, as TOML has none)."""
    document: dict[str, Any] = {"id": case.id}
    if case.title:
        document["title"] = case.title
    if case.tags:
        document["tags"] = list(case.tags)
    document["question"] = case.question
    document["tools"] = [_tool_document(tool) for tool in case.tools]
    expect: dict[str, Any] = {"facts": [_claim_document(claim) for claim in case.facts]}
    if case.forbidden:
        expect["forbidden"] = [_claim_document(claim) for claim in case.forbidden]
    if case.expected_tools:
        expect["tools"] = list(case.expected_tools)
    if case.require_tools:
        expect["require_tools"] = True
    document["expect"] = expect
    return document


def _tool_document(tool: ReplayTool) -> dict[str, Any]:
    document: dict[str, Any] = {"name": tool.name}
    if tool.title:
        document["title"] = tool.title
    document["description"] = tool.description
    document["input_schema"] = _without_none(tool.input_schema)
    if tool.annotations:
        document["annotations"] = _without_none(tool.annotations)
    if tool.default_output is not None:
        document["default_output"] = tool.default_output
        if tool.default_is_error:
            document["default_is_error"] = True
    recordings = []
    for recording in tool.recordings:
        entry: dict[str, Any] = {"match": recording.match, "arguments": _without_none(recording.arguments)}
        entry["output"] = recording.output
        if recording.structured is not None:
            entry["structured"] = _without_none(recording.structured)
        if recording.is_error:
            entry["error"] = True
        recordings.append(entry)
    if recordings:
        document["recordings"] = recordings
    return document


def _claim_document(claim: Claim) -> dict[str, Any]:
    document: dict[str, Any] = {"id": claim.id, "description": claim.description}
    if claim.phrases:
        document["phrases"] = list(claim.phrases)
    if claim.patterns:
        document["patterns"] = list(claim.patterns)
    return document


def _without_none(value: Any) -> Any:
    """TOML has no null: drop None values from tables (and keep everything else as is)."""
    if isinstance(value, Mapping):
        return {str(key): _without_none(item) for key, item in value.items() if item is not None}
    if isinstance(value, list | tuple):
        return [_without_none(item) for item in value if item is not None]
    return value
