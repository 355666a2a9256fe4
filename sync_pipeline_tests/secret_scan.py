"""The whole suite runs with secrets set, and everything it produces is searched for them.

Every test database's URL carries a password (`SUITE_PASSWORD`; the embedded test server trusts
local sessions, so it is sent nowhere but stays in every URL the code handles), and the tests
that need API, upstream or Slack tokens take theirs from `TEST_TOKENS`. While the session runs,
every log record of every logger (INFO and up, with its traceback), and every test's captured
output, log section and failure text, is searched; when it ends, every row of the Dagster
storage the session wrote (runs, events, ticks, in the session's `SYNC_DAGSTER_DATABASE` on the
suite's server) is searched too. A secret found anywhere fails the session, naming where it was
seen (never the secret itself). Under pytest-xdist each worker searches its own logs and storage
and the controller, which receives every test report, searches the reports and fails the
session.
"""

from __future__ import annotations

import logging
import os

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from sync_pipeline.db.connect import dagster_database_name
from sync_pipeline.db.embedded import embedded_server_started, embedded_server_url
from sync_pipeline.db.urls import DatabaseUrl

SUITE_PASSWORD = "pw-Suite-secret-3e9b71"
TEST_TOKENS = {
    "cars": "tok-Zq8-secret-7c1f9a",
    "wrong": "tok-Wrong-secret-55e0b2",
    "upstream": "tok-Upstream-secret-0d5c2e",
    "config": "tok-Config-secret-8f3a9c",
    "shared_key": "tok-Shared-secret-1b7d40",
    "slack": "xoxb-Slack-secret-6a2f19",
    "cli": "tok-Cli-secret-4e8b03",
}
SIGHTINGS_SHOWN = 20
_secrets: set[str] = {SUITE_PASSWORD, *TEST_TOKENS.values()}
_sightings: list[str] = []
# What was searched, so that the session's last line shows the search ran: log records, test
# reports, Dagster tables (summed over xdist workers).
_searched = {"log records": 0, "test reports": 0, "Dagster tables": 0}
_WORKER_KEY = "secret_sightings"
_WORKER_COUNTS_KEY = "secret_search_counts"


def add_secret(value: str | None) -> None:
    """Search for `value` too (e.g. the password of `SYNC_TEST_DATABASE_URL`)."""
    if value:
        _secrets.add(value)


def with_suite_password(url: DatabaseUrl) -> DatabaseUrl:
    """`url` with the suite's password, unless it has one of its own (then that is searched for)."""
    parsed = make_url(url.raw)
    if parsed.password:
        add_secret(parsed.password)
        return url
    return DatabaseUrl(parsed.set(password=SUITE_PASSWORD).render_as_string(hide_password=False))


def secrets_in(text: str) -> bool:
    return any(secret in text for secret in _secrets)


def sightings() -> list[str]:
    return list(_sightings)


def _saw(where: str) -> None:
    _sightings.append(where)


class _LogSearch(logging.Handler):
    """Searches every record that reaches the root logger, formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        _searched["log records"] += 1
        try:
            text = self.format(record)
        except (TypeError, ValueError, KeyError):  # arguments that do not fit the message
            text = f"{record.msg!r} {record.args!r}"
        if secrets_in(text):
            _saw(f"log record of {record.name!r} at {record.pathname}:{record.lineno}")


def search_tables(url: DatabaseUrl) -> list[str]:
    """The tables of database `url` that hold a secret in any row (as text)."""
    found = []
    try:
        conn = psycopg.connect(url.conninfo(), connect_timeout=5)
    except psycopg.OperationalError:
        return found  # no such database: nothing was written there this session
    with conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        ).fetchall()
        _searched["Dagster tables"] += len(tables)
        for (table,) in tables:
            query = sql.SQL("SELECT count(*) FROM {} AS t WHERE strpos(t::text, %s) > 0").format(
                sql.Identifier(table)
            )
            for secret in sorted(_secrets):
                (rows,) = conn.execute(query, (secret,)).fetchone()
                if rows:
                    found.append(f"{rows} row(s) of table {table!r} in {url.database!r}")
    return found


def _suite_server() -> DatabaseUrl | None:
    """The suite's server, if this process used one (never started here just to look)."""
    raw = os.environ.get("SYNC_TEST_DATABASE_URL")
    if raw:
        return DatabaseUrl.parse(raw)
    if not embedded_server_started():
        return None
    return embedded_server_url("postgres")


_handler = _LogSearch()
_config: pytest.Config | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _config
    _config = config
    root = logging.getLogger()
    root.addHandler(_handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)


def pytest_unconfigure(config: pytest.Config) -> None:
    logging.getLogger().removeHandler(_handler)


def _is_worker() -> bool:
    return _config is not None and hasattr(_config, "workerinput")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """The controller (or the only process) searches every report: a worker's reach it too."""
    if _is_worker():
        return
    _searched["test reports"] += 1
    texts = [report.longreprtext or ""] + [content for _, content in report.sections]
    if any(secrets_in(text) for text in texts):
        _saw(f"{report.nodeid} ({report.when}): its output or failure text")


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    output = getattr(node, "workeroutput", {})
    _sightings.extend(output.get(_WORKER_KEY, []))
    for name, count in output.get(_WORKER_COUNTS_KEY, {}).items():
        _searched[name] += count


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    server = _suite_server()
    if server is not None:
        _sightings.extend(search_tables(server.with_database(dagster_database_name())))
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[_WORKER_KEY] = list(_sightings)
        workeroutput[_WORKER_COUNTS_KEY] = dict(_searched)
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        searched = ", ".join(f"{count:,} {name}" for name, count in _searched.items())
        reporter.write_line(f"secret search: {len(_sightings)} found in {searched}")
    if not _sightings:
        return
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if reporter is not None:
        reporter.write_sep("=", "SECRETS FOUND IN THE SUITE'S OUTPUT", red=True)
        for where in _sightings[:SIGHTINGS_SHOWN]:
            reporter.write_line(f"secret seen in: {where}")
        if len(_sightings) > SIGHTINGS_SHOWN:
            reporter.write_line(f"... and {len(_sightings) - SIGHTINGS_SHOWN} more")
