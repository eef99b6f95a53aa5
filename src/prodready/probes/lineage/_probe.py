"""Q7 — Are data lineage and model provenance fully documented?

The probe records what the assessment rests on (the sha256 of the model artifact and of every
data file, the code version, the environment, the assessment's parameters and seed) and then
*verifies the links* between them, rather than listing them:

- **provenance recorded**: the model's provenance — a provenance file beside the artifact
  (``model.skops.provenance.json``, format in ``docs/provenance.md``) or, for an MLflow
  model, the datasets its training run logged as inputs — exists and is readable;
- **provenance names this model**: the provenance file records the assessed artifact's sha256
  (a provenance file copied from another model proves nothing);
- **training data**: the recorded training data is the data given (``lineage.training_data``,
  else where the provenance says it was): same sha256, same row count;
- **served model**: the model the endpoint serves is the assessed artifact (the model digest
  in its answers or in its decision log); in-process, the model is the loaded artifact;
- **reference data held out**: the reference data is not the training data (nor mostly its
  rows) unless the spec declares it (``lineage.reference_is_training: true``).

Each broken or missing link FAILs the question and is named in the summary. The record goes
out as an in-toto Statement (the model as subject, the materials as predicate:
:mod:`prodready.probes.lineage._statement`), which the run writes as ``provenance.intoto.json``
and signs with the rest of the run folder.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from prodready._exceptions import ProdreadyError
from prodready._settings import first_line
from prodready.probes._base import Probe, ProbeContext
from prodready.probes.lineage._record import (
    PROVENANCE_SUFFIX,
    CodeVersion,
    Provenance,
    Recorded,
    code_version,
    environment,
    mlflow_digest,
    mlflow_provenance,
    read_provenance,
)
from prodready.probes.lineage._settings import LineageSettings
from prodready.probes.lineage._statement import statement
from prodready.results import Check, Finding, Status, Table
from prodready.system import Artifact, System, file_kind, sha256_file

__all__ = ["LineageProbe"]

_DOCS = "docs/provenance.md"


@dataclass
class _Data:
    """A training data file given to (or found by) the probe, loaded, with its digest."""

    name: str
    location: str
    sha256: str = ""
    rows: int | None = None
    frame: pd.DataFrame | None = None
    problem: str = ""  # why it could not be read ("" when it was)


@dataclass
class _Links:
    """The links judged so far: one Check each, and the remediation of the broken ones."""

    checks: list[Check] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)

    def add(
        self, name: str, ok: bool | Status, threshold: str, message: str, fix: str = ""
    ) -> None:
        """One link: verified (True), broken (False) or a Status (WARN: not verifiable)."""
        status = ok if isinstance(ok, Status) else Status.PASS if ok else Status.FAIL
        measured = {Status.PASS: "verified", Status.FAIL: "broken"}.get(status, "unverified")
        self.checks.append(
            Check(name=name, status=status, measured=measured, threshold=threshold, message=message)
        )
        if status is not Status.PASS and fix and fix not in self.fixes:
            self.fixes.append(fix)


class LineageProbe(Probe):
    """Records digests, code and environment, and verifies the model's provenance links."""

    question = "Q7"
    settings_class = LineageSettings
    serves = True  # a served model is asked which model it serves

    def run(self, system: System, context: ProbeContext) -> Finding:
        settings: LineageSettings = self.settings(system)
        if self.declared_absent(system):
            return Finding(
                question=self.question,
                status=Status.FAIL,
                summary="The spec declares that the system keeps no lineage (lineage: none): "
                "nobody can tell which data and code produced the model.",
                remediation=_ADD_PROVENANCE,
                measurements={"declared_absent": True},
            )
        artifact = system.model_artifact
        fetched: frozenset[str] = frozenset()  # digests of the files of a fetched MLflow model
        if artifact is not None and not artifact.sha256 and artifact.format == "mlflow":
            context.report("fetching the MLflow model to take its digest", 0.02)
            digest, fetched = mlflow_digest(artifact.location, _tracking_uri(system))
            artifact = replace(artifact, sha256=digest)
        if artifact is None or not artifact.sha256:
            # Missing evidence, not a fault of the system: the model was handed over in
            # Python (or from a location with no digest), so prodready cannot know which
            # artifact it is, nor look for its provenance.
            what = (
                "The model was given as an object, not loaded from its artifact"
                if artifact is None
                else f"The model at {artifact.location[:120]} could not be fetched to take its "
                "digest"
            )
            return self.not_assessed(
                f"{what}: there is no digest to record and no provenance to look up.",
                "model.path",
                "the model's artifact file (or MLflow model), so that its digest is recorded "
                "and its provenance verified",
            )
        spec_folder = _spec_folder(system)
        context.report("recording the code version and the environment", 0.05)
        code = code_version(spec_folder, settings.git_timeout_s)
        env = environment()
        context.check_deadline()

        context.report("reading the model's provenance", 0.2)
        provenance, looked = _find_provenance(system, settings, artifact, spec_folder)
        links = _Links()
        given = [
            _load(Path(p) if Path(p).is_absolute() else spec_folder / p)
            for p in settings.training_files
        ]
        training: list[_Data] = []
        if provenance is None:
            # No provenance at all is an answer, not missing evidence: the question is whether
            # lineage is documented, and here it is not. NOT ASSESSED would let a team raise
            # its score by keeping no record (DESIGN.md, "What a status means").
            links.add(
                "provenance recorded",
                False,
                "a provenance record for the model artifact",
                f"provenance: none recorded for {_name(artifact)} (looked for {looked}).",
                _ADD_PROVENANCE,
            )
        else:
            _judge_record(provenance, artifact, links)
            context.check_deadline()
            context.report("comparing the training data", 0.4)
            training = _judge_training(provenance, given, links)
        context.check_deadline()
        context.report("asking the served system which model it serves", 0.6)
        served = _judge_served(system, artifact, settings, links, fetched)
        context.check_deadline()
        context.report("checking the reference data is held out", 0.85)
        overlap, repeats = _judge_reference(system, settings, training or given, links)

        status = Finding.worst(links.checks)
        data = {role: _artifact(a) for role, a in system.data_artifacts.items()} | {
            f"training:{d.name}": _given(d) for d in (training or given)
        }
        assessment = {
            "seed": system.policy.seed,
            "policy": asdict(system.policy),
            "lineage": {**asdict(settings), "training_data": settings.training_files},
            "spec": system.source,
        }
        record = {
            "model": _artifact(artifact),
            "data": data,
            "code_version": asdict(code),
            "environment": env,
            "assessment": assessment,
            "provenance": None if provenance is None else _provenance_dict(provenance),
        }
        links_status = {
            name: Finding.worst([c for c in links.checks if c.name == name]).value
            for name in dict.fromkeys(c.name for c in links.checks)
        }
        measurements: dict[str, Any] = {
            "model": _artifact(artifact),
            "data": data,
            "code_version": asdict(code),
            "python": env["python"],
            "packages_installed": len(env["packages"]),
            "assessment": assessment,
            "provenance_source": None if provenance is None else provenance.source,
            "links": links_status,
            "served_model_digests": served,
            "reference_overlap": overlap,
            "training_self_overlap": repeats,
            "provenance_statement": statement(record, links_status),
        }
        return Finding(
            question=self.question,
            status=status,
            summary=_summary(status, artifact, training or given, links, provenance, code),
            checks=links.checks,
            measurements=measurements,
            thresholds={
                "max_reference_overlap": settings.max_reference_overlap,
                "reference_is_training": settings.reference_is_training,
                "served_sample": settings.served_sample,
            },
            evidence=[_materials_table(artifact, system, training or given, code, env)],
            remediation=" ".join(links.fixes),
        )


# -- finding the provenance ------------------------------------------------------------------


def _find_provenance(
    system: System, settings: LineageSettings, artifact: Artifact, spec_folder: Path
) -> tuple[Provenance | None, str]:
    """The model's provenance, and where the probe looked (for the message when none)."""
    if settings.provenance is not None:
        path = Path(settings.provenance)
        path = path if path.is_absolute() else spec_folder / path
        if file_kind(path) != "file":
            return None, f"{path.name} named by lineage.provenance, which does not exist"
        return read_provenance(path), str(path)
    beside = Path(artifact.location + PROVENANCE_SUFFIX)
    if file_kind(beside) == "file":
        return read_provenance(beside), str(beside)
    looked = f"{beside.name} beside it"
    if artifact.format == "mlflow":
        found = mlflow_provenance(artifact.location, _tracking_uri(system))
        if found is not None:
            return found, "its MLflow training run"
        looked += " and an MLflow training run with dataset inputs"
    return None, looked


def _judge_record(provenance: Provenance, artifact: Artifact, links: _Links) -> None:
    ok = not provenance.problems
    links.add(
        "provenance recorded",
        ok,
        "a readable provenance record naming the training data",
        f"provenance: recorded in {provenance.source}."
        if ok
        else "provenance: " + "; ".join(provenance.problems) + ".",
        f"Repair {provenance.source} (format in {_DOCS}); write it with "
        "prodready.probes.lineage.write_provenance when the model is trained.",
    )
    if provenance.kind != "file" or provenance.artifact_sha256 is None:
        return  # an MLflow run's model is the run's own artifact: nothing else to compare
    same = provenance.artifact_sha256 == artifact.sha256
    links.add(
        "provenance names this model",
        same,
        "the provenance records the assessed artifact's sha256",
        f"model: {provenance.source} records the assessed artifact {_name(artifact)} "
        f"(sha256 {_d(artifact.sha256)})."
        if same
        else f"model: {provenance.source} records sha256 {_d(provenance.artifact_sha256)}, the "
        f"assessed artifact {_name(artifact)} has {_d(artifact.sha256)}: the provenance is of "
        "another model.",
        "Write the provenance when the model artifact is written, from the artifact itself; "
        "a model changed after training needs new provenance.",
    )


# -- training data -------------------------------------------------------------------------


def _judge_training(provenance: Provenance, given: list[_Data], links: _Links) -> list[_Data]:
    """Compare each recorded training set with the data given; returns the data compared."""
    if provenance.problems and not provenance.training:
        # The record could not be read (or records nothing): the broken "provenance recorded"
        # link says so; "not recorded" against every file given would only repeat it.
        return list(given)
    pairs: list[tuple[Recorded, _Data | None]] = []
    unused = list(given)
    for rec in provenance.training:
        match = next((g for g in unused if g.name == rec.name), None)
        if match is None and len(provenance.training) == 1 and len(unused) == 1:
            match = unused[0]  # one file recorded, one given: compare them whatever the names
        if match is not None:
            unused.remove(match)
        elif rec.path is not None:
            path = Path(rec.path)
            if not path.is_absolute() and provenance.base is not None:
                path = provenance.base / path
            match = _load(path) if file_kind(path) in ("file", "directory") else None
        pairs.append((rec, match))
    compared: list[_Data] = []
    for rec, data in pairs:
        if data is None:
            links.add(
                "training data",
                False,
                "the recorded training data is given and matches",
                f"training data: {provenance.source} records {rec.name} (sha256 "
                f"{_d(rec.digest)}), which is neither given in lineage.training_data nor "
                f"found at {rec.path or 'a recorded path'}.",
                "Keep the training data the model was trained on and name it under "
                "lineage.training_data in the spec.",
            )
            continue
        compared.append(data)
        if data.problem:
            links.add(
                "training data",
                False,
                "the recorded training data is given and matches",
                f"training data: {data.problem}.",
                "Name the training data file(s) under lineage.training_data in the spec.",
            )
            continue
        digest = data.sha256 if rec.kind == "sha256" else _mlflow_digest(data)
        rows_ok = rec.rows is None or rec.rows == data.rows
        ok = digest == rec.digest and rows_ok
        if ok:
            what = "sha256" if rec.kind == "sha256" else "MLflow dataset digest"
            message = (
                f"training data: {data.name} has the {what} that {provenance.source} records "
                f"({_d(rec.digest)})"
                + (f" and its {data.rows:,} rows." if rec.rows is not None else ".")
            )
        elif digest != rec.digest:
            what = "sha256" if rec.kind == "sha256" else "MLflow dataset digest"
            message = (
                f"training data: {provenance.source} records {what} {_d(rec.digest)} for "
                f"{rec.name}, the file given ({data.name}) has {_d(digest)}."
            )
        else:
            message = (
                f"training data: {provenance.source} records {rec.rows:,} rows for {rec.name}, "
                f"the file given ({data.name}) has {data.rows:,}."
            )
        links.add(
            "training data",
            ok,
            "the recorded training data is given and matches",
            message,
            "The data given is not the data the model was trained on: give the original "
            "training data, or retrain on this data and record its provenance.",
        )
    for data in unused:
        compared.append(data)
        links.add(
            "training data",
            False,
            "every file given as training data is recorded in the provenance",
            f"training data: {data.name} is given as training data but {provenance.source} "
            "does not record it.",
            "List under lineage.training_data only the files the provenance records.",
        )
    if not provenance.training and not given:
        links.add(
            "training data",
            False,
            "the recorded training data is given and matches",
            "training data: no training data is recorded, and none is given.",
            _ADD_PROVENANCE,
        )
    return compared


def _mlflow_digest(data: _Data) -> str:
    """MLflow's own digest of a data frame (what ``mlflow.data.from_pandas`` computes)."""
    try:
        from mlflow.data.digest_utils import compute_pandas_digest
    except ImportError:
        return "(mlflow is not installed to compute it)"
    assert data.frame is not None
    return str(compute_pandas_digest(data.frame))


# -- the served model ---------------------------------------------------------------------------


def _judge_served(
    system: System,
    artifact: Artifact,
    settings: LineageSettings,
    links: _Links,
    fetched: frozenset[str] = frozenset(),
) -> list[str]:
    """Check the model the system serves is the assessed artifact; the digests it reported.

    ``fetched``: the digests of the files of the assessed MLflow model fetched from a URI.
    """
    expected = _expected_digests(artifact) | fetched
    name = "served model"
    threshold = "the model the system serves has the assessed artifact's digest"
    fix = (
        "Serve the model behind prodready.guard (it names the model's sha256 in every decision "
        "log line) and serve exactly the assessed artifact."
    )
    if system.endpoint is None:
        logged = getattr(system.model, "model_sha256", None)  # a guard in-process
        if isinstance(logged, str) and logged and logged not in expected:
            links.add(
                name,
                False,
                threshold,
                f"served model: the guard in-process names sha256 {_d(logged)}, the assessed "
                f"artifact {_name(artifact)} has {_d(artifact.sha256)}.",
                fix,
            )
            return [logged]
        links.add(
            name,
            True,
            threshold,
            f"served model: called in-process, loaded by prodready from {_name(artifact)} "
            f"(sha256 {_d(artifact.sha256)}).",
        )
        return [artifact.sha256]
    from prodready.adapters import connect
    from prodready.guard import read_decisions

    frame = system.X("reference").head(settings.served_sample)
    with connect(system) as client:
        where = client.describe()
        reply = client.predict(frame)
    if not reply.answered:
        links.add(
            name,
            False,
            threshold,
            f"served model: {where} did not answer {len(frame)} ordinary reference rows "
            f"({reply.kind}{': ' + first_line(reply.error, 120) if reply.error else ''}), so "
            "which model it serves is unknown.",
            fix,
        )
        return []
    seen: dict[str, str] = {}  # digest -> where it was seen
    for digest in _reply_digests(reply):
        seen.setdefault(digest, "its answers")
    ids = [i for i in (reply.decision_ids or ()) if i]
    if system.decision_log is not None and ids:
        records = read_decisions(system.decision_log)
        for i in ids:
            logged = records.get(i, {}).get("model_sha256")
            if isinstance(logged, str) and logged:
                seen.setdefault(logged, "its decision log")
    if not seen:
        links.add(
            name,
            False,
            threshold,
            f"served model: {where} names no model digest in its answers"
            + (" and its decision log records none" if system.decision_log else "")
            + f", so nothing shows it serves {_name(artifact)} (sha256 {_d(artifact.sha256)})"
            + _served_folder(system, expected)
            + ".",
            fix,
        )
        return []
    other = {d: w for d, w in seen.items() if d not in expected}
    if other:
        digest, source = next(iter(other.items()))
        links.add(
            name,
            False,
            threshold,
            f"served model: the model digest in {source} is {_d(digest)}, the assessed "
            f"artifact {_name(artifact)} has {_d(artifact.sha256)}: the system serves another "
            "model.",
            "Serve the assessed artifact (or assess the artifact that is served).",
        )
    else:
        sources = " and ".join(sorted(set(seen.values())))
        links.add(
            name,
            True,
            threshold,
            f"served model: {where} serves {_name(artifact)} (sha256 {_d(artifact.sha256)}, "
            f"named in {sources}).",
        )
    return sorted(seen)


def _served_folder(system: System, expected: set[str]) -> str:
    """For a model prodready serves itself (``endpoint.serve``): does its folder hold the artifact?

    Only a clause for the message: what a folder holds on disk is not what a running server
    answers with, so it never makes the link pass.
    """
    folder = system.endpoint.serve if system.endpoint is not None else None
    if folder is None or file_kind(Path(folder)) != "directory":
        return ""
    files = [p for p in sorted(Path(folder).rglob("*")) if p.is_file()][:200]
    holds = any(sha256_file(p) in expected for p in files)
    return (
        f"; the served folder {Path(folder).name}/ holds it byte for byte"
        if holds
        else f"; the served folder {Path(folder).name}/ holds no file with that digest"
    )


def _expected_digests(artifact: Artifact) -> set[str]:
    """Digests that identify the assessed artifact: its own, or a file's inside its folder."""
    expected = {artifact.sha256}
    folder = Path(artifact.location)
    if file_kind(folder) == "directory":
        expected |= {sha256_file(p) for p in sorted(folder.rglob("*"))[:200] if p.is_file()}
    return expected


def _reply_digests(reply: Any) -> list[str]:
    """The model digest(s) a reply carries, if the endpoint reports one."""
    for attribute in ("model_digest", "model_sha256"):
        value = getattr(reply, attribute, None)
        if isinstance(value, str) and value:
            return [value]
        if isinstance(value, list | tuple):
            return [v for v in value if isinstance(v, str) and v]
    return []


# -- the reference data ---------------------------------------------------------------------------


def _judge_reference(
    system: System, settings: LineageSettings, training: list[_Data], links: _Links
) -> tuple[float | None, float | None]:
    """The reference data is held out (or declared the training data).

    Returns the share of reference rows that are training rows, and the share of one half of
    the training rows that repeat rows of the other half (how often held-out rows of this
    population repeat training rows anyway: high when the features take few values); None
    when there is no training data to compare with.
    """
    name = "reference data held out"
    reference = system.data_artifacts.get("reference")
    frames = [d.frame for d in training if d.frame is not None and not d.problem]
    if not frames:
        # Nothing to compare with: the broken training-data link already says so.
        return None, None
    same_file = reference is not None and any(
        reference.sha256 == d.sha256 for d in training if d.frame is not None and not d.problem
    )
    shared = [c for c in system.reference.columns if all(c in f.columns for f in frames)]
    ref_name = Path(reference.location).name if reference is not None else "the reference data"
    if not shared and not same_file and not settings.reference_is_training:
        links.add(
            name,
            Status.WARN,
            "the reference rows compared with the training rows",
            f"reference data: {ref_name} has no column in common with the training data, so "
            "whether it is held out cannot be told.",
            "Give the training data with the columns of the reference data.",
        )
        return None, None
    overlap, baseline = _overlap(system.reference[shared], frames, system.policy.seed)
    declared = settings.reference_is_training
    limit = settings.max_reference_overlap
    # Held-out rows repeat training rows about as often as one half of the training data
    # repeats the other: that much overlap is the population's, not a copy's.
    allowed = limit + baseline
    threshold = f"<= {limit:.0%} of the reference rows are training rows"
    if baseline > 0:
        threshold += f" beyond the {baseline:.1%} that held-out rows of this population repeat"
    repeats = (
        f"; {baseline:.1%} of one half of the training rows repeat rows of the other half"
        if baseline > 0
        else ""
    )
    if declared:
        links.add(
            name,
            True,
            "declared: lineage.reference_is_training",
            f"reference data: declared to be the training data (lineage.reference_is_training); "
            f"{overlap:.1%} of its rows are training rows.",
        )
    elif not same_file and overlap <= limit:
        links.add(
            name,
            True,
            threshold,
            f"reference data: {ref_name} is held out ({overlap:.1%} of its rows are training "
            "rows).",
        )
    elif not same_file and overlap <= allowed and allowed < 1:
        links.add(
            name,
            True,
            threshold,
            f"reference data: {ref_name} is held out ({overlap:.1%} of its rows are training "
            f"rows, as expected of held-out rows of this population{repeats}).",
        )
    elif not same_file and overlap <= allowed:
        links.add(
            name,
            Status.WARN,
            threshold,
            f"reference data: whether {ref_name} is held out cannot be told from its rows "
            f"({overlap:.1%} of them are training rows{repeats}: the features take too few "
            "values for a row to identify it).",
            "Keep the reference window apart from the training data by time or id and say so "
            "(lineage.reference_is_training: true if it is the training data).",
        )
    else:
        kind = (
            "folder" if reference and file_kind(Path(reference.location)) == "directory" else "file"
        )
        what = (
            f"is the training data {kind} itself"
            if same_file
            else f"repeats the training data ({overlap:.1%} of its rows are training rows{repeats})"
        )
        links.add(
            name,
            False,
            threshold,
            f"reference data: {ref_name} {what}; drift and performance measured against it "
            "are in-sample.",
            "Use held-out data as the reference window, or declare "
            "lineage.reference_is_training: true if that is intended.",
        )
    return overlap, baseline


def _overlap(
    reference: pd.DataFrame, training: list[pd.DataFrame], seed: int
) -> tuple[float, float]:
    """Share of the reference rows that are training rows (on the columns all share), and
    the share of one random half of the training rows found in the other half."""
    columns = [c for c in reference.columns if all(c in frame.columns for frame in training)]
    if not columns or len(reference) == 0:
        return 0.0, 0.0
    hashes = np.concatenate([_row_hashes(frame[columns]) for frame in training])
    overlap = float(np.isin(_row_hashes(reference[columns]), hashes).mean())
    if len(hashes) < 2:
        return overlap, 0.0
    order = np.random.default_rng((seed, 7)).permutation(len(hashes))
    half = len(hashes) // 2
    baseline = float(np.isin(hashes[order[half:]], hashes[order[:half]]).mean())
    return overlap, baseline


def _row_hashes(frame: pd.DataFrame) -> npt.NDArray[np.uint64]:
    """One hash per row, the same whichever file format the row went through.

    Numbers are compared at 6 significant digits: a CSV round trip may change a float's last
    bits (or write fewer digits), a Parquet file may hold float32, and an integer column may
    come back as floats.
    """
    columns: dict[str, Any] = {}
    for c in frame.columns:
        column = frame[c]
        numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
        columns[str(c)] = (
            _significant(column.to_numpy(dtype="float64", na_value=np.nan))
            if numeric
            else column.astype(str)
        )
    hashed = pd.util.hash_pandas_object(pd.DataFrame(columns), index=False)
    return np.asarray(hashed, dtype=np.uint64)


def _significant(values: npt.NDArray[np.float64], digits: int = 6) -> npt.NDArray[np.float64]:
    """``values`` rounded to ``digits`` significant digits (0, NaN and infinities as they are)."""
    out = values.copy()
    finite = np.isfinite(values) & (values != 0)
    with np.errstate(all="ignore"):
        scale = 10.0 ** (np.floor(np.log10(np.abs(values[finite]))) - (digits - 1))
        out[finite] = np.round(values[finite] / scale) * scale
    return out


# -- helpers --------------------------------------------------------------------------------


def _load(path: Path) -> _Data:
    """A training data file (or Parquet folder) loaded with its digest, or why it cannot be.

    A Parquet dataset of more rows than :data:`prodready.datasets.DEFAULT_SAMPLE_ROWS` is held
    as a sample for the row comparison; its digest and row count are the whole dataset's.
    """
    from prodready.datasets import load_data

    try:
        frame, art, handle = load_data(path, field_name="lineage.training_data")
    except ProdreadyError as exc:
        problem = (
            f"{path.name} does not exist"
            if file_kind(path) == "missing"
            else f"{path.name} cannot be read ({first_line(str(exc), 160)})"
        )
        return _Data(path.name, str(path), problem=problem)
    rows = len(frame) if handle is None else handle.num_rows
    return _Data(path.name, str(path), art.sha256, rows, frame)


def _tracking_uri(system: System) -> str | None:
    """The spec's registry URI (a relative sqlite path taken from the spec's folder), or None."""
    if system.registry is None:
        return None
    from prodready.adapters.registry import resolve_uri

    return resolve_uri(system.registry.uri, system.source)


def _spec_folder(system: System) -> Path:
    source = Path(system.source)
    return source.parent if source.suffix in (".yaml", ".yml") else Path.cwd()


def _name(artifact: Artifact) -> str:
    """The artifact's file or folder name; an MLflow URI (``models:/credit/3``) as it is."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:/", artifact.location):
        return artifact.location
    return Path(artifact.location).name or artifact.location


def _d(digest: str | None) -> str:
    """A digest shortened for a sentence (the full digest is in the measurements)."""
    return f"{digest[:12]}…" if digest else "none"


def _artifact(artifact: Artifact) -> dict[str, str]:
    return {"location": artifact.location, "sha256": artifact.sha256, "format": artifact.format}


def _given(data: _Data) -> dict[str, Any]:
    return {
        "location": data.location,
        "sha256": data.sha256,
        "rows": data.rows,
        "problem": data.problem or None,
    }


def _provenance_dict(provenance: Provenance) -> dict[str, Any]:
    record = asdict(provenance)
    record["base"] = None if provenance.base is None else str(provenance.base)
    return record


def _summary(
    status: Status,
    artifact: Artifact,
    training: list[_Data],
    links: _Links,
    provenance: Provenance | None,
    spec_code: CodeVersion,
) -> str:
    """PASS: what was verified, and what was not recorded (the training code's commit, the
    spec's code version); otherwise the links that are broken or cannot be verified."""
    if status is Status.PASS:
        data = ", ".join(f"{d.name} ({d.rows:,} rows)" for d in training)
        code = "no training code commit recorded"
        if provenance is not None and provenance.commit:
            state = " with uncommitted changes" if provenance.dirty else ""
            code = f"trained by code at git commit {provenance.commit[:12]}{state}"
        reference = next((c for c in links.checks if c.name == "reference data held out"), None)
        held = "the reference data is held out"
        if reference is not None and reference.threshold.startswith("declared"):
            held = "the reference data is the training data, as the spec declares"
        return (
            f"Lineage verified: {_name(artifact)} (sha256 {_d(artifact.sha256)}) was trained on "
            f"{data} as its provenance records ({code}); the served model is the assessed "
            f"artifact; {held}. Code version of the spec: {spec_code.describe()}."
        )
    broken = [c.message.rstrip(".") for c in links.checks if c.status is not Status.PASS]
    lead = "Lineage is not verified: " if status is Status.FAIL else "Lineage partly verified: "
    return lead + "; ".join(broken) + "."


def _materials_table(
    artifact: Artifact, system: System, training: list[_Data], code: Any, env: dict[str, Any]
) -> Table:
    rows: list[list[Any]] = [["model", _name(artifact), artifact.sha256, artifact.format]]
    for role, art in system.data_artifacts.items():
        rows.append([f"{role} data", Path(art.location).name, art.sha256, art.format])
    for data in training:
        rows.append(["training data", data.name, data.sha256 or data.problem, ""])
    rows.append(["code", code.folder, code.commit or code.note, "git" if code.commit else ""])
    rows.append(
        ["environment", f"Python {env['python']}", f"{len(env['packages'])} distributions", ""]
    )
    return Table(
        title="What the assessment rests on",
        columns=["what", "name", "sha256 / version", "format"],
        rows=rows,
        note="The full record (every installed distribution, the assessment's parameters) is "
        "the in-toto Statement provenance.intoto.json in the run folder.",
    )


_ADD_PROVENANCE = (
    "Record the model's provenance when it is trained: write <artifact>.provenance.json "
    "beside the model with prodready.probes.lineage.write_provenance (the training data's "
    f"sha256 and rows, the code commit; format in {_DOCS}), or log the training data as "
    "MLflow run inputs (mlflow.log_input(dataset, context='training')); then name the "
    "training data under lineage.training_data in the spec."
)
