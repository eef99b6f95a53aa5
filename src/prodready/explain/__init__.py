"""SHAP explanations of individual decisions, in the applicant's own input features.

A readiness review has to answer "why did the model decide this for this person?". SHAP
answers with one number per input feature and decision: how much that feature moved the
model's output away from a baseline (the average output), so that, for every row,

    base value + sum of the feature contributions == the model's output      (local accuracy)

:func:`explain` returns an :class:`Explanation` of the model's outputs on some rows, one
contribution per input column. The work is split over:

* :mod:`prodready.explain._core`: :class:`Explanation` and :func:`explain` (argument checks,
  splitting a ``Pipeline`` into its preprocessing and final estimator, the rows handed to it);
* :mod:`prodready.explain.backends`: which SHAP explainer (tree, linear, permutation) explains
  the final estimator, and the SHAP computations themselves;
* :mod:`prodready.explain.outputs`: which model output is explained, in which units
  (log-odds, probabilities, predictions), computed from the model itself;
* :mod:`prodready.explain.mapping`: summing the contributions of encoded columns (one-hot and
  so on) back to the input column each comes from.
"""

from prodready.explain._core import Explanation, explain

__all__ = ["Explanation", "explain"]
