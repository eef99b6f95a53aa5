"""What a probe is: the contract every checklist probe, built-in or plug-in, fulfils."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from prodready.results import Finding, Status

if TYPE_CHECKING:
    from prodready.system import System

__all__ = ["Probe", "ProbeContext", "ProbeTimeout"]


class ProbeTimeout(Exception):
    """Raised by :meth:`ProbeContext.check_deadline` when a probe ran out of time."""


@dataclass(frozen=True)
class ProbeContext:
    """What the assessment gives a probe besides the system.

    ``deadline`` is a ``time.monotonic()`` instant; a long probe calls
    :meth:`check_deadline` between steps so it stops by itself when its time is up (the
    assessment also stops waiting for it). ``seed`` makes sampling reproducible.
    """

    deadline: float
    seed: int = 0

    def remaining(self) -> float:
        """Seconds left before the deadline (negative when past it)."""
        return self.deadline - time.monotonic()

    def check_deadline(self) -> None:
        """Raise :class:`ProbeTimeout` if the deadline has passed."""
        if self.remaining() <= 0:
            raise ProbeTimeout("the probe ran past its time limit")


class Probe(ABC):
    """Answers one checklist question by exercising the system.

    Subclasses set ``question`` (the id, e.g. "Q3") and implement :meth:`run`, which measures
    and judges and returns a :class:`~prodready.Finding`; it must never mutate the system's
    model or data, and never render anything (views do). An exception escaping ``run``
    becomes an ERROR finding with its traceback; the other probes still run.

    Plug-ins register a Probe subclass under the entry-point group ``prodready.probes``, with
    the question id as the entry-point name.
    """

    question: ClassVar[str]

    @abstractmethod
    def run(self, system: System, context: ProbeContext) -> Finding:
        """Assess ``system`` and return the finding for :attr:`question`."""

    def skipped(self, reason: str) -> Finding:
        """A SKIPPED finding: the question does not apply to this system, for ``reason``."""
        return Finding(question=self.question, status=Status.SKIPPED, summary=reason)
