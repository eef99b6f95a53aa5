"""The audit ledger: one hash-chained JSON line per published assessment.

A ledger is a chain file of :mod:`prodready._chain` (the decision log's format: each line
carries ``seq``, the ``prev`` line's hash and its own ``hash``), so an edited, deleted,
reordered or inserted line is detected and named by :func:`verify_ledger`. Each line records
one run (:func:`ledger_record`):

``kind`` ("assessment"), ``run_id``, ``time`` (when the run was assessed, from results.json),
``recorded`` (when the line was appended), ``system``, ``model_sha256`` (the model artifact's
digest, "" when unknown), ``verdict``, ``overall``, ``scores``, ``scope``, ``folder`` (the
run folder's absolute path), ``results_sha256`` (of results.json) and ``envelope_sha256`` (of
run.dsse.json, "" for an unsigned run), ``signer`` (the key's fingerprint, "" unsigned),
``statuses`` (question id -> status value, e.g. {"Q3": "fail"}) and ``sweep`` (the id of the
fleet sweep the run belongs to, "" for a single run). Lines written before ``statuses`` and
``sweep`` existed lack them: a reader treats a missing ``sweep`` as "" and a missing
``statuses`` as unknown (:mod:`prodready.fleet` then reads the run's results.json, if its
digest still matches ``results_sha256``).

Lines are appended after the run folder is published, under the chain's exclusive
``fcntl.flock`` lock: many runs may append to one ledger at once. Removing the *last* lines
leaves a shorter intact chain; keep the head (:func:`prodready._chain.head`) elsewhere to
detect that too.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prodready import _chain
from prodready._exceptions import UsageError
from prodready._files import shown

if TYPE_CHECKING:
    from prodready.results import Assessment

__all__ = [
    "LEDGER_ENV",
    "LedgerEntry",
    "append_run",
    "check_ledger_path",
    "ledger_record",
    "read_ledger",
    "verify_ledger",
]

#: The environment variable naming the ledger when ``--ledger`` is not given.
LEDGER_ENV = "PRODREADY_LEDGER"
_KIND = "assessment"


def check_ledger_path(path: str | os.PathLike[str], option: str = "ledger") -> Path:
    """``path`` if a ledger can be appended there (a regular file, or a new file in an
    existing folder you can write to); one-line UsageError otherwise. Writes nothing."""
    p = Path(path)
    try:
        info = os.stat(p)
    except FileNotFoundError:
        parent = p.parent if str(p.parent) else Path(".")
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            raise UsageError(
                f"{option}: {shown(p)} cannot be created: expected a file in an existing "
                "folder you can write to"
            ) from None
        return p
    except OSError as exc:
        raise UsageError(f"{option}: {shown(p)} cannot be used ({exc.strerror or exc})") from None
    if not stat.S_ISREG(info.st_mode) or not os.access(p, os.R_OK | os.W_OK):
        raise UsageError(
            f"{option}: {shown(p)} is not a ledger file you can write to: expected a regular "
            "file (or a new file name)"
        )
    return p


def _file_sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return ""


def ledger_record(
    run_dir: str | os.PathLike[str], assessment: Assessment, *, sweep: str = ""
) -> dict[str, Any]:
    """The ledger line (before chaining) of the published run folder ``run_dir``; ``sweep``
    is the id of the fleet sweep it belongs to ("" for a single run)."""
    from prodready.attest._sign import ENVELOPE

    folder = Path(run_dir).resolve()
    model = assessment.system.get("model")
    model_sha = model.get("sha256", "") if isinstance(model, dict) else ""
    signer = ""
    envelope = folder / ENVELOPE
    if envelope.is_file():
        try:
            payload = json.loads(envelope.read_text(encoding="utf-8"))
            statement = json.loads(_b64decode(payload["payload"]))
            signer = str(statement["predicate"]["signer"]["fingerprint"])
        except (ValueError, KeyError, TypeError):
            signer = ""
    return {
        "kind": _KIND,
        "run_id": assessment.run_id,
        "time": assessment.created,
        "recorded": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "system": str(assessment.system.get("name") or ""),
        "model_sha256": str(model_sha or ""),
        "verdict": assessment.verdict,
        "overall": assessment.overall,
        "scores": dict(assessment.scores),
        "scope": assessment.scope,
        "folder": str(folder),
        "results_sha256": _file_sha256(folder / "results.json"),
        "envelope_sha256": _file_sha256(envelope),
        "signer": signer,
        "statuses": {
            str(f.question): str(getattr(f.status, "value", f.status)) for f in assessment.findings
        },
        "sweep": str(sweep),
    }


def _b64decode(text: str) -> bytes:
    import base64

    return base64.b64decode(text, validate=True)


def append_run(
    ledger: str | os.PathLike[str],
    run_dir: str | os.PathLike[str],
    assessment: Assessment,
    *,
    durable: bool = True,
    sweep: str = "",
) -> dict[str, Any]:
    """Append the published run ``run_dir`` to ``ledger`` (created if missing) under the
    chain's file lock; return the line written (with ``seq``, ``prev``, ``hash``). ``sweep``
    names the fleet sweep the run belongs to ("" for a single run).

    ``durable`` fsyncs the ledger before returning (an audit record should survive a power
    loss; one fsync per run costs little next to the run).
    """
    record = ledger_record(run_dir, assessment, sweep=sweep)
    return _chain.append(ledger, [record], durable=durable)[0]


def verify_ledger(ledger: str | os.PathLike[str]) -> _chain.ChainCheck:
    """Check the ledger's chain: each problem names its 1-based line. A missing file is
    a UsageError (a ledger that was never written cannot be vouched for)."""
    p = Path(ledger)
    if not p.is_file():
        raise UsageError(f"{shown(p)}: is not a file: expected a ledger (JSON lines)")
    return _chain.verify(p)


@dataclass(frozen=True)
class LedgerEntry:
    """One run in the ledger, as ``prodready ledger show`` lists it."""

    line: int
    seq: int
    run_id: str
    time: str
    system: str
    verdict: str
    overall: float | None
    signer: str
    folder: str


def read_ledger(ledger: str | os.PathLike[str], system: str | None = None) -> list[LedgerEntry]:
    """The ledger's runs in file order (of ``system`` only, when given); lines that are not
    JSON objects are skipped (``verify_ledger`` names them)."""
    p = Path(ledger)
    if not p.is_file():
        raise UsageError(f"{shown(p)}: is not a file: expected a ledger (JSON lines)")
    entries: list[LedgerEntry] = []
    with p.open("rb") as stream:
        for number, raw in enumerate(stream, start=1):
            try:
                value = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                continue
            if not isinstance(value, dict) or value.get("kind") != _KIND:
                continue
            if system is not None and value.get("system") != system:
                continue
            overall, seq = value.get("overall"), value.get("seq")
            entries.append(
                LedgerEntry(
                    line=number,
                    seq=seq if isinstance(seq, int) else 0,
                    run_id=str(value.get("run_id", "")),
                    time=str(value.get("time", "")),
                    system=str(value.get("system", "")),
                    verdict=str(value.get("verdict", "")),
                    overall=float(overall) if isinstance(overall, int | float) else None,
                    signer=str(value.get("signer", "")),
                    folder=str(value.get("folder", "")),
                )
            )
    return entries
