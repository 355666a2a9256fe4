"""The detector's classification against a table and a ledger set up by hand: a change and its
undoing (A -> B -> A) seen while the run asked for B may still store it is asked for again; a
table that stored the listed version after the request was made has caught up."""

from datetime import UTC, datetime, timedelta

from sync_pipeline.pipelines.users.compare import Seen, classify

A, B = bytes([1]) * 16, bytes([2]) * 16
NOW = datetime.now(UTC)


def store(db, user_id: int, summary: bytes, written_ago_s: float) -> None:
    db.execute(
        "INSERT INTO users (id, fingerprint, summary_fingerprint, last_run_id, updated_at, "
        "synced_at) VALUES (%s, %s, %s, 'r', %s, now() - %s * interval '1 second')",
        (user_id, bytes(16), summary, NOW - timedelta(hours=1), written_ago_s),
    )


def request(db, user_id: int, summary: bytes, asked_ago_s: float) -> None:
    db.execute(
        "INSERT INTO users_pending_changes (id, summary_fingerprint, requested_tick, run_key, "
        "detected_at) VALUES (%s, %s, 1, 'users-1-x', now() - %s * interval '1 second')",
        (user_id, summary, asked_ago_s),
    )


def test_a_change_undone_while_its_run_may_still_store_it_is_asked_for_again(db):
    store(db, 1, A, written_ago_s=60)
    request(db, 1, B, asked_ago_s=30)

    result = classify(db, [Seen(1, A, NOW)], tick_key="users-2-y-")

    assert result.changed == [1] and result.caught_up == []


def test_a_table_that_stored_the_listed_version_after_the_request_has_caught_up(db):
    request(db, 2, B, asked_ago_s=60)
    store(db, 2, A, written_ago_s=30)

    result = classify(db, [Seen(2, A, NOW)], tick_key="users-2-y-")

    assert result.changed == [] and result.caught_up == [2]
    assert result.counts["touched"] == 1
