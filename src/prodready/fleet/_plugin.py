"""A Dask worker plugin: local workers ignore Ctrl-C; the sweep stops their runs itself.

Ctrl-C in a terminal sends SIGINT to the whole foreground process group, and a
LocalCluster's worker processes are in it: each would die with a traceback of its own,
mid-run. With SIGINT ignored in the workers (and so in the runs they start), only the sweep
sees it, and it stops every run the orderly way (the STOP file, then SIGTERM to each run).
Imported only when a LocalCluster is made (it needs distributed).
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

__all__ = ["IgnoreInterrupts"]


class IgnoreInterrupts(WorkerPlugin):  # type: ignore[misc]
    """Set SIGINT to "ignore" in each worker process, a restarted one included."""

    name = "prodready-ignore-interrupts"

    def setup(self, worker: Any) -> None:
        # The worker's event loop runs in its process's main thread, where signals are set.
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
