"""Near-duplicate removal: MinHash signatures (compiled kernels), LSH banding into units,
clustering with an exact check, and the dedup report."""
