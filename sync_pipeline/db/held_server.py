"""`sync-pipeline db start|stop`: keep the embedded PostgreSQL running between commands.

The embedded server stops when the last process holding a handle on it exits, so the URL that
`doctor --env` prints dies with that command. `db start` launches a small holder process (its
own session, no terminal) that takes a handle and keeps it until `db stop` sends it SIGTERM;
every other command attaches to the same server meanwhile. Its pid is in
`<SYNC_PIPELINE_HOME>/pgserver-holder.pid`, its output in `pgserver-holder.log`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from sync_pipeline.db.embedded import embedded_server_url, stop_embedded_server
from sync_pipeline.db.urls import DatabaseUrl
from sync_pipeline.errors import ConfigError
from sync_pipeline.settings import state_dir

START_TIMEOUT_S = 120
STOP_TIMEOUT_S = 60


def pid_file() -> Path:
    return state_dir() / "pgserver-holder.pid"


def holder_pid() -> int | None:
    """The running holder's pid, or None (a stale pid file is ignored)."""
    try:
        pid = int(pid_file().read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if psutil.pid_exists(pid) and _is_holder(pid) else None


def start_held_server() -> DatabaseUrl:
    """Start the holder unless one runs; return the server's URL once it answers."""
    if holder_pid() is None:
        log = (state_dir() / "pgserver-holder.log").open("ab")
        subprocess.Popen(
            [sys.executable, "-m", "sync_pipeline.db.held_server"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while holder_pid() is None:
            if time.monotonic() > deadline:
                raise ConfigError(f"the embedded PostgreSQL did not start; see {log.name}")
            time.sleep(0.2)
    return embedded_server_url()


def stop_held_server() -> bool:
    """Release the holder's handle (the server stops unless another command uses it)."""
    pid = holder_pid()
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    try:
        psutil.Process(pid).wait(timeout=STOP_TIMEOUT_S)
    except psutil.NoSuchProcess:
        pass
    return True


def _is_holder(pid: int) -> bool:
    try:
        return "sync_pipeline.db.held_server" in " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return False


def _hold() -> None:
    """The holder: take a handle, announce the pid, keep the handle until SIGTERM or SIGINT."""
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    embedded_server_url()
    pid_file().write_text(str(os.getpid()))
    try:
        while not stopping:
            signal.pause()
    finally:
        pid_file().unlink(missing_ok=True)
        stop_embedded_server()


if __name__ == "__main__":
    _hold()
