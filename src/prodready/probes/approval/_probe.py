"""Q8 — Do approval workflows exist for model updates?

The probe verifies the signed approvals of what production actually serves:

- it finds the served version and the digest of its artifact (:mod:`._served`: the
  endpoint's reply, ``hooks.served_version``, or the registry alias ``approval.alias``);
- it reads the approval records kept with that version (registry tags
  ``prodready.approval.<key>.<role>``) or in ``approval.folder``;
- it verifies each against the trusted-keys file (``approval.trusted_keys``) and judges them
  against the policy (:mod:`._judge`).

Without a registry (a system on another stack), the records come from ``approval.folder``
and must name ``approval.model_name``; what is served comes from the endpoint's reply,
``hooks.served_version`` or, failing both, the spec's model artifact (a WARN: what production
serves is then unknown); when it was deployed from ``hooks.deployed_at``
(:func:`._served.find_served_unregistered`).

NOT ASSESSED without ``approval.trusted_keys`` (an approval nobody can verify proves nothing),
without a ``registry`` or an ``approval.folder`` (the records have no home), without a
registry and ``approval.model_name`` (the name the records must approve), or when the digest
must be the model artifact's and the model was given in Python (``model.path``);
``approval: none`` declares that the system has no approval workflow, which FAILs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prodready._exceptions import SpecError
from prodready._settings import first_line
from prodready.attest._approval import TAG_PREFIX, TrustedKeys, load_trusted_keys, read_folder
from prodready.probes._base import Probe, ProbeContext
from prodready.probes.approval._judge import Stored, judge
from prodready.probes.approval._served import (
    NoArtifactDigest,
    Served,
    ServedUnknown,
    find_served,
    find_served_unregistered,
)
from prodready.probes.approval._settings import ApprovalSettings
from prodready.results import Check, Finding, Status
from prodready.system import System

__all__ = ["ApprovalProbe"]

_ABSENT_REMEDIATION = (
    "Add an approval workflow: keys for each approver (`prodready keygen NAME`), a "
    "trusted-keys file mapping them to people and roles, signed approvals of each version "
    "before it is deployed (`prodready approve`), and the spec's approval: section "
    "(trusted_keys, required_roles, min_approvers); see docs/approvals.md."
)


class ApprovalProbe(Probe):
    """Verifies the signed approvals of the served artifact against the trusted keys."""

    question = "Q8"
    settings_class = ApprovalSettings
    serves = True  # asks the endpoint which version and digest it serves

    def preflight(self, system: System) -> None:
        settings: ApprovalSettings = self.settings(system)
        if settings.trusted_keys is not None and not self.declared_absent(system):
            load_trusted_keys(_path(system, settings.trusted_keys))
        if settings.folder is not None:
            folder = _path(system, settings.folder)
            if folder.exists() and not folder.is_dir():
                raise SpecError(
                    f"{str(folder)!r} is not a folder",
                    source=system.source,
                    field="approval.folder",
                    expected="the folder prodready approve --folder writes approvals into",
                )

    def run(self, system: System, context: ProbeContext) -> Finding:
        if self.declared_absent(system):
            return Finding(
                question=self.question,
                status=Status.FAIL,
                summary=(
                    "The spec declares that the system has no approval workflow "
                    "(approval: none): any model update reaches production unreviewed."
                ),
                checks=[
                    Check(
                        name="approval workflow",
                        status=Status.FAIL,
                        measured="none",
                        threshold="signed approvals of each version before deployment",
                        message="approval: none: no approval workflow exists.",
                    )
                ],
                measurements={"approval": "none"},
                remediation=_ABSENT_REMEDIATION,
            )
        settings: ApprovalSettings = self.settings(system)
        if settings.trusted_keys is None:
            return self.not_assessed(
                "The spec names no trusted-keys file, so no approval can be verified.",
                "approval.trusted_keys",
                "a YAML file of approvers' public keys, people and roles (see "
                "docs/approvals.md), or declare approval: none",
            )
        if system.registry is None:
            return self._run_unregistered(system, context, settings)
        trusted = load_trusted_keys(_path(system, settings.trusted_keys))
        from prodready.adapters.registry import open_registry

        registry = open_registry(system)
        name = system.registry.model_name
        context.report("finding the served version", 0.1)
        try:
            served = find_served(system, registry, name, settings.alias, settings.hook_timeout_s)
        except ServedUnknown as exc:
            return _unknown(
                exc,
                "the endpoint, hooks.served_version or the alias names it",
                f"Point the registry alias approval.alias ({settings.alias}) at the "
                "version production serves, or have the endpoint's replies name it.",
            )
        return _verify(system, registry, name, served, trusted, settings, context)

    def _run_unregistered(
        self, system: System, context: ProbeContext, settings: ApprovalSettings
    ) -> Finding:
        """Q8 for a system without a registry: records in the folder, served via hooks."""
        if settings.folder is None:
            return self.not_assessed(
                "The spec names neither a model registry (registry) nor an approvals folder "
                "(approval.folder), so the approval records have no home to be read from.",
                "registry",
                "the registry (uri, model_name) production is served from, or set "
                "approval.folder to the folder prodready approve --folder writes into",
            )
        if settings.model_name is None:
            return self.not_assessed(
                "The spec names no model registry and no approval.model_name, so which model "
                "the approval records must name is unknown.",
                "approval.model_name",
                "the model name the approvals name (prodready approve --model NAME)",
            )
        assert settings.trusted_keys is not None  # run() checked it
        trusted = load_trusted_keys(_path(system, settings.trusted_keys))
        context.report("finding what production serves", 0.1)
        try:
            served = find_served_unregistered(system, settings.hook_timeout_s)
        except NoArtifactDigest as exc:
            return self.not_assessed(
                f"Without a registry the approvals are checked against the model artifact's "
                f"digest, and {first_line(str(exc))}.",
                "model.path",
                "the model file (or MLflow model folder) that is served, so its sha256 is known",
            )
        except ServedUnknown as exc:
            return _unknown(
                exc,
                "the endpoint or hooks.served_version names it",
                "Have hooks.served_version return the release name production serves, or "
                "have the endpoint's replies name the model version and digest.",
            )
        return _verify(system, None, settings.model_name, served, trusted, settings, context)


def _verify(
    system: System,
    registry: Any,
    name: str,
    served: Served,
    trusted: TrustedKeys,
    settings: ApprovalSettings,
    context: ProbeContext,
) -> Finding:
    """Read the records (the registry's tags or the folder) and judge them for ``served``."""
    context.check_deadline()
    context.report("verifying the approval records", 0.5)
    stored, source, elsewhere = _read_records(system, registry, name, served, settings)
    return judge(
        model=name,
        served=served,
        stored=stored,
        trusted=trusted,
        settings=settings,
        source=source,
        elsewhere=elsewhere,
    )


def _unknown(exc: Exception, threshold: str, remediation: str) -> Finding:
    """The FAIL when what production serves cannot be found out."""
    return Finding(
        question="Q8",
        status=Status.FAIL,
        summary=f"What production serves is unknown: {first_line(str(exc))}.",
        checks=[
            Check(
                name="served version",
                status=Status.FAIL,
                measured=None,
                threshold=threshold,
                message=first_line(str(exc)),
            )
        ],
        remediation=remediation,
    )


def _path(system: System, value: str) -> Path:
    """A settings path, relative to the spec's folder."""
    path = Path(value)
    if path.is_absolute() or system.source in ("", "<python>"):
        return path
    return Path(os.path.dirname(os.path.abspath(system.source))) / path


def _read_records(
    system: System, registry: Any, name: str, served: Served, settings: ApprovalSettings
) -> tuple[list[Stored], str, dict[str, int]]:
    """The records to judge, where they were read, and records kept with other versions."""
    elsewhere: dict[str, int] = {}
    if settings.folder is not None:
        folder = _path(system, settings.folder)
        # A folder nobody created holds no approval: judged as missing, not an error.
        found = read_folder(folder) if folder.is_dir() else []
        records = [Stored(where, text) for where, text in found]
        missing = "" if folder.is_dir() else " (it does not exist)"
        return records, f"the folder {settings.folder}{missing}", elsewhere
    tags = served.tags or {}
    records = [
        Stored(f"tag {key}", value, served.version)
        for key, value in sorted(tags.items())
        if key.startswith(TAG_PREFIX)
    ]
    if not records:
        for entry in registry.versions(name):
            count = sum(1 for key in entry.tags if key.startswith(TAG_PREFIX))
            if count and entry.version != served.version:
                elsewhere[entry.version] = count
    where = f"the registry tags of version {served.version}" if served.version else "the registry"
    return records, where, elsewhere
