"""Open-loop load on a Python callable: worker threads that keep a schedule.

Each worker takes the next request of the schedule, sleeps until its time (on the
cancellation event, then spinning the last ~200 us with ``time.sleep(0)``, which lets other
threads run), calls the function and records the end. A request that comes due while every
worker is busy is taken by the first worker to free up, and its wait counts in its latency.

Threads share the GIL: a function that holds it (most single-row predicts in pure Python)
keeps the other workers, and the generator's own bookkeeping, from running. That shows as
the generator's lag and makes a phase inconclusive instead of blaming the system.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from prodready._exceptions import UsageError
from prodready.load._schedule import Schedule
from prodready.load._stats import ERROR, OK, PENDING, TIMEOUT, Record

__all__ = ["CallTarget", "run_calls"]

_SPIN_S = 0.0002
_POLL_S = 0.02


@dataclass(frozen=True)
class CallTarget:
    """A function to load: ``fn(payload)`` for each of ``payloads`` in turn.

    ``classify`` names the outcome of a returned value: "ok" is a correct answer, anything
    else an error of that name (for a :class:`prodready.adapters.Reply`, e.g. its ``kind``).
    Without it every return is "ok"; an exception is always an error named by its type.
    ``thread_init`` runs once in each worker thread before its first call (e.g. to limit
    OpenMP to one thread there).
    """

    fn: Callable[[Any], Any]
    payloads: Sequence[Any]
    classify: Callable[[Any], str] | None = None
    thread_init: Callable[[], None] | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if not self.payloads:
            raise UsageError("the load target needs at least one payload")

    def describe(self) -> str:
        """In words: "calls to predict in-process"."""
        return f"calls to {self.name or getattr(self.fn, '__qualname__', 'a function')}"


def run_calls(
    target: CallTarget,
    schedule: Schedule,
    *,
    threads: int,
    timeout_s: float,
    cancel: threading.Event | None = None,
    deadline: float = math.inf,
) -> tuple[Record, float, str, float]:
    """Run one phase of ``schedule`` on ``target`` with ``threads`` worker threads.

    Returns the record, the phase's start (perf_counter), why it stopped early ("" if not)
    and its wall time. A call still running ``timeout_s`` after the schedule's end is
    abandoned (a thread cannot be killed; it is a daemon) and counted as a time-out.
    """
    n = schedule.size
    record = Record(n)
    stop = threading.Event()
    counter = itertools.count()
    payloads, m, fn = list(target.payloads), len(target.payloads), target.fn
    classify = target.classify
    ok_code = record.code("ok")
    timeout_code = record.code("timeout")
    start_wall = time.perf_counter()
    t0 = start_wall + 0.01 + 0.001 * threads  # time for the workers to start
    sched = (t0 + schedule.offsets).tolist()
    dispatch, end, kinds, labels = record.dispatch, record.end, record.kind, record.label

    def work() -> None:
        if target.thread_init is not None:
            target.thread_init()
        clock, nap, wait = time.perf_counter, time.sleep, stop.wait
        while not stop.is_set():
            i = next(counter)
            if i >= n:
                return
            due = sched[i]
            now = clock()
            if now < due:
                if due - now > _SPIN_S and wait(due - now - _SPIN_S):
                    return  # stopped while waiting: request i stays unsent
                while clock() < due:
                    nap(0)
            began = clock()
            dispatch[i] = began
            try:
                result = fn(payloads[i % m])
                label = "ok" if classify is None else classify(result)
                kind = OK if label == "ok" else ERROR
            except Exception as exc:
                label, kind = type(exc).__name__, ERROR
            finished = clock()
            if stop.is_set():  # abandoned meanwhile: the phase is over and summarized
                return
            if finished - due > timeout_s:
                kind, code = TIMEOUT, timeout_code
            else:
                code = ok_code if label == "ok" else record.code(label)
            end[i] = finished
            labels[i] = code
            kinds[i] = kind

    workers = [
        threading.Thread(target=work, name=f"prodready-load-{k}", daemon=True)
        for k in range(max(1, threads))
    ]
    for worker in workers:
        worker.start()
    # The caller's deadline is a time.monotonic() instant; the phase counts in perf_counter.
    limit = time.perf_counter() + (deadline - time.monotonic())
    give_up = sched[-1] + timeout_s + 0.05
    stopped = ""
    try:
        while any(w.is_alive() for w in workers):
            now = time.perf_counter()
            if cancel is not None and cancel.is_set():
                stopped = "cancelled"
            elif now >= limit:
                stopped = "deadline"
            elif now >= give_up:
                break
            if stopped:
                break
            for w in workers:
                w.join(_POLL_S)
                if w.is_alive():
                    break
    finally:
        stop.set()  # idle workers stop at once; busy ones after their call
    for w in workers:
        w.join(0.2 if stopped else 0.0)
    if not stopped:
        # Past the time limit: calls still running, and requests no worker got to.
        now = time.perf_counter()
        late = kinds == PENDING
        end[late] = now
        kinds[late] = TIMEOUT
        labels[late] = timeout_code
    return record, t0, stopped, time.perf_counter() - start_wall
