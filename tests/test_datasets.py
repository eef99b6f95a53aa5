"""Parquet datasets larger than memory (prodready.datasets): folders, the sample, bad input.

A folder of Parquet files is one dataset with a digest over its files; a dataset above
``data.sample_rows`` is held in memory as a deterministic stratified sample and the probes that
predict on it say so in their findings, while Q3's drift reads every row column by column with
a bounded peak memory. Small files and CSV are read exactly as before.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.pipeline import Pipeline

from prodready import ProbeContext, Status, System, load_spec
from prodready._exceptions import DataError, SpecError
from prodready.datasets import dataset_digest, load_data, open_parquet
from prodready.drift import ScipyEngine
from prodready.probes import ExplainabilityProbe, MonitoringProbe
from prodready.system import sha256_file
from tests.conftest import CATEGORICAL, NUMERIC, VALID_SPEC, make_frame

CTX = ProbeContext(deadline=float("inf"))
TRUSTED = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]


def write_parts(frame: pd.DataFrame, folder: Path, parts: int) -> None:
    folder.mkdir(parents=True)
    for i, chunk in enumerate(np.array_split(np.arange(len(frame)), parts)):
        frame.iloc[chunk].to_parquet(folder / f"part-{i}.parquet")


@pytest.fixture(scope="module")
def lending(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """20,000 reference rows in a folder of 4 files, 12,000 current rows in one file."""
    root = tmp_path_factory.mktemp("large")
    ref = make_frame(20_000, 1)
    cur = make_frame(12_000, 2, shift=True)
    ref["id"] = np.arange(len(ref))
    write_parts(ref, root / "reference", 4)
    (root / "reference" / "_SUCCESS").write_text("")  # skipped, as Spark writes it
    (root / "reference" / ".part-0.parquet.crc").write_bytes(b"crc")  # hidden: skipped
    cur.to_parquet(root / "current.parquet")
    return {"root": root, "ref": ref, "cur": cur}


# -- folders and files ----------------------------------------------------------------------


def test_a_folder_is_one_dataset_with_a_digest_over_its_files(lending: dict[str, Any]) -> None:
    root, ref = lending["root"], lending["ref"]
    source = open_parquet(root / "reference", field_name="data.reference")
    assert source.num_rows == 20_000 and len(source.files) == 4
    assert source.columns() == list(ref.columns)  # the stored pandas index left out
    frame, artifact, handle = load_data(root / "reference", sample_rows=50_000)
    pd.testing.assert_frame_equal(frame, ref)  # below sample_rows: all of it, as pandas reads it
    assert handle is not None and not handle.sampled and handle.sample_rows == 20_000
    expected = hashlib.sha256()
    for path in source.files:
        expected.update(f"{path.name}\0{sha256_file(path)}\n".encode())
    assert artifact.sha256 == expected.hexdigest() == dataset_digest(source)
    assert (artifact.location, artifact.format) == (str(root / "reference"), "parquet")


def test_small_files_and_csv_are_read_as_before(lending: dict[str, Any], tmp_path: Path) -> None:
    cur = lending["cur"]
    frame, artifact, handle = load_data(lending["root"] / "current.parquet")
    assert handle is None and artifact.sha256 == sha256_file(lending["root"] / "current.parquet")
    pd.testing.assert_frame_equal(frame, pd.read_parquet(lending["root"] / "current.parquet"))
    cur.to_csv(tmp_path / "current.csv", index=False)
    frame, artifact, handle = load_data(tmp_path / "current.csv", sample_rows=1_000)
    assert handle is None and len(frame) == len(cur) and artifact.format == "csv"


def test_a_large_dataset_is_a_deterministic_stratified_sample(lending: dict[str, Any]) -> None:
    root, ref = lending["root"], lending["ref"]
    frame, _, handle = load_data(root / "reference", sample_rows=2_000, seed=3, target="target")
    assert handle is not None and handle.sampled and handle.stratified_on == "target"
    assert (handle.num_rows, handle.sample_rows, len(frame)) == (20_000, 2_000, 2_000)
    # Each class keeps its share, to a row.
    full = ref["target"].value_counts()
    assert (frame["target"].value_counts() - full * 0.1).abs().max() <= 1
    # Real rows, whole and in their order, with a fresh index.
    rows = frame["id"].to_numpy()
    assert (np.diff(rows) > 0).all() and list(frame.index) == list(range(2_000))
    pd.testing.assert_frame_equal(frame, ref.iloc[rows].reset_index(drop=True))
    # The same seed, the same rows; another seed, others.
    again, _, _ = load_data(root / "reference", sample_rows=2_000, seed=3, target="target")
    other, _, _ = load_data(root / "reference", sample_rows=2_000, seed=4, target="target")
    assert (again["id"] == frame["id"]).all() and not (other["id"] == frame["id"]).all()
    # Without the target column: uniform.
    _, _, uniform = load_data(root / "reference", sample_rows=2_000, target="no such column")
    assert uniform is not None and uniform.stratified_on is None


def test_a_regression_target_is_stratified_on_its_deciles(tmp_path: Path) -> None:
    frame = make_frame(5_000, 3, classes=0)
    frame.to_parquet(tmp_path / "reg.parquet")
    sample, _, handle = load_data(tmp_path / "reg.parquet", sample_rows=1_000, target="target")
    assert handle is not None and handle.stratified_on == "target"
    deciles = np.quantile(frame["target"], np.linspace(0, 1, 11))
    counts = np.histogram(sample["target"], bins=deciles)[0]
    assert counts.min() >= 99 and counts.max() <= 101


# -- bad input: one line each, naming the field and the file ---------------------------------


def test_bad_datasets_get_one_line_naming_field_and_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "_SUCCESS").write_text("")
    stray = tmp_path / "stray"
    write_parts(make_frame(100, 1), stray, 2)
    (stray / "notes.txt").write_text("not data")
    mixed = tmp_path / "mixed"
    write_parts(make_frame(100, 1), mixed, 1)
    other = make_frame(100, 2)
    other["age"] = other["age"].astype(str)
    other.to_parquet(mixed / "part-9.parquet")
    fewer = tmp_path / "fewer"
    write_parts(make_frame(100, 1), fewer, 1)
    make_frame(100, 2).drop(columns="balance").to_parquet(fewer / "part-9.parquet")
    no_rows = tmp_path / "no-rows"
    write_parts(make_frame(0, 1), no_rows, 1)
    damaged = tmp_path / "damaged"
    write_parts(make_frame(100, 1), damaged, 1)
    (damaged / "part-1.parquet").write_bytes(b"PAR1 truncated PAR1")
    cases = [
        (empty, SpecError, "empty' is a directory (expected a readable CSV or Parquet file)"),
        (stray, DataError, "'notes.txt' in"),
        (mixed, DataError, "string there, double in the first file"),
        (
            mixed,
            DataError,
            "'part-9.parquet' does not have the columns of 'part-0.parquet': column 'age' is ",
        ),
        (
            fewer,
            DataError,
            "'part-9.parquet' does not have the columns of 'part-0.parquet': "
            "it lacks column 'balance'",
        ),
        (no_rows, DataError, "has no rows"),
        (damaged, DataError, "cannot read 'part-1.parquet'"),
        (tmp_path / "nowhere", SpecError, "does not exist"),
    ]
    for path, error, text in cases:
        with pytest.raises(error) as info:
            load_data(path, field_name="data.reference", source="spec.yaml")
        message = str(info.value)
        assert text in message, message
        assert "data.reference" in message and "\n" not in message


def test_sample_rows_is_validated_in_the_spec(spec_dir: Path) -> None:
    spec = spec_dir / "spec.yaml"
    for value in ("10", "2.5", "yes", "1000000000"):
        spec.write_text(
            VALID_SPEC.replace("  target: target\n", f"  target: target\n  sample_rows: {value}\n")
        )
        with pytest.raises(SpecError) as info:
            load_spec(spec)
        assert "data.sample_rows" in str(info.value) and "\n" not in str(info.value)


# -- the probes on a sample ------------------------------------------------------------------


@pytest.fixture(scope="module")
def sampled(lending: dict[str, Any], binary_model: Pipeline) -> System:
    """The lending data through a spec: reference a folder, both sides above sample_rows."""
    import skops.io as sio

    root = lending["root"]
    sio.dump(binary_model, root / "model.skops")
    text = VALID_SPEC.replace("reference: reference.parquet", "reference: reference").replace(
        "current: current.csv", "current: current.parquet\n  sample_rows: 3000"
    )
    text = text.replace("  alpha: 0.05\n", "  alpha: 0.05\n  engine: scipy\n  rehearsal_runs: 2\n")
    (root / "spec.yaml").write_text(text)
    return load_spec(root / "spec.yaml")


def test_q3_drift_reads_every_row_and_prediction_checks_say_sample(
    sampled: System, lending: dict[str, Any]
) -> None:
    assert sampled.reference_source is not None and sampled.current_source is not None
    assert sampled.current is not None
    assert (len(sampled.reference), len(sampled.current)) == (3_000, 3_000)
    finding = MonitoringProbe().run(sampled, CTX)
    features = NUMERIC + CATEGORICAL
    whole = ScipyEngine().detect(
        lending["ref"][features], lending["cur"][features], categorical=CATEGORICAL
    )
    assert finding.measurements["psi"] == {f.feature: f.psi for f in whole.features}
    assert finding.measurements["features_drifted"] == whole.drifted == ["income", "region"]
    assert finding.measurements["drift_rows"] == {"reference": 20_000, "current": 12_000}
    assert finding.measurements["sketched_features"] == {}
    assert (
        "scoring, prediction drift and performance on a stratified sample of 3,000 of 20,000 "
        "rows (reference) and a stratified sample of 3,000 of 12,000 rows (current) "
        "(data.sample_rows)." in finding.summary
    )
    assert "feature drift on every row, read column by column from Parquet" in finding.summary
    checks = {c.name: c for c in finding.checks}
    for name in ("prediction drift", "performance", "model scores every row"):
        assert "measured on a stratified sample of 3,000 of 20,000 rows" in checks[name].message
    assert "sample" not in checks["feature drift"].message
    assert "20,000 reference and 12,000 current rows" in checks["test power"].message
    assert finding.measurements["data"]["reference"]["files"] == 4
    assert sampled.describe()["datasets"]["current"]["rows"] == 12_000


def test_q3_states_the_sketch_and_its_bound(sampled: System) -> None:
    system = sampled.with_settings("monitoring", max_column_bytes=8 * 4_000)
    finding = MonitoringProbe().run(system, CTX)
    sketched = finding.measurements["sketched_features"]
    assert set(sketched) == set(NUMERIC)
    bound = sketched["income"]["ks_error_bound"]
    assert 0 < bound < 0.1 and sketched["income"]["confidence"] == pytest.approx(0.998)
    check = next(c for c in finding.checks if c.name == "feature drift")
    assert f"income from a sketch of {sketched['income']['reference_rows']:,} of 20,000" in (
        check.message
    )
    assert f"|KS error| <= {bound:.4f} with probability >= 0.998" in check.message
    assert "from a sketch: |KS error| <=" in finding.summary
    assert finding.measurements["features_drifted"] == ["income", "region"]
    assert finding.status in (Status.FAIL, Status.WARN)


def test_q5_says_its_decisions_come_from_the_sample(sampled: System) -> None:
    system = sampled.with_settings("explainability", sample=40)
    finding = ExplainabilityProbe().run(system, CTX)
    assert "decisions drawn on a stratified sample of 3,000 of 20,000 rows" in finding.summary


# -- memory -----------------------------------------------------------------------------------

_MEASURE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from prodready.datasets import open_parquet
    from prodready.drift import detect_columns
    import scipy.stats, scipy.special  # imported before the baseline

    def peak_kb():
        status = Path("/proc/self/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmHWM"))
        return int(line.split()[1])

    ref, cur = open_parquet(sys.argv[1]), open_parquet(sys.argv[2])
    for side in (ref, cur):  # Arrow's first read maps its code and pools: not the data's
        next(side.float_batches("x00"))
    results = []
    for budget in (1 << 30, 8 * 50_000):  # every column exact, then every column sketched
        Path("/proc/self/clear_refs").write_text("5")  # the peak so far is forgotten
        before = peak_kb()
        report = detect_columns(ref, cur, max_column_bytes=budget)
        results.append({"grew_kb": peak_kb() - before, "sketched": sum(
            f.sketch is not None for f in report.features)})
    print(json.dumps(results))
    """
)


def _write_wide(path: Path, rows: int, columns: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    schema = pa.schema([(f"x{i:02d}", pa.float64()) for i in range(columns)])
    with pq.ParquetWriter(path, schema, compression="none") as writer:
        for _ in range(rows // 100_000):
            block = rng.normal(size=(columns, 100_000))
            writer.write_table(pa.table(list(block), schema=schema))


def test_peak_memory_is_bounded_by_columns_not_the_table(tmp_path: Path) -> None:
    """16 columns of 1,000,000 rows per side (8 MB a column, 256 MB both tables): drift from
    Parquet raises the process's peak by a few columns, not by the tables.

    The peak is VmHWM, reset after the imports (/proc/self/clear_refs). glibc's malloc is told
    to map every large array afresh (MALLOC_MMAP_THRESHOLD_), as it does by itself for
    arrays above 32 MB: otherwise its per-thread arenas may keep freed columns of a few MB.
    """
    rows, columns = 1_000_000, 16
    _write_wide(tmp_path / "ref.parquet", rows, columns, 1)
    _write_wide(tmp_path / "cur.parquet", rows, columns, 2)
    column_mb, table_mb = rows * 8 / 2**20, 2 * columns * rows * 8 / 2**20
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(1 << 20), "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, tmp_path / "ref.parquet", tmp_path / "cur.parquet"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env=env,
    )
    exact, sketched = json.loads(out.stdout)
    assert (exact["sketched"], sketched["sketched"]) == (0, columns)
    exact_mb, sketched_mb = exact["grew_kb"] / 1024, sketched["grew_kb"] / 1024
    # Two columns in flight, two sides each (measured: 4.4 columns), threads and read buffers:
    # the exact run measured 50 to 72 MB. The sketched run holds 0.4 MB per column and side,
    # and batches of 2 MB being hashed: measured 34 to 55 MB, mostly Arrow's and the threads'.
    for grew_mb in (exact_mb, sketched_mb):
        assert grew_mb < 6 * column_mb + 40, (grew_mb, column_mb, table_mb)
        assert grew_mb < table_mb / 2
