"""The fleet in the JupyterLab dashboard: one sweep's table, its changes and where it ran.

``FleetDashboard(result_or_sweep_folder)`` shows a finished sweep: a
:class:`~prodready.fleet._model.FleetResult` (what ``prodready.assess_fleet`` returns), or a
sweep folder (or its ``fleet.json``) written by ``prodready fleet``; for a folder, a Reload
button reads ``fleet.json`` again (e.g. after the next night's sweep wrote a new folder, point
it there with :meth:`FleetDashboard.load`). The HTML is the sweep page's own
(:mod:`prodready.fleet._page`), with the notebook views' styles; reports are named by their
path (a link in a notebook would resolve against the notebook's folder).

ipywidgets is needed only when a dashboard is made: without it, a one-line
:class:`~prodready.MissingDependencyError` with the install hint. Where no widget manager
runs (an exported notebook), the static HTML of the same view shows instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prodready import views
from prodready._exceptions import MissingDependencyError, ProdreadyError
from prodready.fleet._model import FleetResult
from prodready.fleet._page import changes_html, fleet_table_html, where_html
from prodready.fleet._summary import read_summary

__all__ = ["FleetDashboard"]


class FleetDashboard:
    """An ipywidgets view of a finished sweep (a :class:`FleetResult` or a sweep folder).

    :attr:`result` is the sweep shown; :attr:`widget` the ipywidgets box (display the
    dashboard itself, or put the box in a layout of your own).
    """

    def __init__(self, source: FleetResult | str | os.PathLike[str]) -> None:
        try:
            import ipywidgets as w
        except ImportError:
            raise MissingDependencyError("ipywidgets", "lab", "The fleet dashboard") from None
        self._folder: Path | None = None
        self.result: FleetResult | None = None
        self.reload_button = w.Button(
            description="Reload",
            icon="refresh",
            tooltip="Read the sweep's fleet.json again",
            layout=w.Layout(display="none"),
        )
        self.reload_button.on_click(lambda _button: self.reload())
        self.status = w.HTML(value="")
        self.table = w.HTML(value="", layout=w.Layout(width="100%"))
        self.changes = w.HTML(value="", layout=w.Layout(width="100%"))
        self.where = w.Accordion(children=[w.HTML(value="")], layout=w.Layout(width="100%"))
        self.where.set_title(0, "Where it ran")
        self.where.selected_index = None
        self.widget = w.VBox(
            [w.HBox([self.reload_button, self.status]), self.table, self.changes, self.where],
            layout=w.Layout(width="100%"),
        )
        self.widget.add_class("pr-fleet-dashboard")
        self.load(source)

    def load(self, source: FleetResult | str | os.PathLike[str]) -> None:
        """Show ``source``: a sweep's result, or its folder (or fleet.json) to read."""
        if isinstance(source, FleetResult):
            self._folder = None
            self._show(source)
        else:
            self._folder = Path(source)
            self.reload()
        self.reload_button.layout.display = "none" if self._folder is None else ""

    def reload(self) -> None:
        """Read the sweep folder's fleet.json again (a result given as an object stays)."""
        if self._folder is None:
            return
        try:
            result = read_summary(self._folder)
        except ProdreadyError as exc:
            self.status.value = views.styled(
                f'<p class="pr-meta"><strong>Cannot show the sweep:</strong> '
                f"{views.escape(str(exc))}</p>"
            )
            return
        self._show(result)

    def _show(self, result: FleetResult) -> None:
        self.result = result
        self.status.value = ""
        self.table.value = views.styled(fleet_table_html(result, links=False))
        self.changes.value = views.styled(changes_html(result))
        self.where.children[0].value = views.styled(where_html(result))

    def static_html(self) -> str:
        """The dashboard's content as plain HTML (for places with no widget manager)."""
        if self.result is None:
            return self.status.value or views.styled('<p class="pr-meta">No sweep shown.</p>')
        r = self.result
        return views.styled(fleet_table_html(r, links=False) + changes_html(r) + where_html(r))

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle: dict[str, Any] = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        bundle["text/html"] = self.static_html()
        bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        if self.result is None:
            return "<prodready.FleetDashboard: no sweep shown>"
        r = self.result
        return (
            f"<prodready.FleetDashboard of sweep {r.sweep_id!r}: {r.verdict.upper()}, "
            f"{len(r.systems)} systems>"
        )
