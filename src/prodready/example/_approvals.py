"""The production example's approval workflow: two approvers, their keys, signed approvals.

The production variant of the bundled example ships what a team with a working approval
workflow has (question 8):

- two approvers' Ed25519 key pairs in ``keys/`` (made with :func:`prodready.attest.
  generate_keypair`: private keys mode 0600; in a real team each person keeps their own);
- the trusted-keys file ``trusted-keys.yaml`` mapping each public key to its person and role;
- signed approvals of the registered version by the model owner and by model risk, stored as
  the version's registry tags, made *before* the version is deployed;
- the deployment: the alias ``champion`` moved to the version and the version tag
  ``prodready.deployed_at`` set to that moment (:func:`record_deployment`).

The prototype has none of it (its spec says ``approval: none``).
"""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

from prodready.attest._approval import approve, parse_time, utc_now

__all__ = [
    "APPROVERS",
    "KEYS_DIR",
    "TRUSTED_KEYS",
    "approval_settings",
    "build_approvals",
    "record_deployment",
]

#: The folder (in the example's directory) holding the approvers' key pairs.
KEYS_DIR: Final = "keys"
#: The trusted-keys file of the production example.
TRUSTED_KEYS: Final = "trusted-keys.yaml"
#: (key name, person, role, comment) of each example approver.
APPROVERS: Final = (
    (
        "dana-owner",
        "Dana Whitfield",
        "model-owner",
        "Validation report reviewed: ROC AUC on the held-out reference window within target.",
    ),
    (
        "ravi-risk",
        "Ravi Okafor",
        "model-risk",
        "Independent review done: limitations documented, monitoring and rollback in place.",
    ),
)
_DEPLOYED_AT_TAG: Final = "prodready.deployed_at"


def approval_settings() -> dict[str, Any]:
    """The production spec's ``approval:`` section."""
    return {
        "trusted_keys": TRUSTED_KEYS,
        "required_roles": [role for _, _, role, _ in APPROVERS],
        "min_approvers": len(APPROVERS),
    }


def _trusted_keys_text() -> str:
    lines = [
        "# Who may approve the example's model versions, and in which role (question 8).",
        "# Each public key is a .pub file from `prodready keygen`, relative to this file.",
        "keys:",
    ]
    for key_name, person, role, _ in APPROVERS:
        lines += [
            f"  - person: {person}",
            f"    roles: [{role}]",
            f"    public_key: {KEYS_DIR}/{key_name}.pub",
        ]
    return "\n".join(lines) + "\n"


def build_approvals(
    directory: str | Path, registry_uri: str, model_name: str, version: str = "1"
) -> list[str]:
    """Make the example approvers' keys and trusted-keys file, and approve ``version``.

    Keys go to ``directory/keys/`` (made afresh: an old example's keys are removed), the
    trusted-keys file to ``directory/trusted-keys.yaml``; each approver signs an approval
    of ``version`` of ``model_name`` in the registry at ``registry_uri`` (its artifact's
    digest computed from the registry), stored as the version's tag. Call
    :func:`record_deployment` after this: the approvals must predate the deployment.
    Returns the files written, relative to ``directory`` (public files only: the private
    keys are left out of any manifest).
    """
    from prodready.attest import generate_keypair

    base = Path(directory)
    keys = base / KEYS_DIR
    shutil.rmtree(keys, ignore_errors=True)
    keys.mkdir(mode=0o700, parents=True)
    for key_name, _, _, _ in APPROVERS:
        generate_keypair(keys, key_name)
    (base / TRUSTED_KEYS).write_text(_trusted_keys_text(), encoding="utf-8")
    for key_name, person, role, comment in APPROVERS:
        approve(
            model=model_name,
            version=str(version),
            role=role,
            key=keys / f"{key_name}.key",
            registry=registry_uri,
            approver=person,
            comment=comment,
        )
    return [TRUSTED_KEYS] + [f"{KEYS_DIR}/{k}.pub" for k, _, _, _ in APPROVERS]


def record_deployment(registry: Any, model_name: str, version: str, alias: str = "champion") -> str:
    """Deploy ``version``: move ``alias`` to it and set its tag ``prodready.deployed_at``.

    The time is now, and in any case later than every approval kept with the version (a
    clock read twice within a microsecond would otherwise tie). Returns the time written.
    """
    from prodready.attest._approval import TAG_PREFIX, Approval
    from prodready.attest._dsse import b64decode

    moment = parse_time(utc_now())
    for key, value in registry.version(model_name, str(version)).tags.items():
        if key.startswith(TAG_PREFIX):
            try:
                payload = json.loads(value)["payload"]
                approved = Approval.from_payload(b64decode(payload)).when
            except (ValueError, KeyError, TypeError):
                continue
            if approved >= moment:
                moment = approved + timedelta(milliseconds=1)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    registry.set_alias(model_name, alias, str(version))
    registry.set_tag(model_name, str(version), _DEPLOYED_AT_TAG, text)
    return text
