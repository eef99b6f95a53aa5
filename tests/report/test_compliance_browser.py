"""A feature or owner name holding ``<script>`` shows as text in the report and runs nothing.

The system is real (a model trained on a column whose name is a script), assessed on Q6 (the
compliance report: model card and regulatory mapping, which repeat the owner's name) alone
so that it stays quick; the report is rendered by the exporter ``prodready assess`` uses
and opened in the distribution's headless Chromium, driven by Playwright, as the JupyterLab
tests do. Skips when Playwright or Chromium is missing.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output
from sklearn.linear_model import LogisticRegression

import prodready
from prodready import views
from prodready.checklist import QUESTIONS
from prodready.report.exporter import render_html
from prodready.system import Metadata, System
from tests.conftest import make_frame
from tests.lab.conftest import chromium_executable

SCRIPT = "<script>window.__pwned = (window.__pwned || 0) + 1</script>"
IMG = '<img src=x onerror="window.__pwned = (window.__pwned || 0) + 1">'
FEATURE = f"income{SCRIPT}"
LINK = '<a href="javascript:window.__pwned=(window.__pwned||0)+1">read me</a>'
OWNER = f"Risk {SCRIPT} team {IMG} \"'</script>{SCRIPT} {LINK} javascript:alert(1) é 💣"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium_executable()
    if importlib.util.find_spec("playwright") is None or executable is None:
        pytest.skip("needs Playwright (pip install 'prodready[test-lab]') and Chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox"]
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frame = make_frame(300, 3).rename(columns={"income": FEATURE})
    features = [FEATURE, "debt_ratio", "age"]
    model = LogisticRegression(max_iter=500).fit(frame[features], frame["target"])
    folder = tmp_path_factory.mktemp("hostile")
    spec = folder / "spec.yaml"
    spec.write_text("version: 2\n", encoding="utf-8")
    system = System(
        model=model,
        reference=frame[[*features, "target"]],
        target="target",
        name=f"lending {SCRIPT}",
        metadata=Metadata(
            owner=OWNER,
            intended_use=f"use {IMG}",
            training_data=SCRIPT,
            out_of_scope_uses="none",
            limitations=f"synthetic {LINK} " + "long " * 4000,
        ),
        settings={"compliance": {"render_check": False}},
        source=str(spec),
    )
    assessment = prodready.assess(system, questions=["Q6"])
    html_parts = [
        views.summary_html(assessment),
        views.system_html(assessment),
        *(views.question_html(assessment, q.id) for q in QUESTIONS),
    ]
    cells = [
        new_code_cell(
            source="",
            outputs=[new_output("display_data", data={"text/html": part}, metadata={})],
        )
        for part in html_parts
        if part
    ]
    path = folder / "report.html"
    path.write_text(render_html(new_notebook(cells=cells)), encoding="utf-8")
    return path


def test_script_names_show_as_text_and_run_nothing(browser: Any, report: Path) -> None:
    page = browser.new_page()
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(report.as_uri())
    page.wait_for_load_state("load")
    assert page.evaluate("window.__pwned") is None
    assert dialogs == []
    assert requests == [report.as_uri()]  # the img payload fetched nothing either
    text = page.inner_text("body")
    assert FEATURE in text  # the feature name, in "The system assessed"
    assert OWNER in text  # the owner, in the system section and the model card
    # No element was made from the payloads: neither script nor img.
    assert (
        page.evaluate("[...document.scripts].filter(s => s.textContent.includes('__pwned')).length")
        == 0
    )
    assert page.evaluate("document.querySelectorAll('img[src=x]').length") == 0
    # The javascript: link is text too: no element of the page links anywhere but within it.
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
    assert hrefs and all(h.startswith("#") for h in hrefs), hrefs
    assert LINK in text
    page.close()


def test_mapping_links_to_the_report_sections(browser: Any, report: Path) -> None:
    page = browser.new_page()
    page.goto(report.as_uri())
    # The model card and the mapping are in the Q6 section, which has its anchor.
    assert page.locator("section#q6 caption", has_text="Model card").count() == 1
    links = page.eval_on_selector_all(
        "section#q6 a[href^='#']", "els => els.map(e => e.getAttribute('href'))"
    )
    # Only Q6 ran: Q3 (the metrics' evidence) has no section, so nothing links to it, and
    # every link leads to a section the report has.
    assert "#q6" in links and "#system" in links and "#q3" not in links
    assert all(page.locator(href).count() == 1 for href in set(links)), links
    page.click("section#q6 a[href='#system']")
    assert page.evaluate("location.hash") == "#system"
    page.close()


def test_owner_escaped_in_the_html_source(report: Path) -> None:
    source = report.read_text(encoding="utf-8")
    assert SCRIPT not in source and IMG not in source
    assert "&lt;script&gt;window.__pwned" in source
