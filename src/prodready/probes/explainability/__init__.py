"""Q5 — Is every AI decision traceable and explainable? (see :mod:`._probe`, :mod:`._trace`)."""

from prodready.probes.explainability._probe import ExplainabilityProbe, ExplainabilitySettings

__all__ = ["ExplainabilityProbe", "ExplainabilitySettings"]
