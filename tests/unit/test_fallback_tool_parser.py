"""The text fallback tool-call parser (spec §8): every listed case, plus properties for streaming."""

from __future__ import annotations

import json
import re
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aura.domain.fallback_tool_parser import (
    ParsedToolCall,
    StreamingToolCallDetector,
    _extract,
    might_contain_tool_call,
    parse_tool_calls,
    synthetic_tool_call_id,
)

NAMES = frozenset({"quick_tool", "get_weather", "search", "read_file", "browser_get_state", "calculate", "list_files"})


def calls_of(text: str, names: frozenset[str] = NAMES) -> list[tuple[str, object]]:
    """Parsed calls with decoded arguments (formats 3-4 do not fix the key order)."""
    return [(c.name, json.loads(c.arguments)) for c in parse_tool_calls(text, names)]


def stream(text: str, cuts: list[int], names: frozenset[str] = NAMES) -> tuple[str, str, list[ParsedToolCall]]:
    """Feed ``text`` cut at ``cuts``; return (visible text, held-back text, calls)."""
    detector = StreamingToolCallDetector(names)
    bounds = [0, *sorted(cuts), len(text)]
    visible = "".join(detector.feed(text[a:b]) for a, b in pairwise(bounds))
    held, calls = detector.finish()
    return visible, held, calls


# --------------------------------------------------------------------------------------------------
# Format 1: JSON


def test_json_with_parameters() -> None:
    text = '{"name": "get_weather", "parameters": {"city": "Paris"}}'
    assert parse_tool_calls(text, NAMES) == [ParsedToolCall("get_weather", '{"city":"Paris"}')]


def test_json_with_arguments_alias() -> None:
    assert calls_of('{"name": "search", "arguments": {"query": "rust"}}') == [("search", {"query": "rust"})]


def test_json_complex_arguments_are_kept_exactly() -> None:
    args = {"filters": {"tags": ["a", "b"], "limit": 10, "exact": True}, "ratio": 0.5, "none": None}
    text = json.dumps({"name": "search", "parameters": args}, indent=2)
    assert parse_tool_calls(text, NAMES) == [ParsedToolCall("search", json.dumps(args, separators=(",", ":")))]


@pytest.mark.parametrize(
    "text",
    ['{"name": "list_files"}', '{"name": "list_files", "parameters": null}', '{"name":"list_files","x":1}'],
)
def test_json_without_arguments_gives_empty_object(text: str) -> None:
    assert parse_tool_calls(text, NAMES) == [ParsedToolCall("list_files", "{}")]


@pytest.mark.parametrize("fence", ["```json", "```", "```JSON"])
def test_json_in_code_block(fence: str) -> None:
    text = f'Let me look that up.\n{fence}\n{{"name": "search", "parameters": {{"q": "x"}}}}\n```\nOne moment.'
    assert calls_of(text) == [("search", {"q": "x"})]


def test_json_in_several_code_blocks() -> None:
    block = '```json\n{{"name": "{}", "parameters": {{}}}}\n```'
    text = f"{block.format('search')}\nand\n{block.format('list_files')}\n```python\nx = 1\n```"
    assert calls_of(text) == [("search", {}), ("list_files", {})]


def test_json_embedded_in_text_spec_example() -> None:
    text = 'Sure. {"name":"quick_tool","parameters":{"message":"hi"}} Done!'
    assert parse_tool_calls(text, NAMES) == [ParsedToolCall("quick_tool", '{"message":"hi"}')]


def test_json_nested_arguments_are_one_call() -> None:
    text = 'Ok: {"name": "calculate", "parameters": {"expr": {"op": "add", "args": [1, {"op": "mul"}]}}}'
    assert calls_of(text) == [("calculate", {"expr": {"op": "add", "args": [1, {"op": "mul"}]}})]


def test_json_object_inside_arguments_is_not_a_second_call() -> None:
    text = 'x {"name": "read_file", "parameters": {"name": "search", "path": "/a"}}'
    assert calls_of(text) == [("read_file", {"name": "search", "path": "/a"})]


def test_json_call_nested_in_a_wrapper_object_is_found() -> None:
    text = 'Calling {"type": "function", "function": {"name": "search", "arguments": "{\\"q\\": 1}"}}'
    assert calls_of(text) == [("search", {"q": 1})]


def test_json_several_calls_in_text_order() -> None:
    text = 'First {"name": "search", "parameters": {"q": 1}} then {"name": "read_file", "parameters": {}}'
    assert calls_of(text) == [("search", {"q": 1}), ("read_file", {})]


def test_json_duplicate_candidates_are_removed() -> None:
    call = '{"name": "search", "parameters": {"q": 1}}'
    assert calls_of(f"{call} and again {call}") == [("search", {"q": 1})]


@pytest.mark.parametrize("prefix", ["", "Calls: "])
def test_json_list_of_calls(prefix: str) -> None:
    text = prefix + '[{"name": "search", "parameters": {"q": 1}}, {"name": "list_files"}]'
    assert calls_of(text) == [("search", {"q": 1}), ("list_files", {})]


def test_json_braces_inside_strings_do_not_confuse_the_scan() -> None:
    text = 'Here: {"name": "search", "parameters": {"q": "a } \\" { b"}} ok'
    assert calls_of(text) == [("search", {"q": 'a } " { b'})]


def test_backticks_inside_a_json_string_do_not_hide_the_call() -> None:
    text = 'Do {"name": "search", "parameters": {"q": "```x```"}} now'
    assert calls_of(text) == [("search", {"q": "```x```"})]


# --------------------------------------------------------------------------------------------------
# Format 2: Hermes


def test_hermes_single() -> None:
    text = '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>'
    assert calls_of(text) == [("get_weather", {"city": "Oslo"})]


def test_hermes_with_whitespace() -> None:
    text = '<tool_call>\n   {"name": "get_weather", "arguments": {"city": "Oslo"}}  \n\n</tool_call>'
    assert calls_of(text) == [("get_weather", {"city": "Oslo"})]


def test_hermes_multiple_blocks() -> None:
    text = (
        'I will do two things.\n<tool_call>\n{"name": "search", "arguments": {"q": "a"}}\n</tool_call>\n'
        '<tool_call>\n{"name": "read_file", "arguments": {"path": "/b"}}\n</tool_call>'
    )
    assert calls_of(text) == [("search", {"q": "a"}), ("read_file", {"path": "/b"})]


def test_hermes_nested_arguments() -> None:
    text = '<tool_call>{"name": "search", "arguments": {"filter": {"range": {"from": 1, "to": [2, 3]}}}}</tool_call>'
    assert calls_of(text) == [("search", {"filter": {"range": {"from": 1, "to": [2, 3]}}})]


# --------------------------------------------------------------------------------------------------
# Format 3: pythonic


def test_pythonic_simple() -> None:
    assert calls_of('[get_weather(city="London")]') == [("get_weather", {"city": "London"})]


def test_pythonic_multiple_arguments() -> None:
    assert calls_of('[search(query="rust lang", limit=5, ratio=0.25)]') == [
        ("search", {"query": "rust lang", "limit": 5, "ratio": 0.25})
    ]


def test_pythonic_booleans_and_bare_words() -> None:
    text = "[search(exact=true, fuzzy=False, deep=TRUE, empty=none, nil=null, mode=Fast)]"
    assert calls_of(text) == [
        ("search", {"exact": True, "fuzzy": False, "deep": True, "empty": None, "nil": None, "mode": "fast"})
    ]


def test_pythonic_single_quotes() -> None:
    assert calls_of("[read_file(path='/tmp/a b.txt', note='it\\'s')]") == [
        ("read_file", {"path": "/tmp/a b.txt", "note": "it's"})
    ]


def test_pythonic_several_calls_and_lists() -> None:
    text = 'First [search(q="a"), read_file(path="/x")] and then [list_files()]'
    assert calls_of(text) == [("search", {"q": "a"}), ("read_file", {"path": "/x"}), ("list_files", {})]


def test_pythonic_extras_negative_nested_and_keyword_names() -> None:
    text = '[calculate(delta=-3, values=[1, 2.5], opts={"a": True}, from="x", huge=99999999999999999999)]'
    assert calls_of(text) == [
        ("calculate", {"delta": -3, "values": [1, 2.5], "opts": {"a": True}, "from": "x", "huge": 1e20})
    ]


def test_pythonic_string_escapes() -> None:
    assert calls_of('[search(q="line\\nbreak \\u00e9 \\ud83d\\ude00")]') == [("search", {"q": "line\nbreak é 😀"})]


def test_pythonic_must_stay_on_one_line() -> None:
    assert calls_of('[search(\nq="a")]') == []


# --------------------------------------------------------------------------------------------------
# Format 4: Qwen XML


def test_qwen_closed_parameters() -> None:
    text = "<function=read_file>\n<parameter=path>\n/etc/hosts\n</parameter>\n</function>"
    assert calls_of(text) == [("read_file", {"path": "/etc/hosts"})]


def test_qwen_numbers_and_literals() -> None:
    text = (
        "<function=calculate><parameter=a>42</parameter><parameter=b>-2.5</parameter>"
        "<parameter=c>FALSE</parameter><parameter=d>None</parameter><parameter=e>inf</parameter>"
        "<parameter=f>12345678901234567890</parameter></function>"
    )
    assert calls_of(text) == [
        ("calculate", {"a": 42, "b": -2.5, "c": False, "d": None, "e": "inf", "f": 1.2345678901234567e19})
    ]


def test_qwen_closed_by_tool_call_tag_spec_example() -> None:
    text = "<function=browser_get_state> <parameter=include_screenshot> True </tool_call>"
    assert parse_tool_calls(text, NAMES) == [ParsedToolCall("browser_get_state", '{"include_screenshot":true}')]


def test_qwen_open_parameter() -> None:
    text = "<function=search> <parameter=query> weather in Paris\n</function>"
    assert calls_of(text) == [("search", {"query": "weather in Paris"})]


def test_qwen_multiple_open_parameters() -> None:
    text = "<function=search>\n<parameter=query> rust\n<parameter=limit> 3\n<parameter=exact> true\n</function>"
    assert calls_of(text) == [("search", {"query": "rust", "limit": 3, "exact": True})]


def test_qwen_multiline_value_and_wrapper() -> None:
    text = (
        "<tool_call>\n<function=read_file>\n<parameter=path>\n  a\n  b  \n</parameter>\n</function>\n</tool_call>"
        "<function=search><parameter=q>x</parameter></function>"
    )
    assert calls_of(text) == [("read_file", {"path": "a\n  b"}), ("search", {"q": "x"})]


# --------------------------------------------------------------------------------------------------
# Nothing to find


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\t ",
        "The weather in Paris is sunny; call get_weather(city) if needed.",
        '{"name": "get_weather", "parameters": {"city": "Paris"',  # malformed JSON
        '{"name": get_weather, "parameters": {}}',
        '{"tool": "get_weather", "parameters": {"city": "Paris"}}',  # JSON without name
        '{"name": 42, "parameters": {}}',
        '{"name": "delete_everything", "parameters": {}}',  # unknown tool
        "<tool_call>not json</tool_call>",
        "[delete_everything(all=true)]",
        "<function=delete_everything><parameter=a>1</parameter></function>",
        "See [the docs](https://example.com) and [1] or [note (draft)].",
        "<b>bold</b> and a < b > c",
        '{"name": "search", "parameters": NaN}',
    ],
)
def test_no_calls(text: str) -> None:
    assert parse_tool_calls(text, NAMES) == []


def test_empty_tool_list_finds_nothing() -> None:
    assert parse_tool_calls('{"name": "search", "parameters": {}}', []) == []


def test_unknown_calls_are_skipped_known_ones_kept() -> None:
    text = '{"name": "nope", "parameters": {}} {"name": "search", "parameters": {"q": 1}}'
    assert calls_of(text) == [("search", {"q": 1})]


def test_earlier_format_wins() -> None:
    text = '[list_files()] {"name": "search", "parameters": {}}'
    assert calls_of(text) == [("search", {})]


def test_pathological_input_is_fast() -> None:
    text = '{"a' * 20_000 + '"name"'
    assert parse_tool_calls(text, NAMES) == []
    assert parse_tool_calls("[search(" * 5_000, NAMES) == []


# --------------------------------------------------------------------------------------------------
# Helpers


def test_synthetic_ids() -> None:
    ids = {synthetic_tool_call_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(r"call_[0-9a-f]{24}", i) for i in ids)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (' {"name": "x"} ', True),
        ("text <tool_call>", True),
        ("[a(b=1)]", True),
        ("<function=x></function>", True),
        ("<function=x> <parameter=a> 1 </tool_call>", True),
        ("hello", False),
        ('say {"name": "x"}', False),
        ("[a(b=1)] more", False),
    ],
)
def test_might_contain_tool_call(text: str, expected: bool) -> None:
    assert might_contain_tool_call(text) is expected


# --------------------------------------------------------------------------------------------------
# Streaming detector


def test_stream_prose_is_released_immediately() -> None:
    detector = StreamingToolCallDetector(NAMES)
    assert detector.feed("Hello ") == "Hello "
    assert detector.feed("there (really) [1]. ") == "there (really) [1]. "
    assert detector.finish() == ("", [])


def test_stream_withholds_a_json_call_fed_one_character_at_a_time() -> None:
    text = 'Sure. {"name":"quick_tool","parameters":{"message":"hi"}} Done!'
    visible, held, calls = stream(text, list(range(1, len(text))))
    assert (visible, held) == ("Sure. ", " Done!")
    assert calls == [ParsedToolCall("quick_tool", '{"message":"hi"}')]


def test_stream_releases_json_that_is_not_a_call() -> None:
    detector = StreamingToolCallDetector(NAMES)
    assert detector.feed('Config: {"name": "demo", ') == "Config: "
    assert detector.feed('"port": 80} and more') == '{"name": "demo", "port": 80} and more'
    assert detector.finish() == ("", [])


def test_stream_holds_partial_markers_until_decided() -> None:
    detector = StreamingToolCallDetector(NAMES)
    assert detector.feed("a <tool_c") == "a "
    assert detector.feed("ake> b `") == "<tool_cake> b "
    assert detector.feed("`") == ""
    assert detector.feed("` code ``` [x") == "``` code ``` "
    assert detector.feed("] {x}") == "[x] {x}"
    assert detector.finish() == ("", [])


def test_stream_releases_code_blocks_without_calls() -> None:
    text = "Example:\n```python\nprint({'a': 1})\n```\nthen `x` and <b>y</b>."
    visible, held, calls = stream(text, list(range(1, len(text))))
    assert (visible, held, calls) == (text, "", [])


def test_stream_hermes_call_hides_wrapper_and_tail() -> None:
    text = 'Checking.\n<tool_call>\n{"name": "search", "arguments": {"q": "a"}}\n</tool_call>\nbye'
    visible, held, calls = stream(text, [3, 12, 15, 30, 60])
    assert (visible, held) == ("Checking.\n", "\nbye")
    assert calls == [ParsedToolCall("search", '{"q":"a"}')]


def test_stream_unterminated_call_is_found_at_finish() -> None:
    visible, held, calls = stream('Ok <tool_call>{"name": "search", "arguments": {}}', [5, 20])
    assert (visible, held) == ("Ok ", "")
    assert calls == [ParsedToolCall("search", "{}")]


def test_stream_without_tools_passes_everything_through() -> None:
    detector = StreamingToolCallDetector([])
    assert detector.feed('{"name": "search"') == '{"name": "search"'
    assert detector.finish() == ("", [])


def test_stream_detector_is_reusable_after_finish() -> None:
    detector = StreamingToolCallDetector(NAMES)
    detector.feed("[search(q=1)]")
    assert detector.finish() == ("", [ParsedToolCall("search", '{"q":1}')])
    assert detector.feed("plain") == "plain"
    assert detector.finish() == ("", [])


# --------------------------------------------------------------------------------------------------
# Properties

PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

FRAGMENTS = [
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    '"',
    "\\",
    ",",
    "=",
    "\n",
    "`",
    "```",
    "```json\n",
    '"name"',
    '{"name": "search"',
    '"parameters": {',
    '"arguments":',
    "<tool_call>",
    "</tool_call>",
    "<function=search>",
    "<function=",
    "</function>",
    "<parameter=q>",
    "</parameter>",
    "[search(",
    "q=",
    "'x'",
    "true",
    "1.5",
    "null",
]
messy_text = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)), max_size=30).map("".join)
prose = st.text(st.characters(blacklist_characters="{[<`", blacklist_categories=["Cs"]), max_size=40)


@PROPS
@given(st.one_of(st.text(), messy_text))
def test_parser_never_raises(text: str) -> None:
    found = _extract(text, NAMES)  # the unguarded core, so a bug is not hidden by the safety net
    assert all(c.name in NAMES for c in found.calls)
    for call in found.calls:
        json.loads(call.arguments)


@PROPS
@given(prose, st.sampled_from(sorted(NAMES)))
def test_prose_never_yields_a_call(text: str, name: str) -> None:
    assert parse_tool_calls(f"{text} {name}(x=1) {name} {text}", NAMES) == []


keys = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
i64 = st.integers(-(2**63), 2**63 - 1)
json_strings = st.text(st.characters(blacklist_characters="{", blacklist_categories=["Cs"]), max_size=15)
# Qwen values are coerced from text, so strings must not read as numbers or literals.
qwen_words = st.from_regex(r"[A-Za-z][A-Za-z ]{0,10}[A-Za-z]", fullmatch=True).filter(
    lambda w: w.lower() not in {"true", "false", "null", "none", "inf", "infinity", "nan"}
)


def render_json(name: str, args: dict[str, object], draw: st.DrawFn) -> str:
    key = draw(st.sampled_from(["parameters", "arguments"]))
    indent = draw(st.sampled_from([None, 2]))
    return json.dumps({"name": name, key: args}, indent=indent, ensure_ascii=draw(st.booleans()))


def pythonic_literal(value: object, draw: st.DrawFn) -> str:
    if isinstance(value, bool):
        return draw(st.sampled_from(["true", "True"] if value else ["false", "False"]))
    if isinstance(value, int):
        return str(value)
    assert isinstance(value, str)
    quoted = json.dumps(value, ensure_ascii=draw(st.booleans()))
    if draw(st.booleans()):  # the same string in single quotes
        return "'" + quoted[1:-1].replace('\\"', '"').replace("'", "\\'") + "'"
    return quoted


@st.composite
def rendered_calls(draw: st.DrawFn) -> tuple[str, ParsedToolCall]:
    """One call to a known tool, written in one of the supported formats, and what it must parse to."""
    name = draw(st.sampled_from(sorted(NAMES)))
    fmt = draw(st.sampled_from(["json", "fence", "hermes", "pythonic", "qwen", "qwen_open", "qwen_wrapped"]))
    values = st.one_of(i64, st.booleans(), qwen_words if fmt.startswith("qwen") else json_strings)
    args: dict[str, object] = draw(st.dictionaries(keys, values, max_size=4))
    if fmt == "json":
        text = render_json(name, args, draw)
    elif fmt == "fence":
        text = "```json\n" + render_json(name, args, draw) + "\n```"
    elif fmt == "hermes":
        text = "<tool_call>\n" + render_json(name, args, draw) + "\n</tool_call>"
    elif fmt == "pythonic":
        text = f"[{name}(" + ", ".join(f"{k}={pythonic_literal(v, draw)}" for k, v in args.items()) + ")]"
    else:
        literal = {True: "true", False: "false"}
        shown = {k: literal[v] if isinstance(v, bool) else str(v) for k, v in args.items()}
        if fmt == "qwen_open":
            body = "".join(f"\n<parameter={k}> {v}" for k, v in shown.items())
            text = f"<function={name}>{body}\n</function>"
        else:
            body = "".join(f"\n<parameter={k}>\n{v}\n</parameter>" for k, v in shown.items())
            text = f"<function={name}>{body}\n</function>"
            if fmt == "qwen_wrapped":
                text = f"<tool_call>\n{text}\n</tool_call>"
    expected = ParsedToolCall(name, json.dumps(args, separators=(",", ":"), ensure_ascii=False))
    return text, expected


@PROPS
@given(prose, rendered_calls(), prose, st.data())
def test_stream_recovers_a_split_call_and_withholds_it(
    before: str, rendered: tuple[str, ParsedToolCall], after: str, data: st.DataObject
) -> None:
    call_text, expected = rendered
    text = before + call_text + after
    cuts = data.draw(st.lists(st.integers(0, len(text)), max_size=len(text)))
    assert parse_tool_calls(text, NAMES) == [expected]
    visible, held, calls = stream(text, cuts)
    assert calls == [expected]
    assert (visible, held) == (before, after)


@PROPS
@given(st.one_of(st.text(max_size=80), messy_text), st.data())
def test_stream_loses_no_text(text: str, data: st.DataObject) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(text)), max_size=len(text)))
    visible, held, calls = stream(text, cuts)
    assert text.startswith(visible)
    assert calls == parse_tool_calls(text, NAMES)
    if not calls:
        assert visible + held == text
