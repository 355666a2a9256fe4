"""Entity specs, one module per source: which table, key, typed columns and volatile fields.

Framework-free (no Dagster): pipelines hand these to `sync_pipeline.engine.sync_run.SyncRun`.
Each spec mirrors its table's migration in `sql/`; a run refuses to start when they differ.
"""
