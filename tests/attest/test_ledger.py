"""The audit ledger: one chained line per run, every kind of edit named, concurrent appends."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
from pathlib import Path

import pytest

from prodready import UsageError
from prodready.attest import (
    ENVELOPE,
    append_run,
    check_ledger_path,
    key_id,
    load_public_key,
    read_ledger,
    verify_ledger,
)
from prodready.cli import main
from prodready.results import Assessment
from tests.attest.conftest import SignedRun

pytestmark = pytest.mark.e2e


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_run_appends_its_line_after_publishing(
    signed_run: SignedRun, capsys: pytest.CaptureFixture[str]
) -> None:
    assert f"ledger: appended to {signed_run.ledger}" in signed_run.stdout
    lines = signed_run.ledger.read_text().splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    run = signed_run.run_dir
    results = json.loads((run / "results.json").read_text())
    assert line["seq"] == 1 and line["prev"] == "0" * 64
    assert line["kind"] == "assessment" and line["run_id"] == "signed"
    assert line["time"] == results["created"] and line["folder"] == str(run.resolve())
    assert line["system"] == "Credit risk (bundled example)"
    assert line["model_sha256"] == results["system"]["model"]["sha256"] != ""
    assert line["verdict"] == "not ready" and line["scores"] == {"technical": 0.5}
    assert line["results_sha256"] == _sha(run / "results.json")
    assert line["envelope_sha256"] == _sha(run / ENVELOPE)
    assert line["signer"] == key_id(load_public_key(signed_run.public))[:16]

    assert main(["ledger", "verify", str(signed_run.ledger)]) == 0
    assert "valid: 1 line(s), an intact chain" in capsys.readouterr().out
    assert main(["ledger", "show", str(signed_run.ledger)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "Credit risk (bundled example)" in out[0] and "NOT READY" in out[0]
    assert "signed " + line["signer"] in out[0] and out[-1] == "1 run(s)"
    assert main(["ledger", "show", str(signed_run.ledger), "--system", "other"]) == 0
    assert capsys.readouterr().out.splitlines() == ["0 run(s) of other"]


@pytest.fixture
def ledger(signed_run: SignedRun, tmp_path: Path) -> Path:
    """A ledger of six runs (the same run folder, appended six times)."""
    path = tmp_path / "audit.jsonl"
    assessment = Assessment.load(signed_run.run_dir / "results.json")
    for _ in range(6):
        append_run(path, signed_run.run_dir, assessment)
    assert verify_ledger(path).ok
    return path


def _rewrite(path: Path, edit: object) -> None:
    lines = path.read_text().splitlines(keepends=True)
    edit(lines)  # type: ignore[operator]
    path.write_text("".join(lines))


def _edited(lines: list[str]) -> None:
    lines[2] = lines[2].replace('"verdict":"not ready"', '"verdict":"ready"')


def _deleted(lines: list[str]) -> None:
    del lines[2]


def _reordered(lines: list[str]) -> None:
    lines[2], lines[3] = lines[3], lines[2]


def _inserted(lines: list[str]) -> None:
    lines.insert(4, lines[1])


@pytest.mark.parametrize(
    ("edit", "line", "message"),
    [
        (_edited, 3, "line 3: seq 3: the content does not match its hash (edited)"),
        (_deleted, 3, "line 3: seq 4 follows seq 2: 1 line(s) missing before it (deleted)"),
        (_reordered, 3, "line 3: seq 4 follows seq 2: seq 3 is later, at line 4 (lines reordered)"),
        (_inserted, 5, "line 5: seq 2 follows seq 4: out of order (lines reordered or inserted)"),
    ],
    ids=["edited", "deleted", "reordered", "inserted"],
)
def test_each_kind_of_edit_is_detected_and_its_line_named(
    ledger: Path,
    edit: object,
    line: int,
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _rewrite(ledger, edit)
    check = verify_ledger(ledger)
    assert not check.ok and check.problems[0].line == line
    assert str(check.problems[0]) == message
    assert main(["ledger", "verify", str(ledger)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{ledger}: {message}" and "NOT VALID" in out[-1]
    # Listing it warns first, naming the first problem, and exits 1: it cannot vouch for it.
    assert main(["ledger", "show", str(ledger)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("prodready: warning: ") and f"first: {message}" in err


def test_a_missing_or_unusable_ledger_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ledger", "verify", str(tmp_path / "absent.jsonl")]) == 2
    assert "is not a file: expected a ledger" in capsys.readouterr().err
    with pytest.raises(UsageError, match="cannot be created"):
        check_ledger_path(tmp_path / "no" / "such" / "ledger.jsonl")
    with pytest.raises(UsageError, match="is not a ledger file"):
        check_ledger_path(tmp_path)


def _append_many(ledger: str, run_dir: str, n: int, start: object) -> None:
    assessment = Assessment.load(Path(run_dir) / "results.json")
    start.wait()  # type: ignore[attr-defined]
    for _ in range(n):
        # durable=False: fsync is about power loss, not about the lock; 1,600 fsyncs would
        # only make the test slow.
        append_run(ledger, run_dir, assessment, durable=False)


def test_8_processes_appending_200_lines_each_leave_one_valid_chain(
    signed_run: SignedRun, tmp_path: Path
) -> None:
    path = tmp_path / "audit.jsonl"
    context = multiprocessing.get_context("fork")
    start = context.Event()
    workers = [
        context.Process(target=_append_many, args=(str(path), str(signed_run.run_dir), 200, start))
        for _ in range(8)
    ]
    for worker in workers:
        worker.start()
    try:
        start.set()
        for worker in workers:
            worker.join(timeout=120)
            assert worker.exitcode == 0
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.kill()
    check = verify_ledger(path)
    assert check.ok and check.lines == 1600, check.problems[:3]
    assert [e.seq for e in read_ledger(path)] == list(range(1, 1601))
