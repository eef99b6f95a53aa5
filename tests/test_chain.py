"""The hash chain: appends from several writers stay intact; every kind of tampering is named.

Tampering is done the way an attacker or an accident would: by rewriting the file's bytes
(edit, delete, reorder, insert, truncate) after honest appends.
"""

from __future__ import annotations

import fcntl
import hashlib
import itertools
import json
import math
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from prodready import _chain
from prodready._chain import GENESIS, ChainHead, append, canonical_json, head, verify


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def write_lines(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(lines))


def chain_of(path: Path, n: int) -> list[dict[str, object]]:
    return append(path, [{"n": i, "text": f"decision {i}", "score": i / 7} for i in range(n)])


def test_lines_carry_seq_prev_and_the_hash_of_their_canonical_body(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    first = append(path, [{"b": 1, "a": "é", "x": [1.5, None]}, {"a": 2}])
    second = append(path, [{"a": 3}])
    written = [json.loads(line) for line in lines_of(path)]
    assert written == [*first, *second]
    assert [r["seq"] for r in written] == [1, 2, 3]
    assert written[0]["prev"] == GENESIS
    for before, after in itertools.pairwise(written):
        assert after["prev"] == before["hash"]
    for raw, record in zip(lines_of(path), written, strict=True):
        body = {k: v for k, v in record.items() if k != "hash"}
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
        assert record["hash"] == hashlib.sha256(text.encode()).hexdigest()
        # The line is that canonical text with the hash as its last member.
        assert raw == text[:-1].encode() + b',"hash":"' + record["hash"].encode() + b'"}\n'
    check = verify(path)
    assert check.ok and check.lines == 3 and check.problems == []
    assert check.head == ChainHead(3, written[2]["hash"]) == head(path)


def test_an_empty_or_missing_file_is_an_intact_empty_chain(tmp_path: Path) -> None:
    assert append(tmp_path / "log.jsonl", []) == []
    assert not (tmp_path / "log.jsonl").exists()
    check = verify(tmp_path / "missing.jsonl")
    assert check.ok and check.lines == 0 and check.head is None
    assert head(tmp_path / "missing.jsonl") is None


def test_bad_records_raise_and_leave_the_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    chain_of(path, 2)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="Out of range float"):
        append(path, [{"ok": 1}, {"score": math.nan}])
    with pytest.raises(ValueError, match=r"may not have the fields \['hash', 'seq'\]"):
        append(path, [{"seq": 5, "hash": "x"}])
    with pytest.raises(TypeError):
        append(path, [{"when": object()}])
    assert path.read_bytes() == before
    assert verify(path).ok


def test_durable_appends_are_chained_too(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    append(path, [{"a": 1}], durable=True)
    append(path, [{"a": 2}], durable=True)
    assert verify(path).ok and verify(path).lines == 2


_WRITER = """
import sys
from prodready._chain import append
path, name, batches = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i in range(batches):
    append(path, [{"writer": name, "batch": i, "item": j} for j in range(1 + i % 3)])
"""


def test_two_processes_appending_at_once_keep_the_chain_intact(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    batches = 150
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), name, str(batches)])
        for name in ("a", "b")
    ]
    for writer in writers:
        assert writer.wait(timeout=120) == 0
    per_writer = sum(1 + i % 3 for i in range(batches))
    check = verify(path)
    assert check.ok, check.problems[:5]
    assert check.lines == 2 * per_writer
    records = [json.loads(line) for line in lines_of(path)]
    assert [r["seq"] for r in records] == list(range(1, 2 * per_writer + 1))
    # Each writer's batches are whole and in its own order.
    for name in ("a", "b"):
        mine = [(r["batch"], r["item"]) for r in records if r["writer"] == name]
        assert mine == [(i, j) for i in range(batches) for j in range(1 + i % 3)]


def test_threads_of_one_process_appending_at_once_keep_the_chain_intact(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"

    def work(name: str) -> None:
        for i in range(100):
            append(path, [{"thread": name, "i": i}])

    threads = [threading.Thread(target=work, args=(str(k),)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    check = verify(path)
    assert check.ok and check.lines == 400


def test_an_edited_middle_line_is_named_and_only_it(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    chain_of(path, 6)
    lines = lines_of(path)
    lines[2] = lines[2].replace(b'"text":"decision 2"', b'"text":"decision 9"')
    write_lines(path, lines)
    check = verify(path)
    assert not check.ok
    assert [(p.line, p.message) for p in check.problems] == [
        (3, "seq 3: the content does not match its hash (edited)")
    ]
    assert str(check.problems[0]).startswith("line 3: ")


def test_an_edit_that_recomputes_the_lines_own_hash_breaks_the_next_link(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    records = chain_of(path, 4)
    forged = {k: v for k, v in records[1].items() if k != "hash"}
    forged["score"] = 0.0
    text = canonical_json(forged)
    digest = hashlib.sha256(text.encode()).hexdigest()
    lines = lines_of(path)
    lines[1] = (text[:-1] + f',"hash":"{digest}"}}\n').encode()
    write_lines(path, lines)
    check = verify(path)
    assert [p.line for p in check.problems] == [3]
    assert "prev is not the hash of seq 2" in check.problems[0].message


def test_an_edited_last_line_is_detected_by_its_own_hash(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    chain_of(path, 3)
    lines = lines_of(path)
    lines[-1] = lines[-1].replace(b'"n":2', b'"n":7')
    write_lines(path, lines)
    check = verify(path)
    assert [(p.line, "edited" in p.message) for p in check.problems] == [(3, True)]


def test_a_deleted_middle_line_is_named_at_the_gap(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    chain_of(path, 5)
    lines = lines_of(path)
    del lines[2]
    write_lines(path, lines)
    check = verify(path)
    assert [(p.line, p.message) for p in check.problems] == [
        (3, "seq 4 follows seq 2: 1 line(s) missing before it (deleted)")
    ]


def test_reordered_lines_are_named(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    chain_of(path, 5)
    lines = lines_of(path)
    lines[1], lines[3] = lines[3], lines[1]
    write_lines(path, lines)
    check = verify(path)
    named = {p.line for p in check.problems}
    assert 2 in named and 4 in named
    assert any("out of order" in p.message for p in check.problems)


def test_a_reordering_is_told_from_a_deletion(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    chain_of(path, 6)
    lines = lines_of(path)
    cases = {
        "swapped": (
            [*lines[:2], lines[3], lines[2], *lines[4:]],
            [
                "line 3: seq 4 follows seq 2: seq 3 is later, at line 4 (lines reordered)",
                "line 4: seq 3 follows seq 4: out of order (lines reordered or inserted)",
                "line 5: seq 5 follows seq 3: seq 4 is earlier, at line 3 (lines reordered)",
            ],
        ),
        "moved to the end": (
            [lines[0], *lines[2:], lines[1]],
            [
                "line 2: seq 3 follows seq 1: seq 2 is later, at line 6 (lines reordered)",
                "line 6: seq 2 follows seq 6: out of order (lines reordered or inserted)",
            ],
        ),
        "deleted, a copy of the next appended": (
            [*lines[:2], *lines[3:], lines[3]],
            [
                "line 3: seq 4 follows seq 2: 1 line(s) missing before it (deleted)",
                "line 6: seq 4 follows seq 6: out of order (lines reordered or inserted)",
            ],
        ),
    }
    for name, (edited, expected) in cases.items():
        write_lines(path, edited)
        assert [str(p) for p in verify(path).problems] == expected, name


def test_an_inserted_copy_of_a_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    chain_of(path, 4)
    lines = lines_of(path)
    lines.insert(2, lines[1])  # a replayed line: valid on its own
    write_lines(path, lines)
    check = verify(path)
    assert [p.line for p in check.problems] == [3]
    assert "out of order" in check.problems[0].message


def test_a_torn_last_line_is_named_and_the_next_append_continues_the_chain(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log.jsonl"
    chain_of(path, 3)
    lines = lines_of(path)
    lines.append(lines[0][:40])  # a writer died mid-line
    write_lines(path, lines)
    check = verify(path)
    assert [(p.line, p.message) for p in check.problems] == [
        (4, "torn last line (no newline at its end: an interrupted write)")
    ]
    assert check.lines == 4 and check.head is not None and check.head.seq == 3
    # The torn text stays; the next line starts on a line of its own and links to seq 3.
    appended = append(path, [{"after": "crash"}])
    assert appended[0]["seq"] == 4 and appended[0]["prev"] == check.head.hash
    after = verify(path)
    assert [(p.line, p.message) for p in after.problems] == [
        (4, "not JSON (a torn line from an interrupted write, or an edit)")
    ]
    assert after.lines == 5


def test_malformed_lines_are_named(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    chain_of(path, 2)
    lines = lines_of(path)
    extra = [
        b"\n",
        b"[1, 2]\n",
        b'{"seq": 3, "prev": "x"}\n',
        b'{"seq": true, "prev": "' + b"0" * 64 + b'", "hash": "' + b"0" * 64 + b'"}\n',
        b'{"hash": "' + b"0" * 64 + b'", "seq": 3, "prev": "' + b"0" * 64 + b'"}\n',
    ]
    write_lines(path, lines + extra)
    messages = {p.line: p.message for p in verify(path).problems}
    assert messages[3] == "empty line"
    assert messages[4] == "not a JSON object but a JSON list"
    assert messages[5] == "lacks the chain field(s) hash"
    assert messages[6] == "seq is true, not a positive integer"
    assert messages[7] == 'its "hash" is not the last member of the line'


def test_cutting_the_last_lines_needs_an_anchor_to_be_seen(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    chain_of(path, 5)
    anchor = head(path)
    assert anchor is not None and anchor.seq == 5
    write_lines(path, lines_of(path)[:3])
    assert verify(path).ok  # a shorter chain is still a chain
    check = verify(path, anchor=anchor)
    assert [p.line for p in check.problems] == [3]
    assert "expects seq 5: lines were removed from its end" in check.problems[0].message
    # A replaced line at the anchor's seq is seen too.
    append(tmp_path / "other.jsonl", [{"n": i, "other": True} for i in range(5)])
    other = verify(tmp_path / "other.jsonl", anchor=anchor)
    assert [p.line for p in other.problems] == [5]
    assert "differs from the anchor" in other.problems[0].message


def test_an_append_after_the_file_changed_elsewhere_reads_the_tail_again(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    chain_of(path, 3)
    write_lines(path, lines_of(path)[:2])  # someone cut the last line after our append
    appended = append(path, [{"next": True}])
    assert appended[0]["seq"] == 3
    assert verify(path).ok


def test_long_lines_are_read_back_across_tail_blocks(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    append(path, [{"blob": "x" * 50_000}])
    _chain._heads.clear()  # as a fresh process: the tail must be read from the file
    append(path, [{"blob": "y" * 20_000}, {"small": 1}])
    _chain._heads.clear()
    appended = append(path, [{"last": 1}])
    assert appended[0]["seq"] == 4
    assert verify(path).ok


def test_a_bad_last_line_does_not_stop_the_log(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    chain_of(path, 2)
    with path.open("ab") as handle:
        handle.write(b"garbage\n")
    _chain._heads.clear()
    appended = append(path, [{"after": "garbage"}])
    assert appended[0]["seq"] == 3  # continues from the last intact line
    assert [p.line for p in verify(path).problems] == [3]


def test_problems_beyond_the_limit_are_counted(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    write_lines(path, [b"nope\n"] * 30)
    check = verify(path, limit=10)
    assert len(check.problems) == 10 and check.more == 20 and not check.ok


def test_a_check_reads_up_to_where_the_file_ended_when_it_began(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "log.jsonl"
    chain_of(path, 3)
    flock = fcntl.flock
    late: list[bool] = []

    def unlock_then_append(fd: int, operation: int) -> None:
        flock(fd, operation)
        if operation == fcntl.LOCK_UN and not late:  # verify let go: a writer comes in
            late.append(True)
            append(path, [{"late": True}])

    monkeypatch.setattr(fcntl, "flock", unlock_then_append)
    check = verify(path)
    monkeypatch.undo()
    assert late and check.ok and check.lines == 3  # the late line is not half-read
    assert verify(path).ok and verify(path).lines == 4
