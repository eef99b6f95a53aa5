"""The run folder under hostile conditions: claims, concurrent runs, leftovers, signals.

And a kernel that dies. Most tests replace the notebook stages by fast fakes (the claim,
publish and clean-up logic is what they test); the few marked e2e start a real kernel or a
real ``prodready`` process.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

import prodready
from prodready import ReportError, UsageError, run_assessment
from prodready._files import atomic_write
from prodready.cli import main
from prodready.example import ensure_example
from prodready.report import run
from prodready.report.run import RunState, progress_recorder, remove_stale_runs
from tests.test_results import sample

PUBLISHED = ["assessment.ipynb", "report.html", "results.json", "spec.yaml"]  # spec: copied in


def fake_execute(state: RunState) -> None:
    a = sample()
    a.run_id = state.run_id
    a.save(state.work / "results.json")
    state.assessment = a


def fake_render(state: RunState) -> None:
    atomic_write(state.work / "assessment.ipynb", "{}")
    atomic_write(state.work / "report.html", "<html></html>")


@pytest.fixture
def fake_stages(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, object]]:
    stages: list[tuple[str, object]] = [("execute", fake_execute), ("render", fake_render)]
    monkeypatch.setattr(run, "STAGES", stages)
    return stages


def owner_file(folder: Path, **record: object) -> Path:
    folder.mkdir(parents=True)
    path = folder / "owner.pid"
    path.write_text(json.dumps(record))
    return path


def start_time(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[19])


def boot_id() -> str:
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip()


# --- the claim on a run id, and concurrent runs --------------------------------------------


def test_the_published_run_holds_only_the_report_files(spec_dir: Path, fake_stages: object) -> None:
    out = spec_dir / "reports"
    result = run_assessment(spec_dir / "spec.yaml", out, run_id="r1")
    assert result.directory == out / "r1"
    assert sorted(p.name for p in out.iterdir()) == ["r1"]  # no claim, no partial left
    assert sorted(p.name for p in (out / "r1").iterdir()) == PUBLISHED  # no owner.pid
    assert (out / "r1").stat().st_mode & 0o777 == 0o755


def test_a_second_run_with_the_same_id_fails_at_once_and_the_first_publishes(
    spec_dir: Path,
    fake_stages: list[tuple[str, object]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = spec_dir / "reports"
    seen: dict[str, object] = {}

    def execute_while_another_run_starts(state: RunState) -> None:
        # A second `prodready assess` with the same --out and --run-id, while this one runs.
        seen["code"] = main(
            ["assess", str(spec_dir / "spec.yaml"), "--out", str(out), "--run-id", "same"]
        )
        seen["listing"] = sorted(p.name for p in out.iterdir())
        fake_execute(state)

    fake_stages[0] = ("execute", execute_while_another_run_starts)
    result = run_assessment(spec_dir / "spec.yaml", out, run_id="same")
    _, err = capsys.readouterr()
    assert seen["code"] == 2
    assert err == f"prodready: error: run id 'same' is taken in '{out}': choose another run id\n"
    assert seen["listing"] == [".same.partial"]  # the loser wrote nothing
    assert sorted(p.name for p in result.directory.iterdir()) == PUBLISHED
    with pytest.raises(UsageError, match=r"^run id 'same' is taken in"):  # and after it
        run_assessment(spec_dir / "spec.yaml", out, run_id="same")


def test_a_generated_run_id_never_collides(
    spec_dir: Path, fake_stages: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = spec_dir / "reports"
    (out / "taken").mkdir(parents=True)
    ids = iter(["taken", "fresh"])
    monkeypatch.setattr(run, "new_run_id", lambda: next(ids))
    assert run_assessment(spec_dir / "spec.yaml", out).directory == out / "fresh"


def test_a_failed_run_releases_its_claim(
    spec_dir: Path, fake_stages: list[tuple[str, object]]
) -> None:
    out = spec_dir / "reports"

    def broken(state: RunState) -> None:
        (state.work / "results.json").write_text("half")
        raise ReportError("the notebook failed")

    fake_stages[0] = ("execute", broken)
    with pytest.raises(ReportError):
        run_assessment(spec_dir / "spec.yaml", out, run_id="r1")
    assert list(out.iterdir()) == []  # nothing behind, the claim neither
    fake_stages[0] = ("execute", fake_execute)
    assert run_assessment(spec_dir / "spec.yaml", out, run_id="r1").directory == out / "r1"


# --- leftovers of dead runs -----------------------------------------------------------------


def test_leftovers_of_dead_runs_are_removed_live_ones_kept(tmp_path: Path) -> None:
    here = {"host": socket.gethostname(), "boot": boot_id()}
    me = os.getpid()
    done = subprocess.Popen(["true"])
    done.wait()  # a pid that ran and is gone
    owner_file(tmp_path / ".dead.partial", pid=done.pid, start=None, **here)
    owner_file(tmp_path / ".reused.partial", pid=me, start=start_time(me) - 1, **here)
    owner_file(
        tmp_path / ".rebooted.partial", pid=me, start=start_time(me), host=here["host"], boot="x"
    )
    owner_file(tmp_path / ".live.partial", pid=me, start=start_time(me), **here)
    owner_file(tmp_path / ".elsewhere.partial", pid=done.pid, start=None, host="other", boot="y")
    (tmp_path / ".new-unowned.partial").mkdir()  # an instant old: a run just starting
    (tmp_path / ".old-unowned.partial").mkdir()  # e.g. left by an older prodready version
    old = time.time() - 2 * 24 * 3600
    os.utime(tmp_path / ".old-unowned.partial", (old, old))
    (tmp_path / "victim").mkdir()
    (tmp_path / "victim" / "owner.pid").write_text(json.dumps({"pid": done.pid, **here}))
    (tmp_path / ".link.partial").symlink_to(tmp_path / "victim")
    (tmp_path / "finished").mkdir()  # a published run: not a leftover

    removed = remove_stale_runs(tmp_path)

    assert sorted(p.name for p in removed) == [
        ".dead.partial",
        ".old-unowned.partial",
        ".rebooted.partial",
        ".reused.partial",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".elsewhere.partial",
        ".link.partial",
        ".live.partial",
        ".new-unowned.partial",
        "finished",
        "victim",
    ]
    assert (tmp_path / "victim" / "owner.pid").exists()  # a symlink is never followed


def test_the_next_run_removes_a_dead_runs_leftover_and_reclaims_its_id(
    spec_dir: Path, fake_stages: object
) -> None:
    out = spec_dir / "reports"
    here = {"host": socket.gethostname(), "boot": boot_id()}
    me = os.getpid()
    owner_file(out / ".killed.partial", pid=me, start=start_time(me) + 1, **here)
    owner_file(out / ".running.partial", pid=me, start=start_time(me), **here)
    run_assessment(spec_dir / "spec.yaml", out, run_id="killed")
    assert sorted(p.name for p in out.iterdir()) == [".running.partial", "killed"]
    with pytest.raises(UsageError, match="run id 'running' is taken"):
        run_assessment(spec_dir / "spec.yaml", out, run_id="running")


def test_the_owner_record(tmp_path: Path) -> None:
    record = run._owner_record()
    assert record == {
        "pid": os.getpid(),
        "start": start_time(os.getpid()),
        "host": socket.gethostname(),
        "boot": boot_id(),
    }
    assert run._owner_alive(record)


# --- a dead kernel names the probe ----------------------------------------------------------


def test_progress_is_recorded_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "progress.json"
    on_progress, on_finding = progress_recorder(str(path))
    assert on_progress is not None and on_finding is not None
    assert run._death(path, 1) == (
        "the assessment kernel died before any probe started (exit code 1): something ended "
        "the kernel process (a crash or out of memory)"
    )
    on_progress("Q3", "started", 0.0)
    assert run._death(path, 1) == (
        "the assessment kernel died while probe Q3 was running (exit code 1): the probe ended "
        "the kernel process (os._exit, a crash or out of memory); leave Q3 out with "
        "--questions to assess the other questions"
    )
    on_progress("Q5", "explaining 200 rows", 0.5)
    assert run._death(path, -9).startswith(
        "the assessment kernel died while probe Q5 was running (step 'explaining 200 rows'; "
        "killed by SIGKILL, e.g. out of memory): "
    )
    on_finding(prodready.Finding(question="Q5", status=prodready.Status.PASS, summary="ok"))
    assert run._death(path, None).startswith(
        "the assessment kernel died after probe Q5 finished (exit code unknown): "
    )
    path.write_text('{"question": "Q3\\u001b[2J", "running": true}')  # never trusted raw
    assert run._death(path, -11).startswith(
        "the assessment kernel died while the notebook was running (killed by SIGSEGV): "
    )
    path.write_text("not json")
    assert "before any probe started" in run._death(path, 1)
    assert progress_recorder("") == (None, None)


DYING_NOTEBOOK = """\
import os
import signal

from prodready.report.run import progress_recorder

on_progress, on_finding = progress_recorder(progress_path)
on_progress("Q3", "started", 0.0)
os.kill(os.getpid(), signal.SIGKILL)  # as the kernel would be, out of memory
"""


@pytest.mark.e2e
def test_a_dead_kernel_is_one_line_naming_the_probe(
    spec_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    nb = nbformat.v4.new_notebook()
    parameters = "\n".join(
        f'{name} = ""'
        for name in ("spec", "results_path", "run_id", "drift_engine", "questions", "progress_path")
    )
    nb.cells = [
        nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(DYING_NOTEBOOK),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, templates / "assessment.ipynb")
    monkeypatch.setattr(run, "templates_dir", lambda: templates)
    out = tmp_path / "reports"
    code = main(["assess", str(spec_dir / "spec.yaml"), "--out", str(out), "--run-id", "r1"])
    stdout, err = capsys.readouterr()
    assert (code, stdout) == (3, "")
    assert err == (
        "prodready: internal error: the assessment kernel died while probe Q3 was running "
        "(killed by SIGKILL, e.g. out of memory): the probe ended the kernel process "
        "(os._exit, a crash or out of memory); leave Q3 out with --questions to assess the "
        "other questions\n"
    )
    assert list(out.iterdir()) == []


@pytest.fixture(scope="module")
def example_spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_example(tmp_path_factory.mktemp("example"), n_rows=3000, served=False)


KILLER = """\
import os


class Killer:
    \"\"\"A model that ends its process when it predicts in a kernel (not in preflight).\"\"\"

    def __init__(self, model):
        self.model = model
        self.classes_ = model.classes_

    def predict_proba(self, X):
        if os.environ.get("JPY_PARENT_PID"):
            os._exit(1)
        return self.model.predict_proba(X)

    def predict(self, X):
        return self.model.predict(X)
"""


@pytest.mark.e2e
def test_the_real_notebook_names_the_probe_that_killed_the_kernel(
    example_spec: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import pickle

    import skops.io as sio

    (tmp_path / "killer.py").write_text(KILLER)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # for the kernel
    from killer import Killer

    example = example_spec.parent
    trusted = sio.get_untrusted_types(file=example / "model.skops")
    model = sio.load(example / "model.skops", trusted=trusted)
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(Killer(model)))
    for name in ("reference.parquet", "current.parquet"):
        (tmp_path / name).symlink_to(example / name)
    text = example_spec.read_text()
    text = (
        text[: text.index("model:")]
        + "model:\n  path: model.pkl\n  format: pickle\n"
        + text[text.index("data:") :]
    )
    (tmp_path / "spec.yaml").write_text(text)
    out = tmp_path / "reports"
    args = ["assess", str(tmp_path / "spec.yaml"), "--out", str(out), "--questions", "Q3"]
    code = main([*args, "--engine", "scipy"])
    stdout, err = capsys.readouterr()
    assert (code, stdout) == (3, "")
    assert re.fullmatch(
        r"prodready: internal error: the assessment kernel died while probe Q3 was running "
        r"\((step '[^']*'; )?exit code 1\): the probe ended the kernel process \(os._exit, a "
        r"crash or out of memory\); leave Q3 out with --questions to assess the other "
        r"questions\n",
        err,
    ), err
    assert list(out.iterdir()) == []


# --- SIGTERM and kill -9 of a real `prodready assess` -------------------------------------


def kernels_of(pid: int) -> list[tuple[int, int]]:
    """(pid, start time) of the kernels a process started, orphaned ones included."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            if f"JPY_PARENT_PID={pid}".encode() in environ:
                found.append((int(entry.name), start_time(int(entry.name))))
        except (OSError, ValueError):
            continue
    return found


def alive(pid: int, start: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[0] != "Z" and int(fields[19]) == start


@pytest.fixture
def assess_process(
    example_spec: Path, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[str], Path, list[tuple[int, int]]]]:
    """A real `prodready assess`, and the kernels it started; all stopped after the test."""
    out = tmp_path / "reports"
    exe = Path(sys.executable).with_name("prodready")
    args = [str(exe), "assess", str(example_spec), "--out", str(out), "--run-id", "r1"]
    proc = subprocess.Popen(
        [*args, "--engine", "scipy"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    kernels: list[tuple[int, int]] = []
    try:
        yield proc, out, kernels
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)
        for pid, start in kernels + kernels_of(proc.pid):
            if alive(pid, start):
                os.kill(pid, signal.SIGKILL)


def wait_for_the_kernel(
    proc: subprocess.Popen[str], out: Path, kernels: list[tuple[int, int]]
) -> None:
    deadline = time.monotonic() + 120
    while not kernels:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no kernel started"
        if (out / ".r1.partial").exists():
            kernels.extend(kernels_of(proc.pid))
        time.sleep(0.05)


@pytest.mark.e2e
def test_sigterm_stops_the_kernel_and_leaves_nothing(
    assess_process: tuple[subprocess.Popen[str], Path, list[tuple[int, int]]],
) -> None:
    proc, out, kernels = assess_process
    wait_for_the_kernel(proc, out, kernels)
    time.sleep(1)  # the notebook is running
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert (proc.returncode, stdout, stderr) == (143, "", "prodready: interrupted (SIGTERM)\n")
    assert list(out.iterdir()) == []
    assert not [k for k in kernels if alive(*k)]


@pytest.mark.e2e
def test_after_kill_9_the_next_run_removes_the_leftover(
    assess_process: tuple[subprocess.Popen[str], Path, list[tuple[int, int]]],
    spec_dir: Path,
    fake_stages: object,
) -> None:
    proc, out, kernels = assess_process
    wait_for_the_kernel(proc, out, kernels)
    proc.kill()
    proc.wait(timeout=30)
    for pid, start in kernels:  # the orphaned kernel would end by itself, later
        if alive(pid, start):
            os.kill(pid, signal.SIGKILL)
    assert [p.name for p in out.iterdir()] == [".r1.partial"]  # no clean-up was possible
    # The next run in that folder removes it, and may take the dead run's id.
    run_assessment(spec_dir / "spec.yaml", out, run_id="r1")
    assert [p.name for p in out.iterdir()] == ["r1"]
