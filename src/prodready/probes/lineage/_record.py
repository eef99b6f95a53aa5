"""What the lineage probe records and reads: provenance files, MLflow runs, code, environment.

A *provenance file* is what a training job writes beside the model artifact it produced
(``model.skops`` -> ``model.skops.provenance.json``): the artifact's sha256, each training
data file's sha256 and row count, the code commit and the time. The format is documented in
``docs/provenance.md``; :func:`write_provenance` writes it. For an MLflow model the same facts
come from its training run: the datasets logged as run inputs (``mlflow.log_input``).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import distributions
from pathlib import Path
from typing import Any, Final, Literal

from prodready._settings import first_line
from prodready.system import file_kind, load_table, sha256_file

__all__ = [
    "PROVENANCE_FORMAT",
    "PROVENANCE_SUFFIX",
    "CodeVersion",
    "Provenance",
    "Recorded",
    "code_version",
    "environment",
    "mlflow_digest",
    "mlflow_provenance",
    "read_provenance",
    "write_provenance",
]

#: The ``format`` field of every provenance file this version writes and reads.
PROVENANCE_FORMAT: Final = "prodready.provenance/1"
#: A model artifact's provenance file is its path with this suffix added.
PROVENANCE_SUFFIX: Final = ".provenance.json"
#: The MLflow run-input tag that says what a dataset was used for (MLflow's own name).
_CONTEXT_TAG: Final = "mlflow.data.context"
#: The contexts of a run input that mean "the model was trained on it" (MLflow's examples use
#: "training"; "train" is common too). Inputs with another context ("eval", "test") are not.
_TRAINING_CONTEXTS: Final = ("training", "train")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
#: Largest provenance file read: a record of digests and parameters is a few kilobytes.
MAX_PROVENANCE_BYTES: Final = 4 << 20
#: Deepest nesting of the recorded training parameters kept (JSON deeper than this is hostile).
_MAX_DEPTH: Final = 32
#: Longest recorded text kept (trainer, commit, time): the rest is cut.
_MAX_TEXT: Final = 300


@dataclass(frozen=True)
class Recorded:
    """One training data set as the model's provenance records it.

    ``digest`` is a hex sha256 of the file's bytes (``kind`` "sha256") or, for an MLflow
    dataset logged without one, MLflow's own digest of the data frame (``kind`` "mlflow": 8
    hex characters over the first 10,000 rows, the row count and the column names).
    ``path`` is where the data was, as recorded (relative to the provenance file, absolute,
    or a URI); ``rows`` its row count when recorded.
    """

    name: str
    digest: str
    kind: Literal["sha256", "mlflow"] = "sha256"
    rows: int | None = None
    path: str | None = None


@dataclass(frozen=True)
class Provenance:
    """What the model's provenance records: where it was read and what it says.

    ``source`` says where in words ("model.skops.provenance.json", "MLflow run 3fa9…");
    ``artifact_sha256`` the digest of the model it describes (None when not recorded, as for
    an MLflow run, whose model is the run's own artifact); ``base`` the folder recorded paths
    are relative to; ``problems`` what is wrong with the record itself, one sentence each.
    """

    source: str
    kind: Literal["file", "mlflow"]
    artifact_sha256: str | None = None
    training: list[Recorded] = field(default_factory=list)
    commit: str | None = None
    dirty: bool | None = None
    created: str | None = None
    trainer: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    base: Path | None = None
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CodeVersion:
    """The git commit of a folder's repository, whether its tree is dirty, or why unknown.

    ``detached``: HEAD is a commit checked out directly, not a branch (as in most CI jobs).
    """

    folder: str
    commit: str | None = None
    dirty: bool | None = None
    note: str = ""
    detached: bool | None = None

    def describe(self) -> str:
        """In words: "git commit ab12cd34ef56 (clean)" or why there is none."""
        if self.commit is None:
            return self.note
        state = "with uncommitted changes" if self.dirty else "clean"
        if self.dirty is None:
            state = "whether it has uncommitted changes is unknown"
        if self.detached:
            state += ", detached HEAD"
        return f"git commit {self.commit[:12]} ({state})"


# -- writing ------------------------------------------------------------------------------


def write_provenance(
    artifact: str | os.PathLike[str],
    training_data: list[str | os.PathLike[str]],
    *,
    trainer: str = "",
    parameters: dict[str, Any] | None = None,
    code_folder: str | os.PathLike[str] | None = None,
) -> Path:
    """Write ``<artifact>.provenance.json`` beside a model artifact a training job produced.

    Records the artifact's sha256, each training file's sha256 and row count (paths relative
    to the artifact's folder when inside it; a folder of Parquet files gets the digest of
    :func:`prodready.datasets.dataset_digest` and its total rows), the git commit of
    ``code_folder`` (default: the artifact's folder) and whether its tree was dirty,
    ``trainer`` (what trained it, e.g. "mypackage.train:fit") and ``parameters`` (JSON
    values). Returns the file's path. The format is in ``docs/provenance.md``.
    """
    path = Path(artifact)
    folder = path.parent
    code = code_version(Path(code_folder) if code_folder is not None else folder)
    files = []
    for item in training_data:
        data = Path(item)
        if file_kind(data) == "directory":  # a Parquet dataset: digest and rows from footers
            from prodready.datasets import dataset_digest, open_parquet

            handle = open_parquet(data, field_name="training_data")
            digest, rows = dataset_digest(handle), handle.num_rows
        else:
            frame, art = load_table(data, field_name="training_data")
            digest, rows = art.sha256, len(frame)
        try:
            shown = data.resolve().relative_to(folder.resolve()).as_posix()
        except ValueError:
            shown = str(data.resolve())
        files.append({"path": shown, "sha256": digest, "rows": rows})
    record = {
        "format": PROVENANCE_FORMAT,
        "artifact": {"path": path.name, "sha256": sha256_file(path)},
        "training_data": files,
        "code": {"commit": code.commit, "dirty": code.dirty},
        "trainer": trainer,
        "parameters": parameters or {},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    target = folder / (path.name + PROVENANCE_SUFFIX)
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, target)
    return target


# -- reading a provenance file ------------------------------------------------------------------


def read_provenance(path: Path) -> Provenance:
    """Read a provenance file; a damaged one gives a Provenance whose ``problems`` say why."""
    shown = path.name
    try:
        size = path.stat().st_size
        if size > MAX_PROVENANCE_BYTES:
            problem = (
                f"{shown} is {size:,} bytes, more than the {MAX_PROVENANCE_BYTES:,} a provenance "
                "file may have"
            )
            return Provenance(shown, "file", base=path.parent, problems=[problem])
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        return Provenance(
            shown, "file", base=path.parent, problems=[f"{shown} cannot be read: {_short(exc)}"]
        )
    problems: list[str] = []
    if not isinstance(raw, dict):
        return Provenance(shown, "file", base=path.parent, problems=[f"{shown} is not an object"])
    if raw.get("format") != PROVENANCE_FORMAT:
        problems.append(
            f"{shown} has format {str(raw.get('format'))[:40]!r}, not {PROVENANCE_FORMAT!r}"
        )
    artifact = raw.get("artifact") if isinstance(raw.get("artifact"), dict) else {}
    sha = _hex(artifact.get("sha256") if isinstance(artifact, dict) else None)
    if sha is None:
        problems.append(f"{shown} records no sha256 of the model artifact")
        sha = None
    training: list[Recorded] = []
    entries = raw.get("training_data")
    if not isinstance(entries, list) or not entries:
        problems.append(f"{shown} records no training data")
        entries = []
    for i, entry in enumerate(entries, start=1):
        digest = _hex(entry.get("sha256") if isinstance(entry, dict) else None)
        where = entry.get("path") if isinstance(entry, dict) else None
        if digest is None or not isinstance(where, str) or not where.strip():
            problems.append(f"{shown}: training data entry {i} lacks a path or a sha256")
            continue
        rows = entry.get("rows")
        training.append(
            Recorded(
                name=Path(where).name,
                digest=digest,
                rows=rows if isinstance(rows, int) and not isinstance(rows, bool) else None,
                path=where,
            )
        )
    code = raw.get("code") if isinstance(raw.get("code"), dict) else {}
    assert isinstance(code, dict)
    commit = code.get("commit")
    dirty = code.get("dirty")
    parameters = raw.get("parameters")
    try:
        parameters = _plain(parameters) if isinstance(parameters, dict) else {}
    except ValueError:
        problems.append(f"{shown}: parameters are nested more than {_MAX_DEPTH} levels deep")
        parameters = {}
    return Provenance(
        source=shown,
        kind="file",
        artifact_sha256=sha,
        training=training,
        commit=_text(commit),
        dirty=dirty if isinstance(dirty, bool) else None,
        created=_text(raw.get("created")),
        trainer=_text(raw.get("trainer")),
        parameters=parameters,
        base=path.parent,
        problems=problems,
    )


def _hex(value: Any) -> str | None:
    """A hex sha256 as recorded (upper or lower case), in lower case; None if it is not one."""
    if not isinstance(value, str):
        return None
    value = value.strip().lower()
    return value if _SHA256.match(value) else None


def _text(value: Any) -> str | None:
    """A recorded text (a trainer, a commit, a time) cut to one short line; None if not text."""
    if not isinstance(value, str) or not value.strip():
        return None
    return first_line(value, _MAX_TEXT)


def _plain(value: Any, depth: int = 0) -> Any:
    """Parsed JSON with NaN and infinities as None (JSON cannot hold them); nested too deep:
    ValueError."""
    if depth > _MAX_DEPTH:
        raise ValueError("nested too deep")
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, depth + 1) for v in value]
    return value


# -- reading an MLflow training run -------------------------------------------------------------


def mlflow_provenance(location: str, tracking_uri: str | None) -> Provenance | None:
    """The training data recorded by the MLflow run that produced the model at ``location``.

    ``location`` is an MLflow model folder (its MLmodel names the run), ``runs:/<id>/...`` or
    ``models:/<name>/<version>`` / ``models:/<name>@<alias>`` (the registry names the run).
    None when no run can be found (a model saved outside any run); a Provenance with
    ``problems`` when the run cannot be read. Datasets logged with the context "training"
    (or "train") are the training data; when none is, the datasets logged without a context
    are. Datasets logged for another purpose ("eval", "test") never are.
    """
    run_id, note = _run_id(location, tracking_uri)
    if run_id is None:
        return None if not note else Provenance("MLflow", "mlflow", problems=[note])
    source = f"MLflow run {run_id}"
    try:
        from mlflow.tracking import MlflowClient

        run = MlflowClient(tracking_uri=tracking_uri).get_run(run_id)
    except Exception as exc:  # the tracking store is the system's: unreachable is a finding
        return Provenance(source, "mlflow", problems=[f"{source} cannot be read: {_short(exc)}"])
    inputs = list(getattr(run.inputs, "dataset_inputs", None) or [])
    contexts = [_context(d) for d in inputs]
    tagged = [d for d, c in zip(inputs, contexts, strict=True) if _is_training(c)]
    untagged = [d for d, c in zip(inputs, contexts, strict=True) if not c]
    training = [
        Recorded(
            name=d.dataset.name,
            digest=d.dataset.digest,
            kind="sha256" if _SHA256.match(d.dataset.digest or "") else "mlflow",
            rows=_rows(d.dataset.profile),
            path=_source_path(d.dataset.source),
        )
        for d in (tagged or untagged)
    ]
    others = sorted({c for c in contexts if c and not _is_training(c)})
    problem = f"{source} logged no dataset inputs"
    if inputs and not training:
        problem = (
            f"{source} logged no training dataset: its dataset inputs are for "
            + ", ".join(repr(first_line(c, 40)) for c in others)
            + " (log the training data with mlflow.log_input(dataset, context='training'))"
        )
    tags = run.data.tags
    return Provenance(
        source=source,
        kind="mlflow",
        training=training,
        commit=tags.get("mlflow.source.git.commit"),
        created=datetime.fromtimestamp(run.info.start_time / 1000, UTC).isoformat(
            timespec="seconds"
        )
        if run.info.start_time
        else None,
        trainer=tags.get("mlflow.source.name"),
        parameters=dict(run.data.params),
        problems=[] if training else [problem],
    )


def mlflow_digest(location: str, tracking_uri: str | None) -> tuple[str, frozenset[str]]:
    """The digest of the MLflow model at a URI (``runs:/``, ``models:/``): its files, fetched.

    The same digest a local MLflow model folder gets (relative paths and sha256 of its files),
    and the sha256 of each of its files (a served guard names its model file's); ("", empty)
    when the model cannot be fetched.
    """
    import tempfile

    from prodready._env import environ_set
    from prodready.system import _sha256_tree

    try:
        import mlflow.artifacts
    except ImportError:
        return "", frozenset()
    with tempfile.TemporaryDirectory(prefix="prodready-lineage-") as scratch:
        try:
            with environ_set("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false"):
                local = mlflow.artifacts.download_artifacts(
                    location, dst_path=scratch, tracking_uri=tracking_uri, registry_uri=tracking_uri
                )
        except Exception:  # the model cannot be fetched: no digest, said by the caller
            return "", frozenset()
        files = [p for p in sorted(Path(local).rglob("*")) if p.is_file()][:200]
        return _sha256_tree(Path(local)), frozenset(sha256_file(p) for p in files)


def _run_id(location: str, tracking_uri: str | None) -> tuple[str | None, str]:
    """The run that produced the model, or (None, why it cannot be read; "" if none)."""
    match = re.match(r"^runs:/([^/]+)/", location)
    if match:
        return match.group(1), ""
    match = re.match(r"^models:/(m-[0-9a-f]+)$", location)
    if match:  # an MLflow 3 logged model: it names the run that logged it
        try:
            from mlflow.tracking import MlflowClient

            logged = MlflowClient(tracking_uri=tracking_uri).get_logged_model(match.group(1))
        except Exception as exc:
            return None, f"MLflow cannot say which run logged {location}: {_short(exc)}"
        return (logged.source_run_id or None), ""
    match = re.match(r"^models:/([^/@]+)(?:/([^/]+)|@(.+))$", location)
    if match:
        name, number, alias = match.groups()
        try:
            if tracking_uri is not None:  # the spec's registry, through prodready's adapter
                from prodready.adapters.registry import MLflowRegistry

                registry = MLflowRegistry(tracking_uri)
                number = registry.alias(name, alias) if alias else number
                if number is None:
                    return None, f"the registry has no version of {name} with the alias {alias}"
                return registry.version(name, number).run_id, ""
            from mlflow.tracking import MlflowClient

            client = MlflowClient()
            version = (
                client.get_model_version_by_alias(name, alias)
                if alias
                else client.get_model_version(name, number)
            )
        except Exception as exc:
            return None, f"the registry cannot say which run produced {location}: {_short(exc)}"
        return (version.run_id or None), ""
    mlmodel = Path(location) / "MLmodel"
    if file_kind(mlmodel) != "file":
        return None, ""
    try:
        import yaml

        meta = yaml.safe_load(mlmodel.read_text(encoding="utf-8"))
    except Exception as exc:
        return None, f"{mlmodel} cannot be read: {_short(exc)}"
    run_id = meta.get("run_id") if isinstance(meta, dict) else None
    return (run_id if isinstance(run_id, str) and run_id else None), ""


def _is_training(context: str | None) -> bool:
    return context is not None and context.strip().lower() in _TRAINING_CONTEXTS


def _context(dataset_input: Any) -> str | None:
    for tag in getattr(dataset_input, "tags", None) or []:
        if tag.key == _CONTEXT_TAG:
            return str(tag.value)
    return None


def _rows(profile: Any) -> int | None:
    try:
        rows = json.loads(profile or "{}").get("num_rows")
    except (ValueError, AttributeError):
        return None
    return rows if isinstance(rows, int) else None


def _source_path(source: Any) -> str | None:
    """A local path from an MLflow dataset source (JSON such as ``{"uri": "/data/x.csv"}``)."""
    try:
        uri = json.loads(source or "{}").get("uri")
    except (ValueError, AttributeError):
        return None
    if not isinstance(uri, str):
        return None
    return uri.removeprefix("file://") if uri.startswith(("file://", "/")) else None


# -- the code version and the environment --------------------------------------------------------


def code_version(folder: Path, timeout_s: float = 5.0) -> CodeVersion:
    """The git commit of the repository holding ``folder``, and whether its tree is dirty.

    git runs as a subprocess with a time limit; no git, no repository or a time-out says so.
    """
    shown = str(folder)
    git = shutil.which("git")
    if git is None:
        return CodeVersion(shown, note="git is not installed: the code version is unknown")
    if not folder.is_dir():
        return CodeVersion(shown, note=f"{shown} is not a folder: the code version is unknown")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [git, "-C", str(folder), *args],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"},
        )

    try:
        head = run("rev-parse", "--verify", "HEAD")
        if head.returncode != 0:
            inside = run("rev-parse", "--is-inside-work-tree")
            note = (
                "the git repository has no commit yet"
                if inside.returncode == 0
                else "the spec's folder is not in a git repository: the code version is unknown"
            )
            return CodeVersion(shown, note=note)
        status = run("status", "--porcelain", "--untracked-files=no")
        branch = run("symbolic-ref", "-q", "HEAD")
    except subprocess.TimeoutExpired:
        return CodeVersion(shown, note=f"git did not answer within {timeout_s:g} s")
    except OSError as exc:
        return CodeVersion(shown, note=f"git cannot run: {_short(exc)}")
    dirty = bool(status.stdout.strip()) if status.returncode == 0 else None
    detached = branch.returncode == 1  # 1: HEAD is not a branch; other codes: unknown
    return CodeVersion(shown, commit=head.stdout.strip(), dirty=dirty, detached=detached or None)


def environment() -> dict[str, Any]:
    """The assessing environment: Python's version and every installed distribution's."""
    packages: dict[str, str] = {}
    for dist in distributions():
        name = dist.metadata["Name"] if dist.metadata else None
        if name:
            packages.setdefault(str(name), str(dist.version))
    return {
        "python": sys.version.split()[0],
        "implementation": sys.implementation.name,
        "executable": sys.executable,
        "packages": dict(sorted(packages.items(), key=lambda kv: kv[0].lower())),
    }


def _short(exc: BaseException) -> str:
    text = first_line(str(exc), 160)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
