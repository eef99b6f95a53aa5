"""Tests of prodready.explain: explainer choice, units, local accuracy, the grouping of encoded
columns back to input columns, determinism, and that nothing passed in is mutated."""

from __future__ import annotations

import hashlib
import pickle
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.decomposition import PCA
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from prodready._exceptions import UsageError
from prodready.explain import Explanation, explain
from prodready.explain.mapping import _encoded_owners

NUMERIC = ["income", "debt", "age", "balance"]
CATEGORICAL = ["purpose", "region", "housing"]
COLUMNS = NUMERIC + CATEGORICAL


def applicants(n: int, seed: int, *, classes: int = 2) -> tuple[pd.DataFrame, np.ndarray]:
    """Deterministic applicant-like rows; the label depends mostly on ``debt``, then ``purpose``,
    and not at all on ``balance`` or ``housing``."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "income": rng.normal(50.0, 10.0, n),
            "debt": rng.uniform(0.0, 1.0, n),
            "age": rng.integers(21, 75, n).astype(float),
            "balance": rng.normal(5000.0, 1500.0, n),
            "purpose": rng.choice(["car", "house", "education", "other"], n),
            "region": rng.choice(["north", "south", "west"], n),
            "housing": rng.choice(["own", "rent"], n),
        }
    )
    score = (
        6.0 * (frame["debt"] - 0.5)
        + 1.0 * (frame["purpose"] == "car")
        - 0.03 * (frame["income"] - 50.0)
        + 0.3 * rng.logistic(size=n)
    ).to_numpy()
    if classes == 2:
        return frame, (score > 0).astype(int)
    if classes == 3:
        return frame, np.digitize(score, [-1.0, 1.0])
    return frame, score


def preprocess(scale: bool = False) -> ColumnTransformer:
    return ColumnTransformer(
        [
            ("categorical", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
            ("numeric", StandardScaler() if scale else "passthrough", NUMERIC),
        ]
    )


def digest(obj: Any) -> str:
    return hashlib.sha256(pickle.dumps(obj)).hexdigest()


def frame_digest(frame: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes()
    layout = repr((list(frame.columns), [str(t) for t in frame.dtypes], frame.shape))
    return hashlib.sha256(hashed + layout.encode()).hexdigest()


def check_shapes(e: Explanation, n_rows: int, n_outputs: int) -> None:
    n_features = len(e.feature_names)
    assert e.values.shape == (n_rows, n_features, n_outputs)
    assert e.base_values.shape == (n_rows, n_outputs)
    assert e.model_output.shape == (n_rows, n_outputs)
    assert len(e.output_names) == n_outputs


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    train, y = applicants(1500, seed=1)
    rows, _ = applicants(300, seed=2)
    return train, y, rows


@pytest.fixture(scope="module")
def hgb_pipeline(data: tuple[pd.DataFrame, np.ndarray, pd.DataFrame]) -> Pipeline:
    train, y, _ = data
    model = Pipeline(
        [("preprocess", preprocess()), ("model", HistGradientBoostingClassifier(max_iter=50))]
    )
    return model.fit(train, y)


# --------------------------------------------------------------------------------------------
# Tree models


def test_binary_hgb_pipeline_explained_in_input_columns(
    data: tuple[pd.DataFrame, np.ndarray, pd.DataFrame], hgb_pipeline: Pipeline
) -> None:
    train, _, rows = data
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # shap's progress bars and warnings are kept quiet
        e = explain(hgb_pipeline, rows, background=train)

    assert e.explainer == "tree"
    assert e.feature_names == COLUMNS
    check_shapes(e, len(rows), 1)
    assert e.output_names == ["log-odds of class 1"]
    np.testing.assert_allclose(e.model_output[:, 0], hgb_pipeline.decision_function(rows))
    assert e.additivity_error() < 1e-6


def test_one_hot_contributions_are_summed_into_their_input_column(
    data: tuple[pd.DataFrame, np.ndarray, pd.DataFrame], hgb_pipeline: Pipeline
) -> None:
    import shap

    train, _, rows = data
    e = explain(hgb_pipeline, rows, background=train)
    # Reference: shap directly on the encoded columns, grouped here by name.
    encoded = hgb_pipeline[:-1].transform(rows)
    raw = shap.TreeExplainer(hgb_pipeline[-1]).shap_values(encoded, check_additivity=False)
    names = list(hgb_pipeline[:-1].get_feature_names_out())
    for column in COLUMNS:
        prefix = ("categorical__" if column in CATEGORICAL else "numeric__") + column
        members = [i for i, n in enumerate(names) if n == prefix or n.startswith(prefix + "_")]
        assert len(members) == (1 if column in NUMERIC else train[column].nunique())
        expected = raw[:, members].sum(axis=1)
        np.testing.assert_allclose(e.values[:, COLUMNS.index(column), 0], expected, atol=1e-12)


def test_same_input_and_seed_give_identical_values(
    data: tuple[pd.DataFrame, np.ndarray, pd.DataFrame], hgb_pipeline: Pipeline
) -> None:
    train, _, rows = data
    first = explain(hgb_pipeline, rows, background=train, seed=3)
    second = explain(hgb_pipeline, rows, background=train, seed=3)
    assert first.feature_names == second.feature_names
    assert np.array_equal(first.values, second.values)
    assert np.array_equal(first.base_values, second.base_values)


def test_importance_ranks_the_feature_the_label_depends_on_first(
    data: tuple[pd.DataFrame, np.ndarray, pd.DataFrame], hgb_pipeline: Pipeline
) -> None:
    train, _, rows = data
    importance = explain(hgb_pipeline, rows, background=train).importance()
    assert next(iter(importance)) == "debt"
    assert set(importance) == set(COLUMNS)
    values = list(importance.values())
    assert values == sorted(values, reverse=True)
    assert importance["debt"] > 5 * importance["housing"]


def test_multiclass_random_forest_has_one_output_per_class() -> None:
    train, y = applicants(800, seed=3, classes=3)
    model = Pipeline(
        [
            ("preprocess", preprocess()),
            ("model", RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0)),
        ]
    ).fit(train, y)
    rows = train.iloc[:100]
    e = explain(model, rows, background=train)
    assert e.explainer == "tree"
    check_shapes(e, 100, 3)
    assert e.output_names == [f"probability of class {k}" for k in range(3)]
    np.testing.assert_allclose(e.model_output, model.predict_proba(rows))
    assert e.additivity_error() < 1e-6


def test_bare_gradient_boosting_regressor() -> None:
    train, target = applicants(800, seed=4, classes=0)
    model = GradientBoostingRegressor(n_estimators=40, max_depth=3, random_state=0)
    model.fit(train[NUMERIC], target)
    rows = train[NUMERIC].iloc[:200]
    e = explain(model, rows, background=train[NUMERIC])
    assert e.explainer == "tree"
    assert e.feature_names == NUMERIC
    check_shapes(e, 200, 1)
    assert e.output_names == ["prediction"]
    np.testing.assert_allclose(e.model_output[:, 0], model.predict(rows))
    assert e.additivity_error() < 1e-6
    assert next(iter(e.importance())) == "debt"


def test_multiclass_gradient_boosting_classifier_is_explained_by_its_trees() -> None:
    # shap itself reads only binary GradientBoostingClassifiers.
    train, y = applicants(600, seed=5, classes=3)
    model = Pipeline(
        [
            ("preprocess", preprocess()),
            ("model", GradientBoostingClassifier(n_estimators=20, random_state=0)),
        ]
    ).fit(train, y)
    e = explain(model, train.iloc[:100], background=train)
    assert e.explainer == "tree"
    check_shapes(e, 100, 3)
    assert e.output_names == [f"softmax logit of class {k}" for k in range(3)]
    assert e.additivity_error() < 1e-6


def test_poisson_regressor_is_explained_in_log_units() -> None:
    train, target = applicants(600, seed=6, classes=0)
    model = HistGradientBoostingRegressor(loss="poisson", max_iter=30)
    model.fit(train[NUMERIC], np.exp(target / 4))
    e = explain(model, train[NUMERIC].iloc[:100], background=train[NUMERIC])
    assert e.output_names == ["log of prediction"]
    assert e.additivity_error() < 1e-6


# --------------------------------------------------------------------------------------------
# Linear and model-agnostic explainers


def test_logistic_regression_pipeline_in_log_odds() -> None:
    train, y = applicants(1000, seed=7)
    model = Pipeline(
        [("preprocess", preprocess(scale=True)), ("model", LogisticRegression(max_iter=1000))]
    ).fit(train, y)
    rows = train.iloc[:200]
    e = explain(model, rows, background=train, max_background=50)
    assert e.explainer == "linear"
    assert e.feature_names == COLUMNS
    check_shapes(e, 200, 1)
    assert e.output_names == ["log-odds of class 1"]
    np.testing.assert_allclose(e.model_output[:, 0], model.decision_function(rows))
    assert e.additivity_error() < 1e-6
    assert next(iter(e.importance())) == "debt"


def test_class_labels_are_named_in_output_names() -> None:
    train, y = applicants(400, seed=8)
    labels = np.where(y == 1, "bad", "good")
    model = Pipeline([("preprocess", preprocess(True)), ("model", LogisticRegression())])
    e = explain(model.fit(train, labels), train.iloc[:20], background=train)
    assert e.output_names == ["log-odds of class 'good'"]  # classes_ are sorted: bad, good


def test_nearest_neighbours_use_the_permutation_explainer_on_probabilities() -> None:
    # The first permutation explanation in a process also compiles shap's numba kernels (~5 s).
    train, y = applicants(400, seed=9)
    x = train[NUMERIC]
    model = Pipeline([("scale", StandardScaler()), ("knn", KNeighborsClassifier(15))]).fit(x, y)
    rows = x.iloc[:8]
    state = np.random.get_state()
    e = explain(model, rows, background=x, max_background=20, seed=1)
    # shap seeds numpy's global generator: explain puts the caller's state back.
    assert np.array_equal(np.random.get_state()[1], state[1])
    assert e.explainer == "permutation"
    assert e.feature_names == NUMERIC
    check_shapes(e, 8, 2)
    assert e.output_names == ["probability of class 0", "probability of class 1"]
    np.testing.assert_allclose(e.model_output, model.predict_proba(rows))
    assert e.additivity_error() < 1e-6
    again = explain(model, rows, background=x, max_background=20, seed=1)
    assert np.array_equal(e.values, again.values)


def test_bare_model_fitted_on_a_dataframe_uses_permutation_on_its_columns() -> None:
    train, y = applicants(300, seed=10)
    x = train[NUMERIC]
    model = KNeighborsClassifier(15).fit(x, y)
    e = explain(model, x.iloc[:5], background=x, max_background=10)
    assert e.explainer == "permutation"
    assert e.additivity_error() < 1e-6


class ScoreCard:
    """Not a scikit-learn model: predicts from a DataFrame, reading its columns by name."""

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(10.0 * frame["debt"] - 0.1 * frame["income"] + 0.0 * frame["age"])


def test_any_object_with_predict_gets_the_permutation_explainer_on_named_columns() -> None:
    train, _ = applicants(200, seed=17)
    x = train[["income", "debt", "age"]]
    e = explain(ScoreCard(), x.iloc[:5], background=x, max_background=10)
    assert e.explainer == "permutation"
    assert e.output_names == ["prediction"]
    assert e.feature_names == ["income", "debt", "age"]
    assert e.additivity_error() < 1e-9
    assert not e.values[:, 2].any()  # the model ignores age


def test_pipeline_with_pandas_output_between_steps() -> None:
    train, y = applicants(400, seed=18)
    encode = ColumnTransformer(
        [
            ("categorical", OneHotEncoder(sparse_output=False), CATEGORICAL),
            ("numeric", StandardScaler(), NUMERIC),
        ]
    )
    # The final estimator is fitted on a DataFrame of encoded columns, with their names.
    model = Pipeline([("preprocess", encode), ("model", LogisticRegression())])
    model.set_output(transform="pandas")
    model.fit(train, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        e = explain(model, train.iloc[:30], background=train)
    assert e.feature_names == COLUMNS
    assert e.additivity_error() < 1e-9


# --------------------------------------------------------------------------------------------
# Nothing passed in is mutated


@pytest.mark.parametrize("kind", ["tree", "linear", "permutation"])
def test_model_and_rows_are_not_mutated(kind: str) -> None:
    train, y = applicants(300, seed=11)
    estimator: Any = {
        "tree": HistGradientBoostingClassifier(max_iter=10),
        "linear": LogisticRegression(),
        # brute force: a KD-tree counts its queries in its own state.
        "permutation": KNeighborsClassifier(15, algorithm="brute"),
    }[kind]
    model = Pipeline([("preprocess", preprocess(scale=True)), ("model", estimator)]).fit(train, y)
    rows, background = train.iloc[:5], train.iloc[:50]
    before = digest(model), frame_digest(rows), frame_digest(background)
    e = explain(model, rows, background=background, max_background=10)
    assert e.explainer == kind
    assert (digest(model), frame_digest(rows), frame_digest(background)) == before


# --------------------------------------------------------------------------------------------
# Encoded columns -> input columns


def owner_names(transformers: list[Any], frame: pd.DataFrame) -> list[str]:
    owners = _encoded_owners(transformers, frame, frame.shape[1])
    return ["+".join(str(frame.columns[i]) for i in owner) for owner in owners]


def test_mapping_of_one_hot_drop_infrequent_remainder_and_nested_pipeline() -> None:
    train, _ = applicants(500, seed=12)
    train.loc[::7, "income"] = np.nan
    transformer = ColumnTransformer(
        [
            # drop="first": one column fewer per input; infrequent categories grouped in one.
            ("purpose", OneHotEncoder(drop="first"), ["purpose"]),
            (
                "region",
                OneHotEncoder(min_frequency=200, handle_unknown="infrequent_if_exist"),
                ["region"],
            ),
            (
                "income",
                Pipeline(
                    [("impute", SimpleImputer(add_indicator=True)), ("scale", StandardScaler())]
                ),
                ["income"],
            ),
            ("gone", "drop", ["age"]),
        ],
        remainder="passthrough",
    ).fit(train)
    width = transformer.transform(train).shape[1]
    names = owner_names([transformer], train)
    assert len(names) == width
    n_region = len(transformer.named_transformers_["region"].get_feature_names_out())
    assert names == (
        ["purpose"] * 3
        + ["region"] * n_region
        + ["income", "income"]
        + ["debt", "balance", "housing"]
    )


def test_mapping_groups_outputs_of_several_inputs() -> None:
    train, _ = applicants(300, seed=13)
    transformer = ColumnTransformer(
        [
            ("pca", PCA(n_components=2), ["income", "age"]),
            ("scale", StandardScaler(), ["debt"]),
            (
                "both",
                FeatureUnion([("id", "passthrough"), ("pca", PCA(n_components=1))]),
                ["balance", "age"],
            ),
        ]
    ).fit(train[NUMERIC])
    names = owner_names([transformer], train[NUMERIC])
    assert names == ["income+age", "income+age", "debt", "balance", "age", "age+balance"]


def _with_ratio(x: Any) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    return np.column_stack([a, a[:, 0] / (1.0 + np.abs(a[:, 1]))])


def test_mapping_of_unnamed_outputs_and_callable_column_selections() -> None:
    train, _ = applicants(300, seed=16)
    transformer = ColumnTransformer(
        [
            # No get_feature_names_out and one column more than it takes: its width is measured
            # on a sample, and all its outputs belong to both inputs.
            ("ratio", FunctionTransformer(_with_ratio), ["income", "age"]),
            (
                "categorical",
                OneHotEncoder(),
                make_column_selector(pattern="^(?:purpose|region|housing)$"),
            ),
        ],
        remainder="drop",
    ).fit(train)
    names = owner_names([transformer], train)
    n_one_hot = sum(train[c].nunique() for c in CATEGORICAL)
    assert len(names) == transformer.transform(train.iloc[:2]).shape[1]
    assert names == ["income+age"] * 3 + ["purpose"] * 4 + ["region"] * 3 + ["housing"] * 2
    assert n_one_hot == 9


def test_pipeline_without_column_transformer_maps_one_to_one() -> None:
    train, y = applicants(300, seed=14)
    x = train[NUMERIC]
    # FunctionTransformer without names keeps the column count: identity as well.
    model = Pipeline(
        [
            ("log", FunctionTransformer(np.abs)),
            ("scale", StandardScaler()),
            ("model", LinearRegression()),
        ]
    ).fit(x, y)
    assert owner_names([model[0], model[1]], x) == NUMERIC
    e = explain(model, x.iloc[:50], background=x)
    assert e.explainer == "linear"
    assert e.feature_names == NUMERIC
    assert e.additivity_error() < 1e-6


def test_groups_appear_as_joined_names_and_keep_additivity() -> None:
    train, y = applicants(500, seed=15)
    model = Pipeline(
        [
            (
                "preprocess",
                ColumnTransformer(
                    [
                        ("purpose", OneHotEncoder(), ["purpose"]),
                        ("pca", PCA(n_components=2), ["income", "age"]),
                        ("debt", "passthrough", ["debt"]),
                    ]
                ),
            ),
            ("model", HistGradientBoostingClassifier(max_iter=20)),
        ]
    ).fit(train, y)
    e = explain(model, train.iloc[:50], background=train)
    # Unused inputs are listed with zero contributions; grouped-only inputs are not.
    assert e.feature_names == ["debt", "balance", "purpose", "region", "housing", "income+age"]
    for unused in ("balance", "region", "housing"):
        assert not e.values[:, e.feature_names.index(unused)].any()
    assert e.additivity_error() < 1e-6


# --------------------------------------------------------------------------------------------
# Errors


def test_model_without_predict_is_a_usage_error() -> None:
    train, _ = applicants(50, seed=16)
    with pytest.raises(UsageError, match="no predict"):
        explain(StandardScaler().fit(train[NUMERIC]), train[NUMERIC], background=train[NUMERIC])


def test_missing_columns_and_unfitted_models_are_usage_errors(
    data: tuple[pd.DataFrame, np.ndarray, pd.DataFrame], hgb_pipeline: Pipeline
) -> None:
    train, _, rows = data
    with pytest.raises(UsageError, match="debt"):
        explain(hgb_pipeline, rows.drop(columns="debt"), background=train)
    with pytest.raises(UsageError, match="no rows"):
        explain(hgb_pipeline, rows.iloc[:0], background=train)
    unfitted = Pipeline([("preprocess", preprocess()), ("model", LogisticRegression())])
    with pytest.raises(UsageError, match="not fitted"):
        explain(unfitted, rows, background=train)


class _BlackBox:
    """A model that is not a Pipeline but takes raw text columns (its encoding is inside)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.classes_ = model.classes_

    def predict(self, X: pd.DataFrame) -> Any:
        return self.model.predict(X)

    def predict_proba(self, X: pd.DataFrame) -> Any:
        assert isinstance(X, pd.DataFrame) and X["region"].isin(["north", "south", "west"]).all()
        return self.model.predict_proba(X)


def test_black_box_with_text_columns_is_explained_on_its_raw_columns(
    binary_model: Any, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    ref, cur = binary_data
    x = cur[["income", "debt_ratio", "age", "balance", "region"]].iloc[:20]
    bg = ref[["income", "debt_ratio", "age", "balance", "region"]]
    exp = explain(_BlackBox(binary_model), x, background=bg, seed=0, max_background=20)
    assert exp.explainer == "permutation"
    assert exp.feature_names == ["income", "debt_ratio", "age", "balance", "region"]
    assert exp.additivity_error() < 1e-9
    assert np.abs(exp.values[:, 4, :]).sum() > 0  # region gets its own contribution
