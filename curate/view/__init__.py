"""`curate view`: a local, read-only web app to browse the rows of a run, a stage or a dataset.

tables.py finds the tables under a path (metadata only), query.py pages, filters and sorts them
with lazy polars scans, search.py streams the texts for a search, detail.py assembles one row in
full (siblings, dedup cluster, benchmark hits, the trace's path through the stages; texts as
escaped HTML from curate.text.html), and server.py serves it all on 127.0.0.1 behind a one-time
token.
"""
