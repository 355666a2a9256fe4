"""Run the reference upstream service in a child process, for tests, `dev`, `demo` and
benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import MutableMapping, Sequence
from contextlib import ExitStack
from typing import IO, Any, Self

import httpx

from sync_pipeline import registry
from sync_pipeline.settings import source_env_names
from sync_pipeline.upstream.sizes import sizes_serving_only

READY_TIMEOUT_S = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class UpstreamProcess:
    """The reference upstream (`python -m sync_pipeline.upstream`) on a loopback port.

    Use as a context manager: the server is up when the block starts and stopped when it ends.
    The token, when set, goes to the child through its environment, never its command line.
    """

    def __init__(
        self,
        port: int | None = None,
        profile: str = "none",
        seed: int = 1,
        token: str | None = None,
        sizes: dict[str, int] | None = None,
        workers: int = 1,
    ) -> None:
        self.port = port or free_port()
        self.profile = profile
        self.seed = seed
        self.token = token
        self.sizes = sizes or {}
        self.workers = workers
        self._proc: subprocess.Popen | None = None
        self._stderr: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs (benchmarks read its CPU time from /proc)."""
        return self._proc.pid if self._proc is not None else None

    def start(self) -> UpstreamProcess:
        cmd = [
            sys.executable,
            "-m",
            "sync_pipeline.upstream",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--profile",
            self.profile,
            "--seed",
            str(self.seed),
        ]
        if self.sizes:
            cmd += ["--sizes", ",".join(f"{k}={v}" for k, v in self.sizes.items())]
        env = dict(os.environ)
        env.pop("SYNC_UPSTREAM_TOKEN", None)
        if self.token:
            env["SYNC_UPSTREAM_TOKEN"] = self.token
        # A file, not a pipe: a pipe nobody reads would block the server once 64 KB were logged.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        self._proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=self._stderr)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._stderr_tail()
                raise RuntimeError(f"reference upstream exited with {self._proc.returncode}: {err}")
            try:
                if httpx.get(f"{self.url}/openapi.json", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"reference upstream did not answer on {self.url} within {READY_TIMEOUT_S:.0f}s"
        )

    def admin(self, path: str, payload: dict[str, Any] | None = None) -> Any:
        """POST (with a payload) or GET an `/_admin/...` endpoint and return its JSON."""
        url = f"{self.url}/_admin/{path.lstrip('/')}"
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        with httpx.Client(timeout=120.0, headers=headers) as client:
            response = client.get(url) if payload is None else client.post(url, json=payload)
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        self._proc = None

    def _stderr_tail(self, limit: int = 2000) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-limit:]

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_for_unset_sources(
    stack: ExitStack,
    env: MutableMapping[str, str],
    profile: str = "none",
    sizes: dict[str, int] | None = None,
    only: Sequence[str] | None = None,
) -> UpstreamProcess | None:
    """Start one reference upstream for every registered source's API (or only those named in
    `only`, generating no more data than they need) whose `SYNC_<SOURCE>_API_URL` is unset in
    `env`, point those variables at it, and stop it when `stack` closes. None if all are set."""
    wanted = (
        registry.upstreams() if only is None else [u for u in registry.upstreams() if u in only]
    )
    unset = [s for s in wanted if not env.get(source_env_names(s)[0])]
    if not unset:
        return None
    if only is not None:
        sizes = {**sizes_serving_only(unset), **(sizes or {})}
    upstream = stack.enter_context(UpstreamProcess(profile=profile, sizes=sizes))
    for source in unset:
        env[source_env_names(source)[0]] = upstream.url
    print(
        f"reference upstream at {upstream.url} (fault profile {profile}) for: {', '.join(unset)}",
        flush=True,
    )
    return upstream
