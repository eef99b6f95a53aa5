"""Real HTTP servers on 127.0.0.1 with known behaviour, for testing the load generator.

Each server is a separate process (so that it never shares a GIL with the generator it is
measured by) speaking enough of MLflow's scoring protocol: ``GET /ping`` answers 200 and
``POST /invocations`` answers ``{"predictions": [[0.3, 0.7], ...]}``, one row of class
probabilities per row of the request's ``dataframe_split`` / ``dataframe_records``;
``GET /stats`` says how many prediction requests it received (``{"requests": 1234}``).
HTTP/1.1 with keep-alive, one request at a time per connection. The behaviours:

- ``fixed``: every answer after ``service_ms`` (concurrent requests do not slow each other);
- ``knee``: ``capacity`` requests are served at a time, each taking ``service_ms``; the
  others wait in line. Below ``capacity / service_ms`` requests per second the latency is the
  service time; past it the line grows without end (the knee);
- ``stall``: answers after ``service_ms``, but for ``stall_ms`` at the start of every
  ``period_s`` (counted from the server's start) it answers nothing; what falls in a stall
  is answered when the stall ends;
- ``drop``: answers after ``service_ms``, except every ``drop_every``-th request, whose
  connection is reset without an answer;
- ``trivial``: a fixed answer at once, without reading the body (the generator's ceiling).

``chunked`` sends the answers with chunked transfer encoding, ``close`` closes the
connection after every answer (``Connection: close``).

Run as a script it prints ``port N`` on its first line and serves until SIGTERM (stdlib
only: the benchmarks start it the same way). In tests use :func:`serve`, which starts it on
a free port and always stops it::

    with serve("fixed", service_ms=5) as server:
        ...  # server.url == "http://127.0.0.1:PORT"
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KINDS = ("fixed", "knee", "stall", "drop", "trivial")
_HEAD_END = b"\r\n\r\n"
_TRIVIAL_BODY = b'{"predictions": [[0.3, 0.7]]}'


@dataclass(frozen=True)
class Options:
    """How a server behaves (see the module docstring)."""

    kind: str = "fixed"
    service_ms: float = 5.0
    capacity: int = 2
    period_s: float = 1.0
    stall_ms: float = 200.0
    drop_every: int = 10
    chunked: bool = False
    close: bool = False


def _answer(body: bytes, status: str = "200 OK", *, chunked: bool, close: bool) -> bytes:
    head = [f"HTTP/1.1 {status}", "Content-Type: application/json"]
    if close:
        head.append("Connection: close")
    if chunked:
        half = len(body) // 2
        parts = [body[:half], body[half:]]
        payload = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts if p) + b"0\r\n\r\n"
        head.append("Transfer-Encoding: chunked")
    else:
        payload = body
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + payload


def _rows(body: bytes) -> int:
    """Rows in an MLflow request body (1 when it cannot tell)."""
    try:
        data = json.loads(body)
    except ValueError:
        return 1
    if isinstance(data, dict):
        if isinstance(data.get("dataframe_split"), dict):
            return len(data["dataframe_split"].get("data") or []) or 1
        if isinstance(data.get("dataframe_records"), list):
            return len(data["dataframe_records"]) or 1
    return 1


class _Server:
    """The state shared by the connections of one server: its behaviour and its clock."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.start = time.monotonic()
        self.requests = 0
        self.busy = 0
        self.line: collections.deque[Callable[[], None]] = collections.deque()
        self.loop = asyncio.get_running_loop()

    def predictions(self, body: bytes) -> bytes:
        if self.options.kind == "trivial":
            return _TRIVIAL_BODY
        return json.dumps({"predictions": [[0.3, 0.7]] * _rows(body)}).encode()

    def schedule(self, conn: _Connection, body: bytes) -> None:
        """Answer ``conn``'s request as this server's behaviour says."""
        o = self.options
        self.requests += 1
        service = o.service_ms / 1000.0
        if o.kind == "trivial":
            conn.respond(_TRIVIAL_BODY)
        elif o.kind == "drop" and self.requests % o.drop_every == 0:
            conn.reset()
        elif o.kind == "knee":
            self.line.append(lambda: self._serve_in_slot(conn, body, service))
            self._next_in_line()
        elif o.kind == "stall":
            due = time.monotonic() + service
            phase = (due - self.start) % o.period_s
            if phase < o.stall_ms / 1000.0:  # due inside a stall: answered when it ends
                due += o.stall_ms / 1000.0 - phase
            delay = max(0.0, due - time.monotonic())
            self.loop.call_later(delay, conn.respond, self.predictions(body))
        else:  # fixed, and the answered requests of drop
            self.loop.call_later(service, conn.respond, self.predictions(body))

    def _serve_in_slot(self, conn: _Connection, body: bytes, service: float) -> None:
        self.busy += 1

        def done() -> None:
            self.busy -= 1
            conn.respond(self.predictions(body))
            self._next_in_line()

        self.loop.call_later(service, done)

    def _next_in_line(self) -> None:
        while self.line and self.busy < self.options.capacity:
            self.line.popleft()()


class _Connection(asyncio.Protocol):
    """One client connection: reads a request (Content-Length body), answers, repeats."""

    def __init__(self, server: _Server) -> None:
        self.server = server
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.waiting = False  # a request is being answered

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._next()

    def _next(self) -> None:
        if self.waiting or self.transport is None:
            return
        end = self.buffer.find(_HEAD_END)
        if end < 0:
            return
        head = self.buffer[:end].decode("latin-1")
        lines = head.split("\r\n")
        method, path = [*lines[0].split(" "), "", ""][:2]
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        if len(self.buffer) < end + 4 + length:
            return
        body = self.buffer[end + 4 : end + 4 + length]
        self.buffer = self.buffer[end + 4 + length :]
        self.waiting = True
        if method == "GET" and path in ("/ping", "/health"):
            self.respond(b"\n")
        elif method == "GET" and path == "/stats":
            self.respond(json.dumps({"requests": self.server.requests}).encode())
        elif method == "POST" and path == "/invocations":
            self.server.schedule(self, body)
        else:
            self.respond(b'{"error_code": "NOT_FOUND"}', "404 Not Found")

    def respond(self, body: bytes, status: str = "200 OK") -> None:
        if self.transport is None:
            return
        o = self.server.options
        self.transport.write(_answer(body, status, chunked=o.chunked, close=o.close))
        self.waiting = False
        if o.close:
            self.transport.close()
            self.transport = None
        else:
            self._next()

    def reset(self) -> None:
        if self.transport is not None:
            self.transport.abort()  # a reset, no answer
            self.transport = None


async def _main(options: Options, port: int) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    loop.add_signal_handler(signal.SIGINT, stop.set_result, None)
    state = _Server(options)
    server = await loop.create_server(
        lambda: _Connection(state), "127.0.0.1", port, backlog=1024, reuse_address=True
    )
    bound = server.sockets[0].getsockname()[1]
    print(f"port {bound}", flush=True)
    async with server:
        await stop


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--service-ms", type=float, default=Options.service_ms)
    parser.add_argument("--capacity", type=int, default=Options.capacity)
    parser.add_argument("--period-s", type=float, default=Options.period_s)
    parser.add_argument("--stall-ms", type=float, default=Options.stall_ms)
    parser.add_argument("--drop-every", type=int, default=Options.drop_every)
    parser.add_argument("--chunked", action="store_true")
    parser.add_argument("--close", action="store_true")
    args = parser.parse_args(argv)
    options = Options(
        kind=args.kind,
        service_ms=args.service_ms,
        capacity=args.capacity,
        period_s=args.period_s,
        stall_ms=args.stall_ms,
        drop_every=args.drop_every,
        chunked=args.chunked,
        close=args.close,
    )
    # select(2) sleeps to the microsecond, epoll to the millisecond: service times are exact.
    loop = asyncio.SelectorEventLoop(selectors.SelectSelector())
    with asyncio.Runner(loop_factory=lambda: loop) as runner:
        runner.run(_main(options, args.port))


# -- for tests: start a server process, always stop it ---------------------------------------


@dataclass(frozen=True)
class Server:
    """A running test server: its base ``url`` and process id."""

    url: str
    pid: int
    options: Options


@contextlib.contextmanager
def serve(kind: str, *, start_timeout_s: float = 10.0, **options: Any) -> Iterator[Server]:
    """Run the server of ``kind`` with ``options`` (see :class:`Options`) for a ``with`` block.

    The process is stopped (SIGTERM, then SIGKILL) when the block ends, however it ends.
    """
    opts = Options(kind=kind, **options)
    argv = [sys.executable, str(Path(__file__).resolve()), kind]
    for name, value in vars(opts).items():
        if name == "kind":
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            argv += [flag] if value else []
        else:
            argv += [flag, str(value)]
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            if not selector.select(start_timeout_s):
                raise RuntimeError(f"the {kind} test server did not start in {start_timeout_s} s")
        line = proc.stdout.readline().decode().split()
        if len(line) != 2 or line[0] != "port":
            raise RuntimeError(f"the {kind} test server did not start (exit {proc.poll()})")
        yield Server(f"http://127.0.0.1:{line[1]}", proc.pid, opts)
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server process: SIGTERM, then SIGKILL if it is still there after 3 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(3)
    if proc.stdout is not None:
        proc.stdout.close()


if __name__ == "__main__":
    main()
