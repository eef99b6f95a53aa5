"""Headless runs end to end: papermill executes the notebook, nbconvert renders the report.

Slow (a kernel per run): marked e2e, still run by make test.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

import prodready
from prodready import QUESTIONS, ReportError, run_assessment, views
from prodready._paths import templates_dir
from prodready.cli import main
from prodready.example import ensure_example
from prodready.probes import builtin_probes

pytestmark = pytest.mark.e2e

SCHEMA = json.loads(
    (Path(prodready.__file__).parent / "schema" / "results.schema.json").read_text()
)


@pytest.fixture(scope="module")
def example_spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_example(tmp_path_factory.mktemp("example"), n_rows=3000, served=False)


def test_assess_writes_notebook_results_and_offline_report(
    example_spec: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # a relative --out, as a user types it
    out = tmp_path / "reports"
    code = main(
        [
            "assess",
            str(example_spec),
            "--out",
            "reports",
            "--engine",
            "scipy",
            "--junit",
            str(tmp_path / "junit.xml"),
            "--run-id",
            "run1",
        ]
    )
    stdout, stderr = capsys.readouterr()
    assert code == 1, stderr  # assessed, not ready: the in-process system has no registry
    assert "Credit risk (bundled example): NOT READY" in stdout
    assert "partial assessment" not in stdout
    assert f"report: {out / 'run1' / 'report.html'}" in stdout
    run = out / "run1"
    assert sorted(p.name for p in out.iterdir()) == ["run1"]  # nothing partial left
    assert sorted(p.name for p in run.iterdir()) == [
        "assessment.ipynb",
        "monitor.json",
        "provenance.intoto.json",  # Q7's in-toto Statement
        "report.html",
        "results.json",
        "spec.yaml",  # the spec assessed, copied in (signed with the run when a key is given)
    ]
    assert run.stat().st_mode & 0o777 == 0o755
    # The detector the rehearsal tested, ready to run as it is.
    from prodready.online import ScipyOnlineDetector

    detector = ScipyOnlineDetector.from_config(json.loads((run / "monitor.json").read_text()))
    assert detector.threshold == 1.0

    results = json.loads((run / "results.json").read_text())
    jsonschema.validate(results, SCHEMA)
    scores = ", ".join(f"{s} {views.pct(v)}" for s, v in results["scores"].items())
    assert f"scores: {scores}\n" in stdout
    statuses = {f["question"]: f["status"] for f in results["findings"]}
    assert len(statuses) == 10 and results["questions"] == [q.id for q in QUESTIONS]
    assert statuses["Q3"] == "warn"
    # The in-process example is the bare model: no input checks, no decision log.
    assert statuses["Q2"] == "fail" and statuses["Q5"] == "fail"
    assert sorted(builtin_probes()) == sorted(statuses)  # a probe for every question
    # The in-process example has no registry, rollback, retrain hook or approvals: those
    # questions are honestly not assessed (naming the spec field); every other one is judged.
    assert {q for q, s in statuses.items() if s == "not_assessed"} == {"Q4", "Q8", "Q9"}
    assert not set(statuses.values()) & {"error", "skipped"}
    q3 = next(f for f in results["findings"] if f["question"] == "Q3")
    assert q3["measurements"]["drift_engine"] == "scipy"
    assert q3["measurements"]["features_drifted"] == [
        "annual_income",
        "revolving_utilization",
        "purpose",
    ]

    html = (run / "report.html").read_text()
    for i in range(1, 11):
        assert f'id="q{i}"' in html
    assert html.index("pr-summary") < html.index('id="q1"')  # the summary comes first
    assert "NOT READY" in html and "data:image/png;base64," in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<script src" not in html and "import prodready" not in html  # code hidden

    cases = ET.parse(tmp_path / "junit.xml").getroot().findall("testcase")
    assert len(cases) == 10


def test_a_failed_run_leaves_no_half_report(example_spec: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("spec.yaml", "reference.parquet", "current.parquet"):
        (bad / name).write_bytes((example_spec.parent / name).read_bytes())
    (bad / "model.skops").write_bytes(b"not a model")
    out = tmp_path / "reports"
    with pytest.raises(prodready.UsageError, match=r"model\.path"):
        run_assessment(bad / "spec.yaml", out)
    assert not out.exists()  # found before any kernel started, or any folder was made
    with pytest.raises(ReportError, match="timed out"):
        run_assessment(example_spec, out, cell_timeout_s=1)
    assert list(out.iterdir()) == []


def test_papermill_cli_runs_the_template_directly(example_spec: Path, tmp_path: Path) -> None:
    papermill = Path(sys.executable).with_name("papermill")
    result = subprocess.run(
        [
            str(papermill),
            str(templates_dir() / "assessment.ipynb"),
            str(tmp_path / "out.ipynb"),
            "-p",
            "spec",
            str(example_spec),
            "-p",
            "results_path",
            str(tmp_path / "r.json"),
            "-p",
            "drift_engine",
            "scipy",
            # Two quick questions: what is tested is the template run by papermill's CLI (the
            # whole checklist runs in the test above).
            "-p",
            "questions",
            "Q2,Q5",
            "-k",
            "python3",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    run = prodready.Assessment.load(tmp_path / "r.json")
    assert run.questions == ["Q2", "Q5"] and run.verdict == "not ready"


def test_partial_assessment_and_advisory_gate(
    example_spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A sibling spec (paths are relative to it) whose gate is advisory.
    advisory = example_spec.with_name("advisory.yaml")
    advisory.write_text(example_spec.read_text() + "policy:\n  gate: advisory\n")
    out = tmp_path / "reports"
    args = ["assess", str(advisory), "--out", str(out), "--engine", "scipy"]
    code = main([*args, "--questions", "monitoring", "--run-id", "partial"])
    stdout, stderr = capsys.readouterr()
    # Judged on Q3 alone, which warns (score 50% < 80%): not ready on that subset, said to be
    # partial; the advisory gate turns "not ready" into exit 0 and says so.
    assert code == 0, stderr
    assert "NOT READY (overall score 50%) -- partial assessment: 1 of 10 questions (Q3)" in stdout
    assert "scores: technical 50%\n" in stdout and "policy.gate is advisory" in stdout
    results = json.loads((out / "partial" / "results.json").read_text())
    jsonschema.validate(results, SCHEMA)
    assert results["questions"] == ["Q3"] and len(results["findings"]) == 1
    html = (out / "partial" / "report.html").read_text()
    assert "Partial assessment: 1 of 10 questions (Q3)" in html
    assert "<title>Production readiness: Credit risk (bundled example) (partial" in html
    assert 'id="q3"' in html and 'id="q5"' not in html
