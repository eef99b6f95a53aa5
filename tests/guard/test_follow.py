"""A served guard that follows a registry alias: models swapped without downtime.

One embedded registry and one real ``mlflow models serve`` of ``models:/follow@champion`` per
module. Light traffic runs while the alias moves; every request must be answered, and each
answer names the registry version and digest that answered it.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from tests.conftest import CATEGORICAL, NUMERIC, make_frame, pipeline, require_mlflow

require_mlflow()

import skops.io as sio  # noqa: E402

from prodready._exceptions import ServeError, SpecError  # noqa: E402
from prodready.adapters import Client, MLflowClient, MLflowRegistry, Reply, serve_mlflow  # noqa: E402
from prodready.guard import InputSchema, RegistryAlias, save_mlflow  # noqa: E402
from prodready.spec import load_spec  # noqa: E402

FEATURES = NUMERIC + CATEGORICAL
NAME = "follow"
POLL_S = 0.1


@dataclass
class Served:
    url: str
    registry: MLflowRegistry
    digests: dict[str, str]
    log: Path
    folder: Path


@dataclass
class Traffic:
    """Requests sent one after another in a thread, every reply kept."""

    client: Client
    frame: pd.DataFrame
    replies: list[tuple[float, Reply]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            self.replies.append((time.monotonic(), self.client.predict(self.frame)))
            time.sleep(0.02)


def guard_folder(folder: Path, seed: int, schema: InputSchema) -> Path:
    """A guarded model folder that follows ``follow@champion``, trained with ``seed``."""
    training = make_frame(400, seed)
    model = pipeline(LogisticRegression(C=0.01 * seed, max_iter=500), scale=True)
    model.fit(training[FEATURES], training["target"])
    folder.mkdir(parents=True)
    sio.dump(model, folder / "model.skops")
    return save_mlflow(
        folder / "model",
        model_path=folder / "model.skops",
        schema=schema,
        follow=RegistryAlias(NAME, "champion", POLL_S),
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("follow")
    schema = InputSchema.learn(make_frame(400, 1), FEATURES, CATEGORICAL)
    registry = MLflowRegistry(f"sqlite:///{folder / 'registry' / 'mlflow.db'}")
    digests = {}
    for seed in (1, 2):
        model_dir = guard_folder(folder / f"m{seed}", seed, schema)
        version = registry.register(NAME, model_dir)
        digests[version.version] = version.digest
    registry.set_alias(NAME, "champion", "1")
    log = folder / "decisions.jsonl"
    with serve_mlflow(
        f"models:/{NAME}@champion",
        registry_uri=registry.uri,
        env={"PRODREADY_DECISION_LOG": str(log)},
        log_dir=folder,
    ) as server:
        yield Served(server.url, registry, digests, log, folder)


def wait_for_version(client: Client, frame: pd.DataFrame, version: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < 30:
        reply = client.predict(frame)
        if reply.model_version == version:
            return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError(f"the server did not serve version {version} within 30 s")


def test_the_served_model_follows_its_alias_without_failing_a_request(served: Served) -> None:
    frame = make_frame(3, 9)[FEATURES]
    before = served.registry.snapshot()
    with MLflowClient(served.url) as client, MLflowClient(served.url) as probe:
        first = client.predict(frame)
        assert first.kind == "answered"
        assert (first.model_version, first.model_digest) == ("1", served.digests["1"])
        traffic = Traffic(client, frame)
        thread = threading.Thread(target=traffic.run)
        thread.start()
        try:
            served.registry.set_alias(NAME, "champion", "2")
            to_v2 = wait_for_version(probe, frame, "2")
            served.registry.set_alias(NAME, "champion", "1")
            back = wait_for_version(probe, frame, "1")
            time.sleep(0.2)
        finally:
            traffic.stop.set()
            thread.join()
    replies = [reply for _, reply in traffic.replies]
    assert len(replies) > 10
    assert all(reply.kind == "answered" for reply in replies), {r.kind for r in replies}
    assert {(r.model_version, r.model_digest) for r in replies} == {
        ("1", served.digests["1"]),
        ("2", served.digests["2"]),
    }
    print(
        f"swap to v2 seen after {to_v2:.2f} s, back to v1 after {back:.2f} s, "
        f"{len(replies)} requests"
    )
    # A swap takes a poll and a model load: well under the rollback budgets.
    assert to_v2 < 10 and back < 10
    served.registry.restore(before)
    assert served.registry.fingerprint() == before.fingerprint


def test_a_version_that_cannot_be_served_is_skipped(served: Served, tmp_path: Path) -> None:
    frame = make_frame(2, 10)[FEATURES]
    before = served.registry.snapshot()
    broken = tmp_path / "broken"
    (broken / "artifacts").mkdir(parents=True)
    (broken / "MLmodel").write_text("flavors:\n  python_function: {loader_module: nope}\n")
    version = served.registry.register(NAME, broken).version
    served.registry.set_alias(NAME, "champion", version)
    try:
        time.sleep(POLL_S * 10)
        with MLflowClient(served.url) as client:
            reply = client.predict(frame)
        assert reply.kind == "answered"
        assert (reply.model_version, reply.model_digest) == ("1", served.digests["1"])
        assert (
            f"version {version} (alias champion) cannot be served"
            in (served.folder / "server.log").read_text()
        )
    finally:
        served.registry.restore(before)
    assert served.registry.fingerprint() == before.fingerprint
    # The decision log names the version that decided.
    assert '"model_version":"1"' in served.log.read_text().replace(" ", "")


def test_a_version_number_reused_after_a_restore_is_a_new_model(served: Served) -> None:
    frame = make_frame(2, 11)[FEATURES]
    before = served.registry.snapshot()
    try:
        with MLflowClient(served.url) as client:
            third = served.registry.register(NAME, served.folder / "m2" / "model").version
            served.registry.set_alias(NAME, "champion", third)
            wait_for_version(client, frame, third)
            # Restored and at once a new version with the same number, another model.
            served.registry.restore(before)
            again = served.registry.register(NAME, served.folder / "m1" / "model")
            assert again.version == third
            served.registry.set_alias(NAME, "champion", third)
            deadline = time.monotonic() + 30
            while True:
                reply = client.predict(frame)
                if (reply.model_version, reply.model_digest) == (third, served.digests["1"]):
                    break
                assert time.monotonic() < deadline, "the reused version number was not reloaded"
                time.sleep(0.05)
    finally:
        served.registry.restore(before)
    assert served.registry.fingerprint() == before.fingerprint


def test_serving_a_registry_uri_needs_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with (
        pytest.raises(ServeError, match="needs the registry's URI"),
        serve_mlflow("models:/x@champion"),
    ):
        pass


def test_a_spec_serving_a_registered_model_needs_a_registry(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    frame = make_frame(50, 3)
    frame.to_csv(tmp_path / "ref.csv", index=False)
    body = (
        "version: 2\nname: x\nmodel: {path: m.skops}\n"
        "data: {reference: ref.csv, target: target}\ntask: binary\n"
        "endpoint: {serve: 'models:/x@champion'}\n"
    )
    spec.write_text(body)
    with pytest.raises(SpecError, match=r"endpoint.serve: serves models:/x@champion but the spec"):
        load_spec(spec)


def test_digest_is_the_sha256_of_the_skops_file(served: Served) -> None:
    skops = served.folder / "m1" / "model.skops"
    assert served.digests["1"] == hashlib.sha256(skops.read_bytes()).hexdigest()
    assert served.registry.verify_digest(NAME, "1") == served.digests["1"]
