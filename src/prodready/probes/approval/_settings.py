"""The settings of the approval probe: :class:`ApprovalSettings` (the spec's ``approval:``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from prodready._settings import quote, require

_ROLE = re.compile(r"[a-z][a-z0-9_-]{0,39}")
# As a record's model (attest._approval), and not blank.
_MODEL = re.compile(r"(?=.*\S)[^\x00-\x1f\x7f/\\]{1,256}")


@dataclass(frozen=True)
class ApprovalSettings:
    """Where approvals are and what the policy asks of them (the spec's ``approval:``).

    - ``trusted_keys``: the trusted-keys file (YAML, relative to the spec's folder): which
      public keys belong to whom, and the roles each person may approve in. Without it the
      question is NOT ASSESSED: an approval nobody can verify proves nothing.
    - ``folder``: a folder of approval files (``prodready approve --folder``), relative to
      the spec's folder; by default approvals are read from the served version's registry
      tags (``prodready.approval.<key>.<role>``).
    - ``required_roles``: roles that must each approve the served artifact (e.g.
      ``[model-owner, model-risk]``).
    - ``min_approvers``: how many distinct people must approve it.
    - ``allow_self_approval``: whether one person may approve in two roles (counting once as
      a person either way); false by default: four eyes means two people.
    - ``alias``: the registry alias production is served from, used to find the served
      version when the endpoint does not say which it serves.
    - ``max_clock_skew_s``: an approval dated later than now by more than this is refused
      (a clock that is wrong, or a record made up ahead of time).
    - ``model_name``: without a registry, the model name the records in ``folder`` must
      approve (``prodready approve --model``); with a registry, ``registry.model_name`` is.
    - ``hook_timeout_s``: the longest wait for ``hooks.served_version`` or
      ``hooks.deployed_at`` (the system's own procedures: one that does not answer in time is
      judged, not waited for until the probe's time limit).
    """

    trusted_keys: str | None = None
    folder: str | None = None
    required_roles: list[str] = field(default_factory=list)
    min_approvers: int = 2
    allow_self_approval: bool = False
    alias: str = "champion"
    max_clock_skew_s: float = 300.0
    model_name: str | None = None
    hook_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        for name, value in (("trusted_keys", self.trusted_keys), ("folder", self.folder)):
            # An empty path would be the spec's own folder: never what was meant.
            require(value is None or bool(value.strip()), name, "is empty", "a path")
        require(
            0 < self.hook_timeout_s <= 3600,
            "hook_timeout_s",
            f"is {self.hook_timeout_s}",
            "seconds, more than 0 and at most 3600",
        )
        require(
            1 <= self.min_approvers <= 100,
            "min_approvers",
            f"is {self.min_approvers}",
            "an integer from 1 to 100",
        )
        for role in self.required_roles:
            require(
                bool(_ROLE.fullmatch(role)),
                "required_roles",
                f"has {quote(role)}",
                "role names of lowercase letters, digits, '-' or '_' (at most 40)",
            )
        require(
            len(set(self.required_roles)) == len(self.required_roles),
            "required_roles",
            "names a role twice",
            "each role once",
        )
        require(
            bool(self.alias) and len(self.alias) <= 256,
            "alias",
            f"is {quote(self.alias)}",
            "a registry alias such as champion",
        )
        require(
            0 <= self.max_clock_skew_s <= 86_400,
            "max_clock_skew_s",
            f"is {self.max_clock_skew_s}",
            "a number of seconds from 0 to 86,400",
        )
        require(
            self.model_name is None or bool(_MODEL.fullmatch(self.model_name)),
            "model_name",
            f"is {quote(self.model_name)}",
            "the model name the approvals name (prodready approve --model), at most 256 "
            "characters, no '/' or '\\'",
        )
