"""Q2 against real ``mlflow models serve`` servers: the prototype FAILs, production PASSes.

One server per system for the whole module: the bare example pipeline served as it is (the
prototype: no signature, probabilities out), and the same pipeline behind prodready.guard
(the production variant, from :func:`prodready.guard.save_mlflow`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.conftest import require_mlflow

mlflow = require_mlflow()

from prodready import ProbeContext, Status, System  # noqa: E402
from prodready.adapters import ServedModel, serve_mlflow  # noqa: E402
from prodready.example import TRUSTED_TYPES  # noqa: E402
from prodready.example.data import CATEGORICAL, FEATURES, TARGET, generate_applicants  # noqa: E402
from prodready.example.train import train_model  # noqa: E402
from prodready.probes.graceful_failure import GracefulFailureProbe  # noqa: E402
from prodready.system import Endpoint  # noqa: E402

CTX = ProbeContext(seed=0)
#: The cases only HTTP can send, and what MLflow's scoring server does with them.
RAW = {
    "malformed JSON": "clean rejection",
    "a JSON list as the payload": "clean rejection",
    "an empty JSON object": "clean rejection",
    "wrong protocol key": "clean rejection",
    "wrong content type": "fine",  # refused with 415: either is fine
}

#: Nonsense the bare pipeline answers when nothing checks its input (by case name).
ANSWERED = (
    "NaN in",
    "None in",
    "+inf in",
    "-inf in",
    "unseen category in",
    "extreme value in",
    "negative value in",
    "garbage text in",
    "very long text in",
    "number in",
)


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    return (
        generate_applicants(1000, seed=0, window="reference"),
        generate_applicants(1000, seed=0, window="current"),
    )


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    import skops.io

    model = train_model(generate_applicants(2000, seed=0, window="training"))
    path = tmp_path_factory.mktemp("model") / "model.skops"
    skops.io.dump(model, path)
    return model, path


@pytest.fixture(scope="module")
def prototype(
    model_file: tuple[Any, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedModel]:
    import mlflow.sklearn

    model, _ = model_file
    directory = tmp_path_factory.mktemp("prototype") / "model"
    mlflow.sklearn.save_model(
        model,
        str(directory),
        serialization_format="skops",
        skops_trusted_types=TRUSTED_TYPES,
        pyfunc_predict_fn="predict_proba",
        # Given, not inferred (inference runs a subprocess: ~8 s); the server runs in this
        # environment whatever they say, and Q2 reads none.
        pip_requirements=["scikit-learn", "skops"],
    )
    with serve_mlflow(directory) as served:
        yield served


@pytest.fixture(scope="module")
def production(
    model_file: tuple[Any, Path],
    data: tuple[pd.DataFrame, pd.DataFrame],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServedModel]:
    from prodready.guard import InputSchema, save_mlflow

    _, path = model_file
    folder = tmp_path_factory.mktemp("production")
    save_mlflow(
        folder / "model",
        model_path=path,
        trusted=TRUSTED_TYPES,
        schema=InputSchema.learn(data[0], FEATURES, CATEGORICAL),
        decision_log=folder / "decisions.jsonl",
        model_version="test",
    )
    with serve_mlflow(folder / "model") as served:
        yield served


def served_system(model: Any, data: tuple[pd.DataFrame, pd.DataFrame], url: str) -> System:
    return System(
        model=model,
        reference=data[0],
        current=data[1],
        target=TARGET,
        categorical=list(CATEGORICAL),
        endpoint=Endpoint(url=url, timeout_s=10),
    )


def test_the_served_prototype_fails(
    prototype: ServedModel, model_file: tuple[Any, Path], data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    f = GracefulFailureProbe().run(served_system(model_file[0], data, prototype.url), CTX)
    assert f.status is Status.FAIL
    found = f.measurements["outcome_of"]
    kinds = {r[0]: r for r in f.evidence[0].rows}
    # MLflow's server parses malformed payloads itself: clean rejections with its own text.
    assert {name: found[name] for name in RAW} == RAW
    assert "Ensure that input is a valid JSON" in kinds["malformed JSON"][6]
    assert kinds["malformed JSON"][5] == 400
    # An exception of the model comes back as HTTP 400 "unexpected error": still a crash.
    missing = next(n for n in found if n.startswith("missing column "))
    assert found[missing] == "crash" and kinds[missing][5] == 400
    assert "columns are missing" in kinds[missing][6]
    assert found["empty batch"] == "crash"
    # Without a signature the server hands everything to the pipeline, which answers it.
    for name, outcome in found.items():
        if name.startswith(ANSWERED) or name == "all-missing row":
            assert outcome == "silent garbage", name
        if name.startswith("text in "):
            assert outcome == "crash", name
    for name in ("extra column", "reordered columns", "one row", "large batch (1,000 rows)"):
        assert found[name] == "fine"
    assert f.summary.startswith("Crashed on 5 of 35 cases (")
    assert "answered 21 nonsense inputs as if valid (" in f.summary
    assert f.measurements["reached"] == f"MLflow scoring protocol at {prototype.url}"


def test_the_served_production_model_passes(
    production: ServedModel,
    model_file: tuple[Any, Path],
    data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    f = GracefulFailureProbe().run(served_system(model_file[0], data, production.url), CTX)
    assert f.status is Status.PASS, f.summary
    found = f.measurements["outcome_of"]
    assert {name: found[name] for name in RAW} == RAW
    fine = (
        "extra column",
        "reordered columns",
        "one row",
        "large batch (1,000 rows)",
        "empty batch",
    )
    # Every nonsense input refused by the guard with HTTP 400, every valid one answered.
    assert found == {
        name: RAW.get(name, "fine" if name in fine else "clean rejection") for name in found
    }
    rows = {r[0]: r for r in f.evidence[0].rows}
    unseen = rows["unseen category in purpose"]
    assert unseen[5] == 400 and "purpose" in unseen[6]
