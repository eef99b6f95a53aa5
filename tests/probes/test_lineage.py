"""Q7 lineage and provenance: the links are verified, and each broken one FAILs by name."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sklearn.pipeline import Pipeline

from prodready import ProbeContext, Status, System, load_spec
from prodready.adapters import InProcessClient
from prodready.guard import Guard, InputSchema
from prodready.probes import LineageProbe, builtin_probes
from prodready.probes.lineage import PROVENANCE_FORMAT, write_provenance
from prodready.probes.lineage._record import code_version
from prodready.results import Finding
from prodready.system import Endpoint, sha256_file
from tests.conftest import CATEGORICAL, NUMERIC, make_frame

CTX = ProbeContext(seed=0)
TRUSTED = "[sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor]"


def spec(lineage: str = "lineage:\n  training_data: train.csv\n", reference: str = "") -> str:
    return (
        "version: 2\nname: lineage test\n"
        f"model:\n  path: model.skops\n  trusted: {TRUSTED}\n"
        f"data:\n  reference: {reference or 'reference.parquet'}\n  target: target\n"
        "policy:\n  seed: 7\n" + lineage
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, binary_model: Pipeline) -> Path:
    """A trained system's folder: train.csv, reference.parquet, model.skops and its provenance.

    ``binary_model`` was fitted on make_frame(3000, 11): that is its training data.
    """
    import skops.io as sio

    folder = tmp_path_factory.mktemp("trained")
    make_frame(3000, 11).to_csv(folder / "train.csv", index=False)
    make_frame(1000, 1).to_parquet(folder / "reference.parquet", index=False)
    sio.dump(binary_model, folder / "model.skops")
    write_provenance(
        folder / "model.skops", [folder / "train.csv"], trainer="tests:fit", parameters={"n": 3000}
    )
    (folder / "spec.yaml").write_text(spec())
    return folder


def copy_of(trained: Path, tmp_path: Path, spec_text: str | None = None) -> Path:
    """A fresh copy of the trained folder (a test may break it), with ``spec_text``."""
    for item in trained.iterdir():
        (tmp_path / item.name).write_bytes(item.read_bytes())
    if spec_text is not None:
        (tmp_path / "spec.yaml").write_text(spec_text)
    return tmp_path / "spec.yaml"


def run(system: System) -> Finding:
    return LineageProbe().run(system, CTX)


def statuses(finding: Finding) -> dict[str, Status]:
    return {c.name: c.status for c in finding.checks}


def message(finding: Finding, name: str) -> str:
    return next(c.message for c in finding.checks if c.name == name)


def test_registered_as_q7() -> None:
    assert builtin_probes()["Q7"] is LineageProbe


def test_documented_lineage_passes_with_every_link_verified(trained: Path) -> None:
    finding = run(load_spec(trained / "spec.yaml"))
    assert finding.status is Status.PASS, finding.summary
    assert statuses(finding) == {
        "provenance recorded": Status.PASS,
        "provenance names this model": Status.PASS,
        "training data": Status.PASS,
        "served model": Status.PASS,
        "reference data held out": Status.PASS,
    }
    model_digest = sha256_file(trained / "model.skops")
    assert finding.summary.startswith(
        f"Lineage verified: model.skops (sha256 {model_digest[:12]}…) was trained on train.csv "
        "(3,000 rows) as its provenance records"
    )
    m = finding.measurements
    assert m["model"]["sha256"] == model_digest
    assert m["data"]["reference"]["sha256"] == sha256_file(trained / "reference.parquet")
    assert m["data"]["training:train.csv"]["sha256"] == sha256_file(trained / "train.csv")
    assert m["assessment"]["seed"] == 7
    assert m["reference_overlap"] == 0.0
    assert m["packages_installed"] > 10

    st = m["provenance_statement"]
    assert st["_type"] == "https://in-toto.io/Statement/v1"
    assert st["predicateType"] == "https://slsa.dev/provenance/v1"
    assert st["subject"] == [
        {
            "name": "model.skops",
            "digest": {"sha256": model_digest},
            "annotations": {"format": "skops", "location": str(trained / "model.skops")},
        }
    ]
    build = st["predicate"]["buildDefinition"]
    assert build["resolvedDependencies"][0]["digest"] == {
        "sha256": sha256_file(trained / "train.csv")
    }
    assert build["resolvedDependencies"][0]["annotations"]["rows"] == 3000
    assert build["externalParameters"]["training_parameters"] == {"n": 3000}
    assert st["predicate"]["runDetails"]["builder"]["id"] == "tests:fit"
    extra = st["predicate"]["runDetails"]["byproducts"][0]["annotations"]
    assert extra["links"]["training data"] == "pass"
    names = {d["name"] for d in extra["materials"]}
    assert {"python", "pandas", "scikit-learn"} <= names
    json.dumps(st, allow_nan=False)  # a JSON document as it is


def test_one_byte_of_the_training_data_changed_after_training_fails(
    trained: Path, tmp_path: Path
) -> None:
    path = copy_of(trained, tmp_path)
    data = bytearray((tmp_path / "train.csv").read_bytes())
    at = data.index(b"\n") + 3  # a digit of the first row's income
    data[at] = ord("7") if data[at] != ord("7") else ord("3")
    (tmp_path / "train.csv").write_bytes(bytes(data))
    finding = run(load_spec(path))
    assert finding.status is Status.FAIL
    assert statuses(finding)["training data"] is Status.FAIL
    recorded = sha256_file(trained / "train.csv")
    now = sha256_file(tmp_path / "train.csv")
    expected = (
        f"training data: model.skops.provenance.json records sha256 {recorded[:12]}… for "
        f"train.csv, the file given (train.csv) has {now[:12]}…."
    )
    assert message(finding, "training data") == expected
    assert finding.summary == "Lineage is not verified: " + expected
    assert "not the data the model was trained on" in finding.remediation


def test_training_data_given_elsewhere_and_missing_fails(trained: Path, tmp_path: Path) -> None:
    path = copy_of(trained, tmp_path, spec("lineage:\n  training_data: [data/train.csv]\n"))
    finding = run(load_spec(path))
    assert finding.status is Status.FAIL
    assert message(finding, "training data") == "training data: train.csv does not exist."
    # Not given at all, and not where the provenance says: the link is missing.
    path = copy_of(trained, tmp_path, spec(""))
    (tmp_path / "train.csv").unlink()
    finding = run(load_spec(path))
    assert message(finding, "training data").startswith(
        "training data: model.skops.provenance.json records train.csv (sha256 "
    )
    assert message(finding, "training data").endswith(
        "which is neither given in lineage.training_data nor found at train.csv."
    )


def test_no_provenance_at_all_fails_naming_what_to_add(trained: Path, tmp_path: Path) -> None:
    path = copy_of(trained, tmp_path)
    (tmp_path / "model.skops.provenance.json").unlink()
    finding = run(load_spec(path))
    assert finding.status is Status.FAIL
    assert message(finding, "provenance recorded") == (
        "provenance: none recorded for model.skops (looked for model.skops.provenance.json "
        "beside it)."
    )
    assert "write_provenance" in finding.remediation
    assert "docs/provenance.md" in finding.remediation
    # The record of what was assessed is still there, as a statement without materials.
    st = finding.measurements["provenance_statement"]
    assert st["subject"][0]["digest"]["sha256"] == sha256_file(tmp_path / "model.skops")
    assert st["predicate"]["buildDefinition"]["resolvedDependencies"] == []


def test_provenance_of_another_model_fails(trained: Path, tmp_path: Path) -> None:
    path = copy_of(trained, tmp_path)
    record = json.loads((tmp_path / "model.skops.provenance.json").read_text())
    assert record["format"] == PROVENANCE_FORMAT
    record["artifact"]["sha256"] = "ab" * 32
    (tmp_path / "model.skops.provenance.json").write_text(json.dumps(record))
    finding = run(load_spec(path))
    assert statuses(finding)["provenance names this model"] is Status.FAIL
    assert "records sha256 abababababab…, the assessed artifact model.skops has" in message(
        finding, "provenance names this model"
    )


def test_damaged_provenance_fails(trained: Path, tmp_path: Path) -> None:
    path = copy_of(trained, tmp_path)
    (tmp_path / "model.skops.provenance.json").write_text('{"format": "prodready.provenance/1"}')
    finding = run(load_spec(path))
    assert finding.status is Status.FAIL
    assert message(finding, "provenance recorded") == (
        "provenance: model.skops.provenance.json records no sha256 of the model artifact; "
        "model.skops.provenance.json records no training data."
    )


def test_reference_that_is_the_training_data_fails_unless_declared(
    trained: Path, tmp_path: Path
) -> None:
    path = copy_of(trained, tmp_path, spec(reference="train.csv"))
    finding = run(load_spec(path))
    assert statuses(finding)["reference data held out"] is Status.FAIL
    assert message(finding, "reference data held out") == (
        "reference data: train.csv is the training data file itself; drift and performance "
        "measured against it are in-sample."
    )
    declared = "lineage:\n  training_data: train.csv\n  reference_is_training: true\n"
    path.write_text(spec(declared, reference="train.csv"))
    finding = run(load_spec(path))
    assert finding.status is Status.PASS, finding.summary
    # The same rows in another file are caught by their content.
    make_frame(3000, 11).head(1000).to_parquet(tmp_path / "copied.parquet", index=False)
    path.write_text(spec(reference="copied.parquet"))
    finding = run(load_spec(path))
    assert message(finding, "reference data held out") == (
        "reference data: copied.parquet repeats the training data (100.0% of its rows are "
        "training rows); drift and performance measured against it are in-sample."
    )


def test_model_given_in_python_is_not_assessed(binary_model: Pipeline) -> None:
    system = System(model=binary_model, reference=make_frame(300, 1), target="target")
    finding = run(system)
    assert finding.status is Status.NOT_ASSESSED
    assert finding.measurements == {"missing_spec_field": "model.path"}


def test_lineage_declared_absent_fails(trained: Path, tmp_path: Path) -> None:
    path = copy_of(trained, tmp_path, spec("lineage: none\n"))
    finding = run(load_spec(path))
    assert finding.status is Status.FAIL
    assert "lineage: none" in finding.summary
    assert "write_provenance" in finding.remediation


def served(system: System, model: Any, monkeypatch: pytest.MonkeyPatch, log: Path | None) -> System:
    """``system`` behind an endpoint whose client is ``model`` in-process (a guard or not)."""
    client = InProcessClient(model, system.feature_columns, is_classifier=True)
    monkeypatch.setattr("prodready.adapters.connect", lambda _system: client)
    return replace(system, endpoint=Endpoint(url="http://127.0.0.1:9"), decision_log=log)


@pytest.mark.parametrize("logged", ["right", "wrong", "bare"])
def test_served_model_is_the_assessed_artifact(
    trained: Path,
    tmp_path: Path,
    binary_model: Pipeline,
    monkeypatch: pytest.MonkeyPatch,
    logged: str,
) -> None:
    system = load_spec(trained / "spec.yaml")
    digest = sha256_file(trained / "model.skops")
    log = tmp_path / "decisions.jsonl"
    schema = InputSchema.learn(system.reference, NUMERIC + CATEGORICAL, CATEGORICAL)
    guard = Guard(
        binary_model,
        schema,
        decision_log=log,
        model_sha256=digest if logged == "right" else "cd" * 32,
    )
    model = binary_model if logged == "bare" else guard
    finding = run(served(system, model, monkeypatch, None if logged == "bare" else log))
    text = message(finding, "served model")
    if logged == "right":
        assert finding.status is Status.PASS, finding.summary
        assert text == (
            "served model: the guarded model in-process (Guard.decide) serves model.skops "
            f"(sha256 {digest[:12]}…, named in its decision log)."
        )
        assert finding.measurements["served_model_digests"] == [digest]
    elif logged == "wrong":
        assert text == (
            "served model: the model digest in its decision log is cdcdcdcdcdcd…, the assessed "
            f"artifact model.skops has {digest[:12]}…: the system serves another model."
        )
    else:
        assert text == (
            "served model: the model in-process (Pipeline.predict_proba) names no model digest "
            f"in its answers, so nothing shows it serves model.skops (sha256 {digest[:12]}…)."
        )
    assert (finding.status is Status.PASS) == (logged == "right")


def test_code_version_of_a_git_repository(tmp_path: Path) -> None:
    import shutil
    import subprocess

    assert code_version(tmp_path).note.startswith("the spec's folder is not in a git repository")
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
    env |= {"GIT_COMMITTER_EMAIL": "t@t", "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-C", str(tmp_path), *args], check=True, env=env, capture_output=True
        )

    git("init", "-q")
    (tmp_path / "a.txt").write_text("a")
    git("add", "a.txt")
    git("commit", "-q", "-m", "a")
    clean = code_version(tmp_path)
    assert clean.commit is not None and len(clean.commit) == 40 and clean.dirty is False
    (tmp_path / "a.txt").write_text("b")
    assert code_version(tmp_path).dirty is True
    assert (
        code_version(tmp_path).describe()
        == f"git commit {clean.commit[:12]} (with uncommitted changes)"
    )
    git("commit", "-q", "-am", "b")
    git("checkout", "-q", "--detach", "HEAD~1")
    assert (
        code_version(tmp_path).describe()
        == f"git commit {clean.commit[:12]} (clean, detached HEAD)"
    )


def test_settings_are_checked(trained: Path, tmp_path: Path) -> None:
    from prodready import SpecError

    path = copy_of(trained, tmp_path, spec("lineage:\n  max_reference_overlap: 2\n"))
    with pytest.raises(SpecError, match=r"lineage\.max_reference_overlap"):
        LineageProbe().preflight(load_spec(path))


def test_the_run_folder_gets_the_statement(trained: Path, tmp_path: Path) -> None:
    from types import SimpleNamespace

    from prodready.report.run import _attachments

    finding = run(load_spec(trained / "spec.yaml"))
    state = SimpleNamespace(assessment=SimpleNamespace(findings=[finding]), work=tmp_path)
    _attachments(state)  # type: ignore[arg-type]
    written = json.loads((tmp_path / "provenance.intoto.json").read_text(encoding="utf-8"))
    assert written == finding.measurements["provenance_statement"]


@pytest.mark.parametrize("position", [0.3, 0.6, 0.95])
def test_any_byte_of_a_parquet_training_file_changed_fails(
    trained: Path, tmp_path: Path, position: float
) -> None:
    path = copy_of(trained, tmp_path, spec("lineage:\n  training_data: train.parquet\n"))
    make_frame(3000, 11).to_parquet(tmp_path / "train.parquet", index=False)
    write_provenance(tmp_path / "model.skops", [tmp_path / "train.parquet"])
    data = bytearray((tmp_path / "train.parquet").read_bytes())
    data[int(len(data) * position)] ^= 0x01
    (tmp_path / "train.parquet").write_bytes(bytes(data))
    finding = run(load_spec(path))
    assert finding.status is Status.FAIL
    assert statuses(finding)["training data"] is Status.FAIL
    assert finding.summary.startswith("Lineage is not verified: training data: ")


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda r: DEEP, "cannot be read: RecursionError: maximum recursion depth exceeded"),
        (
            lambda r: json.dumps({**r, "trainer": "x" * (5 << 20)}),
            "model.skops.provenance.json is 5,243,",
        ),
        (
            lambda r: json.dumps({**r, "parameters": json.loads('{"a":' * 40 + "1" + "}" * 40)}),
            "model.skops.provenance.json: parameters are nested more than 32 levels deep",
        ),
    ],
    ids=["nested-100k-deep", "5-MiB", "parameters-40-deep"],
)
def test_hostile_provenance_is_a_broken_link_not_a_crash(
    trained: Path, tmp_path: Path, edit: Any, problem: str
) -> None:
    path = copy_of(trained, tmp_path)
    record = json.loads((tmp_path / "model.skops.provenance.json").read_text())
    (tmp_path / "model.skops.provenance.json").write_text(edit(record))
    finding = run(load_spec(path))
    assert finding.status is Status.FAIL
    assert statuses(finding)["provenance recorded"] is Status.FAIL
    assert problem in message(finding, "provenance recorded")
    json.dumps(finding.measurements, allow_nan=False)  # the record stays a JSON document


def test_provenance_values_json_cannot_hold_and_upper_case_digests(
    trained: Path, tmp_path: Path
) -> None:
    path = copy_of(trained, tmp_path)
    record = json.loads((tmp_path / "model.skops.provenance.json").read_text())
    record["artifact"]["sha256"] = record["artifact"]["sha256"].upper()  # as some tools print
    record["parameters"] = {"alpha": float("nan"), "grid": [float("inf"), 1]}
    record["trainer"] = "<script>alert(1)</script>" + "x" * 1000
    (tmp_path / "model.skops.provenance.json").write_text(json.dumps(record))
    finding = run(load_spec(path))
    assert finding.status is Status.PASS, finding.summary
    st = finding.measurements["provenance_statement"]
    assert st["predicate"]["buildDefinition"]["externalParameters"]["training_parameters"] == {
        "alpha": None,
        "grid": [None, 1],
    }
    assert len(st["predicate"]["runDetails"]["builder"]["id"]) <= 300
    json.dumps(st, allow_nan=False)


def test_an_unreadable_provenance_is_named_once(trained: Path, tmp_path: Path) -> None:
    path = copy_of(trained, tmp_path)
    (tmp_path / "model.skops.provenance.json").write_text("{not json")
    finding = run(load_spec(path))
    assert finding.status is Status.FAIL
    assert "training data" not in statuses(finding)  # not "train.csv is not recorded" too
    assert finding.summary == (
        "Lineage is not verified: provenance: model.skops.provenance.json cannot be read: "
        "JSONDecodeError: Expecting property name enclosed in double quotes: line 1 column 2 "
        "(char 1)."
    )


def test_a_parquet_folder_as_training_data(trained: Path, tmp_path: Path) -> None:
    path = copy_of(trained, tmp_path, spec("lineage:\n  training_data: parts\n"))
    (tmp_path / "parts").mkdir()
    frame = make_frame(3000, 11)
    frame.iloc[:1500].to_parquet(tmp_path / "parts" / "part-0.parquet", index=False)
    frame.iloc[1500:].to_parquet(tmp_path / "parts" / "part-1.parquet", index=False)
    write_provenance(tmp_path / "model.skops", [tmp_path / "parts"])
    recorded = json.loads((tmp_path / "model.skops.provenance.json").read_text())
    assert recorded["training_data"][0]["path"] == "parts"
    assert recorded["training_data"][0]["rows"] == 3000
    finding = run(load_spec(path))
    assert finding.status is Status.PASS, finding.summary
    assert "was trained on parts (3,000 rows)" in finding.summary
    # The folder itself as the reference window.
    path.write_text(spec("lineage:\n  training_data: parts\n", reference="parts"))
    finding = run(load_spec(path))
    assert message(finding, "reference data held out") == (
        "reference data: parts is the training data folder itself; drift and performance "
        "measured against it are in-sample."
    )
    # One byte of one file changed.
    path.write_text(spec("lineage:\n  training_data: parts\n"))
    data = bytearray((tmp_path / "parts" / "part-1.parquet").read_bytes())
    data[len(data) // 3] ^= 0x01
    (tmp_path / "parts" / "part-1.parquet").write_bytes(bytes(data))
    finding = run(load_spec(path))
    assert statuses(finding)["training data"] is Status.FAIL
    assert message(finding, "training data").startswith(
        "training data: model.skops.provenance.json records sha256 "
    )


def test_reference_rows_compared_by_content(trained: Path, tmp_path: Path) -> None:
    """A copy written with 6 significant digits is still a copy; the PASS names a declaration."""
    path = copy_of(trained, tmp_path, spec(reference="copy.csv"))
    make_frame(3000, 11).sample(700, random_state=0).to_csv(
        tmp_path / "copy.csv", index=False, float_format="%.6g"
    )
    finding = run(load_spec(path))
    assert message(finding, "reference data held out") == (
        "reference data: copy.csv repeats the training data (100.0% of its rows are training "
        "rows); drift and performance measured against it are in-sample."
    )
    declared = "lineage:\n  training_data: train.csv\n  reference_is_training: true\n"
    path.write_text(spec(declared, reference="copy.csv"))
    finding = run(load_spec(path))
    assert finding.status is Status.PASS
    assert "the reference data is the training data, as the spec declares." in finding.summary
    assert "held out" not in finding.summary


def test_rows_that_cannot_identify_themselves_warn(tmp_path: Path) -> None:
    """Features with few values: held-out rows repeat training rows by nature. Not a FAIL."""
    import numpy as np
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    def coarse(n: int, seed: int) -> Any:
        rng = np.random.default_rng(seed)
        frame = make_frame(n, seed)
        for column in NUMERIC:
            frame[column] = rng.integers(0, 2, n).astype(float)
        return frame

    train = coarse(2000, 1)
    train.to_csv(tmp_path / "train.csv", index=False)
    coarse(500, 2).to_parquet(tmp_path / "reference.parquet", index=False)
    model = LogisticRegression().fit(train[NUMERIC], train["target"])
    sio.dump(model, tmp_path / "model.skops")
    write_provenance(tmp_path / "model.skops", [tmp_path / "train.csv"])
    (tmp_path / "spec.yaml").write_text(
        "version: 2\nmodel:\n  path: model.skops\ndata:\n  reference: reference.parquet\n"
        f"  target: target\n  features: {NUMERIC}\nlineage:\n  training_data: train.csv\n"
    )
    finding = run(load_spec(tmp_path / "spec.yaml"))
    assert finding.status is Status.WARN, finding.summary
    assert statuses(finding)["reference data held out"] is Status.WARN
    assert message(finding, "reference data held out").startswith(
        "reference data: whether reference.parquet is held out cannot be told from its rows"
    )
    assert finding.summary.startswith("Lineage partly verified: reference data: whether")
    assert finding.measurements["training_self_overlap"] > 0.9


def test_a_pass_says_what_it_did_not_verify(trained: Path, tmp_path: Path) -> None:
    path = copy_of(trained, tmp_path)
    finding = run(load_spec(path))
    assert finding.status is Status.PASS
    assert "(no training code commit recorded)" in finding.summary
    assert finding.summary.endswith(
        "Code version of the spec: the spec's folder is not in a git repository: the code "
        "version is unknown."
    )


def test_training_data_sharing_no_column_cannot_show_the_reference_held_out(
    trained: Path, tmp_path: Path
) -> None:
    path = copy_of(trained, tmp_path, spec("lineage:\n  training_data: renamed.csv\n"))
    renamed = make_frame(3000, 11).add_prefix("x_")
    renamed.to_csv(tmp_path / "renamed.csv", index=False)
    write_provenance(tmp_path / "model.skops", [tmp_path / "renamed.csv"])
    finding = run(load_spec(path))
    assert finding.status is Status.WARN  # never a PASS that compared nothing
    assert message(finding, "reference data held out") == (
        "reference data: reference.parquet has no column in common with the training data, "
        "so whether it is held out cannot be told."
    )


def test_a_registered_model_served_behind_a_guard_is_recognised(
    trained: Path, tmp_path: Path, binary_model: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``models:/credit/1``: the guard names its model file's sha256, one of the fetched files'."""
    from prodready.probes.lineage._probe import _judge_served, _Links
    from prodready.probes.lineage._settings import LineageSettings
    from prodready.system import Artifact

    system = load_spec(trained / "spec.yaml")
    digest = sha256_file(trained / "model.skops")
    log = tmp_path / "decisions.jsonl"
    schema = InputSchema.learn(system.reference, NUMERIC + CATEGORICAL, CATEGORICAL)
    guard = Guard(binary_model, schema, decision_log=log, model_sha256=digest)
    system = served(system, guard, monkeypatch, log)
    registered = Artifact("models:/credit/1", "f" * 64, "mlflow")  # the fetched tree's digest
    links = _Links()
    _judge_served(system, registered, LineageSettings(), links, frozenset({digest}))
    assert links.checks[0].status is Status.PASS, links.checks[0].message
    assert links.checks[0].message.startswith(
        "served model: the guarded model in-process (Guard.decide) serves models:/credit/1 "
    )
    links = _Links()
    _judge_served(system, registered, LineageSettings(), links)  # nothing fetched: another model
    assert links.checks[0].status is Status.FAIL
