"""The worked examples of the lifecycle hooks, run exactly as ``docs/`` prints them.

The python and yaml blocks are read from ``docs/rollback.md`` (the blue/green hooks
``ops_hooks.py``, the toy ``router.py``, the spec fragment) and ``docs/retraining.md`` (the
retrain hook of a system without a registry, its spec fragment), so the documentation and
this test cannot drift apart. They are written beside a spec in ``tmp_path`` with a small
model and its reference data, and the Q4 and Q9 probes run on that spec in-process: the
documented examples PASS (Q9 WARNs, as documented: with no registry, whether the new model
awaits approval is not assessed), and deliberately broken copies FAIL. No MLflow is needed.
"""

from __future__ import annotations

import re
import sys
import threading
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import joblib
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.compose import make_column_transformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder

from prodready.probes import ProbeContext
from prodready.probes.retraining import RetrainingProbe
from prodready.probes.rollback import RollbackProbe
from prodready.results import Status
from prodready.spec import load_spec

DOCS = Path(__file__).resolve().parents[2] / "docs"
#: Modules the examples import beside their spec: forgotten after each test (each test has
#: its own copy in its own folder, perhaps broken).
EXAMPLE_MODULES = ("ops_hooks", "team_training")


def blocks(doc: str, language: str) -> list[str]:
    """The fenced ``language`` code blocks of ``docs/<doc>``, in order."""
    text = (DOCS / doc).read_text(encoding="utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.M | re.S)


def block(doc: str, language: str, starts: str) -> str:
    """The one ``language`` block of ``doc`` whose text begins with ``starts``."""
    found = [b for b in blocks(doc, language) if b.startswith(starts)]
    assert len(found) == 1, f"{doc}: expected one {language} block starting {starts!r}"
    return found[0]


OPS_HOOKS = block("rollback.md", "python", '"""Rollback hooks for prodready')
ROUTER = block("rollback.md", "python", '"""A toy blue/green router')
ROLLBACK_SPEC = block("rollback.md", "yaml", "endpoint:")
RETRAIN_HOOK = block("retraining.md", "python", '"""Retraining for prodready, on a system without')
RETRAIN_SPEC = block("retraining.md", "yaml", 'hooks:\n  retrain: "team_training')


@pytest.fixture(autouse=True)
def _forget_example_modules() -> Iterator[None]:
    yield
    for name in EXAMPLE_MODULES:
        sys.modules.pop(name, None)


@pytest.fixture(scope="module")
def router(binary_model: Pipeline) -> Iterator[tuple[Any, types.ModuleType]]:
    """The documented toy router, serving the tests' small classifier on a free port."""
    module = types.ModuleType("docs_router")
    exec(compile(ROUTER, "docs/rollback.md:router.py", "exec"), module.__dict__)
    server = module.make_server(binary_model, 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    try:
        yield server, module
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def clear_concept(n: int, seed: int) -> pd.DataFrame:
    """Labelled rows with a clear binary concept (x1 matters most), for the Q9 rehearsal:
    a model retrained on 1,000 rows of it recovers from a concept shift."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    kind = rng.choice(["a", "b", "c"], size=n)
    z = 2.0 * x[:, 0] + 1.0 * x[:, 1] + 0.5 * (kind == "a") + 0.4 * rng.logistic(size=n)
    return pd.DataFrame(
        {"x1": x[:, 0], "x2": x[:, 1], "x3": x[:, 2], "kind": kind, "y": (z > 0).astype(int)}
    )


@pytest.fixture(scope="module")
def q9_system() -> tuple[Pipeline, tuple[pd.DataFrame]]:
    """The served model (30 boosted trees, ROC AUC about 0.95) and its reference data."""
    train = clear_concept(3000, 11)
    encode = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), ["kind"]), remainder="passthrough"
    )
    model = make_pipeline(encode, HistGradientBoostingClassifier(max_iter=30, random_state=0))
    features = ["x1", "x2", "x3", "kind"]
    return model.fit(train[features], train["y"]), (clear_concept(8000, 1),)


def _spec(folder: Path, model: Pipeline, data: Any, fragment: str, target: str = "target") -> Path:
    """``spec.yaml`` in ``folder``: the model, its reference data and the docs' fragment."""
    joblib.dump(model, folder / "model.joblib")
    reference: pd.DataFrame = data[0]
    reference.to_parquet(folder / "reference.parquet")
    head = {
        "version": 2,
        "name": "docs example",
        "model": {"path": "model.joblib", "format": "joblib"},
        "data": {"reference": "reference.parquet", "target": target},
        "task": "binary",
    }
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(head, sort_keys=False) + fragment, encoding="utf-8")
    return path


def _rollback_spec(
    folder: Path, model: Pipeline, data: Any, router: tuple[Any, Any], hooks: str
) -> Path:
    server, _ = router
    url = f"http://127.0.0.1:{server.server_address[1]}"
    # The docs' router listens on 8500; this one on a free port: only the address changes.
    (folder / "ops_hooks.py").write_text(hooks.replace("http://127.0.0.1:8500", url))
    return _spec(folder, model, data, ROLLBACK_SPEC.replace("http://127.0.0.1:8500", url))


def _reset(router: tuple[Any, Any]) -> None:
    """The router as it starts: blue live with 1.4.0, green with the previous release."""
    server, _ = router
    base = f"http://127.0.0.1:{server.server_address[1]}"
    httpx.post(f"{base}/admin/load", json={"colour": "blue", "version": "1.4.0"}, timeout=5)
    httpx.post(f"{base}/admin/load", json={"colour": "green", "version": "1.3.0"}, timeout=5)
    httpx.post(f"{base}/admin/switch", json={"live": "blue"}, timeout=5)


def test_the_blue_green_example_passes_q4(
    tmp_path: Path, binary_model: Pipeline, binary_data: Any, router: tuple[Any, Any]
) -> None:
    _reset(router)
    system = load_spec(_rollback_spec(tmp_path, binary_model, binary_data, router, OPS_HOOKS))
    finding = RollbackProbe().run(system, ProbeContext())
    assert finding.status is Status.PASS, finding.summary
    m = finding.measurements
    assert m["mechanism"] == "hooks"
    assert m["original"]["version"] == "1.4.0"
    assert m["candidate"]["version"] == "1.3.0"
    assert m["after_rollback"]["version"] == "1.4.0"
    assert 0 <= m["restore_s"] <= 2
    assert m["canary_identical"] is True
    assert m["failed_requests"] == 0 and m["traffic_sent"] > 0
    assert finding.summary.startswith(
        "Rolled back from the candidate (version 1.3.0) to the original (version 1.4.0)"
    )


def test_the_blue_green_example_with_a_rollback_that_does_nothing_fails(
    tmp_path: Path, binary_model: Pipeline, binary_data: Any, router: tuple[Any, Any]
) -> None:
    _reset(router)
    broken = re.sub(r"(def rollback\(\) -> None:\n)(?:    .*\n)+", r"\1    pass\n", OPS_HOOKS)
    assert broken != OPS_HOOKS
    spec = _rollback_spec(tmp_path, binary_model, binary_data, router, broken)
    finding = RollbackProbe().run(load_spec(spec), ProbeContext())
    assert finding.status is Status.FAIL, finding.summary
    assert finding.summary.startswith(
        "The candidate (version 1.3.0) is still served 2 s after the rollback was triggered"
    )
    # The documented restore hook put the original back afterwards.
    server, _ = router
    state = httpx.get(f"http://127.0.0.1:{server.server_address[1]}/admin/state").json()
    assert state["versions"][state["live"]] == "1.4.0"


def test_the_retrain_hook_without_a_registry_recovers_and_warns(
    tmp_path: Path, q9_system: tuple[Pipeline, Any]
) -> None:
    (tmp_path / "team_training.py").write_text(RETRAIN_HOOK)
    system = load_spec(_spec(tmp_path, *q9_system, RETRAIN_SPEC, target="y"))
    finding = RetrainingProbe().run(system, ProbeContext())
    # Every part judged PASSes; "awaits approval" needs a registry: at best a WARN.
    assert finding.status is Status.WARN, finding.summary
    assert all(c.status is Status.PASS for c in finding.checks), finding.summary
    assert "no registry: whether it waits for approval was not checked" in finding.summary
    assert finding.not_assessed and "registry" in finding.not_assessed[0]
    m = finding.measurements
    assert m["candidate"]["shifted"] >= 0.70 > m["serving"]["shifted"]
    assert m["notes"].startswith("fitted on ")


def test_the_retrain_hook_fitting_shuffled_labels_fails(
    tmp_path: Path, q9_system: tuple[Pipeline, Any]
) -> None:
    fit = "model.fit(data[request.features], data[request.target])"
    assert fit in RETRAIN_HOOK
    broken = RETRAIN_HOOK.replace(
        fit,
        "model.fit(data[request.features], "
        "data[request.target].sample(frac=1, random_state=0).to_numpy())",
    )
    (tmp_path / "team_training.py").write_text(broken)
    system = load_spec(_spec(tmp_path, *q9_system, RETRAIN_SPEC, target="y"))
    finding = RetrainingProbe().run(system, ProbeContext())
    assert finding.status is Status.FAIL, finding.summary
    failed = [c.name for c in finding.checks if c.status is Status.FAIL]
    assert failed == ["recovers on shifted data", "no regression on old data"], finding.summary
