"""The cars catalogue in Dagster: partitioned assets, checks, job and schedules."""
