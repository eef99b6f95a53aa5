"""The dashboard: built and clicked without a browser, as ipywidgets allows."""

from __future__ import annotations

import pandas as pd
from sklearn.pipeline import Pipeline

from prodready import Dashboard, Status, System
from tests.test_assessment import Crashing, Passing


def test_click_runs_the_assessment_and_fills_every_panel(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    ref, cur = binary_data
    board = Dashboard(
        System(model=binary_model, reference=ref, current=cur, target="target", name="board test"),
        probes={"Q1": Passing, "Q2": Crashing},
    )
    assert "not assessed yet" in board.static_html()
    board.button.click()
    assert board.assessment is not None
    assert board.progress.value == 10 and board.progress.description == "10/10"
    assert board.assessment.finding("Q2").status is Status.ERROR
    assert board.details.get_title(0) == "Q1. Load at 10x — PASS"
    assert board.details.get_title(1) == "Q2. Graceful failure — ERROR"
    assert "NOT ASSESSED" in board.details.get_title(9)
    assert "pr-verdict pr-not-ready" in board.summary.value
    assert "prodready could not judge this question" in board.panels[1].value
    assert not board.button.disabled


def test_static_fallback_in_the_mime_bundle(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    ref, _ = binary_data
    board = Dashboard(System(model=binary_model, reference=ref, target="target"), probes={})
    board.run()
    bundle = board._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "Production readiness" in bundle["text/html"]
    assert bundle["text/html"].count('class="pr-report pr-question') == 10
