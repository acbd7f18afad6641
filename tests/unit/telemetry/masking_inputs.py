"""Inputs for log-masking checks, shared by the masking tests and `bench/log_masking.py`.

The masker's previous (quadratic) patterns as the reference, the fragments every secret shape and every old
backtracking trap is made of, and the adversarial units that, repeated, made the old patterns slow.
"""

from __future__ import annotations

import re

from aura.adapters.telemetry.logging import MASK

# The patterns before the linear rewrite (ADR 0013): quadratic on long words; the reference on short texts.
REFERENCE_PATTERNS = (
    (
        re.compile(r"(?i)\b((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)(?:(bearer|basic|token)\s+)?[^\s\"',;}]+"),
        lambda m: f"{m.group(1)}{m.group(2) + ' ' if m.group(2) else ''}{MASK}",
    ),
    (
        re.compile(r"(?i)\b(bearer)\s+(?=[A-Za-z0-9._~+/=-]*[0-9._~+/=-])[A-Za-z0-9._~+/=-]{6,}"),
        lambda m: f"{m.group(1)} {MASK}",
    ),
    (
        re.compile(
            r"(?i)([\w-]*(?:api[_-]?key|apikey|secret|password|passwd|token|credentials?|private[_-]?key)"
            r"[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&}]+"
        ),
        lambda m: f"{m.group(1)}{MASK}",
    ),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{12,}"), lambda m: f"sk-{MASK}"),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), lambda m: MASK),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), lambda m: MASK),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"), lambda m: MASK),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+"), lambda m: MASK),
)


def reference_mask(text: str) -> str:
    for pattern, replacement in REFERENCE_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


# Pieces that make the old patterns backtrack, and pieces of every secret shape.
FRAGMENTS = [
    "Authorization", "authorization", "Proxy-Authorization", ": ", "=", '"', "'", " ", "\t", "Bearer ", "bearer",
    "Basic ", "token", "TOKEN", "api_key", "x-api-key", "secret", "password", "passwd", "credentials", "private-key",
    "sk-", "AKIA", "ASIA", "AIza", "ghp_", "eyJ", ".", "-", "_", "abc", "0123456789", "ABCDEFGHIJKLMNOP",
    "aaaaaaaaaaaa", "/", "+", ",", ";", "&", "}",
]  # fmt: skip
ADVERSARIAL_UNITS = [
    "a", "-", "eyJaaaaaaaa-", "eyJ", "eyJaaaaaaaa.", "sk-", "sk-a", "token", "token ", "tokentoken=", "api_key ",
    "x_", "ghp_", "ghp_" + "a" * 29, "AKIA", "bearer ", "bearer aaaaaaa ", "Authorization:", "authorization = ",
    "password\t", "  ", "a-b_c", "AIza", "Bearer " + "a" * 50,
]  # fmt: skip

# Named adversarial shapes, one row each in the benchmark's table.
ADVERSARIAL_SHAPES = {
    "one long word": "a",
    "eyJ runs": "eyJaaaaaaaa-",
    "sk- runs": "sk-",
    "token words": "tokentoken ",
    "bearer + letters": "bearer aaaaaaa ",
    "x_ words": "x_",
}


def repeated(unit: str, length: int) -> str:
    """`unit` repeated to exactly `length` characters."""
    return (unit * (length // len(unit) + 1))[:length]
