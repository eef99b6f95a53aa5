"""Fleet sweeps on real Dask clusters: a LocalCluster, and a scheduler with two workers
started as separate processes on loopback. Every system is a real headless run
(``prodready assess`` in a child of a worker: papermill, nbconvert, signing).

The systems are copies of the bundled example (1,000 rows) under other names, assessed on
Q7 only (lineage: quick, and it PASSes or FAILs on a spec change), so a sweep takes seconds
per system. Slow: marked e2e, still run by make test (in one environment: see
ENV_INDEPENDENT in tests/conftest.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from prodready.attest import generate_keypair, read_ledger, verify_ledger
from prodready.attest._sign import verify_run
from prodready.cli import main
from prodready.example import ensure_example
from prodready.fleet import assess_fleet
from prodready.fleet._summary import read_summary

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_example(tmp_path_factory.mktemp("fleet-example"), n_rows=1000, served=False)


def _variant(example: Path, folder: Path, stem: str, name: str, **replace: str) -> Path:
    """A copy of the example's spec named ``name``, its paths pointing at the example."""
    text = example.read_text(encoding="utf-8")
    lines = []
    for line in text.splitlines():
        if line.startswith("name:"):
            line = f"name: {name}"
        for old, new in replace.items():
            line = line.replace(old, new)
        lines.append(line)
    folder.mkdir(parents=True, exist_ok=True)
    spec = folder / f"{stem}.yaml"
    # The data, model and provenance stay beside the example's spec: link them in.
    for item in example.parent.iterdir():
        target = folder / item.name
        if item.suffix != ".yaml" and not target.exists():
            target.symlink_to(item)
    spec.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return spec


def _fleet(folder: Path, specs: list[Path]) -> Path:
    fleet = folder / "fleet.yaml"
    fleet.write_text("".join(f"- {s.name}\n" for s in specs), encoding="utf-8")
    return fleet


def _leftovers(out: Path) -> list[str]:
    """Anything partial under ``out``: hidden work folders, at any depth."""
    return sorted(str(p.relative_to(out)) for p in out.rglob(".*"))


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return generate_keypair(tmp_path_factory.mktemp("keys"), "fleet")


@pytest.fixture(scope="module")
def first_sweep(
    example: Path, keys: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[int, Path, Path, str]:
    """Three systems on a LocalCluster, through the CLI: two good, one with a broken spec."""
    folder = tmp_path_factory.mktemp("fleet")
    specs = [
        _variant(example, folder, "alpha", "Alpha"),
        _variant(example, folder, "beta", "Beta"),
        _variant(example, folder, "broken", "Broken", **{"path: model.skops": "path: gone.skops"}),
    ]
    out, ledger = folder / "out", folder / "ledger.jsonl"
    code = main(
        [
            "fleet",
            str(_fleet(folder, specs)),
            "--out",
            str(out),
            "--questions",
            "Q7",
            "--sign-key",
            str(keys[0]),
            "--ledger",
            str(ledger),
            "--sweep-id",
            "sweep1",
            "-q",
        ]
    )
    return code, folder, ledger, "sweep1"


def test_every_system_is_assessed_and_the_broken_one_named(
    first_sweep: tuple[int, Path, Path, str], keys: tuple[Path, Path]
) -> None:
    code, folder, ledger, sweep = first_sweep
    out = folder / "out"
    # One system could not start: the fleet is not ready (exit 1), not "nothing ran" (2).
    assert code == 1
    assert sorted(p.name for p in out.iterdir()) == ["sweep1"]
    assert _leftovers(out) == []
    result = read_summary(out / sweep)
    by = {s.slug: s for s in result.systems}
    assert [s.slug for s in result.systems] == ["alpha", "beta", "broken"]
    assert by["alpha"].state == by["beta"].state == "assessed"
    assert by["alpha"].verdict == "ready" and by["alpha"].statuses == {"Q7": "pass"}
    assert by["broken"].state == "not started" and by["broken"].exit_code == 2
    assert "model.path" in by["broken"].reason and "gone.skops" in by["broken"].reason
    assert "\n" not in by["broken"].reason
    assert result.verdict == "not ready" and result.exit_code == 1
    assert result.cluster["kind"] == "local" and result.cluster["workers"] == 2
    # Each run folder is a signed run, verifiable on its own.
    for slug in ("alpha", "beta"):
        assert verify_run(out / sweep / slug, keys[1]).ok
    assert sorted(p.name for p in (out / sweep).iterdir()) == [
        "alpha",
        "beta",
        "fleet.json",
        "index.html",
    ]
    page = (out / sweep / "index.html").read_text(encoding="utf-8")
    assert 'href="alpha/report.html"' in page and "gone.skops" in page
    # The ledger: one line per published run, tagged with the sweep, folders that exist.
    assert verify_ledger(ledger).ok
    entries = read_ledger(ledger)
    assert sorted(e.system for e in entries) == ["Alpha", "Beta"]
    assert all(Path(e.folder).parent == out / sweep for e in entries)
    lines = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert {line["sweep"] for line in lines} == {"sweep1"}


def test_a_second_sweep_on_a_scheduler_with_two_worker_processes_says_what_changed(
    first_sweep: tuple[int, Path, Path, str],
    example: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, folder, ledger, _ = first_sweep
    # Beta now names the wrong training data: its lineage no longer verifies (Q7 FAIL).
    _variant(example, folder, "beta", "Beta", **{"train.parquet": "current.parquet"})
    out = folder / "out"
    with _dask_cluster(tmp_path) as address:
        code = main(
            [
                "fleet",
                str(folder / "fleet.yaml"),
                "--out",
                str(out),
                "--questions",
                "Q7",
                "--scheduler",
                address,
                "--ledger",
                str(ledger),
                "--sweep-id",
                "sweep2",
                "-q",
            ]
        )
    assert code == 1
    printed = capsys.readouterr().out
    assert "changes since sweep1:" in printed and "Beta: new fail Q7: pass -> fail" in printed
    result = read_summary(out / "sweep2")
    assert result.cluster["kind"] == "scheduler" and result.cluster["workers"] == 2
    assert result.previous_sweep == "sweep1"
    changes = {(c.system, c.kind, c.question) for c in result.changes}
    assert ("Beta", "new fail", "Q7") in changes
    assert ("Beta", "verdict", "") in changes
    assert not any(c.system == "Alpha" for c in result.changes)
    workers = {a.worker for s in result.systems for a in s.attempts}
    assert len(workers) >= 1 and all(w.startswith("tcp://127.0.0.1:") for w in workers)
    assert _leftovers(out) == []


def test_a_worker_killed_mid_sweep_is_retried_and_named(example: Path, tmp_path: Path) -> None:
    specs = [_variant(example, tmp_path, n, n.title()) for n in ("one", "two")]
    fleet, out = _fleet(tmp_path, specs), tmp_path / "out"
    killed: dict[str, int] = {}

    def kill_the_first_worker_with_a_run() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            for partial in out.glob(".*.partial/.fleet/*.attempts"):
                events = [json.loads(x) for x in partial.read_text().splitlines() if x]
                starts = [e for e in events if e["event"] == "start"]
                children = [e for e in events if e["event"] == "child"]
                ended = any(e["event"] == "end" for e in events)
                if starts and children and not ended:
                    time.sleep(1)  # the run is under way: its kernel is starting
                    now = [json.loads(x) for x in partial.read_text().splitlines() if x]
                    if any(e["event"] == "end" for e in now):
                        continue  # it finished meanwhile (a starved test): take another
                    os.kill(starts[0]["pid"], signal.SIGKILL)
                    killed.update(pid=starts[0]["pid"], child=children[0]["pid"])
                    killed["slug"] = partial.stem  # type: ignore[assignment]
                    return
            time.sleep(0.1)

    killer = threading.Thread(target=kill_the_first_worker_with_a_run, daemon=True)
    killer.start()
    result = assess_fleet(fleet, out, workers=2, questions=["Q7"], sweep_id="s")
    killer.join()
    assert killed, "no worker was killed"
    assert [s.state for s in result.systems] == ["assessed"] * 2
    retried = [s for s in result.systems if s.retried]
    assert [s.slug for s in retried] == [killed["slug"]]
    first, second = retried[0].attempts
    assert first.outcome == "lost" and first.pid == killed["pid"]
    assert second.outcome == "finished" and second.pid != killed["pid"]
    page = result.summary_html.read_text(encoding="utf-8")
    assert "attempt 2" in page and "lost" in page
    # The lost attempt's run got SIGTERM with its worker (parent-death signal) and is gone.
    _gone(killed["child"])
    assert _leftovers(out) == []


@pytest.mark.parametrize(
    ("how", "code", "said"),
    [
        ("SIGTERM to the command", 143, "interrupted (SIGTERM)"),
        # Ctrl-C in a terminal: SIGINT to the whole foreground group, the Dask workers and
        # the runs included.
        ("Ctrl-C in its terminal", 130, "interrupted (Ctrl-C)"),
    ],
)
def test_a_stopped_sweep_leaves_nothing(
    example: Path, tmp_path: Path, how: str, code: int, said: str
) -> None:
    # Six systems on two workers: three rounds of runs, so that the sweep is still under way
    # when the signal comes, even if this test process was starved of CPU for seconds.
    specs = [_variant(example, tmp_path, n, n.title()) for n in ("p", "q", "r", "s", "t", "u")]
    fleet, out = _fleet(tmp_path, specs), tmp_path / "out"
    out.mkdir()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prodready",
            "fleet",
            str(fleet),
            "--out",
            str(out),
            "--questions",
            "Q7",
            "-q",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # As in a terminal's foreground job: SIGINT not ignored, even when this test runs
        # where it is (a shell's background job ignores SIGINT, and its children inherit it).
        preexec_fn=_default_sigint,
    )
    try:
        children = _wait_for_runs(out, 2)
        if how.startswith("SIGTERM"):
            process.send_signal(signal.SIGTERM)
        else:
            os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == code, stderr
    assert said in stderr and "Traceback" not in stderr
    assert list(out.iterdir()) == []  # no sweep folder, no run folder, nothing partial
    for pid in children:
        _gone(pid)
    _gone(-process.pid)  # nothing of the group is left running: workers, runs, kernels


def test_exit_2_when_no_system_could_start(example: Path, tmp_path: Path) -> None:
    specs = [
        _variant(example, tmp_path, "x", "X", **{"path: model.skops": "path: nope.skops"}),
        _variant(example, tmp_path, "y", "Y", **{"version: 2": "version: 99"}),
    ]
    out = tmp_path / "out"
    result = assess_fleet(_fleet(tmp_path, specs), out, workers=1, sweep_id="bad")
    assert [s.state for s in result.systems] == ["not started", "not started"]
    assert "nope.skops" in result.systems[0].reason
    assert "version" in result.systems[1].reason
    assert result.exit_code == 2


def test_a_bad_fleet_is_one_line_before_any_cluster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "fleet.yaml").write_text("- a.yaml\n- a.yaml\n")
    assert main(["fleet", str(tmp_path / "fleet.yaml"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "repeats item 1" in err
    assert not (tmp_path / "o").exists()
    (tmp_path / "fleet.yaml").write_text("- a.yaml\n")
    out = tmp_path / "o"
    assert (
        main(
            [
                "fleet",
                str(tmp_path / "fleet.yaml"),
                "--scheduler",
                "tcp://127.0.0.1:9",
                "--out",
                str(out),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--scheduler: cannot reach 'tcp://127.0.0.1:9'" in err
    assert list(out.iterdir()) == []  # the sweep's work folder is gone again


# --- helpers ----------------------------------------------------------------------------------


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for_runs(out: Path, n: int, timeout: float = 120) -> list[int]:
    """The pids of the first ``n`` runs started in the sweep under ``out``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = []
        for attempts in out.glob(".*.partial/.fleet/*.attempts"):
            for line in attempts.read_text().splitlines():
                event = json.loads(line)
                if event["event"] == "child":
                    pids.append(event["pid"])
        if len(pids) >= n:
            time.sleep(3)  # under way: kernels starting, work folders written
            return pids
        time.sleep(0.1)
    raise AssertionError(f"fewer than {n} runs started in {timeout} s")


def _gone(pid: int, timeout: float = 60) -> None:
    """Wait until process ``pid`` (a process group: ``-pgid``) is gone; kill it if not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    raise AssertionError(f"process {pid} was still running {timeout} s later")


class _dask_cluster:
    """``dask scheduler`` and two ``dask worker`` processes on loopback, torn down after."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.processes: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> str:
        dask = str(Path(sys.executable).parent / "dask")
        info = self.folder / "scheduler.json"
        log = (self.folder / "dask.log").open("wb")
        try:
            self.processes.append(
                subprocess.Popen(
                    [
                        dask,
                        "scheduler",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        "0",
                        "--no-dashboard",
                        "--scheduler-file",
                        str(info),
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            deadline = time.monotonic() + 60
            while not info.is_file() and time.monotonic() < deadline:
                time.sleep(0.1)
            address = json.loads(info.read_text())["address"]
            for _ in range(2):
                self.processes.append(
                    subprocess.Popen(
                        [
                            dask,
                            "worker",
                            address,
                            "--nthreads",
                            "1",
                            "--nworkers",
                            "1",
                            "--host",
                            "127.0.0.1",
                            "--no-dashboard",
                        ],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
            from distributed import Client

            with Client(address, timeout="30s") as client:
                client.wait_for_workers(2, timeout=60)
            return str(address)
        except BaseException:
            self.__exit__(None, None, None)
            raise

    def __exit__(self, *exc: object) -> None:
        for process in reversed(self.processes):  # workers first, then the scheduler
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
