"""The circuit breaker's states, with a short open time."""

import logging
import time

import pytest

from sync_pipeline.engine.http.circuit_breaker import BreakerState, CircuitBreaker
from sync_pipeline.engine.http.errors import CircuitOpen


def test_opens_after_more_than_threshold_failures_then_probes_once_and_closes(caplog):
    caplog.set_level(logging.INFO)
    breaker = CircuitBreaker("cars", threshold=3, open_s=0.2)
    assert [breaker.record_failure() for _ in range(3)] == [False, False, False]
    assert breaker.state is BreakerState.CLOSED
    assert breaker.record_failure() is True
    assert breaker.state is BreakerState.OPEN and breaker.openings == 1
    with pytest.raises(CircuitOpen, match="cars"):
        breaker.before_request()
    time.sleep(0.21)
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.before_request() is True
    with pytest.raises(CircuitOpen):
        breaker.before_request()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and breaker.before_request() is False
    messages = [r.getMessage() for r in caplog.records]
    assert any("opened after 4 consecutive failures" in m for m in messages)
    assert any("half-open" in m for m in messages) and any("closed" in m for m in messages)


def test_a_failed_probe_opens_it_again():
    breaker = CircuitBreaker("users", threshold=1, open_s=0.1)
    breaker.record_failure()
    assert breaker.record_failure() is True
    time.sleep(0.11)
    assert breaker.before_request() is True
    assert breaker.record_failure() is True
    assert breaker.state is BreakerState.OPEN and breaker.openings == 2


def test_success_resets_the_run_of_failures():
    breaker = CircuitBreaker("stores", threshold=2, open_s=10)
    for _ in range(5):
        breaker.record_failure()
        breaker.record_failure()
        breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and breaker.openings == 0


def test_an_abandoned_probe_lets_another_one_go():
    breaker = CircuitBreaker("pvp", threshold=1, open_s=0.05)
    breaker.record_failure()
    breaker.record_failure()
    time.sleep(0.06)
    assert breaker.before_request() is True
    breaker.record_abandoned()
    assert breaker.before_request() is True
