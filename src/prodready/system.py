"""The system under assessment: a model, its data, and what surrounds it in production.

A :class:`System` is what every probe receives. Build one in Python with
:meth:`System.from_files` (or the constructor, with objects already in memory), or from a
YAML spec file with :func:`prodready.load_spec`. Either way it is validated the same way and
a mistake gives a :class:`~prodready.SpecError` naming the field, what is wrong and what was
expected.

Probes must never mutate ``model``, ``reference`` or ``current``: they work on copies or on
read-only views.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import math
import os
import re
import stat
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from prodready._exceptions import (
    DataError,
    MissingDependencyError,
    ModelLoadError,
    SpecError,
)
from prodready._settings import ABSENT, first_line, is_integer, is_real, key_text, quote

if TYPE_CHECKING:
    from prodready.datasets import ParquetSource

__all__ = [
    "ABSENT",
    "Artifact",
    "Endpoint",
    "Metadata",
    "Policy",
    "Registry",
    "System",
    "Task",
    "load_model",
    "load_table",
    "sha256_file",
]

Task = Literal["binary", "multiclass", "regression"]
ModelFormat = Literal["skops", "joblib", "pickle", "mlflow"]

_MODEL_SUFFIXES: dict[str, ModelFormat] = {
    ".skops": "skops",
    ".joblib": "joblib",
    ".pkl": "pickle",
    ".pickle": "pickle",
}
_HOOK_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
#: Longest time a probe may be given, and a model server's answer awaited: one day.
MAX_TIMEOUT_S = 86_400.0
#: ``policy.seed`` seeds numpy's generators, which take integers from 0 to 2**32 - 1.
_SEED_LIMIT = 2**32


@dataclass(frozen=True)
class Artifact:
    """A file (or URI) the assessment used, with its sha256 digest for the audit trail."""

    location: str
    sha256: str = ""
    format: str = ""


@dataclass(frozen=True)
class Endpoint:
    """Where the system serves its model over HTTP (the spec's ``endpoint:``).

    One of ``url`` and ``serve`` (both while prodready serves the model):

    - ``url``: a server that is already running (``http://127.0.0.1:5001``), reached with
      ``protocol`` "mlflow" (MLflow's scoring protocol: ``POST /invocations``, ``GET /ping``)
      or "v2" (the Open Inference Protocol of KServe, Triton, MLServer, Seldon:
      ``POST /v2/models/{model_name}/infer``; ``model_name`` is then required);
    - ``serve``: an MLflow model directory that prodready serves itself for the run with
      ``mlflow models serve`` on a free loopback port, stopped when the run ends (its log is
      kept in the run folder). The URL is filled in while it runs.

    ``timeout_s`` is how long one request may take before it counts as timed out.
    """

    url: str | None = None
    serve: str | None = None
    protocol: Literal["mlflow", "v2"] = "mlflow"
    model_name: str | None = None
    timeout_s: float = 5.0

    def __post_init__(self) -> None:
        # Both are set while prodready serves the model (the url of its server filled in).
        _check(
            self.url is not None or self.serve is not None,
            "endpoint",
            "give 'url' or 'serve'",
            "endpoint.url (a running server) or endpoint.serve (an MLflow model directory "
            "prodready serves for the run)",
        )
        _check(
            self.url is None or self.url.startswith(("http://", "https://")),
            "endpoint.url",
            f"is {quote(self.url)}",
            "an http:// or https:// URL",
        )
        _check(
            self.protocol in ("mlflow", "v2"),
            "endpoint.protocol",
            f"is {quote(self.protocol)}",
            "mlflow or v2",
        )
        _check(
            self.protocol != "v2" or bool(self.model_name),
            "endpoint.model_name",
            "is missing (the v2 protocol names the model in its URL)",
            "the model's name on the server: /v2/models/{model_name}/infer",
        )
        _check(
            self.serve is None or self.protocol == "mlflow",
            "endpoint.protocol",
            f"is {quote(self.protocol)}, but endpoint.serve is served by mlflow models serve",
            "mlflow (or give endpoint.url of your own v2 server)",
        )
        _check(
            _seconds(self.timeout_s),
            "endpoint.timeout_s",
            f"is {quote(self.timeout_s)}",
            f"a number of seconds > 0 and at most {MAX_TIMEOUT_S:,.0f} (one day)",
        )

    def describe(self) -> str:
        """In words, for reports: "mlflow protocol at http://..." or "served by prodready"."""
        where = self.url or f"the MLflow model {self.serve} (served by prodready for the run)"
        return f"{self.protocol} protocol at {where}"


@dataclass(frozen=True)
class Traffic:
    """The system's current load (the spec's ``traffic:``), which the load probe multiplies.

    ``current_rps`` is the number of decisions per second the system serves today at its
    busiest. Without it, ``timestamp`` names a column of the current data holding each
    decision's time; the current load is then the rows per second of its busiest minute.
    """

    current_rps: float | None = None
    timestamp: str | None = None

    def __post_init__(self) -> None:
        _check(
            self.current_rps is None or (is_real(self.current_rps) and 0 < self.current_rps <= 1e7),
            "traffic.current_rps",
            f"is {quote(self.current_rps)}",
            "a number of requests per second > 0 (and at most 10,000,000)",
        )


@dataclass(frozen=True)
class Registry:
    """A model registry (MLflow tracking URI, e.g. ``sqlite:///mlflow.db``) and model name."""

    uri: str
    model_name: str


@dataclass(frozen=True)
class Metadata:
    """Model-card facts a person supplies: who owns the model and what it is for.

    ``training_data`` says what the model was trained on (source, period, selection);
    ``out_of_scope_uses`` what it must not be used for. The compliance probe (Q6) puts them
    in the report's model card and names the required ones that are empty.
    """

    owner: str = ""
    intended_use: str = ""
    description: str = ""
    limitations: str = ""
    contact: str = ""
    training_data: str = ""
    out_of_scope_uses: str = ""


@dataclass(frozen=True)
class Policy:
    """Run-wide settings (the spec's ``policy:``). Every value is printed in the report.

    Settings that belong to one probe live in that question's own section of the spec
    (``monitoring:``, ``explainability:``...) and in that probe's settings dataclass.

    - ``probe_timeout_s``: wall-time limit of one probe; past it the probe is cancelled and its
      question is an ERROR (the system was not judged); the other probes still run.
    - ``min_score``: the overall score (minimum of the section scores) needed for "ready".
    - ``seed``: seeds every sampling, so that a run can be repeated exactly.
    - ``gate``: what a "not ready" verdict does to the command's exit code: ``blocking``
      (exit 1, the CI job fails) or ``advisory`` (exit 0 with the verdict printed, for a
      first roll-out of prodready in a pipeline). The verdict itself is the same either way.
    """

    probe_timeout_s: float = 600.0
    min_score: float = 0.8
    seed: int = 0
    gate: Literal["blocking", "advisory"] = "blocking"

    def __post_init__(self) -> None:
        # Checked here rather than only when read from a spec: Python builds a Policy too.
        # Not a bool (True == 1), never NaN or infinite.
        _check(
            _seconds(self.probe_timeout_s),
            "policy.probe_timeout_s",
            f"is {quote(self.probe_timeout_s)}",
            f"a number of seconds > 0 and at most {MAX_TIMEOUT_S:,.0f} (one day)",
        )
        _check(
            is_real(self.min_score) and 0 <= self.min_score <= 1,
            "policy.min_score",
            f"is {quote(self.min_score)}",
            "a number between 0 and 1",
        )
        _check(
            is_integer(self.seed) and 0 <= self.seed < _SEED_LIMIT,
            "policy.seed",
            f"is {quote(self.seed)}",
            f"an integer from 0 to {_SEED_LIMIT - 1}",
        )
        _check(
            isinstance(self.gate, str) and self.gate in ("blocking", "advisory"),
            "policy.gate",
            f"is {quote(self.gate)}",
            "blocking or advisory",
        )


@dataclass
class System:
    """The ML system under assessment.

    ``model`` is a fitted scikit-learn-compatible estimator or Pipeline (``predict``, and
    ``predict_proba`` for classifiers). ``reference`` is the data the model is known to work on
    (its training or validation data); ``current`` the recent production window to compare.
    ``target`` names the label column (optional in ``current``). ``features`` are the columns
    fed to the model (default: the model's ``feature_names_in_``, else every column but the
    target); ``categorical`` those treated as categories (default: non-numeric features).
    ``task`` is inferred from the model and target when not given. ``hooks`` map hook names
    (e.g. "retrain") to ``"module:function"``. ``policy`` holds the run-wide settings;
    ``settings`` the settings of each probe, by question key (``{"monitoring": {"alpha":
    0.01}}``, or the probe's settings object): the System keeps them as given and each probe
    reads and validates its own. ``id_column`` names a column that identifies each row
    (a decision or application id) in reports; it is not fed to the model.
    ``endpoint`` says where the model is served over HTTP (without it, probes that send
    decisions call the model in-process); ``decision_log`` is the system's hash-chained log of
    decisions (see :mod:`prodready.guard`); ``traffic`` its current load.
    ``model_artifact`` and ``data_artifacts`` record where things came from, with digests.
    ``source`` is the spec file, for error messages.
    """

    model: Any
    reference: pd.DataFrame
    current: pd.DataFrame | None = None
    target: str | None = None
    name: str = "unnamed system"
    features: list[str] | None = None
    categorical: list[str] | None = None
    task: Task | None = None
    endpoint: Endpoint | None = None
    decision_log: Path | None = None
    traffic: Traffic = field(default_factory=Traffic)
    registry: Registry | None = None
    hooks: dict[str, str] = field(default_factory=dict)
    policy: Policy = field(default_factory=Policy)
    settings: dict[str, Any] = field(default_factory=dict)
    id_column: str | None = None
    metadata: Metadata = field(default_factory=Metadata)
    model_artifact: Artifact | None = None
    data_artifacts: dict[str, Artifact] = field(default_factory=dict)
    source: str = "<python>"
    #: The whole Parquet dataset behind ``reference`` / ``current`` when it was read as one
    #: (a folder, or more rows than ``data.sample_rows``): the frame is then at most a sample
    #: of it (see :mod:`prodready.datasets`). None for data read whole into memory.
    reference_source: ParquetSource | None = None
    current_source: ParquetSource | None = None

    def __post_init__(self) -> None:
        self._validate()

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def from_files(
        cls,
        *,
        model: str | Path,
        reference: str | Path,
        current: str | Path | None = None,
        model_format: ModelFormat | None = None,
        trusted: Sequence[str] = (),
        model_field: str = "model.path",
        sample_rows: int | None = None,
        **kwargs: Any,
    ) -> System:
        """Load the model and data files and build a validated System.

        ``model`` is a path (.skops, .joblib, .pkl) or an MLflow model URI ("models:/name/1",
        "runs:/...", or a directory holding an MLmodel file). ``trusted`` lists extra types
        a .skops file may contain (see :func:`load_model`); ``model_field`` names the spec
        field that gave ``model`` in error messages. ``reference`` and ``current`` may also be
        Parquet folders; a Parquet dataset of more than ``sample_rows`` rows (default
        :data:`prodready.datasets.DEFAULT_SAMPLE_ROWS`) is held in memory as a stratified
        sample (see :mod:`prodready.datasets`). Other keyword arguments go to :class:`System`.
        """
        from prodready.datasets import DEFAULT_SAMPLE_ROWS, check_sample_rows, load_data

        source = str(kwargs.get("source", "<python>"))
        rows = DEFAULT_SAMPLE_ROWS
        if sample_rows is not None:
            rows = check_sample_rows(sample_rows, source)
        loaded_model, model_artifact = load_model(
            model, format=model_format, trusted=trusted, source=source, field_name=model_field
        )
        policy = kwargs.get("policy")
        seed = policy.seed if isinstance(policy, Policy) else 0
        target = kwargs.get("target")
        ref, ref_art, ref_src = load_data(
            reference,
            field_name="data.reference",
            source=source,
            sample_rows=rows,
            seed=seed,
            target=target,
        )
        cur, cur_art, cur_src = (None, None, None)
        if current is not None:
            cur, cur_art, cur_src = load_data(
                current,
                field_name="data.current",
                source=source,
                sample_rows=rows,
                seed=seed,
                target=target,
            )
        artifacts = {"reference": ref_art} | ({"current": cur_art} if cur_art else {})
        return cls(
            model=loaded_model,
            reference=ref,
            current=cur,
            model_artifact=model_artifact,
            data_artifacts=artifacts,
            reference_source=ref_src,
            current_source=cur_src,
            **kwargs,
        )

    # -- derived views --------------------------------------------------------------------

    @property
    def feature_columns(self) -> list[str]:
        """The columns fed to the model (resolved at validation, never None)."""
        assert self.features is not None
        return self.features

    @property
    def categorical_columns(self) -> list[str]:
        """The feature columns treated as categories."""
        assert self.categorical is not None
        return self.categorical

    @property
    def is_classifier(self) -> bool:
        """True for binary and multi-class tasks."""
        return self.task in ("binary", "multiclass")

    def X(self, which: Literal["reference", "current"] = "reference") -> pd.DataFrame:
        """The model's input columns of the reference or current data (a new frame)."""
        frame = self.reference if which == "reference" else self.current
        if frame is None:
            raise DataError(f"{self.source}: the system has no {which} data")
        return frame[self.feature_columns]

    def with_settings(self, key: str, **values: Any) -> System:
        """A copy of this System with ``values`` set in the settings of question ``key``.

        Used for overrides such as the CLI's ``--engine`` (``with_settings("monitoring",
        engine="scipy")``); the probe validates the result when it reads its settings.
        """
        given: Any = self.settings.get(key) or {}
        current: dict[str, Any] = (
            asdict(given) if is_dataclass(given) and not isinstance(given, type) else dict(given)
        )
        merged = {**self.settings, key: {**current, **values}}
        return replace(self, settings=merged)

    def hook(self, name: str) -> Callable[..., Any]:
        """Import and return the hook function named ``name`` (e.g. "retrain").

        The module is imported as usual, or else from the spec file's folder, so a team can
        keep its hooks beside its spec (``hooks: {rollback: "ops_hooks:rollback"}`` with
        ``ops_hooks.py`` next to ``spec.yaml``). Raises :class:`SpecError` naming
        ``hooks.<name>`` when it is not defined, cannot be imported or is not callable.
        """
        spec = self.hooks.get(name)
        if spec is None:
            raise SpecError(
                f"no hook {quote(name)} is defined",
                source=self.source,
                field=f"hooks.{key_text(name)}",
                expected='"module:function"',
            )
        module_name, func_name = spec.split(":")
        try:
            func = getattr(_import_beside(module_name, self.source), func_name)
        except Exception as exc:  # a hook module that raises on import is the user's bug
            raise SpecError(
                f"cannot import {quote(spec)}: {first_line(str(exc))}",
                source=self.source,
                field=f"hooks.{key_text(name)}",
                expected="an importable module:function",
            ) from exc
        if not callable(func):
            raise SpecError(
                f"{quote(spec)} is not callable",
                source=self.source,
                field=f"hooks.{key_text(name)}",
                expected="a function",
            )
        return func  # type: ignore[no-any-return]

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description of the system for results.json and the report."""

        def art(a: Artifact | None) -> dict[str, str] | None:
            return (
                None
                if a is None
                else {"location": a.location, "sha256": a.sha256, "format": a.format}
            )

        return {
            "name": self.name,
            "task": self.task,
            "model_type": _model_type(self.model),
            "model": art(self.model_artifact),
            "data": {k: art(v) for k, v in self.data_artifacts.items()},
            "rows": {
                "reference": len(self.reference),
                "current": None if self.current is None else len(self.current),
            },
            "target": self.target,
            "features": self.feature_columns,
            "categorical": self.categorical_columns,
            "classes": [_jsonable(c) for c in getattr(self.model, "classes_", [])],
            "endpoint": None if self.endpoint is None else asdict(self.endpoint),
            "decision_log": None if self.decision_log is None else str(self.decision_log),
            "traffic": asdict(self.traffic),
            "registry": None
            if self.registry is None
            else {"uri": self.registry.uri, "model_name": self.registry.model_name},
            "hooks": dict(self.hooks),
            "id_column": self.id_column,
            "metadata": {f.name: getattr(self.metadata, f.name) for f in fields(Metadata)},
            "source": self.source,
        } | self._datasets()

    def _datasets(self) -> dict[str, Any]:
        """``{"datasets": ...}``: the Parquet datasets behind sampled frames (nothing when the
        data are in memory whole, so such descriptions are unchanged)."""
        sources = {"reference": self.reference_source, "current": self.current_source}
        if all(s is None for s in sources.values()):
            return {}
        return {"datasets": {k: None if s is None else s.describe() for k, s in sources.items()}}

    # -- validation -----------------------------------------------------------------------

    def _err(self, field_name: str, problem: str, expected: str = "") -> SpecError:
        return SpecError(problem, source=self.source, field=field_name, expected=expected)

    def _validate(self) -> None:
        if not hasattr(self.model, "predict"):
            raise self._err(
                "model",
                f"{_model_type(self.model)} has no predict method",
                "a fitted scikit-learn-compatible estimator or Pipeline",
            )
        for name in ("reference", "current"):
            frame = getattr(self, name)
            if frame is None:
                continue
            if not isinstance(frame, pd.DataFrame):
                raise self._err(
                    f"data.{name}", f"is a {type(frame).__name__}", "a pandas DataFrame"
                )
            if len(frame) == 0:
                raise DataError(f"{self.source}: data.{name}: the data has no rows")
        named = self._named_columns()  # before the features are resolved from the data
        self._resolve_features(named)
        self._check_target(named)
        self._resolve_task()
        self._check_id_column(named)
        self._check_traffic()
        from prodready.checklist import QUESTIONS

        keys = {q.key for q in QUESTIONS}
        for key in self.settings:
            if key not in keys:
                raise self._err(
                    key_text(key),
                    "is not the key of a checklist question",
                    "one of " + ", ".join(sorted(keys)),
                )
        for hook_name, spec in self.hooks.items():
            if not isinstance(spec, str) or not _HOOK_RE.match(spec):
                raise self._err(
                    f"hooks.{key_text(hook_name)}",
                    f"is {quote(spec)}",
                    '"module:function", e.g. "mypackage.train:retrain"',
                )

    def _check_traffic(self) -> None:
        column = self.traffic.timestamp
        if column is None or self.current is None:
            return  # without current data the load probe says so (NOT ASSESSED)
        if column not in self.current.columns:
            raise self._err(
                "traffic.timestamp",
                f"names {quote(column)}, which is not a column of the current data",
                "a column of the current data holding each decision's time",
            )

    def _named_columns(self) -> set[str]:
        """The columns the spec (or the caller) and the model name, not read from the data.

        A data file sharing none of them is not listed in messages (see _columns_listed).
        """
        model_features = getattr(self.model, "feature_names_in_", None)
        given = [*(self.features or []), *(self.categorical or [])]
        given += [] if model_features is None else list(model_features)
        given += [c for c in (self.target, self.id_column) if c is not None]
        return {str(c) for c in given}

    def _resolve_features(self, named: set[str]) -> None:
        columns = list(self.reference.columns)
        model_features = getattr(self.model, "feature_names_in_", None)
        given_categorical = self.categorical is not None
        if self.features is None:
            if model_features is not None:
                self.features = [str(c) for c in model_features]
            else:
                self.features = [c for c in columns if c != self.target]
        if not self.features:
            raise self._err("data.features", "no feature columns", "at least one column")
        for field_name, names in (
            ("data.features", self.features),
            ("data.categorical", self.categorical or []),
        ):
            twice = _repeated(names)
            if twice:
                raise self._err(field_name, f"lists {_names(twice)} twice", "each column once")
        if self.target is not None and self.target in self.features:
            raise self._err(
                "data.features",
                f"the target {quote(self.target)} is listed as a feature",
                "features and target to be different columns",
            )
        for name in ("reference", "current"):
            frame = getattr(self, name)
            if frame is None:
                continue
            missing = [c for c in self.features if c not in frame.columns]
            if missing:
                raise self._err(
                    "data.features",
                    f"column(s) {_names(missing)} not in the {name} data",
                    _columns_listed(frame, "columns among", named),
                )
        if model_features is not None and set(map(str, model_features)) != set(self.features):
            raise self._err(
                "data.features",
                f"the model was fitted on {_names(list(map(str, model_features)))}",
                "the same feature columns as the model",
            )
        if self.categorical is None:
            self.categorical = [c for c in self.features if _not_numbers(self.reference[c])]
        unknown = [c for c in self.categorical if c not in self.features]
        if unknown:
            raise self._err(
                "data.categorical",
                f"{_names(unknown)} are not feature columns",
                "a subset of the features",
            )
        if given_categorical:
            self._check_categorical()

    def _check_categorical(self) -> None:
        """A given ``categorical`` must list every feature that does not hold numbers.

        The drift tests compare the other columns as numbers (Kolmogorov-Smirnov), which
        text, true/false values or categories are not, in the reference or the current data.
        """
        listed = set(self.categorical_columns)
        for name in ("reference", "current"):
            frame = getattr(self, name)
            if frame is None:
                continue
            loose = [c for c in self.feature_columns if c not in listed and _not_numbers(frame[c])]
            if not loose:
                continue
            kinds = {_holds(frame[c]) for c in loose}
            what = kinds.pop() if len(kinds) == 1 else "values that are not numbers"
            where = "" if name == "reference" else " in the current data"
            problem = (
                f"{_names(loose)} holds {what}{where} but is not listed"
                if len(loose) == 1
                else f"{_names(loose)} hold {what}{where} but are not listed"
            )
            raise self._err(
                "data.categorical",
                problem,
                "every feature that does not hold numbers listed as categorical "
                "(the drift tests compare the others as numbers)",
            )

    def _check_id_column(self, named: set[str]) -> None:
        if self.id_column is None:
            return
        if self.id_column in self.feature_columns or self.id_column == self.target:
            raise self._err(
                "data.id",
                f"{quote(self.id_column)} is a feature or the target",
                "a column that only identifies rows",
            )
        for name in ("reference", "current"):
            frame = getattr(self, name)
            if frame is not None and self.id_column not in frame.columns:
                raise self._err(
                    "data.id",
                    f"column {quote(self.id_column)} is not in the {name} data",
                    _columns_listed(frame, "one of", named),
                )

    def _check_target(self, named: set[str]) -> None:
        if self.target is None:
            return
        if self.target not in self.reference.columns:
            raise self._err(
                "data.target",
                f"column {quote(self.target)} is not in the reference data",
                _columns_listed(self.reference, "one of", named),
            )
        if self.reference[self.target].isna().any():
            raise DataError(
                f"{self.source}: data.reference: the target column "
                f"{quote(self.target)} has missing values"
            )

    def _resolve_task(self) -> None:
        classes = getattr(self.model, "classes_", None)
        is_classifier = (
            classes is not None or getattr(self.model, "_estimator_type", "") == "classifier"
        )
        inferred: Task
        if is_classifier:
            inferred = "binary" if classes is not None and len(classes) == 2 else "multiclass"
        else:
            inferred = "regression"
        if self.task is None:
            self.task = inferred
        elif self.task not in ("binary", "multiclass", "regression"):
            raise self._err("task", f"is {quote(self.task)}", "binary, multiclass or regression")
        elif (self.task == "regression") != (inferred == "regression"):
            raise self._err(
                "task",
                f"is {quote(self.task)} but the model is a "
                f"{'classifier' if is_classifier else 'regressor'}",
                f"{inferred!r} for this model",
            )
        if self.task == "binary" and classes is not None and len(classes) != 2:
            raise self._err(
                "task", f"is 'binary' but the model has {len(classes)} classes", "'multiclass'"
            )
        if self.task == "multiclass" and classes is not None and len(classes) == 2:
            # Otherwise the metric silently becomes macro F1 instead of ROC AUC.
            raise self._err(
                "task", "is 'multiclass' but the model has 2 classes", "'binary' for this model"
            )
        if self.is_classifier and not hasattr(self.model, "predict_proba"):
            # Probes judge a classifier by its probabilities (ROC AUC, drift of the predicted
            # probability, SHAP on the probability): labels alone cannot be judged that way.
            raise self._err(
                "model",
                f"{_model_type(self.model)} is a classifier without predict_proba",
                "a classifier with predict_proba "
                "(wrap it in sklearn.calibration.CalibratedClassifierCV)",
            )
        if self.target is None:
            return
        if self.task == "binary":
            values = pd.unique(self.reference[self.target])
            if len(values) != 2:
                raise self._err(
                    "data.target",
                    f"column {quote(self.target)} has {len(values)} distinct values "
                    f"({_names([str(v) for v in values[:5]])})",
                    "exactly 2 for a binary classifier",
                )
        if self.task == "regression" and not pd.api.types.is_numeric_dtype(
            self.reference[self.target]
        ):
            raise self._err(
                "data.target",
                f"column {quote(self.target)} is not numeric",
                "numbers for a regression model",
            )
        if self.is_classifier and classes is not None:
            for name in ("reference", "current"):
                frame = getattr(self, name)
                if frame is None or self.target not in frame.columns:
                    continue
                labels = frame[self.target].dropna()
                unknown = sorted({str(v) for v in pd.unique(labels)} - {str(c) for c in classes})
                if unknown:
                    raise DataError(
                        f"{self.source}: data.{name}: target values {_names(unknown)} are not "
                        f"classes of the model ({_names([str(c) for c in classes])})"
                    )

    # -- display --------------------------------------------------------------------------

    def __repr__(self) -> str:
        """One line: name, task, model, features and rows (never the data frames)."""
        model = type(self.model).__name__
        steps = getattr(self.model, "steps", None)
        if isinstance(steps, list) and steps:
            model += "[" + " -> ".join(type(s).__name__ for _, s in steps) + "]"
        features = self.features or []
        current = "no current data" if self.current is None else f"current {len(self.current):,}"
        return (
            f"<System {quote(self.name, 60)}: {self.task} {model}, {len(features)} features "
            f"({len(self.categorical or [])} categorical), target {quote(self.target)}; rows: "
            f"reference {len(self.reference):,}, {current}>"
        )

    def _repr_html_(self) -> str:
        """A short card of the system for notebooks (:func:`prodready.views.system_card_html`)."""
        from prodready import views

        return views.system_card_html(self.describe())


# -- loading ------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_table(
    path: str | Path, *, field_name: str = "data", source: str = "<python>"
) -> tuple[pd.DataFrame, Artifact]:
    """Read a CSV (.csv, .csv.gz) or Parquet (.parquet, .pq) file into a DataFrame."""
    path = Path(path)
    shown = quote_path(path)
    _require_file(path, field_name, source, "a readable CSV or Parquet file")
    suffixes = "".join(path.suffixes[-2:]).lower()
    if path.suffix.lower() in (".parquet", ".pq"):
        kind = "Parquet"
    elif path.suffix.lower() == ".csv" or suffixes.endswith(".csv.gz"):
        kind = "CSV"
    else:
        raise SpecError(
            f"{quote(path.name)} has an unknown file type",
            source=source,
            field=field_name,
            expected="a .csv, .csv.gz, .parquet or .pq file",
        )
    if _size(path) == 0:
        raise DataError(f"{source}: {field_name}: {shown} is empty (0 bytes)")
    try:
        if kind == "Parquet":
            frame, fmt = pd.read_parquet(path), "parquet"
        else:
            frame, fmt = pd.read_csv(path), "csv"
    except OSError as exc:  # permissions, a file that vanished...
        raise DataError(
            f"{source}: {field_name}: cannot read {shown}: {exc.strerror or _library(exc, path)}"
        ) from exc
    except Exception as exc:  # the readers raise many types; all mean "not this format"
        raise DataError(
            f"{source}: {field_name}: {shown} is not a {kind} file "
            f"(the file may be corrupt or of another format): {_library(exc, path)}"
        ) from exc
    if len(frame) == 0:
        raise DataError(f"{source}: {field_name}: {shown} has no rows")
    return frame, Artifact(str(path), sha256_file(path), fmt)


def load_model(
    location: str | Path,
    *,
    format: ModelFormat | None = None,
    trusted: Sequence[str] = (),
    source: str = "<python>",
    field_name: str = "model.path",
) -> tuple[Any, Artifact]:
    """Load a fitted model and describe where it came from.

    Formats: ``skops`` (safe: no code runs; types outside scikit-learn must be listed in
    ``trusted`` after you reviewed them), ``joblib`` / ``pickle`` (loading runs arbitrary code
    from the file: only load files you trust), ``mlflow`` (an MLflow model URI or directory;
    needs ``prodready[mlflow]``). Without ``format`` it is taken from the file extension.
    ``field_name`` is the spec field that gave ``location``, for error messages.
    """
    text = str(location)
    path = Path(text)
    shown = quote_path(text)
    kind = file_kind(path)
    is_uri = re.match(r"^[a-z][a-z0-9+.-]*:/", text) is not None and kind == "missing"
    if format is None:
        if is_uri or (kind == "directory" and file_kind(path / "MLmodel") == "file"):
            format = "mlflow"
        elif kind == "directory":
            raise SpecError(
                f"{shown} is a directory without an MLmodel file",
                source=source,
                field=field_name,
                expected="a model file (.skops, .joblib, .pkl) or an MLflow model folder",
            )
        else:
            format = _MODEL_SUFFIXES.get(path.suffix.lower())
            if format is None:
                raise SpecError(
                    f"cannot tell the format of {shown}",
                    source=source,
                    field="model.format",
                    expected="skops, joblib, pickle or mlflow (or a .skops/.joblib/.pkl file)",
                )
    if format == "mlflow":
        return _load_mlflow(text, source, field_name)
    _require_file(path, field_name, source, "a model file")
    try:
        if format == "skops":
            model = _load_skops(path, trusted, source, field_name)
        else:
            import joblib  # joblib reads plain pickles too

            model = joblib.load(path)
    except (SpecError, ModelLoadError):
        raise
    except ImportError as exc:  # a valid file whose classes need a package not installed
        raise ModelLoadError(
            f"{source}: {field_name}: cannot load {shown}: it needs the Python module "
            f"{quote(exc.name or first_line(str(exc), 60))}, which cannot be imported here"
        ) from exc
    except Exception as exc:
        label = "skops" if format == "skops" else "joblib/pickle"
        if _looks_like(path, format):  # the right kind of file, but it does not load
            problem = (
                f"cannot load {shown} as {label} (saved by other library versions, or damaged)"
            )
        else:
            problem = (
                f"{shown} is not a {label} file (the file may be corrupt or of another format)"
            )
        raise ModelLoadError(f"{source}: {field_name}: {problem}: {_library(exc, path)}") from exc
    return model, Artifact(text, sha256_file(path), format)


def _load_skops(path: Path, trusted: Sequence[str], source: str, field_name: str) -> Any:
    import skops.io as sio

    untrusted = [t for t in sio.get_untrusted_types(file=path) if t not in set(trusted)]
    if untrusted:
        raise ModelLoadError(
            f"{source}: {field_name}: {quote(path.name)} contains types skops does not trust "
            f"by default: {_names(untrusted, width=160)}; "
            "review them and list them under model.trusted"
        )
    return sio.load(path, trusted=list(trusted) or None)


def _load_mlflow(uri: str, source: str, field_name: str) -> tuple[Any, Artifact]:
    try:
        import mlflow.sklearn
    except ImportError:
        raise MissingDependencyError(
            "mlflow", "mlflow", f"loading the MLflow model {quote_path(uri)}"
        ) from None
    try:
        model = mlflow.sklearn.load_model(uri)
    except Exception as exc:
        raise ModelLoadError(
            f"{source}: {field_name}: cannot load the MLflow model {quote_path(uri)}: "
            f"{_library(exc, uri)}"
        ) from exc
    digest = ""
    if file_kind(Path(uri)) == "directory":
        digest = _sha256_tree(Path(uri))
    return model, Artifact(uri, digest, "mlflow")


# Leading bytes of the files joblib writes: a pickle (protocol 2 to 5) or one of the
# compressed forms (zlib, gzip, bz2, xz, lzma, lz4).
_PICKLE_STARTS = (
    b"\x80\x02",
    b"\x80\x03",
    b"\x80\x04",
    b"\x80\x05",
    b"x",
    b"\x1f\x8b",
    b"BZh",
    b"\xfd7zXZ",
    b"]\x00\x00",
    b"\x04\x22\x4d\x18",
)


def _looks_like(path: Path, format: str) -> bool:
    """Whether the file starts as a file of ``format`` does (so it is not another format)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
    except OSError:
        return False
    if format == "skops":
        return head.startswith(b"PK\x03\x04")  # a zip archive
    return head.startswith(_PICKLE_STARTS)


def file_kind(path: Path) -> str:
    """``file``, ``directory``, ``missing`` or ``other`` (a device, a pipe, a socket)."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):  # no such file, a name too long, a NUL in it...
        return "missing"
    if stat.S_ISREG(mode):
        return "file"
    return "directory" if stat.S_ISDIR(mode) else "other"


def _require_file(path: Path, field_name: str, source: str, expected: str) -> None:
    """A SpecError unless ``path`` is a regular file: saying what it is instead."""
    kind = file_kind(path)
    if kind == "file":
        return
    problem = {
        "missing": f"file {quote_path(path)} does not exist",
        "directory": f"{quote_path(path)} is a directory",
    }.get(kind, f"{quote_path(path)} is not a regular file (a device, pipe or socket)")
    raise SpecError(problem, source=source, field=field_name, expected=expected)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def quote_path(path: str | Path, limit: int = 120) -> str:
    """A path quoted for a message: one line, and its end (the file name) kept if long."""
    text = str(path)
    if len(text) > limit:
        text = "…" + text[-(limit - 1) :]
    return repr(text)


def _library(exc: BaseException, path: str | Path | None = None) -> str:
    """A library's exception in a few words for the end of a message: its type, first line.

    The path of the file, which the message names already, is left out (``<file>``).
    """
    text = str(exc)
    if path is not None and str(path):
        text = text.replace(str(path), "<file>")
    text = first_line(text, 120)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _sha256_tree(root: Path) -> str:
    """A digest of a directory: the sha256 of its files' relative paths and digests."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(root).as_posix()}\0{sha256_file(path)}\n".encode())
    return digest.hexdigest()


# -- small helpers ------------------------------------------------------------------------


def _check(ok: bool, field_name: str, problem: str, expected: str) -> None:
    if not ok:
        raise SpecError(problem, field=field_name, expected=expected)


def _seconds(value: Any) -> bool:
    """A time limit: a finite number of seconds > 0 and at most a day (not a bool)."""
    return is_real(value) and math.isfinite(value) and 0 < value <= MAX_TIMEOUT_S


def _names(items: Sequence[Any], limit: int = 8, width: int = 40) -> str:
    """Names (of columns, classes, types) for a message: at most ``limit``, each quoted and
    cut to ``width`` characters."""
    shown = ", ".join(quote(str(i), width) for i in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _repeated(items: Sequence[Any]) -> list[Any]:
    """The items listed more than once, each once."""
    seen: set[Any] = set()
    twice: list[Any] = []
    for item in items:
        if item in seen and item not in twice:
            twice.append(item)
        seen.add(item)
    return twice


def _columns_listed(frame: pd.DataFrame, lead: str, named: set[str]) -> str:
    """``lead`` and the columns of ``frame``, for a message saying what was expected.

    Only their number when the frame shares no column with those the spec and the model
    name (``named``): it is then probably not the right file, maybe not data at all (a CSV
    reader takes any text file's first line for its header), and its content stays out of
    the message.
    """
    columns = [str(c) for c in frame.columns]
    if set(columns) & named:
        return f"{lead} {_names(columns)}"
    return (
        f"the data the model was built for (this file has {len(columns)} column(s), "
        "none of them named by the spec or the model: is it the right file?)"
    )


def _not_numbers(column: pd.Series) -> bool:
    """Whether a column holds something other than numbers (text, bools, categories...)."""
    return not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)


def _holds(column: pd.Series) -> str:
    """What a column that does not hold numbers holds, in words."""
    if pd.api.types.is_bool_dtype(column):
        return "true/false values"
    if isinstance(column.dtype, pd.CategoricalDtype):
        return "categories"
    if pd.api.types.is_datetime64_any_dtype(column) or pd.api.types.is_timedelta64_dtype(column):
        return "dates or times"
    if pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column):
        return "text"
    return f"{column.dtype} values"


def _model_type(model: Any) -> str:
    cls = type(model)
    name = f"{cls.__module__}.{cls.__qualname__}"
    steps = getattr(model, "steps", None)
    if steps:
        name += "[" + " -> ".join(type(s).__name__ for _, s in steps) + "]"
    return name


def _jsonable(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _import_beside(module_name: str, source: str) -> Any:
    """Import ``module_name``; if it is not found, look in the folder of the spec ``source``."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        folder = Path(source).parent
        top = module_name.split(".")[0]
        if exc.name != top or not source.endswith((".yaml", ".yml")) or not folder.is_dir():
            raise
    import sys

    # Imported once, under its own name; the spec's folder is on the path only meanwhile.
    sys.path.insert(0, str(folder))
    try:
        return importlib.import_module(module_name)
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(folder))
