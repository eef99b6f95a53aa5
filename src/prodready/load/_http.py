"""Open-loop load over HTTP/1.1: a minimal asyncio client on kept-alive connections.

General HTTP clients (httpx, requests) spend hundreds of microseconds per request in Python;
a generator must be much cheaper than the system it measures, so this one does only what a
load test needs: the request bytes are built once, written to a free connection at their
scheduled time, and the answer's status line and framing (Content-Length, chunked, or until
the connection closes) are read with a few ``bytes.find`` calls. It runs its own event loop
in a thread of its own, so it works the same from a script, a notebook or a probe.

Connections are opened as the schedule needs them, up to ``concurrency``; a request due when
every connection is busy waits for the next free one, and that wait counts in its latency
(the system is slow). A request whose answer has not come ``timeout_s`` after its
*scheduled* time is a time-out; its connection is closed and replaced.
"""

from __future__ import annotations

import asyncio
import collections
import math
import selectors
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from prodready._exceptions import UsageError
from prodready.load._schedule import Schedule
from prodready.load._stats import ERROR, OK, TIMEOUT, Record

__all__ = ["HTTPTarget", "parse_response", "run_http"]

_MAX_HEAD = 64 * 1024
_SWEEP_S = 0.02


@dataclass(frozen=True)
class HTTPTarget:
    """An HTTP route to load: ``POST`` of ``bodies`` (sent in turn) to ``url``.

    ``url`` is the full URL of the prediction route (``http://127.0.0.1:5001/invocations``);
    ``content_type`` and ``headers`` go with every request. ``check``, when given, is
    called with the status and body of a sample of the 2xx answers (the first 20 of a phase,
    then one in ``check_every``) and returns False for an answer that is not a valid
    prediction: such answers count as errors ("malformed").
    """

    url: str
    bodies: Sequence[bytes]
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    check: Callable[[int, bytes], bool] | None = None
    check_every: int = 20

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"the load target must be an http:// or https:// URL: {self.url!r}")
        if not self.bodies:
            raise UsageError("the load target needs at least one request body")

    def describe(self) -> str:
        """In words: "POST http://127.0.0.1:5001/invocations"."""
        return f"POST {self.url}"

    def requests(self) -> list[bytes]:
        """Every request, head and body, as the bytes written on the wire."""
        parts = urlsplit(self.url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = parts.netloc.rsplit("@", 1)[-1]
        extra = "".join(f"{k}: {v}\r\n" for k, v in self.headers.items())
        out = []
        for body in self.bodies:
            head = (
                f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {self.content_type}\r\n"
                f"Content-Length: {len(body)}\r\nUser-Agent: prodready-load\r\n{extra}\r\n"
            )
            out.append(head.encode("latin-1") + body)
        return out


def _header(head: bytes, name: bytes) -> bytes | None:
    """The value of header ``name`` in a lower-cased head that starts with CRLF."""
    at = head.find(b"\r\n" + name + b":")
    if at < 0:
        return None
    stop = head.find(b"\r\n", at + 2)
    return head[at + len(name) + 3 : stop if stop >= 0 else len(head)].strip()


def _chunked(buf: bytes | bytearray, at: int) -> tuple[bytes, int] | None:
    """The body of a chunked message starting at ``at`` and where it ends; None if partial."""
    parts: list[bytes] = []
    while True:
        eol = buf.find(b"\r\n", at)
        if eol < 0:
            return None
        try:
            size = int(bytes(buf[at:eol]).split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise ValueError("bad chunk size") from None
        at = eol + 2
        if size == 0:  # the last chunk, then optional trailers and an empty line
            if buf[at : at + 2] == b"\r\n":
                return b"".join(parts), at + 2
            end = buf.find(b"\r\n\r\n", at)
            return None if end < 0 else (b"".join(parts), end + 4)
        if len(buf) < at + size + 2:
            return None
        parts.append(bytes(buf[at : at + size]))
        at += size + 2


def parse_response(buf: bytes | bytearray) -> tuple[int, int, bool, bytes]:
    """Read one HTTP/1.x response from the start of ``buf``.

    Returns ``(status, consumed, keep_alive, body)``. ``status`` 0: incomplete, and
    ``consumed`` is the total length needed when known (else 0). ``consumed`` -1: the body
    runs until the server closes the connection (read it then). Informational (1xx)
    answers are skipped. Raises ValueError for bytes that are not an HTTP response.
    """
    start = 0
    while True:
        end = buf.find(b"\r\n\r\n", start)
        if end < 0:
            if len(buf) - start > _MAX_HEAD:
                raise ValueError("response head too long")
            return 0, 0, True, b""
        if buf[start : start + 5] != b"HTTP/":
            raise ValueError("not an HTTP response")
        try:
            status = int(buf[start + 9 : start + 12])
        except ValueError:
            raise ValueError("bad status line") from None
        line_end = buf.find(b"\r\n", start)
        head = bytes(buf[line_end : end + 2]).lower()
        if 100 <= status < 200:  # e.g. 100 Continue: the real answer follows
            start = end + 4
            continue
        connection = _header(head, b"connection") or b""
        if buf[start + 5 : start + 8] == b"1.1":
            keep = b"close" not in connection
        else:
            keep = b"keep-alive" in connection
        body_at = end + 4
        if status in (204, 304):
            return status, body_at, keep, b""
        encoding = _header(head, b"transfer-encoding")
        if encoding is not None and b"chunked" in encoding:
            chunked = _chunked(buf, body_at)
            if chunked is None:
                return 0, 0, keep, b""
            return status, chunked[1], keep, chunked[0]
        length = _header(head, b"content-length")
        if length is not None:
            try:
                total = body_at + int(length)
            except ValueError:
                raise ValueError("bad Content-Length") from None
            if len(buf) < total:
                return 0, total, keep, b""
            return status, total, keep, bytes(buf[body_at:total])
        return status, -1, False, b""


class _Connection(asyncio.Protocol):
    """One kept-alive connection; carries one request at a time (``request``, -1: none)."""

    __slots__ = ("buf", "need", "phase", "request", "transport")

    def __init__(self, phase: _Phase, request: int) -> None:
        self.phase = phase
        self.request = request
        self.transport: asyncio.Transport | None = None
        self.buf: bytearray | None = None
        self.need = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.phase.connected(self)

    def send(self, i: int) -> None:
        assert self.transport is not None
        self.request = i
        self.transport.write(self.phase.payloads[i % self.phase.m])

    def data_received(self, data: bytes) -> None:
        if self.request < 0:  # bytes nobody asked for (or after a time-out): drop it
            self.abort()
            return
        buf = self.buf
        message: bytes | bytearray = data
        if buf is not None:
            buf += data
            if len(buf) < self.need:
                return
            message = buf
        try:
            status, consumed, keep, body = parse_response(message)
        except ValueError:
            self.buf = None
            self.phase.failed(self, "bad response")
            self.abort()
            return
        if status == 0 or consumed < 0:  # more to come (or the body runs to the close)
            if buf is None:
                self.buf = bytearray(data)
            self.need = consumed if status == 0 else _MAX_HEAD * 1024
            return
        self.buf = None
        self.need = 0
        self.phase.answered(self, status, body, keep and consumed == len(message))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.request >= 0 and self.buf is not None:
            try:  # a body that ran until the close is complete now
                status, consumed, _, _ = parse_response(self.buf)
            except ValueError:
                status, consumed = 0, 0
            if consumed < 0:
                start = self.buf.find(b"\r\n\r\n") + 4
                body = bytes(self.buf[start:])
                self.buf = None
                self.phase.answered(self, status, body, False)
        self.phase.lost(self)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class _Phase:
    """One phase of open-loop HTTP load, run on an event loop of its own."""

    def __init__(
        self,
        target: HTTPTarget,
        schedule: Schedule,
        concurrency: int,
        timeout_s: float,
        cancel: threading.Event | None,
        deadline: float,
    ) -> None:
        parts = urlsplit(target.url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.ssl: ssl.SSLContext | None = (
            ssl.create_default_context() if parts.scheme == "https" else None
        )
        self.payloads = target.requests()
        self.m = len(self.payloads)
        self.check = target.check
        self.check_every = max(1, target.check_every)
        self.schedule = schedule
        self.n = schedule.size
        self.record = Record(self.n)
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.cancel = cancel
        # The caller's deadline is a time.monotonic() instant; this phase counts in perf_counter.
        self.deadline = time.perf_counter() + (deadline - time.monotonic())
        self.sched: list[float] = []
        self.t0 = 0.0
        self.next = 0  # the next request the schedule has not reached yet
        self.finished = 0
        self.answers = 0
        self.open = 0  # connections open or being opened
        self.live: set[_Connection] = set()
        self.tasks: set[asyncio.Future[None]] = set()
        self.idle: list[_Connection] = []
        self.pending: collections.deque[int] = collections.deque()
        self.status_codes: dict[int, int] = {}
        self.codes = {
            name: self.record.code(name)
            for name in ("timeout", "dropped", "connect failed", "bad response", "malformed")
        }
        self.stopped = ""
        self.interrupted = threading.Event()  # the caller's thread was interrupted
        self.done: asyncio.Future[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.timer: asyncio.TimerHandle | None = None

    # -- running --------------------------------------------------------------------------

    async def main(self) -> None:
        self.loop = loop = asyncio.get_running_loop()
        self.done = loop.create_future()
        # Two connections ready before the first request (more open as the schedule needs).
        warm = [self._open(-1) for _ in range(min(2, self.concurrency))]
        await asyncio.wait([asyncio.ensure_future(w) for w in warm], timeout=self.timeout_s)
        self.t0 = time.perf_counter() + 0.005
        self.sched = (self.t0 + self.schedule.offsets).tolist()
        self.timer = loop.call_later(max(0.0, self.t0 - time.perf_counter()), self.tick)
        sweeper = asyncio.ensure_future(self.sweep())
        try:
            await self.done
        finally:
            sweeper.cancel()
            if self.timer is not None:
                self.timer.cancel()
            for conn in list(self.live):
                if conn.request >= 0 or conn.transport is None:
                    conn.abort()  # still waiting for an answer (or connecting): reset
                else:
                    conn.transport.close()  # idle: a polite close
            await asyncio.sleep(0)  # let the connections report their loss

    def tick(self) -> None:
        """Send every request that is due, then sleep until the next one is."""
        now = time.perf_counter()
        i, n, sched, reached = self.next, self.n, self.sched, self.record.reached
        while i < n and sched[i] <= now:
            reached[i] = now
            self.submit(i, now)
            i += 1
        self.next = i
        if i < n and not self.stopped:
            assert self.loop is not None
            self.timer = self.loop.call_later(sched[i] - time.perf_counter(), self.tick)
        else:
            self.timer = None
            self.check_done()

    def submit(self, i: int, now: float) -> None:
        if self.idle:
            self.record.dispatch[i] = now
            self.idle.pop().send(i)
        elif self.open < self.concurrency:
            self.record.dispatch[i] = now
            self._start_open(i)
        else:
            self.pending.append(i)

    def _start_open(self, i: int) -> None:
        self.open += 1
        task = asyncio.ensure_future(self._open(i, counted=True))
        self.tasks.add(task)  # a reference, so the task is not garbage-collected mid-way
        task.add_done_callback(self.tasks.discard)

    async def _open(self, i: int, counted: bool = False) -> None:
        if not counted:
            self.open += 1
        conn = _Connection(self, i)
        self.live.add(conn)
        assert self.loop is not None
        try:
            await self.loop.create_connection(
                lambda: conn,
                self.host,
                self.port,
                ssl=self.ssl,
                server_hostname=self.host if self.ssl is not None else None,
            )
        except (TimeoutError, OSError, ssl.SSLError):
            self.live.discard(conn)
            self.open -= 1
            if conn.request >= 0 and not self.stopped:
                j, conn.request = conn.request, -1
                self.finish(j, ERROR, self.codes["connect failed"])
            self.refill()

    def connected(self, conn: _Connection) -> None:
        if self.stopped:
            conn.abort()
        elif conn.request >= 0:
            conn.send(conn.request)
        else:
            self.free(conn, time.perf_counter())

    def free(self, conn: _Connection, now: float) -> None:
        """``conn`` can take a request: the oldest waiting one, or it waits in the pool."""
        if self.pending and not self.stopped:
            j = self.pending.popleft()
            self.record.dispatch[j] = now
            conn.send(j)
        else:
            self.idle.append(conn)

    def refill(self) -> None:
        """Open connections for waiting requests while the pool has room."""
        while self.pending and self.open < self.concurrency and not self.stopped:
            j = self.pending.popleft()
            self.record.dispatch[j] = time.perf_counter()
            self._start_open(j)

    # -- outcomes -------------------------------------------------------------------------

    def finish(self, i: int, kind: int, code: int, now: float | None = None) -> None:
        record = self.record
        record.end[i] = time.perf_counter() if now is None else now
        record.kind[i] = kind
        record.label[i] = code
        self.finished += 1
        if self.finished >= self.n:
            self.check_done()

    def answered(self, conn: _Connection, status: int, body: bytes, reusable: bool) -> None:
        now = time.perf_counter()
        i, conn.request = conn.request, -1
        code = self.status_codes.get(status)
        if code is None:
            code = self.status_codes[status] = self.record.code(str(status))
        kind = ERROR
        if 200 <= status < 300:
            kind = OK
            self.answers += 1
            check = self.check
            if check is not None and (self.answers <= 20 or self.answers % self.check_every == 0):
                try:
                    valid = check(status, body)
                except Exception:  # a checker's crash is an invalid answer, not ours to raise
                    valid = False
                if not valid:
                    kind, code = ERROR, self.codes["malformed"]
        self.finish(i, kind, code, now)
        if reusable:
            self.free(conn, now)
        elif conn.transport is not None:
            conn.transport.close()  # lost() frees its place in the pool

    def failed(self, conn: _Connection, label: str) -> None:
        if conn.request >= 0 and not self.stopped:
            i, conn.request = conn.request, -1
            self.finish(i, ERROR, self.codes[label])

    def lost(self, conn: _Connection) -> None:
        if conn in self.live:
            self.live.discard(conn)
            self.open -= 1
        if conn in self.idle:
            self.idle.remove(conn)
        if conn.request >= 0 and not self.stopped:  # closed or reset before its answer
            i, conn.request = conn.request, -1
            self.finish(i, ERROR, self.codes["dropped"])
        self.refill()

    # -- time limits, cancellation, the end -------------------------------------------------

    async def sweep(self) -> None:
        """Every few ms: time-outs, cancellation and the deadline."""
        while True:
            await asyncio.sleep(_SWEEP_S)
            now = time.perf_counter()
            if self.interrupted.is_set() or (self.cancel is not None and self.cancel.is_set()):
                self.stop("cancelled")
                return
            if now >= self.deadline:
                self.stop("deadline")
                return
            limit = now - self.timeout_s
            sched, code = self.sched, self.codes["timeout"]
            for conn in list(self.live):
                if conn.request >= 0 and sched[conn.request] < limit:
                    i, conn.request = conn.request, -1
                    self.finish(i, TIMEOUT, code, now)
                    conn.abort()
            while self.pending and sched[self.pending[0]] < limit:
                self.finish(self.pending.popleft(), TIMEOUT, code, now)

    def stop(self, why: str) -> None:
        self.stopped = why
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.pending.clear()
        if self.done is not None and not self.done.done():
            self.done.set_result(None)

    def check_done(self) -> None:
        finished = self.next >= self.n and self.finished >= self.n
        if finished and self.done is not None and not self.done.done():
            self.done.set_result(None)


def run_http(
    target: HTTPTarget,
    schedule: Schedule,
    *,
    concurrency: int,
    timeout_s: float,
    cancel: threading.Event | None = None,
    deadline: float = math.inf,
) -> tuple[Record, float, str, float]:
    """Run one phase of ``schedule`` against ``target``.

    Returns the record, the phase's start (perf_counter), why it stopped early ("" if it
    did not) and its wall time. Every connection is closed when it returns, and the event
    loop's thread has ended.
    """
    phase = _Phase(target, schedule, concurrency, timeout_s, cancel, deadline)
    errors: list[BaseException] = []
    start = time.perf_counter()

    def run() -> None:
        try:
            # select(2) takes its time-out in microseconds, epoll in milliseconds: with epoll
            # every send would wake up to 1 ms late. A phase watches at most a few hundred
            # sockets, well within select's limit.
            loop = asyncio.SelectorEventLoop(selectors.SelectSelector())
            with asyncio.Runner(loop_factory=lambda: loop) as runner:
                runner.run(phase.main())
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=run, name="prodready-load-http", daemon=True)
    thread.start()
    try:
        thread.join()
    except BaseException:  # e.g. Ctrl-C in the caller: stop the phase, close its connections
        phase.interrupted.set()
        thread.join(1.0)
        raise
    if errors:
        raise errors[0]
    return phase.record, phase.t0, phase.stopped, time.perf_counter() - start
