"""The users system in Dagster: the change-detector sensor, the rate-limited worker job, the
daily reconcile partitions, and their checks."""
