"""Cutting a run off part-way, the way a crash or a cancelled step does, to test its resume."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

import psycopg


def committed_page(conninfo: str, pipeline: str, partition: str) -> int:
    """The last page the stream's checkpoint says is committed (0 for none)."""
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "SELECT page FROM sync_checkpoints WHERE pipeline = %s AND partition = %s",
            (pipeline, partition),
        ).fetchone()
    return (row[0] or 0) if row else 0


async def cancel_after_pages(
    run: Coroutine[Any, Any, Any], conninfo: str, pipeline: str, partition: str, pages: int
) -> Any:
    """Run `run`, cancelling it once its checkpoint has `pages` pages committed; returns its
    result, or None when it was cancelled."""
    task = asyncio.create_task(run)
    while not task.done():
        await asyncio.sleep(0.02)
        if await asyncio.to_thread(committed_page, conninfo, pipeline, partition) >= pages:
            task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        return await task
