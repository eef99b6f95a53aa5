"""Regulatory checklists as data: the items a compliance report maps its evidence to.

A checklist is a YAML file (the bundled ones are in ``checklists/`` beside this module; a
team adds its own with ``compliance.checklists``)::

    id: sr11-7
    title: "SR 11-7: ..."
    source: "https://..."          # where the guidance is published
    items:
      - id: SR11-7 IV.purpose      # unique in the checklist
        section: "IV. ..."          # optional: the part of the guidance
        text: "..."                 # what the item asks, in a sentence
        required: true              # true: the report FAILs Q6 without it
        evidence: [metadata.intended_use, Q5]

``evidence`` names what in the assessment shows the item (see :data:`EVIDENCE_KEYS`). An
item with an empty list is outside what an assessment can show; it is listed so that the gap
stays visible, and cannot be required.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from prodready._exceptions import SpecError
from prodready._settings import quote
from prodready.system import Metadata

__all__ = [
    "BUNDLED",
    "EVIDENCE_KEYS",
    "Checklist",
    "Item",
    "bundled_checklist",
    "load_checklist",
]

_FOLDER = Path(__file__).resolve().parent / "checklists"
#: The checklists prodready ships, by id (their files are ``checklists/<id>.yaml``).
BUNDLED: tuple[str, ...] = ("sr11-7", "eu-ai-act-annex-iv")

#: Evidence that is not a question's finding or a metadata field, with what each means.
EVIDENCE_KEYS: dict[str, str] = {
    "system.model": "the model artifact, recorded with its sha256",
    "system.data": "the data files, recorded with their sha256",
    "model_card": "the model card's required metadata fields, all given",
    "metrics": "model performance measured in this run (Q3)",
    "automated_report": "this report, produced headless from the spec with no manual step",
}
_QUESTION = re.compile(r"Q(?:10|[1-9])\Z")
_MAX_ITEMS = 500


@dataclass(frozen=True)
class Item:
    """One item of a checklist: what it asks, whether it is required, what evidences it."""

    id: str
    text: str
    required: bool
    evidence: tuple[str, ...]
    section: str = ""


@dataclass(frozen=True)
class Checklist:
    """A regulatory checklist: its id, title, where it is published, and its items."""

    id: str
    title: str
    source: str
    items: tuple[Item, ...]


def bundled_checklist(checklist_id: str) -> Checklist:
    """One of the checklists prodready ships (:data:`BUNDLED`), by id."""
    if checklist_id not in BUNDLED:
        raise KeyError(checklist_id)
    path = _FOLDER / f"{checklist_id}.yaml"
    return load_checklist(path, field=f"(bundled checklist {checklist_id})", source=str(path))


def load_checklist(path: Path, *, field: str, source: str) -> Checklist:
    """Read and validate a checklist file; a mistake is a SpecError naming ``field``.

    ``source`` is the spec that named the file (or the file itself for a bundled one).
    """
    from prodready.spec import parse_spec  # the bounded, strict YAML loader of specs

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise SpecError(
            f"cannot read the checklist {quote(str(path), 120)}: {reason}",
            source=source,
            field=field,
            expected="a readable YAML checklist file (see docs/compliance.md)",
        ) from None
    data = parse_spec(text, str(path))
    return _checklist(data, path, field, source)


def _checklist(data: Any, path: Path, field: str, source: str) -> Checklist:
    def bad(problem: str, expected: str) -> SpecError:
        return SpecError(
            f"{quote(path.name, 80)}: {problem}", source=source, field=field, expected=expected
        )

    if not isinstance(data, dict):
        raise bad("is not a mapping", "a mapping with id, title, source and items")
    unknown = sorted(str(k) for k in data if k not in ("id", "title", "source", "items"))
    if unknown:
        raise bad(f"unknown key {quote(unknown[0], 40)}", "id, title, source and items")
    for key in ("id", "title"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise bad(f"{key} is {quote(data.get(key))}", f"a non-empty string for {key}")
    items = data.get("items")
    if not isinstance(items, list) or not items or len(items) > _MAX_ITEMS:
        raise bad("items is not a list of items", f"a list of 1 to {_MAX_ITEMS} items")
    parsed = [_item(raw, i, bad) for i, raw in enumerate(items)]
    ids = [item.id for item in parsed]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise bad(f"item id {quote(twice[0], 60)} is used twice", "unique item ids")
    source_text = data.get("source", "")
    if not isinstance(source_text, str):
        raise bad(f"source is {quote(source_text)}", "a string (where it is published)")
    return Checklist(data["id"].strip(), data["title"].strip(), source_text, tuple(parsed))


def _item(raw: Any, index: int, bad: Any) -> Item:
    where = f"items[{index}]"
    if not isinstance(raw, dict):
        raise bad(f"{where} is not a mapping", "id, text, required and evidence")
    unknown = sorted(
        str(k) for k in raw if k not in ("id", "text", "required", "evidence", "section")
    )
    if unknown:
        raise bad(
            f"{where} has an unknown key {quote(unknown[0], 40)}",
            "id, section, text, required and evidence",
        )
    for key in ("id", "text"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise bad(f"{where}.{key} is {quote(raw.get(key))}", "a non-empty string")
    required = raw.get("required", False)
    if not isinstance(required, bool):
        raise bad(f"{where}.required is {quote(required)}", "true or false")
    evidence = raw.get("evidence", [])
    if not isinstance(evidence, list) or not all(isinstance(e, str) for e in evidence):
        raise bad(f"{where}.evidence is {quote(evidence)}", "a list of evidence keys")
    for key in evidence:
        if not _known_evidence(key):
            raise bad(f"{where}.evidence has {quote(key, 60)}", _EXPECTED_EVIDENCE)
    if required and not evidence:
        raise bad(
            f"{where} is required but names no evidence",
            "required: false for an item the assessment cannot evidence",
        )
    section = raw.get("section", "")
    if not isinstance(section, str):
        raise bad(f"{where}.section is {quote(section)}", "a string")
    return Item(
        raw["id"].strip(), " ".join(raw["text"].split()), required, tuple(evidence), section
    )


_METADATA_FIELDS = tuple(f.name for f in fields(Metadata))
_EXPECTED_EVIDENCE = (
    "Q1..Q10 (but Q6), metadata.<field> ("
    + ", ".join(_METADATA_FIELDS)
    + "), "
    + ", ".join(EVIDENCE_KEYS)
)


def _known_evidence(key: str) -> bool:
    if _QUESTION.match(key):
        return key != "Q6"  # Q6 is the compliance report itself: model_card, automated_report
    if key.startswith("metadata."):
        return key.removeprefix("metadata.") in _METADATA_FIELDS
    return key in EVIDENCE_KEYS
