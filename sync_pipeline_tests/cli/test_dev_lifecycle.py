"""`sync-pipeline dev` on a private embedded PostgreSQL: it serves the UI with storage in the
`SYNC_DAGSTER_DATABASE` database (`dagster` unless set), shares its server with other commands,
and Ctrl-C stops everything."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import httpx
import psutil
import psycopg
import yaml

from sync_pipeline.settings import SOURCES, project_root, source_env_names
from sync_pipeline.upstream.process import free_port


def postmasters(data_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if cmd and cmd[0].endswith("postgres") and str(data_dir) in cmd:
            found.append(proc)
    return found


def cli_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SYNC_DATABASE_URL"}
    env["SYNC_PIPELINE_HOME"] = str(home)
    env.update({source_env_names(s)[0]: "http://127.0.0.1:9" for s in SOURCES})
    return env


def wait_for_ui(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read()
        try:
            if httpx.get(f"{url}/server_info", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise AssertionError("the Dagster UI did not come up")


def test_one_shot_command_starts_and_stops_the_embedded_server(tmp_path):
    env = cli_env(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "sync_pipeline.cli", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "pgdata" / "PG_VERSION").exists()
    assert postmasters(tmp_path / "pgdata") == []


def test_dev_serves_ui_on_postgres_and_ctrl_c_stops_everything(tmp_path):
    env = cli_env(tmp_path)
    port = free_port()
    dev = subprocess.Popen(
        [sys.executable, "-m", "sync_pipeline.cli", "dev", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for_ui(f"http://127.0.0.1:{port}", dev)
        servers = postmasters(tmp_path / "pgdata")
        assert len(servers) == 1
        socket_dir = tmp_path / "pgdata"
        storage = os.environ["SYNC_DAGSTER_DATABASE"]  # the suite's own, see conftest.py
        with psycopg.connect(f"host={socket_dir} dbname={storage} user=postgres") as conn:
            tables = {
                r[0]
                for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname='public'")
            }
        assert {"runs", "event_logs", "jobs"} <= tables

        other = subprocess.run(
            [sys.executable, "-m", "sync_pipeline.cli", "migrate"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert other.returncode == 0, other.stderr
        assert [p.pid for p in postmasters(tmp_path / "pgdata")] == [servers[0].pid], (
            "reused, and still running"
        )

        children = psutil.Process(dev.pid).children(recursive=True)
        assert any("dagster" in " ".join(c.cmdline()) for c in children)
        dev.send_signal(signal.SIGINT)
        assert dev.wait(timeout=90) == 0
        shown = dev.stdout.read()
        log = tmp_path / "logs" / "dev.log"
        assert f"  log: {log} (errors are shown here too)" in shown.splitlines()
        assert "Dagster UI: http://" in shown and f"dagster storage: database {storage!r}" in shown
        for noise in (" - DEBUG - ", "SupersessionWarning", "Priority sorting", "No cursor for"):
            assert noise not in shown, noise
        assert "dagster" in log.read_text(), "Dagster's own output is in the log"
        _gone, alive = psutil.wait_procs(children, timeout=30)
        assert alive == [], [p.cmdline()[:3] for p in alive]
        assert postmasters(tmp_path / "pgdata") == []
    finally:
        stop_process_tree(dev)


def stop_process_tree(proc: subprocess.Popen) -> None:
    """After a failed assertion: Ctrl-C, as a user would (dev stops Dagster and the database),
    then SIGKILL for whatever of the process tree is left, so no Dagster process outlives it."""
    if proc.poll() is not None:
        return
    try:
        tree = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        tree = []
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
    _gone, alive = psutil.wait_procs(tree, timeout=30)
    for leftover in alive:
        leftover.kill()


def test_the_ui_shows_no_first_visit_pop_up():
    config = yaml.safe_load((project_root() / "dagster.yaml").read_text())
    assert config["nux"] == {"enabled": False}
    with dg.DagsterInstance.ephemeral(settings={"nux": config["nux"]}) as instance:
        assert instance.nux_enabled is False  # the key Dagster reads
