"""Fixtures of the ChatModel contract suite: one `harness` parameter per provider harness module.

Harnesses are found by `tests.contract.harnesses.discover_harnesses`; a module that fails to import becomes
a failing parameter named after it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from aura.ports.chat_model import ChatModel
from tests.contract.harnesses import HarnessEntry, discover_harnesses, running
from tests.contract.scenario import ProviderHarness

HARNESSES = discover_harnesses()


@pytest.fixture(params=[pytest.param(entry, id=entry.module) for entry in HARNESSES])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[ProviderHarness]:
    entry: HarnessEntry = request.param
    if entry.factory is None:
        pytest.fail(f"harness module tests/contract/harnesses/{entry.module}.py failed to import: {entry.import_error}")
    async with running(entry.factory()) as built:
        yield built


@pytest.fixture
async def model(harness: ProviderHarness) -> AsyncIterator[ChatModel]:
    """The adapter under test, pointed at the harness's fake, closed after the test."""
    built = harness.make_model()
    try:
        yield built
    finally:
        await built.aclose()
