"""Stores in Dagster: the store list registering one dynamic partition per store, the users
and videos of many stores in one step, their checks, the jobs and the CLI's entry."""
