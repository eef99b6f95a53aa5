"""The serving path's dependencies: vendor SDKs, imports of them, and licences.

What is *the serving path*: the distributions the served model needs to answer a request, and
nothing else. For an MLflow model folder those are its declared requirements
(``requirements.txt``, else ``conda.yaml``'s pip list, else ``python_env.yaml``), the packages
its code files import (``code/``, ``python_model.py``, a models-from-code file, any ``.py`` in
the folder), its ``loader_module``, and the modules named inside a pickled python_model; for
a model in process, the distributions its classes come from. Each is followed transitively
through the installed distributions' ``Requires-Dist`` (markers evaluated, extras only when
asked for).

Everything here is static: code is parsed with :mod:`ast` and pickles are read with
:mod:`pickletools`; nothing is imported or unpickled.

Why alibi-detect (BSL-1.1) is usually *not* in the serving path: it is prodready's optional
drift engine (``prodready[alibi]``) and the team's monitor may use it, but neither the
example's served model nor prodready's guard requires or imports it: it is installed in the
environment the assessment runs in, not needed by the model server. It is reported as
installed outside the serving path (no effect on the status), and becomes a finding as soon
as the model's requirements or code pull it in.
"""

from __future__ import annotations

import ast
import itertools
import pickletools
import re
import sys
from collections import deque
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, distribution, distributions
from importlib.metadata import packages_distributions as _packages_distributions
from pathlib import Path
from typing import Any

import yaml

#: Cloud vendors' ML SDKs: (vendor, distribution name patterns, import module prefixes).
#: A distribution pattern ending in ``*`` matches any name with that prefix; a module prefix
#: ending in ``*`` any top-level module whose name starts so (``sagemaker*``:
#: ``sagemaker_inference``). A serving path that needs one of these can only run where that
#: vendor's service answers.
VENDOR_SDKS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    (
        "Amazon Web Services",
        ("boto3", "botocore", "aiobotocore", "sagemaker", "sagemaker-*", "awswrangler"),
        ("boto3", "botocore", "aiobotocore", "sagemaker*", "awswrangler", "mlflow.sagemaker"),
    ),
    (
        "Google Cloud",
        (
            "google-cloud-*",
            "vertexai",
            "google-api-python-client",
            "google-generativeai",
            "google-genai",
        ),
        ("google.cloud", "vertexai", "googleapiclient", "google.generativeai", "google.genai"),
    ),
    (
        "Microsoft Azure",
        ("azureml-*", "azure-*"),  # the azure namespace is Azure's SDK (ai, storage...)
        ("azureml", "azure"),
    ),
    ("Databricks", ("databricks-*", "databricks"), ("databricks",)),
    (
        "IBM",
        ("ibm-watson*", "ibm-watsonx-*", "ibm-cloud-sdk-core"),
        ("ibm_watson", "ibm_watsonx_ai", "ibm_watson_machine_learning", "ibm_cloud_sdk_core"),
    ),
    ("Oracle Cloud", ("oci",), ("oci",)),
    ("Alibaba Cloud", ("alibabacloud-*", "aliyun-*", "pai-*"), ("alibabacloud", "aliyunsdkcore")),
    ("Snowflake", ("snowflake-ml-python", "snowflake-snowpark-python"), ("snowflake.ml",)),
    ("DataRobot", ("datarobot", "datarobot-*"), ("datarobot",)),
)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def vendor_of_distribution(name: str, extra: list[str]) -> str | None:
    """The vendor whose SDK the distribution ``name`` is, or None."""
    norm = _norm(name)
    for vendor, patterns, _ in VENDOR_SDKS:
        for pattern in patterns:
            if (pattern.endswith("*") and norm.startswith(pattern[:-1])) or norm == pattern:
                return vendor
    return "listed in vendor_sdks" if norm in {_norm(e) for e in extra} else None


def vendor_of_module(module: str, extra: list[str]) -> str | None:
    """The vendor whose SDK the imported module ``module`` belongs to, or None."""
    for vendor, _, prefixes in VENDOR_SDKS:
        for prefix in prefixes:
            if prefix.endswith("*"):
                if module.split(".")[0].startswith(prefix[:-1]):
                    return vendor
            elif module == prefix or module.startswith(prefix + "."):
                return vendor
    for name in extra:
        if module == name or module.startswith(name + "."):
            return "listed in vendor_sdks"
    return None


# -- licences ----------------------------------------------------------------------------

#: Licence categories that are not open: the reason each is a risk for serving.
NOT_OPEN = {
    "source-available": "source-available, not open source (production use restricted)",
    "network copyleft": "network copyleft (serving it over a network obliges you to publish "
    "your source)",
    "proprietary": "proprietary",
    "unknown": "no licence found in its metadata",
}

_CLASSIFIER_PREFIX = "License :: OSI Approved :: "


def classify_licence(text: str) -> str:
    """The category of a licence name: open, source-available, network copyleft, proprietary
    or unknown."""
    low = text.lower()
    if not low.strip() or low in ("unknown", "none"):
        return "unknown"
    if "commons clause" in low or "commons-clause" in low:
        return "source-available"
    # BSL-1.0 is the Boost Software License (open); the Business Source License is BUSL-1.1,
    # though some packages write it "BSL 1.1" or plain "BSL".
    low = re.sub(r"boost software license[^,;()]*|\bbsl-1\.0\b", "boost", low)
    if re.search(
        r"\bbsl\b|business source|\bbusl\b|\bsspl\b|server side public|elastic license"
        r"|\belastic-2\.0\b|\belv2\b|polyform|confluent community"
        r"|non-?commercial|\bcc-by(?:-sa)?-nc\b|\bcc-by-nc",
        low,
    ):
        return "source-available"
    if "agpl" in low or "affero" in low:
        return "network copyleft"
    if "proprietary" in low or "commercial" in low or low.strip() == "all rights reserved":
        return "proprietary"
    return "open"


def licence_of(name: str) -> str:
    """The licence of the installed distribution ``name``, from its metadata, in a few words.

    In order: ``License-Expression`` (PEP 639), a short ``License`` field, the trove
    classifiers, then the first words of a ``License`` field that holds the whole text.
    """
    try:
        meta: Any = distribution(name).metadata  # an email.message.Message in practice
    except PackageNotFoundError:
        return "not installed"
    expression = (meta.get("License-Expression") or "").strip()
    if expression:
        return expression
    declared = (meta.get("License") or "").strip()
    if declared and "\n" not in declared and len(declared) <= 80 and declared != "UNKNOWN":
        return declared
    classifiers = [c for c in (meta.get_all("Classifier") or []) if c.startswith("License ::")]
    named = [c[len(_CLASSIFIER_PREFIX) :] for c in classifiers if c.startswith(_CLASSIFIER_PREFIX)]
    if named:
        return "; ".join(named)
    if any("Proprietary" in c for c in classifiers):
        return "Other/Proprietary License"
    found = _sniff(declared[:400])
    if found is None:
        found = _sniff(_licence_file_head(name))
        found = f"{found} (from its licence file)" if found else None
    if found is not None:
        return found
    if classifiers:  # "License :: OSI Approved" without a name
        return "OSI Approved"
    return "unknown"


def _licence_file_head(name: str) -> str:
    """The start of the licence file a distribution ships in its metadata folder, or ''."""
    try:
        files = distribution(name).files or []
    except PackageNotFoundError:
        return ""
    for file in files:
        parts = [p.lower() for p in file.parts]
        if (
            parts
            and parts[0].endswith(".dist-info")
            and ("licenses" in parts or parts[-1].startswith(("license", "licence", "copying")))
        ):
            try:
                return file.read_text(encoding="utf-8")[:600]
            except (OSError, UnicodeDecodeError):
                continue
    return ""


def _sniff(text: str) -> str | None:
    """A licence's name from the first words of its text, or None."""
    head = text.lower()
    for needle, label in (
        ("business source license", "Business Source License"),
        ("server side public license", "SSPL"),
        ("gnu affero", "AGPL"),
        ("apache license", "Apache License"),
        ("mit license", "MIT"),
        ("permission is hereby granted, free of charge", "MIT"),
        ("redistribution and use in source and binary forms", "BSD"),
        ("mozilla public license", "MPL"),
        ("gnu lesser general public", "LGPL"),
        ("gnu general public", "GPL"),
    ):
        if needle in head:
            return label
    return None


# -- what the serving path is ------------------------------------------------------------


@dataclass
class Root:
    """A distribution the serving path needs directly, and why (``because``)."""

    name: str
    because: str
    extras: tuple[str, ...] = ()


@dataclass
class Dist:
    """One distribution of the serving path.

    ``direct`` is True for a distribution the model declares or its code imports;
    ``required_by`` is the distribution that pulled it in (or the reason for a direct one).
    """

    name: str
    version: str
    licence: str
    category: str
    direct: bool
    required_by: str
    vendor: str | None = None


@dataclass
class Scan:
    """The serving path as found: its distributions, the vendor imports in its code, and
    what was looked at."""

    sources: list[str] = field(default_factory=list)
    dists: list[Dist] = field(default_factory=list)
    vendor_imports: list[tuple[str, str, str]] = field(default_factory=list)  # file, module, vendor
    files_scanned: int = 0
    unresolved_imports: list[str] = field(default_factory=list)
    outside: list[Dist] = field(default_factory=list)


#: Import statements and ``import_module("x")`` calls, for a file ast cannot parse.
_IMPORT_LINE = re.compile(
    r"^[ \t]*(?:from[ \t]+([A-Za-z_][\w.]*)[ \t]+import\b|import[ \t]+([A-Za-z_][\w.]*))"
    r"|(?:import_module|__import__)\(\s*(?:name\s*=\s*)?['\"]([A-Za-z_][\w.]*)['\"]",
    re.M,
)


def imports_in_source(text: str) -> list[str]:
    """The modules a Python source imports (absolute imports only), without running it.

    A source that does not parse (Python 2, a syntax error) is searched line by line for
    import statements instead: a file that hides a vendor import must not pass unseen.
    """
    text = text.removeprefix("\ufeff")  # a UTF-8 byte-order mark: Python ignores it too
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return [next(g for g in m.groups() if g) for m in _IMPORT_LINE.finditer(text)]
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found += [f"{node.module}.{alias.name}" for alias in node.names]
            found.append(node.module)
        elif isinstance(node, ast.Call) and getattr(
            node.func, "attr", getattr(node.func, "id", "")
        ) in ("import_module", "__import__"):
            # import_module("x") or import_module(name="x"); a computed name cannot be seen.
            named = [k.value for k in node.keywords if k.arg == "name"]
            first = node.args[0] if node.args else (named[0] if named else None)
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.append(first.value)
    return found


def modules_in_pickle(data: bytes) -> list[str]:
    """Modules a pickle refers to (its GLOBAL and STACK_GLOBAL opcodes), read without loading."""
    found: list[str] = []
    strings: list[str] = []
    try:
        for opcode, arg, _ in pickletools.genops(data):
            if opcode.name == "GLOBAL" and isinstance(arg, str):
                found.append(arg.split(" ")[0])
            elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append(strings[-2])
            elif isinstance(arg, str):
                strings.append(arg)
    except Exception:  # a truncated or non-pickle file: what was read so far
        pass
    return found


_INCLUDE = re.compile(r"(?:-r|--requirement)(?:\s*=\s*|\s+|(?=[^\s-]))(\S+)")


def requirement_lines(path: Path, _seen: frozenset[Path] = frozenset()) -> list[str]:
    """The requirement lines of a pip requirements file, following its ``-r FILE`` includes
    (relative to the including file; each file read once); options and comments left out."""
    lines: list[str] = []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return lines
    seen = _seen | {path.resolve()}
    for line in text.splitlines():
        line = line.split(" #")[0].strip()
        include = _INCLUDE.fullmatch(line)
        if include:
            target = path.parent / include.group(1)
            if target.resolve() not in seen and len(seen) < 50:
                lines += requirement_lines(target, seen)
        elif line and not line.startswith(("#", "-")):
            lines.append(line)
    return lines


def root_of(line: str, because: str) -> Root | None:
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        req = Requirement(line)
    except InvalidRequirement:
        return None
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        return None
    return Root(req.name, because, tuple(sorted(req.extras)))


def mlflow_roots(folder: Path, scan: Scan, extra_sdks: list[str]) -> list[Root]:
    """The direct needs of the MLflow model in ``folder``; code files are scanned on ``scan``."""
    roots: list[Root] = []
    scan.sources.append(f"MLflow model {folder.name}")
    requirements = folder / "requirements.txt"
    if requirements.is_file():
        roots += [
            r
            for line in requirement_lines(requirements)
            if (r := root_of(line, "requirements.txt")) is not None
        ]
    elif (folder / "conda.yaml").is_file():
        try:
            conda = yaml.safe_load((folder / "conda.yaml").read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            conda = {}
        for item in conda.get("dependencies", []) if isinstance(conda, dict) else []:
            if isinstance(item, dict):
                for line in item.get("pip", []) or []:
                    if isinstance(line, str) and (r := root_of(line, "conda.yaml")):
                        roots.append(r)
    try:
        mlmodel = yaml.safe_load((folder / "MLmodel").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        mlmodel = {}
    flavors = mlmodel.get("flavors", {}) if isinstance(mlmodel, dict) else {}
    pyfunc = flavors.get("python_function", {}) if isinstance(flavors, dict) else {}
    loader = pyfunc.get("loader_module") if isinstance(pyfunc, dict) else None
    if isinstance(loader, str):
        roots += _module_roots([loader], "MLmodel loader_module", scan, "MLmodel", extra_sdks)
    # Bounded: a model folder is a few files; a huge tree (a venv copied in) is not read whole.
    for path in sorted(itertools.islice(folder.rglob("*"), _MAX_FILES)):
        if path.suffix == ".py" and path.is_file():
            roots += scan_code_file(path, folder, scan, extra_sdks)
        elif path.suffix == ".pkl" and path.is_file() and path.stat().st_size < 50_000_000:
            modules = modules_in_pickle(path.read_bytes())
            scan.files_scanned += 1
            roots += _module_roots(
                modules, f"pickled in {path.name}", scan, str(path.relative_to(folder)), extra_sdks
            )
    return roots


def scan_code_file(path: Path, base: Path, scan: Scan, extra_sdks: list[str]) -> list[Root]:
    """The needs of one serving code file: the distributions of the modules it imports."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    scan.files_scanned += 1
    try:
        shown = str(path.relative_to(base))
    except ValueError:
        shown = path.name
    return _module_roots(imports_in_source(text), f"imported by {shown}", scan, shown, extra_sdks)


def _module_roots(
    modules: list[str], because: str, scan: Scan, where: str, extra_sdks: list[str]
) -> list[Root]:
    roots: list[Root] = []
    owners = _owners()
    for module in modules:
        vendor = vendor_of_module(module, extra_sdks)
        # One entry per import: `from google.cloud import aiplatform` names both
        # google.cloud.aiplatform (listed first, kept) and google.cloud (a prefix, skipped).
        if vendor is not None and not any(
            f == where and (m == module or m.startswith(module + ".") or module.startswith(m + "."))
            for f, m, _ in scan.vendor_imports
        ):
            scan.vendor_imports.append((where, module, vendor))
        top = module.split(".")[0]
        names = owners.get(top, [])
        if not names and top not in _STDLIB and top not in scan.unresolved_imports:
            scan.unresolved_imports.append(top)
        roots += [Root(n, because) for n in names]
    return roots


def model_roots(
    model: Any, scan: Scan, model_format: str, extra_sdks: list[str] | None = None
) -> list[Root]:
    """The direct needs of a model in process: the distributions its classes come from.

    A class from a module no installed distribution owns (the team's own code, e.g. a
    wrapper beside the spec) is serving code: that module's source file is scanned for its
    imports too, read, never imported again.
    """
    scan.sources.append("the model's classes (in process)")
    modules: set[str] = set()
    _walk(model, modules, depth=0, seen=set())
    roots: list[Root] = []
    owners = _owners()
    for module in sorted(modules):
        top = module.split(".")[0]
        for name in owners.get(top, []):
            roots.append(Root(name, f"class from {module}"))
        if not owners.get(top) and top not in _STDLIB:
            source = getattr(sys.modules.get(module), "__file__", None)
            if isinstance(source, str) and source.endswith(".py") and Path(source).is_file():
                roots += scan_code_file(Path(source), Path(source).parent, scan, extra_sdks or [])
    loader = {"skops": "skops", "mlflow": "mlflow"}.get(model_format)
    if loader:
        roots.append(Root(loader, f"loads the {model_format} model"))
    return roots


def _walk(obj: Any, modules: set[str], depth: int, seen: set[int]) -> None:
    """The modules of ``obj``'s class and of the estimators inside it (Pipeline steps...)."""
    if depth > 8 or id(obj) in seen:
        return
    seen.add(id(obj))
    modules.add(type(obj).__module__)
    if isinstance(obj, (list, tuple)):
        for item in obj:
            _walk(item, modules, depth + 1, seen)
        return
    if isinstance(obj, dict):
        for item in obj.values():
            _walk(item, modules, depth + 1, seen)
        return
    get_params = getattr(obj, "get_params", None)
    if callable(get_params):
        try:
            params = get_params(deep=False)
        except Exception:
            params = {}
        for value in params.values():
            if hasattr(value, "fit") or isinstance(value, (list, tuple)):
                _walk(value, modules, depth + 1, seen)
    for attr in ("model", "estimator", "guard"):  # common wrappers (the guard, pyfuncs)
        inner = getattr(obj, attr, None) if not isinstance(obj, type) else None
        if inner is not None and hasattr(inner, "predict"):
            _walk(inner, modules, depth + 1, seen)


_OWNERS: dict[str, list[str]] | None = None
#: Files of a model folder looked at, at most.
_MAX_FILES = 5000
_STDLIB = frozenset(sys.stdlib_module_names) | {"__main__", "builtins"}


def _owners() -> dict[str, list[str]]:
    global _OWNERS
    if _OWNERS is None:
        _OWNERS = {k: sorted(set(v)) for k, v in _packages_distributions().items()}
    return _OWNERS


def resolve(roots: list[Root], scan: Scan, extra_sdks: list[str]) -> None:
    """Follow ``roots`` through the installed distributions' requirements onto ``scan``."""
    from packaging.requirements import InvalidRequirement, Requirement

    found: dict[str, Dist] = {}
    queue: deque[tuple[str, tuple[str, ...], bool, str]] = deque(
        (r.name, r.extras, True, r.because) for r in roots
    )
    while queue:
        name, extras, direct, because = queue.popleft()
        key = _norm(name)
        if key in found:
            if direct and not found[key].direct:
                found[key].direct, found[key].required_by = True, because
            continue
        try:
            dist = distribution(name)
            version = dist.version
            requires = dist.requires or []
        except PackageNotFoundError:
            version, requires = "not installed", []
        licence = licence_of(name) if version != "not installed" else "unknown (not installed)"
        found[key] = Dist(
            name=name if version == "not installed" else dist.metadata["Name"] or name,
            version=version,
            licence=licence,
            category="unknown" if version == "not installed" else classify_licence(licence),
            direct=direct,
            required_by=because,
            vendor=vendor_of_distribution(name, extra_sdks),
        )
        for line in requires:
            try:
                req = Requirement(line)
            except InvalidRequirement:
                continue
            if req.marker is not None and not any(
                req.marker.evaluate({"extra": e}) for e in ("", *extras)
            ):
                continue
            queue.append((req.name, tuple(sorted(req.extras)), False, found[key].name))
    scan.dists = sorted(found.values(), key=lambda d: (not d.direct, _norm(d.name)))
    outside: list[Dist] = []
    for dist in distributions():
        name = dist.metadata["Name"] or ""
        if not name or _norm(name) in found:
            continue
        licence = licence_of(name)
        category = classify_licence(licence)
        if category in ("source-available", "network copyleft", "proprietary"):
            outside.append(Dist(name, dist.version, licence, category, False, "installed"))
    scan.outside = sorted({_norm(d.name): d for d in outside}.values(), key=lambda d: d.name)
