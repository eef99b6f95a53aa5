"""Which input column each encoded column comes from, and the summing of contributions.

A scikit-learn ``Pipeline`` is explained in two steps: the final estimator is explained on what
the preceding steps make of the rows (one-hot columns and so on), then the contributions of
the encoded columns are summed back to the input column each came from (all one-hot columns of
``purpose`` become one ``purpose`` contribution). Summing keeps local accuracy and is the usual
way to report encoded features (it is not quite what treating the input column as one player
would give). Which input an encoded column comes from is read from the fitted
``ColumnTransformer`` (its column selections, one-hot category counts, output feature names).
When an encoded column depends on several input columns (PCA, polynomial features), its
contribution goes to a group named after all of them, joined with ``+`` (``"income+debt"``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from prodready.explain._common import FloatArray, _is_passthrough

# The input columns (positions in the model's input) one encoded column is computed from.
Owners = tuple[int, ...]
# A few rows as a transformer receives them, computed only when asked for (None if impossible).
Sample = Callable[[], Any]


def _encoded_owners(transformers: Sequence[Any], x_in: Any, n_inputs: int) -> list[Owners]:
    """For each column the final estimator sees, the model input columns it is computed from.

    Walks the fitted preprocessing steps; two rows of ``x_in`` are passed along (lazily) so
    that the output width of a transformer that cannot name its outputs can be measured.
    """
    owners: list[Owners] = [(i,) for i in range(n_inputs)]
    sample = _lazy(lambda: _head(x_in))
    for transformer in transformers:
        owners = _map_transformer(transformer, owners, sample)
        sample = _transformed(transformer, sample)
    # A column computed from no input at all (a constant) goes to the group of all inputs, so
    # that no contribution is lost.
    everything = tuple(range(n_inputs))
    return [owner if owner else everything for owner in owners]


def _head(data: Any, n: int = 2) -> Any:
    return data.iloc[:n] if isinstance(data, pd.DataFrame | pd.Series) else data[:n]


def _lazy(compute: Callable[[], Any]) -> Sample:
    """``compute()``, run at most once and only when first asked for; None if it fails.

    Samples are needed only for transformers that cannot name their outputs, and transforming
    even two rows through a ColumnTransformer costs tens of milliseconds.
    """
    cache: list[Any] = []

    def get() -> Any:
        if not cache:
            try:
                cache.append(compute())
            except Exception:
                # Only used to measure widths: if it fails, those outputs become one group.
                cache.append(None)
        return cache[0]

    return get


def _transformed(transformer: Any, sample: Sample) -> Sample:
    def compute() -> Any:
        rows = sample()
        return None if rows is None else transformer.transform(rows)

    return _lazy(compute)


def _union(owners: Sequence[Owners]) -> Owners:
    return tuple(sorted({i for owner in owners for i in owner}))


def _map_transformer(transformer: Any, owners: list[Owners], sample: Sample) -> list[Owners]:
    """Owners of the outputs of a fitted transformer, given the owners of its inputs."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.preprocessing import OneHotEncoder

    if _is_passthrough(transformer):
        return list(owners)
    if isinstance(transformer, str) and transformer == "drop":
        return []
    if isinstance(transformer, Pipeline):
        for _, step in transformer.steps:
            if _is_passthrough(step):
                continue
            owners = _map_transformer(step, owners, sample)
            sample = _transformed(step, sample)
        return owners
    if isinstance(transformer, ColumnTransformer):
        return _map_column_transformer(transformer, owners, sample)
    if isinstance(transformer, FeatureUnion):
        out: list[Owners] = []
        for _, part in transformer.transformer_list:
            if isinstance(part, str) and part == "drop":
                continue
            out.extend(_map_transformer(part, owners, sample))
        return out
    if isinstance(transformer, OneHotEncoder):
        widths = _one_hot_widths(transformer)
        if widths is not None and len(widths) == len(owners):
            return [
                owner for owner, width in zip(owners, widths, strict=True) for _ in range(width)
            ]
    return _map_by_names(transformer, owners, sample)


def _map_column_transformer(transformer: Any, owners: list[Owners], sample: Sample) -> list[Owners]:
    """Concatenates the owners of each part, in the order ColumnTransformer stacks outputs."""
    out: list[Owners] = []
    for name, part, columns in transformer.transformers_:
        if isinstance(part, str) and part == "drop":
            continue
        indices = _column_indices(transformer, name, columns, sample, len(owners))
        if not indices:
            continue  # ColumnTransformer skips parts that select no column
        part_owners = [owners[i] for i in indices]
        if _is_passthrough(part):
            out.extend(part_owners)
            continue
        out.extend(_map_transformer(part, part_owners, _select(sample, columns, indices)))
    return out


def _column_indices(
    transformer: Any, name: str, columns: Any, sample: Sample, n_inputs: int
) -> list[int]:
    """Positions, in the ColumnTransformer's input, of the columns one of its parts takes."""
    known = getattr(transformer, "_transformer_to_input_indices", None)
    if isinstance(known, dict) and name in known:
        return [int(i) for i in known[name]]
    # Older/newer scikit-learn without that (private) record: resolve the selection ourselves.
    names = list(getattr(transformer, "feature_names_in_", []))
    if callable(columns):
        columns = columns(sample())
    if isinstance(columns, slice):
        if isinstance(columns.start, str) or isinstance(columns.stop, str):
            start = names.index(columns.start) if columns.start is not None else 0
            stop = names.index(columns.stop) + 1 if columns.stop is not None else len(names)
            return list(range(start, stop))
        return list(range(n_inputs))[columns]
    if isinstance(columns, str | int | np.integer):
        columns = [columns]
    selection = list(np.asarray(columns).reshape(-1)) if not isinstance(columns, list) else columns
    if selection and isinstance(selection[0], bool | np.bool_):
        return [i for i, keep in enumerate(selection) if keep]
    return [names.index(c) if isinstance(c, str) else int(c) for c in selection]


def _select(sample: Sample, columns: Any, indices: list[int]) -> Sample:
    """The sample's columns as ColumnTransformer hands them to a part (1-D for a scalar key)."""
    scalar = isinstance(columns, str | int | np.integer)

    def compute() -> Any:
        rows = sample()
        if rows is None:
            return None
        if isinstance(rows, pd.DataFrame):
            return rows.iloc[:, indices[0]] if scalar else rows.iloc[:, indices]
        return rows[:, indices[0]] if scalar else rows[:, indices]

    return _lazy(compute)


def _one_hot_widths(encoder: Any) -> list[int] | None:
    """How many output columns each input column of a fitted OneHotEncoder has.

    Categories minus the dropped one, with infrequent categories merged into one column;
    checked against the length of ``get_feature_names_out()``.
    """
    try:
        total = len(encoder.get_feature_names_out())
    except Exception:
        return None
    widths = [len(categories) for categories in encoder.categories_]
    try:
        infrequent = encoder.infrequent_categories_
    except AttributeError:
        infrequent = [None] * len(widths)
    drop = getattr(encoder, "drop_idx_", None)
    for i in range(len(widths)):
        if infrequent[i] is not None and len(infrequent[i]) > 0:
            widths[i] -= len(infrequent[i]) - 1
        if drop is not None and drop[i] is not None:
            widths[i] -= 1
    if sum(widths) == total:
        return widths
    private = getattr(encoder, "_n_features_outs", None)  # scikit-learn's own per-input widths
    if private is not None and sum(private) == total:
        return [int(w) for w in private]
    return None


def _map_by_names(transformer: Any, owners: list[Owners], sample: Sample) -> list[Owners]:
    """Owners of a transformer's outputs, read from its output feature names.

    * names equal to its input names (scalers, imputers, ordinal encoders): one to one;
    * a subset of its input names (feature selectors): by name;
    * ``<input>_<suffix>`` or ``<prefix>_<input>`` (binned, spline, target-encoded columns,
      missing-value indicators): that input, the longest name matching;
    * anything else (PCA, polynomial features...): every output belongs to all its inputs.

    Without names, a transformer keeping the number of columns is taken as one to one.
    """
    names_in = getattr(transformer, "feature_names_in_", None)
    inputs = [str(n) for n in names_in] if names_in is not None else []
    if len(inputs) != len(owners):
        inputs = [f"x{i}" for i in range(len(owners))]
    try:
        names_out = [str(n) for n in transformer.get_feature_names_out()]
    except Exception:
        names_out = None
    everything = _union(owners)
    if names_out is None:
        width = _output_width(transformer, sample)
        if width is None:
            return []  # unknown width: the caller's width check will group everything
        return list(owners) if width == len(owners) else [everything] * width
    if names_out == inputs:
        return list(owners)
    position = {name: i for i, name in enumerate(inputs)}
    matched: list[Owners] = []
    for name in names_out:
        if name in position:
            matched.append(owners[position[name]])
            continue
        candidates = [n for n in inputs if name.startswith(n + "_") or name.endswith("_" + n)]
        if not candidates:
            return [everything] * len(names_out)
        matched.append(owners[position[max(candidates, key=len)]])
    return matched


def _output_width(transformer: Any, sample: Sample) -> int | None:
    rows = sample()
    if rows is None:
        return None
    try:
        out = transformer.transform(rows)
    except Exception:
        return None
    shape = getattr(out, "shape", None)
    if shape is None:
        return None
    return 1 if len(shape) == 1 else int(shape[1])


def _grouping(owners: list[Owners], names: list[str]) -> tuple[list[str], FloatArray]:
    """Feature names and the 0/1 matrix (encoded columns x features) summing contributions.

    Every input column is listed (in input order; unused ones get zero) unless it only
    appears inside groups; groups of several inputs follow, in order of first appearance.
    """
    singles = {owner[0] for owner in owners if len(owner) == 1}
    grouped_only = {i for owner in owners if len(owner) > 1 for i in owner} - singles
    features: list[Owners] = [(i,) for i in range(len(names)) if i not in grouped_only]
    for owner in owners:
        if len(owner) > 1 and owner not in features:
            features.append(owner)
    index = {owner: g for g, owner in enumerate(features)}
    matrix = np.zeros((len(owners), len(features)))
    for e, owner in enumerate(owners):
        matrix[e, index[owner]] = 1.0
    return ["+".join(names[i] for i in owner) for owner in features], matrix
