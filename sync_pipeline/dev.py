"""`sync-pipeline dev`: the Dagster UI and daemon on PostgreSQL, plus the embedded upstream.

This process owns everything it starts: the embedded PostgreSQL handle, the reference upstream
(for sources with no `SYNC_<SOURCE>_API_URL`) and `dagster dev` in its own process group.
Ctrl-C (or SIGTERM) stops them all, children first, then the database.

The terminal shows what a user needs: the UI's address, the databases, what runs, and errors.
Everything `dagster dev` writes (every DEBUG event, the daemon's tick lines, deprecation
warnings) goes to `<SYNC_PIPELINE_HOME>/logs/dev.log`, whose path is printed; its ERROR and
CRITICAL lines are shown on the terminal too.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import IO

from sync_pipeline.db.connect import app_database_url, dagster_database_name
from sync_pipeline.db.embedded import stop_embedded_server
from sync_pipeline.db.migrations import migrate
from sync_pipeline.instance import apply_pool_limits, dagster_environment, persistent_instance
from sync_pipeline.settings import project_root, settings, state_dir
from sync_pipeline.upstream.process import start_for_unset_sources

SHUTDOWN_GRACE_S = 20
SHOWN_LINES = re.compile(r" - (ERROR|CRITICAL) - |^\S*Error: ")


def run_dev(host: str, port: int, upstream_profile: str) -> int:
    settings()
    signal.signal(signal.SIGINT, _raise_keyboard_interrupt)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        app_url = app_database_url()
        migrate(app_url)
        with persistent_instance(app_url) as instance:
            apply_pool_limits(instance)
        env = {**os.environ, **dagster_environment(app_url)}
        with ExitStack() as stack:
            start_for_unset_sources(stack, env, upstream_profile)
            log_path = dev_log_path()
            child = _start_dagster_dev(host, port, env)
            relay = relay_output(child.stdout, log_path, sys.stderr)
            print(f"Dagster UI: http://{host}:{port}", flush=True)
            print(
                f"  data: {app_url.masked()}  "
                f"dagster storage: database {dagster_database_name()!r} on the same server",
                flush=True,
            )
            print(
                "  running: the UI, the daemon (schedules, sensors, run queue, run monitoring)",
                flush=True,
            )
            print(f"  log: {log_path} (errors are shown here too)", flush=True)
            print(
                "  Ctrl-C stops the UI, the daemon, the upstream and the embedded database.",
                flush=True,
            )
            try:
                return child.wait()
            except KeyboardInterrupt:
                _stop_process_group(child)
                return 0
            finally:
                relay.join(timeout=5)
    finally:
        stop_embedded_server()


def dev_log_path() -> Path:
    """Where `dagster dev`'s own output goes (the folder is created)."""
    folder = state_dir() / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "dev.log"


def relay_output(stream: IO[str], log_path: Path, terminal: IO[str]) -> threading.Thread:
    """Copy every line of `stream` to `log_path` (appended), and its error lines to `terminal`."""

    def copy() -> None:
        with log_path.open("a", encoding="utf-8") as log:
            for line in stream:
                log.write(line)
                log.flush()
                if SHOWN_LINES.search(line):
                    terminal.write(line)
                    terminal.flush()

    thread = threading.Thread(target=copy, name="dagster-dev-log", daemon=True)
    thread.start()
    return thread


def _start_dagster_dev(host: str, port: int, env: dict[str, str]) -> subprocess.Popen:
    """`dagster dev` in its own process group, run from DAGSTER_HOME with the project's workspace,
    its output (stdout and stderr) on a pipe for `relay_output`.

    Its SIGINT disposition is reset so that it shuts down on Ctrl-C even when this command was
    started with SIGINT ignored (as background jobs of a shell are).
    """
    workspace = project_root() / "workspace.yaml"
    cmd = [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-h",
        host,
        "-p",
        str(port),
        "-w",
        str(workspace),
    ]
    # Popen has no other way to un-ignore SIGINT in the child; _default_sigint only resets it.
    return subprocess.Popen(
        cmd,
        env=env,
        cwd=env["DAGSTER_HOME"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,
        preexec_fn=_default_sigint,  # noqa: PLW1509
    )


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _stop_process_group(child: subprocess.Popen) -> None:
    for sig, wait_s in (
        (signal.SIGINT, SHUTDOWN_GRACE_S),
        (signal.SIGTERM, 10),
        (signal.SIGKILL, 5),
    ):
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            return
        try:
            child.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
