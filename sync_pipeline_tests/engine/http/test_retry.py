"""Retry decisions: Retry-After in both forms, full-jitter backoff, and when to give up."""

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from sync_pipeline.engine.http.errors import ErrorClass
from sync_pipeline.engine.http.retry import RetryPolicy, error_class_for_status, parse_retry_after


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2", 2.0),
        (" 0 ", 0.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        ("", None),
        (None, None),
        ("soon", None),
        ("nan", None),
    ],
)
def test_retry_after_in_seconds(value, expected):
    assert parse_retry_after(value) == expected


def test_retry_after_as_http_date():
    now = datetime(2026, 11, 23, 8, 15, 0, tzinfo=UTC).timestamp()
    later = format_datetime(datetime(2026, 11, 23, 8, 15, 7, tzinfo=UTC), usegmt=True)
    assert later == "Mon, 23 Nov 2026 08:15:07 GMT"
    assert parse_retry_after(later, now_epoch_s=now) == pytest.approx(7.0)
    assert parse_retry_after("Mon, 23 Nov 2026 08:14:00 GMT", now_epoch_s=now) == 0.0


@pytest.mark.parametrize(
    "status, expected",
    [
        (429, ErrorClass.THROTTLED),
        (500, ErrorClass.SERVER_ERROR),
        (503, ErrorClass.SERVER_ERROR),
        (404, None),
        (401, None),
        (400, None),
        (200, None),
    ],
)
def test_statuses_that_are_retried(status, expected):
    assert error_class_for_status(status) is expected


def policy(**overrides) -> RetryPolicy:
    settings = {
        "max_attempts": 5,
        "total_budget_s": 60.0,
        "backoff_base_s": 0.5,
        "backoff_cap_s": 8.0,
        "rng": random.Random(7),
    }
    settings.update(overrides)
    return RetryPolicy(**settings)


def test_backoff_is_full_jitter_under_a_growing_capped_ceiling():
    p = policy()
    for failures, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (5, 8.0), (12, 8.0)]:
        draws = [p.backoff_s(failures) for _ in range(500)]
        assert 0.0 <= min(draws) and max(draws) <= ceiling
        assert min(draws) < ceiling * 0.1 and max(draws) > ceiling * 0.9


def test_throttled_waits_what_retry_after_says_or_a_floor():
    p = policy()
    assert p.wait_s(ErrorClass.THROTTLED, 0, 3.0) == 3.0
    assert p.wait_s(ErrorClass.THROTTLED, 0, None) >= 1.0


def test_gives_up_on_attempts_but_not_for_429s():
    p = policy(max_attempts=3)
    assert p.give_up_reason(ErrorClass.SERVER_ERROR, 2, 1.0, 0.1) is None
    assert "3 attempt" in p.give_up_reason(ErrorClass.TIMEOUT, 3, 1.0, 0.1)
    assert p.give_up_reason(ErrorClass.THROTTLED, 3, 1.0, 0.1) is None


def test_gives_up_when_the_wait_would_pass_the_budget():
    p = policy(total_budget_s=10.0)
    assert p.give_up_reason(ErrorClass.THROTTLED, 0, 8.0, 1.5) is None
    assert "budget" in p.give_up_reason(ErrorClass.THROTTLED, 0, 8.0, 2.5)
