"""Run the reference upstream service in a child process, for tests, `dev`, `demo` and benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from typing import Any

import httpx

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

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "UpstreamProcess":
        cmd = [sys.executable, "-m", "sync_pipeline.upstream", "--host", "127.0.0.1", "--port", str(self.port),
               "--profile", self.profile, "--seed", str(self.seed)]
        if self.sizes:
            cmd += ["--sizes", ",".join(f"{k}={v}" for k, v in self.sizes.items())]
        env = dict(os.environ)
        env.pop("SYNC_UPSTREAM_TOKEN", None)
        if self.token:
            env["SYNC_UPSTREAM_TOKEN"] = self.token
        self._proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"reference upstream exited with {self._proc.returncode}: {err}")
            try:
                if httpx.get(f"{self.url}/openapi.json", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"reference upstream did not answer on {self.url} within {READY_TIMEOUT_S:.0f}s")

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
        if self._proc.stderr:
            self._proc.stderr.close()
        self._proc = None

    def __enter__(self) -> "UpstreamProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
