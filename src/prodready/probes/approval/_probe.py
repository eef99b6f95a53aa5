"""Q8 — Do approval workflows exist for model updates?

The probe verifies the signed approvals of what production actually serves:

- it finds the served version and the digest of its artifact (:mod:`._served`: the
  endpoint's reply, ``hooks.served_version``, or the registry alias ``approval.alias``);
- it reads the approval records kept with that version (registry tags
  ``prodready.approval.<key>.<role>``) or in ``approval.folder``;
- it verifies each against the trusted-keys file (``approval.trusted_keys``) and judges them
  against the policy (:mod:`._judge`).

NOT ASSESSED without ``approval.trusted_keys`` (an approval nobody can verify proves nothing)
or without a ``registry`` (nothing says which version is served); ``approval: none`` declares
that the system has no approval workflow, which FAILs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prodready._exceptions import SpecError
from prodready._settings import first_line
from prodready.attest._approval import TAG_PREFIX, load_trusted_keys, read_folder
from prodready.probes._base import Probe, ProbeContext
from prodready.probes.approval._judge import Stored, judge
from prodready.probes.approval._served import ServedUnknown, find_served
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
            return self.not_assessed(
                "The spec names no model registry, so which version production serves, and "
                "its artifact's digest, are unknown.",
                "registry",
                "the registry (uri, model_name) production is served from",
            )
        trusted = load_trusted_keys(_path(system, settings.trusted_keys))
        from prodready.adapters.registry import open_registry

        registry = open_registry(system)
        name = system.registry.model_name
        context.report("finding the served version", 0.1)
        try:
            served = find_served(system, registry, name, settings.alias)
        except ServedUnknown as exc:
            return Finding(
                question=self.question,
                status=Status.FAIL,
                summary=f"What production serves is unknown: {first_line(str(exc))}.",
                checks=[
                    Check(
                        name="served version",
                        status=Status.FAIL,
                        measured=None,
                        threshold="the endpoint, hooks.served_version or the alias names it",
                        message=first_line(str(exc)),
                    )
                ],
                remediation=(
                    f"Point the registry alias approval.alias ({settings.alias}) at the "
                    "version production serves, or have the endpoint's replies name it."
                ),
            )
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


def _path(system: System, value: str) -> Path:
    """A settings path, relative to the spec's folder."""
    path = Path(value)
    if path.is_absolute() or system.source in ("", "<python>"):
        return path
    return Path(os.path.dirname(os.path.abspath(system.source))) / path


def _read_records(
    system: System, registry: Any, name: str, served: Any, settings: ApprovalSettings
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
