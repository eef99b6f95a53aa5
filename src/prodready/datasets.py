"""Parquet datasets larger than memory: a lazy handle, and the stratified sample in memory.

A spec's ``data.reference`` or ``data.current`` may be a Parquet file or a folder of Parquet
files (one dataset: every file has the same columns and types). :func:`load_data` reads it:

* a CSV file, or a Parquet file of at most ``data.sample_rows`` rows: exactly as before
  (:func:`prodready.system.load_table`), the whole table in memory, no handle;
* a Parquet folder, or a Parquet file of more rows: a :class:`ParquetSource` (the lazy handle
  of the whole dataset: its files, schema and row counts, read only from the files' footers)
  and, for everything that predicts, a DataFrame of at most ``sample_rows`` rows. Above
  ``sample_rows`` that frame is a deterministic stratified sample: the target column alone is
  read to choose the rows (strata: its values, or ten quantile bins of a numeric target with
  more than :data:`MAX_CLASSES` values; uniform without a target), each stratum gets its
  share of ``sample_rows`` (largest remainders), the rows are drawn without replacement with
  ``numpy.random.default_rng((seed, 20_241_127))``, and the table is then read one column of
  one file at a time, keeping (``take``) the chosen rows. The memory this needs is the sample
  plus one column of one file.

The drift test of the monitoring probe (Q3) reads the handle column by column
(:func:`prodready.drift.detect_columns`); the other probes work on the sample, and their
findings say so (:func:`sample_note`).

A folder's files are its regular files, found recursively and taken in order of their
relative paths; names starting with ``.`` or ``_`` (``_SUCCESS``, ``_metadata``, hidden files)
are skipped, as pyarrow's datasets skip them. Its artifact digest (:func:`dataset_digest`) is
the sha256 of the lines ``<relative path>\\0<sha256 of the file>\\n`` of those files in that
order: the digest of :func:`prodready.system._sha256_tree`, over the dataset's files only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from prodready._exceptions import DataError, SpecError
from prodready._settings import is_integer, quote
from prodready.system import (
    Artifact,
    _library,
    file_kind,
    load_table,
    quote_path,
    sha256_file,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from prodready.system import System

__all__ = [
    "DEFAULT_SAMPLE_ROWS",
    "ParquetSource",
    "check_sample_rows",
    "dataset_digest",
    "load_data",
    "open_parquet",
    "sample_note",
]

#: Default ``data.sample_rows``: the most rows of a Parquet dataset held in memory (a
#: million rows of 25 float columns is 200 MB) for the checks that predict.
DEFAULT_SAMPLE_ROWS = 1_000_000
#: Bounds of ``data.sample_rows``.
MIN_SAMPLE_ROWS = 1_000
MAX_SAMPLE_ROWS = 100_000_000
#: A target with at most this many distinct values is stratified on its values; a numeric
#: target with more (a regression target) on ten quantile bins.
MAX_CLASSES = 100
_SAMPLE_SALT = 20_241_127
_PARQUET_MAGIC = b"PAR1"
_SUFFIXES = (".parquet", ".pq")
#: Rows per batch when a column is read in batches (2 MiB of float64).
_BATCH_ROWS = 1 << 18
#: Value counts of batches are merged once they hold this many labels in all.
_MERGE_LABELS = 1 << 20


def check_sample_rows(value: Any, source: str = "<python>") -> int:
    """``value`` as a valid ``data.sample_rows``, else a SpecError naming the field."""
    if not is_integer(value) or not MIN_SAMPLE_ROWS <= value <= MAX_SAMPLE_ROWS:
        raise SpecError(
            f"is {quote(value)}",
            source=source,
            field="data.sample_rows",
            expected=f"a whole number of rows from {MIN_SAMPLE_ROWS:,} to {MAX_SAMPLE_ROWS:,}",
        )
    return int(value)


@dataclass(frozen=True)
class ParquetSource:
    """The lazy handle of a Parquet dataset (a file or a folder of files): nothing is loaded.

    ``location`` is the file or folder the spec named, ``files`` its Parquet files in order
    and ``file_rows`` their row counts; ``num_rows`` their sum. ``schema`` is the files'
    common schema; ``data_columns`` its columns without a stored pandas index.
    ``sample_rows`` is the number of rows of the frame held in memory for the system (equal to
    ``num_rows`` when the whole dataset fitted in ``data.sample_rows``) and ``stratified_on``
    the column that sample was stratified on (None: uniform, or not sampled).
    ``field_name`` is the spec field that named it (``data.reference``).

    It is a :class:`prodready.drift.ColumnSource`: the drift test reads it one column at a
    time.
    """

    location: Path
    files: tuple[Path, ...]
    file_rows: tuple[int, ...]
    schema: pa.Schema
    data_columns: tuple[str, ...]
    num_rows: int
    field_name: str = "data"
    sample_rows: int = 0
    stratified_on: str | None = None

    @property
    def sampled(self) -> bool:
        """Whether the frame in memory is a sample (fewer rows than the dataset)."""
        return 0 < self.sample_rows < self.num_rows

    def describe(self) -> dict[str, Any]:
        """JSON-ready: where, how many files and rows, and the sample in memory."""
        return {
            "location": str(self.location),
            "files": len(self.files),
            "rows": self.num_rows,
            "sample_rows": self.sample_rows,
            "stratified_on": self.stratified_on,
        }

    # -- ColumnSource --------------------------------------------------------------------

    def columns(self) -> list[str]:
        """The dataset's columns (a stored pandas index left out)."""
        return list(self.data_columns)

    def _type(self, name: str) -> pa.DataType:
        return self.schema.field(name).type

    def is_numeric(self, name: str) -> bool:
        """Integers, floats and booleans are numbers (as pandas would read them)."""
        import pyarrow as pa

        kind = self._type(name)
        return bool(
            pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
        )

    def type_name(self, name: str) -> str:
        """The column's Parquet (Arrow) type."""
        return str(self._type(name))

    def batches(self, name: str, *, dictionary: bool = False) -> Iterator[pa.Array]:
        """Column ``name`` in row order, one Arrow array of at most :data:`_BATCH_ROWS` rows
        at a time; with ``dictionary``, a string column as Parquet stores it (dictionary
        encoded: no string per row)."""
        import pyarrow.parquet as pq

        for path in self.files:
            handle = pq.ParquetFile(
                path,
                pre_buffer=False,  # one row group at a time
                read_dictionary=[name] if dictionary else None,
            )
            try:
                for batch in handle.iter_batches(
                    batch_size=_BATCH_ROWS, columns=[name], use_threads=False
                ):
                    yield batch.column(0)
            finally:
                handle.close()

    def float_batches(self, name: str) -> Iterator[npt.NDArray[np.float64]]:
        """Column ``name`` as float64 arrays (nulls as NaN), in row order."""
        for array in self.batches(name):
            yield _floats(array)

    def floats(self, name: str) -> npt.NDArray[np.float64]:
        """Column ``name`` whole as a fresh float64 array, filled batch by batch: the column's
        memory and one batch, never an Arrow copy of the whole column beside it."""
        out = np.empty(self.num_rows, dtype=np.float64)
        start = 0
        for values in self.float_batches(name):
            out[start : start + values.shape[0]] = values
            start += values.shape[0]
        return out

    def value_counts(self, name: str) -> pd.Series:
        """Counts of the non-missing values of column ``name``, counted batch by batch (exact;
        the memory of one batch and of the counts), in order of first appearance."""
        import pyarrow as pa

        kind = self._type(name)
        strings = pa.types.is_string(kind) or pa.types.is_large_string(kind)
        parts: list[pd.Series] = []
        pending = 0
        for array in self.batches(name, dictionary=strings):
            parts.append(_value_counts(array))
            pending += len(parts[-1])
            if pending > _MERGE_LABELS:  # bounded memory with many distinct values
                parts = [_merge_counts(parts)]
                pending = len(parts[0])
        return _merge_counts(parts)


def _merge_counts(parts: list[pd.Series]) -> pd.Series:
    """The sum of value counts, labels in order of first appearance."""
    if not parts:
        return pd.Series([], dtype=np.int64)
    if len(parts) == 1:
        return parts[0]
    merged: pd.Series = pd.concat(parts).groupby(level=0, sort=False).sum()
    return merged


def _value_counts(array: pa.Array) -> pd.Series:
    """``value_counts(dropna=True, sort=False)`` of an Arrow array, index of plain objects.

    Counted by Arrow (no Python object per row) for dictionary-encoded values, strings,
    integers and booleans, whose distinct values then become the labels pandas would give (in
    order of first appearance, as pandas counts); by pandas otherwise.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = array.type
    if (
        pa.types.is_dictionary(kind)
        or pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_integer(kind)
        or pa.types.is_boolean(kind)
    ):
        counted = pc.value_counts(array)  # distinct values in order of first appearance
        labels = counted.field("values").to_pandas()
        counts = pd.Series(
            np.asarray(counted.field("counts"), dtype=np.int64),
            index=pd.Index(list(labels), dtype=object),
        )
        kept: pd.Series = counts[~pd.isna(labels).to_numpy()]
        return kept
    counted_by_pandas: pd.Series = array.to_pandas().value_counts(dropna=True, sort=False)
    counted_by_pandas.index = pd.Index(list(counted_by_pandas.index), dtype=object)
    return counted_by_pandas


def _floats(array: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.float64]:
    """An Arrow numeric array as float64 (nulls as NaN), converted as pandas converts it."""
    import pyarrow as pa

    if not pa.types.is_floating(array.type) or array.type != pa.float64():
        array = array.cast(pa.float64(), safe=False)
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.float64)


def _data_files(folder: Path, field_name: str, source: str) -> list[Path]:
    files = sorted(
        (
            p
            for p in folder.rglob("*")
            if p.is_file()
            and not any(part.startswith((".", "_")) for part in p.relative_to(folder).parts)
        ),
        key=lambda p: p.relative_to(folder).as_posix(),
    )
    if not files:
        # The message of a directory given where a file was expected, as before folders were
        # datasets: nothing in it is data.
        raise SpecError(
            f"{quote_path(folder)} is a directory",
            source=source,
            field=field_name,
            expected="a readable CSV or Parquet file",
        )
    return files


def _is_parquet(path: Path) -> bool:
    """Whether the file starts and ends with Parquet's magic bytes."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
            handle.seek(-4, 2)
            tail = handle.read(4)
    except OSError:
        return False
    return head == _PARQUET_MAGIC and tail == _PARQUET_MAGIC


def _index_columns(schema: pa.Schema) -> set[str]:
    """Columns holding a pandas index stored by ``DataFrame.to_parquet``."""
    meta = (schema.metadata or {}).get(b"pandas")
    if not meta:
        return set()
    try:
        return {c for c in json.loads(meta).get("index_columns", []) if isinstance(c, str)}
    except (ValueError, AttributeError):
        return set()


def open_parquet(
    path: str | Path, *, field_name: str = "data", source: str = "<python>"
) -> ParquetSource:
    """The :class:`ParquetSource` of a Parquet file or folder, from the files' footers only.

    One-line errors naming the field and the file: a folder without Parquet files, a file in
    it that is not Parquet, files whose columns or types differ from the first file's, a
    dataset without rows (:class:`~prodready.DataError`); a path that does not exist
    (:class:`~prodready.SpecError`).
    """
    import pyarrow.parquet as pq

    location = Path(path)
    kind = file_kind(location)
    if kind == "missing":
        raise SpecError(
            f"{quote_path(location)} does not exist",
            source=source,
            field=field_name,
            expected="a CSV or Parquet file, or a folder of Parquet files",
        )
    if kind == "directory":
        files = _data_files(location, field_name, source)
        where = location
    else:
        files, where = [location], location.parent
    schema = None
    first = files[0]
    rows: list[int] = []
    for file in files:
        shown = quote_path(file.relative_to(where).as_posix() if kind == "directory" else file)
        if not _is_parquet(file):
            inside = f" in {quote_path(location)}" if kind == "directory" else ""
            raise DataError(
                f"{source}: {field_name}: {shown}{inside} is not a Parquet file "
                "(Parquet files start and end with the bytes PAR1)"
            )
        try:
            meta = pq.read_metadata(file)
        except Exception as exc:  # pyarrow raises several types; all mean "cannot read"
            raise DataError(
                f"{source}: {field_name}: cannot read {shown}: {_library(exc, file)}"
            ) from exc
        file_schema = meta.schema.to_arrow_schema()
        if schema is None:
            schema = file_schema
        elif not file_schema.remove_metadata().equals(schema.remove_metadata()):
            raise DataError(
                f"{source}: {field_name}: {shown} does not have the columns of "
                f"{quote_path(first.relative_to(where).as_posix())}: "
                f"{_schema_difference(schema, file_schema)}"
            )
        rows.append(int(meta.num_rows))
    assert schema is not None
    if len(set(schema.names)) != len(schema.names):
        twice = sorted({n for n in schema.names if schema.names.count(n) > 1})
        raise DataError(
            f"{source}: {field_name}: {quote_path(location)} has duplicated column names: "
            + ", ".join(quote(n) for n in twice)
        )
    if sum(rows) == 0:
        raise DataError(f"{source}: {field_name}: {quote_path(location)} has no rows")
    index = _index_columns(schema)
    return ParquetSource(
        location=location,
        files=tuple(files),
        file_rows=tuple(rows),
        schema=schema,
        data_columns=tuple(n for n in schema.names if n not in index),
        num_rows=sum(rows),
        field_name=field_name,
    )


def _schema_difference(expected: pa.Schema, found: pa.Schema) -> str:
    """The first difference between two schemas, in words."""
    for name in expected.names:
        if name not in found.names:
            return f"it lacks column {quote(name)}"
        if not found.field(name).type.equals(expected.field(name).type):
            return (
                f"column {quote(name)} is {found.field(name).type} there, "
                f"{expected.field(name).type} in the first file"
            )
    extra = [n for n in found.names if n not in expected.names]
    if extra:
        return f"it has the extra column {quote(extra[0])}"
    return "its columns are in another order"


def dataset_digest(source: ParquetSource) -> str:
    """sha256 over the dataset's files: ``<relative path>\\0<sha256>\\n`` per file, in order.

    A single-file dataset's digest is the file's own sha256.
    """
    if source.files == (source.location,):
        return sha256_file(source.location)
    digest = hashlib.sha256()
    for path in source.files:
        digest.update(
            f"{path.relative_to(source.location).as_posix()}\0{sha256_file(path)}\n".encode()
        )
    return digest.hexdigest()


def load_data(
    path: str | Path,
    *,
    field_name: str = "data",
    source: str = "<python>",
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
    seed: int = 0,
    target: str | None = None,
) -> tuple[pd.DataFrame, Artifact, ParquetSource | None]:
    """Read a data file or Parquet folder: (frame in memory, artifact, handle or None).

    See the module documentation: CSV files and Parquet files of at most ``sample_rows`` rows
    are read whole as before (no handle); Parquet folders and larger Parquet files give a
    handle, and a frame that is a stratified sample (on ``target`` when the data has it) of
    ``sample_rows`` rows when the dataset has more, seeded by ``seed``.
    """
    location = Path(path)
    kind = file_kind(location)
    is_parquet_file = kind == "file" and location.suffix.lower() in _SUFFIXES
    if kind != "directory" and not is_parquet_file:
        frame, artifact = load_table(location, field_name=field_name, source=source)
        return frame, artifact, None
    if is_parquet_file:
        if location.stat().st_size == 0 or not _is_parquet(location):
            # load_table says what is wrong with it, as before.
            frame, artifact = load_table(location, field_name=field_name, source=source)
            return frame, artifact, None
        handle = open_parquet(location, field_name=field_name, source=source)
        if handle.num_rows <= sample_rows:
            frame, artifact = load_table(location, field_name=field_name, source=source)
            return frame, artifact, None
    else:
        handle = open_parquet(location, field_name=field_name, source=source)
    stratify = target if target is not None and target in handle.data_columns else None
    if handle.num_rows <= sample_rows:
        rows = None
        stratify = None
    else:
        rows = _choose_rows(handle, sample_rows, seed, stratify)
    frame = _read_rows(handle, rows, source)
    handle = ParquetSource(
        location=handle.location,
        files=handle.files,
        file_rows=handle.file_rows,
        schema=handle.schema,
        data_columns=handle.data_columns,
        num_rows=handle.num_rows,
        field_name=field_name,
        sample_rows=len(frame),
        stratified_on=stratify,
    )
    return frame, Artifact(str(location), dataset_digest(handle), "parquet"), handle


def _strata(values: pd.Series) -> tuple[npt.NDArray[np.int64], int]:
    """Stratum codes of the target's values (missing values a stratum of their own)."""
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    codes: npt.NDArray[np.int64]
    if numeric and values.nunique(dropna=True) > MAX_CLASSES:
        bins = pd.qcut(values, 10, labels=False, duplicates="drop")
        codes = np.asarray(bins.fillna(-1).to_numpy(dtype=np.int64), dtype=np.int64)
    else:
        codes = np.asarray(pd.factorize(values, use_na_sentinel=True)[0], dtype=np.int64)
    codes = np.where(codes < 0, codes.max(initial=-1) + 1, codes)
    return codes, int(codes.max(initial=-1)) + 1


def _choose_rows(
    handle: ParquetSource, sample_rows: int, seed: int, target: str | None
) -> npt.NDArray[np.int64]:
    """The sorted row numbers of the sample: stratified on ``target`` (read alone), else
    uniform, drawn without replacement; each stratum gets its share by largest remainders."""
    rng = np.random.default_rng((seed, _SAMPLE_SALT))
    n = handle.num_rows
    if target is None:
        return np.sort(rng.choice(n, size=sample_rows, replace=False))
    labels = pd.concat(
        [_read_column(path, target).to_pandas() for path in handle.files],
        ignore_index=True,
    )
    codes, k = _strata(labels)
    del labels
    counts = np.bincount(codes, minlength=k)
    quota = counts * (sample_rows / n)
    take = np.floor(quota).astype(np.int64)
    short = sample_rows - int(take.sum())
    if short > 0:
        # Largest remainders first; ties to the earlier stratum (a stable sort).
        order = np.argsort(-(quota - take), kind="stable")
        take[order[:short]] += 1
    order = np.argsort(codes, kind="stable")  # rows grouped by stratum, in row order
    bounds = np.concatenate([[0], np.cumsum(counts)])
    chosen = [
        rng.choice(order[bounds[s] : bounds[s + 1]], size=int(take[s]), replace=False)
        for s in range(k)
        if take[s] > 0
    ]
    return np.sort(np.concatenate(chosen))


def _read_column(path: Path, name: str) -> pa.ChunkedArray:
    import pyarrow.parquet as pq

    return pq.read_table(path, columns=[name], use_threads=False).column(0)


def _read_rows(
    handle: ParquetSource, rows: npt.NDArray[np.int64] | None, source: str
) -> pd.DataFrame:
    """The dataset's rows ``rows`` (all when None) as pandas reads Parquet, one column of one
    file at a time."""
    import pyarrow as pa

    starts = np.concatenate([[0], np.cumsum(handle.file_rows)])
    local: list[npt.NDArray[np.int64] | None] = []
    for i in range(len(handle.files)):
        if rows is None:
            local.append(None)
            continue
        lo, hi = np.searchsorted(rows, [starts[i], starts[i + 1]])
        local.append(rows[lo:hi] - starts[i])
    columns: dict[str, pa.ChunkedArray] = {}
    try:
        for name in handle.data_columns:
            chunks: list[pa.Array] = []
            for path, keep in zip(handle.files, local, strict=True):
                if keep is not None and keep.shape[0] == 0:
                    continue
                column = _read_column(path, name)
                if keep is not None:
                    column = column.take(pa.array(keep))
                chunks.extend(column.chunks)
            columns[name] = pa.chunked_array(chunks, type=handle.schema.field(name).type)
    except Exception as exc:  # a file damaged past its footer
        raise DataError(
            f"{source}: {handle.field_name}: cannot read {quote_path(handle.location)}: "
            f"{_library(exc)}"
        ) from exc
    length = handle.num_rows if rows is None else int(rows.shape[0])
    schema = pa.schema([handle.schema.field(n) for n in handle.data_columns])
    metadata = dict(handle.schema.metadata or {})
    if b"pandas" in metadata:
        # pandas' own conversion (its dtypes), with a fresh row index for the rows read.
        meta = json.loads(metadata[b"pandas"])
        meta["index_columns"] = [
            {"kind": "range", "name": None, "start": 0, "stop": length, "step": 1}
        ]
        meta["columns"] = [
            c for c in meta.get("columns", []) if c.get("field_name", c.get("name")) in columns
        ]
        metadata[b"pandas"] = json.dumps(meta).encode()
    table = pa.table(columns, schema=schema.with_metadata(metadata))
    del columns
    frame: pd.DataFrame = table.to_pandas()
    return frame


def sample_note(system: System) -> str:
    """How the frames the probes predict on were sampled, for findings ("" when they were not).

    "on a stratified sample of 200,000 of 20,000,000 rows (data.sample_rows)", per window
    when both were sampled differently.
    """
    parts = []
    for which, handle in (
        ("reference", system.reference_source),
        ("current", system.current_source),
    ):
        if handle is None or not handle.sampled:
            continue
        how = "stratified" if handle.stratified_on else "uniform"
        parts.append(
            (which, f"a {how} sample of {handle.sample_rows:,} of {handle.num_rows:,} rows")
        )
    if not parts:
        return ""
    if len(parts) == 2 and parts[0][1] == parts[1][1]:
        return f"on {parts[0][1]} of each window (data.sample_rows)"
    return (
        "on " + " and ".join(f"{text} ({which})" for which, text in parts) + (" (data.sample_rows)")
    )
