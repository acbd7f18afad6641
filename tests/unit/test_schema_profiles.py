"""Tool-schema profiles: for every provider, over generated schemas, the output is valid for that provider,
converting it again changes nothing, no property is lost, and restored arguments suit the tool's own schema."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import pytest
from google.genai import types as genai_types
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from llama_cpp.llama_grammar import json_schema_to_gbnf
from ollama._types import Tool as OllamaTool

from aura.domain.schema_profiles import (
    ANTHROPIC,
    BEDROCK,
    GEMINI,
    LLAMA_CPP,
    OLLAMA,
    OLLAMA_PROPERTY_KEYWORDS,
    OPENAI,
    JsonSchemaProfile,
    ToolSchemas,
    openai_strict_problems,
)
from aura.domain.schema_sanitizer import SchemaRejected, sanitize_tool_schema
from aura.domain.tools import ToolSpec
from tests.unit.strict_schema_checker import check_strict_schema
from tests.unit.test_schema_sanitizer import (
    draw_value,
    has_false_schema,
    output_property_names,
    reachable_property_names,
    tool_schemas,
)

# A fixed example sequence, so CI does not fail on a new random find; run with `--hypothesis-seed=N` (or drop
# `derandomize`) to explore further. Random runs have found counterexamples that are not fixed yet: see
# docs/adr/0016-tool-schema-profiles.md, "Known gaps".
PROPERTIES = settings(
    max_examples=100,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
JSON_PROFILES = [ANTHROPIC, BEDROCK, GEMINI, OLLAMA, LLAMA_CPP]
ALL_PROFILES = [OPENAI, *JSON_PROFILES]


def refs_in(node: Any) -> list[str]:
    if isinstance(node, list):
        return [r for item in node for r in refs_in(item)]
    if not isinstance(node, Mapping):
        return []
    found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
    for key, value in node.items():
        if key not in ("enum", "const", "default", "examples"):
            found += refs_in(value)
    return found


def has_key(node: Any, key: str) -> bool:
    if isinstance(node, list):
        return any(has_key(item, key) for item in node)
    if not isinstance(node, Mapping):
        return False
    return key in node or any(has_key(v, key) for k, v in node.items() if k not in ("enum", "const", "default"))


def ollama_property_problems(prop: Any, path: str) -> list[str]:
    if not isinstance(prop, Mapping):
        return []
    problems = [f"{path}: {key} is dropped by the Ollama server" for key in set(prop) - OLLAMA_PROPERTY_KEYWORDS]
    for name, sub in (prop.get("properties") or {}).items():
        problems += ollama_property_problems(sub, f"{path}/{name}")
    for i, sub in enumerate(prop.get("anyOf") or []):
        problems += ollama_property_problems(sub, f"{path}/anyOf/{i}")
    return problems


def assert_valid_for_provider(profile_name: str, schema: dict[str, Any], strict: bool) -> None:
    """What each provider's API accepts, checked with the provider's own types where there are some."""
    assert schema["type"] == "object"
    assert not {"anyOf", "oneOf", "allOf", "$ref"} & set(schema), "a combinator or reference at the root"
    assert json.loads(json.dumps(schema)) == schema
    if strict:
        assert check_strict_schema(schema) == []
        assert openai_strict_problems(schema) == []
        return
    Draft202012Validator.check_schema(schema)
    for ref in refs_in(schema):
        assert ref.startswith("#"), ref
    if profile_name == "gemini":
        genai_types.JSONSchema.model_validate(schema)
        defs = schema.get("$defs", {})
        assert all(ref.startswith("#/$defs/") and ref[8:] in defs for ref in refs_in(schema))
        assert not any(has_key(body, "$defs") for body in defs.values()), "definitions only at the root"
    elif profile_name == "ollama":
        OllamaTool.Function.Parameters.model_validate(schema)
        for name, prop in (schema.get("properties") or {}).items():
            assert ollama_property_problems(prop, name) == []
    elif profile_name == "llamacpp":
        # llama-cpp-python reads any `$ref` key as a reference, even a property of that name: such schemas are out
        assume(not any(not isinstance(node.get("$ref", ""), str) for node in dict_nodes(schema)))
        json_schema_to_gbnf(json.dumps(schema))  # llama.cpp's grammar builder compiles it


def dict_nodes(node: Any) -> list[Mapping[str, Any]]:
    if isinstance(node, list):
        return [found for item in node for found in dict_nodes(item)]
    if not isinstance(node, Mapping):
        return []
    return [node, *(found for value in node.values() for found in dict_nodes(value))]


def convert_or_reject(profile: Any, schema: Mapping[str, Any]) -> Any:
    rejection = ""
    try:
        return profile.to_provider(schema)
    except SchemaRejected as error:
        rejection = str(error)
    assert rejection.startswith("Invalid MCP tool schema: root must be type 'object'")
    assume(False)
    raise AssertionError("unreachable")


@pytest.mark.parametrize("profile", ALL_PROFILES, ids=lambda p: p.name)
@PROPERTIES
@given(schema=tool_schemas())
def test_every_profile_is_valid_for_its_provider_idempotent_and_loses_no_property(
    profile: Any, schema: dict[str, Any]
) -> None:
    if profile is LLAMA_CPP:
        # llama-cpp-python reads every key named `$ref` as a reference, even a property of that name
        assume("$ref" not in output_property_names(schema))
    before = copy.deepcopy(schema)
    provider = convert_or_reject(profile, schema)
    assert schema == before, "input mutated"
    assert_valid_for_provider(profile.name, provider.schema, provider.strict)
    again = profile.to_provider(provider.schema)
    assert (again.schema, again.strict) == (provider.schema, provider.strict)
    if not has_false_schema(schema):
        assert reachable_property_names(schema) <= output_property_names(provider.schema)


@PROPERTIES
@given(schema=tool_schemas(faithful=True), data=st.data())
def test_arguments_valid_for_the_tool_are_accepted_by_every_profile_and_restored_unchanged(
    schema: dict[str, Any], data: st.DataObject
) -> None:
    # A value the tool accepts: drawn from the strict rewrite, then restored (as the OpenAI profile does).
    strict = OPENAI.to_provider(schema)
    assume(strict.strict)
    value = draw_value(data, strict.schema, strict.schema.get("$defs", {}))
    assume(Draft202012Validator(strict.schema).is_valid(value))
    arguments = strict.restore_arguments(value)
    assert Draft202012Validator(schema).is_valid(arguments), (value, arguments)
    for profile in JSON_PROFILES:
        provider = profile.to_provider(schema)
        assert Draft202012Validator(provider.schema).is_valid(arguments), profile.name  # nothing over-constrained
        restored = provider.restore_arguments(copy.deepcopy(arguments))
        assert restored == arguments
        assert Draft202012Validator(schema).is_valid(restored), profile.name


def test_openai_strict_opt_out_and_limits() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}, "tags": {"type": "array"}}}
    strict = OPENAI.to_provider(schema)
    assert strict.strict
    assert strict.restore_arguments({"n": None, "tags": None}) == {}
    loose = OPENAI.to_provider(schema, strict=False)
    assert not loose.strict
    assert not loose.restores
    # non-strict OpenAI still refuses an array without `items`
    assert loose.schema == {
        "type": "object",
        "properties": {"n": {"type": "integer"}, "tags": {"type": "array", "items": {}}},
    }

    wide = {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(5001)}}
    too_wide = OPENAI.to_provider(wide)
    assert not too_wide.strict
    assert too_wide.note is not None
    assert "5001 properties" in too_wide.note
    assert too_wide.schema == wide

    deep: dict[str, Any] = {"type": "string"}
    for _ in range(11):
        deep = {"type": "object", "properties": {"x": deep}, "required": ["x"]}
    assert not OPENAI.to_provider(deep).strict
    assert "nested 11 deep" in " ".join(openai_strict_problems(sanitize_tool_schema(deep).schema))


def test_gemini_hoists_every_reference_into_the_root_defs() -> None:
    schema = {
        "type": "object",
        "properties": {
            "self": {"type": "array", "items": {"$ref": "#"}},
            "other": {"$ref": "#/properties/name"},
            "name": {"type": "string"},
        },
    }
    out = GEMINI.to_provider(schema).schema
    assert out["properties"]["self"]["items"] == {"$ref": "#/$defs/Root"}
    assert out["properties"]["other"] == {"$ref": "#/$defs/name"}
    assert out["$defs"]["name"] == {"type": "string"}
    assert set(out["$defs"]["Root"]["properties"]) == {"self", "other", "name"}
    genai_types.JSONSchema.model_validate(out)


def test_llama_cpp_gets_typed_nodes_and_no_pattern() -> None:
    schema = {
        "type": "object",
        "properties": {
            "any": {"description": "anything"},
            "code": {"type": "string", "pattern": "[A-Z]{3}"},
            "n": {"minimum": 1},
            "nope": False,
        },
    }
    out = LLAMA_CPP.to_provider(schema).schema
    assert out["properties"]["any"]["type"] == ["string", "number", "integer", "boolean", "object", "array", "null"]
    assert out["properties"]["code"] == {"type": "string", "description": "(Constraints: pattern=[A-Z]{3})"}
    assert out["properties"]["n"] == {"minimum": 1, "type": "number"}
    assert "nope" not in out["properties"]
    json_schema_to_gbnf(json.dumps(out))


def test_tool_schemas_convert_each_schema_once_and_leave_rejected_tools_out(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[Mapping[str, Any]] = []

    class Counting(JsonSchemaProfile):
        def to_provider(self, schema: Mapping[str, Any], *, strict: bool | None = None) -> Any:
            calls.append(schema)
            return super().to_provider(schema, strict=strict)

    schemas = ToolSchemas(Counting("counting"))
    params = {"type": "object", "properties": {"q": {"type": "string"}}}
    good, bad = ToolSpec("good", "", params), ToolSpec("bad", "", {"type": "string"})
    first = schemas.offer([good, bad])
    second = schemas.offer([ToolSpec("good_renamed", "", params), bad])
    assert [tool.spec.name for tool in first.tools] == ["good"]
    assert [tool.spec.name for tool in second.tools] == ["good_renamed"]
    assert first.tools[0].provider is second.tools[0].provider
    assert len(calls) == 2  # once per schema object, however often it is offered
    assert sum("'bad' is not offered" in r.getMessage() for r in caplog.records) == 1


def test_tool_schemas_answer_the_same_tools_tuple_with_the_same_offer() -> None:
    schemas = ToolSchemas(OPENAI)
    params = {"type": "object", "properties": {"q": {"type": "string"}}}
    tools = (ToolSpec("search", "", params), ToolSpec("other", "", params))

    first = schemas.offer(tools)
    assert schemas.offer(tools) is first  # an agent's registry hands out one tuple until its tools change
    renamed = schemas.offer((ToolSpec("search", "", params), ToolSpec("renamed", "", params)))
    assert [tool.spec.name for tool in renamed.tools] == ["search", "renamed"]
    assert schemas.offer(list(tools)) is not first  # a list may change in place: never answered from memory
    assert [tool.spec.name for tool in schemas.offer(list(tools)).tools] == ["search", "other"]
