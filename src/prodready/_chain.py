"""A hash-chained JSON-lines file: append-only records whose tampering can be detected.

Used for a system's decision log (:mod:`prodready.guard`) and, later, the audit ledger of
assessments. The format is documented in ``docs/decision-log.md`` so that other systems can
write and check such files too.

Format
------
One JSON object per line (UTF-8, ``\\n``-terminated). Besides the record's own fields each line
carries:

- ``seq``: the line's position in the chain, 1 for the first line, then +1 per line;
- ``prev``: the ``hash`` of the line before (64 zeros, :data:`GENESIS`, for the first line);
- ``hash``: the hex sha256 of the line's *body*, and the line's last member.

A line is written as ``BODY`` with ``,"hash":"<hex>"`` inserted before its closing brace, where
``BODY`` is the canonical JSON of the record with ``seq`` and ``prev`` (:func:`canonical_json`:
sorted keys, no spaces, ASCII with ``\\u`` escapes, no NaN or Infinity), and the hash is
``sha256(BODY)``. Equivalently, the hash covers the line's exact bytes with its final ``hash``
member removed, which is how :func:`verify` checks it: a writer in another language does not
have to reproduce Python's number formatting, only to put ``hash`` last.

Writing
-------
:func:`append` takes an exclusive ``fcntl.flock`` lock on the file, reads the tail of the file
(never the whole file) to find the last line's ``seq`` and ``hash``, and appends all its lines
with one ``write`` on a descriptor opened with ``O_APPEND``. Several processes (e.g. the workers
of a model server) and threads may append to the same file at once; their lines interleave as
whole lines and the chain stays intact. The lock is advisory and needs a local file system
(``flock`` is not reliable on NFS). Nothing is ever rewritten. A line left torn by a writer that
died mid-write is terminated with a newline by the next append (the torn text stays, and
:func:`verify` names it); the chain continues from the last intact line.

What :func:`verify` detects
---------------------------
An edited line (its hash no longer matches), a deleted, inserted or reordered line (``prev``
or ``seq`` no longer link up), a malformed line (not JSON, a missing or ill-typed field) and a
torn last line (no final newline). Deleting the *last* lines leaves a shorter but intact chain:
that is only detectable against an external anchor, a ``(seq, hash)`` recorded elsewhere (the
signed ledger will hold one), which ``verify(path, anchor=...)`` then checks.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "GENESIS",
    "ChainCheck",
    "ChainHead",
    "ChainProblem",
    "append",
    "canonical_json",
    "head",
    "verify",
]

#: The ``prev`` of the first line: there is no line before it.
GENESIS = "0" * 64
#: Fields the chain adds to every record; a record may not carry them itself.
RESERVED = frozenset({"seq", "prev", "hash"})

_HEX = frozenset("0123456789abcdef")
# The tail is read backwards in blocks of this size until a whole line is found: one block
# holds a typical line, so an append usually reads 8 KiB, whatever the file's size.
_TAIL_BLOCK = 8192
# A gap of more lines than this is reported as deleted without looking for them elsewhere.
_MAX_GAP = 20
# Every line ends with these bytes and the 64 hex digits between them.
_HASH_KEY = b',"hash":"'
_HASH_END = b'"}'


def canonical_json(value: Any) -> str:
    """The canonical JSON text of ``value``: sorted keys, no spaces, ASCII, no NaN/Infinity.

    Numbers are written as Python writes them (``repr`` of a float, the digits of an int).
    Raises ``ValueError`` for NaN or an infinity and ``TypeError`` for values JSON cannot
    hold: convert those first.
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True)
class ChainHead:
    """The last line of a chain: its ``seq`` and ``hash`` (an anchor to keep elsewhere)."""

    seq: int
    hash: str


@dataclass(frozen=True)
class ChainProblem:
    """One thing wrong with a chain file: ``line`` is the 1-based line number in the file."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class ChainCheck:
    """The result of :func:`verify`.

    ``lines`` is the number of lines checked (a torn last line counts), ``problems`` what is
    wrong, in file order (at most the ``limit`` given to :func:`verify`); ``more`` counts
    problems found beyond that limit. ``head`` is the ``seq`` and ``hash`` of the last line
    that has them (None for an empty file or when no line has).
    """

    lines: int
    problems: list[ChainProblem] = field(default_factory=list)
    more: int = 0
    head: ChainHead | None = None

    @property
    def ok(self) -> bool:
        """True when the file is an intact chain (an empty or missing file is intact)."""
        return not self.problems and not self.more


def append(
    path: str | os.PathLike[str], records: Sequence[Mapping[str, Any]], *, durable: bool = False
) -> list[dict[str, Any]]:
    """Append one chained line per record to ``path`` (created if missing); return the lines.

    Each returned dict is the record with the ``seq``, ``prev`` and ``hash`` it got. The
    records' values must be JSON values without NaN or infinities (``ValueError`` otherwise,
    and nothing is written); a record may not have a ``seq``, ``prev`` or ``hash`` field.

    The lines reach the operating system before this returns, so other processes see them and
    they survive a crash of this process. ``durable=True`` also ``fsync``s the file, so that
    they survive a power loss or a kernel crash too; it is off by default because an fsync
    costs about a disk write (milliseconds) per call while the lock is held, which would
    serialise every decision of a busy server on the disk.
    """
    if not records:
        return []
    bodies: list[dict[str, Any]] = []
    for record in records:
        clash = RESERVED.intersection(record)
        if clash:
            raise ValueError(f"a chained record may not have the fields {sorted(clash)}")
        bodies.append(dict(record))
    fd = os.open(os.fspath(path), os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            stat = os.fstat(fd)
            key = os.path.abspath(path)
            known = _heads.get(key)
            last: ChainHead | None
            if known is not None and known[0] == _identity(stat):
                last, torn = known[1], False
            else:
                last, torn = _last_link(fd, stat.st_size)
            seq, prev = (last.seq, last.hash) if last is not None else (0, GENESIS)
            # A line torn by a writer that died is terminated, so that ours start on a line
            # of their own; its text stays (nothing is ever rewritten) and verify names it.
            out = [b"\n"] if torn else []
            for body in bodies:
                seq += 1
                body["seq"], body["prev"] = seq, prev
                # Serialised under the lock (seq and prev are known only here); a bad value
                # raises before anything is written.
                text = canonical_json(body).encode("ascii")
                prev = hashlib.sha256(text).hexdigest()
                body["hash"] = prev
                out.append(text[:-1] + _HASH_KEY + prev.encode("ascii") + _HASH_END + b"\n")
            _write_all(fd, b"".join(out))
            if durable:
                os.fsync(fd)
            # Remember the head while still holding the lock: the next append from this
            # process skips reading the tail if nobody else wrote in between.
            _heads[key] = (_identity(os.fstat(fd)), ChainHead(seq, prev))
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
    return bodies


# The last head this process wrote per file, with the file's identity and size right after
# the write. If they are unchanged at the next append (under the lock), no other process
# appended in between, and reading the tail again would find this very head.
_heads: dict[str, tuple[tuple[int, int, int, int], ChainHead]] = {}


def _identity(stat: os.stat_result) -> tuple[int, int, int, int]:
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


def head(path: str | os.PathLike[str]) -> ChainHead | None:
    """The last intact line's ``seq`` and ``hash`` (None for a missing or empty file).

    Read from the file's tail under a shared lock. Keep it somewhere the file's writer cannot
    change (a signed report, a ledger) to detect later that lines were cut from the end.
    """
    try:
        fd = os.open(os.fspath(path), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        return _last_link(fd, os.fstat(fd).st_size)[0]
    finally:
        os.close(fd)


def verify(
    path: str | os.PathLike[str], *, anchor: ChainHead | None = None, limit: int = 1000
) -> ChainCheck:
    """Check a chain file line by line; the problems name 1-based line numbers.

    Each line must be a JSON object with an integer ``seq``, a 64-hex ``prev`` and a 64-hex
    ``hash`` as its last member; the hash must match the line's body; ``seq`` must be one more
    than the previous intact line's (1 for the first) and ``prev`` its hash. After a bad line
    the check goes on from the last intact line, so one edit gives one problem. With
    ``anchor`` (a head recorded earlier) the chain must still contain that line unchanged:
    otherwise lines were cut from its end, or it was replaced. A missing file has 0 lines and
    no problems. Reads the file as a stream (any size), up to where it ended when the check
    began; writers are not blocked meanwhile.
    """
    problems: list[ChainProblem] = []
    count = 0
    more = 0

    def problem(line: int, message: str) -> None:
        nonlocal more
        if len(problems) < limit:
            problems.append(ChainProblem(line, message))
        else:
            more += 1

    last: ChainHead | None = None
    anchored = anchor is None
    after_malformed = False
    # Gaps reported as deleted lines (problem index, first and last missing seq, line) and
    # where lines out of place are (seq -> line, kept for lines with a link problem and for
    # the seqs a gap misses, so the memory stays bounded by the problems): a gap whose seqs
    # are all elsewhere in the file was a reordering, not a deletion.
    gaps: list[tuple[int, int, int, int]] = []
    seen: dict[int, int] = {}
    wanted: set[int] = set()
    try:
        stream = open(os.fspath(path), "rb")  # noqa: SIM115 -- closed in the finally below
    except FileNotFoundError:
        if anchor is not None:
            problem(0, f"the file is missing but the anchor expects seq {anchor.seq}")
        return ChainCheck(0, problems, more, None)
    try:
        # The lock is held only to see where the last complete append ends; the lines up to
        # there never change, so they are read without blocking the writers meanwhile.
        fcntl.flock(stream.fileno(), fcntl.LOCK_SH)
        size = os.fstat(stream.fileno()).st_size
        fcntl.flock(stream.fileno(), fcntl.LOCK_UN)
        offset = 0
        for number, raw in enumerate(stream, start=1):
            offset += len(raw)
            if offset > size:  # appended after the check began: not part of this check
                break
            count = number
            if not raw.endswith(b"\n"):
                problem(number, "torn last line (no newline at its end: an interrupted write)")
                break
            parsed, error = _parse_line(raw[:-1])
            if parsed is None:
                problem(number, error)
                after_malformed = True
                continue
            if error:  # intact fields, but the content does not match the hash: edited
                problem(number, error)
            seq, prev, digest = parsed
            expected_seq = 1 if last is None else last.seq + 1
            expected_prev = GENESIS if last is None else last.hash
            # Right after a malformed line, a line one seq further on is expected: the
            # malformed line held the seq in between (already reported).
            skipped = after_malformed and seq == expected_seq + 1
            if (prev != expected_prev or seq != expected_seq) and not skipped:
                if len(problems) < limit:
                    seen.setdefault(seq, number)
                    if 0 < seq - expected_seq <= _MAX_GAP:
                        gaps.append((len(problems), expected_seq, seq - 1, number))
                        wanted.update(range(expected_seq, seq))
                problem(number, _link_problem(seq, expected_seq, last))
            elif seq in wanted:
                seen.setdefault(seq, number)
            after_malformed = False
            # Go on from this line whatever its problems: the next line links to its hash,
            # so one edit, deletion or insertion gives one problem, not one per later line.
            last = ChainHead(seq, digest)
            if anchor is not None and seq == anchor.seq:
                if digest != anchor.hash:
                    problem(number, f"seq {seq} differs from the anchor (its hash changed)")
                anchored = True
    finally:
        stream.close()
    for index, first, final, number in gaps:
        where = [seen.get(s, 0) for s in range(first, final + 1)]
        if not all(where):  # some are nowhere out of place in the file: deleted
            continue
        moved = f"seq {first} is" if first == final else f"seqs {first}-{final} are"
        lines = ("line " if len(where) == 1 else "lines ") + ", ".join(map(str, where))
        if all(line > number for line in where):
            why = f"{moved} later, at {lines} (lines reordered)"
        elif all(line < number for line in where):
            why = f"{moved} earlier, at {lines} (lines reordered)"
        else:
            why = f"{moved} elsewhere, at {lines} (lines reordered)"
        head = problems[index].message.split(": ")[0]
        problems[index] = ChainProblem(number, f"{head}: {why}")
    if not anchored and anchor is not None:
        got = f"ends at seq {last.seq}" if last is not None else "has no intact line"
        problem(
            count,
            f"the chain {got} but the anchor expects seq {anchor.seq}: lines were removed "
            "from its end",
        )
    return ChainCheck(count, problems, more, last)


# -- helpers ------------------------------------------------------------------------------


def _parse_line(raw: bytes) -> tuple[tuple[int, str, str] | None, str]:
    """Read one line (without its newline): ``((seq, prev, hash), problem)``.

    ``(None, problem)`` when the line is malformed (no usable chain fields);
    ``(fields, problem)`` when the fields are there but the content does not match the hash;
    ``(fields, "")`` for an intact line.
    """
    if not raw.strip():
        return None, "empty line"
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None, "not JSON (a torn line from an interrupted write, or an edit)"
    if not isinstance(value, dict):
        return None, f"not a JSON object but a JSON {type(value).__name__}"
    missing = [name for name in ("seq", "prev", "hash") if name not in value]
    if missing:
        return None, f"lacks the chain field(s) {', '.join(missing)}"
    seq, prev, digest = value["seq"], value["prev"], value["hash"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        return None, f"seq is {json.dumps(seq)[:40]}, not a positive integer"
    for name, text in (("prev", prev), ("hash", digest)):
        if not (isinstance(text, str) and len(text) == 64 and _HEX.issuperset(text)):
            return None, f"{name} is not 64 lowercase hex digits"
    member = _HASH_KEY + digest.encode("ascii") + _HASH_END
    if not raw.endswith(member):
        return None, 'its "hash" is not the last member of the line'
    if hashlib.sha256(raw[: -len(member)] + b"}").hexdigest() != digest:
        return (seq, prev, digest), f"seq {seq}: the content does not match its hash (edited)"
    return (seq, prev, digest), ""


def _link_problem(seq: int, expected_seq: int, last: ChainHead | None) -> str:
    """Why a line does not follow the last line before it, in words."""
    after = f"seq {last.seq}" if last is not None else "the start of the file"
    if seq > expected_seq:
        gap = seq - expected_seq
        return f"seq {seq} follows {after}: {gap} line(s) missing before it (deleted)"
    if seq < expected_seq:
        return f"seq {seq} follows {after}: out of order (lines reordered or inserted)"
    return f"seq {seq}: its prev is not the hash of {after} (a line was replaced or inserted)"


def _last_link(fd: int, size: int) -> tuple[ChainHead | None, bool]:
    """The last intact line's head, reading the file backwards from ``size``; torn or not.

    ``torn`` means the file does not end with a newline (a writer died mid-line). Lines that
    are not intact (edited, not JSON) are skipped backwards, so one bad line never stops the
    log: the chain continues from the last good line and :func:`verify` reports the bad one.
    """
    if size == 0:
        return None, False
    start = max(0, size - _TAIL_BLOCK)
    buffer = os.pread(fd, size - start, start)  # the bytes [start, size) of the file

    def newline_before(limit: int) -> int:
        """File offset of the last newline in [0, limit), or -1; reads more as needed."""
        nonlocal buffer, start
        while True:
            found = buffer.rfind(b"\n", 0, max(0, limit - start))
            if found >= 0:
                return start + found
            if start == 0:
                return -1
            # Read twice as much each time: a long line costs O(its length), not O(n^2).
            lower = max(0, start - max(_TAIL_BLOCK, len(buffer)))
            buffer = os.pread(fd, start - lower, lower) + buffer
            start = lower

    torn = not buffer.endswith(b"\n")
    end = newline_before(size) + 1 if torn else size  # lines lie in [0, end)
    while end > 0:
        begin = newline_before(end - 1) + 1
        parsed, error = _parse_line(buffer[begin - start : end - 1 - start])
        if parsed is not None and not error:
            return ChainHead(parsed[0], parsed[2]), torn
        end = begin
    return None, torn


def _write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` (``os.write`` may write less than asked)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
