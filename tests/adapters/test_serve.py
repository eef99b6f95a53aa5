"""serve_mlflow: starts a real ``mlflow models serve``, keeps its log, leaves no process behind.

One server start (~10 s, two uvicorn workers so that there are child processes to stop), one
failing start (~9 s), and fast tests of the launcher and the argument checks.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from prodready._exceptions import MissingDependencyError, ProdreadyError
from prodready.adapters import MLflowClient, ServeError, serve_mlflow
from prodready.adapters import serve as serve_module
from tests.conftest import CATEGORICAL, NUMERIC, make_frame, require_mlflow

FEATURES = NUMERIC + CATEGORICAL


def alive(pid: int) -> bool:
    """True while ``pid`` is a live process (a zombie waiting to be reaped is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if text in cmdline and alive(int(entry.name)):
                found.append(int(entry.name))
    return found


def wait_until(condition: object, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return bool(condition())  # type: ignore[operator]


pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="checks processes in /proc")


def test_serve_stop_on_exception_kills_the_whole_group(
    multiclass_model: Pipeline, tmp_path: Path
) -> None:
    require_mlflow()
    from tests.adapters.servers import save_mlflow_sklearn

    # A model that raises on NaN (no imputer), without a signature: NaN reaches the model.
    directory = save_mlflow_sklearn(multiclass_model, tmp_path / "model")
    logs = tmp_path / "logs"
    frame = make_frame(4, 40, classes=3)[FEATURES]
    seen: dict[str, Any] = {}

    def use_the_server_then_fail() -> None:
        with serve_mlflow(directory, env={"MLFLOW_MODELS_WORKERS": "2"}, log_dir=logs) as served:
            seen["served"] = served
            seen["members"] = members = served.group_pids()
            assert served.pid in members
            # mlflow's CLI, uvicorn, and uvicorn's two workers (at least), all in one group.
            assert len(members) >= 4, served.log_tail()
            assert all(os.getpgid(pid) == served.pid for pid in members)
            assert served.url == f"http://127.0.0.1:{served.port}"
            assert httpx.get(f"{served.url}/ping", timeout=5, trust_env=False).status_code == 200
            with MLflowClient(served.url, timeout_s=30) as client:
                reply = client.predict(frame)
                bad = frame.copy()
                bad.loc[0, "income"] = np.nan
                crash = client.predict(bad)
            expected = multiclass_model.predict_proba(frame)
            np.testing.assert_allclose(reply.outputs, expected, rtol=0, atol=1e-9)
            assert crash.kind == "crashed" and crash.status == 400
            assert crash.error.startswith("BAD_REQUEST: ValueError: Input X contains NaN.")
            raise RuntimeError("leaving the block early")

    with pytest.raises(RuntimeError, match="leaving the block early"):
        use_the_server_then_fail()
    served, members = seen["served"], seen["members"]
    assert served.group_pids() == []
    assert not any(alive(pid) for pid in members)
    assert processes_mentioning(str(directory)) == []
    log = (logs / "server.log").read_text()  # kept after the server stopped
    assert "POST /invocations" in log


def test_a_model_that_cannot_load_is_a_clean_error(binary_model: Pipeline, tmp_path: Path) -> None:
    require_mlflow()
    from tests.adapters.servers import save_mlflow_sklearn

    directory = save_mlflow_sklearn(binary_model, tmp_path / "model")
    (directory / "model.skops").write_bytes(b"not a model")
    with (
        pytest.raises(ServeError) as raised,
        serve_mlflow(directory, log_dir=tmp_path, startup_timeout_s=60),
    ):
        pytest.fail("the server must not start")
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"mlflow models serve {directory} exited with code 1")
    assert "zipfile.BadZipFile: File is not a zip file" in message
    assert raised.value.log_path == tmp_path / "server.log"
    assert isinstance(raised.value, ProdreadyError)
    assert processes_mentioning(str(directory)) == []


def test_a_server_that_does_not_answer_in_time_is_stopped(
    binary_model: Pipeline, tmp_path: Path
) -> None:
    require_mlflow()
    from tests.adapters.servers import save_mlflow_sklearn

    directory = save_mlflow_sklearn(binary_model, tmp_path / "model")
    start = time.monotonic()
    with (
        pytest.raises(ServeError, match=r"did not answer /ping within 0.5 s"),
        serve_mlflow(directory, log_dir=tmp_path, startup_timeout_s=0.5),
    ):
        pytest.fail("the server must not be ready in 0.5 s")
    assert time.monotonic() - start < 6  # 0.5 s + at most the SIGTERM grace period
    assert processes_mentioning(str(directory)) == []


def test_not_a_model_directory(tmp_path: Path) -> None:
    require_mlflow()
    with pytest.raises(ServeError, match="has no MLmodel file"), serve_mlflow(tmp_path):
        pytest.fail("unreachable")


def test_without_mlflow(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = serve_module.importlib.util.find_spec
    monkeypatch.setattr(
        serve_module.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "mlflow" else real(name, *a),
    )
    hint = r"pip install 'prodready\[mlflow\]'"
    with pytest.raises(MissingDependencyError, match=hint), serve_mlflow(tmp_path):
        pytest.fail("unreachable")


def test_the_child_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin")
    monkeypatch.setenv("OMP_NUM_THREADS", "8")
    env = serve_module._child_env({"MLFLOW_MODELS_WORKERS": "2"})
    assert env["PATH"] == f"{Path(sys.executable).parent}{os.pathsep}/usr/bin"
    assert env["OMP_NUM_THREADS"] == "1" and env["MLFLOW_MODELS_WORKERS"] == "2"
    assert env["MLFLOW_DISABLE_TELEMETRY"] == "true"
    assert serve_module._child_env({"OMP_NUM_THREADS": "2"})["OMP_NUM_THREADS"] == "2"


def test_the_telling_line_of_a_log() -> None:
    lines = [
        "INFO:     Started server process [1]",
        "ERROR:    [Errno 98] error while attempting to bind on address: address already in use",
        "Traceback (most recent call last):",
        '  File "backend.py", line 326, in serve',
        "    raise Exception(",
        "Exception: Command '['bash', ...]' returned non zero return code. Return code = 1",
    ]
    assert serve_module._telling_line(lines).startswith("ERROR:    [Errno 98]")
    assert serve_module._telling_line(["just text"]) == "just text"
    assert serve_module._telling_line([]) == "(the log is empty)"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_the_server_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    """Even when that process is SIGKILLed (a probe killed at its time limit)."""
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from prodready.adapters.serve import _spawn
        sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]
        child = _spawn(sleeper, None, Path({str(tmp_path / "log")!r}))
        print(child.pid, flush=True)
        time.sleep(120)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        # The launcher set PR_SET_PDEATHSIG and exec'd the command (its code is gone).
        assert wait_until(lambda: "ctypes" not in Path(f"/proc/{pid}/cmdline").read_text(), 10)
        assert os.getpgid(pid) == pid and os.getsid(pid) == pid  # a session of its own
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        assert wait_until(lambda: not alive(pid), 10)
    finally:
        parent.kill()
        parent.wait()
        if "pid" in locals() and alive(pid):
            os.kill(pid, signal.SIGKILL)
