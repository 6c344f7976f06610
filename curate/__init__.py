"""curate: build reasoning-distillation datasets, from teacher traces to a published Hub dataset."""

__version__ = "0.1.0"
