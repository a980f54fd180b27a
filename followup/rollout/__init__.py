"""Staged rollouts of signed releases: the decisions, their tables, the driver,
the release server."""
