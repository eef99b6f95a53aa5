"""The HTTP client's response reader: framing, keep-alive, partial and bad input."""

from __future__ import annotations

import pytest

from prodready.load._http import parse_response

OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n{"a"}'


def test_content_length_answer() -> None:
    assert parse_response(OK) == (200, len(OK), True, b'{"a"}')


def test_partial_answers_say_how_much_is_needed() -> None:
    assert parse_response(OK[:20]) == (0, 0, True, b"")  # the head is not complete
    status, needed, _, _ = parse_response(OK[:-2])
    assert (status, needed) == (0, len(OK))


def test_chunked_answer_with_and_without_trailers() -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    body = b"4\r\nWiki\r\n6;ext=1\r\npedia!\r\n0\r\n\r\n"
    assert parse_response(head + body) == (200, len(head + body), True, b"Wikipedia!")
    trailed = b"4\r\nWiki\r\n0\r\nX-Trailer: 1\r\n\r\n"
    assert parse_response(head + trailed) == (200, len(head + trailed), True, b"Wiki")
    for cut in range(len(head), len(head + body)):
        assert parse_response((head + body)[:cut])[0] == 0


def test_keep_alive_rules() -> None:
    close = b"HTTP/1.1 503 Busy\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    assert parse_response(close)[:3] == (503, len(close), False)
    old = b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"
    assert parse_response(old)[2] is False
    old_kept = b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n"
    assert parse_response(old_kept)[2] is True


def test_informational_answers_are_skipped_and_a_body_may_run_to_the_close() -> None:
    assert parse_response(b"HTTP/1.1 100 Continue\r\n\r\n" + OK)[0] == 200
    assert parse_response(b"HTTP/1.1 200 OK\r\n\r\nstreamed")[:3] == (200, -1, False)
    assert parse_response(b"HTTP/1.1 204 No Content\r\n\r\n")[:2] == (204, 25 + 2)


@pytest.mark.parametrize(
    "garbage",
    [
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"HTTP/1.1 abc Nope\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: many\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 20_000,
    ],
)
def test_garbage_is_refused(garbage: bytes) -> None:
    with pytest.raises(ValueError, match=r"HTTP|status|Content-Length|chunk|too long"):
        parse_response(garbage)
