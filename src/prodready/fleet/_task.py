"""One system's run, as a Dask task: ``prodready assess`` in a child process of the worker.

The run is the same headless run as ``prodready assess`` (papermill, nbconvert, signing), in
its own process: a system that crashes its run cannot take the worker, or another system's
run, with it, and the run's own clean-up (its kernel stopped, its work folder removed) is the
CLI's, already tested.

The task talks to the sweep through files in the sweep folder (which every worker must see:
on a real cluster, a shared filesystem), in ``.fleet/``:

* ``<slug>.attempts``: one JSON line per event of this system's attempts ("start" with the
  worker's address, host and pid; "child" with the run's pid; "end" with its exit code), so
  the sweep can tell a retried system, and a new attempt can stop a previous one's leftover;
* ``<slug>.log``: the run's own output (its last line is the reason when it fails);
* ``STOP``: created by the sweep when it is stopped (Ctrl-C, SIGTERM); every task then
  sends SIGTERM to its run, which stops its kernel and removes its work folder, and returns.

If the worker dies, the run's process gets SIGTERM from the kernel (Linux's parent-death
signal), and Dask runs the task again on another worker: a new attempt.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["INTERNAL_DIR", "STOP_FILE", "read_attempts", "run_system"]

#: The sweep's internal folder, inside the sweep folder; removed before it is published.
INTERNAL_DIR = ".fleet"
STOP_FILE = "STOP"
#: How often a task looks at its run and at the stop file.
_POLL_S = 0.25
#: How long a run may take to clean up after SIGTERM before it is killed.
_STOP_GRACE_S = 30.0


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _record(path: Path, event: dict[str, Any]) -> None:
    # One write of one line with O_APPEND: lines of concurrent writers never interleave.
    line = (json.dumps(event, ensure_ascii=False) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def read_attempts(path: Path) -> list[dict[str, Any]]:
    """The events of ``<slug>.attempts``, in order (unreadable lines skipped)."""
    events: list[dict[str, Any]] = []
    with contextlib.suppress(FileNotFoundError):
        for raw in path.read_bytes().splitlines():
            with contextlib.suppress(ValueError):
                value = json.loads(raw)
                if isinstance(value, dict):
                    events.append(value)
    return events


def _worker_address() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):  # not on a worker (a sequential run, a test)
        return "local"


def _parent_death_signal() -> None:
    """In the child, before exec: SIGTERM when the worker that started it dies (Linux)."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _stop_previous(events: list[dict[str, Any]], host: str) -> None:
    """Stop a previous attempt's run still alive on this host (its worker died)."""
    for event in events:
        if event.get("event") != "child" or event.get("host") != host:
            continue
        pid = event.get("pid")
        if not isinstance(pid, int) or pid <= 0:
            continue
        deadline = time.monotonic() + _STOP_GRACE_S
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
            while time.monotonic() < deadline:
                os.kill(pid, 0)  # raises ProcessLookupError once it is gone
                time.sleep(_POLL_S)
            os.kill(pid, signal.SIGKILL)


def _reason(log: Path) -> str:
    """The run's last line of output, without the "prodready: error:" prefix."""
    try:
        lines = [line.strip() for line in log.read_text("utf-8", "replace").splitlines()]
    except OSError:
        return ""
    for line in reversed(lines):
        if line:
            for prefix in ("prodready: error: ", "prodready: "):
                if line.startswith(prefix):
                    return line[len(prefix) :]
            return line
    return ""


def run_system(
    sweep_dir: str,
    slug: str,
    spec: str,
    sign_key: str = "",
    drift_engine: str = "",
    questions: str = "",
) -> dict[str, Any]:
    """Run ``prodready assess`` for one system into ``sweep_dir/slug``; return its outcome.

    The outcome: ``slug``, ``exit_code`` (the CLI's; None when the sweep was stopped before
    the run started), ``reason`` (its last line of output when it did not finish),
    ``seconds``. Never raises for a run that
    fails: that is the system's outcome, not the task's.
    """
    sweep = Path(sweep_dir)
    internal = sweep / INTERNAL_DIR
    attempts = internal / f"{slug}.attempts"
    log = internal / f"{slug}.log"
    host = socket.gethostname()
    previous = read_attempts(attempts)
    _record(
        attempts,
        {
            "event": "start",
            "worker": _worker_address(),
            "host": host,
            "pid": os.getpid(),
            "time": _now(),
        },
    )
    started = time.monotonic()
    outcome: dict[str, Any] = {"slug": slug, "exit_code": None, "reason": ""}
    if (internal / STOP_FILE).exists():
        return outcome
    if (sweep / slug / "results.json").is_file():
        # A previous attempt published the run before its worker died: it stands.
        outcome["exit_code"] = 0
        _record(attempts, {"event": "end", "exit_code": 0, "reused": True, "time": _now()})
        return outcome
    _stop_previous(previous, host)
    command = [
        sys.executable,
        "-m",
        "prodready",
        "assess",
        spec,
        "--out",
        str(sweep),
        "--run-id",
        slug,
        "--quiet",
        "--sign-key",
        sign_key,
        "--ledger",
        "",
    ]
    if drift_engine:
        command += ["--engine", drift_engine]
    if questions:
        command += ["--questions", questions]
    env = dict(os.environ)
    env.pop("PRODREADY_LEDGER", None)  # the sweep appends to the ledger, once it is published
    env.pop("PRODREADY_SIGN_KEY", None)  # given explicitly above ("" for an unsigned sweep)
    with log.open("ab") as output:
        child = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=_parent_death_signal,  # only a prctl call: safe in a threaded parent
        )
        _record(attempts, {"event": "child", "host": host, "pid": child.pid, "time": _now()})
        code = _wait(child, internal / STOP_FILE)
    outcome["exit_code"] = code
    outcome["seconds"] = round(time.monotonic() - started, 3)
    if code not in (0, 1):
        outcome["reason"] = _reason(log)
    _record(attempts, {"event": "end", "exit_code": code, "time": _now()})
    return outcome


def _wait(child: subprocess.Popen[bytes], stop: Path) -> int:
    """The child's exit code; SIGTERM (then SIGKILL) once the sweep's stop file appears."""
    while True:
        with contextlib.suppress(subprocess.TimeoutExpired):
            return child.wait(timeout=_POLL_S)
        if stop.exists():
            child.send_signal(signal.SIGTERM)  # the CLI stops its kernel, removes its folder
            try:
                return child.wait(timeout=_STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                child.kill()
                return child.wait()
