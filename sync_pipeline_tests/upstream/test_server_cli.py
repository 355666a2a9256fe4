"""Starting the server: `sync-pipeline upstream`, `python -m sync_pipeline.upstream`, the OpenAPI
document."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx

from sync_pipeline.upstream.__main__ import build_parser
from sync_pipeline.upstream.process import UpstreamProcess, free_port

API_PATHS = {
    "/cars",
    "/users",
    "/users/{user_id}",
    "/stores",
    "/stores/{code}/users",
    "/stores/{code}/videos",
    "/pvp/{region}/leaderboards/{bracket}",
    "/characters/{region}/{realm}/{name}/equipment",
    "/workspaces",
    "/contacts",
    "/_admin/reset",
    "/_admin/mutate",
    "/_admin/faults",
    "/_admin/stats",
}


def test_openapi_document_covers_every_endpoint_and_the_car_schema(
    upstream: UpstreamProcess,
) -> None:
    document = httpx.get(f"{upstream.url}/openapi.json").json()
    assert API_PATHS <= set(document["paths"])
    car = document["components"]["schemas"]["Car"]["properties"]
    assert {"id", "vin", "price", "dealer", "features", "updated_at", "scraped_at", "views"} <= set(
        car
    )
    parameters = {p["name"] for p in document["paths"]["/cars"]["get"]["parameters"]}
    assert parameters == {"page", "page_size", "updated_since", "updated_until"}


def test_module_flags_match_the_fixed_interface() -> None:
    args = build_parser().parse_args(
        [
            "--host",
            "0.0.0.0",
            "--port",
            "9",
            "--profile",
            "seed",
            "--seed",
            "4",
            "--sizes",
            "cars=5",
            "--token",
            "t",
        ]
    )
    parsed = (args.host, args.port, args.profile, args.seed, args.sizes, args.token)
    assert parsed == ("0.0.0.0", 9, "seed", 4, "cars=5", "t")


def test_bad_sizes_exit_with_a_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sync_pipeline.upstream", "--sizes", "planes=3"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and "planes" in result.stderr and "Traceback" not in result.stderr


def test_sync_pipeline_upstream_serves_with_the_token_from_the_environment() -> None:
    port = free_port()
    env = {**os.environ, "SYNC_UPSTREAM_TOKEN": "from-env"}
    command = [
        sys.executable,
        "-m",
        "sync_pipeline.cli",
        "upstream",
        "--port",
        str(port),
        "--profile",
        "seed",
        "--sizes",
        "cars=100,users=50,stores=2,leaderboard_entries=20,contacts=30,workspaces=1",
    ]
    with subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ) as server:
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/openapi.json").status_code == 200:
                        break
                except httpx.TransportError:
                    assert time.monotonic() < deadline and server.poll() is None
                    time.sleep(0.1)
            assert httpx.get(f"http://127.0.0.1:{port}/cars").status_code == 401
            answer = httpx.get(
                f"http://127.0.0.1:{port}/_admin/info", headers={"Authorization": "Bearer from-env"}
            ).json()
            assert answer["profiles"]["cars"] == "seed" and answer["counts"]["cars"] == 100
        finally:
            server.terminate()
            server.wait(timeout=15)
