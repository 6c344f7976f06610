"""`curate card`, `curate report` and `curate push`: document and publish a finished run.

Thin Click skins over curate.publish.card, curate.publish.report and curate.publish.hub; errors are CurateErrors, which
the group turns into `Error:` / `Hint:` lines at one boundary.
"""

from __future__ import annotations

from pathlib import Path

import click

from curate.cli.params import Location

RUN_DIR = Location(file_okay=False)  # a folder, or a run at a URL (s3://...)


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--template", help="Template name (./data_cards/ first, then the packaged ones) or path "
              "(default: the recipe's card.template).")
@click.option("--output", type=click.Path(dir_okay=False), help="Write here instead of RUN/dataset/README.md.")
def card(run_dir, template, output):
    """Render the dataset card (README.md and plots) of a finished run from its manifest."""
    from curate.publish.card import card_for_run

    path = card_for_run(run_dir, template=template, output=Path(output) if output else None)
    click.echo(f"Card: {path}")


@click.command()
@click.argument("run_dir", type=RUN_DIR)
@click.option("--output", type=click.Path(dir_okay=False), help="Write here instead of RUN/reports/report.html.")
@click.option("--samples", type=int, default=2, show_default=True, help="Sample rows per verdict and per reason.")
@click.option("--viewer-url", metavar="URL", help="Link each sample to its row in `curate view RUN_DIR --port P` "
              "running at URL: the address it printed, token included (e.g. http://127.0.0.1:8765/?token=...).")
def report(run_dir, output, samples, viewer_url):
    """Write one self-contained HTML page about a run: funnel, plots, samples, rejects, hits.

    RUN_DIR may be a URL (s3://bucket/runs/r1): its parts are read into a local read-only copy,
    and the report is also stored at RUN_DIR/reports/report.html.
    """
    from curate.publish.report import write_report
    from curate.rundir import RunDir

    rd = RunDir.for_reading(run_dir)
    rd.fetch_parts()  # a run at a URL: its parts, rejects and dataset come into a read-only copy
    rd.fetch_dataset()
    path = write_report(rd.path, output=Path(output) if output else None, samples=samples, viewer=viewer_url)
    if rd.store and not output:  # beside the run's other reports, as for a local run
        rd.store.put(path, rd.rel(path))
        click.echo(f"Report: {path} (stored at {rd.store.url_of(rd.rel(path))})")
    else:
        click.echo(f"Report: {path}")


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))  # may not exist yet with --follow; or a URL
@click.argument("repo_id")
@click.option("--private", is_flag=True, help="Create the repo as private (if it does not exist).")
@click.option("--revision", help="Branch to push to (created from main if missing).")
@click.option("--create-pr", is_flag=True, help="Open a pull request instead of committing (implies --atomic).")
@click.option("--atomic", is_flag=True, help="Pre-upload every file, then make one commit.")
@click.option("--follow", is_flag=True, help="Follow a run that is still writing (or not started yet): "
              "upload each dataset shard once it is complete, then make one commit when the run has "
              "finished. Resumable: rerun it after a kill or Ctrl-C.")
@click.option("--poll", type=click.FloatRange(min=0.01), default=10.0, show_default=True, metavar="SECONDS",
              help="With --follow: how often to look at the run.")
@click.option("--dry-run", is_flag=True, help="List what would be uploaded and print the card; upload nothing.")
def push(run_dir, repo_id, private, revision, create_pr, atomic, follow, poll, dry_run):
    """Upload RUN_DIR/dataset/ to the dataset repo REPO_ID on the Hugging Face Hub.

    RUN_DIR may be a URL (s3://bucket/runs/r1) of a finished run: its dataset/ is downloaded
    (checked against write's record of it) into a local read-only copy first; with --follow,
    each shard as its part is marked done.

    The token comes from HF_TOKEN or `hf auth login`; it is never printed.
    """
    if follow:
        follow_run(run_dir, repo_id, private=private, revision=revision, create_pr=create_pr, poll=poll,
                   dry_run=dry_run)
        return
    publish(run_dir, repo_id, private=private, revision=revision, create_pr=create_pr, atomic=atomic,
            dry_run=dry_run)


def publish(run_dir, repo_id: str, *, private: bool = False, revision: str | None = None,
            create_pr: bool = False, atomic: bool = False, dry_run: bool = False) -> None:
    """Plan and upload RUN_DIR/dataset/ (or only print the plan and card): `curate push` and
    `curate run --push` share this."""
    from curate.publish.hub import plan_push
    from curate.publish.hub import push as do_push
    from curate.rundir import RunDir
    from curate.storage import is_url

    if is_url(run_dir):  # the finished dataset (what write's flag names) into a read-only copy
        rd = RunDir.for_reading(run_dir)
        rd.fetch_dataset()
        run_dir = rd.path
    plan = plan_push(run_dir, repo_id, revision=revision, private=private, create_pr=create_pr, atomic=atomic)
    if dry_run:
        click.echo(plan.describe())
        click.echo("\n--- README.md ---\n")
        click.echo((plan.folder / "README.md").read_text(encoding="utf-8"))
        return
    url = do_push(plan, log=lambda line: click.echo(line, err=True))
    click.echo(f"Pushed {len(plan.files)} file(s) to https://huggingface.co/datasets/{repo_id}"
               + (f"\n{url}" if url else ""))


def follow_run(run_dir, repo_id: str, *, private: bool, revision: str | None, create_pr: bool, poll: float,
               dry_run: bool) -> None:
    """`curate push --follow`: stream the run's shards to the Hub, commit once it is finished."""
    from curate.errors import CurateError
    from curate.publish.follow import PushOptions, follow_push
    if dry_run:
        raise CurateError("--dry-run lists the files of a finished run; it cannot follow one.",
                          "Drop --follow to see what a finished run would upload.")
    options = PushOptions(repo_id=repo_id, revision=revision, private=private, create_pr=create_pr)
    try:
        url = follow_push(run_dir, options, poll=poll, log=lambda line: click.echo(line, err=True))
    except KeyboardInterrupt:
        raise CurateError("interrupted: nothing was committed; every shard uploaded so far is recorded.",
                          "Run the same `curate push --follow` again: it uploads only what is missing.") from None
    click.echo(f"Pushed to https://huggingface.co/datasets/{repo_id}" + (f"\n{url}" if url else ""))
