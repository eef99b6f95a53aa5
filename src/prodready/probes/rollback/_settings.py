"""The settings of the rollback probe: :class:`RollbackSettings` (the spec's ``rollback:``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from prodready._settings import require

#: How a system rolls back, as the spec's ``rollback.mechanism`` names it.
Mechanism = Literal["registry_alias", "hooks"]


@dataclass(frozen=True)
class RollbackSettings:
    """Settings of the rollback rehearsal (the spec's ``rollback:`` section).

    How the system is rolled back:

    - ``mechanism``: ``registry_alias`` (the served model follows an alias of the spec's
      ``registry``; deploying moves the alias to the candidate, rolling back moves it back)
      or ``hooks`` (the spec's ``hooks.deploy``, ``hooks.rollback`` and optionally
      ``hooks.served_version`` / ``hooks.restore`` do it; see ``docs/rollback.md``). By
      default: ``hooks`` when the spec has ``hooks.rollback``, else ``registry_alias`` when it
      has a ``registry``.
    - ``alias``: the registry alias production is served from (``registry_alias`` only).
    - ``candidate``: what to deploy for the rehearsal: a version of the registered model
      (``registry_alias``), or the text handed to ``hooks.deploy``. By default prodready
      makes a deliberately different copy of the served version (the same model whose
      outputs are nudged by ``perturbation``, registered as a new version) for the registry,
      and hands ``None`` to ``hooks.deploy`` (the hook deploys a candidate of its own).
    - ``perturbation``: how much the rehearsal's own candidate moves each answer (class
      probabilities ``p`` become ``(1 - e) p + e / k``; other numbers move by ``e``), so that
      the endpoint's answers tell the candidate from the original.

    What the rehearsal measures, and the limits of a PASS:

    - ``max_restore_s``: the longest time from triggering the rollback until the endpoint
      serves the original version again (a PASS needs it restored within this time).
    - ``switch_timeout_s``: how long to wait for the endpoint to serve the candidate after
      deploying it (beyond it the rehearsal cannot go on: the deployment did not happen), and
      for the serving to come back when the rehearsal puts things back after a failure.
    - ``canary_rows``: rows of the reference data sent as one request before and after;
      the answers after the rollback must be identical to those recorded before.
    - ``traffic_rps``: requests per second (one row each) of the light traffic kept running
      during the whole rehearsal; a PASS needs every one of them answered.
    - ``poll_s``: how often the endpoint is asked what it serves while waiting for a switch
      (the time to restore is measured to this resolution).
    - ``settle_s``: how long the traffic keeps running after the canary check, so that
      requests failing just after a switch (an old worker shut down too early) are counted.
    """

    mechanism: Mechanism | None = None
    alias: str = "champion"
    candidate: str | None = None
    perturbation: float = 0.05
    max_restore_s: float = 10.0
    switch_timeout_s: float = 30.0
    canary_rows: int = 8
    traffic_rps: float = 5.0
    poll_s: float = 0.1
    settle_s: float = 1.0

    def __post_init__(self) -> None:
        require(bool(self.alias), "alias", "is empty", "the name of a registry alias")
        require(
            self.candidate is None or bool(self.candidate),
            "candidate",
            "is empty",
            "a registered version, or the text hooks.deploy takes",
        )
        require(
            0 < self.perturbation <= 0.5,
            "perturbation",
            f"is {self.perturbation}",
            "a number > 0 and at most 0.5",
        )
        for name, value, high in (
            ("max_restore_s", self.max_restore_s, 3600.0),
            ("switch_timeout_s", self.switch_timeout_s, 3600.0),
            ("poll_s", self.poll_s, 60.0),
        ):
            require(0 < value <= high, name, f"is {value}", f"a number of seconds > 0, <= {high:g}")
        require(
            0 <= self.settle_s <= 3600,
            "settle_s",
            f"is {self.settle_s}",
            "a number of seconds from 0 to 3600",
        )
        require(
            1 <= self.canary_rows <= 10_000,
            "canary_rows",
            f"is {self.canary_rows}",
            "an integer from 1 to 10,000",
        )
        require(
            0 <= self.traffic_rps <= 1000,
            "traffic_rps",
            f"is {self.traffic_rps}",
            "requests per second from 0 (no traffic) to 1,000",
        )
