"""Read-only views of a journal for the monitoring UI: snapshots, decisions, runs."""
