"""The detector's cursor and windows, and the partition a change lands in (no I/O)."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from sync_pipeline.defs.users.partitions import partition_for
from sync_pipeline.errors import ConfigError
from sync_pipeline.pipelines.users.window import DetectorCursor, Window

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
OVERLAP, SPAN = timedelta(minutes=2), timedelta(days=7)


def test_a_fresh_detector_lists_everything_up_to_now():
    assert DetectorCursor.parse(None).window(NOW, OVERLAP, SPAN) == Window(None, NOW)


def test_near_the_present_the_overlap_is_listed_again():
    cursor = DetectorCursor(
        hwm=NOW - timedelta(seconds=60), listed_at=NOW - timedelta(seconds=60), tick=5
    )
    assert cursor.window(NOW, OVERLAP, SPAN) == Window(NOW - timedelta(seconds=180), NOW)


def test_while_catching_up_windows_follow_each_other_without_overlap():
    hwm = NOW - timedelta(days=3)
    cursor = DetectorCursor(hwm=hwm, listed_at=NOW - timedelta(seconds=60), tick=5)
    assert cursor.window(NOW, OVERLAP, SPAN).since == hwm


def test_a_window_after_a_long_outage_is_bounded_in_time():
    cursor = DetectorCursor(
        hwm=NOW - timedelta(days=30), listed_at=NOW - timedelta(days=30), tick=5
    )
    window = cursor.window(NOW, OVERLAP, SPAN)
    assert window.until == window.since + SPAN < NOW


def test_the_cursor_only_moves_forward_and_every_tick_counts():
    cursor = DetectorCursor(hwm=NOW, listed_at=NOW, tick=5)
    assert cursor.advanced(None, NOW + OVERLAP) == DetectorCursor(NOW, NOW, 6)
    assert cursor.advanced(NOW - OVERLAP, NOW + OVERLAP) == DetectorCursor(NOW, NOW, 6)
    later = NOW + timedelta(minutes=1)
    assert cursor.advanced(later, later) == DetectorCursor(later, later, 6)


def test_the_cursor_round_trips_through_json_and_refuses_anything_else():
    cursor = DetectorCursor(hwm=NOW, listed_at=NOW + OVERLAP, tick=42)
    assert DetectorCursor.parse(cursor.to_json()) == cursor
    with pytest.raises(ConfigError, match="unreadable cursor"):
        DetectorCursor.parse('{"hwm": "yesterday"}')


def test_a_change_lands_in_its_updated_at_day_clamped_to_the_partitions_that_exist():
    assert partition_for(datetime(2026, 11, 20, 23, 59, tzinfo=UTC), NOW) == "2026-11-20"
    assert (
        partition_for(datetime(2026, 11, 21, 1, 0, tzinfo=timezone(timedelta(hours=3))), NOW)
        == "2026-11-20"
    )
    assert partition_for(datetime(2025, 1, 1, tzinfo=UTC), NOW) == "2026-10-01"
    assert partition_for(NOW + timedelta(days=2), NOW) == "2026-11-23"
    assert partition_for(None, NOW) == "2026-11-23"
