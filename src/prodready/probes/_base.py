"""What a probe is: the contract every checklist probe, built-in or plug-in, fulfils."""

from __future__ import annotations

import math
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from prodready._settings import ABSENT, read_settings
from prodready.checklist import get_question
from prodready.results import Finding, Status

if TYPE_CHECKING:
    from prodready.system import System

__all__ = ["Probe", "ProbeCancelled", "ProbeContext", "ProbeTimeout"]


class ProbeCancelled(Exception):
    """Raised by :meth:`ProbeContext.check_deadline` when the run asked the probe to stop.

    That happens when its time limit passed or the user interrupted the run (Ctrl-C, the
    dashboard's Stop button). A probe lets it propagate after cleaning up what it started.
    """


class ProbeTimeout(ProbeCancelled):
    """The probe ran past its time limit (a :class:`ProbeCancelled`)."""


@dataclass(frozen=True)
class ProbeContext:
    """What the assessment gives a probe besides the system.

    ``deadline`` is a ``time.monotonic()`` instant (infinite: no limit). ``cancel`` is set
    when the probe must stop: its time limit passed, or the user interrupted the run. A long
    probe calls :meth:`check_deadline` between steps (and passes :attr:`cancel` to whatever
    waits, e.g. ``cancel.wait(0.1)`` instead of ``time.sleep(0.1)``) so it stops by itself.
    ``seed`` makes sampling reproducible. ``progress``, when given, receives a short note of
    the step the probe is at and the fraction done (None if unknown), for live displays.
    ``findings`` is empty but for a probe with :attr:`Probe.after_others`: the findings of the
    other questions of this run, in checklist order (copies: changing them changes nothing);
    a question missing from it was not assessed in this run.
    """

    deadline: float = math.inf
    seed: int = 0
    cancel: threading.Event = field(default_factory=threading.Event)
    progress: Callable[[str, float | None], None] | None = None
    findings: tuple[Finding, ...] = ()

    def remaining(self) -> float:
        """Seconds left before the deadline (negative when past it)."""
        return self.deadline - time.monotonic()

    @property
    def cancelled(self) -> bool:
        """True when the probe should stop now (cancelled, or past its deadline)."""
        return self.cancel.is_set() or self.remaining() <= 0

    def check_deadline(self) -> None:
        """Raise :class:`ProbeTimeout` past the deadline, :class:`ProbeCancelled` if cancelled."""
        if self.remaining() <= 0:
            self.cancel.set()
            raise ProbeTimeout("the probe ran past its time limit")
        if self.cancel.is_set():
            raise ProbeCancelled("the run was cancelled")

    def report(self, step: str, fraction: float | None = None) -> None:
        """Tell a live display which step the probe is at (no-op without one)."""
        if self.progress is not None:
            self.progress(step, fraction)


class Probe(ABC):
    """Answers one checklist question by exercising the system.

    Subclasses set ``question`` (the id, e.g. "Q3") and implement :meth:`run`, which measures
    and judges and returns a :class:`~prodready.Finding`; it must never mutate the system's
    model or data, and never render anything (views do). An exception escaping ``run``
    becomes an ERROR finding (the traceback goes in its details); the other probes still run.

    What the statuses mean (the rules every probe follows):

    - FAIL: the system was judged and falls short; a model that raises on its own data is
      the system failing (score through :func:`prodready.probes.score_model`).
    - ERROR: the probe itself could not judge (a bug, a crash, a time-out); never used for
      the system's own faults.
    - NOT ASSESSED: the spec lacks what the probe needs: return :meth:`not_assessed` naming
      the spec field that would enable it.
    - SKIPPED: the question cannot apply to this kind of system: return :meth:`skipped`.

    A probe owns its settings: ``settings_class`` is a frozen dataclass read from the spec
    section named by the question's key (``monitoring:`` for Q3) with :meth:`settings`.
    :meth:`preflight` checks, before any kernel or server starts, what the probe will need
    (an optional package, an endpoint...); it raises :class:`~prodready.UsageError` for
    input the user must fix. ``isolation = "subprocess"`` runs the probe in a child process
    that is killed, with everything it started, when its time limit passes. ``serves`` says
    the probe needs the served system (see :attr:`serves`).

    Plug-ins register a Probe subclass under the entry-point group ``prodready.probes``, with
    the question id as the entry-point name.
    """

    question: ClassVar[str]
    settings_class: ClassVar[type[Any] | None] = None
    isolation: ClassVar[Literal["thread", "subprocess"]] = "thread"
    #: True for a probe that sends decisions to the system (through
    #: :func:`prodready.adapters.connect`): when the spec's ``endpoint.serve`` names a model
    #: for prodready to serve, the assessment serves it while such a probe runs.
    serves: ClassVar[bool] = False
    #: True for a probe that judges the evidence of the other questions (Q6, the compliance
    #: report): the assessment runs it after the others and gives it their findings in
    #: :attr:`ProbeContext.findings`.
    after_others: ClassVar[bool] = False

    @abstractmethod
    def run(self, system: System, context: ProbeContext) -> Finding:
        """Assess ``system`` and return the finding for :attr:`question`."""

    def settings(self, system: System) -> Any:
        """This probe's settings for ``system``: its spec section, validated (or None).

        Raises :class:`~prodready.SpecError` naming the section and key of a bad value.
        """
        if self.settings_class is None:
            return None
        key = get_question(self.question).key
        given = system.settings.get(key)
        if given == ABSENT:  # the mechanism does not exist: the defaults, for the record
            given = None
        return read_settings(self.settings_class, given, key, system.source)

    def declared_absent(self, system: System) -> bool:
        """True when the spec declares this question's mechanism absent (``rollback: none``).

        That is an answer: the probe FAILs the question, saying what is missing and how to
        add it (a section left out, by contrast, is NOT ASSESSED).
        """
        return system.settings.get(get_question(self.question).key) == ABSENT

    def preflight(self, system: System) -> None:
        """Check, before the run starts, that the probe can run on ``system``.

        The default validates the settings. Override to also check optional packages or
        services (call ``super().preflight(system)``). Raise a
        :class:`~prodready.UsageError` for what the user must fix; missing *evidence* (no
        current data, no endpoint) is not an error: ``run`` returns :meth:`not_assessed`.
        """
        self.settings(system)

    def skipped(self, reason: str) -> Finding:
        """A SKIPPED finding: the question cannot apply to this kind of system, for ``reason``.

        Never for missing evidence: that is :meth:`not_assessed`.
        """
        return Finding(question=self.question, status=Status.SKIPPED, summary=reason)

    def not_assessed(self, summary: str, field: str, enables: str) -> Finding:
        """A NOT ASSESSED finding: the spec lacks ``field``, which this probe needs.

        ``summary`` says what is missing in a plain sentence; ``enables`` what setting the
        field would let the probe do. The finding counts 0, like any unanswered question.
        """
        return Finding(
            question=self.question,
            status=Status.NOT_ASSESSED,
            summary=summary,
            remediation=f"Set {field} in the spec to {enables}.",
            measurements={"missing_spec_field": field},
        )
