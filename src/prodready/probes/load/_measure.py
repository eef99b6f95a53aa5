"""What the load probe measures before and around the load: the current load, the target.

- :func:`current_load`: the current requests per second from ``traffic.current_rps``, or
  from the busiest minute of the ``traffic.timestamp`` column of the current data;
- :func:`busiest_minute_rps`: that rate from a column of times;
- :func:`make_target`: the requests, sampled from the data, and what they are sent to (the
  endpoint over HTTP, or the model in-process through its client).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from prodready._exceptions import SpecError
from prodready.adapters import Client, HTTPClient, Reply
from prodready.load import CallTarget, HTTPTarget, Target
from prodready.system import System

#: Where the current load came from, in words, by spec field.
SOURCES = {
    "traffic.current_rps": "traffic.current_rps in the spec",
    "traffic.timestamp": "the busiest minute of the current data's {column} column",
}


def busiest_minute_rps(values: pd.Series[Any]) -> float | None:
    """Rows per second in the busiest 60 seconds of ``values`` (times), or None if none.

    Numbers are read as Unix times in seconds; anything else is parsed as dates and times
    (naive ones taken as UTC). Any 60-second window counts, not only calendar minutes. When
    every time falls within less than a minute, the rate is over their span (at least one
    second). Raises ValueError for values that are not times.
    """
    if pd.api.types.is_bool_dtype(values):
        raise ValueError("true/false values are not times")
    if pd.api.types.is_numeric_dtype(values):
        seconds = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    else:
        times = _parse_times(values)
        seconds = (times - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(dtype=float)
    seconds = np.sort(seconds[np.isfinite(seconds)])
    if len(seconds) == 0:
        return None
    span = float(seconds[-1] - seconds[0])
    if span < 60.0:
        return len(seconds) / max(span, 1.0)
    ends = np.searchsorted(seconds, seconds + 60.0, side="left")
    busiest = int(np.max(ends - np.arange(len(seconds))))
    return busiest / 60.0


def _parse_times(values: pd.Series[Any]) -> pd.Series[Any]:
    """``values`` as UTC times: one format inferred for all, else ISO 8601, else each alone."""
    with warnings.catch_warnings():  # pandas warns when it falls back to parsing one by one
        warnings.simplefilter("ignore", UserWarning)
        try:
            return pd.to_datetime(values, utc=True)
        except (ValueError, TypeError):
            pass
        try:  # ISO 8601 with and without fractions or offsets (common in logs)
            return pd.to_datetime(values, utc=True, format="ISO8601")
        except (ValueError, TypeError):
            return pd.to_datetime(values, utc=True, format="mixed")


def current_load(system: System) -> tuple[float, str] | None:
    """The system's current load in requests per second and the spec field it came from.

    None when the spec gives neither ``traffic.current_rps`` nor ``traffic.timestamp``.
    Raises :class:`~prodready.SpecError` (naming ``traffic.timestamp``) for a timestamp
    column that is missing or holds no times.
    """
    traffic = getattr(system, "traffic", None)
    rps = getattr(traffic, "current_rps", None)
    if rps is not None:
        return float(rps), "traffic.current_rps"
    column = getattr(traffic, "timestamp", None)
    if column is None:
        return None
    if system.current is None:
        raise SpecError(
            f"names the column {column!r} of the current data, but the spec has no current data",
            source=system.source,
            field="traffic.timestamp",
            expected="data.current with that column, or traffic.current_rps",
        )
    if column not in system.current.columns:
        raise SpecError(
            f"names the column {column!r}, which the current data does not have",
            source=system.source,
            field="traffic.timestamp",
            expected="a column of the current data holding each decision's time",
        )
    try:
        rate = busiest_minute_rps(system.current[column])
    except (ValueError, TypeError, OverflowError) as exc:
        raise SpecError(
            f"the column {column!r} does not hold times ({str(exc).splitlines()[0][:80]})",
            source=system.source,
            field="traffic.timestamp",
            expected="dates and times, or Unix times in seconds",
        ) from None
    if rate is None or not (math.isfinite(rate) and rate > 0):
        raise SpecError(
            f"the column {column!r} holds no time",
            source=system.source,
            field="traffic.timestamp",
            expected="dates and times, or Unix times in seconds",
        )
    return rate, "traffic.timestamp"


def sample_frames(system: System, rows: int, seed: int) -> list[pd.DataFrame]:
    """``rows`` one-row frames of the model's input columns, sampled (seeded) from the data.

    From the current data when there is some (what production sends), else the reference.
    """
    data = system.current if system.current is not None and len(system.current) else None
    frame = (data if data is not None else system.reference)[system.feature_columns]
    take = np.random.default_rng(seed).choice(len(frame), size=min(rows, len(frame)), replace=False)
    return [frame.iloc[[int(i)]] for i in take]


def _answered(reply: Reply) -> str:
    return "ok" if reply.kind == "answered" else reply.kind


def _one_openmp_thread() -> None:
    """In a load worker thread: OpenMP limited to one thread (see FACTS: the OpenMP trap).

    scikit-learn's OpenMP code called from a non-main thread with the default thread count
    runs several times slower; the limit is per thread, so each worker sets its own.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn depends on threadpoolctl
        return
    threadpool_limits(limits=1, user_api="openmp")


def make_target(client: Client, frames: list[pd.DataFrame]) -> Target:
    """What the generator loads: the HTTP route with the encoded rows, or ``client.predict``.

    Over HTTP the generator speaks the protocol itself (for speed): each row is encoded
    once by the client, and a sample of the answers is read back with the client's
    ``decode``, so a 200 that is not a prediction counts as an error.
    """
    if isinstance(client, HTTPClient):
        http = client

        def check(status: int, body: bytes) -> bool:
            return http.decode(status, body, 1).answered

        return HTTPTarget(
            url=http.base_url + http.predict_path,
            bodies=[http.encode(f) for f in frames],
            content_type=http.content_type,
            check=check,
        )
    return CallTarget(
        fn=client.predict,
        payloads=frames,
        classify=_answered,
        thread_init=_one_openmp_thread,
        name=client.describe(),
    )
