"""Half 1: how much unexpected data production already sends.

The current window is checked against the input schema learned from the reference data
(:class:`prodready.guard.InputSchema`: the same rules a guard enforces, so "unexpected" here
is exactly what a guard would refuse): per feature, missing values in both windows (new
missingness), categories the reference never had and their share, numbers outside the
range the schema accepts (the reference's, widened: drift is not invalid data), values of
the wrong type or infinite. And the model scores the current
window (:func:`prodready.probes.score_model`): rows it raises on, or answers NaN for, are
the system failing on its own production data.
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from prodready.guard import InputSchema
from prodready.probes._base import ProbeContext
from prodready.probes._scoring import Failure, Method, Scoring, score_model
from prodready.probes.graceful_failure._settings import GracefulFailureSettings
from prodready.results import Check, Status
from prodready.system import System

__all__ = ["ColumnData", "CurrentData", "current_checks", "measure_current", "pct"]

#: The name an in-process guard's refusal has in a scoring failure ("InputRejected: ...").
_REFUSAL = "InputRejected"
#: Rules of the schema, grouped as the report counts them.
_WRONG_TYPE = ("wrong_type", "not_finite")
_EXAMPLES = 3


@dataclass
class ColumnData:
    """One feature in the current window against the reference schema.

    Shares are of the current rows: ``missing_reference`` and ``missing_current`` the share
    of rows without a value; ``unseen`` with a category the reference never had (the most
    frequent in ``unseen_examples``, as (value, rows)); ``out_of_range`` with a number
    outside the range the schema accepts (the reference's, widened by its tolerance);
    ``wrong_type`` with a value of the wrong type or infinite.
    """

    name: str
    kind: str
    missing_reference: float
    missing_current: float
    unseen: float = 0.0
    unseen_examples: list[tuple[str, int]] = field(default_factory=list)
    out_of_range: float = 0.0
    wrong_type: float = 0.0

    @property
    def missing_rise(self) -> float:
        """How much the share of missing values rose from reference to current."""
        return self.missing_current - self.missing_reference


@dataclass
class CurrentData:
    """What half 1 measured on the current window.

    ``rows`` current rows; ``unexpected_rows`` rows breaking any rule of the schema, and per
    group of rules ``unseen_rows``, ``out_of_range_rows``, ``wrong_type_rows``; ``scoring``
    the model's scoring of the window, whose failures are split into ``crashes`` (the model
    raised or gave no usable output) and ``refusals`` (a guard refused the rows with its
    own error: rows the system declines, not failures).
    """

    rows: int
    columns: list[ColumnData]
    unexpected_rows: int
    unseen_rows: int
    out_of_range_rows: int
    wrong_type_rows: int
    scoring: Scoring
    crashes: list[Failure]
    refusals: list[Failure]

    @property
    def crashed_rows(self) -> int:
        """Current rows the model raised on or gave no usable output for."""
        return sum(f.rows for f in self.crashes)

    @property
    def refused_rows(self) -> int:
        """Current rows the system refused with its own error."""
        return sum(f.rows for f in self.refusals)

    def share(self, rows: int) -> float:
        """``rows`` as a share of the current rows."""
        return rows / self.rows if self.rows else 0.0


def measure_current(
    system: System, settings: GracefulFailureSettings, context: ProbeContext
) -> CurrentData:
    """Check ``system.current`` against the reference schema and score it with the model."""
    features, categorical = system.feature_columns, system.categorical_columns
    ref_x, cur_x = system.X("reference"), system.X("current")
    schema = InputSchema.learn(system.reference, features, categorical)
    context.check_deadline()
    by_rule: dict[tuple[str, str], set[int]] = {}
    unseen_values: dict[str, Counter[str]] = {}
    for v in schema.violations(cur_x):
        column = v.column or ""
        by_rule.setdefault((column, v.rule), set()).add(v.row)
        if v.rule == "unseen_category":
            unseen_values.setdefault(column, Counter())[str(v.value)] += 1
    context.check_deadline()
    n = len(cur_x)

    def rows_of(rules: tuple[str, ...], column: str | None = None) -> set[int]:
        found: set[int] = set()
        for (col, rule), rows in by_rule.items():
            if rule in rules and (column is None or col == column):
                found |= rows
        return found

    columns = []
    for name in features:
        columns.append(
            ColumnData(
                name=name,
                kind="categorical" if name in categorical else "numeric",
                missing_reference=float(ref_x[name].isna().mean()),
                missing_current=float(cur_x[name].isna().mean()),
                unseen=len(rows_of(("unseen_category",), name)) / n,
                unseen_examples=unseen_values.get(name, Counter()).most_common(_EXAMPLES),
                out_of_range=len(rows_of(("out_of_range",), name)) / n,
                wrong_type=len(rows_of(_WRONG_TYPE, name)) / n,
            )
        )
    everything = set().union(*by_rule.values()) if by_rule else set()
    context.report("scoring the current window")
    method: Method = (
        "predict_proba"
        if system.is_classifier and hasattr(system.model, "predict_proba")
        else "predict"
    )
    scoring = score_model(_unlogged(system.model), cur_x, method, context=context)
    refusals = [f for f in scoring.failures if f.error.startswith(_REFUSAL)]
    crashes = [f for f in scoring.failures if not f.error.startswith(_REFUSAL)]
    return CurrentData(
        rows=n,
        columns=columns,
        unexpected_rows=len(everything),
        unseen_rows=len(rows_of(("unseen_category",))),
        out_of_range_rows=len(rows_of(("out_of_range",))),
        wrong_type_rows=len(rows_of(_WRONG_TYPE)),
        scoring=scoring,
        crashes=crashes,
        refusals=refusals,
    )


def _unlogged(model: Any) -> Any:
    """``model``, or for a guard with a decision log a copy that logs nothing.

    Scoring the current window is a measurement, not decisions: it must not write thousands
    of lines into the system's own decision log (a probe never changes the system).
    """
    if callable(getattr(model, "decide", None)) and getattr(model, "decision_log", None):
        model = copy.copy(model)
        model.decision_log = None
    return model


def pct(share: float) -> str:
    """A share as a percentage a reader can compare: small shares keep their digits."""
    if share == 0:
        return "0%"
    return f"{share:.1%}" if share >= 0.001 else f"{share:.3%}"


def _listed(items: list[str], limit: int = 4) -> str:
    more = len(items) - limit
    return "; ".join(items[:limit]) + (f" and {more} more" if more > 0 else "")


def current_checks(data: CurrentData, settings: GracefulFailureSettings) -> list[Check]:
    """The checks of half 1: unexpected data WARNs above its limits, crashes FAIL."""
    return [
        _missing_check(data, settings.max_new_missing),
        _share_check(
            "unseen categories in production",
            data.share(data.unseen_rows),
            settings.max_unseen_share,
            [
                f"{c.name} {pct(c.unseen)} ("
                + ", ".join(repr(v[:40]) for v, _ in c.unseen_examples)
                + ")"
                for c in data.columns
                if c.unseen > 0
            ],
            "categories the reference never had",
        ),
        _share_check(
            "values outside the accepted range",
            data.share(data.out_of_range_rows),
            settings.max_out_of_range_share,
            [f"{c.name} {pct(c.out_of_range)}" for c in data.columns if c.out_of_range > 0],
            "numbers outside the range the schema accepts (the reference's, widened)",
        ),
        _share_check(
            "wrong types in production",
            data.share(data.wrong_type_rows),
            settings.max_wrong_type_share,
            [f"{c.name} {pct(c.wrong_type)}" for c in data.columns if c.wrong_type > 0],
            "values of the wrong type or infinite",
        ),
        _unscorable_check(data, settings.max_unscorable_share),
    ]


def _missing_check(data: CurrentData, limit: float) -> Check:
    rising = [c for c in data.columns if c.missing_rise > limit]
    new = [c for c in data.columns if c.missing_reference == 0 and c.missing_current > 0]
    worst = max((c.missing_rise for c in data.columns), default=0.0)

    def said(c: ColumnData) -> str:
        return (
            f"{c.name} missing in {pct(c.missing_current)} of current rows "
            f"({pct(c.missing_reference)} in the reference)"
        )

    if rising:
        status, message = (
            Status.WARN,
            "More missing values in production: " + _listed([said(c) for c in rising]) + ".",
        )
    elif new:
        status = Status.PASS
        message = (
            "Missing values new in production, within the limit: "
            + _listed([said(c) for c in new])
            + "."
        )
    else:
        status, message = Status.PASS, "No feature has new missing values in production."
    return Check(
        name="new missing values in production",
        status=status,
        measured=round(worst, 6),
        threshold=f"rise of a feature's missing share <= {limit:g}",
        message=message,
    )


def _share_check(name: str, share: float, limit: float, details: list[str], what: str) -> Check:
    if share > limit:
        status, message = (
            Status.WARN,
            f"{pct(share)} of current rows have {what}: {_listed(details)}.",
        )
    elif share > 0:
        status, message = (
            Status.PASS,
            f"{pct(share)} of current rows have {what}, within the limit: {_listed(details)}.",
        )
    else:
        status, message = Status.PASS, f"No current row has {what}."
    return Check(
        name=name,
        status=status,
        measured=round(share, 6),
        threshold=f"share of current rows <= {limit:g}",
        message=message,
    )


def _unscorable_check(data: CurrentData, limit: float) -> Check:
    crashed = data.crashed_rows
    bound = "" if data.scoring.exact else "up to "
    causes = sorted({f.cause for f in data.crashes if f.cause})
    refused = (
        f" The system refused {data.refused_rows:,} rows with its own error (its guard)."
        if data.refused_rows
        else ""
    )
    if crashed:
        message = (
            f"The model failed on {bound}{crashed:,} of {data.rows:,} current rows "
            f"({pct(data.share(crashed))})"
            + (f": {_listed(causes, 3)}" if causes else " (what it raised is in the evidence)")
            + "."
        )
    else:
        message = f"The model scored every current row it was given ({data.rows:,})."
    return Check(
        name="current rows the model cannot score",
        status=Status.FAIL if data.share(crashed) > limit else Status.PASS,
        measured=crashed,
        threshold=f"share of current rows the model raises on or answers NaN for <= {limit:g}",
        message=message + refused,
    )
