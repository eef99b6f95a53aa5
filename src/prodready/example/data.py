"""Synthetic consumer-loan applicants: the data of prodready's bundled example system.

The data set is fully synthetic and its generating process is written down here, so that a
reader can check every claim the example's assessment makes about it: which features drift,
by how much, and how the label depends on the features.

Generating process (one applicant; all draws independent unless a formula links them)
-------------------------------------------------------------------------------------

Latent (not a column) — the applicant's risk grade, the only common cause of several features::

    G ~ Categorical({0: .17, 1: .28, 2: .24, 3: .15, 4: .09, 5: .05, 6: .02})   # A (best) .. G

Features (14: 11 numeric, 3 categorical)::

    home_ownership          ~ Categorical(RENT .40, MORTGAGE .45, OWN .15)
    verification_status     ~ Categorical(Not Verified .30, Source Verified .40, Verified .30)
    purpose                 ~ Categorical(p_purpose[window])                       # DRIFTS
    annual_income           = round(s[window] * exp(N(ln 60000 + m_home, 0.5^2)))
                              m_home = {RENT: -0.10, MORTGAGE: +0.15, OWN: +0.05}
                              s = 1.00 (reference), 0.80 (current)                  # DRIFTS
    revolving_utilization   ~ Beta(a[window] + 0.5 G, 4), rounded to 1e-4          # DRIFTS
                              a = 2.0 (reference), 2.8 (current)
    debt_to_income          = round(100 * Beta(2, 8 - 0.6 G), 2)                    # percent
    credit_history_years    = round(Gamma(shape 4, scale 3.5 - 0.3 G), 1)
    employment_length_years = min(floor(Exponential(mean 6)), 40)                   # integer
    loan_amount             = round(clip(exp(N(ln 12000 + l_home, 0.6^2)), 1000, 40000) / 25) * 25
                              l_home = {RENT: 0.0, MORTGAGE: +0.2, OWN: +0.1}
    loan_term_months        = 60 with probability 0.25 + 0.05 G, else 36           # integer
    interest_rate           = round(max(5, 6 + 3 G + 1.5 [term = 60] + N(0, 0.8^2)), 2)  # percent
    delinquencies_2y        ~ Poisson(0.10 + 0.12 G)                                # integer
    inquiries_6m            ~ Poisson(0.5 + 0.25 G)                                 # integer
    open_credit_lines       = 1 + Poisson(9 + 0.5 G)                                # integer

    p_purpose[window]     reference  current
      debt_consolidation     .45       .38
      credit_card            .22       .18
      home_improvement       .08       .08
      car                    .06       .06
      medical                .04       .04
      small_business         .04       .15
      other                  .11       .11

Label (same in both windows: the concept does not change, only covariates drift)::

    z = -2.55
        - 0.90 ln(annual_income / 60000)       + 0.025 (debt_to_income - 20)
        - 0.03 (credit_history_years - 10)      + 0.25 ln(loan_amount / 12000)
        + 0.35 [loan_term_months = 60]          + 0.12 (interest_rate - 12)
        + 0.25 delinquencies_2y                 + 0.12 inquiries_6m
        - 0.01 (open_credit_lines - 10)         + 1.50 (revolving_utilization - 0.4)
        - 0.03 min(employment_length_years, 10)
        + b_purpose + b_home + b_verification + e,          e ~ N(0, 0.5^2)
    b_purpose      = {debt_consolidation: 0, credit_card: -0.10, home_improvement: -0.10,
                      car: -0.20, medical: +0.30, small_business: +0.70, other: +0.15}
    b_home         = {RENT: +0.15, MORTGAGE: -0.10, OWN: 0}
    b_verification = {Not Verified: +0.10, Source Verified: 0, Verified: -0.05}
    default ~ Bernoulli(1 / (1 + exp(-z)))

The default rate is about 15% in the reference window and somewhat higher in the current
one (lower incomes, higher utilization and more small-business loans all raise ``z``).

Why exactly three features drift
--------------------------------
In the current window only ``s``, ``a`` and ``p_purpose`` change, and the three features they
generate (annual_income, revolving_utilization, purpose) are *leaves*: no other feature is
computed from them. Every other feature is a function of the grade G, home_ownership, the
loan term and independent noise, whose distributions are the same in both windows, so those
features keep their distribution exactly. (This is also why, unlike in real lending data,
the loan amount and the interest rate do not depend on income or purpose here.) Only the
label's distribution changes, through the drifted features; ``P(default | features)`` does not.

Samples: ``seed`` and the window give the random stream (``numpy.random.default_rng`` seeded
with ``[seed, 0]`` for reference, ``[seed, 1]`` for current, ``[seed, 2]`` for training, a
second sample of the reference population that the model is fitted on), so the windows are
independent samples and the same arguments always give the same frame.
"""

from __future__ import annotations

from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "CATEGORICAL",
    "DRIFTED",
    "FEATURES",
    "GENERATOR_VERSION",
    "NUMERIC",
    "TARGET",
    "generate_applicants",
]

#: Bump whenever the generating process or the model recipe changes: cached example
#: directories made by an older version are then regenerated.
GENERATOR_VERSION: Final = 3

TARGET: Final = "default"

NUMERIC: Final[list[str]] = [
    "annual_income",
    "debt_to_income",
    "credit_history_years",
    "employment_length_years",
    "loan_amount",
    "loan_term_months",
    "interest_rate",
    "delinquencies_2y",
    "inquiries_6m",
    "open_credit_lines",
    "revolving_utilization",
]
CATEGORICAL: Final[list[str]] = ["purpose", "home_ownership", "verification_status"]
#: Column order of the generated frames (the target comes last).
FEATURES: Final[list[str]] = [*NUMERIC, *CATEGORICAL]

#: The features whose distribution differs in the ``current`` window, and how. All others
#: keep exactly the reference distribution (see the module docstring).
DRIFTED: Final[dict[str, str]] = {
    "annual_income": "scaled by 0.80: every income is 20% lower (a shift of ln 0.8 in log income)",
    "revolving_utilization": "Beta(2.0 + 0.5 G, 4) -> Beta(2.8 + 0.5 G, 4): mean 0.42 -> 0.48",
    "purpose": "small_business share 4% -> 15%, debt_consolidation 45% -> 38%, "
    "credit_card 22% -> 18%",
}

_GRADE_P: Final = np.array([0.17, 0.28, 0.24, 0.15, 0.09, 0.05, 0.02])

_HOME: Final = ("RENT", "MORTGAGE", "OWN")
_HOME_P: Final = np.array([0.40, 0.45, 0.15])
_HOME_INCOME: Final = np.array([-0.10, 0.15, 0.05])
_HOME_LOAN: Final = np.array([0.0, 0.2, 0.1])
_HOME_B: Final = np.array([0.15, -0.10, 0.0])

_VERIFICATION: Final = ("Not Verified", "Source Verified", "Verified")
_VERIFICATION_P: Final = np.array([0.30, 0.40, 0.30])
_VERIFICATION_B: Final = np.array([0.10, 0.0, -0.05])

_PURPOSE: Final = (
    "debt_consolidation",
    "credit_card",
    "home_improvement",
    "car",
    "medical",
    "small_business",
    "other",
)
_PURPOSE_P: Final = {
    "reference": np.array([0.45, 0.22, 0.08, 0.06, 0.04, 0.04, 0.11]),
    "current": np.array([0.38, 0.18, 0.08, 0.06, 0.04, 0.15, 0.11]),
}
_PURPOSE_B: Final = np.array([0.0, -0.10, -0.10, -0.20, 0.30, 0.70, 0.15])

_INCOME_SCALE: Final = {"reference": 1.0, "current": 0.80}
_UTILIZATION_A: Final = {"reference": 2.0, "current": 2.8}

_INTERCEPT: Final = -2.55
_NOISE_SD: Final = 0.5

# "training" is a third, independent sample of the reference population: the model is fitted
# on it, so the reference window is held-out data and its scores are not in-sample.
_WINDOWS: Final = ("reference", "current", "training")
Window = Literal["reference", "current", "training"]


def _categorical(
    rng: np.random.Generator, labels: tuple[str, ...], p: npt.NDArray[np.float64], n: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.object_]]:
    """Draw ``n`` category codes with probabilities ``p``; return the codes and the labels."""
    codes = rng.choice(len(labels), size=n, p=p)
    return codes, np.array(labels, dtype=object)[codes]


def generate_applicants(n: int, *, seed: int, window: Window) -> pd.DataFrame:
    """Draw ``n`` loan applicants with their ``default`` label, as documented in this module.

    Args:
        n: number of rows (applicants).
        seed: the base seed; the windows use independent streams derived from it.
        window: ``"reference"`` (the training-time population), ``"training"`` (another,
            independent sample of it, which the model is fitted on) or ``"current"`` (the
            same process with the covariate drift listed in :data:`DRIFTED`).

    Returns:
        A frame with the columns :data:`FEATURES` then :data:`TARGET`. Continuous numeric
        columns are float64, counts (and the loan term) int64, the categorical columns hold
        Python strings (object dtype on pandas 2, ``str`` on pandas 3), the label is int64 0/1.
    """
    if window not in _WINDOWS:
        raise ValueError(f"window must be one of {_WINDOWS}, not {window!r}")
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ValueError(f"n must be a non-negative integer, not {n!r}")
    rng = np.random.default_rng([seed, _WINDOWS.index(window)])
    population = "current" if window == "current" else "reference"
    n = int(n)

    grade = rng.choice(len(_GRADE_P), size=n, p=_GRADE_P)
    home_code, home = _categorical(rng, _HOME, _HOME_P, n)
    verification_code, verification = _categorical(rng, _VERIFICATION, _VERIFICATION_P, n)
    purpose_code, purpose = _categorical(rng, _PURPOSE, _PURPOSE_P[population], n)

    income = np.round(
        _INCOME_SCALE[population]
        * np.exp(rng.normal(np.log(60_000.0) + _HOME_INCOME[home_code], 0.5))
    )
    utilization = np.round(rng.beta(_UTILIZATION_A[population] + 0.5 * grade, 4.0), 4)
    dti = np.round(100.0 * rng.beta(2.0, 8.0 - 0.6 * grade), 2)
    history = np.round(rng.gamma(4.0, 3.5 - 0.3 * grade), 1)
    employment = np.minimum(np.floor(rng.exponential(6.0, size=n)), 40).astype(np.int64)
    loan = np.clip(np.exp(rng.normal(np.log(12_000.0) + _HOME_LOAN[home_code], 0.6)), 1e3, 4e4)
    loan = np.round(loan / 25.0) * 25.0
    long_term = rng.random(n) < 0.25 + 0.05 * grade
    term = np.where(long_term, 60, 36).astype(np.int64)
    rate = np.round(np.maximum(5.0, 6.0 + 3.0 * grade + 1.5 * long_term + rng.normal(0, 0.8, n)), 2)
    delinquencies = rng.poisson(0.10 + 0.12 * grade).astype(np.int64)
    inquiries = rng.poisson(0.5 + 0.25 * grade).astype(np.int64)
    open_lines = (1 + rng.poisson(9.0 + 0.5 * grade)).astype(np.int64)

    z = (
        _INTERCEPT
        - 0.90 * np.log(income / 60_000.0)
        + 0.025 * (dti - 20.0)
        - 0.03 * (history - 10.0)
        + 0.25 * np.log(loan / 12_000.0)
        + 0.35 * long_term
        + 0.12 * (rate - 12.0)
        + 0.25 * delinquencies
        + 0.12 * inquiries
        - 0.01 * (open_lines - 10)
        + 1.50 * (utilization - 0.4)
        - 0.03 * np.minimum(employment, 10)
        + _PURPOSE_B[purpose_code]
        + _HOME_B[home_code]
        + _VERIFICATION_B[verification_code]
        + rng.normal(0.0, _NOISE_SD, n)
    )
    default = (rng.random(n) < 1.0 / (1.0 + np.exp(-z))).astype(np.int64)

    columns: dict[str, npt.NDArray[np.generic]] = {
        "annual_income": income,
        "debt_to_income": dti,
        "credit_history_years": history,
        "employment_length_years": employment,
        "loan_amount": loan,
        "loan_term_months": term,
        "interest_rate": rate,
        "delinquencies_2y": delinquencies,
        "inquiries_6m": inquiries,
        "open_credit_lines": open_lines,
        "revolving_utilization": utilization,
        "purpose": purpose,
        "home_ownership": home,
        "verification_status": verification,
        TARGET: default,
    }
    return pd.DataFrame(columns)
