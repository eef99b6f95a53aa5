"""The input digest: the same for a row whether taken from the client's frame, from the JSON it
sent, or from the frame a server parsed out of that JSON."""

from __future__ import annotations

import hashlib
import json
import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from prodready.example.data import FEATURES, generate_applicants
from prodready.guard import canonical_value, input_digest, input_digests


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_the_documented_canonical_form() -> None:
    assert input_digest({"b": 2, "a": "x"}) == sha('{"a":"x","b":2.0}')
    assert input_digest({"n": None, "i": math.inf, "j": -math.inf, "t": True}) == sha(
        '{"i":"Infinity","j":"-Infinity","n":null,"t":true}'
    )
    assert input_digest({"u": "é\n"}) == sha('{"u":"\\u00e9\\n"}')
    assert input_digest({"small": 1e-05, "big": 1e16}) == sha('{"big":1e+16,"small":1e-05}')


@pytest.mark.parametrize(
    "same",
    [
        [5, 5.0, np.int64(5), np.float64(5), np.float32(5), np.uint8(5), Fraction(5)],
        [None, math.nan, np.nan, pd.NA, pd.NaT, np.float32("nan")],
        [True, np.bool_(True)],
        ["x", np.str_("x")],
        [math.inf, np.inf, "Infinity"],
    ],
)
def test_equal_values_of_other_types_digest_alike(same: list[object]) -> None:
    digests = {input_digest({"a": value}) for value in same}
    assert len(digests) == 1


def test_different_values_digest_differently() -> None:
    values = [0, 1, "1", True, None, "null", 0.1, 0.30000000000000004, 0.3]
    assert len({input_digest({"a": v}) for v in values}) == len(values)
    assert input_digest({"a": 1, "b": 2}) == input_digest({"b": 2, "a": 1})
    assert input_digest({"a": 1}) != input_digest({"b": 1})


def test_canonical_values() -> None:
    assert canonical_value(np.int64(3)) == 3.0 and isinstance(canonical_value(np.int64(3)), float)
    assert canonical_value([1, math.nan, {"k": np.inf}]) == [1.0, None, {"k": "Infinity"}]
    assert canonical_value(pd.Timestamp("2024-01-02")) == "2024-01-02 00:00:00"


def test_frame_digests_equal_row_digests_for_every_dtype() -> None:
    frame = pd.DataFrame(
        {
            "f": [0.1, math.nan, -math.inf, 1e-300, 2.5],
            "i": np.array([1, 2, 3, 2**53 + 1, -7], dtype=np.int64),
            "s": ["a", None, "é", "", "long " * 10],
            "b": [True, False, True, False, True],
            "o": pd.array([1, "x", None, 2.5, True], dtype=object),
            "n": pd.array([1, None, 3, 4, 5], dtype="Int64"),
            "c": pd.Categorical(["u", "v", None, "u", "v"]),
            "f32": np.array([0.1, 0.2, 0.3, 0.4, 0.5], dtype=np.float32),
        }
    )
    columns = list(frame.columns)
    expected = [input_digest(frame.iloc[i].to_dict()) for i in range(len(frame))]
    assert input_digests(frame, columns) == expected
    assert input_digests(frame, ["s", "f"]) == [
        input_digest({"s": frame["s"][i], "f": frame["f"][i]}) for i in range(len(frame))
    ]
    with pytest.raises(KeyError, match="lacks the columns"):
        input_digests(frame, ["missing"])


def test_digests_survive_the_trip_through_json_to_a_server() -> None:
    """A client sends frame rows as JSON; MLflow's scoring server rebuilds a frame with
    ``pandas.DataFrame(columns=..., data=...)``: ints stay ints, NaN arrives as NaN (or None
    when sent as null), and the digests still agree."""
    frame = generate_applicants(50, seed=3, window="current")[FEATURES]
    frame = frame.astype({"annual_income": object})
    frame.loc[3, "annual_income"] = None
    frame.loc[4, "annual_income"] = math.nan
    frame.loc[5, "annual_income"] = "unknown"
    frame.loc[6, "purpose"] = None
    client = input_digests(frame, FEATURES)
    for allow_nan in (True, False):
        data = [list(row) for row in frame.itertuples(index=False)]
        if not allow_nan:  # strict JSON: NaN sent as null
            data = [[None if isinstance(v, float) and v != v else v for v in row] for row in data]
        body = json.dumps({"columns": FEATURES, "data": data}, allow_nan=allow_nan)
        sent = json.loads(body)
        parsed = pd.DataFrame(columns=sent["columns"], data=sent["data"])
        assert parsed["loan_term_months"].dtype == np.int64  # ints arrive as ints
        assert input_digests(parsed, FEATURES) == client
        records = [dict(zip(sent["columns"], row, strict=True)) for row in sent["data"]]
        assert [input_digest(record) for record in records] == client


def test_random_floats_digest_alike_by_column_and_by_row() -> None:
    rng = np.random.default_rng(0)
    values = np.concatenate(
        [rng.normal(size=200) * 10.0 ** rng.integers(-30, 30, 200), [0.0, -0.0, 1e16, 1e-5]]
    )
    frame = pd.DataFrame({"x": values})
    assert input_digests(frame, ["x"]) == [input_digest({"x": float(v)}) for v in values]
