"""The settings of the vendor-independence probe: :class:`VendorIndependenceSettings`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from prodready._settings import require


@dataclass(frozen=True)
class VendorIndependenceSettings:
    """Settings of the vendor-independence probe (the spec's ``vendor_independence:`` section).

    The portable export:

    - ``export``: ``auto`` tries ONNX (skl2onnx) and falls back to skops when ONNX cannot
      express the model or the ``onnx`` extra is not installed; ``onnx`` or ``skops`` forces
      one route.
    - ``tolerance``: the largest absolute difference allowed between the original's
      predictions (probabilities for classifiers) and the export's, row by row.
    - ``sample_rows``: rows compared, a seeded sample of the reference data and as many of
      the current window when there is one.
    - ``timeout_s``: how long the clean process that runs the export may take.

    The serving path's dependencies:

    - ``serving_code``: files or folders of the code that serves the model, scanned for
      imports (relative to the spec's folder); an MLflow model folder is always scanned.
    - ``requirements``: a requirements file of the serving environment (e.g. the image's).
    - ``vendor_sdks``: more distribution or module names to count as vendor SDKs.
    - ``transitive_sdks``: what a vendor SDK that only an open-source package pulls in (and
      the model's code never imports) counts as: ``note`` (listed, not a lock), ``warn`` or
      ``fail``.
    - ``allowed_licences``: licence names the team accepts besides the open ones (e.g.
      ``Business Source License 1.1`` after buying a commercial licence).
    - ``accepted_packages``: distributions whose licence the team reviewed and accepts.
    """

    export: Literal["auto", "onnx", "skops"] = "auto"
    tolerance: float = 1e-5
    sample_rows: int = 500
    timeout_s: float = 120.0
    serving_code: list[str] = field(default_factory=list)
    requirements: str | None = None
    vendor_sdks: list[str] = field(default_factory=list)
    transitive_sdks: Literal["note", "warn", "fail"] = "note"
    allowed_licences: list[str] = field(default_factory=list)
    accepted_packages: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        require(
            0 <= self.tolerance <= 1, "tolerance", f"is {self.tolerance}", "a number from 0 to 1"
        )
        require(
            1 <= self.sample_rows <= 100_000,
            "sample_rows",
            f"is {self.sample_rows}",
            "an integer from 1 to 100,000",
        )
        require(
            0 < self.timeout_s <= 3600,
            "timeout_s",
            f"is {self.timeout_s}",
            "a number of seconds > 0 and at most 3600",
        )
