"""A sync that kills its own process (SIGKILL, no cleanup) when it is about to fetch page N.

Run by the checkpoint tests: `python -m sync_pipeline_tests.engine.db.interrupted_sync URL N`.
Pages of 10 `items` records, batches of 2 pages, 2 batches in flight: when the process dies,
some batches have committed, others are still open, exactly as with a crash or an OOM kill.
"""

from __future__ import annotations

import os
import signal
import sys

from sync_pipeline.db.pool import open_pool
from sync_pipeline.db.urls import DatabaseUrl
from sync_pipeline.engine.checkpoints import Position, listing_layout
from sync_pipeline.engine.sync_run import SyncRun
from sync_pipeline.engine.write_options import WriteOptions
from sync_pipeline_tests.engine.db.tables import ITEMS, item

PAGES = 30
PAGE_SIZE = 10
OPTIONS = WriteOptions(batch_size=20, parallel_batches=2)
LAYOUT = listing_layout(PAGE_SIZE)


def page(number: int) -> list[dict]:
    start = (number - 1) * PAGE_SIZE + 1
    return [
        item(i, name=f"item {i} v2" if i % 3 == 0 else f"item {i}")
        for i in range(start, start + PAGE_SIZE)
    ]


def main(url: str, kill_at_page: int) -> None:
    with (
        open_pool(DatabaseUrl.parse(url), max_size=4) as pool,
        SyncRun(
            pool,
            ITEMS,
            pipeline="items",
            partition="all",
            run_id="killed",
            options=OPTIONS,
            layout=LAYOUT,
        ) as run,
    ):
        for number in range(run.checkpoint.next_page, PAGES + 1):
            if number == kill_at_page:
                os.kill(os.getpid(), signal.SIGKILL)
            run.add_page(page(number), Position(page=number))
        run.finish(full_snapshot=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
