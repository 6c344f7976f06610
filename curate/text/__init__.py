"""Text shared by dedup and decontam: `arrow` (zero-copy views of Arrow string buffers, no numba)
and `words` (normalised words and hashed n-grams, compiled with numba). Import the submodule you
need, so a numba-free path stays numba-free."""
