"""The :class:`VendorIndependenceProbe`: the portable export, the serving path's
dependencies, the judgement and the finding."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from prodready._exceptions import SpecError
from prodready.probes._base import Probe, ProbeContext
from prodready.probes._scoring import Method, Scoring, _upper_first, score_model
from prodready.probes.vendor_independence._deps import (
    NOT_OPEN,
    Root,
    Scan,
    mlflow_roots,
    model_roots,
    requirement_lines,
    resolve,
    root_of,
    scan_code_file,
)
from prodready.probes.vendor_independence._export import ONNX_HINT, Export, export_and_check
from prodready.probes.vendor_independence._settings import VendorIndependenceSettings
from prodready.results import Check, Evidence, Finding, Status, Table
from prodready.system import System, quote_path

_EXPORT_FIX = (
    "Make the model exportable to an open format: keep to estimators skl2onnx converts "
    "(or register a converter for a custom one), or at least ones skops can save, and check "
    "that the export answers like the original."
)
_VENDOR_FIX = (
    "Take the vendor SDK out of the serving path: serve the model with an open server "
    "(mlflow models serve, MLServer, KServe) and move calls to the vendor's services behind "
    "an interface of your own, outside the model's code."
)


class VendorIndependenceProbe(Probe):
    """Is the model portable, and does anything lock its serving to one vendor?"""

    question = "Q10"
    settings_class = VendorIndependenceSettings

    def preflight(self, system: System) -> None:
        """Validate the settings and that the paths they name exist."""
        _check_paths(system, self.settings(system))

    def run(self, system: System, context: ProbeContext) -> Finding:
        settings: VendorIndependenceSettings = self.settings(system)
        _check_paths(system, settings)
        if self.declared_absent(system):
            return Finding(
                question=self.question,
                status=Status.FAIL,
                summary="The spec declares the system has no vendor independence "
                "(vendor_independence: none): the model is tied to one vendor.",
                remediation=_VENDOR_FIX + " " + _EXPORT_FIX,
                thresholds=asdict(settings),
            )
        context.report("exporting the model to an open format", 0.0)
        frame = _sample(system, settings.sample_rows, context.seed)
        # The model on its own data first: rows it cannot score are the system failing (a
        # FAIL naming why), and the export is compared on the rows it does answer.
        method: Method = "predict_proba" if system.is_classifier else "predict"
        scoring = score_model(system.model, frame, method, context=context)
        scored = frame[scoring.scored]
        if len(scored):
            export = export_and_check(
                system.model, scored, system.is_classifier, settings.export, settings.timeout_s
            )
        else:
            export = Export(route="none", problem="the model answers none of its sampled rows")
        context.check_deadline()
        context.report("scanning the serving path's dependencies", 0.6)
        scan, not_assessed = _scan(system, settings)
        checks = [_export_check(export, settings, system.is_classifier)]
        if not scoring.ok:
            checks.insert(
                0,
                Check(
                    "model answers its data",
                    Status.FAIL,
                    scoring.n_failed,
                    "every sampled row scored",
                    _upper_first(scoring.describe("sampled")) + ".",
                ),
            )
        checks += _vendor_checks(scan, settings)
        checks.append(_licence_check(scan, settings))
        status = Finding.worst(checks)
        if status == Status.PASS and not_assessed:
            status = Status.WARN
        return Finding(
            question=self.question,
            status=status,
            summary=_summary(export, scan, checks, settings, scoring),
            checks=checks,
            measurements=_measurements(export, scan),
            thresholds=asdict(settings),
            evidence=_evidence(export, scan, settings),
            remediation=_remediation(checks, export),
            not_assessed=not_assessed,
        )


def _scan(system: System, settings: VendorIndependenceSettings) -> tuple[Scan, list[str]]:
    """What serves the model, scanned; and the parts that could not be seen."""
    scan = Scan()
    base = _base(system)
    roots: list[Root] = []
    folder: Path | None = None
    if system.endpoint is not None and system.endpoint.serve and not _registered(system):
        folder = Path(system.endpoint.serve)
    elif system.model_artifact is not None and system.model_artifact.format == "mlflow":
        candidate = Path(system.model_artifact.location)
        folder = candidate if (candidate / "MLmodel").is_file() else None
    if folder is not None:
        roots += mlflow_roots(folder, scan, settings.vendor_sdks)
    else:
        fmt = system.model_artifact.format if system.model_artifact else ""
        roots += model_roots(system.model, scan, fmt, settings.vendor_sdks)
    for item in settings.serving_code:
        path = base / item
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        scan.sources.append(f"serving code {item}")
        for file in files:
            roots += scan_code_file(file, base, scan, settings.vendor_sdks)
    if settings.requirements:
        scan.sources.append(f"requirements {settings.requirements}")
        for line in requirement_lines(base / settings.requirements):
            if (root := root_of(line, settings.requirements)) is not None:
                roots.append(root)
    resolve(roots, scan, settings.vendor_sdks)
    not_assessed: list[str] = []
    external = system.endpoint is not None and system.endpoint.url and not system.endpoint.serve
    if external and not settings.serving_code and not settings.requirements:
        not_assessed.append(
            "the code and environment of the server at endpoint.url: not visible from here "
            "(set vendor_independence.serving_code and vendor_independence.requirements to "
            "scan them)"
        )
    return scan, not_assessed


def _registered(system: System) -> bool:
    """True when the served model is a registry URI (models:/...), not a folder on disk."""
    return bool(system.endpoint and str(system.endpoint.serve).startswith("models:/"))


def _sample(system: System, rows: int, seed: int) -> pd.DataFrame:
    """Up to ``rows`` seeded rows of the reference data, and as many of the current window
    when there is one: the export must hold on what production sends too."""
    parts = []
    for which in ("reference", "current"):
        if which == "current" and system.current is None:
            continue
        frame = system.X(which)
        parts.append(frame.sample(rows, random_state=seed) if len(frame) > rows else frame)
    return (
        pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
    )


def _check_paths(system: System, settings: VendorIndependenceSettings) -> None:
    """A SpecError naming the setting when a serving-code path or requirements file is missing."""
    base = _base(system)
    for field_name, item in [("serving_code", i) for i in settings.serving_code] + (
        [("requirements", settings.requirements)] if settings.requirements else []
    ):
        if not (base / item).exists():
            raise SpecError(
                f"{quote_path(base / item)} does not exist",
                source=system.source,
                field=f"vendor_independence.{field_name}",
                expected="a path relative to the spec's folder",
            )


def _base(system: System) -> Path:
    """The folder the settings' paths are relative to: the spec's (else the working one)."""
    return Path(system.source).parent if system.source != "<python>" else Path.cwd()


def _export_check(export: Export, settings: VendorIndependenceSettings, proba: bool) -> Check:
    tol = f"max |original - export| <= {settings.tolerance:g} in a clean process"
    if export.route == "none" or export.max_diff is None:
        problem = export.problem or export.onnx_problem or "no open format could express it"
        if export.problem and export.onnx_problem and export.onnx_problem not in problem:
            # Both routes were tried: say why each failed, not only the fallback's error.
            first = "ONNX was not checked" if export.onnx_missing else "ONNX cannot express it"
            problem = f"{first} ({export.onnx_problem.rstrip('.')}), and {problem}"
        return Check(
            "portable export",
            Status.FAIL,
            None,
            tol,
            f"The model is not portable: {problem.rstrip('.')}.",
        )
    fmt = "ONNX" if export.route == "onnx" else "skops"
    where = export.runtime or fmt
    if export.max_diff > settings.tolerance:
        row = f" (row {export.worst_row} of the sample)" if export.worst_row is not None else ""
        return Check(
            "portable export",
            Status.FAIL,
            export.max_diff,
            tol,
            f"The {fmt} export does not reproduce the model: its predictions differ "
            f"by up to {export.max_diff:.3g}{row} in {where}, above the tolerance "
            f"{settings.tolerance:g}.",
        )
    if export.clean is False:
        return Check(
            "portable export",
            Status.WARN,
            export.max_diff,
            tol,
            f"The {fmt} export reproduces the model, but the check process loaded "
            f"{', '.join(export.forbidden_modules)}: not a clean runtime.",
        )
    same = (
        f"The {fmt} export reproduces the model's "
        f"{'probabilities' if proba else 'predictions'} within {export.max_diff:.2g} "
        f"on {export.rows} rows in a clean {where} process"
    )
    if export.route == "skops" and export.onnx_missing:
        return Check(
            "portable export",
            Status.WARN,
            export.max_diff,
            tol,
            f"{same}; the ONNX route was not checked: it needs {ONNX_HINT}.",
        )
    if export.route == "skops" and export.onnx_problem:
        return Check(
            "portable export",
            Status.PASS,
            export.max_diff,
            tol,
            f"{same} (ONNX cannot express it: {export.onnx_problem}).",
        )
    return Check("portable export", Status.PASS, export.max_diff, tol, same + ".")


def _vendor_checks(scan: Scan, settings: VendorIndependenceSettings) -> list[Check]:
    direct = [d for d in scan.dists if d.vendor and d.direct]
    imports = scan.vendor_imports
    transitive = [d for d in scan.dists if d.vendor and not d.direct]
    locks = [f"{m} ({v}) imported by {f}" for f, m, v in imports]
    locks += [f"{d.name} ({d.vendor}) required by {d.required_by}" for d in direct]
    threshold = "no cloud vendor's SDK declared or imported by the serving code"
    if locks:
        return [
            Check(
                "no vendor SDK",
                Status.FAIL,
                len(locks),
                threshold,
                "The serving path is locked to a vendor: " + "; ".join(locks[:6]) + ".",
            )
        ]
    checks = [
        Check(
            "no vendor SDK",
            Status.PASS,
            0,
            threshold,
            f"No cloud vendor's SDK in the serving path's {len(scan.dists)} "
            "distributions"
            + (
                f" or in its {scan.files_scanned} code file{'s' if scan.files_scanned > 1 else ''}"
                if scan.files_scanned
                else ""
            )
            + ".",
        )
    ]
    if transitive:
        status = {"note": Status.PASS, "warn": Status.WARN, "fail": Status.FAIL}[
            settings.transitive_sdks
        ]
        names = "; ".join(
            f"{d.name} ({d.vendor}, pulled in by {d.required_by})" for d in transitive[:6]
        )
        checks.append(
            Check(
                "vendor SDKs pulled in",
                status,
                len(transitive),
                f"transitive vendor SDKs count as: {settings.transitive_sdks}",
                f"Installed only as dependencies of other packages, never imported "
                f"by the model's code: {names}.",
            )
        )
    return checks


def _bad_licences(scan: Scan, settings: VendorIndependenceSettings) -> list[Any]:
    accepted = {a.lower() for a in settings.accepted_packages}
    allowed = {a.lower() for a in settings.allowed_licences}
    return [
        d
        for d in scan.dists
        if d.category != "open"
        and d.name.lower() not in accepted
        and d.licence.lower() not in allowed
    ]


def _licence_check(scan: Scan, settings: VendorIndependenceSettings) -> Check:
    bad = _bad_licences(scan, settings)
    threshold = "every licence in the serving path open (or accepted in the spec)"
    # Said, not judged: installed here (e.g. the alibi extra, BSL-1.1, for drift monitoring)
    # but required by nothing the served model needs, so not in the serving path.
    outside = (
        " Installed in this environment but outside the serving path (nothing the model "
        "needs requires it): "
        + ", ".join(f"{d.name} ({d.licence})" for d in scan.outside[:6])
        + "."
        if scan.outside
        else ""
    )
    if not bad:
        return Check(
            "open licences",
            Status.PASS,
            0,
            threshold,
            f"All {len(scan.dists)} distributions of the serving path have open licences."
            + outside,
        )
    named = "; ".join(
        f"{d.name} {d.version}: {d.licence} ({NOT_OPEN[d.category]})" for d in bad[:6]
    )
    more = f" and {len(bad) - 6} more" if len(bad) > 6 else ""
    return Check(
        "open licences",
        Status.WARN,
        len(bad),
        threshold,
        f"Licences that are not open in the serving path: {named}{more}." + outside,
    )


def _summary(
    export: Export,
    scan: Scan,
    checks: list[Check],
    settings: VendorIndependenceSettings,
    scoring: Scoring,
) -> str:
    parts: list[str] = []
    if not scoring.ok:
        parts.append(scoring.describe("sampled"))
    if export.route == "none" or export.max_diff is None:
        parts.append("the model is not portable")
    elif export.max_diff > settings.tolerance:
        parts.append(
            f"the {export.route.upper() if export.route == 'onnx' else 'skops'} export "
            f"differs from the model by up to {export.max_diff:.3g} (tolerance "
            f"{settings.tolerance:g})"
        )
    else:
        fmt = "ONNX" if export.route == "onnx" else "skops"
        parts.append(
            f"portable: the {fmt} export reproduces the model within "
            f"{export.max_diff:.2g} in a clean process"
        )
        if export.onnx_missing:
            parts.append(f"ONNX not checked ({ONNX_HINT})")
    vendor = next(c for c in checks if c.name == "no vendor SDK")
    if vendor.status == Status.FAIL:
        locks = [m for _, m, _ in scan.vendor_imports] + [
            d.name for d in scan.dists if d.vendor and d.direct
        ]
        parts.append("locked to a vendor by " + ", ".join(dict.fromkeys(locks)))
    else:
        parts.append(f"no vendor SDK in the serving path ({len(scan.dists)} distributions)")
    bad = _bad_licences(scan, settings)
    if bad:
        parts.append("not open: " + ", ".join(f"{d.name} ({d.licence})" for d in bad[:3]))
    return _upper_first("; ".join(parts) + ".")


def _measurements(export: Export, scan: Scan) -> dict[str, Any]:
    return {
        "export_format": export.route,
        "onnx_problem": export.onnx_problem,
        "max_abs_diff": export.max_diff,
        "rows_compared": export.rows,
        "runtime": export.runtime,
        "clean_process": export.clean,
        "export_bytes": export.size_bytes,
        "serving_path": scan.sources,
        "distributions": len(scan.dists),
        "vendor_imports": [
            {"file": f, "module": m, "vendor": v} for f, m, v in scan.vendor_imports
        ],
        "vendor_distributions": [
            {"name": d.name, "vendor": d.vendor, "direct": d.direct, "required_by": d.required_by}
            for d in scan.dists
            if d.vendor
        ],
        "licences_not_open": [
            {"name": d.name, "licence": d.licence, "category": d.category}
            for d in scan.dists
            if d.category != "open"
        ],
        "not_open_outside_serving_path": [
            {"name": d.name, "licence": d.licence} for d in scan.outside
        ],
        "code_files_scanned": scan.files_scanned,
    }


def _evidence(export: Export, scan: Scan, settings: VendorIndependenceSettings) -> list[Evidence]:
    rows: list[list[Any]] = [
        ["format", export.route],
        ["runtime of the check", export.runtime or "-"],
        ["rows compared", export.rows],
        ["max |original - export|", export.max_diff],
        ["tolerance", settings.tolerance],
        ["clean process", export.clean],
    ]
    if export.onnx_problem:
        rows.append(["why not ONNX", export.onnx_problem])
    evidence: list[Evidence] = [Table("Portable export", ["", "value"], rows)]
    vendor_rows = [[m, v, f"imported by {f}"] for f, m, v in scan.vendor_imports]
    vendor_rows += [
        [d.name, d.vendor, ("declared: " if d.direct else "pulled in by ") + d.required_by]
        for d in scan.dists
        if d.vendor
    ]
    if vendor_rows:
        evidence.append(
            Table(
                "Vendor SDKs in the serving path",
                ["package or module", "vendor", "how"],
                vendor_rows,
            )
        )
    ordered = sorted(scan.dists, key=lambda d: (d.category == "open", not d.direct, d.name.lower()))
    evidence.append(
        Table(
            "Licences of the serving path",
            ["distribution", "version", "licence", "kind", "needed as"],
            [
                [
                    d.name,
                    d.version,
                    d.licence,
                    d.category,
                    ("direct: " if d.direct else "via ") + d.required_by,
                ]
                for d in ordered[:200]
            ],
            note="Serving path: "
            + "; ".join(scan.sources)
            + "."
            + (
                " Installed but outside the serving path, not open: "
                + ", ".join(f"{d.name} ({d.licence})" for d in scan.outside)
                + "."
                if scan.outside
                else ""
            ),
        )
    )
    return evidence


def _remediation(checks: list[Check], export: Export) -> str:
    fixes: list[str] = []
    for check in checks:
        if check.status == Status.PASS:
            continue
        if check.name == "portable export":
            fixes.append(
                f"Install the ONNX route: {ONNX_HINT}."
                if export.onnx_missing and check.status == Status.WARN
                else _EXPORT_FIX
            )
        elif check.name in ("no vendor SDK", "vendor SDKs pulled in"):
            fixes.append(_VENDOR_FIX)
        elif check.name == "open licences":
            fixes.append(
                "Replace the packages whose licence is not open, or record the "
                "licence you hold under vendor_independence.accepted_packages."
            )
    return " ".join(dict.fromkeys(fixes))
