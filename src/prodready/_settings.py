"""Settings as frozen dataclasses, read from a spec mapping with clear errors.

Every group of settings (the run-wide ``policy:`` and one section per question, e.g.
``monitoring:``) is a frozen dataclass whose fields have plain types (``int``, ``float``,
``bool``, ``str``, a ``Literal`` of strings, ``list[str]`` or any of these ``| None``).
:func:`read_settings` checks each value against its field's type and the dataclass checks its
ranges in ``__post_init__`` with :func:`require`; either way a mistake is a
:class:`~prodready.SpecError` naming the file and the dotted field (``monitoring.alpha``).
"""

from __future__ import annotations

import math
import numbers
import re
import reprlib
import types
import typing
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from typing import Any, TypeVar, get_args, get_origin, get_type_hints

from prodready._exceptions import SpecError

__all__ = [
    "ABSENT",
    "first_line",
    "is_integer",
    "is_real",
    "key_text",
    "quote",
    "read_settings",
    "require",
]

S = TypeVar("S")

#: Longest part of a user's value quoted in an error message: a message must stay one line.
_QUOTE_MAX = 80
#: Longest part of a library's message (an exception's text) kept in one of ours.
_LIBRARY_MAX = 160
#: Containers are shown by their first items only: their full repr may be huge.
_REPR = reprlib.Repr()
_REPR.maxlevel = 2
_REPR.maxtuple = _REPR.maxlist = _REPR.maxarray = _REPR.maxset = _REPR.maxfrozenset = 6
_REPR.maxdeque = _REPR.maxdict = 4
_REPR.maxstring = _REPR.maxother = 40
_REPR.maxlong = 40
# A key of a mapping shown as it is in a dotted field name (``monitoring.alpha``); any other
# key is quoted.
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}\Z")


#: A question's spec section set to this (``rollback: none``) declares that the system has no
#: such mechanism: an answer, which FAILs the question (an absent section is NOT ASSESSED).
ABSENT = "none"


def quote(value: Any, limit: int = _QUOTE_MAX) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error messages about user input.

    Never more than one line and never costly: a long string or a big container is not
    rendered in full first (a spec's value may be megabytes, or nested without end).
    """
    if isinstance(value, str):
        text = repr(value[:limit])  # the repr of a prefix: never copies a huge string
    elif isinstance(value, bool | float | type(None)):
        text = repr(value)
    elif isinstance(value, int):
        # str() of an int past 4300 digits raises; a long one is not worth printing anyway.
        digits = math.floor(value.bit_length() * math.log10(2)) + 1
        text = repr(value) if digits <= limit else f"<an integer of about {digits} digits>"
    else:
        try:
            text = _REPR.repr(value)
        except Exception:  # a user's object whose __repr__ fails
            text = f"<{type(value).__name__} object>"
        text = " ".join(text.split()) if ("\n" in text or "\r" in text) else text
    return text if len(text) <= limit else text[: limit - 1] + "…"


def first_line(text: str, limit: int = _LIBRARY_MAX) -> str:
    """The first non-empty line of ``text`` (e.g. a library's exception message), cut."""
    line = next((part.strip() for part in str(text).splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def key_text(key: Any) -> str:
    """A mapping key as a part of a dotted field name: ``alpha`` as it is, others quoted."""
    if isinstance(key, str) and _PLAIN_KEY.match(key):
        return key
    return quote(key, 40)


def is_integer(value: Any) -> bool:
    """An integer (Python's or numpy's), but not a bool (``True == 1`` in Python)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """A real number (int or float, Python's or numpy's), but not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def require(ok: bool, field: str, problem: str, expected: str) -> None:
    """Raise a :class:`SpecError` for ``field`` (relative to its section) unless ``ok``."""
    if not ok:
        raise SpecError(problem, field=field, expected=expected)


def read_settings(cls: type[S], value: Any, section: str, source: str) -> S:
    """Build the settings dataclass ``cls`` from the spec mapping ``value`` of ``section``.

    ``None`` (the section is absent) gives the defaults; an instance of ``cls`` is returned as
    it is (the Python API may pass settings objects). Unknown keys, values of the wrong type
    and values out of range raise :class:`SpecError` naming ``section.key``.
    """
    if isinstance(value, cls):
        return value
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise SpecError(
            f"is a {type(value).__name__}",
            source=source,
            field=section,
            expected="a mapping of settings",
        )
    assert is_dataclass(cls)
    hints = get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    kwargs: dict[str, Any] = {}
    for key, item in value.items():
        if key not in names:
            raise SpecError(
                "unknown key",
                source=source,
                field=f"{section}.{key_text(key)}",
                expected="one of " + ", ".join(sorted(names)),
            )
        kwargs[key] = _convert(item, hints[key], f"{section}.{key}", source)
    try:
        return cls(**kwargs)
    except SpecError as exc:  # raised by __post_init__ with the field relative to the section
        # Settings classes name fields relative to their section; Policy and Endpoint, which
        # are also built directly in Python, already name theirs in full.
        full = exc.field == section or exc.field.startswith(section + ".")
        field = exc.field if full else f"{section}.{exc.field}"
        field = field.rstrip(".")
        raise SpecError(exc.problem, source=source, field=field, expected=exc.expected) from None


def _convert(item: Any, kind: Any, field: str, source: str) -> Any:
    """``item`` as a value of type ``kind``, or a SpecError saying what was expected."""
    options = _union_members(kind)
    if options is not None:
        if item is None and type(None) in options:
            return None
        for member in (o for o in options if o is not type(None)):
            try:
                return _convert(item, member, field, source)
            except SpecError:
                continue
        expected = " or ".join(_expected(o) for o in options if o is not type(None))
        raise SpecError(f"is {quote(item)}", source=source, field=field, expected=expected)
    origin = get_origin(kind)
    # A bool is never a number here (True == 1 in Python), and a float field never takes
    # NaN or an infinity: every limit and threshold must be a finite number.
    if kind is float and is_real(item):
        try:
            number = float(item)
        except OverflowError:  # an int too large for a float
            number = math.inf
        if math.isfinite(number):
            return number
    if kind is int and is_integer(item):
        return int(item)
    if kind is int and isinstance(item, float) and math.isfinite(item) and item.is_integer():
        return int(item)
    if kind is bool and isinstance(item, bool):
        return item
    if kind is str and isinstance(item, str):
        return item
    if origin is typing.Literal:
        # By type too: Literal[1] must not take True, nor Literal["a"] anything but "a".
        for option in get_args(kind):
            if type(item) is type(option) and item == option:
                return option
    if origin is list and isinstance(item, list) and all(isinstance(v, str) for v in item):
        return list(item)
    raise SpecError(f"is {quote(item)}", source=source, field=field, expected=_expected(kind))


def _union_members(kind: Any) -> tuple[Any, ...] | None:
    if get_origin(kind) in (typing.Union, types.UnionType):
        return get_args(kind)
    return None


def _expected(kind: Any) -> str:
    if get_origin(kind) is typing.Literal:
        return "one of " + ", ".join(str(a) for a in get_args(kind))
    if get_origin(kind) is list:
        return "a list of strings"
    names = {int: "an integer", float: "a finite number", bool: "true or false", str: "a string"}
    return names.get(kind, str(kind))
