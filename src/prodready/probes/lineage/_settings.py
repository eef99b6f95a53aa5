"""Settings of the lineage probe (the spec's ``lineage:`` section)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from prodready._settings import require

__all__ = ["LineageSettings"]


@dataclass(frozen=True)
class LineageSettings:
    """What the lineage probe (Q7) compares, and how strictly.

    - ``training_data``: the file(s) the model was trained on (CSV or Parquet, or a folder of
      Parquet files), relative to the spec's folder. The probe checks that their sha256 (and
      row count) are what the model's provenance records. Without it, the files are looked
      for where the provenance says they were (relative to the provenance file).
    - ``provenance``: the model's provenance file (format in ``docs/provenance.md``); default
      ``<model artifact>.provenance.json`` beside the artifact.
    - ``reference_is_training``: declare that the reference data *is* the training data (a
      deliberate choice: drift and performance are then measured in-sample); otherwise a
      reference window that is, or mostly repeats, the training data FAILs.
    - ``max_reference_overlap``: largest share of the reference rows that may also be training
      rows (duplicates in the population aside, held-out data shares almost none).
    - ``served_sample``: decisions sent to a served endpoint to learn which model it serves.
    - ``git_timeout_s``: time limit of each ``git`` command that reads the code version.
    """

    training_data: list[str] | str | None = None
    provenance: str | None = None
    reference_is_training: bool = False
    max_reference_overlap: float = 0.05
    served_sample: int = 3
    git_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        require(
            0 <= self.max_reference_overlap <= 1,
            "max_reference_overlap",
            f"is {self.max_reference_overlap}",
            "a share from 0 to 1",
        )
        require(
            1 <= self.served_sample <= 1000,
            "served_sample",
            f"is {self.served_sample}",
            "an integer from 1 to 1,000",
        )
        require(
            math.isfinite(self.git_timeout_s) and 0 < self.git_timeout_s <= 600,
            "git_timeout_s",
            f"is {self.git_timeout_s}",
            "a number of seconds > 0 and at most 600",
        )
        given = self.training_data
        names = [given] if isinstance(given, str) else list(given or [])
        require(
            all(isinstance(n, str) and n.strip() for n in names),
            "training_data",
            "holds an empty path",
            "a path (or a list of paths) to the training data files",
        )

    @property
    def training_files(self) -> list[str]:
        """``training_data`` as a list (empty when not given)."""
        given = self.training_data
        return [given] if isinstance(given, str) else list(given or [])
