"""The sync engine: plain Python, no Dagster imports.

HTTP side: rate limiting, retries, circuit breaker, pagination, metrics.
Database side: fingerprints, change sets, the COPY + merge write path, checkpoints, quarantine.
The Dagster layer (`sync_pipeline.defs`) wraps these in resources and assets.
"""
