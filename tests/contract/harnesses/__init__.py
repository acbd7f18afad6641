"""Provider harnesses for the ChatModel contract suite: every module here defining `make_harness()` is run.

A module that fails to import is still listed, with its error, so a broken harness cannot silently drop its
provider out of the suite.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import pkgutil
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

import attrs

from tests.contract.scenario import ProviderHarness

SETUP_TIMEOUT = 10.0
H = TypeVar("H", bound=ProviderHarness)


@contextlib.asynccontextmanager
async def running(harness: H) -> AsyncIterator[H]:
    """`harness` started for the block and stopped after it (each step bounded by `SETUP_TIMEOUT`)."""
    await asyncio.wait_for(harness.start(), SETUP_TIMEOUT)
    try:
        yield harness
    finally:
        await asyncio.wait_for(harness.stop(), SETUP_TIMEOUT)


@attrs.frozen
class HarnessEntry:
    module: str
    factory: Callable[[], ProviderHarness] | None = None
    import_error: str | None = None


def discover_harnesses() -> list[HarnessEntry]:
    entries: list[HarnessEntry] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        if info.name.startswith("_"):
            continue
        try:
            module = importlib.import_module(f"{__name__}.{info.name}")
        except Exception as error:  # reported by the suite as a failing parameter
            entries.append(HarnessEntry(info.name, import_error=f"{type(error).__name__}: {error}"))
            continue
        factory = getattr(module, "make_harness", None)
        if callable(factory):
            entries.append(HarnessEntry(info.name, factory=factory))
    return entries
