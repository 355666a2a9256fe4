"""Deterministic data of the reference upstream: generators per kind of record and the in-memory
tables."""

from sync_pipeline.upstream.data.cars import generate_cars

__all__ = ["generate_cars"]
