"""Load a YAML spec file into a validated :class:`~prodready.System`.

The spec format (version 2) is documented in the README: core keys (model, data, task,
endpoint, registry, hooks, run-wide policy, metadata) and one section per checklist question
(``monitoring:``, ``explainability:``...) whose settings the question's probe owns. Paths in a
spec are relative to the spec file. Every mistake raises :class:`~prodready.SpecError` naming
the file, the field, what is wrong and what was expected.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from prodready._exceptions import SpecError
from prodready._settings import quote, read_settings
from prodready.checklist import QUESTIONS
from prodready.system import Endpoint, Metadata, Policy, Registry, System

__all__ = ["SPEC_VERSION", "load_spec"]

SPEC_VERSION = 2

_CORE = {
    "version",
    "name",
    "model",
    "data",
    "task",
    "endpoint",
    "registry",
    "hooks",
    "policy",
    "metadata",
}
# Beside the core keys, one section per checklist question (``monitoring:``...), owned by
# that question's probe.
_SECTIONS = {q.key for q in QUESTIONS}
_TOP = _CORE | _SECTIONS
# What moved between version 1 and 2, for the one-line message a version 1 spec gets.
_V2_LAYOUT = (
    "version 2 keeps policy: for probe_timeout_s, min_score, seed and gate, and gives each "
    "probe its own section: monitoring: {engine, alpha, max_performance_drop} (were "
    "policy.drift_engine, drift_alpha, max_performance_drop) and explainability: {sample, "
    "additivity_tolerance, top_reasons, positive_class} (were policy.explain_sample, "
    "additivity_tolerance, top_reasons); then set version: 2 (see the README)"
)
_MODEL = {"path", "uri", "format", "trusted"}
_DATA = {"reference", "current", "target", "features", "categorical", "id"}
_ENDPOINT = {"url", "protocol", "timeout_s"}
_REGISTRY = {"uri", "model_name"}


def load_spec(path: str | Path) -> System:
    """Read, validate and load the spec file at ``path``: model, data and all."""
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise SpecError(
            "the spec file does not exist",
            source=source,
            expected="a YAML spec file (see the README)",
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(
            f"{where}malformed YAML: {problem}", source=source, expected="valid YAML"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read the file: {exc}", source=source) from None
    return system_from_dict(raw, base=path.parent, source=source)


def system_from_dict(raw: Any, *, base: Path, source: str) -> System:
    """Build a System from a parsed spec mapping; paths are resolved against ``base``."""
    spec = _mapping(raw, "", source, required=True)
    _known(spec, _TOP, "", source)
    version = spec.get("version", SPEC_VERSION)
    if version == 1:
        raise SpecError(
            "is 1, an older spec format", source=source, field="version", expected=_V2_LAYOUT
        )
    if version != SPEC_VERSION:
        raise SpecError(
            f"is {quote(version)}", source=source, field="version", expected=f"{SPEC_VERSION}"
        )

    model = _mapping(spec.get("model"), "model", source, required=True)
    _known(model, _MODEL, "model", source)
    if ("path" in model) == ("uri" in model):
        raise SpecError(
            "give exactly one of 'path' and 'uri'",
            source=source,
            field="model",
            expected="model.path (a file) or model.uri (an MLflow model URI)",
        )
    if "path" in model:
        location: str | Path = _path(model["path"], "model.path", base, source)
    else:
        uri = _str(model["uri"], "model.uri", source)
        # "models:/name/1" or "runs:/..." as they are; a plain folder is relative to the spec.
        has_scheme = re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:/", uri) is not None
        location = uri if has_scheme else _path(uri, "model.uri", base, source)
    fmt = model.get("format")
    if fmt is not None and fmt not in ("skops", "joblib", "pickle", "mlflow"):
        raise SpecError(
            f"is {fmt!r}",
            source=source,
            field="model.format",
            expected="skops, joblib, pickle or mlflow",
        )
    trusted = _str_list(model.get("trusted", []), "model.trusted", source)

    data = _mapping(spec.get("data"), "data", source, required=True)
    _known(data, _DATA, "data", source)
    if "reference" not in data:
        raise SpecError(
            "is missing",
            source=source,
            field="data.reference",
            expected="the path of the reference data (CSV or Parquet)",
        )
    reference = _path(data["reference"], "data.reference", base, source)
    current = _path(data["current"], "data.current", base, source) if "current" in data else None

    kwargs: dict[str, Any] = {
        "name": _str(spec.get("name", Path(source).stem), "name", source),
        "target": _str(data["target"], "data.target", source) if "target" in data else None,
        "features": (
            _str_list(data["features"], "data.features", source) if "features" in data else None
        ),
        "categorical": (
            _str_list(data["categorical"], "data.categorical", source)
            if "categorical" in data
            else None
        ),
        "id_column": _str(data["id"], "data.id", source) if "id" in data else None,
        "task": _str(spec["task"], "task", source) if "task" in spec else None,
        "hooks": _hooks(spec.get("hooks"), source),
        "policy": read_settings(Policy, spec.get("policy"), "policy", source),
        "metadata": read_settings(Metadata, spec.get("metadata"), "metadata", source),
        # Each probe reads and validates its own section (see prodready.probes.preflight).
        "settings": {
            key: _mapping(spec[key], key, source, required=True)
            for key in sorted(_SECTIONS)
            if spec.get(key) is not None
        },
        "source": source,
    }
    if spec.get("endpoint") is not None:
        endpoint = _mapping(spec["endpoint"], "endpoint", source, required=True)
        _known(endpoint, _ENDPOINT, "endpoint", source)
        url = _str(endpoint.get("url"), "endpoint.url", source)
        if not url.startswith(("http://", "https://")):
            raise SpecError(
                f"is {url!r}",
                source=source,
                field="endpoint.url",
                expected="an http:// or https:// URL",
            )
        kwargs["endpoint"] = read_settings(Endpoint, endpoint, "endpoint", source)
    if spec.get("registry") is not None:
        registry = _mapping(spec["registry"], "registry", source, required=True)
        _known(registry, _REGISTRY, "registry", source)
        for key in _REGISTRY:
            _str(registry.get(key), f"registry.{key}", source)
        kwargs["registry"] = Registry(uri=registry["uri"], model_name=registry["model_name"])

    try:
        return System.from_files(
            model=location,
            reference=reference,
            current=current,
            model_format=fmt,
            trusted=trusted,
            **kwargs,
        )
    except SpecError as exc:
        if exc.source == "<python>":  # raised below the spec layer: name the file
            raise SpecError(
                exc.problem, source=source, field=exc.field, expected=exc.expected
            ) from None
        raise


# -- field readers: each names the field and what was expected ------------------------------


def _mapping(value: Any, field: str, source: str, *, required: bool) -> dict[str, Any]:
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        found = "missing" if value is None else f"a {type(value).__name__}"
        raise SpecError(
            f"is {found}",
            source=source,
            field=field or "(top level)",
            expected="a mapping of keys to values",
        )
    return value


def _known(mapping: dict[str, Any], allowed: set[str], field: str, source: str) -> None:
    unknown = sorted(str(k) for k in mapping if k not in allowed)
    if unknown:
        where = f"{field}.{unknown[0]}" if field else unknown[0]
        raise SpecError(
            "unknown key",
            source=source,
            field=where,
            expected="one of " + ", ".join(sorted(allowed)),
        )


def _str(value: Any, field: str, source: str) -> str:
    if not isinstance(value, str) or not value:
        found = "missing" if value is None else quote(value)
        raise SpecError(f"is {found}", source=source, field=field, expected="a non-empty string")
    return value


def _str_list(value: Any, field: str, source: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpecError(
            f"is {quote(value)}", source=source, field=field, expected="a list of strings"
        )
    return list(value)


def _path(value: Any, field: str, base: Path, source: str) -> Path:
    text = _str(value, field, source)
    path = Path(text).expanduser()
    return path if path.is_absolute() else base / path


def _hooks(value: Any, source: str) -> dict[str, str]:
    hooks = _mapping(value, "hooks", source, required=False)
    return {str(k): _str(v, f"hooks.{k}", source) for k, v in hooks.items()}
