"""Rendering of an executed assessment notebook into a self-contained, offline HTML audit report.

The work is done by :mod:`prodready.report.exporter` (``ProdreadyHTMLExporter``, ``render_html``),
which is also registered as the nbconvert exporter ``prodready``
(``jupyter nbconvert --to prodready notebook.ipynb``). It is not imported here, to keep
``import prodready.report`` free of nbconvert's import cost.
"""
