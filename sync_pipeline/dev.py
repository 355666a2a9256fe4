"""`sync-pipeline dev`: the Dagster UI and daemon on PostgreSQL, plus the embedded upstream.

This process owns everything it starts: the embedded PostgreSQL handle, the reference upstream
(for sources with no `SYNC_<SOURCE>_API_URL`) and `dagster dev` in its own process group.
Ctrl-C (or SIGTERM) stops them all, children first, then the database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from contextlib import ExitStack

from sync_pipeline.db.connect import app_database_url
from sync_pipeline.db.embedded import stop_embedded_server
from sync_pipeline.db.migrations import migrate
from sync_pipeline.instance import dagster_environment
from sync_pipeline.settings import project_root
from sync_pipeline.upstream.process import start_for_unset_sources

SHUTDOWN_GRACE_S = 20


def run_dev(host: str, port: int, upstream_profile: str) -> int:
    signal.signal(signal.SIGINT, _raise_keyboard_interrupt)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        app_url = app_database_url()
        migrate(app_url)
        env = {**os.environ, **dagster_environment(app_url)}
        with ExitStack() as stack:
            start_for_unset_sources(stack, env, upstream_profile)
            child = _start_dagster_dev(host, port, env)
            print(f"Dagster UI: http://{host}:{port}", flush=True)
            print(f"  data: {app_url.masked()}  dagster storage: database 'dagster' on the same server", flush=True)
            print("  Ctrl-C stops the UI, the daemon, the upstream and the embedded database.", flush=True)
            try:
                return child.wait()
            except KeyboardInterrupt:
                _stop_process_group(child)
                return 0
    finally:
        stop_embedded_server()


def _start_dagster_dev(host: str, port: int, env: dict[str, str]) -> subprocess.Popen:
    """`dagster dev` in its own process group, run from DAGSTER_HOME with the project's workspace.

    Its SIGINT disposition is reset so that it shuts down on Ctrl-C even when this command was
    started with SIGINT ignored (as background jobs of a shell are).
    """
    workspace = project_root() / "workspace.yaml"
    cmd = [sys.executable, "-m", "dagster", "dev", "-h", host, "-p", str(port), "-w", str(workspace)]
    return subprocess.Popen(cmd, env=env, cwd=env["DAGSTER_HOME"], start_new_session=True,
                            preexec_fn=_default_sigint)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _stop_process_group(child: subprocess.Popen) -> None:
    for sig, wait_s in ((signal.SIGINT, SHUTDOWN_GRACE_S), (signal.SIGTERM, 10), (signal.SIGKILL, 5)):
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
