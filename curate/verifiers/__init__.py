"""Answer checkers used by the `verify` stage.

- `math`: final-answer extraction and sympy equivalence (math-verify), run in `pool` workers
  under a parent-enforced per-item deadline.
- `code`: program extraction, the three test formats, judged outside a bubblewrap `sandbox`.
- `formats`: importers for real datasets' test formats (APPS/TACO, LiveCodeBench, HumanEval).
"""
