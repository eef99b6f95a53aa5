"""The input schema: learned from the example's reference, it accepts the ordinary current
window (a drifted one) and names every kind of bad value by row, column and rule."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prodready._exceptions import DataError, UsageError
from prodready.example.data import CATEGORICAL, FEATURES, NUMERIC, generate_applicants
from prodready.guard import (
    DEFAULT_TOLERANCE,
    RULES,
    SCHEMA_VERSION,
    ColumnRule,
    InputSchema,
    Violation,
)

ROWS = 20_000


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return generate_applicants(ROWS, seed=0, window="reference")


@pytest.fixture(scope="module")
def current() -> pd.DataFrame:
    return generate_applicants(ROWS, seed=0, window="current")[FEATURES]


@pytest.fixture(scope="module")
def schema(reference: pd.DataFrame) -> InputSchema:
    return InputSchema.learn(reference, FEATURES, CATEGORICAL)


def rows(current: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """A few valid rows, as objects so that any value can be put in any cell."""
    return current.head(n).astype(object).reset_index(drop=True)


def found(violations: list[Violation]) -> list[tuple[int, str | None, str]]:
    return [(v.row, v.column, v.rule) for v in violations]


def test_learned_rules_describe_the_reference(schema: InputSchema, reference: pd.DataFrame) -> None:
    assert schema.features == FEATURES
    assert schema.tolerance == DEFAULT_TOLERANCE
    income = schema.columns["annual_income"]
    assert income.kind == "numeric" and income.dtype == "float64"
    low, high = reference["annual_income"].min(), reference["annual_income"].max()
    # Never negative in the reference, so never below 0; widened by half the width above.
    assert income.minimum == 0.0
    assert income.maximum == pytest.approx(high + DEFAULT_TOLERANCE * (high - low))
    assert not income.allow_missing and income.missing_rate == 0.0
    term = schema.columns["loan_term_months"]
    assert term.dtype == "int64" and (term.minimum, term.maximum) == (24.0, 72.0)
    purpose = schema.columns["purpose"]
    assert purpose.kind == "categorical" and purpose.dtype == "str"
    assert purpose.categories == sorted(reference["purpose"].unique())
    assert all(schema.columns[name].kind == "numeric" for name in NUMERIC)


def test_the_ordinary_current_window_is_accepted(
    schema: InputSchema, current: pd.DataFrame
) -> None:
    # Every income is 20% lower, utilization and purposes shifted: drift, not invalid data.
    violations = schema.violations(current)
    assert len({v.row for v in violations}) <= ROWS // 1000  # at most 0.1% of the rows
    assert schema.violations(generate_applicants(ROWS, seed=1, window="reference")) == []


def test_checking_is_vectorised(schema: InputSchema, current: pd.DataFrame) -> None:
    # 280,000 rows x 14 columns: value by value in Python this takes many seconds.
    big = pd.concat([current] * 14, ignore_index=True)
    start = time.perf_counter()
    assert schema.violations(big) == []
    assert time.perf_counter() - start < 2.0


def test_extreme_negative_and_non_finite_numbers(
    schema: InputSchema, current: pd.DataFrame
) -> None:
    frame = rows(current)
    frame.loc[0, "annual_income"] = 1e12
    frame.loc[1, "loan_amount"] = -1e9
    frame.loc[2, "debt_to_income"] = -0.5  # never negative in the reference
    frame.loc[3, "interest_rate"] = math.inf
    frame.loc[4, "revolving_utilization"] = -math.inf
    violations = schema.violations(frame)
    assert found(violations) == [
        (0, "annual_income", "out_of_range"),
        (1, "loan_amount", "out_of_range"),
        (2, "debt_to_income", "out_of_range"),
        (3, "interest_rate", "not_finite"),
        (4, "revolving_utilization", "not_finite"),
    ]
    assert violations[0].value == 1e12
    assert violations[0].message.startswith("1000000000000.0 is above the accepted maximum ")
    assert violations[2].message == "-0.5 is below the accepted minimum 0"


def test_the_same_checks_on_a_numeric_frame(schema: InputSchema, current: pd.DataFrame) -> None:
    # Float columns as they usually arrive (not object): the matrix path of the check.
    frame = current.head(4).reset_index(drop=True)
    frame.loc[0, "annual_income"] = np.nan
    frame.loc[1, "annual_income"] = np.inf
    frame.loc[2, "credit_history_years"] = 1e300
    frame.loc[3, "debt_to_income"] = -1.0
    assert found(schema.violations(frame)) == [
        (0, "annual_income", "missing_value"),
        (1, "annual_income", "not_finite"),
        (2, "credit_history_years", "out_of_range"),
        (3, "debt_to_income", "out_of_range"),
    ]


def test_missing_values_only_where_the_reference_had_some(reference: pd.DataFrame) -> None:
    with_gaps = reference.copy()
    with_gaps.loc[::10, "annual_income"] = np.nan
    with_gaps.loc[::7, "purpose"] = None
    schema = InputSchema.learn(with_gaps, FEATURES, CATEGORICAL)
    assert schema.columns["annual_income"].allow_missing
    assert schema.columns["annual_income"].missing_rate == pytest.approx(0.1)
    assert schema.columns["purpose"].allow_missing
    frame = rows(reference, 4)
    frame.loc[0, "annual_income"] = None
    frame.loc[1, "purpose"] = np.nan
    frame.loc[2, "debt_to_income"] = None
    frame.loc[3, "home_ownership"] = pd.NA
    assert found(schema.violations(frame)) == [
        (2, "debt_to_income", "missing_value"),
        (3, "home_ownership", "missing_value"),
    ]


def test_wrong_types(schema: InputSchema, current: pd.DataFrame) -> None:
    frame = rows(current)
    frame.loc[0, "annual_income"] = "lots"
    frame.loc[1, "loan_amount"] = True
    frame.loc[2, "purpose"] = 3.5
    frame.loc[3, "home_ownership"] = False
    frame.loc[4, "interest_rate"] = "12.5"  # a number as text is still text
    violations = schema.violations(frame)
    assert found(violations) == [
        (0, "annual_income", "wrong_type"),
        (1, "loan_amount", "wrong_type"),
        (2, "purpose", "wrong_type"),
        (3, "home_ownership", "wrong_type"),
        (4, "interest_rate", "wrong_type"),
    ]
    assert violations[0].message == "'lots' is a str, expected a number"


def test_whole_columns_of_the_wrong_kind(schema: InputSchema, current: pd.DataFrame) -> None:
    frame = current.head(2).reset_index(drop=True)
    frame["purpose"] = [1, 2]  # an int64 column where strings belong
    frame["annual_income"] = ["a", "b"]
    frame["loan_amount"] = [True, False]
    assert found(schema.violations(frame)) == [
        (0, "annual_income", "wrong_type"),
        (0, "loan_amount", "wrong_type"),
        (0, "purpose", "wrong_type"),
        (1, "annual_income", "wrong_type"),
        (1, "loan_amount", "wrong_type"),
        (1, "purpose", "wrong_type"),
    ]


def test_unseen_categories(schema: InputSchema, current: pd.DataFrame) -> None:
    frame = rows(current, 3)
    frame.loc[0, "purpose"] = "yacht"
    frame.loc[1, "verification_status"] = ""
    frame.loc[2, "home_ownership"] = "rent"  # categories are case-sensitive
    violations = schema.violations(frame)
    assert found(violations) == [
        (0, "purpose", "unseen_category"),
        (1, "verification_status", "unseen_category"),
        (2, "home_ownership", "unseen_category"),
    ]
    assert violations[0].message == "'yacht' is not a category of the reference"


def test_missing_extra_and_reordered_columns(schema: InputSchema, current: pd.DataFrame) -> None:
    frame = current.head(3)
    shuffled = frame[list(reversed(FEATURES))].assign(extra="ignored")
    assert schema.violations(shuffled) == []
    violations = schema.violations(frame.drop(columns=["purpose", "annual_income"]))
    assert found(violations) == [
        (row, name, "missing_column") for row in range(3) for name in ("annual_income", "purpose")
    ]
    assert violations[0].message == "column 'annual_income' is missing from the request"


def test_violations_come_by_row_then_column(schema: InputSchema, current: pd.DataFrame) -> None:
    frame = rows(current, 3)
    frame.loc[2, "purpose"] = "yacht"
    frame.loc[0, "verification_status"] = "?"
    frame.loc[2, "annual_income"] = -1
    frame.loc[0, "annual_income"] = -1
    assert found(schema.violations(frame)) == [
        (0, "annual_income", "out_of_range"),
        (0, "verification_status", "unseen_category"),
        (2, "annual_income", "out_of_range"),
        (2, "purpose", "unseen_category"),
    ]


def test_an_empty_request_has_no_violations(schema: InputSchema, current: pd.DataFrame) -> None:
    assert schema.violations(current.head(0)) == []
    assert schema.violations(pd.DataFrame()) == []


def test_pandas_extension_dtypes(schema: InputSchema, current: pd.DataFrame) -> None:
    frame = current.head(3).reset_index(drop=True)
    frame["employment_length_years"] = pd.array([1, None, 3], dtype="Int64")
    frame["purpose"] = pd.Categorical(["car", "car", "spaceship"])
    frame["home_ownership"] = pd.array(["RENT", "OWN", None], dtype="string")
    assert found(schema.violations(frame)) == [
        (1, "employment_length_years", "missing_value"),
        (2, "purpose", "unseen_category"),
        (2, "home_ownership", "missing_value"),
    ]


def test_bool_and_number_coded_columns() -> None:
    reference = pd.DataFrame(
        {"flag": [True, False, True], "grade": [1, 2, 3], "score": [0.5, 0.25, 1.0]}
    )
    schema = InputSchema.learn(reference, categorical=["grade"])
    assert schema.columns["flag"].kind == "numeric" and schema.columns["flag"].dtype == "bool"
    assert schema.columns["grade"].categories == ["1", "2", "3"]
    good = pd.DataFrame({"flag": [False, True], "grade": [3.0, 1], "score": [0.4, 0.9]})
    assert schema.violations(good) == []
    bad = pd.DataFrame(
        {"flag": [2.0, True], "grade": pd.array([4, "2"], dtype=object), "score": [0.4, 5.0]}
    )
    assert found(schema.violations(bad)) == [
        (0, "flag", "out_of_range"),
        (0, "grade", "unseen_category"),
        (1, "grade", "wrong_type"),
        (1, "score", "out_of_range"),
    ]


def test_save_and_load_round_trip(schema: InputSchema, tmp_path: Path) -> None:
    path = schema.save(tmp_path / "schema.json")
    data = json.loads(path.read_text())
    assert data["version"] == SCHEMA_VERSION and len(data["columns"]) == len(FEATURES)
    loaded = InputSchema.load(path)
    assert loaded == schema and loaded.features == FEATURES
    assert loaded.columns["purpose"] == schema.columns["purpose"]
    assert InputSchema.from_dict(schema.to_dict()).to_dict() == schema.to_dict()


def test_loading_a_bad_schema_says_what_is_wrong(schema: InputSchema, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read the input schema"):
        InputSchema.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(DataError, match="is not JSON"):
        InputSchema.load(tmp_path / "bad.json")
    newer = {**schema.to_dict(), "version": SCHEMA_VERSION + 1}
    with pytest.raises(DataError, match="version 2 is not supported"):
        InputSchema.from_dict(newer)
    broken = schema.to_dict()
    broken["columns"][0]["kind"] = "text"
    with pytest.raises(DataError, match="column 0 is invalid"):
        InputSchema.from_dict(broken)
    broken["columns"][0] = {"name": "x"}
    with pytest.raises(DataError, match="column 0 is invalid"):
        InputSchema.from_dict(broken)


def test_learning_refuses_what_it_cannot_learn(reference: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"lacks the feature columns \['nope'\]"):
        InputSchema.learn(reference, ["nope"])
    with pytest.raises(DataError, match="empty reference"):
        InputSchema.learn(reference.head(0), FEATURES)
    with pytest.raises(UsageError, match="not among the features"):
        InputSchema.learn(reference, ["annual_income"], ["purpose"])
    with pytest.raises(UsageError, match="tolerance"):
        InputSchema.learn(reference, FEATURES, CATEGORICAL, tolerance=-1)
    mixed = pd.DataFrame({"code": ["a", 1, "b"]})
    with pytest.raises(DataError, match="mixes strings with other values"):
        InputSchema.learn(mixed)
    with pytest.raises(UsageError, match="names a column twice"):
        InputSchema([ColumnRule("a", "numeric", "float64")] * 2)


def test_a_violation_is_json_ready() -> None:
    violation = Violation(3, "x", "not_finite", -math.inf, "-inf is not a finite number")
    assert violation.to_dict() == {
        "row": 3,
        "column": "x",
        "rule": "not_finite",
        "value": "-Infinity",
        "message": "-inf is not a finite number",
    }
    assert str(violation) == "row 3, column 'x': not_finite: -inf is not a finite number"
    assert set(RULES) == {
        "missing_column",
        "missing_value",
        "wrong_type",
        "not_finite",
        "out_of_range",
        "unseen_category",
    }
