"""Tool-schema profiles: the schema each model provider gets for a tool, and the way back for its arguments.

Toolsets (MCP servers, Python functions, built-in tools) hand over a tool's own JSON Schema. The model
adapter picks its provider's `SchemaProfile`, which turns that schema into what the provider's API accepts
with as little loss as it can (`SchemaProfile.to_provider`), and the returned `ProviderSchema` turns the
model's arguments back into the tool's own shape (`ProviderSchema.restore_arguments`). The adapter applies
the restore to every `ToolCallReady` it emits (`OfferedTools.restoring`), so the domain, the clients that see
tool calls and the toolsets all see arguments in the tool's own shape, whichever provider produced them.

Profiles (one per provider; see docs/adr/0016-tool-schema-profiles.md):

* `OPENAI` — OpenAI strict function calling: the strict rewrite of `schema_sanitizer`, sent with
  ``"strict": true`` when it meets every strict rule and limit (`openai_strict_problems`); otherwise the
  tool's own schema, non-strict. Only this profile restores arguments (nullable optionals, maps as pairs).
* `ANTHROPIC`, `BEDROCK` — JSON Schema as it is, normalized to draft 2020-12 (which Anthropic validates
  tool schemas against): a plain object root, draft-4 boolean ``exclusiveMinimum``/``exclusiveMaximum``
  and tuple-form ``items`` in their 2020-12 spelling, remote ``$ref`` dropped.
* `GEMINI` — the JSON Schema subset of Gemini's ``parametersJsonSchema`` (the fields of google-genai's
  ``JSONSchema`` type): ``const`` as a one-value ``enum``, ``allOf`` merged, tuples and pattern
  properties as their closest supported form, every reference into the root ``$defs``; other keywords
  are folded into the description.
* `OLLAMA` — JSON Schema, but the Ollama server reads each property into a fixed structure (``anyOf``,
  ``type``, ``items``, ``description``, ``enum``, ``properties``) and drops the rest: whatever it would drop
  (``additionalProperties``, ``minimum``, ``format``, ``$ref``, …) is written into the description instead.
* `LLAMA_CPP` — what llama-cpp-python's grammar builder (native function calling) can compile: every
  node typed, ``allOf`` merged, references into the root ``$defs``, no ``pattern`` (it only takes
  anchored patterns of a regex subset).

All of them are pure functions of the schema, idempotent, and never lose a property.
"""

from __future__ import annotations

import copy
import json
import logging
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from typing import Any, Final, Protocol

import attrs

from aura.domain.events import ModelEvent, ToolCallReady
from aura.domain.messages import ToolCall
from aura.domain.schema_sanitizer import (
    SchemaRejected,
    _merge,
    _note_value,
    object_root,
    sanitize_tool_schema,
)
from aura.domain.tools import ToolSpec

__all__ = [
    "ANTHROPIC",
    "BEDROCK",
    "GEMINI",
    "LLAMA_CPP",
    "OLLAMA",
    "OPENAI",
    "JsonSchemaProfile",
    "OfferedTool",
    "OfferedTools",
    "OpenAIStrictProfile",
    "ProviderSchema",
    "SchemaProfile",
    "ToolSchemas",
    "openai_strict_problems",
]

logger = logging.getLogger(__name__)

JsonSchema = dict[str, Any]
ArgumentRestorer = Callable[[dict[str, Any]], dict[str, Any]]


@attrs.frozen(eq=False)
class ProviderSchema:
    """A tool's schema as one provider gets it, and how its arguments go back to the tool's shape.

    `strict` says the provider is asked to enforce the schema (OpenAI ``"strict": true``). `note` says why
    a profile could not do better (e.g. why a tool is not strict), for the operator's log.
    """

    schema: JsonSchema
    strict: bool = False
    restorer: ArgumentRestorer | None = None
    note: str | None = None

    @property
    def restores(self) -> bool:
        return self.restorer is not None

    def restore_arguments(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The model's arguments in the tool's own shape (the input is not modified)."""
        return self.restorer(arguments) if self.restorer is not None else arguments


class SchemaProfile(Protocol):
    """How one provider gets tool schemas. Implementations are pure and cheap to share."""

    @property
    def name(self) -> str: ...

    def to_provider(self, schema: Mapping[str, Any], *, strict: bool | None = None) -> ProviderSchema:
        """The provider's schema for a tool's own ``schema``.

        ``strict=False`` (a tool or server that opted out) forbids a strict rewrite; None lets the profile
        decide. Raises `SchemaRejected` when ``schema`` cannot describe arguments (its root is no object).
        """
        ...


# --------------------------------------------------------------------------------------------------
# OpenAI: the strict rewrite, sent as strict when it meets every rule.

# OpenAI's documented limits for strict schemas.
OPENAI_MAX_PROPERTIES: Final = 5000
OPENAI_MAX_NESTING: Final = 10
OPENAI_MAX_ENUM_VALUES: Final = 1000
OPENAI_MAX_LARGE_ENUM_CHARS: Final = 15_000  # one string enum of more than 250 values
OPENAI_MAX_TOTAL_CHARS: Final = 120_000  # property names, definition names, enum and const values
_LARGE_ENUM: Final = 250
_STRICT_BANNED: Final = frozenset(
    {
        "oneOf",
        "allOf",
        "not",
        "if",
        "then",
        "else",
        "patternProperties",
        "unevaluatedProperties",
        "unevaluatedItems",
        "propertyNames",
        "dependentSchemas",
        "dependentRequired",
        "minProperties",
        "maxProperties",
        "prefixItems",
        "contains",
        "default",
        "$schema",
    }
)
_JSON_TYPES: Final = frozenset({"string", "number", "integer", "boolean", "null", "object", "array"})


def openai_strict_problems(schema: Any) -> list[str]:
    """Why OpenAI would refuse ``schema`` with ``"strict": true`` (empty when it would accept it).

    Checks the structural rules (closed objects, every property required, no banned keyword, every node
    typed, local references only, no ``$ref`` siblings) and the size limits OpenAI documents.
    """
    if not isinstance(schema, Mapping):
        return ["#: the root is not an object schema"]
    checker = _StrictChecker(schema)
    if schema.get("type") != "object":
        checker.problems.append("#: the root must have type 'object'")
    if "anyOf" in schema:
        checker.problems.append("#: anyOf is not allowed at the root")
    checker.node(schema, "#", 1)
    checker.limits()
    return checker.problems


class _StrictChecker:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.problems: list[str] = []
        self.properties = 0
        self.enum_values = 0
        self.chars = 0
        self.depth = 0

    def limits(self) -> None:
        if self.properties > OPENAI_MAX_PROPERTIES:
            self.problems.append(f"#: {self.properties} properties (OpenAI allows {OPENAI_MAX_PROPERTIES})")
        if self.depth > OPENAI_MAX_NESTING:
            self.problems.append(f"#: objects nested {self.depth} deep (OpenAI allows {OPENAI_MAX_NESTING})")
        if self.enum_values > OPENAI_MAX_ENUM_VALUES:
            self.problems.append(f"#: {self.enum_values} enum values (OpenAI allows {OPENAI_MAX_ENUM_VALUES})")
        if self.chars > OPENAI_MAX_TOTAL_CHARS:
            self.problems.append(
                f"#: {self.chars} characters of names and values (OpenAI allows {OPENAI_MAX_TOTAL_CHARS})"
            )

    def node(self, node: Any, path: str, depth: int) -> None:
        if not isinstance(node, Mapping):
            self.problems.append(f"{path}: a schema must be an object")
            return
        self.problems.extend(f"{path}: keyword {key!r} is not allowed" for key in sorted(_STRICT_BANNED & set(node)))
        types = node.get("type")
        type_list = [types] if isinstance(types, str) else types if isinstance(types, list) else None
        if types is not None and (not type_list or any(t not in _JSON_TYPES for t in type_list)):
            self.problems.append(f"{path}: invalid type {types!r}")
        if types is None and not any(k in node for k in ("anyOf", "$ref", "enum", "const")):
            self.problems.append(f"{path}: no type")
        if "$ref" in node:
            self._ref(node, path)
        self._values(node, path)
        if type_list and "object" in type_list:
            self._object(node, path, depth)
        if "items" in node:
            self.node(node["items"], f"{path}/items", depth)
        if "anyOf" in node:
            branches = node["anyOf"]
            if not isinstance(branches, list) or not branches:
                self.problems.append(f"{path}: anyOf must be a non-empty list")
            else:
                for i, branch in enumerate(branches):
                    self.node(branch, f"{path}/anyOf/{i}", depth)
        defs = node.get("$defs")
        if isinstance(defs, Mapping):
            for name, sub in defs.items():
                self.chars += len(name)
                self.node(sub, f"{path}/$defs/{name}", depth)
        elif defs is not None:
            self.problems.append(f"{path}: $defs must be an object")
        if "definitions" in node:
            self.problems.append(f"{path}: definitions belong in $defs")

    def _ref(self, node: Mapping[str, Any], path: str) -> None:
        ref = node["$ref"]
        if len(node) > 1:
            self.problems.append(f"{path}: $ref with sibling keywords")
        if not isinstance(ref, str) or _pointer_target(self.root, ref) is _MISSING:
            self.problems.append(f"{path}: $ref {ref!r} does not resolve")

    def _values(self, node: Mapping[str, Any], path: str) -> None:
        enum = node.get("enum")
        if isinstance(enum, list):
            self.enum_values += len(enum)
            strings = [v for v in enum if isinstance(v, str)]
            self.chars += sum(len(v) for v in strings)
            if len(enum) > _LARGE_ENUM and sum(len(v) for v in strings) > OPENAI_MAX_LARGE_ENUM_CHARS:
                self.problems.append(
                    f"{path}: enum of {len(enum)} values is over {OPENAI_MAX_LARGE_ENUM_CHARS} characters"
                )
        if isinstance(node.get("const"), str):
            self.chars += len(node["const"])

    def _object(self, node: Mapping[str, Any], path: str, depth: int) -> None:
        self.depth = max(self.depth, depth)
        properties = node.get("properties")
        if not isinstance(properties, Mapping):
            self.problems.append(f"{path}: object without properties")
            properties = {}
        if node.get("additionalProperties") is not False:
            self.problems.append(f"{path}: object without additionalProperties: false")
        required = node.get("required", [])
        if not isinstance(required, list) or sorted(map(str, required)) != sorted(properties):
            self.problems.append(f"{path}: required must list every property once")
        self.properties += len(properties)
        for name, sub in properties.items():
            self.chars += len(name)
            self.node(sub, f"{path}/properties/{name}", depth + 1)


_MISSING: Final[Any] = object()
_MAX_MERGE_DEPTH: Final = 16
_MAX_INLININGS: Final = 64


def _pointer_target(root: Mapping[str, Any], ref: str) -> Any:
    if ref == "#":
        return root
    if not ref.startswith("#/"):
        return _MISSING
    node: Any = root
    for raw in ref[2:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return _MISSING
    return node


@attrs.frozen
class OpenAIStrictProfile:
    """OpenAI function calling: strict where the rewrite meets every strict rule, the tool's schema otherwise."""

    name: str = "openai-strict"

    def to_provider(self, schema: Mapping[str, Any], *, strict: bool | None = None) -> ProviderSchema:
        if strict is False:
            return ProviderSchema(_Rewriter(schema, _OPENAI_LOOSE).run())
        sanitized = sanitize_tool_schema(schema)
        problems = openai_strict_problems(sanitized.schema)
        if problems:
            shown = "; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else "")
            return ProviderSchema(_Rewriter(schema, _OPENAI_LOOSE).run(), note=f"sent non-strict: {shown}")
        return ProviderSchema(sanitized.schema, strict=True, restorer=sanitized.restore_arguments)


# --------------------------------------------------------------------------------------------------
# JSON Schema profiles: the tool's own schema, changed only where the provider would refuse or lose it.

# Keywords that hold subschemas, by shape.
_SINGLE: Final = (
    "items",
    "additionalProperties",
    "additionalItems",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
)
_LISTS: Final = ("anyOf", "oneOf", "allOf", "prefixItems")
_MAPS: Final = ("properties", "patternProperties", "dependentSchemas", "$defs", "definitions")
# Dropped without a note: they say nothing the model needs.
_METADATA: Final = frozenset(
    {"$schema", "$id", "$anchor", "$dynamicAnchor", "$comment", "$vocabulary", "deprecated", "readOnly", "writeOnly"}
)
_ANY_TYPES: Final = ["string", "number", "integer", "boolean", "object", "array", "null"]
_NUMERIC: Final = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
_STRING: Final = ("minLength", "maxLength", "pattern", "format")
_OBJECT: Final = ("properties", "additionalProperties", "patternProperties", "required")
_ARRAY: Final = ("items", "prefixItems", "minItems", "maxItems", "uniqueItems")
# What llama-cpp-python's grammar builder recognizes a node by (anything else needs a `type`).
_LLAMA_SHAPES: Final = ("type", "$ref", "anyOf", "oneOf", "const", "enum", "properties", "items", "prefixItems")

GEMINI_KEYWORDS: Final = frozenset(
    {
        "type",
        "format",
        "title",
        "description",
        "default",
        "items",
        "minItems",
        "maxItems",
        "enum",
        "properties",
        "required",
        "minProperties",
        "maxProperties",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "additionalProperties",
        "anyOf",
        "oneOf",
        "uniqueItems",
        "$ref",
        "$defs",
    }
)
"""The fields of google-genai's ``JSONSchema`` type: what ``parametersJsonSchema`` understands."""

OLLAMA_PROPERTY_KEYWORDS: Final = frozenset({"anyOf", "type", "items", "description", "enum", "properties", "required"})
"""What the Ollama server keeps of a property (its ``ToolProperty``; ``items`` is kept whole)."""


@attrs.frozen
class _Dialect:
    keywords: frozenset[str] | None = None  # None: every keyword
    boolean_schemas: bool = True
    const: bool = True
    all_of: bool = True
    tuples: bool = True
    pattern_properties: bool = True
    exclusive_bounds: bool = True
    patterns: bool = True
    array_items: bool = False  # an array schema must say `items` (OpenAI refuses one without)
    refs_into_defs: bool = False  # every `$ref` must be `#/$defs/<name>` of the root
    typed_nodes: bool = False  # every node needs a type or a shape keyword (llama.cpp)
    flat_properties: frozenset[str] | None = None  # Ollama: what a property keeps (the rest is described)


@attrs.frozen
class JsonSchemaProfile:
    """A provider that takes JSON Schema: the tool's own schema, normalized to what the provider accepts.

    Arguments need no restoring: every change keeps the values the tool accepts (or only widens them).
    """

    name: str
    dialect: _Dialect = attrs.field(factory=_Dialect, repr=False)

    def to_provider(self, schema: Mapping[str, Any], *, strict: bool | None = None) -> ProviderSchema:
        return ProviderSchema(_Rewriter(schema, self.dialect).run())


class _Rewriter:
    """One pass over one document for one dialect."""

    def __init__(self, schema: Mapping[str, Any], dialect: _Dialect) -> None:
        self._doc: Mapping[str, Any] = schema
        self._d = dialect
        self._def_names: dict[str, str] = {}  # pointer -> name in the output's $defs
        self._defs: dict[str, Any] = {}
        self._pending: list[tuple[str, Any]] = []
        self._inlinings = 0  # `allOf` references merged in so far (bounded: a reference may lead back to itself)

    def run(self) -> JsonSchema:
        root = object_root(self._doc)
        if not self._d.refs_into_defs:
            self._doc = root  # references stay as they are, so they must resolve in the output's root
        else:
            # The root's `$defs` keep their names (so a second pass finds them again); `definitions` and any other
            # target join them when referenced.
            defs = root.get("$defs")
            for name in defs if isinstance(defs, Mapping) else ():
                self._ref("#/$defs/" + str(name).replace("~", "~0").replace("/", "~1"))
            root = {k: v for k, v in root.items() if k not in ("$defs", "definitions")}
        out: JsonSchema = self._node(root, top=True)
        while self._pending:
            name, target = self._pending.pop(0)
            self._defs[name] = self._node(target)
        if self._defs:
            out["$defs"] = self._defs
        out["type"] = "object"
        if self._d.flat_properties is not None and isinstance(out.get("properties"), dict):
            out["properties"] = {k: self._flat(v) for k, v in out["properties"].items()}
        return out

    # ---- one node ------------------------------------------------------------------------------

    def _node(self, value: Any, *, top: bool = False) -> Any:
        if isinstance(value, bool) and self._d.boolean_schemas:
            return value
        if not isinstance(value, Mapping):
            return self._finish({})  # `true`, or not a schema at all: any value
        node = self._normalized(dict(value), 0)
        out: JsonSchema = {}
        notes: list[str] = []
        for key, item in node.items():
            if key == "$ref":
                ref = self._ref(item)
                if ref is not None:
                    out["$ref"] = ref
            elif key in _MAPS and isinstance(item, Mapping):
                if key in ("$defs", "definitions") and (self._d.refs_into_defs or not top):
                    continue  # referenced definitions are hoisted into the root's `$defs`
                if key == "properties" and not self._d.boolean_schemas:
                    item = {name: sub for name, sub in item.items() if sub is not False}  # can never be sent
                if self._keeps(key):
                    out[key] = {name: self._node(sub) for name, sub in item.items()}
            elif key in _LISTS and isinstance(item, list):
                branches = [self._node(sub) for sub in item if self._d.boolean_schemas or sub is not False]
                if self._keeps(key) and branches:
                    out[key] = branches
            elif key in _SINGLE:
                if key == "additionalProperties" and isinstance(item, bool):
                    out[key] = item
                elif key == "items" and item is False and not self._d.boolean_schemas:
                    out["maxItems"] = 0
                elif self._keeps(key):
                    out[key] = self._node(item)
            elif key in _METADATA:
                continue
            elif self._keeps(key):
                out[key] = copy.deepcopy(item)
            else:
                notes.append(f"{key}={_note_value(item)}")
        if isinstance(out.get("required"), list) and isinstance(out.get("properties"), Mapping):
            out["required"] = [r for r in out["required"] if r in out["properties"]]
        if notes:
            described = out.get("description")
            constraints = f"(Constraints: {', '.join(notes)})"
            out["description"] = (
                f"{described} {constraints}" if isinstance(described, str) and described else constraints
            )
        return self._finish(out)

    def _finish(self, node: JsonSchema) -> JsonSchema:
        if self._d.array_items and "items" not in node and "prefixItems" not in node:
            types = node.get("type")
            if types == "array" or (isinstance(types, list) and "array" in types):
                node["items"] = {}
        return self._typed(node) if self._d.typed_nodes else node

    def _keeps(self, key: str) -> bool:
        if key == "pattern" and not self._d.patterns:
            return False
        return self._d.keywords is None or key in self._d.keywords

    def _normalized(self, node: JsonSchema, depth: int) -> JsonSchema:
        """Spellings every provider reads alike, then the dialect's own rewrites."""
        d = self._d
        if not d.all_of and isinstance(node.get("allOf"), list):
            members = [self._inlined(m) for m in node.pop("allOf")]
            merged: Any = node
            for member in members:
                merged = _merge(merged, member)
            node = merged if isinstance(merged, dict) else {}
            if isinstance(node.get("allOf"), list) and depth < _MAX_MERGE_DEPTH:
                return self._normalized(node, depth + 1)
            node.pop("allOf", None)
        types = node.get("type")
        nullable = node.pop("nullable", None) is True  # OpenAPI 3.0
        if types is not None:
            listed = [types] if isinstance(types, str) else types if isinstance(types, list) else []
            valid = list(dict.fromkeys(t for t in listed if t in _ANY_TYPES))
            if nullable and valid and "null" not in valid:
                valid.append("null")
            if not valid:
                del node["type"]
            else:
                node["type"] = valid[0] if len(valid) == 1 else valid
        for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            # the draft 4 spelling: a boolean that makes `minimum`/`maximum` exclusive
            if isinstance(node.get(exclusive), bool) and node.pop(exclusive) and _is_number(node.get(bound)):
                node[exclusive] = node.pop(bound)
        if isinstance(node.get("items"), list):  # the tuple spelling before 2020-12
            prefix = node.pop("items")
            node["prefixItems"] = prefix
            extra = node.pop("additionalItems", None)
            if extra is not None:
                node["items"] = extra
        else:
            node.pop("additionalItems", None)
        if not d.const and "const" in node:
            value = node.pop("const")
            enum = node.get("enum")
            node["enum"] = ([v for v in enum if v == value] or [value]) if isinstance(enum, list) else [value]
        if not d.tuples and isinstance(node.get("prefixItems"), list):
            members = list(node.pop("prefixItems"))
            if node.get("items", False) is not False:
                members.append(node["items"])
            node["items"] = {"anyOf": members} if len(members) > 1 else (members[0] if members else {})
        if not d.pattern_properties and isinstance(node.get("patternProperties"), Mapping):
            values = list(node.pop("patternProperties").values())
            if isinstance(node.get("additionalProperties"), Mapping):
                values.insert(0, node["additionalProperties"])
            if values:
                node["additionalProperties"] = {"anyOf": values} if len(values) > 1 else values[0]
        if not d.exclusive_bounds:
            for exclusive, bound, pick in (("exclusiveMinimum", "minimum", max), ("exclusiveMaximum", "maximum", min)):
                if _is_number(node.get(exclusive)):  # kept as a note: the bound itself is the closest form
                    value = node[exclusive]
                    node[bound] = pick(value, node[bound]) if _is_number(node.get(bound)) else value
        return node

    def _inlined(self, member: Any) -> Any:
        """An ``allOf`` member that is a local reference, as the schema it points to (to be merged)."""
        if isinstance(member, Mapping) and isinstance(member.get("$ref"), str):
            if member["$ref"] == "#" or self._inlinings >= _MAX_INLININGS:
                # a recursive `allOf` (the root, or a definition that leads back to itself): merging it in again
                # adds no property, and copying it while it grows would never end
                return {k: v for k, v in member.items() if k != "$ref"}
            self._inlinings += 1
            target = _pointer_target(self._doc, member["$ref"])
            if isinstance(target, Mapping):
                return _merge({k: v for k, v in member.items() if k != "$ref"}, copy.deepcopy(dict(target)))
        return member

    def _typed(self, node: JsonSchema) -> JsonSchema:
        """llama.cpp: a node its grammar builder cannot place gets the types its keywords imply."""
        if any(k in node for k in _LLAMA_SHAPES) or node.get("additionalProperties") not in (None, True):
            return node
        types = [
            t
            for t, keys in (("number", _NUMERIC), ("string", _STRING), ("object", _OBJECT), ("array", _ARRAY))
            if any(k in node for k in keys)
        ]
        node["type"] = (types[0] if len(types) == 1 else types) if types else list(_ANY_TYPES)
        return node

    # ---- references ----------------------------------------------------------------------------

    def _ref(self, ref: Any) -> str | None:
        if not isinstance(ref, str) or not ref.startswith("#"):
            return None  # remote: no provider fetches it, and an unresolvable one may be refused
        target = _pointer_target(self._doc, ref)
        if target is _MISSING:
            return None
        if not self._d.refs_into_defs:
            return ref
        if ref not in self._def_names:
            self._def_names[ref] = name = self._def_name(ref)
            self._pending.append((name, target))
        return f"#/$defs/{self._def_names[ref]}"

    def _def_name(self, ref: str) -> str:
        raw = ref.rsplit("/", 1)[-1].replace("~1", "/").replace("~0", "~") if ref != "#" else "Root"
        base = raw or "Def"
        taken = set(self._def_names.values())
        name, n = base, 2
        while name in taken:
            name, n = f"{base}_{n}", n + 1
        return name

    # ---- Ollama ---------------------------------------------------------------------------------

    def _flat(self, prop: Any) -> Any:
        """A property as the Ollama server keeps it (its ``ToolProperty``); the rest goes to its description."""
        keep = self._d.flat_properties or frozenset()
        if not isinstance(prop, Mapping):
            return prop
        out: JsonSchema = {}
        notes: list[str] = []
        for key, value in prop.items():
            if key == "properties" and isinstance(value, Mapping):
                out[key] = {name: self._flat(sub) for name, sub in value.items()}
            elif key == "anyOf" and isinstance(value, list):
                out[key] = [self._flat(sub) for sub in value]
            elif key in keep:
                out[key] = value
            elif key == "const" and "enum" not in prop:
                out["enum"] = [value]
            else:
                notes.append(f"{key}={_note_value(value)}")
        if notes:
            described = out.get("description")
            constraints = f"(Constraints: {', '.join(notes)})"
            out["description"] = (
                f"{described} {constraints}" if isinstance(described, str) and described else constraints
            )
        return out


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_OPENAI_LOOSE: Final = _Dialect(array_items=True)
OPENAI: Final = OpenAIStrictProfile()
ANTHROPIC: Final = JsonSchemaProfile("anthropic")
BEDROCK: Final = JsonSchemaProfile("bedrock")
OLLAMA: Final = JsonSchemaProfile(
    "ollama", _Dialect(boolean_schemas=False, refs_into_defs=True, flat_properties=OLLAMA_PROPERTY_KEYWORDS)
)
GEMINI: Final = JsonSchemaProfile(
    "gemini",
    _Dialect(
        keywords=GEMINI_KEYWORDS,
        boolean_schemas=False,
        const=False,
        all_of=False,
        tuples=False,
        pattern_properties=False,
        exclusive_bounds=False,
        refs_into_defs=True,
    ),
)
LLAMA_CPP: Final = JsonSchemaProfile(
    "llamacpp", _Dialect(boolean_schemas=False, all_of=False, patterns=False, refs_into_defs=True, typed_nodes=True)
)


# --------------------------------------------------------------------------------------------------
# What an adapter holds: converted schemas, cached, and the restore for the calls that come back.


@attrs.frozen(eq=False)
class OfferedTool:
    """One tool of one request: its spec (the tool's own schema) and the provider's schema for it."""

    spec: ToolSpec
    provider: ProviderSchema


@attrs.frozen(eq=False)
class OfferedTools:
    """The tools of one request, converted by the adapter's profile."""

    tools: tuple[OfferedTool, ...] = ()
    _restorers: Mapping[str, ProviderSchema] = attrs.field(factory=dict, alias="restorers")

    def restore(self, call: ToolCall) -> ToolCall:
        """The call with its arguments in the tool's own shape (unchanged when nothing needs restoring)."""
        provider = self._restorers.get(call.name)
        if provider is None:
            return call
        try:
            arguments = json.loads(call.arguments) if call.arguments.strip() else {}
        except ValueError:
            return call  # the domain reports unreadable arguments to the model
        if not isinstance(arguments, dict):
            return call
        try:
            restored = provider.restore_arguments(arguments)
        except Exception:  # a restore bug must not lose the call: the tool validates what it gets
            logger.exception("restoring the arguments of tool %r failed; passed on as the model sent them", call.name)
            return call
        if restored == arguments:
            return call
        return attrs.evolve(call, arguments=json.dumps(restored, ensure_ascii=False))

    def restoring(self, events: AsyncGenerator[ModelEvent, None]) -> AsyncGenerator[ModelEvent, None]:
        """``events`` with every `ToolCallReady` restored; ``events`` itself when no tool needs it."""
        if not self._restorers:
            return events
        return self._restored(events)

    async def _restored(self, events: AsyncGenerator[ModelEvent, None]) -> AsyncGenerator[ModelEvent, None]:
        try:
            async for event in events:
                yield ToolCallReady(self.restore(event.call)) if isinstance(event, ToolCallReady) else event
        finally:
            await events.aclose()


DEFAULT_CACHE_SIZE: Final = 512


class ToolSchemas:
    """An adapter's tool schemas in its provider's profile, converted once per schema.

    Toolsets hand out the same `ToolSpec.parameters` object until their tools change, so the cache is keyed
    by that object (held, so its id stays unique) and the strict opt-out; least recently used entries go
    first. A schema the profile rejects is left out of the request, with one warning.
    """

    def __init__(self, profile: SchemaProfile, *, max_entries: int = DEFAULT_CACHE_SIZE) -> None:
        self.profile = profile
        self._max_entries = max_entries
        self._cache: OrderedDict[tuple[int, bool | None], tuple[Mapping[str, Any], ProviderSchema | None]] = (
            OrderedDict()
        )
        self._last_offer: tuple[Sequence[ToolSpec], OfferedTools] | None = None

    def offer(self, tools: Sequence[ToolSpec]) -> OfferedTools:
        """The tools converted for the provider; the same `tools` object as last time gets the same answer."""
        last = self._last_offer
        if last is not None and last[0] is tools:
            return last[1]
        offered_tools = self._offer(tools)
        if isinstance(tools, tuple):  # immutable: an agent's registry hands out one tuple until its tools change
            self._last_offer = (tools, offered_tools)
        return offered_tools

    def _offer(self, tools: Sequence[ToolSpec]) -> OfferedTools:
        offered: list[OfferedTool] = []
        restorers: dict[str, ProviderSchema] = {}
        for spec in tools:
            provider = self.convert(spec)
            if provider is None:
                continue
            offered.append(OfferedTool(spec, provider))
            if provider.restores:
                restorers[spec.name] = provider
        return OfferedTools(tuple(offered), restorers)

    def convert(self, spec: ToolSpec) -> ProviderSchema | None:
        """The provider's schema for one tool, or None when the profile rejects it."""
        key = (id(spec.parameters), spec.strict)
        entry = self._cache.get(key)
        if entry is not None and entry[0] is spec.parameters:
            self._cache.move_to_end(key)
            return entry[1]
        provider: ProviderSchema | None
        try:
            provider = self.profile.to_provider(spec.parameters, strict=spec.strict)
        except SchemaRejected as error:
            logger.warning("tool %r is not offered to the model (%s profile): %s", spec.name, self.profile.name, error)
            provider = None
        except Exception:
            logger.exception("tool %r is not offered to the model: its schema could not be converted", spec.name)
            provider = None
        if provider is not None and provider.note:
            logger.info("tool %r (%s profile): %s", spec.name, self.profile.name, provider.note)
        self._cache[key] = (spec.parameters, provider)
        if len(self._cache) > self._max_entries:
            self._cache.popitem(last=False)
        return provider
