"""The :class:`RollbackProbe`: which mechanism, the rehearsal, the judgement and the finding."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import numpy as np

from prodready.probes._base import Probe, ProbeContext
from prodready.probes._scoring import _upper_first
from prodready.probes.rollback._mechanism import Hooks, Mechanism, RegistryAlias
from prodready.probes.rollback._rehearsal import Observation, Rehearsal, rehearse
from prodready.probes.rollback._settings import RollbackSettings
from prodready.results import Check, Evidence, Finding, Status, Table
from prodready.system import System

#: The spec fields that tell prodready how the system rolls back.
MECHANISM_FIELDS = "rollback.mechanism, hooks.rollback or registry"

_ADD_ROLLBACK = (
    "Automate the rollback, then let prodready rehearse it: register the model in a model "
    "registry (MLflow: mlflow.register_model, then an alias such as 'champion') and serve "
    "models:/NAME@champion from a server that follows the alias, so that moving the alias "
    "back to the previous version is the rollback (the spec's registry: and rollback: "
    "{mechanism: registry_alias, alias: champion}); or, for any other serving stack, name "
    "hooks.deploy, hooks.rollback and hooks.served_version in the spec (see "
    "docs/rollback.md)."
)


class RollbackProbe(Probe):
    """Q4: a rollback rehearsed on the served system, timed, with traffic running.

    ``on_step`` (tests) is called with the name of each step of the rehearsal as it
    starts; ``open_registry`` replaces :func:`prodready.adapters.registry.open_registry`
    (tests pass a fake registry).
    """

    question = "Q4"
    settings_class = RollbackSettings
    serves = True

    def __init__(
        self,
        *,
        on_step: Callable[[str], None] | None = None,
        open_registry: Callable[[System], Any] | None = None,
    ) -> None:
        self._on_step = on_step
        self._open_registry = open_registry

    def run(self, system: System, context: ProbeContext) -> Finding:
        settings: RollbackSettings = self.settings(system)
        if self.declared_absent(system):
            return Finding(
                question=self.question,
                status=Status.FAIL,
                summary="The spec declares that the system has no rollback (rollback: none): "
                "a bad release stays in production until someone rebuilds and redeploys by hand.",
                measurements={"mechanism": None},
                remediation=_ADD_ROLLBACK,
            )
        chosen = settings.mechanism or (
            "hooks"
            if "rollback" in system.hooks
            else "registry_alias"
            if system.registry is not None
            else None
        )
        if chosen is None:
            return self.not_assessed(
                "The spec does not say how this system rolls back: no rollback mechanism, no "
                "rollback hook, no model registry.",
                MECHANISM_FIELDS,
                "rehearse the rollback (rollback.mechanism: registry_alias with a registry, or "
                "hooks with hooks.deploy and hooks.rollback; rollback: none if there is none)",
            )
        if system.endpoint is None:
            return self.not_assessed(
                "A rollback is rehearsed on the served system, and the spec names no endpoint.",
                "endpoint",
                "the served system (endpoint.url, or endpoint.serve for prodready to serve)",
            )
        if chosen == "hooks":
            missing = [h for h in ("deploy", "rollback") if h not in system.hooks]
            if missing:
                return self.not_assessed(
                    f"rollback.mechanism is hooks, but the spec has no {' or '.join(missing)} "
                    "hook.",
                    ", ".join(f"hooks.{h}" for h in missing),
                    "the module:function that does it (see docs/rollback.md)",
                )
            mechanism: Mechanism = Hooks(system, settings)
        else:
            if system.registry is None:
                return self.not_assessed(
                    "rollback.mechanism is registry_alias, but the spec names no registry.",
                    "registry",
                    "the model registry (uri, model_name) the served model follows",
                )
            mechanism = RegistryAlias(self._registry(system), system.registry.model_name, settings)
        record = rehearse(system, mechanism, settings, context, self._on_step)
        return _judge(record, settings)

    def preflight(self, system: System) -> None:
        """Settings, and the rollback hooks importable (a typo is a SpecError up front)."""
        super().preflight(system)
        if self.declared_absent(system):
            return
        for name in ("deploy", "rollback", "served_version", "restore"):
            if name in system.hooks:
                system.hook(name)

    def _registry(self, system: System) -> Any:
        if self._open_registry is not None:
            return self._open_registry(system)
        from prodready.adapters.registry import open_registry

        return open_registry(system)


def _seconds(value: float) -> str:
    return f"{value:.2f} s"


def _after_rollback(record: Rehearsal, settings: RollbackSettings) -> Check:
    """Was the original served again within ``max_restore_s``, and if not, what was?"""
    limit = f"the original served again within {settings.max_restore_s:g} s (max_restore_s)"
    if record.restore_s is not None:
        return Check(
            name="original restored in time",
            status=Status.PASS,
            measured=round(record.restore_s, 3),
            threshold=limit,
            message=f"The endpoint served the original again {_seconds(record.restore_s)} after "
            "the rollback was triggered.",
        )
    after, deployed, recorded = record.after_rollback, record.deployed, record.recorded
    assert recorded is not None and deployed is not None
    if after is None or not after.answered:
        message = (
            f"The endpoint did not answer {settings.max_restore_s:g} s after the rollback was "
            f"triggered ({after.kind if after else 'no request'}): production is down."
        )
    elif _same_as(after, deployed):
        message = (
            f"The candidate ({deployed.who()}) is still served {settings.max_restore_s:g} s "
            "after the rollback was triggered: the rollback did not put the original back."
        )
    else:
        message = (
            f"The rollback put {after.who()} in production, not the original "
            f"({recorded.who()}): the endpoint serves {after.who()}, expected {recorded.who()}."
        )
    return Check(
        name="original restored in time",
        status=Status.FAIL,
        measured=None,
        threshold=limit,
        message=message,
    )


def _same_as(a: Observation, b: Observation) -> bool:
    if a.version is not None and b.version is not None:
        return a.version == b.version
    return a.same_answers(b)


def _canary_check(record: Rehearsal) -> Check:
    recorded, canary = record.recorded, record.canary
    assert recorded is not None and recorded.outputs is not None
    rows = len(recorded.outputs)
    threshold = f"the same answers as before the rehearsal on all {rows} canary rows"
    if canary is None or not canary.answered:
        return Check(
            name="identical answers after the rollback",
            status=Status.FAIL,
            measured=None,
            threshold=threshold,
            message="The canary set was not answered after the rollback "
            f"({canary.kind if canary else 'not sent'}).",
        )
    assert canary.outputs is not None
    if canary.same_answers(recorded):
        return Check(
            name="identical answers after the rollback",
            status=Status.PASS,
            measured=rows,
            threshold=threshold,
            message=f"All {rows} canary rows got exactly the answers recorded before.",
        )
    differ, largest = _differences(recorded.outputs, canary.outputs)
    return Check(
        name="identical answers after the rollback",
        status=Status.FAIL,
        measured=rows - differ,
        threshold=threshold,
        message=f"{differ} of {rows} canary rows were answered differently after the rollback"
        + (f" (largest difference {largest:.3g})" if largest is not None else "")
        + ".",
    )


def _differences(
    before: np.ndarray[Any, Any], after: np.ndarray[Any, Any]
) -> tuple[int, float | None]:
    if before.shape != after.shape:
        return len(before), None
    rows_before = before.reshape(len(before), -1)
    rows_after = after.reshape(len(after), -1)
    differ = int(
        sum(
            not np.array_equal(a, b, equal_nan=True)
            for a, b in zip(rows_before, rows_after, strict=True)
        )
    )
    try:
        largest: float | None = float(
            np.nanmax(np.abs(rows_before.astype(float) - rows_after.astype(float)))
        )
    except (TypeError, ValueError):
        largest = None
    return differ, largest


def _requests_check(record: Rehearsal) -> Check:
    failed, total = record.failed_requests, record.requests
    kinds: dict[str, int] = {}
    for _, kind, _ in record.traffic.errors + record.poll_errors:
        kinds[kind] = kinds.get(kind, 0) + 1
    detail = ", ".join(f"{k}: {n}" for k, n in sorted(kinds.items()))
    return Check(
        name="no failed requests",
        status=Status.PASS if failed == 0 else Status.FAIL,
        measured=failed,
        threshold="0 failed requests during the rehearsal",
        message=f"{failed} of {total} requests failed during the rehearsal"
        + (f" ({detail})" if detail else "")
        + ".",
    )


def _put_back_check(record: Rehearsal) -> Check:
    ok = record.left_serving is None
    return Check(
        name="production left as it was",
        status=Status.PASS if ok else Status.FAIL,
        measured=ok,
        threshold="the original served after the rehearsal",
        message=_upper_first(record.put_back or "nothing to put back") + "."
        if ok
        else f"After the rehearsal the endpoint still serves {record.left_serving}, not the "
        "original: put the original back by hand now.",
    )


def _judge(record: Rehearsal, settings: RollbackSettings) -> Finding:
    checks: list[Check] = []
    if record.failure is not None:
        checks.append(
            Check(
                name="rehearsal completed",
                status=Status.FAIL,
                measured=", ".join(record.steps_done),
                threshold="deploy the candidate, see it served, roll back",
                message=_upper_first(record.failure) + ".",
            )
        )
    else:
        checks += [_after_rollback(record, settings), _canary_check(record)]
    checks.append(_requests_check(record))
    if record.recorded is not None and record.recorded.answered:
        checks.append(_put_back_check(record))
    status = Finding.worst(checks)
    return Finding(
        question="Q4",
        status=status,
        summary=_summary(record, checks, status),
        checks=checks,
        measurements=_measurements(record, settings),
        thresholds=asdict(settings),
        evidence=_evidence(record),
        remediation=_remediation(record, checks),
    )


def _summary(record: Rehearsal, checks: list[Check], status: Status) -> str:
    if status is Status.PASS:
        assert record.recorded is not None and record.deployed is not None
        assert record.restore_s is not None
        return (
            f"Rolled back from the candidate ({record.deployed.who()}) to the original "
            f"({record.recorded.who()}) through {record.described} in "
            f"{_seconds(record.restore_s)}, with identical answers on "
            f"{settings_rows(record)} canary rows and 0 of {record.requests} requests failed."
        )
    failing = [c.message.rstrip(".") for c in checks if c.status is not Status.PASS]
    return _upper_first("; ".join(_lower_first(m) for m in failing)) + "."


def settings_rows(record: Rehearsal) -> int:
    assert record.recorded is not None and record.recorded.outputs is not None
    return len(record.recorded.outputs)


def _lower_first(text: str) -> str:
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        return text[0].lower() + text[1:]
    return text


def _who(seen: Observation | None) -> dict[str, Any] | None:
    if seen is None:
        return None
    return {
        "at_s": round(seen.at, 3),
        "kind": seen.kind,
        "version": seen.version,
        "digest": seen.digest,
    }


def _measurements(record: Rehearsal, settings: RollbackSettings) -> dict[str, Any]:
    return {
        "mechanism": record.mechanism,
        "through": record.described,
        "reached": record.reached,
        "steps_done": list(record.steps_done),
        "original": _who(record.recorded),
        "candidate_version": record.candidate_version,
        "candidate": _who(record.deployed),
        "after_rollback": _who(record.after_rollback),
        "deploy_s": None if record.deploy_s is None else round(record.deploy_s, 3),
        "restore_s": None if record.restore_s is None else round(record.restore_s, 3),
        "max_restore_s": settings.max_restore_s,
        "canary_rows": (
            None
            if record.recorded is None or record.recorded.outputs is None
            else len(record.recorded.outputs)
        ),
        "canary_identical": (
            record.canary is not None
            and record.recorded is not None
            and record.canary.same_answers(record.recorded)
        ),
        "requests": record.requests,
        "failed_requests": record.failed_requests,
        "traffic_sent": record.traffic.sent,
        "traffic_failed": record.traffic.failed,
        "traffic_rps": settings.traffic_rps,
        "versions_answering_traffic": dict(record.traffic.versions),
        "canary_requests": record.polls,
        "canary_requests_failed": record.polls_failed,
        "put_back": record.put_back,
        "left_serving": record.left_serving,
        "failure": record.failure,
        "rehearsal_s": round(record.total_s, 3),
    }


def _evidence(record: Rehearsal) -> list[Evidence]:
    rows: list[list[Any]] = []
    for label, seen in (
        ("before (recorded)", record.recorded),
        ("after deploying the candidate", record.deployed),
        ("after the rollback", record.after_rollback),
        ("canary set at the end", record.canary),
    ):
        if seen is None:
            continue
        first = None
        if seen.outputs is not None and len(seen.outputs):
            values = np.atleast_1d(np.asarray(seen.outputs[0], dtype=float))
            first = ", ".join(f"{v:.6f}" for v in values)
        rows.append([label, round(seen.at, 3), seen.kind, seen.version, seen.digest, first])
    evidence: list[Evidence] = [
        Table(
            title="What the endpoint served during the rehearsal",
            columns=["moment", "at (s)", "reply", "version", "digest", "answer to canary row 1"],
            rows=rows,
            note=f"Through {record.described}, at {record.reached}. Steps done: "
            + ", ".join(record.steps_done)
            + ".",
        )
    ]
    failures = sorted(record.traffic.errors + record.poll_errors)
    if failures:
        evidence.append(
            Table(
                title=f"Failed requests ({record.failed_requests})",
                columns=["at (s)", "reply", "error"],
                rows=[[at, kind, error[:200]] for at, kind, error in failures],
                note="Light traffic and the probe's canary requests during the rehearsal "
                "(first 20 of each).",
            )
        )
    return evidence


def _remediation(record: Rehearsal, checks: list[Check]) -> str:
    failing = {c.name for c in checks if c.status is not Status.PASS}
    steps: list[str] = []
    if "rehearsal completed" in failing:
        steps.append(
            "Fix the deployment procedure the rehearsal drives ("
            + record.described
            + ") so that a candidate reaches the endpoint, then rehearse again."
        )
    if "original restored in time" in failing:
        steps.append(
            "Make the rollback put the previous version back, and quickly: keep the previous "
            "version deployable (a registry alias moved back, a blue/green switch flipped "
            "back) rather than rebuilding it."
        )
    if "identical answers after the rollback" in failing:
        steps.append(
            "The rolled-back system answers differently from before: roll back to the exact "
            "artifact that was served (by digest), with its preprocessing and configuration."
        )
    if "no failed requests" in failing:
        steps.append(
            "Switch versions without dropping requests: load the new version beside the old "
            "one and swap atomically once it is ready (hot reload, blue/green behind a "
            "switch), and drain connections instead of closing them."
        )
    if "production left as it was" in failing:
        steps.append(
            "The rehearsal could not put production back: restore the original version by "
            "hand now, and give prodready a hooks.restore(version) that can."
        )
    return " ".join(steps)
