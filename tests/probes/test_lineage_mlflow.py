"""Q7 on an MLflow model: the training run's dataset inputs are its recorded training data.

The run is read through MLflow's client; here the client is a stand-in that answers with a run
built from MLflow's own entities (a tracking database costs tens of seconds to create), and
the dataset digest is the one MLflow itself computes for the training frame.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from prodready import ProbeContext, Status, load_spec
from prodready.probes import LineageProbe
from tests.conftest import make_frame, require_mlflow

mlflow = require_mlflow()

RUN_ID = "0123456789abcdef0123456789abcdef"


def spec(lineage: str) -> str:
    return (
        "version: 2\nname: mlflow lineage\nmodel:\n  path: model\n"
        "data:\n  reference: reference.parquet\n  target: target\n" + lineage
    )


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, binary_model: Pipeline) -> Path:
    """An MLflow model folder whose MLmodel names its training run, with the data files."""
    import mlflow.sklearn
    import yaml

    root = tmp_path_factory.mktemp("mlflow-lineage")
    make_frame(3000, 11).to_csv(root / "train.csv", index=False)
    make_frame(500, 1).to_parquet(root / "reference.parquet", index=False)
    # Requirements given, not inferred (inference runs a subprocess: ~8 s); lineage reads none.
    mlflow.sklearn.save_model(
        binary_model,
        str(root / "model"),
        serialization_format="pickle",
        pip_requirements=["scikit-learn"],
    )
    mlmodel = root / "model" / "MLmodel"
    meta = yaml.safe_load(mlmodel.read_text())
    meta["run_id"] = RUN_ID  # what log_model writes when the model is logged in a run
    mlmodel.write_text(yaml.safe_dump(meta))
    return root


def fake_client(train_csv: Path, calls: list[str], context: str | None = "training") -> Any:
    """An MlflowClient stand-in: the training run logged ``train_csv`` as an input, with
    ``context`` (None: logged without one)."""
    from mlflow.data.pandas_dataset import from_pandas
    from mlflow.entities import Dataset, DatasetInput, InputTag

    logged = from_pandas(pd.read_csv(train_csv), source=str(train_csv), name="train")
    dataset = Dataset(
        name=logged.name,
        digest=logged.digest,
        source_type=logged.source._get_source_type(),
        source=logged.source.to_json(),
        profile=json.dumps(logged.profile),
    )
    run = SimpleNamespace(
        info=SimpleNamespace(start_time=1_700_000_000_000),
        data=SimpleNamespace(tags={"mlflow.source.git.commit": "ab" * 20}, params={"C": "1"}),
        inputs=SimpleNamespace(
            dataset_inputs=[
                DatasetInput(dataset, [InputTag("mlflow.data.context", context)] if context else [])
            ]
        ),
    )

    class Client:
        def __init__(self, **_: Any) -> None:
            pass

        def get_run(self, run_id: str) -> Any:
            calls.append(run_id)
            return run

    return Client


def test_training_run_inputs_verify_the_training_data(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr("mlflow.tracking.MlflowClient", fake_client(folder / "train.csv", calls))
    (folder / "spec.yaml").write_text(spec("lineage:\n  training_data: train.csv\n"))
    finding = LineageProbe().run(load_spec(folder / "spec.yaml"), ProbeContext())
    assert calls == [RUN_ID]
    assert finding.status is Status.PASS, finding.summary
    assert finding.measurements["provenance_source"] == f"MLflow run {RUN_ID}"
    assert "trained by code at git commit abababababab" in finding.summary
    deps = finding.measurements["provenance_statement"]["predicate"]["buildDefinition"][
        "resolvedDependencies"
    ]
    assert deps[0]["name"] == "train" and list(deps[0]["digest"]) == ["mlflowDigest"]

    # One byte of the training data changed after training: the link breaks, by name.
    data = bytearray((folder / "train.csv").read_bytes())
    at = data.index(b"\n") + 3
    data[at] = ord("7") if data[at] != ord("7") else ord("3")
    (folder / "changed.csv").write_bytes(bytes(data))
    (folder / "spec.yaml").write_text(spec("lineage:\n  training_data: changed.csv\n"))
    finding = LineageProbe().run(load_spec(folder / "spec.yaml"), ProbeContext())
    assert finding.status is Status.FAIL
    text = next(c.message for c in finding.checks if c.name == "training data")
    assert text.startswith(f"training data: MLflow run {RUN_ID} records MLflow dataset digest ")
    assert " for train, the file given (changed.csv) has " in text


def test_mlflow_model_without_a_run_or_provenance_fails(
    folder: Path, tmp_path: Path, binary_model: Pipeline
) -> None:
    import mlflow.sklearn

    mlflow.sklearn.save_model(
        binary_model,
        str(tmp_path / "model"),
        serialization_format="pickle",
        pip_requirements=["scikit-learn"],  # not inferred: see the folder fixture
    )
    make_frame(500, 1).to_parquet(tmp_path / "reference.parquet", index=False)
    (tmp_path / "spec.yaml").write_text(spec(""))
    finding = LineageProbe().run(load_spec(tmp_path / "spec.yaml"), ProbeContext())
    assert finding.status is Status.FAIL
    assert finding.summary == (
        "Lineage is not verified: provenance: none recorded for model (looked for "
        "model.provenance.json beside it and an MLflow training run with dataset inputs)."
    )


@pytest.mark.parametrize("context", ["train", None, "eval"])
def test_which_run_inputs_are_the_training_data(
    folder: Path, monkeypatch: pytest.MonkeyPatch, context: str | None
) -> None:
    """ "training" or "train", else the inputs logged without a context; never "eval" data."""
    client = fake_client(folder / "train.csv", [], context)
    monkeypatch.setattr("mlflow.tracking.MlflowClient", client)
    (folder / "spec.yaml").write_text(spec("lineage:\n  training_data: train.csv\n"))
    finding = LineageProbe().run(load_spec(folder / "spec.yaml"), ProbeContext())
    if context != "eval":
        assert finding.status is Status.PASS, finding.summary
        text = next(c.message for c in finding.checks if c.name == "training data")
        assert text.startswith(
            f"training data: train.csv has the MLflow dataset digest that MLflow run {RUN_ID}"
        )
        return
    assert finding.status is Status.FAIL
    assert finding.summary == (
        f"Lineage is not verified: provenance: MLflow run {RUN_ID} logged no training dataset: "
        "its dataset inputs are for 'eval' (log the training data with "
        "mlflow.log_input(dataset, context='training'))."
    )
