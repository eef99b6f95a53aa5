"""Tutorial 1 in a real JupyterLab, in headless Chromium: the dashboard as a user meets it.

JupyterLab opens ``notebooks/01_assess_the_examples.ipynb`` (a copy with the small sizes
``make test`` uses, and without the served variants, which come after the dashboard), runs the
cells up to the dashboard's, then the dashboard's cell with Shift+Enter, clicks **Run
assessment**, waits for the verdict, opens a question, and checks what a user sees: the status
badges in the report's colours (computed styles, in the light and the dark theme), readable
tables, the figures loaded. Then the notebook is saved and exported with nbconvert: the export
shows the dashboard's final state. Screenshots go to the artifacts folder (see conftest.py).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.lab.conftest import NOTEBOOKS, Lab, small_copy

pytestmark = pytest.mark.e2e

TUTORIAL = NOTEBOOKS / "01_assess_the_examples.ipynb"
#: Seconds the whole assessment may take in the browser (the example at make test's size).
RUN_TIMEOUT_S = 300
VIEWPORT = {"width": 1400, "height": 2200}

# The report's status colours (templates/nbconvert/prodready/static/prodready.css).
BADGES = {
    "pr-pass": ("rgb(218, 251, 225)", "rgb(17, 99, 41)"),
    "pr-warn": ("rgb(255, 241, 194)", "rgb(125, 78, 0)"),
    "pr-fail": ("rgb(255, 235, 233)", "rgb(179, 20, 31)"),
    "pr-error": ("rgb(110, 11, 20)", "rgb(255, 255, 255)"),
    "pr-skipped": ("rgb(234, 238, 242)", "rgb(89, 99, 110)"),
    "pr-not_assessed": ("rgb(234, 238, 242)", "rgb(89, 99, 110)"),
}
VERDICTS = {
    "pr-ready": ("rgb(218, 251, 225)", "rgb(17, 99, 41)"),
    "pr-not-ready": ("rgb(255, 235, 233)", "rgb(179, 20, 31)"),
}

STYLES_JS = """(scope) => {
  const badges = Array.from(document.querySelectorAll(scope + ' .pr-summary .pr-badge'));
  const verdict = document.querySelector(scope + ' .pr-summary .pr-verdict');
  const th = document.querySelector(scope + ' .pr-summary table thead th');
  const td = document.querySelector(scope + ' .pr-summary table tbody td');
  const style = (e) => getComputedStyle(e);
  return {
    badges: badges.map((b) => ({
      cls: b.className, bg: style(b).backgroundColor, color: style(b).color,
      radius: style(b).borderTopLeftRadius,
    })),
    verdict: verdict && {cls: verdict.className, bg: style(verdict).backgroundColor,
                         color: style(verdict).color},
    text: style(document.querySelector(scope + ' .pr-summary')).color,
    thAlign: th && style(th).textAlign,
    tdLineHeight: td && parseFloat(style(td).lineHeight),
  };
}"""

# Handed from the run in JupyterLab to the export test.
_STATE: dict[str, Any] = {}


def _check_styles(found: dict[str, Any], *, where: str) -> None:
    assert len(found["badges"]) >= 10, f"{where}: the summary shows no status badges"
    for badge in found["badges"]:
        status = next(c for c in badge["cls"].split() if c in BADGES)
        assert (badge["bg"], badge["color"]) == BADGES[status], f"{where}: {badge}"
        assert float(badge["radius"].removesuffix("px")) >= 8, f"{where}: not a pill: {badge}"
    verdict = found["verdict"]
    kind = next(c for c in verdict["cls"].split() if c in VERDICTS)
    assert (verdict["bg"], verdict["color"]) == VERDICTS[kind], f"{where}: {verdict}"
    assert found["thAlign"] in ("left", "start"), f"{where}: centred table headers"
    assert found["tdLineHeight"] < 26, f"{where}: double line height in tables"


def _luminance(css: str) -> float:
    r, g, b = (int(v) for v in re.findall(r"\d+", css)[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


def _shot(page: Any, artifacts: Path, name: str, top: Any = None) -> None:
    """A screenshot of the page, scrolled so that ``top`` (a locator) starts at the top."""
    if top is not None:
        top.first.evaluate("(e) => e.scrollIntoView({block: 'start'})")
        page.wait_for_timeout(300)
    page.screenshot(path=str(artifacts / f"{name}.png"), animations="disabled")


def test_dashboard_in_jupyterlab(lab: Lab, lab_root: Path, browser: Any, artifacts: Path) -> None:
    notebook = small_copy(TUTORIAL, lab_root, served=False)
    timings: dict[str, float] = {}
    page = browser.new_page(viewport=VIEWPORT)
    # Only the JupyterLab server: nothing may reach the network.
    page.route(
        "**/*",
        lambda route: route.continue_() if route.request.url.startswith(lab.url) else route.abort(),
    )
    try:
        start = time.monotonic()
        page.goto(lab.tree(notebook.name))
        page.wait_for_function(
            """(name) => {
              const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
              const kernel = w && w.sessionContext && w.sessionContext.session
                && w.sessionContext.session.kernel;
              return !!(w && w.context && w.context.path.endsWith(name) && kernel
                && kernel.status === 'idle');
            }""",
            arg=notebook.name,
            timeout=120_000,
        )
        timings["open_notebook_s"] = time.monotonic() - start

        # The set-up cells, then the dashboard's cell as a user runs it: Shift+Enter.
        index = page.evaluate(
            """() => window.jupyterapp.shell.currentWidget.content.widgets.findIndex(
                 (c) => (c.model.getMetadata('tags') || []).includes('dashboard'))"""
        )
        assert index > 0, "the tutorial has no cell tagged 'dashboard'"
        start = time.monotonic()
        errors = page.evaluate(
            """async (index) => {
              const app = window.jupyterapp;
              const notebook = app.shell.currentWidget.content;
              notebook.activeCellIndex = index;
              await app.commands.execute('notebook:run-all-above');
              return notebook.widgets.slice(0, index).flatMap((c) =>
                c.model.type !== 'code' ? [] : c.model.outputs.toJSON()
                  .filter((o) => o.output_type === 'error')
                  .map((o) => o.ename + ': ' + o.evalue));
            }""",
            index,
        )
        assert not errors, f"the tutorial's set-up cells failed in JupyterLab: {errors}"
        timings["setup_cells_s"] = time.monotonic() - start
        cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
        cell.locator(".jp-InputPrompt").click()
        page.keyboard.press("Shift+Enter")
        dashboard = page.locator(".pr-dashboard")
        run = dashboard.get_by_role("button", name="Run assessment")
        run.wait_for(timeout=60_000)
        _shot(page, artifacts, "01-dashboard-before-run", top=dashboard)

        # Run, watch it progress, wait for the verdict.
        start = time.monotonic()
        run.click()
        dashboard.locator(".pr-live .pr-badge.pr-running").first.wait_for(timeout=60_000)
        _shot(page, artifacts, "02-dashboard-running", top=dashboard)
        verdict = dashboard.locator(
            ".pr-summary .pr-verdict.pr-ready, .pr-summary .pr-verdict.pr-not-ready"
        )
        verdict.wait_for(timeout=RUN_TIMEOUT_S * 1000)
        page.get_by_text(re.compile(r"^Done: (NOT )?READY")).wait_for(timeout=30_000)
        timings["assessment_in_browser_s"] = time.monotonic() - start
        assert "10/10" in dashboard.inner_text()
        page.wait_for_timeout(1500)  # the end of a run re-renders the display once
        _shot(page, artifacts, "03-dashboard-verdict", top=dashboard)
        _check_styles(page.evaluate(STYLES_JS, ".pr-dashboard"), where="JupyterLab light")

        # Open a question: its finding, with the report's tables and figures.
        header = dashboard.locator(".jupyter-widget-Collapse-header, .p-Collapse-header")
        header.filter(has_text="Q3. Monitoring and drift").first.click()
        section = dashboard.locator("section#q3")
        section.wait_for(state="visible", timeout=30_000)
        section.locator("img").first.wait_for(state="visible", timeout=30_000)
        images = section.evaluate(
            """(s) => Array.from(s.querySelectorAll('img')).map(
                 (i) => ({loaded: i.complete && i.naturalWidth > 0, width: i.naturalWidth}))"""
        )
        assert images and all(i["loaded"] for i in images), f"figures not drawn: {images}"
        assert section.locator(".pr-badge").first.is_visible()
        assert dashboard.get_by_role("button", name="Re-run Q3").is_visible()
        page.set_viewport_size({"width": VIEWPORT["width"], "height": 5200})
        _shot(page, artifacts, "04-question-opened", top=header.filter(has_text="Q3."))
        page.set_viewport_size(VIEWPORT)

        # Re-run one question after a "fix" (the team accepts moderate income shifts), keeping
        # the others; the dashboard compares the run with the previous one.
        start = time.monotonic()
        page.evaluate(
            """async () => {
              const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
              await kernel.requestExecute({code:
                'board.system = board.system.with_settings("monitoring", psi_major=0.5)'}).done;
            }"""
        )
        dashboard.get_by_role("button", name="Re-run Q3").click()
        comparison = dashboard.locator(".pr-comparison")
        comparison.wait_for(timeout=RUN_TIMEOUT_S * 1000)
        page.get_by_text(re.compile(r"^Done: (NOT )?READY")).wait_for(timeout=30_000)
        timings["rerun_one_question_s"] = time.monotonic() - start
        changed = comparison.locator("tr.pr-changed")
        assert changed.count() == 1 and "Q3" in changed.inner_text(), comparison.inner_text()
        assert "better" in changed.inner_text()
        assert "kept from run" in dashboard.locator(".pr-summary").inner_text()
        page.wait_for_timeout(1500)
        _shot(page, artifacts, "05-rerun-compared", top=comparison)

        # The dark theme: same badges and verdict, light text on the dark background.
        page.evaluate(
            """async () => {
              await window.jupyterapp.commands.execute(
                'apputils:change-theme', {theme: 'JupyterLab Dark'});
            }"""
        )
        page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
        page.wait_for_timeout(1500)
        _shot(page, artifacts, "06-dashboard-dark-theme", top=dashboard)
        dark = page.evaluate(STYLES_JS, ".pr-dashboard")
        _check_styles(dark, where="JupyterLab dark")
        assert _luminance(dark["text"]) > 0.6, f"dark text on the dark theme: {dark['text']}"
        page.evaluate(
            """async () => {
              await window.jupyterapp.commands.execute(
                'apputils:change-theme', {theme: 'JupyterLab Light'});
            }"""
        )
        page.wait_for_function("() => document.body.dataset.jpThemeLight === 'true'")

        # Save the notebook, as a user does after a run.
        page.evaluate(
            "async () => { await window.jupyterapp.commands.execute('docmanager:save'); }"
        )
        _STATE["saved"] = notebook
        _STATE["index"] = index

        # Reopened later, with the kernel gone: the last state, not a widget's text repr.
        page.evaluate(
            """async () => {
              await window.jupyterapp.shell.currentWidget.sessionContext.shutdown();
            }"""
        )
        page.reload()
        static = page.locator(".pr-static")
        static.locator(".pr-verdict").first.wait_for(state="visible", timeout=60_000)
        assert "VBox(" not in page.locator(".jp-Notebook").inner_text()
        _shot(page, artifacts, "07-reopened-without-kernel", top=static)
        _check_styles(page.evaluate(STYLES_JS, ".pr-static"), where="reopened notebook")
    except Exception:
        _shot(page, artifacts, "failure")
        raise
    finally:
        (artifacts / "timings.json").write_text(json.dumps(timings, indent=2))
        page.close()


def test_saved_notebook_exports_the_final_state(browser: Any, artifacts: Path) -> None:
    """nbconvert's HTML export of the notebook saved after the run shows the final dashboard."""
    from nbconvert import HTMLExporter

    if "saved" not in _STATE:
        pytest.skip("the JupyterLab run did not get as far as saving the notebook")
    nb = nbformat.read(_STATE["saved"], as_version=4)
    outputs = nb.cells[_STATE["index"]].outputs
    html_outputs = [o.data["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert any(
        "pr-verdict pr-not-ready" in h or "pr-verdict pr-ready" in h for h in html_outputs
    ), "the saved notebook does not hold the dashboard's final state"
    html = HTMLExporter(template_name="lab").from_notebook_node(nb)[0]
    assert "VBox(" not in html and "Dashboard of" not in html
    exported = artifacts / "01_assess_the_examples.export.html"
    exported.write_text(html, encoding="utf-8")

    page = browser.new_page(viewport=VIEWPORT)
    page.route(
        "**/*",
        lambda route: (
            route.continue_() if route.request.url.startswith("file:") else route.abort()
        ),  # offline: the export's CDN scripts cannot load
    )
    try:
        page.goto(exported.as_uri())
        static = page.locator(".pr-static").first
        static.wait_for(state="visible", timeout=30_000)
        assert static.locator(".pr-verdict").first.is_visible()
        assert static.locator("section#q3 img").count() >= 1
        _shot(page, artifacts, "08-exported-html", top=static)
        _check_styles(page.evaluate(STYLES_JS, ".pr-static"), where="nbconvert export")
    finally:
        page.close()
