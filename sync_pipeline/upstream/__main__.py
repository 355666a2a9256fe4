"""`python -m sync_pipeline.upstream` (and `sync-pipeline upstream`): run the reference upstream.

The data is generated before the port opens, so the first answer to `/openapi.json` means ready.
The token comes from `--token` or `SYNC_UPSTREAM_TOKEN`; it is never printed.
"""

from __future__ import annotations

import argparse
import os
import sys

from sync_pipeline.errors import ConfigError
from sync_pipeline.upstream.profiles import PROFILE_NAMES
from sync_pipeline.upstream.sizes import DataSizes

TOKEN_ENV = "SYNC_UPSTREAM_TOKEN"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sync_pipeline.upstream", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8700)
    parser.add_argument("--profile", default="none", choices=PROFILE_NAMES)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--sizes", default="", help="e.g. cars=5000,users=2000 (others keep their defaults)"
    )
    parser.add_argument(
        "--token", default=None, help=f"require this bearer token (or set {TOKEN_ENV})"
    )
    return parser


def serve_from_args(args: argparse.Namespace) -> int:
    """Generate the data, then serve until interrupted. Raises ConfigError for bad sizes."""
    from sync_pipeline.upstream.server import serve
    from sync_pipeline.upstream.state import UpstreamState

    sizes = DataSizes.parse(getattr(args, "sizes", "") or "")
    token = args.token or os.environ.get(TOKEN_ENV) or None
    state = UpstreamState(seed=args.seed, sizes=sizes, profile=args.profile, token=token)
    print(
        f"reference upstream: profile {args.profile}, seed {args.seed}, {state.dataset.counts()} "
        f"generated in {state.dataset.generation_s:.2f}s; "
        f"token {'required' if token else 'not required'}; http://{args.host}:{args.port}",
        flush=True,
    )
    serve(state, args.host, args.port)
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        return serve_from_args(build_parser().parse_args(argv))
    except ConfigError as error:
        print(f"sync_pipeline.upstream: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
