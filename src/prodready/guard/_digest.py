"""The input digest: one sha256 per decision, the same wherever the row is seen.

A client that sent a row as JSON and the server that parsed it into a DataFrame must compute
the same digest, although the values changed type on the way (``5`` may arrive as ``5.0``,
``NaN`` as ``None``, a numpy int as a Python int). The digest is therefore taken over a
*canonical form* of the row's feature values:

- a JSON object with the feature names as keys, sorted (by code point);
- numbers (Python or numpy, int or float, but not bools) as floats, written as Python's
  ``repr(float(x))`` (the shortest text that reads back as the same double: ``5.0``, ``0.1``,
  ``1e-05``, ``1e+16``); so ``5``, ``5.0`` and ``numpy.int64(5)`` agree. Integers beyond 2**53
  are rounded to the nearest double (the same on both sides); float32 values are taken as
  the exact double they hold;
- missing values (``None``, NaN, ``pandas.NA``, ``NaT``) as ``null``;
- ``+inf`` and ``-inf`` as the strings ``"Infinity"`` and ``"-Infinity"`` (JSON has no
  infinities; a string ``"Infinity"`` thus digests like an infinity);
- strings as they are, bools as ``true``/``false``;
- lists and dicts element by element; anything else as its ``str()`` text.

The text is written with no spaces and ASCII only (``\\u`` escapes, as Python's ``json``
writes them: :func:`prodready._chain.canonical_json`), and the digest is the hex sha256 of
that text. Example: ``{"b": 2, "a": "x"}`` is written ``{"a":"x","b":2.0}``.
"""

from __future__ import annotations

import hashlib
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from prodready._chain import canonical_json

__all__ = [
    "canonical_value",
    "column_arrays",
    "column_values",
    "input_digest",
    "input_digests",
    "row_digests",
]


def canonical_value(value: Any) -> Any:
    """``value`` in the canonical form of a digest, as a JSON-ready Python value."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, numbers.Real):  # int, float, Fraction, numpy numbers
        number = float(value)
        if math.isnan(number):
            return None
        if math.isinf(number):
            return "Infinity" if number > 0 else "-Infinity"
        return number
    if isinstance(value, list | tuple):
        return [canonical_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): canonical_value(item) for key, item in value.items()}
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):  # an array-like: pd.isna is elementwise
        pass
    return str(value)


def input_digest(row: Mapping[Any, Any]) -> str:
    """The hex sha256 of one row's feature values in the canonical form (see the module).

    ``row`` maps each feature name to its value, e.g. ``frame.iloc[i].to_dict()`` restricted
    to the features, or one record of a JSON request.
    """
    canonical = {str(name): canonical_value(value) for name, value in row.items()}
    return hashlib.sha256(canonical_json(canonical).encode("ascii")).hexdigest()


def input_digests(frame: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """:func:`input_digest` of every row of ``frame`` over ``columns`` (each must exist).

    Equal, row by row, to ``input_digest({c: frame[c].iloc[i] for c in columns})``, but
    the values are converted column by column from the arrays.
    """
    arrays = column_arrays(frame, columns)
    missing = [name for name, array in zip(columns, arrays, strict=True) if array is None]
    if missing:
        raise KeyError(f"the frame lacks the columns {missing}")
    values = [column_values(array) for array in arrays]
    return row_digests(list(columns), values, len(frame))[0]


def row_digests(
    names: Sequence[str], columns: Sequence[list[Any]], n_rows: int
) -> tuple[list[str], list[dict[str, Any]]]:
    """The digests and canonical dicts of ``n_rows`` rows, from canonical column values."""
    keys = [str(name) for name in names]
    rows = [dict(zip(keys, values, strict=True)) for values in zip(*columns, strict=True)]
    if not columns:
        rows = [{} for _ in range(n_rows)]
    digests = [hashlib.sha256(canonical_json(row).encode("ascii")).hexdigest() for row in rows]
    return digests, rows


def column_values(values: npt.NDArray[Any] | Any) -> list[Any]:
    """The canonical value of every entry of one column, converted per dtype with numpy.

    ``values`` is the column's array (numpy, or a pandas extension array). Only object
    columns are converted value by value.
    """
    if not isinstance(values, np.ndarray):
        dtype = getattr(values, "dtype", None)
        if (
            dtype is not None
            and pd.api.types.is_numeric_dtype(dtype)
            and not (pd.api.types.is_bool_dtype(dtype))
        ):
            values = np.asarray(values.to_numpy(dtype=np.float64, na_value=np.nan))
        else:
            values = np.asarray(values, dtype=object)
    kind = values.dtype.kind
    if kind == "b":
        return list(values.tolist())
    if kind in "iuf":
        return float_values(values.astype(np.float64, copy=False))
    return [canonical_value(value) for value in values.tolist()]


def float_values(values: npt.NDArray[np.float64]) -> list[Any]:
    """Floats as canonical values: NaN -> None, infinities -> "Infinity"/"-Infinity"."""
    result: list[Any] = values.tolist()
    finite = np.isfinite(values)
    if not finite.all():
        for index in np.flatnonzero(~finite).tolist():
            result[index] = canonical_value(result[index])
    return result


def column_arrays(frame: pd.DataFrame, names: Sequence[str]) -> list[npt.NDArray[Any] | Any | None]:
    """The array of each named column of ``frame`` (None for a missing one), without copies.

    A duplicated column name takes its first column. Uses pandas' internal per-column
    accessor when it exists: on pandas 3, ``frame[name]`` costs about 9 us per column, which
    would dominate a one-row request; the public path is the fallback.
    """
    present = frame.columns.tolist()
    if present == list(names):  # the usual case: exactly the features, in order
        positions: list[int] = list(range(len(present)))
    else:
        first: dict[Any, int] = {}
        for position, name in enumerate(present):
            first.setdefault(name, position)
        positions = [first.get(name, -1) for name in names]
    getter = getattr(frame, "_get_column_array", None)
    arrays: list[npt.NDArray[Any] | Any | None] = []
    for position in positions:
        if position < 0:
            arrays.append(None)
        elif getter is not None:
            arrays.append(getter(position))
        else:  # pragma: no cover - pandas without the internal accessor
            arrays.append(frame.iloc[:, position].array)
    return arrays
