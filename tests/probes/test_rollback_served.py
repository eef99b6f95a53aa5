"""Q4 with the real components: MLflow's registry, ``mlflow models serve``, the examples.

The bundled example is built once for the module (small windows) and its production
variant served once by ``mlflow models serve`` from ``models:/credit-risk@champion``, a
guarded pyfunc that follows the alias. Its rollback is rehearsed for real (PASS, without
downtime), then interrupted with the candidate in production (everything put back). The
prototype declares ``rollback: none`` (FAIL).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from tests.conftest import require_mlflow

mlflow = require_mlflow()

from prodready import ProbeContext, Status, System, assess, load_spec  # noqa: E402
from prodready.adapters import connect, open_registry, serve_mlflow  # noqa: E402
from prodready.example import (  # noqa: E402
    PRODUCTION_SPEC,
    PROTOTYPE_SPEC,
    TRUSTED_TYPES,
    ensure_example,
)
from prodready.probes.rollback import STEPS, RollbackProbe  # noqa: E402
from prodready.probes.rollback._candidate import nudge, save_candidate  # noqa: E402
from prodready.system import Endpoint, Registry  # noqa: E402


def test_nudge_moves_answers_and_keeps_probabilities() -> None:
    proba = np.array([[0.9, 0.1], [0.2, 0.8]])
    moved = nudge(proba, 0.1)
    assert np.allclose(moved, [[0.86, 0.14], [0.23, 0.77]])
    assert np.allclose(moved.sum(axis=1), 1.0)
    assert np.array_equal(proba, [[0.9, 0.1], [0.2, 0.8]])  # not mutated
    frame = pd.DataFrame(
        {"decision_id": ["a"], "prediction": [1], "proba_0": [0.3], "proba_1": [0.7]}
    )
    out = nudge(frame, 0.1)
    assert out["proba_1"].iloc[0] == pytest.approx(0.68)
    assert out["prediction"].iloc[0] == 1 and out["decision_id"].iloc[0] == "a"
    assert np.allclose(nudge(np.array([1.0, 2.0]), 0.5), [1.5, 2.5])
    labels = np.array(["yes", "no"])
    assert np.array_equal(nudge(labels, 0.1), labels)


def test_candidate_of_any_mlflow_model_is_a_nudged_pyfunc(
    tmp_path: Path, binary_model: Pipeline, binary_data: Any
) -> None:
    import mlflow.sklearn

    original = tmp_path / "original"
    mlflow.sklearn.save_model(
        binary_model,
        str(original),
        pyfunc_predict_fn="predict_proba",
        serialization_format="skops",
        skops_trusted_types=TRUSTED_TYPES,
        pip_requirements=["scikit-learn"],  # no inference in a subprocess: the test stays fast
    )
    candidate = save_candidate(original, tmp_path / "candidate", 0.1)
    rows = binary_data[0].drop(columns="target").head(5)
    before = np.asarray(mlflow.pyfunc.load_model(str(original)).predict(rows))
    after = np.asarray(mlflow.pyfunc.load_model(str(candidate)).predict(rows))
    assert np.allclose(after, before * 0.9 + 0.05)


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("example")
    ensure_example(folder, n_rows=2000, served=True)
    return folder


@pytest.fixture(scope="module")
def production(example: Path) -> Iterator[System]:
    """The production example served from its registry, as the assessment serves it."""
    system = load_spec(example / PRODUCTION_SPEC)
    assert system.endpoint is not None and system.endpoint.serve is not None
    registry = open_registry(system)
    env = {"PRODREADY_DECISION_LOG": str(system.decision_log)}
    with serve_mlflow(
        system.endpoint.serve, env=env, log_dir=example / "serve", registry_uri=registry.uri
    ) as server:
        yield replace(system, endpoint=replace(system.endpoint, url=server.url))


def _served_version(system: System) -> str | None:
    with connect(system) as client:
        reply = client.predict(system.X().head(1))
    assert reply.answered, reply.error
    return reply.model_version


def test_production_example_rolls_back_without_downtime(production: System) -> None:
    registry = open_registry(production)
    before = registry.fingerprint()
    assessment = assess(production, questions=["Q4"])  # served already: no second server
    finding = assessment.finding("Q4")
    assert finding.status is Status.PASS, finding.summary
    m = finding.measurements
    assert m["mechanism"] == "registry_alias"
    assert m["original"]["version"] == "1" and m["candidate"]["version"] == "2"
    assert m["original"]["digest"] != m["candidate"]["digest"]
    assert m["after_rollback"]["version"] == "1"
    assert m["after_rollback"]["digest"] == m["original"]["digest"]
    assert 0 < m["restore_s"] <= 5
    assert m["canary_identical"] is True
    assert m["failed_requests"] == 0 and m["traffic_sent"] > 0
    assert set(m["versions_answering_traffic"]) <= {"1", "2"}
    assert registry.fingerprint() == before
    assert _served_version(production) == "1"


def test_production_rehearsal_interrupted_with_the_candidate_served_puts_it_all_back(
    production: System,
) -> None:
    registry = open_registry(production)
    before = registry.fingerprint()

    def interrupt(step: str) -> None:
        if step == "rollback":  # the candidate is in production right now
            assert _served_version(production) == "2"
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        RollbackProbe(on_step=interrupt).run(production, ProbeContext())
    assert registry.fingerprint() == before
    assert registry.alias("credit-risk", "champion") == "1"
    assert [v.version for v in registry.versions("credit-risk")] == ["1"]
    assert _served_version(production) == "1"


def test_prototype_example_declares_no_rollback(example: Path) -> None:
    prototype = load_spec(example / PROTOTYPE_SPEC)
    assert prototype.endpoint is not None
    # As the assessment runs it; a URL nobody serves: a declared absence needs no server.
    unserved = replace(prototype, endpoint=replace(prototype.endpoint, url="http://127.0.0.1:9"))
    finding = assess(unserved, questions=["Q4"]).finding("Q4")
    assert finding.status is Status.FAIL
    assert finding.summary.startswith(
        "The spec declares that the system has no rollback (rollback: none)"
    )
    assert "models:/NAME@champion" in finding.remediation


# --- a real MLflow registry, interrupted at every step -----------------------------------


class _Following:
    """The real registry as the loopback switch reads it: the alias production follows."""

    def __init__(self, registry: Any, name: str) -> None:
        self.registry, self.name = registry, name

    def alias(self, name: str, alias: str) -> str | None:
        return self.registry.alias(name, alias)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def real_registry(tmp_path_factory: pytest.TempPathFactory, binary_model: Pipeline) -> Any:
    """A sqlite MLflow registry holding one real scikit-learn model, alias champion on it."""
    import mlflow.sklearn

    from prodready.adapters import MLflowRegistry

    root = tmp_path_factory.mktemp("rollback-registry")
    model_dir = root / "model"
    mlflow.sklearn.save_model(
        binary_model,
        str(model_dir),
        pyfunc_predict_fn="predict_proba",
        serialization_format="skops",
        skops_trusted_types=TRUSTED_TYPES,
        pip_requirements=["scikit-learn"],
    )
    registry = MLflowRegistry(f"sqlite:///{root / 'registry' / 'mlflow.db'}")
    registry.register("credit-risk", model_dir)
    registry.set_alias("credit-risk", "champion", "1")
    return registry


FAST = {"max_restore_s": 2.0, "switch_timeout_s": 2.0, "poll_s": 0.02, "settle_s": 0.1}


@pytest.mark.parametrize("at", [None, *STEPS])
def test_a_real_registry_is_byte_for_byte_the_same_after_a_rehearsal_stopped_anywhere(
    real_registry: Any, binary_model: Pipeline, binary_data: Any, at: str | None
) -> None:
    from tests.adapters.test_registry import files_sha256
    from tests.probes.rollback_servers import SwitchServer

    root = real_registry.db_path.parent
    before = files_sha256(root)

    def on_step(name: str) -> None:
        if name == at:
            raise KeyboardInterrupt

    # The rehearsal makes its own candidate: a nudged copy of version 1, registered as 2.
    with SwitchServer(follow=_Following(real_registry, "credit-risk")) as switch:  # type: ignore[arg-type]
        system = System(
            model=binary_model,
            reference=binary_data[0],
            target="target",
            endpoint=Endpoint(url=switch.url, timeout_s=2),
            registry=Registry(uri=real_registry.uri, model_name="credit-risk"),
            settings={"rollback": FAST},
        )
        probe = RollbackProbe(on_step=on_step, open_registry=lambda s: real_registry)
        if at is None:
            finding = probe.run(system, ProbeContext())
            assert finding.status is Status.PASS, finding.summary
            assert finding.measurements["candidate_version"] == "2"
        else:
            with pytest.raises(KeyboardInterrupt):
                probe.run(system, ProbeContext())
        assert switch.live == "1"
    assert files_sha256(root) == before
    assert [v.version for v in real_registry.versions("credit-risk")] == ["1"]
