"""`curate view`: a local, read-only web app to browse the rows of a run, a stage or a dataset.

tables.py finds the tables under a path (metadata only), query.py pages, filters, sorts and
searches them with lazy polars scans, detail.py assembles one row in full (siblings, dedup
cluster, benchmark hits, the trace's path through the stages), render.py turns model output into
escaped HTML, and server.py serves it all on 127.0.0.1 behind a one-time token.
"""
