import os
import subprocess
import sys

import dagster as dg

from sync_pipeline.definitions import defs
from sync_pipeline.settings import project_root


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)


def test_dg_check_defs_passes_from_the_project_root(db_url):
    dg_cli = [sys.executable, "-c", "from dagster_dg_cli.cli import main; main()", "check", "defs"]
    env = {
        "SYNC_DATABASE_URL": db_url.raw,
        "PATH": "/usr/bin:/bin",
        "SYNC_PIPELINE_HOME": os.environ["SYNC_PIPELINE_HOME"],
    }
    result = subprocess.run(
        dg_cli,
        cwd=project_root(),
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All definitions loaded successfully" in result.stdout + result.stderr


def test_engine_has_no_dagster_imports():
    engine = project_root() / "sync_pipeline" / "engine"
    offenders = [
        str(p)
        for p in engine.rglob("*.py")
        if "import dagster" in p.read_text() or "from dagster" in p.read_text()
    ]
    assert offenders == []
