"""The embedded PostgreSQL used when `SYNC_DATABASE_URL` is unset.

pgserver runs a real PostgreSQL from a wheel in a project-local data folder. Every process that
asks for it gets a handle; with `cleanup_mode="stop"` the server stops when the last process
holding a handle exits. `sync-pipeline dev` holds one for as long as the Dagster webserver,
daemon and run workers live, and hands them the server's URL through the environment, so they
never start a server of their own.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from sync_pipeline.db.urls import DatabaseUrl
from sync_pipeline.settings import state_dir

APP_DATABASE = "sync_pipeline"
_server = None


def data_dir() -> Path:
    return state_dir() / "pgdata"


def embedded_server_url(database: str = APP_DATABASE) -> DatabaseUrl:
    """Start (or attach to) the embedded server and return the URL of `database` on it."""
    global _server
    if _server is None:
        logging.getLogger("pgserver").setLevel(logging.WARNING)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgserver

            _server = pgserver.get_server(data_dir(), cleanup_mode="stop")
    return DatabaseUrl.parse(_server.get_uri(database))


def embedded_server_started() -> bool:
    """Whether this process holds a handle on the embedded server."""
    return _server is not None


def stop_embedded_server() -> None:
    """Release this process's handle; the server stops if no other process holds one."""
    global _server
    if _server is not None:
        _server.cleanup()
        _server = None
