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
from typing import Any, cast

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from prodready._exceptions import DataError, ModelLoadError, SpecError
from prodready._settings import first_line, is_integer, key_text, quote, read_settings
from prodready.checklist import QUESTIONS
from prodready.system import (
    ABSENT,
    Endpoint,
    Metadata,
    ModelFormat,
    Policy,
    Registry,
    System,
    Traffic,
    file_kind,
    quote_path,
)

__all__ = [
    "MAX_SPEC_BYTES",
    "MAX_SPEC_DEPTH",
    "MAX_SPEC_NODES",
    "SPEC_VERSION",
    "SpecLoader",
    "load_spec",
    "parse_spec",
]

SPEC_VERSION = 2
#: Largest spec file read (1 MiB): a spec holds paths and settings, never data.
MAX_SPEC_BYTES = 1 << 20
#: Most values (YAML nodes: mappings, lists, scalars, keys included) in one spec.
MAX_SPEC_NODES = 100_000
#: Deepest nesting of mappings and lists in a spec (one needs four levels).
MAX_SPEC_DEPTH = 64
#: Longest integer written in a spec, in characters (a seed needs ten).
_MAX_INT_CHARS = 100
#: Longest dotted field name in a message about a spec's YAML.
_MAX_FIELD_CHARS = 80
#: libyaml's parser (C), when PyYAML was built with it: same events, parsed ten times faster.
_CParser: Any = getattr(getattr(yaml, "cyaml", None), "CParser", None)

_CORE = {
    "version",
    "name",
    "model",
    "data",
    "task",
    "endpoint",
    "decision_log",
    "traffic",
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
_FORMATS = ("skops", "joblib", "pickle", "mlflow")
_DATA = {"reference", "current", "target", "features", "categorical", "id", "sample_rows"}
_ENDPOINT = {"url", "serve", "protocol", "model_name", "timeout_s"}
_REGISTRY = {"uri", "model_name"}


class _Refused(Exception):
    """A spec's YAML that :class:`SpecLoader` refuses: the field, where, what and what instead."""

    def __init__(self, field: str, mark: Any, problem: str, expected: str) -> None:
        super().__init__(problem)
        if len(field) > _MAX_FIELD_CHARS:  # e.g. a[0][0][0]... sixty-four levels down
            field = field[: _MAX_FIELD_CHARS - 1] + "…"
        self.field = field
        self.mark = mark
        self.problem = problem
        self.expected = expected


class SpecLoader(yaml.SafeLoader):
    """A YAML loader for specs: PyYAML's safe loader, bounded and strict.

    On top of the safe loader (plain data only, no Python objects), it refuses what a spec
    never needs and a hostile file could use: anchors and aliases (``&a``, ``*a``: a few
    lines of aliases expand to gigabytes, the "billion laughs"), merge keys (``<<``),
    duplicate keys at any depth (PyYAML keeps the last one silently), nesting deeper than
    :data:`MAX_SPEC_DEPTH`, more than :data:`MAX_SPEC_NODES` values and integers longer than
    a hundred characters. A value YAML cannot turn into Python (a date like 2024-13-45)
    is an error at its line rather than an exception from inside the loader. Each refusal
    names the dotted field where it is (``data.features[2]``).
    """

    def __init__(self, stream: str, *, fast: bool = True) -> None:
        super().__init__(stream)  # also refuses control characters, before any parsing
        # The events come from libyaml when it is there (a 1 MiB spec parses in a second,
        # not ten); composing and constructing stay the Python ones below, with the checks.
        self._fast = _CParser(stream) if fast and _CParser is not None else None
        self._path: list[str] = []  # where the node being composed is: ["data", "features"]
        self._nodes = 0
        self._depth = 0  # nodes being composed, one inside the other (keys count too)
        self._fields: dict[int, list[str]] = {}  # id(node) -> where it is: [data, target]

    # -- events: from libyaml when available --------------------------------------------

    def check_event(self, *choices: Any) -> bool:
        if self._fast is not None:
            return bool(self._fast.check_event(*choices))
        return bool(super().check_event(*choices))  # type: ignore[no-untyped-call]

    def peek_event(self) -> Any:
        if self._fast is not None:
            return self._fast.peek_event()
        return super().peek_event()  # type: ignore[no-untyped-call]

    def get_event(self) -> Any:
        if self._fast is not None:
            return self._fast.get_event()
        return super().get_event()  # type: ignore[no-untyped-call]

    def dispose(self) -> None:
        if self._fast is not None:
            self._fast.dispose()
        super().dispose()

    # -- composition: anchors, aliases, depth and size ----------------------------------

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()
        segment = _segment(parent, index)
        path = self._path if segment is None else [*self._path, segment]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _Refused(
                _dotted(path),
                event.start_mark,
                "YAML anchors and aliases are not allowed in a spec",
                "each value written out where it is used (no &anchor, no *alias)",
            )
        self._nodes += 1
        if self._nodes > MAX_SPEC_NODES:
            raise _Refused(
                _dotted(path),
                event.start_mark,
                f"the spec holds more than {MAX_SPEC_NODES:,} values",
                "a spec of paths and settings (data belongs in the data files)",
            )
        if self._depth >= MAX_SPEC_DEPTH:
            raise _Refused(
                _dotted(path),
                event.start_mark,
                f"mappings and lists nested deeper than {MAX_SPEC_DEPTH} levels",
                "the spec's layout (see the README)",
            )
        saved, self._path = self._path, path
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._path = saved
            self._depth -= 1
        self._fields[id(node)] = path
        return node

    # -- construction: duplicate keys, merge keys, values Python cannot hold -------------

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (yaml.YAMLError, _Refused):
            raise
        except (ValueError, ArithmeticError, TypeError) as exc:
            raise _Refused(
                self._field(node),
                node.start_mark,
                f"cannot read this value: {first_line(str(exc), 100)}",
                "a plain string, number, true/false, list or mapping",
            ) from None

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        self._check_keys(node)
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]

    def _check_keys(self, node: MappingNode) -> None:
        where = self._fields.get(id(node), [])
        seen: dict[Any, ScalarNode] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _Refused(
                    _dotted(where),
                    key_node.start_mark,
                    "YAML merge keys (<<) are not allowed in a spec",
                    "each key written out in its mapping",
                )
            if not isinstance(key_node, ScalarNode):
                continue  # a list or mapping as a key: the safe loader refuses it
            key = self.construct_object(key_node)
            try:
                first = seen.get(key)
            except TypeError:  # unhashable: the safe loader refuses it
                continue
            if first is not None:
                raise _Refused(
                    _dotted([*where, key_text(key_node.value)]),
                    None,  # the line is in the problem: "duplicate key 'target' (line 12)"
                    f"duplicate key {quote(key_node.value)} (line {key_node.start_mark.line + 1})",
                    f"each key once in a mapping (the first is on line "
                    f"{first.start_mark.line + 1})",
                )
            seen[key] = key_node

    def _field(self, node: Node) -> str:
        return _dotted(self._fields.get(id(node), []))

    def _construct_int(self, node: ScalarNode) -> int:
        if len(node.value) > _MAX_INT_CHARS:
            # Python refuses decimal integers past 4,300 digits; YAML's base-60 form
            # (1:2:3...) is not refused and costs quadratic time: refuse both, early.
            raise _Refused(
                self._field(node),
                node.start_mark,
                f"an integer of {len(node.value):,} characters",
                f"an integer of at most {_MAX_INT_CHARS} characters",
            )
        return super().construct_yaml_int(node)  # type: ignore[no-any-return]


SpecLoader.add_constructor("tag:yaml.org,2002:int", SpecLoader._construct_int)


def _segment(parent: Node | None, index: Any) -> str | None:
    """The part of a dotted field a node adds under ``parent`` (None for a mapping's key)."""
    if parent is None:
        return None
    if isinstance(parent, SequenceNode):
        return f"[{index}]"
    if isinstance(index, ScalarNode):
        return key_text(index.value)
    return None if index is None else "?"


def _dotted(path: list[str]) -> str:
    text = ""
    for part in path:
        text += part if part.startswith("[") or not text else "." + part
    return text


def load_spec(path: str | Path) -> System:
    """Read, validate and load the spec file at ``path``: model, data and all."""
    path = Path(path)
    source = _shown_source(path)
    raw = parse_spec(_read_spec(path, source), source)
    try:
        return system_from_dict(raw, base=path.parent, source=source)
    except SpecError as exc:
        if "\n" in str(exc) or "\r" in str(exc):  # never more than one line
            raise SpecError(
                _flat(exc.problem),
                source=exc.source,
                field=_flat(exc.field),
                expected=_flat(exc.expected),
            ) from None
        raise
    except (DataError, ModelLoadError) as exc:
        if "\n" in str(exc) or "\r" in str(exc):
            raise type(exc)(_flat(str(exc), 500)) from exc
        raise


def parse_spec(text: str, source: str) -> Any:
    """The data of a spec's YAML ``text``, read by :class:`SpecLoader`; else a SpecError."""
    loader: SpecLoader | None = None
    try:
        loader = SpecLoader(text)
        return loader.get_single_data()
    except _Refused as exc:
        raise SpecError(
            f"{_at(exc.mark)}{exc.problem}",
            source=source,
            field=exc.field or "(top level)",
            expected=exc.expected,
        ) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        character = exc.character if isinstance(exc.character, int) else 0
        raise SpecError(
            f"line {line}, column {column}: unacceptable character #x{character:04x} "
            f"({first_line(exc.reason, 80)})",
            source=source,
            expected="printable text (no control characters)",
        ) from None
    except yaml.constructor.ConstructorError as exc:  # a tag the safe loader does not know
        raise SpecError(
            f"{_at(exc.problem_mark)}unsupported YAML: {first_line(exc.problem or str(exc))}",
            source=source,
            expected="plain YAML: mappings, lists, strings, numbers, true/false (no !tags)",
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        if isinstance(exc, yaml.composer.ComposerError) and exc.context:
            problem = f"{exc.context}, {problem}"  # "expected a single document..., but..."
        raise SpecError(
            f"{_at(mark)}malformed YAML: {first_line(problem)}",
            source=source,
            expected="valid YAML",
        ) from None
    except (RecursionError, MemoryError, ValueError, TypeError) as exc:  # never a traceback
        raise SpecError(
            f"cannot read the YAML: {type(exc).__name__}: {first_line(str(exc))}", source=source
        ) from None
    finally:
        if loader is not None:
            loader.dispose()


def _read_spec(path: Path, source: str) -> str:
    """The spec file's text: a regular file of at most MAX_SPEC_BYTES, in UTF-8."""
    expected = "a YAML spec file (see the README)"
    kind = file_kind(path)
    if kind != "file":
        problem = {
            "missing": "the spec file does not exist",
            "directory": "is a directory, not a spec file",
        }.get(kind, "is not a regular file (a device, pipe or socket)")
        raise SpecError(problem, source=source, expected=expected)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_SPEC_BYTES + 1)  # never more, whatever the file's size
    except OSError as exc:
        reason = exc.strerror or first_line(str(exc))
        raise SpecError(f"cannot read the file: {reason}", source=source) from None
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(
            f"is larger than {MAX_SPEC_BYTES // (1 << 20)} MiB",
            source=source,
            expected=f"a spec file of at most {MAX_SPEC_BYTES:,} bytes "
            "(a spec holds paths and settings; data belongs in the data files)",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        utf16 = " (it looks like UTF-16)" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        raise SpecError(
            f"is not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start}{utf16}",
            source=source,
            expected="a YAML spec file saved as UTF-8",
        ) from None


def _at(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""


def _flat(text: str, limit: int = 300) -> str:
    """``text`` on one line (its lines joined), cut to ``limit`` characters."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _shown_source(path: Path) -> str:
    """The spec's path as messages show it: as given, escaped if it holds control characters."""
    text = str(path)
    return text if text.isprintable() else repr(text)[1:-1]


def system_from_dict(raw: Any, *, base: Path, source: str) -> System:
    """Build a System from a parsed spec mapping; paths are resolved against ``base``."""
    spec = _mapping(raw, "", source, required=True)
    _known(spec, _TOP, "", source)
    version = spec.get("version", SPEC_VERSION)
    if not is_integer(version):  # not a bool either: ``version: true`` is not version 1
        raise SpecError(
            f"is {quote(version)}", source=source, field="version", expected=f"{SPEC_VERSION}"
        )
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
    model_field = "model.path" if "path" in model else "model.uri"
    if "path" in model:
        location: str | Path = _path(model["path"], "model.path", base, source)
    else:
        uri = _str(model["uri"], "model.uri", source)
        # "models:/name/1" or "runs:/..." as they are; a plain folder is relative to the spec.
        has_scheme = re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:/", uri) is not None
        location = uri if has_scheme else _path(uri, "model.uri", base, source)
    fmt = model.get("format")
    if fmt is not None and (not isinstance(fmt, str) or fmt not in _FORMATS):
        raise SpecError(
            f"is {quote(fmt)}",
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
        "metadata": read_settings(Metadata, _unset(spec.get("metadata")), "metadata", source),
        # Each probe reads and validates its own section (see prodready.probes.preflight).
        "settings": {
            key: _section(spec[key], key, source)
            for key in sorted(_SECTIONS)
            if spec.get(key) is not None
        },
        "source": source,
    }
    if spec.get("endpoint") is not None:
        endpoint = dict(_mapping(spec["endpoint"], "endpoint", source, required=True))
        _known(endpoint, _ENDPOINT, "endpoint", source)
        if "url" in endpoint and "serve" in endpoint:
            raise SpecError(
                "give exactly one of 'url' and 'serve'",
                source=source,
                field="endpoint",
                expected="endpoint.url (a running server) or endpoint.serve (an MLflow model "
                "directory prodready serves for the run)",
            )
        if isinstance(endpoint.get("serve"), str) and endpoint["serve"].startswith("models:/"):
            # A registered model (models:/name@alias), served from the spec's registry.
            if not isinstance(spec.get("registry"), dict):
                raise SpecError(
                    f"serves {endpoint['serve']} but the spec has no registry",
                    source=source,
                    field="endpoint.serve",
                    expected="a registry: {uri, model_name} section naming the registry that "
                    "holds the model",
                )
        elif "serve" in endpoint:  # a model directory, relative to the spec like every path
            served = _path(endpoint["serve"], "endpoint.serve", base, source)
            if not (served / "MLmodel").is_file():
                raise SpecError(
                    f"{quote_path(served)} is not an MLflow model directory (no MLmodel file)",
                    source=source,
                    field="endpoint.serve",
                    expected="a directory written by mlflow.<flavor>.save_model",
                )
            endpoint["serve"] = str(served)
        kwargs["endpoint"] = read_settings(Endpoint, endpoint, "endpoint", source)
    if spec.get("decision_log") is not None:
        kwargs["decision_log"] = _path(spec["decision_log"], "decision_log", base, source)
    if spec.get("traffic") is not None:
        kwargs["traffic"] = read_settings(Traffic, spec["traffic"], "traffic", source)
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
            model_format=cast("ModelFormat | None", fmt),
            trusted=trusted,
            model_field=model_field,
            sample_rows=data.get("sample_rows"),
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


def _section(value: Any, key: str, source: str) -> dict[str, Any] | str:
    """A question's section: its probe's settings, or ``none`` (the mechanism does not exist).

    ``rollback: none`` is an answer, not a gap: the team declares there is no rollback, and
    the question FAILs (a section left out is NOT ASSESSED instead).
    """
    if value == ABSENT:
        return ABSENT
    if isinstance(value, str):
        raise SpecError(
            f"is the text {quote(value)}",
            source=source,
            field=key,
            expected=f"a mapping of settings, or {ABSENT} (the system has no such mechanism)",
        )
    return _mapping(value, key, source, required=True)


def _known(mapping: dict[str, Any], allowed: set[str], field: str, source: str) -> None:
    unknown = sorted((k for k in mapping if k not in allowed), key=str)
    if unknown:
        key = key_text(unknown[0])
        where = f"{field}.{key}" if field else key
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


def _unset(value: Any) -> Any:
    """A ``metadata:`` mapping without the fields left with no value (``owner:``, YAML null).

    Such a field is not given, as if absent: the compliance probe (Q6) names it when it is
    required, rather than the whole spec failing to load.
    """
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if v is not None}
    return value


def _path(value: Any, field: str, base: Path, source: str) -> Path:
    text = _str(value, field, source)
    try:
        path = Path(text).expanduser()
    except RuntimeError:  # "~someone/..." for a user who does not exist here
        raise SpecError(
            f"cannot expand {quote_path(text)}: no such user's home directory",
            source=source,
            field=field,
            expected="a path relative to the spec, or absolute",
        ) from None
    return path if path.is_absolute() else base / path


def _hooks(value: Any, source: str) -> dict[str, str]:
    hooks = _mapping(value, "hooks", source, required=False)
    return {str(k): _str(v, f"hooks.{key_text(k)}", source) for k, v in hooks.items()}
