"""Contacts in Dagster: per-workspace sync assets and checks, the workflow queue's state, the
queue drain job and the change-log partition maintenance."""
