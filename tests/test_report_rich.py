"""The report's samples: math as MathML, code highlighted, hostile text escaped, links to the viewer."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from publish_helpers import make_run

from curate.cli.group import cli


@pytest.fixture(scope="module")
def html(tmp_path_factory) -> str:
    pytest.importorskip("latex2mathml")
    pytest.importorskip("pygments")
    run = make_run(tmp_path_factory.mktemp("rich"))
    out = run / "reports" / "rich.html"
    result = CliRunner().invoke(cli, ["report", str(run), "--samples", "40", "--output", str(out),
                                      "--viewer-url", "http://127.0.0.1:8765"])
    assert result.exit_code == 0, result.output
    return Path(out).read_text()


def test_samples_render_math_and_code_without_script(html):
    samples = html.split('id="samples"')[1]
    assert "<math" in samples and "<mfrac>" in samples or "<msup>" in samples
    assert '<div class="highlight">' in samples and '<span class="k">def</span>' in samples
    assert "<script" not in html and ".highlight .k" in html  # Pygments' styles are inline


def test_samples_link_to_the_viewer_row(html):
    links = re.findall(r'href="(http://127\.0\.0\.1:8765/\?table=everything&amp;trace=[0-9a-f]+)"', html)
    assert links


def test_viewer_links_keep_the_token_of_the_printed_url():
    """A page opened from a file is another site to the viewer: its SameSite cookie does not go
    with the click, so the link carries the token of the URL `curate view` printed."""
    from curate.publish.report import viewer_link

    assert viewer_link("http://127.0.0.1:8765/?token=abc-_9", "t1") == \
        "http://127.0.0.1:8765/?token=abc-_9&table=everything&trace=t1"
    assert viewer_link("http://127.0.0.1:8765", "a b&c") == "http://127.0.0.1:8765/?table=everything&trace=a+b%26c"
