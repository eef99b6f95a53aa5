"""Q8 on a real (embedded sqlite) MLflow registry: each broken approval set with its exact failure.

One registry per module holds two versions of a tiny guard-shaped model (the registry never
loads it); each test puts its own approvals in and the registry is restored after it.
"""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from prodready.adapters import MLflowRegistry
from prodready.adapters._base import Reply
from prodready.attest import generate_keypair, load_private_key
from prodready.attest._approval import approve, tag_key
from prodready.probes import ApprovalProbe, ProbeContext, builtin_probes
from prodready.probes.approval import DEPLOYED_AT_TAG
from prodready.results import Finding, Status
from prodready.system import Endpoint, Registry, System
from tests.adapters.test_registry import guard_model
from tests.conftest import require_mlflow

require_mlflow()

NAME = "credit-risk"
NOW = datetime.now(UTC)
DEPLOYED = NOW - timedelta(hours=1)
BEFORE = NOW - timedelta(hours=2)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class World:
    root: Path
    registry: MLflowRegistry
    uri: str
    digests: dict[str, str]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("q8")
    uri = f"sqlite:///{root / 'registry' / 'mlflow.db'}"
    registry = MLflowRegistry(uri)
    v1 = registry.register(NAME, guard_model(root / "m1", b"model one"))
    v2 = registry.register(NAME, guard_model(root / "m2", b"model two"))
    registry.set_alias(NAME, "champion", "1")
    registry.set_tag(NAME, "1", DEPLOYED_AT_TAG, iso(DEPLOYED))
    registry.set_tag(NAME, "2", DEPLOYED_AT_TAG, iso(DEPLOYED))
    keys = root / "keys"
    keys.mkdir()
    for name in ("alice", "bob", "carol", "mallory"):
        generate_keypair(keys, name)
    (root / "trusted.yaml").write_text(
        "keys:\n"
        "  - {person: Alice Chen, roles: [model-owner], public_key: keys/alice.pub}\n"
        "  - {person: Bob Diaz, roles: [model-risk], public_key: keys/bob.pub}\n"
        "  - {person: Carol Evans, roles: [model-owner, model-risk], public_key: keys/carol.pub}\n"
    )
    return World(root, registry, uri, {"1": v1.digest, "2": v2.digest})


@pytest.fixture
def reg(world: World) -> Iterator[MLflowRegistry]:
    """The module's registry, put back exactly as it was after the test."""
    snapshot = world.registry.snapshot()
    try:
        yield world.registry
    finally:
        world.registry.restore(snapshot)
        shutil.rmtree(world.root / "approvals", ignore_errors=True)


@pytest.fixture(scope="module")
def model_and_data() -> tuple[Any, pd.DataFrame]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=60), "y": rng.normal(size=60)})
    frame["target"] = (frame["x"] > 0).astype(int)
    model = LogisticRegression().fit(frame[["x", "y"]], frame["target"])
    return model, frame


POLICY = {
    "trusted_keys": "trusted.yaml",
    "required_roles": ["model-owner", "model-risk"],
    "min_approvers": 2,
}


def system(world: World, data: tuple[Any, pd.DataFrame], **approval: Any) -> System:
    model, frame = data
    settings: dict[str, Any] = {"approval": {**POLICY, **approval}}
    if approval.get("approval") == "none":
        settings = {"approval": "none"}
    return System(
        model=model,
        reference=frame,
        target="target",
        registry=Registry(uri=world.uri, model_name=NAME),
        settings=settings,
        source=str(world.root / "spec.yaml"),
    )


def sign(world: World, who: str, role: str, version: str = "1", **kw: Any) -> None:
    kw.setdefault("time", iso(BEFORE))
    approve(
        model=NAME,
        version=version,
        role=role,
        key=world.root / "keys" / f"{who}.key",
        registry=world.uri,
        approver=who,
        **kw,
    )


def assess(world: World, data: tuple[Any, pd.DataFrame], **approval: Any) -> Finding:
    return ApprovalProbe().run(system(world, data, **approval), ProbeContext())


def check(finding: Finding, name: str) -> tuple[Status, str]:
    [found] = [c for c in finding.checks if c.name == name]
    return found.status, found.message


def test_registered_as_q8() -> None:
    assert builtin_probes()["Q8"] is ApprovalProbe


def test_two_roles_before_deployment_pass(
    world: World, reg: MLflowRegistry, model_and_data: Any
) -> None:
    sign(world, "alice", "model-owner")
    sign(world, "bob", "model-risk")
    finding = assess(world, model_and_data)
    assert finding.status == Status.PASS, finding.summary
    assert finding.summary == (
        f"Version 1 of 'credit-risk' (sha256 {world.digests['1'][:12]}…), served (known from "
        "the alias), is approved by 2 distinct people (Alice Chen and Bob Diaz) in the role(s) "
        "model-owner and model-risk, each record signed by a trusted key and bound to the "
        f"served artifact's digest, before its deployment at {iso(DEPLOYED)}."
    )
    assert finding.measurements["approvers"] == ["Alice Chen", "Bob Diaz"]
    assert finding.measurements["served_sha256"] == world.digests["1"]
    assert [c.status for c in finding.checks] == [Status.PASS] * 5


def test_missing(world: World, reg: MLflowRegistry, model_and_data: Any) -> None:
    finding = assess(world, model_and_data)
    assert finding.status == Status.FAIL
    _status, message = check(finding, "policy")
    assert message.startswith(
        f"no approval record of version 1 of 'credit-risk' (sha256 {world.digests['1'][:12]}…) "
        "in the registry tags of version 1; no valid approval in the required role(s) "
        "model-owner and model-risk; 0 distinct approver(s), the policy needs 2"
    )
    assert "prodready approve" in finding.remediation


def test_approving_v1_does_not_approve_v2(
    world: World, reg: MLflowRegistry, model_and_data: Any
) -> None:
    sign(world, "alice", "model-owner")
    sign(world, "bob", "model-risk")
    reg.set_alias(NAME, "champion", "2")
    finding = assess(world, model_and_data)
    assert finding.status == Status.FAIL
    assert finding.measurements["served_version"] == "2"
    _, message = check(finding, "policy")
    assert (
        "(other versions have records: version 1: 2; approving one version does not approve "
        "another)"
    ) in message


def test_stale_record_copied_to_the_next_version(
    world: World, reg: MLflowRegistry, model_and_data: Any
) -> None:
    sign(world, "alice", "model-owner")
    sign(world, "bob", "model-risk")
    for key, value in reg.version(NAME, "1").tags.items():
        if key.startswith("prodready.approval."):
            reg.set_tag(NAME, "2", key, value)
    reg.set_alias(NAME, "champion", "2")
    finding = assess(world, model_and_data)
    assert finding.status == Status.FAIL
    status, message = check(finding, "bound to the served artifact")
    assert status == Status.FAIL
    assert (
        f"stale: approves 'credit-risk' version 1 (sha256 {world.digests['1'][:12]}…), not the "
        f"served version 2 of 'credit-risk' (sha256 {world.digests['2'][:12]}…)"
    ) in message
    assert finding.measurements["records_stale"] == 2


def _tag(reg: MLflowRegistry, who: str, role: str, world: World) -> str:
    key = load_private_key(world.root / "keys" / f"{who}.key")
    from prodready.attest import key_id

    return tag_key(key_id(key), role)


def test_tampered_record(world: World, reg: MLflowRegistry, model_and_data: Any) -> None:
    sign(world, "alice", "model-owner")
    sign(world, "bob", "model-risk")
    tag = _tag(reg, "bob", "model-risk", world)
    envelope = json.loads(reg.version(NAME, "1").tags[tag])
    payload = json.loads(base64.b64decode(envelope["payload"]))
    payload["comment"] = "approved without conditions"
    envelope["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    reg.set_tag(NAME, "1", tag, json.dumps(envelope))
    finding = assess(world, model_and_data)
    assert finding.status == Status.FAIL
    _status, message = check(finding, "signatures")
    assert message == (
        f"tag {tag}: forged: its signature does not verify: the record was changed after it "
        "was signed, or signed by another key than the trusted one it names"
    )
    # The tampered record does not count: one approver is left.
    assert "1 distinct approver(s) (Alice Chen), the policy needs 2" in check(finding, "policy")[1]


def test_forged_with_an_unknown_key(world: World, reg: MLflowRegistry, model_and_data: Any) -> None:
    sign(world, "alice", "model-owner")
    sign(world, "mallory", "model-risk")  # not in the trusted-keys file
    finding = assess(world, model_and_data)
    assert finding.status == Status.FAIL
    _, message = check(finding, "signatures")
    tag = _tag(reg, "mallory", "model-risk", world)
    assert message.startswith(f"tag {tag}: unknown key: signed by key {tag.split('.')[2]}, ")
    assert "which is not in the trusted-keys file" in message


def test_self_approval(world: World, reg: MLflowRegistry, model_and_data: Any) -> None:
    sign(world, "carol", "model-owner")
    sign(world, "carol", "model-risk")
    finding = assess(world, model_and_data)
    assert finding.status == Status.FAIL
    _, message = check(finding, "policy")
    assert message == (
        "1 distinct approver(s) (Carol Evans), the policy needs 2; Carol Evans approved in 2 "
        "roles (model-owner and model-risk): self-approval is not allowed "
        "(approval.allow_self_approval is false)"
    )
    # Allowed by the policy and one approver required: it passes.
    allowed = assess(world, model_and_data, allow_self_approval=True, min_approvers=1)
    assert allowed.status == Status.PASS, allowed.summary


def test_too_few(world: World, reg: MLflowRegistry, model_and_data: Any) -> None:
    sign(world, "alice", "model-owner")
    finding = assess(world, model_and_data)
    assert finding.status == Status.FAIL
    _, message = check(finding, "policy")
    assert message == (
        "no valid approval in the required role(s) model-risk; 1 distinct approver(s) "
        "(Alice Chen), the policy needs 2"
    )


def test_after_deployment(world: World, reg: MLflowRegistry, model_and_data: Any) -> None:
    sign(world, "alice", "model-owner")
    late = iso(DEPLOYED + timedelta(minutes=5))
    sign(world, "bob", "model-risk", time=late)
    finding = assess(world, model_and_data)
    assert finding.status == Status.FAIL
    _status, message = check(finding, "approved before deployment")
    tag = _tag(reg, "bob", "model-risk", world)
    assert message == f"tag {tag}: approved at {late}, after the deployment at {iso(DEPLOYED)}"
    future = iso(NOW + timedelta(days=1))
    sign(world, "bob", "model-risk", time=future)
    message = check(assess(world, model_and_data), "approved before deployment")[1]
    assert message.startswith(f"tag {tag}: dated {future}, in the future")


def test_rejection(world: World, reg: MLflowRegistry, model_and_data: Any) -> None:
    sign(world, "alice", "model-owner")
    sign(world, "bob", "model-risk", decision="reject", comment="calibration drifts")
    finding = assess(world, model_and_data)
    assert finding.status == Status.FAIL
    assert check(finding, "no rejection")[1] == (
        f"Bob Diaz (model-risk) rejected it at {iso(BEFORE)}: 'calibration drifts'"
    )


def test_unknown_deployment_time_warns(
    world: World, reg: MLflowRegistry, model_and_data: Any
) -> None:
    sign(world, "alice", "model-owner")
    sign(world, "bob", "model-risk")
    reg.delete_tag(NAME, "1", DEPLOYED_AT_TAG)
    finding = assess(world, model_and_data)
    assert finding.status == Status.WARN
    _status, message = check(finding, "approved before deployment")
    assert message.startswith(
        "version 1 has no prodready.deployed_at tag: when it was deployed is unknown: whether "
        "the approvals came before the deployment cannot be checked"
    )


def test_folder_storage(world: World, reg: MLflowRegistry, model_and_data: Any) -> None:
    for who, role in (("alice", "model-owner"), ("bob", "model-risk")):
        sign(world, who, role, folder=world.root / "approvals")
    # An approval of version 2 in the same folder is not counted, nor a failure.
    sign(world, "carol", "model-owner", version="2", folder=world.root / "approvals")
    finding = assess(world, model_and_data, folder="approvals")
    assert finding.status == Status.PASS, finding.summary
    assert not any(k.startswith("prodready.approval.") for k in reg.version(NAME, "1").tags)


def test_not_configured_declared_absent_and_no_registry(world: World, model_and_data: Any) -> None:
    model, frame = model_and_data
    bare = System(model=model, reference=frame, target="target", source="spec.yaml")
    finding = ApprovalProbe().run(bare, ProbeContext())
    assert finding.status == Status.NOT_ASSESSED
    assert finding.measurements["missing_spec_field"] == "approval.trusted_keys"
    absent = System(model=model, reference=frame, target="target", settings={"approval": "none"})
    finding = ApprovalProbe().run(absent, ProbeContext())
    assert finding.status == Status.FAIL
    assert "approval: none" in finding.summary and "prodready keygen" in finding.remediation
    unregistered = System(
        model=model,
        reference=frame,
        target="target",
        settings={"approval": POLICY},
        source=str(world.root / "spec.yaml"),
    )
    finding = ApprovalProbe().run(unregistered, ProbeContext())
    assert finding.measurements["missing_spec_field"] == "registry"


def test_a_model_the_registry_does_not_have_fails_naming_it(
    world: World, reg: MLflowRegistry, model_and_data: Any
) -> None:
    target = replace(
        system(world, model_and_data), registry=Registry(uri=world.uri, model_name="no-such-model")
    )
    finding = ApprovalProbe().run(target, ProbeContext())
    assert finding.status == Status.FAIL
    assert finding.summary == (
        "What production serves is unknown: the registry has no version of the model "
        "'no-such-model' (registry.model_name), so no registered version is in production."
    )


class _Client:
    def __init__(self, reply: Reply) -> None:
        self.reply = reply

    def predict(self, frame: pd.DataFrame) -> Reply:
        return self.reply

    def __enter__(self) -> _Client:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def test_the_endpoints_digest_decides(
    world: World, reg: MLflowRegistry, model_and_data: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The alias says version 1, the endpoint serves version 2's bytes: v1's approvals fail."""
    import prodready.adapters as adapters

    sign(world, "alice", "model-owner")
    sign(world, "bob", "model-risk")
    reply = Reply(
        kind="answered",
        outputs=np.array([[0.5, 0.5]]),
        model_version="credit-risk 2 (served)",
        model_digest=world.digests["2"],
    )
    client = _Client(reply)
    monkeypatch.setattr(adapters, "connect", lambda system: client)
    sys_ = system(world, model_and_data)
    sys_.endpoint = Endpoint(url="http://127.0.0.1:9")
    finding = ApprovalProbe().run(sys_, ProbeContext())
    assert finding.status == Status.FAIL
    assert finding.measurements["served_from"] == "endpoint"
    assert finding.measurements["served_version"] == "2"
    assert "version 1: 2; approving one version does not approve another" in finding.summary
    # The endpoint serves version 1's bytes: the same approvals pass.
    client.reply = replace(reply, model_digest=world.digests["1"])
    assert ApprovalProbe().run(sys_, ProbeContext()).status == Status.PASS


def _secrets(keys: Path) -> list[str]:
    """What private key material looks like in text: PEM marker and body, raw bytes encoded."""
    from cryptography.hazmat.primitives import serialization

    needles = ["PRIVATE KEY"]
    for path in sorted(keys.glob("*.key")):
        key = load_private_key(path)
        raw = key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        needles += [
            base64.b64encode(raw).decode().rstrip("="),
            base64.urlsafe_b64encode(raw).decode().rstrip("="),
            raw.hex(),
            path.read_text().splitlines()[1],  # the PEM body (PKCS#8, base64)
        ]
    return needles


def test_no_private_key_material_in_the_run_folder(
    world: World, reg: MLflowRegistry, model_and_data: Any
) -> None:
    """A whole headless run (notebook, report, results) of Q8, signed: no private key in it."""
    import skops.io

    from prodready.report.run import run_assessment

    model, frame = model_and_data
    sign(world, "alice", "model-owner")
    sign(world, "bob", "model-risk")
    skops.io.dump(model, world.root / "model.skops")
    frame.to_parquet(world.root / "reference.parquet")
    (world.root / "spec.yaml").write_text(
        "version: 2\nname: approvals\nmodel: {path: model.skops}\n"
        "data: {reference: reference.parquet, target: target}\ntask: binary\n"
        f"registry: {{uri: '{world.uri}', model_name: {NAME}}}\n"
        "approval:\n  trusted_keys: trusted.yaml\n  required_roles: [model-owner, model-risk]\n"
    )
    result = run_assessment(
        world.root / "spec.yaml",
        world.root / "reports",
        questions=["Q8"],
        sign_key=world.root / "keys" / "carol.key",
    )
    [finding] = result.assessment.findings
    assert finding.status == Status.PASS, finding.summary
    needles = _secrets(world.root / "keys")
    files = [p for p in result.directory.rglob("*") if p.is_file()]
    assert len(files) >= 3  # results, notebook, report at least
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="replace")
        found = [n[:12] for n in needles if n in text]
        assert not found, (path.name, found)


def test_the_example_approval_set_passes(
    world: World, reg: MLflowRegistry, model_and_data: Any
) -> None:
    from prodready.example._approvals import (
        approval_settings,
        build_approvals,
        record_deployment,
    )

    folder = world.root / "example"
    folder.mkdir(exist_ok=True)
    name = "example-model"
    reg.register(name, guard_model(world.root / "example-model", b"example"))
    written = build_approvals(folder, world.uri, name, "1")
    deployed = record_deployment(reg, name, "1")
    assert written == ["trusted-keys.yaml", "keys/dana-owner.pub", "keys/ravi-risk.pub"]
    for key in (folder / "keys").glob("*.key"):
        assert key.stat().st_mode & 0o777 == 0o600
    model, frame = model_and_data
    example = System(
        model=model,
        reference=frame,
        target="target",
        registry=Registry(uri=world.uri, model_name=name),
        settings={"approval": approval_settings()},
        source=str(folder / "production.yaml"),
    )
    finding = ApprovalProbe().run(example, ProbeContext())
    assert finding.status == Status.PASS, finding.summary
    assert finding.measurements["approvers"] == ["Dana Whitfield", "Ravi Okafor"]
    assert finding.measurements["deployed_at"] == deployed


def test_cli_approve_with_the_registry(
    world: World, reg: MLflowRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    from prodready.cli import main

    key = str(world.root / "keys" / "alice.key")
    argv = ["approve", "--model", NAME, "--role", "model-owner", "--key", key]
    assert main([*argv, "--version", "1", "--registry", world.uri]) == 0
    out, _ = capsys.readouterr()
    tag = _tag(reg, "alice", "model-owner", world)
    assert out.splitlines()[0] == f"approved: {NAME} version 1 (sha256 {world.digests['1']})"
    assert (
        out.splitlines()[2] == f"stored: registry {world.uri}, model {NAME!r} version 1, tag {tag}"
    )
    assert tag in reg.version(NAME, "1").tags
    assert main([*argv, "--version", "9", "--registry", world.uri]) == 2
    _, err = capsys.readouterr()
    assert err.startswith("prodready: error: --registry: registry sqlite:///")
    assert "model 'credit-risk' version 9" in err and len(err.splitlines()) == 1


def test_a_missing_folder_is_no_approval_and_a_file_is_a_spec_error(
    world: World, model_and_data: Any
) -> None:
    from prodready._exceptions import SpecError

    finding = assess(world, model_and_data, folder="no-such-folder")
    assert finding.status == Status.FAIL
    assert "in the folder no-such-folder (it does not exist)" in check(finding, "policy")[1]
    with pytest.raises(SpecError, match=r"approval\.folder: .*is not a folder"):
        ApprovalProbe().preflight(system(world, model_and_data, folder="trusted.yaml"))
    # An empty path would read the spec's own folder.
    with pytest.raises(SpecError, match=r"approval\.folder: is empty \(expected a path\)"):
        ApprovalProbe().preflight(system(world, model_and_data, folder=""))


def test_an_unregistered_artifact_served(
    world: World, reg: MLflowRegistry, model_and_data: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import prodready.adapters as adapters

    sign(world, "alice", "model-owner")
    sign(world, "bob", "model-risk")
    reply = Reply(kind="answered", outputs=np.array([[0.5, 0.5]]), model_digest="f" * 64)
    monkeypatch.setattr(adapters, "connect", lambda system: _Client(reply))
    sys_ = system(world, model_and_data)
    sys_.endpoint = Endpoint(url="http://127.0.0.1:9")
    finding = ApprovalProbe().run(sys_, ProbeContext())
    assert finding.status == Status.FAIL
    assert finding.measurements["served_version"] is None
    assert finding.summary.startswith(
        "The approvals of an unregistered artifact of 'credit-risk' (sha256 ffffffffffff…) do "
        "not hold: no approval record of an unregistered artifact"
    )
