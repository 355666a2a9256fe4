"""`relaxed_gc`: raised collector thresholds while a walk runs, the caller's restored after."""

from __future__ import annotations

import gc
import threading

import pytest

from sync_pipeline.engine.listing_sync import RELAXED_GC_THRESHOLDS, relaxed_gc


@pytest.fixture(autouse=True)
def default_thresholds():
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*saved)


def test_thresholds_are_raised_inside_and_restored_after_even_on_error():
    with pytest.raises(RuntimeError), relaxed_gc():
        assert gc.get_threshold() == RELAXED_GC_THRESHOLDS
        raise RuntimeError("a walk failed")
    assert gc.get_threshold() == (700, 10, 10)


def test_nested_and_concurrent_walks_restore_only_when_the_last_one_leaves():
    inside, leave = threading.Event(), threading.Event()

    def other_walk() -> None:
        with relaxed_gc():
            inside.set()
            leave.wait(10)

    with relaxed_gc():
        with relaxed_gc():
            pass
        assert gc.get_threshold() == RELAXED_GC_THRESHOLDS
        thread = threading.Thread(target=other_walk)
        thread.start()
        assert inside.wait(10)
    assert gc.get_threshold() == RELAXED_GC_THRESHOLDS  # the other walk still runs
    leave.set()
    thread.join(10)
    assert gc.get_threshold() == (700, 10, 10)


def test_higher_thresholds_set_by_the_application_are_kept():
    gc.set_threshold(1_000_000, 50, 50)
    with relaxed_gc():
        assert gc.get_threshold() == (1_000_000, 50, 100)
    assert gc.get_threshold() == (1_000_000, 50, 50)
