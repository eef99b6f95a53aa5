"""A real JupyterLab 4, opened in headless Chromium with Playwright.

The server runs on 127.0.0.1, on a free port, with a random token, in a temporary root folder
with its own settings, workspaces, config, data and runtime folders (nothing of the user's
Jupyter set-up is read or written), and is torn down after the tests however they end: asked
to shut down, then its process group and every process it started are terminated.

Chromium is the distribution's (``apt-get install chromium``), never a browser Playwright
downloads. When JupyterLab, Playwright or Chromium is missing the tests skip and say what to
install; with ``PRODREADY_REQUIRE_LAB=1`` (``make test`` sets it in the full environment) they
fail instead. Screenshots and the server's log are kept in ``reports/lab-artifacts/`` (or
``$PRODREADY_LAB_ARTIFACTS``), which git ignores.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest

REQUIRE = "PRODREADY_REQUIRE_LAB"
ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
#: Seconds JupyterLab may take to answer its status API after starting.
START_TIMEOUT_S = 90.0


def chromium_executable() -> str | None:
    """The distribution's Chromium: $PRODREADY_CHROMIUM, else chromium on the PATH."""
    given = os.environ.get("PRODREADY_CHROMIUM")
    if given:
        return given if os.access(given, os.X_OK) else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def missing_requirements() -> list[str]:
    """What this machine lacks for the JupyterLab tests, each with how to install it."""
    missing = []
    if importlib.util.find_spec("jupyterlab") is None:
        missing.append("JupyterLab (pip install 'prodready[lab]')")
    if importlib.util.find_spec("playwright") is None:
        missing.append("Playwright for Python (pip install 'prodready[lab]')")
    if chromium_executable() is None:
        missing.append(
            "Chromium from the distribution's packages (apt-get install chromium; or set "
            "PRODREADY_CHROMIUM to a Chromium executable; `playwright install` is not used)"
        )
    return missing


def require_lab() -> str:
    """Chromium's path; skips (or fails with PRODREADY_REQUIRE_LAB=1) when anything is missing."""
    missing = missing_requirements()
    if missing:
        why = "the JupyterLab tests need " + "; ".join(missing)
        if os.environ.get(REQUIRE) == "1":
            pytest.fail(f"{why} ({REQUIRE}=1)", pytrace=False)
        pytest.skip(why)
    executable = chromium_executable()
    assert executable is not None
    return executable


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots, logs and exported files of the JupyterLab tests are kept."""
    folder = Path(os.environ.get("PRODREADY_LAB_ARTIFACTS", ROOT / "reports" / "lab-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    for old in (*folder.glob("*.png"), *folder.glob("*.html"), *folder.glob("*.json")):
        old.unlink()  # this run's artifacts only
    return folder


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def small_copy(notebook: Path, folder: Path, **overrides: Any) -> Path:
    """``notebook`` copied into ``folder`` with its small sizes applied.

    The values of the parameters cell's ``nbmake.mock`` metadata (what nbmake applies in
    ``make test``), then ``overrides``, are appended to that cell, as nbmake does.
    """
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        mock = cell.metadata.get("nbmake", {}).get("mock")
        if mock is not None:
            values = {**mock, **overrides}
            cell.source += "\n" + "\n".join(f"{k} = {v!r}" for k, v in values.items())
    target = folder / notebook.name
    nbformat.write(nb, target)
    return target


@dataclass
class Lab:
    """A running JupyterLab: its base URL, token and root folder."""

    url: str
    token: str
    root: Path
    process: subprocess.Popen[bytes]
    log: Path

    def tree(self, name: str) -> str:
        """The URL that opens ``name`` (a path in the root folder) in JupyterLab."""
        return f"{self.url}/lab/tree/{name}?token={self.token}"

    def api(self, path: str, method: str = "GET", timeout: float = 5.0) -> int:
        request = urllib.request.Request(
            f"{self.url}{path}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
            data=b"" if method == "POST" else None,
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _settings(folder: Path) -> None:
    """User settings for a quiet, deterministic JupyterLab: no news, every cell rendered."""
    values = {
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
            "fetchNews": "false",
            "checkForUpdates": False,
        },
        "@jupyterlab/apputils-extension/themes.jupyterlab-settings": {"theme": "JupyterLab Light"},
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    }
    for name, value in values.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))


def _start(root: Path, home: Path, log: Path) -> Lab:
    token = secrets.token_hex(16)
    for sub in ("settings", "workspaces", "config", "data", "runtime", "ipython"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    _settings(home / "settings")
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "IPYTHONDIR": str(home / "ipython"),
        "JUPYTER_PLATFORM_DIRS": "1",
        "OMP_NUM_THREADS": "1",  # single-row predicts from threads (see FACTS.md)
        "MPLBACKEND": "Agg",
        # `mlflow models serve` (served example systems) runs uvicorn from this venv's bin/.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    for attempt in range(3):
        port = _free_port()
        command = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",  # root only with it (containers, CI); harmless otherwise
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--ServerApp.terminals_enabled=False",
            f"--LabApp.user_settings_dir={home / 'settings'}",
            f"--LabApp.workspaces_dir={home / 'workspaces'}",
            "--LabApp.expose_app_in_browser=True",
        ]
        with log.open("ab") as out:
            process = subprocess.Popen(
                command,
                cwd=root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: torn down as one
            )
        lab = Lab(f"http://127.0.0.1:{port}", token, root, process, log)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(OSError, urllib.error.URLError):
                if lab.api("/api/status", timeout=2.0) == 200:
                    return lab
            time.sleep(0.3)
        _stop(lab)
        if attempt == 2 or process.returncode not in (None, 1):
            break
    pytest.fail(f"JupyterLab did not start; its log ends with:\n{lab.log_tail()}", pytrace=False)


def _stop(lab: Lab) -> None:
    """Shut JupyterLab down: politely, then its process group, then anything it started."""
    import psutil

    try:
        children = psutil.Process(lab.process.pid).children(recursive=True)
    except psutil.Error:
        children = []
    if lab.process.poll() is None:
        with contextlib.suppress(OSError, urllib.error.URLError):
            lab.api("/api/shutdown", method="POST", timeout=5.0)
        with contextlib.suppress(subprocess.TimeoutExpired):
            lab.process.wait(10)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if lab.process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(lab.process.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                lab.process.wait(5)
    # Kernels run in sessions of their own: end those this server started, by pid.
    alive = [c for c in children if c.is_running()]
    for child in alive:
        with contextlib.suppress(psutil.Error):
            child.terminate()
    _, still = psutil.wait_procs(alive, timeout=5)
    for child in still:
        with contextlib.suppress(psutil.Error):
            child.kill()


@pytest.fixture(scope="module")
def lab_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The root folder JupyterLab serves (the notebooks under test are copied here)."""
    require_lab()
    return tmp_path_factory.mktemp("lab-root")


@pytest.fixture(scope="module")
def lab(lab_root: Path, tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[Lab]:
    """A JupyterLab serving ``lab_root``; stopped after the module's tests."""
    require_lab()
    log = artifacts / "jupyterlab.log"
    log.unlink(missing_ok=True)
    server = _start(lab_root, tmp_path_factory.mktemp("lab-home"), log)
    try:
        yield server
    finally:
        _stop(server)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium (the distribution's), driven by Playwright."""
    executable = require_lab()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox"]
        )
        try:
            yield chromium
        finally:
            chromium.close()
