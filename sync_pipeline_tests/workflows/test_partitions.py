"""Monthly partitions of `contact_field_changes`: created ahead, old ones dropped, strays moved."""

from __future__ import annotations

from datetime import UTC, datetime

from sync_pipeline.workflows.partitions import change_partitions, maintain_change_partitions


def month_name(year: int, month: int) -> str:
    return f"contact_field_changes_p{year:04d}_{month:02d}"


def months_from_now(offset: int) -> tuple[int, int]:
    now = datetime.now(UTC)
    index = now.year * 12 + now.month - 1 + offset
    return index // 12, index % 12 + 1


def test_partitions_exist_for_the_coming_months(db):
    maintain_change_partitions(db)
    existing = change_partitions(db)
    assert [month_name(*months_from_now(k)) for k in range(4)] == existing[-4:]
    assert maintain_change_partitions(db).created == []


def test_old_partitions_are_dropped_and_stray_rows_moved_in(db):
    insert = (
        "INSERT INTO contact_field_changes "
        "(workspace_id, contact_id, field, new_value, changed_at) "
        "VALUES ('ws1', gen_random_uuid(), 'stage', '\"sql\"', now() + make_interval(months => %s))"
    )
    db.execute(insert, (0,))
    db.execute(insert, (9,))  # beyond the partitions made ahead: caught by the default partition
    assert db.execute("SELECT count(*) FROM contact_field_changes_default").fetchone()[0] == 1

    done = db.execute(
        "SELECT action, partition_name FROM maintain_contact_field_changes(3, 6, "
        "now() + interval '9 months')"
    ).fetchall()

    created = [name for action, name in done if action == "created"]
    dropped = [name for action, name in done if action == "dropped"]
    assert created == [month_name(*months_from_now(k)) for k in range(9, 13)]
    assert dropped == [month_name(*months_from_now(k)) for k in range(3)]
    assert month_name(*months_from_now(3)) in change_partitions(db)
    assert db.execute("SELECT count(*) FROM contact_field_changes_default").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM contact_field_changes").fetchone()[0] == 1
    assert db.execute(f"SELECT count(*) FROM {month_name(*months_from_now(9))}").fetchone()[0] == 1
