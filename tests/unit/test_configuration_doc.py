"""docs/configuration.md cannot drift from the config classes.

The test walks the attrs classes of `aura.entrypoints.config.schema` from `AgentConfig` down, through
every tagged union (`[llm]` by provider, MCP servers by transport, vector stores by type, embedding
models by provider), and compares each class with the doc table marked `<!-- config-table: ID -->`:
the same keys (the tag key included), and for each key the documented type and default. Complete
TOML examples in the doc must load, and the server-options table must match `aura serve`'s options.
"""

from __future__ import annotations

import collections.abc
import re
import tomllib
import types
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest

from aura.adapters.http.options import ToolResultMode
from aura.entrypoints.config import parse_agent_config
from aura.entrypoints.config.converter import _TAGGED_UNIONS, CONVERTER, allowed_keys
from aura.entrypoints.config.schema import LENIENT_UINT, AgentConfig, Secret
from aura.entrypoints.serve_command import OPTIONS

DOC = Path(__file__).parents[2] / "docs" / "configuration.md"
MARKER = re.compile(r"<!--\s*config-table:\s*(?P<id>.+?)\s*-->")
REQUIRED = "required"
UNSET = "none"


# ------------------------------------------------------------------------------- the schema side


@attrs.frozen
class TableSpec:
    """One config table as the code defines it: its doc id, class and tag (for tagged variants)."""

    table_id: str
    cls: type
    tag: tuple[str, str] | None = None  # (tag key, tag value)

    @property
    def keys(self) -> list[str]:
        names = [field.name for field in attrs.fields(self.cls)]
        return [self.tag[0], *names] if self.tag else names


def _without_none(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and tp not in _TAGGED_UNIONS:
        args = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        assert len(args) == 1, f"an untagged union in the schema ({tp!r}): teach this test how to document it"
        return args[0]
    return tp


def _tables_below(tp: Any, path: str) -> Iterator[TableSpec]:
    """The tables a value of type `tp` at `path` stands for (none for scalars)."""
    tp = _without_none(tp)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp in _TAGGED_UNIONS:
        union = _TAGGED_UNIONS[tp]
        for tag, variant in union.variants.items():
            yield from walk(variant, path, (union.tag_key, tag))
    elif attrs.has(tp):
        yield from walk(tp, path)
    elif origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        yield from _tables_below(args[0], f"{path}[]")
    elif origin in (collections.abc.Mapping, dict) and len(args) == 2:
        yield from _tables_below(args[1], f"{path}.*")


def walk(cls: type, path: str = "", tag: tuple[str, str] | None = None) -> Iterator[TableSpec]:
    """Every table reachable from `cls`, depth first; the root is `(file)`."""
    table_id = path or "(file)"
    if tag is not None:
        table_id += f" {tag[0]}={tag[1]}"
    yield TableSpec(table_id, cls, tag)
    hints = typing.get_type_hints(cls)
    for field in attrs.fields(cls):
        child = f"{path}.{field.name}" if path else field.name
        yield from _tables_below(hints[field.name], child)


def schema_tables() -> dict[str, TableSpec]:
    tables: dict[str, TableSpec] = {}
    for spec in walk(AgentConfig):
        # embedding models are reached from several store types: one table documents them all
        assert tables.get(spec.table_id, spec).cls is spec.cls, f"two classes for {spec.table_id}"
        tables[spec.table_id] = spec
    return tables


_SCALAR_WORDS = {str: "string", Secret: "string (secret)", bool: "boolean", float: "number", int: "integer"}
_PLURAL_WORDS = {str: "strings", Secret: "strings (secret)"}


def type_words(tp: Any, field: attrs.Attribute[Any] | None = None) -> str:
    """How the doc names a key's type (see "Column conventions" in the doc)."""
    tp = _without_none(tp)
    if field is not None and LENIENT_UINT in field.metadata:
        return "integer (lenient)"
    if tp in _SCALAR_WORDS:
        return _SCALAR_WORDS[tp]
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Literal:
        quoted = [f'`"{arg}"`' for arg in args]
        return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + f" or {quoted[-1]}"
    if _without_none(tp) in _TAGGED_UNIONS or attrs.has(tp):
        return "table"
    if origin is tuple:
        item = args[0]
        return f"array of {_PLURAL_WORDS.get(item, 'tables' if item in _TAGGED_UNIONS or attrs.has(item) else '?')}"
    if origin in (collections.abc.Mapping, dict):
        value = args[1]
        if value is Any:
            return "table"
        return f"table of {_PLURAL_WORDS.get(value, 'tables' if value in _TAGGED_UNIONS or attrs.has(value) else '?')}"
    raise AssertionError(f"no doc wording for type {tp!r}: extend type_words")


def documented_default(field: attrs.Attribute[Any]) -> Any:
    """The default as TOML data (what the doc's literal must parse to), or the REQUIRED / UNSET markers."""
    default = field.default
    if default is attrs.NOTHING:
        return REQUIRED
    factory = getattr(default, "factory", None)  # an `attrs.Factory(dict)` default
    if callable(factory):
        default = factory()
    if default is None:
        return UNSET
    return CONVERTER.unstructure(default)


# ---------------------------------------------------------------------------------- the doc side


@attrs.frozen
class DocRow:
    key: str
    type: str
    default: str
    line: int


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _table_after(lines: list[str], start: int) -> list[tuple[int, list[str]]]:
    """Rows of the first markdown table at or after `start` (header and separator skipped)."""
    index = start
    while index < len(lines) and not lines[index].lstrip().startswith("|"):
        assert not lines[index].startswith("#"), f"line {start}: marker without a table before the next heading"
        index += 1
    rows: list[tuple[int, list[str]]] = []
    while index < len(lines) and lines[index].lstrip().startswith("|"):
        rows.append((index + 1, _cells(lines[index])))
        index += 1
    assert len(rows) >= 2, f"line {start}: a table needs a header and a separator row"
    assert set(rows[1][1][0]) <= {"-", ":"}, f"line {start}: the second row of a table must be |---|"
    return rows[2:]


def doc_tables(text: str) -> dict[str, list[DocRow]]:
    lines = text.splitlines()
    tables: dict[str, list[DocRow]] = {}
    for number, line in enumerate(lines):
        match = MARKER.fullmatch(line.strip())  # a marker is a line of its own
        if match is None:
            continue
        table_id = match.group("id")
        assert table_id not in tables, f"line {number + 1}: table {table_id!r} documented twice"
        rows = []
        for row_line, cells in _table_after(lines, number + 1):
            assert len(cells) == 4, f"line {row_line}: expected 4 cells (key, type, default, meaning), got {cells}"
            key = re.fullmatch(r"`([^`]+)`", cells[0])
            assert key is not None, f"line {row_line}: the key cell must be one `key`, got {cells[0]!r}"
            assert cells[3], f"line {row_line}: key {key.group(1)!r} has no meaning"
            rows.append(DocRow(key.group(1), cells[1], cells[2], row_line))
        tables[table_id] = rows
    return tables


def parse_default_cell(cell: str) -> Any:
    if cell in (REQUIRED, UNSET):
        return cell
    literal = re.fullmatch(r"`([^`]+)`", cell)
    assert literal is not None, f"a default is `required`, `none` or one TOML literal in backticks, got {cell!r}"
    return tomllib.loads(f"value = {literal.group(1)}")["value"]


# ------------------------------------------------------------------------------------------ tests


@pytest.fixture(scope="module")
def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def test_every_config_table_is_documented_and_nothing_else(doc_text: str) -> None:
    expected = schema_tables()
    documented = doc_tables(doc_text)
    assert sorted(set(expected) - set(documented)) == [], "config tables missing from docs/configuration.md"
    assert sorted(set(documented) - set(expected)) == [], "docs/configuration.md documents tables the code lacks"


def test_the_walk_reaches_every_variant_of_every_tagged_union() -> None:
    """Guards the walk itself: a union it failed to descend into would hide undocumented keys."""
    tables = schema_tables()
    reached = {spec.cls for spec in tables.values()}
    for union in _TAGGED_UNIONS.values():
        assert set(union.variants.values()) <= reached
    assert {"llm provider=openai", "mcp.servers.* transport=stdio", "vector_stores[] type=qdrant"} <= set(tables)
    assert "vector_stores[].embedding_model provider=local" in tables


@pytest.mark.parametrize("table_id", sorted(schema_tables()))
def test_documented_keys_types_and_defaults_match_the_schema(doc_text: str, table_id: str) -> None:
    spec = schema_tables()[table_id]
    rows = doc_tables(doc_text).get(table_id, [])
    documented_keys = [row.key for row in rows]
    missing = [key for key in spec.keys if key not in documented_keys]
    unknown = [key for key in documented_keys if key not in spec.keys]
    assert missing == [], f"[{table_id}] keys missing from the doc: {missing}"
    assert unknown == [], f"[{table_id}] the doc names keys the code does not accept: {unknown}"
    assert len(documented_keys) == len(set(documented_keys)), f"[{table_id}] a key is documented twice"
    # What the loader accepts is what the doc lists (the converter's own list, tag first).
    assert sorted(allowed_keys(spec.cls)) == sorted(documented_keys)

    hints = typing.get_type_hints(spec.cls)
    fields = {field.name: field for field in attrs.fields(spec.cls)}
    for row in rows:
        where = f"docs/configuration.md:{row.line} [{table_id}] {row.key}"
        if spec.tag is not None and row.key == spec.tag[0]:
            assert row.type == f'`"{spec.tag[1]}"`', f"{where}: the tag row's type must be the tag value"
            assert row.default == REQUIRED, f"{where}: the tag is required"
            continue
        field = fields[row.key]
        expected_type = type_words(hints[row.key], field)
        assert row.type == expected_type, f"{where}: type {row.type!r}, expected {expected_type!r}"
        expected_default = documented_default(field)
        actual_default = parse_default_cell(row.default)
        if isinstance(expected_default, tuple):
            expected_default = list(expected_default)
        assert actual_default == expected_default, f"{where}: default {row.default} != {expected_default!r}"


def toml_blocks(text: str) -> list[str]:
    return re.findall(r"```toml\n(.*?)```", text, flags=re.DOTALL)


def test_complete_examples_in_the_doc_load(doc_text: str) -> None:
    environ = dict.fromkeys(re.findall(r"\{\{\s*env\.([A-Z_][A-Z0-9_]*)\s*}}", doc_text), "dummy-value")
    complete = [block for block in toml_blocks(doc_text) if "[llm]" in block and "[agent]" in block]
    assert complete, "the doc should show at least one complete file"
    for block in complete:
        parse_agent_config(block, environ=environ)  # raises ConfigError naming the key


def test_every_toml_snippet_in_the_doc_is_valid_toml(doc_text: str) -> None:
    for block in toml_blocks(doc_text):
        tomllib.loads(block)


def _option_default(default: Any) -> str:
    if default is None or default == ():
        return UNSET
    if isinstance(default, ToolResultMode):
        return f"`{default.value}`"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    return f"`{default}`"


def test_server_options_table_matches_aura_serve(doc_text: str) -> None:
    lines = doc_text.splitlines()
    start = next(index for index, line in enumerate(lines) if "<!-- server-options -->" in line)
    rows = _table_after(lines, start + 1)
    documented: dict[str, tuple[list[str], str]] = {}
    for _, cells in rows:
        flags = re.findall(r"`(-[^`]+)`", cells[0])
        env = cells[1].strip("`")
        documented[env] = (sorted(flags), cells[2])
    expected = {spec.env: (sorted(spec.flags), _option_default(spec.default)) for spec in OPTIONS}
    assert documented == expected


def test_doc_tables_parser_rejects_a_mismatch() -> None:
    """The comparison has teeth: a doc missing a key, or with a wrong default, is detected."""
    sample = (
        "<!-- config-table: tools -->\n| key | type | default | meaning |\n|---|---|---|---|\n"
        "| `filesystem` | boolean | `true` | x |\n| `custom_tools` | array of strings | `[]` | y |\n"
    )
    rows = doc_tables(sample)["tools"]
    spec = schema_tables()["tools"]
    assert {row.key for row in rows} != set(spec.keys)  # filesystem_root is missing
    filesystem = next(field for field in attrs.fields(spec.cls) if field.name == "filesystem")
    assert parse_default_cell(rows[0].default) != documented_default(filesystem)


def test_type_words_cover_the_shapes_used() -> None:
    hints: Mapping[str, Any] = typing.get_type_hints(AgentConfig)
    assert type_words(hints["vector_stores"]) == "array of tables"
    assert type_words(hints["llm"]) == "table"
