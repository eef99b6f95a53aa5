"""Small text helpers shared by the modules of :mod:`prodready.probes.monitoring`."""

from __future__ import annotations


def _names(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")
