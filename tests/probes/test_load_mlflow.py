"""Q1 against a real ``mlflow models serve`` (one server for the module, ~10 s to start).

The shared HistGradientBoosting pipeline, served with ``predict_proba``: the probe, run
isolated in its child process as an assessment runs it, loads the server over MLflow's
scoring protocol with rows of the current data, reads back a sample of the answers with the
MLflow client's decoder, and finds the server's capacity.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from tests.conftest import CATEGORICAL, NUMERIC, make_frame, require_mlflow

require_mlflow()

from prodready import Status, System  # noqa: E402
from prodready.adapters import ServedModel, serve_mlflow  # noqa: E402
from prodready.assessment import assess  # noqa: E402
from prodready.probes.load import LoadProbe  # noqa: E402
from prodready.system import Endpoint, Traffic  # noqa: E402
from tests.adapters.servers import save_mlflow_sklearn  # noqa: E402


@pytest.fixture(scope="module")
def served(
    binary_model: Pipeline, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedModel]:
    folder = tmp_path_factory.mktemp("served")
    example = make_frame(50, 30)[NUMERIC + CATEGORICAL]
    directory = save_mlflow_sklearn(binary_model, folder / "model", example)
    with serve_mlflow(directory, log_dir=folder / "logs") as server:
        yield server


def test_the_served_model_handles_10x_and_its_capacity_is_found(
    served: ServedModel, binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    ref, cur = binary_data
    system = System(
        model=binary_model,
        reference=ref.iloc[:500],
        current=cur.iloc[:500],
        target="target",
        endpoint=Endpoint(url=served.url),
        traffic=Traffic(current_rps=2.0),
        settings={"load": {"phase_s": 1.5, "warmup_s": 0.3, "max_search_steps": 2}},
    )
    finding = assess(system, probes={"Q1": LoadProbe}, questions=["Q1"]).finding("Q1")
    assert finding.status is Status.PASS, finding.summary
    m = finding.measurements
    assert m["target"] == f"MLflow scoring protocol at {served.url}"
    assert m["first_reply"] == {"kind": "answered", "status": 200, "error": ""}
    phases = m["phases"]
    assert [p["multiplier"] for p in phases][:3] == [1.0, 10.0, 20.0] and len(phases) == 4
    assert all(set(p["outcomes"]) == {"200"} for p in phases[:2])  # decoded: predictions
    assert m["capacity_multiplier"] >= 10
    assert finding.summary.startswith("Handles ")
