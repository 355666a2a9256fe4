"""The contract between `bench cars` and the dlt runner it starts in dlt's own virtualenv.

No benchmark runs here and dlt is not needed: the runner is checked for its arguments, the
configurations it would hand to dlt, and for importing nothing but the standard library (and
dlt, lazily), since it runs with an interpreter that has no `sync_pipeline`.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sync_pipeline.bench import cars, dlt_runner
from sync_pipeline.db.urls import DatabaseUrl

RUNNER = Path(dlt_runner.__file__)


def args_for(
    config: cars.DltConfig, url: str = "postgresql://bench:pw@db.example:6543/sync_bench"
) -> dict:
    return cars.runner_args(
        config, "http://127.0.0.1:8700", DatabaseUrl.parse(url), Path("/tmp/pipelines")
    )


def test_the_benchmarks_arguments_parse_in_the_runner_for_every_configuration():
    for config in (cars.DLT_FAST, cars.DLT_SKIP, cars.DLT_INCREMENTAL):
        parsed = dlt_runner.parse_args(json.dumps(args_for(config)))
        assert parsed["mode"] == config.mode and parsed["dataset"] == config.dataset
        assert parsed["page_size"] == cars.PAGE_SIZE == 1000
        assert parsed["credentials"] == {
            "host": "db.example",
            "port": 6543,
            "user": "bench",
            "password": "pw",
            "database": "sync_bench",
        }
        assert parsed["env"]["LOAD__WORKERS"] == "4"


def test_a_socket_directory_host_reaches_dlt_as_libpq_host_parameter():
    parsed = dlt_runner.parse_args(
        json.dumps(args_for(cars.DLT_SKIP, "postgresql://postgres@/sync?host=/run/pg"))
    )
    credentials = dlt_runner.destination_credentials(parsed["credentials"], parsed["work_mem"])
    assert credentials["host"] == "localhost" and credentials["query"]["host"] == "/run/pg"
    assert credentials["query"]["options"] == "-c work_mem=256MB"
    assert credentials["password"] == "unused"  # dlt insists on one; a trusting server never asks


@pytest.mark.parametrize(
    "change, message",
    [
        ({"mode": "append"}, "mode must be one of"),
        ({"page_size": 5000}, "page_size must be"),
        ({"base_url": "ftp://x"}, "base_url must start"),
        ({"dataset": ""}, "missing argument(s): dataset"),
        ({"surprise": 1}, "unknown argument(s): surprise"),
        ({"credentials": {"host": "x"}}, "credentials must be an object with a database"),
        ({"env": {"LOAD__WORKERS": 4}}, "env must be an object of strings"),
        ({"loader_file_format": "jsonl"}, "loader_file_format must be"),
    ],
)
def test_bad_arguments_are_refused_with_the_reason(change, message):
    with pytest.raises(
        dlt_runner.BadArguments, match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        dlt_runner.parse_args(json.dumps({**args_for(cars.DLT_FAST), **change}))
    with pytest.raises(dlt_runner.BadArguments, match="not JSON"):
        dlt_runner.parse_args("{")


def test_each_mode_gives_dlt_the_configuration_the_figures_name():
    fast = dlt_runner.rest_api_config(dlt_runner.parse_args(json.dumps(args_for(cars.DLT_FAST))))
    skip = dlt_runner.rest_api_config(dlt_runner.parse_args(json.dumps(args_for(cars.DLT_SKIP))))
    incremental = dlt_runner.rest_api_config(
        dlt_runner.parse_args(json.dumps(args_for(cars.DLT_INCREMENTAL)))
    )
    for config in (fast, skip, incremental):
        resource = config["resources"][0]
        assert resource["primary_key"] == "id" and resource["endpoint"]["data_selector"] == "items"
        assert resource["endpoint"]["params"]["page_size"] == 1000
        assert (
            config["client"]["paginator"]["total_path"] is None
        )  # `total` counts records, not pages
    assert fast["resources"][0]["write_disposition"] == "merge"
    assert skip["resources"][0]["write_disposition"] == {
        "disposition": "merge",
        "strategy": "upsert",
        "skip_unchanged_rows": True,
    }
    cursor = incremental["resources"][0]["endpoint"]["params"]["updated_since"]
    assert cursor["type"] == "incremental" and cursor["cursor_path"] == "updated_at"
    assert "updated_since" not in fast["resources"][0]["endpoint"]["params"]


def test_the_runner_imports_only_the_standard_library_and_dlt():
    tree = ast.parse(RUNNER.read_text())
    modules = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    modules |= {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
    }
    assert modules - {"dlt"} <= set(sys.stdlib_module_names), modules


def test_the_runner_answers_bad_arguments_with_a_json_line_and_exit_status_2(tmp_path):
    env = cars.runner_environment({"mode": "full_merge"})
    done = subprocess.run(
        [sys.executable, "-I", str(RUNNER)],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert cars._last_json_line(done.stdout) == {
        "ok": False,
        "error": "bad arguments: missing argument(s): base_url, credentials, dataset, "
        "pipelines_dir",
    }


def test_the_database_password_reaches_the_runner_through_the_environment_not_argv(tmp_path):
    args = args_for(cars.DLT_SKIP, "postgresql://bench:s3cret-pw@db.example:6543/sync_bench")
    env = cars.runner_environment(args)
    assert "s3cret-pw" in env[dlt_runner.ARGS_ENV]
    assert (
        dlt_runner.parse_args(dlt_runner.arguments_text([], env))["credentials"]["password"]
        == "s3cret-pw"
    )
    with pytest.raises(dlt_runner.BadArguments, match="not on the command line"):
        dlt_runner.arguments_text([json.dumps(args)], {})
    done = subprocess.run(
        [sys.executable, "-I", str(RUNNER), json.dumps(args)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert (
        done.returncode == 2
        and "not on the command line" in cars._last_json_line(done.stdout)["error"]
    )


def test_the_last_json_object_on_stdout_is_the_result():
    assert cars._last_json_line('dlt says hi\n{"ok": true, "run_s": 1.5}\n\n') == {
        "ok": True,
        "run_s": 1.5,
    }
    assert cars._last_json_line("no json here\n[1, 2]\n") == {}
