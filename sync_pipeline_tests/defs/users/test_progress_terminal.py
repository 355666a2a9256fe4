"""`sync users` on a terminal draws its progress (done/total, pace, ETA) although Dagster points
a step's stderr at its compute log: the bootstrap's bar through the real command, the detail
bar through a step run in this process on an instance that captures compute logs."""

import os
import pty
import select
import subprocess
import sys
import time

import dagster as dg

from sync_pipeline.defs.users.sensors import backfill_run_request
from sync_pipeline.engine.http.progress import progress_terminal
from sync_pipeline_tests.defs.users.conftest import USER_COUNT, run_worker, tick

DEADLINE_S = 180


def read_until_closed(master: int, deadline: float) -> str:
    """Everything written to the terminal until its every other end is closed."""
    chunks = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if not ready:
            continue
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: nothing holds the other end any more
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return b"".join(chunks).decode(errors="replace")


def bars(output: str, label: str) -> list[str]:
    return [part.strip() for part in output.split("\r") if part.startswith(f"{label} [")]


def test_sync_users_on_a_terminal_draws_the_bootstrap_bar_with_eta(users_env, tmp_path):
    master, slave = pty.openpty()
    command = [sys.executable, "-m", "sync_pipeline.cli", "sync", "users"]
    env = {**os.environ, "SYNC_PIPELINE_HOME": str(tmp_path)}
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    output = read_until_closed(master, time.monotonic() + DEADLINE_S)

    assert process.wait(timeout=30) == 0, output[-2000:]
    drawn = bars(output, "users summaries")
    assert drawn, output[-2000:]
    assert f"100.0% {USER_COUNT}/{USER_COUNT} users" in drawn[-1] and "ETA 0s" in drawn[-1]
    assert f"details: 0 of {USER_COUNT} users complete" in output


def test_a_step_run_in_this_process_draws_the_detail_bar_past_dagsters_capture(users_env):
    with dg.DagsterInstance.ephemeral() as instance:
        tick(instance, None)
    master, slave = pty.openpty()
    with (
        os.fdopen(slave, "w") as terminal,
        dg.DagsterInstance.local_temp() as capturing,
        progress_terminal(terminal),
    ):
        assert run_worker(capturing, backfill_run_request(1, 20)).success
    output = read_until_closed(master, time.monotonic() + 10)

    drawn = bars(output, "users details")
    assert drawn and "100.0% 20/20" in drawn[-1] and "/h ETA 0s" in drawn[-1], output[-2000:]
