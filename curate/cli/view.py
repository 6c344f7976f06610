"""`curate view`: a thin Click skin over curate.view (a local, read-only trace browser)."""

from __future__ import annotations

import click

from curate.cli.params import Location


@click.command()
@click.argument("path", type=Location())
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but a loopback address exposes your data to the network.")
@click.option("--port", type=int, default=0, help="Port to listen on (default: a free one).")
def view(path, host, port):
    """Browse PATH (a run directory, a stage folder, a dataset/ folder, a Parquet or JSONL file; a
    folder or a URL such as s3://bucket/runs/r1, read in place) in
    a local, read-only web app: filter, sort and search rows, read traces with rendered math and
    highlighted code, follow a trace through the stages. Prints a URL with a one-time token;
    opens nothing by itself. Stop it with Ctrl-C.
    """
    from curate.storage import is_url
    from curate.view.server import Viewer, make_server, url_of

    viewer = Viewer(path)
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.secho(f"Warning: listening on {host}: anyone who can reach this address and has the URL can read "
                    "the data. Use the default 127.0.0.1 and an SSH tunnel instead where you can.", fg="yellow",
                    err=True)
    server = make_server(viewer, host, port)
    rows = sum(t.rows for t in viewer.tables.values())
    shown = path if is_url(path) else viewer.root
    click.echo(f"Serving {shown} ({len(viewer.tables)} tables, {rows:,} rows), read-only.")
    click.echo(f"Open:    {url_of(server, viewer)}", )
    click.echo("Stop:    Ctrl-C")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
