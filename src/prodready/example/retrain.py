"""The bundled example's retraining, named in the production spec as ``hooks.retrain``.

What a team that retrains its model would plug in (the contract is in ``docs/retraining.md``):
a function that prodready's Q9 rehearsal (or the team's own trigger) calls with labelled data
and that produces a new model *candidate*:

1. fit the example's pipeline again on the data it is given, with the same recipe as the
   model in production (:func:`prodready.example.train.train_model`);
2. save it as the production model is saved: the ``.skops`` file behind
   :mod:`prodready.guard` as an MLflow pyfunc (:func:`prodready.guard.save_mlflow`), with an
   input schema learned from the data it was trained on, following the served alias (so
   that, once promoted, it serves and rolls back like version 1);
3. register it as a new version of the model and point the candidate alias at it.

It never touches the served alias (``champion``): promotion is for the approval workflow
(Q8), once the candidate has its signed approvals. Without a registry in the request it
returns the fitted model instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["retrain"]


def retrain(request: Any) -> dict[str, Any]:
    """Retrain on ``request.data``; the new registry version (or the model, with no registry).

    ``request`` is a :class:`prodready.probes.retraining.RetrainRequest` (read by attribute).
    """
    import skops.io

    from prodready.example import CATEGORICAL, FEATURES, FOLLOW_POLL_S, TRUSTED_TYPES
    from prodready.example.train import train_model
    from prodready.guard import InputSchema, RegistryAlias, save_mlflow

    data = request.data
    model = train_model(data, seed=int(request.seed))
    if request.registry_uri is None or request.model_name is None:
        return {"model": model, "notes": "no registry: the fitted model is returned"}
    from prodready._env import environ_set
    from prodready.adapters.registry import MLflowRegistry

    workdir = Path(request.workdir)
    model_file = workdir / "model.skops"
    skops.io.dump(model, model_file)
    folder = workdir / "model"
    with environ_set("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false"):
        save_mlflow(
            folder,
            model_path=model_file,
            trusted=TRUSTED_TYPES,
            schema=InputSchema.learn(data, FEATURES, CATEGORICAL),
            model_version=f"credit-risk retrained on {len(data):,} rows (candidate)",
            # Served like version 1: following the served alias once it is promoted.
            follow=RegistryAlias(request.model_name, request.serving_alias, FOLLOW_POLL_S),
        )
    registry = MLflowRegistry(request.registry_uri)
    version = registry.register(
        request.model_name,
        folder,
        tags={"prodready.retrained": str(request.reason)[:500], "prodready.stage": "candidate"},
    )
    registry.set_alias(request.model_name, request.candidate_alias, version.version)
    return {"version": version.version, "notes": f"trained on {len(data):,} rows"}
