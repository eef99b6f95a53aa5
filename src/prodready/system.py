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

import hashlib
import importlib
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from prodready._exceptions import (
    DataError,
    MissingDependencyError,
    ModelLoadError,
    SpecError,
)

__all__ = [
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


@dataclass(frozen=True)
class Artifact:
    """A file (or URI) the assessment used, with its sha256 digest for the audit trail."""

    location: str
    sha256: str = ""
    format: str = ""


@dataclass(frozen=True)
class Endpoint:
    """An HTTP model server speaking MLflow's ``/invocations`` protocol."""

    url: str
    protocol: Literal["mlflow"] = "mlflow"
    timeout_s: float = 5.0

    def __post_init__(self) -> None:
        _check(self.protocol == "mlflow", "endpoint.protocol", f"is {self.protocol!r}", "mlflow")
        _check(
            self.timeout_s > 0,
            "endpoint.timeout_s",
            f"is {self.timeout_s}",
            "a number of seconds > 0",
        )


@dataclass(frozen=True)
class Registry:
    """A model registry (MLflow tracking URI, e.g. ``sqlite:///mlflow.db``) and model name."""

    uri: str
    model_name: str


@dataclass(frozen=True)
class Metadata:
    """Model-card facts a person supplies: who owns the model and what it is for."""

    owner: str = ""
    intended_use: str = ""
    description: str = ""
    limitations: str = ""
    contact: str = ""


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
        _check(
            self.probe_timeout_s > 0,
            "policy.probe_timeout_s",
            f"is {self.probe_timeout_s}",
            "a number of seconds > 0",
        )
        _check(
            0 <= self.min_score <= 1,
            "policy.min_score",
            f"is {self.min_score}",
            "a number between 0 and 1",
        )
        _check(
            self.gate in ("blocking", "advisory"),
            "policy.gate",
            f"is {self.gate!r}",
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
    registry: Registry | None = None
    hooks: dict[str, str] = field(default_factory=dict)
    policy: Policy = field(default_factory=Policy)
    settings: dict[str, Any] = field(default_factory=dict)
    id_column: str | None = None
    metadata: Metadata = field(default_factory=Metadata)
    model_artifact: Artifact | None = None
    data_artifacts: dict[str, Artifact] = field(default_factory=dict)
    source: str = "<python>"

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
        **kwargs: Any,
    ) -> System:
        """Load the model and data files and build a validated System.

        ``model`` is a path (.skops, .joblib, .pkl) or an MLflow model URI ("models:/name/1",
        "runs:/...", or a directory holding an MLmodel file). ``trusted`` lists extra types
        a .skops file may contain (see :func:`load_model`). Other keyword arguments go to
        :class:`System`.
        """
        source = str(kwargs.get("source", "<python>"))
        loaded_model, model_artifact = load_model(
            model, format=model_format, trusted=trusted, source=source
        )
        ref, ref_art = load_table(reference, field_name="data.reference", source=source)
        cur, cur_art = (None, None)
        if current is not None:
            cur, cur_art = load_table(current, field_name="data.current", source=source)
        artifacts = {"reference": ref_art} | ({"current": cur_art} if cur_art else {})
        return cls(
            model=loaded_model,
            reference=ref,
            current=cur,
            model_artifact=model_artifact,
            data_artifacts=artifacts,
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
        """Import and return the hook function named ``name`` (e.g. "retrain")."""
        spec = self.hooks.get(name)
        if spec is None:
            raise SpecError(
                f"no hook {name!r} is defined",
                source=self.source,
                field=f"hooks.{name}",
                expected='"module:function"',
            )
        module_name, func_name = spec.split(":")
        try:
            func = getattr(importlib.import_module(module_name), func_name)
        except (ImportError, AttributeError) as exc:
            raise SpecError(
                f"cannot import {spec!r}: {exc}",
                source=self.source,
                field=f"hooks.{name}",
                expected="an importable module:function",
            ) from exc
        if not callable(func):
            raise SpecError(
                f"{spec!r} is not callable",
                source=self.source,
                field=f"hooks.{name}",
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
            "endpoint": None if self.endpoint is None else self.endpoint.url,
            "registry": None
            if self.registry is None
            else {"uri": self.registry.uri, "model_name": self.registry.model_name},
            "hooks": dict(self.hooks),
            "id_column": self.id_column,
            "metadata": {f.name: getattr(self.metadata, f.name) for f in fields(Metadata)},
            "source": self.source,
        }

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
        self._resolve_features()
        self._check_target()
        self._resolve_task()
        self._check_id_column()
        from prodready.checklist import QUESTIONS

        keys = {q.key for q in QUESTIONS}
        for key in self.settings:
            if key not in keys:
                raise self._err(
                    str(key)[:80],
                    "is not the key of a checklist question",
                    "one of " + ", ".join(sorted(keys)),
                )
        for hook_name, spec in self.hooks.items():
            if not isinstance(spec, str) or not _HOOK_RE.match(spec):
                raise self._err(
                    f"hooks.{hook_name}",
                    f"is {spec!r}",
                    '"module:function", e.g. "mypackage.train:retrain"',
                )

    def _resolve_features(self) -> None:
        columns = list(self.reference.columns)
        model_features = getattr(self.model, "feature_names_in_", None)
        if self.features is None:
            if model_features is not None:
                self.features = [str(c) for c in model_features]
            else:
                self.features = [c for c in columns if c != self.target]
        if not self.features:
            raise self._err("data.features", "no feature columns", "at least one column")
        if self.target is not None and self.target in self.features:
            raise self._err(
                "data.features",
                f"the target {self.target!r} is listed as a feature",
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
                    f"columns among {_names(list(frame.columns))}",
                )
        if model_features is not None and set(map(str, model_features)) != set(self.features):
            raise self._err(
                "data.features",
                f"the model was fitted on {_names(list(map(str, model_features)))}",
                "the same feature columns as the model",
            )
        if self.categorical is None:
            self.categorical = [
                c
                for c in self.features
                if not pd.api.types.is_numeric_dtype(self.reference[c])
                or pd.api.types.is_bool_dtype(self.reference[c])
            ]
        unknown = [c for c in self.categorical if c not in self.features]
        if unknown:
            raise self._err(
                "data.categorical",
                f"{_names(unknown)} are not feature columns",
                "a subset of the features",
            )

    def _check_id_column(self) -> None:
        if self.id_column is None:
            return
        if self.id_column in self.feature_columns or self.id_column == self.target:
            raise self._err(
                "data.id",
                f"{self.id_column!r} is a feature or the target",
                "a column that only identifies rows",
            )
        for name in ("reference", "current"):
            frame = getattr(self, name)
            if frame is not None and self.id_column not in frame.columns:
                raise self._err(
                    "data.id",
                    f"column {self.id_column!r} is not in the {name} data",
                    f"one of {_names(list(frame.columns))}",
                )

    def _check_target(self) -> None:
        if self.target is None:
            return
        if self.target not in self.reference.columns:
            raise self._err(
                "data.target",
                f"column {self.target!r} is not in the reference data",
                f"one of {_names(list(self.reference.columns))}",
            )
        if self.reference[self.target].isna().any():
            raise DataError(
                f"{self.source}: data.reference: the target column "
                f"{self.target!r} has missing values"
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
            raise self._err("task", f"is {self.task!r}", "binary, multiclass or regression")
        elif (self.task == "regression") != (inferred == "regression"):
            raise self._err(
                "task",
                f"is {self.task!r} but the model is a "
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
        if self.target is None:
            return
        if self.task == "binary":
            values = pd.unique(self.reference[self.target])
            if len(values) != 2:
                raise self._err(
                    "data.target",
                    f"column {self.target!r} has {len(values)} distinct values "
                    f"({_names([str(v) for v in values[:5]])})",
                    "exactly 2 for a binary classifier",
                )
        if self.task == "regression" and not pd.api.types.is_numeric_dtype(
            self.reference[self.target]
        ):
            raise self._err(
                "data.target",
                f"column {self.target!r} is not numeric",
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
    if not path.is_file():
        raise SpecError(
            f"file {str(path)!r} does not exist",
            source=source,
            field=field_name,
            expected="a readable CSV or Parquet file",
        )
    suffixes = "".join(path.suffixes[-2:]).lower()
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame, fmt = pd.read_parquet(path), "parquet"
        elif path.suffix.lower() == ".csv" or suffixes.endswith(".csv.gz"):
            frame, fmt = pd.read_csv(path), "csv"
        else:
            raise SpecError(
                f"{path.name!r} has an unknown file type",
                source=source,
                field=field_name,
                expected="a .csv, .csv.gz, .parquet or .pq file",
            )
    except SpecError:
        raise
    except Exception as exc:  # the readers raise many types; all mean "cannot read this file"
        raise DataError(
            f"{source}: {field_name}: cannot read {str(path)!r}: {type(exc).__name__}: {exc}"
        ) from exc
    if len(frame) == 0:
        raise DataError(f"{source}: {field_name}: {str(path)!r} has no rows")
    return frame, Artifact(str(path), sha256_file(path), fmt)


def load_model(
    location: str | Path,
    *,
    format: ModelFormat | None = None,
    trusted: Sequence[str] = (),
    source: str = "<python>",
) -> tuple[Any, Artifact]:
    """Load a fitted model and describe where it came from.

    Formats: ``skops`` (safe: no code runs; types outside scikit-learn must be listed in
    ``trusted`` after you reviewed them), ``joblib`` / ``pickle`` (loading runs arbitrary code
    from the file: only load files you trust), ``mlflow`` (an MLflow model URI or directory;
    needs ``prodready[mlflow]``). Without ``format`` it is taken from the file extension.
    """
    text = str(location)
    is_uri = re.match(r"^[a-z][a-z0-9+.-]*:/", text) is not None and not Path(text).exists()
    path = Path(text)
    if format is None:
        if is_uri or (path.is_dir() and (path / "MLmodel").is_file()):
            format = "mlflow"
        else:
            format = _MODEL_SUFFIXES.get(path.suffix.lower())
            if format is None:
                raise SpecError(
                    f"cannot tell the format of {text!r}",
                    source=source,
                    field="model.format",
                    expected="skops, joblib, pickle or mlflow (or a .skops/.joblib/.pkl file)",
                )
    if format == "mlflow":
        return _load_mlflow(text, source)
    if not path.is_file():
        raise SpecError(
            f"file {text!r} does not exist",
            source=source,
            field="model.path",
            expected="a model file",
        )
    try:
        if format == "skops":
            model = _load_skops(path, trusted, source)
        else:
            import joblib  # joblib reads plain pickles too

            model = joblib.load(path)
    except (SpecError, ModelLoadError):
        raise
    except Exception as exc:
        raise ModelLoadError(
            f"{source}: model: cannot load {text!r} as {format}: {type(exc).__name__}: {exc}"
        ) from exc
    return model, Artifact(text, sha256_file(path), format)


def _load_skops(path: Path, trusted: Sequence[str], source: str) -> Any:
    import skops.io as sio

    untrusted = [t for t in sio.get_untrusted_types(file=path) if t not in set(trusted)]
    if untrusted:
        raise ModelLoadError(
            f"{source}: model: {path.name} contains types skops does not trust by default: "
            f"{_names(untrusted)}; review them and list them under model.trusted"
        )
    return sio.load(path, trusted=list(trusted) or None)


def _load_mlflow(uri: str, source: str) -> tuple[Any, Artifact]:
    try:
        import mlflow.sklearn
    except ImportError:
        raise MissingDependencyError(
            "mlflow", "mlflow", f"loading the MLflow model {uri!r}"
        ) from None
    try:
        model = mlflow.sklearn.load_model(uri)
    except Exception as exc:
        raise ModelLoadError(
            f"{source}: model: cannot load MLflow model {uri!r}: {type(exc).__name__}: {exc}"
        ) from exc
    digest = ""
    if Path(uri).is_dir():
        digest = _sha256_tree(Path(uri))
    return model, Artifact(uri, digest, "mlflow")


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


def _names(items: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(repr(str(i)) for i in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _model_type(model: Any) -> str:
    cls = type(model)
    name = f"{cls.__module__}.{cls.__qualname__}"
    steps = getattr(model, "steps", None)
    if steps:
        name += "[" + " -> ".join(type(s).__name__ for _, s in steps) + "]"
    return name


def _jsonable(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
