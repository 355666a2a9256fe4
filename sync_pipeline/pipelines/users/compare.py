"""The detector's two statements: classify seen summaries, and record the changes asked for.

`classify` compares every seen summary fingerprint with the stored one (table `users`) and with
the version already asked for (table `users_pending_changes`) in one query, and sorts each id
into one of:

- `unchanged`: the stored user has this summary (re-seen in an overlap, or unchanged);
- `touched`: the stored user has this summary but `updated_at` moved: only volatile fields
  changed, which is not a change;
- `requested`: this very version was asked for by an earlier tick (its run is queued or
  running) or could not be stored (quarantined);
- `repeat`: this version was asked for by this very tick (its run key starts with the tick's
  prefix, see `detect.py`) and is not quarantined: an earlier evaluation of this tick recorded
  it but its runs may never have reached Dagster, so they are asked for again under the same
  run key (Dagster drops a run key it already launched);
- `changed`: a new user, a soft-deleted one seen again, or a summary that differs from both;
  also a stored summary whose user has another version asked for since the row was written
  (a change and its undoing, A -> B -> A): the list shows what the table holds, but the run
  asked for B may still store B, so A is asked for again (its newer `updated_at` wins).

The reconcile asks without a tick: it ignores pending requests and applies what it finds
itself, whatever a worker run may be doing. `record_requests` is the detector's only write, one
statement: it stores the versions asked for as fresh changes (priority 0, ahead of any backfill
item of the same user) and drops fresh pending rows the table has caught up with. Backfill items
(priority 1) are never "caught up" by a summary: they wait for the detail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import psycopg

KINDS = ("unchanged", "touched", "requested", "repeat", "changed")

_CLASSIFY = """
WITH seen (id, fp, updated_at) AS (
    SELECT * FROM unnest(%(ids)s::bigint[], %(fps)s::bytea[], %(stamps)s::timestamptz[])
)
SELECT s.id,
       CASE WHEN u.deleted_at IS NULL AND u.summary_fingerprint = s.fp
                 AND NOT coalesce(p.priority = 0 AND p.quarantined_at IS NULL
                                  AND p.summary_fingerprint <> s.fp
                                  AND u.synced_at < p.detected_at, false) THEN
                CASE WHEN u.updated_at IS DISTINCT FROM s.updated_at THEN 'touched' ELSE 'unchanged' END
            WHEN %(consider_pending)s AND p.summary_fingerprint = s.fp AND p.quarantined_at IS NULL
                 AND starts_with(p.run_key, %(tick_key)s) THEN 'repeat'
            WHEN %(consider_pending)s AND p.summary_fingerprint = s.fp THEN 'requested'
            ELSE 'changed' END,
       p.id IS NOT NULL AND p.priority = 0, p.run_key, p.updated_at
FROM seen AS s
LEFT JOIN users AS u ON u.id = s.id
LEFT JOIN users_pending_changes AS p ON p.id = s.id
"""  # noqa: E501

_RECORD = """
WITH caught_up AS (
    DELETE FROM users_pending_changes WHERE id = ANY(%(caught_up)s::bigint[])
)
INSERT INTO users_pending_changes AS p (id, summary_fingerprint, updated_at, requested_tick, run_key)
SELECT id, fp, updated_at, %(tick)s, run_key
FROM unnest(%(ids)s::bigint[], %(fps)s::bytea[], %(stamps)s::timestamptz[], %(run_keys)s::text[])
     AS r (id, fp, updated_at, run_key)
ON CONFLICT (id) DO UPDATE SET summary_fingerprint = EXCLUDED.summary_fingerprint,
    updated_at = EXCLUDED.updated_at, detected_at = now(), requested_tick = EXCLUDED.requested_tick,
    run_key = EXCLUDED.run_key, quarantined_at = NULL, priority = 0, sent_at = NULL
"""  # noqa: E501


@dataclass(frozen=True)
class Seen:
    """One summary as the detector saw it."""

    id: int
    fingerprint: bytes
    updated_at: datetime | None


@dataclass(frozen=True)
class Repeat:
    """A version this same tick already asked for, under `run_key`."""

    id: int
    run_key: str
    updated_at: datetime | None


@dataclass
class Classification:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    changed: list[int] = field(default_factory=list)
    repeats: list[Repeat] = field(default_factory=list)
    caught_up: list[int] = field(default_factory=list)


def classify(
    conn: psycopg.Connection, seen: list[Seen], tick_key: str | None = None
) -> Classification:
    """Sort every seen summary into one of `KINDS` with one query (see the module docstring).

    `tick_key` is the run-key prefix of the detector's tick; None (the reconcile) ignores what is
    pending. `caught_up` lists ids whose pending row is stale: the table holds what the list shows.
    """
    result = Classification()
    if not seen:
        return result
    params = {
        "ids": [s.id for s in seen],
        "fps": [s.fingerprint for s in seen],
        "stamps": [s.updated_at for s in seen],
        "consider_pending": tick_key is not None,
        "tick_key": tick_key or "",
    }
    with conn.cursor(binary=True) as cur:
        cur.execute(_CLASSIFY, params)
        rows = cur.fetchall()
    for user_id, kind, has_pending, run_key, pending_stamp in rows:
        result.counts[kind] += 1
        if kind == "changed":
            result.changed.append(user_id)
        elif kind == "repeat":
            result.repeats.append(Repeat(user_id, run_key, pending_stamp))
        elif has_pending and kind in ("unchanged", "touched"):
            result.caught_up.append(user_id)
    return result


def record_requests(
    conn: psycopg.Connection, requested: list[tuple[Seen, str]], caught_up: list[int], tick: int
) -> None:
    """Store (or supersede) the pending row of each requested version with its run key, and
    delete the stale pending rows of `caught_up`, in one statement."""
    if not requested and not caught_up:
        return
    conn.execute(
        _RECORD,
        {
            "caught_up": caught_up,
            "tick": tick,
            "ids": [s.id for s, _ in requested],
            "fps": [s.fingerprint for s, _ in requested],
            "stamps": [s.updated_at for s, _ in requested],
            "run_keys": [key for _, key in requested],
        },
    )
