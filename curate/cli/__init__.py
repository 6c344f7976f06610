"""The command line: a thin skin over the library (the group and error boundary in `group`,
generated stage commands in `stages`, hand-written commands beside them)."""

import os

# Arrow's allocator (mimalloc) keeps freed pages for reuse for a while by default: a command
# streaming wide rows frees tens of MB per batch, and the pages kept counted 120-150 MB of
# peak RSS at 30k R1-length rows (`curate decontam`, docs/performance.md). Returning them at
# once cost no measurable CPU. Read when Arrow loads, so set before anything imports pyarrow.
os.environ.setdefault("MIMALLOC_PURGE_DELAY", "0")

from curate.cli.group import cli, main  # noqa: E402

__all__ = ["cli", "main"]
