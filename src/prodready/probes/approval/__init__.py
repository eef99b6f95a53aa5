"""Q8 — Do approval workflows exist for model updates? (see :mod:`._probe`, :mod:`._judge`)."""

from prodready.probes.approval._probe import ApprovalProbe
from prodready.probes.approval._served import DEPLOYED_AT_TAG
from prodready.probes.approval._settings import ApprovalSettings

__all__ = ["DEPLOYED_AT_TAG", "ApprovalProbe", "ApprovalSettings"]
