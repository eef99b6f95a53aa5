"""Q7 — Are data lineage and model provenance fully documented? (see :mod:`._probe`).

:func:`write_provenance` is what a training job calls to record a model's provenance beside
its artifact (format in ``docs/provenance.md``).
"""

from prodready.probes.lineage._probe import LineageProbe
from prodready.probes.lineage._record import PROVENANCE_FORMAT, PROVENANCE_SUFFIX, write_provenance
from prodready.probes.lineage._settings import LineageSettings

__all__ = [
    "PROVENANCE_FORMAT",
    "PROVENANCE_SUFFIX",
    "LineageProbe",
    "LineageSettings",
    "write_provenance",
]
