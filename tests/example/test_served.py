"""The two served example systems, each assessed against its own `mlflow models serve`.

The prototype (the bare pipeline) and the production variant (the same pipeline behind
prodready.guard, with a decision log) differ only in what surrounds the model: the questions
that need traffic tell them apart, for the measured reason.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from prodready import QUESTIONS, Assessment, Status, assess, load_spec
from prodready.cli import main
from prodready.example import (
    DECISION_LOG,
    MANIFEST_NAME,
    PRODUCTION_SPEC,
    PROTOTYPE_SPEC,
    REGISTRY_DIR,
    ensure_example,
)
from tests.conftest import require_mlflow

require_mlflow()

pytestmark = pytest.mark.e2e

#: Both served systems are assessed on the whole checklist: the pair is the project's best
#: end-to-end test (DESIGN.md, "The two example systems").


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("served-example")
    ensure_example(directory, n_rows=3000, served=True)
    return directory


def _digests(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder``, by relative path."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def registry_files(example: Path) -> dict[str, dict[str, str]]:
    """The production registry's files before the assessment (and after, once it ran)."""
    return {"before": _digests(example / REGISTRY_DIR)}


@pytest.fixture(scope="module")
def verdicts(
    example: Path,
    registry_files: dict[str, dict[str, str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Assessment]:
    """Both systems assessed on the whole checklist (one server each)."""
    out = {}
    for variant, spec in (("prototype", PROTOTYPE_SPEC), ("production", PRODUCTION_SPEC)):
        logs = tmp_path_factory.mktemp(f"{variant}-logs")
        out[variant] = assess(load_spec(example / spec), log_dir=logs)
        assert (logs / "server.log").is_file()  # the server's log is kept for the report
    registry_files["after"] = _digests(example / REGISTRY_DIR)
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


def test_the_production_model_is_served_from_its_registry(example: Path) -> None:
    from prodready.adapters import open_registry
    from prodready.system import sha256_file

    production = load_spec(example / PRODUCTION_SPEC)
    assert production.endpoint is not None
    assert production.endpoint.serve == "models:/credit-risk@champion"
    assert production.registry is not None and production.registry.model_name == "credit-risk"
    registry = open_registry(production)
    assert registry.uri == f"sqlite:///{(example / 'registry' / 'mlflow.db').resolve()}"
    assert registry.alias("credit-risk", "champion") == "1"
    (version,) = registry.versions("credit-risk")
    # The digest is what the served guard reports: the sha256 of the model file.
    assert version.digest == sha256_file(example / "model.skops")
    assert registry.verify_digest("credit-risk", "1") == version.digest
    assert load_spec(example / PROTOTYPE_SPEC).registry is None


def test_production_passes_what_the_prototype_fails(verdicts: dict[str, Assessment]) -> None:
    prototype, production = verdicts["prototype"], verdicts["production"]
    # The current window has drifted (Q3 WARNs for both: the same model, the same data).
    assert statuses(production) == {q.id: Status.PASS for q in QUESTIONS} | {"Q3": Status.WARN}
    assert production.verdict == "ready"
    # What surrounds the model is what the prototype lacks; the model itself is portable.
    failed = {q for q, s in statuses(prototype).items() if s is Status.FAIL}
    assert failed == {"Q2", "Q4", "Q5", "Q6", "Q7", "Q8", "Q9"}
    assert prototype.verdict == "not ready"


def test_lifecycle_rehearsals_measure_and_leave_the_registry_as_it_was(
    verdicts: dict[str, Assessment], registry_files: dict[str, dict[str, str]]
) -> None:
    findings = {f.question: f for f in verdicts["production"].findings}
    q4, q9 = findings["Q4"], findings["Q9"]
    assert 0 < q4.measurements["restore_s"] <= 5  # the spec's rollback.max_restore_s
    assert q4.measurements["failed_requests"] == 0
    assert "registered as candidate version" in q9.summary
    assert "approved by 2 distinct people" in findings["Q8"].summary
    # Byte for byte: both rehearsals (Q4 deploys and rolls back, Q9 registers a candidate)
    # restored the registry, and serving it changed nothing either.
    assert registry_files["after"] == registry_files["before"]
    # The prototype declares none of these mechanisms: FAIL, saying so.
    prototype = {f.question: f for f in verdicts["prototype"].findings}
    assert "(rollback: none)" in prototype["Q4"].summary
    assert "(approval: none)" in prototype["Q8"].summary
    assert "(retraining: none)" in prototype["Q9"].summary


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
