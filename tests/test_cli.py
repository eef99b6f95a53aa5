"""The CLI: exit codes, and one clear line (never a traceback) for bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from prodready.cli import main


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_a_good_spec(spec_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["validate", str(spec_dir / "spec.yaml")], capsys)
    assert code == 0, err
    assert "valid" in out and "3000 reference rows" in out


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("  target: target", "  target: outcome", "data.target: column 'outcome' is not in"),
        ("data:\n", "data: [\n", "malformed YAML"),
        ("  path: model.skops", "  path: nowhere.skops", "model.path: file"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    spec_dir: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, message: str
) -> None:
    spec = spec_dir / "spec.yaml"
    spec.write_text(spec.read_text().replace(old, new))
    for command in ("validate", "assess"):
        code, _, err = run(
            [command, str(spec), "--out", str(spec_dir / "reports")]
            if command == "assess"
            else [command, str(spec)],
            capsys,
        )
        assert code == 2
        assert message in err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (spec_dir / "reports").exists() or not any((spec_dir / "reports").iterdir())


def test_missing_spec_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["assess", str(tmp_path / "none.yaml")], capsys)
    assert code == 2 and "the spec file does not exist" in err


def test_usage_error_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["assess"])
    assert info.value.code == 2


def test_console_script_runs() -> None:
    exe = Path(sys.executable).with_name("prodready")
    result = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "Exit codes: 0 ready, 1 not ready" in result.stdout


def test_unwritable_example_folder_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["example", "--dir", "/proc/prodready-cannot-be-here"], capsys)
    assert code == 2 and "/proc/prodready-cannot-be-here" in err
    assert len(err.strip().splitlines()) == 1


def test_choosing_a_missing_engine_is_bad_input(
    spec_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if os.environ.get("PRODREADY_EXPECT_NO_ALIBI") != "1":
        pytest.skip("only where alibi-detect is known to be absent (PRODREADY_EXPECT_NO_ALIBI=1)")
    spec = spec_dir / "spec.yaml"
    spec.write_text(spec.read_text().replace("monitoring:\n", "monitoring:\n  engine: alibi\n"))
    code, _, err = run(["validate", str(spec)], capsys)
    assert code == 2
    assert err.strip() == (
        "prodready: error: the alibi drift engine needs the optional package 'alibi-detect': "
        "pip install 'prodready[alibi]'"
    )


@pytest.mark.parametrize(
    ("old", "new", "args", "message"),
    [
        ("monitoring:\n  alpha: 0.05", "monitoring:\n  alpha: 2", [], "monitoring.alpha: is 2.0"),
        ("version: 2", "version: 1", [], "version: is 1, an older spec format"),
        ("policy:", "policy:\n  gate: maybe", [], "policy.gate"),
        ("task: binary", "task: binary", ["--questions", "Q3,Q42"], "unknown question 'Q42'"),
        (
            "explainability:\n  sample: 200",
            "explainability:\n  positive_class: yes please",
            ["--questions", "Q5"],
            "explainability.positive_class",
        ),
    ],
)
def test_bad_input_is_found_before_any_kernel_starts(
    spec_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    old: str,
    new: str,
    args: list[str],
    message: str,
) -> None:
    import papermill

    def no_kernel(*args: object, **kwargs: object) -> None:
        raise AssertionError("a kernel was started for bad input")

    monkeypatch.setattr(papermill, "execute_notebook", no_kernel)
    spec = spec_dir / "spec.yaml"
    assert old in spec.read_text()
    spec.write_text(spec.read_text().replace(old, new))
    out = spec_dir / "reports"
    code, _, err = run(["assess", str(spec), "--out", str(out), *args], capsys)
    assert code == 2, err
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_validate_preflights_the_probes(spec_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = spec_dir / "spec.yaml"
    spec.write_text(spec.read_text().replace("  sample: 200", "  sample: 0"))
    code, _, err = run(["validate", str(spec)], capsys)
    assert code == 2 and "explainability.sample: is 0" in err


def test_usage_errors_in_the_kernel_are_every_usage_error() -> None:
    from prodready import _exceptions
    from prodready.report.run import _USAGE_ERRORS

    # Derived from the exception tree: a new kind of bad input needs no list to be kept.
    assert {"UsageError", "SpecError", "DataError", "ModelLoadError"} <= _USAGE_ERRORS
    assert "MissingDependencyError" in _USAGE_ERRORS and "ReportError" not in _USAGE_ERRORS
    assert _exceptions.ProdreadyError.__name__ not in _USAGE_ERRORS
