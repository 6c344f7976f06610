"""Text shared by features: `arrow` (zero-copy views of Arrow string buffers, no numba), `words`
(normalised words and hashed n-grams, compiled with numba; dedup and decontam), `html` (model
output as escaped HTML with highlighted code; the viewer and the report), `jit` (numba's decorator,
deferred: numba is imported when a kernel is first run compiled) and `small` (small inputs run the
kernels as Python). Import the submodule you need, so a numba-free path stays numba-free."""
