"""The prodready nbconvert exporter: code hidden, stderr dropped, self-contained, CSP, printable."""

from __future__ import annotations

import base64
import io
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from prodready.report.exporter import (
    DEFAULT_TITLE,
    ProdreadyHTMLExporter,
    content_security_policy,
    render_html,
)

SOURCE_MARKER = "SOURCE_CODE_MUST_NOT_APPEAR_7f3a"
STDERR_MARKER = "STDERR_WARNING_MUST_NOT_APPEAR_91c2"
REMOVED_CELL_MARKER = "REMOVED_CELL_MUST_NOT_APPEAR_5d0e"
REMOVED_INPUT_MARKER = "REMOVED_INPUT_MUST_NOT_APPEAR_c4b8"
KEPT_OUTPUT_MARKER = "KEPT_OUTPUT_OF_REMOVE_INPUT_CELL"
WIDGET_MARKER = "WIDGET_REPR_MUST_NOT_APPEAR_e61a"
TITLE = "Churn model v3 <audit> & review"

REPORT_HTML = """
<div class="pr-report">
  <div class="pr-summary">
    <div class="pr-verdict pr-not-ready">NOT READY</div>
    <table class="pr-scores pr-table">
      <thead><tr><th>Section</th><th class="pr-num">Score</th><th>Status</th></tr></thead>
      <tbody>
        <tr><td>Data</td><td class="pr-num">0.92</td>
            <td><span class="pr-badge pr-pass">pass</span></td></tr>
        <tr><td>Drift</td><td class="pr-num">0.40</td>
            <td><span class="pr-badge pr-fail">fail</span></td></tr>
      </tbody>
    </table>
  </div>
  <section class="pr-question">
    <h2>Q1. Is the model robust? <span class="pr-badge pr-warn">warn</span></h2>
    <p class="pr-question-text">Does accuracy hold under perturbation?</p>
    <p class="pr-meta">probe: robustness.noise, 1.2 s</p>
    <div class="pr-remediation">Retrain with augmentation.</div>
    <ul class="pr-not-assessed-parts"><li>adversarial inputs</li></ul>
    <pre class="pr-error-trace">Traceback: none</pre>
    <table class="pr-kv"><tr><th>owner</th><td>risk team</td></tr></table>
  </section>
</div>
"""

INJECTED_HTML = (
    "<div>user said: <script>alert(1)</script><img src=x onerror=alert(1)>"
    '<meta http-equiv="refresh" content="0;url=http://attacker.invalid/">'
    '<link rel="preconnect" href="http://attacker.invalid/"></div>'
)

DATAFRAME_HTML = (
    '<table border="1" class="dataframe"><thead><tr style="text-align: right;">'
    "<th></th><th>auc</th></tr></thead><tbody><tr><th>0</th><td>0.910</td></tr></tbody></table>"
)


def _tiny_png() -> str:
    """A real PNG drawn by matplotlib's Agg canvas (no pyplot global state), base64-encoded."""
    figure = Figure(figsize=(1.0, 0.75), dpi=40)
    FigureCanvasAgg(figure)
    figure.add_subplot().plot([0, 1, 2], [0, 1, 0.5])
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


PNG_B64 = _tiny_png()


def _notebook(*, title: str | None = TITLE) -> nbformat.NotebookNode:
    nb = new_notebook()
    if title is not None:
        nb.metadata["prodready"] = {"title": title}
    nb.cells = [
        new_markdown_cell("# Assessment\n\nSome *markdown* text."),
        new_code_cell(
            f"{SOURCE_MARKER} = 1\ndisplay(HTML(report))",
            execution_count=1,
            outputs=[
                new_output("display_data", data={"text/html": REPORT_HTML, "text/plain": "<HTML>"})
            ],
        ),
        new_code_cell(
            f"plot()  # {SOURCE_MARKER}",
            execution_count=2,
            outputs=[
                new_output("display_data", data={"image/png": PNG_B64, "text/plain": "<Figure>"})
            ],
        ),
        new_code_cell(
            "import warnings",
            execution_count=3,
            outputs=[
                new_output("stream", name="stderr", text=f"UserWarning: {STDERR_MARKER}\n"),
                new_output("stream", name="stdout", text="stdout is kept\n"),
            ],
        ),
        new_code_cell(
            "display(HTML(user_input))",
            execution_count=4,
            outputs=[new_output("display_data", data={"text/html": INJECTED_HTML})],
        ),
        new_code_cell(
            "df",
            execution_count=5,
            outputs=[
                new_output(
                    "execute_result",
                    data={"text/html": DATAFRAME_HTML, "text/plain": "   auc\n0  0.91"},
                    execution_count=5,
                )
            ],
        ),
        new_code_cell(
            f"print('{REMOVED_CELL_MARKER}')",
            execution_count=6,
            metadata={"tags": ["remove-cell"]},
            outputs=[new_output("stream", name="stdout", text=f"{REMOVED_CELL_MARKER}\n")],
        ),
        new_markdown_cell(REMOVED_CELL_MARKER, metadata={"tags": ["remove-cell"]}),
        new_code_cell(
            f"print('{KEPT_OUTPUT_MARKER}')  # {REMOVED_INPUT_MARKER}",
            execution_count=7,
            metadata={"tags": ["remove-input"]},
            outputs=[new_output("stream", name="stdout", text=f"{KEPT_OUTPUT_MARKER}\n")],
        ),
        new_code_cell(
            "widget",
            execution_count=8,
            outputs=[
                new_output(
                    "display_data",
                    data={
                        "application/vnd.jupyter.widget-view+json": {
                            "model_id": "abc",
                            "version_major": 2,
                            "version_minor": 0,
                        },
                        "text/plain": f"HBox({WIDGET_MARKER})",
                    },
                )
            ],
        ),
    ]
    nb.metadata["widgets"] = {
        "application/vnd.jupyter.widget-state+json": {
            "state": {"abc": {"model_name": "HBoxModel", "state": {"note": WIDGET_MARKER}}},
            "version_major": 2,
            "version_minor": 0,
        }
    }
    return nb


@pytest.fixture(scope="module")
def html() -> str:
    return render_html(_notebook())


@pytest.fixture(scope="module")
def soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def _csp(soup: BeautifulSoup) -> str:
    meta = soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})
    assert meta is not None, "no Content-Security-Policy meta"
    return str(meta["content"])


def _nonce(csp: str) -> str:
    match = re.search(r"script-src 'nonce-([A-Za-z0-9_\-+/=]+)'", csp)
    assert match, csp
    return match.group(1)


def test_no_input_code_and_no_prompts(html: str) -> None:
    assert SOURCE_MARKER not in html
    assert "display(HTML" not in html
    assert "In&nbsp;[" not in html
    assert "In\xa0[" not in html
    assert "Out[" not in html


def test_stderr_dropped_stdout_kept(html: str) -> None:
    assert STDERR_MARKER not in html
    assert "UserWarning" not in html
    assert "stdout is kept" in html


def test_tags_remove_cells_and_inputs(html: str) -> None:
    assert REMOVED_CELL_MARKER not in html
    assert REMOVED_INPUT_MARKER not in html
    assert KEPT_OUTPUT_MARKER in html


def test_png_embedded_as_data_uri(soup: BeautifulSoup) -> None:
    sources = [str(img.get("src", "")) for img in soup.find_all("img")]
    assert f"data:image/png;base64,{PNG_B64}" in sources


def test_notebook_html_and_tables_are_kept(html: str, soup: BeautifulSoup) -> None:
    for css_class in ("pr-report", "pr-summary", "pr-verdict", "pr-question", "pr-badge"):
        assert soup.find(class_=css_class) is not None, css_class
    assert soup.find("table", class_="dataframe") is not None
    assert "0.910" in html


def test_self_contained_no_external_resources(html: str, soup: BeautifulSoup) -> None:
    lowered = html.lower()
    for needle in ('src="http', "src='http", 'href="http', "href='http", "url(http", "//cdn"):
        assert needle not in lowered, needle
    assert "unpkg" not in lowered
    assert "@import" not in lowered
    assert "@font-face" not in lowered
    assert not re.search(r"""url\(\s*['"]?\s*(https?:)?//""", lowered)
    assert not re.search(r"<script[^>]*\ssrc\s*=", lowered)
    assert soup.find("link") is None
    for tag in soup.find_all(src=True):
        assert str(tag["src"]).startswith("data:") or "://" not in str(tag["src"]), tag
    # The lab template's loaders are gone.
    for name in ("require.js", "mathjax", "mermaid", "widget-state", "html-manager"):
        assert name not in lowered, name


def test_widget_outputs_and_state_removed(html: str) -> None:
    assert WIDGET_MARKER not in html
    assert "application/vnd.jupyter.widget" not in html


def test_csp_meta_first_in_head(soup: BeautifulSoup) -> None:
    head = soup.find("head")
    assert head is not None
    elements = head.find_all(True)
    assert elements[0].name == "meta"
    assert elements[0].get("charset") == "utf-8"
    assert elements[1].get("http-equiv") == "Content-Security-Policy"


def test_csp_policy(soup: BeautifulSoup) -> None:
    csp = _csp(soup)
    nonce = _nonce(csp)
    assert len(nonce) >= 16
    assert csp == content_security_policy(nonce)
    directives = {part.strip().split()[0]: part.strip() for part in csp.split(";")}
    assert directives["default-src"] == "default-src 'none'"
    assert directives["img-src"] == "img-src data:"
    assert directives["style-src"] == "style-src 'unsafe-inline'"
    assert directives["script-src"] == f"script-src 'nonce-{nonce}'"
    assert directives["base-uri"] == "base-uri 'none'"
    assert directives["form-action"] == "form-action 'none'"
    assert "unsafe-eval" not in csp
    assert "'unsafe-inline'" not in directives["script-src"]


def test_injected_payloads_are_inert(soup: BeautifulSoup) -> None:
    nonce = _nonce(_csp(soup))
    # Not sanitized (bleach would mangle tables), but without the nonce the CSP blocks them.
    for script in soup.find_all("script"):
        assert script.get("nonce") in (None, nonce)
        if "alert(1)" in script.get_text():
            assert script.get("nonce") is None
    # Elements a CSP meta does not govern are removed from the body.
    body = soup.find("body")
    assert body is not None
    assert body.find("meta") is None
    assert body.find("link") is None
    assert "attacker.invalid" not in str(soup)


def test_nonce_differs_between_renders() -> None:
    nb = _notebook()
    first = _nonce(_csp(BeautifulSoup(render_html(nb), "html.parser")))
    second = _nonce(_csp(BeautifulSoup(render_html(nb), "html.parser")))
    assert first != second


def test_print_css_present(html: str) -> None:
    assert "@media print" in html
    assert "break-before: page" in html
    assert "break-inside: avoid" in html
    for css_class in (
        ".pr-verdict",
        ".pr-badge.pr-not_assessed",
        "table.pr-table",
        "td.pr-num",
        ".pr-error-trace",
        ".pr-kv",
        ".pr-figure",
        ".pr-remediation",
        ".pr-not-assessed-parts",
        ".pr-meta",
        ".pr-question-text",
    ):
        assert css_class in html, css_class


def test_title_from_metadata_escaped(soup: BeautifulSoup, html: str) -> None:
    assert soup.title is not None
    assert soup.title.get_text() == TITLE
    assert "<title>Churn model v3 &lt;audit&gt; &amp; review</title>" in html


def test_default_title() -> None:
    soup = BeautifulSoup(render_html(_notebook(title=None)), "html.parser")
    assert soup.title is not None
    assert soup.title.get_text() == DEFAULT_TITLE


def test_render_does_not_modify_notebook() -> None:
    nb = _notebook()
    before = nbformat.writes(nb)
    render_html(nb)
    assert nbformat.writes(nb) == before


def test_template_found_whatever_the_configured_dirs(tmp_path: Path) -> None:
    exporter = ProdreadyHTMLExporter(extra_template_basedirs=[str(tmp_path)])
    html, resources = exporter.from_notebook_node(_notebook())
    assert "Content-Security-Policy" in html
    assert resources["prodready"]["title"] == TITLE


@pytest.mark.e2e
def test_jupyter_nbconvert_to_prodready(tmp_path: Path) -> None:
    source = tmp_path / "assessment.ipynb"
    nbformat.write(_notebook(), source)
    # A folder named like the template in the working directory must not shadow it.
    (tmp_path / "prodready").mkdir()
    jupyter = Path(sys.executable).parent / "jupyter"
    completed = subprocess.run(
        [str(jupyter), "nbconvert", "--to", "prodready", source.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    html = (tmp_path / "assessment.html").read_text(encoding="utf-8")
    assert "Content-Security-Policy" in html
    assert SOURCE_MARKER not in html
    assert STDERR_MARKER not in html
    assert f"data:image/png;base64,{PNG_B64}" in html
    assert "<title>Churn model v3 &lt;audit&gt; &amp; review</title>" in html
    assert not re.search(r"<script[^>]*\ssrc\s*=", html)
