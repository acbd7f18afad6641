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
import sys
import time
from collections.abc import Callable
from pathlib import Path

from aura.adapters.telemetry.logging import SecretMasker

# the adversarial shapes and the old patterns, shared with tests/unit/telemetry/test_masking.py
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.unit.telemetry.masking_inputs import ADVERSARIAL_SHAPES, repeated
from tests.unit.telemetry.masking_inputs import reference_mask as old_mask

LENGTHS = (100, 1_000, 3_000, 8_000, 16_000, 64_000)
REQUEST_LINE = (
    "chat completion req_0123456789abcdef0123456789abcdef: agent=sre session=cs_0123456789abcdef0123456789abcdef "
    "stream=True history=3"
)

OLD_MAX_LENGTH = 3_000


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
    for shape, unit in ADVERSARIAL_SHAPES.items():
        for length in LENGTHS:
            text = repeated(unit, length)
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
