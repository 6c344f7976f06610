"""Decontamination: the versioned benchmark pack (`pack`, `loaders`, `select`, `benchmarks`),
the hashed n-gram index, matching, and the per-hit report."""
