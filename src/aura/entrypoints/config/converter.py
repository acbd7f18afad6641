"""TOML data <-> config classes with cattrs, and errors that say where and what was expected.

The converter is strict where cattrs is lenient by default: a string is never turned into a number
(or the reverse), an array is never accepted where a string is wanted, and unknown keys are errors
with a "did you mean" suggestion. Every problem found in a file is collected and reported at once
with its key path (`llm.api_key`, `mcp.servers.github.url`, `vector_stores[1].collection_name`).
Values are never echoed in type errors, so a misplaced secret cannot leak into a message.
"""

from __future__ import annotations

import collections.abc
import datetime
import difflib
import math
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import cattrs
import tomli_w
from cattrs.errors import (
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from aura.entrypoints.config.errors import ConfigProblem, KeyPath
from aura.entrypoints.config.schema import (
    EMBEDDING_PROVIDERS,
    LENIENT_UINT,
    LLM_PROVIDERS,
    MCP_TRANSPORTS,
    VECTOR_STORE_TYPES,
    AgentConfig,
    EmbeddingModelConfig,
    LlmConfig,
    McpServerConfig,
    Secret,
    VectorStoreConfig,
)


class InvalidValue(ValueError):
    """A value of the wrong shape; `subpath` extends the key path (e.g. the tag key of a table)."""

    def __init__(self, message: str, subpath: KeyPath = ()) -> None:
        super().__init__(message)
        self.message = message
        self.subpath = subpath


@attrs.frozen
class _TaggedUnion:
    tag_key: str
    what: str
    variants: Mapping[str, type]


_TAGGED_UNIONS: dict[Any, _TaggedUnion] = {
    LlmConfig: _TaggedUnion("provider", "provider", LLM_PROVIDERS),
    McpServerConfig: _TaggedUnion("transport", "transport", MCP_TRANSPORTS),
    VectorStoreConfig: _TaggedUnion("type", "vector store type", VECTOR_STORE_TYPES),
    EmbeddingModelConfig: _TaggedUnion("provider", "embedding provider", EMBEDDING_PROVIDERS),
}
_TAG_KEY_OF_CLASS: dict[type, str] = {
    cls: union.tag_key for union in _TAGGED_UNIONS.values() for cls in union.variants.values()
}


# ------------------------------------------------------------------------------------------ describing


def toml_kind(value: Any) -> str:
    """The TOML type of a parsed value, as a user would name it."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return "a date/time"
    return type(value).__name__


def describe_type(tp: Any) -> str:
    """What a key expects, in words: `a string`, `an array of strings`, `a table with provider = ...`."""
    if tp in _TAGGED_UNIONS:
        union = _TAGGED_UNIONS[tp]
        return f"a table with {union.tag_key} = " + " | ".join(f'"{tag}"' for tag in union.variants)
    if tp is str or tp is Secret:
        return "a string"
    if tp is bool:
        return "a boolean (true or false)"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is Any:
        return "a value"
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Literal:
        return "one of " + ", ".join(f"'{arg}'" for arg in args)
    if _is_union(tp):
        options = [arg for arg in args if arg is not type(None)]
        return " or ".join(describe_type(arg) for arg in options)
    if origin is tuple:
        return f"an array of {_plural(args[0])}"
    if origin in (collections.abc.Mapping, dict):
        return "a table"
    if attrs.has(tp):
        return "a table"
    return getattr(tp, "__name__", repr(tp))


def _plural(tp: Any) -> str:
    words = {str: "strings", Secret: "strings", int: "integers", float: "numbers", bool: "booleans"}
    return words.get(tp, "tables" if attrs.has(tp) or tp in _TAGGED_UNIONS else "values")


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _expected(tp: Any, value: Any) -> InvalidValue:
    return InvalidValue(f"expected {describe_type(tp)}, got {toml_kind(value)}")


def allowed_keys(cls: type) -> list[str]:
    """The keys a table of this class accepts: its tag first, then the rest alphabetically."""
    keys = sorted(field.name for field in attrs.fields(cls))
    tag_key = _TAG_KEY_OF_CLASS.get(cls)
    return [tag_key, *keys] if tag_key else keys


def _unknown_key_message(cls: type, key: str) -> str:
    allowed = allowed_keys(cls)
    tag = getattr(cls, "TAG", None)
    tag_key = _TAG_KEY_OF_CLASS.get(cls)
    context = f" for {tag_key} '{tag}'" if tag and tag_key else ""
    message = f"unknown key{context}"
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        message += f"; did you mean '{close[0]}'?"
    return f"{message} (allowed keys: {', '.join(allowed)})"


def _did_you_mean(value: str, options: collections.abc.Iterable[str]) -> str:
    close = difflib.get_close_matches(value, list(options), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


# --------------------------------------------------------------------------------------- structuring


def _structure_str(value: Any, tp: Any) -> str:
    if isinstance(value, str):
        return value
    raise _expected(str, value)


def _structure_secret(value: Any, tp: Any) -> Secret:
    if isinstance(value, str):
        return Secret(value)
    raise _expected(Secret, value)


def _structure_bool(value: Any, tp: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise _expected(bool, value)


def _structure_int(value: Any, tp: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _expected(int, value)


def _structure_float(value: Any, tp: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise _expected(float, value)


def _structure_any(value: Any, tp: Any) -> Any:
    return value


def lenient_uint_hook(bits: int) -> Callable[[Any, Any], int]:
    """An integer, or a float with no fractional part, in `0 .. 2**bits - 1` (Helm renders `8000` as `8000.0`)."""
    type_name = f"u{bits}"
    maximum = 2**bits - 1

    def structure(value: Any, tp: Any) -> int:
        if isinstance(value, str):
            # a quoted number, as `{{ env.X }}` templating produces (placeholders live inside strings)
            try:
                value = float(value.strip()) if "." in value else int(value.strip())
            except ValueError:
                raise InvalidValue(
                    f"expected a non-negative whole number ({type_name}), got a string that is not a number"
                ) from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidValue(f"expected a non-negative whole number ({type_name}), got {toml_kind(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidValue(f"expected a non-negative whole number ({type_name}), got {value}")
        if value < 0:
            raise InvalidValue(f"expected non-negative number for {type_name}, got {value:g}")
        if isinstance(value, float) and not value.is_integer():
            raise InvalidValue(f"expected whole number for {type_name}, got {value}")
        if value > maximum:
            raise InvalidValue(f"{value:g} out of range for {type_name}")
        return int(value)

    return structure


def _is_literal(tp: Any) -> bool:
    return typing.get_origin(tp) is typing.Literal


def _is_homogeneous_tuple(tp: Any) -> bool:
    args = typing.get_args(tp)
    return typing.get_origin(tp) is tuple and len(args) == 2 and args[1] is Ellipsis


def _is_mapping(tp: Any) -> bool:
    return typing.get_origin(tp) in (collections.abc.Mapping, dict)


def _structure_literal(value: Any, tp: Any) -> Any:
    options = typing.get_args(tp)
    if isinstance(value, str) and value in options:
        return value
    listed = ", ".join(f"'{option}'" for option in options)
    if isinstance(value, str):
        raise InvalidValue(f"expected one of {listed}, got '{value}'{_did_you_mean(value, options)}")
    raise InvalidValue(f"expected one of {listed}, got {toml_kind(value)}")


def _note(error: BaseException, index: int | str, item_type: Any) -> BaseException:
    error.__notes__ = [*getattr(error, "__notes__", []), IterableValidationNote(f"@ {index!r}", index, item_type)]
    return error


class _Hooks:
    """Structure hooks bound to one converter (they recurse through it)."""

    def __init__(self, converter: cattrs.Converter) -> None:
        self.converter = converter

    def tuple_factory(self, tp: Any) -> Callable[[Any, Any], Any]:
        item_type = typing.get_args(tp)[0]

        def structure(value: Any, _: Any) -> tuple[Any, ...]:
            if not isinstance(value, list | tuple):
                raise _expected(tp, value)
            items: list[Any] = []
            errors: list[Exception] = []
            for index, item in enumerate(value):
                try:
                    items.append(self.converter.structure(item, item_type))
                except Exception as error:
                    errors.append(_note(error, index, item_type))  # type: ignore[arg-type]
            if errors:
                raise IterableValidationError(f"While structuring {tp!r}", errors, tp)
            return tuple(items)

        return structure

    def mapping_factory(self, tp: Any) -> Callable[[Any, Any], Any]:
        args = typing.get_args(tp)
        value_type = args[1] if len(args) == 2 else Any

        def structure(value: Any, _: Any) -> dict[str, Any]:
            if not isinstance(value, Mapping):
                raise _expected(tp, value)
            result: dict[str, Any] = {}
            errors: list[Exception] = []
            for key, item in value.items():
                try:
                    result[key] = self.converter.structure(item, value_type)
                except Exception as error:
                    errors.append(_note(error, key, value_type))  # type: ignore[arg-type]
            if errors:
                raise IterableValidationError(f"While structuring {tp!r}", errors, tp)
            return result

        return structure

    def class_factory(self, cls: type) -> Callable[[Any, Any], Any]:
        overrides = {
            field.name: override(struct_hook=lenient_uint_hook(field.metadata[LENIENT_UINT]))
            for field in attrs.fields(cls)
            if LENIENT_UINT in field.metadata
        }
        generated: Callable[[Any, Any], Any] = make_dict_structure_fn(
            cls,
            self.converter,
            _cattrs_forbid_extra_keys=True,
            _cattrs_detailed_validation=True,
            **overrides,  # type: ignore[arg-type]
        )

        def structure(value: Any, _: Any) -> Any:
            if not isinstance(value, Mapping):
                raise _expected(cls, value)
            return generated(value, cls)

        return structure

    def tagged_union(self, union_type: Any) -> Callable[[Any, Any], Any]:
        union = _TAGGED_UNIONS[union_type]
        options = ", ".join(f"'{tag}'" for tag in union.variants)

        def structure(value: Any, _: Any) -> Any:
            if not isinstance(value, Mapping):
                raise _expected(union_type, value)
            if union.tag_key not in value:
                raise InvalidValue(f"missing required key (expected one of {options})", (union.tag_key,))
            tag = value[union.tag_key]
            if not isinstance(tag, str):
                raise InvalidValue(f"expected one of {options}, got {toml_kind(tag)}", (union.tag_key,))
            if tag not in union.variants:
                raise InvalidValue(
                    f"unknown {union.what} '{tag}'; expected one of {options}{_did_you_mean(tag, union.variants)}",
                    (union.tag_key,),
                )
            rest = {key: item for key, item in value.items() if key != union.tag_key}
            return self.converter.structure(rest, union.variants[tag])

        return structure


# ------------------------------------------------------------------------------------- unstructuring


def _unstructure_class_factory(converter: cattrs.Converter) -> Callable[[type], Callable[[Any], Any]]:
    def factory(cls: type) -> Callable[[Any], Any]:
        generated: Callable[[Any], dict[str, Any]] = make_dict_unstructure_fn(
            cls, converter, _cattrs_omit_if_default=True
        )
        tag_key = _TAG_KEY_OF_CLASS.get(cls)
        if tag_key is None:
            return generated
        tag = cls.TAG  # type: ignore[attr-defined]

        def unstructure(obj: Any) -> dict[str, Any]:
            return {tag_key: tag, **generated(obj)}

        return unstructure

    return factory


def make_converter() -> cattrs.Converter:
    """A converter for the config classes: strict types, unknown keys rejected, detailed errors."""
    converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    hooks = _Hooks(converter)
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(Secret, _structure_secret)
    converter.register_structure_hook(bool, _structure_bool)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(float, _structure_float)
    converter.register_structure_hook_func(lambda tp: tp is Any, _structure_any)
    converter.register_structure_hook_func(_is_literal, _structure_literal)
    converter.register_structure_hook_factory(_is_homogeneous_tuple, hooks.tuple_factory)
    converter.register_structure_hook_factory(_is_mapping, hooks.mapping_factory)
    converter.register_structure_hook_factory(attrs.has, hooks.class_factory)
    for union_type in _TAGGED_UNIONS:
        converter.register_structure_hook(union_type, hooks.tagged_union(union_type))

    converter.register_unstructure_hook(Secret, Secret.reveal)
    converter.register_unstructure_hook_factory(
        _is_homogeneous_tuple, lambda _: lambda value: [converter.unstructure(item) for item in value]
    )
    converter.register_unstructure_hook_factory(attrs.has, _unstructure_class_factory(converter))
    return converter


CONVERTER = make_converter()


# ---------------------------------------------------------------------------------------- public API


def structure_agent_config(document: Mapping[str, Any]) -> AgentConfig | list[ConfigProblem]:
    """Build an `AgentConfig` from a parsed (and templated) TOML document, or list what is wrong."""
    try:
        return CONVERTER.structure(document, AgentConfig)
    except Exception as error:
        problems: list[ConfigProblem] = []
        collect_problems(error, (), None, problems)
        return problems


def unstructure_agent_config(config: AgentConfig) -> dict[str, Any]:
    data: dict[str, Any] = CONVERTER.unstructure(config, AgentConfig)
    return data


def dump_config(config: AgentConfig) -> str:
    """The TOML text of a config (secrets written in clear: this is the file itself)."""
    data = unstructure_agent_config(config)
    # Multi-line strings keep prompts readable, but tomli-w writes "\r\n" in them as a bare newline (which
    # TOML reads back as "\n"); a document holding a carriage return is written with escapes instead.
    return tomli_w.dumps(data, multiline_strings=not _contains_carriage_return(data))


def _contains_carriage_return(value: Any) -> bool:
    if isinstance(value, str):
        return "\r" in value
    if isinstance(value, Mapping):
        return any(_contains_carriage_return(key) or _contains_carriage_return(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(_contains_carriage_return(item) for item in value)
    return False


def collect_problems(error: BaseException, path: KeyPath, expected: Any, out: list[ConfigProblem]) -> None:
    """Flatten cattrs' nested validation errors into (key path, message) problems."""
    if isinstance(error, ClassValidationError):
        with_notes, without = error.group_exceptions()
        for sub_error, attribute_note in with_notes:
            collect_problems(sub_error, (*path, attribute_note.name), attribute_note.type, out)
        for sub_error in without:
            collect_problems(sub_error, path, None, out)
    elif isinstance(error, IterableValidationError):
        with_index, without_index = error.group_exceptions()
        for sub_error, item_note in with_index:
            collect_problems(sub_error, (*path, item_note.index), item_note.type, out)
        for sub_error in without_index:
            collect_problems(sub_error, path, None, out)
    elif isinstance(error, ForbiddenExtraKeysError):
        for key in sorted(error.extra_fields):
            out.append(ConfigProblem((*path, key), _unknown_key_message(error.cl, key)))
    elif isinstance(error, InvalidValue):
        out.append(ConfigProblem((*path, *error.subpath), error.message))
    elif isinstance(error, KeyError):
        wanted = f" (expected {describe_type(expected)})" if expected is not None else ""
        out.append(ConfigProblem(path, f"missing required key{wanted}"))
    else:  # a bug in a hook: say where, never the value
        out.append(ConfigProblem(path, f"invalid value ({type(error).__name__})"))
