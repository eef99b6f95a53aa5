"""The rollback rehearsal itself: record, deploy a candidate, roll back, measure, put back.

:func:`rehearse` runs the steps of :data:`STEPS` in order against the served system, with
light traffic running in a thread the whole time (:class:`Traffic`), and returns what it
saw as a :class:`Rehearsal`. Whatever happens — a check that fails, an exception, a
time-out, Ctrl-C — its ``finally`` puts the system back: the mechanism's snapshot restored
(the registry byte for byte), then a bounded wait until the endpoint serves the original
again. A rehearsal never leaves the candidate in production; if the system's own procedures
cannot put it back, :attr:`Rehearsal.left_serving` says what is still served.

What the endpoint serves is read from each reply (``Reply.model_version`` and
``Reply.model_digest`` when the system tells them), else from the mechanism
(``hooks.served_version``), else from the answers themselves: the candidate answers the
canary set differently from the original.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from prodready.adapters import Client, Reply, connect
from prodready.probes._base import ProbeContext
from prodready.probes.rollback._mechanism import Mechanism, MechanismError
from prodready.probes.rollback._settings import RollbackSettings
from prodready.system import System

__all__ = ["STEPS", "Observation", "Rehearsal", "Traffic", "TrafficRecord", "rehearse"]

#: The steps of the rehearsal, in order; ``on_step(name)`` is called as each one starts.
STEPS: tuple[str, ...] = (
    "snapshot",  # the mechanism records what restore() puts back
    "record",  # what is served (version, digest) and its answers on the canary set
    "candidate",  # the candidate to deploy (the spec's, or a nudged copy made now)
    "deploy",  # the system's deployment of the candidate
    "confirm",  # wait until the endpoint serves the candidate
    "rollback",  # the system's rollback, timed from here
    "restored",  # wait until the endpoint serves the original again
    "canary",  # the canary set again: identical answers? then traffic for settle_s more
)
#: How many failed requests are kept, with their error, for the evidence.
_KEEP_ERRORS = 20


@dataclass(frozen=True)
class Observation:
    """One canary request: who answered (version, digest, when known) and what.

    ``at`` is seconds since the rehearsal started; ``kind`` the reply's kind
    (``answered``, ``dropped``...); ``outputs`` the answers when answered.
    """

    at: float
    kind: str
    version: str | None = None
    digest: str | None = None
    outputs: np.ndarray[Any, Any] | None = None
    error: str = ""

    @property
    def answered(self) -> bool:
        return self.kind == "answered" and self.outputs is not None

    def same_answers(self, other: Observation) -> bool:
        """True when both answered the canary set with exactly the same outputs."""
        if not (self.answered and other.answered):
            return False
        assert self.outputs is not None and other.outputs is not None
        return self.outputs.shape == other.outputs.shape and bool(
            np.array_equal(self.outputs, other.outputs, equal_nan=True)
        )

    def who(self) -> str:
        """What served this request, in words ("version 2, sha256 ab12…", "an unnamed version")."""
        if not self.answered:
            return f"no answer ({self.kind})"
        if self.version is None:
            return "an unnamed version"
        digest = f", sha256 {self.digest[:12]}…" if self.digest else ""
        return f"version {self.version}{digest}"


@dataclass
class TrafficRecord:
    """The light traffic's requests: how many, how many failed, and which versions answered."""

    sent: int = 0
    failed: int = 0
    errors: list[tuple[float, str, str]] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)


class Traffic:
    """Light traffic in a thread: one reference row per request, ``rps`` requests a second.

    Sent through its own :func:`~prodready.adapters.connect` client, on a fixed schedule
    (a slow answer does not delay the schedule's later requests beyond itself). A request
    that is not answered (dropped, timed out, crashed, refused) counts as failed.
    """

    def __init__(self, system: System, rows: pd.DataFrame, rps: float, started: float) -> None:
        self.record = TrafficRecord()
        self._system = system
        self._rows = rows
        self._rps = rps
        self._started = started
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="prodready-rollback-traffic")
        self._thread.daemon = True

    def __enter__(self) -> Traffic:
        if self._rps > 0:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop sending and wait for the request in flight (bounded by the client's timeout)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def snapshot(self) -> TrafficRecord:
        """A copy of the record so far."""
        with self._lock:
            return TrafficRecord(
                self.record.sent,
                self.record.failed,
                list(self.record.errors),
                dict(self.record.versions),
            )

    def _run(self) -> None:
        period = 1.0 / self._rps
        with connect(self._system) as client:
            i = 0
            next_at = time.monotonic()
            while not self._stop.is_set():
                row = self._rows.iloc[[i % len(self._rows)]]
                reply = client.predict(row.copy())
                with self._lock:
                    self.record.sent += 1
                    if reply.answered:
                        version = _attr(reply, "model_version")
                        key = version if version is not None else "(not named)"
                        self.record.versions[key] = self.record.versions.get(key, 0) + 1
                    else:
                        self.record.failed += 1
                        if len(self.record.errors) < _KEEP_ERRORS:
                            at = time.monotonic() - self._started
                            self.record.errors.append((round(at, 3), reply.kind, reply.error))
                i += 1
                next_at += period
                self._stop.wait(max(0.0, next_at - time.monotonic()))


@dataclass
class Rehearsal:
    """What the rehearsal saw; the probe judges it (see :mod:`._probe`).

    ``reached`` describes the endpoint. ``steps_done`` lists the steps completed (the
    rehearsal stopped at the next one if ``failure`` is set: a deploy or rollback procedure
    that raised, or a deployment that never reached the endpoint). ``recorded`` is the
    canary observation before any change; ``original_version`` the version the mechanism or
    the endpoint named then; ``candidate_version`` what was deployed; ``deployed`` the
    first observation of the candidate being served and ``deploy_s`` the time it took.
    ``restore_s`` is the time from triggering the rollback to the first observation of the
    original being served again (None: not within ``max_restore_s``); ``after_rollback`` is
    that observation, or the last one seen. ``canary`` is the canary set sent once more at
    the end. ``polls`` / ``polls_failed`` count the probe's own canary requests,
    ``traffic`` the light traffic. ``put_back`` says what the final restore did,
    ``left_serving`` what the endpoint served after it when that is not the original (a
    rehearsal that could not put production back). ``total_s`` is the whole rehearsal.
    """

    mechanism: str
    described: str
    reached: str = ""
    steps_done: list[str] = field(default_factory=list)
    failure: str | None = None
    recorded: Observation | None = None
    original_version: str | None = None
    candidate_version: str | None = None
    deployed: Observation | None = None
    deploy_s: float | None = None
    restore_s: float | None = None
    after_rollback: Observation | None = None
    canary: Observation | None = None
    polls: int = 0
    polls_failed: int = 0
    poll_errors: list[tuple[float, str, str]] = field(default_factory=list)
    traffic: TrafficRecord = field(default_factory=TrafficRecord)
    put_back: str = ""
    left_serving: str | None = None
    total_s: float = 0.0

    @property
    def failed_requests(self) -> int:
        """Requests the system did not answer during the rehearsal (traffic and canaries)."""
        return self.traffic.failed + self.polls_failed

    @property
    def requests(self) -> int:
        return self.traffic.sent + self.polls


class _Observer:
    """Sends the canary set and tells whether the original or the candidate answered."""

    def __init__(
        self,
        client: Client,
        canary: pd.DataFrame,
        mechanism: Mechanism,
        record: Rehearsal,
        started: float,
    ) -> None:
        self.client = client
        self.canary = canary
        self.mechanism = mechanism
        self.record = record
        self.started = started

    def observe(self) -> Observation:
        reply = self.client.predict(self.canary.copy())
        at = time.monotonic() - self.started
        self.record.polls += 1
        if not reply.answered:
            self.record.polls_failed += 1
            if len(self.record.poll_errors) < _KEEP_ERRORS:
                self.record.poll_errors.append((round(at, 3), reply.kind, reply.error))
            return Observation(at=at, kind=reply.kind, error=reply.error)
        version = _attr(reply, "model_version")
        if version is None:
            version = self.mechanism.served_version()
        return Observation(
            at=at,
            kind=reply.kind,
            version=version,
            digest=_attr(reply, "model_digest"),
            outputs=reply.outputs,
        )

    def is_original(self, seen: Observation) -> bool:
        """The original answers: its version (and digest) when named, else its answers."""
        recorded = self.record.recorded
        assert recorded is not None
        if not seen.answered:
            return False
        if seen.version is not None and recorded.version is not None:
            same_digest = seen.digest is None or recorded.digest in (None, seen.digest)
            return seen.version == recorded.version and same_digest
        return seen.same_answers(recorded)

    def is_candidate(self, seen: Observation) -> bool:
        """The candidate answers: another version than the original (when named), else other
        answers."""
        recorded = self.record.recorded
        assert recorded is not None
        if not seen.answered:
            return False
        if seen.version is not None and recorded.version is not None:
            # Any other version than the original: a deploy hook may name its candidate
            # differently from the endpoint (the finding shows both).
            return seen.version != recorded.version
        return not seen.same_answers(recorded)

    def wait_for(
        self,
        wanted: Callable[[Observation], bool],
        seconds: float,
        context: ProbeContext,
        poll: float,
    ) -> tuple[Observation | None, Observation | None]:
        """Poll until ``wanted`` (the observation, or None) or ``seconds``; and the last seen."""
        deadline = time.monotonic() + seconds
        last: Observation | None = None
        while True:
            context.check_deadline()
            seen = self.observe()
            last = seen
            if wanted(seen):
                return seen, last
            left = deadline - time.monotonic()
            if left <= 0:
                return None, last
            context.cancel.wait(min(poll, left))


def _attr(reply: Reply, name: str) -> str | None:
    """A reply's ``model_version`` / ``model_digest`` as text (None: the system did not say)."""
    value = getattr(reply, name, None)
    if value is None:
        return None
    if isinstance(value, (list, tuple, np.ndarray)):  # one per row: the first row's
        value = value[0] if len(value) else None
    return None if value is None else str(value)


def rehearse(
    system: System,
    mechanism: Mechanism,
    settings: RollbackSettings,
    context: ProbeContext,
    on_step: Callable[[str], None] | None = None,
) -> Rehearsal:
    """Rehearse a rollback of ``system`` through ``mechanism`` (see the module docstring).

    ``on_step(name)`` is called as each step of :data:`STEPS` starts (tests inject failures
    and interruptions there). Returns the record, also when the system's procedures fail
    (``failure`` set). Raises what interrupts it (:class:`~prodready.probes.ProbeCancelled`,
    KeyboardInterrupt, a bug) after putting the system back.
    """
    started = time.monotonic()
    record = Rehearsal(mechanism=mechanism.name, described=mechanism.describe())
    rng = np.random.default_rng(context.seed)
    features = system.X("reference")
    picked = rng.choice(len(features), size=min(settings.canary_rows, len(features)), replace=False)
    canary = features.iloc[np.sort(picked)].reset_index(drop=True)
    traffic_rows = features.iloc[rng.permutation(len(features))[:200]].reset_index(drop=True)

    def step(name: str) -> None:
        context.check_deadline()
        context.report(f"rollback rehearsal: {name}", STEPS.index(name) / len(STEPS))
        if on_step is not None:
            on_step(name)

    changed = False  # True once anything in the system may differ from the snapshot
    with (
        connect(system) as client,
        Traffic(system, traffic_rows, settings.traffic_rps, started) as traffic,
    ):
        record.reached = client.describe()
        observer = _Observer(client, canary, mechanism, record, started)
        try:
            step("snapshot")
            mechanism.snapshot()
            record.steps_done.append("snapshot")

            step("record")
            record.original_version = mechanism.original()
            record.recorded = observer.observe()
            if not record.recorded.answered:
                record.failure = (
                    f"the endpoint did not answer the canary set before any change "
                    f"({record.recorded.kind}: {record.recorded.error[:200]})"
                )
                return record
            if record.recorded.version is None and record.original_version is not None:
                # The endpoint does not name what answers, the mechanism does.
                record.recorded = _named(record.recorded, record.original_version)
            record.steps_done.append("record")

            step("candidate")
            changed = True  # making a candidate may register a version
            # The version as the mechanism names it (a registry's number), else the endpoint's.
            candidate = mechanism.candidate(record.original_version or record.recorded.version)
            record.steps_done.append("candidate")

            step("deploy")
            t_deploy = time.monotonic()
            record.candidate_version = mechanism.deploy(candidate) or candidate
            record.steps_done.append("deploy")

            step("confirm")
            record.deployed, last = observer.wait_for(
                observer.is_candidate, settings.switch_timeout_s, context, settings.poll_s
            )
            if record.deployed is None:
                record.failure = (
                    f"the endpoint still served {last.who() if last else 'the original'} "
                    f"{settings.switch_timeout_s:g} s after the candidate "
                    f"{record.candidate_version or ''} was deployed: the deployment never "
                    "reached it, so no rollback could be rehearsed"
                ).replace("  ", " ")
                return record
            record.deploy_s = time.monotonic() - t_deploy
            record.steps_done.append("confirm")

            step("rollback")
            t_rollback = time.monotonic()
            mechanism.rollback()
            record.steps_done.append("rollback")

            step("restored")
            back, last = observer.wait_for(
                observer.is_original, settings.max_restore_s, context, settings.poll_s
            )
            if back is not None:
                record.restore_s = back.at - (t_rollback - started)
            record.after_rollback = back or last
            record.steps_done.append("restored")

            step("canary")
            record.canary = observer.observe()
            # Traffic goes on a little: a switch may break requests just after it.
            if context.cancel.wait(settings.settle_s):
                context.check_deadline()
            record.steps_done.append("canary")
            return record
        except MechanismError as exc:
            record.failure = str(exc)
            return record
        finally:
            try:
                if "snapshot" in record.steps_done:
                    _put_back(record, mechanism, observer, settings, context, changed)
            finally:
                traffic.stop()
                record.traffic = traffic.snapshot()
                record.total_s = time.monotonic() - started
                mechanism.close()


def _named(seen: Observation, version: str) -> Observation:
    return Observation(seen.at, seen.kind, version, seen.digest, seen.outputs, seen.error)


def _put_back(
    record: Rehearsal,
    mechanism: Mechanism,
    observer: _Observer,
    settings: RollbackSettings,
    context: ProbeContext,
    changed: bool,
) -> None:
    """Put the system back as the snapshot found it; wait (bounded) for the original.

    Runs in the rehearsal's ``finally``: it must not be stopped by the probe's own
    cancellation, so it waits on a private context, never on the run's. The mechanism is
    told whether the endpoint serves the original now (None: unknown), so that a hook
    mechanism touches production only when it must (a registry is restored in any case).
    """
    recorded = record.recorded
    original = record.original_version or (recorded.version if recorded else None)
    notes: list[str] = []
    known = recorded is not None and recorded.answered
    serving_original: bool | None = None
    if known:
        try:
            serving_original = observer.is_original(observer.observe())
        except MechanismError:  # served_version failing: unknown, restore to be safe
            serving_original = None
    try:
        if mechanism.restore(original, serving_original if changed else True):
            notes.append("restored the state recorded before the rehearsal")
    except MechanismError as exc:
        notes.append(f"could not restore: {exc}")
    if not known:
        record.put_back = "; ".join(notes)
        return
    private = ProbeContext(seed=context.seed)
    try:
        back, last = observer.wait_for(
            observer.is_original, settings.switch_timeout_s, private, settings.poll_s
        )
    except MechanismError as exc:  # served_version failing now: say so, do not mask
        back, last = None, None
        notes.append(f"could not tell what is served: {exc}")
    if back is None:
        record.left_serving = last.who() if last else "nothing (no answer)"
        notes.append(
            f"the endpoint still served {record.left_serving} {settings.switch_timeout_s:g} s "
            "later, not the original"
        )
    else:
        notes.append(f"the endpoint serves {back.who()} again")
    record.put_back = "; ".join(notes)
