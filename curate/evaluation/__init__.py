"""Evaluation metrics: pass@k, maj@k, bootstrap intervals, diversity and collapse detection (pure)."""
