"""The command line: a thin skin over the library (the group and error boundary in `group`,
generated stage commands in `stages`, hand-written commands beside them)."""

from curate.cli.group import cli, main

__all__ = ["cli", "main"]
