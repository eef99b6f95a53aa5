"""The input schema a guard checks every request against, learned from the reference data.

:meth:`InputSchema.learn` records, per feature column, what the model was shown before it was
trusted (the reference data): whether the column holds numbers or categories, its dtype, the
range of its numbers, the set of its categories and whether values were ever missing. Anything
a request brings outside that is a :class:`Violation`, one per row, column and rule:

==================  ===============================================================================
rule                what was wrong
==================  ===============================================================================
missing_column      the feature column is not in the request (one violation per row)
missing_value       a value is missing (None, NaN, NA) where the reference had no missing values
wrong_type          a string or bool in a numeric column, a number or bool in a categorical one
not_finite          +inf or -inf in a numeric column
out_of_range        a number outside the accepted range
unseen_category     a category the reference never had
==================  ===============================================================================

Extra columns are ignored and the column order does not matter.

Accepted ranges
---------------
A model is not trusted on numbers far outside what it was trained and validated on, but data
drift is not invalid data: the current window of the bundled example has every income 20%
lower than the reference, and those applicants must still be answered. The accepted range of a
numeric column is therefore the reference range widened on each side by ``tolerance`` (default
:data:`DEFAULT_TOLERANCE`, 0.5) times its width: reference incomes of 4,000 to 540,000 accept
up to 808,000. Two limits stop the widening: a column that was never negative
(``min >= 0``) accepts no negative number, and one never positive accepts no positive number.
A constant column accepts its value plus or minus ``tolerance`` times its magnitude (at least
``tolerance``). Integer columns accept any number in range (``2.5`` children is not checked).

Checking is vectorised per column with numpy: a request of n rows costs a few numpy
operations per column, not n Python steps. Only an object column of mixed values (e.g. a
string among numbers) is inspected value by value, and only because it is invalid anyway.
"""

from __future__ import annotations

import json
import math
import numbers
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from prodready._exceptions import DataError, UsageError
from prodready._files import atomic_write, shown
from prodready.guard._digest import canonical_value, column_arrays, column_values, float_values

__all__ = [
    "DEFAULT_TOLERANCE",
    "RULES",
    "SCHEMA_VERSION",
    "ColumnRule",
    "InputSchema",
    "Rule",
    "Violation",
]

#: Version of the saved schema format (``InputSchema.to_dict()["version"]``).
SCHEMA_VERSION: Final = 1
#: How far beyond the reference range numbers are accepted, as a share of the range's width.
DEFAULT_TOLERANCE: Final = 0.5

Rule = Literal[
    "missing_column",
    "missing_value",
    "wrong_type",
    "not_finite",
    "out_of_range",
    "unseen_category",
]
#: Every rule, in the order violations of one cell are checked.
RULES: Final[tuple[Rule, ...]] = (
    "missing_column",
    "missing_value",
    "wrong_type",
    "not_finite",
    "out_of_range",
    "unseen_category",
)

Kind = Literal["numeric", "categorical"]
_Array = npt.NDArray[Any]


@dataclass(frozen=True)
class ColumnRule:
    """What one feature column may hold.

    ``kind`` is ``numeric`` or ``categorical``; ``dtype`` the reference column's dtype
    (``float64``, ``int64``, ``bool``, ``object``, ``str``...). Numeric columns accept numbers
    in ``[minimum, maximum]`` (the widened reference range; None: no bound, e.g. a column with
    no values). Categorical columns accept ``categories`` (the reference's, as text; numbers
    for a column whose categories were numbers). ``allow_missing`` is true when the reference
    had missing values, ``missing_rate`` their share there.
    """

    name: str
    kind: Kind
    dtype: str
    minimum: float | None = None
    maximum: float | None = None
    categories: list[str] | None = None
    allow_missing: bool = False
    missing_rate: float = 0.0

    @property
    def numeric_categories(self) -> bool:
        """True for a categorical column whose categories are numbers (codes)."""
        return self.kind == "categorical" and np.dtype(_numpy_dtype(self.dtype)).kind in "iuf"


@dataclass(frozen=True)
class Violation:
    """One broken rule: ``row`` is the 0-based position of the row in the request.

    ``column`` names the feature (None only for a problem with no column). ``value`` is the
    offending value as it arrived (None for a missing column or value); ``message`` says what
    was wrong in words.
    """

    row: int
    column: str | None
    rule: Rule
    value: Any
    message: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; the value in the digest's canonical form (NaN -> None...)."""
        value = canonical_value(self.value)
        if isinstance(value, str) and len(value) > 200:
            value = value[:199] + "…"
        return {
            "row": self.row,
            "column": self.column,
            "rule": self.rule,
            "value": value,
            "message": self.message,
        }

    def __str__(self) -> str:
        where = f", column {self.column!r}" if self.column is not None else ""
        return f"row {self.row}{where}: {self.rule}: {self.message}"


class _Check:
    """Violations of one request, column by column, and the rows they touch."""

    def __init__(self, n_rows: int) -> None:
        self.n_rows = n_rows
        self.bad = np.zeros(n_rows, dtype=bool)
        self.found: list[tuple[int, int, Violation]] = []

    def add(
        self,
        column: int,
        rows: npt.NDArray[np.intp],
        rule: Rule,
        name: str,
        values: Sequence[Any] | None,
        message: Any,
    ) -> None:
        """Record ``rule`` broken at ``rows`` of column number ``column``.

        ``message`` is a string, or a function of the value giving one.
        """
        if rows.size == 0:
            return
        self.bad[rows] = True
        for position, row in enumerate(rows.tolist()):
            value = values[position] if values is not None else None
            text = message(value) if callable(message) else message
            self.found.append((row, column, Violation(row, name, rule, value, text)))

    def violations(self) -> list[Violation]:
        """All violations, by row then column (the schema's column order)."""
        self.found.sort(key=lambda item: (item[0], item[1]))
        return [item[2] for item in self.found]


class Inspection:
    """One request as the schema saw it: its columns, what is wrong, its canonical values.

    ``arrays`` holds each feature's column (None: missing) in the schema's order, read once
    from the frame; ``bad`` marks invalid rows; ``violations`` lists what is wrong, by row
    then column. :meth:`canonical_columns` gives the values for the input digests, reusing
    what the checks already converted.
    """

    def __init__(
        self,
        features: list[str],
        arrays: list[_Array | Any | None],
        check: _Check,
        matrix: npt.NDArray[np.float64] | None,
        matrix_columns: dict[int, int],
        values: dict[int, list[Any]],
        matrix_clean: bool = False,
    ) -> None:
        self.features = features
        self.arrays = arrays
        self.n_rows = check.n_rows
        self.bad = check.bad
        self.violations = check.violations() if check.found else []
        self._matrix = matrix
        self._matrix_columns = matrix_columns
        self._values = values
        # True when every matrix cell is a finite number: its floats are canonical as they are.
        self._matrix_clean = matrix_clean

    def canonical_columns(self) -> tuple[list[str], list[list[Any]]]:
        """The present features and the canonical values of each (see ``_digest``)."""
        names: list[str] = []
        columns: list[list[Any]] = []
        transposed: list[list[Any]] | None = None
        for index, (name, array) in enumerate(zip(self.features, self.arrays, strict=True)):
            if array is None:
                continue
            known = self._values.get(index)
            if known is None and index in self._matrix_columns and self._matrix is not None:
                column = self._matrix_columns[index]
                if self._matrix_clean:
                    if transposed is None:
                        transposed = self._matrix.T.tolist()
                    known = transposed[column]
                else:
                    known = float_values(self._matrix[:, column])
            names.append(name)
            columns.append(known if known is not None else column_values(array))
        return names, columns


class InputSchema:
    """Per-column rules for the inputs of a model; see the module for what is checked.

    ``columns`` maps each feature name (in the model's order) to its :class:`ColumnRule`;
    ``tolerance`` is the widening the ranges were learned with.
    """

    def __init__(self, columns: Sequence[ColumnRule], *, tolerance: float = DEFAULT_TOLERANCE):
        names = [rule.name for rule in columns]
        if len(set(names)) != len(names):
            raise UsageError(f"an input schema names a column twice: {names}")
        self.columns: dict[str, ColumnRule] = {rule.name: rule for rule in columns}
        self.tolerance = float(tolerance)
        self._features = names
        self._compiled = [_Compiled(rule) for rule in columns]
        # Numeric columns checked together as one matrix, with finite stand-ins for missing
        # bounds so that an infinity always fails the fast check.
        self._fast_numeric = [
            index
            for index, compiled in enumerate(self._compiled)
            if compiled.rule.kind == "numeric" and not compiled.is_bool
        ]
        self._fast_low = np.array([self._compiled[i].fast_low for i in self._fast_numeric])
        self._fast_high = np.array([self._compiled[i].fast_high for i in self._fast_numeric])

    @property
    def features(self) -> list[str]:
        """The feature names, in order."""
        return list(self._features)

    def __repr__(self) -> str:
        return f"InputSchema({len(self.columns)} columns: {', '.join(self.columns)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, InputSchema) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    # -- learning -------------------------------------------------------------------------

    @classmethod
    def learn(
        cls,
        reference: pd.DataFrame,
        features: Sequence[str] | None = None,
        categorical: Sequence[str] = (),
        *,
        tolerance: float = DEFAULT_TOLERANCE,
    ) -> InputSchema:
        """Learn the rules of ``features`` (default: every column) from ``reference``.

        Columns named in ``categorical`` are categorical; so is any feature whose values are
        not numbers (strings). Raises :class:`~prodready.DataError` for a feature that is not
        in ``reference`` or mixes strings and numbers, and for an empty reference.
        """
        if not math.isfinite(tolerance) or tolerance < 0:
            raise UsageError(f"tolerance must be a finite number >= 0, not {tolerance!r}")
        names = list(reference.columns) if features is None else list(features)
        missing = [name for name in names if name not in reference.columns]
        if missing:
            raise DataError(f"the reference data lacks the feature columns {missing}")
        unknown = [name for name in categorical if name not in names]
        if unknown:
            raise UsageError(f"categorical columns {unknown} are not among the features")
        if len(reference) == 0:
            raise DataError("cannot learn an input schema from an empty reference")
        rules = [
            _learn_column(name, reference[name], name in set(categorical), tolerance)
            for name in names
        ]
        return cls(rules, tolerance=tolerance)

    # -- checking -------------------------------------------------------------------------

    def violations(self, frame: pd.DataFrame) -> list[Violation]:
        """Every violation in ``frame``, by row then column (empty when all rows are valid)."""
        return self.inspect(frame).violations

    def inspect(self, frame: pd.DataFrame) -> Inspection:
        """Read and check the feature columns of ``frame`` once (what a guard does per request).

        Valid numeric columns are checked together, as one matrix: a few numpy operations per
        request whatever its number of columns; valid string columns with one set operation
        each. Only columns with a problem are then looked at one by one.
        """
        n = len(frame)
        arrays = column_arrays(frame, self._features)
        check = _Check(n)
        values: dict[int, list[Any]] = {}
        matrix: npt.NDArray[np.float64] | None = None
        matrix_columns: dict[int, int] = {}
        matrix_clean = False
        if n == 0:
            return Inspection(self._features, arrays, check, None, {}, {})
        fast = [
            index
            for index in self._fast_numeric
            if isinstance(array := arrays[index], np.ndarray) and array.dtype.kind in "iuf"
        ]
        if fast:
            matrix = np.empty((n, len(fast)), dtype=np.float64)
            for column, index in enumerate(fast):
                matrix[:, column] = arrays[index]
                matrix_columns[index] = column
            if len(fast) == len(self._fast_numeric):
                low, high = self._fast_low, self._fast_high
            else:
                low = np.array([self._compiled[i].fast_low for i in fast])
                high = np.array([self._compiled[i].fast_high for i in fast])
            # NaN and +-inf fail both comparisons (the fast bounds are finite): they and the
            # out-of-range numbers are sorted out column by column below.
            inside = (matrix >= low) & (matrix <= high)
            matrix_clean = bool(inside.all())
            if not matrix_clean:
                for column in np.flatnonzero(~inside.all(axis=0)).tolist():
                    index = fast[column]
                    self._compiled[index].numbers(index, matrix[:, column], check)
        done = set(fast)
        for index, (compiled, array) in enumerate(zip(self._compiled, arrays, strict=True)):
            if index in done:
                continue
            known = compiled.check(index, array, check)
            if known is not None:
                values[index] = known
        return Inspection(
            self._features, arrays, check, matrix, matrix_columns, values, matrix_clean
        )

    # -- saving ---------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``version``, ``tolerance``, ``columns``: one dict per rule)."""
        return {
            "version": SCHEMA_VERSION,
            "tolerance": self.tolerance,
            "columns": [asdict(rule) for rule in self.columns.values()],
        }

    @classmethod
    def from_dict(cls, data: Any) -> InputSchema:
        """The schema :meth:`to_dict` gave; raises :class:`~prodready.DataError` if invalid."""
        if not isinstance(data, dict) or not isinstance(data.get("columns"), list):
            raise DataError("an input schema must be a JSON object with a 'columns' list")
        if data.get("version") != SCHEMA_VERSION:
            raise DataError(
                f"input schema version {data.get('version')!r} is not supported "
                f"(this prodready reads version {SCHEMA_VERSION})"
            )
        rules: list[ColumnRule] = []
        for number, item in enumerate(data["columns"]):
            try:
                rule = ColumnRule(**item)
                if rule.kind not in ("numeric", "categorical"):
                    raise ValueError(f"kind {rule.kind!r}")
                _numpy_dtype(rule.dtype)
            except (TypeError, ValueError) as exc:
                raise DataError(f"input schema column {number} is invalid: {exc}") from None
            rules.append(rule)
        return cls(rules, tolerance=float(data.get("tolerance", DEFAULT_TOLERANCE)))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the schema as JSON to ``path`` (atomically); return the path."""
        text = json.dumps(self.to_dict(), indent=1, allow_nan=False)
        return atomic_write(path, text + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> InputSchema:
        """Read a schema :meth:`save` wrote; a clear :class:`~prodready.DataError` otherwise."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise DataError(f"cannot read the input schema {shown(path)}: {exc}") from None
        except ValueError as exc:
            raise DataError(f"the input schema {shown(path)} is not JSON: {exc}") from None
        return cls.from_dict(data)


# -- learning one column ----------------------------------------------------------------------


def _learn_column(name: str, series: pd.Series, categorical: bool, tolerance: float) -> ColumnRule:
    missing = series.isna().to_numpy()
    missing_rate = float(missing.mean())
    allow = bool(missing.any())
    dtype = str(series.dtype)
    present = series[~missing]
    is_bool = pd.api.types.is_bool_dtype(series.dtype)
    is_number = pd.api.types.is_numeric_dtype(series.dtype) and not is_bool
    # A bool column is numeric (0 or 1) even when named categorical: its two values are the
    # categories, and bools are numbers to numpy and to the model.
    if is_bool or (not categorical and is_number):
        values = present.to_numpy(dtype=np.float64)
        if is_bool:
            low, high = 0.0, 1.0
        elif values.size == 0:
            return ColumnRule(name, "numeric", dtype, None, None, None, allow, missing_rate)
        else:
            finite = values[np.isfinite(values)]
            if finite.size == 0:
                raise DataError(f"reference column {name!r} has no finite numbers")
            low, high = _widen(float(finite.min()), float(finite.max()), tolerance)
        return ColumnRule(name, "numeric", dtype, low, high, None, allow, missing_rate)
    uniques = pd.unique(present.to_numpy(dtype=object))
    strings = [value for value in uniques if isinstance(value, str)]
    if len(strings) == len(uniques):
        categories = sorted(strings)
        dtype = "str"  # object on pandas 2, str on pandas 3: the same rule either way
    elif not strings and all(
        isinstance(v, numbers.Real) and not isinstance(v, bool | np.bool_) for v in uniques
    ):
        numbers_ = sorted({float(v) for v in uniques if math.isfinite(float(v))})
        categories = [_number_text(v) for v in numbers_]
        dtype = "float64" if dtype in ("object", "category") else dtype
        if not pd.api.types.is_numeric_dtype(np.dtype(_numpy_dtype(dtype))):
            dtype = "float64"
    else:
        raise DataError(
            f"reference column {name!r} mixes strings with other values: an input schema "
            "cannot tell which kind of value is right there"
        )
    return ColumnRule(name, "categorical", dtype, None, None, categories, allow, missing_rate)


def _widen(low: float, high: float, tolerance: float) -> tuple[float, float]:
    """The accepted range from the reference range (see the module's "Accepted ranges")."""
    width = high - low
    margin = tolerance * width if width > 0 else tolerance * max(abs(low), 1.0)
    lower, upper = low - margin, high + margin
    if low >= 0:
        lower = max(lower, 0.0)
    if high <= 0:
        upper = min(upper, 0.0)
    return lower, upper


def _number_text(value: float) -> str:
    """A category number as text: ``3`` for 3.0, ``2.5`` for 2.5."""
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def _numpy_dtype(text: str) -> str:
    """A dtype name numpy understands (pandas' ``str``/``string``/``category`` -> object)."""
    try:
        return np.dtype(text).name
    except TypeError:
        return "object"


# -- checking one column ----------------------------------------------------------------------


def _shown(value: Any) -> str:
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= 60 else text[:59] + "…"


def _bound(value: float) -> str:
    return f"{value:.6g}"


class _Compiled:
    """A column rule made ready for fast checks (bounds, sorted category arrays)."""

    def __init__(self, rule: ColumnRule) -> None:
        self.rule = rule
        self.name = rule.name
        self.low = -np.inf if rule.minimum is None else float(rule.minimum)
        self.high = np.inf if rule.maximum is None else float(rule.maximum)
        self.is_bool = rule.dtype in ("bool", "boolean")
        biggest = float(np.finfo(np.float64).max)
        self.fast_low = max(self.low, -biggest)
        self.fast_high = min(self.high, biggest)
        cats = rule.categories or []
        self.strings = np.array(sorted(cats), dtype=object)
        self.string_set = frozenset(cats) if not rule.numeric_categories else frozenset()
        self.number_codes = np.array(
            sorted(float(c) for c in cats) if rule.numeric_categories else [], dtype=np.float64
        )
        self.missing_message = (
            "missing value; the reference had none in this column" if not rule.allow_missing else ""
        )

    def check(self, column: int, array: _Array | Any | None, check: _Check) -> list[Any] | None:
        """Check one column; return its canonical values when a fast path already has them."""
        n = check.n_rows
        if array is None:
            check.add(
                column,
                np.arange(n),
                "missing_column",
                self.name,
                None,
                f"column {self.name!r} is missing from the request",
            )
            return None
        if self.rule.kind == "numeric":
            self._numeric(column, array, check)
            return None
        if self.string_set:
            # Every value a known category (so a string, never missing): one set operation,
            # in C, for the whole column. Unhashable values fall through to the full check.
            # (list() of a pandas extension array is about twice as fast as its tolist().)
            values = array.tolist() if isinstance(array, np.ndarray) else list(array)
            try:
                if self.string_set.issuperset(values):
                    return list(values)
            except TypeError:
                pass
        self._categorical(column, array, check)
        return None

    # numeric ---------------------------------------------------------------------------------

    def _numeric(self, column: int, array: _Array | Any, check: _Check) -> None:
        values = _as_numpy(array)
        kind = values.dtype.kind
        if kind == "b":
            if not self.is_bool:
                rows = np.arange(values.size)
                check.add(
                    column,
                    rows,
                    "wrong_type",
                    self.name,
                    values.tolist(),
                    lambda v: f"{_shown(v)} is a bool, expected a number",
                )
            return
        if kind in "iuf":
            self.numbers(column, values.astype(np.float64, copy=False), check)
            return
        # Object values: all numbers (and missing) is converted at once; anything else is
        # sorted out value by value (a string among numbers: invalid data).
        objects = values if kind == "O" else values.astype(object)
        inferred = pd.api.types.infer_dtype(objects, skipna=True)
        if inferred in ("integer", "floating", "mixed-integer-float", "empty"):
            numbers_ = pd.to_numeric(pd.Series(objects, copy=False), errors="coerce")
            self.numbers(column, numbers_.to_numpy(dtype=np.float64, na_value=np.nan), check)
            return
        floats = np.full(objects.size, np.nan)
        wrong: list[int] = []
        for row, value in enumerate(objects.tolist()):
            if isinstance(value, bool | np.bool_):
                if self.is_bool:
                    floats[row] = float(value)
                else:
                    wrong.append(row)
            elif isinstance(value, numbers.Real):
                floats[row] = float(value)
            elif value is None or value is pd.NA or value is pd.NaT:
                pass
            else:
                wrong.append(row)
        if wrong:
            rows = np.array(wrong, dtype=np.intp)
            check.add(
                column,
                rows,
                "wrong_type",
                self.name,
                objects[rows].tolist(),
                lambda v: f"{_shown(v)} is a {type(v).__name__}, expected a number",
            )
            keep = np.ones(objects.size, dtype=bool)
            keep[rows] = False
            floats[rows] = 0.0  # not checked again below
            self.numbers(column, floats, check, skip=~keep)
        else:
            self.numbers(column, floats, check)

    def numbers(
        self,
        column: int,
        values: npt.NDArray[np.float64],
        check: _Check,
        skip: npt.NDArray[np.bool_] | None = None,
    ) -> None:
        nan = np.isnan(values)
        if skip is not None:
            nan &= ~skip
        if nan.any() and not self.rule.allow_missing:
            check.add(
                column, np.flatnonzero(nan), "missing_value", self.name, None, self.missing_message
            )
        with np.errstate(invalid="ignore"):
            infinite = np.isinf(values)
            out = ~infinite & ((values < self.low) | (values > self.high))
        if skip is not None:
            infinite &= ~skip
            out &= ~skip
        if infinite.any():
            rows = np.flatnonzero(infinite)
            check.add(
                column,
                rows,
                "not_finite",
                self.name,
                values[rows].tolist(),
                lambda v: f"{_shown(v)} is not a finite number",
            )
        if out.any():
            rows = np.flatnonzero(out)
            check.add(
                column, rows, "out_of_range", self.name, values[rows].tolist(), self._range_message
            )

    def _range_message(self, value: float) -> str:
        if value < self.low:
            return f"{_shown(value)} is below the accepted minimum {_bound(self.low)}"
        return f"{_shown(value)} is above the accepted maximum {_bound(self.high)}"

    # categorical ----------------------------------------------------------------------------

    def _categorical(self, column: int, array: _Array | Any, check: _Check) -> None:
        values = _as_numpy(array)
        kind = values.dtype.kind
        if self.rule.numeric_categories:
            self._numeric_codes(column, values, check)
            return
        if kind in "biuf":  # numbers (or bools) where categories (strings) belong
            missing = np.isnan(values) if kind == "f" else np.zeros(values.size, dtype=bool)
            self._missing(column, missing, check)
            rows = np.flatnonzero(~missing)
            check.add(
                column,
                rows,
                "wrong_type",
                self.name,
                values[rows].tolist(),
                lambda v: f"{_shown(v)} is a number, expected one of the categories",
            )
            return
        objects = values if kind == "O" else values.astype(object)
        inferred = pd.api.types.infer_dtype(objects, skipna=False)
        if inferred == "string":  # all strings, nothing missing: the usual case
            self._members(column, objects, np.arange(objects.size), check)
            return
        missing = np.asarray(pd.isna(objects), dtype=bool)
        self._missing(column, missing, check)
        present = np.flatnonzero(~missing)
        if present.size == 0:
            return
        kept = objects[present]
        if pd.api.types.infer_dtype(kept, skipna=False) != "string":
            is_string = np.fromiter((isinstance(v, str) for v in kept.tolist()), bool, kept.size)
            wrong = present[~is_string]
            check.add(
                column,
                wrong,
                "wrong_type",
                self.name,
                objects[wrong].tolist(),
                lambda v: f"{_shown(v)} is a {type(v).__name__}, expected a category",
            )
            present = present[is_string]
            kept = objects[present]
        self._members(column, kept, present, check)

    def _members(
        self, column: int, values: _Array, rows: npt.NDArray[np.intp], check: _Check
    ) -> None:
        """Flag the strings ``values`` (at ``rows``) that are not known categories."""
        cats = self.strings
        if cats.size == 0:
            known = np.zeros(values.size, dtype=bool)
        else:
            # Binary search in the sorted categories: vectorised and cheap for any n.
            index = np.minimum(np.searchsorted(cats, values), cats.size - 1)
            known = np.asarray(cats[index] == values, dtype=bool)
        if not known.all():
            unseen = rows[~known]
            check.add(
                column,
                unseen,
                "unseen_category",
                self.name,
                values[~known].tolist(),
                lambda v: f"{_shown(v)} is not a category of the reference",
            )

    def _numeric_codes(self, column: int, values: _Array, check: _Check) -> None:
        """A categorical column whose categories are numbers: membership among them."""
        kind = values.dtype.kind
        if kind in "iuf":
            floats = values.astype(np.float64, copy=False)
        else:
            objects = values.astype(object, copy=False)
            floats = np.full(objects.size, np.nan)
            wrong: list[int] = []
            for row, value in enumerate(objects.tolist()):
                if isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_):
                    floats[row] = float(value)
                elif not (value is None or value is pd.NA or value is pd.NaT):
                    wrong.append(row)
            rows = np.array(wrong, dtype=np.intp)
            check.add(
                column,
                rows,
                "wrong_type",
                self.name,
                objects[rows].tolist(),
                lambda v: f"{_shown(v)} is a {type(v).__name__}, expected a category",
            )
            floats[rows] = 0.5  # never a match below, and not missing; already flagged
            if rows.size:
                kept = np.ones(floats.size, dtype=bool)
                kept[rows] = False
                self._code_members(column, floats, kept, check)
                return
        self._code_members(column, floats, np.ones(floats.size, dtype=bool), check)

    def _code_members(
        self,
        column: int,
        floats: npt.NDArray[np.float64],
        kept: npt.NDArray[np.bool_],
        check: _Check,
    ) -> None:
        missing = np.isnan(floats) & kept
        self._missing(column, missing, check)
        unseen = kept & ~missing & ~np.isin(floats, self.number_codes)
        rows = np.flatnonzero(unseen)
        check.add(
            column,
            rows,
            "unseen_category",
            self.name,
            floats[rows].tolist(),
            lambda v: f"{_shown(v)} is not a category of the reference",
        )

    def _missing(self, column: int, missing: npt.NDArray[np.bool_], check: _Check) -> None:
        if not self.rule.allow_missing and missing.any():
            check.add(
                column,
                np.flatnonzero(missing),
                "missing_value",
                self.name,
                None,
                self.missing_message,
            )


def _as_numpy(array: _Array | Any) -> _Array:
    """A column as a numpy array; extension arrays of numbers become float with NaN."""
    if isinstance(array, np.ndarray):
        return array
    dtype = getattr(array, "dtype", None)
    if dtype is not None and pd.api.types.is_bool_dtype(dtype) and not array.isna().any():
        return np.asarray(array, dtype=bool)
    if (
        dtype is not None
        and pd.api.types.is_numeric_dtype(dtype)
        and not (pd.api.types.is_bool_dtype(dtype))
    ):
        return np.asarray(array.to_numpy(dtype=np.float64, na_value=np.nan))
    return np.asarray(array, dtype=object)
