"""Typed attrs converters, so callers may pass any sequence or mapping and mypy still checks them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def string_tuple(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


def string_map(values: Mapping[str, str]) -> dict[str, str]:
    return dict(values)
