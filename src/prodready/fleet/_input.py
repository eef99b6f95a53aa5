"""The systems of a fleet: a YAML list of spec paths, or a folder of specs.

A fleet file is a YAML list of spec paths (relative paths are relative to the fleet file's
folder)::

    - credit-risk/spec.yaml
    - fraud/spec.yaml

or a mapping with the list under ``systems:`` (room for more keys later). A folder stands for
every ``*.yaml`` / ``*.yml`` file directly in it, in name order. Each system gets a *slug*:
its run folder's name in the sweep, from the spec file's name (``credit-risk``), made unique
(``spec``, ``spec-2``) when two specs share a name.

Only the fleet itself is checked here (one line, exit 2, before any worker starts): a spec
that is missing or broken is that system's own failure, reported in the summary, and the
others are still assessed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from prodready._exceptions import UsageError
from prodready._files import shown

__all__ = ["MAX_SYSTEMS", "FleetMember", "read_fleet"]

#: More systems than this in one sweep is almost surely a mistake (a folder of data files).
MAX_SYSTEMS = 10_000
_SPEC_SUFFIXES = (".yaml", ".yml")
_SLUG_BAD = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class FleetMember:
    """One system of the fleet: its spec (absolute) and its run folder's name."""

    spec: Path
    slug: str
    given: str  # the path as the fleet file (or folder listing) gave it, for messages


def read_fleet(fleet: str | os.PathLike[str]) -> list[FleetMember]:
    """The fleet's systems, in order; a one-line UsageError if the fleet itself is bad."""
    path = Path(fleet)
    if path.is_dir():
        specs = sorted(
            p for p in path.iterdir() if p.suffix.lower() in _SPEC_SUFFIXES and p.is_file()
        )
        if not specs:
            raise UsageError(
                f"fleet: the folder {shown(path)} holds no spec: expected *.yaml or *.yml files"
            )
        given = [p.name for p in specs]
        base = path
    else:
        given = _listed(path)
        base = path.parent
    if len(given) > MAX_SYSTEMS:
        raise UsageError(
            f"fleet: {shown(path)} lists {len(given):,} systems: expected at most {MAX_SYSTEMS:,}"
        )
    members: list[FleetMember] = []
    seen: dict[Path, int] = {}
    slugs: set[str] = set()
    for number, text in enumerate(given, start=1):
        spec = (base / text).absolute()
        if spec in seen:
            raise UsageError(
                f"fleet: {shown(path)}: item {number} ({text!r}) repeats item {seen[spec]}: "
                "expected each system once"
            )
        seen[spec] = number
        members.append(FleetMember(spec, _unique(_slug(spec), slugs), text))
    return members


def _listed(path: Path) -> list[str]:
    """The spec paths a fleet file lists."""
    from prodready.spec import _read_spec, parse_spec

    source = shown(path)
    if not path.exists():
        raise UsageError(
            f"fleet: {source} does not exist: expected a YAML list of spec paths or a folder "
            "of specs"
        )
    try:
        raw = parse_spec(_read_spec(path, source), source)
    except UsageError as exc:  # SpecError is a UsageError: say it is the fleet file
        raise UsageError(f"fleet: {exc}") from None
    if isinstance(raw, dict) and set(raw) == {"systems"}:
        raw = raw["systems"]
    if not isinstance(raw, list) or not raw:
        raise UsageError(
            f"fleet: {source} is not a list of spec paths: expected a YAML list such as "
            "'- credit-risk/spec.yaml' (or 'systems:' with that list)"
        )
    for number, item in enumerate(raw, start=1):
        if not isinstance(item, str) or not item.strip() or "\x00" in item:
            raise UsageError(
                f"fleet: {source}: item {number} is {item!r}: expected the path of a spec file"
            )
    return [str(item) for item in raw]


def _slug(spec: Path) -> str:
    """A run folder name from the spec's name: ``Credit Risk.yaml`` -> ``Credit-Risk``."""
    stem = _SLUG_BAD.sub("-", spec.stem).strip("-._")[:80]
    return stem or "system"


def _unique(slug: str, taken: set[str]) -> str:
    chosen, n = slug, 1
    while chosen.lower() in taken:  # case-insensitive: a folder on macOS or Windows
        n += 1
        chosen = f"{slug}-{n}"
    taken.add(chosen.lower())
    return chosen
