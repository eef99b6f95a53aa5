"""Q4 — Are rollback procedures automated and tested?

A rollback rehearsed on the served system, the way an on-call engineer would live it:

1. record what the endpoint serves (version and digest, when its replies say) and its
   answers on a canary set (rows of the reference data);
2. deploy a candidate: the spec's (``rollback.candidate``), or a deliberately different copy
   of the served model made for the rehearsal (its answers nudged, so that the endpoint's
   answers tell it from the original);
3. confirm the endpoint serves the candidate;
4. trigger the system's own rollback (a registry alias moved back, or the spec's
   ``hooks.rollback``) and time it until the endpoint serves the original again;
5. send the canary set again: the answers must be identical to the recorded ones;

with light traffic running the whole time, every failed request counted. Whatever happens
(a failed check, an exception, a time-out, Ctrl-C), the system is put back exactly as it
was: the registry restored from a snapshot taken first, then a bounded wait for the endpoint
to serve the original again.

PASS: restored within ``rollback.max_restore_s``, identical answers, zero failed requests.
``rollback: none`` in the spec FAILs; a spec that does not say how to roll back is NOT
ASSESSED (``rollback.mechanism``, ``hooks.rollback`` or ``registry``). See
``docs/rollback.md`` for the hooks a serving stack without MLflow provides.

The work is split over:

* :mod:`~prodready.probes.rollback._settings`: :class:`RollbackSettings`;
* :mod:`~prodready.probes.rollback._mechanism`: the registry alias and hook mechanisms;
* :mod:`~prodready.probes.rollback._candidate`: the rehearsal's nudged candidate (a guarded
  model's copy; any other MLflow model through :mod:`~prodready.probes.rollback._nudged_pyfunc`);
* :mod:`~prodready.probes.rollback._rehearsal`: the steps, the traffic, putting things back;
* :mod:`~prodready.probes.rollback._probe`: :class:`RollbackProbe` and the judgement.
"""

from prodready.probes.rollback._probe import RollbackProbe
from prodready.probes.rollback._rehearsal import STEPS
from prodready.probes.rollback._settings import RollbackSettings

__all__ = ["STEPS", "RollbackProbe", "RollbackSettings"]
