"""sync_pipeline: keep PostgreSQL tables in sync with rate-limited HTTP APIs, on Dagster."""

__version__ = "0.1.0"
