"""docs/library.md stays true: every name of `aura.__all__` is listed, and the ports table matches the Protocols."""

from __future__ import annotations

import re
from pathlib import Path

import typing_extensions

import aura

LIBRARY_DOC = Path(__file__).resolve().parents[2] / "docs" / "library.md"


def section(title: str) -> str:
    text = LIBRARY_DOC.read_text()
    return text.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def table_rows(text: str) -> list[list[str]]:
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("|---")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[1:]]


def test_every_public_name_is_listed() -> None:
    rows = table_rows(section("Everything in `aura`"))
    listed = {name for _, names in rows for name in re.findall(r"`([A-Za-z_]\w*)`", names)}
    assert set(aura.__all__) <= listed, sorted(set(aura.__all__) - listed)
    assert listed <= set(aura.__all__), f"listed but not exported: {sorted(listed - set(aura.__all__))}"


def test_the_ports_table_matches_the_protocols() -> None:
    rows = table_rows(section("Plugging in your own adapter: the ports"))
    documented: dict[str, set[str]] = {}
    for port, members, _ in rows:
        documented[port.strip("`")] = set(re.findall(r"`(\w+)`", members))
    exported_protocols = {
        name
        for name in aura.__all__
        if isinstance(getattr(aura, name), type) and typing_extensions.is_protocol(getattr(aura, name))
    }
    assert set(documented) == exported_protocols
    for port, members in documented.items():
        assert members == set(typing_extensions.get_protocol_members(getattr(aura, port))), port
