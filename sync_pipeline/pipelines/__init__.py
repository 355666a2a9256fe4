"""One module per source: what a sync of it does, composed from the engine, without Dagster."""
