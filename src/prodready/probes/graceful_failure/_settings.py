"""The settings of the graceful-failure probe: :class:`GracefulFailureSettings`."""

from __future__ import annotations

from dataclasses import dataclass

from prodready._settings import require


@dataclass(frozen=True)
class GracefulFailureSettings:
    """Settings of the graceful-failure probe (the spec's ``graceful_failure:`` section).

    The battery of unexpected inputs sent to the system:

    - ``columns_per_kind``: how many columns each kind of bad value is tried in (NaN in two
      numeric columns, an unseen category in two categorical ones...), picked from the
      columns the kind applies to with the run's seed.
    - ``rows_per_case``: rows in the batch of a case; the bad value is in one of them (the
      middle one), the others are valid rows of the reference data, so a system that checks
      only its first row is caught.
    - ``large_batch``: rows of the "large batch" case (valid rows; it must be answered).
    - ``long_string``: characters of the "very long text" case.
    - ``timeout_s``: how long one request may take before it counts as a time-out (a crash);
      by default the endpoint's own ``timeout_s``. In-process calls are not timed out.

    How much unexpected data production already sends (the current window against the
    reference's schema); each limit is a share of the current rows, above it a WARN:

    - ``max_new_missing``: the largest rise of a column's share of missing values from the
      reference to the current window (0.01 = one percentage point);
    - ``max_unseen_share``: rows with a category the reference never had;
    - ``max_out_of_range_share``: rows with a number outside the range the schema accepts
      (the reference's, widened by the schema's tolerance: drift is not invalid data);
    - ``max_wrong_type_share``: rows with a value of the wrong type (text in a numeric
      column) or an infinity (by default none is allowed).

    ``max_unscorable_share`` is the share of current rows the model may fail on (raise, or
    answer NaN) before the question FAILs; by default none: a model that raises on its own
    production data is the system failing. Rows a guard rejects with its own error (a
    :class:`prodready.guard.InputRejected`) are rejections, not failures.
    """

    columns_per_kind: int = 2
    rows_per_case: int = 3
    large_batch: int = 1000
    long_string: int = 100_000
    timeout_s: float | None = None
    max_new_missing: float = 0.01
    max_unseen_share: float = 0.01
    max_out_of_range_share: float = 0.01
    max_wrong_type_share: float = 0.0
    max_unscorable_share: float = 0.0

    def __post_init__(self) -> None:
        for name, value, low, high in (
            ("columns_per_kind", self.columns_per_kind, 1, 100),
            ("rows_per_case", self.rows_per_case, 1, 100),
            ("large_batch", self.large_batch, 2, 100_000),
            ("long_string", self.long_string, 100, 10_000_000),
        ):
            require(low <= value <= high, name, f"is {value}", f"an integer from {low} to {high:,}")
        require(
            self.timeout_s is None or 0 < self.timeout_s <= 3600,
            "timeout_s",
            f"is {self.timeout_s}",
            "a number of seconds > 0 and at most 3600",
        )
        for name, share in (
            ("max_new_missing", self.max_new_missing),
            ("max_unseen_share", self.max_unseen_share),
            ("max_out_of_range_share", self.max_out_of_range_share),
            ("max_wrong_type_share", self.max_wrong_type_share),
            ("max_unscorable_share", self.max_unscorable_share),
        ):
            require(0 <= share <= 1, name, f"is {share}", "a share between 0 and 1")
