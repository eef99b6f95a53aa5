"""What a fleet sweep produces: one :class:`SystemRun` per system, one :class:`FleetResult`.

These are plain data (JSON in ``fleet.json``, rendered by the summary page); the sweep
(:mod:`prodready.fleet._sweep`) fills them, the views render them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["Attempt", "Change", "FleetResult", "SystemRun"]

#: ``SystemRun.state``:
#: "assessed" -- the run finished and published its folder (whatever its verdict);
#: "not started" -- the assessment refused its input (a broken spec, a missing file: the
#: CLI's exit 2), before any probe ran;
#: "failed" -- the run started but did not finish (an internal error, a kernel that died,
#: a worker that died more often than the sweep's ``retries`` allow).
State = Literal["assessed", "not started", "failed"]


@dataclass(frozen=True)
class Attempt:
    """One try at a system's run, on one Dask worker.

    ``outcome`` is "finished" (the run's process ended, whatever its exit code) or "lost"
    (no end was recorded: the worker died, or was stopped, during the attempt).
    """

    number: int
    worker: str
    host: str
    pid: int
    started: str
    ended: str
    outcome: Literal["finished", "lost"]


@dataclass(frozen=True)
class SystemRun:
    """One system of the fleet, as the sweep left it.

    ``slug`` is the name of its run folder inside the sweep folder (unique in the sweep);
    ``name`` the system's name (from its results, else the spec file's name). ``verdict``,
    ``overall``, ``scores`` (section -> 0..1) and ``statuses`` (question id -> status value)
    are empty/None unless ``state`` is "assessed". ``reason`` is the one-line reason when it
    is not. ``exit_code`` is the ``prodready assess`` exit code of the last attempt (None when
    no attempt ended). ``report`` is the report's path relative to the sweep folder ("" when
    there is none).
    """

    spec: str
    slug: str
    name: str
    state: State
    verdict: str = ""
    overall: float | None = None
    scores: dict[str, float] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)
    reason: str = ""
    exit_code: int | None = None
    seconds: float = 0.0
    run_id: str = ""
    model_sha256: str = ""
    attempts: list[Attempt] = field(default_factory=list)
    report: str = ""

    @property
    def retried(self) -> bool:
        """True when more than one attempt was needed (a worker died during one)."""
        return len(self.attempts) > 1


@dataclass(frozen=True)
class Change:
    """What changed for one system since the previous sweep in the ledger.

    ``kind``: "new system" (not in the previous sweep), "new fail" (a question that now
    FAILs and did not), "fixed" (a question that FAILed and no longer does), "score"
    (overall or a section score moved by at least the summary's threshold), "verdict"
    (ready <-> not ready), "status" (another change of a question's status, e.g. PASS ->
    WARN or FAIL -> ERROR), "no longer assessed" (in the previous sweep, not now: ``after``
    is this sweep's state, or None when the system left the fleet). ``question``
    names the question or section ("" for the whole system); ``before`` and ``after`` are the
    values compared (statuses, scores or verdicts, as text or numbers).
    """

    system: str
    kind: str
    question: str = ""
    before: Any = None
    after: Any = None


@dataclass(frozen=True)
class FleetResult:
    """A finished sweep: its folder, each system's run and what changed.

    ``verdict`` is "ready" when every system was assessed ready, else "not ready";
    ``exit_code`` is the CLI's: 2 when no system could even start, else 0 (ready) or 1.
    ``cluster`` describes where it ran: {"kind": "local" | "scheduler", "address": ...,
    "workers": n, "dashboard": url or ""}. ``previous_sweep`` is the sweep id the changes are
    measured against ("" when the ledger had none, or no ledger was given). ``notes`` are
    what a reader must know about the comparison (e.g. the ledger failed verification, so no
    changes were computed), one sentence each.
    """

    sweep_id: str
    directory: Path
    created: str
    finished: str
    seconds: float
    cluster: dict[str, Any]
    systems: list[SystemRun]
    changes: list[Change] = field(default_factory=list)
    previous_sweep: str = ""
    ledger: str = ""
    signed: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        ready = all(s.state == "assessed" and s.verdict == "ready" for s in self.systems)
        return "ready" if ready and self.systems else "not ready"

    @property
    def exit_code(self) -> int:
        if self.systems and all(s.state == "not started" for s in self.systems):
            return 2
        return 0 if self.verdict == "ready" else 1

    @property
    def summary_html(self) -> Path:
        return self.directory / "index.html"

    @property
    def summary_json(self) -> Path:
        return self.directory / "fleet.json"

    def _repr_html_(self) -> str:
        """The sweep's table and changes, styled for a notebook."""
        from prodready.fleet._page import fleet_card_html

        return fleet_card_html(self)
