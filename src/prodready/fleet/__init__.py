"""A readiness sweep of a fleet of systems, in parallel on Dask distributed.

``prodready fleet FLEET`` and :func:`assess_fleet` assess every system of a fleet (a YAML
list of spec paths, or a folder of specs), each as its own headless run, and write one sweep
folder: every system's signed run folder and a summary (``index.html``, ``fleet.json``) with
each verdict and what changed since the previous sweep in the ledger. Needs the ``fleet``
extra: ``pip install 'prodready[fleet]'``. See docs/fleet.md.
"""

from prodready.fleet._input import FleetMember, read_fleet
from prodready.fleet._model import Attempt, Change, FleetResult, SystemRun
from prodready.fleet._sweep import DEFAULT_RETRIES, assess_fleet, new_sweep_id

__all__ = [
    "DEFAULT_RETRIES",
    "Attempt",
    "Change",
    "FleetMember",
    "FleetResult",
    "SystemRun",
    "assess_fleet",
    "new_sweep_id",
    "read_fleet",
]
