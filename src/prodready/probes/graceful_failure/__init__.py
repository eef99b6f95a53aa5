"""Q2 — Does it fail gracefully when encountering unexpected data?

Two halves, both in the finding:

1. How much unexpected data production already sends: the current window against the
   input schema learned from the reference (:class:`prodready.guard.InputSchema`): missing
   values per feature (new missingness), unseen categories and their share, numbers outside
   the accepted range (the reference's, widened), wrong types, and the current rows the
   model cannot score at all.
   Without current data this half is NOT ASSESSED (the finding names ``data.current``).
2. What the system does with it: a battery of unexpected inputs generated from the
   reference data (missing, extra and reordered columns; wrong types; NaN, None and
   infinities; extreme and negative numbers; unseen categories, garbage and very long text;
   an empty batch, one row, a large batch; over HTTP also malformed JSON, wrong payload
   shapes and a wrong content type), sent through :func:`prodready.adapters.connect` to the
   model in-process or to its server. Each reply is a clean rejection, a safe default, a
   crash, silent garbage, or fine (a valid edge case answered).

PASS needs no crash and no silent garbage; a refused valid edge case is a WARN, and so is
unexpected production data above the settings' shares; a model that fails on its own
production data FAILs.

The work is split over:

* :mod:`~prodready.probes.graceful_failure._settings`: :class:`GracefulFailureSettings` (the
  spec's ``graceful_failure:`` section);
* :mod:`~prodready.probes.graceful_failure._probe`: :class:`GracefulFailureProbe`, the
  summary, measurements and remediation;
* :mod:`~prodready.probes.graceful_failure._data`: half 1 and its checks;
* :mod:`~prodready.probes.graceful_failure._battery`: the generated cases;
* :mod:`~prodready.probes.graceful_failure._classify`: the outcome of each reply, and the
  checks of the battery;
* :mod:`~prodready.probes.graceful_failure._evidence`: the tables of the finding.
"""

from prodready.probes.graceful_failure._probe import GracefulFailureProbe
from prodready.probes.graceful_failure._settings import GracefulFailureSettings

__all__ = ["GracefulFailureProbe", "GracefulFailureSettings"]
