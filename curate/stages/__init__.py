"""Stages: each reads and writes TRACE_SCHEMA batches (see curate.stages.base)."""
