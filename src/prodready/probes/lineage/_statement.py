"""The lineage record as an in-toto Statement (SLSA provenance v1 predicate).

Subject: the assessed model artifact with its sha256. Predicate (``predicateType``
``https://slsa.dev/provenance/v1``): how the model came to be, as far as its recorded
provenance says (``buildDefinition``: the training data and code commit as resolved
dependencies, the training parameters), and what prodready found when it assessed it
(``runDetails.byproducts``: the data the assessment used, the assessing environment's
Python and distributions, the assessment's parameters and seed, and each verified link).
The layout of every field is in ``docs/provenance.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

__all__ = ["BUILD_TYPE", "PREDICATE_TYPE", "STATEMENT_TYPE", "statement"]

STATEMENT_TYPE: Final = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE: Final = "https://slsa.dev/provenance/v1"
#: What the "build" is: training a model (the type is prodready's, documented in
#: docs/provenance.md).
BUILD_TYPE: Final = "https://prodready.dev/model-training/v1"
#: The builder id when the provenance does not name what trained the model.
_UNKNOWN_BUILDER: Final = "https://prodready.dev/builder/unrecorded"


def statement(record: dict[str, Any], links: dict[str, str]) -> dict[str, Any]:
    """The in-toto Statement for a lineage ``record`` (see :class:`LineageProbe`) and ``links``.

    ``record`` holds ``model``, ``data``, ``code_version``, ``environment``, ``assessment``
    and ``provenance`` (None when the model has none); ``links`` maps each link to its status.
    """
    model = record["model"]
    provenance = record.get("provenance") or {}
    dependencies: list[dict[str, Any]] = []
    for entry in provenance.get("training", []):
        digest_name = "sha256" if entry.get("kind") == "sha256" else "mlflowDigest"
        dependencies.append(
            _descriptor(
                entry.get("name", ""),
                {digest_name: entry.get("digest", "")},
                uri=entry.get("path"),
                role="training data (as recorded)",
                rows=entry.get("rows"),
            )
        )
    if provenance.get("commit"):
        dependencies.append(
            {
                "name": "training code",
                "digest": {"gitCommit": provenance["commit"]},
                "annotations": {"dirty": provenance.get("dirty")},
            }
        )
    materials = [
        _descriptor(
            Path(str(value.get("location", ""))).name or role,
            {"sha256": value.get("sha256") or ""},
            uri=value.get("location"),
            role=role,
            rows=value.get("rows"),
        )
        for role, value in record["data"].items()
    ]
    code = record["code_version"]
    if code.get("commit"):
        materials.append(
            {
                "name": "spec repository",
                "uri": code.get("folder"),
                "digest": {"gitCommit": code["commit"]},
                "annotations": {"dirty": code.get("dirty")},
            }
        )
    env = record["environment"]
    materials.append(
        {
            "name": "python",
            "uri": f"pkg:generic/python@{env['python']}",
            "annotations": {"role": "assessing environment"},
        }
    )
    materials += [
        {"name": name, "uri": f"pkg:pypi/{name.lower()}@{version}"}
        for name, version in env["packages"].items()
    ]
    return {
        "_type": STATEMENT_TYPE,
        "subject": [
            {
                "name": Path(model["location"]).name or model["location"],
                "digest": {"sha256": model["sha256"]},
                "annotations": {"format": model["format"], "location": model["location"]},
            }
        ],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "training_parameters": provenance.get("parameters") or {},
                    "provenance_source": provenance.get("source"),
                },
                "internalParameters": {},
                "resolvedDependencies": dependencies,
            },
            "runDetails": {
                "builder": {"id": provenance.get("trainer") or _UNKNOWN_BUILDER},
                "metadata": {"startedOn": provenance.get("created")},
                "byproducts": [
                    {
                        "name": "prodready lineage assessment",
                        "annotations": {
                            "code_version": code,
                            "assessment": record["assessment"],
                            "links": links,
                            "materials": materials,
                        },
                    }
                ],
            },
        },
    }


def _descriptor(
    name: str, digest: dict[str, str], *, uri: Any, role: str, rows: Any
) -> dict[str, Any]:
    """An in-toto ResourceDescriptor with our annotations (role, row count)."""
    item: dict[str, Any] = {"name": name, "digest": digest}
    if uri:
        item["uri"] = str(uri)
    item["annotations"] = {"role": role} | ({"rows": rows} if rows is not None else {})
    return item
