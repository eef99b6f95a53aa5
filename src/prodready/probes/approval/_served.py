"""What production serves: the model version and the digest of its artifact.

In order of trust: the endpoint's own reply (``Reply.model_version``, ``Reply.model_digest``:
the served process says what it loaded), then the spec's ``hooks.served_version``, then the
registry alias production follows (``approval.alias``, ``champion`` by default). The digest
is the endpoint's when it gives one; otherwise it is recomputed from the registry version's
artifact bytes (a ``prodready.digest`` tag could have been edited).

Without a registry (:func:`find_served_unregistered`): the endpoint's reply, then
``hooks.served_version`` (the digest is then the spec's model artifact's), else the spec's
model artifact itself, judged in place of what production serves (which is then unknown).
When it was deployed comes from ``hooks.deployed_at`` instead of a version tag.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from prodready._settings import first_line, quote
from prodready.attest._approval import parse_time
from prodready.probes._bounded import HookTimeout, call_bounded

__all__ = [
    "DEPLOYED_AT_HOOK",
    "DEPLOYED_AT_TAG",
    "NoArtifactDigest",
    "Served",
    "find_served",
    "find_served_unregistered",
]

#: The version tag recording when the version was put in production (UTC ISO 8601): written
#: by the deployment (the example's, :func:`prodready.example._approvals.record_deployment`)
#: when it moves the production alias to the version.
DEPLOYED_AT_TAG = "prodready.deployed_at"
#: Without a registry, the hook that says when a version was put in production:
#: ``deployed_at(version: str | None) -> str``, UTC ISO 8601 like the tag.
DEPLOYED_AT_HOOK = "hooks.deployed_at"


@dataclass(frozen=True)
class Served:
    """What production serves, and how we know.

    ``version`` is the registry version (None when no registered version matches what the
    endpoint reports), or without a registry the release name the endpoint or
    ``hooks.served_version`` gives (None when neither does); ``digest`` the sha256 of the
    served artifact; ``how`` where they came from: ``endpoint`` (its reply), ``hook``
    (``hooks.served_version``), ``alias`` (the registry alias) or ``artifact`` (nothing says
    what production serves: the spec's model artifact is judged in its place);
    ``registered_digest`` the digest recomputed from the registry version's bytes (None when
    there is no version); ``deployed_at`` when it was deployed, from ``deployed_from`` (the
    ``prodready.deployed_at`` tag, or ``hooks.deployed_at`` without a registry; None when
    absent or unreadable, ``deployed_problem`` says which); ``registry`` whether the system
    has one; ``notes`` what was tried and did not answer, and where the digest came from.
    """

    version: str | None
    digest: str
    how: Literal["endpoint", "hook", "alias", "artifact"]
    registered_digest: str | None = None
    deployed_at: datetime | None = None
    deployed_text: str = ""
    deployed_problem: str = ""
    reported_version: str | None = None
    notes: tuple[str, ...] = ()
    tags: dict[str, str] | None = None
    registry: bool = True
    deployed_from: str = DEPLOYED_AT_TAG


class ServedUnknown(Exception):
    """Nothing says what production serves (no answer from the endpoint, no alias set)."""


class NoArtifactDigest(Exception):
    """Without a registry, the digest is the spec's model artifact's, and it has none."""


def _ask_endpoint(system: Any) -> tuple[str | None, str | None, str]:
    """The (version, digest) one decision's reply names, and a note when it names neither."""
    from prodready.adapters import connect

    if getattr(system, "endpoint", None) is None:
        return None, None, "the system has no endpoint to ask"
    try:
        frame = system.X("reference").head(1)
        with connect(system) as client:
            reply = client.predict(frame)
    except Exception as exc:  # the endpoint's failure is Q1/Q2's finding; here: ask elsewhere
        return None, None, f"asking the endpoint failed ({first_line(str(exc))})"
    if not reply.answered:
        return None, None, f"the endpoint did not answer ({reply.kind})"
    version, digest = reply.named_model()
    if version is None and digest is None:
        return None, None, "the endpoint's replies do not name the model version or digest"
    return version, digest, ""


def _hook_version(system: Any, seconds: float) -> Any:
    """What ``hooks.served_version()`` returns within ``seconds``; :class:`ServedUnknown`
    when it raises, exits or does not return in time (the system's procedure failed)."""
    try:
        return call_bounded(
            system.hook("served_version"), seconds=seconds, name="prodready-hooks.served_version"
        )
    except HookTimeout:
        raise ServedUnknown(
            f"hooks.served_version did not return within {seconds:g} s "
            "(approval.hook_timeout_s); it may still be running"
        ) from None
    except (Exception, SystemExit) as exc:
        raise ServedUnknown(
            f"hooks.served_version raised {type(exc).__name__}: {first_line(str(exc))}"
        ) from exc


def find_served(
    system: Any, registry: Any, name: str, alias: str, hook_timeout_s: float = 30.0
) -> Served:
    """What production serves (see the module docstring); :class:`ServedUnknown` if unknown."""
    notes: list[str] = []
    how: Literal["endpoint", "hook", "alias"]
    reported, digest, note = _ask_endpoint(system)
    if note:
        notes.append(note)
    versions = {v.version: v for v in registry.versions(name)}
    if not versions and digest is None:
        # The spec's model is not in the registry, and the endpoint names no digest to judge.
        raise ServedUnknown(
            f"the registry has no version of the model {name!r} (registry.model_name), so no "
            "registered version is in production"
        )
    version: str | None = None
    if reported is not None or digest is not None:
        how = "endpoint"
        if reported is not None and reported in versions:
            version = reported
        elif digest is not None:
            # The endpoint names its version in its own words: find the registered version
            # with its digest, the alias's first.
            aliased = registry.alias(name, alias) if versions else None
            matching = [v for v in versions if versions[v].digest == digest]
            version = aliased if aliased in matching else (matching[-1] if matching else None)
    elif "served_version" in getattr(system, "hooks", {}):
        how = "hook"
        result = _hook_version(system, hook_timeout_s)
        version = None if result is None else str(result)
        reported = version
        if version not in versions:
            raise ServedUnknown(
                f"hooks.served_version names version {quote(version)}, which model "
                f"{name!r} does not have in the registry"
            )
    else:
        how = "alias"
        version = registry.alias(name, alias)
        if version is None:
            raise ServedUnknown(
                f"{'; '.join(notes)}, and the registry alias {alias!r} of model {name!r} is not set"
            )
    registered = None
    tags: dict[str, str] | None = None
    if version is not None:
        # verify=True: the digest of the bytes, not of the prodready.digest tag (editable).
        entry = registry.version(name, version, verify=True)
        registered, tags = entry.digest, dict(entry.tags)
    if digest is None:
        if registered is None:
            raise ServedUnknown(f"version {version} of {name!r} has no artifact to digest")
        digest = registered
    deployed_at, deployed_text, problem = None, "", ""
    if tags is None:
        problem = "the served artifact is no registered version: when it was deployed is unknown"
    else:
        deployed_text = tags.get(DEPLOYED_AT_TAG, "")
        if not deployed_text:
            problem = (
                f"version {version} has no {DEPLOYED_AT_TAG} tag: when it was deployed is unknown"
            )
        else:
            try:
                deployed_at = parse_time(deployed_text)
            except ValueError:
                problem = (
                    f"the {DEPLOYED_AT_TAG} tag of version {version} is "
                    f"{quote(deployed_text)}, not a UTC ISO 8601 time"
                )
    return Served(
        version=version,
        digest=digest,
        how=how,
        registered_digest=registered,
        deployed_at=deployed_at,
        deployed_text=deployed_text,
        deployed_problem=problem,
        reported_version=reported,
        notes=tuple(notes),
        tags=tags,
    )


def find_served_unregistered(system: Any, hook_timeout_s: float = 30.0) -> Served:
    """What production serves when the system has no registry (see the module docstring).

    :class:`ServedUnknown` when ``hooks.served_version`` fails; :class:`NoArtifactDigest`
    when the digest must be the spec's model artifact's and the model was given in Python.
    """
    notes: list[str] = []
    how: Literal["endpoint", "hook", "alias", "artifact"]
    version, digest, note = _ask_endpoint(system)
    if note:
        notes.append(note)
    if version is not None or digest is not None:
        how = "endpoint"
    elif "served_version" in getattr(system, "hooks", {}):
        how = "hook"
        result = _hook_version(system, hook_timeout_s)
        if result is None or str(result).strip() == "":
            raise ServedUnknown(f"hooks.served_version returned {quote(result)}, not a version")
        version = str(result)
    else:
        how = "artifact"
        notes.append(
            "what production serves is not known (no endpoint reply names it and the spec has "
            "no hooks.served_version): the spec's model artifact is judged in its place"
        )
    if digest is None:
        artifact = getattr(system, "model_artifact", None)
        digest = getattr(artifact, "sha256", "") or None
        if artifact is None or digest is None:
            raise NoArtifactDigest(
                "the model was given in Python, so there is no model artifact whose digest the "
                "approvals could name"
            )
        if how != "artifact":
            # The served version's bytes are taken to be the assessed artifact's: Q7 (lineage)
            # verifies that link; said here so the reader knows what was assumed.
            notes.append(
                f"the {'endpoint' if how == 'endpoint' else 'hook'} names version "
                f"{quote(version)} but no digest: its digest is taken to be the spec's model "
                f"artifact's ({artifact.location}; Q7 verifies that link)"
            )
    deployed_at, deployed_text, problem = _deployed_from_hook(system, version, hook_timeout_s)
    return Served(
        version=version,
        digest=digest,
        how=how,
        deployed_at=deployed_at,
        deployed_text=deployed_text,
        deployed_problem=problem,
        reported_version=version,
        notes=tuple(notes),
        registry=False,
        deployed_from=DEPLOYED_AT_HOOK,
    )


def _deployed_from_hook(
    system: Any, version: str | None, seconds: float
) -> tuple[datetime | None, str, str]:
    """(when, its text, the problem) from ``hooks.deployed_at``: a failing hook is a WARN."""
    if "deployed_at" not in getattr(system, "hooks", {}):
        return (
            None,
            "",
            (f"the spec has no {DEPLOYED_AT_HOOK}: when the served model was deployed is unknown"),
        )
    try:
        result = call_bounded(
            system.hook("deployed_at"), version, seconds=seconds, name="prodready-hooks.deployed_at"
        )
    except HookTimeout:
        return (
            None,
            "",
            f"{DEPLOYED_AT_HOOK} did not return within {seconds:g} s (approval.hook_timeout_s): "
            "when the served model was deployed is unknown",
        )
    except (Exception, SystemExit) as exc:  # the hook's failure: the time is unknown (WARN)
        return (
            None,
            "",
            (
                f"{DEPLOYED_AT_HOOK} raised {type(exc).__name__}: {first_line(str(exc))}: when "
                "the served model was deployed is unknown"
            ),
        )
    if not isinstance(result, str):
        return (
            None,
            "",
            (f"{DEPLOYED_AT_HOOK} returned {quote(result)}, not a UTC ISO 8601 time (text)"),
        )
    try:
        return parse_time(result), result, ""
    except ValueError:
        return (
            None,
            result,
            (
                f"{DEPLOYED_AT_HOOK} returned {quote(result)} for version {quote(version)}, "
                "not a UTC ISO 8601 time"
            ),
        )
