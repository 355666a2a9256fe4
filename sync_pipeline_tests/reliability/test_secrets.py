"""Secrets never leave the process: a sync of every source (cars, users, pvp, contacts, stores)
through Dagster, the way `sync-pipeline sync` runs them, with API tokens and a database password
set, then a cars sync with a wrong token (and, under `--soak`, with an unreachable database);
every log line, run event, stdout/stderr byte and exception is searched for the secrets."""

from __future__ import annotations

import logging
import traceback

import dagster as dg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from sync_pipeline import registry
from sync_pipeline.db.urls import DatabaseUrl
from sync_pipeline.entities.cars import CARS
from sync_pipeline.settings import SOURCES, source_env_names
from sync_pipeline.sources import run_keys
from sync_pipeline_tests.defs.cars.conftest import run_cars
from sync_pipeline_tests.reliability.conftest import TINY
from sync_pipeline_tests.reliability.test_hostile import assert_exact
from sync_pipeline_tests.reliability.truth import compare, page_records
from sync_pipeline_tests.secret_scan import SUITE_PASSWORD, TEST_TOKENS

TOKEN = TEST_TOKENS["cars"]
WRONG_TOKEN = TEST_TOKENS["wrong"]
PASSWORD = SUITE_PASSWORD
SECRETS = (TOKEN, WRONG_TOKEN, PASSWORD)
SYNCED_TABLES = ("cars", "users", "pvp_leaderboard_entries", "contacts", "stores", "store_users")


class Everything(logging.Handler):
    """Every log record of every logger, formatted with its exception."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def captured_logs():
    handler = Everything()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


def with_password(url: DatabaseUrl, password: str) -> str:
    """`url` with `password` set (the test server trusts local sessions, so it is accepted)."""
    return make_url(url.raw).set(password=password).render_as_string(hide_password=False)


def run_text(instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult) -> str:
    """Every event of the run, serialized, and its failure, if any, formatted."""
    events = instance.all_logs(result.run_id)
    text = "\n".join(dg.serialize_value(event) for event in events)
    for event in result.all_events:
        if event.is_step_failure:
            text += "\n" + str(event.step_failure_data.error)
    return text


def sync_every_source(instance: dg.DagsterInstance) -> list[dg.ExecuteInProcessResult]:
    """Each source's runs as `sync-pipeline sync SOURCE --full-refresh` makes them (pvp, which
    has no full refresh: its first board only, not all sixteen)."""
    results: list[dg.ExecuteInProcessResult] = []
    with dg.partition_loading_context(dynamic_partitions_store=instance):
        for name in registry.source_names():
            spec = registry.source(name).source_sync()
            if spec.discovers_partitions:
                spec.prepare_partitions(instance)
            full_refresh = name != "pvp"
            keys = run_keys(spec, True, None) if full_refresh else spec.default_partitions()[:1]
            results.extend(spec.execute(instance, full_refresh, keys))
    return results


def test_secrets_never_appear(
    upstream_factory, db_url, db, monkeypatch, capfd, captured_logs, seed, soak, figures
):
    server = upstream_factory(token=TOKEN, seed=seed, sizes={**TINY, "cars": 600})
    monkeypatch.setenv("SYNC_DATABASE_URL", with_password(db_url, PASSWORD))
    for source in SOURCES:
        url_name, token_name = source_env_names(source)
        monkeypatch.setenv(url_name, server.url)
        monkeypatch.setenv(token_name, TOKEN)
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("RPS", "500")
    texts: list[str] = []
    with dg.DagsterInstance.ephemeral() as instance:
        synced = sync_every_source(instance)
        texts.extend(run_text(instance, result) for result in synced)
        assert synced and all(result.success for result in synced), texts
        for table in SYNCED_TABLES:
            count = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            assert db.execute(count).fetchone()[0] > 0, f"{table}: nothing synced"

        monkeypatch.setenv("SYNC_CARS_API_TOKEN", WRONG_TOKEN)
        refused = run_cars(instance, full_refresh=True)
        texts.append(run_text(instance, refused))
        assert not refused.success and "401" in texts[-1]

        monkeypatch.setenv("SYNC_CARS_API_TOKEN", TOKEN)
        if not soak:  # the pool's connect timeouts and the step's retries take about a minute
            return finish(server, db, seed, figures, texts, captured_logs, capfd)
        nobody_listens = f"postgresql://sync:{PASSWORD}@127.0.0.1:1/sync_pipeline"
        monkeypatch.setenv("SYNC_DATABASE_URL", nobody_listens)
        try:
            unreachable = run_cars(instance, full_refresh=True)
            texts.append(run_text(instance, unreachable))
            assert not unreachable.success
        except Exception:  # noqa: BLE001 - the exception's text is what is searched
            texts.append(traceback.format_exc())
        assert "127.0.0.1" in texts[-1]
    finish(server, db, seed, figures, texts, captured_logs, capfd)


def finish(server, db, seed, figures, texts, captured_logs, capfd) -> None:
    """Search everything captured for the secrets; compare the table synced with them set."""
    out, err = capfd.readouterr()
    everything = "\n".join([*texts, *captured_logs.lines, out, err])
    assert len(captured_logs.lines) > 10 and len(everything) > 10_000
    leaked = [secret for secret in SECRETS if secret in everything]
    truth = page_records(server.url, "/cars", token=TOKEN)
    assert_exact(
        figures,
        "secrets set (token, DB password): leaks searched",
        len(texts) + len(leaked),
        compare(db, CARS, truth, seed, "cars"),
    )
    assert not leaked, f"secrets found in logs, events or exceptions: {leaked}"
