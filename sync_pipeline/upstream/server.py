"""Serving the app with uvicorn (uvloop + httptools), quietly.

The parent process may read our stderr only when we exit, so nothing is logged per request:
no access log, and uvicorn's complaint about the responses we drop on purpose is filtered out.
"""

from __future__ import annotations

import logging

import uvicorn

from sync_pipeline.upstream.app import create_app
from sync_pipeline.upstream.state import UpstreamState


class _DroppedOnPurpose(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "without completing response" not in record.getMessage()


def serve(state: UpstreamState, host: str, port: int) -> None:
    """Serve until interrupted (SIGINT/SIGTERM)."""
    logging.getLogger("uvicorn.error").addFilter(_DroppedOnPurpose())
    config = uvicorn.Config(
        create_app(state),
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        lifespan="off",
        server_header=False,
        date_header=False,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=2,
    )
    uvicorn.Server(config).run()
