"""Tool-schema and tool-name sanitization (the OpenAI strict rewrite): examples, real MCP schemas, properties."""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from aura.domain.schema_sanitizer import (
    SanitizedSchema,
    SchemaRejected,
    sanitize_tool_name,
    sanitize_tool_schema,
)
from tests.unit.strict_schema_checker import check_strict_schema

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mcp_schemas"
NULL = {"type": "null"}
PRIMITIVES = [{"type": "string"}, {"type": "number"}, {"type": "boolean"}, NULL]
ANY = {"anyOf": [*PRIMITIVES[:3], {"type": "array", "items": {"anyOf": PRIMITIVES}}, NULL]}


def nullable(schema: dict[str, Any], **annotations: Any) -> dict[str, Any]:
    return {"anyOf": [schema, NULL], **annotations}


def closed(properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": properties}
    if properties:
        out["required"] = list(properties)
    return {**out, "additionalProperties": False, **extra}


def pairs_of(value: dict[str, Any], key: dict[str, Any] | None = None) -> dict[str, Any]:
    return closed({"key": key or {"type": "string"}, "value": value})


def sanitized(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The sanitized schema, after asserting the properties every output must have."""
    result = sanitize_tool_schema(schema)
    assert check_strict_schema(result.schema) == []
    assert sanitize_tool_schema(result.schema).schema == result.schema
    return result.schema


# --------------------------------------------------------------------------------------------------
# Spec §6.6 examples. A-F and O keep the reference semantics (F2 without the duplicate null
# branch); G, H, I, J, L, M, N follow the → PY rules where the reference is not strict-valid.

EXAMPLES = [
    pytest.param(
        {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "q"},
                "limit": {"type": "integer", "default": 10},
            },
            "required": ["query"],
        },
        closed(
            {
                "query": {"type": "string", "description": "q"},
                "limit": nullable({"type": "integer"}, description="Default: 10."),
            }
        ),
        id="A-optional-scalar-with-default",
    ),
    pytest.param({"type": "object"}, closed({}), id="B-zero-argument-tool"),
    pytest.param(
        {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "title": "T", "description": "d"},
        closed({}, title="T", description="d"),
        id="B-zero-argument-tool-annotations-kept-schema-uri-dropped",
    ),
    pytest.param(
        {
            "type": "object",
            "properties": {
                "filter": {"type": "object", "properties": {"level": {"type": "string", "enum": ["info", "error"]}}}
            },
            "required": ["filter"],
        },
        closed({"filter": closed({"level": nullable({"type": "string", "enum": ["info", "error"]})})}),
        id="C-nested-object-without-required",
    ),
    pytest.param(
        {
            "type": "object",
            "properties": {
                "opts": {
                    "type": "object",
                    "description": "Options",
                    "properties": {"a": {"type": "string"}},
                    "required": ["a"],
                }
            },
        },
        closed({"opts": nullable(closed({"a": {"type": "string"}}), description="Options")}),
        id="D-optional-nested-object-description-hoisted",
    ),
    pytest.param(
        {"type": "object", "properties": {"tags": {"type": ["array", "null"], "items": {"type": "string"}}}},
        closed({"tags": {"type": ["array", "null"], "items": {"type": "string"}}}),
        id="E-type-array-nullable-recognized",
    ),
    pytest.param(
        {"type": "object", "properties": {"x": {"anyOf": [{"type": "string"}, {"const": None}]}}, "required": ["x"]},
        closed({"x": nullable({"type": "string"})}),
        id="F-const-null-branch",
    ),
    pytest.param(
        {"type": "object", "properties": {"x": {"anyOf": [{"type": "string"}, {"const": None}]}}},
        closed({"x": nullable({"type": "string"})}),
        id="F2-const-null-branch-optional-no-duplicate",
    ),
    pytest.param(
        {
            "type": "object",
            "properties": {"labels": {"type": "object", "additionalProperties": {"type": "string"}}},
            "required": ["labels"],
        },
        closed(
            {
                "labels": {
                    "type": "array",
                    "items": pairs_of({"type": "string"}),
                    "description": "Entries as a list of {key, value} pairs.",
                }
            }
        ),
        id="G-map-becomes-key-value-pairs",
    ),
    pytest.param(
        {
            "type": "object",
            "properties": {"item": {"$ref": "#/$defs/Item"}},
            "$defs": {"Item": {"type": "object", "properties": {"id": {"type": "string"}}}},
        },
        closed({"item": nullable(closed({"id": nullable({"type": "string"})}))}),
        id="H-ref-inlined",
    ),
    pytest.param(
        {
            "type": "object",
            "properties": {
                "target": {"oneOf": [{"type": "object", "properties": {"id": {"type": "string"}}}, {"type": "string"}]}
            },
            "required": ["target"],
        },
        closed({"target": {"anyOf": [closed({"id": nullable({"type": "string"})}), {"type": "string"}]}}),
        id="I-oneOf-becomes-anyOf",
    ),
    pytest.param(
        {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a", "ghost"]},
        closed({"a": {"type": "string"}}),
        id="J-unknown-required-dropped",
    ),
    pytest.param(
        {"properties": {"n": {"type": "number", "format": "float", "minimum": 0}}},
        closed({"n": nullable({"type": "number", "minimum": 0}, description="(Constraints: format=float)")}),
        id="L-root-without-type",
    ),
    pytest.param(
        {
            "type": "object",
            "properties": {"p": {"type": "string", "nullable": True, "title": "P", "examples": ["x"]}},
        },
        closed({"p": nullable({"type": "string", "examples": ["x"]}, title="P")}),
        id="M-openapi-nullable",
    ),
    pytest.param(
        {
            "type": "object",
            "properties": {
                "arr": {"type": "array", "items": [{"type": "object", "properties": {"k": {"type": "string"}}}]}
            },
            "required": ["arr"],
        },
        closed({"arr": {"type": "array", "items": closed({"k": nullable({"type": "string"})})}}),
        id="N-tuple-items-become-anyOf",
    ),
    pytest.param(
        {"type": "object", "properties": {"any": True}},
        closed({"any": ANY}),
        id="O-boolean-true-property-is-any-value",
    ),
    pytest.param(
        {
            "type": "object",
            "properties": {"p": {"anyOf": [{"type": "string"}, {"type": "null"}], "type": "string", "default": ""}},
        },
        closed({"p": nullable({"type": "string"}, description='Default: "".')}),
        id="logdna-conflicting-sibling-type",
    ),
    pytest.param(
        {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"], "additionalProperties": True},
        closed({"a": {"type": "string"}}),
        id="pydantic-additionalProperties-true-closed",
    ),
]


@pytest.mark.parametrize(("schema", "expected"), EXAMPLES)
def test_reference_examples(schema: dict[str, Any], expected: dict[str, Any]) -> None:
    assert sanitized(schema) == expected


@pytest.mark.parametrize(
    ("schema", "got"),
    [
        ({"type": "string"}, "'string'"),
        ({"type": "array", "items": {"type": "object"}}, "'array'"),
        ({"type": ["string", "null"]}, '\'["string", "null"]\''),
        ({"$ref": "#/$defs/S", "$defs": {"S": {"type": "integer"}}}, "'integer'"),
        ({"anyOf": [{"type": "string"}, {"type": "number"}]}, "'anyOf'"),
    ],
)
def test_non_object_root_is_rejected(schema: dict[str, Any], got: str) -> None:
    with pytest.raises(SchemaRejected) as info:
        sanitize_tool_schema(schema)
    assert str(info.value).startswith(f"Invalid MCP tool schema: root must be type 'object', got {got}.")
    assert "This is an MCP server bug" in str(info.value)


# --------------------------------------------------------------------------------------------------
# → PY rules beyond the reference.


def test_boolean_false_property_is_dropped() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}, "never": False}, "required": ["never"]}
    assert sanitized(schema) == closed({"a": nullable({"type": "string"})})


def test_allof_is_merged() -> None:
    schema = {
        "type": "object",
        "properties": {
            "x": {
                "allOf": [
                    {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
                    {"properties": {"b": {"type": "integer"}}, "description": "both"},
                ]
            }
        },
        "required": ["x"],
    }
    expected = closed({"x": closed({"a": {"type": "string"}, "b": nullable({"type": "integer"})}, description="both")})
    assert sanitized(schema) == expected


def test_allof_with_alternatives_distributes() -> None:
    schema = {
        "type": "object",
        "properties": {
            "x": {
                "type": "object",
                "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
                "anyOf": [{"required": ["a"]}, {"required": ["b"]}],
            }
        },
        "required": ["x"],
    }
    a, b = {"type": "string"}, {"type": "string"}
    expected = closed({"x": {"anyOf": [closed({"a": a, "b": nullable(b)}), closed({"a": nullable(a), "b": b})]}})
    assert sanitized(schema) == expected


def test_missing_types_are_inferred() -> None:
    schema = {
        "type": "object",
        "properties": {
            "obj": {"properties": {"k": {"enum": ["x", "y"]}}, "required": ["k"]},
            "arr": {"items": {"const": 3}},
            "text": {"pattern": "^a"},
            "num": {"minimum": 1},
            "anything": {},
            "mixed": {"enum": ["a", 1, None]},
        },
        "required": ["obj", "arr", "text", "num", "anything", "mixed"],
    }
    assert sanitized(schema) == closed(
        {
            "obj": closed({"k": {"type": "string", "enum": ["x", "y"]}}),
            "arr": {"type": "array", "items": {"type": "integer", "const": 3}},
            "text": {"type": "string", "pattern": "^a"},
            "num": {"type": "number", "minimum": 1},
            "anything": ANY,
            "mixed": {"type": ["string", "integer", "null"], "enum": ["a", 1, None]},
        }
    )


def test_unsupported_keywords_are_dropped_and_folded_into_description() -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 2, "format": "uri", "description": "Name"},
            "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True, "minItems": 1},
            "cfg": {
                "type": "object",
                "properties": {"a": {"type": "integer"}},
                "minProperties": 1,
                "not": {"required": ["b"]},
                "if": {"required": ["a"]},
                "then": {"required": ["a"]},
                "propertyNames": {"pattern": "^[a-z]+$"},
                "dependentRequired": {"a": ["a"]},
                "unevaluatedProperties": False,
                "x-vendor": 1,
            },
            "level": {"type": "integer", "minimum": 0, "exclusiveMinimum": True},
        },
        "required": ["name", "tags", "cfg", "level"],
    }
    assert sanitized(schema) == closed(
        {
            "name": {"type": "string", "description": "Name (Constraints: format=uri, minLength=2)"},
            "tags": {
                "type": "array",
                "items": {"type": "string"},
                "minItems": 1,
                "description": "(Constraints: uniqueItems=true)",
            },
            "cfg": closed(
                {"a": nullable({"type": "integer"})},
                description='(Constraints: minProperties=1, dependentRequired={"a":["a"]})',
            ),
            "level": {"type": "integer", "exclusiveMinimum": 0},
        }
    )


def test_recursive_ref_is_kept_in_defs() -> None:
    schema = {
        "type": "object",
        "properties": {"tree": {"$ref": "#/definitions/Node", "description": "root"}},
        "required": ["tree"],
        "definitions": {
            "Node": {
                "type": "object",
                "properties": {
                    "label": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/definitions/Node"}},
                },
                "required": ["label"],
            }
        },
    }
    node = closed(
        {
            "label": {"type": "string"},
            "children": nullable({"type": "array", "items": {"$ref": "#/$defs/Node"}}),
        }
    )
    assert sanitized(schema) == {
        # strict mode takes no keyword next to a `$ref`: the annotation wraps it
        **closed({"tree": {"anyOf": [{"$ref": "#/$defs/Node"}], "description": "root"}}),
        "$defs": {"Node": node},
    }


def test_recursion_through_a_dropped_keyword_is_inlined() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"$ref": "#/$defs/A"}},
        "required": ["a"],
        "$defs": {
            "A": {
                "type": "object",
                "properties": {"v": {"type": "string"}},
                "required": ["v"],
                "not": {"$ref": "#/$defs/A"},
            }
        },
    }
    assert sanitized(schema) == closed({"a": closed({"v": {"type": "string"}})})


def test_root_self_reference() -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "next": {"$ref": "#"}},
        "required": ["name"],
    }
    root = closed({"name": {"type": "string"}, "next": nullable({"$ref": "#/$defs/Root"})})
    assert sanitized(schema) == {**root, "$defs": {"Root": root}}


def test_root_anyof_of_objects_is_merged() -> None:
    schema = {
        "anyOf": [
            {
                "type": "object",
                "properties": {"id": {"type": "string"}, "x": {"type": "integer"}},
                "required": ["id", "x"],
            },
            {"type": "object", "properties": {"id": {"type": "string"}, "y": {"type": "boolean"}}, "required": ["id"]},
        ]
    }
    assert sanitized(schema) == closed(
        {
            "id": {"type": "string"},
            "x": nullable({"type": "integer"}),
            "y": nullable({"type": "boolean"}),
        }
    )


def test_root_map_gets_an_extra_pairs_property() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": {"type": "integer"}}
    result = sanitize_tool_schema(schema)
    extra = nullable(
        {"type": "array", "items": pairs_of({"type": "integer"})},
        description="Additional entries as a list of {key, value} pairs.",
    )
    assert result.schema == closed({"a": nullable({"type": "integer"}), "additional_properties": extra})
    restored = result.restore_arguments({"a": None, "additional_properties": [{"key": "b", "value": 2}]})
    assert restored == {"b": 2}


def test_pattern_properties_keep_the_key_pattern() -> None:
    schema = {
        "type": "object",
        "properties": {"env": {"type": "object", "patternProperties": {"^[A-Z_]+$": {"type": "string"}}}},
        "required": ["env"],
    }
    env = sanitized(schema)["properties"]["env"]
    assert env["items"] == pairs_of({"type": "string"}, key={"type": "string", "pattern": "^[A-Z_]+$"})


def test_input_is_not_mutated() -> None:
    schema = json.loads((FIXTURES / "fastmcp_create_contact.json").read_text())["inputSchema"]
    before = copy.deepcopy(schema)
    result = sanitize_tool_schema(schema)
    result.schema["properties"].clear()
    assert schema == before
    assert result.original_schema == before


# --------------------------------------------------------------------------------------------------
# restore_arguments.


def test_restore_drops_nulls_of_optional_properties_only() -> None:
    schema = {
        "type": "object",
        "properties": {
            "q": {"type": "string"},
            "limit": {"type": "integer"},
            "maybe": {"type": ["string", "null"]},
            "opts": {
                "type": "object",
                "properties": {"deep": {"type": "string"}, "keep": {"type": "string"}},
                "required": ["keep"],
            },
        },
        "required": ["q", "maybe"],
    }
    result = sanitize_tool_schema(schema)
    arguments = {"q": "x", "limit": None, "maybe": None, "opts": {"deep": None, "keep": "k"}}
    frozen = copy.deepcopy(arguments)
    assert result.restore_arguments(arguments) == {"q": "x", "maybe": None, "opts": {"keep": "k"}}
    assert arguments == frozen


def test_restore_converts_pairs_inside_anyof_and_recursive_defs() -> None:
    schema = json.loads((FIXTURES / "fastmcp_search_documents.json").read_text())["inputSchema"]
    result = sanitize_tool_schema(schema)
    arguments = {
        "query": "q",
        "limit": None,
        "collection": None,
        "filters": [{"key": "lang", "value": "en"}, {"key": "year", "value": "2024"}],
        "since": None,
    }
    assert result.restore_arguments(arguments) == {"query": "q", "filters": {"lang": "en", "year": "2024"}}

    tree = {
        "type": "object",
        "properties": {"root": {"$ref": "#/$defs/N"}},
        "required": ["root"],
        "$defs": {
            "N": {
                "type": "object",
                "properties": {
                    "attrs": {"type": "object", "additionalProperties": {"type": "integer"}},
                    "kids": {"type": "array", "items": {"$ref": "#/$defs/N"}},
                },
            }
        },
    }
    result = sanitize_tool_schema(tree)
    arguments = {"root": {"attrs": [{"key": "a", "value": 1}], "kids": [{"attrs": None, "kids": []}]}}
    assert result.restore_arguments(arguments) == {"root": {"attrs": {"a": 1}, "kids": [{"kids": []}]}}


def test_restore_picks_the_matching_anyof_branch() -> None:
    schema = {
        "type": "object",
        "properties": {
            "v": {
                "anyOf": [
                    {"type": "object", "properties": {"a": {"type": "string"}}},
                    {
                        "type": "object",
                        "properties": {"m": {"type": "object", "additionalProperties": {"type": "string"}}},
                    },
                ]
            }
        },
        "required": ["v"],
    }
    result = sanitize_tool_schema(schema)
    assert result.restore_arguments({"v": {"a": None}}) == {"v": {}}
    assert result.restore_arguments({"v": {"m": [{"key": "k", "value": "x"}]}}) == {"v": {"m": {"k": "x"}}}
    assert result.restore_arguments({"v": "unexpected"}) == {"v": "unexpected"}


# --------------------------------------------------------------------------------------------------
# Real MCP schemas (FastMCP/pydantic, server-everything zod output, LogDNA/Mezmo style).


def load_fixture(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


FIXTURE_PATHS = sorted(FIXTURES.glob("*.json"))


@pytest.mark.parametrize("path", FIXTURE_PATHS, ids=[p.stem for p in FIXTURE_PATHS])
def test_real_schemas_become_strict(path: Path) -> None:
    tool = load_fixture(path)
    schema = tool["inputSchema"]
    out = sanitized(schema)
    assert reachable_property_names(schema) <= output_property_names(out)
    assert sanitize_tool_name(tool["name"]) == sanitize_tool_name(sanitize_tool_name(tool["name"]))


def test_fastmcp_pydantic_models() -> None:
    contact = sanitized(load_fixture(FIXTURES / "fastmcp_create_contact.json")["inputSchema"])
    assert "$defs" not in contact
    inner = contact["properties"]["contact"]
    assert inner["properties"]["priority"] == nullable(
        {"type": "string", "enum": ["low", "high"]}, title="Priority", description='Default: "low".'
    )
    assert inner["properties"]["address"]["anyOf"][1] == NULL
    metadata = contact["properties"]["metadata"]
    assert metadata["anyOf"][0]["items"] == pairs_of({"type": "integer"})
    assert "default" not in metadata
    assert "Default: {}." in metadata["description"]

    tree = sanitized(load_fixture(FIXTURES / "fastmcp_render_tree.json")["inputSchema"])
    assert tree["properties"]["tree"] == {"$ref": "#/$defs/TreeNode"}
    assert tree["$defs"]["TreeNode"]["properties"]["children"]["anyOf"][0]["items"] == {"$ref": "#/$defs/TreeNode"}

    shape = sanitized(load_fixture(FIXTURES / "fastmcp_draw_shape.json")["inputSchema"])
    kinds = [b["properties"]["kind"]["anyOf"][0]["const"] for b in shape["properties"]["shape"]["anyOf"]]
    assert kinds == ["circle", "square"]
    assert shape["properties"]["scale"]["anyOf"] == [{"type": "number"}, {"type": "integer"}, NULL]

    assert sanitized(load_fixture(FIXTURES / "fastmcp_ping.json")["inputSchema"]) == closed({}, title="pingArguments")


def test_mezmo_logdna_schemas() -> None:
    logs = sanitized(load_fixture(FIXTURES / "mezmo_get_logs.json")["inputSchema"])
    assert logs["properties"]["apps"] == nullable(
        {"type": "string"}, title="Apps", description='Comma-separated list of applications Default: "".'
    )
    assert logs["properties"]["from_ts"]["anyOf"] == [{"type": "integer"}, {"type": "string"}, NULL]
    assert logs["additionalProperties"] is False

    view = sanitize_tool_schema(load_fixture(FIXTURES / "logdna_create_view.json")["inputSchema"])
    props = view.schema["properties"]
    assert props["query"] == nullable({"type": "string"})
    assert props["threshold"]["anyOf"][0] == {"type": "number", "exclusiveMinimum": 0}
    assert props["presetid"] == nullable({"type": "string"}, description="Alert preset id")
    channel = props["channels"]["anyOf"][0]["items"]
    assert channel["properties"]["emails"]["anyOf"][0]["items"] == {"type": "string", "format": "email"}
    restored = view.restore_arguments(
        {
            "name": "v",
            "query": None,
            "apps": None,
            "levels": ["error"],
            "category": None,
            "presetid": None,
            "channels": [
                {
                    "integration": "webhook",
                    "triggerlimit": None,
                    "immediate": None,
                    "emails": None,
                    "headers": [{"key": "X-Token", "value": "t"}],
                }
            ],
            "threshold": None,
        }
    )
    assert restored == {
        "name": "v",
        "levels": ["error"],
        "channels": [{"integration": "webhook", "headers": {"X-Token": "t"}}],
    }


def test_everything_zod_schemas() -> None:
    notify = sanitized(load_fixture(FIXTURES / "everything_zod4_send_notification.json")["inputSchema"])
    props = notify["properties"]
    assert props["headers"]["anyOf"][0]["items"] == pairs_of({"type": "string"})
    assert [b["properties"]["kind"]["const"] for b in props["target"]["anyOf"]] == ["user", "group"]
    assert props["sendAt"]["anyOf"][0] == {"type": "string", "pattern": "^\\d{4}-\\d{2}-\\d{2}T", "format": "date-time"}
    assert "$schema" not in notify


# --------------------------------------------------------------------------------------------------
# sanitize_tool_name (restricted to OpenAI's ^[a-zA-Z0-9_-]{1,64}$).


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("get weather", "get_weather"),
        ("ns.tool/v2", "ns_tool_v2"),
        ("__x__", "x"),
        ("123_tool", "tool_123_tool"),
        ("***", "tool_"),
        ("", "tool_"),
        ("café", "cafe"),
        ("naïve-größe", "naive-gro_e"),
        ("日本語", "tool_"),
        ("get-sum", "get-sum"),
        ("a" * 80, "a" * 64),
        ("9" * 80, "tool_" + "9" * 59),
    ],
)
def test_sanitize_tool_name(name: str, expected: str) -> None:
    assert sanitize_tool_name(name) == expected


@given(st.text())
def test_sanitized_tool_names_are_valid(name: str) -> None:
    result = sanitize_tool_name(name)
    assert 1 <= len(result) <= 64
    assert all(c.isascii() and (c.isalnum() or c in "_-") for c in result)


# --------------------------------------------------------------------------------------------------
# Properties over generated schemas.

PROPERTY_NAMES = st.sampled_from(
    ["a", "b", "c", "id", "key", "value", "items", "type", "$ref", "additional_properties", "x y", "ñ"]
)
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.text(max_size=3))
SCALAR_TYPES = st.sampled_from(["string", "integer", "number", "boolean", "null"])
ANNOTATIONS = st.fixed_dictionaries(
    {},
    optional={
        "description": st.text(max_size=6),
        "title": st.text(max_size=4),
        "default": JSON_SCALARS,
        "examples": st.lists(JSON_SCALARS, max_size=2),
    },
)


def annotated(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.tuples(strategy, ANNOTATIONS).map(lambda p: {**p[1], **p[0]} if isinstance(p[0], dict) else p[0])


def leaf_schemas(refs: tuple[str, ...], *, faithful: bool) -> st.SearchStrategy[Any]:
    """Scalars, enums, consts, formats, "any" and references to the generated definitions."""
    options: list[st.SearchStrategy[Any]] = [
        SCALAR_TYPES.map(lambda t: {"type": t}),
        st.lists(SCALAR_TYPES, min_size=1, max_size=3, unique=True).map(lambda ts: {"type": ts}),
        st.lists(st.one_of(st.none(), st.text(max_size=3)), min_size=1, max_size=3, unique=True).map(
            lambda e: {"enum": e}
        ),
        st.sampled_from(["x", 1, True]).map(lambda c: {"const": c}),
        st.sampled_from(["email", "date-time", "uri", "uuid"]).map(lambda f: {"type": "string", "format": f}),
        st.sampled_from([{}, True]),
    ]
    if not faithful:
        options += [
            st.just({"const": None}),
            st.just({"type": "string", "nullable": True}),
            st.just({"type": "string", "enum": ["a", "b"], "nullable": True}),
            st.just({"type": "integer", "minimum": 0, "exclusiveMinimum": True, "maximum": 9}),
            st.just({"minLength": 1, "maxLength": 3}),
            st.just({"type": "any"}),
            st.just({"$ref": "https://example.com/remote.json"}),
            st.just({"$ref": "#/$defs/missing"}),
            st.just(False),
        ]
        if refs:
            options.append(st.sampled_from(refs).map(lambda r: {"$ref": r}))
            options.append(st.sampled_from(refs).map(lambda r: {"$ref": r, "description": "see"}))
    return annotated(st.one_of(options))


@st.composite
def object_schemas(draw: st.DrawFn, children: st.SearchStrategy[Any], *, faithful: bool) -> dict[str, Any]:
    properties = draw(st.dictionaries(PROPERTY_NAMES, children, max_size=4))
    names = list(properties)
    required = draw(st.lists(st.sampled_from(names), unique=True)) if names else []
    if not faithful and draw(st.booleans()):
        required.append("ghost")
    schema: dict[str, Any] = {}
    kind = draw(st.sampled_from(["object", "untyped", "object-or-null"]))
    if kind != "untyped":
        schema["type"] = "object" if kind == "object" else ["object", "null"]
    if properties or draw(st.booleans()):
        schema["properties"] = properties
    if required or draw(st.booleans()):
        schema["required"] = required
    extra = draw(st.sampled_from(["absent", "true", "false", "schema", "patterns"]))
    if extra == "true":
        schema["additionalProperties"] = True
    elif extra == "false":
        schema["additionalProperties"] = False
    elif extra == "schema":
        schema["additionalProperties"] = draw(children)
    elif extra == "patterns" and not (faithful and properties):
        # Faithful: one pattern, as a key matching two would need both value schemas at once.
        patterns = st.dictionaries(st.sampled_from(["^a", "^b$", "x"]), children, max_size=1 if faithful else 2)
        schema["patternProperties"] = draw(patterns)
    if not faithful:
        schema.update(
            draw(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "minProperties": st.just(1),
                        "not": children,
                        "if": children,
                        "then": children,
                        "propertyNames": st.just({"pattern": "^[a-z]"}),
                        "dependentRequired": st.just({"a": ["b"]}),
                        "dependentSchemas": st.dictionaries(PROPERTY_NAMES, children, max_size=1),
                        "unevaluatedProperties": st.just(False),
                    },
                )
            )
        )
    return schema


def array_schemas(children: st.SearchStrategy[Any], *, faithful: bool) -> st.SearchStrategy[Any]:
    options: list[st.SearchStrategy[Any]] = [
        children.map(lambda c: {"type": "array", "items": c}),
        st.just({"type": "array"}),
        st.sampled_from([True, False]).map(lambda b: {"type": "array", "items": b}),
        children.map(lambda c: {"items": c}),
    ]
    if not faithful:
        options += [
            st.lists(children, max_size=3).map(lambda cs: {"type": "array", "items": cs}),
            st.tuples(st.lists(children, max_size=2), children).map(
                lambda p: {"type": "array", "prefixItems": p[0], "items": p[1]}
            ),
            children.map(lambda c: {"type": "array", "items": c, "minItems": 1, "maxItems": 3, "uniqueItems": True}),
        ]
    return st.one_of(options)


def combinator_schemas(children: st.SearchStrategy[Any], *, faithful: bool) -> st.SearchStrategy[Any]:
    branches = st.lists(children, min_size=1, max_size=3)
    options: list[st.SearchStrategy[Any]] = [
        branches.filter(lambda bs: any(b is not False for b in bs)).map(lambda bs: {"anyOf": bs}),
        children.map(lambda c: {"anyOf": [c, {"type": "null"}]}),
    ]
    if not faithful:
        options += [
            branches.map(lambda bs: {"oneOf": bs}),
            branches.map(lambda bs: {"allOf": bs}),
            st.tuples(branches, branches).map(lambda p: {"allOf": [{"anyOf": p[0]}, {"oneOf": p[1]}]}),
            SCALAR_TYPES.map(lambda t: {"anyOf": [{"type": t}, {"type": "null"}], "type": t, "default": None}),
            st.dictionaries(PROPERTY_NAMES, children, min_size=1, max_size=3).map(
                lambda props: {"type": "object", "properties": props, "anyOf": [{"required": [n]} for n in props]}
            ),
            st.tuples(children, children).map(
                lambda p: {"anyOf": [{"required": ["s"]}, {"properties": {"t": p[0]}}], "properties": {"s": p[1]}}
            ),
        ]
    return st.one_of(options)


@functools.cache
def schemas(refs: tuple[str, ...], *, faithful: bool) -> st.SearchStrategy[Any]:
    """Arbitrary schemas; cached so that hypothesis builds (and describes) each strategy once."""

    def extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return annotated(
            st.one_of(
                object_schemas(children, faithful=faithful),
                array_schemas(children, faithful=faithful),
                combinator_schemas(children, faithful=faithful),
            )
        )

    return st.recursive(leaf_schemas(refs, faithful=faithful), extend, max_leaves=6)


@functools.cache
def faithful_with_refs(refs: tuple[str, ...]) -> st.SearchStrategy[Any]:
    """Faithful schemas may use definitions only as array items, so that values stay finite."""
    base = schemas((), faithful=True)
    if not refs:
        return base
    ref_arrays = st.sampled_from(refs).map(lambda r: {"type": "array", "items": {"$ref": r}})
    return st.one_of(base, ref_arrays, object_schemas(st.one_of(base, ref_arrays), faithful=True))


@functools.cache
def objects_of(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return object_schemas(children, faithful=False)


@st.composite
def tool_schemas(draw: st.DrawFn, *, faithful: bool = False) -> dict[str, Any]:
    """A root object schema with definitions; "faithful" ones avoid every lossy feature."""
    def_names = draw(st.lists(st.sampled_from(["Node", "Item", "Meta Data"]), unique=True, max_size=3))
    container = "$defs" if faithful else draw(st.sampled_from(["$defs", "definitions"]))
    refs = tuple(f"#/{container}/{name}" for name in def_names)
    if faithful:
        children = faithful_with_refs(refs)
        defs = {name: draw(object_schemas(children, faithful=True)) for name in def_names}
        root = draw(object_schemas(children, faithful=True))
    else:
        if refs and draw(st.booleans()):
            refs += ("#",)
        children = schemas(refs, faithful=False)
        defs = {name: draw(children) for name in def_names}
        one_object = objects_of(children)
        root = draw(
            st.one_of(
                one_object,
                st.lists(one_object, min_size=1, max_size=3).map(lambda bs: {"anyOf": bs}),
                st.lists(one_object, min_size=1, max_size=2).map(lambda bs: {"allOf": bs}),
                st.lists(one_object, min_size=1, max_size=2).map(lambda bs: {"oneOf": bs}),
            )
        )
    if defs:
        root[container] = defs
    return root


def reachable_property_names(schema: Mapping[str, Any]) -> set[str]:
    """Names reachable through properties/items/anyOf/oneOf/allOf/$ref."""
    found: set[str] = set()
    seen_refs: set[str] = set()
    todo: list[Any] = [schema]
    while todo:
        node = todo.pop()
        if not isinstance(node, Mapping):
            continue
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#") and ref not in seen_refs:
            seen_refs.add(ref)
            todo.append(resolve_pointer(schema, ref))
        if isinstance(node.get("properties"), Mapping):
            found.update(node["properties"])
            todo.extend(node["properties"].values())
        if isinstance(node.get("items"), Mapping):
            todo.append(node["items"])
        for key in ("items", "prefixItems", "anyOf", "oneOf", "allOf"):
            if isinstance(node.get(key), list):
                todo.extend(node[key])
    return found


def has_false_schema(schema: Any) -> bool:
    """Whether a `false` subschema occurs: what it forbids (and what it meets) may rightly vanish."""
    if isinstance(schema, list):
        return any(s is False or has_false_schema(s) for s in schema)
    if not isinstance(schema, Mapping):
        return False
    for key, value in schema.items():
        if key in ("default", "examples", "enum", "const", "additionalProperties", "unevaluatedProperties"):
            continue
        if value is False and key != "uniqueItems":
            return True
        if isinstance(value, Mapping) and key in (
            "properties",
            "$defs",
            "definitions",
            "dependentSchemas",
            "patternProperties",
        ):
            if any(v is False or has_false_schema(v) for v in value.values()):
                return True
        elif has_false_schema(value):
            return True
    return False


def resolve_pointer(root: Mapping[str, Any], ref: str) -> Any:
    node: Any = root
    for raw in ref[2:].split("/") if ref != "#" else []:
        token = raw.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or token not in node:
            return None
        node = node[token]
    return node


def output_property_names(schema: Any) -> set[str]:
    """Every property name anywhere in a sanitized schema (data keywords skipped)."""
    found: set[str] = set()
    todo = [schema]
    while todo:
        node = todo.pop()
        if isinstance(node, list):
            todo.extend(node)
        elif isinstance(node, Mapping):
            for key, value in node.items():
                if key in ("default", "examples", "enum", "const"):
                    continue
                if key == "properties" and isinstance(value, Mapping):
                    found.update(value)
                    todo.extend(value.values())
                else:
                    todo.append(value)
    return found


def draw_value(data: st.DataObject, schema: Any, defs: Mapping[str, Any], depth: int = 0) -> Any:
    """A value for a strict schema; past a depth it takes the shortest way out (null, [], {})."""
    deep = depth > 5
    assume(depth < 60)  # a recursive schema whose every way out is another reference: no finite value to draw
    if "$ref" in schema:
        return draw_value(data, defs[schema["$ref"].rsplit("/", 1)[-1]], defs, depth + 1)
    if "anyOf" in schema:
        branches = schema["anyOf"]
        if deep:
            shallow = [b for b in branches if "$ref" not in b and b.get("type") in ("null", "string", "boolean")]
            direct = [b for b in branches if "$ref" not in b]
            branches = shallow or direct or branches
        return draw_value(data, data.draw(st.sampled_from(branches)), defs, depth + 1)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return data.draw(st.sampled_from(schema["enum"]))
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    if deep and "null" in types:
        return None
    kind = data.draw(st.sampled_from(types))
    if kind == "null":
        return None
    if kind == "boolean":
        return data.draw(st.booleans())
    if kind == "integer":
        return data.draw(st.integers(-5, 5))
    if kind == "number":
        return data.draw(st.one_of(st.integers(-5, 5), st.floats(-5, 5, allow_nan=False)))
    if kind == "string":
        return data.draw(st.text(max_size=4))
    if kind == "array":
        low = schema.get("minItems", 0)
        high = min(schema.get("maxItems", 2), 0 if deep else 2)
        size = data.draw(st.integers(low, max(low, high)))
        return [draw_value(data, schema["items"], defs, depth + 1) for _ in range(size)]
    if deep:
        return {}
    return {name: draw_value(data, sub, defs, depth + 1) for name, sub in schema["properties"].items()}


def sanitize_or_reject(schema: Mapping[str, Any]) -> SanitizedSchema:
    """Sanitize, discarding the (rare) generated roots that are not objects."""
    rejection = ""
    try:
        return sanitize_tool_schema(schema)
    except SchemaRejected as error:
        rejection = str(error)
    assert rejection.startswith("Invalid MCP tool schema: root must be type 'object'")
    assume(False)
    raise AssertionError("unreachable")


PROPERTIES = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


@PROPERTIES
@given(tool_schemas())
def test_output_is_strict_idempotent_and_loses_no_property(schema: dict[str, Any]) -> None:
    before = copy.deepcopy(schema)
    result = sanitize_or_reject(schema)
    assert schema == before, "input mutated"
    assert check_strict_schema(result.schema) == []
    assert sanitize_tool_schema(result.schema).schema == result.schema
    if not has_false_schema(schema):
        assert reachable_property_names(schema) <= output_property_names(result.schema)
    assert json.loads(json.dumps(result.schema)) == result.schema


@PROPERTIES
@given(tool_schemas(), st.data())
def test_restore_accepts_any_strict_value(schema: dict[str, Any], data: st.DataObject) -> None:
    result = sanitize_or_reject(schema)
    arguments = draw_value(data, result.schema, result.schema.get("$defs", {}))
    before = copy.deepcopy(arguments)
    restored = result.restore_arguments(arguments)
    assert arguments == before, "arguments mutated"
    assert isinstance(restored, dict)
    if not any(k in schema for k in ("anyOf", "oneOf", "allOf", "$ref")):
        required = set(schema.get("required", [])) if isinstance(schema.get("required"), list) else set()
        optional = set(result.schema["properties"]) - required
        assert not [k for k, v in restored.items() if k in optional and v is None]


@PROPERTIES
@given(tool_schemas(faithful=True), st.data())
def test_restored_arguments_are_valid_for_the_original_schema(schema: dict[str, Any], data: st.DataObject) -> None:
    result = sanitize_tool_schema(schema)
    arguments = draw_value(data, result.schema, result.schema.get("$defs", {}))
    assume(Draft202012Validator(result.schema).is_valid(arguments))
    restored = result.restore_arguments(arguments)
    errors = [e.message for e in Draft202012Validator(schema).iter_errors(restored)]
    assert errors == [], (arguments, restored)


def test_checker_catches_violations() -> None:
    assert check_strict_schema({"type": "object", "properties": {}, "additionalProperties": False}) == []
    problems = check_strict_schema(
        {
            "type": "object",
            "properties": {
                "a": {"oneOf": [{"type": "string"}]},
                "b": True,
                "c": {"description": "untyped"},
                "d": {"type": "object", "properties": {"e": {"type": "string"}}},
                "f": {"$ref": "#/$defs/missing"},
                "g": {"type": "array", "items": [{"type": "string"}]},
            },
            "required": ["a", "b", "c", "d", "f"],
            "additionalProperties": False,
        }
    )
    expected = [
        "#/properties/a: keyword 'oneOf'",
        "#/properties/b: boolean schema",
        "#/properties/c: no type",
        "#/properties/d: object without additionalProperties",
        "#/properties/d: required",
        "#/properties/f: $ref",
        "#/properties/g: tuple-form items",
        "#: required",
    ]
    assert len(problems) == len(expected) + 1  # `a` has no type either
    for fragment in expected:
        assert any(p.startswith(fragment) for p in problems), fragment
    assert check_strict_schema({"type": "string"}) == ["#: root must have type 'object', got 'string'"]
    root_any_of = {"type": "object", "anyOf": [NULL], "properties": {}, "additionalProperties": False}
    assert check_strict_schema(root_any_of) == ["#: anyOf is not allowed at the root"]
