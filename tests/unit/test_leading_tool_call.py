"""A tool call written as the start of an answer (what llama.cpp's native mode rescues), read and streamed."""

from __future__ import annotations

import json
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aura.domain.fallback_tool_parser import (
    MAX_LEADING_CALL_CHARS,
    LeadingToolCallDetector,
    ParsedToolCall,
    parse_leading_tool_call,
)

NAMES = frozenset({"disk_usage", "memory_usage", "load_average", "disk"})


def leading(text: str) -> tuple[str, object] | None:
    call = parse_leading_tool_call(text, NAMES)
    return None if call is None else (call.name, json.loads(call.arguments))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('functions.memory_usage:\n{"path": "/"}', ("memory_usage", {"path": "/"})),
        ('  functions.disk_usage: {"path": "/var"}\nThe disk is 93% full.', ("disk_usage", {"path": "/var"})),
        ("functions.load_average:", ("load_average", {})),  # the answer ends after the head: no arguments
        ("functions.load_average:\n{}", ("load_average", {})),
        # the taught format: a call even when the written arguments never close or do not parse
        ('functions.memory_usage:\n{"path": "/sys/devices/memory/0x0000000, 10.0.0.0, ', ("memory_usage", {})),
        ('functions.disk_usage:\n{"path": "/",}', ("disk_usage", {})),
        ('disk_usage:{"path": "/"}', ("disk_usage", {"path": "/"})),
        ('disk_usage: {"path": "/home"}', ("disk_usage", {"path": "/home"})),
        ('functions.disk_usage({"path": "/"})', ("disk_usage", {"path": "/"})),
        ("disk_usage()", ("disk_usage", {})),
        ('disk({"path": "/"})', ("disk", {"path": "/"})),  # a name that prefixes another one
        ('```json\n{"name": "disk_usage", "arguments": {"path": "/"}}\n```', ("disk_usage", {"path": "/"})),
        ("```\nfunctions.memory_usage:\n{}\n```\nDone.", ("memory_usage", {})),
        ('{"name": "load_average", "arguments": {}}', ("load_average", {})),
        ('<tool_call>{"name": "disk_usage", "arguments": {"path": "/"}}</tool_call>', ("disk_usage", {"path": "/"})),
        ('[disk_usage(path="/")]', ("disk_usage", {"path": "/"})),
    ],
)
def test_a_call_written_as_the_answer_is_read(text: str, expected: tuple[str, object]) -> None:
    assert leading(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "The root disk is 93% full.",
        "Use disk_usage to check it.",  # mentions a tool
        "disk_usage: 93% of / is used.",  # a heading, no arguments
        "disk_usage:",  # a bare name is no call without arguments
        'Checking.\nfunctions.disk_usage:\n{"path": "/"}',  # prose first: it stays text
        'functions.reboot_host:\n{"now": true}',  # not an offered tool
        'reboot_host({"now": true})',
        '{"name": "reboot_host", "arguments": {}}',
        'functions.disk_usage:\n["/"]',  # arguments must be an object
        'disk_usage: {"path": "/"',  # unfinished, and not in the taught format
        'functions.disk_usage({"path": "/"} and more',
        "```python\nprint(1)\n```",
        "[1] First point.",
        "",
    ],
)
def test_prose_mentions_and_unknown_tools_are_no_call(text: str) -> None:
    assert leading(text) is None


def stream(text: str, cuts: list[int]) -> tuple[str, str, ParsedToolCall | None, bool]:
    """(shown while streaming, held text at the end, the call, whether the call was complete before the end)."""
    detector = LeadingToolCallDetector(NAMES)
    bounds = [0, *sorted(cuts), len(text)]
    shown = ""
    early = False
    for a, b in pairwise(bounds):
        shown += detector.feed(text[a:b])
        early = early or (detector.call is not None and b < len(text))
    held, call = detector.finish()
    return shown, held, call, early


def test_a_written_call_is_never_shown_and_is_known_as_soon_as_it_closes() -> None:
    text = 'functions.memory_usage:\n{"path": "/"}\nThe memory is fine.'
    shown, held, call, early = stream(text, list(range(1, len(text))))
    assert (shown, held) == ("", "")
    assert call == ParsedToolCall("memory_usage", '{"path":"/"}')
    assert early  # the caller can stop the model before it writes the rest


def test_prose_is_released_once_it_cannot_be_a_call() -> None:
    detector = LeadingToolCallDetector(NAMES)
    assert detector.feed("  ") == ""
    assert detector.feed("dis") == ""  # may still be `disk_usage:`
    assert detector.feed("k space is fine") == "  disk space is fine"
    assert detector.feed(' {"name": "disk_usage"}') == ' {"name": "disk_usage"}'  # streamed as it comes now
    assert detector.finish() == ("", None)


def test_an_answer_that_ends_undecided_is_text() -> None:
    detector = LeadingToolCallDetector(NAMES)
    assert detector.feed('disk_usage({"path": "/"') == ""
    assert detector.chosen is None
    assert detector.finish() == ('disk_usage({"path": "/"', None)


def test_the_tool_is_known_as_soon_as_the_taught_format_opens_its_arguments() -> None:
    detector = LeadingToolCallDetector(NAMES)
    assert detector.feed("functions.memory_usage:\n") == ""
    assert detector.chosen is None  # it may still turn into prose
    assert detector.feed('{"path": "/sys/0x000') == ""
    assert detector.chosen == "memory_usage"  # the caller can stop the model here
    assert detector.call is None  # the written arguments are not complete
    assert detector.finish() == ("", ParsedToolCall("memory_usage", "{}"))


def test_a_head_without_arguments_at_the_end_is_a_call() -> None:
    detector = LeadingToolCallDetector(NAMES)
    assert detector.feed("functions.load_average:\n") == ""
    assert detector.finish() == ("", ParsedToolCall("load_average", "{}"))


def test_a_long_undecided_start_is_released() -> None:
    detector = LeadingToolCallDetector(NAMES)
    opening = '{"note": "' + "x" * MAX_LEADING_CALL_CHARS
    assert detector.feed(opening) == opening
    assert detector.finish() == ("", None)


def test_a_long_taught_format_call_stays_held() -> None:
    detector = LeadingToolCallDetector(NAMES)
    assert detector.feed('functions.disk_usage:\n{"path": "' + "x" * MAX_LEADING_CALL_CHARS) == ""
    assert detector.finish() == ("", ParsedToolCall("disk_usage", "{}"))


def test_without_tools_everything_streams() -> None:
    detector = LeadingToolCallDetector([])
    assert detector.feed("functions.disk_usage:") == "functions.disk_usage:"


@given(st.text(max_size=60), st.lists(st.integers(0, 60), max_size=6))
def test_streaming_loses_no_text_and_agrees_with_the_parser(text: str, cuts: list[int]) -> None:
    shown, held, call, _ = stream(text, [c for c in cuts if c < len(text)])
    expected = parse_leading_tool_call(text, NAMES)
    if call is None:
        assert shown + held == text
        assert expected is None
    else:
        assert shown == ""
        assert call == expected


@given(st.sampled_from(sorted(NAMES)), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3))
def test_every_streamed_cut_of_a_written_call_finds_it(name: str, arguments: dict[str, int]) -> None:
    text = f"functions.{name}:\n{json.dumps(arguments)}\nmore words"
    for cut in range(1, len(text)):
        shown, held, call, _ = stream(text, [cut])
        assert (shown, held) == ("", "")
        assert call == ParsedToolCall(name, json.dumps(arguments, separators=(",", ":"), ensure_ascii=False))
