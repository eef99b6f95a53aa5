"""What production serves, seen without a registry: before and after the retrain hook.

A system without MLflow's registry cannot show an alias that did not move; what it can show
is that production still answers as before. In order of trust (as Q8 reads it, see
:mod:`prodready.probes.approval._served`): the version or digest the endpoint's replies
name (``Reply.model_version`` / ``Reply.model_digest``), else the spec's
``hooks.served_version``, else the endpoint's answers on a few reference rows (the canary
rows), compared within :data:`TOLERANCE`. :func:`observe` reads it once; :func:`compare`
says whether two readings show the same served model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from prodready._settings import first_line, quote
from prodready.probes._base import ProbeCancelled
from prodready.probes._bounded import HookTimeout, call_bounded

__all__ = ["CANARY_ROWS", "TOLERANCE", "Observed", "compare", "observable", "observe"]

#: Reference rows whose answers identify the served model when nothing names its version.
CANARY_ROWS = 16
#: Largest difference between two answers on a canary row that still counts as the same.
TOLERANCE = 1e-9


@dataclass(frozen=True)
class Observed:
    """One reading of what production serves.

    ``how`` is what identified it: "endpoint" (the version/digest its replies name), "hook"
    (``hooks.served_version``) or "canary" (the answers on :data:`CANARY_ROWS` rows).
    ``label`` says it in words ("version 3", "the answers on 16 canary rows"); ``version``
    and ``digest`` are what was named (None when not); ``outputs`` the canary answers.
    ``problem`` is set (and the rest empty) when nothing answered: why, in words.
    """

    how: Literal["endpoint", "hook", "canary", ""]
    label: str = ""
    version: str | None = None
    digest: str | None = None
    outputs: np.ndarray[Any, Any] | None = None
    problem: str = ""


def observable(system: Any) -> bool:
    """True when what production serves can be read: an endpoint or ``hooks.served_version``."""
    return getattr(system, "endpoint", None) is not None or "served_version" in system.hooks


def _label(version: str | None, digest: str | None) -> str:
    parts = ([f"version {version}"] if version is not None else []) + (
        [f"digest {digest[:12]}"] if digest is not None else []
    )
    return ", ".join(parts)


def _read(system: Any, how: str) -> Observed:
    """One reading (runs inside :func:`call_bounded`); raises what the system raises."""
    reply, trouble = None, "neither the endpoint nor a hook says what production serves"
    if getattr(system, "endpoint", None) is not None and how != "hook":
        from prodready.adapters import connect

        frame = system.X("reference").head(CANARY_ROWS)
        try:
            with connect(system) as client:
                reply = client.predict(frame)
        except Exception as exc:
            trouble = f"asking the endpoint failed ({first_line(str(exc))})"
        else:
            if not reply.answered:
                error = f": {first_line(reply.error)}" if reply.error else ""
                trouble = f"the endpoint did not answer ({reply.kind}{error})"
                reply = None
        if reply is not None and how in ("", "endpoint"):
            version, digest = reply.named_model()
            if version is not None or digest is not None:
                return Observed("endpoint", _label(version, digest), version, digest)
    if how in ("", "hook") and "served_version" in system.hooks:
        try:
            named = system.hook("served_version")()
        except Exception as exc:
            return Observed(
                "",
                problem=f"hooks.served_version raised {type(exc).__name__}: {first_line(str(exc))}",
            )
        if named is None or str(named) == "":
            return Observed("", problem="hooks.served_version named no version")
        return Observed("hook", f"version {quote(str(named))}", version=str(named))
    if reply is not None and reply.outputs is not None:
        outputs = np.asarray(reply.outputs)
        return Observed("canary", f"the answers on {len(outputs)} canary rows", outputs=outputs)
    return Observed("", problem=trouble)


def observe(system: Any, *, seconds: float, check: Any, how: str = "") -> Observed:
    """What production serves now, read within ``seconds``; never raises for the system.

    ``how`` repeats an earlier reading's way (so the two compare like with like); "" picks
    the most trusted way that answers. Cancellation (``check``) propagates.
    """
    try:
        found = call_bounded(
            _read, system, how, seconds=seconds, check=check, name="prodready-served"
        )
    except ProbeCancelled:
        raise
    except HookTimeout:
        return Observed("", problem=f"no answer on what production serves within {seconds:g} s")
    except (Exception, SystemExit) as exc:  # the system's failure: judged, never an ERROR
        return Observed("", problem=f"{type(exc).__name__}: {first_line(str(exc))}")
    assert isinstance(found, Observed)
    return found


def compare(before: Observed, after: Observed) -> str | None:
    """None when both readings show the same served model, else what changed, in words."""
    if before.how != after.how:
        return f"production was identified by {before.label}, then by {after.label or 'nothing'}"
    if before.how == "canary":
        assert before.outputs is not None and after.outputs is not None
        one, two = np.asarray(before.outputs), np.asarray(after.outputs)
        if one.shape != two.shape:
            return f"its answers changed shape from {one.shape} to {two.shape}"
        if one.dtype.kind not in "biuf" or two.dtype.kind not in "biuf":  # labels: exactly
            rows = int((one != two).reshape(len(one), -1).any(axis=1).sum()) if one.size else 0
            return f"its answers changed on {rows} of {len(one)} canary rows" if rows else None
        one, two = one.astype(float), two.astype(float)
        differ = ~np.isclose(one, two, rtol=0.0, atol=TOLERANCE, equal_nan=True)
        rows = int(differ.reshape(len(one), -1).any(axis=1).sum()) if one.size else 0
        if rows:
            most = float(np.nanmax(np.abs(one - two)))
            return f"its answers changed on {rows} of {len(one)} canary rows (by up to {most:.3g})"
        return None
    if (before.version, before.digest) != (after.version, after.digest):
        return f"it served {before.label}, then {after.label}"
    return None
