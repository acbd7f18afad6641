"""`aura serve` tunes the garbage collector before serving (docs/performance.md)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from aura.entrypoints.serve_command import GC_THRESHOLDS, tune_garbage_collector


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_gc")
def test_thresholds_are_raised_and_startup_objects_frozen() -> None:
    gc.unfreeze()
    tune_garbage_collector()
    assert gc.get_threshold() == GC_THRESHOLDS
    assert gc.get_threshold()[0] > 700  # the default, which cost a fifth of the CPU at 1000 streams
    assert gc.get_freeze_count() > 0


@pytest.mark.usefixtures("restored_gc")
def test_cyclic_garbage_is_still_collected() -> None:
    tune_garbage_collector()

    class Node:
        def __init__(self) -> None:
            self.other: Node | None = None

    first, second = Node(), Node()
    first.other, second.other = second, first
    probe = weakref.ref(first)
    del first, second
    gc.collect()
    assert probe() is None
