"""Loopback servers and hooks with known rollback behaviour, for the rollback probe's tests.

:class:`SwitchServer` is a small blue/green model server speaking MLflow's scoring protocol
on 127.0.0.1: several versions are loaded side by side and a switch says which one answers
(``live``). Each version answers the same rows with different probabilities, so the
endpoint's answers tell versions apart. With ``follow`` (a :class:`FakeRegistry`), the
switch follows the registry's alias ``champion``, as the production example's server
follows ``models:/NAME@champion``. ``drop_next`` closes the next requests' connections
without an answer (a switch that drops requests). With ``named``, each answer names the
version that gave it (``model_version``), as a served guard does.

The module-level hooks act on :data:`SERVER` (set by the tests' fixture) and are named in
specs as ``tests.probes.rollback_servers:FUNCTION``: :func:`deploy`, :func:`rollback`,
:func:`served_version`, :func:`restore`, and the deliberately broken rollbacks
:func:`rollback_noop`, :func:`rollback_wrong`, :func:`rollback_dropping`.

:class:`FakeRegistry` is an in-memory :class:`~prodready.adapters.ModelRegistry` subset
(versions, aliases, snapshot/restore, fingerprint): unit tests only.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

#: Answer offset of each version: v1 is the original, v2 the candidate, v0 an older one.
OFFSETS = {"v0": -0.1, "v1": 0.0, "v2": 0.05, "1": 0.0, "2": 0.05, "3": -0.1}


class FakeRegistry:
    """Model versions and aliases in memory, with snapshot/restore (tests only)."""

    uri = "fake://registry"

    def __init__(self, name: str = "credit-risk") -> None:
        self.state: dict[str, Any] = {
            "versions": {"1": {"tags": {}}, "2": {"tags": {}}, "3": {"tags": {}}},
            "aliases": {"champion": "1"},
        }
        self.name = name
        self.lock = threading.Lock()

    def alias(self, name: str, alias: str) -> str | None:
        with self.lock:
            return self.state["aliases"].get(alias)  # type: ignore[no-any-return]

    def set_alias(self, name: str, alias: str, version: str) -> None:
        with self.lock:
            self.state["aliases"][alias] = str(version)

    def version(self, name: str, version: str, *, verify: bool = False) -> Any:
        with self.lock:
            if str(version) not in self.state["versions"]:
                raise KeyError(f"no version {version}")

        class _V:
            pass

        found = _V()
        found.version = str(version)  # type: ignore[attr-defined]
        return found

    def register(self, name: str, model_dir: Path, *, tags: dict[str, str] | None = None) -> Any:
        raise NotImplementedError("the fake registry takes no new versions")

    def snapshot(self) -> Any:
        with self.lock:
            return copy.deepcopy(self.state)

    def restore(self, snapshot: Any) -> None:
        with self.lock:
            self.state = copy.deepcopy(snapshot)

    def fingerprint(self) -> str:
        with self.lock:
            return hashlib.sha256(json.dumps(self.state, sort_keys=True).encode()).hexdigest()


class SwitchServer:
    """A blue/green switch in front of versions of a toy model (see the module docstring)."""

    def __init__(
        self, live: str = "v1", follow: FakeRegistry | None = None, *, named: bool = False
    ) -> None:
        self._live = live
        self.named = named
        self.previous = live
        self.follow = follow
        self.drop_next = 0
        self.dropped = 0
        self.rollbacks = 0
        self.requests = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                self._reply(200, b"{}" if self.path == "/ping" else b"not found")

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length))
                with server.lock:
                    server.requests += 1
                    if server.drop_next > 0:
                        server.drop_next -= 1
                        server.dropped += 1
                        self.close_connection = True
                        return  # no answer: the client sees the connection closed
                    live = server.live
                rows = body["dataframe_split"]["data"]
                offset = OFFSETS[live]
                predictions: list[Any] = []
                for row in rows:
                    p = 0.3 + 0.4 * (abs(float(row[0])) % 1.0) + offset
                    if server.named:  # records naming the version, as a served guard answers
                        predictions.append({"proba_0": 1 - p, "proba_1": p, "model_version": live})
                    else:
                        predictions.append([1 - p, p])
                self._reply(200, json.dumps({"predictions": predictions}).encode())

            def _reply(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def live(self) -> str:
        if self.follow is not None:
            return self.follow.alias(self.follow.name, "champion") or "none"
        return self._live

    @live.setter
    def live(self, version: str) -> None:
        self._live = version

    def __enter__(self) -> SwitchServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()


#: The server the hooks below act on (set by the tests).
SERVER: SwitchServer | None = None


def _server() -> SwitchServer:
    assert SERVER is not None, "the test must set rollback_servers.SERVER"
    return SERVER


def deploy(candidate: str | None) -> str:
    """Switch to ``candidate`` (by default v2), keeping the version it replaces."""
    server = _server()
    server.previous = server.live
    server.live = candidate or "v2"
    return server.live


def rollback() -> None:
    """Switch back to the version the last deploy replaced."""
    server = _server()
    server.rollbacks += 1
    server.live = server.previous


def rollback_noop() -> None:
    """A rollback that does nothing."""


def rollback_wrong() -> None:
    """A rollback that puts an older version (v0) in production instead of the previous."""
    _server().live = "v0"


def rollback_dropping() -> None:
    """A rollback that switches back but drops the next three requests while doing so."""
    server = _server()
    with server.lock:
        server.drop_next = 3
    server.live = server.previous


def rollback_raising() -> None:
    """A rollback procedure that fails."""
    raise RuntimeError("kubectl: connection refused")


def served_version() -> str:
    """What the switch serves now."""
    return _server().live


def served_version_raising() -> str:
    """A served_version hook that fails."""
    raise ConnectionError("router admin API: 503")


def restore(version: str) -> None:
    """Put exactly ``version`` back (prodready calls it after the rehearsal if needed)."""
    _server().live = version


#: Released by the tests once they have their finding: the hanging hooks below return then.
RELEASE = threading.Event()


def rollback_hanging() -> None:
    """A rollback procedure that never returns (until the test releases it)."""
    RELEASE.wait(30)


def deploy_hanging(candidate: str | None) -> str:
    """A deployment that never returns (until the test releases it), having changed nothing."""
    RELEASE.wait(30)
    return "v2"


class RefusingRegistry(FakeRegistry):
    """A registry that refuses to move the alias to the candidate (a permission, a lock)."""

    def set_alias(self, name: str, alias: str, version: str) -> None:
        from prodready._exceptions import RegistryError

        if str(version) != "1":
            raise RegistryError(f"registry fake://registry: model {name!r}: permission denied")
        super().set_alias(name, alias, version)


def rollback_exiting() -> None:
    """A rollback script that calls sys.exit() with an error status."""
    raise SystemExit(2)
