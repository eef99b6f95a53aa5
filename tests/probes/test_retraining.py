"""Q9 self-retraining: the rehearsal on a real (sqlite) MLflow registry, and broken hooks.

One registry per module (version 1 = the served model, alias ``champion``); every test runs
the probe against it and the registry must be byte for byte the same afterwards. The hooks
below are the systems' retraining mechanisms, named in the specs as
``tests.probes.test_retraining:<hook>``; the broken ones each get their exact failure.

The tests marked :func:`core` need no mlflow (a system without a registry, served over HTTP
on 127.0.0.1): they run in the core environment too; every other test skips without mlflow.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingRegressor, HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from prodready import SpecError, System
from prodready.adapters.registry import MLflowRegistry
from prodready.probes import ProbeCancelled, ProbeContext, RetrainingProbe, builtin_probes
from prodready.probes.retraining import RetrainingSettings, RetrainResult
from prodready.probes.retraining._shift import Region, find_region, shift_target
from prodready.results import Status
from prodready.system import Endpoint
from tests.adapters.servers import MLflowProtocolServer
from tests.conftest import require_mlflow

NUMERIC = ["x1", "x2", "x3"]
FEATURES = [*NUMERIC, "kind"]
TRUSTED = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]
NAME = "q9-model"
#: The trigger of the test systems (the served model's ROC AUC is about 0.95).
SETTINGS: dict[str, Any] = {
    "metric": "roc_auc",
    "threshold": 0.8,
    "window": 500,
    "training_rows": 2000,
}


def make_frame(n: int, seed: int) -> pd.DataFrame:
    """A clear binary concept: x1 matters most, then x2 and the kind."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    kind = rng.choice(["a", "b", "c"], size=n)
    z = 2.0 * x[:, 0] + 1.0 * x[:, 1] + 0.5 * (kind == "a") + 0.4 * rng.logistic(size=n)
    return pd.DataFrame(
        {"x1": x[:, 0], "x2": x[:, 1], "x3": x[:, 2], "kind": kind, "y": (z > 0).astype(int)}
    )


def fit(data: pd.DataFrame, target: str = "y") -> Pipeline:
    """The test systems' recipe: one-hot kind, numbers as they are, 30 boosted trees."""
    model = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        ("kind", OneHotEncoder(handle_unknown="ignore"), ["kind"]),
                        ("num", "passthrough", NUMERIC),
                    ],
                    sparse_threshold=0.0,
                ),
            ),
            ("hgb", HistGradientBoostingClassifier(max_iter=30, random_state=0)),
        ]
    )
    return model.fit(data[FEATURES], data[target])


def save(model: Any, folder: Path) -> Path:
    # Requirements given: inferring them runs the model in a subprocess (seconds).
    require_mlflow().sklearn.save_model(
        model,
        str(folder),
        serialization_format="skops",
        skops_trusted_types=TRUSTED,
        pip_requirements=["scikit-learn", "skops"],
    )
    return folder


# --- the systems' retrain hooks --------------------------------------------------------------


def _register(request: Any, model: Any) -> str:
    registry = MLflowRegistry(request.registry_uri)
    version = registry.register(request.model_name, save(model, request.workdir / "model"))
    registry.set_alias(request.model_name, request.candidate_alias, version.version)
    return version.version


def good_hook(request: Any) -> dict[str, Any]:
    """Fits again on the data it is given; registers a candidate."""
    return {"version": _register(request, fit(request.data, request.target))}


def returns_model(request: Any) -> RetrainResult:
    """A system without a registry: the hook returns the fitted model."""
    return RetrainResult(model=fit(request.data, request.target), notes="no registry")


def stale_hook(request: Any) -> dict[str, Any]:
    """Broken: retrains on its own old training data, not on what it is given."""
    return {"version": _register(request, fit(make_frame(2000, 11)))}


class ForgetsOutside:
    """A model right where the concept changed and blind (0.5) everywhere else."""

    def __init__(self, model: Any, changed: Region) -> None:
        self.model, self.changed = model, changed
        self.classes_ = model.classes_

    def predict(self, frame: pd.DataFrame) -> Any:
        return self.model.predict(frame)

    def predict_proba(self, frame: pd.DataFrame) -> Any:
        out = np.array(self.model.predict_proba(frame), dtype=float)
        out[~self.changed.mask(frame)] = 0.5
        return out


def forgetful_hook(request: Any) -> dict[str, Any]:
    """Broken: learns the new concept but forgets the old one where nothing changed."""
    cut = float(np.median(request.data["x1"]))
    changed = Region("x1", 0.0, cut=cut)  # the rehearsal shifts x1's high half (seed 0)
    return {"model": ForgetsOutside(fit(request.data, request.target), changed)}


def promoting_hook(request: Any) -> dict[str, Any]:
    """Broken: registers the new model and moves the served alias to it (no approval)."""
    version = _register(request, fit(request.data, request.target))
    MLflowRegistry(request.registry_uri).set_alias(
        request.model_name, request.serving_alias, version
    )
    return {"version": version}


def raising_hook(request: Any) -> None:
    raise RuntimeError("the training cluster is down")


def no_alias_hook(request: Any) -> dict[str, Any]:
    """Broken: registers the model without marking it as a candidate."""
    registry = MLflowRegistry(request.registry_uri)
    model_dir = save(fit(request.data, request.target), request.workdir / "model")
    return {"version": registry.register(request.model_name, model_dir).version}


def exiting_hook(request: Any) -> None:
    """Broken: the training script calls sys.exit()."""
    raise SystemExit(3)


class _Unreadable:
    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("lazy proxy: session closed")


def unreadable_hook(request: Any) -> Any:
    """Broken: returns an object whose every attribute raises."""
    return _Unreadable()


def garbage_hook(request: Any) -> float:
    """Broken: returns a number that is neither a version nor a model."""
    return 3.5


#: Released by the test once it has its finding: hanging_hook returns then.
RELEASE = threading.Event()


def hanging_hook(request: Any) -> None:
    """Broken: retraining that never finishes (until the test releases it)."""
    RELEASE.wait(30)


#: Set by cancelling_hook: the run is stopped (Stop button, time limit) while it retrains.
CANCEL = threading.Event()


def cancelling_hook(request: Any) -> dict[str, Any]:
    """Promotes, and meanwhile the run is cancelled."""
    answer = promoting_hook(request)
    CANCEL.set()
    return answer


def promoting_then_hanging_hook(request: Any) -> None:
    """Promotes, then hangs; meanwhile the run is stopped (Stop button, time limit)."""
    promoting_hook(request)
    CANCEL.set()
    RELEASE.wait(30)


def interrupted_hook(request: Any) -> None:
    """Registers and promotes, then the user presses Ctrl-C."""
    promoting_hook(request)
    raise KeyboardInterrupt


# --- fixtures --------------------------------------------------------------------------------


def core(test: Any) -> Any:
    """Marks a test that needs no mlflow (it runs in the core environment too)."""
    test.core = True
    return test


@pytest.fixture(autouse=True)
def _mlflow_unless_core(request: pytest.FixtureRequest) -> None:
    if not getattr(request.function, "core", False):
        require_mlflow()  # skips (or fails with PRODREADY_REQUIRE_MLFLOW=1) without it


@pytest.fixture(scope="module")
def served() -> tuple[Pipeline, pd.DataFrame]:
    return fit(make_frame(3000, 11)), make_frame(3000, 1)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, served: Any) -> MLflowRegistry:
    require_mlflow()
    root = tmp_path_factory.mktemp("registry")
    found = MLflowRegistry(f"sqlite:///{root}/mlflow.db")
    version = found.register(NAME, save(served[0], root / "v1"))
    found.set_alias(NAME, "champion", version.version)
    return found


def files_digest(registry: MLflowRegistry) -> str:
    """Every byte of the registry's folder (database and artifacts)."""
    assert registry.db_path is not None
    root = registry.db_path.parent
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "v1" not in p.parts):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def system(
    served: Any,
    hook: str | None,
    registry: MLflowRegistry | None = None,
    **settings: Any,
) -> System:
    model, reference = served
    spec: dict[str, Any] = {
        "model": model,
        "reference": reference,
        "target": "y",
        "settings": {"retraining": {**SETTINGS, **settings}},
    }
    if hook is not None:
        spec["hooks"] = {"retrain": f"tests.probes.test_retraining:{hook}"}
    if registry is not None:
        from prodready.system import Registry

        spec["registry"] = Registry(uri=registry.uri, model_name=NAME)
    return System(**spec)


def rehearse(target: System, registry: MLflowRegistry | None = None) -> Any:
    before = files_digest(registry) if registry is not None else None
    finding = RetrainingProbe().run(target, ProbeContext(seed=0))
    if registry is not None:
        assert files_digest(registry) == before, "the registry changed"
        assert registry.alias(NAME, "champion") == "1"
        assert [v.version for v in registry.versions(NAME)] == ["1"]
    return finding


def statuses(finding: Any) -> dict[str, Status]:
    return {c.name: c.status for c in finding.checks}


def failed(finding: Any) -> set[str]:
    return {c.name for c in finding.checks if c.status is not Status.PASS}


# --- the rehearsal ---------------------------------------------------------------------------


def test_registered_builtin() -> None:
    assert builtin_probes()["Q9"] is RetrainingProbe


def test_good_hook_passes_and_registry_is_restored(served: Any, registry: MLflowRegistry) -> None:
    finding = rehearse(system(served, "good_hook", registry), registry)
    assert finding.status is Status.PASS, finding.summary
    assert failed(finding) == set()
    m = finding.measurements
    assert m["region"]["description"].startswith("x1 > ")  # x1's high half
    assert m["serving"]["old"] >= 0.8 > m["serving"]["shifted"]
    assert m["candidate"]["shifted"] >= 0.8
    assert m["version"] == "2" and m["registry"]["serving_after"] == "1"
    assert m["registry"]["candidate_alias_at"] == "2" and m["registry"]["restored"]
    assert m["retrain_s"] > 0
    assert "registered as candidate version 2" in finding.summary
    assert len(finding.evidence) == 2


def test_deterministic_for_a_seed(served: Any) -> None:
    one = rehearse(system(served, "returns_model"))
    two = rehearse(system(served, "returns_model"))
    assert one.measurements["serving"] == two.measurements["serving"]
    assert one.measurements["candidate"] == two.measurements["candidate"]


def test_hook_only_system_is_judged_but_registry_part_not_assessed(served: Any) -> None:
    finding = rehearse(system(served, "returns_model"))
    assert finding.status is Status.WARN
    assert failed(finding) == set()
    assert "no registry" in finding.not_assessed[0]
    assert finding.measurements["notes"] == "no registry"


def test_hook_that_does_not_recover_fails(served: Any, registry: MLflowRegistry) -> None:
    finding = rehearse(system(served, "stale_hook", registry), registry)
    assert finding.status is Status.FAIL
    assert failed(finding) == {"recovers on shifted data"}
    assert "It does not recover" in next(
        c.message for c in finding.checks if c.name == "recovers on shifted data"
    )
    assert "learn from the new data" in finding.remediation


def test_hook_that_regresses_on_old_data_fails(served: Any) -> None:
    finding = rehearse(system(served, "forgetful_hook", min_recovery=0.3, threshold=0.7))
    assert finding.status is Status.FAIL
    assert failed(finding) == {"no regression on old data"}
    check = next(c for c in finding.checks if c.name == "no regression on old data")
    assert check.measured > 0.3  # blind outside the region: ROC AUC 0.5 against ~0.9
    assert "breaking the rest" in check.message


def test_hook_that_promotes_to_production_fails(served: Any, registry: MLflowRegistry) -> None:
    finding = rehearse(system(served, "promoting_hook", registry), registry)
    assert finding.status is Status.FAIL
    assert failed(finding) == {"served model unchanged"}
    check = next(c for c in finding.checks if c.name == "served model unchanged")
    assert "from version 1 to version 2" in check.message and "Q8" in check.message
    assert finding.measurements["registry"]["serving_after"] == "2"
    assert "approval workflow" in finding.remediation


def test_hook_without_candidate_alias_fails(served: Any, registry: MLflowRegistry) -> None:
    finding = rehearse(system(served, "no_alias_hook", registry), registry)
    assert failed(finding) == {"registered as a candidate"}


def test_hook_that_raises_fails(served: Any, registry: MLflowRegistry) -> None:
    finding = rehearse(system(served, "raising_hook", registry), registry)
    assert finding.status is Status.FAIL
    assert failed(finding) == {"retraining ran"}
    assert "RuntimeError: the training cluster is down" in finding.summary


@pytest.mark.parametrize(
    ("hook", "problem"),
    [
        ("exiting_hook", "raised SystemExit: 3"),
        (
            "unreadable_hook",
            "returned a _Unreadable that cannot be read (RuntimeError: lazy proxy: session closed)",
        ),
        ("garbage_hook", "returned a float (expected a version or a fitted model)"),
    ],
)
def test_broken_answers_of_a_hook_fail_naming_them(served: Any, hook: str, problem: str) -> None:
    finding = rehearse(system(served, hook))
    assert finding.status is Status.FAIL
    assert failed(finding) == {"retraining ran"}
    assert finding.summary.endswith(f"; the retrain hook {problem}.")


def test_hook_that_hangs_fails_within_its_timeout(served: Any, registry: MLflowRegistry) -> None:
    RELEASE.clear()
    try:
        finding = rehearse(system(served, "hanging_hook", registry, timeout_s=0.5), registry)
    finally:
        RELEASE.set()
    assert finding.status is Status.FAIL
    assert failed(finding) == {"retraining ran"}
    assert finding.summary.endswith(
        "; the retrain hook did not finish within 0.5 s (retraining.timeout_s); it may still be "
        "running, and change the registry after this rehearsal."
    )
    assert 0.5 <= finding.measurements["retrain_s"] < 5


def test_a_model_missing_from_the_registry_is_judged_not_an_error(
    served: Any, registry: MLflowRegistry
) -> None:
    from prodready.system import Registry

    target = replace(
        system(served, "raising_hook", registry),
        registry=Registry(uri=registry.uri, model_name="never-registered"),
    )
    finding = rehearse(target, registry)
    assert finding.status is Status.FAIL
    assert failed(finding) == {"retraining ran"}
    assert finding.measurements["registry"]["serving_before"] is None


def test_interrupted_rehearsal_restores_the_registry(served: Any, registry: MLflowRegistry) -> None:
    before = files_digest(registry)
    with pytest.raises(KeyboardInterrupt):
        RetrainingProbe().run(system(served, "interrupted_hook", registry), ProbeContext())
    assert files_digest(registry) == before
    assert registry.alias(NAME, "champion") == "1"


def test_cancelled_rehearsal_restores_the_registry(served: Any, registry: MLflowRegistry) -> None:
    before = files_digest(registry)
    CANCEL.clear()
    target = system(served, "cancelling_hook", registry)
    with pytest.raises(ProbeCancelled):
        RetrainingProbe().run(target, ProbeContext(cancel=CANCEL))
    assert files_digest(registry) == before
    assert registry.alias(NAME, "champion") == "1"


def test_stopped_while_the_hook_hangs_restores_the_registry_at_once(
    served: Any, registry: MLflowRegistry
) -> None:
    before = files_digest(registry)
    CANCEL.clear()
    RELEASE.clear()
    target = system(served, "promoting_then_hanging_hook", registry)
    try:
        with pytest.raises(ProbeCancelled):
            RetrainingProbe().run(target, ProbeContext(cancel=CANCEL))
        # Restored while the hook still hangs: the rehearsal does not wait for it.
        assert files_digest(registry) == before
        assert registry.alias(NAME, "champion") == "1"
    finally:
        RELEASE.set()


def test_trigger_that_always_fires_fails(served: Any) -> None:
    finding = rehearse(system(served, "returns_model", threshold=0.99))
    assert "trigger quiet on unchanged data" in failed(finding)
    assert "would fire all the time" in finding.checks[0].message


def test_trigger_that_never_fires_fails(served: Any) -> None:
    finding = rehearse(system(served, "returns_model", threshold=0.05, min_recovery=0.1))
    assert failed(finding) == {"trigger fires on degradation"}


# --- statuses without a mechanism ------------------------------------------------------------


def test_no_hook_is_not_assessed(served: Any) -> None:
    finding = RetrainingProbe().run(system(served, None), ProbeContext())
    assert finding.status is Status.NOT_ASSESSED
    assert finding.measurements["missing_spec_field"] == "hooks.retrain"
    assert "retraining.metric" in finding.remediation


def test_no_threshold_is_not_assessed(served: Any) -> None:
    target = system(served, "good_hook")
    target.settings["retraining"] = {"metric": "roc_auc"}
    finding = RetrainingProbe().run(target, ProbeContext())
    assert finding.status is Status.NOT_ASSESSED
    assert finding.measurements["missing_spec_field"] == "retraining.threshold"


def test_declared_absent_fails(served: Any) -> None:
    target = system(served, None)
    target.settings["retraining"] = "none"
    finding = RetrainingProbe().run(target, ProbeContext())
    assert finding.status is Status.FAIL
    assert "retraining: none" in finding.summary
    assert "hooks.retrain" in finding.remediation


# --- settings and the shift, other tasks ------------------------------------------------------


def test_settings_errors(served: Any) -> None:
    with pytest.raises(SpecError, match="candidate_alias"):
        RetrainingSettings(threshold=0.5, candidate_alias="champion")
    target = system(served, "good_hook", metric="r2")
    with pytest.raises(SpecError, match=r"retraining\.metric: is 'r2'"):
        RetrainingProbe().preflight(target)


def test_shift_and_region_are_generic() -> None:
    frame = pd.DataFrame({"n": [1, 2, 2, 2, 3, 4], "c": list("aabbbc"), "y": [0, 1, 2, 0, 1, 2]})
    region = find_region(frame, ["n", "c"], ["c"], lambda rows: 1.0, seed=0)
    assert region is not None and region.feature == "n"
    inside = region.mask(frame)
    assert 0 < inside.sum() < len(frame)
    assert not (inside & region.other_half().mask(frame)).any()
    moved = shift_target(frame["y"], inside, "multiclass", [0, 1, 2], 0.0)
    assert (moved[inside] == (frame["y"][inside] + 1) % 3).all()
    assert (moved[~inside] == frame["y"][~inside]).all()
    mirrored = shift_target(frame["n"].astype(float), inside, "regression", [], 2.0)
    assert list(mirrored[inside]) == [4 - v for v in frame["n"][inside]]
    categories = Region("c", 0.0, categories=("b",))
    assert list(categories.mask(frame)) == [False, False, True, True, True, False]
    assert categories.other_half().description == "c not in {b}"


def regression_hook(request: Any) -> dict[str, Any]:
    model = GradientBoostingRegressor(n_estimators=60, max_depth=3, random_state=0)
    return {"model": model.fit(request.data[request.features], request.data[request.target])}


def test_regression_rehearsal() -> None:
    data = make_frame(2500, 3)
    data["v"] = 2.0 * data["x1"] + data["x2"] + 0.1 * np.random.default_rng(0).normal(size=2500)
    data = data.drop(columns=["y", "kind"])
    model = GradientBoostingRegressor(n_estimators=60, max_depth=3, random_state=0)
    model.fit(
        make_frame(2000, 4)[NUMERIC], 2.0 * make_frame(2000, 4)["x1"] + make_frame(2000, 4)["x2"]
    )
    target = System(
        model=model,
        reference=data,
        target="v",
        hooks={"retrain": "tests.probes.test_retraining:regression_hook"},
        settings={"retraining": {"threshold": 0.5, "window": 400, "training_rows": 1500}},
    )
    finding = RetrainingProbe().run(target, ProbeContext())
    assert finding.measurements["metric"] == "r2"
    assert (
        finding.measurements["serving"]["shifted"]
        < 0.5
        <= finding.measurements["candidate"]["shifted"]
    )
    assert "trigger fires on degradation" not in failed(finding)


def test_example_hook_lands_a_candidate(tmp_path: Path, registry: MLflowRegistry) -> None:
    """prodready.example.retrain: a guarded pyfunc registered as candidate, champion kept."""
    from prodready.example import generate_applicants
    from prodready.example.retrain import retrain
    from prodready.probes.retraining import RetrainRequest

    data = generate_applicants(1500, seed=0, window="training")
    snapshot = registry.snapshot()
    try:
        workdir = tmp_path / "work"
        workdir.mkdir()
        from prodready.example import CATEGORICAL, FEATURES, TARGET

        answer = retrain(
            RetrainRequest(
                data=data,
                target=TARGET,
                features=FEATURES,
                categorical=CATEGORICAL,
                task="binary",
                reason="test",
                registry_uri=registry.uri,
                model_name=NAME,
                candidate_alias="candidate",
                serving_alias="champion",
                seed=0,
                workdir=workdir,
            )
        )
        assert answer["version"] == "2"
        assert registry.alias(NAME, "candidate") == "2"
        assert registry.alias(NAME, "champion") == "1"
        assert registry.version(NAME, "2").tags["prodready.stage"] == "candidate"
    finally:
        registry.restore(snapshot)
    assert os.path.isdir(workdir)


def test_guarded_candidate_scored_in_process_keeps_out_of_production(
    tmp_path: Path, served: Any, registry: MLflowRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A guarded pyfunc loaded for scoring logs into the scratch folder and follows no alias."""
    import skops.io

    from prodready.guard import InputSchema, RegistryAlias, save_mlflow
    from prodready.probes.retraining._hook import load_version
    from prodready.probes.retraining._measure import Scorer

    model, reference = served
    skops.io.dump(model, tmp_path / "model.skops")
    production_log = tmp_path / "production-decisions.jsonl"
    folder = save_mlflow(
        tmp_path / "guarded",
        model_path=tmp_path / "model.skops",
        trusted=TRUSTED,
        schema=InputSchema.learn(reference, FEATURES, ["kind"]),
        decision_log=production_log,
        follow=RegistryAlias(NAME),
    )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry.uri)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    loaded = load_version(folder, scratch)
    assert loaded.unwrap_python_model().follower is None
    out = Scorer(loaded, [0, 1], True).predict_proba(reference[FEATURES].iloc[:20])
    assert out.shape == (20, 2) and np.allclose(out.sum(axis=1), 1)
    assert not production_log.exists()
    assert (scratch / "rehearsal-decisions.jsonl").stat().st_size > 0
    assert os.environ["MLFLOW_TRACKING_URI"] == registry.uri  # put back


# --- without a registry: what the endpoint serves, before and after the hook -----------------

#: The model server the hooks below act on (set by the ``server`` fixture).
SERVER: MLflowProtocolServer | None = None


def swapping_hook(request: Any) -> dict[str, Any]:
    """Broken: fits a new model and puts it in production itself (no approval)."""
    model = fit(request.data, request.target)
    assert SERVER is not None
    SERVER.model = model
    return {"model": model}


def served_version(request: Any = None) -> str:
    """What the toy deployment says it serves: the id of the server's model object."""
    assert SERVER is not None
    return "v1" if SERVER.model is SERVED_MODEL[0] else "v2"


#: The model production serves at the start of each test (the fixture puts it back).
SERVED_MODEL: list[Any] = []


@pytest.fixture(scope="module")
def plain() -> tuple[Pipeline, pd.DataFrame]:
    """The served model and its reference data (as ``served``; no mlflow needed)."""
    return fit(make_frame(3000, 11)), make_frame(3000, 1)


@pytest.fixture
def server(plain: Any) -> Any:
    """The plain model served over MLflow's scoring protocol on 127.0.0.1, put back after."""
    global SERVER
    SERVED_MODEL[:] = [plain[0]]
    with MLflowProtocolServer(plain[0]) as running:
        SERVER = running
        try:
            yield running
        finally:
            SERVER = None


def endpoint_system(plain: Any, hook: str, url: str | None, **hooks: str) -> System:
    model, reference = plain
    return System(
        model=model,
        reference=reference,
        target="y",
        endpoint=None if url is None else Endpoint(url=url, timeout_s=2.0),
        hooks={"retrain": f"tests.probes.test_retraining:{hook}", **hooks},
        settings={"retraining": dict(SETTINGS)},
    )


def served_check(finding: Any) -> Any:
    return next(c for c in finding.checks if c.name == "served model unchanged")


@core
def test_without_registry_a_hook_that_leaves_production_alone_passes(
    plain: Any, server: MLflowProtocolServer
) -> None:
    finding = rehearse(endpoint_system(plain, "returns_model", server.url))
    assert finding.status is Status.PASS, finding.summary
    assert failed(finding) == set() and not finding.not_assessed
    check = served_check(finding)
    assert check.message.startswith(
        "Not served: production still answers with the same answers on 16 canary rows"
    )
    assert "a candidate awaiting approval" in check.message
    assert "not served: production still answers with the same answers on 16" in (finding.summary)
    assert finding.measurements["served"]["how"] == "canary"
    assert finding.measurements["served"]["change"] is None
    assert server.model is plain[0]


@core
def test_without_registry_a_hook_that_swaps_the_served_model_fails(
    plain: Any, server: MLflowProtocolServer
) -> None:
    finding = rehearse(endpoint_system(plain, "swapping_hook", server.url))
    assert finding.status is Status.FAIL
    assert failed(finding) == {"served model unchanged"}
    assert re.fullmatch(
        r"The hook put the retrained model in production \(its answers changed on \d+ of 16 "
        r"canary rows \(by up to [0-9.e-]+\)\): it bypasses the approval workflow \(Q8\)\.",
        served_check(finding).message,
    ), served_check(finding).message
    assert "approval workflow (Q8)" in finding.remediation


@core
def test_without_registry_served_version_hook_names_the_swap(
    plain: Any, server: MLflowProtocolServer
) -> None:
    """hooks.served_version (trusted before the canary answers) names what changed."""
    version = {"served_version": "tests.probes.test_retraining:served_version"}
    finding = rehearse(endpoint_system(plain, "swapping_hook", None, **version))
    assert served_check(finding).message == (
        "The hook put the retrained model in production (it served version 'v1', then "
        "version 'v2'): it bypasses the approval workflow (Q8)."
    )
    server.model = plain[0]
    finding = rehearse(endpoint_system(plain, "returns_model", None, **version))
    assert finding.status is Status.PASS, finding.summary
    assert "still answers with version 'v1'" in served_check(finding).message


@core
def test_without_registry_an_endpoint_that_does_not_answer_warns(
    plain: Any, server: MLflowProtocolServer
) -> None:
    server.behaviour = "error500"
    finding = rehearse(endpoint_system(plain, "returns_model", server.url))
    assert finding.status is Status.WARN
    assert "served model unchanged" not in statuses(finding)
    assert finding.not_assessed[0].startswith(
        "whether the new model waits for approval: what production serves could not be read "
        "before retraining (the endpoint did not answer ("
    )


@core
def test_without_registry_endpoint_or_served_version_warns_naming_them(plain: Any) -> None:
    finding = rehearse(endpoint_system(plain, "returns_model", None))
    assert finding.status is Status.WARN
    assert failed(finding) == set()
    assert "no registry, no endpoint and no hooks.served_version" in finding.not_assessed[0]
    assert "whether it waits for approval was not checked" in finding.summary


def switching_hook(request: Any) -> dict[str, Any]:
    """Broken: switches the blue/green router to the new model (v2) itself."""
    from tests.probes import rollback_servers

    assert rollback_servers.SERVER is not None
    rollback_servers.SERVER.live = "v2"
    return {"model": fit(request.data, request.target)}


@core
def test_without_registry_the_version_the_endpoint_names_is_trusted(plain: Any) -> None:
    """An endpoint whose replies name their model version: compared by version."""
    from tests.probes import rollback_servers

    with rollback_servers.SwitchServer("v1", named=True) as switch:
        rollback_servers.SERVER = switch
        try:
            kept = rehearse(endpoint_system(plain, "returns_model", switch.url))
            moved = rehearse(endpoint_system(plain, "switching_hook", switch.url))
        finally:
            rollback_servers.SERVER = None
    assert kept.status is Status.PASS, kept.summary
    assert served_check(kept).message.startswith(
        "Not served: production still answers with version v1 after retraining"
    )
    assert moved.status is Status.FAIL
    assert served_check(moved).message == (
        "The hook put the retrained model in production (it served version v1, then version "
        "v2): it bypasses the approval workflow (Q8)."
    )


def breaking_hook(request: Any) -> dict[str, Any]:
    """Broken: retraining leaves the production server answering HTTP 500."""
    assert SERVER is not None
    SERVER.behaviour = "error500"
    return {"model": fit(request.data, request.target)}


@core
def test_without_registry_an_endpoint_that_stops_answering_after_the_hook_fails(
    plain: Any, server: MLflowProtocolServer
) -> None:
    finding = rehearse(endpoint_system(plain, "breaking_hook", server.url))
    assert finding.status is Status.FAIL
    assert failed(finding) == {"served model unchanged"}
    assert served_check(finding).message.startswith(
        "After retraining, the endpoint did not answer (crashed: Internal Server Error): "
    )
    assert served_check(finding).message.endswith(
        "production served the answers on 16 canary rows before the hook and no longer "
        "answers the same way."
    )
