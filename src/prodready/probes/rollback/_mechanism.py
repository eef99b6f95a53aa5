"""How a system deploys and rolls back: the two mechanisms the rehearsal drives.

A :class:`Mechanism` is what the rehearsal needs from the system, whatever serves it:

- :meth:`~Mechanism.original`: the version production serves now, as the system names it;
- :meth:`~Mechanism.candidate`: the version to deploy for the rehearsal (made if needed);
- :meth:`~Mechanism.deploy` and :meth:`~Mechanism.rollback`: the system's own procedures;
- :meth:`~Mechanism.served_version`: what serves right now, when the endpoint's replies do
  not say (None: ask the endpoint);
- :meth:`~Mechanism.snapshot` and :meth:`~Mechanism.restore`: put everything back exactly
  as it was, whatever happened (called in a ``finally``).

:class:`RegistryAlias` moves an alias of a model registry (``adapters.registry``; the served
model follows the alias); :class:`Hooks` calls the spec's ``module:function`` hooks.
"""

from __future__ import annotations

import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prodready._settings import first_line, quote
from prodready.probes._bounded import HookTimeout, call_bounded
from prodready.probes.rollback._settings import RollbackSettings
from prodready.system import System

__all__ = ["Hooks", "Mechanism", "MechanismError", "RegistryAlias"]


class MechanismError(Exception):
    """The system's deploy or rollback procedure failed (the system's fault, not ours).

    Raised by a mechanism when a hook raises or returns nonsense, or the registry refuses a
    change: the rehearsal records it and the question FAILs with this message.
    """


class Mechanism(ABC):
    """What the rehearsal drives: see the module docstring."""

    #: The spec's name of the mechanism ("registry_alias", "hooks").
    name: str

    @abstractmethod
    def describe(self) -> str:
        """In words, for the finding: "alias champion of credit-risk in sqlite:///...".."""

    @abstractmethod
    def original(self) -> str | None:
        """The version production serves before the rehearsal (None: the endpoint will say)."""

    @abstractmethod
    def candidate(self, original: str | None) -> str | None:
        """The version to deploy: the spec's, or a deliberately different copy made now."""

    @abstractmethod
    def deploy(self, candidate: str | None) -> str | None:
        """Put ``candidate`` in production; returns its version as the endpoint will name it."""

    @abstractmethod
    def rollback(self) -> None:
        """The system's own rollback: put the original back in production."""

    def served_version(self) -> str | None:
        """What serves right now, when the system can say without the endpoint (else None)."""
        return None

    def snapshot(self) -> None:  # noqa: B027 (a hook mechanism has nothing to snapshot)
        """Record the state :meth:`restore` puts back (called first, before any change)."""

    @abstractmethod
    def restore(self, original: str | None, serving_original: bool | None) -> bool:
        """Put the system back exactly as :meth:`snapshot` found it (in a ``finally``).

        ``original`` is the version served before, as the mechanism named it;
        ``serving_original`` whether the endpoint serves it now (None: unknown). Returns
        True when something was done.
        """

    def close(self) -> None:  # noqa: B027 (optional: most mechanisms hold nothing)
        """Release what the mechanism holds (temporary folders, connections)."""


class RegistryAlias(Mechanism):
    """Deploy and roll back by moving an alias of the spec's model registry.

    ``registry`` is a :class:`prodready.adapters.registry.ModelRegistry`; ``model_name`` the
    registered model; the endpoint serves whatever version ``settings.alias`` points at
    (for the bundled production example, a pyfunc that follows ``models:/NAME@champion``).
    Deploying sets the alias to the candidate, the rollback sets it back to the version it
    had. The candidate, when the spec names none, is the served version's own model wrapped
    so that its answers are nudged (:mod:`._candidate`), registered as a new version: the
    endpoint's answers then tell it from the original. :meth:`restore` puts the registry
    back from the snapshot taken first (the candidate version and its artifacts go away).
    """

    name = "registry_alias"

    def __init__(self, registry: Any, model_name: str, settings: RollbackSettings) -> None:
        self.registry = registry
        self.model_name = model_name
        self.settings = settings
        self._snapshot: Any = None
        self._original: str | None = None
        self._folder: Path | None = None

    def describe(self) -> str:
        where = getattr(self.registry, "uri", None) or type(self.registry).__name__
        return f"the alias {self.settings.alias!r} of the model {self.model_name!r} in {where}"

    def snapshot(self) -> None:
        self._snapshot = self.registry.snapshot()

    def original(self) -> str:
        try:
            version = self.registry.alias(self.model_name, self.settings.alias)
        except Exception as exc:
            raise MechanismError(
                f"the registry could not say which version the alias {self.settings.alias!r} "
                f"of {self.model_name!r} points to: {first_line(str(exc))}"
            ) from exc
        if version is None:
            raise MechanismError(
                f"the registry has no alias {self.settings.alias!r} for the model "
                f"{self.model_name!r}: nothing is in production to roll back to"
            )
        self._original = str(version)
        return self._original

    def candidate(self, original: str | None) -> str:
        if self.settings.candidate is not None:
            try:
                found = self.registry.version(self.model_name, self.settings.candidate)
            except Exception as exc:
                raise MechanismError(
                    f"the spec's rollback.candidate is version {quote(self.settings.candidate)}, "
                    f"which the registry does not have for {self.model_name!r}: "
                    f"{first_line(str(exc))}"
                ) from exc
            if str(found.version) == original:
                raise MechanismError(
                    f"the spec's rollback.candidate is version {original}, the version in "
                    "production: a rehearsal needs another version to deploy"
                )
            return str(found.version)
        return self._make_candidate(original)

    def _make_candidate(self, original: str | None) -> str:
        """Register a nudged copy of the served version; returns its version."""
        from prodready.probes.rollback._candidate import save_candidate

        assert original is not None
        self._folder = Path(tempfile.mkdtemp(prefix="prodready-rollback-"))
        source = Path(self.registry.download(self.model_name, original, self._folder / "orig"))
        target = self._folder / "candidate"
        save_candidate(source, target, self.settings.perturbation)
        registered = self.registry.register(
            self.model_name,
            target,
            tags={"prodready.rehearsal": "rollback candidate (removed after the rehearsal)"},
        )
        return str(registered.version)

    def deploy(self, candidate: str | None) -> str | None:
        assert candidate is not None
        self._move_alias(candidate, "deploying the candidate")
        return candidate

    def rollback(self) -> None:
        assert self._original is not None
        self._move_alias(self._original, "rolling back")

    def _move_alias(self, version: str, doing: str) -> None:
        """Point the production alias at ``version``; a registry that refuses fails the system."""
        from prodready._exceptions import RegistryError

        try:
            self.registry.set_alias(self.model_name, self.settings.alias, version)
        except RegistryError as exc:
            raise MechanismError(
                f"the registry refused to move the alias {self.settings.alias!r} of "
                f"{self.model_name!r} to version {version} while {doing}: {first_line(str(exc))}"
            ) from exc

    def restore(self, original: str | None, serving_original: bool | None) -> bool:
        # Always: the registry must be byte for byte as it was, whatever is served.
        if self._snapshot is None:
            return False
        self.registry.restore(self._snapshot)
        return True

    def close(self) -> None:
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
        close = getattr(self.registry, "close", None)
        if callable(close):
            close()


class Hooks(Mechanism):
    """Deploy and roll back through the spec's hooks (any serving stack, no registry needed).

    The hooks, ``module:function`` in the spec's ``hooks:`` (see ``docs/rollback.md``):

    - ``deploy(candidate: str | None) -> str``: put ``candidate`` (``rollback.candidate``,
      or None: a candidate of the hook's own choosing) in production the way a release
      does; return its version as the endpoint or ``served_version`` will name it.
    - ``rollback() -> None``: the team's rollback procedure, exactly as an on-call engineer
      would trigger it.
    - ``served_version() -> str`` (optional when the endpoint's replies carry the version):
      the version production serves right now.
    - ``restore(version: str) -> None`` (optional): put exactly ``version`` back in
      production; called after the rehearsal if the original is not served by then (a
      rollback that failed, an interruption). Without it, prodready calls ``rollback()``.
    """

    name = "hooks"

    def __init__(self, system: System, settings: RollbackSettings) -> None:
        self.settings = settings
        self._deploy = system.hook("deploy")
        self._rollback = system.hook("rollback")
        self._served = system.hook("served_version") if "served_version" in system.hooks else None
        self._restore = system.hook("restore") if "restore" in system.hooks else None
        self._spec = {name: system.hooks[name] for name in sorted(system.hooks)}

    def describe(self) -> str:
        names = ("deploy", "rollback", "served_version", "restore")
        return "the hooks " + ", ".join(f"{n}={self._spec[n]}" for n in names if n in self._spec)

    def original(self) -> str | None:
        return self.served_version()

    def candidate(self, original: str | None) -> str | None:
        return self.settings.candidate

    def deploy(self, candidate: str | None) -> str | None:
        result = _call(self._deploy, "hooks.deploy", candidate, within=self._switch)
        return None if result is None else str(result)

    def rollback(self) -> None:
        # Past max_restore_s the rollback has failed its purpose, whatever it does later.
        _call(
            self._rollback,
            "hooks.rollback",
            within=(self.settings.max_restore_s, "rollback.max_restore_s"),
        )

    def served_version(self) -> str | None:
        if self._served is None:
            return None
        result = _call(self._served, "hooks.served_version", within=self._switch)
        return None if result is None else str(result)

    def restore(self, original: str | None, serving_original: bool | None) -> bool:
        # Production is touched only when it does not serve the original (or nobody knows).
        if serving_original:
            return False
        if self._restore is not None and original is not None:
            _call(self._restore, "hooks.restore", original, within=self._switch)
        else:
            _call(self._rollback, "hooks.rollback", within=self._switch)
        return True

    @property
    def _switch(self) -> tuple[float, str]:
        return self.settings.switch_timeout_s, "rollback.switch_timeout_s"


def _call(func: Callable[..., Any], field: str, *args: Any, within: tuple[float, str]) -> Any:
    """Call a hook, waiting at most ``within`` (seconds, the setting that says so).

    Its exception, or a hook that does not return in time (it hangs: the system's
    procedure failed), becomes a :class:`MechanismError` naming the hook.
    """
    seconds, setting = within
    try:
        return call_bounded(func, *args, seconds=seconds, name=f"prodready-{field}")
    except HookTimeout:
        raise MechanismError(
            f"the hook {field} did not return within {seconds:g} s ({setting}); it may still "
            "be running"
        ) from None
    except (Exception, SystemExit) as exc:  # sys.exit() in a hook: its procedure failed
        raise MechanismError(
            f"the hook {field} raised {type(exc).__name__}: {first_line(str(exc))}"
        ) from exc
