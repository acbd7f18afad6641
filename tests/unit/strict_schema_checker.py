"""A checker of the OpenAI strict function-calling schema rules (closed objects, all required, the keyword subset).

Independent of the sanitizer on purpose: it is the bar the sanitizer's output is held to, and other
tests (MCP adapters, tool registries) can hold their schemas to it too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

BANNED_KEYWORDS = frozenset(
    {
        "oneOf",
        "allOf",
        "not",
        "patternProperties",
        "unevaluatedProperties",
        "propertyNames",
        "if",
        "then",
        "else",
        "dependentSchemas",
        "dependentRequired",
        "minProperties",
        "maxProperties",
        # rejected by strict mode (`default` on some deployments), or meaningless to it
        "default",
        "$schema",
    }
)
JSON_TYPES = frozenset({"string", "number", "integer", "boolean", "null", "object", "array"})
_TYPE_SUBSTITUTES = ("anyOf", "$ref", "enum", "const")


def check_strict_schema(schema: Any) -> list[str]:
    """Every violation of the strict rules in ``schema``, as ``"<json pointer>: <problem>"`` lines."""
    problems: list[str] = []
    if not isinstance(schema, Mapping):
        return [f"#: root must be an object schema, got {type(schema).__name__}"]
    if schema.get("type") != "object":
        problems.append(f"#: root must have type 'object', got {schema.get('type')!r}")
    if "anyOf" in schema:
        problems.append("#: anyOf is not allowed at the root")
    _check_node(schema, "#", schema, problems)
    return problems


def _resolve(root: Mapping[str, Any], ref: str) -> Any:
    if not ref.startswith("#"):
        return None
    node: Any = root
    fragment = ref[1:]
    if not fragment:
        return node
    if not fragment.startswith("/"):
        return None
    for raw in fragment[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node


def _check_node(node: Any, path: str, root: Mapping[str, Any], problems: list[str]) -> None:
    if isinstance(node, bool):
        problems.append(f"{path}: boolean schema {str(node).lower()} is not allowed")
        return
    if not isinstance(node, Mapping):
        problems.append(f"{path}: schema must be an object, got {type(node).__name__}")
        return
    problems.extend(f"{path}: keyword {key!r} is not allowed" for key in sorted(BANNED_KEYWORDS & set(node)))

    types = node.get("type")
    type_list = [types] if isinstance(types, str) else types if isinstance(types, list) else None
    if types is not None and (type_list is None or not type_list or any(t not in JSON_TYPES for t in type_list)):
        problems.append(f"{path}: invalid type {types!r}")
    if types is None and not any(k in node for k in _TYPE_SUBSTITUTES):
        problems.append(f"{path}: no type (and no anyOf/$ref/enum/const)")

    if "$ref" in node:
        ref = node["$ref"]
        if not isinstance(ref, str) or _resolve(root, ref) is None:
            problems.append(f"{path}: $ref {ref!r} does not resolve")
        if len(node) > 1:
            problems.append(f"{path}: $ref with sibling keywords {sorted(k for k in node if k != '$ref')}")

    if type_list and "object" in type_list:
        _check_object(node, path, root, problems)

    if "items" in node:
        items = node["items"]
        if isinstance(items, list):
            problems.append(f"{path}: tuple-form items are not allowed")
        else:
            _check_node(items, f"{path}/items", root, problems)

    if "anyOf" in node:
        branches = node["anyOf"]
        if not isinstance(branches, list) or not branches:
            problems.append(f"{path}: anyOf must be a non-empty list")
        else:
            for i, branch in enumerate(branches):
                _check_node(branch, f"{path}/anyOf/{i}", root, problems)

    for defs_key in ("$defs", "definitions"):
        if defs_key in node:
            defs = node[defs_key]
            if not isinstance(defs, Mapping):
                problems.append(f"{path}: {defs_key} must be an object")
                continue
            for name, sub in defs.items():
                _check_node(sub, f"{path}/{defs_key}/{_escape(name)}", root, problems)


def _check_object(node: Mapping[str, Any], path: str, root: Mapping[str, Any], problems: list[str]) -> None:
    properties = node.get("properties")
    if not isinstance(properties, Mapping):
        problems.append(f"{path}: object without a properties object")
        properties = {}
    if node.get("additionalProperties") is not False:
        problems.append(f"{path}: object without additionalProperties: false")
    required = node.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        problems.append(f"{path}: required must be a list of names")
    elif len(set(required)) != len(required) or set(required) != set(properties):
        problems.append(f"{path}: required {required!r} must list every property exactly once")
    for name, sub in properties.items():
        _check_node(sub, f"{path}/properties/{_escape(name)}", root, problems)


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")
