"""Headless assessment: the publishing path, as stages.

``run_assessment`` checks the input in this process first (the run id, the output folder, the
spec parsed, the model and data loaded, every selected probe preflighted), so bad input costs
no kernel start and writes nothing. Then it *claims* the run id: it creates the hidden folder
``<out>/.<run-id>.partial`` exclusively (a second run with the same ``--out`` and run id fails
at once), records its owner there (``owner.pid``: process id, process start time, host, boot),
and the run goes through :data:`STAGES`, each working in that folder:

1. ``execute``: papermill runs the assessment notebook, which writes ``results.json``;
2. ``render``: nbconvert renders the executed notebook into the offline ``report.html``;
3. ``attachments``: files taken from the results for readers to use (``monitor.json``, the
   online drift detector the monitoring probe rehearsed, ready to run);

and only when every stage succeeded, ``publish`` renames the folder into ``<out>/<run-id>/``,
so a failed or interrupted run never leaves a half-written report behind. Just before
publishing, ``sign`` copies the spec in (``spec.yaml``) and, with a signing key, signs every
file of the folder (``run.dsse.json``, :mod:`prodready.attest`); after publishing, the run is
appended to the audit ledger, if one was given.

The notebook runs in a kernel this run starts and always stops, however the run ends (an
error, Ctrl-C, SIGTERM from the CLI): its whole process group is killed. A run killed outright
(``kill -9``) cannot clean up; its ``.partial`` folder is removed by the next run in the same
output folder, once its owner is provably gone (:func:`remove_stale_runs`).

The run folder holds ``assessment.ipynb`` (the executed notebook), ``results.json`` (the
machine-readable results) and ``report.html`` (the self-contained, offline audit report).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from prodready._exceptions import ProdreadyError, ReportError, SpecError, UsageError
from prodready._files import atomic_write, check_folder, shown
from prodready._paths import templates_dir
from prodready.assessment import new_run_id
from prodready.results import Assessment

if TYPE_CHECKING:
    from prodready.results import Finding

__all__ = [
    "STAGES",
    "RunResult",
    "RunState",
    "check_run_id",
    "progress_recorder",
    "remove_stale_runs",
    "run_assessment",
]


def _subclasses(cls: type) -> set[type]:
    found: set[type] = {cls}
    subclasses: list[type] = cls.__subclasses__()
    for sub in subclasses:
        found |= _subclasses(sub)
    return found


# Errors raised inside the kernel that mean "the user's input is wrong" (exit code 2): the
# whole UsageError tree, so a new kind of bad input needs no change here.
_USAGE_ERRORS = frozenset(cls.__name__ for cls in _subclasses(UsageError))

#: A run id is one safe folder name: no path separator, not hidden, not an option.
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_RUN_ID_EXPECTED = (
    "expected a folder name of 1 to 100 letters, digits, '.', '_' or '-', "
    "starting with a letter or digit"
)

_PARTIAL = ".partial"  # suffix of the hidden work folder of a run: .<run-id>.partial
_OWNER = "owner.pid"  # who owns a work folder: {"pid", "start", "host", "boot"}
_PROGRESS = "progress.json"  # which probe the kernel is running (to name it if the kernel dies)
_KERNEL_LOG = "kernel.log"  # the kernel process's own stdout and stderr
_INTERNAL = (_PROGRESS, _KERNEL_LOG)  # work files that are not part of the published run
# A work folder with no owner record (a run of an older version, or one killed in the instant
# between creating the folder and recording its owner) is removed once it is this old.
_UNOWNED_STALE_S = 24 * 3600


@dataclass
class RunState:
    """What the stages of one run share: inputs, the work folder, and what each produced."""

    spec: Path
    work: Path
    run_id: str
    drift_engine: str
    questions: list[str] | None
    cell_timeout_s: int | None
    notebook: Any = None
    assessment: Assessment | None = None
    #: The signing key (a prodready.attest Signer), or None for an unsigned run.
    signer: Any = None


@dataclass(frozen=True)
class RunResult:
    """A finished run: its folder and the assessment it wrote."""

    directory: Path
    assessment: Assessment

    @property
    def report(self) -> Path:
        """The HTML report."""
        return self.directory / "report.html"

    @property
    def results(self) -> Path:
        """results.json."""
        return self.directory / "results.json"

    @property
    def notebook(self) -> Path:
        """The executed notebook."""
        return self.directory / "assessment.ipynb"

    def __repr__(self) -> str:
        """One line: the run, its verdict and where its files are."""
        from prodready.views import pct

        a = self.assessment
        return (
            f"<RunResult {a.run_id}: {str(a.verdict).upper()} (overall {pct(a.overall)}), "
            f"{a.scope}, in {shown(self.directory)}>"
        )

    def _repr_html_(self) -> str:
        """The summary and links to the run's files, for notebooks.

        A file inside the notebook's folder (the working directory) gets a relative link,
        which JupyterLab opens; others are listed by name.
        """
        from prodready import views

        files: list[tuple[str, str, int]] = []
        try:
            entries = sorted(p for p in self.directory.iterdir() if not p.name.startswith("."))
        except OSError:
            entries = []
        here = Path.cwd()
        for path in entries[:50]:
            try:
                size = path.stat().st_size
            except OSError:
                continue
            link = ""
            with contextlib.suppress(ValueError):
                link = path.resolve().relative_to(here.resolve()).as_posix()
            files.append((path.name, link, size))
        return views.run_html(self.assessment, str(self.directory), files)


def run_assessment(
    spec: str | Path,
    out: str | Path = "reports",
    *,
    drift_engine: str = "",
    run_id: str | None = None,
    questions: list[str] | None = None,
    cell_timeout_s: int | None = 1800,
    sign_key: Any = None,
    ledger: str | Path | None = None,
) -> RunResult:
    """Assess the system of ``spec`` headless and write ``<out>/<run-id>/``.

    ``drift_engine`` overrides the spec's ``monitoring.engine`` ("auto", "scipy", "alibi");
    empty keeps the spec's. ``run_id`` names the run folder (see :func:`check_run_id`; default:
    the time and random hex). ``questions`` (ids or keys) makes a partial assessment of those
    questions only. ``cell_timeout_s`` bounds each notebook cell (None: no limit; the probes
    also have their own ``policy.probe_timeout_s``). ``sign_key`` (a private key file from
    ``prodready keygen``, or a loaded :class:`prodready.attest.Signer`) signs the run folder
    (``run.dsse.json``); ``ledger`` names an audit ledger the published run is appended to.
    Raises :class:`UsageError` for bad input (found before any kernel starts, or by the
    notebook), including a bad signing key and a run id already taken in ``out`` (by a
    finished run or one still running), and :class:`ReportError` for anything else that
    stopped the run.
    """
    if not Path(spec).is_file():  # before resolving: a hostile path fails here, in one line
        raise SpecError(
            "the spec file does not exist",
            source=str(spec),
            expected="a YAML spec file (see the README)",
        )
    spec_path = Path(spec).resolve()
    if run_id is not None:
        check_run_id(run_id)
    check_folder(out, "out")
    # Absolute: the notebook runs with the spec's folder as its working directory.
    out_dir = Path(out).resolve()
    if run_id is not None and os.path.lexists(out_dir / run_id):
        raise _taken(run_id, out_dir)
    signer, ledger_path = _check_attest(sign_key, ledger)
    _check_input(spec, drift_engine, questions)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"out: cannot create the folder {shown(out_dir)} ({exc.strerror or exc}): "
            "expected a folder that exists or can be created"
        ) from None
    remove_stale_runs(out_dir)
    # The work folder is the claim on the run id, and sits beside the final folder, so that
    # publishing is an atomic rename.
    work, run_id = _claim(out_dir, run_id)
    published = False
    try:
        state = RunState(spec_path, work, run_id, drift_engine, questions, cell_timeout_s)
        state.signer = signer
        for _name, stage in STAGES:
            stage(state)
        assert state.assessment is not None
        _sign(state)  # after every stage: it signs all the files they wrote
        _publish(state, out_dir / run_id)
        published = True
    finally:
        if not published:  # once published, the name .<run-id>.partial is no longer ours
            shutil.rmtree(work, ignore_errors=True)
    if ledger_path is not None:
        from prodready.attest import append_run

        try:
            append_run(ledger_path, out_dir / run_id, state.assessment)
        except OSError as exc:
            raise ReportError(
                f"the run was published in {shown(out_dir / run_id)} but could not be appended "
                f"to the ledger {shown(ledger_path)} ({exc.strerror or exc})"
            ) from None
    return RunResult(out_dir / run_id, state.assessment)


def check_run_id(run_id: object, option: str = "run_id") -> str:
    """Return ``run_id`` if it is one safe folder name, else raise a one-line UsageError.

    Allowed: 1 to 100 ASCII letters, digits, ``.``, ``_`` and ``-``, starting with a letter or
    a digit (so never ``..``, a path, a hidden name or something read as an option).
    ``option`` names it in the message ("--run-id" for the CLI).
    """
    if isinstance(run_id, str) and RUN_ID_PATTERN.fullmatch(run_id):
        return run_id
    raise UsageError(f"{option}: {_run_id_problem(run_id)}: {_RUN_ID_EXPECTED}")


def _run_id_problem(run_id: object) -> str:
    if not isinstance(run_id, str):
        return f"is a {type(run_id).__name__}, not text"
    if not run_id:
        return "is empty"
    quoted = repr(run_id) if len(run_id) <= 40 else repr(run_id[:40]) + "..."
    if len(run_id) > 100:
        return f"{quoted} is {len(run_id)} characters long"
    for separator in ("/", "\\"):
        if separator in run_id:
            return f"{quoted} contains a path separator {separator!r}"
    if run_id[0] in ".-":
        return f"{quoted} starts with {run_id[0]!r}"
    bad = next(c for c in run_id if not (c.isascii() and (c.isalnum() or c in "._-")))
    if bad.isascii() and not bad.isprintable():
        return f"{quoted} contains the control character {bad!r}"
    return f"{quoted} contains {bad!r}"


def _taken(run_id: str, out_dir: Path) -> UsageError:
    return UsageError(f"run id {run_id!r} is taken in {shown(out_dir)}: choose another run id")


def _check_input(spec: str | Path, drift_engine: str, questions: list[str] | None) -> None:
    """Parse the spec, load its system and preflight the probes here, before any kernel."""
    from prodready.assessment import preflight, select_questions
    from prodready.probes import registered_probes
    from prodready.spec import load_spec

    selected = {q.id for q in select_questions(questions)}  # cheap: before loading anything
    system = load_spec(spec)
    if drift_engine:
        system = system.with_settings("monitoring", engine=drift_engine)
    preflight(system, [p for q, p in registered_probes().items() if q in selected])


# --- the claim on a run id, and the leftovers of dead runs ---------------------------------


def _claim(out_dir: Path, run_id: str | None) -> tuple[Path, str]:
    """Create ``.<run-id>.partial`` exclusively and record its owner; return it and the id.

    A generated run id that happens to be taken is replaced by a new one; a chosen one is
    reported taken (a UsageError), be it by a published run or by a run still going.
    """
    chosen = run_id or new_run_id()
    for _attempt in range(10):
        work = out_dir / f".{chosen}{_PARTIAL}"
        try:
            work.mkdir(mode=0o700)
        except FileExistsError:
            stale, owner = _stale(work)
            if stale and _remove(work, owner):
                continue  # the leftover of a dead run with this id: claim it again
            if run_id is None:
                chosen = new_run_id()
                continue
            raise _taken(chosen, out_dir) from None
        except OSError as exc:
            raise UsageError(
                f"out: cannot create a run folder in {shown(out_dir)} ({exc.strerror or exc}): "
                "expected a folder you can write to"
            ) from None
        # Checked after the claim: a run that published this id did so before we claimed it.
        if os.path.lexists(out_dir / chosen):
            shutil.rmtree(work, ignore_errors=True)
            if run_id is None:
                chosen = new_run_id()
                continue
            raise _taken(chosen, out_dir)
        try:
            atomic_write(work / _OWNER, json.dumps(_owner_record()), durable=False)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        return work, chosen
    raise ReportError(f"could not claim a free run id in {shown(out_dir)}")


def remove_stale_runs(out_dir: str | Path) -> list[Path]:
    """Remove the work folders (``.*.partial``) in ``out_dir`` of runs that are gone.

    A folder is removed when its recorded owner process no longer runs (same pid *and* same
    start time, so a reused pid is not mistaken for it; or the machine rebooted since), or,
    with no owner record, when it is over a day old. Folders of live runs, of other hosts,
    of other users, and anything that is not a real folder (a symlink) are left alone.
    Returns the folders removed.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(out_dir))
    except OSError:
        return removed
    for entry in entries:
        if not (entry.name.startswith(".") and entry.name.endswith(_PARTIAL)):
            continue
        folder = Path(entry.path)
        stale, owner = _stale(folder)
        if stale and _remove(folder, owner):
            removed.append(folder)
    return removed


def _stale(folder: Path) -> tuple[bool, dict[str, Any] | None]:
    """Whether ``folder`` is the leftover of a dead run, and the owner record judged."""
    try:
        info = os.lstat(folder)
    except OSError:
        return False, None
    if not stat.S_ISDIR(info.st_mode):
        return False, None  # a symlink or a file: not ours to touch
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        return False, None
    owner = _read_owner(folder)
    if owner is None:
        return time.time() - info.st_mtime > _UNOWNED_STALE_S, None
    return not _owner_alive(owner), owner


def _remove(folder: Path, owner: dict[str, Any] | None) -> bool:
    """Remove a stale folder; never one a live run claimed in the meantime."""
    trash = folder.with_name(f".removing-{secrets.token_hex(8)}{_PARTIAL}")
    try:
        folder.rename(trash)  # atomic: from here on no run can claim this folder
    except OSError:
        return False
    if _read_owner(trash) != owner:  # a new run claimed the name after we judged it: give back
        with contextlib.suppress(OSError):
            trash.rename(folder)
        return False
    shutil.rmtree(trash, ignore_errors=True)
    return True


def _owner_record() -> dict[str, Any]:
    pid = os.getpid()
    return {
        "pid": pid,
        "start": _process_start(pid),
        "host": socket.gethostname(),
        "boot": _boot_id(),
    }


def _read_owner(folder: Path) -> dict[str, Any] | None:
    try:
        with (folder / _OWNER).open(encoding="utf-8") as stream:
            record = json.loads(stream.read(4096))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("pid"), int):
        return None
    return record


def _owner_alive(owner: dict[str, Any]) -> bool:
    if owner.get("host") != socket.gethostname():
        return True  # another machine's run, on a shared folder: we cannot tell
    boot = _boot_id()
    if owner.get("boot") and boot and owner["boot"] != boot:
        return False  # the machine rebooted since: that process is gone
    pid = owner["pid"]
    if pid <= 0:
        return False
    if not os.path.exists("/proc/self/stat"):  # no /proc: the pid alone must do
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except OSError:
            return True  # exists, someone else's
        return True
    start = _process_start(pid)
    if start is None:
        return False
    recorded = owner.get("start")
    return recorded is None or recorded == start


def _process_start(pid: int) -> int | None:
    """Start time of a live process (clock ticks after boot, /proc/<pid>/stat field 22).

    None when there is no such process, it is a zombie, or there is no /proc.
    """
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        fields = text[text.rindex(")") + 2 :].split()  # the name may hold spaces and ')'
    except (OSError, ValueError):
        return None
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    try:
        return int(fields[19])  # fields[0] is field 3 (the state)
    except ValueError:
        return None


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return None


# --- progress: which probe the kernel is running ------------------------------------------


def progress_recorder(
    path: str,
) -> tuple[Callable[[str, str, float | None], None] | None, Callable[[Finding], None] | None]:
    """``on_progress`` and ``on_finding`` callbacks that record the running probe in ``path``.

    The assessment notebook passes them to :func:`prodready.assess`, so that if the kernel
    dies (a probe calls ``os._exit``, crashes the interpreter, runs out of memory), the run
    can name the probe. Empty ``path``: (None, None). Recording never fails a run.
    """
    if not path:
        return None, None
    target = Path(path)

    def record(question: str, step: str, running: bool) -> None:
        with contextlib.suppress(Exception):
            data = {"question": question, "step": step, "running": running}
            atomic_write(target, json.dumps(data), errors="backslashreplace", durable=False)

    def on_progress(question: str, step: str, fraction: float | None) -> None:
        record(question, step, True)

    def on_finding(finding: Finding) -> None:
        record(finding.question, "finished", False)

    return on_progress, on_finding


def _where(progress: Path) -> tuple[str, str, str | None]:
    """Where the notebook was, from the progress file: a phrase, a detail, the probe running."""
    try:
        data = json.loads(progress.read_text(encoding="utf-8")[:4096])
    except (OSError, ValueError):
        data = None
    if not isinstance(data, dict):
        return "before any probe started", "", None
    question = data.get("question")
    if not isinstance(question, str) or not re.fullmatch(r"Q\d{1,3}", question):
        return "while the notebook was running", "", None
    if data.get("running"):
        step = data.get("step")
        detail = ""
        if isinstance(step, str) and step and step != "started":
            detail = f"step {step[:80]!r}; "
        return f"while probe {question} was running", detail, question
    return f"after probe {question} finished", "", None


def _death(progress: Path, exit_code: int | None) -> str:
    """The one line for a kernel that died under the notebook."""
    where, detail, probe = _where(progress)
    if exit_code is None:
        how = "exit code unknown"
    elif exit_code < 0:
        try:
            name = signal.Signals(-exit_code).name
        except ValueError:
            name = f"signal {-exit_code}"
        how = f"killed by {name}" + (", e.g. out of memory" if name == "SIGKILL" else "")
    else:
        how = f"exit code {exit_code}"
    if probe is not None:
        return (
            f"the assessment kernel died {where} ({detail}{how}): the probe ended the kernel "
            f"process (os._exit, a crash or out of memory); leave {probe} out with --questions "
            "to assess the other questions"
        )
    return (
        f"the assessment kernel died {where} ({how}): something ended the kernel process "
        "(a crash or out of memory)"
    )


# --- stage 1: execute ----------------------------------------------------------------------


class _Kernels:
    """The kernels of one run, so that the run stops them however it ends.

    Each kernel is the leader of its own process group (jupyter_client starts it in a new
    session); stopping kills the group, so what the kernel started (probe subprocesses) goes
    with it. Once stopping, a kernel that starts late is killed as soon as it exists.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopping = False
        self.processes: list[tuple[subprocess.Popen[bytes], int | None]] = []

    @property
    def stopping(self) -> bool:
        return self._stopping

    def add(self, manager: Any) -> None:
        provisioner = getattr(manager, "provisioner", None)
        process = getattr(provisioner, "process", None)
        if not isinstance(process, subprocess.Popen):
            return
        entry = (process, getattr(provisioner, "pgid", None))
        with self._lock:
            self.processes.append(entry)
            if self._stopping:
                _kill(*entry)

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            for entry in self.processes:
                _kill(*entry)

    def exit_code(self) -> int | None:
        """The exit code of the last kernel (negative: the signal that killed it)."""
        if not self.processes:
            return None
        process = self.processes[-1][0]
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
        return process.returncode


def _kill(process: subprocess.Popen[bytes], pgid: int | None) -> None:
    # Only while the leader is not reaped: its pid, which is the group id, cannot be reused.
    if process.poll() is not None:
        return
    try:
        if pgid and hasattr(os, "killpg"):
            os.killpg(pgid, signal.SIGKILL)
        else:
            process.kill()
    except ProcessLookupError:
        pass
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


def _kernel_manager_class(kernels: _Kernels, log: IO[bytes] | None) -> type:
    """A kernel manager that registers its kernel with ``kernels`` and logs into ``log``."""
    from jupyter_client.manager import AsyncKernelManager

    class TrackedKernelManager(AsyncKernelManager):  # type: ignore[misc]
        async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]
            if kernels.stopping:
                raise ReportError("the run was stopped before its kernel started")
            if log is not None:
                kw.setdefault("stdout", log)
                kw.setdefault("stderr", subprocess.STDOUT)
            try:
                await super().start_kernel(**kw)
            finally:
                kernels.add(self)

    return TrackedKernelManager


@contextlib.contextmanager
def _quiet_libraries() -> Iterator[None]:
    """Keep the libraries' own log lines ("Kernel died while waiting...") off the terminal.

    A handler of our own means logging's last resort (print to stderr) stays unused, so the
    CLI prints its one line; the records still reach handlers an application configured.
    """
    handler = logging.NullHandler()
    loggers = [logging.getLogger(n) for n in ("papermill", "nbclient", "traitlets", "asyncio")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


def _execute(state: RunState) -> None:
    """Stage 1: papermill runs the notebook; it writes results.json into the work folder.

    Papermill runs in a worker thread, while this (main) thread waits: a signal handler's
    exception (Ctrl-C, SIGTERM in the CLI) interrupts the wait, the kernel is killed, the
    worker ends, and the exception goes on to the run's clean-up.
    """
    import papermill

    kernels = _Kernels()
    outcome: dict[str, Any] = {}
    progress = state.work / _PROGRESS
    debug = bool(os.environ.get("PRODREADY_DEBUG"))
    with contextlib.ExitStack() as stack:
        log = None if debug else stack.enter_context((state.work / _KERNEL_LOG).open("wb"))

        def work() -> None:
            try:
                outcome["notebook"] = papermill.execute_notebook(
                    str(templates_dir() / "assessment.ipynb"),
                    None,  # written by the render stage, through the atomic writer
                    parameters={
                        "spec": str(state.spec),
                        "results_path": str(state.work / "results.json"),
                        "run_id": state.run_id,
                        "drift_engine": state.drift_engine,
                        "questions": ",".join(state.questions or []),
                        "progress_path": str(progress),
                    },
                    # "python3" is ipykernel's built-in spec: the kernel runs in this
                    # interpreter.
                    kernel_name="python3",
                    progress_bar=False,
                    execution_timeout=state.cell_timeout_s,
                    cwd=str(state.spec.parent),
                    # The kernel talks to us over loopback only; its start-up chatter is not
                    # news.
                    extra_arguments=["--IPKernelApp.log_level=ERROR"],
                    kernel_manager_class=_kernel_manager_class(kernels, log),
                )
            except BaseException as exc:
                outcome["error"] = exc
            finally:
                _close_thread_loop()

        stack.enter_context(_quiet_libraries())
        worker = threading.Thread(target=work, name="prodready-notebook", daemon=True)
        worker.start()
        try:
            worker.join()
        except BaseException:
            kernels.stop()  # the interrupt stops the kernel too, and the worker with it
            worker.join(timeout=15)
            raise
        finally:
            kernels.stop()  # a no-op when nbclient shut it down already
    error = outcome.get("error")
    if error is not None:
        raise _notebook_error(error, state, progress, kernels) from None
    state.notebook = outcome["notebook"]
    state.assessment = Assessment.load(state.work / "results.json")


def _close_thread_loop() -> None:
    """Close the event loop nbclient made for this (worker) thread, its tasks ended first."""
    import asyncio

    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        return  # none was made
    if not loop.is_running() and not loop.is_closed():
        with contextlib.suppress(Exception):
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    asyncio.set_event_loop(None)


def _notebook_error(
    error: BaseException, state: RunState, progress: Path, kernels: _Kernels
) -> BaseException:
    """The error a failed notebook run raises: one line, naming the probe when it can."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    if isinstance(error, PapermillExecutionError):
        if error.ename in _USAGE_ERRORS:
            return UsageError(error.evalue)
        if "DeadKernel" in error.ename or "kernel died" in str(error.evalue).lower():
            return ReportError(_death(progress, kernels.exit_code()))
        return ReportError(
            f"the assessment notebook failed in cell {error.exec_count}: "
            f"{error.ename}: {error.evalue}"
        )
    if isinstance(error, CellTimeoutError):
        where, _detail, _probe = _where(progress)
        return ReportError(
            f"the assessment notebook timed out {where}: a cell ran longer than the cell "
            f"time limit of {state.cell_timeout_s} s"
        )
    if isinstance(error, DeadKernelError) or (
        isinstance(error, RuntimeError) and "died" in str(error).lower()
    ):
        return ReportError(_death(progress, kernels.exit_code()))
    if isinstance(error, ProdreadyError | KeyboardInterrupt | SystemExit):
        return error
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return ReportError(
        f"the assessment kernel could not run the notebook: {type(error).__name__}: {first}"
    )


# --- stage 2: render, and publishing --------------------------------------------------------


def _render(state: RunState) -> None:
    """Stage 2: nbconvert renders the executed notebook into the offline report.html."""
    import nbformat

    from prodready.attest import report_signing
    from prodready.report.exporter import render_html

    assert state.assessment is not None
    a = state.assessment
    state.notebook.metadata["prodready"] = {
        "title": f"Production readiness: {a.system.get('name', '')}"
        + (f" ({a.scope})" if a.partial else ""),
        "run_id": a.run_id,
        "verdict": a.verdict,
        "scope": a.scope,
        "signing": report_signing(state.signer),
    }
    text = nbformat.writes(state.notebook)
    atomic_write(
        state.work / "assessment.ipynb",
        text if text.endswith("\n") else text + "\n",
        errors="backslashreplace",  # JSON: an escape that reads back as the same string
    )
    atomic_write(
        state.work / "report.html", render_html(state.notebook), errors="xmlcharrefreplace"
    )


def _attachments(state: RunState) -> None:
    """Stage 3: files a reader can use as they are, taken from the results.

    ``monitor.json``: the configuration of the online drift detector the monitoring probe
    rehearsed, ready to run (``prodready.online.ScipyOnlineDetector.from_config``).
    ``provenance.intoto.json``: the lineage probe's in-toto Statement (the model artifact and
    the materials it came from, docs/provenance.md), signed with the rest of the run folder.
    """
    assert state.assessment is not None
    for finding in state.assessment.findings:
        config = finding.measurements.get("recommended_monitor")
        if isinstance(config, dict) and config:
            text = json.dumps(config, indent=1, ensure_ascii=False, allow_nan=False)
            atomic_write(state.work / "monitor.json", text + "\n", errors="backslashreplace")
        provenance = finding.measurements.get("provenance_statement")
        if isinstance(provenance, dict) and provenance:
            text = json.dumps(provenance, indent=1, ensure_ascii=False, allow_nan=False)
            target = state.work / "provenance.intoto.json"
            atomic_write(target, text + "\n", errors="backslashreplace")


def _check_attest(sign_key: Any, ledger: str | Path | None) -> tuple[Any, Path | None]:
    """The signer and the ledger path, checked before any kernel starts (one line if bad)."""
    from prodready.attest import Signer, check_ledger_path, load_signer

    signer = None
    if sign_key is not None and sign_key != "":
        signer = sign_key if isinstance(sign_key, Signer) else load_signer(sign_key)
    ledger_path = None if ledger is None or ledger == "" else check_ledger_path(ledger)
    return signer, ledger_path


def _sign(state: RunState) -> None:
    """After the stages: copy the spec in as ``spec.yaml`` and sign every file of the folder.

    Runs in this (parent) process over the files' bytes, never in the kernel that made them.
    An unsigned run (no key) still gets the copy of its spec.
    """
    from prodready.attest import sign_run

    assert state.assessment is not None
    shutil.copyfile(state.spec, state.work / "spec.yaml")
    if state.signer is not None:
        sign_run(state.work, state.signer, state.assessment, exclude=(*_INTERNAL, _OWNER))


def _publish(state: RunState, final: Path) -> None:
    """Last: make the finished folder readable and rename it into place, atomically."""
    for name in _INTERNAL:
        with contextlib.suppress(FileNotFoundError):
            (state.work / name).unlink()
    (state.work / _OWNER).unlink()  # last: the claim holds until the rename
    state.work.chmod(0o755)  # private while it was written; a report is for others to read
    try:
        state.work.rename(final)
    except OSError as exc:
        if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR):
            raise _taken(state.run_id, final.parent) from None
        raise


#: The stages of a run, in order; each takes the run's state and adds to it.
STAGES: tuple[tuple[str, Callable[[RunState], None]], ...] = (
    ("execute", _execute),
    ("render", _render),
    ("attachments", _attachments),
)
