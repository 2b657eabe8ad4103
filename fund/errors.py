"""Errors the command line maps to exit codes."""


class UsageError(Exception):
    """Bad input from the user (exit 2)."""


class RunFailed(Exception):
    """The command ran but its result is a failure (exit 1)."""
