"""Recover tool calls that a model wrote as text instead of using the native tool-call channel.

Some models served by Ollama or llama.cpp ignore native tool calling and write the call into their
answer. When fallback parsing is on, the adapter runs the answer through this module and turns what it
finds into ordinary tool calls. Formats are tried in this order; the first format that yields
a call to an *available* tool wins, and calls naming other tools are skipped:

1. JSON ``{"name": ..., "parameters"|"arguments": {...}}``: the whole text as one object or a list of
   such objects; else the fenced code blocks; else every balanced ``{...}`` / ``[{...}]`` holding
   ``"name"`` (string- and escape-aware scan, in text order).
2. Hermes ``<tool_call>{json}</tool_call>``, one call per block.
3. Pythonic ``[tool(a="x", b=1, flag=true)]`` on one line, several calls per list allowed.
4. Qwen XML ``<function=NAME><parameter=K>v</parameter></function>``; the closing tag may be
   ``</tool_call>``, parameters may use the open form ``<parameter=K> v`` running to the next ``<``.

The parser never raises and never turns prose into a call: every format needs ``{``, ``[`` or ``<``.
Deliberate departures from the reference: pythonic values may be negative numbers or nested
lists/objects (the reference drops those pairs), an ``arguments`` value that is a JSON-encoded object
string is decoded, the brace scan also runs when code blocks exist but hold no call (a ``` inside a
JSON string must not hide the call), and a Qwen ``<function=...>`` cut off at the end still counts.

Streaming (``StreamingToolCallDetector``): visible prose is streamed to the user immediately. From
the first point where a call may begin (``{"``, a triple-backtick fence, ``<tool_call>``, ``<function=``,
``[name(`` or ``[{``, including a partial marker at the very end of a delta) text is held back until
that construct is complete. A complete construct that holds no call is released and streaming goes on;
one that parses as a call is withheld from the user together with everything after it, because the
turn continues with a tool round. ``finish()`` returns the held text minus the call text, plus the
calls parsed from the whole answer, so the user never sees raw tool-call markup.

An answer that *starts with* a call (``parse_leading_tool_call``, ``LeadingToolCallDetector``): a model steered to
choose between a message and a call (llama.cpp's native mode) sometimes chooses the message and then writes a call in
it. Besides the formats above when they open the answer, this reads the forms such a model writes in their place:
``functions.NAME:`` followed by ``{`` or by nothing (the format the model was taught: a call even when the JSON never
closes, with no arguments then), ``NAME: {...}``, ``functions.NAME({...})`` / ``NAME()`` (whole JSON objects), and
any of these inside a fenced code block. NAME must be an available tool. Text after the call is ignored (the turn
goes on with a tool round); an answer that opens with prose, or merely mentions a tool, is no call. The streaming
detector holds back only the start of an answer, while it may still become such a call.
"""

from __future__ import annotations

import ast
import json
import math
import re
import warnings
from collections.abc import Collection, Iterator

import attrs

from aura.domain.messages import new_tool_call_id

__all__ = [
    "LeadingToolCallDetector",
    "ParsedToolCall",
    "StreamingToolCallDetector",
    "might_contain_tool_call",
    "parse_leading_tool_call",
    "parse_tool_calls",
    "synthetic_tool_call_id",
]


@attrs.frozen
class ParsedToolCall:
    """A tool call recovered from model text; ``arguments`` is the compact JSON of its arguments."""

    name: str
    arguments: str


synthetic_tool_call_id = new_tool_call_id
"""An id for a text-parsed call (the one id generator, `aura.domain.messages.new_tool_call_id`)."""


def might_contain_tool_call(text: str) -> bool:
    """Cheap check for whether ``text`` is worth buffering and parsing (prose must not be held back)."""
    trimmed = text.strip()
    return (
        (trimmed.startswith("{") and '"name"' in trimmed)
        or "<tool_call>" in trimmed
        or (trimmed.startswith("[") and "(" in trimmed and trimmed.endswith(")]"))
        or ("<function=" in trimmed and ("</function>" in trimmed or "</tool_call>" in trimmed))
    )


def parse_tool_calls(text: str, available_names: Collection[str]) -> list[ParsedToolCall]:
    """The calls written in ``text`` to tools in ``available_names``; empty when there are none."""
    return list(_safe_extract(text, frozenset(available_names)).calls)


# --------------------------------------------------------------------------------------------------
# Extraction: calls plus the text spans they came from (the streaming detector cuts those out).

_Span = tuple[int, int]
_RawCall = tuple[str, str]

_I64_MIN = -(2**63)
_I64_MAX = 2**63 - 1
# Upper bound on the scanning steps one parse may spend on the brace scan and on pythonic
# arguments, so adversarial text (thousands of unclosed `{"` or `[f(`) stays fast instead of
# quadratic. Real answers use a tiny fraction of it.
_SCAN_STEP_BUDGET = 200_000


class _Budget:
    """Scanning steps left; shared by every scan of one parse."""

    __slots__ = ("remaining",)

    def __init__(self, steps: int = _SCAN_STEP_BUDGET) -> None:
        self.remaining = steps

    def spend(self, distance: int) -> bool:
        """Pay for one regex jump over ``distance`` characters; False once exhausted."""
        self.remaining -= 1 + distance // 64
        return self.remaining >= 0


def _pairs(text: str, opener: str, closer: str) -> Iterator[tuple[int, int, int]]:
    """``(start, inner_start, closer_start)`` of each non-nested opener…closer pair, left to right.

    Same pairs as a lazy ``opener(.*?)closer`` regex, in linear time: once a closer is missing,
    no later opener can have one either.
    """
    pos = 0
    while True:
        start = text.find(opener, pos)
        if start < 0:
            return
        inner = start + len(opener)
        close = text.find(closer, inner)
        if close < 0:
            return
        yield start, inner, close
        pos = close + len(closer)


@attrs.frozen
class _Extraction:
    calls: tuple[ParsedToolCall, ...] = ()
    spans: tuple[_Span, ...] = ()


class _Collector:
    """Keeps the calls to available tools, with the span each came from."""

    def __init__(self, names: frozenset[str]) -> None:
        self._names = names
        self.calls: list[ParsedToolCall] = []
        self.spans: list[_Span] = []

    def add(self, call: _RawCall, span: _Span) -> bool:
        if call[0] not in self._names:
            return False
        self.calls.append(ParsedToolCall(call[0], call[1]))
        self.spans.append(span)
        return True

    def result(self) -> _Extraction:
        return _Extraction(tuple(self.calls), tuple(self.spans))


def _safe_extract(text: str, names: frozenset[str]) -> _Extraction:
    # A parser bug must degrade to "no call found", never break the chat stream.
    try:
        return _extract(text, names)
    except Exception:
        return _Extraction()


def _extract(text: str, names: frozenset[str]) -> _Extraction:
    if not names or not text.strip():
        return _Extraction()
    for fmt in (_json_format, _hermes_format, _pythonic_format, _qwen_format):
        found = fmt(text, names)
        if found.calls:
            return found
    return _Extraction()


# --------------------------------------------------------------------------------------------------
# JSON helpers


def _reject_constant(token: str) -> object:
    raise ValueError(f"non-standard JSON constant {token}")


_INVALID = object()


def _load_json(text: str) -> object:
    """The decoded value, or ``_INVALID``; NaN/Infinity are refused like a strict JSON parser does."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return _INVALID


def _compact(value: object) -> str | None:
    try:
        out = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        out.encode("utf-8")  # lone surrogates would break the wire encoding later
    except (ValueError, TypeError, RecursionError):
        return None
    return out


def _json_call(value: object) -> _RawCall | None:
    """``(name, arguments)`` when ``value`` is shaped like a call, whatever tool it names."""
    if not isinstance(value, dict):
        return None
    name = value.get("name")
    if not isinstance(name, str) or not name:
        return None
    params = value.get("parameters")
    if params is None:
        params = value.get("arguments")
    if params is None:
        params = {}
    elif isinstance(params, str):
        # OpenAI-style calls carry the arguments as a JSON-encoded string.
        decoded = _load_json(params)
        if isinstance(decoded, dict):
            params = decoded
    arguments = _compact(params)
    return None if arguments is None else (name, arguments)


def _json_calls(value: object) -> list[_RawCall] | None:
    """Calls in one decoded object or a list of them; None when nothing is call-shaped."""
    if isinstance(value, dict):
        call = _json_call(value)
        return None if call is None else [call]
    if isinstance(value, list):
        calls = [call for item in value if (call := _json_call(item)) is not None]
        return calls or None
    return None


_OUTSIDE_STRING = {"{": re.compile(r'[{}"\\]'), "[": re.compile(r'[\[\]"\\]')}
_INSIDE_STRING = re.compile(r'["\\]')
_CLOSER = {"{": "}", "[": "]"}


class _BalancedScanner:
    """Finds where a JSON object or array opened at ``start`` closes; resumable as text grows."""

    __slots__ = ("_close", "_depth", "_in_string", "_open", "_outside", "pos", "steps")

    def __init__(self, start: int, opener: str) -> None:
        self.pos = start
        self.steps = 0
        self._open = opener
        self._close = _CLOSER[opener]
        self._outside = _OUTSIDE_STRING[opener]
        self._depth = 0
        self._in_string = False

    def advance(self, text: str, max_steps: int = -1) -> int | None:
        """The end index (exclusive) once balanced; None while still open or out of steps."""
        pos, depth, in_string = self.pos, self._depth, self._in_string
        n = len(text)
        steps = 0
        end: int | None = None
        while steps != max_steps:
            steps += 1
            if in_string:
                m = _INSIDE_STRING.search(text, pos)
                if m is None:
                    pos = n
                    break
                i = m.start()
                if text[i] == "\\":
                    if i + 1 >= n:
                        pos = i  # the escaped character has not arrived yet
                        break
                    pos = i + 2
                else:
                    in_string, pos = False, i + 1
                continue
            m = self._outside.search(text, pos)
            if m is None:
                pos = n
                break
            i = m.start()
            ch = text[i]
            pos = i + 1
            if ch == '"':
                in_string = True
            elif ch == self._open:
                depth += 1
            elif ch == self._close:
                depth -= 1
                if depth == 0:
                    end = pos
                    break
        self.pos, self._depth, self._in_string = pos, depth, in_string
        self.steps += steps
        return end


def _widen(text: str, span: _Span, opener: str = "<tool_call>", closer: str = "</tool_call>") -> _Span:
    """Grow a call's span over the wrapper tags around it, so the wrapper is withheld too."""
    start, end = span
    i = start
    while i > 0 and text[i - 1].isspace():
        i -= 1
    if text.endswith(opener, 0, i):
        start = i - len(opener)
    j = end
    while j < len(text) and text[j].isspace():
        j += 1
    if text.startswith(closer, j):
        end = j + len(closer)
    return start, end


# --------------------------------------------------------------------------------------------------
# Format 1: JSON

_FENCE_INFO = re.compile(r"[ \t]*[A-Za-z0-9_+.\-]*[ \t]*\n?")
_JSON_START = re.compile(r'\{(?=\s*")|\[(?=\s*\{)')


def _json_format(text: str, names: frozenset[str]) -> _Extraction:
    found = _Collector(names)
    start = len(text) - len(text.lstrip())
    end = len(text.rstrip())
    if text[start] in "{[":
        for call in _json_calls(_load_json(text[start:end])) or ():
            found.add(call, (start, end))
        if found.calls:
            return found.result()

    seen: set[str] = set()
    for fence_start, inner, close in _pairs(text, "```", "```"):
        info = _FENCE_INFO.match(text, inner, close)
        content = text[info.end() if info else inner : close].strip()
        if content in seen:
            continue
        seen.add(content)
        for call in _json_calls(_load_json(content)) or ():
            found.add(call, (fence_start, close + 3))
    if found.calls:
        return found.result()

    # Balanced-brace scan. A call-shaped candidate claims its span, so objects nested in its
    # arguments are not read as calls of their own.
    claimed_end = 0
    known_by_content: dict[str, bool] = {}
    for cand_start, cand_end in _json_candidates(text):
        if cand_start < claimed_end:
            continue
        content = text[cand_start:cand_end]
        span = _widen(text, (cand_start, cand_end))
        if content in known_by_content:
            if known_by_content[content]:
                found.spans.append(span)  # a repeat is dropped as a call but still withheld
            claimed_end = cand_end
            continue
        calls = _json_calls(_load_json(content))
        if calls is None:
            continue
        claimed_end = cand_end
        known = False
        for call in calls:
            known = found.add(call, span) or known
        known_by_content[content] = known
    return found.result()


def _json_candidates(text: str) -> Iterator[_Span]:
    """Balanced ``{"...}`` and ``[{...}]`` substrings that mention ``"name"``, by start position."""
    last_name = text.rfind('"name"')
    if last_name < 0:
        return
    budget = _Budget()
    for m in _JSON_START.finditer(text, 0, last_name + 1):
        start = m.start()
        scanner = _BalancedScanner(start, text[start])
        end = scanner.advance(text, max(budget.remaining, 1))
        budget.remaining -= scanner.steps
        if end is not None and text.find('"name"', start, end) >= 0:
            yield start, end
        if budget.remaining <= 0:
            return


# --------------------------------------------------------------------------------------------------
# Format 2: Hermes


def _hermes_format(text: str, names: frozenset[str]) -> _Extraction:
    found = _Collector(names)
    for start, inner, close in _pairs(text, "<tool_call>", "</tool_call>"):
        for call in _json_calls(_load_json(text[inner:close])) or ():
            found.add(call, (start, close + len("</tool_call>")))
    return found.result()


# --------------------------------------------------------------------------------------------------
# Format 3: pythonic (llama 3.x)

_PY_START = re.compile(r"\[[ \t]*[A-Za-z_][A-Za-z0-9_]*[ \t]*\(")
_PY_PARTIAL = re.compile(r"\[[ \t]*(?:[A-Za-z_][A-Za-z0-9_]*[ \t]*)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)[ \t]*=(?!=)")
_BARE = re.compile(r"[^\s,()\[\]{}'\"=]+")
_HSPACE = re.compile(r"[ \t]*")
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "b": "\b",
    "f": "\f",
    "0": "\0",
    "\\": "\\",
    "'": "'",
    '"': '"',
}

_STRING_STOPS = {"'": re.compile(r"['\\]"), '"': re.compile(r'["\\]')}
_NESTED_STOPS = re.compile(r"[\[\]{}'\"]")

_FAIL = object()  # syntax error: not a pythonic call list
_SKIP = object()  # readable but unsupported value: drop that pair


def _number(word: str) -> int | float | None:
    """int when it fits i64, else a finite float; None when ``word`` is no number."""
    if _INT.fullmatch(word):
        value = int(word)
        if _I64_MIN <= value <= _I64_MAX:
            return value
    if _FLOAT.fullmatch(word):
        number = float(word)
        if math.isfinite(number):
            return number
    return None


def _bare_value(word: str) -> object:
    number = _number(word)
    if number is not None:
        return number
    lowered = word.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    return lowered


def _jsonable(value: object) -> object:
    """A Python literal as JSON data, or ``_SKIP`` when it has no JSON form."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if _I64_MIN <= value <= _I64_MAX else _jsonable(float(value))
    if isinstance(value, float):
        return value if math.isfinite(value) else _SKIP
    if isinstance(value, list | tuple):
        items = [_jsonable(item) for item in value]
        return _SKIP if any(item is _SKIP for item in items) else items
    if isinstance(value, dict):
        obj: dict[str, object] = {}
        for key, item in value.items():
            converted = _jsonable(item)
            if not isinstance(key, str) or converted is _SKIP:
                return _SKIP
            obj[key] = converted
        return obj
    return _SKIP


def _literal(raw: str) -> object:
    """A nested list/object value written as JSON or as a Python literal."""
    value = _load_json(raw)
    if value is not _INVALID:
        return value
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escapes in model text are not our warnings
            return _jsonable(ast.literal_eval(raw))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError, OverflowError):
        return _SKIP


class _PythonicReader:
    """Reads ``[tool(k=v, ...), ...]`` from ``start`` up to ``end`` (one line)."""

    def __init__(self, text: str, start: int, end: int, budget: _Budget) -> None:
        self._text = text
        self._end = end
        self._budget = budget
        self.pos = start
        self.ran_out = False  # failed only because the text stopped: more input may complete it

    def read_list(self) -> list[_RawCall] | None:
        if not self._eat("["):
            return None
        calls: list[_RawCall] = []
        while True:
            self._skip_space()
            call = self._read_call()
            if call is None:
                return None
            calls.append(call)
            self._skip_space()
            if self._eat(","):
                continue
            return calls if self._eat("]") else None

    def _read_call(self) -> _RawCall | None:
        m = _IDENT.match(self._text, self.pos, self._end)
        if m is None:
            self._note_end()
            return None
        name = m.group()
        self.pos = m.end()
        self._skip_space()
        if not self._eat("("):
            return None
        args: dict[str, object] = {}
        while True:
            self._skip_space()
            if self._eat(")"):
                break
            if not self._read_arg(args):
                return None
            self._skip_space()
            if self._eat(","):
                continue
            if self._eat(")"):
                break
            return None
        arguments = _compact(args)
        return None if arguments is None else (name, arguments)

    def _read_arg(self, args: dict[str, object]) -> bool:
        key: str | None = None
        m = _KEY.match(self._text, self.pos, self._end)
        if m is not None:
            key = m.group(1)
            self.pos = m.end()
            self._skip_space()
        value = self._read_value()
        if value is _FAIL:
            return False
        if key is not None and value is not _SKIP:  # positional values have no name: dropped
            args[key] = value
        return True

    def _read_value(self) -> object:
        if self.pos >= self._end:
            self.ran_out = True
            return _FAIL
        ch = self._text[self.pos]
        if ch in "'\"":
            return self._read_string(ch)
        if ch in "[{":
            end = self._nested_end()
            if end is None:
                return _FAIL
            raw = self._text[self.pos : end]
            self.pos = end
            return _literal(raw)
        m = _BARE.match(self._text, self.pos, self._end)
        if m is None:
            return _FAIL
        self.pos = m.end()
        return _bare_value(m.group())

    def _read_string(self, quote: str) -> object:
        text, i = self._text, self.pos + 1
        special = _STRING_STOPS[quote]
        out: list[str] = []
        while (m := special.search(text, i, self._end)) is not None:
            j = m.start()
            if not self._budget.spend(j - i):
                return _FAIL
            out.append(text[i:j])
            if text[j] == quote:
                self.pos = j + 1
                return _join_surrogates("".join(out))
            if j + 1 >= self._end:
                break
            nxt = text[j + 1]
            if nxt == "u" and _is_hex(text[j + 2 : min(j + 6, self._end)]):
                out.append(chr(int(text[j + 2 : j + 6], 16)))
                i = j + 6
            else:
                out.append(_ESCAPES.get(nxt, "\\" + nxt))
                i = j + 2
        self.ran_out = True
        return _FAIL

    def _nested_end(self) -> int | None:
        """End of a nested ``[...]``/``{...}`` value; quotes of both kinds are honoured."""
        text, depth, i = self._text, 0, self.pos
        while (m := _NESTED_STOPS.search(text, i, self._end)) is not None:
            j = m.start()
            if not self._budget.spend(j - i):
                return None
            ch = text[j]
            i = j + 1
            if ch in "'\"":
                # Skip the quoted part; escapes may hide the quote character.
                special = _STRING_STOPS[ch]
                while True:
                    q = special.search(text, i, self._end)
                    if q is None:
                        self.ran_out = True
                        return None
                    k = q.start()
                    if not self._budget.spend(k - i):
                        return None
                    if text[k] == ch:
                        i = k + 1
                        break
                    i = k + 2
            elif ch in "[{":
                depth += 1
            else:
                depth -= 1
                if depth == 0:
                    return i
        self.ran_out = True
        return None

    def _skip_space(self) -> None:
        m = _HSPACE.match(self._text, self.pos, self._end)
        if m is not None:
            self.pos = m.end()

    def _eat(self, ch: str) -> bool:
        if self.pos < self._end and self._text[self.pos] == ch:
            self.pos += 1
            return True
        self._note_end()
        return False

    def _note_end(self) -> None:
        if self.pos >= self._end:
            self.ran_out = True


def _join_surrogates(value: str) -> str:
    """Merge ``\\ud83d\\ude00``-style escape pairs into one character, as JSON decoders do."""
    try:
        return value.encode("utf-16", "surrogatepass").decode("utf-16")
    except UnicodeDecodeError:
        return value  # a lone surrogate: _compact rejects the call later


def _is_hex(chars: str) -> bool:
    return len(chars) == 4 and all(c in "0123456789abcdefABCDEF" for c in chars)


def _line_end(text: str, start: int) -> int:
    end = text.find("\n", start)
    return len(text) if end < 0 else end


def _pythonic_format(text: str, names: frozenset[str]) -> _Extraction:
    found = _Collector(names)
    consumed = 0
    budget = _Budget()
    for m in _PY_START.finditer(text):
        start = m.start()
        if start < consumed:
            continue
        reader = _PythonicReader(text, start, _line_end(text, start), budget)
        calls = reader.read_list()
        if calls is None:
            continue
        consumed = reader.pos
        for call in calls:
            found.add(call, (start, reader.pos))
    return found.result()


# --------------------------------------------------------------------------------------------------
# Format 4: Qwen XML

# Names and keys are bounded so a `<function=` without `>` cannot make the search quadratic.
_QWEN_FUNCTION_OPEN = re.compile(r"<function=([^>\n]{0,256})>")
_QWEN_PARAM_OPEN = re.compile(r"<parameter=([^>\n]{0,256})>")
_QWEN_OPEN_VALUE = re.compile(r"[^<]*")
_QWEN_CLOSERS = ("</function>", "</tool_call>")
_PARAM_CLOSER = "</parameter>"


class _NextFind:
    """``text.find(needle, pos)`` for non-decreasing ``pos``, in linear total time."""

    def __init__(self, text: str, needle: str) -> None:
        self._text = text
        self._needle = needle
        self._found = -2  # not searched yet

    def at_or_after(self, pos: int) -> int:
        if self._found == -2 or 0 <= self._found < pos:
            self._found = self._text.find(self._needle, pos)
        return self._found


def _qwen_value(raw: str) -> object:
    number = _number(raw)
    if number is not None:
        return number
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "none"):
        return None
    return raw


def _qwen_format(text: str, names: frozenset[str]) -> _Extraction:
    found = _Collector(names)
    closers = [(_NextFind(text, tag), len(tag)) for tag in _QWEN_CLOSERS]
    next_function = _NextFind(text, "<function=")
    param_closer = _NextFind(text, _PARAM_CLOSER)
    pos = 0
    while (function := _QWEN_FUNCTION_OPEN.search(text, pos)) is not None:
        body = function.end()
        # The body runs to the first closing tag, else up to the next function, else to the end.
        nxt = next_function.at_or_after(body)
        body_end = end = nxt if nxt >= 0 else len(text)
        for finder, length in closers:
            close = finder.at_or_after(body)
            if 0 <= close < body_end:
                body_end, end = close, close + length
        name = function.group(1).strip()
        arguments = _compact(_qwen_params(text, body, body_end, param_closer))
        if name and arguments is not None:
            found.add((name, arguments), _widen(text, (function.start(), end)))
        pos = end
    return found.result()


def _qwen_params(text: str, start: int, end: int, closer: _NextFind) -> dict[str, object]:
    """Closed-form parameters of one function body, or the open form when it has none."""
    args: dict[str, object] = {}
    closed = False
    pos = start
    while (param := _QWEN_PARAM_OPEN.search(text, pos, end)) is not None:
        close = closer.at_or_after(param.end())
        if close < 0 or close + len(_PARAM_CLOSER) > end:
            break
        closed = True
        if key := param.group(1).strip():
            args[key] = _qwen_value(text[param.end() : close].strip())
        pos = close + len(_PARAM_CLOSER)
    if closed:
        return args
    pos = start
    while (param := _QWEN_PARAM_OPEN.search(text, pos, end)) is not None:
        value = _QWEN_OPEN_VALUE.match(text, param.end(), end)
        pos = value.end() if value else param.end()
        if (key := param.group(1).strip()) and value:
            args[key] = _qwen_value(value.group().strip())
    return args


# --------------------------------------------------------------------------------------------------
# Streaming


class _Pending:
    """An unfinished construct being held back; says when new text may have completed it."""

    def needs_recheck(self, text: str) -> bool:
        return True


class _ScanPending(_Pending):
    def __init__(self, scanner: _BalancedScanner) -> None:
        self._scanner = scanner

    def needs_recheck(self, text: str) -> bool:
        return self._scanner.advance(text) is not None


class _MarkerPending(_Pending):
    def __init__(self, markers: tuple[str, ...], scan_from: int) -> None:
        self._markers = markers
        self._scan_from = scan_from

    def needs_recheck(self, text: str) -> bool:
        start = self._scan_from
        self._scan_from = max(start, len(text) - max(len(m) for m in self._markers) + 1)
        return any(text.find(marker, start) >= 0 for marker in self._markers)


class _LinePending(_Pending):
    """A pythonic list can only end at a ``)]`` or die at the end of its line."""

    def __init__(self, scan_from: int, newline_only: bool) -> None:
        self._scan_from = scan_from
        self._newline_only = newline_only

    def needs_recheck(self, text: str) -> bool:
        start, self._scan_from = self._scan_from, len(text)
        if text.find("\n", start) >= 0:
            return True
        if self._newline_only:
            return False
        close = text.find("]", start)
        while close >= 0:
            before = close - 1
            while before >= 0 and text[before] in " \t":
                before -= 1
            if before >= 0 and text[before] == ")":
                return True
            close = text.find("]", close + 1)
        return False


# After this many `)]` that did not close a pythonic list, only the end of its line is awaited:
# each re-read costs the whole line, and a real call closes at its first `)]`.
_MAX_LINE_REREADS = 32
_INCOMPLETE = "incomplete"
_DEAD = "dead"
_CALL = "call"
_TRIGGER = re.compile(r"[{\[<`]")
_TAGS = ("<tool_call>", "<function=")


class StreamingToolCallDetector:
    """Splits a streamed answer into text to show now and text-written tool calls to withhold.

    ``feed`` each text delta and forward what it returns; at the end of the model's answer call
    ``finish`` for the held-back text that was no call and the calls found (module docstring).
    The detector is ready for the next answer after ``finish``.
    """

    def __init__(self, available_names: Collection[str]) -> None:
        self._names = frozenset(available_names)
        self._reset()

    def _reset(self) -> None:
        self._buffer = ""
        self._emitted = 0  # everything before this index has been handed to the user
        self._locked = False  # a call was seen: hold everything until finish()
        self._pending: _Pending | None = None
        self._line_rereads = (-1, 0)  # (start, count) of the pythonic candidate being re-read

    def feed(self, delta: str) -> str:
        """Take the next text delta; return the text that is safe to show the user now."""
        if not delta:
            return ""
        self._buffer += delta
        if not self._names:
            return self._release_all()
        if self._locked:
            return ""
        if self._pending is not None and not self._pending.needs_recheck(self._buffer):
            return ""
        self._pending = None
        return self._release()

    def finish(self) -> tuple[str, list[ParsedToolCall]]:
        """End of the answer: the held-back text that is no call, and the calls in the answer."""
        text, start = self._buffer, self._emitted
        found = _safe_extract(text, self._names)
        self._reset()
        return _cut(text, start, found.spans), list(found.calls)

    def _release_all(self) -> str:
        out = self._buffer[self._emitted :]
        self._emitted = len(self._buffer)
        return out

    def _release(self) -> str:
        text = self._buffer
        pos = self._emitted
        budget = _Budget()  # bounds the pythonic re-reads when many `[f(` candidates die at once
        while True:
            m = _TRIGGER.search(text, pos)
            if m is None:
                return self._release_all()
            start = m.start()
            status, end, pending = self._construct_at(start, budget)
            if status == _DEAD:
                pos = end
                continue
            out = text[self._emitted : start]
            self._emitted = start
            if status == _CALL:
                self._locked = True
            else:
                self._pending = pending
            return out

    def _judge(self, start: int, end: int) -> tuple[str, int, _Pending | None]:
        has_call = bool(_safe_extract(self._buffer[start:end], self._names).calls)
        return (_CALL if has_call else _DEAD), end, None

    def _construct_at(self, start: int, budget: _Budget) -> tuple[str, int, _Pending | None]:
        """Classify the possible call starting at ``start``: still open, no call, or a call."""
        text = self._buffer
        ch = text[start]
        if ch in "{[":
            nxt = start + 1
            while nxt < len(text) and text[nxt].isspace():
                nxt += 1
            if nxt == len(text):
                return _INCOMPLETE, start, _Pending()
            if (ch == "{" and text[nxt] == '"') or (ch == "[" and text[nxt] == "{"):
                scanner = _BalancedScanner(start, ch)
                end = scanner.advance(text)
                if end is None:
                    return _INCOMPLETE, start, _ScanPending(scanner)
                return self._judge(start, end)
            if ch == "[":
                return self._pythonic_at(start, budget)
            return _DEAD, start + 1, None
        if ch == "<":
            for tag, closers in (("<tool_call>", ("</tool_call>",)), ("<function=", ("</function>", "</tool_call>"))):
                if text.startswith(tag, start):
                    ends = [i + len(c) for c in closers if (i := text.find(c, start + len(tag))) >= 0]
                    if not ends:
                        return _INCOMPLETE, start, _MarkerPending(closers, start + len(tag))
                    return self._judge(start, min(ends))
            rest = text[start : start + 11]
            if len(text) - start < 11 and any(tag.startswith(rest) for tag in _TAGS):
                return _INCOMPLETE, start, _Pending()
            return _DEAD, start + 1, None
        # a backtick
        if text.startswith("```", start):
            close = text.find("```", start + 3)
            if close < 0:
                return _INCOMPLETE, start, _MarkerPending(("```",), start + 3)
            return self._judge(start, close + 3)
        if text[start:] in ("`", "``"):
            return _INCOMPLETE, start, _Pending()
        return _DEAD, start + 1, None

    def _pythonic_at(self, start: int, budget: _Budget) -> tuple[str, int, _Pending | None]:
        text = self._buffer
        if _PY_START.match(text, start) is None:
            if _PY_PARTIAL.fullmatch(text, start) is not None:
                return _INCOMPLETE, start, _Pending()
            return _DEAD, start + 1, None
        line_end = _line_end(text, start)
        reader = _PythonicReader(text, start, line_end, budget)
        if reader.read_list() is not None:
            return self._judge(start, reader.pos)
        if reader.ran_out and line_end == len(text):
            last_start, count = self._line_rereads
            count = count + 1 if last_start == start else 1
            self._line_rereads = (start, count)
            return _INCOMPLETE, start, _LinePending(len(text), count > _MAX_LINE_REREADS)
        return _DEAD, start + 1, None


def _cut(text: str, start: int, spans: tuple[_Span, ...]) -> str:
    """``text[start:]`` without the given spans (clipped: shown text cannot be taken back)."""
    pieces: list[str] = []
    pos = start
    for span_start, span_end in sorted(spans):
        if span_end <= pos:
            continue
        if span_start > pos:
            pieces.append(text[pos:span_start])
        pos = max(pos, span_end)
    pieces.append(text[pos:])
    return "".join(pieces)


# --------------------------------------------------------------------------------------------------
# An answer that starts with a call (module docstring)

#: An answer still undecided after this many characters is no call: a written call is short.
MAX_LEADING_CALL_CHARS = 2000
_LEADING_TAGS = (("<tool_call>", ("</tool_call>",)), ("<function=", ("</function>", "</tool_call>")))
_Leading = tuple[str, ParsedToolCall | None]
_NOT_A_CALL: _Leading = (_DEAD, None)
_UNDECIDED: _Leading = (_INCOMPLETE, None)


def parse_leading_tool_call(text: str, available_names: Collection[str]) -> ParsedToolCall | None:
    """The call to an available tool that ``text`` starts with (written as text); None when it starts otherwise."""
    try:
        status, call = _leading(text, frozenset(available_names), final=True)
    except Exception:  # a parser bug degrades to "no call", never breaks the stream
        return None
    return call if status == _CALL else None


def _skip(text: str, pos: int, spaces: str = " \t\r\n") -> int:
    while pos < len(text) and text[pos] in spaces:
        pos += 1
    return pos


def _leading(text: str, names: frozenset[str], *, final: bool) -> _Leading:
    """Whether ``text`` starts with a call: a call, no call, or undecided yet (only when not ``final``)."""
    start = _skip(text, 0)
    rest = text[start:]
    if not rest or not names:
        return _NOT_A_CALL if final or not names else _UNDECIDED
    undecided = False
    for name in sorted(names, key=len, reverse=True):  # `disk_usage` before `disk`
        for head in (f"functions.{name}", name):
            if rest.startswith(head):
                found = _after_head(text, start + len(head), name, final=final, explicit=head != name)
                if found[0] != _DEAD:
                    return found
            elif not final and head.startswith(rest):
                undecided = True
    if rest.startswith("```"):
        close = text.find("```", start + 3)
        if close < 0 and not final:
            return _UNDECIDED
        info = _FENCE_INFO.match(text, start + 3)
        inner = text[info.end() if info else start + 3 : close if close >= 0 else len(text)]
        return _leading(inner, names, final=True)
    for tag, closers in _LEADING_TAGS:
        if rest.startswith(tag):
            ends = [i + len(c) for c in closers if (i := text.find(c, start + len(tag))) >= 0]
            if not ends and not final:
                return _UNDECIDED
            return _first_call(text[start : min(ends) if ends else len(text)], names)
        if not final and tag.startswith(rest):
            undecided = True
    if rest[0] in "{[":
        scanner = _BalancedScanner(start, rest[0])
        end = scanner.advance(text)
        if end is None:
            return _NOT_A_CALL if final else _UNDECIDED
        return _first_call(text[start:end], names)
    if not final and "```".startswith(rest):
        undecided = True
    return _UNDECIDED if undecided else _NOT_A_CALL


def _first_call(construct: str, names: frozenset[str]) -> _Leading:
    calls = _safe_extract(construct, names).calls
    return (_CALL, calls[0]) if calls else _NOT_A_CALL


def _after_head(text: str, pos: int, name: str, *, final: bool, explicit: bool) -> _Leading:
    """After ``[functions.]NAME``: ``:`` and a JSON object, or ``(`` a JSON object ``)``."""
    pos = _skip(text, pos, " \t")
    if pos == len(text):
        return _NOT_A_CALL if final else _UNDECIDED
    opener = text[pos]
    if opener not in ":(":
        return _NOT_A_CALL
    pos = _skip(text, pos + 1)
    # `functions.NAME:` is the call format a native-mode model was taught: followed by the end of the answer or by
    # `{`, it is a call even when the arguments never close or do not parse (they count as none). A bare `NAME:`
    # or a call in parentheses needs a whole JSON object, or it may be prose.
    marked = explicit and opener == ":"
    if pos == len(text):
        if not final:
            return _UNDECIDED
        return (_CALL, ParsedToolCall(name, "{}")) if marked else _NOT_A_CALL
    if opener == "(" and text[pos] == ")":
        return _CALL, ParsedToolCall(name, "{}")
    if text[pos] != "{":
        return _NOT_A_CALL
    end = _BalancedScanner(pos, "{").advance(text)
    if end is None:
        if marked:  # the tool is known already; the arguments may still close
            return (_CALL if final else _INCOMPLETE), ParsedToolCall(name, "{}")
        return _NOT_A_CALL if final else _UNDECIDED
    if opener == "(":
        close = _skip(text, end)
        if close == len(text) and not final:
            return _UNDECIDED
        if close == len(text) or text[close] != ")":
            return _NOT_A_CALL
    arguments = _load_json(text[pos:end])
    compact = _compact(arguments) if isinstance(arguments, dict) else None
    if compact is None:
        return (_CALL, ParsedToolCall(name, "{}")) if marked else _NOT_A_CALL
    return _CALL, ParsedToolCall(name, compact)


class LeadingToolCallDetector:
    """Holds back the start of a streamed answer while it may be a call written as text (module docstring).

    ``feed`` each delta and forward what it returns: nothing while the answer may still become a call, then
    everything held, then every delta as it comes. ``chosen`` names the tool as soon as the answer is known to
    call it (``functions.NAME:`` and ``{``, or a whole call): a caller that makes the arguments itself may stop
    generating there. ``call`` is set once the call is complete; ``finish`` returns the text still held that is no
    call, and the call.
    """

    def __init__(self, available_names: Collection[str]) -> None:
        self._names = frozenset(available_names)
        self.text = ""
        """Everything fed, the call's text included."""
        self.call: ParsedToolCall | None = None
        self.chosen: str | None = None
        self._status = _INCOMPLETE if self._names else _DEAD

    def feed(self, delta: str) -> str:
        """Take the next delta; return the text that is safe to show now."""
        self.text += delta
        if self._status == _DEAD:
            return delta
        if self._status == _CALL:
            return ""
        try:
            status, call = _leading(self.text, self._names, final=False)
        except Exception:
            status, call = _NOT_A_CALL
        if status == _INCOMPLETE and call is None and len(self.text) > MAX_LEADING_CALL_CHARS:
            status = _DEAD
        self._status = status
        if call is not None:
            self.chosen = call.name
            if status == _CALL:
                self.call = call
        return self.text if status == _DEAD else ""

    def finish(self) -> tuple[str, ParsedToolCall | None]:
        """End of the answer: the held text that is no call, and the call the answer starts with."""
        if self._status == _INCOMPLETE:
            self.call = parse_leading_tool_call(self.text, self._names)
            self._status = _DEAD if self.call is None else _CALL
            if self.call is None:
                return self.text, None
            self.chosen = self.call.name
        return "", self.call
