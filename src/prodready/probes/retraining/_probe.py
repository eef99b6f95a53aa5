"""The :class:`RetrainingProbe`: the Q9 rehearsal, its judgement and the finding."""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from prodready._exceptions import RegistryError, SpecError
from prodready._settings import first_line
from prodready.probes._base import Probe, ProbeCancelled, ProbeContext
from prodready.probes._bounded import HookTimeout, call_bounded
from prodready.probes._performance import main_metric
from prodready.probes._scoring import _upper_first
from prodready.probes.retraining._hook import (
    RetrainRequest,
    RetrainResult,
    load_version,
    read_result,
)
from prodready.probes.retraining._measure import Scored, Scorer, score
from prodready.probes.retraining._served import Observed, compare, observable, observe
from prodready.probes.retraining._settings import METRICS_FOR, RetrainingSettings
from prodready.probes.retraining._shift import (
    IMPORTANCE_ROWS,
    Region,
    find_region,
    shift_target,
    split_windows,
)
from prodready.results import Check, Evidence, Finding, Status, Table
from prodready.system import System

_ADD_HOOK = (
    "Give the system a retraining mechanism: a function that fits the model again on the "
    "labelled data it is given and registers the result as a candidate awaiting approval "
    '(never as the served model), named in the spec as hooks.retrain: "module:function"; '
    "declare its trigger under retraining: (metric, threshold, window). The contract and a "
    "worked example are in docs/retraining.md (prodready.example.retrain is one)."
)


@dataclass
class _Rehearsal:
    """What the rehearsal measured (filled in as it goes)."""

    metric: str
    region: Region
    rows: dict[str, int]
    serving: dict[str, float] = field(default_factory=dict)
    candidate: dict[str, float] = field(default_factory=dict)
    retrain_s: float | None = None
    version: str | None = None
    source: str = ""
    registry: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    hook_problem: str | None = None
    candidate_failures: str | None = None
    #: Without a registry: what production served before and after the hook (see _served).
    served: dict[str, Any] = field(default_factory=dict)


class RetrainingProbe(Probe):
    """Q9: degrade the model with a concept shift, and rehearse the system's retraining."""

    question = "Q9"
    settings_class = RetrainingSettings

    def preflight(self, system: System) -> None:
        super().preflight(system)
        if self.declared_absent(system) or "retrain" not in system.hooks:
            return
        self._metric(system, self.settings(system))
        system.hook("retrain")  # a hook that cannot be imported is the user's to fix

    def _metric(self, system: System, settings: RetrainingSettings) -> str:
        task = system.task or "regression"
        metric = settings.metric or main_metric(task)
        if metric not in METRICS_FOR[task]:
            raise SpecError(
                f"is {metric!r}, which does not fit a {task} model",
                source=system.source,
                field="retraining.metric",
                expected=" or ".join(METRICS_FOR[task]),
            )
        return metric

    def run(self, system: System, context: ProbeContext) -> Finding:
        if self.declared_absent(system):
            return Finding(
                question=self.question,
                status=Status.FAIL,
                summary="The spec declares that the system cannot retrain itself "
                "(retraining: none): when its performance degrades, nothing fixes it.",
                checks=[
                    Check(
                        name="retraining mechanism",
                        status=Status.FAIL,
                        measured="none",
                        threshold="a retrain hook (hooks.retrain) and a trigger",
                        message="The system has no retraining mechanism (retraining: none).",
                    )
                ],
                remediation=_ADD_HOOK,
            )
        settings: RetrainingSettings = self.settings(system)
        if "retrain" not in system.hooks:
            return self.not_assessed(
                "The spec names no retrain hook, so retraining could not be rehearsed.",
                "hooks.retrain",
                "the function that retrains the model (see docs/retraining.md), and "
                "retraining.metric and retraining.threshold to its trigger",
            )
        if settings.threshold is None:
            return self.not_assessed(
                "The spec gives no retraining trigger, so it could not be tested.",
                "retraining.threshold",
                "the metric value below which the system retrains (with retraining.metric "
                "and retraining.window)",
            )
        if system.target is None:
            return self.not_assessed(
                "The reference data have no labels, so no degradation could be simulated.",
                "data.target",
                "the label column of the reference data",
            )
        metric = self._metric(system, settings)
        threshold = float(settings.threshold)
        target = system.target
        features = system.feature_columns
        classes = [c for c in getattr(system.model, "classes_", [])]
        task = system.task or "regression"
        labelled = system.reference[[*features, target]]
        windows = split_windows(labelled, settings.window, settings.training_rows, context.seed)
        if windows is None:
            return self.not_assessed(
                f"The reference data have {len(labelled)} labelled rows: too few to simulate "
                "a degradation and judge a retrained model.",
                "data.reference",
                "labelled data with at least a hundred rows",
            )

        def measure(model: Any, rows: pd.DataFrame, y: pd.Series) -> Scored:
            return score(
                model,
                rows,
                y,
                features=features,
                metric=metric,
                task=task,
                classes=classes,
                context=context,
            )

        context.report("finding the most important feature", 0.05)
        region = find_region(
            windows.old,
            features,
            system.categorical_columns,
            lambda rows: measure(system.model, rows, rows[target]).value,
            context.seed,
        )
        if region is None:
            return self.not_assessed(
                "Every feature of the reference data is constant: no concept shift could be "
                "simulated.",
                "data.reference",
                "labelled data whose features vary",
            )
        mean = float(pd.to_numeric(labelled[target]).mean()) if task == "regression" else 0.0

        def shift(frame: pd.DataFrame, where: Region) -> pd.DataFrame:
            out = frame.copy()
            out[target] = shift_target(frame[target], where.mask(frame), task, classes, mean)
            return out

        # Of the two halves, the shift where it breaks the serving model most.
        probe_rows = windows.old.iloc[: min(len(windows.old), IMPORTANCE_ROWS)]

        def hurt(where: Region) -> float:
            rows = shift(probe_rows, where)
            return _finite(measure(system.model, rows, rows[target]).value)

        region = min((region, region.other_half()), key=hurt)

        def shifted(frame: pd.DataFrame) -> pd.DataFrame:
            return shift(frame, region)

        old, new, training = windows.old, shifted(windows.shifted), shifted(windows.training)
        outside = old[~region.mask(old)].reset_index(drop=True)
        state = _Rehearsal(
            metric,
            region,
            rows={
                "old_window": len(old),
                "shifted_window": len(new),
                "training": len(training),
                "old_outside_region": len(outside),
                "labelled_reference": windows.available,
                "shifted_in_training": int(region.mask(training).sum()),
            },
        )
        context.check_deadline()
        context.report("the trigger on an unshifted and a shifted window", 0.15)
        state.serving["old"] = measure(system.model, old, old[target]).value
        state.serving["shifted"] = measure(system.model, new, new[target]).value
        state.serving["old_outside_region"] = measure(system.model, outside, outside[target]).value
        checks = _trigger_checks(state, threshold)
        context.check_deadline()

        reason = (
            f"{metric} {_fmt(state.serving['shifted'])} on the last {len(new):,} labelled "
            f"decisions, below the threshold {_fmt(threshold)}"
        )
        not_assessed: list[str] = []
        # The new model is scored inside the scratch folder: a guarded model logs into it.
        with tempfile.TemporaryDirectory(prefix="prodready-retrain-") as scratch:
            candidate, left = self._retrain(
                system, settings, context, state, training, reason, checks, Path(scratch)
            )
            if left:
                not_assessed.append(left)
            if candidate is not None:
                context.report("the new model on shifted and old data", 0.85)
                scorer = Scorer(candidate, classes, system.is_classifier)
                on_new = measure(scorer, new, new[target])
                on_old = measure(scorer, outside, outside[target])
                state.candidate["shifted"] = on_new.value
                state.candidate["old_outside_region"] = on_old.value
                failed = [s for s in (on_new, on_old) if not s.scoring.ok]
                if failed:
                    state.candidate_failures = failed[0].scoring.describe("rehearsal")
                checks += _candidate_checks(state, settings, threshold)
        status = Finding.worst(checks)
        if status is Status.PASS and not_assessed:
            status = Status.WARN
        return Finding(
            question=self.question,
            status=status,
            summary=_summary(state, checks, threshold),
            checks=checks,
            measurements=_measurements(state, threshold),
            thresholds={**asdict(settings), "metric": metric, "threshold": threshold},
            evidence=_evidence(state, threshold, settings),
            remediation=_remediation(checks),
            not_assessed=not_assessed,
        )

    def _retrain(
        self,
        system: System,
        settings: RetrainingSettings,
        context: ProbeContext,
        state: _Rehearsal,
        training: pd.DataFrame,
        reason: str,
        checks: list[Check],
        scratch: Path,
    ) -> tuple[Any, str | None]:
        """Call the hook and find the model it made; restore the registry, whatever happens.

        Returns the new model to score in-process (None when there is none: the checks say
        why) and the part of the question left unassessed (None when all was judged).
        """
        hook = system.hook("retrain")
        registry = None
        if system.registry is not None:
            from prodready.adapters.registry import open_registry

            registry = open_registry(system)
        name = system.registry.model_name if system.registry is not None else None
        left: str | None = None
        workdir = scratch / "workdir"
        workdir.mkdir()
        snapshot = registry.snapshot() if registry is not None else None
        try:
            before: set[str] = set()
            serving_before: str | None = None
            if registry is not None and name is not None:
                before = {v.version for v in registry.versions(name)}
                serving_before = _alias(registry, name, settings.serving_alias)
                state.registry = {
                    "uri": registry.uri,
                    "model_name": name,
                    "versions_before": sorted(before, key=int),
                    "serving_before": serving_before,
                }
            request = RetrainRequest(
                data=training.copy(),
                target=str(system.target),
                features=list(system.feature_columns),
                categorical=list(system.categorical_columns),
                task=str(system.task),
                reason=reason,
                registry_uri=None if registry is None else registry.uri,
                model_name=name,
                candidate_alias=settings.candidate_alias,
                serving_alias=settings.serving_alias,
                seed=context.seed,
                workdir=workdir,
            )
            watched: Observed | None = None
            if registry is None and observable(system):
                context.report("what production serves before retraining", 0.25)
                watched = observe(system, seconds=settings.timeout_s, check=context.check_deadline)
                state.served = {"how": watched.how, "before": watched.label or watched.problem}
            context.report("retraining (the system's hook)", 0.3)
            started = time.monotonic()
            try:
                # Bounded: a hook that hangs is the system failing (FAIL), not a probe that
                # blocks until its time limit makes the question an ERROR.
                answer = call_bounded(
                    hook,
                    request,
                    seconds=settings.timeout_s,
                    check=context.check_deadline,
                    name="prodready-hooks.retrain",
                )
            except ProbeCancelled:  # the run's time limit or Stop, while the hook ran
                raise
            except HookTimeout:
                state.retrain_s = time.monotonic() - started
                state.hook_problem = (
                    f"did not finish within {settings.timeout_s:g} s (retraining.timeout_s); "
                    "it may still be running, and change the registry after this rehearsal"
                )
                checks.append(_hook_check(state))
                return None, None
            except (Exception, SystemExit) as exc:  # the system's retraining failed: judged
                state.retrain_s = time.monotonic() - started
                state.hook_problem = f"raised {type(exc).__name__}: {first_line(str(exc))}"
                checks.append(_hook_check(state))
                return None, None
            state.retrain_s = time.monotonic() - started
            context.check_deadline()
            result = read_result(answer)
            if isinstance(result, str):
                state.hook_problem = result
                checks.append(_hook_check(state))
                return None, None
            state.notes = result.notes
            checks.append(_time_check(state, settings))
            if registry is None or name is None:
                state.version = result.version
                if result.model is None:
                    state.hook_problem = (
                        f"returned version {result.version}, but the spec names no registry "
                        "to load it from"
                    )
                    checks.append(_hook_check(state))
                    return None, None
                state.source = "the model the hook returned"
                if watched is None:
                    left = (
                        "whether the new model waits for approval: the spec names no "
                        "registry, no endpoint and no hooks.served_version (set endpoint: to "
                        "the served model, or hooks.served_version, to check that production "
                        "still serves the same model after retraining; or registry: "
                        "{uri, model_name} to check that retraining registers a candidate and "
                        "does not move the served alias)"
                    )
                elif watched.problem:
                    left = (
                        "whether the new model waits for approval: what production serves "
                        f"could not be read before retraining ({watched.problem})"
                    )
                else:
                    context.report("what production serves after retraining", 0.8)
                    now = observe(
                        system,
                        seconds=settings.timeout_s,
                        check=context.check_deadline,
                        how=watched.how,
                    )
                    checks.append(_served_check(state, watched, now))
                return result.model, left
            model, registry_checks = _inspect_registry(
                registry, name, result, before, serving_before, settings, state, scratch
            )
            checks += registry_checks
            return model, None
        finally:
            if registry is not None and snapshot is not None:
                registry.restore(snapshot)
                if registry.fingerprint() != snapshot.fingerprint:
                    raise RegistryError(
                        f"registry {registry.uri}: not restored to its state before the "
                        "retraining rehearsal"
                    )
                state.registry["restored"] = True


def _inspect_registry(
    registry: Any,
    name: str,
    result: RetrainResult,
    before: set[str],
    serving_before: str | None,
    settings: RetrainingSettings,
    state: _Rehearsal,
    scratch: Path,
) -> tuple[Any, list[Check]]:
    """Where the new model landed: a new version, carrying the candidate alias, while the
    served alias did not move; the new version loaded to call in-process."""
    checks: list[Check] = []
    after = {v.version for v in registry.versions(name)}
    new_versions = sorted(after - before, key=int)
    serving_after = _alias(registry, name, settings.serving_alias)
    candidate_at = _alias(registry, name, settings.candidate_alias)
    version = result.version
    if version is None and len(new_versions) == 1:
        version = new_versions[0]
    state.version = version
    state.registry.update(
        {
            "versions_after": sorted(after, key=int),
            "new_versions": new_versions,
            "serving_after": serving_after,
            "candidate_alias_at": candidate_at,
            "version": version,
        }
    )
    registered = version is not None and version in after and version not in before
    checks.append(
        Check(
            name="new model registered",
            status=Status.PASS if registered else Status.FAIL,
            measured=version,
            threshold="a new version of the model in the registry",
            message=(
                f"The new model is version {version} of {name}."
                if registered
                else _not_registered(version, before, new_versions, name)
            ),
        )
    )
    is_candidate = registered and candidate_at == version
    checks.append(
        Check(
            name="registered as a candidate",
            status=Status.PASS if is_candidate else Status.FAIL,
            measured=candidate_at,
            threshold=f"alias {settings.candidate_alias!r} on the new version",
            message=(
                f"Version {version} carries the alias {settings.candidate_alias!r}: it awaits "
                "approval."
                if is_candidate
                else f"The alias {settings.candidate_alias!r} points to "
                f"{_version_text(candidate_at)}, not to the new model: nothing marks it as a "
                "candidate awaiting approval."
            ),
        )
    )
    moved = serving_after != serving_before
    checks.append(
        Check(
            name="served model unchanged",
            status=Status.FAIL if moved else Status.PASS,
            measured=serving_after,
            threshold=f"alias {settings.serving_alias!r} stays on {_version_text(serving_before)}",
            message=(
                f"Retraining moved the alias {settings.serving_alias!r} from "
                f"{_version_text(serving_before)} to {_version_text(serving_after)}: a new "
                "model went to production with no approval (it bypasses Q8)."
                if moved
                else f"The alias {settings.serving_alias!r} still points to "
                f"{_version_text(serving_before)}: production is untouched until approval."
            ),
        )
    )
    if registered and version is not None:
        state.source = f"version {version} of {name}, loaded from the registry"
        try:
            folder = registry.download(name, version, scratch / "candidate")
            return load_version(folder, scratch), checks
        except Exception as exc:  # the system's artifact cannot be loaded: it fails
            state.hook_problem = (
                f"registered version {version}, which cannot be loaded: "
                f"{type(exc).__name__}: {first_line(str(exc))}"
            )
            checks.append(_hook_check(state))
            return None, checks
    if result.model is not None:
        state.source = "the model the hook returned (none registered)"
        return result.model, checks
    return None, checks


def _served_check(state: _Rehearsal, before: Observed, after: Observed) -> Check:
    """The check "served model unchanged" without a registry: production answers as before."""
    change = after.problem or compare(before, after)
    state.served.update({"after": after.label or after.problem, "change": change})
    threshold = f"production still serves {before.label}"
    if after.problem:
        return Check(
            name="served model unchanged",
            status=Status.FAIL,
            measured=after.problem,
            threshold=threshold,
            message=f"After retraining, {after.problem}: production served {before.label} "
            "before the hook and no longer answers the same way.",
        )
    if change is not None:
        return Check(
            name="served model unchanged",
            status=Status.FAIL,
            measured=after.label,
            threshold=threshold,
            message=f"The hook put the retrained model in production ({change}): it bypasses "
            "the approval workflow (Q8).",
        )
    still = (
        f"the same answers on {len(before.outputs)} canary rows"
        if before.how == "canary" and before.outputs is not None
        else before.label
    )
    state.served["still"] = still
    state.source = "the model the hook returned, a candidate awaiting approval (not served)"
    return Check(
        name="served model unchanged",
        status=Status.PASS,
        measured=after.label,
        threshold=threshold,
        message=f"Not served: production still answers with {still} after retraining "
        f"({'the endpoint' if before.how != 'hook' else 'hooks.served_version'} asked before "
        "and after the hook); the retrained model the hook returned is a candidate awaiting "
        "approval.",
    )


def _alias(registry: Any, name: str, alias: str) -> str | None:
    """The version ``alias`` points to; None also when the model is not registered at all."""
    if not registry.versions(name):  # MLflow raises for the alias of an unknown model
        return None
    value = registry.alias(name, alias)
    return None if value is None else str(value)


def _not_registered(version: str | None, before: set[str], new: list[str], name: str) -> str:
    if version is not None and version in before:
        return f"The hook named version {version}, which existed before retraining."
    if version is not None:
        return f"The hook named version {version}, which is not in the registry."
    if not new:
        return f"No new version of {name} appeared in the registry: the new model is not there."
    return f"Several new versions appeared ({', '.join(new[:5])}) and the hook named none of them."


def _finite(value: float) -> float:
    """``value``, with NaN ranked last by ``min``."""
    return value if math.isfinite(value) else math.inf


def _version_text(version: str | None) -> str:
    return "no version" if version is None else f"version {version}"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.3f}"


def _trigger_checks(state: _Rehearsal, threshold: float) -> list[Check]:
    old, new = state.serving["old"], state.serving["shifted"]
    metric = state.metric
    quiet = math.isfinite(old) and old >= threshold
    fires = math.isfinite(new) and new < threshold
    return [
        Check(
            name="trigger quiet on unchanged data",
            status=Status.PASS if quiet else Status.FAIL,
            measured=old,
            threshold=f"{metric} >= {threshold:g} (no retraining)",
            message=(
                f"On {state.rows['old_window']:,} decisions where nothing changed, {metric} is "
                f"{_fmt(old)}: the trigger stays quiet."
                if quiet
                else f"On {state.rows['old_window']:,} decisions where nothing changed, "
                f"{metric} is {_fmt(old)}, below the threshold {threshold:g}: the trigger "
                "would fire all the time."
            ),
        ),
        Check(
            name="trigger fires on degradation",
            status=Status.PASS if fires else Status.FAIL,
            measured=new,
            threshold=f"{metric} < {threshold:g} (retrain)",
            message=(
                f"After the concept shift ({state.region.description}), {metric} falls to "
                f"{_fmt(new)} on {state.rows['shifted_window']:,} decisions: the trigger fires."
                if fires
                else f"After the concept shift ({state.region.description}), {metric} is "
                f"still {_fmt(new)} (from {_fmt(old)}), not below {threshold:g}: the trigger "
                "does not fire on a degradation that broke the model."
            ),
        ),
    ]


def _hook_check(state: _Rehearsal) -> Check:
    return Check(
        name="retraining ran",
        status=Status.FAIL,
        measured=state.hook_problem,
        threshold="the hook returns the new model or its registry version",
        message=f"The retrain hook {state.hook_problem}.",
    )


def _time_check(state: _Rehearsal, settings: RetrainingSettings) -> Check:
    took = state.retrain_s or 0.0
    ok = took <= settings.timeout_s
    return Check(
        name="time to retrain",
        status=Status.PASS if ok else Status.FAIL,
        measured=round(took, 3),
        threshold=f"<= {settings.timeout_s:g} s",
        message=f"Retraining took {took:.1f} s"
        + ("." if ok else f", longer than the {settings.timeout_s:g} s allowed."),
    )


def _recovery(state: _Rehearsal) -> float | None:
    """Share of the metric the shift took away that the new model won back."""
    lost = state.serving["old"] - state.serving["shifted"]
    gained = state.candidate.get("shifted", float("nan")) - state.serving["shifted"]
    if not (math.isfinite(lost) and math.isfinite(gained)) or lost <= 0:
        return None
    return gained / lost


def _candidate_checks(
    state: _Rehearsal, settings: RetrainingSettings, threshold: float
) -> list[Check]:
    metric = state.metric
    checks: list[Check] = []
    if state.candidate_failures:
        checks.append(
            Check(
                name="new model scores every row",
                status=Status.FAIL,
                measured=state.candidate_failures,
                threshold="no row it cannot score",
                message=_upper_first(state.candidate_failures) + ".",
            )
        )
    value = state.candidate["shifted"]
    recovery = _recovery(state)
    above = math.isfinite(value) and value >= threshold
    enough = recovery is None or recovery >= settings.min_recovery
    won = "" if recovery is None else f", {recovery:.0%} of what the shift took away"
    checks.append(
        Check(
            name="recovers on shifted data",
            status=Status.PASS if above and enough else Status.FAIL,
            measured=value,
            threshold=f"{metric} >= {threshold:g} and at least {settings.min_recovery:.0%} of "
            "the drop won back",
            message=(
                f"On {state.rows['shifted_window']:,} shifted decisions it never saw, the new "
                f"model's {metric} is {_fmt(value)} (the served model's "
                f"{_fmt(state.serving['shifted'])}{won})."
                + (
                    ""
                    if above and enough
                    else " It does not recover: the retrained model is still degraded."
                )
            ),
        )
    )
    before = state.serving["old_outside_region"]
    after = state.candidate["old_outside_region"]
    drop = before - after
    ok = math.isfinite(drop) and drop <= settings.max_regression
    checks.append(
        Check(
            name="no regression on old data",
            status=Status.PASS if ok else Status.FAIL,
            measured=None if not math.isfinite(drop) else drop,
            threshold=f"{metric} at most {settings.max_regression:g} below the served model's",
            message=(
                f"Where the concept did not change ({state.rows['old_outside_region']:,} old "
                f"decisions outside {state.region.description}), {metric} is {_fmt(after)} "
                f"against the served model's {_fmt(before)}"
                + (
                    "."
                    if ok
                    else f": {_fmt(drop)} worse, more than the {settings.max_regression:g} "
                    "allowed. Retraining fixed the shifted data by breaking the rest."
                )
            ),
        )
    )
    return checks


def _summary(state: _Rehearsal, checks: list[Check], threshold: float) -> str:
    failed = [c for c in checks if c.status is not Status.PASS]
    metric = state.metric
    shift = (
        f"a concept shift ({state.region.description}) took {metric} from "
        f"{_fmt(state.serving['old'])} to {_fmt(state.serving['shifted'])}"
    )
    if state.hook_problem is not None:
        return _upper_first(f"{shift}; the retrain hook {state.hook_problem}.")
    after = state.candidate.get("shifted")
    took = "" if state.retrain_s is None else f" in {state.retrain_s:.1f} s"
    landed = (
        f", registered as candidate version {state.version}"
        if state.version is not None
        and not any(c.name in ("new model registered", "registered as a candidate") for c in failed)
        else ""
    )
    if not state.registry and state.source:
        served = next((c for c in checks if c.name == "served model unchanged"), None)
        landed = (
            " (no registry: whether it waits for approval was not checked)"
            if served is None
            else f", not served: production still answers with {state.served.get('still')}"
            if served.status is Status.PASS
            else ""
        )
    text = f"{shift}; retraining{took} brought it back to {_fmt(after)}{landed}"
    if failed:
        text += "; failed: " + "; ".join(c.name for c in failed)
    return _upper_first(text + ".")


def _measurements(state: _Rehearsal, threshold: float) -> dict[str, Any]:
    return {
        "metric": state.metric,
        "threshold": threshold,
        "region": {
            "feature": state.region.feature,
            "description": state.region.description,
            "importance": state.region.importance,
        },
        "rows": state.rows,
        "serving": state.serving,
        "candidate": state.candidate,
        "recovery": _recovery(state) if state.candidate else None,
        "retrain_s": state.retrain_s,
        "version": state.version,
        "candidate_source": state.source,
        "registry": state.registry or None,
        "hook_problem": state.hook_problem,
        "notes": state.notes,
        "served": state.served or None,
    }


def _evidence(state: _Rehearsal, threshold: float, settings: RetrainingSettings) -> list[Evidence]:
    def cell(value: float | None) -> Any:
        return None if value is None or not math.isfinite(value) else round(value, 4)

    rows = [
        [
            "old data (nothing changed)",
            state.rows["old_window"],
            cell(state.serving["old"]),
            None,
            f">= {threshold:g}: trigger quiet",
        ],
        [
            f"shifted data ({state.region.description})",
            state.rows["shifted_window"],
            cell(state.serving["shifted"]),
            cell(state.candidate.get("shifted")),
            f"< {threshold:g} fires; new model >= {threshold:g}",
        ],
        [
            "old data outside the region",
            state.rows["old_outside_region"],
            cell(state.serving["old_outside_region"]),
            cell(state.candidate.get("old_outside_region")),
            f"new model at most {settings.max_regression:g} lower",
        ],
    ]
    evidence: list[Evidence] = [
        Table(
            title=f"{state.metric} before and after retraining",
            columns=["data", "rows", "served model", "new model", "limit"],
            rows=rows,
            note=f"The new model was trained on {state.rows['training']:,} shifted rows "
            f"({state.rows['shifted_in_training']:,} in the region); it is "
            f"{state.source or 'missing'}.",
        )
    ]
    if state.served.get("after") is not None:
        evidence.append(
            Table(
                title="What production served during the rehearsal (no registry)",
                columns=["read by", "before retraining", "after retraining"],
                rows=[
                    [
                        "hooks.served_version" if state.served["how"] == "hook" else "endpoint",
                        state.served.get("before"),
                        state.served.get("after"),
                    ]
                ],
                note=state.served.get("change") or "unchanged: the retrained model is not served",
            )
        )
    if state.registry:
        r = state.registry
        evidence.append(
            Table(
                title="The registry during the rehearsal",
                columns=["", "before retraining", "after retraining"],
                rows=[
                    [
                        "versions",
                        ", ".join(r.get("versions_before", [])),
                        ", ".join(r.get("versions_after", [])),
                    ],
                    [
                        f"alias {settings.serving_alias}",
                        r.get("serving_before"),
                        r.get("serving_after"),
                    ],
                    [f"alias {settings.candidate_alias}", None, r.get("candidate_alias_at")],
                ],
                note=f"{r.get('uri')}: restored exactly as it was after the rehearsal."
                if r.get("restored")
                else "",
            )
        )
    return evidence


def _remediation(checks: list[Check]) -> str:
    failed = {c.name for c in checks if c.status is not Status.PASS}
    steps: list[str] = []
    if "trigger quiet on unchanged data" in failed:
        steps.append(
            "Lower retraining.threshold below what the model achieves on normal data: a "
            "trigger that always fires retrains for nothing."
        )
    if "trigger fires on degradation" in failed:
        steps.append(
            "Raise retraining.threshold (or watch another metric) so that a degradation that "
            "breaks the model triggers retraining."
        )
    if "retraining ran" in failed:
        steps.append(
            "Fix the retrain hook so that it fits a model on the data it is given and returns "
            "its registry version or the model (docs/retraining.md)."
        )
    if "time to retrain" in failed:
        steps.append("Make retraining faster (a sample, fewer iterations) or raise timeout_s.")
    if "recovers on shifted data" in failed or "new model scores every row" in failed:
        steps.append(
            "Make retraining learn from the new data: fit on the recent labelled data it is "
            "given (not only on old data), with a model able to express a relationship that "
            "changes in one region of the features."
        )
    if "no regression on old data" in failed:
        steps.append(
            "Keep what still holds: train on recent data together with history where the "
            "concept did not change, and gate the candidate on a holdout of old data."
        )
    if failed & {"new model registered", "registered as a candidate"}:
        steps.append(
            "Register each retrained model as a new version carrying the candidate alias "
            "(retraining.candidate_alias), so that approvers can find and sign it."
        )
    if "served model unchanged" in failed:
        steps.append(
            "Never put the retrained model in production from the retrain hook (no alias move, "
            "no deployment): promotion must go through the approval workflow (Q8), which then "
            "moves it."
        )
    return " ".join(steps)
