"""Q9 — Can the system retrain itself when performance degrades?

A rehearsal on labelled reference data, deterministic for ``policy.seed``:

1. Degradation: a concept shift that breaks the model (:mod:`._shift`): in the half of the
   feature space where its most important feature is high, labels move to the next class
   (binary: inverted) or a regression target is mirrored around its mean.
2. The trigger (the spec's ``retraining:`` metric, threshold, window): it must fire on a
   shifted window and stay quiet on an unshifted one (a trigger that always fires is broken).
3. The system's ``hooks.retrain`` is called with the shifted training data
   (:class:`RetrainRequest`) and names the new model (:class:`RetrainResult`): its time is
   measured.
4. The new model, loaded in-process (from the registry, or as the hook returned it), must
   recover on shifted data it never saw and not regress on old data where the concept did
   not change.
5. With a registry: the new model is a new version carrying the candidate alias, and the
   served alias did not move (a hook that promotes straight to production FAILs: it bypasses
   the approval workflow, Q8). The registry is restored byte for byte afterwards, whatever
   happens. Without a registry (:mod:`._served`): what production serves (the endpoint's
   version or digest, ``hooks.served_version``, or the endpoint's answers on 16 canary
   rows) must be the same after the hook as before; with neither an endpoint nor that
   hook, this part is NOT ASSESSED (a WARN).

No hook: NOT ASSESSED naming ``hooks.retrain``; ``retraining: none``: FAIL. The hook
contract is documented in ``docs/retraining.md``.
"""

from prodready.probes.retraining._hook import RetrainRequest, RetrainResult
from prodready.probes.retraining._probe import RetrainingProbe
from prodready.probes.retraining._settings import RetrainingSettings

__all__ = ["RetrainRequest", "RetrainResult", "RetrainingProbe", "RetrainingSettings"]
