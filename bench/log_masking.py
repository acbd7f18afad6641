"""Log masking time against the length of the text (not a test).

    python bench/log_masking.py                 # the masker of aura.adapters.telemetry.logging
    python bench/log_masking.py --with-old      # also the quadratic patterns it replaced (up to 3,000 characters)

For each length and each adversarial shape (a long word, `eyJ...-` runs, repeated keywords, ...) it prints the
best of `--repeat` timings of `SecretMasker.mask`, in milliseconds, and the time per 1,000 characters: for a
linear masker that last column stays flat as the length grows. It also times one ordinary request log line, the
case that matters for CPU per request. Figures move with the machine's load; compare columns, not runs.
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable

from aura.adapters.telemetry.logging import MASK, SecretMasker

LENGTHS = (100, 1_000, 3_000, 8_000, 16_000, 64_000)
SHAPES = {
    "one long word": "a",
    "eyJ runs": "eyJaaaaaaaa-",
    "sk- runs": "sk-",
    "token words": "tokentoken ",
    "bearer + letters": "bearer aaaaaaa ",
    "x_ words": "x_",
}
REQUEST_LINE = (
    "chat completion req_0123456789abcdef0123456789abcdef: agent=sre session=cs_0123456789abcdef0123456789abcdef "
    "stream=True history=3"
)

# The patterns before ADR 0013, for comparison only.
_OLD = (
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
OLD_MAX_LENGTH = 3_000


def old_mask(text: str) -> str:
    for pattern, replacement in _OLD:
        text = pattern.sub(replacement, text)
    return text


def best_ms(function: Callable[[str], str], text: str, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        function(text)
        best = min(best, time.perf_counter() - started)
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--with-old", action="store_true", help="also time the old (quadratic) patterns")
    args = parser.parse_args()
    masker = SecretMasker(["sk-proj-AbCdEf0123456789XyZ", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"])

    header = "| shape | characters | masking ms | µs per 1,000 characters |"
    if args.with_old:
        header += " old patterns ms |"
    print(header)
    print("|---|---:|---:|---:|" + ("---:|" if args.with_old else ""))
    for shape, unit in SHAPES.items():
        for length in LENGTHS:
            text = (unit * (length // len(unit) + 1))[:length]
            took = best_ms(masker.mask, text, args.repeat)
            row = f"| {shape} | {length:,} | {took:.3f} | {took * 1000 / (length / 1000):.1f} |"
            if args.with_old:
                row += f" {best_ms(old_mask, text, 1):.1f} |" if length <= OLD_MAX_LENGTH else " - |"
            print(row, flush=True)

    runs = 20_000
    started = time.perf_counter()
    for _ in range(runs):
        masker.mask(REQUEST_LINE)
    line_us = (time.perf_counter() - started) / runs * 1e6
    print(f"\nan ordinary request log line ({len(REQUEST_LINE)} characters): {line_us:.2f} µs", end="")
    if args.with_old:
        started = time.perf_counter()
        for _ in range(runs // 10):
            old_mask(REQUEST_LINE)
        print(f" (old patterns: {(time.perf_counter() - started) / (runs // 10) * 1e6:.1f} µs)", end="")
    print()


if __name__ == "__main__":
    main()
