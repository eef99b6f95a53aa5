"""Conformance checks for probes, ours and plug-ins': what every probe must do, tested.

A probe answers one checklist question by exercising a system (see :class:`prodready.Probe`).
Whatever it measures, every probe follows the same rules: it answers the question it says it
answers, never changes the system's model or data, returns a finding that survives
results.json, stops when the run is cancelled, gives the same answer for the same seed, never
PASSes with a failing check or with parts of its question unassessed, and judges a model that
raises on its own data as FAIL (the system failing), never as a crash of its own.

This module checks those rules the way scikit-learn's ``utils/estimator_checks.py`` checks
estimators: each rule is one public ``check_*`` function, the checks never mutate what they
are given (each probe run gets its own copy of the system), and a failure says how to fix it.

For a plug-in author, in the plug-in's own test suite::

    from prodready import System
    from prodready.testing import check_probe, parametrize_with_probes

    from my_plugin import LineageProbe


    def test_lineage_probe_conforms(system: System) -> None:
        check_probe(LineageProbe, system)  # every check; one error listing all that fail


    @parametrize_with_probes([LineageProbe])  # one test per check, e.g. "Q7-check_determinism"
    def test_conformance(probe, check, system: System) -> None:
        check(probe, system)

``system`` is any small :class:`~prodready.System` the probe can run on (a thousand rows is
plenty). A failure raises :class:`ProbeCheckError` (an ``AssertionError``), for instance::

    ProbeCheckError: LineageProbe (Q7) failed 1 of 7 checks:
    - check_determinism: two runs with seed 0 differ at finding.measurements['rows'][0]: 3 vs 5.
      How to fix: draw every random number from a generator seeded with context.seed ...

Each probe run inside the checks is preflighted (``probe.preflight(system)``) and gets a
:class:`~prodready.ProbeContext` with the policy's seed and a deadline ``time_limit`` seconds
away (by default the policy's ``probe_timeout_s``).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import inspect
import json
import math
import pickle
import textwrap
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn, ParamSpec

import pandas as pd

from prodready.assessment import _cap_partial
from prodready.checklist import QUESTIONS
from prodready.probes._base import Probe, ProbeCancelled, ProbeContext
from prodready.probes._scoring import _error_text
from prodready.results import Assessment, Check, Finding, Status

if TYPE_CHECKING:
    import pytest

    from prodready.system import System

__all__ = [
    "PROBE_CHECKS",
    "CheckFailure",
    "ProbeCheckError",
    "check_cancellation",
    "check_determinism",
    "check_failing_model",
    "check_probe",
    "check_question_id",
    "check_round_trip",
    "check_status_consistent",
    "check_system_unchanged",
    "parametrize_with_probes",
]

ProbeLike = Probe | type[Probe]
ProbeCheck = Callable[..., None]
_P = ParamSpec("_P")

#: Seconds after the start of a run at which :func:`check_cancellation` cancels it.
CANCEL_AFTER_S = 0.2
#: Seconds a cancelled probe has to stop, by default, before :func:`check_cancellation` fails.
CANCEL_BOUND_S = 5.0
#: What the model of :func:`check_failing_model` raises on every call.
BROKEN_MODEL_MESSAGE = "deliberately broken model"

_JUDGED = (Status.PASS, Status.WARN, Status.FAIL)


# -- failures -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CheckFailure:
    """One failed check: which (``check``), what went wrong (``problem``), how to fix it."""

    check: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.check}: {self.problem}\n  How to fix: {self.fix}"


class ProbeCheckError(AssertionError):
    """A probe broke one or more of the rules every probe follows.

    ``failures`` lists each failed check with what went wrong and how to fix it; the
    message lists them all. An ``AssertionError``, so that pytest reports it as a test
    failure (not an error of the test itself).
    """

    def __init__(self, probe: str, failures: Sequence[CheckFailure], total: int = 1) -> None:
        self.probe = probe
        self.failures = list(failures)
        if len(self.failures) == 1 and total == 1:
            message = f"{probe} failed {self.failures[0]}"
        else:
            listed = "\n".join(f"- {failure}" for failure in self.failures)
            message = f"{probe} failed {len(self.failures)} of {total} checks:\n{listed}"
        super().__init__(message)

    @property
    def checks(self) -> list[str]:
        """The names of the failed checks, e.g. ``["check_determinism"]``."""
        return [failure.check for failure in self.failures]


class _Failed(Exception):
    """Raised inside a check; :func:`_check` turns it into a :class:`ProbeCheckError`."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.problem, self.fix = problem, fix


def _check(func: Callable[_P, None]) -> Callable[_P, None]:
    """Decorate a check: a :class:`_Failed` raised in it becomes a :class:`ProbeCheckError`."""

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> None:
        try:
            func(*args, **kwargs)
        except _Failed as failed:
            probe = args[0] if args else kwargs["probe"]
            raise ProbeCheckError(
                _probe_name(probe),  # type: ignore[arg-type]
                [CheckFailure(func.__name__, failed.problem, failed.fix)],
            ) from failed.__cause__  # the probe's own exception, if any, with its traceback

    return wrapper


# -- fixes, in one place so that the messages stay consistent ---------------------------------

_FIX_CRASH = (
    "run() must return a Finding on a system it can run on, and let only ProbeCancelled "
    "escape: fix the bug the traceback shows (the runner reports an escaping exception as "
    "ERROR: prodready could not judge the question)."
)
_FIX_NOT_FINDING = "run() must return a prodready.Finding for the probe's question."
_FIX_PREFLIGHT = (
    "check the probe on a system it can run on: install what preflight asks for or fix the "
    "settings it names (preflight raises UsageError only for what the user must fix)."
)
_FIX_TIMEOUT = (
    "make the probe finish within the time limit on a system this size (the policy's "
    "probe_timeout_s), or give the check a larger time_limit."
)
_FIX_INSTANTIATE = (
    "a probe class must be constructible without arguments: its settings come from the spec "
    "through settings_class and Probe.settings(system)."
)


# -- running a probe ----------------------------------------------------------------------


def _probe_name(probe: ProbeLike) -> str:
    cls = probe if isinstance(probe, type) else type(probe)
    question = getattr(cls, "question", None)
    return f"{cls.__name__} ({question})" if isinstance(question, str) else cls.__name__


def _instance(probe: ProbeLike) -> Probe:
    """A fresh probe: a new instance of a class, or a copy of an instance when it can be made."""
    if isinstance(probe, type):
        try:
            return probe()
        except Exception as exc:
            raise _Failed(
                f"{probe.__qualname__}() raised {_error_text(exc)}.", _FIX_INSTANTIATE
            ) from exc
    try:
        return copy.deepcopy(probe)
    except Exception:
        return probe


def _copy_system(system: System) -> System:
    """A copy of ``system`` whose model, data and settings the caller's system does not share.

    A probe under check runs on such a copy, so that a probe that breaks the rules cannot
    change the caller's objects (a session-wide test fixture, say).
    """
    try:
        model = copy.deepcopy(system.model)
    except Exception:  # some models cannot be copied: share this one, and compare digests
        model = system.model
    return dataclasses.replace(
        system,
        model=model,
        reference=system.reference.copy(deep=True),
        current=None if system.current is None else system.current.copy(deep=True),
        features=list(system.feature_columns),
        categorical=list(system.categorical_columns),
        hooks=dict(system.hooks),
        settings=copy.deepcopy(system.settings),
        data_artifacts=dict(system.data_artifacts),
    )


def _limit(system: System, time_limit: float | None) -> float:
    return system.policy.probe_timeout_s if time_limit is None else time_limit


def _context(system: System, time_limit: float | None) -> ProbeContext:
    return ProbeContext(
        deadline=time.monotonic() + _limit(system, time_limit), seed=system.policy.seed
    )


def _preflight(probe: Probe, system: System) -> None:
    try:
        probe.preflight(system)
    except Exception as exc:
        raise _Failed(
            f"preflight(system) raised {_error_text(exc)}, so the check cannot run.",
            _FIX_PREFLIGHT,
        ) from exc


def _run(
    probe: ProbeLike,
    system: System,
    time_limit: float | None,
    *,
    when: str = "on a healthy system",
    crash_fix: str = _FIX_CRASH,
) -> Finding:
    """Preflight and run a fresh ``probe`` on ``system``; any misbehaviour is a :class:`_Failed`."""
    instance = _instance(probe)
    _preflight(instance, system)
    context = _context(system, time_limit)
    try:
        finding = instance.run(system, context)
    except ProbeCancelled as exc:  # the context is never cancelled here: it ran out of time
        limit = _limit(system, time_limit)
        raise _Failed(
            f"run() did not finish within its time limit ({limit:g} s) {when}.", _FIX_TIMEOUT
        ) from exc
    except Exception as exc:
        raise _Failed(
            f"run() raised {_error_text(exc)} {when}.\n{_last_frames(exc)}", crash_fix
        ) from exc
    if not isinstance(finding, Finding):
        raise _Failed(
            f"run() returned {type(finding).__name__} {_short(finding)}, not a Finding.",
            _FIX_NOT_FINDING,
        )
    return finding


def _last_frames(exc: BaseException, limit: int = 3) -> str:
    """The innermost frames of ``exc``'s traceback outside this module, indented."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__]
    return textwrap.indent("".join(traceback.format_list(frames[-limit:])).rstrip(), "  ")


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _as_check(status: Status) -> Check:
    return Check(name="status", status=status, measured=None, threshold="", message="")


# -- a) the question ------------------------------------------------------------------------


@_check
def check_question_id(probe: ProbeLike, system: System, *, time_limit: float | None = None) -> None:
    """The probe names a checklist question, and its finding answers that question.

    The runner files each finding under its question id and turns a finding for another
    question into an ERROR; a probe whose ``question`` is not an id of
    :data:`prodready.checklist.QUESTIONS` cannot be registered at all.
    """
    known = [q.id for q in QUESTIONS]
    question = getattr(probe, "question", None)
    if question not in known:
        raise _Failed(
            f"its question attribute is {question!r}, not a checklist question id.",
            "set the class attribute question to the id of the checklist question the probe "
            f"answers, one of {', '.join(known)} (prodready.checklist.QUESTIONS).",
        )
    finding = _run(probe, _copy_system(system), time_limit)
    if finding.question != question:
        raise _Failed(
            f"it answers {question} but its finding is for {finding.question!r}.",
            "return Finding(question=self.question, ...), or self.not_assessed(...) / "
            "self.skipped(...), which set it for you.",
        )


# -- b) the system is left as it was ----------------------------------------------------------


def _model_digest(model: Any) -> str | None:
    """sha256 of the pickled model, or None when it cannot be pickled."""
    try:
        return hashlib.sha256(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)).hexdigest()
    except Exception:
        return None


def _frame_digest(frame: pd.DataFrame | None) -> str | None:
    """sha256 of a frame's values, index, column names and dtypes (None for no frame)."""
    if frame is None:
        return None
    digest = hashlib.sha256()
    try:
        digest.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    except TypeError:  # unhashable cells (lists, dicts): fall back to their pickle
        digest.update(pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL))
    digest.update(repr([str(c) for c in frame.columns]).encode())
    digest.update(repr([str(t) for t in frame.dtypes]).encode())
    return digest.hexdigest()


def _digests(system: System) -> dict[str, str | None]:
    return {
        "model": _model_digest(system.model),
        "reference data": _frame_digest(system.reference),
        "current data": _frame_digest(system.current),
        "features": repr(system.features),
        "settings": repr(system.settings),
    }


@_check
def check_system_unchanged(
    probe: ProbeLike, system: System, *, time_limit: float | None = None
) -> None:
    """``run`` leaves the system's model, data, features and settings exactly as they were.

    Digests are compared before and after a run: the model's pickle (sha256), and each
    DataFrame's values with its index, column names and dtypes. A probe that writes into the
    data, refits the model or sets one of its attributes would make every later probe judge a
    different system than the one described in the report. (A model that cannot be pickled
    is left out of the comparison.)
    """
    work = _copy_system(system)
    before = _digests(work)
    _run(probe, work, time_limit)
    after = _digests(work)
    changed = [name for name in before if before[name] != after[name]]
    if changed:
        raise _Failed(
            f"run() changed the system's {' and '.join(changed)} (digest differs after the run).",
            "work on copies (system.X() returns a new frame; call .copy() before changing a "
            "frame), never assign to the system's attributes, and never fit or set attributes "
            "on system.model; score rows through prodready.probes.score_model, which gives the "
            "model copies.",
        )


# -- c) the finding survives results.json -----------------------------------------------------

_FIX_JSON = (
    "use plain JSON values (str, int, float, bool, None, list, dict with str keys) in "
    "measurements, thresholds, checks' measured values and evidence rows: convert numpy "
    "scalars with .item() and arrays with .tolist(), tuples to lists; evidence items are "
    "prodready.Table or prodready.Chart."
)


def _assessment(system: System, findings: list[Finding]) -> Assessment:
    return Assessment(
        run_id="conformance-check",
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        system=system.describe(),
        findings=findings,
        scores={},
        overall=0.0,
        verdict="not ready",
        policy={},
        environment={},
        questions=[f.question for f in findings],
    )


def _not_json(value: Any, path: str) -> str | None:
    """Where ``value`` holds something that is not a plain JSON value, and what it is."""
    if value is None or isinstance(value, str | bool | int | float):
        # numpy's float64 is a float and is written as one; numpy's int64 and bool_ are not.
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return (
                    f"{path} has the key {key!r} ({type(key).__name__}): JSON keys are strings, "
                    f"it would be read back as {str(key)!r}"
                )
            found = _not_json(item, f"{path}[{key!r}]")
            if found:
                return found
        return None
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = _not_json(item, f"{path}[{i}]")
            if found:
                return found
        return None
    if isinstance(value, tuple):
        return f"{path} is a tuple {_short(value)}: it would be read back as a list"
    kind = f"{type(value).__module__}.{type(value).__qualname__}".removeprefix("builtins.")
    return f"{path} is a {kind} ({_short(value)}), not a plain JSON value"


def _finding_form(finding: Finding) -> dict[str, Any]:
    """The finding as nested dicts and lists, NaN and infinities as None (as results.json has)."""
    form: dict[str, Any] = _finite(dataclasses.asdict(finding))
    return form


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_finite(v) for v in value)
    return value


def _difference(a: Any, b: Any, path: str) -> str | None:
    """The first place where ``a`` and ``b`` differ, in words; None when they are equal."""
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            only_a = [k for k in a if k not in b]
            only_b = [k for k in b if k not in a]
            if only_a or only_b:
                return f"{path}: keys {_short(only_a)} vs {_short(only_b)}"
        for key in a:
            found = _difference(a[key], b[key], f"{path}[{key!r}]")
            if found:
                return found
        return None
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        if type(a) is not type(b):
            return f"{path}: a {type(a).__name__} vs a {type(b).__name__}"
        if len(a) != len(b):
            return f"{path}: {len(a)} items vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    try:
        same = bool(a == b) and isinstance(a, bool) == isinstance(b, bool)
    except Exception:  # arrays and other values with no single truth value
        same = repr(a) == repr(b)
    return None if same else f"{path}: {_short(a, 60)} vs {_short(b, 60)}"


def _field_path(path: str) -> str:
    """``finding['measurements']['x']`` -> ``finding.measurements['x']`` for readability."""
    if path.startswith("finding['"):
        end = path.index("']", 9)
        return "finding." + path[9:end] + path[end + 2 :]
    return path


@_check
def check_round_trip(probe: ProbeLike, system: System, *, time_limit: float | None = None) -> None:
    """The finding is written to results.json and read back unchanged.

    The finding is put in an :class:`~prodready.Assessment`, written with ``to_json`` and read
    back with ``Assessment.from_dict``; the finding read back must equal the one the probe
    returned (NaN and infinities excepted: JSON writes them as null). Reports, the dashboard
    and an auditor's scripts only ever see what results.json holds.
    """
    work = _copy_system(system)
    finding = _run(probe, work, time_limit)
    form = _finding_form(finding)
    problem = _not_json(form, "finding")
    if problem:
        raise _Failed(_field_path(problem) + ".", _FIX_JSON)
    try:
        text = _assessment(work, [finding]).to_json()
    except (TypeError, ValueError) as exc:
        raise _Failed(f"results.json cannot be written: {_error_text(exc)}.", _FIX_JSON) from exc
    try:
        restored = Assessment.from_dict(json.loads(text)).findings[0]
    except Exception as exc:
        raise _Failed(f"results.json cannot be read back: {_error_text(exc)}.", _FIX_JSON) from exc
    written = json.loads(text)["findings"][0]
    rewritten = json.loads(_assessment(work, [restored]).to_json())["findings"][0]
    found = _difference(written, rewritten, "finding") or _difference(
        form, _finding_form(restored), "finding"
    )
    if found:
        raise _Failed(
            f"the finding read back from results.json differs at {_field_path(found)}.", _FIX_JSON
        )


# -- d) cancellation ------------------------------------------------------------------------


@_check
def check_cancellation(
    probe: ProbeLike,
    system: System,
    *,
    cancel_after: float = CANCEL_AFTER_S,
    cancel_bound: float = CANCEL_BOUND_S,
    time_limit: float | None = None,
) -> None:
    """A cancelled probe stops by itself, soon: it raises ``ProbeCancelled`` (or returns).

    The probe runs in a daemon thread; its context's ``cancel`` event is set ``cancel_after``
    seconds after the start (the user pressed Stop, or the time limit passed). It must end
    within ``cancel_bound`` seconds of that, and raise nothing but ``ProbeCancelled``. A
    thread cannot be killed: a probe that ignores cancellation keeps running in the background
    of a notebook or CI job, holding the model and maybe a server, and the runner can only
    abandon it. A probe that ends before ``cancel_after`` is run once more and cancelled
    halfway through that time, so that fast probes are cancelled mid-run too.
    """
    cancelled, kind, value, took = _cancelled_run(
        probe, system, cancel_after, cancel_bound, time_limit
    )
    if not cancelled and took / 2 >= _MIN_CANCEL_AFTER_S:
        cancelled, kind, value, took = _cancelled_run(
            probe, system, took / 2, cancel_bound, time_limit
        )
    if kind == "running":
        raise _Failed(
            f"run() was still running {cancel_bound:g} s after its context was cancelled.",
            "call context.check_deadline() between steps (it raises ProbeCancelled once the "
            "run is cancelled) and use context.cancel.wait(seconds) instead of "
            "time.sleep(seconds); pass the context to prodready.probes.score_model.",
        )
    if kind == "raised":
        if cancelled:
            raise _Failed(
                f"once cancelled, run() raised {_error_text(value)} instead of ProbeCancelled.",
                "let ProbeCancelled propagate: do not catch it (nor Exception around "
                "context.check_deadline() or score_model) without re-raising it.",
            )
        raise _Failed(
            f"run() raised {_error_text(value)} on a healthy system.\n{_last_frames(value)}",
            _FIX_CRASH,
        )
    if kind == "finding" and not isinstance(value, Finding):
        raise _Failed(
            f"run() returned {type(value).__name__} {_short(value)}, not a Finding.",
            _FIX_NOT_FINDING,
        )


#: The earliest a fast probe is cancelled by :func:`check_cancellation`'s second run.
_MIN_CANCEL_AFTER_S = 0.002


def _cancelled_run(
    probe: ProbeLike,
    system: System,
    cancel_after: float,
    cancel_bound: float,
    time_limit: float | None,
) -> tuple[bool, str, Any, float]:
    """Run ``probe`` in a daemon thread and cancel it after ``cancel_after`` seconds.

    Returns whether it was cancelled (still running at ``cancel_after``), how it ended
    ("finding", "cancelled", "raised", or "running" when it did not stop within
    ``cancel_bound`` and was abandoned), the finding or exception, and how long it ran when
    it ended before the cancellation.
    """
    work = _copy_system(system)
    instance = _instance(probe)
    _preflight(instance, work)
    context = _context(work, time_limit)
    outcome: list[tuple[str, Any]] = []

    def target() -> None:
        try:
            outcome.append(("finding", instance.run(work, context)))
        except ProbeCancelled:
            outcome.append(("cancelled", None))
        except BaseException as exc:
            outcome.append(("raised", exc))

    worker = threading.Thread(
        target=target, name=f"prodready-check-{getattr(probe, 'question', '?')}", daemon=True
    )
    start = time.monotonic()
    worker.start()
    worker.join(cancel_after)
    took = time.monotonic() - start
    cancelled = worker.is_alive()
    if cancelled:
        context.cancel.set()
        worker.join(cancel_bound)  # a probe that ignores the event is abandoned (a daemon)
        if worker.is_alive():
            return True, "running", None, took
    kind, value = outcome[0]
    return cancelled, kind, value, took


# -- e) determinism -------------------------------------------------------------------------


@_check
def check_determinism(
    probe: ProbeLike,
    system: System,
    *,
    ignore: Sequence[str] = ("duration_s",),
    time_limit: float | None = None,
) -> None:
    """Two runs with the same seed give the same finding (but its ``duration_s``).

    A report must be repeatable: the same system, spec and seed give the same answer, so an
    auditor can re-run it and a difference between two runs means the system changed.
    ``ignore`` names the finding's fields left out of the comparison.
    """
    first = _finding_form(_run(probe, _copy_system(system), time_limit))
    second = _finding_form(_run(probe, _copy_system(system), time_limit))
    for name in ignore:
        first.pop(name, None)
        second.pop(name, None)
    found = _difference(first, second, "finding")
    if found:
        raise _Failed(
            f"two runs with seed {system.policy.seed} differ at {_field_path(found)}.",
            "draw every random number from a generator seeded with context.seed "
            "(np.random.default_rng(context.seed)), pass random_state=context.seed to the "
            "libraries you call, and keep wall-clock times, set order and global random state "
            "out of the finding.",
        )


# -- f) the status tells the truth --------------------------------------------------------------


@_check
def check_status_consistent(
    probe: ProbeLike, system: System, *, time_limit: float | None = None
) -> None:
    """The status is at least as bad as the worst check, and never PASS with parts unassessed.

    A finding's ``checks`` are the judged conditions behind its status: a PASS (or WARN) above
    a FAIL check hides a failure. ``not_assessed`` lists the parts of the question the probe
    does not cover: the runner (:func:`prodready.assess`) caps such a finding to WARN, and
    this check verifies that the finding, after the runner's rule, is not PASS; each entry
    must be a sentence naming the part.
    """
    finding = _run(probe, _copy_system(system), time_limit)
    if finding.status in _JUDGED:
        worst = Finding.worst(finding.checks)
        # The status must be at least as bad as its worst check.
        if Finding.worst([*finding.checks, _as_check(finding.status)]) is not finding.status:
            bad = [c.name for c in finding.checks if c.status is worst]
            raise _Failed(
                f"its status is {finding.status.label} but its check(s) {_short(bad)} are "
                f"{worst.label}.",
                "derive the status from the checks: status = Finding.worst(checks), or worse; "
                "a check that does not pass cannot give a finding that passes.",
            )
    if not all(isinstance(part, str) and part.strip() for part in finding.not_assessed):
        raise _Failed(
            f"not_assessed is {_short(finding.not_assessed)}.",
            "list in not_assessed one plain sentence per part of the question the probe does "
            "not cover yet.",
        )
    capped = copy.deepcopy(finding)
    _cap_partial(capped)
    if capped.not_assessed and capped.status is Status.PASS:
        raise _Failed(
            f"it PASSes with parts not assessed: {_short(capped.not_assessed)}.",
            "a finding with parts not assessed cannot PASS: return WARN, or assess the missing "
            "parts (the runner's rule that caps such findings, "
            "prodready.assessment._cap_partial, did not apply).",
        )


# -- g) a model that raises is the system failing ---------------------------------------------


class _Method:
    """A prediction method of :class:`_RaisingModel`, present only if the wrapped model has it."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        if not hasattr(obj.model, self.name):
            raise AttributeError(f"{type(obj.model).__name__} has no {self.name}")
        return lambda *args, **kwargs: obj._raise(self.name)


class _RaisingModel:
    """Looks like ``model`` (same classes, features, methods) but raises on every call."""

    predict = _Method()
    predict_proba = _Method()
    decision_function = _Method()

    def __init__(self, model: Any) -> None:
        self.model = model
        self.calls = 0
        for name in ("classes_", "feature_names_in_", "n_features_in_", "_estimator_type"):
            if hasattr(model, name):
                setattr(self, name, getattr(model, name))

    def _raise(self, method: str) -> NoReturn:
        self.calls += 1
        raise RuntimeError(BROKEN_MODEL_MESSAGE)

    def __repr__(self) -> str:
        return f"_RaisingModel({type(self.model).__name__})"


@_check
def check_failing_model(
    probe: ProbeLike, system: System, *, time_limit: float | None = None
) -> None:
    """A model that raises on its own data makes the probe FAIL, not crash.

    The system's model is replaced by one that looks the same (classes, feature names,
    prediction methods) but raises ``RuntimeError`` on every call. A model that cannot score
    its production data is the *system* failing: the probe must judge it (FAIL), not crash
    (an ERROR says prodready could not judge). A probe that never calls the model passes.
    Only the model's prediction methods are offered: a probe reaching into a Pipeline's
    steps sees a model without them.
    """
    base = _copy_system(system)
    broken_model = _RaisingModel(base.model)
    broken = dataclasses.replace(base, model=broken_model)
    finding = _run(
        probe,
        broken,
        time_limit,
        when="when the model raises on every call",
        crash_fix="score the model through prodready.probes.score_model, which catches what the "
        "model raises and reports the rows it could not score: a model raising on its own data "
        "is the system failing, FAIL, not ERROR (an exception escaping run() is an ERROR).",
    )
    if broken_model.calls and finding.status is not Status.FAIL:
        raise _Failed(
            f"the model raised on all of its {broken_model.calls} call(s), but the finding is "
            f"{finding.status.label}.",
            "a model that cannot score its own data is the system failing: score rows through "
            "prodready.probes.score_model and add a FAIL check when the Scoring is not ok "
            "(Scoring.describe() gives the sentence).",
        )


# -- all checks ------------------------------------------------------------------------------

#: Every conformance check, in the order :func:`check_probe` runs them.
PROBE_CHECKS: tuple[ProbeCheck, ...] = (
    check_question_id,
    check_system_unchanged,
    check_round_trip,
    check_status_consistent,
    check_determinism,
    check_failing_model,
    check_cancellation,
)


def _check_name(check: Callable[..., Any]) -> str:
    func = check
    while hasattr(func, "func"):  # functools.partial
        func = func.func
    return str(getattr(func, "__name__", repr(func)))


def check_probe(
    probe: ProbeLike,
    system: System,
    *,
    checks: Iterable[ProbeCheck] | None = None,
    cancel_bound: float | None = None,
    time_limit: float | None = None,
) -> None:
    """Run every conformance check (or ``checks``) on ``probe`` against ``system``.

    ``probe`` is a :class:`~prodready.Probe` subclass (a fresh instance is made for each run)
    or an instance. Raises :class:`ProbeCheckError` listing every check that failed, each with
    how to fix it. ``cancel_bound`` is how long a cancelled probe may take to stop (default
    :data:`CANCEL_BOUND_S`); ``time_limit`` the time limit of each run (default: the policy's
    ``probe_timeout_s``). These options go to the checks that take them (and are given), so
    ``checks`` may hold checks of your own with the signature ``check(probe, system)``, or
    ``functools.partial`` of ours. ``system`` is never changed: each run gets a copy.
    """
    selected = list(PROBE_CHECKS if checks is None else checks)
    given = {"cancel_bound": cancel_bound, "time_limit": time_limit}
    options: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    failures: list[CheckFailure] = []
    for check in selected:
        try:
            check(probe, system, **_accepted(check, options))
        except ProbeCheckError as exc:
            failures.extend(exc.failures)
    if failures:
        raise ProbeCheckError(_probe_name(probe), failures, total=len(selected))


def _accepted(check: Callable[..., Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """The ``options`` that ``check`` takes as keyword arguments."""
    try:
        params = inspect.signature(check).parameters
    except (TypeError, ValueError):
        return {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(options)
    return {k: v for k, v in options.items() if k in params}


def parametrize_with_probes(
    probes: Iterable[ProbeLike] | Mapping[str, ProbeLike],
    *,
    checks: Iterable[ProbeCheck] | None = None,
) -> pytest.MarkDecorator:
    """A ``pytest.mark.parametrize("probe, check", ...)`` over every probe and check.

    Each pair is one test, with the id ``"<question>-<check name>"`` (``"Q3-check_determinism"``)::

        @parametrize_with_probes([MonitoringProbe, ExplainabilityProbe])
        def test_conformance(probe, check, system):
            check(probe, system)

    ``probes`` may be the mapping of :func:`prodready.probes.builtin_probes`. pytest is only
    imported here: it is not a dependency of prodready.
    """
    import pytest

    items = list(probes.values()) if isinstance(probes, Mapping) else list(probes)
    selected = list(PROBE_CHECKS if checks is None else checks)
    params = [(probe, check) for probe in items for check in selected]
    ids = [
        f"{getattr(probe, 'question', _probe_name(probe))}-{_check_name(check)}"
        for probe, check in params
    ]
    return pytest.mark.parametrize(("probe", "check"), params, ids=ids)
