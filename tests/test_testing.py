"""prodready.testing: the conformance checks catch each broken probe, and every probe we ship
passes them.

Like scikit-learn's tests of its estimator checks: deliberately broken probes, each breaking
one rule, and the exact check that must catch it with a message that says how to fix it.
"""

from __future__ import annotations

import functools
import hashlib
import time
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from prodready import Check, Finding, ProbeContext, Status, System
from prodready.probes import Probe, ProbeCancelled, builtin_probes, score_model
from prodready.system import Traffic
from prodready.testing import (
    PROBE_CHECKS,
    CheckFailure,
    ProbeCheckError,
    check_cancellation,
    check_determinism,
    check_failing_model,
    check_probe,
    check_question_id,
    check_round_trip,
    check_system_unchanged,
    parametrize_with_probes,
)
from tests import zoo

SETTINGS = {"explainability": {"sample": 100}, "monitoring": {"engine": "scipy"}}
#: A load test of a second or two: short phases, no capacity search.
QUICK_LOAD = {"phase_s": 0.5, "warmup_s": 0.1, "search": False}


@pytest.fixture
def system(binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]) -> System:
    """A small binary system: the shared fixtures' model, 1,000 rows of each window."""
    ref, cur = binary_data
    return System(
        model=binary_model,
        reference=ref.iloc[:1000],
        current=cur.iloc[:1000],
        target="target",
        settings=SETTINGS,
    )


def digest(system: System) -> tuple[str, ...]:
    frames = (system.reference, system.current)
    return tuple(
        hashlib.sha256(pd.util.hash_pandas_object(f, index=True).to_numpy().tobytes()).hexdigest()
        for f in frames
        if f is not None
    )


# -- probes, good and bad ---------------------------------------------------------------------


class ScoresSample(Probe):
    """A well-behaved probe: scores a seeded sample of current rows in steps, FAILs on rows
    the model cannot score, checks for cancellation between steps."""

    question: ClassVar[str] = "Q2"
    steps: ClassVar[int] = 4
    pause: ClassVar[float] = 0.0  # seconds waited per step, on the cancel event

    def run(self, system: System, context: ProbeContext) -> Finding:
        data = system.X("current" if system.current is not None else "reference")
        rng = np.random.default_rng(context.seed)
        rows = np.sort(rng.choice(len(data), size=min(200, len(data)), replace=False))
        sample = data.iloc[rows]
        failed = 0
        for part in np.array_split(np.arange(len(sample)), self.steps):
            if self.pause:
                context.cancel.wait(self.pause)
            context.check_deadline()
            scoring = score_model(system.model, sample.iloc[part], "predict", context=context)
            failed += scoring.n_failed
        check = Check(
            name="sampled rows scored",
            status=Status.FAIL if failed else Status.PASS,
            measured=failed,
            threshold="no row the model cannot score",
            message=f"The model could not score {failed} of {len(sample)} sampled rows.",
        )
        return Finding(
            question=self.question,
            status=Finding.worst([check]),
            summary=check.message,
            checks=[check],
            measurements={"rows": len(sample), "failed_rows": failed, "first": int(rows[0])},
            not_assessed=["everything but scoring a sample"],
        )


class Paced(ScoresSample):
    """Well-behaved and slow (1 s): waits on the cancel event between its ten steps."""

    steps = 10
    pause = 0.1


class MutatesReference(ScoresSample):
    """Writes into the system's reference data."""

    def run(self, system: System, context: ProbeContext) -> Finding:
        system.reference[system.feature_columns[0]] = 0.0
        return super().run(system, context)


class IgnoresCancellation(ScoresSample):
    """Sleeps 30 s without looking at its context."""

    def run(self, system: System, context: ProbeContext) -> Finding:
        time.sleep(30)
        return super().run(system, context)


class CatchesCancellation(Paced):
    """Turns the cancellation into an error of its own."""

    def run(self, system: System, context: ProbeContext) -> Finding:
        try:
            return super().run(system, context)
        except Exception as exc:
            raise RuntimeError("step failed") from exc


class WrongQuestion(ScoresSample):
    """Says it answers Q2 and returns a finding for Q8."""

    def run(self, system: System, context: ProbeContext) -> Finding:
        finding = super().run(system, context)
        finding.question = "Q8"
        return finding


class NotAQuestion(ScoresSample):
    """Names a question the checklist does not have."""

    question = "Q42"


class PassOverFail(Probe):
    """PASSes although one of its checks FAILs (and never calls the model)."""

    question = "Q4"

    def run(self, system: System, context: ProbeContext) -> Finding:
        checks = [
            Check("restored in time", Status.PASS, 1.2, "<= 5 s", "Restored in 1.2 s."),
            Check("same predictions", Status.FAIL, 3, "0 differences", "3 rows differ."),
        ]
        return Finding(question=self.question, status=Status.PASS, summary="ok", checks=checks)


class CallsModelDirectly(ScoresSample):
    """Calls model.predict itself: crashes when the model raises."""

    def run(self, system: System, context: ProbeContext) -> Finding:
        system.model.predict(system.X("current"))
        return super().run(system, context)


class SwallowsModelError(ScoresSample):
    """Catches the model's exception and PASSes anyway."""

    def run(self, system: System, context: ProbeContext) -> Finding:
        try:
            system.model.predict(system.X("current"))
        except Exception:
            return Finding(question=self.question, status=Status.PASS, summary="fine")
        return super().run(system, context)


class Unseeded(ScoresSample):
    """Puts an unseeded random number in its measurements."""

    def run(self, system: System, context: ProbeContext) -> Finding:
        finding = super().run(system, context)
        finding.measurements["noise"] = float(np.random.default_rng().random())
        return finding


class NumpyMeasurement(ScoresSample):
    """Measures a numpy integer, which results.json cannot hold."""

    def run(self, system: System, context: ProbeContext) -> Finding:
        finding = super().run(system, context)
        finding.measurements["failed_rows"] = np.int64(finding.measurements["failed_rows"])
        return finding


class TupleMeasurement(ScoresSample):
    """Measures a tuple, which results.json gives back as a list."""

    def run(self, system: System, context: ProbeContext) -> Finding:
        finding = super().run(system, context)
        finding.measurements["window"] = ("2024-01", "2024-02")
        return finding


# -- the checks catch each broken probe ---------------------------------------------------------


def failed(probe: Any, system: System, **options: Any) -> ProbeCheckError:
    with pytest.raises(ProbeCheckError) as info:
        check_probe(probe, system, **options)
    return info.value


def test_a_well_behaved_probe_passes_every_check(system: System) -> None:
    check_probe(ScoresSample, system)
    check_probe(ScoresSample(), system)  # an instance as well as a class


@pytest.mark.parametrize(
    ("probe", "check", "hint"),
    [
        (MutatesReference, "check_system_unchanged", "work on copies (system.X() returns a new"),
        (WrongQuestion, "check_question_id", "Finding(question=self.question"),
        (NotAQuestion, "check_question_id", "one of Q1, Q2, Q3"),
        (PassOverFail, "check_status_consistent", "status = Finding.worst(checks)"),
        (CallsModelDirectly, "check_failing_model", "score the model through"),
        (SwallowsModelError, "check_failing_model", "is the system failing"),
        (Unseeded, "check_determinism", "np.random.default_rng(context.seed)"),
        (NumpyMeasurement, "check_round_trip", "use plain JSON values"),
        (TupleMeasurement, "check_round_trip", "tuples to lists"),
    ],
)
def test_each_broken_probe_fails_exactly_its_check(
    system: System, probe: type[Probe], check: str, hint: str
) -> None:
    error = failed(probe, system)
    assert error.checks == [check]
    message = str(error)
    assert f"failed 1 of {len(PROBE_CHECKS)} checks" in message
    assert check in message and "How to fix: " in message
    assert hint in " ".join(message.split())  # the hint, whatever the line breaks


def test_messages_say_what_went_wrong(system: System) -> None:
    assert "changed the system's reference data" in str(failed(MutatesReference, system))
    assert "its finding is for 'Q8'" in str(failed(WrongQuestion, system))
    assert "check(s) ['same predictions'] are FAIL" in str(failed(PassOverFail, system))
    crash = str(failed(CallsModelDirectly, system))
    assert "RuntimeError: deliberately broken model" in crash
    assert "when the model raises on every call" in crash
    assert "finding.measurements['noise']" in str(failed(Unseeded, system))
    assert "finding.measurements['failed_rows'] is a numpy.int64" in str(
        failed(NumpyMeasurement, system)
    )
    assert "finding.measurements['window'] is a tuple" in str(failed(TupleMeasurement, system))


def test_a_probe_ignoring_cancellation_is_abandoned_after_the_bound(system: System) -> None:
    start = time.monotonic()
    error = failed(IgnoresCancellation, system, checks=[check_cancellation], cancel_bound=1.0)
    assert time.monotonic() - start < 5  # not the 30 s it sleeps: the thread was abandoned
    assert error.checks == ["check_cancellation"]
    assert "still running 1 s after its context was cancelled" in str(error)
    assert "context.check_deadline()" in str(error)
    assert "context.cancel.wait(seconds) instead of time.sleep(seconds)" in str(error)


def test_check_probe_takes_partial_checks_and_checks_of_your_own(system: System) -> None:
    def check_summary_ends_with_a_period(probe: Any, system: System) -> None:
        finding = probe().run(system, ProbeContext())
        if not finding.summary.endswith("."):
            raise ProbeCheckError("mine", [CheckFailure("check_summary", "no period", "add one")])

    check_probe(ScoresSample, system, checks=[check_summary_ends_with_a_period])
    bounded = functools.partial(check_cancellation, cancel_bound=0.5)
    start = time.monotonic()
    error = failed(IgnoresCancellation, system, checks=[bounded])
    assert time.monotonic() - start < 3
    assert "still running 0.5 s after" in str(error)
    assert parametrize_with_probes([ScoresSample], checks=[bounded]).kwargs["ids"] == [
        "Q2-check_cancellation"
    ]


def test_a_cooperative_probe_is_cancelled_midway(system: System) -> None:
    start = time.monotonic()
    check_cancellation(Paced, system)
    assert time.monotonic() - start < 0.8  # it stopped when cancelled, not after its 1 s


def test_a_probe_turning_cancellation_into_an_error_fails(system: System) -> None:
    with pytest.raises(ProbeCheckError, match="let ProbeCancelled propagate") as info:
        check_cancellation(CatchesCancellation, system)
    assert "raised RuntimeError: step failed instead of ProbeCancelled" in str(info.value)


def test_a_fast_probe_is_cancelled_too(system: System) -> None:
    """A probe faster than the cancellation delay is run again and cancelled halfway."""
    seen: list[str] = []

    class Fast(ScoresSample):
        steps = 20
        pause = 0.005  # about 0.1 s in all: cancelled halfway, whatever the machine

        def run(self, system: System, context: ProbeContext) -> Finding:
            try:
                return super().run(system, context)
            except ProbeCancelled:
                seen.append("cancelled")
                raise

    check_cancellation(Fast, system, cancel_after=5.0)
    assert seen == ["cancelled"]


def test_check_probe_lists_every_failure(system: System) -> None:
    class Everything(Unseeded):
        question = "Q42"

        def run(self, system: System, context: ProbeContext) -> Finding:
            system.reference[system.feature_columns[0]] = 0.0
            return super().run(system, context)

    error = failed(Everything, system)
    assert error.checks == ["check_question_id", "check_system_unchanged", "check_determinism"]
    message = str(error)
    assert message.startswith("Everything (Q42) failed 3 of 7 checks:\n- check_question_id: ")
    assert message.count("How to fix: ") == 3


def test_the_checks_never_change_the_callers_system(system: System) -> None:
    before = digest(system)
    failed(MutatesReference, system)
    failed(CallsModelDirectly, system)
    assert digest(system) == before
    assert system.model.__class__ is Pipeline  # the broken model never replaces the caller's


def test_each_check_can_run_alone(system: System) -> None:
    for check in PROBE_CHECKS:
        check(ScoresSample, system)
    with pytest.raises(ProbeCheckError, match=r"^Unseeded \(Q2\) failed check_determinism: "):
        check_determinism(Unseeded, system)
    assert set(PROBE_CHECKS) >= {check_determinism, check_failing_model}


def test_a_crash_on_a_healthy_system_is_reported_with_its_place(system: System) -> None:
    class Crashes(ScoresSample):
        def run(self, system: System, context: ProbeContext) -> Finding:
            return {"status": "pass"}["verdict"]  # type: ignore[return-value]

    with pytest.raises(ProbeCheckError) as info:
        check_question_id(Crashes, system)
    message = str(info.value)
    assert "run() raised KeyError: 'verdict' on a healthy system" in message
    assert "test_testing.py" in message  # where it crashed
    assert isinstance(info.value.__cause__, KeyError)


def test_parametrize_ids_name_the_question_and_the_check() -> None:
    mark = parametrize_with_probes([ScoresSample, PassOverFail])
    argnames, params = mark.args
    assert argnames == ("probe", "check")
    assert len(params) == 2 * len(PROBE_CHECKS)
    assert mark.kwargs["ids"][:2] == ["Q2-check_question_id", "Q2-check_system_unchanged"]
    assert mark.kwargs["ids"][-1] == "Q4-check_cancellation"


# -- every probe we ship conforms -----------------------------------------------------------------


@parametrize_with_probes(builtin_probes())
def test_builtin_probes_conform(probe: type[Probe], check: Any, system: System) -> None:
    check(probe, system)


#: The probes that send the current window (or a sample of it) to the model: a model raising
#: on its own production data FAILs their question, naming the error.
SCORE_CURRENT_DATA = {"Q1", "Q2", "Q3", "Q5", "Q10"}


@pytest.mark.parametrize("question", sorted(builtin_probes()))
def test_builtin_probes_conform_on_a_model_raising_on_missing_values(
    question: str, binary_model: Pipeline, system: System
) -> None:
    """The rules hold when the system itself is broken: its model raises on missing values.

    The wrapped model hides its Pipeline, so Q5 explains it with its model-agnostic
    explainer: a small sample keeps this test quick (but for that explainer's warm-up, a few
    seconds the first time in a process).
    """
    assert system.current is not None
    broken = System(
        model=zoo.RaisesOnNaN(binary_model),
        reference=system.reference,
        current=zoo.with_nan(system.current, "income", 0.5),
        target="target",
        # Q1 sends rows of the current window as requests: half of them make the model raise.
        traffic=Traffic(current_rps=20),
        settings={**SETTINGS, "explainability": {"sample": 10}, "load": QUICK_LOAD},
    )
    probe = builtin_probes()[question]
    check_probe(probe, broken, checks=[check_system_unchanged, check_round_trip])
    finding = probe().run(broken, ProbeContext())
    if question not in SCORE_CURRENT_DATA:
        # Its question is not about the model's answers (rollback, approvals, lineage...):
        # the broken model must not crash it into an ERROR either.
        assert finding.status is not Status.ERROR, finding.error
        return
    assert finding.status is Status.FAIL
    if question == "Q1":  # requests, not rows: the share of failed requests is what counts
        assert "error" in finding.summary
    else:
        assert "missing value in income" in finding.summary


# -- the zoo behaves as its docstrings say --------------------------------------------------------


def test_zoo_models_look_like_the_model(binary_model: Pipeline, system: System) -> None:
    for model in (
        zoo.RaisesOnNaN(binary_model),
        zoo.NaNProbabilities(binary_model),
        zoo.Slow(binary_model, 0.0),
        zoo.MutatesInput(binary_model),
        zoo.NonDeterministic(binary_model, seed=0),
        zoo.Raising(binary_model),
    ):
        assert list(model.classes_) == list(binary_model.classes_)
        assert list(model.feature_names_in_) == list(binary_model.feature_names_in_)
        for method in ("predict", "predict_proba", "decision_function", "transform"):
            assert hasattr(model, method) == hasattr(binary_model, method), method
        System(model=model, reference=system.reference, target="target")  # validates


def test_zoo_models_break_as_documented(binary_model: Pipeline, system: System) -> None:
    X = system.X("current").iloc[:200]
    missing = zoo.with_nan(X, "income", 0.25, seed=3)
    assert missing["income"].isna().sum() == 50
    assert missing.equals(zoo.with_nan(X, "income", 0.25, seed=3)) and X["income"].notna().all()
    probe_sample = np.sort(np.random.default_rng(3).choice(200, size=50, replace=False))
    assert not missing["income"].iloc[probe_sample].isna().all()  # not a probe's own sample

    raises = zoo.RaisesOnNaN(binary_model)
    assert raises.predict(X).shape == (200,)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        raises.predict(missing)
    scoring = score_model(raises, missing)
    assert scoring.n_failed == 50 and scoring.failures[0].cause == "missing value in income"

    nan = zoo.NaNProbabilities(binary_model, share=0.3)
    proba = nan.predict_proba(X)
    rows = np.isnan(proba).any(axis=1)
    assert 30 < rows.sum() < 90 and np.array_equal(rows, nan.nan_rows(X))
    assert np.isnan(nan.predict_proba(X.iloc[::-1])).any(axis=1)[::-1].tolist() == rows.tolist()
    assert np.isnan(zoo.NaNProbabilities(binary_model).predict_proba(X)).all()

    mutates = zoo.MutatesInput(binary_model)
    mine = X.copy()
    assert np.array_equal(mutates.predict(mine), binary_model.predict(X))
    assert (mine["income"] == 0).all() and mutates.calls == 1

    noisy = zoo.NonDeterministic(binary_model, seed=0)
    assert not np.array_equal(noisy.predict_proba(X), noisy.predict_proba(X))
    assert np.allclose(noisy.predict_proba(X).sum(axis=1), 1.0)

    slow = zoo.Slow(binary_model, delay=0.05)
    start = time.monotonic()
    slow.predict(X)
    assert time.monotonic() - start >= 0.05

    with pytest.raises(RuntimeError, match="broken"):
        zoo.Raising(binary_model).predict_proba(X)
