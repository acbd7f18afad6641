"""Fixtures of the ChatModel contract suite: one `harness` parameter per provider harness module.

Every module in `tests/contract/harnesses/` that defines `make_harness()` is a harness. A module that fails
to import still shows up, as a failing parameter named after it, so a broken harness cannot silently drop
its provider out of the suite.
"""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
from collections.abc import AsyncIterator, Callable

import attrs
import pytest

from aura.ports.chat_model import ChatModel
from tests.contract import harnesses
from tests.contract.scenario import ProviderHarness

SETUP_TIMEOUT = 10.0


@attrs.frozen
class HarnessEntry:
    module: str
    factory: Callable[[], ProviderHarness] | None = None
    import_error: str | None = None


def discover_harnesses() -> list[HarnessEntry]:
    entries: list[HarnessEntry] = []
    for info in sorted(pkgutil.iter_modules(harnesses.__path__), key=lambda info: info.name):
        if info.name.startswith("_"):
            continue
        try:
            module = importlib.import_module(f"{harnesses.__name__}.{info.name}")
        except Exception as error:  # reported by the parameter, see the module docstring
            entries.append(HarnessEntry(info.name, import_error=f"{type(error).__name__}: {error}"))
            continue
        factory = getattr(module, "make_harness", None)
        if callable(factory):
            entries.append(HarnessEntry(info.name, factory=factory))
    return entries


HARNESSES = discover_harnesses()


@pytest.fixture(params=[pytest.param(entry, id=entry.module) for entry in HARNESSES])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[ProviderHarness]:
    entry: HarnessEntry = request.param
    if entry.factory is None:
        pytest.fail(f"harness module tests/contract/harnesses/{entry.module}.py failed to import: {entry.import_error}")
    built = entry.factory()
    await asyncio.wait_for(built.start(), SETUP_TIMEOUT)
    try:
        yield built
    finally:
        await asyncio.wait_for(built.stop(), SETUP_TIMEOUT)


@pytest.fixture
async def model(harness: ProviderHarness) -> AsyncIterator[ChatModel]:
    """The adapter under test, pointed at the harness's fake, closed after the test."""
    built = harness.make_model()
    try:
        yield built
    finally:
        await built.aclose()
