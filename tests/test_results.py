"""results.json: versioned, valid against its JSON Schema, and loads back unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

import prodready
from prodready import Assessment, Chart, Check, Finding, Status, Table
from prodready.checklist import QUESTIONS

SCHEMA = json.loads(
    (Path(prodready.__file__).parent / "schema" / "results.schema.json").read_text()
)


def sample() -> Assessment:
    findings = [
        Finding(question=q.id, status=Status.NOT_ASSESSED, summary="not built") for q in QUESTIONS
    ]
    findings[2] = Finding(
        question="Q3",
        status=Status.WARN,
        summary="2 features drifted",
        probe="m:C",
        checks=[Check("feature drift", Status.WARN, 2, "none", "2 drifted")],
        measurements={"p": float("nan"), "nested": {"inf": float("inf")}},
        thresholds={"alpha": 0.05},
        evidence=[
            Table("t", ["a", "b"], [[1, "x"], [2.5, None]], note="n"),
            Chart("c", "hist", [0.0, 1.0, 2.0], {"ref": [0.1, 0.9]}, "x", "y"),
        ],
        remediation="look",
        not_assessed=["rehearsal"],
        duration_s=1.5,
    )
    return Assessment(
        run_id="r1",
        created="2026-11-25T10:00:00+00:00",
        system={
            "name": "s",
            "task": "binary",
            "model_type": "M",
            "features": ["a"],
            "categorical": [],
            "model": None,
            "data": {},
        },
        findings=findings,
        scores={"technical": 0.125, "governance": 0.0, "operational": 0.0},
        overall=0.0,
        verdict="not ready",
        policy={},
        environment={},
    )


def test_round_trip(tmp_path: Path) -> None:
    original = sample()
    path = original.save(tmp_path / "results.json")
    loaded = Assessment.load(path)
    assert loaded.finding("Q3").evidence == original.finding("Q3").evidence
    assert loaded.finding("Q3").checks == original.finding("Q3").checks
    assert loaded.finding("Q3").status is Status.WARN
    # NaN and infinity are not JSON: they are written as null.
    assert loaded.finding("Q3").measurements == {"p": None, "nested": {"inf": None}}
    assert loaded.to_json() == Assessment.from_dict(json.loads(path.read_text())).to_json()
    assert not list(tmp_path.glob("*.tmp"))


def test_valid_against_schema() -> None:
    doc = json.loads(sample().to_json())
    jsonschema.validate(doc, SCHEMA)
    assert next(iter(doc)) == "schema_version"


def test_schema_rejects_a_bad_status() -> None:
    doc = json.loads(sample().to_json())
    doc["findings"][0]["status"] = "passed"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, SCHEMA)


def test_unknown_major_version_is_refused() -> None:
    doc = json.loads(sample().to_json())
    doc["schema_version"] = "2.0"
    with pytest.raises(prodready.DataError, match="not supported"):
        Assessment.from_dict(doc)


def test_unreadable_results(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(prodready.DataError, match="cannot read results"):
        Assessment.load(tmp_path / "results.json")


def test_save_does_not_follow_a_planted_temporary_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "results.json.tmp").symlink_to(victim)
    sample().save(tmp_path / "results.json")
    assert victim.read_text() == "precious"
    assert Assessment.load(tmp_path / "results.json").run_id == "r1"


def test_save_round_trips_text_that_is_not_valid_unicode(tmp_path: Path) -> None:
    a = sample()
    a.system["name"] = "caf\udce9 \x1b[2J"  # a name decoded from another encoding, an escape
    a.save(tmp_path / "results.json")
    assert Assessment.load(tmp_path / "results.json").system["name"] == "caf\udce9 \x1b[2J"


def test_save_to_a_folder_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(prodready.UsageError, match="is a folder, expected a file path"):
        sample().save(tmp_path)


def test_missing_results_file_is_one_plain_line(tmp_path: Path) -> None:
    with pytest.raises(prodready.DataError) as info:
        Assessment.load(tmp_path / "nope.json")
    assert (
        str(info.value)
        == f"{tmp_path / 'nope.json'}: cannot read results: No such file or directory"
    )
