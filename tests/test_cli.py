"""The CLI: exit codes, and one clear line (never a traceback) for bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import prodready
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
        f"prodready: error: {spec}: monitoring.engine: the alibi drift engine needs the "
        "optional package 'alibi-detect': pip install 'prodready[alibi]'"
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


# --- hostile input: the run folder, the files written, the command line --------------------

EXPECTED_RUN_ID = (
    "expected a folder name of 1 to 100 letters, digits, '.', '_' or '-', "
    "starting with a letter or digit"
)


@pytest.fixture
def no_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    import papermill

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a kernel was started for bad input")

    monkeypatch.setattr(papermill, "execute_notebook", refuse)


@pytest.mark.parametrize(
    ("run_id", "problem"),
    [
        ("../x", "'../x' contains a path separator '/'"),
        ("a/b", "'a/b' contains a path separator '/'"),
        ("a\\b", "'a\\\\b' contains a path separator '\\\\'"),
        ("..", "'..' starts with '.'"),
        (".hidden", "'.hidden' starts with '.'"),
        ("-rf", "'-rf' starts with '-'"),
        ("", "is empty"),
        ("a" * 300, f"{'a' * 40!r}... is 300 characters long"),
        ("a" * 101, f"{'a' * 40!r}... is 101 characters long"),
        ("ok\x1b[2J", "'ok\\x1b[2J' contains the control character '\\x1b'"),
        ("tab\there", "'tab\\there' contains the control character '\\t'"),
        ("nul\x00", "'nul\\x00' contains the control character '\\x00'"),
        ("sp ace", "'sp ace' contains ' '"),
        ("café", "'café' contains 'é'"),
        ("bad\udcff", "'bad\\udcff' contains '\\udcff'"),
    ],
)
def test_a_bad_run_id_is_one_line_exit_2_and_nothing_written(
    spec_dir: Path,
    capsys: pytest.CaptureFixture[str],
    no_kernel: None,
    run_id: str,
    problem: str,
) -> None:
    out = spec_dir / "reports"
    junit = spec_dir / "ci" / "junit.xml"
    before = sorted(spec_dir.iterdir())
    code, stdout, err = run(
        [
            *("assess", str(spec_dir / "spec.yaml"), "--out", str(out)),
            *("--junit", str(junit), f"--run-id={run_id}"),
        ],
        capsys,
    )
    assert code == 2 and stdout == ""
    assert err == f"prodready: error: --run-id: {problem}: {EXPECTED_RUN_ID}\n"
    assert sorted(spec_dir.iterdir()) == before  # no out folder, no junit folder


def test_good_run_ids_pass() -> None:
    from prodready.report.run import check_run_id

    for run_id in ("a", "9", "run1", "2026-11-25T10.00_x", "A" * 100, "a..b"):
        assert check_run_id(run_id) == run_id
    with pytest.raises(prodready.UsageError, match=r"^run_id: is a int, not text: "):
        check_run_id(7)


def test_run_assessment_checks_the_run_id_and_out_too(spec_dir: Path, no_kernel: None) -> None:
    (spec_dir / "afile").write_text("")
    with pytest.raises(prodready.UsageError, match=r"^run_id: '\.\./\.\./etc' contains a path"):
        prodready.run_assessment(spec_dir / "spec.yaml", spec_dir / "out", run_id="../../etc")
    with pytest.raises(prodready.UsageError, match=r"^out: '.*afile' is a file, expected a folder"):
        prodready.run_assessment(spec_dir / "spec.yaml", spec_dir / "afile")
    assert not (spec_dir / "out").exists()


def test_bad_output_paths_are_one_line_each(
    spec_dir: Path, capsys: pytest.CaptureFixture[str], no_kernel: None
) -> None:
    spec = str(spec_dir / "spec.yaml")
    (spec_dir / "afile").write_text("")
    cases = {
        ("--out", "afile"): "--out: 'afile' is a file, expected a folder",
        ("--out", "afile/reports"): "--out: 'afile/reports': 'afile' is a file, expected a folder",
        ("--out", ""): "--out: '' is an empty path, expected a folder",
        ("--junit", "."): "--junit: '.' is a folder, expected a file path",
        ("--junit", "ci/"): "--junit: 'ci/' is a folder, expected a file path",
        ("--junit", "afile/junit.xml"): (
            "--junit: 'afile/junit.xml': 'afile' is a file, expected a folder"
        ),
        ("--junit", "/proc/prodready-nope/junit.xml"): (
            "--junit: cannot create the folder '/proc/prodready-nope' "
            "(No such file or directory): expected a folder that exists or can be created"
        ),
        ("--junit", ""): "--junit: '' is an empty path, expected a file path",
    }
    os.chdir(spec_dir)
    try:
        for (option, value), message in cases.items():
            before = sorted(spec_dir.rglob("*"))
            code, stdout, err = run(["assess", spec, option, value], capsys)
            assert (code, stdout, err) == (2, "", f"prodready: error: {message}\n")
            assert sorted(spec_dir.rglob("*")) == before
    finally:
        os.chdir(Path(__file__).parent)


def test_junit_never_lands_on_the_spec_or_the_run(
    spec_dir: Path, capsys: pytest.CaptureFixture[str], no_kernel: None
) -> None:
    spec = spec_dir / "spec.yaml"
    out = spec_dir / "reports"
    for junit, clash in {
        spec: "is the spec file",
        out: "is the --out folder",
        out / "r1" / "junit.xml": (
            "is inside the run folder, which is published whole when the run ends"
        ),
    }.items():
        code, _, err = run(
            ["assess", str(spec), "--out", str(out), "--run-id", "r1", "--junit", str(junit)],
            capsys,
        )
        assert code == 2
        assert (
            err
            == f"prodready: error: --junit: {str(junit)!r} {clash}: expected another file path\n"
        )
    assert not out.exists() and spec.read_text().startswith("version: 2")


def test_a_taken_run_id_is_refused_before_any_work(
    spec_dir: Path, capsys: pytest.CaptureFixture[str], no_kernel: None
) -> None:
    out = spec_dir / "reports"
    (out / "r1").mkdir(parents=True)
    code, _, err = run(
        ["assess", str(spec_dir / "spec.yaml"), "--out", str(out), "--run-id", "r1"], capsys
    )
    assert code == 2
    assert err == f"prodready: error: run id 'r1' is taken in '{out}': choose another run id\n"
    assert sorted(p.name for p in out.iterdir()) == ["r1"]


def test_os_errors_are_words_not_errno() -> None:
    from prodready.cli import _os_error

    assert _os_error(PermissionError(13, "Permission denied", "/x")) == (
        "cannot use '/x': Permission denied"
    )
    assert _os_error(OSError(28, "No space left on device")) == "No space left on device"
    assert _os_error(FileExistsError(17, "File exists", "a", None, "b")) == (
        "cannot use 'a' -> 'b': File exists"
    )


def test_the_printed_lines_escape_control_characters(capsys: pytest.CaptureFixture[str]) -> None:
    from prodready.cli import _print_summary, printable
    from tests.test_results import sample

    hostile = "\x1b[2J\x1b[HREADY\x07\x00"
    assert printable(hostile) == "\\x1b[2J\\x1b[HREADY\\x07\\x00"
    assert printable("a\nb\rc\x9bd\u202eе\ud800") == "a\\nb\\rc\\x9bd\\u202eе\\ud800"
    a = sample()
    a.system["name"] = hostile
    a.findings[2].summary = "drift in 'x\nQ4 PASS'\x1b[0m"
    _print_summary(a, quiet=False)
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "\\x1b[2J\\x1b[HREADY\\x07\\x00: NOT READY (overall score 0%)"
    assert "  Q3 WARN         Monitoring and drift: drift in 'x\\nQ4 PASS'\\x1b[0m\n" in out
    assert len(out.splitlines()) == 12  # verdict, scores, ten questions: nothing injected
    assert not set(out) & {"\x1b", "\x07", "\x00", "\r"}


def test_error_lines_escape_control_characters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "spec\x1b[2J\nREADY.yaml"
    code, _, err = run(["validate", str(spec)], capsys)
    assert code == 2 and len(err.splitlines()) == 1
    assert "\x1b" not in err and "spec\\x1b[2J\\nREADY.yaml" in err
    with pytest.raises(SystemExit) as info:
        main(["assess", "s.yaml", "--bogus=\x1b[2J"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "\x1b" not in err and "--bogus=\\x1b[2J" in err


def test_sigterm_is_an_interrupt_with_exit_143(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import signal
    import time

    from prodready import cli

    cleaned: list[bool] = []

    def slow(args: object) -> int:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)
            return 0
        finally:
            cleaned.append(True)  # what the run's own clean-up does

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(cli, "_assess", slow)
    code, stdout, err = run(["assess", "spec.yaml"], capsys)
    assert (code, stdout, err) == (143, "", "prodready: interrupted (SIGTERM)\n")
    assert cleaned == [True]
    assert signal.getsignal(signal.SIGTERM) is before  # restored for the embedding process

    def ctrl_c(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_assess", ctrl_c)
    assert run(["assess", "spec.yaml"], capsys) == (130, "", "prodready: interrupted (Ctrl-C)\n")


def test_ignored_plugins_are_said_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    from prodready.cli import _print_summary
    from tests.test_results import sample

    a = sample()
    a.notes = ["ignored the probe plug-in Q11=plug:x: 'Q11' is not a checklist question id"]
    _print_summary(a, quiet=True)
    out, err = capsys.readouterr()
    assert err == (
        "prodready: warning: ignored the probe plug-in Q11=plug:x: 'Q11' is not a checklist "
        "question id\n"
    )
    assert out.startswith("s: NOT READY")


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path: Path) -> None:
    # `prodready compare ... | head`: the pipe closes under the writer. Here the reading end
    # is closed before anything is written, so every write meets a broken pipe.
    import signal
    import subprocess
    import sys

    from tests.test_results import sample

    sample().save(tmp_path / "a.json")
    sample().save(tmp_path / "b.json")
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "prodready.cli", "compare", *map(str, tmp_path.iterdir())],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.stderr == ""  # no "Broken pipe" error line, no traceback at exit
    assert done.returncode == 128 + signal.SIGPIPE
