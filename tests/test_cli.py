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
    spec.write_text(spec.read_text().replace("policy:\n", "policy:\n  drift_engine: alibi\n"))
    code, _, err = run(["validate", str(spec)], capsys)
    assert code == 2
    assert err.strip() == (
        "prodready: error: the alibi drift engine needs the optional package 'alibi-detect': "
        "pip install 'prodready[alibi]'"
    )
