"""The :class:`GracefulFailureProbe`: half 1 (production's unexpected data), half 2 (the
battery sent to the system), the judgement and the finding.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

from prodready.adapters import connect
from prodready.probes._base import Probe, ProbeContext
from prodready.probes._scoring import _upper_first
from prodready.probes.graceful_failure._battery import Battery, build_battery
from prodready.probes.graceful_failure._classify import (
    Result,
    battery_checks,
    classify,
    counts,
    names,
)
from prodready.probes.graceful_failure._data import (
    CurrentData,
    current_checks,
    measure_current,
    pct,
)
from prodready.probes.graceful_failure._evidence import (
    cases_table,
    current_table,
    failures_table,
)
from prodready.probes.graceful_failure._settings import GracefulFailureSettings
from prodready.results import Check, Evidence, Finding, Status
from prodready.system import System

#: The part of the question left unassessed without current data, as the finding lists it.
NO_CURRENT = (
    "how much unexpected data production sends: no current data (set data.current in the "
    "spec to check a recent production window against the reference schema)"
)
_GUARD = (
    "Put the model behind prodready.guard: learn the input schema from the reference "
    "(prodready.guard.InputSchema.learn(reference, features, categorical)) and wrap the model "
    'in prodready.guard.Guard(model, schema, on_invalid="reject"), which refuses an invalid '
    "row with an error naming its row, column and rule (HTTP 400 once served from "
    'prodready.guard.save_mlflow), or on_invalid="safe_default" to answer it with a declared '
    "safe default, logged."
)


class GracefulFailureProbe(Probe):
    """Unexpected data: how much production sends, and what the system does with it."""

    question = "Q2"
    settings_class = GracefulFailureSettings
    serves = True

    def run(self, system: System, context: ProbeContext) -> Finding:
        settings: GracefulFailureSettings = self.settings(system)
        checks: list[Check] = []
        evidence: list[Evidence] = []
        not_assessed: list[str] = []
        current: CurrentData | None = None
        if system.current is None:
            not_assessed.append(NO_CURRENT)
        else:
            context.report("the current window against the reference schema", 0.0)
            current = measure_current(system, settings, context)
            checks += current_checks(current, settings)
        context.check_deadline()

        results, battery, reached, reachable = self._send_battery(system, settings, context)
        if reachable:
            checks = battery_checks(results) + checks
            evidence.append(cases_table(results, reached, battery.left_out))
        else:
            checks.insert(
                0,
                Check(
                    name="system reachable",
                    status=Status.FAIL,
                    measured=False,
                    threshold="the system answers its health check",
                    message=f"{_upper_first(reached)} did not answer its health check: no "
                    "unexpected input could be sent.",
                ),
            )
        if current is not None:
            evidence.append(current_table(current))
            if current.crashes or current.refusals:
                evidence.append(failures_table(current))
        status = Finding.worst(checks)
        return Finding(
            question=self.question,
            status=status,
            summary=_summary(results, reachable, reached, current),
            checks=checks,
            measurements=_measurements(results, battery, reached, current),
            thresholds=asdict(settings),
            evidence=evidence,
            remediation=_remediation(results, current, checks, reachable),
            not_assessed=not_assessed,
        )

    def _send_battery(
        self, system: System, settings: GracefulFailureSettings, context: ProbeContext
    ) -> tuple[list[Result], Battery, str, bool]:
        """Send every case; the results, the battery, what was reached and if it answered."""
        if settings.timeout_s is not None and system.endpoint is not None:
            system = replace(
                system, endpoint=replace(system.endpoint, timeout_s=settings.timeout_s)
            )
        results: list[Result] = []
        with connect(system) as client:
            reached = client.describe()
            # An HTTP client can encode a frame into its protocol's body: the raw cases are
            # built from that, so they fit whatever protocol the server speaks.
            encode = getattr(client, "encode", None)
            battery = build_battery(
                system.reference,
                system.feature_columns,
                system.categorical_columns,
                settings,
                context.seed,
                encode=encode,
                content_type=str(getattr(client, "content_type", "application/json")),
            )
            if not client.ping():
                return results, battery, reached, False
            total = len(battery.cases)
            for i, case in enumerate(battery.cases):
                context.check_deadline()
                context.report(f"case {i + 1} of {total}: {case.name}", 0.2 + 0.8 * i / total)
                if case.body is not None:
                    reply = client.send(case.body, case.content_type)
                else:
                    assert case.frame is not None
                    reply = client.predict(case.frame.copy())
                results.append(classify(case, reply))
        return results, battery, reached, True


def _summary(
    results: list[Result], reachable: bool, reached: str, current: CurrentData | None
) -> str:
    parts: list[str] = []
    if not reachable:
        parts.append(f"{reached} did not answer its health check: nothing could be sent")
    else:
        total = len(results)
        crashes = [r for r in results if r.outcome == "crash"]
        garbage = [r for r in results if r.outcome == "silent garbage"]
        refused = [r for r in results if r.outcome == "valid input rejected"]
        if crashes:
            parts.append(f"crashed on {len(crashes)} of {total} cases ({names(crashes, 4)})")
        if garbage:
            parts.append(
                f"answered {len(garbage)} nonsense inputs as if valid ({names(garbage, 4)})"
            )
        if not crashes and not garbage:
            found = counts(results)
            parts.append(
                f"handled all {total} unexpected inputs: {found['clean rejection']} refused "
                f"cleanly, {found['safe default']} answered with a declared safe default, "
                f"{found['fine']} edge cases handled"
            )
        if refused:
            parts.append(f"refused {len(refused)} valid requests ({names(refused, 4)})")
    if current is None:
        parts.append("production data not assessed (no current data)")
    else:
        if current.crashed_rows:
            causes = [f.cause for f in current.crashes if f.cause][:3]
            parts.append(
                f"the model fails on {current.crashed_rows:,} of {current.rows:,} current rows"
                + (f" ({', '.join(causes)})" if causes else "")
            )
        parts.append(
            f"{pct(current.share(current.unexpected_rows))} of current rows break the "
            "reference schema"
        )
    return _upper_first("; ".join(parts) + ".")


def _measurements(
    results: list[Result], battery: Battery, reached: str, current: CurrentData | None
) -> dict[str, Any]:
    by_outcome: dict[str, list[str]] = {}
    for r in results:
        by_outcome.setdefault(r.outcome, []).append(r.case.name)
    found: dict[str, Any] = {
        "reached": reached,
        "cases": len(results),
        "outcomes": counts(results),
        "cases_by_outcome": by_outcome,
        "outcome_of": {r.case.name: r.outcome for r in results},
        "left_out": battery.left_out,
        "current": None,
    }
    if current is not None:
        found["current"] = {
            "rows": current.rows,
            "unexpected_rows": current.unexpected_rows,
            "unseen_category_rows": current.unseen_rows,
            "out_of_range_rows": current.out_of_range_rows,
            "wrong_type_rows": current.wrong_type_rows,
            "unscorable_rows": current.crashed_rows,
            "refused_rows": current.refused_rows,
            "unscorable_exact": current.scoring.exact,
            "features": {
                c.name: {
                    "missing_reference": c.missing_reference,
                    "missing_current": c.missing_current,
                    "unseen": c.unseen,
                    "unseen_examples": [[v[:80], n] for v, n in c.unseen_examples],
                    "out_of_range": c.out_of_range,
                    "wrong_type": c.wrong_type,
                }
                for c in current.columns
            },
        }
    return found


def _remediation(
    results: list[Result], current: CurrentData | None, checks: list[Check], reachable: bool
) -> str:
    steps: list[str] = []
    if not reachable:
        steps.append("Start the model server (or fix endpoint.url) and run the assessment again.")
    crashes = [r for r in results if r.outcome == "crash"]
    garbage = [r for r in results if r.outcome == "silent garbage"]
    refused = [r for r in results if r.outcome == "valid input rejected"]
    if crashes or garbage:
        what = []
        if crashes:
            what.append(f"it crashed on {names(crashes, 6)}")
        if garbage:
            what.append(f"it answered nonsense as if valid on {names(garbage, 6)}")
        steps.append(_GUARD + " Today " + "; ".join(what) + ".")
    if refused:
        steps.append(
            f"Answer valid requests ({names(refused, 6)}): select the features by name, so that "
            "extra or reordered columns, single rows and large batches are answered."
        )
    if current is not None:
        flagged = {c.name for c in checks if c.status is not Status.PASS}
        if "current rows the model cannot score" in flagged:
            steps.append(
                "The model fails on its own production data (see the evidence): guard it, and "
                "fix the upstream feed that sends those rows."
            )
        drifted = flagged & {
            "new missing values in production",
            "unseen categories in production",
            "values outside the accepted range",
            "wrong types in production",
        }
        if drifted:
            steps.append(
                "Production already sends data the model never saw ("
                + ", ".join(sorted(drifted))
                + "): find where it comes from upstream, then retrain with it or map it to "
                "known values before the model; a guard refuses or flags it meanwhile."
            )
    return " ".join(steps)
