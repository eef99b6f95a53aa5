"""The rehearsal's own candidate: the served model, with its answers nudged.

A rollback rehearsal needs a candidate the endpoint can tell from the original: a new
version number alone proves that an alias moved, not that the original's answers came back.
So, when the spec names no candidate, prodready registers a copy of the served version whose
answers are moved a little (class probabilities ``p`` become ``(1 - e) p + e / k``: still
probabilities, same ranking; other numbers move by ``e``; labels and text stay). Its
artifact, hence its digest, differs from the original's, and so do its answers on the
canary set.

Two shapes of copy, so that the candidate is served the way the original is:

- a :mod:`prodready.guard` pyfunc (the production example): the same folder, its ``.skops``
  model replaced by a :class:`NudgedEstimator` around the original model, and that type
  added to the folder's trusted types; a server that follows a registry alias loads it like
  any guarded version;
- any other MLflow model: an MLflow pyfunc (:mod:`._nudged_pyfunc`) that loads the original
  folder and nudges what it answers.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

__all__ = ["NUDGED_TYPE", "NudgedEstimator", "nudge", "save_candidate"]

#: The type name of :class:`NudgedEstimator`, as skops lists it among a file's types.
NUDGED_TYPE = "prodready.probes.rollback._candidate.NudgedEstimator"
#: Attributes of a fitted estimator that a guard (and scikit-learn) reads, copied over.
_ESTIMATOR_ATTRIBUTES = ("classes_", "feature_names_in_", "n_features_in_", "_estimator_type")


def nudge(outputs: Any, e: float) -> Any:
    """``outputs`` moved by ``e`` (see the module docstring); never mutates its argument."""
    if isinstance(outputs, pd.DataFrame):
        frame = outputs.copy()
        proba = [c for c in frame.columns if str(c).startswith("proba_")]
        if proba:
            frame[proba] = frame[proba].astype(float) * (1 - e) + e / len(proba)
        else:
            numbers = [c for c in frame.columns if pd.api.types.is_float_dtype(frame[c])]
            frame[numbers] = frame[numbers] + e
        return frame
    if isinstance(outputs, pd.Series):
        return outputs + e if pd.api.types.is_float_dtype(outputs) else outputs.copy()
    array = np.asarray(outputs)
    if not np.issubdtype(array.dtype, np.floating):
        return array.copy()
    if array.ndim == 2 and array.shape[1] > 1:
        return array * (1 - e) + e / array.shape[1]
    return array + e


class NudgedEstimator:
    """A fitted estimator whose answers are those of ``model`` nudged by ``e``.

    Looks like the model to a guard: the same ``classes_``, ``feature_names_in_``...;
    ``predict_proba`` is nudged, ``predict`` too for a regressor (a classifier's labels are
    unchanged: nudging towards the uniform distribution keeps each row's most likely class).
    Saved with skops, whose loader must be told to trust :data:`NUDGED_TYPE`.
    """

    def __init__(self, model: Any, e: float) -> None:
        self.model = model
        self.e = float(e)
        for name in _ESTIMATOR_ATTRIBUTES:
            if hasattr(model, name):
                setattr(self, name, getattr(model, name))

    def predict_proba(self, frame: Any) -> Any:
        return nudge(self.model.predict_proba(frame), self.e)

    def predict(self, frame: Any) -> Any:
        answers = self.model.predict(frame)
        return answers if hasattr(self, "classes_") else nudge(answers, self.e)


def _pyfunc_artifacts(folder: Path) -> dict[str, Path]:
    """The python_function artifacts named in ``folder/MLmodel`` (empty when there are none)."""
    try:
        spec = yaml.safe_load((folder / "MLmodel").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}
    flavors = spec.get("flavors") if isinstance(spec, dict) else None
    pyfunc = (flavors or {}).get("python_function") or {}
    artifacts = pyfunc.get("artifacts") or {}
    return {
        str(key): folder / str(entry.get("path", ""))
        for key, entry in artifacts.items()
        if isinstance(entry, dict)
    }


def save_candidate(original: Path, target: Path, e: float) -> Path:
    """Save the nudged copy of the MLflow model folder ``original`` as ``target``."""
    artifacts = _pyfunc_artifacts(original)
    if {"guard", "model", "schema"} <= artifacts.keys():
        return _guard_candidate(original, target, artifacts, e)
    from prodready.probes.rollback._nudged_pyfunc import save_nudged_pyfunc

    return save_nudged_pyfunc(original, target, e)


def _guard_candidate(original: Path, target: Path, artifacts: dict[str, Path], e: float) -> Path:
    """The guarded folder copied, its model wrapped in a :class:`NudgedEstimator`."""
    import skops.io as sio

    from prodready.guard._pyfunc import load_skops

    shutil.copytree(original, target)
    guard_file = target / artifacts["guard"].relative_to(original)
    model_file = target / artifacts["model"].relative_to(original)
    config = json.loads(guard_file.read_text(encoding="utf-8"))
    trusted = list(config.get("trusted") or [])
    model = load_skops(model_file, trusted)
    sio.dump(NudgedEstimator(model, e), model_file)
    config["trusted"] = sorted({*trusted, NUDGED_TYPE})
    guard_file.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return target
