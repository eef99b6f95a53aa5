"""Q3 — Can model performance be monitored in real-time?

This probe does the *snapshot* part of monitoring: it compares the current window with the
reference data the way a monitor would, and judges what it finds.

- Feature drift: one test per feature (Kolmogorov-Smirnov for numbers, chi-square for
  categories) with a Bonferroni correction over the features, through the drift engine the
  settings name (alibi-detect or scipy).
- Prediction drift: the same test on the model's outputs (probability of the positive class,
  predicted class, or predicted value).
- Performance: the main metric (ROC AUC for binary, macro F1 for multi-class, R² for
  regression) on labelled current data against the reference.
- Scoring: the model must score every row of both windows; rows it raises on (or answers
  NaN for) make the question FAIL, and everything else is still measured on the other rows.

The online rehearsal (stream data into a monitor, inject a shift, measure detection delay and
false alarms) is not built yet; the finding says so and therefore never PASSes on its own.

The work is split over:

* :mod:`prodready.probes.monitoring._settings`: :class:`MonitoringSettings` (the spec's
  ``monitoring:`` section) and their checks;
* :mod:`prodready.probes.monitoring._probe`: :class:`MonitoringProbe` (preflight, run) and the
  assembly of the finding's summary and measurements;
* :mod:`prodready.probes.monitoring._measure`: the model's outputs, performance and its
  intervals, segments, missing values, cardinality, the smallest detectable shift;
* :mod:`prodready.probes.monitoring._checks`: the checks that judge what was measured, and the
  remediation;
* :mod:`prodready.probes.monitoring._evidence`: the tables and charts of the finding.

The online rehearsal and the performance metrics are in :mod:`prodready.probes._rehearsal`
and :mod:`prodready.probes._performance`.
"""

from prodready.probes.monitoring._probe import MonitoringProbe
from prodready.probes.monitoring._settings import MonitoringSettings

__all__ = ["MonitoringProbe", "MonitoringSettings"]
