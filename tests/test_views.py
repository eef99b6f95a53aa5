"""Views render every finding, escape what comes from users, and embed figures as data URIs."""

from __future__ import annotations

import re

from prodready import views
from prodready.checklist import QUESTIONS
from tests.test_results import sample


def test_summary_lists_all_ten_questions_with_status() -> None:
    html = views.summary_html(sample())
    for q in QUESTIONS:
        assert q.text in html
    assert 'class="pr-verdict pr-not-ready">NOT READY' in html
    assert html.count('class="pr-badge pr-not_assessed"') >= 9
    # 0.125 is "13%": rounded half up, not to the even "12%".
    assert "Technical readiness" in html and "13%" in html and "12%" not in html
    assert "partial assessment" not in html


def test_user_strings_are_escaped() -> None:
    a = sample()
    a.system["name"] = "<script>alert(1)</script>"
    a.finding("Q3").summary = '<img src=x onerror="alert(1)">'
    html = views.summary_html(a) + views.question_html(a, "Q3") + views.system_html(a)
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html


def test_question_html_has_checks_evidence_and_figures() -> None:
    html = views.question_html(sample(), "Q3")
    assert 'id="q3"' in html and "pr-badge pr-warn" in html
    assert "Not assessed yet" in html and "rehearsal" in html
    assert "What to do:" in html
    assert re.search(r'<img alt="c" src="data:image/png;base64,[A-Za-z0-9+/=]{200,}"', html)
    assert "<caption>t</caption>" in html


def test_no_network_references() -> None:
    a = sample()
    html = (
        views.summary_html(a)
        + views.system_html(a)
        + "".join(views.question_html(a, q.id) for q in QUESTIONS)
    )
    assert not re.search(r'(src|href)="https?:', html)


def test_pct_rounds_half_up() -> None:
    assert [views.pct(v) for v in (0.125, 0.375, 0.5, 0.0, 1.0, 0.8049)] == [
        "13%",
        "38%",
        "50%",
        "0%",
        "100%",
        "80%",
    ]


def test_partial_assessment_says_so_and_leaves_out_the_rest() -> None:
    a = sample()
    a.findings = [a.finding("Q3")]
    a.questions = ["Q3"]
    a.scores = {"technical": 0.5}
    html = views.summary_html(a)
    assert "Partial assessment: 1 of 10 questions (Q3)" in html
    assert html.count("not in this run") == 2  # governance and operational have no score
    assert views.question_html(a, "Q5") == ""
    assert 'id="q3"' in views.question_html(a, "Q3")
