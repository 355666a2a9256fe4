"""The users sync (upstream-api.md section 1) without Dagster: a detector and a worker.

Follow one user from the API to its row:

1. `window.py`   the detector's cursor and the `updated_at` window a tick lists;
2. `listing.py`  walk `GET /users` over that window, noticing page shifts;
3. `detect.py`   fingerprint the summaries, classify them (`compare.py`: one query against
                 `users` and `users_pending_changes`), record what is asked for, group it into
                 worker runs of at most `batch_size` ids per `updated_at` day;
4. `apply.py`    the worker: fetch each detail under the shared detail limit, store batches in
                 order with a checkpoint;
5. `write.py`    one transaction per batch: COPY, one `INSERT ... ON CONFLICT`, pending rows
                 cleared, 404s soft-deleted, rejects quarantined.

`reconcile.py` runs 2-5 in one pass for a day (or everything): the backfill and repair path.
"""
