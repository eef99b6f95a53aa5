"""Calling a system's hook with a bound on how long the rehearsal waits for it.

A rehearsal calls the system's own procedures (``hooks.deploy``, ``hooks.rollback``,
``hooks.retrain``...). One that never returns is the system failing, and must be judged so
(FAIL, naming the hook and the time waited), not leave the probe blocked until its time
limit turns the question into an ERROR with the registry still changed. So the hook runs in
a daemon thread and the rehearsal waits at most ``seconds`` for it; a thread cannot be
killed, so a hook past its bound goes on in the background, and the finding says so.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["HookTimeout", "call_bounded"]


class HookTimeout(Exception):
    """The hook did not return within the bound (it may still be running in the background)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(f"did not return within {seconds:g} s")


def call_bounded(
    func: Callable[..., Any],
    *args: Any,
    seconds: float,
    check: Callable[[], None] | None = None,
    name: str = "prodready-hook",
) -> Any:
    """``func(*args)``, waiting at most ``seconds`` for it; what it raises is raised here.

    Raises :class:`HookTimeout` past ``seconds``. While waiting, ``check`` (e.g. the probe's
    :meth:`~prodready.probes.ProbeContext.check_deadline`) is called every 50 ms, so that the
    run's time limit or Stop button still stops the rehearsal (what it raises propagates).
    """
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            outcome["value"] = func(*args)
        except BaseException as exc:  # handed to the caller's thread, which decides
            outcome["error"] = exc
        finally:
            done.set()

    worker = threading.Thread(target=target, name=name, daemon=True)
    worker.start()
    until = time.monotonic() + seconds
    while not done.wait(max(0.0, min(0.05, until - time.monotonic()))):
        if check is not None:
            check()
        if time.monotonic() >= until and not done.is_set():
            raise HookTimeout(seconds)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")
