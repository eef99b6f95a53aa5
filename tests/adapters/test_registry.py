"""The model registry adapter: MLflow's registry embedded (sqlite) and behind a tracking server.

The model folders are tiny synthetic MLflow models (the registry never loads them): one shaped
like a prodready guard pyfunc, one plain. One real ``mlflow server`` is started for the module
on a loopback port and stopped however the tests end.
"""

from __future__ import annotations

import hashlib
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from prodready._exceptions import MissingDependencyError, RegistryError
from prodready.adapters import (
    MLflowRegistry,
    ModelRegistry,
    NoRegistryError,
    model_digest,
    open_registry,
    registry_fingerprint,
)
from prodready.adapters import registry as registry_module
from prodready.adapters import serve as serve_module
from prodready.adapters.registry import DIGEST_TAG, tree_digest
from prodready.system import Registry
from tests.conftest import require_mlflow

require_mlflow()

NAME = "credit-risk"


def guard_model(folder: Path, payload: bytes) -> Path:
    """A folder shaped like a guard pyfunc: MLmodel naming artifacts/model.skops and guard.json."""
    (folder / "artifacts").mkdir(parents=True)
    (folder / "artifacts" / "model.skops").write_bytes(payload)
    (folder / "artifacts" / "guard.json").write_text('{"version": 1}\n')
    (folder / "MLmodel").write_text(
        "flavors:\n"
        "  python_function:\n"
        "    artifacts:\n"
        "      guard: {path: artifacts/guard.json, uri: /x/guard.json}\n"
        "      model: {path: artifacts/model.skops, uri: /x/model.skops}\n"
        "    loader_module: mlflow.pyfunc.loaders.code_model\n"
    )
    return folder


def plain_model(folder: Path, payload: bytes) -> Path:
    """Any other MLflow model: digested as a tree."""
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "model.pkl").write_bytes(payload)
    (folder / "MLmodel").write_text("flavors:\n  sklearn: {pickled_model: data/model.pkl}\n")
    return folder


def files_sha256(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (database and artifacts), by relative path."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("models")
    return {
        "v1": guard_model(base / "v1", b"model one"),
        "v2": guard_model(base / "v2", b"model two"),
        "plain": plain_model(base / "plain", b"plain"),
    }


@pytest.fixture(scope="module")
def embedded(
    tmp_path_factory: pytest.TempPathFactory, models: dict[str, Path]
) -> tuple[MLflowRegistry, Path]:
    """An embedded registry with version 1 (alias champion) of the guard-shaped model."""
    root = tmp_path_factory.mktemp("embedded") / "registry"
    registry = MLflowRegistry(f"sqlite:///{root / 'mlflow.db'}")
    registry.register(NAME, models["v1"], tags={"stage": "production"})
    registry.set_alias(NAME, "champion", "1")
    return registry, root


def test_digest_is_what_the_guard_reports_or_a_tree_digest(models: dict[str, Path]) -> None:
    # The guard logs model_sha256 = sha256 of the .skops file.
    assert model_digest(models["v1"]) == hashlib.sha256(b"model one").hexdigest()
    plain = models["plain"]
    lines = "".join(
        f"{rel}\0{hashlib.sha256((plain / rel).read_bytes()).hexdigest()}\n"
        for rel in ("MLmodel", "data/model.pkl")
    )
    assert model_digest(plain) == hashlib.sha256(lines.encode()).hexdigest() == tree_digest(plain)


def test_register_versions_aliases_and_tags(
    embedded: tuple[MLflowRegistry, Path], models: dict[str, Path], tmp_path: Path
) -> None:
    registry, root = embedded
    before = registry.snapshot()
    v1 = registry.version(NAME, "1")
    assert v1.name == NAME and v1.version == "1"
    assert v1.digest == hashlib.sha256(b"model one").hexdigest()
    assert v1.tags == {"stage": "production", DIGEST_TAG: v1.digest}
    assert v1.aliases == ("champion",)
    assert v1.run_id and abs(v1.created - time.time()) < 600
    # The artifacts are in the folder beside the database, not in the working directory.
    assert Path(v1.source).is_relative_to(root / "artifacts")
    assert registry.alias(NAME, "champion") == "1"
    assert registry.alias(NAME, "challenger") is None

    v2 = registry.register(NAME, models["plain"], run_id=v1.run_id)
    assert (
        v2.version == "2" and v2.run_id == v1.run_id and v2.digest == tree_digest(models["plain"])
    )
    registry.set_alias(NAME, "champion", "2")
    assert registry.alias(NAME, "champion") == "2"
    assert [v.aliases for v in registry.versions(NAME)] == [(), ("champion",)]
    registry.set_tag(NAME, "2", "candidate", "true")
    assert registry.version(NAME, "2").tags["candidate"] == "true"
    registry.delete_tag(NAME, "2", "candidate")
    registry.delete_tag(NAME, "2", "candidate")  # absent: nothing happens
    assert "candidate" not in registry.version(NAME, "2").tags
    registry.delete_alias(NAME, "champion")
    registry.delete_alias(NAME, "champion")
    assert registry.alias(NAME, "champion") is None

    folder = registry.download(NAME, "1", tmp_path / "dl")
    assert (folder / "artifacts" / "model.skops").read_bytes() == b"model one"
    registry.delete_version(NAME, "2")
    assert [v.version for v in registry.versions(NAME)] == ["1"]
    assert registry.versions("no-such-model") == []
    registry.restore(before)
    assert registry.fingerprint() == before.fingerprint


def test_an_edited_digest_tag_is_caught_by_verifying(embedded: tuple[MLflowRegistry, Path]) -> None:
    registry, _ = embedded
    before = registry.snapshot()
    real = hashlib.sha256(b"model one").hexdigest()
    registry.set_tag(NAME, "1", DIGEST_TAG, "0" * 64)
    assert registry.version(NAME, "1").digest == "0" * 64
    assert registry.version(NAME, "1", verify=True).digest == real
    assert registry.verify_digest(NAME, "1") == real
    registry.restore(before)


def test_snapshot_restore_is_byte_for_byte(
    embedded: tuple[MLflowRegistry, Path], models: dict[str, Path]
) -> None:
    registry, root = embedded
    before_files = files_sha256(root)
    before = registry_fingerprint(registry)
    snapshot = registry.snapshot()
    # What a rehearsal does: a candidate version, the alias moved, tags, a deletion.
    registry.register(NAME, models["v2"], tags={"candidate": "true"})
    registry.set_alias(NAME, "champion", "2")
    registry.set_alias(NAME, "challenger", "1")
    registry.set_tag(NAME, "1", "note", "x")
    registry.delete_tag(NAME, "1", "stage")
    assert registry_fingerprint(registry) != before
    assert files_sha256(root) != before_files

    registry.restore(snapshot)
    assert files_sha256(root) == before_files
    assert registry_fingerprint(registry) == before
    # The open connections read the restored file: MLflow sees the old state.
    assert [v.version for v in registry.versions(NAME)] == ["1"]
    assert registry.alias(NAME, "champion") == "1"
    assert registry.version(NAME, "1").tags["stage"] == "production"
    # And the database is a sound sqlite file.
    with sqlite3.connect(root / "mlflow.db") as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert not (root / "mlflow.db-journal").exists()
    # A new version after the restore is numbered as if the rehearsal never happened.
    registry.register(NAME, models["v2"])
    assert [v.version for v in registry.versions(NAME)] == ["1", "2"]
    # Read fresh, not from a connection that cached the rehearsal's version 2 (its tag).
    assert "candidate" not in registry.version(NAME, "2").tags
    registry.restore(snapshot)
    assert files_sha256(root) == before_files


def test_a_registry_that_did_not_exist_is_gone_again_after_restore(
    tmp_path: Path, models: dict[str, Path]
) -> None:
    registry = MLflowRegistry(f"sqlite:///{tmp_path / 'new' / 'mlflow.db'}")
    snapshot = registry.snapshot()
    registry.register(NAME, models["v1"])
    assert (tmp_path / "new" / "mlflow.db").is_file()
    registry.restore(snapshot)
    assert files_sha256(tmp_path / "new") == {}
    assert registry.fingerprint() == snapshot.fingerprint


def test_errors_name_the_model_and_version(embedded: tuple[MLflowRegistry, Path]) -> None:
    registry, _ = embedded
    with pytest.raises(RegistryError, match=r"model 'credit-risk' version 9: .*not found"):
        registry.version(NAME, "9")
    with pytest.raises(RegistryError, match=r"model 'credit-risk' version 9: setting alias"):
        registry.set_alias(NAME, "champion", "9")
    with pytest.raises(RegistryError, match=r"model 'nope' alias 'champion'"):
        registry.alias("nope", "champion")
    with pytest.raises(RegistryError, match=r"not an MLflow model folder"):
        registry.register(NAME, Path(__file__).parent)
    other = MLflowRegistry("sqlite:////tmp/other.db")
    with pytest.raises(RegistryError, match="cannot restore a snapshot of"):
        other.restore(registry.snapshot())


def test_open_registry_takes_sqlite_paths_from_the_spec_folder(tmp_path: Path) -> None:
    class Spec:
        source = str(tmp_path / "spec" / "production.yaml")
        registry = Registry(uri="sqlite:///registry/mlflow.db", model_name=NAME)

    opened = open_registry(Spec())  # type: ignore[arg-type]
    assert isinstance(opened, ModelRegistry)
    assert opened.uri == f"sqlite:///{tmp_path / 'spec' / 'registry' / 'mlflow.db'}"

    class NoRegistry:
        source = "spec.yaml"
        registry = None

    with pytest.raises(NoRegistryError, match=r"spec.yaml: the system has no registry"):
        open_registry(NoRegistry())  # type: ignore[arg-type]


def test_without_mlflow_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    with pytest.raises(MissingDependencyError, match=r"prodready\[mlflow\]"):
        MLflowRegistry("sqlite:////tmp/x.db")


# --- a real tracking server -----------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def server_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Any]]:
    """``mlflow server`` on a free loopback port, started first (it takes seconds to come up
    while the embedded tests run), stopped at the end of the module however it ends."""
    folder = tmp_path_factory.mktemp("server")
    port = serve_module._free_port()
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        f"sqlite:///{folder / 'mlflow.db'}",
        "--artifacts-destination",
        str(folder / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    process = serve_module._spawn(command, None, folder / "server.log")
    try:
        yield f"http://127.0.0.1:{port}", folder, process
    finally:
        serve_module._stop(process)


@pytest.fixture(scope="module")
def server(server_process: tuple[str, Path, Any]) -> str:
    """The tracking server's URL once its /health answers (bounded wait)."""
    url, folder, process = server_process
    deadline = time.monotonic() + 120
    while True:
        assert process.poll() is None, (folder / "server.log").read_text()[-2000:]
        try:
            if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                return url
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "mlflow server did not start in 120 s"
        time.sleep(0.2)


def test_a_tracking_server_works_the_same(
    server: str, models: dict[str, Path], tmp_path: Path
) -> None:
    registry = MLflowRegistry(server)
    assert registry.db_path is None
    empty = registry.snapshot()
    assert empty.kind == "dump"
    v1 = registry.register(NAME, models["v1"])
    registry.set_alias(NAME, "champion", v1.version)
    assert registry.alias(NAME, "champion") == "1"
    assert registry.verify_digest(NAME, "1") == hashlib.sha256(b"model one").hexdigest()
    folder = registry.download(NAME, "1", tmp_path / "dl")
    assert (folder / "artifacts" / "model.skops").read_bytes() == b"model one"

    snapshot = registry.snapshot()
    before = registry_fingerprint(registry)
    registry.register(NAME, models["v2"], tags={"candidate": "true"})
    registry.set_alias(NAME, "champion", "2")
    registry.set_alias(NAME, "challenger", "1")
    registry.set_tag(NAME, "1", "note", "x")
    assert registry_fingerprint(registry) != before
    registry.restore(snapshot)
    assert registry_fingerprint(registry) == before
    assert [v.version for v in registry.versions(NAME)] == ["1"]
    assert registry.alias(NAME, "champion") == "1"
    assert registry.alias(NAME, "challenger") is None
    with pytest.raises(RegistryError, match=r"model 'credit-risk' version 5"):
        registry.version(NAME, "5")


def test_a_server_that_does_not_answer_is_a_registry_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    registry = MLflowRegistry(f"http://127.0.0.1:{serve_module._free_port()}")
    with pytest.raises(RegistryError, match=r"model 'credit-risk' version 1"):
        registry.version(NAME, "1")
    with pytest.raises(RegistryError, match=r"model 'credit-risk': "):
        registry.versions(NAME)  # not "no versions": the registry could not be asked


def test_module_exports() -> None:
    assert registry_module.open_registry is open_registry
