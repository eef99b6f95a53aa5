"""The one exception hierarchy of prodready.

Every error prodready raises on purpose is a :class:`ProdreadyError`; the CLI turns those into
one clear line and an exit code, and anything else into "internal error" (exit 3).

    ProdreadyError
    ├── UsageError              bad input from the user: exit code 2
    │   ├── SpecError           the spec file or its System is wrong (file, field, what, expected)
    │   ├── DataError           a data file cannot be read or does not fit the spec
    │   ├── ModelLoadError      the model artifact cannot be loaded
    │   └── MissingDependencyError   an optional extra is needed: `pip install prodready[extra]`
    └── ReportError             running or rendering the assessment notebook failed: exit 3
"""

from __future__ import annotations

__all__ = [
    "DataError",
    "MissingDependencyError",
    "ModelLoadError",
    "ProdreadyError",
    "ReportError",
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


class ReportError(ProdreadyError):
    """Executing or rendering the assessment notebook failed (CLI exit code 3)."""
