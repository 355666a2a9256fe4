"""`sync-pipeline db start|stop` keep the embedded server up between commands, so that the
documented `eval "$(sync-pipeline doctor --env)"; dg check defs` works."""

import os
import subprocess
import sys

import psutil

from sync_pipeline.settings import SOURCES, project_root, source_env_names

CLI = f"{sys.executable} -m sync_pipeline.cli"
DG = f'{sys.executable} -c "from dagster_dg_cli.cli import main; main()"'


def postmasters(data_dir) -> list[psutil.Process]:
    return [
        p
        for p in psutil.process_iter(["cmdline"])
        if (p.info["cmdline"] or [""])[0].endswith("postgres")
        and str(data_dir) in p.info["cmdline"]
    ]


def shell(script: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", script],
        env=env,
        cwd=project_root(),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def embedded_env(home) -> dict[str, str]:
    """The suite's environment with no configured database, so the CLI uses `home`'s embedded
    server. An in-process Dagster instance earlier in this worker may have exported one."""
    env = {k: v for k, v in os.environ.items() if k != "SYNC_DATABASE_URL"}
    return {**env, "SYNC_PIPELINE_HOME": str(home)}


def test_doctor_env_without_a_held_server_says_what_to_run(tmp_path):
    env = embedded_env(tmp_path)
    done = shell(f"{CLI} doctor --env", env)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "run `sync-pipeline db start` first" in done.stderr


def test_db_start_then_doctor_env_then_dg_check_defs_then_db_stop(tmp_path):
    env = embedded_env(tmp_path)
    env.update({source_env_names(s)[0]: "http://127.0.0.1:9" for s in SOURCES})
    started = shell(f"{CLI} db start", env)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert len(postmasters(tmp_path / "pgdata")) == 1, "still running after `db start` exited"
        flow = shell(f'eval "$({CLI} doctor --env)" && {DG} check defs', env)
        assert flow.returncode == 0, flow.stdout + flow.stderr
        assert "All definitions loaded successfully" in flow.stdout + flow.stderr
    finally:
        stopped = shell(f"{CLI} db stop", env)
    assert stopped.returncode == 0 and "released" in stopped.stdout
    assert postmasters(tmp_path / "pgdata") == []
