"""The settings of the self-retraining probe: :class:`RetrainingSettings`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from prodready._settings import require

#: The metrics a trigger may watch; every one is "higher is better".
Metric = Literal["roc_auc", "accuracy", "macro_f1", "r2"]
#: Which metrics fit which task.
METRICS_FOR: dict[str, tuple[str, ...]] = {
    "binary": ("roc_auc", "accuracy", "macro_f1"),
    "multiclass": ("macro_f1", "accuracy"),
    "regression": ("r2",),
}
_ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$")


@dataclass(frozen=True)
class RetrainingSettings:
    """Settings of the self-retraining probe (the spec's ``retraining:`` section).

    The system's trigger, as the team configured it: retrain when ``metric`` on the last
    ``window`` labelled decisions falls below ``threshold``.

    - ``metric``: roc_auc (binary), accuracy (classification), macro_f1 (classification) or
      r2 (regression); by default the task's main metric (ROC AUC, macro F1, R²), as Q3.
    - ``threshold``: the value below which the system retrains. Required: without it the
      trigger is not defined and the question is NOT ASSESSED naming it.
    - ``window``: labelled decisions the trigger judges at a time (rows).

    The rehearsal (see :mod:`prodready.probes.retraining`):

    - ``training_rows``: rows of shifted, labelled data handed to the retrain hook (a
      sample of the reference: the example's 100,000 rows would make the rehearsal slow);
    - ``min_recovery``: share of the metric the shift took away that the new model must win
      back on shifted data it never saw (0.8: 80% of the drop), besides clearing the
      threshold;
    - ``max_regression``: how much lower than the serving model's the new model's metric
      may be on old data where the concept did not change;
    - ``timeout_s``: the longest retraining may take (the hook's wall time);
    - ``candidate_alias``: the registry alias a retrained model must carry (a candidate
      awaiting approval); ``serving_alias``: the alias production serves, which retraining
      must not move (promotion is the approval workflow's job, Q8).
    """

    metric: Metric | None = None
    threshold: float | None = None
    window: int = 5000
    training_rows: int = 20_000
    min_recovery: float = 0.8
    max_regression: float = 0.02
    timeout_s: float = 300.0
    candidate_alias: str = "candidate"
    serving_alias: str = "champion"

    def __post_init__(self) -> None:
        require(
            self.metric is None or self.metric in ("roc_auc", "accuracy", "macro_f1", "r2"),
            "metric",
            f"is {self.metric!r}",
            "roc_auc, accuracy, macro_f1 or r2",
        )
        for name, value, low, high in (
            ("window", self.window, 50, 1_000_000),
            ("training_rows", self.training_rows, 100, 10_000_000),
        ):
            require(low <= value <= high, name, f"is {value}", f"an integer from {low} to {high:,}")
        require(
            self.threshold is None or -1e6 <= self.threshold <= 1,
            "threshold",
            f"is {self.threshold}",
            "a metric value at most 1",
        )
        require(
            0 < self.min_recovery <= 1,
            "min_recovery",
            f"is {self.min_recovery}",
            "a share > 0 and at most 1",
        )
        require(
            0 <= self.max_regression <= 1,
            "max_regression",
            f"is {self.max_regression}",
            "a metric difference between 0 and 1",
        )
        require(
            0 < self.timeout_s <= 86_400,
            "timeout_s",
            f"is {self.timeout_s}",
            "a number of seconds > 0 and at most 86,400",
        )
        for name, alias in (
            ("candidate_alias", self.candidate_alias),
            ("serving_alias", self.serving_alias),
        ):
            require(
                bool(_ALIAS.match(alias)),
                name,
                f"is {alias!r}",
                "a registry alias: letters, digits, _ or -, starting with a letter or _",
            )
        require(
            self.candidate_alias != self.serving_alias,
            "candidate_alias",
            f"is the serving alias {self.serving_alias!r}",
            "another alias than the one production serves",
        )
