"""The controller's heap is collected and frozen once enough long-lived things came in."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from service.heap import HeapFreezer


@pytest.fixture(autouse=True)
def _unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()


def test_nothing_is_frozen_below_the_threshold() -> None:
    gc.unfreeze()
    heap = HeapFreezer(every=100)
    heap.took(99)
    assert heap.settle() is False
    assert gc.get_freeze_count() == 0


def test_the_heap_is_frozen_once_the_threshold_is_reached_and_counting_starts_again() -> None:
    gc.unfreeze()
    heap = HeapFreezer(every=100)
    held = [{"trial": n} for n in range(1000)]  # long-lived, like cached trials
    heap.took(60)
    heap.took(40)
    assert heap.settle() is True
    frozen = gc.get_freeze_count()
    assert frozen >= len(held)
    assert heap.settle() is False  # the count started again
    heap.took(100)
    assert heap.settle() is True


def test_garbage_cycles_are_collected_before_the_freeze() -> None:
    """A cycle frozen while garbage would never be freed: the freeze collects first."""
    gc.unfreeze()
    heap = HeapFreezer(every=1)

    class Node:
        other: object = None

    first, second = Node(), Node()
    first.other, second.other = second, first
    gone = weakref.ref(first)
    del first, second
    heap.took(1)
    assert heap.settle() is True
    assert gone() is None
