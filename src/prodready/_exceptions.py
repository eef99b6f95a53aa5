"""The one exception hierarchy of prodready.

Every error prodready raises on purpose is a :class:`ProdreadyError`; the CLI turns those into
one clear line and an exit code, and anything else into "internal error" (exit 3).

    ProdreadyError
    ├── UsageError              bad input from the user: exit code 2
    │   ├── SpecError           the spec file or its System is wrong (file, field, what, expected)
    │   ├── DataError           a data file cannot be read or does not fit the spec
    │   ├── ModelLoadError      the model artifact cannot be loaded
    │   ├── MissingDependencyError   an optional extra is needed: `pip install prodready[extra]`
    │   ├── NoRegistryError     the spec names no registry (prodready.adapters.registry)
    │   └── ApprovalError       an approval cannot be made or read (prodready.attest)
    ├── ServeError              a model server prodready starts did not come up (the system's
    │                           model cannot be served: its questions FAIL, the run goes on)
    ├── RegistryError           the model registry refused or failed (names model and version)
    ├── EnvelopeError           a DSSE envelope is malformed (prodready.attest); subclasses:
    │                           SignatureError (does not verify), UnknownKeyError (no trusted key)
    └── ReportError             running or rendering the assessment notebook failed: exit 3
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "DataError",
    "MissingDependencyError",
    "ModelLoadError",
    "ProdreadyError",
    "RegistryError",
    "ReportError",
    "ServeError",
    "SpecError",
    "UsageError",
]


class ProdreadyError(Exception):
    """Base of every error prodready raises on purpose."""


class UsageError(ProdreadyError):
    """The user's input is wrong; fixing the input fixes the run (CLI exit code 2)."""


class SpecError(UsageError):
    """A spec (file or Python arguments) is invalid.

    ``source`` is the spec file (or "<python>"), ``field`` the dotted path of the offending
    field, ``problem`` what is wrong and ``expected`` what would be right.
    """

    def __init__(
        self, problem: str, *, source: str = "<python>", field: str = "", expected: str = ""
    ) -> None:
        self.source = source
        self.field = field
        self.problem = problem
        self.expected = expected
        where = f"{source}: {field}: " if field else f"{source}: "
        tail = f" (expected {expected})" if expected else ""
        super().__init__(f"{where}{problem}{tail}")


class DataError(UsageError):
    """A data file cannot be read, or its content does not fit what the spec says."""


class ModelLoadError(UsageError):
    """The model artifact cannot be loaded."""


class MissingDependencyError(UsageError):
    """An optional dependency is needed for what was asked; the message has the install hint."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(
            f"{purpose} needs the optional package {package!r}: pip install 'prodready[{extra}]'"
        )


class ServeError(ProdreadyError):
    """A model server did not start: it exited, or its health route did not answer in time.

    The message ends with the most telling line of the server's log; ``log_path`` is the
    whole log.
    """

    def __init__(self, message: str, *, log_path: Path | None = None) -> None:
        self.log_path = log_path
        super().__init__(message)


class RegistryError(ProdreadyError):
    """The model registry refused or failed; the message names the model and version."""


class ReportError(ProdreadyError):
    """Executing or rendering the assessment notebook failed (CLI exit code 3)."""
