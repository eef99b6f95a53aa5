"""Q10 vendor independence: the portable export checked in a clean process, vendor SDKs in
the serving path, licences.

One example-like model (the bundled example's pipeline on small data) is shared by the
module; each deliberately broken variant gets the exact status and reason it deserves.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer

from prodready._exceptions import SpecError
from prodready.example.data import FEATURES, TARGET, generate_applicants
from prodready.example.train import train_model
from prodready.probes import ProbeContext, builtin_probes
from prodready.probes.vendor_independence import VendorIndependenceProbe, _export, _probe
from prodready.probes.vendor_independence._deps import (
    classify_licence,
    imports_in_source,
    modules_in_pickle,
    vendor_of_module,
)
from prodready.probes.vendor_independence._export import Export
from prodready.results import Finding, Status, Table
from prodready.system import Endpoint, System

HAS_ONNX = all(importlib.util.find_spec(m) for m in ("skl2onnx", "onnxruntime"))
needs_onnx = pytest.mark.skipif(not HAS_ONNX, reason="needs prodready[onnx]")


@pytest.fixture(scope="module")
def example() -> tuple[Pipeline, pd.DataFrame]:
    """The example's pipeline (one-hot + HistGradientBoosting) on small data."""
    training = generate_applicants(1500, seed=3, window="training")
    reference = generate_applicants(300, seed=3, window="reference")
    return train_model(training, seed=3), reference


def system_of(model: Any, reference: pd.DataFrame, **settings: Any) -> System:
    extra: dict[str, Any] = {}
    if "endpoint" in settings:
        extra["endpoint"] = settings.pop("endpoint")
    return System(
        model=model,
        reference=reference,
        target=TARGET,
        features=list(FEATURES) if TARGET in reference else None,
        settings={"vendor_independence": {"sample_rows": 200, **settings}},
        **extra,
    )


def run(system: System) -> Finding:
    return VendorIndependenceProbe().run(system, ProbeContext(seed=0))


def check(finding: Finding, name: str) -> Any:
    return next(c for c in finding.checks if c.name == name)


@pytest.fixture
def scan_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """For tests of the serving-path scan: the export half answers a canned, passing result
    (it has tests of its own), which saves a clean child process per test."""

    def canned(*args: Any, **kwargs: Any) -> Export:
        return Export(route="onnx", max_diff=0.0, rows=200, clean=True, runtime="canned")

    monkeypatch.setattr(_probe, "export_and_check", canned)


def test_registered_as_q10() -> None:
    assert builtin_probes()["Q10"] is VendorIndependenceProbe


@needs_onnx
def test_example_onnx_export_reproduces_probabilities_within_1e_5(
    example: tuple[Pipeline, pd.DataFrame],
) -> None:
    model, reference = example
    finding = run(system_of(model, reference))
    m = finding.measurements
    assert m["export_format"] == "onnx"
    assert m["rows_compared"] == 200
    assert m["max_abs_diff"] <= 1e-5
    assert m["clean_process"] is True  # the check process never imported sklearn/prodready
    assert m["runtime"].startswith("onnxruntime")
    # In process, the serving path is the model's classes: scikit-learn and its dependencies.
    licences = finding.evidence[-1]
    assert isinstance(licences, Table)
    assert "scikit-learn" in [row[0] for row in licences.rows]
    assert finding.status == Status.PASS, finding.checks


def test_serving_code_importing_a_vendor_sdk_fails_naming_it(
    example: tuple[Pipeline, pd.DataFrame], tmp_path: Path, scan_only: None
) -> None:
    model, reference = example
    folder = tmp_path / "served"
    folder.mkdir()
    (folder / "MLmodel").write_text(
        "flavors:\n  python_function:\n    loader_module: mlflow.pyfunc.model\n"
        "    python_model: python_model.pkl\n"
    )
    (folder / "requirements.txt").write_text("numpy\n")
    (folder / "code").mkdir()
    # Neither SDK is installed here: the scan is static, nothing is imported.
    (folder / "code" / "python_model.py").write_text(
        "import sagemaker\nfrom google.cloud import aiplatform\n\n"
        "class Model:\n    def predict(self, context, frame):\n"
        "        return aiplatform.Endpoint('x').predict(frame)\n"
    )
    # A pickled python_model that refers to boto3 (protocol 0 GLOBAL): read, never loaded.
    (folder / "python_model.pkl").write_bytes(b"cboto3.session\nSession\n.")
    finding = run(system_of(model, reference, endpoint=Endpoint(serve=str(folder))))
    assert finding.status == Status.FAIL
    vendor = check(finding, "no vendor SDK")
    assert vendor.status == Status.FAIL
    assert "sagemaker (Amazon Web Services) imported by code/python_model.py" in vendor.message
    assert "google.cloud.aiplatform (Google Cloud)" in vendor.message
    assert "boto3.session (Amazon Web Services) imported by python_model.pkl" in vendor.message
    assert "locked to a vendor by sagemaker, google.cloud.aiplatform" in finding.summary
    assert "vendor SDK" in finding.remediation


def test_a_vendor_sdk_declared_in_the_requirements_fails(
    example: tuple[Pipeline, pd.DataFrame], tmp_path: Path, scan_only: None
) -> None:
    model, reference = example
    (tmp_path / "requirements.txt").write_text("numpy\nazure-ai-ml>=1.0  # deploys to Azure\n")
    system = system_of(model, reference, requirements="requirements.txt")
    system.source = str(tmp_path / "spec.yaml")
    finding = run(system)
    vendor = check(finding, "no vendor SDK")
    assert vendor.status == Status.FAIL
    assert "azure-ai-ml (Microsoft Azure) required by requirements.txt" in vendor.message


def test_a_vendor_sdk_in_an_included_requirements_file_fails(
    example: tuple[Pipeline, pd.DataFrame], tmp_path: Path, scan_only: None
) -> None:
    model, reference = example
    (tmp_path / "env").mkdir()
    (tmp_path / "requirements.txt").write_text("numpy\n-r env/serving.txt\n")
    # Includes are relative to the including file; a loop back is read once.
    (tmp_path / "env" / "serving.txt").write_text("--requirement ../requirements.txt\nsagemaker\n")
    system = system_of(model, reference, requirements="requirements.txt")
    system.source = str(tmp_path / "spec.yaml")
    vendor = check(run(system), "no vendor SDK")
    assert vendor.status == Status.FAIL
    assert "sagemaker (Amazon Web Services) required by requirements.txt" in vendor.message


@pytest.mark.skipif(
    importlib.util.find_spec("mlflow") is None, reason="needs mlflow (prodready[mlflow])"
)
def test_a_vendor_sdk_only_pulled_in_by_an_open_package_is_listed_not_a_lock(
    example: tuple[Pipeline, pd.DataFrame], tmp_path: Path, scan_only: None
) -> None:
    model, reference = example
    (tmp_path / "requirements.txt").write_text("mlflow-skinny\n")  # requires databricks-sdk
    source = str(tmp_path / "spec.yaml")
    system = system_of(model, reference, requirements="requirements.txt")
    system.source = source
    finding = run(system)
    assert check(finding, "no vendor SDK").status == Status.PASS
    pulled = check(finding, "vendor SDKs pulled in")
    assert pulled.status == Status.PASS
    assert "databricks-sdk (Databricks, pulled in by mlflow-skinny)" in pulled.message
    strict = system_of(model, reference, requirements="requirements.txt", transitive_sdks="fail")
    strict.source = source
    assert check(run(strict), "vendor SDKs pulled in").status == Status.FAIL


@needs_onnx
def test_a_model_skl2onnx_cannot_convert_falls_back_to_skops() -> None:
    frame = pd.DataFrame({"a": np.linspace(0, 5, 120), "b": np.linspace(1, 2, 120)[::-1]})
    model = make_pipeline(FunctionTransformer(np.log1p), LogisticRegression())
    model.fit(frame, (frame["a"] > 2.5).astype(int))
    finding = run(System(model=model, reference=frame, task="binary"))
    m = finding.measurements
    assert m["export_format"] == "skops"
    assert "FunctionTransformer is not supported" in m["onnx_problem"]
    assert m["max_abs_diff"] == 0.0
    export = check(finding, "portable export")
    assert export.status == Status.PASS
    assert "ONNX cannot express it" in export.message


@needs_onnx
def test_a_model_no_open_format_can_run_fails_naming_both_routes() -> None:
    frame = pd.DataFrame({"a": np.linspace(0, 5, 120), "b": np.linspace(1, 2, 120)[::-1]})
    # A lambda: skl2onnx cannot convert it, and a skops file cannot bring it back elsewhere.
    model = make_pipeline(FunctionTransformer(lambda x: x * 2), LogisticRegression())
    model.fit(frame, (frame["a"] > 2.5).astype(int))
    finding = run(System(model=model, reference=frame, task="binary"))
    export = check(finding, "portable export")
    assert finding.status == Status.FAIL and export.status == Status.FAIL
    assert export.message.startswith("The model is not portable: ONNX cannot express it (")
    assert "FunctionTransformer is not supported" in export.message
    assert "and the skops export does not load and run in a clean process" in export.message
    assert ".." not in export.message and "not portable" in finding.summary


def test_without_the_onnx_extra_skops_is_checked_and_it_warns(
    example: tuple[Pipeline, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing(model: Any, frame: pd.DataFrame) -> tuple[bytes, bool]:
        raise ImportError("No module named 'skl2onnx'")

    monkeypatch.setattr(_export, "to_onnx_bytes", missing)
    model, reference = example
    finding = run(system_of(model, reference))
    export = check(finding, "portable export")
    assert finding.measurements["export_format"] == "skops"
    assert finding.measurements["max_abs_diff"] <= 1e-12
    assert export.status == Status.WARN
    assert "pip install 'prodready[onnx]'" in export.message
    assert finding.status == Status.WARN


@needs_onnx
def test_an_export_that_answers_differently_fails_with_the_max_difference(
    example: tuple[Pipeline, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    model, reference = example
    # A broken exporter: it exports another model (fewer trees), as a converter bug would.
    other = train_model(generate_applicants(1500, seed=3, window="training"), seed=3)
    other.set_params(classifier__max_iter=10).fit(
        generate_applicants(1500, seed=3, window="training")[FEATURES],
        generate_applicants(1500, seed=3, window="training")[TARGET],
    )
    convert = _export.to_onnx_bytes
    monkeypatch.setattr(_export, "to_onnx_bytes", lambda m, frame: convert(other, frame))
    finding = run(system_of(model, reference))
    sample = reference[FEATURES].sample(200, random_state=0)
    expected = float(np.abs(other.predict_proba(sample) - model.predict_proba(sample)).max())
    measured = finding.measurements["max_abs_diff"]
    assert measured == pytest.approx(expected, abs=1e-5)
    assert finding.status == Status.FAIL
    export = check(finding, "portable export")
    assert export.status == Status.FAIL
    assert f"differ by up to {measured:.3g}" in export.message
    assert "above the tolerance 1e-05" in export.message


@pytest.mark.skipif(
    importlib.util.find_spec("alibi_detect") is None, reason="alibi-detect not installed"
)
def test_a_bsl_package_in_the_serving_path_warns_naming_it(
    example: tuple[Pipeline, pd.DataFrame], tmp_path: Path, scan_only: None
) -> None:
    model, reference = example
    (tmp_path / "requirements.txt").write_text("alibi-detect\n")
    system = system_of(model, reference, requirements="requirements.txt")
    system.source = str(tmp_path / "spec.yaml")
    finding = run(system)
    licences = check(finding, "open licences")
    assert licences.status == Status.WARN
    assert "alibi-detect" in licences.message
    assert "Business Source License 1.1" in licences.message
    assert "source-available" in licences.message
    # Accepted after review (a commercial licence bought): no longer a finding.
    accepted = system_of(
        model,
        reference,
        requirements="requirements.txt",
        accepted_packages=["alibi-detect"],
    )
    accepted.source = system.source
    assert check(run(accepted), "open licences").status == Status.PASS


def test_a_missing_requirements_file_is_a_spec_error(
    example: tuple[Pipeline, pd.DataFrame], tmp_path: Path
) -> None:
    model, reference = example
    system = system_of(model, reference, requirements="nowhere.txt")
    system.source = str(tmp_path / "spec.yaml")
    with pytest.raises(SpecError, match=r"vendor_independence\.requirements: .*nowhere\.txt"):
        VendorIndependenceProbe().preflight(system)


def test_declared_absent_fails() -> None:
    frame = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0]})
    model = LogisticRegression().fit(frame, [0, 0, 1, 1])
    system = System(
        model=model, reference=frame, task="binary", settings={"vendor_independence": "none"}
    )
    finding = run(system)
    assert finding.status == Status.FAIL
    assert "vendor_independence: none" in finding.summary


@pytest.mark.parametrize(
    ("licence", "category"),
    [
        ("Business Source License 1.1", "source-available"),
        ("BUSL-1.1", "source-available"),
        ("SSPL-1.0", "source-available"),
        ("Apache-2.0 with Commons Clause", "source-available"),
        ("Elastic License 2.0", "source-available"),
        ("AGPL-3.0-or-later", "network copyleft"),
        ("Other/Proprietary License", "proprietary"),
        ("unknown", "unknown"),
        ("", "unknown"),
        ("MIT", "open"),
        ("BSD-3-Clause", "open"),
        ("Apache Software License", "open"),
        ("LGPL-3.0", "open"),
        ("BSL-1.0", "open"),  # the Boost Software License, not the Business Source License
        ("Boost Software License 1.0 (BSL-1.0)", "open"),
        ("BSL 1.1", "source-available"),
        ("Elastic-2.0", "source-available"),
        ("CC-BY-NC-4.0", "source-available"),
    ],
)
def test_licence_categories(licence: str, category: str) -> None:
    assert classify_licence(licence) == category


def test_static_scans_import_nothing() -> None:
    source = "import os\nimport vertexai.preview as v\nfrom databricks.sdk import WorkspaceClient\n"
    found = imports_in_source(source)
    assert "vertexai.preview" in found and "databricks.sdk.WorkspaceClient" in found
    assert imports_in_source("this is not python (") == []
    assert modules_in_pickle(b"csagemaker.predictor\nPredictor\n.") == ["sagemaker.predictor"]
    assert modules_in_pickle(b"not a pickle") == []


@pytest.mark.parametrize(
    ("source", "vendor"),
    [
        ("import importlib\nimportlib.import_module(name='boto3')\n", "Amazon Web Services"),
        (
            "from importlib import import_module\nimport_module('sagemaker')\n",
            "Amazon Web Services",
        ),
        ("import sagemaker_inference.decoder\n", "Amazon Web Services"),
        ("import mlflow.sagemaker\n", "Amazon Web Services"),
        ("\ufeffimport boto3\n", "Amazon Web Services"),  # a byte-order mark: Python ignores it
        ("print 'python 2'\nfrom google.cloud import aiplatform\n", "Google Cloud"),
        ("def serve():\n    exec(\n    import_module('vertexai')\n", "Google Cloud"),
        ("from google import genai\n", "Google Cloud"),
        ("from azure.storage.blob import BlobServiceClient\n", "Microsoft Azure"),
        (
            "try:\n    from azureml.core import Workspace\nexcept ImportError:\n    pass\n",
            "Microsoft Azure",
        ),
    ],
)
def test_vendor_imports_in_every_form_are_seen(source: str, vendor: str) -> None:
    assert vendor in [vendor_of_module(m, []) for m in imports_in_source(source)], source


def test_open_modules_are_not_vendor_sdks() -> None:
    for module in ("google.protobuf", "sagemath", "mlflow.sklearn", "onnxruntime", "azurite"):
        assert vendor_of_module(module, []) is None, module


def test_a_model_class_from_the_teams_own_module_has_its_source_scanned(
    example: tuple[Pipeline, pd.DataFrame],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    scan_only: None,
) -> None:
    _, reference = example
    (tmp_path / "vendor_wrapped.py").write_text(
        "from sklearn.base import BaseEstimator, ClassifierMixin\n\n\n"
        "class Wrapped(BaseEstimator, ClassifierMixin):\n"
        "    def __init__(self, inner=None):\n        self.inner = inner\n\n"
        "    def fit(self, X, y):\n"
        "        self.inner.fit(X, y)\n        self.classes_ = self.inner.classes_\n"
        "        return self\n\n"
        "    def predict_proba(self, X):\n"
        "        if False:  # the production branch: never taken here\n"
        "            import boto3  # noqa: F401\n"
        "        return self.inner.predict_proba(X)\n\n"
        "    def predict(self, X):\n        return self.inner.predict(X)\n"
    )
    path = tmp_path / "vendor_wrapped.py"
    spec = importlib.util.spec_from_file_location("vendor_wrapped", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "vendor_wrapped", module)  # removed after the test
    spec.loader.exec_module(module)
    numeric = [c for c in FEATURES if reference[c].dtype.kind in "fi"][:3]
    model = module.Wrapped(LogisticRegression(max_iter=300))
    model.fit(reference[numeric], reference[TARGET])
    system = System(
        model=model,
        reference=reference[[*numeric, TARGET]],
        target=TARGET,
        settings={"vendor_independence": {"sample_rows": 50}},
    )
    finding = run(system)
    vendor = check(finding, "no vendor SDK")
    assert vendor.status == Status.FAIL
    assert "boto3 (Amazon Web Services) imported by vendor_wrapped.py" in vendor.message
    assert finding.status == Status.FAIL
