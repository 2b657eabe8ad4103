"""The implementations of the ``fund`` subcommands."""
