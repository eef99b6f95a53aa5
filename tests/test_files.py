"""The one writer of files (exclusive random temporary file, fsync, rename) and path checks."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from prodready import UsageError
from prodready._files import atomic_write, check_folder, prepare_output_file, remove_folders


def umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "results.json"
    target.write_text("old")
    assert atomic_write(target, "new ü") == target
    assert target.read_text(encoding="utf-8") == "new ü"
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask()  # as open() would make it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_a_symlink_planted_at_the_old_temporary_name_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "out.xml.tmp").symlink_to(victim)
    atomic_write(tmp_path / "out.xml", "<x/>")
    assert victim.read_text() == "precious"
    assert (tmp_path / "out.xml").read_text() == "<x/>"
    assert not (tmp_path / "out.xml").is_symlink()


def test_a_symlink_at_the_destination_is_replaced_not_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "junit.xml").symlink_to(victim)
    atomic_write(tmp_path / "junit.xml", "<x/>")
    assert victim.read_text() == "precious"
    assert not (tmp_path / "junit.xml").is_symlink()


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "report.html"
    target.write_text("old")

    def full_disk(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError, match="No space"):
        atomic_write(target, "new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_unencodable_text_follows_the_errors_policy(tmp_path: Path) -> None:
    with pytest.raises(UnicodeEncodeError):
        atomic_write(tmp_path / "a.txt", "caf\udce9")
    assert list(tmp_path.iterdir()) == []
    atomic_write(tmp_path / "a.json", "caf\udce9", errors="backslashreplace")
    assert (tmp_path / "a.json").read_text() == "caf\\udce9"


def test_a_pipe_is_written_as_it_is_never_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    try:
        atomic_write(fifo, "<x/>")
    finally:
        reader.join(timeout=10)
    assert received == [b"<x/>"]
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_a_folder_at_the_destination_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"is a folder, expected a file path"):
        atomic_write(tmp_path, "x")


def test_check_folder(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    check_folder(tmp_path / "new" / "deeper", "--out")  # can be created: fine
    assert not (tmp_path / "new").exists()  # and nothing was created
    cases = {
        tmp_path / "file": f"--out: '{tmp_path}/file' is a file, expected a folder",
        tmp_path / "file" / "sub": (
            f"--out: '{tmp_path}/file/sub': '{tmp_path}/file' is a file, expected a folder"
        ),
        tmp_path / "dangling": (
            f"--out: '{tmp_path}/dangling' is a broken symbolic link, expected a folder"
        ),
        Path("/dev/null"): "--out: '/dev/null' is not a folder, expected a folder",
    }
    for path, message in cases.items():
        with pytest.raises(UsageError) as info:
            check_folder(path, "--out")
        assert str(info.value) == message
    with pytest.raises(UsageError, match=r"^--out: '' is an empty path, expected a folder$"):
        check_folder("", "--out")
    with pytest.raises(UsageError, match="contains a NUL character"):
        check_folder("a\x00b", "--out")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_check_folder_refuses_a_folder_it_cannot_write_in(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        with pytest.raises(UsageError) as info:
            check_folder(locked / "sub", "--out")
        assert str(info.value) == (
            f"--out: cannot write in the folder '{locked}': expected a folder you can write to"
        )
        with pytest.raises(UsageError) as info:
            prepare_output_file(locked / "junit.xml", "--junit")
        assert str(info.value).startswith(f"--junit: cannot write in the folder '{locked}'")
    finally:
        locked.chmod(0o700)


def test_prepare_output_file(tmp_path: Path) -> None:
    created = prepare_output_file(tmp_path / "a" / "b" / "junit.xml", "--junit")
    assert created == [tmp_path / "a", tmp_path / "a" / "b"]
    assert list((tmp_path / "a" / "b").iterdir()) == []  # the write test left nothing
    remove_folders(created)
    assert list(tmp_path.iterdir()) == []
    for path, message in {
        str(tmp_path): f"--junit: '{tmp_path}' is a folder, expected a file path",
        f"{tmp_path}/x/": f"--junit: '{tmp_path}/x/' is a folder, expected a file path",
        "/proc/prodready-nope/junit.xml": (
            "--junit: cannot create the folder '/proc/prodready-nope' "
            "(No such file or directory): expected a folder that exists or can be created"
        ),
        "": "--junit: '' is an empty path, expected a file path",
    }.items():
        with pytest.raises(UsageError) as info:
            prepare_output_file(path, "--junit")
        assert str(info.value) == message
    assert prepare_output_file("/dev/null", "--junit") == []  # a device is fine, as it is
