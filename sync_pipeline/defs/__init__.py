"""Dagster layer: resources wrapping the engine, and one package per source."""
