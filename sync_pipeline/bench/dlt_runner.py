"""Run one dlt pipeline over the cars API and print what it did as JSON (the peer of `bench cars`).

Executed by `sync_pipeline.bench.cars` with the python of a separate virtualenv that holds dlt
(dlt is no dependency of the project), so this file imports only dlt and the standard library,
never `sync_pipeline`:

    DLT_RUNNER_ARGS='{"base_url": "http://127.0.0.1:8700", "mode": "full_merge"}' python ...

Arguments (one JSON object in the environment variable `DLT_RUNNER_ARGS`, never on the command
line, where the database password would show in `ps`; see `parse_args`): the API's `base_url`
(and optional `token`), `page_size`, the PostgreSQL `credentials` (host — a socket directory
works —, port, user, password, database), the `dataset` (schema) and `pipeline_name`,
`pipelines_dir` (the pipeline's local state: a fresh directory means a fresh pipeline), the
`mode`, `loader_file_format`,
`work_mem` for dlt's connections, and `env`: dlt settings as environment variables (workers,
file sizes, compression), applied before dlt is imported.

Modes, all with `rest_api_source` over `/cars` (page-number pagination, records under `items`):
- `full_merge`: every page, `merge` on `id` (dlt's default `delete-insert` strategy);
- `upsert_skip_unchanged`: every page, `merge` with the `upsert` strategy and
  `skip_unchanged_rows` (dlt compares each staged row with the stored one);
- `incremental`: `merge` on `id`, pages of cars with `updated_since` from an incremental cursor
  on `updated_at` (it cannot see deletions).

Prints one JSON line last on stdout: `{"ok": true, "run_s", "steps_s", "load_ids", ...}`, or
`{"ok": false, "error"}` with exit status 1 (2 for bad arguments, or any on the command line).
"""

from __future__ import annotations

import os
import sys

# Run as a script, this file's folder would come first on sys.path, and its neighbour `http.py`
# would shadow the standard library's `http` (the caller also passes -I, which leaves it out).
sys.path[:] = [
    p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))
]

import json
import time
from typing import Any

ARGS_ENV = "DLT_RUNNER_ARGS"
MODES = ("full_merge", "upsert_skip_unchanged", "incremental")
LOADER_FILE_FORMATS = ("csv", "insert_values", "parquet", None)
INCREMENTAL_START = "1970-01-01T00:00:00.000Z"
REQUIRED = ("base_url", "credentials", "dataset", "pipelines_dir", "mode")
DEFAULTS: dict[str, Any] = {
    "page_size": 1000,
    "pipeline_name": None,
    "token": None,
    "loader_file_format": None,
    "work_mem": None,
    "env": {},
}
CREDENTIAL_KEYS = ("host", "port", "user", "password", "database")


class BadArguments(ValueError):
    """The JSON arguments are missing a key, name an unknown mode, or have a wrong type."""


def parse_args(text: str | None) -> dict[str, Any]:
    """The JSON arguments as a dict with defaults filled in; raises `BadArguments`."""
    if not text:
        raise BadArguments(f"no arguments: set {ARGS_ENV} to a JSON object")
    try:
        args = json.loads(text)
    except ValueError as exc:
        raise BadArguments(f"the argument is not JSON: {exc}") from None
    if not isinstance(args, dict):
        raise BadArguments("the argument must be a JSON object")
    missing = [key for key in REQUIRED if not args.get(key)]
    if missing:
        raise BadArguments(f"missing argument(s): {', '.join(missing)}")
    unknown = sorted(set(args) - set(REQUIRED) - set(DEFAULTS))
    if unknown:
        raise BadArguments(f"unknown argument(s): {', '.join(unknown)}")
    args = {**DEFAULTS, **args}
    if args["mode"] not in MODES:
        raise BadArguments(f"mode must be one of {', '.join(MODES)}, got {args['mode']!r}")
    if args["loader_file_format"] not in LOADER_FILE_FORMATS:
        raise BadArguments(
            "loader_file_format must be csv, insert_values or parquet, "
            f"got {args['loader_file_format']!r}"
        )
    if not isinstance(args["page_size"], int) or not 1 <= args["page_size"] <= 1000:
        raise BadArguments(
            f"page_size must be a whole number from 1 to 1000, got {args['page_size']!r}"
        )
    if not str(args["base_url"]).startswith(("http://", "https://")):
        raise BadArguments(
            f"base_url must start with http:// or https://, got {args['base_url']!r}"
        )
    credentials = args["credentials"]
    if (
        not isinstance(credentials, dict)
        or not credentials.get("database")
        or set(credentials) - set(CREDENTIAL_KEYS)
    ):
        raise BadArguments(
            f"credentials must be an object with a database and only {', '.join(CREDENTIAL_KEYS)}"
        )
    if not isinstance(args["env"], dict) or not all(
        isinstance(v, str) for v in args["env"].values()
    ):
        raise BadArguments("env must be an object of strings")
    args["pipeline_name"] = args["pipeline_name"] or f"bench_cars_{args['dataset']}"
    return args


def destination_credentials(credentials: dict[str, Any], work_mem: str | None) -> dict[str, Any]:
    """dlt's postgres credentials. A socket directory as host goes into the query (libpq's `host`
    parameter), since dlt renders the host into a URL where a path would not survive. dlt insists
    on a password; a server that trusts local connections never asks for the placeholder."""
    result: dict[str, Any] = {
        "database": credentials["database"],
        "username": credentials.get("user") or "postgres",
        "password": credentials.get("password") or "unused",
        "host": credentials.get("host") or "localhost",
        "port": int(credentials.get("port") or 5432),
        "query": {},
    }
    if result["host"].startswith("/"):
        result["query"]["host"] = result["host"]
        result["host"] = "localhost"
    if work_mem:
        result["query"]["options"] = f"-c work_mem={work_mem}"
    return result


def write_disposition(mode: str) -> Any:
    if mode == "upsert_skip_unchanged":
        return {"disposition": "merge", "strategy": "upsert", "skip_unchanged_rows": True}
    return "merge"


def rest_api_config(args: dict[str, Any]) -> dict[str, Any]:
    """The `rest_api_source` config of a mode: one resource `cars`, merged on `id`."""
    params: dict[str, Any] = {"page_size": args["page_size"]}
    if args["mode"] == "incremental":
        params["updated_since"] = {
            "type": "incremental",
            "cursor_path": "updated_at",
            "initial_value": INCREMENTAL_START,
        }
    client: dict[str, Any] = {
        "base_url": args["base_url"],
        # `total` counts records, not pages, so the walk stops at the first empty page.
        "paginator": {
            "type": "page_number",
            "base_page": 1,
            "page_param": "page",
            "total_path": None,
            "stop_after_empty_page": True,
        },
    }
    if args["token"]:
        client["auth"] = {"type": "bearer", "token": args["token"]}
    return {
        "client": client,
        "resources": [
            {
                "name": "cars",
                "primary_key": "id",
                "write_disposition": write_disposition(args["mode"]),
                "endpoint": {"path": "cars", "data_selector": "items", "params": params},
            }
        ],
    }


def run(args: dict[str, Any]) -> dict[str, Any]:
    os.environ.update(args["env"])
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    import dlt
    from dlt.sources.rest_api import rest_api_source

    destination = dlt.destinations.postgres(
        credentials=destination_credentials(args["credentials"], args["work_mem"])
    )
    pipeline = dlt.pipeline(
        pipeline_name=args["pipeline_name"],
        pipelines_dir=args["pipelines_dir"],
        destination=destination,
        dataset_name=args["dataset"],
        progress=None,
    )
    started = time.perf_counter()
    source = rest_api_source(rest_api_config(args))
    kwargs = (
        {"loader_file_format": args["loader_file_format"]} if args["loader_file_format"] else {}
    )
    info = pipeline.run(source, **kwargs)
    run_s = time.perf_counter() - started
    trace = pipeline.last_trace
    return {
        "ok": True,
        "mode": args["mode"],
        "dlt_version": dlt.__version__,
        "run_s": run_s,
        "load_ids": list(info.loads_ids),
        "has_failed_jobs": bool(info.has_failed_jobs),
        "steps_s": {
            step.step: (step.finished_at - step.started_at).total_seconds()
            for step in (trace.steps if trace else [])
            if step.finished_at is not None
        },
    }


def arguments_text(argv: list[str], environ: dict[str, str]) -> str | None:
    """The JSON arguments from `DLT_RUNNER_ARGS`; refuses command-line arguments (visible in
    `ps`)."""
    if argv:
        raise BadArguments(
            f"arguments go in the environment variable {ARGS_ENV}, not on the command line"
        )
    return environ.get(ARGS_ENV)


def main(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> int:
    try:
        text = arguments_text(
            sys.argv[1:] if argv is None else argv, dict(os.environ if environ is None else environ)
        )
        os.environ.pop(
            ARGS_ENV, None
        )  # dlt reads its settings from the environment: keep this out of them
        args = parse_args(text)
    except BadArguments as exc:
        print(json.dumps({"ok": False, "error": f"bad arguments: {exc}"}))
        return 2
    try:
        result = run(args)
    except Exception as exc:  # noqa: BLE001 - reported to the caller; the traceback went to stderr
        import traceback

        traceback.print_exc(file=sys.stderr)
        print(
            json.dumps({"ok": False, "error": f"{type(exc).__name__}: {str(exc).strip()[:2000]}"})
        )
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
