"""`curate eval`: generate and verify with each model through the runner, then measure (see run.py)."""
