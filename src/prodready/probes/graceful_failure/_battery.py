"""The battery of unexpected inputs: generated from the reference data, never from names.

Each :class:`Case` is one request to the system: a frame (sent with
:meth:`prodready.adapters.Client.predict`) or, over HTTP only, a raw body (sent with
:meth:`~prodready.adapters.Client.send`). A case says whether its input is *nonsense* (the
system must refuse it or answer it with a declared safe default), a *valid* edge case (it
must be answered), or *either* (an empty batch, a wrong content type: answering and refusing
are both fine, crashing is not).

The cases are generated per column *class*, from a profile of the reference data
(:class:`Profile`): numeric columns that are never missing get NaN and None, columns that are
never negative get a negative value, categorical columns get unseen categories, garbage and
very long text, and so on. Each kind is tried in at most ``columns_per_kind`` columns, picked
with the run's seed; nothing is tied to a column name. Frames of nonsense cases hold
``rows_per_case`` valid reference rows with the bad value in the middle one, so a system that
checks only the first row of a batch is caught.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from prodready._settings import quote
from prodready.probes.graceful_failure._settings import GracefulFailureSettings

__all__ = ["Battery", "Case", "Expect", "Profile", "build_battery"]

#: What a correct system does with a case's input:
#:
#: - ``nonsense``: refuses it with a clear error, or answers every nonsense row with a
#:   declared safe default; a normal answer is silent garbage;
#: - ``valid``: answers it (a valid edge case: one row, a large batch, extra or reordered
#:   columns); refusing it is a WARN (the system turns away good requests);
#: - ``either``: answering and refusing are both fine (an empty batch, a wrong content type).
#:
#: A crash (an exception, a 5xx, a dropped connection, a time-out) is wrong for every case.
Expect = Literal["nonsense", "valid", "either"]

#: Text that is no number and no category: control characters, an ANSI escape, markup, a
#: right-to-left override and SQL. It must reach the system as it is (and the report escaped).
GARBAGE = "\x00\x1b[31m<script>alert(1)</script>\u202e'; DROP TABLE decisions; --"
TEXT_IN_NUMBER = "not a number"
NUMBER_IN_CATEGORY = 12345
EXTRA_COLUMN = "unexpected_extra_column"
# A seed salt, so that the battery's draws are not those of other probes with the same seed.
_SALT = 0x51_47  # "Q2"


@dataclass(frozen=True)
class Case:
    """One request of the battery and what a correct system does with it.

    ``name`` identifies it in the report ("NaN in income"); ``kind`` is the kind of input
    ("nan", "unseen_category"...); ``input`` says briefly what was sent (escaped, bounded).
    ``frame`` is sent with ``predict``, or ``body`` (with ``content_type``) with ``send``
    (HTTP only). ``nonsense_rows`` are the positions of the nonsense rows of ``frame`` (empty:
    every row, or the whole request, is nonsense); ``column`` the column the bad value is in.
    """

    name: str
    kind: str
    expect: Expect
    input: str
    frame: pd.DataFrame | None = None
    body: bytes | None = None
    content_type: str = "application/json"
    nonsense_rows: tuple[int, ...] = ()
    column: str | None = None

    @property
    def http_only(self) -> bool:
        """True for a raw request body (sent with ``send``; no in-process equivalent)."""
        return self.body is not None


@dataclass
class Battery:
    """The cases to send, and the kinds left out with the reason (for the report)."""

    cases: list[Case] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Profile:
    """What the battery needs to know of one feature, read from the reference data.

    ``numeric`` (else categorical, as the system declares it); ``number_dtype`` when its
    reference values are numbers (a categorical column may hold codes), ``integer_dtype``
    when they are integers (a count); ``minimum`` and ``maximum`` of its finite values
    (numeric columns only); ``has_missing`` when some reference row lacks it;
    ``categories`` its distinct values as text (categorical only).
    """

    name: str
    numeric: bool
    number_dtype: bool
    integer_dtype: bool
    minimum: float | None
    maximum: float | None
    has_missing: bool
    categories: frozenset[str]

    @classmethod
    def of(cls, column: pd.Series, numeric: bool) -> Profile:
        """The profile of one reference column."""
        number_dtype = bool(
            pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
        )
        minimum = maximum = None
        if numeric and number_dtype:
            values = column.to_numpy(dtype=np.float64, na_value=np.nan)
            finite = values[np.isfinite(values)]
            if len(finite):
                minimum, maximum = float(finite.min()), float(finite.max())
        categories: frozenset[str] = frozenset()
        if not numeric:
            categories = frozenset(str(v) for v in column.dropna().unique())
        return cls(
            name=str(column.name),
            numeric=numeric,
            number_dtype=number_dtype,
            integer_dtype=bool(number_dtype and pd.api.types.is_integer_dtype(column)),
            minimum=minimum,
            maximum=maximum,
            has_missing=bool(column.isna().any()),
            categories=categories,
        )


def build_battery(
    reference: pd.DataFrame,
    features: list[str],
    categorical: list[str],
    settings: GracefulFailureSettings,
    seed: int,
    *,
    encode: Callable[[pd.DataFrame], bytes] | None = None,
    content_type: str = "application/json",
) -> Battery:
    """The battery for a system whose model takes ``features`` of ``reference``.

    ``encode`` (an HTTP client's :meth:`encode`) turns a frame into the request body the
    protocol wants; given, the raw-HTTP cases are added (malformed JSON, wrong payload shapes,
    a wrong content type), built from a valid body so that they fit any protocol.
    """
    x = reference[features]
    profiles = [Profile.of(x[c], c not in categorical) for c in features]
    rng = np.random.default_rng([_SALT, seed])
    # Valid rows to carry the bad values: complete rows when there are (a row missing a
    # value already would blur what the system objects to).
    complete = x[x.notna().all(axis=1)]
    pool = complete if len(complete) else x
    base = _sample(pool, settings.rows_per_case, rng)
    bad_row = len(base) // 2
    battery = Battery()
    maker = _Maker(base, bad_row, battery)
    k = settings.columns_per_kind

    numeric = [p for p in profiles if p.numeric and p.number_dtype]
    cats = [p for p in profiles if not p.numeric]
    complete_numeric = [p for p in numeric if not p.has_missing]
    ranged = [p for p in numeric if p.maximum is not None]
    never_negative = [p for p in ranged if p.minimum is not None and p.minimum >= 0]
    text_categories = [p for p in cats if not p.number_dtype]

    for p in _pick(rng, profiles, k):
        maker.missing_column(p)
    maker.valid_frame(
        "extra column",
        "extra_column",
        base.assign(**{_extra_name(features): np.arange(len(base))}),
        f"the features plus a column {_extra_name(features)!r}",
    )
    if len(features) > 1:
        maker.valid_frame(
            "reordered columns",
            "reordered_columns",
            base[features[::-1]],
            "the features in reverse order",
        )
    else:
        battery.left_out.append("reordered columns: the model takes a single feature")
    for p in _pick(rng, numeric, k):
        maker.value(p, "text_in_number", f"text in {p.name}", TEXT_IN_NUMBER)
    for p in _pick(rng, text_categories, k):
        maker.value(p, "number_in_category", f"number in {p.name}", NUMBER_IN_CATEGORY)
    if complete_numeric:
        for p in _pick(rng, complete_numeric, k):
            maker.value(p, "nan", f"NaN in {p.name}", np.nan)
        for p in _pick(rng, complete_numeric, k):
            maker.value(p, "none", f"None in {p.name}", None)
    elif numeric:
        battery.left_out.append(
            "NaN and None: every numeric feature has missing values in the reference, so a "
            "missing number is expected input"
        )
    for p in _pick(rng, numeric, k):
        maker.value(p, "pos_inf", f"+inf in {p.name}", np.inf)
    for p in _pick(rng, numeric, k):
        maker.value(p, "neg_inf", f"-inf in {p.name}", -np.inf)
    # Nonsense whatever the reference allowed: no model can decide on nothing.
    maker.all_missing(profiles)
    for p in _pick(rng, ranged, k):
        assert p.maximum is not None and p.minimum is not None
        span = max(p.maximum - p.minimum, abs(p.maximum), 1.0)
        maker.value(p, "extreme", f"extreme value in {p.name}", _number(p, p.maximum + 1e3 * span))
    for p in _pick(rng, never_negative, k):
        assert p.maximum is not None
        maker.value(p, "negative", f"negative value in {p.name}", _number(p, -max(p.maximum, 1)))
    if numeric and not never_negative:
        battery.left_out.append("negative values: every numeric feature has negative values")
    for p in _pick(rng, cats, k):
        maker.value(p, "unseen_category", f"unseen category in {p.name}", _unseen(p))
    for p in _pick(rng, cats, k):
        maker.value(p, "garbage_text", f"garbage text in {p.name}", GARBAGE)
    for p in _pick(rng, cats, k):
        long = "A" * settings.long_string
        maker.value(p, "long_text", f"very long text in {p.name}", long)
    if not numeric:
        battery.left_out.append("bad numbers (NaN, infinities, extremes): no numeric feature")
    if not cats:
        battery.left_out.append("unseen categories and text: no categorical feature")
    battery.cases.append(
        Case(
            "empty batch",
            "empty_batch",
            "either",
            "no rows (the feature columns only)",
            frame=base.iloc[:0].copy(),
        )
    )
    maker.valid_frame("one row", "one_row", base.iloc[:1].copy(), "one valid reference row")
    large = _sample(pool, settings.large_batch, rng, replace=True)
    maker.valid_frame(
        f"large batch ({settings.large_batch:,} rows)",
        "large_batch",
        large,
        f"{settings.large_batch:,} valid reference rows",
    )
    if encode is None:
        battery.left_out.append(
            "malformed JSON, wrong payload shapes and a wrong content type: HTTP only (the "
            "system is called in-process)"
        )
    else:
        battery.cases += _raw_cases(encode(base), content_type)
    return battery


class _Maker:
    """Builds the frame cases on copies of the base rows."""

    def __init__(self, base: pd.DataFrame, bad_row: int, battery: Battery) -> None:
        self.base, self.bad_row, self.battery = base, bad_row, battery

    def _where(self) -> str:
        return f"row {self.bad_row + 1} of {len(self.base)}"

    def valid_frame(self, name: str, kind: str, frame: pd.DataFrame, text: str) -> None:
        self.battery.cases.append(Case(name, kind, "valid", text, frame=frame.copy()))

    def missing_column(self, p: Profile) -> None:
        self.battery.cases.append(
            Case(
                f"missing column {p.name}",
                "missing_column",
                "nonsense",
                f"every feature but {p.name}",
                frame=self.base.drop(columns=[p.name]),
                column=p.name,
            )
        )

    def value(self, p: Profile, kind: str, name: str, value: Any) -> None:
        frame = self.base.copy()
        _put(frame, p.name, self.bad_row, value)
        self.battery.cases.append(
            Case(
                name,
                kind,
                "nonsense",
                f"{p.name} = {_shown(value)} ({self._where()})",
                frame=frame,
                nonsense_rows=(self.bad_row,),
                column=p.name,
            )
        )

    def all_missing(self, profiles: list[Profile]) -> None:
        frame = self.base.copy()
        for p in profiles:
            missing: Any = np.nan if p.numeric and p.number_dtype else None
            _put(frame, p.name, self.bad_row, missing)
        self.battery.cases.append(
            Case(
                "all-missing row",
                "all_missing",
                "nonsense",
                f"every feature missing ({self._where()})",
                frame=frame,
                nonsense_rows=(self.bad_row,),
            )
        )


def _raw_cases(valid: bytes, content_type: str) -> list[Case]:
    """Requests no frame can express: they test the server's parsing, not the model."""
    cut = valid[: max(1, len(valid) // 2)]
    try:
        document = json.loads(valid)
    except ValueError:
        document = None
    cases = [
        Case(
            "malformed JSON",
            "malformed_json",
            "nonsense",
            f"a valid request cut in half: {_shown(cut[:60].decode('utf-8', 'replace'))}…",
            body=cut,
            content_type=content_type,
        ),
        Case(
            "a JSON list as the payload",
            "json_list",
            "nonsense",
            "[1, 2, 3]",
            body=b"[1, 2, 3]",
            content_type=content_type,
        ),
        Case(
            "an empty JSON object",
            "empty_object",
            "nonsense",
            "{}",
            body=b"{}",
            content_type=content_type,
        ),
    ]
    if isinstance(document, dict) and document:
        renamed = {f"unknown_{key}": value for key, value in document.items()}
        keys = ", ".join(sorted(renamed))
        cases.append(
            Case(
                "wrong protocol key",
                "wrong_key",
                "nonsense",
                f"a valid request with its keys renamed: {_shown(keys)}",
                body=json.dumps(renamed).encode(),
                content_type=content_type,
            )
        )
    cases.append(
        Case(
            "wrong content type",
            "wrong_content_type",
            "either",
            "a valid request sent as text/plain",
            body=valid,
            content_type="text/plain",
        )
    )
    return cases


def _pick(rng: np.random.Generator, profiles: list[Profile], k: int) -> list[Profile]:
    """At most ``k`` of ``profiles``, drawn with ``rng``, in their order."""
    if len(profiles) <= k:
        return list(profiles)
    chosen = set(rng.choice(len(profiles), size=k, replace=False).tolist())
    return [p for i, p in enumerate(profiles) if i in chosen]


def _sample(
    pool: pd.DataFrame, n: int, rng: np.random.Generator, *, replace: bool = False
) -> pd.DataFrame:
    take = rng.choice(len(pool), size=n if replace else min(n, len(pool)), replace=replace)
    return pool.iloc[np.sort(take)].reset_index(drop=True)


def _put(frame: pd.DataFrame, name: str, row: int, value: Any) -> None:
    """Set ``frame[name]`` at position ``row`` to ``value`` exactly (see :func:`_holding`)."""
    column = _holding(frame[name], value).copy()
    column.iloc[row] = value
    frame[name] = column


def _holding(column: pd.Series, value: Any) -> pd.Series:
    """``column`` with a dtype that can hold ``value`` as it is.

    A float column takes any number (NaN and infinities too), an integer column an integer;
    an integer column gets a float dtype for a float, and anything else goes into an object
    column (pandas 3's string dtype refuses a number), so the system receives exactly the
    value of the case.
    """
    number = isinstance(value, int | float | np.number) and not isinstance(value, bool)
    if number and pd.api.types.is_float_dtype(column):
        return column
    if number and pd.api.types.is_integer_dtype(column):
        return column if isinstance(value, int | np.integer) else column.astype(np.float64)
    return column.astype(object)


def _number(p: Profile, value: float) -> float | int:
    """``value`` as an integer when the column holds integers (a count stays a count)."""
    return round(value) if p.integer_dtype else float(value)


def _unseen(p: Profile) -> str:
    value, n = "unseen-category", 1
    while value in p.categories:
        n += 1
        value = f"unseen-category-{n}"
    return value


def _extra_name(features: list[str]) -> str:
    name = EXTRA_COLUMN
    while name in features:
        name += "_"
    return name


def _shown(value: Any) -> str:
    """A value as the report shows it: escaped (repr), and long text by its length."""
    if isinstance(value, str) and len(value) > 60:
        return f"{value[:4]!r}… ({len(value):,} characters)"
    if isinstance(value, float) and not np.isfinite(value):
        return "NaN" if np.isnan(value) else ("+inf" if value > 0 else "-inf")
    return quote(value, 80)
