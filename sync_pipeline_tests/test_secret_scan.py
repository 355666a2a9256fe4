"""The suite-wide secret search (`secret_scan.py`) fails a session that leaks, and only then.

Each case runs a small pytest session of its own in a subprocess, outside the project (so only
the search plugin is loaded), once in one process and once on two pytest-xdist workers.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from sync_pipeline.settings import project_root
from sync_pipeline_tests.secret_scan import SUITE_PASSWORD, TEST_TOKENS, search_tables

SECRETS = (SUITE_PASSWORD, *TEST_TOKENS.values())

LEAKS = {
    "log": f"""
import logging
def test_logs_a_url():
    logging.getLogger("sync_pipeline.demo").warning("connecting to postgresql://u:{SUITE_PASSWORD}@h/db")
""",
    "failure": f"""
def test_fails_with_a_token_in_its_message():
    token = "{TEST_TOKENS["cars"]}"
    raise RuntimeError("refused: Bearer " + token)
""",
    "stdout": f"""
def test_prints_a_token():
    print("Authorization: Bearer {TEST_TOKENS["slack"]}")
""",
}
CLEAN = """
import logging
def test_logs_a_masked_url():
    logging.getLogger("sync_pipeline.demo").warning("connecting to postgresql://u:***@h/db")
    print("Authorization: Bearer ***")
"""


def session(tmp_path, source: str, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "test_case.py").write_text(source)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        + ["-p", "sync_pipeline_tests.secret_scan", "--rootdir", str(tmp_path), *args]
        + [str(tmp_path / "test_case.py")],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(project_root())},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one process", "two workers"])
@pytest.mark.parametrize("leak", sorted(LEAKS))
def test_a_leak_fails_the_session_and_says_where(tmp_path, leak, workers):
    done = session(tmp_path, LEAKS[leak], *workers)
    printed = done.stdout + done.stderr
    assert done.returncode == 1
    assert "SECRETS FOUND IN THE SUITE'S OUTPUT" in printed
    where = [line for line in printed.splitlines() if line.startswith("secret seen in: ")]
    assert where and not any(secret in line for line in where for secret in SECRETS)
    if leak == "log":  # the test itself passed: only the search failed the session
        assert "1 passed" in printed and "sync_pipeline.demo" in printed


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one process", "two workers"])
def test_a_session_without_secrets_passes(tmp_path, workers):
    done = session(tmp_path, CLEAN, *workers)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SECRETS FOUND" not in done.stdout + done.stderr


def test_rows_holding_a_secret_are_found_by_table(db, db_url):
    db.execute("CREATE TABLE run_events (id int, body jsonb)")
    db.execute("INSERT INTO run_events VALUES (1, %s)", ('{"url": "postgresql://u:***@h/db"}',))
    assert search_tables(db_url) == []
    leaked = f'{{"headers": {{"Authorization": "Bearer {TEST_TOKENS["wrong"]}"}}}}'
    db.execute("INSERT INTO run_events VALUES (2, %s)", (leaked,))
    assert search_tables(db_url) == [f"1 row(s) of table 'run_events' in {db_url.database!r}"]
