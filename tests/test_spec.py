"""The spec file: a valid one loads; each kind of mistake gives a precise SpecError/DataError."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from prodready import DataError, MissingDependencyError, ModelLoadError, SpecError, load_spec
from prodready.system import Policy, System


def edit(spec_dir: Path, old: str, new: str) -> Path:
    path = spec_dir / "spec.yaml"
    text = path.read_text()
    assert old in text, f"test setup: {old!r} not in the spec"
    path.write_text(text.replace(old, new))
    return path


TREE_PREDICTOR = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"


def test_valid_spec_loads_model_data_and_metadata(spec_dir: Path) -> None:
    system = load_spec(spec_dir / "spec.yaml")
    assert system.name == "test lending model"
    assert system.task == "binary"
    assert system.target == "target"
    assert system.feature_columns == ["income", "debt_ratio", "age", "balance", "region"]
    assert system.categorical_columns == ["region"]
    assert len(system.reference) == 3000 and system.current is not None
    assert system.settings == {"explainability": {"sample": 200}, "monitoring": {"alpha": 0.05}}
    assert system.policy.probe_timeout_s == 300
    assert system.metadata.owner == "Test team"
    assert system.model_artifact is not None and len(system.model_artifact.sha256) == 64
    assert system.model_artifact.format == "skops"
    assert {a.format for a in system.data_artifacts.values()} == {"parquet", "csv"}


def test_missing_spec_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path / "nope.yaml")
    assert str(info.value) == (
        f"{tmp_path / 'nope.yaml'}: the spec file does not exist "
        "(expected a YAML spec file (see the README))"
    )


def test_malformed_yaml_names_the_line(spec_dir: Path) -> None:
    path = edit(spec_dir, "data:\n", "data: [\n")
    with pytest.raises(SpecError, match=r"line \d+, column \d+: malformed YAML") as info:
        load_spec(path)
    assert info.value.source == str(path)


@pytest.mark.parametrize(
    ("old", "new", "field", "problem"),
    [
        ("name: test", "nmae: test", "nmae", "unknown key"),
        ("  path: model.skops", "  path: missing.skops", "model.path", "does not exist"),
        ("  path: model.skops", "  path: model.skops\n  uri: models:/x/1", "model", "exactly one"),
        (
            "  reference: reference.parquet",
            "  reference: gone.parquet",
            "data.reference",
            "does not exist",
        ),
        ("  target: target", "  target: outcome", "data.target", "not in the reference"),
        (
            "  target: target",
            "  target: target\n  features: [income, salary]",
            "data.features",
            "'salary'",
        ),
        ("task: binary", "task: ranking", "task", "'ranking'"),
        ("task: binary", "task: regression", "task", "model is a classifier"),
        ("  probe_timeout_s: 300", "  probe_timeout_s: soon", "policy.probe_timeout_s", "soon"),
        ("  probe_timeout_s: 300", "  probe_timeout_s: -1", "policy.probe_timeout_s", "is -1"),
        ("  probe_timeout_s: 300", "  gate: loose", "policy.gate", "'loose'"),
        ("  probe_timeout_s: 300", "  drift_alpha: 0.05", "policy.drift_alpha", "unknown key"),
        ("version: 2", "version: 7", "version", "is 7"),
        ("monitoring:", "lineage: [a]\nmonitoring:", "lineage", "is a list"),
        ("monitoring:", "monitor:\n  alpha: 1\nmonitoring:", "monitor", "unknown key"),
        (
            "  target: target",
            "  target: target\n  id: application",
            "data.id",
            "'application' is not in the reference data",
        ),
        ("task: binary", "task: multiclass", "task", "model has 2 classes"),
        ("metadata:", "hooks:\n  retrain: not a hook\nmetadata:", "hooks.retrain", "'not a hook'"),
        ("metadata:", "endpoint:\n  url: ftp://x\nmetadata:", "endpoint.url", "ftp://x"),
        ("  current: current.csv", "  current: current.txt", "data.current", "does not exist"),
    ],
)
def test_mistakes_name_the_field(
    spec_dir: Path, old: str, new: str, field: str, problem: str
) -> None:
    path = edit(spec_dir, old, new)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert info.value.field == field
    assert problem in info.value.problem
    assert str(info.value).startswith(str(path))


def test_unknown_file_type(spec_dir: Path) -> None:
    (spec_dir / "current.txt").write_text("a,b\n1,2\n")
    path = edit(spec_dir, "  current: current.csv", "  current: current.txt")
    with pytest.raises(SpecError, match="unknown file type") as info:
        load_spec(path)
    assert info.value.expected.startswith("a .csv")


def test_non_binary_target_for_binary_task(spec_dir: Path) -> None:
    ref = pd.read_parquet(spec_dir / "reference.parquet")
    ref.loc[:10, "target"] = 2
    ref.to_parquet(spec_dir / "reference.parquet")
    with pytest.raises(SpecError, match="3 distinct values") as info:
        load_spec(spec_dir / "spec.yaml")
    assert info.value.field == "data.target"
    assert "exactly 2" in info.value.expected


def test_binary_task_for_a_multiclass_model(
    multiclass_model: Any, multiclass_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    ref, _ = multiclass_data
    with pytest.raises(SpecError, match="model has 3 classes") as info:
        System(model=multiclass_model, reference=ref, target="target", task="binary")
    assert info.value.field == "task"


def test_empty_data_file(spec_dir: Path) -> None:
    (spec_dir / "current.csv").write_text(
        (spec_dir / "current.csv").read_text().splitlines()[0] + "\n"
    )
    with pytest.raises(DataError, match=r"data.current: .*has no rows"):
        load_spec(spec_dir / "spec.yaml")


def test_unreadable_parquet(spec_dir: Path) -> None:
    (spec_dir / "reference.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataError) as info:
        load_spec(spec_dir / "spec.yaml")
    message = str(info.value)
    assert message.startswith(
        f"{spec_dir / 'spec.yaml'}: data.reference: {str(spec_dir / 'reference.parquet')!r} is "
        "not a Parquet file (the file may be corrupt or of another format): ArrowInvalid: "
    )
    assert "\n" not in message


def test_corrupt_model_file(spec_dir: Path) -> None:
    (spec_dir / "model.skops").write_bytes(b"garbage")
    with pytest.raises(ModelLoadError) as info:
        load_spec(spec_dir / "spec.yaml")
    assert str(info.value) == (
        f"{spec_dir / 'spec.yaml'}: model.path: {str(spec_dir / 'model.skops')!r} is not a skops "
        "file (the file may be corrupt or of another format): BadZipFile: File is not a zip file"
    )


def test_skops_refuses_untrusted_types_until_listed(spec_dir: Path) -> None:
    path = edit(
        spec_dir,
        "  trusted: [sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor]\n",
        "",
    )
    with pytest.raises(ModelLoadError, match=r"TreePredictor.*model\.trusted"):
        load_spec(path)


def test_joblib_model_and_relative_paths(spec_dir: Path) -> None:
    import joblib
    import skops.io as sio

    model = sio.load(
        spec_dir / "model.skops", trusted=sio.get_untrusted_types(file=spec_dir / "model.skops")
    )
    sub = spec_dir / "models"
    sub.mkdir()
    joblib.dump(model, sub / "model.joblib")
    path = edit(spec_dir, "  path: model.skops", "  path: models/model.joblib")
    system = load_spec(path)
    assert system.model_artifact is not None and system.model_artifact.format == "joblib"


def test_mlflow_uri_without_mlflow_gives_install_hint(spec_dir: Path) -> None:
    if importlib.util.find_spec("mlflow") is not None:
        pytest.skip("mlflow is installed; the hint is for environments without it")
    path = edit(spec_dir, "  path: model.skops", "  uri: models:/credit/1")
    with pytest.raises(MissingDependencyError, match=r"pip install 'prodready\[mlflow\]'"):
        load_spec(path)


def test_policy_defaults_are_valid() -> None:
    policy = Policy()
    assert policy.gate == "blocking" and 0 < policy.min_score <= 1


def test_version_1_spec_gets_one_line_with_the_version_2_layout(spec_dir: Path) -> None:
    path = edit(spec_dir, "version: 2", "version: 1")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert info.value.field == "version" and "\n" not in message
    assert "monitoring: {engine, alpha, max_performance_drop}" in message
    assert "were policy.drift_engine, drift_alpha" in message


@pytest.mark.parametrize(
    ("section", "old", "new", "field", "problem"),
    [
        ("monitoring", "  alpha: 0.05", "  alpha: high", "monitoring.alpha", "'high'"),
        ("monitoring", "  alpha: 0.05", "  alpha: 2", "monitoring.alpha", "is 2.0"),
        ("monitoring", "  alpha: 0.05", "  engine: spark", "monitoring.engine", "'spark'"),
        ("monitoring", "  alpha: 0.05", "  drift_alpha: 0.1", "monitoring.drift_alpha", "unknown"),
        ("explainability", "  sample: 200", "  sample: 2.5", "explainability.sample", "2.5"),
        ("explainability", "  sample: 200", "  sample: 0", "explainability.sample", "is 0"),
        (
            "explainability",
            "  sample: 200",
            "  positive_class: maybe",
            "explainability.positive_class",
            "not a class of the model",
        ),
    ],
)
def test_probe_settings_are_checked_by_their_probe_before_running(
    spec_dir: Path, section: str, old: str, new: str, field: str, problem: str
) -> None:
    from prodready.assessment import preflight

    path = edit(spec_dir, f"{section}:\n{old}", f"{section}:\n{new}")
    system = load_spec(path)  # the System keeps each probe's section as given
    with pytest.raises(SpecError) as info:
        preflight(system)
    assert info.value.field == field
    assert problem in info.value.problem
    assert str(info.value).startswith(str(path))


def test_mlflow_model_directory_loads(spec_dir: Path, binary_model: Any) -> None:
    if importlib.util.find_spec("mlflow") is None:
        if os.environ.get("PRODREADY_REQUIRE_MLFLOW") == "1":
            pytest.fail("mlflow must be installed here (PRODREADY_REQUIRE_MLFLOW=1)")
        pytest.skip("mlflow is not installed (the prodready[mlflow] extra)")
    import mlflow.sklearn as mlflow_sklearn

    # MLflow 3 saves scikit-learn models with skops and, like skops, wants the reviewed types.
    mlflow_sklearn.save_model(
        binary_model,
        str(spec_dir / "mlflow-model"),
        pip_requirements=["scikit-learn"],
        skops_trusted_types=[TREE_PREDICTOR],
    )
    path = edit(spec_dir, "  path: model.skops", "  uri: mlflow-model")
    system = load_spec(path)
    assert system.model_artifact is not None and system.model_artifact.format == "mlflow"
    assert len(system.model_artifact.sha256) == 64
    ref = pd.read_parquet(spec_dir / "reference.parquet")
    assert (
        system.model.predict(ref[system.feature_columns])
        == binary_model.predict(ref[system.feature_columns])
    ).all()


def test_hooks_resolve_to_functions(spec_dir: Path) -> None:
    path = edit(
        spec_dir, "metadata:", "hooks:\n  retrain: json:dumps\n  broken: json:nope\nmetadata:"
    )
    system = load_spec(path)
    assert system.hook("retrain")({"a": 1}) == '{"a": 1}'
    with pytest.raises(SpecError, match="cannot import 'json:nope'") as info:
        system.hook("broken")
    assert info.value.field == "hooks.broken"
    with pytest.raises(SpecError, match="no hook 'deploy'"):
        system.hook("deploy")


def test_hooks_are_found_beside_the_spec(spec_dir: Path) -> None:
    # A team keeps its hooks next to its spec; the module need not be installed.
    module = "ops_hooks_beside_the_spec"
    (spec_dir / f"{module}.py").write_text("def rollback():\n    return 'rolled back'\n")
    path = edit(spec_dir, "metadata:", f"hooks:\n  rollback: {module}:rollback\nmetadata:")
    system = load_spec(path)
    assert system.hook("rollback")() == "rolled back"
    import sys

    assert str(spec_dir) not in sys.path  # on the path only while importing
    sys.modules.pop(module, None)


def test_a_section_set_to_none_declares_the_mechanism_absent(spec_dir: Path) -> None:
    from prodready.probes import Probe
    from prodready.results import Finding

    class RollbackProbe(Probe):
        question = "Q4"

        def run(self, system: System, context: Any) -> Finding:
            raise AssertionError("not run here")

    path = edit(spec_dir, "metadata:", "rollback: none\nmetadata:")
    system = load_spec(path)
    assert RollbackProbe().declared_absent(system)
    # Any other text is a mistake, named in one line.
    path = edit(spec_dir, "rollback: none", "rollback: nothing")
    with pytest.raises(SpecError, match="'nothing'") as info:
        load_spec(path)
    assert info.value.field == "rollback"
    assert "none (the system has no such mechanism)" in str(info.value)
