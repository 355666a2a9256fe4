import threading
from pathlib import Path

import psycopg
import pytest

from sync_pipeline.db.migrations import (
    MigrationChecksumMismatch,
    MigrationError,
    default_sql_dir,
    discover,
    migrate,
    status,
)

BOOTSTRAP = (default_sql_dir() / "000_schema_migrations.sql").read_text()


def write_migrations(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(exist_ok=True)
    (directory / "000_schema_migrations.sql").write_text(BOOTSTRAP)
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


def ledger(url) -> list[tuple[int, str]]:
    with psycopg.connect(url.conninfo()) as conn:
        return conn.execute(
            "SELECT version, name FROM schema_migrations ORDER BY version"
        ).fetchall()


def table_exists(url, name: str) -> bool:
    with psycopg.connect(url.conninfo()) as conn:
        return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()[0]


def test_applies_in_order_once_and_records_checksums(empty_db_url, tmp_path):
    folder = write_migrations(
        tmp_path / "sql",
        {
            "001_first.sql": "CREATE TABLE first (id int PRIMARY KEY);",
            "002_second.sql": "CREATE TABLE second (id int REFERENCES first (id) DEFERRABLE);\n"
            "INSERT INTO first VALUES (1);",
        },
    )
    applied = migrate(empty_db_url, folder)
    assert [m.filename for m in applied] == ["001_first.sql", "002_second.sql"]
    assert ledger(empty_db_url) == [(1, "first"), (2, "second")]
    assert migrate(empty_db_url, folder) == []
    assert [s.status for s in status(empty_db_url, folder)] == ["applied", "applied"]


def test_new_file_is_applied_on_next_run(empty_db_url, tmp_path):
    folder = write_migrations(tmp_path / "sql", {"001_first.sql": "CREATE TABLE first (id int);"})
    migrate(empty_db_url, folder)
    (folder / "002_more.sql").write_text("ALTER TABLE first ADD COLUMN name text;")
    assert [s.status for s in status(empty_db_url, folder)] == ["applied", "pending"]
    assert [m.version for m in migrate(empty_db_url, folder)] == [2]


def test_edited_applied_migration_stops_with_clear_error(empty_db_url, tmp_path):
    folder = write_migrations(tmp_path / "sql", {"001_first.sql": "CREATE TABLE first (id int);"})
    migrate(empty_db_url, folder)
    (folder / "001_first.sql").write_text("CREATE TABLE first (id bigint);")
    (folder / "002_next.sql").write_text("CREATE TABLE next (id int);")
    with pytest.raises(
        MigrationChecksumMismatch, match="001_first.sql was edited after it was applied"
    ):
        migrate(empty_db_url, folder)
    assert not table_exists(empty_db_url, "next"), "nothing after a checksum mismatch may run"
    assert [s.status for s in status(empty_db_url, folder)] == ["CHANGED", "pending"]


def test_failing_migration_rolls_back_entirely(empty_db_url, tmp_path):
    folder = write_migrations(
        tmp_path / "sql",
        {
            "001_ok.sql": "CREATE TABLE ok (id int);",
            "002_broken.sql": "CREATE TABLE half (id int);\nINSERT INTO half VALUES (1);\n"
            "SELECT no_such_function();",
        },
    )
    with pytest.raises(MigrationError, match="002_broken.sql failed and was rolled back"):
        migrate(empty_db_url, folder)
    assert table_exists(empty_db_url, "ok")
    assert not table_exists(empty_db_url, "half")
    assert ledger(empty_db_url) == [(1, "ok")]


def test_concurrent_migrations_apply_each_file_once(empty_db_url, tmp_path):
    # The slow migration keeps the first runner inside the lock while the others arrive;
    # without the advisory lock, the second CREATE TABLE or the ledger insert would fail.
    folder = write_migrations(
        tmp_path / "sql",
        {
            "001_slow.sql": "SELECT pg_sleep(1.0);\nCREATE TABLE slow (id int);",
            "002_after.sql": "CREATE TABLE after_slow (id int);",
        },
    )
    results: list[list] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(migrate(empty_db_url, folder))
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(len(r) for r in results) == [0, 0, 0, 2]
    assert ledger(empty_db_url) == [(1, "slow"), (2, "after")]


def test_rejects_badly_named_and_duplicate_files(tmp_path):
    write_migrations(tmp_path / "a", {"1_bad.sql": "SELECT 1;"})
    with pytest.raises(MigrationError, match="NNN_lowercase_name.sql"):
        discover(tmp_path / "a")
    write_migrations(tmp_path / "b", {"001_one.sql": "SELECT 1;", "001_two.sql": "SELECT 2;"})
    with pytest.raises(MigrationError, match="two migrations have version 001"):
        discover(tmp_path / "b")


def test_project_migrations_apply_cleanly(db_url):
    states = status(db_url)
    assert states, "the project has migrations"
    assert all(s.status == "applied" for s in states)
