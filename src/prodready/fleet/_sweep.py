"""A readiness sweep of a fleet: every system's headless run, in parallel on Dask distributed.

:func:`assess_fleet` runs each system of a fleet (:func:`~prodready.fleet.read_fleet`) as its
own ``prodready assess`` (:func:`prodready.fleet._task.run_system`) on a Dask cluster: a
``LocalCluster`` on this machine by default (loopback only, nothing to start), or the
scheduler at ``scheduler`` (every worker must then see ``out`` at the same path: a shared
filesystem). We do not schedule anything ourselves: Dask places the tasks, and when a worker
dies it runs the task again elsewhere, up to ``retries`` times (Dask's
``distributed.scheduler.allowed-failures``; on an external scheduler, that scheduler's own
setting applies).

The sweep is published the way a run is: it is written in ``<out>/.<sweep-id>.partial/``
and renamed to ``<out>/<sweep-id>/`` once every system has an outcome and the summary is
written (``index.html``, ``fleet.json``). Only then is each run appended to the ledger (with
the sweep's id), so the ledger never names a folder that is not there. Ctrl-C or SIGTERM stops
every run (each stops its kernel and removes its work folder), then removes the sweep's work
folder: nothing partial is left anywhere, and the ledger is untouched.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prodready._exceptions import MissingDependencyError, ReportError, UsageError
from prodready._files import check_folder, shown
from prodready.fleet._input import FleetMember, read_fleet
from prodready.fleet._model import Attempt, FleetResult, SystemRun
from prodready.fleet._task import INTERNAL_DIR, STOP_FILE, read_attempts, run_system

__all__ = ["DEFAULT_RETRIES", "assess_fleet", "new_sweep_id"]

#: How many times a system's run may be lost with its worker before it is reported failed.
DEFAULT_RETRIES = 2
#: How long a stopped sweep waits for its runs to clean up before it closes the cluster.
_STOP_WAIT_S = 45.0
_PARTIAL = ".partial"

#: Progress callback: (systems done, systems in all, the system that just finished).
Progress = Callable[[int, int, SystemRun], None]


def new_sweep_id() -> str:
    """A sortable, unique sweep id: ``fleet-`` + UTC time + random hex."""
    return "fleet-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise MissingDependencyError("distributed", "fleet", "a fleet sweep") from None
    return distributed


def assess_fleet(
    fleet: str | os.PathLike[str],
    out: str | os.PathLike[str] = "reports",
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    retries: int = DEFAULT_RETRIES,
    sign_key: str | os.PathLike[str] | None = None,
    ledger: str | os.PathLike[str] | None = None,
    drift_engine: str = "",
    questions: Sequence[str] | None = None,
    sweep_id: str | None = None,
    progress: Progress | None = None,
    on_cluster: Callable[[dict[str, Any]], None] | None = None,
) -> FleetResult:
    """Assess every system of ``fleet`` in parallel; write ``<out>/<sweep-id>/``.

    ``fleet`` is a YAML list of spec paths or a folder of specs. ``scheduler`` is the address
    of a running Dask scheduler (``tcp://host:8786``); without it a ``LocalCluster`` of
    ``workers`` processes (default: 2, or the CPU count if lower) on 127.0.0.1 runs the
    sweep and is closed after it. ``retries`` is how often a system's run may be lost with
    its worker. ``sign_key`` (a private key file from ``prodready keygen``) signs every run
    folder; ``ledger`` names the audit ledger the published runs are appended to, and whose
    previous sweep the summary compares with. ``drift_engine`` and ``questions`` are those of
    :func:`prodready.run_assessment`, for every system. ``progress`` is called as each system
    finishes; ``on_cluster`` once the cluster is up, with its description (address,
    dashboard link).

    Raises :class:`UsageError` (one line, nothing started) for a bad fleet, folder, key,
    ledger or option; a system whose own spec is broken does not raise: it is reported.
    """
    members = read_fleet(fleet)
    if workers is not None and (isinstance(workers, bool) or not 1 <= workers <= 256):
        raise UsageError(f"workers: {workers!r}: expected a whole number from 1 to 256")
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 20:
        raise UsageError(f"retries: {retries!r}: expected a whole number from 0 to 20")
    check_folder(out, "out")
    key = _check_key(sign_key)
    ledger_path = _check_ledger(ledger)
    query = _check_questions(questions)
    if drift_engine not in ("", "auto", "scipy", "alibi"):
        raise UsageError(f"drift_engine: {drift_engine!r}: expected auto, scipy or alibi")
    if sweep_id is None:
        sweep_id = new_sweep_id()
    else:
        from prodready.report.run import check_run_id

        check_run_id(sweep_id, "sweep_id")
    distributed = _import_distributed()
    out_dir = Path(out).absolute()
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / sweep_id
    work = out_dir / f".{sweep_id}{_PARTIAL}"
    if os.path.lexists(final):
        raise UsageError(f"sweep id {sweep_id!r} is taken in {shown(out_dir)}: choose another")
    try:
        work.mkdir()
    except FileExistsError:
        raise UsageError(
            f"sweep id {sweep_id!r} is taken in {shown(out_dir)} (a sweep is running, or was "
            f"killed: remove {shown(work)} if none runs): choose another"
        ) from None
    (work / INTERNAL_DIR).mkdir()
    created = _now()
    started = time.monotonic()
    published = False
    try:
        with _cluster(distributed, scheduler, workers, retries) as (client, cluster):
            if on_cluster is not None:
                on_cluster(cluster)
            systems = _sweep(distributed, client, members, work, key, drift_engine, query, progress)
        result = _summarise(
            sweep_id,
            work,
            created,
            time.monotonic() - started,
            cluster,
            systems,
            ledger_path,
            key,
        )
        shutil.rmtree(work / INTERNAL_DIR, ignore_errors=True)
        work.rename(final)
        published = True
    finally:
        if not published:
            shutil.rmtree(work, ignore_errors=True)
    result = replace(result, directory=final)
    if ledger_path is not None:
        _append(ledger_path, result)
    return result


# --- checks, before anything starts ---------------------------------------------------------


def _check_key(sign_key: str | os.PathLike[str] | None) -> str:
    if sign_key is None or os.fspath(sign_key) == "":
        return ""
    from prodready.attest import load_signer

    try:
        load_signer(sign_key)  # a bad key is one line now, not one per system later
    except UsageError as exc:
        raise UsageError(f"sign_key: {exc}") from None
    return str(Path(sign_key).absolute())


def _check_ledger(ledger: str | os.PathLike[str] | None) -> Path | None:
    if ledger is None or os.fspath(ledger) == "":
        return None
    from prodready.attest import check_ledger_path

    return check_ledger_path(ledger).absolute()


def _check_questions(questions: Sequence[str] | None) -> str:
    if not questions:
        return ""
    from prodready.assessment import select_questions

    return ",".join(q.id for q in select_questions(list(questions)))


# --- the cluster ----------------------------------------------------------------------------


@contextlib.contextmanager
def _cluster(distributed: Any, scheduler: str | None, workers: int | None, retries: int) -> Any:
    """A client on the given scheduler, or on a new LocalCluster (closed on the way out)."""
    import dask

    quiet = logging.ERROR
    with contextlib.ExitStack() as stack:
        stack.enter_context(dask.config.set({"distributed.scheduler.allowed-failures": retries}))
        if scheduler:
            try:
                client = distributed.Client(scheduler, timeout="10s", set_as_default=False)
            except (OSError, TimeoutError, ValueError) as exc:
                raise UsageError(
                    f"--scheduler: cannot reach {scheduler!r} ({_first_line(exc)}): expected "
                    "the address of a running Dask scheduler, e.g. tcp://127.0.0.1:8786"
                ) from None
            stack.callback(client.close)
            try:
                client.wait_for_workers(1, timeout=30)
            except TimeoutError:
                raise UsageError(
                    f"--scheduler: {scheduler!r} has no worker (none joined in 30 s): expected "
                    "a scheduler with at least one dask worker"
                ) from None
            info = client.scheduler_info()
            description = {
                "kind": "scheduler",
                "address": scheduler,
                "workers": len(info.get("workers", {})),
                "dashboard": _dashboard(client),
                "retries": "the scheduler's distributed.scheduler.allowed-failures",
            }
        else:
            from prodready.fleet._plugin import IgnoreInterrupts

            n = workers or max(1, min(2, os.cpu_count() or 1))
            # The workers start with SIGINT ignored (inherited), and keep it ignored when
            # restarted (the plugin): Ctrl-C is the sweep's to handle (see _plugin).
            with _signals_ignored(("SIGINT",)):
                cluster = distributed.LocalCluster(
                    n_workers=n,
                    threads_per_worker=1,  # one run per worker: each run is its own process
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address="127.0.0.1:0",
                    silence_logs=quiet,
                )
            stack.callback(cluster.close)
            client = distributed.Client(cluster, set_as_default=False)
            stack.callback(client.close)
            client.register_plugin(IgnoreInterrupts())
            description = {
                "kind": "local",
                "address": cluster.scheduler_address,
                "workers": n,
                "dashboard": _dashboard(client),
                "retries": retries,
            }
        yield client, description


def _dashboard(client: Any) -> str:
    try:
        return str(client.dashboard_link or "")
    except Exception:  # no bokeh: Dask runs without its dashboard
        return ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# --- the sweep ------------------------------------------------------------------------------


def _sweep(
    distributed: Any,
    client: Any,
    members: list[FleetMember],
    work: Path,
    key: str,
    drift_engine: str,
    questions: str,
    progress: Progress | None,
) -> list[SystemRun]:
    """Submit every system, collect each outcome as it comes; stop them all if interrupted."""
    futures = {
        client.submit(
            run_system,
            str(work),
            m.slug,
            str(m.spec),
            key,
            drift_engine,
            questions,
            key=f"prodready-{work.name}-{m.slug}",
            pure=False,
        ): m
        for m in members
    }
    done: dict[str, SystemRun] = {}
    try:
        for future in distributed.as_completed(futures, loop=client.loop):
            member = futures[future]
            done[member.slug] = _outcome(member, future, work)
            if progress is not None:
                progress(len(done), len(members), done[member.slug])
    except BaseException:
        with _signals_ignored():  # a second Ctrl-C must not cut the clean-up short
            _stop(client, list(futures), work)
        raise
    return [done[m.slug] for m in members]


@contextlib.contextmanager
def _signals_ignored(names: Sequence[str] = ("SIGINT", "SIGTERM", "SIGHUP")) -> Iterator[None]:
    """These signals ignored meanwhile (main thread only; restored afterwards)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {
        s: signal.getsignal(s) for s in (getattr(signal, n) for n in names if hasattr(signal, n))
    }
    for s in previous:
        signal.signal(s, signal.SIG_IGN)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _stop(client: Any, futures: list[Any], work: Path) -> None:
    """Stop every run: the STOP file makes each task SIGTERM its run and wait for it."""
    with contextlib.suppress(OSError):
        (work / INTERNAL_DIR / STOP_FILE).touch()
    deadline = time.monotonic() + _STOP_WAIT_S
    for future in futures:
        with contextlib.suppress(BaseException):
            # A queued task sees the STOP file and returns at once; a running one returns
            # once its run has cleaned up.
            future.result(timeout=max(0.1, deadline - time.monotonic()))
    with contextlib.suppress(BaseException):
        client.cancel(futures)


def _outcome(member: FleetMember, future: Any, work: Path) -> SystemRun:
    """The system's SystemRun from its task's outcome (or the task's own failure)."""
    attempts = _attempts(work / INTERNAL_DIR / f"{member.slug}.attempts")
    name = member.spec.stem
    try:
        outcome = future.result()
    except Exception as exc:  # KilledWorker: lost with its worker more than `retries` times
        reason = _first_line(exc)
        if type(exc).__name__ == "KilledWorker":
            reason = (
                f"its run was lost with its worker {len(attempts)} times (KilledWorker): "
                "see the retries setting"
            )
        return SystemRun(
            str(member.spec), member.slug, name, "failed", reason=reason, attempts=attempts
        )
    code = outcome.get("exit_code")
    seconds = float(outcome.get("seconds") or 0.0)
    results = work / member.slug / "results.json"
    if results.is_file():
        from prodready.fleet._summary import system_run_from_results

        return system_run_from_results(
            str(member.spec), member.slug, work / member.slug, attempts, seconds, code
        )
    reason = str(outcome.get("reason") or "")
    if code == 2:
        return SystemRun(
            str(member.spec),
            member.slug,
            name,
            "not started",
            reason=reason or "its spec was refused",
            exit_code=code,
            seconds=seconds,
            attempts=attempts,
        )
    if not reason:
        reason = f"the run ended with exit code {code} and published nothing"
    return SystemRun(
        str(member.spec),
        member.slug,
        name,
        "failed",
        reason=reason,
        exit_code=code,
        seconds=seconds,
        attempts=attempts,
    )


def _attempts(path: Path) -> list[Attempt]:
    """The attempts recorded by the tasks, in order: "finished" when an end was recorded."""
    attempts: list[Attempt] = []
    for event in read_attempts(path):
        kind = event.get("event")
        if kind == "start":
            attempts.append(
                Attempt(
                    number=len(attempts) + 1,
                    worker=str(event.get("worker", "")),
                    host=str(event.get("host", "")),
                    pid=int(event.get("pid") or 0),
                    started=str(event.get("time", "")),
                    ended="",
                    outcome="lost",
                )
            )
        elif kind == "end" and attempts:
            last = attempts[-1]
            attempts[-1] = Attempt(
                last.number,
                last.worker,
                last.host,
                last.pid,
                last.started,
                str(event.get("time", "")),
                "finished",
            )
    return attempts


# --- the summary and the ledger -------------------------------------------------------------


def _summarise(
    sweep_id: str,
    work: Path,
    created: str,
    seconds: float,
    cluster: dict[str, Any],
    systems: list[SystemRun],
    ledger: Path | None,
    key: str,
) -> FleetResult:
    from prodready.fleet._summary import changes_since, write_summary

    # The ledger holds none of this sweep's lines yet: the previous sweep is its last one.
    report = changes_since(ledger, None, systems, current=sweep_id)
    result = FleetResult(
        sweep_id=sweep_id,
        directory=work,
        created=created,
        finished=_now(),
        seconds=round(seconds, 3),
        cluster=cluster,
        systems=systems,
        changes=report.changes,
        previous_sweep=report.previous_sweep,
        ledger=str(ledger or ""),
        signed=bool(key),
        notes=report.notes,
    )
    write_summary(result)
    return result


def _append(ledger: Path, result: FleetResult) -> None:
    """Append each published run to the ledger, tagged with the sweep's id."""
    from prodready.attest import append_run
    from prodready.results import Assessment

    for system in result.systems:
        if system.state != "assessed":
            continue
        folder = result.directory / system.slug
        try:
            append_run(
                ledger, folder, Assessment.load(folder / "results.json"), sweep=result.sweep_id
            )
        except OSError as exc:
            raise ReportError(
                f"the sweep was published in {shown(result.directory)} but {system.slug} could "
                f"not be appended to the ledger {shown(ledger)} ({exc.strerror or exc})"
            ) from None


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
