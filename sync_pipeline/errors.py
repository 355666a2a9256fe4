"""Errors that the CLI turns into one clear line and an exit code instead of a traceback."""


class ConfigError(Exception):
    """Bad configuration or usage (CLI exit code 2)."""


class DatabaseUnreachable(ConfigError):
    """The configured PostgreSQL cannot be reached (CLI exit code 2)."""
