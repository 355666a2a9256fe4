"""`sync-pipeline`: the command line. Exit codes: 0 success, 1 failed run or check, 2 bad usage
or configuration (one clear line on stderr, no traceback)."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from pathlib import Path

from sync_pipeline import startup
from sync_pipeline.errors import ConfigError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def cmd_migrate(args: argparse.Namespace) -> int:
    from sync_pipeline.db.connect import app_database_url
    from sync_pipeline.db.migrations import migrate
    from sync_pipeline.instance import apply_pool_limits, persistent_instance

    url = app_database_url()
    applied = migrate(url)
    for m in applied:
        print(f"applied {m.filename}")
    print(f"database {url.masked()} is up to date ({len(applied)} migration(s) applied now)")
    with persistent_instance(url) as instance:
        changed = apply_pool_limits(instance)
    shown = ", ".join(f"{pool}={limit}" for pool, limit in changed.items())
    print(f"Dagster pool limits set: {shown}" if changed else "Dagster pool limits are up to date")
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    from sync_pipeline.doctor import print_doctor_report, print_env_exports

    return print_env_exports(args.show_secrets) if args.env else print_doctor_report()


def cmd_db(args: argparse.Namespace) -> int:
    from sync_pipeline.db.held_server import holder_pid, start_held_server, stop_held_server

    if args.db_command == "start":
        url = start_held_server()
        print(
            f"embedded PostgreSQL running at {url.describe()}; `sync-pipeline db stop` releases it"
        )
    elif args.db_command == "stop":
        released = stop_held_server()
        print(
            "embedded PostgreSQL released"
            if released
            else "no `db start` holds the embedded PostgreSQL"
        )
    else:
        pid = holder_pid()
        print(
            f"held by `db start` (pid {pid})" if pid else "not held (runs while a command uses it)"
        )
    return EXIT_OK


def cmd_dev(args: argparse.Namespace) -> int:
    from sync_pipeline.dev import run_dev

    return run_dev(host=args.host, port=args.port, upstream_profile=args.upstream_profile)


def cmd_demo(args: argparse.Namespace) -> int:
    from sync_pipeline.demo import run_demo

    return run_demo(quick=args.quick)


def cmd_upstream(args: argparse.Namespace) -> int:
    from sync_pipeline.upstream.__main__ import serve_from_args

    return serve_from_args(args)


def cmd_sync(args: argparse.Namespace) -> int:
    with startup.lasting_imports():
        from sync_pipeline.sources import run_source_sync

    return run_source_sync(args.source, full_refresh=args.full_refresh, partition=args.partition)


def cmd_bench(args: argparse.Namespace) -> int:
    from sync_pipeline.bench import BENCHMARKS
    from sync_pipeline.bench.report import BenchOptions

    if args.name not in BENCHMARKS:
        raise ConfigError(f"unknown benchmark {args.name!r}; choose one of {', '.join(BENCHMARKS)}")
    module = importlib.import_module(BENCHMARKS[args.name])
    report = module.run(BenchOptions(json_path=args.json, quick=args.quick, long=args.long))
    print(report.table())
    if args.json:
        report.write_json(args.json)
        print(f"wrote {args.json}")
    return EXIT_OK if report.ok else EXIT_FAILED


def cmd_workflows(args: argparse.Namespace) -> int:
    from sync_pipeline.workflows.commands import run_replay, run_worker
    from sync_pipeline.workflows.delivery import Backoff
    from sync_pipeline.workflows.worker import WorkerSettings

    if args.workflows_command == "replay":
        return run_replay(args.trigger, args.id)
    try:
        settings = WorkerSettings(
            concurrency=args.concurrency,
            lease_s=args.lease_seconds,
            request_timeout_s=args.timeout_seconds,
            poll_s=args.poll_seconds,
            backoff=Backoff(base_s=args.backoff_seconds),
            dispatch=not args.no_dispatch,
            stop_grace_s=args.stop_grace_seconds,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return run_worker(settings, args.metrics_port, args.metrics_host)


def cmd_worker(args: argparse.Namespace) -> int:
    from sync_pipeline.celery_worker import start_worker

    return start_worker(args.concurrency, args.queue)


def add_workflows_parser(sub) -> None:
    workflows = sub.add_parser(
        "workflows",
        help="contact field-change workflows: worker, replay",
        description="contact field-change workflows: worker, replay",
    )
    workflows.set_defaults(handler=cmd_workflows)
    commands = workflows.add_subparsers(dest="workflows_command", required=True, metavar="COMMAND")
    worker = commands.add_parser(
        "worker", help="deliver queued webhooks (and dispatch changes) until SIGTERM"
    )
    worker.add_argument("--concurrency", type=int, default=16, help="webhooks in flight")
    worker.add_argument(
        "--metrics-port", type=int, default=None, help="serve Prometheus metrics on this port"
    )
    worker.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        help="address the metrics are served on (0.0.0.0: every interface)",
    )
    worker.add_argument(
        "--lease-seconds", type=float, default=60.0, help="how long a claimed job stays leased"
    )
    worker.add_argument(
        "--timeout-seconds", type=float, default=10.0, help="webhook request timeout"
    )
    worker.add_argument(
        "--poll-seconds", type=float, default=1.0, help="poll interval besides NOTIFY"
    )
    worker.add_argument(
        "--backoff-seconds", type=float, default=1.0, help="first retry delay (doubles)"
    )
    worker.add_argument(
        "--no-dispatch", action="store_true", help="deliver only; leave dispatching to others"
    )
    worker.add_argument(
        "--stop-grace-seconds",
        type=float,
        default=20.0,
        help="on SIGTERM, how long in-flight deliveries may finish before they are released",
    )
    replay = commands.add_parser("replay", help="requeue dead letters")
    replay.add_argument(
        "--trigger", type=int, default=None, help="only this trigger's dead letters"
    )
    replay.add_argument(
        "--id", type=int, action="append", default=None, help="only this execution (repeatable)"
    )


def build_parser() -> argparse.ArgumentParser:
    from sync_pipeline import registry
    from sync_pipeline.bench import BENCHMARKS

    parser = argparse.ArgumentParser(prog="sync-pipeline", description=__doc__.split(".")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, handler: Callable[[argparse.Namespace], int], help_text: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        return p

    add("migrate", cmd_migrate, "apply pending sql/ migrations to the database")
    doctor = add(
        "doctor", cmd_doctor, "print versions, database, migration state and upstream reachability"
    )
    doctor.add_argument(
        "--env", action="store_true", help="print shell exports for running dg/dagster yourself"
    )
    doctor.add_argument(
        "--show-secrets",
        action="store_true",
        help="with --env: print the database password instead of masking it",
    )
    db = add(
        "db", cmd_db, "keep the embedded PostgreSQL running between commands (start, stop, status)"
    )
    db.add_argument("db_command", choices=["start", "stop", "status"])
    dev = add(
        "dev", cmd_dev, "run the Dagster UI and daemon on the embedded or configured database"
    )
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=3000)
    dev.add_argument(
        "--upstream-profile",
        default="none",
        choices=["none", "seed", "hostile"],
        help="fault profile of the embedded reference upstream (used for sources with no URL set)",
    )
    demo = add(
        "demo", cmd_demo, "migrate, check the database, load the definitions and run the demo sync"
    )
    demo.add_argument("--quick", action="store_true", help="a small data set, for a fast look")
    up = add("upstream", cmd_upstream, "serve the reference upstream API (all five sources)")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=8700)
    up.add_argument("--profile", default="none", choices=["none", "seed", "hostile"])
    up.add_argument("--seed", type=int, default=1)
    up.add_argument(
        "--token", default=None, help="require this bearer token (or set SYNC_UPSTREAM_TOKEN)"
    )
    up.add_argument("--sizes", default="", help="data set sizes, e.g. cars=20000,users=5000")
    sync = add("sync", cmd_sync, "materialize one source through Dagster from the terminal")
    sync.add_argument("source", choices=registry.source_names())
    scope = sync.add_mutually_exclusive_group()
    scope.add_argument(
        "--full-refresh", action="store_true", help="walk the whole upstream (may soft-delete)"
    )
    scope.add_argument(
        "--partition", default=None, help="partition key, e.g. 2026-11-22 (cars) or eu|3v3 (pvp)"
    )
    bench = add("bench", cmd_bench, "run a benchmark and print its figures")
    bench.add_argument("name", choices=list(BENCHMARKS))
    bench.add_argument(
        "--json", type=Path, default=None, help="also write the figures to this JSON file"
    )
    bench.add_argument(
        "--quick", action="store_true", help="smaller data, for a smoke run (targets still printed)"
    )
    bench.add_argument(
        "--long",
        action="store_true",
        help="also measure at the real rate (several minutes; `bench users`: 1 detail per 4 s)",
    )
    add_workflows_parser(sub)
    worker = add(
        "worker",
        cmd_worker,
        "run a Celery worker for the steps of stores_sync_celery_job (extra .[celery])",
    )
    worker.add_argument("--concurrency", type=int, default=2, help="steps at once (processes)")
    worker.add_argument("--queue", default="dagster", help="the Celery queue to take steps from")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except ConfigError as exc:
        print(f"sync-pipeline: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("sync-pipeline: interrupted", file=sys.stderr)
        return 130


def run() -> None:
    """The console script: `main()`, with the collector kept off what lasts (`startup.py`)."""
    startup.console_process()
    code = main()
    startup.before_exit()
    sys.exit(code)


if __name__ == "__main__":
    run()
