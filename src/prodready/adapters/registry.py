"""The model registry interface: versions, aliases, tags and digests of a system's models.

A probe that rehearses the model's lifecycle (rollback, approvals, retraining) reaches the
registry through one interface, :class:`ModelRegistry`, as it reaches the served model through
:class:`~prodready.adapters.Client`. The real component is MLflow's model registry
(:class:`MLflowRegistry`), embedded by default (a sqlite file and a local artifact folder, no
server) and equally any MLflow tracking URI (``http://127.0.0.1:5000``...). Tests of code built
on the interface may use a fake.

What the names mean:

- a *version* (:class:`ModelVersion`) is one registered MLflow model folder, numbered by the
  registry ("1", "2"...); an *alias* ("champion") points to one version and moves;
  *tags* are the version's key/value strings (approvals, the digest, candidate marks);
- the *digest* of a version is what a served model reports as ``model_sha256``
  (:func:`model_digest`): for a :mod:`prodready.guard` pyfunc, the sha256 of its ``.skops``
  file; for any other MLflow model, the tree digest of the folder. It is computed at
  :meth:`~ModelRegistry.register`, kept as the tag ``prodready.digest``, and recomputed from
  the artifact bytes by :meth:`~ModelRegistry.verify_digest` (a tag can be edited);
- a *snapshot* (:meth:`~ModelRegistry.snapshot`) is everything needed to put the registry
  back exactly as it was (:meth:`~ModelRegistry.restore`): for a sqlite registry the bytes
  of the database file and of the artifact folder, so that the registry is byte for byte the
  same after a rehearsal; for a tracking server a canonical dump of models, versions, aliases
  and tags, whose differences are undone. :func:`registry_fingerprint` summarises either.

Every MLflow failure is a :class:`~prodready.RegistryError` in one line naming the model and
version. MLflow is the optional extra ``prodready[mlflow]``, imported only when used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar
from urllib.parse import unquote, urlparse

import yaml

from prodready._exceptions import MissingDependencyError, RegistryError, UsageError

if TYPE_CHECKING:
    from prodready.system import System

__all__ = [
    "DIGEST_TAG",
    "MLflowRegistry",
    "ModelRegistry",
    "ModelVersion",
    "NoRegistryError",
    "RegistryError",
    "RegistrySnapshot",
    "model_digest",
    "open_registry",
    "registry_fingerprint",
    "tree_digest",
]

#: The version tag holding the digest computed at registration.
DIGEST_TAG: Final = "prodready.digest"
#: The experiment that holds the runs whose artifacts are the registered model folders.
EXPERIMENT_NAME: Final = "prodready-registry"
#: The artifact folder of an embedded (sqlite) registry, beside its database file.
ARTIFACTS_DIR: Final = "artifacts"

_T = TypeVar("_T")
#: MLflow's bookkeeping file in a registered model's folder (not part of the model).
_MLFLOW_META: Final = "registered_model_meta"


class NoRegistryError(UsageError):
    """The system's spec has no ``registry:`` section (probes report NOT ASSESSED)."""


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model, as data.

    ``digest`` is the hex sha256 that a served copy of it reports (see :func:`model_digest`),
    read from the tag ``prodready.digest`` (computed from the artifacts when the tag is
    missing, or always with ``verify=True``); ``created`` is the registration time in epoch
    seconds; ``run_id`` the MLflow run that holds (or trained) it; ``source`` where its
    artifacts are; ``aliases`` the aliases that point to it, sorted.
    """

    name: str
    version: str
    digest: str
    created: float
    run_id: str | None
    source: str
    aliases: tuple[str, ...]
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RegistrySnapshot:
    """Everything :meth:`ModelRegistry.restore` needs to put a registry back as it was.

    ``kind`` is ``"files"`` (an embedded sqlite registry: ``files`` maps each path relative
    to ``root`` to its bytes, the database included, and ``dirs`` lists the folders) or
    ``"dump"`` (any other URI: ``dump`` is the canonical JSON of its models, versions,
    aliases and tags). ``fingerprint`` is the sha256 that :func:`registry_fingerprint` gives.
    """

    uri: str
    kind: Literal["files", "dump"]
    fingerprint: str
    root: Path | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    dirs: tuple[str, ...] = ()
    dump: str = ""


class ModelRegistry(ABC):
    """The seam between prodready and a model registry (see the module docstring).

    ``uri`` names the registry in reports. Methods raise :class:`~prodready.RegistryError`
    when the registry refuses or fails (an unknown model or version, a server that does not
    answer), in one line naming the model and version.
    """

    uri: str

    @abstractmethod
    def version(self, name: str, version: str, *, verify: bool = False) -> ModelVersion:
        """Version ``version`` of model ``name``; ``verify`` recomputes its digest."""

    @abstractmethod
    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, oldest first (empty when the model is not registered)."""

    @abstractmethod
    def alias(self, name: str, alias: str) -> str | None:
        """The version ``alias`` points to, or None when the alias is not set."""

    @abstractmethod
    def set_alias(self, name: str, alias: str, version: str) -> None:
        """Point ``alias`` at ``version`` (moving it if it pointed elsewhere)."""

    @abstractmethod
    def delete_alias(self, name: str, alias: str) -> None:
        """Remove ``alias`` (nothing happens when it is not set)."""

    @abstractmethod
    def set_tag(self, name: str, version: str, key: str, value: str) -> None:
        """Set the tag ``key`` of a version."""

    @abstractmethod
    def delete_tag(self, name: str, version: str, key: str) -> None:
        """Remove the tag ``key`` of a version (nothing happens when it is not set)."""

    @abstractmethod
    def register(
        self,
        name: str,
        model_dir: Path,
        *,
        tags: dict[str, str] | None = None,
        run_id: str | None = None,
    ) -> ModelVersion:
        """A new version of ``name`` from the MLflow model folder ``model_dir``.

        The folder is copied into the registry's artifact store (into run ``run_id`` when
        given, e.g. the training run, else into a new run); the model is created when it
        does not exist. The digest is computed here and kept as the tag ``prodready.digest``.
        """

    @abstractmethod
    def download(self, name: str, version: str, dest: Path) -> Path:
        """Copy the version's MLflow model folder into ``dest`` (created); return the folder."""

    @abstractmethod
    def delete_version(self, name: str, version: str) -> None:
        """Delete a version and its aliases."""

    @abstractmethod
    def snapshot(self) -> RegistrySnapshot:
        """Everything needed to restore the registry exactly (see :class:`RegistrySnapshot`)."""

    @abstractmethod
    def restore(self, snapshot: RegistrySnapshot) -> None:
        """Put the registry back as it was when ``snapshot`` was taken."""

    def verify_digest(self, name: str, version: str) -> str:
        """The version's digest computed from its artifact bytes (not from its tag)."""
        with tempfile.TemporaryDirectory(prefix="prodready-registry-") as scratch:
            return model_digest(self.download(name, version, Path(scratch) / "model"))

    def fingerprint(self) -> str:
        """A sha256 that changes with any change of the registry (:func:`registry_fingerprint`)."""
        return self.snapshot().fingerprint


def registry_fingerprint(registry: ModelRegistry) -> str:
    """The registry's fingerprint: equal before and after a rehearsal that left it untouched.

    For an embedded registry the sha256 over every file's path and bytes (database and
    artifacts); for a tracking server the sha256 of its canonical dump.
    """
    return registry.fingerprint()


# --- digests ------------------------------------------------------------------------------


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tree_digest(folder: Path) -> str:
    """The digest of a folder: sha256 over its files' sorted relative paths and contents.

    The text hashed is one line per file, in sorted order of the POSIX relative path:
    ``<relative path>\\0<hex sha256 of the file>\\n``. Empty folders do not count, nor
    does the top-level ``registered_model_meta`` file that MLflow adds to a registered
    model's folder when it is loaded (it names the registry entry, not the model).
    """
    lines = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if relative == _MLFLOW_META:
            continue
        lines.append(f"{relative}\0{_sha256_file(path)}\n")
    return hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


def model_digest(model_dir: Path) -> str:
    """The digest a served copy of the MLflow model in ``model_dir`` reports.

    A :mod:`prodready.guard` pyfunc (``python_function`` flavor with ``guard`` and ``model``
    artifacts) reports the sha256 of its ``.skops`` file, its decision log's ``model_sha256``;
    any other MLflow model is digested as a tree (:func:`tree_digest`).
    """
    mlmodel = model_dir / "MLmodel"
    try:
        spec = yaml.safe_load(mlmodel.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RegistryError(f"{model_dir} is not a readable MLflow model folder: {exc}") from None
    artifacts = ((spec or {}).get("flavors") or {}).get("python_function", {}).get("artifacts")
    if isinstance(artifacts, dict) and {"guard", "model"} <= artifacts.keys():
        model_file = model_dir / str(artifacts["model"].get("path", ""))
        if model_file.is_file():
            return _sha256_file(model_file)
    return tree_digest(model_dir)


# --- MLflow ---------------------------------------------------------------------------------


def _sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, else None."""
    if not uri.startswith("sqlite:"):
        return None
    parsed = urlparse(uri)
    path = unquote(parsed.path)
    if not path or path == "/" or path == "/:memory:":
        raise UsageError(f"registry URI {uri!r} names no database file (expected sqlite:///PATH)")
    # sqlite:///relative.db has the path "/relative.db"; sqlite:////abs.db has "//abs.db".
    return Path(path[1:]).resolve()


class MLflowRegistry(ModelRegistry):
    """MLflow's model registry at tracking URI ``uri`` (see the module docstring).

    ``sqlite:///PATH`` is an embedded registry: its artifacts go into ``artifact_root``
    (default: the folder ``artifacts`` beside the database), and its snapshot holds the
    bytes of the database and that folder. Any other URI (``http://HOST:PORT``) is a
    tracking server, which stores the artifacts where it is configured to.
    """

    def __init__(self, uri: str, *, artifact_root: Path | None = None) -> None:
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise MissingDependencyError(
                "mlflow", "mlflow", "a model registry (MLflow's)"
            ) from None
        self.uri = uri
        self.db_path = _sqlite_path(uri)
        if self.db_path is not None:
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
            self.artifact_root: Path | None = (
                artifact_root or self.db_path.parent / ARTIFACTS_DIR
            ).resolve()
        else:
            self.artifact_root = artifact_root
        self._client_class = MlflowClient
        self._client_instance: Any = None
        self._lock = threading.Lock()
        self._experiment_id: str | None = None

    def __repr__(self) -> str:
        return f"MLflowRegistry({self.uri!r})"

    @property
    def _client(self) -> Any:
        # Made on first use. A new sqlite registry starts as a copy of an empty one: MLflow
        # would otherwise run its ~100 schema migrations (5-12 s on a busy machine).
        if self._client_instance is None:
            if self.db_path is not None and not self.db_path.exists():
                _new_database(self.db_path)
            self._client_instance = self._client_class(tracking_uri=self.uri, registry_uri=self.uri)
        return self._client_instance

    def close(self) -> None:
        """Close this process's connections to an embedded registry's database.

        MLflow keeps one connection pool per database URI for the life of the process;
        call this before deleting or replacing the database file (a rebuilt example), so
        that the next use opens the new file instead of writing to the deleted one.
        """
        self._client_instance = None
        self._dispose_engines(forget=True)

    def _dispose_engines(self, *, forget: bool) -> None:
        """Close the pooled connections MLflow keeps in this process for this database."""
        if self.db_path is None:
            return
        for module in (
            "mlflow.store.tracking.sqlalchemy_store",
            "mlflow.store.model_registry.sqlalchemy_store",
        ):
            store = getattr(sys.modules.get(module), "SqlAlchemyStore", None)
            engines = getattr(store, "_engine_map", {})
            engine = engines.pop(self.uri, None) if forget else engines.get(self.uri)
            if engine is not None:
                engine.dispose()

    # Every MLflow call goes through here: its exception becomes one line naming the target.
    def _call(self, what: str, func: Callable[[], _T]) -> _T:
        from mlflow.exceptions import MlflowException

        try:
            return func()
        except MlflowException as exc:
            message = " ".join(str(exc.message).split())
            raise RegistryError(f"registry {self.uri}: {what}: {message}") from None
        except (OSError, ConnectionError) as exc:
            raise RegistryError(f"registry {self.uri}: {what}: {exc}") from None

    def _convert(
        self, mv: Any, *, verify: bool = False, aliases: tuple[str, ...] | None = None
    ) -> ModelVersion:
        tags = {str(k): str(v) for k, v in (mv.tags or {}).items()}
        digest = tags.get(DIGEST_TAG, "")
        if verify or not digest:
            digest = self.verify_digest(mv.name, str(mv.version))
        return ModelVersion(
            name=str(mv.name),
            version=str(mv.version),
            digest=digest,
            created=float(mv.creation_timestamp or 0) / 1000.0,
            run_id=mv.run_id or None,
            source=str(mv.source or ""),
            aliases=aliases
            if aliases is not None
            else tuple(sorted(str(a) for a in (mv.aliases or ()))),
            tags=tags,
        )

    def version(self, name: str, version: str, *, verify: bool = False) -> ModelVersion:
        mv = self._call(
            f"model {name!r} version {version}",
            lambda: self._client.get_model_version(name, str(version)),
        )
        return self._convert(mv, verify=verify)

    def versions(self, name: str) -> list[ModelVersion]:
        from mlflow.exceptions import MlflowException

        try:
            registered = self._client.get_registered_model(name)
        except MlflowException as exc:
            if _not_found(exc):
                return []
            raise RegistryError(
                f"registry {self.uri}: model {name!r}: {' '.join(str(exc.message).split())}"
            ) from None
        found = self._call(
            f"model {name!r}",
            lambda: self._client.search_model_versions(f"name = '{_quote_filter(name)}'"),
        )
        # A search does not fill in the aliases; the registered model has them all.
        pointing: dict[str, list[str]] = {}
        for alias, version in (registered.aliases or {}).items():
            pointing.setdefault(str(version), []).append(str(alias))
        converted = (
            self._convert(mv, aliases=tuple(sorted(pointing.get(str(mv.version), []))))
            for mv in found
        )
        return sorted(converted, key=lambda v: int(v.version))

    def alias(self, name: str, alias: str) -> str | None:
        from mlflow.exceptions import MlflowException

        try:
            registered = self._client.get_registered_model(name)
        except MlflowException as exc:
            raise RegistryError(
                f"registry {self.uri}: model {name!r} alias {alias!r}: "
                + " ".join(str(exc.message).split())
            ) from None
        target = (registered.aliases or {}).get(alias)
        return None if target is None else str(target)

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self._call(
            f"model {name!r} version {version}: setting alias {alias!r}",
            lambda: self._client.set_registered_model_alias(name, alias, str(version)),
        )

    def delete_alias(self, name: str, alias: str) -> None:
        if self.alias(name, alias) is None:
            return
        self._call(
            f"model {name!r}: deleting alias {alias!r}",
            lambda: self._client.delete_registered_model_alias(name, alias),
        )

    def set_tag(self, name: str, version: str, key: str, value: str) -> None:
        self._call(
            f"model {name!r} version {version}: setting tag {key!r}",
            lambda: self._client.set_model_version_tag(name, str(version), key, str(value)),
        )

    def delete_tag(self, name: str, version: str, key: str) -> None:
        if key not in self.version(name, version).tags:
            return
        self._call(
            f"model {name!r} version {version}: deleting tag {key!r}",
            lambda: self._client.delete_model_version_tag(name, str(version), key),
        )

    def _experiment(self) -> str:
        if self._experiment_id is not None:
            return self._experiment_id
        found = self._call(
            "finding the registry's experiment",
            lambda: self._client.get_experiment_by_name(EXPERIMENT_NAME),
        )
        if found is not None:
            self._experiment_id = str(found.experiment_id)
        else:
            location = None
            if self.artifact_root is not None:
                self.artifact_root.mkdir(parents=True, exist_ok=True)
                location = os.fspath(self.artifact_root)
            self._experiment_id = str(
                self._call(
                    "creating the registry's experiment",
                    lambda: self._client.create_experiment(
                        EXPERIMENT_NAME, artifact_location=location
                    ),
                )
            )
        return self._experiment_id

    def register(
        self,
        name: str,
        model_dir: Path,
        *,
        tags: dict[str, str] | None = None,
        run_id: str | None = None,
    ) -> ModelVersion:
        folder = Path(model_dir)
        if not (folder / "MLmodel").is_file():
            raise RegistryError(
                f"registering model {name!r}: {folder} is not an MLflow model folder "
                "(it has no MLmodel file)"
            )
        digest = model_digest(folder)
        with self._lock:
            what = f"registering model {name!r} from {folder}"
            if run_id is None:
                run = self._call(what, lambda: self._client.create_run(self._experiment()))
                run_id = str(run.info.run_id)
                created_run = True
            else:
                created_run = False
            # A fresh folder name in the run: a training run may hold several models.
            path = "model" if created_run else f"model-{uuid.uuid4().hex[:12]}"
            target_run = run_id
            self._call(
                what, lambda: self._client.log_artifacts(target_run, os.fspath(folder), path)
            )
            if created_run:
                self._call(what, lambda: self._client.set_terminated(target_run))
            artifact_uri = self._call(what, lambda: self._client.get_run(target_run)).info
            source = f"{str(artifact_uri.artifact_uri).rstrip('/')}/{path}"
            if not self._exists(name):
                self._call(what, lambda: self._client.create_registered_model(name))
            all_tags = {**(tags or {}), DIGEST_TAG: digest}
            mv = self._call(
                what,
                lambda: self._client.create_model_version(
                    name, source, run_id=target_run, tags=all_tags, await_creation_for=0
                ),
            )
            _write_meta(source, name, str(mv.version))
        return self._convert(mv)

    def _exists(self, name: str) -> bool:
        from mlflow.exceptions import MlflowException

        try:
            self._client.get_registered_model(name)
        except MlflowException as exc:
            if _not_found(exc):
                return False
            raise RegistryError(
                f"registry {self.uri}: model {name!r}: {' '.join(str(exc.message).split())}"
            ) from None
        return True

    def download(self, name: str, version: str, dest: Path) -> Path:
        from mlflow.artifacts import download_artifacts

        what = f"model {name!r} version {version}: downloading"
        uri = self._call(
            what, lambda: self._client.get_model_version_download_uri(name, str(version))
        )
        target = Path(dest)
        target.mkdir(parents=True, exist_ok=True)
        with _quiet_progress():
            local = self._call(
                what,
                lambda: download_artifacts(
                    artifact_uri=uri, dst_path=os.fspath(target), tracking_uri=self.uri
                ),
            )
        folder = Path(local)
        if not (folder / "MLmodel").is_file():
            raise RegistryError(f"registry {self.uri}: {what}: {uri} holds no MLmodel file")
        return folder

    def delete_version(self, name: str, version: str) -> None:
        self._call(
            f"model {name!r} version {version}: deleting",
            lambda: self._client.delete_model_version(name, str(version)),
        )

    # --- snapshot and restore ---------------------------------------------------------

    def snapshot(self) -> RegistrySnapshot:
        if self.db_path is not None:
            return self._file_snapshot()
        text = self._dump()
        return RegistrySnapshot(
            uri=self.uri,
            kind="dump",
            fingerprint=hashlib.sha256(text.encode("utf-8")).hexdigest(),
            dump=text,
        )

    def restore(self, snapshot: RegistrySnapshot) -> None:
        if snapshot.uri != self.uri:
            raise RegistryError(f"registry {self.uri}: cannot restore a snapshot of {snapshot.uri}")
        if snapshot.kind == "files":
            self._restore_files(snapshot)
        else:
            self._restore_dump(snapshot)

    def _roots(self) -> tuple[Path, list[Path]]:
        """The folder paths are relative to, and the files and folders the registry owns."""
        assert self.db_path is not None
        root = self.db_path.parent
        owned: list[Path] = [self.db_path]
        for suffix in ("-journal", "-wal", "-shm"):
            owned.append(self.db_path.with_name(self.db_path.name + suffix))
        if self.artifact_root is not None:
            owned.append(self.artifact_root)
        return root, owned

    def _relative(self, root: Path, path: Path) -> str:
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            return path.as_posix()  # an artifact root elsewhere: kept absolute

    def _path(self, root: Path, relative: str) -> Path:
        return Path(relative) if Path(relative).is_absolute() else root / relative

    def _file_snapshot(self) -> RegistrySnapshot:
        root, owned = self._roots()
        files: dict[str, bytes] = {}
        dirs: list[str] = []
        with _read_lock(self.db_path):
            for item in owned:
                if item.is_file():
                    files[self._relative(root, item)] = item.read_bytes()
                elif item.is_dir():
                    dirs.append(self._relative(root, item))
                    for path in sorted(item.rglob("*")):
                        if path.is_dir():
                            dirs.append(self._relative(root, path))
                        elif path.is_file():
                            files[self._relative(root, path)] = path.read_bytes()
        digest = hashlib.sha256()
        for relative in sorted(files):
            digest.update(relative.encode("utf-8") + b"\0")
            digest.update(hashlib.sha256(files[relative]).digest())
        for relative in sorted(dirs):
            digest.update(b"dir\0" + relative.encode("utf-8") + b"\n")
        return RegistrySnapshot(
            uri=self.uri,
            kind="files",
            fingerprint=digest.hexdigest(),
            root=root,
            files=files,
            dirs=tuple(sorted(dirs)),
        )

    def _restore_files(self, snapshot: RegistrySnapshot) -> None:
        root, owned = self._roots()
        assert self.db_path is not None
        db_key = self._relative(root, self.db_path)
        # Artifacts first (nothing reads a version whose row is not restored yet), then the
        # database in place: a server's open connections keep reading the same file.
        present: list[Path] = []
        for item in owned:
            if item == self.db_path:
                continue
            if item.is_file():
                present.append(item)
            elif item.is_dir():
                present.extend(sorted(item.rglob("*"), reverse=True))
                present.append(item)
        for path in present:  # deepest first, so folders are empty when checked
            relative = self._relative(root, path)
            if path.is_file() or path.is_symlink():
                if relative not in snapshot.files:
                    path.unlink()
            elif path.is_dir() and relative not in snapshot.dirs:
                with contextlib.suppress(OSError):
                    path.rmdir()
                if path.exists():
                    shutil.rmtree(path)
        for relative in snapshot.dirs:
            self._path(root, relative).mkdir(parents=True, exist_ok=True)
        for relative, data in snapshot.files.items():
            if relative == db_key:
                continue
            path = self._path(root, relative)
            if not path.is_file() or path.read_bytes() != data:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
        if db_key in snapshot.files:
            _write_db_in_place(self.db_path, snapshot.files[db_key])
            # The restored header has the old change counter: an idle pooled connection that
            # cached a later state with the same counter would take its pages for current.
            # Fresh connections have no cache. (A model server following an alias opens a
            # new connection for each look: see prodready.guard._pyfunc._AliasFollower.)
            self._dispose_engines(forget=False)
        elif self.db_path.exists():  # the registry had no database yet: it has none again
            self.close()
            self.db_path.unlink()

    def _dump(self) -> str:
        """The registry as canonical JSON: models, their aliases and tags, versions and tags."""
        models = self._call(
            "listing the registered models", lambda: list(self._client.search_registered_models())
        )
        dump = []
        for model in sorted(models, key=lambda m: str(m.name)):
            name = str(model.name)
            found = self._call(
                f"model {name!r}",
                lambda n=name: self._client.search_model_versions(f"name = '{_quote_filter(n)}'"),  # type: ignore[misc]
            )
            dump.append(
                {
                    "name": name,
                    "description": model.description or "",
                    "tags": dict(sorted((model.tags or {}).items())),
                    "aliases": dict(sorted((model.aliases or {}).items())),
                    "versions": [
                        {
                            "version": str(mv.version),
                            "source": str(mv.source or ""),
                            "run_id": mv.run_id or None,
                            "description": mv.description or "",
                            "tags": dict(sorted((mv.tags or {}).items())),
                        }
                        for mv in sorted(found, key=lambda m: int(m.version))
                    ],
                }
            )
        return json.dumps(dump, sort_keys=True, separators=(",", ":"))

    def _restore_dump(self, snapshot: RegistrySnapshot) -> None:
        wanted = {m["name"]: m for m in json.loads(snapshot.dump)}
        now = {m["name"]: m for m in json.loads(self._dump())}
        for name, model in now.items():
            if name not in wanted:
                self._call(
                    f"model {name!r}: deleting",
                    lambda n=name: self._client.delete_registered_model(n),  # type: ignore[misc]
                )
                continue
            target = wanted[name]
            have = {v["version"]: v for v in model["versions"]}
            keep = {v["version"]: v for v in target["versions"]}
            missing = sorted(set(keep) - set(have), key=int)
            if missing:
                raise RegistryError(
                    f"registry {self.uri}: model {name!r} versions {missing} were deleted and "
                    "cannot be restored with the same numbers"
                )
            for version in sorted(set(have) - set(keep), key=int):
                self.delete_version(name, version)
            for alias in model["aliases"]:
                if alias not in target["aliases"]:
                    self.delete_alias(name, alias)
            for alias, version in target["aliases"].items():
                if model["aliases"].get(alias) != version:
                    self.set_alias(name, alias, version)
            for version, entry in keep.items():
                current = have[version]["tags"]
                for key in current:
                    if key not in entry["tags"]:
                        self.delete_tag(name, version, key)
                for key, value in entry["tags"].items():
                    if current.get(key) != value:
                        self.set_tag(name, version, key, value)
        absent = sorted(set(wanted) - set(now))
        if absent:
            raise RegistryError(
                f"registry {self.uri}: models {absent} were deleted and cannot be restored"
            )
        after = self._dump()
        if after != snapshot.dump:
            raise RegistryError(
                f"registry {self.uri}: restored, but its content still differs from the snapshot"
            )


_EMPTY_DATABASE: dict[str, bytes] = {}


def _new_database(db_path: Path) -> None:
    """Create ``db_path`` as a copy of an empty MLflow database of the installed MLflow.

    The empty database is made once per MLflow version (by MLflow itself, in a scratch
    folder) and kept in this process and in ``$XDG_CACHE_HOME/prodready`` (default
    ``~/.cache/prodready``) for the next processes.
    """
    from importlib.metadata import version as package_version

    key = package_version("mlflow")
    data = _EMPTY_DATABASE.get(key)
    cache = (
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        / "prodready"
        / f"mlflow-{key}-empty.db"
    )
    if data is None:
        with contextlib.suppress(OSError):
            data = cache.read_bytes()
        if data is not None and not data.startswith(b"SQLite format 3\0"):
            data = None
    if data is None:
        from mlflow.tracking import MlflowClient

        with tempfile.TemporaryDirectory(prefix="prodready-mlflow-") as scratch:
            uri = f"sqlite:///{Path(scratch) / 'empty.db'}"
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
            client.search_experiments()  # creates the tracking tables
            client.search_registered_models()  # and checks the registry's
            scratch_registry = MLflowRegistry(uri)
            data = (Path(scratch) / "empty.db").read_bytes()
            scratch_registry.close()
        with contextlib.suppress(OSError):
            cache.parent.mkdir(parents=True, exist_ok=True)
            temporary = cache.with_name(f".{cache.name}.{uuid.uuid4().hex[:8]}.tmp")
            temporary.write_bytes(data)
            os.replace(temporary, cache)
    _EMPTY_DATABASE[key] = data
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with open(db_path, "xb") as handle:
        handle.write(data)


def _write_meta(source: str, name: str, version: str) -> None:
    """Write MLflow's ``registered_model_meta`` into a local version folder now.

    MLflow writes this file into the folder the first time ``models:/`` is loaded from a
    local artifact store (in place, not in a copy): a first ``mlflow models serve`` would
    otherwise change the registry's bytes. Written here by MLflow's own function, with the
    same content, so that later loads rewrite identical bytes.
    """
    from mlflow.store.artifact.models_artifact_repo import REGISTERED_MODEL_META_FILE_NAME
    from mlflow.utils.yaml_utils import write_yaml

    parsed = urlparse(source)
    if parsed.scheme not in ("", "file"):
        return  # a remote store: MLflow writes the file into the downloaded copy only
    folder = Path(unquote(parsed.path) if parsed.scheme == "file" else source)
    if (folder / "MLmodel").is_file():
        write_yaml(  # type: ignore[no-untyped-call]
            os.fspath(folder),
            REGISTERED_MODEL_META_FILE_NAME,
            # MLflow writes the version as a number (it parses it from the models:/ URI).
            {"model_name": name, "model_version": int(version) if version.isdigit() else version},
            overwrite=True,
            ensure_yaml_extension=False,
        )


def _not_found(exc: Any) -> bool:
    """True when MLflow says the model does not exist (not: it could not be asked)."""
    return str(getattr(exc, "error_code", "")) == "RESOURCE_DOES_NOT_EXIST"


def _quote_filter(name: str) -> str:
    return name.replace("'", "\\'")


@contextlib.contextmanager
def _read_lock(db_path: Path | None) -> Iterator[None]:
    """Hold a SHARED lock on the sqlite database: no writer can commit while it is read."""
    if db_path is None or not db_path.is_file():
        yield
        return
    connection = sqlite3.connect(os.fspath(db_path), timeout=20.0, isolation_level=None)
    try:
        connection.execute("BEGIN")
        connection.execute("SELECT count(*) FROM sqlite_master").fetchall()
        yield
    finally:
        with contextlib.suppress(sqlite3.Error):
            connection.execute("ROLLBACK")
        connection.close()


def _write_db_in_place(db_path: Path, data: bytes) -> None:
    """Overwrite the database file with ``data`` under an EXCLUSIVE lock, in place.

    In place (same inode), not by renaming a copy over it: a model server's open
    connections keep reading this file. The lock waits for readers to finish; sqlite
    readers notice the changed file by its change counter and drop their page cache.
    sqlite3's backup API is not used because it bumps the schema cookie in the header, so
    the bytes would differ from the snapshot's.
    """
    connection = sqlite3.connect(os.fspath(db_path), timeout=20.0, isolation_level=None)
    handle = None
    try:
        connection.execute("BEGIN EXCLUSIVE")
        handle = open(db_path, "r+b")  # noqa: SIM115 - closed after the lock is released
        handle.write(data)
        handle.truncate(len(data))
        handle.flush()
        os.fsync(handle.fileno())
    finally:
        with contextlib.suppress(sqlite3.Error):
            connection.execute("ROLLBACK")
        connection.close()
        if handle is not None:
            # Closing another descriptor of the file drops this process's POSIX locks, so it
            # is closed only once sqlite has released its own.
            handle.close()


@contextlib.contextmanager
def _quiet_progress() -> Iterator[None]:
    """No MLflow progress bars on the terminal while artifacts are downloaded."""
    previous = os.environ.get("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", None)
        else:
            os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = previous


def open_registry(system: System) -> ModelRegistry:
    """The registry the system's spec names (``registry: {uri, model_name}``).

    A ``sqlite:///`` path that is relative is taken from the spec file's folder, like every
    path in a spec. Raises :class:`NoRegistryError` when the spec has no ``registry:``
    (a probe reports NOT ASSESSED naming the field).
    """
    registry = getattr(system, "registry", None)
    if registry is None or isinstance(registry, str):
        raise NoRegistryError(
            f"{getattr(system, 'source', '<python>')}: the system has no registry "
            "(the spec's registry: {uri, model_name})"
        )
    return MLflowRegistry(resolve_uri(str(registry.uri), getattr(system, "source", "<python>")))


def resolve_uri(uri: str, source: str) -> str:
    """``uri`` with a relative ``sqlite:///`` path taken from the folder of the spec ``source``."""
    if not uri.startswith("sqlite:///") or uri.startswith("sqlite:////"):
        return uri
    relative = unquote(uri[len("sqlite:///") :])
    if Path(relative).is_absolute():
        return uri
    base = Path(source).parent if source.endswith((".yaml", ".yml")) else Path.cwd()
    return "sqlite:///" + (base / relative).resolve().as_posix()
