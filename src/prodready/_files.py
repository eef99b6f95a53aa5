"""Files prodready writes, and the output paths a user gives it.

Every file prodready writes goes through :func:`atomic_write`: the bytes go into a temporary
file created exclusively (``O_EXCL``, a random name: a symlink planted at a predictable name is
never followed) in the destination's own folder, are flushed to disk, and the temporary file is
renamed over the destination. A reader sees the old file or the new one, never half of one.

:func:`check_folder` and :func:`prepare_output_file` check the output paths a user gives before
any work starts, so that a bad one is one clear line naming the option, not a raw ``[Errno]``
after a twenty-minute run.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from prodready._exceptions import UsageError

__all__ = [
    "atomic_write",
    "check_folder",
    "prepare_output_file",
    "remove_folders",
    "shown",
]


def shown(path: str | os.PathLike[str]) -> str:
    """A path quoted for a message: control characters escaped, never raw."""
    return repr(os.fspath(path))


def atomic_write(
    path: str | os.PathLike[str],
    data: str | bytes,
    *,
    errors: str = "strict",
    durable: bool = True,
) -> Path:
    """Write ``data`` to ``path`` atomically and return ``path``.

    Text is encoded as UTF-8 with ``errors`` (e.g. "backslashreplace" for JSON, whose escapes
    then read back as the very same string). ``durable`` also flushes the file and its folder
    to disk (skip it only for scratch files). The file gets the usual mode of a new file
    (0o666 less the umask). A destination that is a character device or a pipe (``/dev/null``,
    ``/dev/stdout``) is written directly, never replaced.
    """
    path = Path(path)
    payload = data.encode("utf-8", errors) if isinstance(data, str) else data
    special = _special_file(path)
    if special:
        with open(path, "wb") as stream:  # an existing device or pipe
            stream.write(payload)
        return path
    if os.path.isdir(path):  # os.path: never raises (a path we may not stat)
        raise UsageError(f"{shown(path)} is a folder, expected a file path")
    folder = path.parent
    # The name is capped so that the temporary name fits the file system's 255 bytes.
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name[:100]}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as stream:
            os.fchmod(stream.fileno(), _new_file_mode())  # on the descriptor: no path race
            stream.write(payload)
            stream.flush()
            if durable:
                os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        _fsync_folder(folder)
    return path


def check_folder(
    path: str | os.PathLike[str], option: str, *, given: str | os.PathLike[str] | None = None
) -> None:
    """Check that ``path`` is a folder that exists or can be created, and can be written in.

    Nothing is created. ``option`` names what the user gave (e.g. "--out") in the message, and
    ``given`` the path they gave, when ``path`` is its folder.
    """
    text = os.fspath(path)
    _check_path_text(text, option, "a folder")
    target = Path(text)
    existing = target
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if not os.path.isdir(existing):
        named = Path(given) if given is not None else target
        where = shown(named) if existing == named else f"{shown(named)}: {shown(existing)}"
        if os.path.islink(existing) and not os.path.exists(existing):
            what = "is a broken symbolic link"
        elif os.path.isfile(existing):
            what = "is a file"
        else:
            what = "is not a folder"
        raise UsageError(f"{option}: {where} {what}, expected a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(
            f"{option}: cannot write in the folder {shown(existing)}: "
            "expected a folder you can write to"
        )


def prepare_output_file(path: str | os.PathLike[str], option: str) -> list[Path]:
    """Make sure a file can be written at ``path`` later, before any work starts.

    ``path`` must not be a folder; its folder must exist or be creatable, and writable (tried
    for real, with a temporary file removed at once). Missing folders are created; they are
    returned, so a run that fails after all can remove them (:func:`remove_folders`).
    """
    text = os.fspath(path)
    _check_path_text(text, option, "a file path")
    target = Path(text)
    if text.endswith(("/", os.sep)) or os.path.isdir(target):
        raise UsageError(f"{option}: {shown(text)} is a folder, expected a file path")
    if _special_file(target):
        return []  # /dev/null, /dev/stdout, a pipe: written as they are
    check_folder(target.parent, option, given=text)
    created = _make_folders(target.parent, option)
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".prodready-check.", suffix=".tmp")
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        remove_folders(created)
        raise UsageError(
            f"{option}: cannot write in the folder {shown(target.parent)} "
            f"({_reason(exc)}): expected a folder you can write to"
        ) from None
    return created


def remove_folders(folders: list[Path]) -> None:
    """Remove folders :func:`prepare_output_file` created, deepest first, if still empty."""
    for folder in reversed(folders):
        with contextlib.suppress(OSError):
            folder.rmdir()


def _make_folders(folder: Path, option: str) -> list[Path]:
    missing: list[Path] = []
    probe = folder
    while not os.path.lexists(probe) and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    created: list[Path] = []
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:
            continue  # made meanwhile by someone else: fine, and not ours to remove
        except OSError as exc:
            remove_folders(created)
            raise UsageError(
                f"{option}: cannot create the folder {shown(path)} ({_reason(exc)}): "
                "expected a folder that exists or can be created"
            ) from None
        created.append(path)
    return created


def _check_path_text(text: str, option: str, expected: str) -> None:
    if not text:
        raise UsageError(f"{option}: '' is an empty path, expected {expected}")
    if "\x00" in text:
        raise UsageError(f"{option}: {shown(text)} contains a NUL character, expected {expected}")


def _special_file(path: Path) -> bool:
    """A character device or a pipe, which is written as it is (never replaced)."""
    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _new_file_mode() -> int:
    """0o666 less the process umask, as a plain ``open`` would create the file."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    umask = os.umask(0o022)  # no /proc: read it the only other way there is
    os.umask(umask)
    return 0o666 & ~umask


def _fsync_folder(folder: Path) -> None:
    """Flush the folder's entry for the renamed file too (POSIX); best effort."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
