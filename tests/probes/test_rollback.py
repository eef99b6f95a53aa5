"""Q4 rollback probe: the rehearsal against loopback blue/green servers with known behaviour.

The servers and hooks are in :mod:`tests.probes.rollback_servers`; the real served example
(``mlflow models serve`` and MLflow's registry) is in ``test_rollback_served.py``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from prodready import SpecError
from prodready.probes import ProbeCancelled, ProbeContext, ProbeTimeout, builtin_probes
from prodready.probes.rollback import STEPS, RollbackProbe, RollbackSettings
from prodready.results import Status
from prodready.system import Endpoint, Registry, System
from tests.probes import rollback_servers as servers
from tests.probes.rollback_servers import FakeRegistry, SwitchServer

HOOKS = "tests.probes.rollback_servers"
FAST = {
    "max_restore_s": 1.0,
    "switch_timeout_s": 1.0,
    "poll_s": 0.02,
    "traffic_rps": 20.0,
    "settle_s": 0.1,
}


def _hooks(rollback: str = "rollback", *, restore: bool = True) -> dict[str, str]:
    hooks = {
        "deploy": f"{HOOKS}:deploy",
        "rollback": f"{HOOKS}:{rollback}",
        "served_version": f"{HOOKS}:served_version",
    }
    if restore:
        hooks["restore"] = f"{HOOKS}:restore"
    return hooks


@pytest.fixture
def server() -> Iterator[SwitchServer]:
    with SwitchServer("v1") as switch:
        servers.SERVER = switch
        try:
            yield switch
        finally:
            servers.SERVER = None


def _system(
    model: Pipeline,
    data: tuple[pd.DataFrame, pd.DataFrame],
    url: str | None,
    *,
    hooks: dict[str, str] | None = None,
    rollback: Any = None,
    registry: Registry | None = None,
) -> System:
    settings: dict[str, Any] = {} if rollback is None else {"rollback": rollback}
    return System(
        model=model,
        reference=data[0],
        target="target",
        endpoint=None if url is None else Endpoint(url=url, timeout_s=2),
        hooks=hooks or {},
        settings=settings,
        registry=registry,
    )


def test_registered_for_q4() -> None:
    assert builtin_probes()["Q4"] is RollbackProbe
    assert RollbackProbe.serves


def test_settings_are_checked(binary_model: Pipeline, binary_data: Any) -> None:
    system = _system(binary_model, binary_data, None, rollback={"max_restore_s": 0})
    with pytest.raises(SpecError, match=r"rollback\.max_restore_s"):
        RollbackProbe().settings(system)
    assert RollbackSettings().alias == "champion"


def test_hooks_rollback_passes(
    binary_model: Pipeline, binary_data: Any, server: SwitchServer
) -> None:
    system = _system(binary_model, binary_data, server.url, hooks=_hooks(), rollback=FAST)
    finding = RollbackProbe().run(system, ProbeContext())
    assert finding.status is Status.PASS, finding.summary
    m = finding.measurements
    assert m["mechanism"] == "hooks"
    assert m["original"]["version"] == "v1"
    assert m["candidate"]["version"] == "v2"
    assert m["after_rollback"]["version"] == "v1"
    assert 0 <= m["restore_s"] <= 1.0
    assert m["canary_identical"] is True
    assert m["failed_requests"] == 0 and m["traffic_sent"] > 0
    assert finding.summary.startswith(
        "Rolled back from the candidate (version v2) to the original (version v1)"
    )
    assert server.live == "v1"


def test_rollback_that_does_nothing_fails(
    binary_model: Pipeline, binary_data: Any, server: SwitchServer
) -> None:
    system = _system(
        binary_model, binary_data, server.url, hooks=_hooks("rollback_noop"), rollback=FAST
    )
    finding = RollbackProbe().run(system, ProbeContext())
    assert finding.status is Status.FAIL
    assert finding.summary.startswith(
        "The candidate (version v2) is still served 1 s after the rollback was triggered: the "
        "rollback did not put the original back"
    )
    assert finding.measurements["restore_s"] is None
    # hooks.restore put the original back afterwards: production is left as it was.
    assert {c.name: c.status for c in finding.checks}["production left as it was"] is Status.PASS
    assert server.live == "v1"


def test_rollback_that_does_nothing_without_restore_hook_says_production_is_left_wrong(
    binary_model: Pipeline, binary_data: Any, server: SwitchServer
) -> None:
    system = _system(
        binary_model,
        binary_data,
        server.url,
        hooks=_hooks("rollback_noop", restore=False),
        rollback=FAST,
    )
    finding = RollbackProbe().run(system, ProbeContext())
    assert finding.status is Status.FAIL
    check = {c.name: c for c in finding.checks}["production left as it was"]
    assert check.status is Status.FAIL
    assert check.message == (
        "After the rehearsal the endpoint still serves version v2, not the original: put the "
        "original back by hand now."
    )
    assert finding.measurements["left_serving"] == "version v2"
    assert "hooks.restore(version)" in finding.remediation


def test_rollback_to_the_wrong_version_fails(
    binary_model: Pipeline, binary_data: Any, server: SwitchServer
) -> None:
    system = _system(
        binary_model, binary_data, server.url, hooks=_hooks("rollback_wrong"), rollback=FAST
    )
    finding = RollbackProbe().run(system, ProbeContext())
    assert finding.status is Status.FAIL
    check = {c.name: c for c in finding.checks}["original restored in time"]
    assert check.message == (
        "The rollback put version v0 in production, not the original (version v1): the "
        "endpoint serves version v0, expected version v1."
    )
    canary = {c.name: c for c in finding.checks}["identical answers after the rollback"]
    assert canary.status is Status.FAIL
    assert canary.message.startswith("8 of 8 canary rows were answered differently")
    assert server.live == "v1"  # put back by hooks.restore


def test_rollback_that_drops_requests_fails_with_the_count(
    binary_model: Pipeline, binary_data: Any, server: SwitchServer
) -> None:
    system = _system(
        binary_model, binary_data, server.url, hooks=_hooks("rollback_dropping"), rollback=FAST
    )
    finding = RollbackProbe().run(system, ProbeContext())
    assert finding.status is Status.FAIL
    checks = {c.name: c for c in finding.checks}
    assert checks["original restored in time"].status is Status.PASS
    assert checks["identical answers after the rollback"].status is Status.PASS
    requests = finding.measurements["requests"]
    assert checks["no failed requests"].message == (
        f"3 of {requests} requests failed during the rehearsal (dropped: 3)."
    )
    assert finding.measurements["failed_requests"] == 3 == server.dropped
    assert finding.summary == (
        f"3 of {requests} requests failed during the rehearsal (dropped: 3)."
    )
    assert any(e.title == "Failed requests (3)" for e in finding.evidence)


@pytest.mark.parametrize(
    ("hook", "said"),
    [
        ("rollback_raising", "raised RuntimeError: kubectl: connection refused"),
        ("rollback_exiting", "raised SystemExit: 2."),  # sys.exit() in a hook
    ],
)
def test_rollback_hook_that_raises_or_exits_fails_naming_it(
    binary_model: Pipeline, binary_data: Any, server: SwitchServer, hook: str, said: str
) -> None:
    system = _system(binary_model, binary_data, server.url, hooks=_hooks(hook), rollback=FAST)
    finding = RollbackProbe().run(system, ProbeContext())
    assert finding.status is Status.FAIL
    assert finding.summary.startswith(f"The hook hooks.rollback {said}")
    assert server.live == "v1"


def test_deploy_that_never_reaches_the_endpoint_fails(
    binary_model: Pipeline, binary_data: Any, server: SwitchServer
) -> None:
    # deploy(v1) "deploys" the version already served: nothing changes at the endpoint.
    system = _system(
        binary_model,
        binary_data,
        server.url,
        hooks=_hooks(),
        rollback={**FAST, "candidate": "v1"},
    )
    finding = RollbackProbe().run(system, ProbeContext())
    assert finding.status is Status.FAIL
    assert "the deployment never reached it, so no rollback could be rehearsed" in finding.summary


def test_rollback_none_fails_with_remediation(binary_model: Pipeline, binary_data: Any) -> None:
    system = _system(binary_model, binary_data, "http://127.0.0.1:9", rollback="none")
    finding = RollbackProbe().run(system, ProbeContext())
    assert finding.status is Status.FAIL
    assert "rollback: none" in finding.summary
    assert "hooks.rollback" in finding.remediation and "alias" in finding.remediation


def test_no_mechanism_is_not_assessed_naming_the_fields(
    binary_model: Pipeline, binary_data: Any
) -> None:
    finding = RollbackProbe().run(
        _system(binary_model, binary_data, "http://127.0.0.1:9"), ProbeContext()
    )
    assert finding.status is Status.NOT_ASSESSED
    assert (
        finding.measurements["missing_spec_field"]
        == "rollback.mechanism, hooks.rollback or registry"
    )


def test_missing_pieces_are_not_assessed(binary_model: Pipeline, binary_data: Any) -> None:
    no_endpoint = _system(binary_model, binary_data, None, hooks=_hooks())
    assert (
        RollbackProbe().run(no_endpoint, ProbeContext()).measurements["missing_spec_field"]
        == "endpoint"
    )
    no_deploy = _system(
        binary_model, binary_data, "http://127.0.0.1:9", hooks={"rollback": f"{HOOKS}:rollback"}
    )
    assert (
        RollbackProbe().run(no_deploy, ProbeContext()).measurements["missing_spec_field"]
        == "hooks.deploy"
    )
    no_registry = _system(
        binary_model, binary_data, "http://127.0.0.1:9", rollback={"mechanism": "registry_alias"}
    )
    assert (
        RollbackProbe().run(no_registry, ProbeContext()).measurements["missing_spec_field"]
        == "registry"
    )


# --- the registry mechanism, interrupted at every step ----------------------------------


@pytest.fixture
def fake_registry() -> Iterator[tuple[FakeRegistry, SwitchServer]]:
    registry = FakeRegistry()
    with SwitchServer(follow=registry) as switch:
        yield registry, switch


def _registry_system(model: Pipeline, data: Any, switch: SwitchServer) -> System:
    return _system(
        model,
        data,
        switch.url,
        registry=Registry(uri="fake://registry", model_name="credit-risk"),
        rollback={**FAST, "mechanism": "registry_alias", "candidate": "2"},
    )


def test_registry_alias_rollback_passes_and_leaves_the_registry_as_it_was(
    binary_model: Pipeline, binary_data: Any, fake_registry: tuple[FakeRegistry, SwitchServer]
) -> None:
    registry, switch = fake_registry
    before = registry.fingerprint()
    seen: list[str] = []
    probe = RollbackProbe(on_step=seen.append, open_registry=lambda s: registry)
    finding = probe.run(_registry_system(binary_model, binary_data, switch), ProbeContext())
    assert finding.status is Status.PASS, finding.summary
    assert seen == list(STEPS)
    assert finding.measurements["candidate_version"] == "2"
    assert "the alias 'champion' of the model 'credit-risk'" in finding.summary
    assert registry.fingerprint() == before


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, RuntimeError, ProbeCancelled])
@pytest.mark.parametrize("at", STEPS)
def test_interrupted_at_any_step_puts_registry_and_serving_back(
    binary_model: Pipeline,
    binary_data: Any,
    fake_registry: tuple[FakeRegistry, SwitchServer],
    at: str,
    interruption: type[BaseException],
) -> None:
    registry, switch = fake_registry
    before = registry.fingerprint()

    def on_step(name: str) -> None:
        if name == at:
            raise interruption(f"interrupted at {name}")

    probe = RollbackProbe(on_step=on_step, open_registry=lambda s: registry)
    with pytest.raises(interruption):
        probe.run(_registry_system(binary_model, binary_data, switch), ProbeContext())
    assert registry.fingerprint() == before
    assert switch.live == "1"


def test_cancelled_while_waiting_puts_back(
    binary_model: Pipeline, binary_data: Any, fake_registry: tuple[FakeRegistry, SwitchServer]
) -> None:
    registry, switch = fake_registry
    before = registry.fingerprint()
    context = ProbeContext()

    def on_step(name: str) -> None:
        if name == "rollback":
            context.cancel.set()  # the user presses Stop just as the rollback starts

    probe = RollbackProbe(on_step=on_step, open_registry=lambda s: registry)
    with pytest.raises(ProbeCancelled):
        probe.run(_registry_system(binary_model, binary_data, switch), context)
    assert registry.fingerprint() == before and switch.live == "1"


def test_through_the_assessment_and_back_from_json(
    binary_model: Pipeline, binary_data: Any, server: SwitchServer
) -> None:
    from prodready import assess
    from prodready.results import Assessment

    system = _system(binary_model, binary_data, server.url, hooks=_hooks(), rollback=FAST)
    assessment = assess(system, questions=["Q4"])
    finding = Assessment.from_dict(json.loads(assessment.to_json())).finding("Q4")
    assert finding.status is Status.PASS, finding.summary
    assert finding.probe == "prodready.probes.rollback._probe:RollbackProbe"
    assert finding.thresholds["max_restore_s"] == 1.0


def test_a_hook_that_cannot_be_imported_is_a_spec_error_before_the_run(
    binary_model: Pipeline, binary_data: Any
) -> None:
    hooks = {**_hooks(), "rollback": f"{HOOKS}:no_such_function"}
    system = _system(binary_model, binary_data, "http://127.0.0.1:9", hooks=hooks)
    with pytest.raises(SpecError, match=r"hooks\.rollback"):
        RollbackProbe().preflight(system)


def test_time_limit_while_waiting_for_the_rollback_puts_back(
    binary_model: Pipeline, binary_data: Any, server: SwitchServer
) -> None:
    settings = {**FAST, "max_restore_s": 30.0}
    system = _system(
        binary_model, binary_data, server.url, hooks=_hooks("rollback_noop"), rollback=settings
    )
    with pytest.raises(ProbeTimeout):
        RollbackProbe().run(system, ProbeContext(deadline=time.monotonic() + 1.5))
    assert server.live == "v1"  # hooks.restore put the original back


def test_an_endpoint_that_does_not_answer_fails_before_any_change(
    binary_model: Pipeline, binary_data: Any, server: SwitchServer
) -> None:
    system = _system(binary_model, binary_data, "http://127.0.0.1:9", hooks=_hooks(), rollback=FAST)
    finding = RollbackProbe().run(system, ProbeContext())
    assert finding.status is Status.FAIL
    assert finding.summary.startswith(
        "The endpoint did not answer the canary set before any change (dropped"
    )
    assert finding.measurements["steps_done"] == ["snapshot"]
    assert finding.measurements["candidate_version"] is None and server.live == "v1"


def test_versions_named_by_the_endpoint_need_no_served_version_hook(
    binary_model: Pipeline, binary_data: Any
) -> None:
    with SwitchServer("v1", named=True) as switch:
        servers.SERVER = switch
        try:
            hooks = {k: v for k, v in _hooks().items() if k != "served_version"}
            system = _system(binary_model, binary_data, switch.url, hooks=hooks, rollback=FAST)
            finding = RollbackProbe().run(system, ProbeContext())
        finally:
            servers.SERVER = None
    assert finding.status is Status.PASS, finding.summary
    m = finding.measurements
    assert (m["original"]["version"], m["candidate"]["version"]) == ("v1", "v2")
    assert set(m["versions_answering_traffic"]) <= {"v1", "v2"}


def test_conforms(binary_model: Pipeline, binary_data: Any, server: SwitchServer) -> None:
    from prodready.testing import PROBE_CHECKS, check_determinism, check_probe

    # Every check but determinism: a rehearsal measures wall-clock times (time to restore,
    # requests sent meanwhile), which two runs never repeat to the millisecond.
    checks = [c for c in PROBE_CHECKS if c is not check_determinism]
    system = _system(binary_model, binary_data, server.url, hooks=_hooks(), rollback=FAST)
    check_probe(RollbackProbe, system, checks=checks, time_limit=30)
    assert server.live == "v1"


def test_a_failing_served_version_hook_fails_without_touching_production(
    binary_model: Pipeline, binary_data: Any, server: SwitchServer
) -> None:
    hooks = {**_hooks(), "served_version": f"{HOOKS}:served_version_raising"}
    system = _system(binary_model, binary_data, server.url, hooks=hooks, rollback=FAST)
    finding = RollbackProbe().run(system, ProbeContext())
    assert finding.status is Status.FAIL
    assert finding.summary.startswith(
        "The hook hooks.served_version raised ConnectionError: router admin API: 503."
    )
    assert server.rollbacks == 0 and server.live == "v1"


@pytest.mark.parametrize("at", STEPS)
def test_hooks_interrupted_at_any_step_put_the_original_back(
    binary_model: Pipeline, binary_data: Any, server: SwitchServer, at: str
) -> None:
    def on_step(name: str) -> None:
        if name == at:
            raise KeyboardInterrupt

    system = _system(binary_model, binary_data, server.url, hooks=_hooks(), rollback=FAST)
    with pytest.raises(KeyboardInterrupt):
        RollbackProbe(on_step=on_step).run(system, ProbeContext())
    assert server.live == "v1"
    if STEPS.index(at) <= STEPS.index("deploy"):
        assert server.rollbacks == 0  # nothing deployed: production left alone


def test_a_rollback_hook_that_hangs_fails_and_production_is_put_back(
    binary_model: Pipeline, binary_data: Any, server: SwitchServer
) -> None:
    servers.RELEASE.clear()
    system = _system(
        binary_model, binary_data, server.url, hooks=_hooks("rollback_hanging"), rollback=FAST
    )
    try:
        started = time.monotonic()
        finding = RollbackProbe().run(system, ProbeContext())
        took = time.monotonic() - started
    finally:
        servers.RELEASE.set()
    assert finding.status is Status.FAIL
    assert finding.summary.startswith(
        "The hook hooks.rollback did not return within 1 s (rollback.max_restore_s); it may "
        "still be running."
    )
    assert finding.measurements["steps_done"] == [
        "snapshot",
        "record",
        "candidate",
        "deploy",
        "confirm",
    ]
    assert server.live == "v1"  # hooks.restore put the original back
    assert took < 10


def test_a_deploy_hook_that_hangs_fails_without_touching_production(
    binary_model: Pipeline, binary_data: Any, server: SwitchServer
) -> None:
    servers.RELEASE.clear()
    hooks = {**_hooks(), "deploy": f"{HOOKS}:deploy_hanging"}
    system = _system(binary_model, binary_data, server.url, hooks=hooks, rollback=FAST)
    try:
        finding = RollbackProbe().run(system, ProbeContext())
    finally:
        servers.RELEASE.set()
    assert finding.status is Status.FAIL
    assert finding.summary.startswith(
        "The hook hooks.deploy did not return within 1 s (rollback.switch_timeout_s)"
    )
    assert server.rollbacks == 0 and server.live == "v1"


def test_a_registry_that_refuses_the_deployment_fails_and_is_left_as_it_was(
    binary_model: Pipeline, binary_data: Any
) -> None:
    registry = servers.RefusingRegistry()
    before = registry.fingerprint()
    with SwitchServer(follow=registry) as switch:
        probe = RollbackProbe(open_registry=lambda s: registry)
        finding = probe.run(_registry_system(binary_model, binary_data, switch), ProbeContext())
        assert switch.live == "1"
    assert finding.status is Status.FAIL
    assert finding.summary == (
        "The registry refused to move the alias 'champion' of 'credit-risk' to version 2 while "
        "deploying the candidate: registry fake://registry: model 'credit-risk': permission "
        "denied."
    )
    assert registry.fingerprint() == before


def test_a_registry_without_the_alias_or_the_candidate_fails_naming_it(
    binary_model: Pipeline, binary_data: Any, fake_registry: tuple[FakeRegistry, SwitchServer]
) -> None:
    registry, switch = fake_registry
    before = registry.fingerprint()
    probe = RollbackProbe(open_registry=lambda s: registry)
    system = _registry_system(binary_model, binary_data, switch)
    missing = replace(
        system, settings={"rollback": {**system.settings["rollback"], "candidate": "9"}}
    )
    finding = probe.run(missing, ProbeContext())
    assert finding.status is Status.FAIL
    assert finding.summary.startswith(
        "The spec's rollback.candidate is version '9', which the registry does not have for "
        "'credit-risk': 'no version 9'"
    )
    assert registry.fingerprint() == before and switch.live == "1"
    registry.state["aliases"].clear()  # nothing in production
    finding = probe.run(system, ProbeContext())
    assert finding.status is Status.FAIL
    assert finding.summary == (
        "The registry has no alias 'champion' for the model 'credit-risk': nothing is in "
        "production to roll back to."
    )
