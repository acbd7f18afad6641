"""Secret masking is linear in the length of the text, whatever the text, and still masks what it masked.

Masking runs on every log line and log lines carry client input (a session id, an MCP server's stderr),
so a pattern that backtracks lets one request stall the server. Linearity is shown three ways, none timed:
the patterns have a shape Python's engine runs in linear time (checked on their parse trees), adversarial
texts of 100,000+ characters finish under the test's timeout (the old patterns needed hours), and on short
texts the output equals that of the previous patterns, kept here as the reference.
"""

from __future__ import annotations

import logging
import re
import string
from collections.abc import Iterator
from re import _constants as sre_constants  # type: ignore[attr-defined]
from re import _parser as sre_parser  # type: ignore[attr-defined]
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from aura.adapters.telemetry.logging import (
    _TRIGGERS,
    MASK,
    MAX_FIELD_CHARS,
    MAX_MESSAGE_CHARS,
    SECRET_PATTERNS,
    SecretMasker,
    SecretMaskingFilter,
    mask_secrets,
)
from tests.unit.telemetry.masking_inputs import (
    ADVERSARIAL_UNITS,
    FRAGMENTS,
    REFERENCE_PATTERNS,
    reference_mask,
    repeated,
)

# --- the shape of the patterns ---------------------------------------------------------------------


def _walk(items: Any) -> Iterator[tuple[Any, Any]]:
    for op, value in items:
        yield op, value
        if op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, sre_constants.POSSESSIVE_REPEAT):
            yield from _walk(value[2])
        elif op in (sre_constants.SUBPATTERN, sre_constants.ATOMIC_GROUP):
            yield from _walk(value[-1])
        elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            yield from _walk(value[1])
        elif op is sre_constants.BRANCH:
            for branch in value[1]:
                yield from _walk(branch)


_REPEATS = (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, sre_constants.POSSESSIVE_REPEAT)
_SINGLE_CHARACTER = (sre_constants.IN, sre_constants.LITERAL, sre_constants.NOT_LITERAL, sre_constants.ANY)


def _first_consuming(items: Any) -> tuple[Any, Any]:
    """The first node that consumes text (zero-width checks and groups looked through)."""
    for op, value in items:
        if op in (sre_constants.AT, sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            continue
        if op is sre_constants.SUBPATTERN:
            return _first_consuming(value[-1])
        return op, value
    raise AssertionError("pattern consumes nothing")


@pytest.mark.parametrize("pattern", [p for p, _ in SECRET_PATTERNS], ids=lambda p: p.pattern[:32])
def test_every_pattern_has_a_shape_that_matches_in_linear_time(pattern: re.Pattern[str]) -> None:
    tree = list(sre_parser.parse(pattern.pattern, pattern.flags))
    # starts with a literal (or a choice of literals), never with a repetition
    op, value = _first_consuming(tree)
    assert op in (sre_constants.LITERAL, sre_constants.BRANCH), f"{pattern.pattern} starts with {op}"
    if op is sre_constants.BRANCH:
        assert all(_first_consuming(branch)[0] is sre_constants.LITERAL for branch in value[1])
    for op, value in _walk(tree):
        if op not in _REPEATS:
            continue
        _low, high, body = value
        body = list(body)
        repeats_inside = [inner for inner, _ in _walk(body) if inner in _REPEATS]
        if high > 1:
            # a repetition repeats one character class, nothing that could itself repeat
            assert len(body) == 1, f"{pattern.pattern}: a repetition of a sequence"
            assert body[0][0] in _SINGLE_CHARACTER, f"{pattern.pattern}: a repetition of {body[0][0]}"
            assert not repeats_inside
        if high == sre_constants.MAXREPEAT:
            assert op is sre_constants.POSSESSIVE_REPEAT, f"{pattern.pattern}: an unbounded repetition that backtracks"


def test_the_check_catches_the_old_quadratic_shapes() -> None:
    """The shape test above fails on the patterns that stalled the server."""
    old = REFERENCE_PATTERNS[2][0]
    with pytest.raises(AssertionError):
        test_every_pattern_has_a_shape_that_matches_in_linear_time(old)


# --- adversarial inputs -----------------------------------------------------------------------------


@pytest.mark.timeout(60)  # the old patterns needed minutes for one of these texts; linear masking takes ms
@settings(max_examples=40, deadline=None)
@given(unit=st.sampled_from(ADVERSARIAL_UNITS) | st.text(alphabet=string.printable, min_size=1, max_size=12))
@example(unit="a")
@example(unit="eyJaaaaaaaa-")
@example(unit="tokentoken=")
def test_masking_an_adversarial_text_of_100000_characters_finishes(unit: str) -> None:
    text = repeated(unit, 100_000)
    masker = SecretMasker(["sk-known-secret-value-123", "another-known-secret"])
    masked = masker.mask(text)
    assert "sk-known-secret-value-123" not in masked


def test_the_masker_scans_the_text_a_fixed_number_of_times(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the shapes above linear per scan, a bounded count of scans makes masking linear."""
    scanned: list[int] = []
    text = "token=abc " * 10_000
    originals = [pattern for pattern, _ in SECRET_PATTERNS]

    class Counting:
        def __init__(self, inner: re.Pattern[str]) -> None:
            self.inner = inner

        def sub(self, replacement: Any, value: str) -> str:
            scanned.append(len(value))
            return self.inner.sub(replacement, value)

    import aura.adapters.telemetry.logging as module

    monkeypatch.setattr(
        module, "SECRET_PATTERNS", tuple((Counting(p), r) for p, (_, r) in zip(originals, SECRET_PATTERNS, strict=True))
    )
    SecretMasker(["a-known-secret"]).mask(text)
    assert len(scanned) == len(SECRET_PATTERNS)
    assert sum(scanned) <= len(SECRET_PATTERNS) * len(text)


# --- same results -----------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=30))
def test_on_ascii_text_the_output_is_that_of_the_previous_patterns(parts: list[str]) -> None:
    text = "".join(parts)
    assert mask_secrets(text) == reference_mask(text)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=30))
def test_every_pattern_match_holds_a_trigger_so_the_prefilter_never_skips_one(parts: list[str]) -> None:
    text = "".join(parts)
    if any(pattern.search(text) for pattern, _ in SECRET_PATTERNS):
        assert _TRIGGERS.search(text.lower())


SECRET_SHAPES = {
    "openai": st.from_regex(r"sk-(proj-)?[A-Za-z0-9]{20,40}", fullmatch=True),
    "aws": st.from_regex(r"AKIA[0-9A-Z]{16}", fullmatch=True),
    "google": st.from_regex(r"AIza[0-9A-Za-z_-]{35}", fullmatch=True),
    "github": st.from_regex(r"ghp_[A-Za-z0-9]{36}", fullmatch=True),
    "jwt": st.from_regex(r"eyJ[A-Za-z0-9_-]{10,30}\.eyJ[A-Za-z0-9_-]{10,30}\.[A-Za-z0-9_-]{10,30}", fullmatch=True),
}
CONTEXTS = ("{}", "Authorization: Bearer {}", "authorization={}", '{{"api_key": "{}"}}', "password={}&x=1")


@settings(max_examples=300, deadline=None)
@given(
    shape=st.sampled_from(sorted(SECRET_SHAPES)),
    data=st.data(),
    context=st.sampled_from(CONTEXTS),
    before=st.text(alphabet=string.ascii_letters + " ,;", max_size=40),
    after=st.text(alphabet=string.ascii_letters + " ,;", max_size=40),
)
def test_secrets_of_every_known_shape_are_masked_in_any_surrounding(
    shape: str, data: st.DataObject, context: str, before: str, after: str
) -> None:
    secret = data.draw(SECRET_SHAPES[shape])
    text = f"{before} {context.format(secret)} {after}"
    assert secret not in mask_secrets(text)


@given(secret=st.text(alphabet=string.ascii_letters + string.digits + "/+=-_.", min_size=8, max_size=40))
def test_a_known_value_is_masked_wherever_it_sits(secret: str) -> None:
    masker = SecretMasker([secret])
    for text in (secret, f"x{secret}y", f"{secret} and {secret}", f"url=https://h/?q={secret}"):
        assert secret not in masker.mask(text)


def test_a_secret_that_contains_another_is_masked_whole() -> None:
    masker = SecretMasker(["abcdefgh", "xxabcdefghyy"])
    assert masker.mask("key xxabcdefghyy here") == f"key {MASK} here"


# --- bounded log records ----------------------------------------------------------------------------


def test_a_long_message_is_cut_after_masking_and_says_how_much_was_left_out() -> None:
    secret = "sk-proj-" + "A" * 40
    record = logging.makeLogRecord(
        {"msg": "stderr: %s", "args": ("x" * (MAX_MESSAGE_CHARS - 20) + " " + secret + " tail" * 100,), "levelno": 20}
    )
    SecretMaskingFilter(environ={}).filter(record)
    message = record.getMessage()
    assert len(message) < MAX_MESSAGE_CHARS + 50
    assert "more characters]" in message
    assert "sk-proj-A" not in message  # masked before the cut: no prefix of the key survives


def test_extra_fields_are_bounded_too() -> None:
    record = logging.makeLogRecord({"msg": "m", "levelno": 20, "session_id": "s" * 100_000})
    SecretMaskingFilter(environ={}).filter(record)
    assert len(record.session_id) < MAX_FIELD_CHARS + 50
