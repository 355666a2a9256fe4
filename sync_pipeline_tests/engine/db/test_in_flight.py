import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from sync_pipeline.engine.in_flight import BatchAborted, InFlightBatches


def test_batches_commit_in_submission_order_even_when_a_later_one_is_faster():
    committed, results = [], []
    first_may_finish = threading.Event()
    with ThreadPoolExecutor(2) as executor:
        batches = InFlightBatches(executor, limit=2, on_result=results.append)

        def work(name, gate=None):
            def run(wait_for_previous):
                if gate is not None:
                    gate.wait(5)
                wait_for_previous()
                committed.append(name)
                return name

            return run

        batches.submit({1}, work("first", first_may_finish))
        batches.submit({2}, work("second"))
        first_may_finish.set()
        batches.drain()
    assert committed == ["first", "second"] and results == ["first", "second"]


def test_a_batch_overlapping_one_in_flight_waits_for_it():
    started = []
    release = threading.Event()
    with ThreadPoolExecutor(2) as executor:
        batches = InFlightBatches(executor, limit=2, on_result=lambda _: None)
        batches.submit({1, 2}, lambda wait_for_previous: (release.wait(5), started.append("a")))
        threading.Timer(0.2, release.set).start()
        batches.submit(
            {2, 3}, lambda wait_for_previous: started.append("b")
        )  # returns once "a" is done
        assert started[0] == "a"
        batches.drain()
    assert started == ["a", "b"]


def test_after_a_failure_later_batches_abort_and_the_first_error_is_raised():
    def fail(wait_for_previous):
        raise RuntimeError("boom")

    def succeed(wait_for_previous):
        wait_for_previous()
        return "never committed"

    with ThreadPoolExecutor(2) as executor:
        batches = InFlightBatches(executor, limit=2, on_result=lambda _: None)
        batches.submit({1}, fail)
        batches.submit({2}, succeed)
        with pytest.raises(RuntimeError, match="boom"):
            batches.drain()
        batches.submit({3}, succeed)
        with pytest.raises(BatchAborted):
            batches.drain()
