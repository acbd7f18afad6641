"""Rewrite tool schemas into the JSON Schema subset of OpenAI strict function calling.

Strict mode accepts only closed objects whose properties are all required, and no ``oneOf``,
``allOf``, ``not`` or map types. Tool schemas (MCP servers, Python functions) use the full
language, so `sanitize_tool_schema` rewrites a schema into that subset and records how to turn the
model's arguments back into what the tool expects (`SanitizedSchema.restore_arguments`). It is the
rewrite behind the OpenAI profile (`aura.domain.schema_profiles`); other providers get schemas
closer to the original.

Design choices (why, in short):

* Optional properties become required-but-nullable, the only way strict mode can say "optional";
  a ``null`` sent for an originally optional property is removed again on restore.
* Map types (``additionalProperties`` schema, ``patternProperties``, nested free-form objects)
  become arrays of ``{"key", "value"}`` pairs, which keep the value schema (a JSON-string parameter
  would hide it from the model); restore turns them back into objects. An object that also declares
  properties, and the root, get an extra optional ``additional_properties`` pairs property instead.
* ``$ref`` is inlined unless its target is recursive; recursive targets stay in the root
  ``$defs`` (OpenAI supports recursive definitions) and are sanitized by the same rules.
* ``true``/``{}`` ("any value") becomes an ``anyOf`` of the primitive types and arrays of them (an
  arbitrary object cannot be expressed by a closed schema). A property whose schema is ``false``
  can never be sent, so it is dropped.
* Keywords outside the strict subset are dropped; simple constraints (``minLength``, unsupported
  ``format``, ...) are appended to the description so that the model still sees them. ``default``
  is among them (strict mode has rejected it, and still does on some deployments), as a
  ``Default: …`` sentence; ``$schema`` is dropped.
* A ``$ref`` never has sibling keywords (strict mode rejects them): annotations next to a
  reference wrap it in a one-branch ``anyOf``.
"""

from __future__ import annotations

import copy
import json
import re
import unicodedata
from collections.abc import Iterator, Mapping
from typing import Any, Final

import attrs

__all__ = ["SanitizedSchema", "SchemaRejected", "object_root", "sanitize_tool_name", "sanitize_tool_schema"]

JsonSchema = dict[str, Any]

# fmt: off
_JSON_TYPES: Final = ("string", "number", "integer", "boolean", "null", "object", "array")
# Kept on any node. `description` and `title` move to the wrapper when made nullable.
_ANNOTATIONS: Final[tuple[str, ...]] = ("title", "description", "examples")
_HOISTED: Final[tuple[str, ...]] = ("description", "title")
_STRICT_FORMATS: Final = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"}
)
_NUMERIC_KEYWORDS: Final = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
# Dropped (not in the strict subset) but worth telling the model through the description.
_FOLDED_KEYWORDS: Final = (
    "minLength", "maxLength", "uniqueItems", "minProperties", "maxProperties", "dependentRequired",
    "contentMediaType", "contentEncoding",
)
# Keywords that say "this is an object" / "an array" / "a string" when `type` is missing.
_OBJECT_HINTS: Final = (
    "properties", "additionalProperties", "patternProperties", "required", "minProperties", "maxProperties",
    "propertyNames", "dependentRequired", "dependentSchemas", "unevaluatedProperties",
)
_ARRAY_HINTS: Final = (
    "items", "prefixItems", "minItems", "maxItems", "uniqueItems", "contains", "additionalItems",
    "unevaluatedItems",
)
_STRING_HINTS: Final = ("pattern", "format", "minLength", "maxLength")
# Validation keywords (as opposed to annotations): next to `anyOf` they apply to every branch.
_STRUCTURAL: Final = frozenset({
    "type", "enum", "const", "$ref", "anyOf", "oneOf", "allOf", "not", "items", "prefixItems",
    "additionalItems", "minItems", "maxItems", "uniqueItems", "contains", "pattern", "format", "minLength",
    "maxLength", "nullable", *_NUMERIC_KEYWORDS, *_OBJECT_HINTS,
})
# Where subschemas live, for finding `$ref`s (never in data such as `default` or `enum`).
_SUBSCHEMA_KEYWORDS: Final = (
    "additionalProperties", "items", "additionalItems", "not", "if", "then", "else", "contains",
    "propertyNames", "unevaluatedItems", "unevaluatedProperties",
)
_SUBSCHEMA_LIST_KEYWORDS: Final = ("anyOf", "oneOf", "allOf", "prefixItems", "items")
_SUBSCHEMA_MAP_KEYWORDS: Final = ("properties", "patternProperties", "dependentSchemas")
_LOWER_BOUNDS: Final = frozenset({"minimum", "exclusiveMinimum", "minItems", "minLength", "minProperties"})
_UPPER_BOUNDS: Final = frozenset({"maximum", "exclusiveMaximum", "maxItems", "maxLength", "maxProperties"})
# fmt: on
_EXTRA_PROPERTY: Final = "additional_properties"
_PAIRS_NOTE: Final = "Entries as a list of {key, value} pairs."
_MAX_DEFS: Final = 64
_MAX_RESTORE_DEPTH: Final = 200
_MISSING: Final[Any] = object()


class SchemaRejected(Exception):
    """The tool's input schema cannot describe tool arguments (its root is not an object)."""


def sanitize_tool_name(name: str) -> str:
    """Make an MCP tool name match OpenAI's ``^[a-zA-Z0-9_-]{1,64}$``.

    Accented letters lose their accent (``café`` → ``cafe``) so names stay readable; every other
    character outside the set becomes ``_``.
    """
    ascii_name = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "_", ascii_name).strip("_")
    if not cleaned or cleaned[0].isdigit():
        cleaned = "tool_" + cleaned
    return cleaned[:64]


# --------------------------------------------------------------------------------------------------
# Restore plans: how to turn the model's arguments back into what the original schema expects.


@attrs.frozen(eq=False)
class _ObjectPlan:
    properties: Mapping[str, _Plan]
    optional: frozenset[str]
    extra_key: str | None = None
    extra_values: _MapPlan | None = None


@attrs.frozen(eq=False)
class _ArrayPlan:
    items: _Plan


@attrs.frozen(eq=False)
class _MapPlan:
    values: _Plan | None


@attrs.frozen(eq=False)
class _UnionPlan:
    # The sanitized branch schemas pick the branch a value belongs to.
    branches: tuple[tuple[JsonSchema, _Plan | None], ...]


@attrs.frozen(eq=False)
class _RefPlan:
    name: str


_Plan = _ObjectPlan | _ArrayPlan | _MapPlan | _UnionPlan | _RefPlan


@attrs.frozen
class SanitizedSchema:
    """A strict-compatible tool schema plus what is needed to convert arguments back.

    `schema` goes to the model; `original_schema` is the server's schema as given.
    """

    schema: JsonSchema
    original_schema: JsonSchema
    _plan: _Plan | None = attrs.field(default=None, eq=False, repr=False)
    _defs: Mapping[str, JsonSchema] = attrs.field(factory=dict, eq=False, repr=False)
    _def_plans: Mapping[str, _Plan | None] = attrs.field(factory=dict, eq=False, repr=False)

    def restore_arguments(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Undo the sanitization on the model's arguments before they go to the MCP server.

        Drops ``null`` for properties that were optional, turns ``{key, value}`` pairs back into
        objects. The input is not modified.
        """
        restored = _Restorer(self._defs, self._def_plans).restore(self._plan, copy.deepcopy(arguments), 0)
        return restored if isinstance(restored, dict) else arguments


def sanitize_tool_schema(schema: Mapping[str, Any]) -> SanitizedSchema:
    """Rewrite a tool's input schema for OpenAI strict function calling.

    Raises `SchemaRejected` when the root is a type definition other than an object.
    """
    if not isinstance(schema, Mapping):
        raise SchemaRejected(_rejection(type(schema).__name__))
    original: JsonSchema = copy.deepcopy(dict(schema))
    root_type = original.get("type")
    if isinstance(root_type, str) and root_type != "object":
        raise SchemaRejected(_rejection(root_type))
    first = _Sanitizer(original)
    result = first.run()
    if _has_acyclic_defs(result):
        # A definition kept as recursive turned out not to be (the cycle went through dropped
        # keywords): a second pass inlines it, so that sanitizing the output changes nothing.
        result = _Sanitizer(copy.deepcopy(result)).run()
    return SanitizedSchema(
        schema=copy.deepcopy(result),
        original_schema=original,
        plan=first.plan,
        defs=first.defs,
        def_plans=first.def_plans,
    )


def object_root(schema: Mapping[str, Any]) -> JsonSchema:
    """The schema with its root as one plain object schema; everything below the root is untouched.

    A root ``$ref`` is inlined and a root ``allOf``/``anyOf``/``oneOf`` of objects merged (union of
    the properties, required where every branch requires). Providers that take JSON Schema as it is
    still want a plain object at the root. Raises `SchemaRejected` when the root is not an object.
    """
    if not isinstance(schema, Mapping):
        raise SchemaRejected(_rejection(type(schema).__name__))
    root_type = schema.get("type")
    if isinstance(root_type, str) and root_type != "object":
        raise SchemaRejected(_rejection(root_type))
    node = _Sanitizer(copy.deepcopy(dict(schema)))._root_node()
    node["type"] = "object"
    return node


def _rejection(got: Any) -> str:
    shown = got if isinstance(got, str) else json.dumps(got)
    return (
        f"Invalid MCP tool schema: root must be type 'object', got '{shown}'. "
        "This is an MCP server bug - the server is returning a type definition as a tool."
    )


# --------------------------------------------------------------------------------------------------
# Small helpers on schema values.


def _type_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return _dedupe([t for t in value if isinstance(t, str)])
    return []


def _dedupe(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)


def _json_equal(a: Any, b: Any) -> bool:
    return _canonical(a) == _canonical(b)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _value_type(value: Any) -> str | None:
    """The JSON type of a scalar enum/const value (structured values give no usable type)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return None


def _primitive_schemas() -> list[JsonSchema]:
    return [{"type": "string"}, {"type": "number"}, {"type": "boolean"}, {"type": "null"}]


def _any_schema() -> JsonSchema:
    """Any JSON value, as far as strict mode can say it: primitives and arrays of primitives."""
    primitives = _primitive_schemas()
    return {"anyOf": [*primitives[:3], {"type": "array", "items": {"anyOf": primitives}}, primitives[3]]}


def _never_schema() -> JsonSchema:
    # Strict mode has no "nothing is valid" schema; null is the least harmful stand-in.
    return {"type": "null"}


def _is_nullable(schema: Mapping[str, Any]) -> bool:
    types = schema.get("type")
    if types == "null" or (isinstance(types, list) and "null" in types):
        return True
    branches = schema.get("anyOf")
    return isinstance(branches, list) and any(isinstance(b, Mapping) and _is_nullable(b) for b in branches)


def _make_nullable(schema: JsonSchema) -> JsonSchema:
    """Allow null: one null branch, annotations on the wrapper."""
    if _is_nullable(schema):
        return schema
    hoisted = {k: schema[k] for k in _HOISTED if k in schema}
    rest = {k: v for k, v in schema.items() if k not in _HOISTED}
    if isinstance(rest.get("anyOf"), list):
        return {**rest, "anyOf": [*rest["anyOf"], {"type": "null"}], **hoisted}
    return {"anyOf": [rest, {"type": "null"}], **hoisted}


def _is_pure_any_of(schema: Mapping[str, Any]) -> bool:
    return isinstance(schema.get("anyOf"), list) and all(k == "anyOf" or k in _ANNOTATIONS for k in schema)


def _merge(a: Any, b: Any) -> Any:
    """``allOf: [a, b]`` as one schema; best effort, since strict mode has no intersection.

    Annotations of ``a`` win; conflicting types fall back to their union so that no keyword (and
    no property) is lost to an unsatisfiable combination.
    """
    if a is False or b is False:
        return False
    if not isinstance(a, Mapping):
        return dict(b) if isinstance(b, Mapping) else {}
    if not isinstance(b, Mapping):
        return dict(a)
    out = dict(a)
    for key, vb in b.items():
        if key not in out:
            out[key] = vb
            continue
        va = out[key]
        if key in ("properties", "patternProperties") and isinstance(va, Mapping) and isinstance(vb, Mapping):
            merged = dict(va)
            for name, sub in vb.items():
                merged[name] = {"allOf": [merged[name], sub]} if name in merged else sub
            out[key] = merged
        elif key == "required" and isinstance(va, list) and isinstance(vb, list):
            out[key] = [*va, *(r for r in vb if r not in va)]
        elif key == "enum" and isinstance(va, list) and isinstance(vb, list):
            common = [x for x in va if any(_json_equal(x, y) for y in vb)]
            out[key] = common or va
        elif key in ("items", "additionalProperties", "additionalItems") and not (
            isinstance(va, list) or isinstance(vb, list)
        ):
            out[key] = {"allOf": [va, vb]}
        elif key == "anyOf" and isinstance(va, list) and isinstance(vb, list):
            out[key] = [{"allOf": [x, {"anyOf": vb}]} for x in va]
        elif key == "allOf" and isinstance(va, list) and isinstance(vb, list):
            out[key] = [*va, *vb]
        elif key in _LOWER_BOUNDS and _is_number(va) and _is_number(vb):
            out[key] = max(va, vb)
        elif key in _UPPER_BOUNDS and _is_number(va) and _is_number(vb):
            out[key] = min(va, vb)
    types = _combined_types([a, b])
    if types is not None:
        out["type"] = types
    return out


def _has_any(node: Mapping[str, Any], keys: tuple[str, ...]) -> bool:
    return any(k in node for k in keys)


def _combined_types(nodes: list[Any]) -> Any:
    """The types an ``allOf`` of ``nodes`` allows; on a conflict, the union of them all.

    An untyped node with object or array keywords counts as that type. The union keeps every
    keyword (and property) of an unsatisfiable combination instead of silently losing them.
    """
    lists: list[list[str]] = []
    for node in nodes:
        if not isinstance(node, Mapping):
            continue
        declared = _type_list(node.get("type"))
        implied = [t for t, hints in (("object", _OBJECT_HINTS), ("array", _ARRAY_HINTS)) if _has_any(node, hints)]
        if declared or implied:
            lists.append(declared or implied)
    if not lists:
        return None
    common = lists[0]
    for other in lists[1:]:
        common = [
            t if t in other else "integer"
            for t in common
            if t in other or (t in ("number", "integer") and {"number", "integer"} & set(other))
        ]
    result = _dedupe(common) or _dedupe([t for types in lists for t in types])
    return result[0] if len(result) == 1 else result


def _def_base_name(pointer: str, variant: bool) -> str:
    match = re.fullmatch(r"#/(?:\$defs|definitions)/([^/]+)", pointer)
    if pointer == "#":
        raw = "Root"
    elif match:
        raw = match.group(1).replace("~1", "/").replace("~0", "~")
    else:
        raw = pointer.rsplit("/", 1)[-1]
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", raw) or "Def"
    return name + "_variant" if variant else name


def _refs_in(node: Any) -> Iterator[str]:
    """Every ``$ref`` string at a schema position under ``node`` (not in data such as ``default``)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if not isinstance(current, Mapping):
            continue
        ref = current.get("$ref")
        if isinstance(ref, str):
            yield ref
        stack.extend(current[k] for k in _SUBSCHEMA_KEYWORDS if k in current)
        for key in _SUBSCHEMA_LIST_KEYWORDS:
            if isinstance(current.get(key), list):
                stack.extend(current[key])
        for key in _SUBSCHEMA_MAP_KEYWORDS:
            if isinstance(current.get(key), Mapping):
                stack.extend(current[key].values())


def _has_acyclic_defs(schema: Mapping[str, Any]) -> bool:
    """Whether a definition in the output is not (or not really) recursive, so must be inlined."""
    defs = schema.get("$defs")
    if not isinstance(defs, Mapping) or not defs:
        return False
    prefix = "#/$defs/"
    if any(isinstance(body, Mapping) and [k for k in body if k in _STRUCTURAL] == ["$ref"] for body in defs.values()):
        return True  # maybe `A: {$ref: A}` once `false` branches are gone: the next pass removes it
    edges = {name: {r[len(prefix) :] for r in _refs_in(body) if r.startswith(prefix)} for name, body in defs.items()}
    for name in defs:
        seen: set[str] = set()
        todo = list(edges[name])
        while todo:
            current = todo.pop()
            if current == name:
                break
            if current not in seen:
                seen.add(current)
                todo.extend(edges.get(current, ()))
        else:
            return True
    return False


# --------------------------------------------------------------------------------------------------
# The sanitizer proper: one pass over one document.


class _Sanitizer:
    """One sanitization pass; holds the document (for ``$ref``) and the definitions it emits."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self._doc = document
        self._recursive_memo: dict[str, bool] = {}
        self._def_names: dict[tuple[str, str], str] = {}
        self._pending: list[tuple[str, str, JsonSchema]] = []
        self.defs: dict[str, JsonSchema] = {}
        self.def_plans: dict[str, _Plan | None] = {}
        self.plan: _Plan | None = None

    # ---- entry point --------------------------------------------------------------------------

    def run(self) -> JsonSchema:
        node = self._root_node()
        out, self.plan = self._typed(node, root=True)
        while self._pending:
            name, pointer, siblings = self._pending.pop(0)
            body = self._lookup(pointer)
            self.defs[name], self.def_plans[name] = self._sanitize(_merge(siblings, body) if siblings else body)
        if self.defs:
            out["$defs"] = dict(self.defs)
        return out

    def _root_node(self) -> JsonSchema:
        """The root as one object schema: refs inlined, a root ``anyOf`` merged (R1, no root anyOf)."""
        resolved = self._resolve_inline(self._doc)
        if resolved is False:
            raise SchemaRejected(_rejection("false"))
        node: JsonSchema = {} if resolved is True else resolved
        node.pop("nullable", None)
        if isinstance(node.get("anyOf"), list):
            branches = self._object_branches(node.pop("anyOf"))
            types = _type_list(node.get("type"))
            if branches is None and (not types or "object" not in types):
                raise SchemaRejected(_rejection("anyOf"))
            if branches is not None:
                node = _merge(node, branches)
                node = node if isinstance(node, dict) else {}
        types = _type_list(node.get("type"))
        if types and "object" not in types:
            raise SchemaRejected(_rejection(types[0] if len(types) == 1 else types))
        return node

    def _resolve_inline(self, node: Any) -> JsonSchema | bool:
        """`_resolve`, also inlining a recursive ``$ref`` (one level): the root must be an object."""
        resolved = self._resolve(node)
        for _ in range(8):
            if not (isinstance(resolved, dict) and "$ref" in resolved):
                break
            siblings = {k: v for k, v in resolved.items() if k != "$ref"}
            resolved = self._resolve(_merge(siblings, self._lookup(self._pointer(resolved["$ref"]) or "#")))
        if isinstance(resolved, dict):
            resolved.pop("$ref", None)
        return resolved

    def _object_branches(self, branches: Any) -> JsonSchema | None:
        """Merge root ``anyOf`` object branches: union of properties, required in every branch."""
        objects: list[JsonSchema] = []
        for raw in branches if isinstance(branches, list) else []:
            resolved = self._resolve_inline(raw)
            if resolved is False:
                continue
            branch = {} if resolved is True else resolved
            if isinstance(branch.get("anyOf"), list):
                nested = self._object_branches(branch.pop("anyOf"))
                if nested is None:
                    continue
                merged = _merge(branch, nested)
                branch = merged if isinstance(merged, dict) else {}
            types = _type_list(branch.get("type"))
            if types and "object" not in types:
                continue
            objects.append(branch)
        if not objects:
            return None
        properties: dict[str, list[Any]] = {}
        required: set[str] | None = None
        for branch in objects:
            props = branch.get("properties")
            for name, sub in (props if isinstance(props, Mapping) else {}).items():
                properties.setdefault(name, []).append(sub)
            names = {r for r in branch.get("required", []) if isinstance(r, str)}
            required = names if required is None else required & names
        merged_props = {name: subs[0] if len(subs) == 1 else {"anyOf": subs} for name, subs in properties.items()}
        result: JsonSchema = {
            "type": "object",
            "properties": merged_props,
            "required": [n for n in merged_props if n in (required or set())],
        }
        values = [b["additionalProperties"] for b in objects if isinstance(b.get("additionalProperties"), Mapping)]
        for branch in objects:
            patterns = branch.get("patternProperties")
            values += list(patterns.values()) if isinstance(patterns, Mapping) else []
        if values:
            result["additionalProperties"] = values[0] if len(values) == 1 else {"anyOf": values}
        return result

    # ---- references ---------------------------------------------------------------------------

    @staticmethod
    def _pointer(ref: Any) -> str | None:
        if not isinstance(ref, str) or not ref.startswith("#"):
            return None
        fragment = re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), ref[1:])
        if fragment and not fragment.startswith("/"):
            return None  # a plain-name anchor: not resolvable without `$anchor` support
        return "#" + fragment

    def _lookup(self, pointer: str) -> Any:
        node: Any = self._doc
        if pointer == "#":
            return node
        for raw in pointer[2:].split("/"):
            token = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, Mapping) and token in node:
                node = node[token]
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            else:
                return _MISSING
        return node

    def _resolvable(self, ref: Any) -> str | None:
        pointer = self._pointer(ref)
        return pointer if pointer is not None and self._lookup(pointer) is not _MISSING else None

    def _is_recursive(self, pointer: str) -> bool:
        """Whether expanding ``pointer`` can reach it again (decided statically, so idempotent)."""
        if pointer not in self._recursive_memo:
            seen: set[str] = set()
            todo = [pointer]
            found = False
            while todo and not found:
                current = todo.pop()
                for ref in _refs_in(self._lookup(current)):
                    target = self._resolvable(ref)
                    if target == pointer:
                        found = True
                        break
                    if target is not None and target not in seen:
                        seen.add(target)
                        todo.append(target)
            self._recursive_memo[pointer] = found
        return self._recursive_memo[pointer]

    def _is_empty_cycle(self, pointer: str) -> bool:
        """Whether ``pointer`` leads back to itself through bare ``$ref``s and one-member
        ``anyOf``/``oneOf``/``allOf``: a schema that says nothing (``A: {$ref: A}``)."""
        seen = {pointer}
        node = self._lookup(pointer)
        for _ in range(100):
            if not isinstance(node, Mapping):
                return False
            structural = [k for k in node if k in _STRUCTURAL]
            if structural == ["$ref"]:
                target = self._resolvable(node["$ref"])
                if target is None:
                    return False
                if target in seen:
                    return True
                seen.add(target)
                node = self._lookup(target)
            elif len(structural) == 1 and structural[0] in ("anyOf", "oneOf", "allOf"):
                members = node[structural[0]]
                if not (isinstance(members, list) and len(members) == 1):
                    return False
                node = members[0]
            else:
                return False
        return False

    def _def_ref(self, pointer: str, siblings: JsonSchema) -> str:
        """The ``$defs`` name for a recursive target (with its sibling constraints, if any)."""
        key = (pointer, _canonical(siblings) if siblings else "")
        if key not in self._def_names:
            base = _def_base_name(pointer, bool(siblings))
            taken = set(self._def_names.values())
            name, n = base, 2
            while name in taken:
                name, n = f"{base}_{n}", n + 1
            self._def_names[key] = name
            self._pending.append((name, pointer, siblings))
        return self._def_names[key]

    # ---- normalization ------------------------------------------------------------------------

    def _resolve(self, node: Any) -> JsonSchema | bool:
        """Shallow normal form: no ``allOf``/``oneOf``, no non-recursive ``$ref``, no ``const: null``."""
        if isinstance(node, bool):
            return node
        if not isinstance(node, Mapping):
            return True  # not a schema at all: accept anything rather than fail the tool
        current: JsonSchema = dict(node)
        while True:
            if "allOf" in current:
                members = current.pop("allOf")
                resolved = [self._resolve(m) for m in (members if isinstance(members, list) else [])]
                merged: Any = current
                for member in resolved:
                    merged = _merge(merged, member)
                if not isinstance(merged, dict):
                    return bool(merged) if isinstance(merged, bool) else True
                types = _combined_types([current, *resolved])  # pairwise merging forgets conflicts
                if types is not None:
                    merged["type"] = types
                current = merged
            elif "oneOf" in current:
                one_of = current.pop("oneOf")
                if isinstance(one_of, list):
                    merged = _merge(current, {"anyOf": one_of})
                    current = merged if isinstance(merged, dict) else current
            elif "$ref" in current:
                pointer = self._resolvable(current["$ref"])
                siblings = {k: v for k, v in current.items() if k != "$ref"}
                if pointer is None or self._is_empty_cycle(pointer):
                    # Unresolvable (remote, anchor, typo) or `A: {$ref: A}`: keep what is local.
                    current = siblings
                    continue
                if self._is_recursive(pointer):
                    break
                merged = _merge(siblings, self._lookup(pointer))
                if not isinstance(merged, dict):
                    return merged if isinstance(merged, bool) else True
                current = merged
            else:
                break
        if "const" in current and current["const"] is None:
            del current["const"]
            current["type"] = "null"
        return current

    # ---- sanitization -------------------------------------------------------------------------

    def _sanitize(self, node: Any) -> tuple[JsonSchema, _Plan | None]:
        resolved = self._resolve(node)
        if resolved is True:
            return _any_schema(), None
        if resolved is False:
            return _never_schema(), None
        nullable = resolved.pop("nullable", None) is True  # OpenAPI 3.0
        if "$ref" in resolved:
            out, plan = self._recursive_ref(resolved)
        elif isinstance(resolved.get("anyOf"), list) and resolved["anyOf"]:
            out, plan = self._any_of(resolved)
        else:
            resolved.pop("anyOf", None)
            out, plan = self._typed(resolved)
        return (_make_nullable(out) if nullable else out), plan

    def _recursive_ref(self, node: JsonSchema) -> tuple[JsonSchema, _Plan | None]:
        pointer = self._pointer(node["$ref"]) or "#"
        siblings = {k: v for k, v in node.items() if k in _STRUCTURAL and k != "$ref"}
        if len(self._def_names) >= _MAX_DEFS:
            siblings = {}
        name = self._def_ref(pointer, siblings)
        return _with_annotations({"$ref": f"#/$defs/{name}"}, self._annotations(node, [])), _RefPlan(name)

    def _any_of(self, node: JsonSchema) -> tuple[JsonSchema, _Plan | None]:
        annotations = self._annotations(node, [])
        siblings = {k: v for k, v in node.items() if k in _STRUCTURAL and k != "anyOf"}
        branches = [self._resolve(b) for b in node["anyOf"]]
        typed = ("type", "$ref", "enum", "const", "anyOf")
        if set(siblings) == {"type"} and all(
            isinstance(b, dict) and any(k in b for k in typed) for b in branches if b is not False
        ):
            siblings = {}  # `{"anyOf": [string, null], "type": "string"}` (LogDNA): the branches say more
        outs: list[JsonSchema] = []
        plans: list[_Plan | None] = []
        seen: set[str] = set()
        for branch in branches:
            if siblings:
                branch = self._resolve(_merge(siblings, branch))
            if branch is False:
                continue
            out, plan = self._sanitize(branch)
            if _is_pure_any_of(out):
                inner_plans = {id(s): p for s, p in (plan.branches if isinstance(plan, _UnionPlan) else ())}
                pairs = [(s, inner_plans.get(id(s))) for s in out["anyOf"]]
            else:
                pairs = [(out, plan)]
            for schema, sub_plan in pairs:
                key = _canonical(schema)
                if key not in seen:
                    seen.add(key)
                    outs.append(schema)
                    plans.append(sub_plan)
        if not outs:
            return {**_never_schema(), **annotations}, None
        if len(outs) == 1:
            return _with_annotations(outs[0], annotations), plans[0]
        union = _UnionPlan(tuple(zip(outs, plans, strict=True))) if any(plans) else None
        return {"anyOf": outs, **annotations}, union

    def _types(self, node: Mapping[str, Any]) -> list[str]:
        """Declared types, or inferred from keywords and enum/const values."""
        types = [t for t in _type_list(node.get("type")) if t in _JSON_TYPES]
        values = list(node["enum"]) if isinstance(node.get("enum"), list) else []
        if "const" in node:
            values.append(node["const"])
        if not types:
            hints = (
                ("object", _OBJECT_HINTS),
                ("array", _ARRAY_HINTS),
                ("string", _STRING_HINTS),
                ("number", _NUMERIC_KEYWORDS),
            )
            types = [t for t, keys in hints if any(k in node for k in keys)]
            types += [t for t in map(_value_type, values) if t is not None]
            types = _dedupe(types)
        if values:
            # null in `type` but not in `enum` (or the reverse) is contradictory: the values decide.
            if any(v is None for v in values) and types and "null" not in types:
                types.append("null")
            elif "null" in types and len(types) > 1 and not any(v is None for v in values):
                types.remove("null")
        return types

    def _typed(self, node: JsonSchema, *, root: bool = False) -> tuple[JsonSchema, _Plan | None]:
        """A node without ``anyOf``/``$ref``: type, object/array rules, allowed keywords."""
        types = ["object"] if root else self._types(node)
        out: JsonSchema = {}
        notes: list[str] = []
        plan: _Plan | None = None
        if isinstance(node.get("enum"), list) and node["enum"]:
            out["enum"] = list(node["enum"])
        if "const" in node:
            out["const"] = node["const"]
        if not types:
            if not out:
                return {**_any_schema(), **self._annotations(node, notes)}, None
            return {**out, **self._annotations(node, notes)}, None
        object_plan: _Plan | None = None
        array_plan: _Plan | None = None
        as_map = False
        if "object" in types:
            fields, object_plan, as_map = self._object_fields(node, root=root, array_too="array" in types)
            out.update(fields)
            if as_map:
                types = _dedupe(["array" if t == "object" else t for t in types])
                notes.append(_PAIRS_NOTE)
        if "array" in types and not as_map:
            out["items"], items_plan = self._items(node)
            array_plan = _ArrayPlan(items_plan) if items_plan is not None else None
            for key in ("minItems", "maxItems"):
                if isinstance(node.get(key), int) and not isinstance(node[key], bool) and node[key] >= 0:
                    out[key] = node[key]
            if node.get("items") is False and not isinstance(node.get("prefixItems"), list):
                out["maxItems"] = 0
        if object_plan is not None and array_plan is not None:
            plan = _UnionPlan((({"type": "object"}, object_plan), ({"type": "array"}, array_plan)))
        else:
            plan = object_plan or array_plan
        if "string" in types and isinstance(node.get("pattern"), str):
            out["pattern"] = node["pattern"]
        if isinstance(node.get("format"), str):
            if "string" in types and node["format"] in _STRICT_FORMATS:
                out["format"] = node["format"]
            else:
                notes.append(f"format={node['format']}")
        if "number" in types or "integer" in types:
            out.update(self._numeric(node))
        notes.extend(f"{k}={_note_value(node[k])}" for k in _FOLDED_KEYWORDS if node.get(k) not in (None, False))
        return {"type": types[0] if len(types) == 1 else types, **out, **self._annotations(node, notes)}, plan

    @staticmethod
    def _numeric(node: Mapping[str, Any]) -> JsonSchema:
        out = {k: node[k] for k in _NUMERIC_KEYWORDS if _is_number(node.get(k))}
        # Draft 4 spelled exclusive bounds as booleans next to minimum/maximum.
        for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            if node.get(exclusive) is True and bound in out:
                out[exclusive] = out.pop(bound)
        return out

    @staticmethod
    def _annotations(node: Mapping[str, Any], notes: list[str]) -> JsonSchema:
        out = {k: node[k] for k in _ANNOTATIONS if k in node}
        if "default" in node:
            shown = json.dumps(node["default"], ensure_ascii=False, separators=(",", ":"), default=repr)
            notes = [*notes, f"Default: {shown}."]
        if notes:
            sentences = [n for n in notes if n.endswith(".")]
            constraints = [n for n in notes if not n.endswith(".")]
            parts = [out["description"]] if isinstance(out.get("description"), str) else []
            parts += sentences
            if constraints:
                parts.append(f"(Constraints: {', '.join(constraints)})")
            out["description"] = " ".join(p for p in parts if p)
        return out

    def _object_fields(
        self, node: Mapping[str, Any], *, root: bool, array_too: bool = False
    ) -> tuple[JsonSchema, _Plan | None, bool]:
        """Closed object with every property required (R2-R4); map types become pair arrays."""
        raw_props = node.get("properties")
        has_properties = isinstance(raw_props, Mapping)
        required = (
            {r for r in node.get("required", []) if isinstance(r, str)}
            if isinstance(node.get("required"), list)
            else set()
        )
        properties: JsonSchema = {}
        plans: dict[str, _Plan] = {}
        optional: set[str] = set()
        for name, raw in (raw_props if isinstance(raw_props, Mapping) else {}).items():
            resolved = self._resolve(raw)
            if resolved is False:
                continue  # can never be sent
            schema, sub_plan = self._sanitize(resolved)
            if name not in required:
                schema = _make_nullable(schema)
                optional.add(name)
            properties[name] = schema
            if sub_plan is not None:
                plans[name] = sub_plan

        extra = node.get("additionalProperties", _MISSING)
        patterns = node.get("patternProperties")
        patterns = dict(patterns) if isinstance(patterns, Mapping) else {}
        value_schemas = [extra] if isinstance(extra, Mapping) else []
        value_schemas += list(patterns.values())
        free_form = not root and not has_properties and extra is not False and not isinstance(extra, Mapping)
        extra_key: str | None = None
        map_plan: _MapPlan | None = None
        if value_schemas or free_form:
            value_raw: Any = {"anyOf": value_schemas} if len(value_schemas) > 1 else (value_schemas or [{}])[0]
            value, value_plan = self._sanitize(value_raw)
            key: JsonSchema = {"type": "string"}
            if len(patterns) == 1 and not isinstance(extra, Mapping) and isinstance(next(iter(patterns)), str):
                key["pattern"] = next(iter(patterns))
            pairs: JsonSchema = {
                "type": "object",
                "properties": {"key": key, "value": value},
                "required": ["key", "value"],
                "additionalProperties": False,
            }
            map_plan = _MapPlan(value_plan)
            if not properties and not root and not array_too:
                return {"items": pairs}, map_plan, True
            extra_key = _EXTRA_PROPERTY
            while extra_key in properties:
                extra_key += "_"
            properties[extra_key] = {
                "anyOf": [{"type": "array", "items": pairs}, {"type": "null"}],
                "description": "Additional entries as a list of {key, value} pairs.",
            }
        fields: JsonSchema = {"properties": properties}
        if properties:
            fields["required"] = list(properties)
        fields["additionalProperties"] = False
        plan: _Plan | None = None
        if plans or optional or extra_key is not None:
            plan = _ObjectPlan(plans, frozenset(optional), extra_key, map_plan)
        return fields, plan, False

    def _items(self, node: Mapping[str, Any]) -> tuple[JsonSchema, _Plan | None]:
        """Array items; tuple forms (``items`` list, ``prefixItems``) become an ``anyOf`` (R5)."""
        items = node.get("items", _MISSING)
        prefix = node.get("prefixItems")
        if isinstance(items, list) or isinstance(prefix, list):
            members: list[Any] = list(prefix) if isinstance(prefix, list) else []
            if isinstance(items, list):
                members += items
                additional = node.get("additionalItems")
                if isinstance(additional, Mapping) or additional is True:
                    members.append(additional)
            elif items is not _MISSING and items is not False:
                members.append(items)
            return self._sanitize({"anyOf": members} if members else True)
        if items is _MISSING or isinstance(items, bool):
            return _any_schema(), None
        return self._sanitize(items)


def _with_annotations(schema: JsonSchema, annotations: JsonSchema) -> JsonSchema:
    """``schema`` with ``annotations``; a ``$ref`` takes no siblings in strict mode, so it is wrapped."""
    if not annotations:
        return schema
    if "$ref" in schema:
        return {"anyOf": [schema], **annotations}
    return {**schema, **annotations}


def _note_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), default=repr)


# --------------------------------------------------------------------------------------------------
# Restoring arguments.


def _is_json_type(value: Any, name: str) -> bool:
    if name == "null":
        return value is None
    if name == "boolean":
        return isinstance(value, bool)
    if name == "integer":
        return _is_number(value) and float(value).is_integer()
    if name == "number":
        return _is_number(value)
    if name == "string":
        return isinstance(value, str)
    if name == "array":
        return isinstance(value, list)
    if name == "object":
        return isinstance(value, Mapping)
    return False


class _Restorer:
    """Applies a restore plan; the sanitized definitions tell ``anyOf`` branches apart."""

    def __init__(self, defs: Mapping[str, JsonSchema], def_plans: Mapping[str, _Plan | None]) -> None:
        self._defs = defs
        self._def_plans = def_plans

    def restore(self, plan: _Plan | None, value: Any, depth: int) -> Any:
        if plan is None or depth > _MAX_RESTORE_DEPTH:
            return value
        if isinstance(plan, _RefPlan):
            return self.restore(self._def_plans.get(plan.name), value, depth + 1)
        if isinstance(plan, _UnionPlan):
            return self.restore(self._pick(plan, value), value, depth + 1)
        if isinstance(plan, _ArrayPlan):
            if not isinstance(value, list):
                return value
            return [self.restore(plan.items, item, depth + 1) for item in value]
        if isinstance(plan, _MapPlan):
            return self._pairs(plan.values, value, depth)
        return self._object(plan, value, depth)

    def _object(self, plan: _ObjectPlan, value: Any, depth: int) -> Any:
        if not isinstance(value, Mapping):
            return value
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key == plan.extra_key or (item is None and key in plan.optional):
                continue
            out[key] = self.restore(plan.properties.get(key), item, depth + 1)
        extra = value.get(plan.extra_key) if plan.extra_key is not None else None
        if plan.extra_key is not None and extra is not None:
            entries = self._pairs(plan.extra_values.values if plan.extra_values else None, extra, depth)
            if isinstance(entries, dict):
                for key, item in entries.items():
                    out.setdefault(key, item)
            else:
                out[plan.extra_key] = extra  # unusable: let the server report it
        return out

    def _pairs(self, values: _Plan | None, value: Any, depth: int) -> Any:
        if isinstance(value, Mapping):  # the model sent an object after all
            return {k: self.restore(values, v, depth + 1) for k, v in value.items()}
        if not isinstance(value, list) or not all(
            isinstance(e, Mapping) and isinstance(e.get("key"), str) for e in value
        ):
            return value
        return {e["key"]: self.restore(values, e.get("value"), depth + 1) for e in value}

    def _pick(self, plan: _UnionPlan, value: Any) -> _Plan | None:
        for schema, branch_plan in plan.branches:
            if self._matches(schema, value, 0):
                return branch_plan
        return None

    def _matches(self, schema: Any, value: Any, depth: int) -> bool:
        """A loose validator over the strict subset, enough to tell ``anyOf`` branches apart."""
        if depth > _MAX_RESTORE_DEPTH or not isinstance(schema, Mapping):
            return schema is not False
        ref = schema.get("$ref")
        if isinstance(ref, str):
            target = self._defs.get(ref.rsplit("/", 1)[-1])
            return target is None or self._matches(target, value, depth + 1)
        if isinstance(schema.get("anyOf"), list):
            return any(self._matches(b, value, depth + 1) for b in schema["anyOf"])
        if "const" in schema and not _json_equal(schema["const"], value):
            return False
        if isinstance(schema.get("enum"), list) and not any(_json_equal(e, value) for e in schema["enum"]):
            return False
        types = _type_list(schema.get("type"))
        if types and not any(_is_json_type(value, t) for t in types):
            return False
        properties = schema.get("properties")
        if isinstance(value, Mapping) and isinstance(properties, Mapping):
            if any(k not in properties for k in value):
                return False
            if not all(self._matches(properties[k], v, depth + 1) for k, v in value.items()):
                return False
        if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
            return all(self._matches(schema["items"], item, depth + 1) for item in value)
        return True
