"""Judging the approval records of the served artifact: checks, evidence, one finding.

Pure: it takes what was read (the records, the trusted keys, what is served) and returns the
finding, so that each broken case is tested without a registry.

What a PASS needs, each a check:

1. every record verifies: a DSSE envelope signed by a key of the trusted-keys file, its
   signature intact, its role one the file gives the key (forged, tampered, unknown key,
   unauthorised role FAIL);
2. every record kept with the served version approves *that* artifact: same model, version
   and sha256 as served (a record for an earlier version or digest is stale: FAIL);
3. nobody rejected it;
4. every counted approval was made before the version's deployment (``prodready.deployed_at``,
   or ``hooks.deployed_at`` without a registry; unknown: WARN) and not in the future;
5. the policy: each required role approved, at least ``min_approvers`` distinct people, and
   one person in two roles only if ``allow_self_approval``;
6. only when nothing says what production serves (``Served.how == "artifact"``, no registry):
   a WARN saying the spec's model artifact was judged in its place.

Without a registry and without a served version name (the endpoint gave only a digest, or
the artifact is judged), a record counts when it names the model and the digest: the bytes
are what is approved, whatever release name the approver gave them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from prodready.attest._approval import Approval, RecordCheck, TrustedKeys, check_record
from prodready.probes.approval._served import DEPLOYED_AT_TAG, Served
from prodready.probes.approval._settings import ApprovalSettings
from prodready.results import Check, Finding, Status, Table

__all__ = ["Stored", "judge"]


@dataclass(frozen=True)
class Stored:
    """One stored record: where it is, its text, and the version it is kept with (tags)."""

    where: str
    text: str
    kept_with: str | None = None


def _short(digest: str | None) -> str:
    return f"sha256 {digest[:12]}…" if digest else "no digest"


def _names(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def judge(
    *,
    model: str,
    served: Served,
    stored: Sequence[Stored],
    trusted: TrustedKeys,
    settings: ApprovalSettings,
    source: str,
    elsewhere: dict[str, int] | None = None,
    now: datetime | None = None,
) -> Finding:
    """The Q8 finding for ``served`` given the ``stored`` records (see the module docstring).

    ``source`` says where the records were read ("the registry tags of version 1", "the
    folder approvals/"); ``elsewhere`` counts valid-looking records kept with other versions
    (said in the summary when the served one has none: approving v1 does not approve v2).
    """
    now = now or datetime.now(UTC)
    served_text = f"version {served.version} of {model!r} ({_short(served.digest)})"
    if served.how == "artifact":
        served_text = f"the model artifact of {model!r} the spec names ({_short(served.digest)})"
    elif served.version is None and not served.registry:
        served_text = f"the served artifact of {model!r} ({_short(served.digest)})"
    elif served.version is None:
        served_text = f"an unregistered artifact of {model!r} ({_short(served.digest)})"
    # No version name to match (no registry, none reported): the digest alone binds.
    by_digest = served.version is None and not served.registry
    deployment = served.deployed_from
    checks: list[Check] = []
    verdict: dict[int, str] = {}
    results = [check_record(s.where, s.text, trusted) for s in stored]

    # 1. every record verifies
    bad = [(i, r) for i, r in enumerate(results) if r.state != "valid"]
    for i, r in bad:
        verdict[i] = f"{r.state}: {r.problem}"
    checks.append(
        Check(
            name="signatures",
            status=Status.FAIL if bad else Status.PASS,
            measured=len(bad),
            threshold="0 records that do not verify",
            message=(
                "; ".join(f"{r.where}: {r.state}: {r.problem}" for _, r in bad)
                if bad
                else f"All {len(results)} record(s) verify against trusted keys."
                if results
                else "No record to verify."
            ),
        )
    )

    # 2. bound to the served artifact. A record kept with the served version (a tag), or in a
    # folder naming this model and the served version or digest, must approve exactly it.
    valid = [(i, r) for i, r in enumerate(results) if r.state == "valid" and r.approval]
    bound: list[tuple[int, RecordCheck, Approval]] = []
    stale: list[tuple[int, RecordCheck, Approval]] = []
    for i, r in valid:
        a = r.approval
        assert a is not None
        relevant = stored[i].kept_with is not None or (
            a.model == model and (a.version == served.version or a.artifact_sha256 == served.digest)
        )
        if not relevant:
            verdict[i] = f"for version {a.version}: not counted"
            continue
        exact = (
            a.model == model
            and (by_digest or a.version == served.version)
            and a.artifact_sha256 == served.digest
        )
        if exact:
            bound.append((i, r, a))
        else:
            stale.append((i, r, a))
            verdict[i] = (
                f"stale: approves {a.model!r} version {a.version} ({_short(a.artifact_sha256)}),"
                f" not the served {served_text}"
            )
    checks.append(
        Check(
            name="bound to the served artifact",
            status=Status.FAIL if stale else Status.PASS,
            measured=len(stale),
            threshold="every record kept with the served version approves its digest",
            message=(
                "; ".join(f"{r.where}: {verdict[i]}" for i, r, _ in stale)
                if stale
                else f"{len(bound)} valid record(s) name {served_text}."
            ),
        )
    )

    # 3. nobody rejected it
    rejected = [(i, r, a) for i, r, a in bound if a.decision == "reject"]
    for i, _, _a in rejected:
        verdict[i] = "rejection"
    checks.append(
        Check(
            name="no rejection",
            status=Status.FAIL if rejected else Status.PASS,
            measured=len(rejected),
            threshold="0 rejections",
            message=(
                "; ".join(
                    f"{r.signer.person if r.signer else a.approver} ({a.role}) rejected it at "
                    f"{a.time}" + (f": {a.comment!r}" if a.comment else "")
                    for _, r, a in rejected
                )
                if rejected
                else "No approver rejected the served artifact."
            ),
        )
    )

    # 4. before the deployment, and not in the future
    approvals = [(i, r, a) for i, r, a in bound if a.decision == "approve"]
    skew = timedelta(seconds=settings.max_clock_skew_s)
    late: list[str] = []
    counted: list[tuple[int, RecordCheck, Approval]] = []
    for i, r, a in approvals:
        when = a.when
        if when > now + skew:
            verdict[i] = f"dated in the future ({a.time})"
            late.append(f"{r.where}: dated {a.time}, in the future (now {_iso(now)})")
        elif served.deployed_at is not None and when >= served.deployed_at:
            verdict[i] = f"after deployment ({a.time} >= {served.deployed_text})"
            late.append(
                f"{r.where}: approved at {a.time}, after the deployment at {served.deployed_text}"
            )
        else:
            counted.append((i, r, a))
            verdict[i] = "counted"
    if late:
        timing = Check(
            name="approved before deployment",
            status=Status.FAIL,
            measured=len(late),
            threshold=f"every approval before {deployment}",
            message="; ".join(late),
        )
    elif served.deployed_at is None:
        timing = Check(
            name="approved before deployment",
            status=Status.WARN,
            measured=served.deployed_text or None,
            threshold=f"every approval before {deployment}",
            message=(
                f"{served.deployed_problem}: whether the approvals came before the deployment "
                f"cannot be checked ({_deployment_advice(served)})."
            ),
        )
    else:
        timing = Check(
            name="approved before deployment",
            status=Status.PASS,
            measured=served.deployed_text,
            threshold=f"every approval before {deployment}",
            message=(
                f"All {len(counted)} approval(s) were made before the deployment at "
                f"{served.deployed_text}."
            ),
        )
    checks.append(timing)

    # 5. the policy
    roles_by_person: dict[str, set[str]] = {}
    for _, r, a in counted:
        person = r.signer.person if r.signer else a.approver
        roles_by_person.setdefault(person, set()).add(a.role)
    covered = {role for roles in roles_by_person.values() for role in roles}
    missing_roles = [role for role in settings.required_roles if role not in covered]
    selfies = {p: sorted(rs) for p, rs in roles_by_person.items() if len(rs) > 1}
    people = sorted(roles_by_person)
    problems: list[str] = []
    if not stored:
        problems.append(_nothing_found(served_text, source, elsewhere))
    elif not counted:
        problems.append(f"no valid approval of {served_text} counts")
    if missing_roles:
        problems.append(f"no valid approval in the required role(s) {_names(missing_roles)}")
    if len(people) < settings.min_approvers:
        who = f" ({_names(people)})" if people else ""
        problems.append(
            f"{len(people)} distinct approver(s){who}, the policy needs {settings.min_approvers}"
        )
    if selfies and not settings.allow_self_approval:
        problems.extend(
            f"{p} approved in {len(rs)} roles ({_names(rs)}): self-approval is not allowed "
            "(approval.allow_self_approval is false)"
            for p, rs in selfies.items()
        )
    checks.append(
        Check(
            name="policy",
            status=Status.FAIL if problems else Status.PASS,
            measured=len(people),
            threshold=_policy_text(settings),
            message=(
                "; ".join(problems)
                if problems
                else f"Approved by {len(people)} distinct people ({_names(people)}) in the "
                f"role(s) {_names(sorted(covered))}."
            ),
        )
    )

    if served.how == "artifact":
        checks.append(
            Check(
                name="served artifact",
                status=Status.WARN,
                measured=None,
                threshold="the endpoint's reply or hooks.served_version names what is served",
                message=(
                    "What production serves is not known (no endpoint reply names it and the "
                    "spec has no hooks.served_version): the spec's model artifact was judged "
                    "in its place, so approving it proves nothing about the served model."
                ),
            )
        )

    status = Finding.worst(checks)
    failing = [c for c in checks if c.status == Status.FAIL]
    if failing:
        summary = f"The approvals of {served_text} do not hold: {failing[0].message}"
        if len(failing) > 1:
            summary += f" (and {len(failing) - 1} more failing check(s))"
    else:
        summary = (
            f"{_upper(served_text)}, {_how_known(served)}, is approved by "
            f"{len(people)} distinct people ({_names(people)}) in the role(s) "
            f"{_names(sorted(covered))}, each record signed by a trusted key and bound to the "
            "served artifact's digest"
            + (
                f", before its deployment at {served.deployed_text}."
                if served.deployed_at is not None
                else "; when it was deployed is unknown."
            )
        )
    summary = summary if summary.endswith(".") else summary + "."
    rows = []
    for i, (s, r) in enumerate(zip(stored, results, strict=True)):
        a = r.approval
        rows.append(
            [
                s.where,
                r.signer.person if r.signer else None,
                r.signer.fingerprint if r.signer else None,
                a.approver if a else None,
                a.role if a else None,
                a.decision if a else None,
                a.version if a else None,
                a.artifact_sha256[:16] if a else None,
                a.time if a else None,
                verdict.get(i, r.state),
            ]
        )
    evidence = [
        Table(
            title=f"Approval records read from {source}",
            columns=[
                "record",
                "key owner (trusted keys)",
                "key",
                "approver (as signed)",
                "role",
                "decision",
                "version",
                "artifact sha256",
                "time (UTC)",
                "verdict",
            ],
            rows=rows,  # type: ignore[arg-type]
            note=f"Served: {served_text}, {_how_known(served)}"
            + (f"; deployed at {served.deployed_text}" if served.deployed_text else "")
            + (f". {'; '.join(served.notes)}" if served.notes else ""),
        )
    ]
    return Finding(
        question="Q8",
        status=status,
        summary=summary,
        checks=checks,
        measurements={
            "served_version": served.version,
            "served_sha256": served.digest,
            "served_from": served.how,
            "deployed_at": served.deployed_text or None,
            "records": len(stored),
            "records_invalid": len(bad),
            "records_stale": len(stale),
            "rejections": len(rejected),
            "approvals_counted": len(counted),
            "approvers": people,
            "roles_approved": sorted(covered),
        },
        thresholds={
            "trusted_keys": trusted.source,
            "trusted_key_count": len(trusted),
            "required_roles": list(settings.required_roles),
            "min_approvers": settings.min_approvers,
            "allow_self_approval": settings.allow_self_approval,
        },
        evidence=evidence,  # type: ignore[arg-type]
        remediation="" if status == Status.PASS else _remediation(checks, settings, served),
    )


def _nothing_found(served_text: str, source: str, elsewhere: dict[str, int] | None) -> str:
    text = f"no approval record of {served_text} in {source}"
    if elsewhere:
        others = ", ".join(f"version {v}: {n}" for v, n in sorted(elsewhere.items()))
        text += (
            f" (other versions have records: {others}; approving one version does not "
            "approve another)"
        )
    return text


def _policy_text(settings: ApprovalSettings) -> str:
    roles = f"roles {_names(settings.required_roles)}; " if settings.required_roles else ""
    selfie = "" if settings.allow_self_approval else "; no one in two roles"
    return f"{roles}>= {settings.min_approvers} distinct approvers{selfie}"


def _how_known(served: Served) -> str:
    """How we know what production serves, for the summary: "served (known from the alias)"."""
    if served.how == "artifact":
        return "judged in place of what production serves (which is not known)"
    if served.how == "hook" and not served.registry:
        return "served (known from hooks.served_version)"
    return f"served (known from the {served.how})"


def _deployment_advice(served: Served) -> str:
    if served.registry:
        return (
            f"have the deployment set the version tag {DEPLOYED_AT_TAG} to the UTC time it "
            "moves the alias"
        )
    return (
        f"set {served.deployed_from} in the spec to a function deployed_at(version) returning "
        "the UTC ISO 8601 time the served version was deployed"
    )


def _remediation(checks: list[Check], settings: ApprovalSettings, served: Served) -> str:
    failing = {c.name for c in checks if c.status != Status.PASS}
    steps: list[str] = []
    if "signatures" in failing:
        steps.append(
            "Remove or redo the records that do not verify (sign with `prodready approve` "
            "using a key listed in approval.trusted_keys, in a role the file gives it); a "
            "forged or tampered record is a security incident to investigate"
        )
    if "bound to the served artifact" in failing or "policy" in failing:
        roles = (
            f" in the roles {_names(settings.required_roles)}" if settings.required_roles else ""
        )
        if served.registry:
            steps.append(
                f"Have {settings.min_approvers} distinct people{roles} review the served "
                "version and sign `prodready approve --model NAME --version N --role ROLE "
                "--key KEY.key` (the digest is taken from the registry: an approval of another "
                "version or artifact does not count)"
            )
        else:
            steps.append(
                f"Have {settings.min_approvers} distinct people{roles} review the served "
                "model and sign `prodready approve --model NAME --version RELEASE --role ROLE "
                "--key KEY.key --artifact MODEL_FILE --folder APPROVALS_DIR` (the digest is "
                "computed from the file: an approval of other bytes does not count)"
            )
    if "no rejection" in failing:
        steps.append("Do not serve a version an approver rejected: roll back to an approved one")
    if "approved before deployment" in failing:
        steps.append(
            "Deploy only after the approvals (the deployment should check them first"
            + (
                f" and set the version tag {DEPLOYED_AT_TAG} when it moves the alias)"
                if served.registry
                else f", and {served.deployed_from} report when it deployed)"
            )
        )
    if "served artifact" in failing:
        steps.append(
            "Say what production serves: have the endpoint's replies name the model version "
            "and digest, or set hooks.served_version to a function returning the served "
            "release name"
        )
    return ". ".join(steps) + "." if steps else ""


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _upper(text: str) -> str:
    return text[:1].upper() + text[1:]
