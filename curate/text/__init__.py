"""Text shared by features: `arrow` (zero-copy views of Arrow string buffers, no numba), `words`
(normalised words and hashed n-grams, compiled with numba; dedup and decontam) and `html` (model
output as escaped HTML with highlighted code; the viewer and the report). Import the submodule you
need, so a numba-free path stays numba-free."""
