"""Hostile and broken input to the spec loader: bounded work, one clear line, nothing leaked.

A spec may come from anyone (a pull request, a shared folder, a CI variable). Loading it must
take bounded time and memory whatever it holds, refuse what a spec never needs (YAML anchors
and aliases, merge keys, duplicate keys, booleans as numbers, infinite limits), and say what
is wrong in one line naming the file and the field, quoting at most a short prefix of any
value and never the content of a file that is not data.
"""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
import textwrap
import time
import tracemalloc
from contextlib import redirect_stderr
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.svm import SVC, LinearSVC

import prodready.spec as spec_module
from prodready import DataError, ModelLoadError, ProdreadyError, SpecError, load_spec
from prodready._settings import quote, read_settings
from prodready.spec import MAX_SPEC_BYTES, SpecLoader, parse_spec
from prodready.system import Endpoint, Policy, System

from .conftest import VALID_SPEC

ALIASES_REFUSED = "YAML anchors and aliases are not allowed in a spec"


def edit(spec_dir: Path, old: str, new: str) -> Path:
    path = spec_dir / "spec.yaml"
    text = path.read_text()
    assert old in text, f"test setup: {old!r} not in the spec"
    path.write_text(text.replace(old, new, 1))
    return path


def one_line(exc: BaseException, limit: int = 600) -> str:
    """The exception's message, checked to be one line of reasonable length."""
    message = str(exc)
    assert "\n" not in message and "\r" not in message, message
    assert len(message) < limit, f"{len(message)} characters: {message[:300]}"
    return message


@pytest.fixture(params=["libyaml", "python"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both YAML parsers the loader may use: libyaml's (C) events, or PyYAML's own."""
    if request.param == "python":
        monkeypatch.setattr(spec_module, "_CParser", None)
    elif spec_module._CParser is None:
        pytest.skip("PyYAML was built without libyaml")
    return str(request.param)


def bomb(levels: int = 9, width: int = 9) -> list[str]:
    """The lines of a "billion laughs": each level lists the previous one ``width`` times."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    return lines


# -- 1. exhaustion: aliases, size, depth, count -----------------------------------------------


@pytest.mark.parametrize(
    ("old", "field"),
    [
        # The bomb under a key: the first anchor is refused, before anything is expanded.
        ("  features_here: 1\n", "data.features"),
        ("name: test lending model\n", "name"),
        ("  owner: Test team\n", "metadata.owner"),
        ("  alpha: 0.05\n", "monitoring.alpha"),
    ],
)
def test_alias_bomb_is_refused_at_the_first_anchor_in_any_field(
    spec_dir: Path, parser: str, old: str, field: str
) -> None:
    text = VALID_SPEC.replace("  target: target\n", "  target: target\n  features_here: 1\n")
    key = field.rsplit(".", 1)[-1]
    indent = "  " * field.count(".")
    body = "\n".join(indent + "  " + b for b in bomb())
    text = text.replace(old, f"{indent}{key}:\n{body}\n")
    (spec_dir / "spec.yaml").write_text(text)
    lines = text.splitlines()
    line = next(i for i, t in enumerate(lines) if "&l0" in t)
    column = lines[line].index("&l0")
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(SpecError) as info:
            load_spec(spec_dir / "spec.yaml")
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert info.value.field == f"{field}.l0"
    assert info.value.problem == f"line {line + 1}, column {column + 1}: {ALIASES_REFUSED}"
    assert info.value.expected == "each value written out where it is used (no &anchor, no *alias)"
    assert one_line(info.value) == (
        f"{spec_dir / 'spec.yaml'}: {field}.l0: {info.value.problem} "
        f"(expected {info.value.expected})"
    )
    assert elapsed < 2 and peak < 20 * 2**20  # never expanded: milliseconds and kilobytes


def test_an_alias_alone_is_refused_too(parser: str) -> None:
    # An alias of an anchor defined elsewhere (here, a harmless one): both are refused, the
    # anchor first since it comes first.
    with pytest.raises(SpecError) as info:
        parse_spec("name: &n x\nmetadata:\n  owner: *n\n", "s.yaml")
    assert (info.value.field, info.value.problem) == (
        "name",
        f"line 1, column 7: {ALIASES_REFUSED}",
    )
    with pytest.raises(SpecError) as info:
        parse_spec("metadata:\n  owner: [a, *undefined]\n", "s.yaml")
    assert info.value.field == "metadata.owner[1]"
    assert info.value.problem == f"line 2, column 14: {ALIASES_REFUSED}"


def test_alias_bomb_in_a_process_with_one_gib_of_address_space(tmp_path: Path) -> None:
    """The classic bomb (9 levels of 9: 387 million strings) under a 1 GiB memory limit."""
    if not sys.platform.startswith("linux"):
        pytest.skip("RLIMIT_AS is enforced on Linux only")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "version: 2\nmodel:\n  path: m.skops\ndata:\n  reference: r.csv\n  features:\n"
        + "\n".join("    " + b for b in bomb())
        + "\n    all: [*l8, *l8, *l8, *l8, *l8, *l8, *l8, *l8, *l8]\n"
    )
    script = textwrap.dedent(
        f"""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        from prodready import SpecError, load_spec
        try:
            load_spec({str(spec)!r})
        except SpecError as exc:
            print(exc.field, "|", exc.problem)
        """
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == f"data.features.l0 | line 7, column 9: {ALIASES_REFUSED}"


def test_spec_over_1_mib_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    huge = tmp_path / "spec.yaml"
    with huge.open("wb") as handle:  # 4 GiB, sparse: read in full it would take seconds
        handle.write(b"version: 2\n# ")
        handle.truncate(4 * 2**30)
    started = time.perf_counter()
    with pytest.raises(SpecError) as info:
        load_spec(huge)
    assert time.perf_counter() - started < 2
    assert (info.value.field, info.value.problem) == ("", "is larger than 1 MiB")
    assert info.value.expected == (
        "a spec file of at most 1,048,576 bytes "
        "(a spec holds paths and settings; data belongs in the data files)"
    )
    assert one_line(info.value) == f"{huge}: is larger than 1 MiB (expected {info.value.expected})"


def test_spec_of_exactly_1_mib_is_read(spec_dir: Path) -> None:
    path = spec_dir / "spec.yaml"
    text = path.read_text()
    path.write_text(text + "#" * (MAX_SPEC_BYTES - len(text.encode()) - 1) + "\n")
    assert path.stat().st_size == MAX_SPEC_BYTES
    assert load_spec(path).name == "test lending model"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a: " + "[" * 100_000, "nested"),  # a flow of brackets
        ("a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 200)), "nested"),
        ("? " * 5000 + "x", "nested"),  # keys that are mappings that are keys...
    ],
    ids=["brackets", "block-mappings", "complex-keys"],
)
def test_deep_nesting_is_refused_quickly(parser: str, text: str, problem: str) -> None:
    started = time.perf_counter()
    with pytest.raises(SpecError) as info:
        parse_spec(text, "s.yaml")
    assert time.perf_counter() - started < 2
    message = one_line(info.value, limit=400)
    # libyaml stops at its own limit (1,000 levels) when ours (64) is not reached first.
    assert (
        "mappings and lists nested deeper than 64 levels" in message
        or "exceeded maximum nesting depth" in message
    )
    assert len(info.value.field) <= 80


def test_too_many_values_are_refused(parser: str) -> None:
    text = "features: [" + ",".join(["x"] * 150_000) + "]\n"  # 300 KB, 150,000 values
    started = time.perf_counter()
    with pytest.raises(SpecError) as info:
        parse_spec(text, "s.yaml")
    assert time.perf_counter() - started < 15
    assert info.value.field == "features[99997]"
    assert info.value.problem == "line 1, column 200006: the spec holds more than 100,000 values"


@pytest.mark.parametrize(
    "value",
    ["1" * 5000, ":".join(["1"] * 200_000), "0x" + "f" * 101],
    ids=["digits", "base-60", "hex"],
)
def test_long_integers_are_refused_before_python_converts_them(parser: str, value: str) -> None:
    started = time.perf_counter()
    with pytest.raises(SpecError) as info:
        parse_spec(f"version: {value}\n", "s.yaml")
    assert time.perf_counter() - started < 2
    assert info.value.field == "version"
    assert info.value.problem == f"line 1, column 10: an integer of {len(value):,} characters"
    assert info.value.expected == "an integer of at most 100 characters"


# -- 2. duplicate keys -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "field", "problem", "first"),
    [
        (
            "  target: target\n",
            "  target: target\n  target: default\n",
            "data.target",
            "duplicate key 'target' (line 11)",
            10,
        ),
        (
            "name: test lending model\n",
            "name: a\nname: b\n",
            "name",
            "duplicate key 'name' (line 3)",
            2,
        ),
        (
            "  alpha: 0.05\n",
            "  alpha: 0.05\n  alpha: 0.5\n",
            "monitoring.alpha",
            "duplicate key 'alpha' (line 16)",
            15,
        ),
        (
            "version: 2\n",
            "version: 2\nversion: 2\n",
            "version",
            "duplicate key 'version' (line 2)",
            1,
        ),
        # Keys equal in Python are the same key: true == 1.
        (
            "  alpha: 0.05\n",
            "  1: a\n  true: b\n",
            "monitoring.true",
            "duplicate key 'true' (line 16)",
            15,
        ),
    ],
)
def test_duplicate_keys_name_the_key_and_both_lines(
    spec_dir: Path, parser: str, old: str, new: str, field: str, problem: str, first: int
) -> None:
    path = edit(spec_dir, old, new)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert (info.value.field, info.value.problem) == (field, problem)
    assert info.value.expected == f"each key once in a mapping (the first is on line {first})"
    one_line(info.value)


def test_duplicate_keys_deep_in_a_list(parser: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec("load:\n  steps:\n    - {rate: 1}\n    - {rate: 2, rate: 3}\n", "s.yaml")
    assert (info.value.field, info.value.problem) == (
        "load.steps[1].rate",
        "duplicate key 'rate' (line 4)",
    )


def test_merge_keys_are_refused(parser: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec("policy:\n  <<: {seed: 1}\n  seed: 2\n", "s.yaml")
    assert (info.value.field, info.value.problem) == (
        "policy",
        "line 2, column 3: YAML merge keys (<<) are not allowed in a spec",
    )


# -- 3. booleans are not numbers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"), [("true", "True"), ("false", "False"), ("2.0", "2.0"), ("'2'", "'2'")]
)
def test_version_must_be_the_integer_2(spec_dir: Path, value: str, shown: str) -> None:
    path = edit(spec_dir, "version: 2", f"version: {value}")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert (info.value.field, info.value.problem, info.value.expected) == (
        "version",
        f"is {shown}",
        "2",
    )
    assert one_line(info.value) == f"{path}: version: is {shown} (expected 2)"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("probe_timeout_s", "a finite number"),
        ("min_score", "a finite number"),
        ("seed", "an integer"),
        ("gate", "one of blocking, advisory"),
    ],
)
def test_booleans_are_not_numbers_in_settings(spec_dir: Path, key: str, expected: str) -> None:
    path = edit(spec_dir, "  probe_timeout_s: 300", f"  {key}: true")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert (info.value.field, info.value.problem, info.value.expected) == (
        f"policy.{key}",
        "is True",
        expected,
    )


@dataclass(frozen=True)
class _Settings:
    level: Literal[1, 2] = 1
    ratio: float = 0.5
    count: int = 1


@pytest.mark.parametrize(
    ("values", "field", "problem", "expected"),
    [
        ({"level": True}, "s.level", "is True", "one of 1, 2"),
        ({"ratio": True}, "s.ratio", "is True", "a finite number"),
        ({"count": False}, "s.count", "is False", "an integer"),
        ({"count": 1e400}, "s.count", "is inf", "an integer"),
        ({"ratio": float("nan")}, "s.ratio", "is nan", "a finite number"),
        ({"ratio": float("-inf")}, "s.ratio", "is -inf", "a finite number"),
        ({"ratio": 10**400}, "s.ratio", "is <an integer of about 401 digits>", "a finite number"),
    ],
)
def test_read_settings_never_takes_a_bool_or_a_non_finite_number(
    values: dict[str, Any], field: str, problem: str, expected: str
) -> None:
    with pytest.raises(SpecError) as info:
        read_settings(_Settings, values, "s", "spec.yaml")
    assert (info.value.field, info.value.problem, info.value.expected) == (field, problem, expected)


def test_read_settings_takes_numpy_numbers_and_integral_floats() -> None:
    settings = read_settings(_Settings, {"ratio": np.float32(0.25), "count": 3.0}, "s", "x")
    assert settings == _Settings(ratio=0.25, count=3)
    assert type(settings.count) is int


# -- 4. limits are finite and bounded ------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "problem", "expected"),
    [
        ("probe_timeout_s", ".inf", "is inf", "a finite number"),
        ("probe_timeout_s", ".nan", "is nan", "a finite number"),
        ("probe_timeout_s", "-.inf", "is -inf", "a finite number"),
        (
            "probe_timeout_s",
            "1.0e+300",
            "is 1e+300",
            "a number of seconds > 0 and at most 86,400 (one day)",
        ),
        (
            "probe_timeout_s",
            "86401",
            "is 86401.0",
            "a number of seconds > 0 and at most 86,400 (one day)",
        ),
        ("probe_timeout_s", "0", "is 0.0", "a number of seconds > 0 and at most 86,400 (one day)"),
        ("min_score", ".nan", "is nan", "a finite number"),
        ("min_score", ".inf", "is inf", "a finite number"),
        ("seed", "-1", "is -1", "an integer from 0 to 4294967295"),
        ("seed", "4294967296", "is 4294967296", "an integer from 0 to 4294967295"),
        ("seed", "0.5", "is 0.5", "an integer"),
    ],
)
def test_policy_limits_are_finite_and_bounded(
    spec_dir: Path, key: str, value: str, problem: str, expected: str
) -> None:
    path = edit(spec_dir, "  probe_timeout_s: 300", f"  {key}: {value}")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert (info.value.field, info.value.problem, info.value.expected) == (
        f"policy.{key}",
        problem,
        expected,
    )
    one_line(info.value)


def test_policy_edges_are_accepted(spec_dir: Path) -> None:
    path = edit(spec_dir, "  probe_timeout_s: 300", "  probe_timeout_s: 86400\n  seed: 4294967295")
    policy = load_spec(path).policy
    assert (policy.probe_timeout_s, policy.seed) == (86400.0, 4294967295)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"probe_timeout_s": float("inf")}, "policy.probe_timeout_s"),
        ({"probe_timeout_s": float("nan")}, "policy.probe_timeout_s"),
        ({"probe_timeout_s": True}, "policy.probe_timeout_s"),
        ({"min_score": float("nan")}, "policy.min_score"),
        ({"seed": -1}, "policy.seed"),
        ({"seed": True}, "policy.seed"),
        ({"seed": 2**32}, "policy.seed"),
        ({"gate": ["blocking"]}, "policy.gate"),
    ],
)
def test_policy_built_in_python_is_checked_the_same(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError) as info:
        Policy(**kwargs)
    assert info.value.field == field


@pytest.mark.parametrize("value", [".inf", ".nan", "0", "100000"])
def test_endpoint_timeout_is_finite_and_bounded(spec_dir: Path, value: str) -> None:
    path = edit(
        spec_dir,
        "metadata:",
        f"endpoint:\n  url: http://x/invocations\n  timeout_s: {value}\nmetadata:",
    )
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert info.value.field == "endpoint.timeout_s"
    with pytest.raises(SpecError):
        Endpoint("http://x", timeout_s=float(value.replace(".", "")))


def test_probe_settings_refuse_non_finite_numbers(spec_dir: Path) -> None:
    from prodready.assessment import preflight

    path = edit(spec_dir, "  alpha: 0.05", "  alpha: .nan")
    with pytest.raises(SpecError) as info:
        preflight(load_spec(path))
    assert (info.value.field, info.value.problem, info.value.expected) == (
        "monitoring.alpha",
        "is nan",
        "a finite number",
    )


# -- 5. classifiers need predict_proba -------------------------------------------------------------


def _numeric(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[["income", "debt_ratio", "age", "balance", "target"]]


@pytest.mark.parametrize(
    "estimator",
    [LinearSVC(), SVC()],
    ids=["LinearSVC", "SVC"],
)
def test_classifier_without_predict_proba_is_refused(
    binary_data: tuple[pd.DataFrame, pd.DataFrame], estimator: Any
) -> None:
    ref = _numeric(binary_data[0]).iloc[:300]
    model = estimator.fit(ref.drop(columns="target"), ref["target"])
    with pytest.raises(SpecError) as info:
        System(model=model, reference=ref, target="target")
    name = type(estimator).__name__
    assert info.value.field == "model"
    assert (
        info.value.problem == f"sklearn.svm._classes.{name} is a classifier without predict_proba"
    )
    assert info.value.expected == (
        "a classifier with predict_proba (wrap it in sklearn.calibration.CalibratedClassifierCV)"
    )
    calibrated = CalibratedClassifierCV(estimator, cv=2).fit(
        ref.drop(columns="target"), ref["target"]
    )
    assert System(model=calibrated, reference=ref, target="target").task == "binary"


def test_classifier_without_predict_proba_in_a_spec(
    spec_dir: Path, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    import joblib

    ref = _numeric(binary_data[0])
    ref.to_parquet(spec_dir / "reference.parquet")
    _numeric(binary_data[1]).to_csv(spec_dir / "current.csv", index=False)
    joblib.dump(LinearSVC().fit(ref.drop(columns="target"), ref["target"]), spec_dir / "m.joblib")
    path = edit(spec_dir, "  path: model.skops", "  path: m.joblib")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert one_line(info.value) == (
        f"{path}: model: sklearn.svm._classes.LinearSVC is a classifier without predict_proba "
        "(expected a classifier with predict_proba "
        "(wrap it in sklearn.calibration.CalibratedClassifierCV))"
    )


# -- 6. categorical must cover every column that does not hold numbers ---------------------------


def test_categorical_override_must_list_text_columns(spec_dir: Path) -> None:
    path = edit(spec_dir, "  target: target", "  target: target\n  categorical: []")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert (info.value.field, info.value.problem) == (
        "data.categorical",
        "'region' holds text but is not listed",
    )
    assert info.value.expected == (
        "every feature that does not hold numbers listed as categorical "
        "(the drift tests compare the others as numbers)"
    )
    path = edit(spec_dir, "  categorical: []", "  categorical: [region, age]")
    assert load_spec(path).categorical_columns == ["region", "age"]  # numbers may be listed


class _Stub:
    """A fitted binary classifier on any columns: enough for System's validation."""

    def __init__(self, columns: list[str]) -> None:
        self.feature_names_in_ = np.array(columns, dtype=object)
        self.classes_ = np.array([0, 1])

    def predict(self, X: Any) -> Any:
        return np.zeros(len(X), dtype=int)

    def predict_proba(self, X: Any) -> Any:
        return np.full((len(X), 2), 0.5)


@pytest.mark.parametrize(
    ("current", "problem"),
    [
        (
            {"code": ["a", "b"], "n": [1.0, 2.0]},
            "'code' holds text in the current data but is not listed",
        ),
        (
            {"code": [True, False], "n": [1.0, 2.0]},
            "'code' holds true/false values in the current data but is not listed",
        ),
        (
            {"code": pd.Categorical(["a", "b"]), "n": [1.0, 2.0]},
            "'code' holds categories in the current data but is not listed",
        ),
        (
            {"code": ["a", "b"], "n": ["x", "y"]},
            "'code', 'n' hold text in the current data but are not listed",
        ),
        (
            {"code": ["a", "b"], "n": [True, False]},
            "'code', 'n' hold values that are not numbers in the current data but are not listed",
        ),
    ],
)
def test_categorical_override_is_checked_against_the_current_data(
    current: dict[str, Any], problem: str
) -> None:
    reference = pd.DataFrame({"code": [1, 2], "n": [1.0, 2.0]})
    with pytest.raises(SpecError) as info:
        System(
            model=_Stub(["code", "n"]),
            reference=reference,
            current=pd.DataFrame(current),
            categorical=[],
        )
    assert (info.value.field, info.value.problem) == ("data.categorical", problem)


# -- 7. messages: one line, naming the file or field, what is wrong and what was expected --------


def test_spec_path_that_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path)
    assert one_line(info.value) == (
        f"{tmp_path}: is a directory, not a spec file (expected a YAML spec file (see the README))"
    )


def test_spec_path_that_is_a_pipe(tmp_path: Path) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes here")
    os.mkfifo(tmp_path / "spec.yaml")  # opening it would block: it must not be opened
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path / "spec.yaml")
    assert info.value.problem == "is not a regular file (a device, pipe or socket)"


def test_spec_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_bytes("name: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert one_line(info.value) == (
        f"{path}: is not UTF-8 text: byte 0xe9 at offset 9 "
        "(expected a YAML spec file saved as UTF-8)"
    )
    path.write_bytes("name: x\n".encode("utf-16"))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert info.value.problem == "is not UTF-8 text: byte 0xff at offset 0 (it looks like UTF-16)"


def test_spec_that_is_binary(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert info.value.problem == "is not UTF-8 text: byte 0x89 at offset 0"


@pytest.mark.parametrize(
    ("text", "problem", "expected"),
    [
        (
            "name: a\x00b\n",
            "line 1, column 8: unacceptable character #x0000 (special characters are not allowed)",
            "printable text (no control characters)",
        ),
        (
            "name: !!python/object/apply:os.system [echo]\n",
            "line 1, column 7: unsupported YAML: could not determine a constructor for the tag "
            "'tag:yaml.org,2002:python/object/apply:os.system'",
            "plain YAML: mappings, lists, strings, numbers, true/false (no !tags)",
        ),
        (
            "name: a\n---\nname: b\n",
            "line 2, column 1: malformed YAML: expected a single document in the stream, "
            "but found another document",
            "valid YAML",
        ),
        (
            "metadata:\n  description: 2024-13-45\n",
            "line 2, column 16: cannot read this value: month must be in 1..12",
            "a plain string, number, true/false, list or mapping",
        ),
    ],
    ids=["nul", "python-tag", "two-documents", "bad-date"],
)
def test_yaml_problems_are_one_line_with_the_place(
    tmp_path: Path, parser: str, text: str, problem: str, expected: str
) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert (info.value.problem, info.value.expected) == (problem, expected)
    one_line(info.value)


def test_model_path_that_is_a_directory(spec_dir: Path) -> None:
    (spec_dir / "model.joblib").mkdir()
    path = edit(spec_dir, "  path: model.skops", "  path: model.joblib\n  format: joblib")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert (info.value.field, info.value.problem, info.value.expected) == (
        "model.path",
        f"{str(spec_dir / 'model.joblib')!r} is a directory",
        "a model file",
    )
    # Without a format, a folder could be an MLflow model: say what it lacks to be one.
    path = edit(spec_dir, "  format: joblib\n", "")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert (info.value.field, info.value.problem, info.value.expected) == (
        "model.path",
        f"{str(spec_dir / 'model.joblib')!r} is a directory without an MLmodel file",
        "a model file (.skops, .joblib, .pkl) or an MLflow model folder",
    )


def test_model_file_that_is_not_a_joblib_file(spec_dir: Path) -> None:
    (spec_dir / "x.joblib").write_bytes(b"garbage, not a pickle")
    path = edit(spec_dir, "  path: model.skops", "  path: x.joblib")
    with pytest.raises(ModelLoadError) as info:
        load_spec(path)
    prefix = (
        f"{path}: model.path: {str(spec_dir / 'x.joblib')!r} is not a joblib/pickle file "
        "(the file may be corrupt or of another format): "
    )
    message = one_line(info.value)
    assert message.startswith(prefix), message
    assert len(message) - len(prefix) <= 150  # the library's words: short, at the end


def test_model_file_that_is_not_a_skops_file(spec_dir: Path) -> None:
    (spec_dir / "model.skops").write_bytes(b"garbage")
    with pytest.raises(ModelLoadError) as info:
        load_spec(spec_dir / "spec.yaml")
    assert one_line(info.value) == (
        f"{spec_dir / 'spec.yaml'}: model.path: {str(spec_dir / 'model.skops')!r} is not a skops "
        "file (the file may be corrupt or of another format): BadZipFile: File is not a zip file"
    )


def test_pickle_that_needs_a_missing_module(spec_dir: Path) -> None:
    # Protocol 2: the class prodready_no_such_module.Model, instantiated without arguments.
    (spec_dir / "m.pkl").write_bytes(b"\x80\x02cprodready_no_such_module\nModel\n)\x81.")
    path = edit(spec_dir, "  path: model.skops", "  path: m.pkl")
    with pytest.raises(ModelLoadError) as info:
        load_spec(path)
    assert one_line(info.value) == (
        f"{path}: model.path: cannot load {str(spec_dir / 'm.pkl')!r}: it needs the Python "
        "module 'prodready_no_such_module', which cannot be imported here"
    )


def raise_on_unpickling() -> None:
    """Called when a pickle made by :class:`_FailsToLoad` is loaded."""
    raise ValueError("incompatible node array\ndetails the user does not need\nmore")


class _FailsToLoad:
    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return (raise_on_unpickling, ())


def test_pickle_whose_loading_raises_a_multiline_message(spec_dir: Path) -> None:
    (spec_dir / "m.pkl").write_bytes(pickle.dumps(_FailsToLoad(), protocol=4))
    path = edit(spec_dir, "  path: model.skops", "  path: m.pkl")
    with pytest.raises(ModelLoadError) as info:
        load_spec(path)
    assert one_line(info.value) == (
        f"{path}: model.path: cannot load {str(spec_dir / 'm.pkl')!r} as joblib/pickle (saved by "
        "other library versions, or damaged): ValueError: incompatible node array"
    )


@pytest.mark.parametrize("field", ["reference", "current"])
def test_data_path_that_is_a_directory(spec_dir: Path, field: str) -> None:
    old = {"reference": "reference.parquet", "current": "current.csv"}[field]
    (spec_dir / "folder.csv").mkdir()
    path = edit(spec_dir, f"  {field}: {old}", f"  {field}: folder.csv")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert (info.value.field, info.value.problem, info.value.expected) == (
        f"data.{field}",
        f"{str(spec_dir / 'folder.csv')!r} is a directory",
        "a readable CSV or Parquet file",
    )


def test_data_that_is_not_parquet(spec_dir: Path) -> None:
    (spec_dir / "reference.parquet").write_text("income,age\n1,2\n")
    with pytest.raises(DataError) as info:
        load_spec(spec_dir / "spec.yaml")
    message = one_line(info.value)
    assert message.startswith(
        f"{spec_dir / 'spec.yaml'}: data.reference: {str(spec_dir / 'reference.parquet')!r} is "
        "not a Parquet file (the file may be corrupt or of another format): ArrowInvalid: "
    )
    assert message.count(str(spec_dir / "reference.parquet")) == 1  # not repeated by pyarrow


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "is not a CSV file"),
        (b"a,b\n1,2\n1,2,3,4\n", "is not a CSV file"),  # pandas' message ends with a newline
        (b"", "is empty (0 bytes)"),
    ],
    ids=["binary", "ragged", "empty"],
)
def test_data_that_is_not_csv(spec_dir: Path, content: bytes, problem: str) -> None:
    (spec_dir / "current.csv").write_bytes(content)
    with pytest.raises(DataError) as info:
        load_spec(spec_dir / "spec.yaml")
    message = one_line(info.value)
    assert message.startswith(
        f"{spec_dir / 'spec.yaml'}: data.current: {str(spec_dir / 'current.csv')!r} {problem}"
    )


def test_data_path_with_an_unknown_user(spec_dir: Path) -> None:
    path = edit(spec_dir, "  current: current.csv", "  current: ~prodready-no-such-user/c.csv")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert (info.value.field, info.value.problem) == (
        "data.current",
        "cannot expand '~prodready-no-such-user/c.csv': no such user's home directory",
    )


@pytest.mark.parametrize(
    "value",
    ['"' + "x" * 5000 + '.csv"', '"a\\0b.csv"', '"line\\nbreak.csv"', '"' + "d/" * 3000 + 'c.csv"'],
    ids=["long-name", "nul", "newline", "long-path"],
)
def test_odd_data_paths_give_one_short_line(spec_dir: Path, value: str) -> None:
    path = edit(spec_dir, "  current: current.csv", f"  current: {value}")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert info.value.field == "data.current"
    assert "does not exist" in info.value.problem
    one_line(info.value, limit=len(str(path)) + 300)


# Hostile strings in many places: every outcome is one of our errors, on one short line.
_LONG = "x" * 200_000
_HOSTILE = [
    ("name: test lending model", f"name: [{', '.join(['1'] * 50_000)}]"),
    ("name: test lending model", f"name: {_LONG}\nnmae: 1"),
    ("task: binary", f"task: {_LONG}"),
    ("task: binary", 'task: "multi\\nline\\rtask"'),
    ("  target: target", f"  target: {_LONG}"),
    ("  target: target", '  target: "tar\\nget"'),
    ("  target: target", f"  target: target\n  features: [{', '.join(['f'] * 20_000)}]"),
    ("  target: target", "  target: target\n  features: [income, income]"),
    ("  target: target", "  target: target\n  categorical: [[nested]]"),
    ("  target: target", f"  target: target\n  id: {_LONG}"),
    ("  path: model.skops", f"  path: {_LONG}"),
    ("  path: model.skops", "  path: model.skops\n  format: [skops]"),
    ("  path: model.skops", f"  path: model.skops\n  format: {_LONG}"),
    ("  path: model.skops", f"  uri: models:/{_LONG}"),
    ("  probe_timeout_s: 300", f"  probe_timeout_s: {_LONG}"),
    ("  probe_timeout_s: 300", f"  {_LONG}: 1"),
    ("  probe_timeout_s: 300", '  "key\\nwith\\nlines": 1'),
    ("metadata:", f'hooks:\n  "a\\nb": "{_LONG}"\nmetadata:'),
    ("metadata:", f"hooks:\n  retrain: {_LONG}\nmetadata:"),
    ("metadata:", f"endpoint:\n  url: ftp://{_LONG}\nmetadata:"),
    ("metadata:", f"registry:\n  uri: [{_LONG}]\nmetadata:"),
    ("metadata:", f'"{_LONG}": 1\nmetadata:'),
    ("metadata:", '"top\\nlevel": 1\nmetadata:'),
    ("monitoring:", f"lineage: {_LONG}\nmonitoring:"),
    ("  owner: Test team", f"  owner: [{', '.join(['[1, [2, [3]]]'] * 10_000)}]"),
    ("  owner: Test team", "  owner: 1" + "0" * 90),
    ("version: 2", "version: 2\n" + "\n".join(f"k{i}: {i}" for i in range(5000))),
]


@pytest.mark.parametrize(("old", "new"), _HOSTILE, ids=[f"h{i}" for i in range(len(_HOSTILE))])
def test_hostile_values_give_one_short_line(
    spec_dir: Path, monkeypatch: pytest.MonkeyPatch, old: str, new: str
) -> None:
    # A models:/ URI reaches MLflow's registry (when installed): keep it out of the cwd.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{spec_dir / 'mlflow.db'}")
    path = edit(spec_dir, old, new)
    started = time.perf_counter()
    with pytest.raises(ProdreadyError) as info:
        load_spec(path)
    assert time.perf_counter() - started < 5
    one_line(info.value, limit=len(str(path)) * 2 + 400)
    assert "x" * 130 not in str(info.value)  # a path keeps its last 120 characters at most


def test_cli_prints_a_bomb_as_one_line_and_exits_2(spec_dir: Path) -> None:
    from prodready.cli import main

    path = edit(spec_dir, "  target: target\n", "  target: target\n  features: &f [a, a]\n")
    err = io.StringIO()
    with redirect_stderr(err):
        code = main(["validate", str(path)])
    assert code == 2
    assert err.getvalue() == (
        f"prodready: error: {path}: data.features: line 11, column 13: {ALIASES_REFUSED} "
        "(expected each value written out where it is used (no &anchor, no *alias))\n"
    )


# -- 8. a data path pointing at a file that is not data --------------------------------------------

PASSWD = (
    "root:x:0:0:root:/root:/bin/bash\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "bin:x:2:2:bin:/bin:/usr/sbin/nologin\n"
)


def test_etc_passwd_as_data_is_refused_by_its_type(spec_dir: Path) -> None:
    if not Path("/etc/passwd").is_file():
        pytest.skip("no /etc/passwd here")
    first = Path("/etc/passwd").read_text(errors="replace").splitlines()[0]
    path = edit(spec_dir, "  reference: reference.parquet", "  reference: /etc/passwd")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert (info.value.field, info.value.problem) == (
        "data.reference",
        "'passwd' has an unknown file type",
    )
    assert first not in str(info.value)


@pytest.mark.parametrize("field", ["reference", "current"])
def test_text_file_as_csv_leaks_none_of_its_content(spec_dir: Path, field: str) -> None:
    (spec_dir / "users.csv").write_text(PASSWD)
    old = {"reference": "reference.parquet", "current": "current.csv"}[field]
    path = edit(spec_dir, f"  {field}: {old}", f"  {field}: users.csv")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = one_line(info.value)
    assert info.value.field == "data.features"
    assert info.value.problem.endswith(f"not in the {field} data")
    assert info.value.expected == (
        "the data the model was built for (this file has 1 column(s), none of them named by the "
        "spec or the model: is it the right file?)"
    )
    for line in PASSWD.splitlines():
        assert line not in message and line.split(":")[0] + ":x" not in message


def test_text_file_as_csv_without_model_feature_names(
    tmp_path: Path, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    import joblib

    # A model fitted on a bare array: the features are then all columns but the target, so
    # read from the file itself; they must not make the file's header count as "named".
    ref = _numeric(binary_data[0])
    model = CalibratedClassifierCV(LinearSVC(), cv=2).fit(
        ref.drop(columns="target").to_numpy(), ref["target"]
    )
    joblib.dump(model, tmp_path / "m.joblib")
    (tmp_path / "users.csv").write_text(PASSWD)
    (tmp_path / "spec.yaml").write_text(
        "version: 2\nmodel:\n  path: m.joblib\ndata:\n  reference: users.csv\n  target: target\n"
    )
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path / "spec.yaml")
    assert info.value.field == "data.target"
    assert "root:x" not in one_line(info.value)


def test_columns_are_listed_when_the_file_is_the_right_one(spec_dir: Path) -> None:
    # The hint stays for a real data file with a typo in the spec.
    path = edit(spec_dir, "  target: target", "  target: targte")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert info.value.expected == (
        "one of 'income', 'debt_ratio', 'age', 'balance', 'region', 'target'"
    )


# -- quote: short, one line, never costly ---------------------------------------------------


def test_quote_is_short_and_one_line_for_any_value() -> None:
    nested: list[Any] = []
    for _ in range(10_000):
        nested = [nested, nested]  # 2**10000 leaves if printed in full
    recursive: list[Any] = [1]
    recursive.append(recursive)

    class BadRepr:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    class Lines:
        def __repr__(self) -> str:
            return "first\nsecond"

    for value in [nested, recursive, BadRepr(), Lines(), 10**100_000, "x" * 10**7, b"\n" * 9]:
        started = time.perf_counter()
        text = quote(value)
        assert time.perf_counter() - started < 0.5
        assert len(text) <= 80 and "\n" not in text, text
    assert quote(10**100_000) == "<an integer of about 100001 digits>"
    assert quote("x" * 100) == "'" + "x" * 78 + "…"
    assert quote(Lines()) == "first second"


def test_loader_is_a_safe_loader() -> None:
    import yaml

    assert issubclass(SpecLoader, yaml.SafeLoader)
    with pytest.raises(SpecError):
        parse_spec("!!python/name:os.system\n", "s.yaml")
