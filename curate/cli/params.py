"""Click parameter types shared by the commands."""

from __future__ import annotations

import click


class Location(click.ParamType):
    """A local path that must exist, or an object-store URL (`s3://...`, checked when opened)."""

    name = "path"

    def __init__(self, **path_options):
        self.path = click.Path(exists=True, **path_options)

    def convert(self, value, param, ctx):
        from curate.storage import is_url

        return value if is_url(value) else self.path.convert(value, param, ctx)
