"""Q8 for a system without a model registry: approvals in a folder, what is served from hooks.

No MLflow here (these run in the core environment too): the records are files written by
``prodready approve --folder --artifact``, the served release comes from the endpoint's reply
or ``hooks.served_version``, and the deployment time from ``hooks.deployed_at``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from prodready.adapters._base import Reply
from prodready.attest import generate_keypair
from prodready.attest._approval import approve, file_sha256
from prodready.probes import ApprovalProbe, ProbeContext
from prodready.results import Check, Finding, Status
from prodready.system import Artifact, Endpoint, System

NAME = "credit-risk"
NOW = datetime.now(UTC)
DEPLOYED = NOW - timedelta(hours=1)
BEFORE = NOW - timedelta(hours=2)
AFTER = NOW - timedelta(minutes=30)

HOOKS = """
import json
from pathlib import Path

_STATE = Path(__file__).parent / "q8_state.json"


def _state():
    return json.loads(_STATE.read_text())


def served_version():
    return _state()["served"]


def served_version_fails():
    raise RuntimeError("the deploy log is unreachable")


def deployed_at(version):
    return _state()["deployed"][str(version)]


def deployed_at_fails(version):
    raise RuntimeError("no deployment record")


def deployed_at_garbage(version):
    return "yesterday"


def served_version_hangs():
    import time

    time.sleep(3)  # past approval.hook_timeout_s (0.5 s in the test); it ends on its own
    return "1.4.0"


def deployed_at_hangs(version):
    import time

    time.sleep(3)
    return "2026-01-01T00:00:00Z"
"""


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class World:
    root: Path
    artifact: Path
    other: Path
    frame: pd.DataFrame

    def state(self, **values: Any) -> None:
        (self.root / "q8_state.json").write_text(json.dumps(values))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("q8free")
    keys = root / "keys"
    keys.mkdir()
    for name in ("alice", "bob"):
        generate_keypair(keys, name)
    (root / "trusted.yaml").write_text(
        "keys:\n"
        "  - {person: Alice Chen, roles: [model-owner], public_key: keys/alice.pub}\n"
        "  - {person: Bob Diaz, roles: [model-risk], public_key: keys/bob.pub}\n"
    )
    (root / "q8_free_hooks.py").write_text(HOOKS)
    (root / "model.skops").write_bytes(b"the served model, release 1.4.0")
    (root / "other.skops").write_bytes(b"another model")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=20), "y": rng.normal(size=20)})
    frame["target"] = (frame["x"] > 0).astype(int)
    return World(root, root / "model.skops", root / "other.skops", frame)


@pytest.fixture
def fresh(world: World) -> Iterator[World]:
    """The module's world with an empty approvals folder and default hook answers."""
    world.state(served="1.4.0", deployed={"1.4.0": iso(DEPLOYED), "None": iso(DEPLOYED)})
    try:
        yield world
    finally:
        for path in (world.root / "approvals").glob("*"):
            path.unlink()


class _Model:
    """Stands for the model given in Python: Q8 never calls it."""

    def predict(self, frame: pd.DataFrame) -> np.ndarray[Any, Any]:
        return np.zeros(len(frame))


def system(world: World, hooks: dict[str, str] | None = None, **approval: Any) -> System:
    settings = {
        "trusted_keys": "trusted.yaml",
        "folder": "approvals",
        "model_name": NAME,
        "required_roles": ["model-owner", "model-risk"],
        "min_approvers": 2,
        **approval,
    }
    return System(
        model=_Model(),
        reference=world.frame,
        target="target",
        model_artifact=Artifact(str(world.artifact), file_sha256(world.artifact), "skops"),
        hooks={
            "served_version": "q8_free_hooks:served_version",
            "deployed_at": "q8_free_hooks:deployed_at",
        }
        if hooks is None
        else hooks,
        settings={"approval": {k: v for k, v in settings.items() if v is not None}},
        source=str(world.root / "spec.yaml"),
    )


def sign(world: World, who: str, role: str, version: str = "1.4.0", **kw: Any) -> None:
    kw.setdefault("time", iso(BEFORE))
    kw.setdefault("artifact", world.artifact)
    approve(
        model=NAME,
        version=version,
        role=role,
        key=world.root / "keys" / f"{who}.key",
        folder=world.root / "approvals",
        approver=who,
        **kw,
    )


def both(world: World, **kw: Any) -> None:
    sign(world, "alice", "model-owner", **kw)
    sign(world, "bob", "model-risk", **kw)


def assess(target: System) -> Finding:
    return ApprovalProbe().run(target, ProbeContext())


def check(finding: Finding, name: str) -> Check:
    [found] = [c for c in finding.checks if c.name == name]
    return found


def test_approvals_before_the_hooks_deployment_pass(fresh: World) -> None:
    both(fresh)
    finding = assess(system(fresh))
    assert finding.status == Status.PASS, finding.summary
    digest = file_sha256(fresh.artifact)
    assert finding.summary == (
        f"Version 1.4.0 of 'credit-risk' (sha256 {digest[:12]}…), served (known from "
        "hooks.served_version), is approved by 2 distinct people (Alice Chen and Bob Diaz) in "
        "the role(s) model-owner and model-risk, each record signed by a trusted key and bound "
        f"to the served artifact's digest, before its deployment at {iso(DEPLOYED)}."
    )
    assert finding.measurements["served_from"] == "hook"
    assert finding.measurements["served_version"] == "1.4.0"
    assert finding.measurements["served_sha256"] == digest
    assert check(finding, "approved before deployment").threshold == (
        "every approval before hooks.deployed_at"
    )
    # Where the digest came from is said: Q7 verifies the link to the artifact.
    assert "Q7 verifies that link" in finding.evidence[0].note  # type: ignore[union-attr]


def test_approvals_after_the_hooks_deployment_fail(fresh: World) -> None:
    both(fresh, time=iso(AFTER))
    finding = assess(system(fresh))
    assert finding.status == Status.FAIL
    assert check(finding, "approved before deployment").status == Status.FAIL
    assert "hooks.deployed_at report when it deployed" in finding.remediation


@pytest.mark.parametrize(
    ("deployed_hook", "problem"),
    [
        (None, "the spec has no hooks.deployed_at: when the served model was deployed is unknown"),
        (
            "deployed_at_fails",
            "hooks.deployed_at raised RuntimeError: no deployment record: when the served "
            "model was deployed is unknown",
        ),
        (
            "deployed_at_garbage",
            "hooks.deployed_at returned 'yesterday' for version '1.4.0', not a UTC ISO 8601 time",
        ),
    ],
)
def test_an_unknown_deployment_time_warns(
    fresh: World, deployed_hook: str | None, problem: str
) -> None:
    both(fresh)
    hooks = {"served_version": "q8_free_hooks:served_version"}
    if deployed_hook:
        hooks["deployed_at"] = f"q8_free_hooks:{deployed_hook}"
    finding = assess(system(fresh, hooks=hooks))
    assert finding.status == Status.WARN, finding.summary
    timing = check(finding, "approved before deployment")
    assert timing.status == Status.WARN
    assert timing.message == (
        f"{problem}: whether the approvals came before the deployment cannot be checked (set "
        "hooks.deployed_at in the spec to a function deployed_at(version) returning the UTC "
        "ISO 8601 time the served version was deployed)."
    )


def test_approvals_of_another_digest_fail(fresh: World) -> None:
    both(fresh, artifact=fresh.other)
    finding = assess(system(fresh))
    assert finding.status == Status.FAIL
    bound = check(finding, "bound to the served artifact")
    assert bound.status == Status.FAIL and bound.measured == 2
    assert "stale: approves 'credit-risk' version 1.4.0 (sha256" in bound.message
    assert "--artifact MODEL_FILE --folder APPROVALS_DIR" in finding.remediation
    # Judging the artifact itself (nothing says what is served): other bytes are not counted.
    finding = assess(system(fresh, hooks={}))
    assert finding.status == Status.FAIL
    assert "no valid approval of the model artifact" in check(finding, "policy").message


def test_nothing_says_what_is_served_the_artifact_is_judged_with_a_warning(fresh: World) -> None:
    # Two release names for the same bytes: the digest binds, not the name.
    sign(fresh, "alice", "model-owner", version="1.4.0")
    sign(fresh, "bob", "model-risk", version="1.4.0-rc2")
    finding = assess(system(fresh, hooks={"deployed_at": "q8_free_hooks:deployed_at"}))
    assert finding.status == Status.WARN, finding.summary
    digest = file_sha256(fresh.artifact)
    assert finding.summary.startswith(
        f"The model artifact of 'credit-risk' the spec names (sha256 {digest[:12]}…), judged "
        "in place of what production serves (which is not known), is approved by 2 distinct "
        "people"
    )
    assert finding.measurements["served_from"] == "artifact"
    assert finding.measurements["served_version"] is None
    assert check(finding, "served artifact").status == Status.WARN
    assert check(finding, "approved before deployment").status == Status.PASS
    assert "hooks.served_version" in finding.remediation


def test_the_endpoints_reply_comes_first(fresh: World, monkeypatch: pytest.MonkeyPatch) -> None:
    import prodready.adapters as adapters

    both(fresh)
    reply = Reply(
        kind="answered",
        outputs=np.array([[0.5, 0.5]]),
        model_version="1.4.0",
        model_digest=file_sha256(fresh.other),
    )

    class Client:
        def predict(self, frame: pd.DataFrame) -> Reply:
            return reply

        def __enter__(self) -> Client:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

    monkeypatch.setattr(adapters, "connect", lambda system: Client())
    target = replace(system(fresh), endpoint=Endpoint(url="http://127.0.0.1:9"))
    finding = assess(target)
    # The endpoint serves other bytes than those approved: not the hook's or the spec's word.
    assert finding.status == Status.FAIL
    assert finding.measurements["served_from"] == "endpoint"
    assert finding.measurements["served_sha256"] == file_sha256(fresh.other)


def test_a_served_version_hook_that_raises_fails(fresh: World) -> None:
    both(fresh)
    finding = assess(system(fresh, hooks={"served_version": "q8_free_hooks:served_version_fails"}))
    assert finding.status == Status.FAIL
    assert finding.summary == (
        "What production serves is unknown: hooks.served_version raised RuntimeError: the "
        "deploy log is unreachable."
    )


def test_hooks_that_hang_are_judged_within_approval_hook_timeout_s(fresh: World) -> None:
    both(fresh)
    hooks = {"served_version": "q8_free_hooks:served_version_hangs"}
    started = time.monotonic()
    finding = assess(system(fresh, hooks=hooks, hook_timeout_s=0.5))
    assert time.monotonic() - started < 2.5  # not the 3 s the hook sleeps
    assert finding.status == Status.FAIL
    assert finding.summary == (
        "What production serves is unknown: hooks.served_version did not return within 0.5 s "
        "(approval.hook_timeout_s); it may still be running."
    )
    hooks = {
        "served_version": "q8_free_hooks:served_version",
        "deployed_at": "q8_free_hooks:deployed_at_hangs",
    }
    finding = assess(system(fresh, hooks=hooks, hook_timeout_s=0.5))
    assert finding.status == Status.WARN, finding.summary
    assert check(finding, "approved before deployment").message.startswith(
        "hooks.deployed_at did not return within 0.5 s (approval.hook_timeout_s): when the "
        "served model was deployed is unknown"
    )


def test_not_assessed_without_a_home_a_model_name_or_an_artifact(fresh: World) -> None:
    finding = assess(system(fresh, model_name=None))
    assert finding.status == Status.NOT_ASSESSED
    assert finding.measurements["missing_spec_field"] == "approval.model_name"
    finding = assess(system(fresh, folder=None))
    assert finding.status == Status.NOT_ASSESSED
    assert finding.measurements["missing_spec_field"] == "registry"
    assert "approval.folder" in finding.summary
    finding = assess(replace(system(fresh), model_artifact=None))
    assert finding.status == Status.NOT_ASSESSED
    assert finding.measurements["missing_spec_field"] == "model.path"
