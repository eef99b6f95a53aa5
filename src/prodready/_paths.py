"""Where prodready's bundled files are, in a wheel and in a source checkout alike."""

from __future__ import annotations

from pathlib import Path

__all__ = ["templates_dir"]


def templates_dir() -> Path:
    """The folder holding assessment.ipynb and the nbconvert template ``nbconvert/prodready``.

    A wheel carries it inside the package (``prodready/_templates``, see pyproject.toml); an
    editable install or a source checkout uses the repository's ``templates/`` folder.
    """
    packaged = Path(__file__).with_name("_templates")
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "templates"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"prodready templates not found in {packaged} or {checkout}")
