"""The ``prodready`` nbconvert exporter: an executed assessment notebook as an offline audit report.

The report is read by a risk officer, possibly on a machine without network access, on screen or
printed. So the exporter produces one self-contained HTML file:

* no code: inputs and prompts are excluded, cells tagged ``remove-cell`` are dropped and cells
  tagged ``remove-input`` lose their input (``TagRemovePreprocessor``); stderr stream outputs
  (warnings, progress bars) are dropped by :class:`DropStderrPreprocessor`;
* nothing loaded from anywhere: the template ``templates/nbconvert/prodready`` (extending
  nbconvert's ``lab`` template) empties the blocks that load require.js, MathJax, Mermaid and
  the widget manager, replaces JupyterLab's stylesheet with a small inline one using system
  fonts only, and figures stay ``data:`` URIs; outputs that need JavaScript to render (widget views,
  ``application/javascript``) are removed by :class:`StaticOutputsPreprocessor`;
* defence in depth against HTML injected through notebook outputs (nothing is sanitized, because
  bleach mangles pandas tables; the notebook escapes user strings at the source): a
  Content-Security-Policy ``<meta>`` that allows inline styles and ``data:`` images only, and
  scripts only with a nonce drawn afresh for every render; ``<meta>``, ``<base>`` and ``<link>``
  elements outside the document head (which the policy does not govern, e.g. a meta refresh)
  are removed;
* no invisible characters: control characters (ANSI escapes included), bidirectional overrides
  and lone surrogates left in the page by any output (or the title) are written out visibly as
  ``\\x1b`` (:func:`prodready.views.visible`), so the file is valid UTF-8 and shows what it holds.

``jupyter nbconvert --to prodready notebook.ipynb`` uses the same exporter (entry point
``nbconvert.exporters``), and :func:`render_html` is the in-process shortcut.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import nbformat
from bs4 import BeautifulSoup
from nbconvert.exporters import HTMLExporter
from nbconvert.preprocessors import Preprocessor, TagRemovePreprocessor
from traitlets import default, validate
from traitlets.config import Config

from prodready._paths import templates_dir
from prodready.views import visible

__all__ = [
    "DEFAULT_TITLE",
    "REMOVE_CELL_TAGS",
    "REMOVE_INPUT_TAGS",
    "REMOVE_OUTPUT_TAGS",
    "TEMPLATE_NAME",
    "DropStderrPreprocessor",
    "ProdreadyHTMLExporter",
    "StaticOutputsPreprocessor",
    "content_security_policy",
    "render_html",
    "report_title",
]

#: Name of the nbconvert template folder (``templates/nbconvert/prodready``).
TEMPLATE_NAME = "prodready"
#: ``<title>`` of a report whose notebook has no ``metadata.prodready.title``.
DEFAULT_TITLE = "prodready assessment"
#: Cells carrying one of these tags are left out of the report entirely.
REMOVE_CELL_TAGS = frozenset({"remove-cell"})
#: Cells carrying one of these tags keep their outputs but not their input.
REMOVE_INPUT_TAGS = frozenset({"remove-input"})
#: Cells carrying one of these tags keep their input (hidden anyway) but lose their outputs.
REMOVE_OUTPUT_TAGS = frozenset({"remove-output"})

_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_JAVASCRIPT = "application/javascript"
#: Output formats the report renders, best first. Everything here renders without JavaScript;
#: widget views and ``application/javascript`` are deliberately absent.
_STATIC_PRIORITY = (
    "text/html",
    "text/markdown",
    "image/svg+xml",
    "image/png",
    "image/jpeg",
    "text/latex",
    "text/vnd.mermaid",
    "text/plain",
)
#: The longest title shown; a longer one is cut with "…".
_MAX_TITLE_CHARS = 200
#: Elements that only belong in the document head and that a CSP ``<meta>`` does not govern.
_HEAD_ONLY_ELEMENTS = ("meta", "base", "link")


def _template_base_dir() -> Path:
    """The folder holding the ``prodready`` template folder (checkout or wheel alike)."""
    return templates_dir() / "nbconvert"


def report_title(notebook: nbformat.NotebookNode) -> str:
    """The report's title: ``notebook.metadata["prodready"]["title"]`` if set, else the default.

    Args:
        notebook: the executed assessment notebook.

    Returns:
        The title as plain text on one line (the template escapes it), at most 200 characters,
        control characters written out visibly (``\\x1b``).
    """
    metadata = notebook.get("metadata", {}) or {}
    section = metadata.get("prodready", {}) if isinstance(metadata, dict) else {}
    title = section.get("title") if isinstance(section, dict) else None
    if title is None:
        return DEFAULT_TITLE
    text = " ".join(visible(str(title)).split())
    if len(text) > _MAX_TITLE_CHARS:
        text = text[: _MAX_TITLE_CHARS - 1] + "…"
    return text or DEFAULT_TITLE


def content_security_policy(nonce: str) -> str:
    """The report's Content-Security-Policy, allowing scripts only with ``nonce``.

    Images must be ``data:`` URIs, styles inline; nothing else may be fetched, and neither
    ``<base>`` nor form submissions may redirect anywhere.

    Args:
        nonce: a fresh, unguessable base64url token for this render.

    Returns:
        The policy, ready for ``<meta http-equiv="Content-Security-Policy" content="...">``.
    """
    return (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        f"script-src 'nonce-{nonce}'; base-uri 'none'; form-action 'none'"
    )


class _Preprocessor(Preprocessor):  # type: ignore[misc]
    """An nbconvert preprocessor, enabled by default, with a typed constructor."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)  # type: ignore[no-untyped-call]

    @default("enabled")
    def _enabled_default(self) -> bool:
        return True


class DropStderrPreprocessor(_Preprocessor):
    """Remove stderr stream outputs: warnings and progress bars do not belong in an audit report.

    Errors (``output_type == "error"``) are kept: a failed step must stay visible.
    """

    def preprocess_cell(
        self, cell: nbformat.NotebookNode, resources: dict[str, Any], index: int
    ) -> tuple[nbformat.NotebookNode, dict[str, Any]]:
        """Drop the cell's ``stream`` outputs named ``stderr``."""
        if cell.get("cell_type") == "code" and cell.get("outputs"):
            cell.outputs = [
                output
                for output in cell.outputs
                if not (output.get("output_type") == "stream" and output.get("name") == "stderr")
            ]
        return cell, resources


class StaticOutputsPreprocessor(_Preprocessor):
    """Keep only what renders in a static, script-free page.

    * ``application/javascript`` and widget views are removed from every output (they need
      scripts the report does not load, and the CSP would block them anyway);
    * an output left with only its ``text/plain`` repr after losing a widget view is dropped
      (``HBox(children=...)`` means nothing to a reader);
    * a display output with no format the report can render (e.g. a custom
      ``application/vnd.*+json`` result bundle) is dropped instead of triggering nbconvert's
      "not able to be represented" warning;
    * the notebook's saved widget state (``metadata.widgets``) is removed.
    """

    def preprocess(
        self, nb: nbformat.NotebookNode, resources: dict[str, Any]
    ) -> tuple[nbformat.NotebookNode, dict[str, Any]]:
        """Remove the widget state, then clean every cell."""
        nb.metadata.pop("widgets", None)
        for index, cell in enumerate(nb.cells):
            nb.cells[index], resources = self.preprocess_cell(cell, resources, index)
        return nb, resources

    def preprocess_cell(
        self, cell: nbformat.NotebookNode, resources: dict[str, Any], index: int
    ) -> tuple[nbformat.NotebookNode, dict[str, Any]]:
        """Strip script-only formats from the cell's display outputs."""
        if cell.get("cell_type") != "code" or not cell.get("outputs"):
            return cell, resources
        kept = []
        for output in cell.outputs:
            if output.get("output_type") not in ("display_data", "execute_result"):
                kept.append(output)
                continue
            data = output.get("data", {})
            had_widget = _WIDGET_VIEW in data
            for mimetype in (_WIDGET_VIEW, _JAVASCRIPT):
                data.pop(mimetype, None)
            renderable = [m for m in _STATIC_PRIORITY if m in data]
            if not renderable or (had_widget and renderable == ["text/plain"]):
                continue
            kept.append(output)
        cell.outputs = kept
        return cell, resources


class ProdreadyHTMLExporter(HTMLExporter):  # type: ignore[misc]
    """HTML exporter for prodready audit reports: code hidden, self-contained, offline, printable.

    Registered as the nbconvert exporter ``prodready``. All settings are ordinary traitlets
    defaults, so e.g. ``--ProdreadyHTMLExporter.exclude_input=False`` still works for debugging;
    the tag removal, the stderr filter and the Content-Security-Policy cannot be switched off.
    """

    export_from_notebook = "prodready audit report"

    def __init__(self, config: Config | None = None, **kw: Any) -> None:
        super().__init__(config=config, **kw)  # type: ignore[no-untyped-call]

    @default("template_name")
    def _template_name_default(self) -> str:
        return TEMPLATE_NAME

    @default("extra_template_basedirs")
    def _default_extra_template_basedirs(self) -> list[str]:
        # Not the current directory (nbconvert's default): a folder that happens to be named
        # "prodready" or "lab" there must not change the report.
        return [str(_template_base_dir())]

    @validate("extra_template_basedirs")
    def _validate_extra_template_basedirs(self, proposal: dict[str, Any]) -> list[str]:
        return _with_first(str(_template_base_dir()), proposal["value"])

    @default("extra_template_paths")
    def _default_extra_template_paths(self) -> list[str]:
        return [str(_template_base_dir())]

    @validate("extra_template_paths")
    def _validate_extra_template_paths(self, proposal: dict[str, Any]) -> list[str]:
        return _with_first(str(_template_base_dir()), proposal["value"])

    @default("exclude_input")
    def _exclude_input_default(self) -> bool:
        return True

    @default("exclude_input_prompt")
    def _exclude_input_prompt_default(self) -> bool:
        return True

    @default("exclude_output_prompt")
    def _exclude_output_prompt_default(self) -> bool:
        return True

    @default("exclude_anchor_links")
    def _exclude_anchor_links_default(self) -> bool:
        return True

    @default("embed_images")
    def _embed_images_default(self) -> bool:
        return True

    @property
    def default_config(self) -> Config:
        """HTMLExporter's defaults, with a display priority free of script-only formats."""
        config: Config = super().default_config
        config.merge(Config({"NbConvertBase": {"display_data_priority": list(_STATIC_PRIORITY)}}))
        return config

    def _init_preprocessors(self) -> None:
        """Register nbconvert's and the template's preprocessors, then prodready's own.

        The tag removal extends whatever tags the user configured for TagRemovePreprocessor
        rather than replacing them.
        """
        super()._init_preprocessors()  # type: ignore[no-untyped-call]
        tags = TagRemovePreprocessor(parent=self)  # type: ignore[no-untyped-call]
        tags.remove_cell_tags = set(tags.remove_cell_tags) | REMOVE_CELL_TAGS
        tags.remove_input_tags = set(tags.remove_input_tags) | REMOVE_INPUT_TAGS
        tags.remove_all_outputs_tags = set(tags.remove_all_outputs_tags) | REMOVE_OUTPUT_TAGS
        for preprocessor in (
            tags,
            DropStderrPreprocessor(parent=self),
            StaticOutputsPreprocessor(parent=self),
        ):
            self.register_preprocessor(preprocessor, enabled=True)  # type: ignore[no-untyped-call]

    def from_notebook_node(  # type: ignore[override]
        self,
        nb: nbformat.NotebookNode,
        resources: dict[str, Any] | None = None,
        **kw: Any,
    ) -> tuple[str, dict[str, Any]]:
        """Render ``nb``; a fresh CSP nonce is drawn for every call.

        The nonce, the policy and the title reach the template as ``resources["prodready"]``
        (and stay in the returned resources).
        """
        nonce = secrets.token_urlsafe(18)
        resources = dict(resources or {})
        resources["prodready"] = {
            "title": report_title(nb),
            "csp_nonce": nonce,
            "csp": content_security_policy(nonce),
            "signing": _signing_note(nb),
        }
        html, out_resources = super().from_notebook_node(nb, resources, **kw)
        # Last pass: nothing invisible or unencodable reaches the file, whatever output held it.
        return visible(_drop_head_only_elements_outside_head(html)), out_resources


def _signing_note(notebook: nbformat.NotebookNode) -> dict[str, Any] | None:
    """What the title block says about the run's signature, from ``metadata.prodready.signing``.

    ``{"signed": True, "fingerprint": ..., "key_id": ...}`` (hex digits only), ``{"signed":
    False}`` for a run made without a key, None for a notebook not rendered by a run (no
    block shown).
    """
    import re

    metadata = notebook.get("metadata", {}) or {}
    section = metadata.get("prodready", {}) if isinstance(metadata, dict) else {}
    signing = section.get("signing") if isinstance(section, dict) else None
    if not isinstance(signing, dict):
        return None
    fingerprint, key = str(signing.get("fingerprint", "")), str(signing.get("key_id", ""))
    if signing.get("signed") is True and re.fullmatch("[0-9a-f]{16}", fingerprint):
        return {
            "signed": True,
            "fingerprint": fingerprint,
            "key_id": key if re.fullmatch("[0-9a-f]{64}", key) else "",
        }
    return {"signed": False}


def _with_first(item: str, values: list[str]) -> list[str]:
    """``values`` with ``item`` in front, unless it is already there."""
    return list(values) if item in values else [item, *values]


def _drop_head_only_elements_outside_head(html: str) -> str:
    """Remove ``<meta>``, ``<base>`` and ``<link>`` elements that are not in the real head.

    Such elements can only come from notebook outputs; a ``<meta http-equiv="refresh">`` would
    navigate away despite the Content-Security-Policy, a ``<link rel="preconnect">`` would reach
    the network.
    """
    soup = BeautifulSoup(html, features="html.parser")
    head = soup.find("head")
    removed = 0
    for element in soup.find_all(_HEAD_ONLY_ELEMENTS):
        if head is None or element.find_parent("head") is not head:
            element.decompose()
            removed += 1
    return str(soup) if removed else html


def render_html(notebook: nbformat.NotebookNode) -> str:
    """Render an executed assessment notebook into the self-contained HTML audit report.

    Args:
        notebook: the notebook (e.g. papermill's output, read with ``nbformat.read``).

    Returns:
        The complete HTML document (code hidden, stderr dropped, no external resource,
        a Content-Security-Policy with a nonce unique to this call).
    """
    html, _ = ProdreadyHTMLExporter().from_notebook_node(notebook)
    return str(html)
