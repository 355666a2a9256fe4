"""`sync-pipeline`: the command line. Exit codes: 0 success, 1 failed run or check, 2 bad usage
or configuration (one clear line on stderr, no traceback)."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Callable

from sync_pipeline.errors import ConfigError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def cmd_migrate(args: argparse.Namespace) -> int:
    from sync_pipeline.db.connect import app_database_url
    from sync_pipeline.db.migrations import migrate

    url = app_database_url()
    applied = migrate(url)
    for m in applied:
        print(f"applied {m.filename}")
    print(f"database {url.masked()} is up to date ({len(applied)} migration(s) applied now)")
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    from sync_pipeline.doctor import print_doctor_report, print_env_exports

    return print_env_exports() if args.env else print_doctor_report()


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
    from sync_pipeline.sources import run_source_sync

    return run_source_sync(args.source, full_refresh=args.full_refresh, partition=args.partition)


def cmd_bench(args: argparse.Namespace) -> int:
    from sync_pipeline.bench import BENCHMARKS
    from sync_pipeline.bench.report import BenchOptions

    if args.name not in BENCHMARKS:
        raise ConfigError(f"unknown benchmark {args.name!r}; choose one of {', '.join(BENCHMARKS)}")
    module = importlib.import_module(BENCHMARKS[args.name])
    report = module.run(BenchOptions(json_path=args.json, quick=args.quick))
    print(report.table())
    if args.json:
        report.write_json(args.json)
        print(f"wrote {args.json}")
    return EXIT_OK if report.ok else EXIT_FAILED


def build_parser() -> argparse.ArgumentParser:
    from sync_pipeline.bench import BENCHMARKS
    from sync_pipeline.settings import SOURCES

    parser = argparse.ArgumentParser(prog="sync-pipeline", description=__doc__.split(".")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        return p

    add("migrate", cmd_migrate, "apply pending sql/ migrations to the database")
    doctor = add("doctor", cmd_doctor, "print versions, database, migration state and upstream reachability")
    doctor.add_argument("--env", action="store_true", help="print shell exports for running dg/dagster yourself")
    dev = add("dev", cmd_dev, "run the Dagster UI and daemon on the embedded or configured database")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=3000)
    dev.add_argument("--upstream-profile", default="none", choices=["none", "seed", "hostile"],
                     help="fault profile of the embedded reference upstream (used for sources with no URL set)")
    demo = add("demo", cmd_demo, "migrate, check the database, load the definitions and run the demo sync")
    demo.add_argument("--quick", action="store_true", help="a small data set, for a fast look")
    up = add("upstream", cmd_upstream, "serve the reference upstream API (all five sources)")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=8700)
    up.add_argument("--profile", default="none", choices=["none", "seed", "hostile"])
    up.add_argument("--seed", type=int, default=1)
    up.add_argument("--token", default=None, help="require this bearer token (or set SYNC_UPSTREAM_TOKEN)")
    up.add_argument("--sizes", default="", help="data set sizes, e.g. cars=20000,users=5000")
    sync = add("sync", cmd_sync, "materialize one source through Dagster from the terminal")
    sync.add_argument("source", choices=list(SOURCES))
    scope = sync.add_mutually_exclusive_group()
    scope.add_argument("--full-refresh", action="store_true", help="walk the whole upstream (may soft-delete)")
    scope.add_argument("--partition", default=None, help="partition key, e.g. 2026-11-22")
    bench = add("bench", cmd_bench, "run a benchmark and print its figures")
    bench.add_argument("name", choices=list(BENCHMARKS))
    bench.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    bench.add_argument("--quick", action="store_true", help="smaller data, for a smoke run (targets still printed)")
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


if __name__ == "__main__":
    sys.exit(main())
