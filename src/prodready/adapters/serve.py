"""Serving an MLflow model for the length of a run: ``mlflow models serve`` on loopback.

:func:`serve_mlflow` is what the spec's ``endpoint.serve`` uses, and what tests use to get a
real third-party server: it starts ``mlflow models serve --env-manager local`` on a free
127.0.0.1 port, waits (bounded) until ``/ping`` answers, yields a :class:`ServedModel`, and
stops the server when the ``with`` block ends, however it ends.

The process tree is ``python -m mlflow`` -> ``bash -c "exec uvicorn ..."`` -> uvicorn (and,
with ``MLFLOW_MODELS_WORKERS`` > 1, uvicorn's worker processes). It runs in a session and
process group of its own, and the whole group is stopped: SIGTERM, up to 3 s to finish, then
SIGKILL. On Linux the server also dies with the thread that started it (PR_SET_PDEATHSIG:
the kernel sends SIGTERM when that thread ends, even if prodready is killed with SIGKILL;
``mlflow`` passes the same signal on to uvicorn). So start it from the thread that lives as
long as the server is needed, which the ``with`` block does.

The child's environment is this process's, plus: the virtualenv's ``bin/`` first on PATH
(``mlflow`` execs ``uvicorn`` by name through a shell), ``OMP_NUM_THREADS=1`` (OpenMP
models are several times slower in a server's threads otherwise, see FACTS.md),
``PYTHONUNBUFFERED=1`` (a complete log), ``MLFLOW_DISABLE_TELEMETRY=true`` (an assessment
must not phone home), then whatever ``env`` sets (it wins).

The server's stdout and stderr go to a log file that is kept after the server stops (the
report links it): in ``log_dir``, or in a new temporary folder.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

from prodready._exceptions import MissingDependencyError, ServeError

__all__ = ["ServeError", "ServedModel", "serve_mlflow"]

#: Seconds between SIGTERM and SIGKILL of the server's process group.
TERM_GRACE_S = 3.0
#: The server's log in ``log_dir`` (overwritten by each start).
LOG_NAME = "server.log"
#: Ports tried when another process takes the free port between choosing and binding it.
PORT_ATTEMPTS = 3

# Run in the child before mlflow: ask the kernel for SIGTERM when the parent thread dies
# (PR_SET_PDEATHSIG = 1), then exec mlflow. Done in a tiny launcher rather than with
# Popen(preexec_fn=...), which the Python docs call unsafe in a process with threads (probes
# run in threads). If the parent died before prctl took effect, do not start at all.
_LAUNCHER = (
    "import ctypes, os, signal, sys\n"
    "try:\n"
    "    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)\n"
    "except (AttributeError, OSError):\n"
    "    pass\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit(70)\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)
_PORT_TAKEN = re.compile(r"address already in use|errno 98", re.IGNORECASE)
# Python's "package.ExceptionType: message" and uvicorn's "ERROR:    message", unindented.
_ERROR_LINE = re.compile(r"^(?!INFO:|DEBUG:|WARNING:)[A-Za-z_][\w.]*:(\s|$)")
# mlflow's own wrapper line when uvicorn fails: it says nothing the line before does not.
_WRAPPER_LINE = re.compile(r"returned non zero return code")


@dataclass(frozen=True)
class ServedModel:
    """A running ``mlflow models serve``: where it answers and where it logs.

    ``url`` is its base URL (``http://127.0.0.1:PORT``, for
    :class:`~prodready.adapters.MLflowClient`), ``pid`` the id of its top process (also its
    process group id), ``log_path`` its stdout and stderr. ``model_uri`` is the registry URI
    served (``models:/name@alias``), else empty; ``model_dir`` is then that URI as a path.
    """

    url: str
    port: int
    pid: int
    log_path: Path
    model_dir: Path
    model_uri: str = ""

    def log_tail(self, n: int = 20) -> str:
        """The last ``n`` lines of the server's log."""
        return "\n".join(_log_lines(self.log_path)[-n:])

    def group_pids(self) -> list[int]:
        """Ids of the live processes of the server's process group (empty once stopped)."""
        return _group_members(self.pid)


@contextmanager
def serve_mlflow(
    model_dir: str | os.PathLike[str],
    *,
    env: Mapping[str, str] | None = None,
    startup_timeout_s: float = 60.0,
    log_dir: str | os.PathLike[str] | None = None,
    registry_uri: str | None = None,
) -> Iterator[ServedModel]:
    """Serve the MLflow model in ``model_dir`` on a free loopback port while the block runs.

    ``env`` adds to (or overrides) the server's environment, e.g.
    ``{"MLFLOW_MODELS_WORKERS": "2"}``; ``startup_timeout_s`` bounds the wait for the first
    200 on ``/ping`` (an MLflow server takes ~10 s to start on a busy 2-core machine);
    ``log_dir`` is where the log is written (a new temporary folder by default).

    ``model_dir`` may be a registry URI, ``models:/<name>@<alias>`` or ``models:/<name>/<n>``:
    the server then reads the registry ``registry_uri`` (any MLflow tracking URI; it is
    given to the server as ``MLFLOW_TRACKING_URI`` and ``MLFLOW_REGISTRY_URI``). Without one
    (and without ``MLFLOW_TRACKING_URI`` in ``env`` or the environment) it is a
    :class:`ServeError`: MLflow would otherwise create an empty ``mlflow.db`` in the working
    directory and find no model there.

    Raises :class:`~prodready.MissingDependencyError` without mlflow, and
    :class:`ServeError` when ``model_dir`` has no ``MLmodel`` file, or the server exits or
    does not answer in time (its log's most telling line in the message). No process is
    left behind in any case.
    """
    if importlib.util.find_spec("mlflow") is None:
        raise MissingDependencyError("mlflow", "mlflow", "serving a model with mlflow models serve")
    model_uri = os.fspath(model_dir) if str(model_dir).startswith("models:/") else ""
    if model_uri:
        registry_uri = (
            registry_uri
            or (env or {}).get("MLFLOW_TRACKING_URI")
            or os.environ.get("MLFLOW_TRACKING_URI")
        )
        if not registry_uri:
            raise ServeError(
                f"serving {model_uri} needs the registry's URI (registry_uri, or "
                "MLFLOW_TRACKING_URI): without it MLflow looks in a new mlflow.db in the "
                "working directory"
            )
        env = {
            "MLFLOW_TRACKING_URI": registry_uri,
            "MLFLOW_REGISTRY_URI": registry_uri,
            **(env or {}),
        }
        directory = Path(model_uri)
    else:
        directory = Path(model_dir).resolve()
        if not (directory / "MLmodel").is_file():
            raise ServeError(
                f"{directory} is not an MLflow model directory (it has no MLmodel file)"
            )
    if not startup_timeout_s > 0:
        raise ValueError(f"startup_timeout_s must be > 0, got {startup_timeout_s!r}")
    folder = Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix="prodready-"))
    folder.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + startup_timeout_s

    process: subprocess.Popen[bytes] | None = None
    for attempt in range(1, PORT_ATTEMPTS + 1):
        port = _free_port()
        log_path = folder / LOG_NAME
        process = _launch(model_uri or str(directory), port, env, log_path)
        try:
            if _wait_ready(process, port, log_path, deadline, directory, startup_timeout_s):
                break
        except BaseException:
            _stop(process)
            raise
        _stop(process)  # the port was taken meanwhile: try another one
        if attempt == PORT_ATTEMPTS:
            raise ServeError(
                f"mlflow models serve {directory}: the chosen port was taken "
                f"{PORT_ATTEMPTS} times (log: {log_path})",
                log_path=log_path,
            )
    assert process is not None
    try:
        yield ServedModel(
            url=f"http://127.0.0.1:{port}",
            port=port,
            pid=process.pid,
            log_path=log_path,
            model_dir=directory,
            model_uri=model_uri,
        )
    finally:
        _stop(process)


def _free_port() -> int:
    """A port nothing listens on now (the kernel's choice for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _child_env(env: Mapping[str, str] | None) -> dict[str, str]:
    child = dict(os.environ)
    child.update(
        {"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}
    )
    child.update(env or {})
    bin_dir = str(Path(sys.executable).parent)
    child["PATH"] = os.pathsep.join(p for p in (bin_dir, child.get("PATH", "")) if p)
    return child


def _launch(
    model: str, port: int, env: Mapping[str, str] | None, log_path: Path
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "models",
        "serve",
        "-m",
        model,
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    return _spawn(command, env, log_path)


def _spawn(
    command: list[str], env: Mapping[str, str] | None, log_path: Path
) -> subprocess.Popen[bytes]:
    """Start ``command`` in a session of its own, dying with this thread, logging to a file."""
    if sys.platform.startswith("linux"):
        command = [sys.executable, "-c", _LAUNCHER, str(os.getpid()), *command]
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_child_env(env),
            start_new_session=True,
            close_fds=True,
        )


def _wait_ready(
    process: subprocess.Popen[bytes],
    port: int,
    log_path: Path,
    deadline: float,
    directory: Path,
    timeout_s: float,
) -> bool:
    """True once ``/ping`` answers 200; False when the port was taken; else raises."""
    url = f"http://127.0.0.1:{port}/ping"
    with httpx.Client(timeout=1.0, trust_env=False) as http:
        while True:
            code = process.poll()
            if code is not None:
                lines = _log_lines(log_path)
                if any(_PORT_TAKEN.search(line) for line in lines):
                    return False
                raise ServeError(
                    f"mlflow models serve {directory} exited with code {code} before answering "
                    f"/ping: {_telling_line(lines)} (log: {log_path})",
                    log_path=log_path,
                )
            try:
                if http.get(url).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise ServeError(
                    f"mlflow models serve {directory} did not answer /ping within "
                    f"{timeout_s:g} s: {_telling_line(_log_lines(log_path))} (log: {log_path})",
                    log_path=log_path,
                )
            time.sleep(0.1)


def _log_lines(log_path: Path) -> list[str]:
    try:
        with open(log_path, "rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 65536))
            text = log.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def _telling_line(lines: list[str]) -> str:
    """The log line that says what went wrong: the last error line, else the last line."""
    errors = [ln for ln in lines if _ERROR_LINE.match(ln) and not _WRAPPER_LINE.search(ln)]
    line = (errors or lines or ["(the log is empty)"])[-1].strip()
    return line if len(line) <= 300 else line[:299] + "…"


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return []
        return [pgid]
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # Fields after the command name (which may hold spaces and parentheses).
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _wait_gone(process: subprocess.Popen[bytes], seconds: float) -> bool:
    end = time.monotonic() + seconds
    while True:
        process.poll()  # reap the top process as soon as it exits
        if not _group_members(process.pid):
            return True
        if time.monotonic() > end:
            return False
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the server's whole process group: SIGTERM, a grace period, SIGKILL."""
    _signal_group(process.pid, signal.SIGTERM)
    if not _wait_gone(process, TERM_GRACE_S):
        _signal_group(process.pid, signal.SIGKILL)
        _wait_gone(process, 5.0)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=1.0)
