"""The two served example systems, each assessed against its own `mlflow models serve`.

The prototype (the bare pipeline) and the production variant (the same pipeline behind
prodready.guard, with a decision log) differ only in what surrounds the model: the questions
that need traffic tell them apart, for the measured reason.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from prodready import Assessment, Status, assess, load_spec
from prodready.cli import main
from prodready.example import (
    DECISION_LOG,
    MANIFEST_NAME,
    PRODUCTION_SPEC,
    PROTOTYPE_SPEC,
    ensure_example,
)
from tests.conftest import require_mlflow

require_mlflow()

pytestmark = pytest.mark.e2e

#: The questions that send traffic to the served system.
SERVED = ["Q1", "Q2", "Q5"]


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("served-example")
    ensure_example(directory, n_rows=3000, served=True)
    return directory


@pytest.fixture(scope="module")
def verdicts(example: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Assessment]:
    """Both systems assessed on the questions that need traffic (one server each)."""
    out = {}
    for variant, spec in (("prototype", PROTOTYPE_SPEC), ("production", PRODUCTION_SPEC)):
        logs = tmp_path_factory.mktemp(f"{variant}-logs")
        out[variant] = assess(load_spec(example / spec), questions=SERVED, log_dir=logs)
        assert (logs / "server.log").is_file()  # the server's log is kept for the report
    return out


def statuses(assessment: Assessment) -> dict[str, Status]:
    return {f.question: f.status for f in assessment.findings}


def test_the_served_build_writes_both_systems_and_reuses_them(example: Path) -> None:
    manifest = json.loads((example / MANIFEST_NAME).read_text())
    assert manifest["served"] is True
    assert "prototype/MLmodel" in manifest["files"] and "production/MLmodel" in manifest["files"]
    before = (example / MANIFEST_NAME).stat().st_mtime_ns
    ensure_example(example, n_rows=3000, served=True)
    assert (example / MANIFEST_NAME).stat().st_mtime_ns == before  # reused, not rebuilt
    prototype = load_spec(example / PROTOTYPE_SPEC)
    production = load_spec(example / PRODUCTION_SPEC)
    assert prototype.endpoint is not None and production.endpoint is not None
    assert Path(str(prototype.endpoint.serve)).name == "prototype"
    assert prototype.decision_log is None
    assert production.decision_log == example / DECISION_LOG
    # The same model is assessed in both: only what surrounds it differs.
    assert prototype.model_artifact == production.model_artifact


def test_production_passes_what_the_prototype_fails(verdicts: dict[str, Assessment]) -> None:
    prototype, production = verdicts["prototype"], verdicts["production"]
    assert statuses(production) == {"Q1": Status.PASS, "Q2": Status.PASS, "Q5": Status.PASS}
    assert statuses(prototype)["Q2"] is Status.FAIL
    assert statuses(prototype)["Q5"] is Status.FAIL


def test_the_prototype_fails_for_the_measured_reasons(verdicts: dict[str, Assessment]) -> None:
    findings = {f.question: f for f in verdicts["prototype"].findings}
    q2 = findings["Q2"]
    assert q2.summary.startswith("Crashed on ")
    assert "answered" in q2.summary and "nonsense inputs as if valid" in q2.summary
    q5 = findings["Q5"]
    assert q5.summary.endswith("decisions are not traceable: no decision id and no decision log.")
    # The explainable half holds for both: the model is the same.
    assert {c.name: c.status for c in q5.checks}["local accuracy"] is Status.PASS


def test_production_traces_its_decisions_in_its_log(
    example: Path, verdicts: dict[str, Assessment]
) -> None:
    q5 = next(f for f in verdicts["production"].findings if f.question == "Q5")
    assert q5.measurements["decisions_with_id"] == q5.measurements["decisions_answered"] > 0
    assert q5.measurements["log_problems"] == 0
    assert (example / DECISION_LOG).is_file()


def test_compare_prints_the_verdicts_side_by_side(
    verdicts: dict[str, Assessment], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = []
    for variant, assessment in verdicts.items():
        path = tmp_path / f"{variant}.json"
        assessment.save(path)
        paths.append(str(path))
    assert main(["compare", *paths]) == 0
    lines = capsys.readouterr().out.splitlines()
    # What the names share is said once; the columns are headed by what tells them apart.
    assert lines[0] == "Credit risk: … (bundled example)"
    assert lines[1].split() == ["prototype", "production"]
    q2 = next(line for line in lines if line.lstrip().startswith("Q2"))
    assert q2.split()[-2:] == ["FAIL", "PASS"]
    assert lines[-1].startswith("verdict")


def _processes_serving(model_dir: Path) -> list[int]:
    """Pids of live processes whose command line names ``model_dir`` (the model server)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if str(model_dir) in cmdline and state != "Z":
            pids.append(int(entry.name))
    return pids


def test_a_load_probe_past_its_limit_leaves_no_server_or_generator_behind(example: Path) -> None:
    system = load_spec(example / PROTOTYPE_SPEC)
    assert system.endpoint is not None and system.endpoint.serve is not None
    served = Path(system.endpoint.serve)
    slow = replace(system, policy=replace(system.policy, probe_timeout_s=2.0))
    result = assess(slow, questions=["Q1"])
    q1 = result.finding("Q1")
    assert q1.status is Status.ERROR and "time limit of 2 s" in q1.summary
    assert _processes_serving(served) == []
    children = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split()
    alive = [pid for pid in children if "resource_tracker" not in _cmdline(pid)]
    assert alive == []


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
