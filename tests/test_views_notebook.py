"""What a notebook shows: rich reprs, views that carry their own scoped styles, comparisons.

In JupyterLab the report's stylesheet is not on the page, so every view displayed there
(the dashboard, an object's ``_repr_html_``) brings a copy of its styles, scoped to ``.pr-nb``;
and a ``repr`` is one short line, never a dump of data frames.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from prodready import Finding, RunResult, Status, System, views
from prodready.views import QuestionProgress
from tests.test_results import sample

HOSTILE = "<script>alert(1)</script>\x1b[2J"


def _rules(html: str) -> list[str]:
    css = re.search(r"<style[^>]*>(.*?)</style>", html, re.S)
    assert css is not None
    text = re.sub(r"@keyframes [\w-]+\{(?:[^{}]*\{[^}]*\})*\}", "", css.group(1))
    return [rule.split("{")[0] for rule in text.split("}") if "{" in rule]


def test_the_styles_are_scoped_to_prodready_views() -> None:
    html = views.styled("<p>x</p>")
    assert html.startswith('<div class="pr-nb"><style') and html.endswith("<p>x</p></div>")
    rules = _rules(html)
    assert len(rules) > 40
    for rule in rules:
        for selector in rule.split(","):
            assert selector.strip().startswith(".pr-nb"), f"unscoped: {selector!r}"
    css = views.stylesheet()
    assert "var(--jp-content-font-color1" in css and "var(--jp-border-color2" in css
    assert not re.search(r"url\(|@import|https?:", css)  # nothing fetched


def test_the_status_colours_are_the_reports() -> None:
    css = views.stylesheet()
    report = (
        Path(__file__).resolve().parents[1] / "templates/nbconvert/prodready/static/prodready.css"
    ).read_text()
    for name in ("pass", "warn", "fail", "error", "grey"):
        for suffix in ("", "-bg"):
            value = re.search(rf"--pr-{name}{suffix}: (#[0-9a-f]+);", report)
            assert value is not None
            colour = value.group(1)
            colour = "#ffffff" if colour == "#fff" else colour
            assert f"--pr-{name}{suffix}:{colour}" in css


def test_assessment_repr_is_one_line_and_html_is_the_summary() -> None:
    a = sample()
    assert (
        repr(a) == "<Assessment r1 of 's': NOT READY (0%); all questions: 9 NOT ASSESSED, 1 WARN>"
    )
    a.questions = ["Q3", "Q5"]
    assert "Q3, Q5 only" in repr(a)
    html = a._repr_html_()
    assert html.startswith('<div class="pr-nb"><style')
    assert 'class="pr-verdict pr-not-ready">NOT READY' in html
    assert "Each question in detail: assessment.finding(&#x27;Q3&#x27;)" in html


def test_finding_repr_is_short_and_html_is_its_card() -> None:
    f = sample().finding("Q3")
    assert repr(f) == "<Finding Q3 WARN: 2 features drifted>"
    f.summary = "word " * 100 + "\nsecond line"
    assert len(repr(f)) < 120 and "\n" not in repr(f) and repr(f).endswith("…>")
    html = f._repr_html_()
    assert '<div class="pr-card"><section class="pr-report pr-question' in html
    assert "pr-badge pr-warn" in html and "data:image/png;base64," in html
    f.summary = HOSTILE
    assert "<script>" not in f._repr_html_() and "\x1b" not in f._repr_html_()


def test_system_repr_never_dumps_its_data(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    ref, cur = binary_data
    system = System(model=binary_model, reference=ref, current=cur, target="target", name="s")
    text = repr(system)
    assert text == (
        "<System 's': binary Pipeline[ColumnTransformer -> HistGradientBoostingClassifier], "
        "5 features (1 categorical), target 'target'; rows: reference 3,000, current 3,000>"
    )
    assert str(system) == text and "\n" not in text
    html = system._repr_html_()
    assert "<h2>System: s</h2>" in html and "reference 3000 rows; current 3000 rows" in html
    assert "5 (1 categorical): income, debt_ratio, age, balance, region" in html
    assert str(round(ref["income"].iloc[0], 2)) not in html


def test_system_card_escapes_what_it_is_given(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    ref, _ = binary_data
    system = System(model=binary_model, reference=ref, target="target", name=HOSTILE)
    html = system._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html and "\\x1b" in html
    assert "none (data.current enables drift and performance monitoring)" in html
    assert "\x1b" not in repr(system)


def test_run_result_links_its_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = tmp_path / "reports" / "r1"
    run.mkdir(parents=True)
    for name in ("report.html", "results.json", "assessment.ipynb", ".hidden"):
        (run / name).write_text("x" * 10)
    result = RunResult(directory=run, assessment=sample())
    assert repr(result) == (
        f"<RunResult r1: NOT READY (overall 0%), full assessment, in {str(run)!r}>"
    )
    monkeypatch.chdir(tmp_path)
    html = result._repr_html_()
    assert '<a href="reports/r1/report.html" target="_blank"' in html
    assert "results.json</a>" in html and ".hidden" not in html and "10 bytes" in html
    assert 'class="pr-verdict pr-not-ready"' in html
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    html = result._repr_html_()
    assert "report.html</a>" not in html and "<li>report.html " in html


def test_comparison_highlights_what_changed() -> None:
    before, after = sample(), sample()
    after.run_id = "r2"
    after.finding("Q3").status = Status.PASS
    after.finding("Q5").status = Status.FAIL
    after.finding("Q1").status = Status.WARN
    after.findings = [f for f in after.findings if f.question != "Q10"]
    after.overall = 0.25
    html = views.comparison_html([before, after], ["before <b>", "after"])
    assert html.count('<tr class="pr-changed">') == 4  # Q1, Q3, Q5 and Q10 (left out)
    assert html.count("▲ better") == 2 and html.count("▼ worse") == 0
    assert html.count('<span class="pr-change pr-other">changed</span>') == 1  # Q5 -> FAIL
    assert "not in this run" in html
    assert "before &lt;b&gt;" in html
    assert '<span class="pr-change pr-better">+25 points</span>' in html
    assert "4 questions differ between these runs (highlighted)" in html
    after.questions = ["Q1", "Q3"]
    assert '(25%) <span class="pr-meta">on Q1, Q3 only</span>' in views.comparison_html([after])
    same = views.comparison_html([before, before])
    assert "pr-changed" not in same and "Every question has the same status" in same
    assert ">r1</th>" in same  # the run ids, without labels


def test_progress_board_shows_each_question_state() -> None:
    rows = [
        QuestionProgress("Q1", "done", Status.PASS, seconds=1.25),
        QuestionProgress("Q2", "running", step="replaying <decisions>", fraction=0.4),
        QuestionProgress("Q3", "running", step="calibrating", fraction=None),
        QuestionProgress("Q4", "waiting", previous=Status.FAIL),
        QuestionProgress("Q5", "kept", Status.WARN),
    ]
    html = views.progress_html(HOSTILE, rows)
    assert "Assessing… 1 of 4 questions done" in html
    assert '<span class="pr-bar"><span style="width:40%"></span></span> 40%' in html
    assert "replaying &lt;decisions&gt;" in html
    assert '<span class="pr-bar pr-indeterminate">' in html
    assert "1.2 s" in html and "(was FAIL)" in html and "kept from the previous run" in html
    assert html.count("pr-badge pr-waiting") == 1 and "<script>" not in html


def test_no_view_of_a_notebook_reaches_the_network(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    ref, _ = binary_data
    a = sample()
    html = (
        a._repr_html_()
        + a.finding("Q3")._repr_html_()
        + views.comparison_html([a, a])
        + System(model=binary_model, reference=ref, target="target")._repr_html_()
    )
    assert not re.search(r'(src|href)="https?:', html)


def test_importing_the_alibi_engine_says_nothing() -> None:
    """alibi-detect's transformers note about PyTorch/TensorFlow is not shown to the user."""
    pytest.importorskip("alibi_detect")  # the alibi extra; test_drift requires it in make test
    code = (
        "import os; from prodready.drift import _import_tabular_drift; _import_tabular_drift(); "
        "print(os.environ.get('TRANSFORMERS_NO_ADVISORY_WARNINGS'))"
    )
    env = {k: v for k, v in os.environ.items() if k != "TRANSFORMERS_NO_ADVISORY_WARNINGS"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert done.stderr == "", done.stderr
    assert done.stdout.strip() == "None"  # the switch is restored after the import


def test_a_finding_with_odd_values_still_has_a_repr() -> None:
    f = Finding(question="Q3", status=Status.ERROR, summary="")
    assert repr(f) == "<Finding Q3 ERROR: >"
    f.status = "weird"  # type: ignore[assignment]
    assert repr(f) == "<Finding Q3 weird: >"
