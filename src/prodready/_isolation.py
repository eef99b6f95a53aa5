"""Running one probe isolated, with a time limit and cancellation.

Two ways, chosen by the probe's ``isolation``:

- ``"thread"`` (the default): the probe runs in a daemon thread of this process. At its time
  limit (or when the run is cancelled) its context's ``cancel`` event is set and it gets a
  short grace period to stop by itself; a thread cannot be killed, so a probe that ignores
  the event is abandoned (it cannot keep the process alive) and reported as timed out.
- ``"subprocess"``: the probe runs in a fresh Python process (multiprocessing "spawn": no
  fork of a process that holds OpenMP or ZMQ threads) in its own session, so that it and
  every process it started (a model server, a load generator) share one process group. At
  its time limit the group gets SIGTERM (the probe's context is cancelled, so it can stop its
  servers), then SIGKILL after the grace period; the group is also killed after a normal end,
  so nothing the probe started outlives it. The system is sent to the child by pickling.

Either way Ctrl-C (KeyboardInterrupt) cancels the running probe before it propagates.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from prodready.probes._base import ProbeCancelled, ProbeContext, ProbeTimeout

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from prodready.probes._base import Probe
    from prodready.results import Finding
    from prodready.system import System

__all__ = ["GRACE_S", "Outcome", "run_in_subprocess", "run_in_thread"]

#: Seconds a cancelled probe has to stop by itself before it is abandoned or killed.
GRACE_S = 3.0
_POLL_S = 0.05


@dataclass
class Outcome:
    """How a probe run ended: a ``finding``, an ``error`` (traceback), a ``timeout``, or
    ``cancelled`` (the run was stopped by the user)."""

    kind: Literal["finding", "error", "timeout", "cancelled"]
    finding: Any = None
    error: str = ""


def run_in_thread(
    probe: Probe,
    system: System,
    limit: float,
    seed: int,
    stop: threading.Event | None = None,
    progress: Callable[[str, float | None], None] | None = None,
    findings: tuple[Finding, ...] = (),
) -> Outcome:
    """Run ``probe`` in a daemon thread; see the module docstring.

    ``findings`` (for a probe that runs after the others) go into its context.
    """
    deadline = time.monotonic() + limit
    context = ProbeContext(deadline=deadline, seed=seed, progress=progress, findings=findings)
    result: list[Outcome] = []

    def target() -> None:
        try:
            result.append(Outcome("finding", probe.run(system, context)))
        except ProbeTimeout:
            result.append(Outcome("timeout"))
        except ProbeCancelled:
            result.append(Outcome("cancelled" if stop is not None and stop.is_set() else "timeout"))
        except BaseException:  # the probe crashed: report it, keep assessing
            result.append(Outcome("error", error=traceback.format_exc()))

    worker = threading.Thread(target=target, name=f"prodready-{probe.question}", daemon=True)
    worker.start()
    try:
        while worker.is_alive() and time.monotonic() < deadline:
            if stop is not None and stop.is_set():
                break
            worker.join(_POLL_S)
    except KeyboardInterrupt:
        context.cancel.set()
        worker.join(GRACE_S)
        raise
    if worker.is_alive():
        context.cancel.set()
        worker.join(GRACE_S)  # a cooperative probe cleans up and ends here
        user_stop = stop is not None and stop.is_set()
        return Outcome("cancelled" if user_stop else "timeout")
    return result[0]


def run_in_subprocess(
    probe: Probe,
    system: System,
    limit: float,
    seed: int,
    stop: threading.Event | None = None,
    findings: tuple[Finding, ...] = (),
) -> Outcome:
    """Run ``probe`` in a child process of its own session; see the module docstring.

    ``findings`` (for a probe that runs after the others) go into its context.
    """
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    deadline = time.monotonic() + limit
    payload = pickle.dumps((type(probe), system, findings), protocol=pickle.HIGHEST_PROTOCOL)
    child = ctx.Process(
        target=_child_main,
        args=(payload, deadline, seed, sender),
        name=f"prodready-{probe.question}",
    )
    # A spawned child normally re-runs the parent's main script first (as __mp_main__), so
    # that classes defined there can be unpickled: a script that calls prodready.assess at
    # its top level, without `if __name__ == "__main__":`, would then run again in the child.
    # Only a system that needs the script (a model class defined in it) pays that price.
    with contextlib.nullcontext() if b"__main__" in payload else _main_not_rerun():
        child.start()
    sender.close()  # the child holds the only writing end: EOF when it dies
    outcome: Outcome | None = None
    try:
        while time.monotonic() < deadline:
            if stop is not None and stop.is_set():
                outcome = Outcome("cancelled")
                break
            if receiver.poll(_POLL_S):
                try:
                    outcome = receiver.recv()
                except EOFError:
                    outcome = Outcome(
                        "error", error=f"the probe's process died (exit code {child.exitcode})"
                    )
                break
            if not child.is_alive() and not receiver.poll(0):
                outcome = Outcome(
                    "error", error=f"the probe's process died (exit code {child.exitcode})"
                )
                break
        else:
            outcome = Outcome("timeout")
    except KeyboardInterrupt:
        _stop_group(child)
        raise
    finally:
        if outcome is None or outcome.kind in ("timeout", "cancelled"):
            _stop_group(child)
        else:
            child.join(GRACE_S)
            _kill_group(child)  # whatever the probe started and left behind
        receiver.close()
    return outcome


def _stop_group(child: Any) -> None:
    """SIGTERM the child's process group, SIGKILL it after the grace period."""
    _signal_group(child, signal.SIGTERM)
    child.join(GRACE_S)
    _kill_group(child)


def _kill_group(child: Any) -> None:
    _signal_group(child, signal.SIGKILL)
    child.join(GRACE_S)


def _signal_group(child: Any, sig: signal.Signals) -> None:
    if child.pid is None:
        return
    try:
        os.killpg(child.pid, sig)  # the child made itself the leader of its own group
    except (ProcessLookupError, PermissionError):
        # Not (yet) a group leader, or already gone: signal the child alone.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(child.pid, sig)


@contextlib.contextmanager
def _main_not_rerun() -> Iterator[None]:
    """Start a spawned child without it importing the parent's ``__main__`` module.

    multiprocessing's spawn re-imports the main module in the child when it has a
    ``__file__`` (or a ``__spec__``); without either the child keeps its own.
    """
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    saved: dict[str, Any] = {
        name: main.__dict__[name] for name in ("__file__", "__spec__") if name in main.__dict__
    }
    main.__dict__.pop("__file__", None)
    main.__dict__["__spec__"] = None
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)


def _child_main(payload: bytes, deadline: float, seed: int, sender: Connection) -> None:
    """The child process: its own session, SIGTERM cancels the probe, the outcome is sent."""
    os.setsid()
    _die_with_parent()
    probe_class: type[Probe]
    system: System
    findings: tuple[Finding, ...]
    probe_class, system, findings = pickle.loads(payload)
    context = ProbeContext(deadline=deadline, seed=seed, findings=findings)

    def on_term(signum: int, frame: Any) -> None:
        context.cancel.set()

    signal.signal(signal.SIGTERM, on_term)
    try:
        outcome = Outcome("finding", probe_class().run(system, context))
    except ProbeTimeout:
        outcome = Outcome("timeout")
    except ProbeCancelled:
        outcome = Outcome("cancelled" if context.remaining() > 0 else "timeout")
    except BaseException:
        outcome = Outcome("error", error=traceback.format_exc())
    try:
        sender.send(outcome)
    except Exception:  # e.g. a finding that cannot be pickled: that is the probe's bug
        sender.send(Outcome("error", error=traceback.format_exc()))
    sender.close()


def _die_with_parent() -> None:
    """Linux: ask the kernel to SIGKILL this process when its parent dies (best effort)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
