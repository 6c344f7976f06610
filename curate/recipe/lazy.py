"""`LazyModel`: a config block's model, imported only when a recipe gives the block."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class LazyModel:
    """The model of a config block whose module is imported only when a recipe gives the block:
    `field: Annotated[Any, BLOCK] = None`, and a validator returning `BLOCK.validate(value)`.
    For blocks whose models cost start-up time every run pays (decontam's `paraphrase`: the
    judge's and teachers' models, 25 ms). Errors keep their place in the block, and an unknown
    key there its hint."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def model(self) -> type[BaseModel]:
        import importlib

        return getattr(importlib.import_module(self.module), self.name)

    def validate(self, value: Any) -> BaseModel | None:
        return None if value is None else self.model().model_validate(value)
