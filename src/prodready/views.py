"""Render an :class:`~prodready.Assessment` as HTML: views render and never compute.

Every function here turns results into an HTML string (figures are PNGs drawn with matplotlib
and embedded as ``data:`` URIs), so the same output reads in JupyterLab, in the executed
notebook and in the static, offline HTML report. Every string that comes from the user or the
system (names, values, messages) is escaped here, at the source, by :func:`escape`.

Results are untrusted input for the views: they come from probes, plug-ins or a results.json
written elsewhere. So rendering is bounded by construction and never raises on odd data:

* text: :func:`escape` makes control characters, ANSI escapes, bidirectional overrides and lone
  surrogates visible (``\\x1b``) instead of writing them raw; long texts are cut with "…";
* tables: at most 60 rows, 30 columns and 300 characters per cell, with a note of what is left
  out;
* figures: all text is drawn as plain text (no mathtext, no TeX: a ``$`` is a dollar sign); a
  bar chart draws at most 30 bars (the labels with the largest absolute value in any series,
  in the order given, plus an "other (K more)" bar summing the rest when the values are shares
  or counts), at most 8 series, at most 200 histogram bins (merged) and at most 2,000 points
  per line (the minimum and maximum of each of 1,000 buckets); missing, non-finite and
  out-of-range values are left out and counted; a series whose length does not fit ``x`` is
  left out with a note;
* an evidence item that still cannot be rendered becomes a note saying so, not an exception.

The CSS classes used (``pr-...``) are styled by the report template. In a notebook (the
dashboard, the objects' ``_repr_html_``) there is no such stylesheet: :func:`styled` wraps a
view with a copy of its own, scoped to ``.pr-nb`` and drawn with JupyterLab's theme variables.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import numbers
import re
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice, pairwise
from typing import TYPE_CHECKING, Any

from prodready.checklist import QUESTIONS, Section, get_question
from prodready.results import Assessment, Chart, Finding, Status, Table

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "QuestionProgress",
    "assessment_card_html",
    "badge",
    "comparison_html",
    "dashboard_intro_html",
    "escape",
    "finding_card_html",
    "finding_html",
    "pct",
    "pending_question_html",
    "progress_html",
    "question_html",
    "run_html",
    "styled",
    "stylesheet",
    "summary_html",
    "system_card_html",
    "system_html",
    "visible",
]

_SECTION_TITLES = {
    Section.TECHNICAL: "Technical readiness",
    Section.GOVERNANCE: "Governance readiness",
    Section.OPERATIONAL: "Operational readiness",
}

# Bounds: what the views render whatever a probe, a plug-in or a results.json holds.
_MAX_TABLE_ROWS = 60
_MAX_TABLE_COLUMNS = 30
_MAX_CELL_CHARS = 300
_MAX_HEADER_CHARS = 100
_MAX_TEXT_CHARS = 2_000  # a summary, a note, a remediation, a value in "The system assessed"
_MAX_NAME_CHARS = 200  # the system's name, a run id, a probe
_MAX_TRACE_CHARS = 20_000  # a traceback keeps its end, where the error is
_MAX_LIST_ITEMS = 30  # "not assessed yet" parts, evidence items of one finding
_MAX_BARS = 30
_MAX_SERIES = 8
_MAX_BINS = 200
_MAX_POINTS = 2_000
_MAX_TICK_LABELS = 12  # a line chart over labels (not numbers) names at most this many
_MAX_LABEL_CHARS = 40  # tick and legend labels in a figure
_MAX_FIGURE_TITLE_CHARS = 100  # the caption under the figure carries the full title
_MAX_AXIS_LABEL_CHARS = 80
_MAX_ABS_VALUE = 1e100  # beyond this a value is not drawn (matplotlib's scaling overflows)
_MAX_FIGURE_HEIGHT = 9.5  # inches

#: A table column of this name holds references to the report's sections ("#q3 #system"),
#: drawn as links (e.g. the compliance probe's regulatory mapping).
SECTION_COLUMN = "report section"
_SECTION_ANCHOR = re.compile(r"#(q(?:10|[1-9])|system)")

# C0 controls but tab, newline and carriage return; DEL; C1 controls; bidirectional embeddings,
# overrides and isolates (they reorder what a reader sees); lone surrogates (not encodable).
_INVISIBLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def _show(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    r"""``text`` with invisible control characters written out: ESC becomes ``\x1b``.

    Replaced: C0 controls except tab, newline and carriage return, DEL, C1 controls, the
    Unicode bidirectional embeddings, overrides and isolates, and lone surrogates (which cannot
    even be written as UTF-8). Nothing else changes, so it may run before or after HTML escaping.
    """
    return _INVISIBLE.sub(_show, text)


def escape(s: str, quote: bool = True) -> str:
    """HTML-escape a user string, making control characters visible (see :func:`visible`).

    Every string from users, data or probes goes through here on its way into HTML.
    """
    return visible(html.escape(s if isinstance(s, str) else _text(s), quote=quote))


def badge(status: Status) -> str:
    """A status pill, e.g. ``<span class="pr-badge pr-fail">FAIL</span>``."""
    return f'<span class="pr-badge pr-{status.value}">{escape(status.label)}</span>'


def summary_html(assessment: Assessment) -> str:
    """The executive summary: verdict, section scores, the ten questions in one line each."""
    a = assessment
    name = escape(_text(a.system.get("name", ""), _MAX_NAME_CHARS))
    verdict_class = "pr-ready" if a.ready else "pr-not-ready"
    counts: dict[Status, int] = {}
    for f in a.findings:
        counts[f.status] = counts.get(f.status, 0) + 1
    tally = ", ".join(f"{n} {s.label}" for s, n in counts.items())
    scope = (
        f'<p class="pr-scope"><strong>{escape(a.scope[:1].upper() + a.scope[1:])}</strong>: '
        "the verdict and scores judge these questions only.</p>"
        if a.partial
        else ""
    )
    # What a reader must know about the run itself (e.g. a plug-in that was ignored).
    run_notes = _sequence(getattr(a, "notes", None))
    notes = "".join(
        f'<p class="pr-meta pr-run-note"><strong>Note:</strong> '
        f"{escape(_text(n, _MAX_TEXT_CHARS))}</p>"
        for n in run_notes[:_MAX_LIST_ITEMS]
    )
    if len(run_notes) > _MAX_LIST_ITEMS:
        notes += _note(f"{len(run_notes) - _MAX_LIST_ITEMS:,} more notes in results.json.")
    parts = [
        '<div class="pr-report pr-summary">',
        f"<h1>Production readiness: {name}</h1>",
        f'<p class="pr-verdict {verdict_class}">{"READY" if a.ready else "NOT READY"}'
        f" &mdash; overall score {pct(a.overall)}</p>",
        scope,
        notes,
        f'<p class="pr-meta">Run {escape(_text(a.run_id, _MAX_NAME_CHARS))} &middot; '
        f"{escape(_text(a.created, _MAX_NAME_CHARS))} &middot; "
        f"{escape(tally)} &middot; ready needs every applicable question PASS or WARN and an "
        f"overall score of at least {pct(_min_score(a.policy))}.</p>",
        '<table class="pr-scores pr-table"><thead><tr><th>Section</th><th>Score</th>'
        "<th>Questions</th></tr></thead><tbody>",
    ]
    for section in Section:
        badges = " ".join(badge(f.status) for f in a.section_findings(section))
        value = a.scores.get(section.value)
        shown = pct(value) if value is not None else "not in this run"
        parts.append(
            f"<tr><td>{_SECTION_TITLES[section]}</td>"
            f'<td class="pr-num">{shown}</td>'
            f"<td>{badges}</td></tr>"
        )
    parts.append("</tbody></table>")
    parts.append(
        '<table class="pr-table"><thead><tr><th>#</th><th>Question</th>'
        "<th>Status</th><th>Finding</th></tr></thead><tbody>"
    )
    for f in a.findings:
        q = get_question(f.question)
        parts.append(
            f'<tr><td><a href="#{q.id.lower()}">{q.id}</a></td><td>{escape(q.text)}</td>'
            f"<td>{badge(f.status)}</td><td>{escape(_text(f.summary, _MAX_TEXT_CHARS))}</td></tr>"
        )
    parts.append("</tbody></table>")
    parts.append(
        '<p class="pr-meta">Overall score = the lowest section score, so strength in '
        "one section cannot hide a hole in another. A section scores PASS as 1, WARN "
        "as 0.5, anything else as 0, over its applicable questions; NOT ASSESSED "
        "counts as 0.</p></div>"
    )
    return "\n".join(parts)


def system_html(assessment: Assessment) -> str:
    """What was assessed: model, data files with digests, owner and intended use."""
    s = assessment.system
    meta = _mapping(s.get("metadata"))
    rows: list[tuple[str, Any]] = [
        ("System", s.get("name")),
        ("Owner", meta.get("owner")),
        ("Intended use", meta.get("intended_use")),
        ("Description", meta.get("description")),
        ("Limitations", meta.get("limitations")),
        ("Out-of-scope uses", meta.get("out_of_scope_uses")),
        ("Training data", meta.get("training_data")),
        ("Contact", meta.get("contact")),
        ("Task", s.get("task")),
        ("Model type", s.get("model_type")),
    ]
    model = _mapping(s.get("model"))
    if model:
        rows += [
            (
                "Model artifact",
                f"{_text(model.get('location'), _MAX_TEXT_CHARS)} ({_text(model.get('format'))})",
            ),
            ("Model sha256", model.get("sha256")),
        ]
    data_rows = _mapping(s.get("rows"))
    for which, art in islice(_mapping(s.get("data")).items(), _MAX_LIST_ITEMS):
        art = _mapping(art)
        if art:
            label = _text(which, _MAX_HEADER_CHARS).capitalize()
            rows += [
                (
                    f"{label} data",
                    f"{_text(art.get('location'), _MAX_TEXT_CHARS)} "
                    f"({_text(data_rows.get(which))} rows)",
                ),
                (f"{label} sha256", art.get("sha256")),
            ]
    rows += [
        ("Target", s.get("target")),
        ("Features", _join(s.get("features"))),
        ("Categorical", _join(s.get("categorical")) or "none"),
        ("Spec", s.get("source")),
    ]
    env = assessment.environment
    packages = _join(
        f"{_text(k, _MAX_LABEL_CHARS)} {_text(v, _MAX_LABEL_CHARS)}"
        for k, v in _mapping(env.get("packages")).items()
        if v
    )
    rows += [
        (
            "Assessed with",
            f"Python {_text(env.get('python'))} on {_text(env.get('platform'))}; {packages}",
        )
    ]
    body = "".join(
        f"<tr><th>{escape(k)}</th><td>{escape(_text(v, _MAX_TEXT_CHARS))}</td></tr>"
        for k, v in rows
        if v is not None and not (isinstance(v, str) and not v)
    )
    return (
        f'<div class="pr-report"><h2 id="system">The system assessed</h2>'
        f'<table class="pr-kv">{body}</table></div>'
    )


def question_html(assessment: Assessment, question: str) -> str:
    """The section of the report for one question ("" if a partial run left it out)."""
    qid = get_question(question).id
    if qid not in {f.question for f in assessment.findings}:
        return ""
    return finding_html(assessment.finding(qid))


def finding_html(finding: Finding) -> str:
    """One question's finding: status, checks, evidence, remediation, what is not assessed."""
    q = get_question(finding.question)
    f = finding
    # Short sections (nothing assessed) do not each take a printed page of their own.
    no_break = " pr-no-break" if f.status is Status.NOT_ASSESSED else ""
    parts = [
        f'<section class="pr-report pr-question{no_break}" id="{q.id.lower()}">',
        f"<h2>{q.id}. {escape(q.title)} {badge(f.status)}</h2>",
        f'<p class="pr-question-text">{escape(q.text)}</p>',
        f"<p>{escape(_text(f.summary, _MAX_TEXT_CHARS))}</p>",
    ]
    if f.checks:
        checks = _sequence(f.checks)
        parts.append(
            _table_html(
                Table(
                    title="Checks",
                    columns=["check", "status", "measured", "threshold", "finding"],
                    rows=[_check_row(c) for c in checks[:_MAX_TABLE_ROWS]],
                ),
                total_rows=len(checks),
            )
        )
    if f.not_assessed:
        parts_left = _sequence(f.not_assessed)
        items = "".join(
            f"<li>{escape(_text(p, _MAX_TEXT_CHARS))}</li>" for p in parts_left[:_MAX_LIST_ITEMS]
        )
        if len(parts_left) > _MAX_LIST_ITEMS:
            items += f"<li>… and {len(parts_left) - _MAX_LIST_ITEMS:,} more</li>"
        parts.append(
            f'<div class="pr-not-assessed-parts"><strong>Not assessed yet:</strong>'
            f"<ul>{items}</ul></div>"
        )
    if f.remediation:
        parts.append(
            f'<div class="pr-remediation"><strong>What to do:</strong> '
            f"{escape(_text(f.remediation, _MAX_TEXT_CHARS))}</div>"
        )
    evidence = _sequence(f.evidence)
    parts.extend(_evidence_html(item) for item in evidence[:_MAX_LIST_ITEMS])
    if len(evidence) > _MAX_LIST_ITEMS:
        parts.append(
            _note(
                f"{len(evidence) - _MAX_LIST_ITEMS:,} more evidence items are in results.json, "
                "not shown here."
            )
        )
    if f.thresholds:
        thresholds = _mapping(f.thresholds)
        parts.append(
            _table_html(
                Table(
                    title="Thresholds used",
                    columns=["name", "value"],
                    rows=[[k, _text(v)] for k, v in islice(thresholds.items(), _MAX_TABLE_ROWS)],
                ),
                total_rows=len(thresholds),
            )
        )
    if f.error:
        trace = _text(f.error, len(f.error) if isinstance(f.error, str) else _MAX_TRACE_CHARS)
        if len(trace) > _MAX_TRACE_CHARS:
            trace = "…" + trace[-(_MAX_TRACE_CHARS - 1) :]
        parts.append(f'<pre class="pr-error-trace">{escape(trace)}</pre>')
    meta = [f"probe {escape(_text(f.probe, _MAX_NAME_CHARS))}"] if f.probe else []
    if _is_number(f.duration_s) and math.isfinite(f.duration_s) and f.duration_s:
        meta.append(f"{f.duration_s:.2f} s")
    if meta:
        parts.append(f'<p class="pr-meta">{" &middot; ".join(meta)}</p>')
    parts.append("</section>")
    return "\n".join(parts)


def pct(value: float) -> str:
    """A score as a whole percentage, rounded half up (0.125 -> "13%", not banker's "12%").

    A score that is not a finite number (e.g. null in a results.json) shows as "n/a".
    """
    if not _is_number(value) or not math.isfinite(value):
        return "n/a"
    return f"{math.floor(100 * value + 0.5 + 1e-9):.0f}%"


# -- pieces -------------------------------------------------------------------------------


def _note(text: str) -> str:
    return f'<p class="pr-meta">{escape(text)}</p>'


def _check_row(check: Any) -> list[Any]:
    status = getattr(check, "status", None)
    return [
        getattr(check, "name", check),
        status.label if isinstance(status, Status) else status,
        getattr(check, "measured", None),
        getattr(check, "threshold", None),
        getattr(check, "message", None),
    ]


def _evidence_html(item: Any) -> str:
    """One evidence item; whatever it holds, a note rather than an exception."""
    try:
        if isinstance(item, Table):
            return _table_html(item)
        if isinstance(item, Chart):
            return _chart_html(item)
        return _note(f"An evidence item of unknown kind ({type(item).__name__}) is not shown.")
    except Exception as exc:  # untrusted data must not take the report down with it
        return _note(f"This evidence item could not be rendered: {_error_text(exc)}.")


def _table_html(table: Table, total_rows: int | None = None) -> str:
    columns = _sequence(table.columns)
    rows = _sequence(table.rows)
    total = len(rows) if total_rows is None else total_rows
    width = len(columns)
    links = {
        i
        for i, c in enumerate(columns[:_MAX_TABLE_COLUMNS])
        if isinstance(c, str) and c == SECTION_COLUMN
    }
    body = []
    for row in rows[:_MAX_TABLE_ROWS]:
        cells = _sequence(row) if isinstance(row, list | tuple) or _is_array(row) else [row]
        width = max(width, len(cells))
        body.append(
            "<tr>"
            + "".join(
                f"<td>{_section_links(v)}</td>"
                if i in links
                else f'<td class="pr-num">{escape(_text(v))}</td>'
                if _is_number(v)
                else f"<td>{escape(_text(v))}</td>"
                for i, v in enumerate(cells[:_MAX_TABLE_COLUMNS])
            )
            + "</tr>"
        )
    head = "".join(
        f"<th>{escape(_text(c, _MAX_HEADER_CHARS))}</th>" for c in columns[:_MAX_TABLE_COLUMNS]
    )
    notes = [_text(table.note, _MAX_TEXT_CHARS)] if table.note else []
    if total > _MAX_TABLE_ROWS:
        notes.append(f"({total - _MAX_TABLE_ROWS:,} more rows in results.json.)")
    if width > _MAX_TABLE_COLUMNS:
        notes.append(f"({width - _MAX_TABLE_COLUMNS:,} more columns in results.json.)")
    title = _text(table.title, _MAX_TEXT_CHARS) if table.title else ""
    caption = f"<caption>{escape(title)}</caption>" if title else ""
    note_html = _note(" ".join(notes)) if notes else ""
    return (
        f'<table class="pr-table">{caption}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>{note_html}"
    )


def _section_links(value: Any) -> str:
    """A cell of a :data:`SECTION_COLUMN`: each ``#q3`` / ``#system`` a link to that section.

    Only the report's own anchors become links; any other text is escaped as usual.
    """
    parts = []
    for token in _text(value).split():
        match = _SECTION_ANCHOR.fullmatch(token)
        if match:
            name = match.group(1)
            label = name.upper() if name != "system" else "system"
            parts.append(f'<a href="#{name}">{label}</a>')
        else:
            parts.append(escape(token))
    return " ".join(parts)


def _chart_html(chart: Chart) -> str:
    title = _text(chart.title, _MAX_TEXT_CHARS) if chart.title else "Figure"
    try:
        plot = _plot(chart)
        png = _draw(plot) if plot.series else None
        notes = plot.notes
    except Exception as exc:  # untrusted data must not take the report down with it
        png, notes = None, [f"This figure could not be drawn: {_error_text(exc)}."]
    if png is None and not notes:
        notes = ["Nothing to draw."]
    note = _text(chart.note, _MAX_TEXT_CHARS) if chart.note else ""
    caption = " ".join(escape(t) for t in (f"{title}.", note, *notes) if t)
    img = (
        f'<img alt="{escape(title)}" src="data:image/png;base64,'
        f'{base64.b64encode(png).decode("ascii")}"/>'
        if png is not None
        else ""
    )
    return f'<figure class="pr-figure">{img}<figcaption>{caption}</figcaption></figure>'


@dataclass
class _Series:
    label: str
    x: np.ndarray  # bar positions, bin edges or abscissae
    y: np.ndarray  # bar lengths, one value per bin, ordinates


@dataclass
class _Plot:
    """What a chart draws, bounded: at most _MAX_SERIES series of bounded length, plain labels."""

    chart: str
    title: str
    xlabel: str
    ylabel: str
    series: list[_Series] = field(default_factory=list)
    ticks: list[float] = field(default_factory=list)
    tick_labels: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _plot(chart: Chart) -> _Plot:
    """Check and bound a chart's data; what cannot be drawn is left out and said in notes."""
    import numpy as np

    plot = _Plot(
        chart=str(chart.chart),
        title=_figure_text(chart.title, _MAX_FIGURE_TITLE_CHARS),
        xlabel=_figure_text(chart.xlabel, _MAX_AXIS_LABEL_CHARS),
        ylabel=_figure_text(chart.ylabel, _MAX_AXIS_LABEL_CHARS),
    )
    if plot.chart not in ("barh", "hist", "line"):
        plot.notes.append(f"Unknown chart type {_text(chart.chart, _MAX_LABEL_CHARS)!r}.")
        return plot
    x = _sequence(chart.x)
    n = len(x)
    expected = n - 1 if plot.chart == "hist" else n
    what = {"barh": "labels", "hist": "bins", "line": "points"}[plot.chart]
    series = _mapping(chart.series)
    if len(series) > _MAX_SERIES:
        plot.notes.append(f"{len(series) - _MAX_SERIES:,} more series not shown.")
    named: list[tuple[str, np.ndarray]] = []
    for name, values in islice(series.items(), _MAX_SERIES):
        values = _sequence(values)
        if len(values) != expected or expected <= 0:
            plot.notes.append(
                f"Series {_text(name, _MAX_LABEL_CHARS)!r} has {len(values):,} values for "
                f"{max(expected, 0):,} {what}: not drawn."
            )
            continue
        named.append((_figure_text(name, _MAX_LABEL_CHARS, legend=True), _floats(values)))
    if not named:
        return plot
    bad = sum(int(np.count_nonzero(np.isnan(y))) for _, y in named)
    if plot.chart == "barh":
        _bars(plot, x, named)
    elif plot.chart == "hist":
        _bins(plot, x, named)
    else:
        _lines(plot, x, named)
    if bad:
        plot.notes.append(
            f"{bad:,} missing, non-finite or out-of-range values (beyond ±{_MAX_ABS_VALUE:g}) "
            "not drawn."
        )
    return plot


def _bars(plot: _Plot, x: Sequence[Any], named: list[tuple[str, np.ndarray]]) -> None:
    """At most _MAX_BARS labels: the largest |value| in any series, kept in the given order."""
    import numpy as np

    n = len(x)
    keep = np.arange(n)
    other: list[float] | None = None
    if n > _MAX_BARS:
        stacked = np.vstack([y for _, y in named])
        with np.errstate(invalid="ignore"):
            score = np.nan_to_num(np.abs(stacked), nan=-1.0).max(axis=0)
        keep = np.sort(np.argsort(-score, kind="stable")[:_MAX_BARS])
        rest = n - _MAX_BARS
        finite = stacked[~np.isnan(stacked)]
        additive = bool(
            finite.size
            and (finite >= 0).all()
            and (
                (finite == np.round(finite)).all() or (np.nansum(stacked, axis=1) <= 1 + 1e-6).all()
            )
        )
        if additive:
            mask = np.ones(n, dtype=bool)
            mask[keep] = False
            other = [float(np.nansum(y[mask])) for _, y in named]
            plot.notes.append(
                f"The {_MAX_BARS} largest of {n:,} labels are drawn; the other {rest:,} are "
                'summed in "other".'
            )
        else:
            plot.notes.append(
                f"The {_MAX_BARS} largest of {n:,} labels (by absolute value) are drawn; "
                f"{rest:,} more not shown."
            )
    labels = [_figure_text(x[int(i)], _MAX_LABEL_CHARS) for i in keep]
    if other is not None:
        labels.append(f"other ({n - _MAX_BARS:,} more)")
    bars = len(labels)
    plot.ticks = [float(p) for p in range(bars)]
    plot.tick_labels = labels
    positions = np.arange(bars, dtype=float)
    for i, (label, y) in enumerate(named):
        values = y[keep]
        if other is not None:
            values = np.append(values, other[i])
        plot.series.append(_Series(label, positions, values))


def _bins(plot: _Plot, x: Sequence[Any], named: list[tuple[str, np.ndarray]]) -> None:
    """A histogram on at most _MAX_BINS bins: adjacent bins merged, width-weighted."""
    import numpy as np

    edges = _floats(x)
    if np.isnan(edges).any() or (np.diff(edges) < 0).any():
        plot.notes.append("The bin edges are not increasing finite numbers: not drawn.")
        return
    bins = len(edges) - 1
    if bins > _MAX_BINS:
        group = math.ceil(bins / _MAX_BINS)
        starts = np.arange(0, bins, group)
        widths = np.diff(edges)
        merged_edges = np.append(edges[starts], edges[-1])
        for label, y in named:
            valid = ~np.isnan(y)
            weight = np.add.reduceat(np.where(valid, widths, 0.0), starts)
            mass = np.add.reduceat(np.where(valid, y * widths, 0.0), starts)
            with np.errstate(invalid="ignore", divide="ignore"):
                merged = np.where(weight > 0, mass / np.where(weight > 0, weight, 1.0), np.nan)
            plot.series.append(_Series(label, merged_edges, merged))
        plot.notes.append(f"{bins:,} bins merged into {len(starts):,} for drawing.")
        return
    plot.series = [_Series(label, edges, y) for label, y in named]


def _lines(plot: _Plot, x: Sequence[Any], named: list[tuple[str, np.ndarray]]) -> None:
    """Lines of at most _MAX_POINTS points: the min and max of each bucket are kept."""
    import numpy as np

    n = len(x)
    if all(_is_number(v) for v in x):
        xs = _floats(x)
    else:  # labels, not numbers: draw by position, name a few ticks
        xs = np.arange(n, dtype=float)
        step = max(1, math.ceil(n / _MAX_TICK_LABELS))
        plot.ticks = [float(i) for i in range(0, n, step)]
        plot.tick_labels = [_figure_text(x[i], _MAX_LABEL_CHARS) for i in range(0, n, step)]
    buckets = _MAX_POINTS // 2
    if n <= _MAX_POINTS:
        plot.series = [_Series(label, xs, y) for label, y in named]
        return
    bounds = np.linspace(0, n, buckets + 1).astype(int)
    for label, y in named:
        low = np.where(np.isnan(y), np.inf, y)
        high = np.where(np.isnan(y), -np.inf, y)
        keep: set[int] = set()
        for start, stop in pairwise(bounds):
            if stop > start:
                keep.add(int(start + np.argmin(low[start:stop])))
                keep.add(int(start + np.argmax(high[start:stop])))
        index = np.array(sorted(keep))
        plot.series.append(_Series(label, xs[index], y[index]))
    plot.notes.append(
        f"{n:,} points drawn as the minimum and maximum of each of {buckets:,} buckets."
    )


def _draw(plot: _Plot) -> bytes:
    """Draw a bounded plot to PNG bytes (Agg, no display needed), all text as plain text."""
    import matplotlib
    from matplotlib.figure import Figure

    # Local to this drawing (never the global rcParams): the user's matplotlibrc must not turn
    # data into mathtext or TeX; every text of ours says parse_math=False as well.
    plain_rc: dict[Any, Any] = {
        "text.parse_math": False,
        "text.usetex": False,
        "axes.formatter.use_mathtext": False,  # else offsets read "$\times10^{5}$"
    }
    with matplotlib.rc_context(plain_rc), warnings.catch_warnings():
        # Missing glyphs and overflow in tick maths are the data's oddities, not the reader's.
        warnings.simplefilter("ignore")
        bars = len(plot.ticks) if plot.chart == "barh" else 0
        height = (
            3.0 if plot.chart != "barh" else min(_MAX_FIGURE_HEIGHT, max(2.2, 0.28 * bars + 1.0))
        )
        fig = Figure(figsize=(7.0, height), dpi=110)
        ax = fig.add_subplot()
        plain: dict[str, Any] = {"parse_math": False, "usetex": False}
        if plot.chart == "barh":
            n = len(plot.series)
            width = 0.8 / max(n, 1)
            for i, s in enumerate(plot.series):
                ax.barh(s.x + (i - (n - 1) / 2) * width, s.y, height=width, label=s.label)
            ax.set_yticks(plot.ticks, plot.tick_labels, **plain)
            ax.invert_yaxis()
        elif plot.chart == "hist":
            for s in plot.series:
                ax.stairs(s.y, s.x, label=s.label, linewidth=1.6)
        else:
            for s in plot.series:
                ax.plot(s.x, s.y, label=s.label)
            if plot.tick_labels:
                ax.set_xticks(plot.ticks, plot.tick_labels, rotation=30, ha="right", **plain)
        ax.set_xlabel(plot.xlabel, **plain)
        ax.set_ylabel(plot.ylabel, **plain)
        ax.set_title(plot.title, fontsize=10, **plain)
        if len(plot.series) > 1:
            for text in ax.legend(fontsize=8).get_texts():
                text.set_parse_math(False)
                text.set_usetex(False)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    return buffer.getvalue()


# -- values as text -----------------------------------------------------------------------


def _floats(values: Sequence[Any]) -> np.ndarray:
    """Values as floats; missing, non-numeric, non-finite or beyond ±1e100 become NaN."""
    import numpy as np

    try:
        array = np.asarray(values, dtype=float)
        if array.ndim != 1:
            raise ValueError("not one-dimensional")
    except (TypeError, ValueError, OverflowError):
        array = np.array([_float(v) for v in values], dtype=float)
    with np.errstate(invalid="ignore"):
        array[~(np.abs(array) <= _MAX_ABS_VALUE)] = np.nan
    return array


def _float(value: Any) -> float:
    if not _is_number(value):
        return math.nan
    try:
        return float(value)
    except (OverflowError, TypeError, ValueError):
        return math.nan


def _figure_text(value: Any, limit: int, *, legend: bool = False) -> str:
    """Text for a figure: one line, short, control characters visible."""
    text = visible(" ".join(_text(value, limit).split()))
    # matplotlib leaves labels starting with "_" out of legends.
    return " " + text if legend and text.startswith("_") else text


def _error_text(exc: BaseException) -> str:
    return _text(f"{type(exc).__name__}: {exc}", _MAX_CELL_CHARS)


def _is_number(value: Any) -> bool:
    """A real number (numpy's included), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _text(value: Any, limit: int = _MAX_CELL_CHARS) -> str:
    """A value as at most ``limit`` characters of text (not yet escaped).

    None is "—", NaN "n/a"; huge numbers are written in short scientific notation; lists and
    dicts as JSON, stopping once ``limit`` is reached however large they are.
    """
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return _number_text(value)
    if isinstance(value, numbers.Integral):  # numpy's integers
        return _number_text(int(value))
    if isinstance(value, numbers.Real):  # numpy's floats of other widths, fractions
        return _number_text(float(value))
    if isinstance(value, str):
        return _clip(value, limit)
    if isinstance(value, dict | list | tuple):
        return _clip("".join(_take(_json_chunks(value, 0), limit + 1)), limit)
    try:
        text = str(value)
    except Exception:  # an object whose str() fails is still shown as something
        text = f"<{type(value).__name__}>"
    return _clip(text, limit)


def _number_text(value: int | float) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:.4g}"
    if -(10**15) < value < 10**15:
        return str(value)
    try:
        return f"{float(value):.4g}"
    except OverflowError:  # beyond float, and str() of an int of 4,300+ digits raises
        exponent = math.floor(math.log10(abs(value)))
        mantissa = f"{10 ** (math.log10(abs(value)) - exponent):.4g}"
        if mantissa == "10":
            mantissa, exponent = "1", exponent + 1
        return f"{'-' if value < 0 else ''}{mantissa}e+{exponent}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def _take(chunks: Iterator[str], limit: int) -> Iterator[str]:
    """Chunks until their total length reaches ``limit``."""
    used = 0
    for chunk in chunks:
        yield chunk
        used += len(chunk)
        if used >= limit:
            return


def _json_chunks(value: Any, depth: int) -> Iterator[str]:
    """JSON text of ``value``, lazily, so that only what is shown is ever built."""
    if depth > 20:
        yield "…"
    elif isinstance(value, dict):
        yield "{"
        for i, (k, v) in enumerate(value.items()):
            yield ", " if i else ""
            yield json.dumps(_text(k, _MAX_CELL_CHARS))
            yield ": "
            yield from _json_chunks(v, depth + 1)
        yield "}"
    elif isinstance(value, list | tuple):
        yield "["
        for i, v in enumerate(value):
            yield ", " if i else ""
            yield from _json_chunks(v, depth + 1)
        yield "]"
    elif value is None or isinstance(value, bool):
        yield json.dumps(value)
    elif isinstance(value, numbers.Real):
        yield _text(value)
    else:
        yield json.dumps(_text(value, _MAX_CELL_CHARS), ensure_ascii=False)


def _join(items: Any, limit: int = _MAX_TEXT_CHARS) -> str:
    """``items`` joined with ", ", at most ``limit`` characters, then "… (K more)"."""
    if items is None or isinstance(items, str):
        return _text(items, limit) if items else ""
    values = _sequence(items) if isinstance(items, list | tuple) else list(_bounded(items))
    shown: list[str] = []
    used = 0
    for value in values:
        text = _text(value, _MAX_NAME_CHARS)
        if used + len(text) > limit and shown:
            return ", ".join(shown) + f", … ({len(values) - len(shown):,} more)"
        shown.append(text)
        used += len(text) + 2
    return ", ".join(shown)


def _bounded(items: Iterable[Any]) -> Iterator[Any]:
    return islice(items, 10_000)


def _sequence(value: Any) -> Sequence[Any]:
    """A list or tuple as it is, a 1-d array as a list; None as []; anything else as [value]."""
    if isinstance(value, list | tuple):
        return value
    if value is None or (isinstance(value, str) and not value):
        return []
    if _is_array(value):
        return list(value.tolist())
    return [value]


def _is_array(value: Any) -> bool:
    """A one-dimensional numpy array or pandas Series (what a plug-in may pass for a list)."""
    return getattr(value, "ndim", None) == 1 and hasattr(value, "tolist")


def _mapping(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def _min_score(policy: Any) -> float:
    value = _mapping(policy).get("min_score", 0)
    return float(value) if _is_number(value) else math.nan


# -- notebook views: the dashboard and the rich reprs in JupyterLab ------------------------
#
# In JupyterLab the report's stylesheet is not on the page: a widget's HTML, or an object's
# _repr_html_, must bring its own styles. :func:`styled` wraps a view in ``<div class="pr-nb">``
# with a ``<style>`` element whose rules all start with ``.pr-nb``, so they style prodready's
# views and nothing else on the page, whichever output (widget, HTML, exported notebook) holds
# them. Colours of text and borders come from JupyterLab's theme variables (light or dark),
# with the report's own colours as fallbacks outside JupyterLab; status badges and the verdict
# keep the report's colours on their own backgrounds, so they read the same in both themes.

_NOTEBOOK_CSS = """
.pr-nb {
  --pr-fg: var(--jp-content-font-color1, #1f2328);
  --pr-muted: var(--jp-content-font-color2, #59636e);
  --pr-border: var(--jp-border-color2, #d1d9e0);
  --pr-border-strong: var(--jp-border-color1, #8c959f);
  --pr-soft: rgba(127, 127, 127, 0.08);
  --pr-accent: var(--jp-content-link-color, #0b4f8a);
  --pr-brand: var(--jp-brand-color1, #1976d2);
  --pr-pass: #116329; --pr-pass-bg: #dafbe1;
  --pr-warn: #7d4e00; --pr-warn-bg: #fff1c2;
  --pr-fail: #b3141f; --pr-fail-bg: #ffebe9;
  --pr-error: #ffffff; --pr-error-bg: #6e0b14;
  --pr-grey: #59636e; --pr-grey-bg: #eaeef2;
  display: block;
  max-width: 64rem;
  color: var(--pr-fg);
  font-family: var(--jp-content-font-family, system-ui, -apple-system, "Segoe UI", Roboto,
    "Helvetica Neue", Arial, "Noto Sans", "Liberation Sans", sans-serif);
  font-size: var(--jp-content-font-size1, 14px);
  line-height: 1.5;
  white-space: normal;
  text-align: left;
  overflow-wrap: break-word;
}
.pr-nb *, .pr-nb *::before, .pr-nb *::after { box-sizing: border-box; }
.pr-nb.pr-nb h1, .pr-nb.pr-nb h2, .pr-nb.pr-nb h3 {
  margin: 1.1em 0 0.45em; padding: 0; font-weight: 650; line-height: 1.3; color: var(--pr-fg);
}
.pr-nb.pr-nb h1 { margin-top: 0.1em; font-size: 1.45em; }
.pr-nb.pr-nb h2 { font-size: 1.2em; }
.pr-nb.pr-nb h3 { font-size: 1.05em; }
.pr-nb.pr-nb p, .pr-nb.pr-nb ul { margin: 0 0 0.7em; text-align: left; }
.pr-nb.pr-nb ul { padding-left: 1.4em; }
.pr-nb.pr-nb a { color: var(--pr-accent); text-decoration: underline; }
.pr-nb.pr-nb code { padding: 0.05em 0.3em; border-radius: 3px; background: var(--pr-soft);
  font-family: var(--jp-code-font-family, ui-monospace, Menlo, Consolas, monospace);
  font-size: 0.9em; }
.pr-nb.pr-nb table {
  margin: 0.4rem 0 1rem; border: 0; border-collapse: collapse; border-spacing: 0;
  table-layout: auto; color: inherit; font-size: 0.92em; font-variant-numeric: tabular-nums;
}
.pr-nb.pr-nb caption {
  caption-side: top; padding: 0 0 0.3rem; color: var(--pr-muted); font-size: 0.92em;
  text-align: left;
}
.pr-nb.pr-nb th, .pr-nb.pr-nb td {
  max-width: none; padding: 0.22rem 0.6rem; border: 0; border-bottom: 1px solid var(--pr-border);
  line-height: 1.4; text-align: left; vertical-align: top; white-space: normal;
}
.pr-nb.pr-nb thead th {
  border-bottom: 2px solid var(--pr-border-strong); font-weight: 600; vertical-align: bottom;
}
.pr-nb.pr-nb tbody tr, .pr-nb.pr-nb tbody tr:nth-child(odd) { background: transparent; }
.pr-nb.pr-nb tbody tr:nth-child(even) { background: var(--pr-soft); }
.pr-nb.pr-nb tbody tr:hover { background: rgba(127, 127, 127, 0.14); }
.pr-nb.pr-nb td.pr-num, .pr-nb.pr-nb th.pr-num { text-align: right; white-space: nowrap; }
.pr-nb.pr-nb table.pr-kv { width: 100%; }
.pr-nb.pr-nb table.pr-kv th { width: 28%; color: var(--pr-muted); font-weight: 600; }
.pr-nb.pr-nb table.pr-kv td { overflow-wrap: anywhere; }
.pr-nb.pr-nb table.pr-scores { width: 100%; }
.pr-nb.pr-nb .pr-scores td { vertical-align: middle; }
.pr-nb .pr-summary {
  margin: 0.2rem 0 0.8rem; padding: 0.8rem 1rem 0.2rem; border: 1px solid var(--pr-border);
  border-radius: 6px; background: var(--pr-soft);
}
.pr-nb.pr-nb .pr-verdict {
  margin: 0 0 0.8rem; padding: 0.5rem 0.9rem; border: 2px solid var(--pr-border-strong);
  border-left-width: 0.5rem; border-radius: 4px; font-size: 1.3em; font-weight: 700;
  line-height: 1.3;
}
.pr-nb.pr-nb .pr-verdict.pr-ready {
  border-color: var(--pr-pass); background: var(--pr-pass-bg); color: var(--pr-pass);
}
.pr-nb.pr-nb .pr-verdict.pr-not-ready {
  border: 5px double var(--pr-fail); border-left: 0.5rem solid var(--pr-fail);
  background: var(--pr-fail-bg); color: var(--pr-fail);
}
.pr-nb.pr-nb .pr-verdict.pr-pending {
  border-color: var(--pr-brand); background: transparent; color: var(--pr-fg); font-size: 1.1em;
}
.pr-nb .pr-scope {
  margin: -0.4rem 0 0.8rem; padding: 0.3rem 0.9rem; border: 1px dashed var(--pr-border-strong);
  border-radius: 4px;
}
.pr-nb .pr-badge {
  display: inline-block; padding: 0.05rem 0.5rem; border: 1px solid currentcolor;
  border-radius: 999px; font-size: 0.74rem; font-style: normal; font-weight: 650;
  letter-spacing: 0.04em; line-height: 1.45; text-transform: uppercase; white-space: nowrap;
  vertical-align: 0.1em;
}
.pr-nb .pr-badge + .pr-badge { margin-left: 0.2rem; }
.pr-nb .pr-badge.pr-pass {
  border: 1px solid var(--pr-pass); background: var(--pr-pass-bg); color: var(--pr-pass);
}
.pr-nb .pr-badge.pr-warn {
  border: 2px dashed var(--pr-warn); background: var(--pr-warn-bg); color: var(--pr-warn);
}
.pr-nb .pr-badge.pr-fail {
  border: 3px solid var(--pr-fail); background: var(--pr-fail-bg); color: var(--pr-fail);
  font-weight: 800;
}
.pr-nb .pr-badge.pr-error {
  border: 4px double var(--pr-error-bg); background: var(--pr-error-bg); color: var(--pr-error);
  font-weight: 800;
}
.pr-nb .pr-badge.pr-skipped {
  border: 2px dotted var(--pr-grey); background: var(--pr-grey-bg); color: var(--pr-grey);
}
.pr-nb .pr-badge.pr-not_assessed {
  border: 1px dashed var(--pr-grey); background: var(--pr-grey-bg); color: var(--pr-grey);
  font-style: italic;
}
.pr-nb .pr-badge.pr-running {
  border: 1px solid var(--pr-brand); background: transparent; color: var(--pr-brand);
}
.pr-nb .pr-badge.pr-waiting {
  border: 1px dotted var(--pr-border-strong); background: transparent; color: var(--pr-muted);
}
.pr-nb .pr-change {
  display: inline-block; padding: 0 0.45rem; border-radius: 3px; font-size: 0.78rem;
  font-weight: 650; white-space: nowrap;
}
.pr-nb .pr-change.pr-better { background: var(--pr-pass-bg); color: var(--pr-pass); }
.pr-nb .pr-change.pr-worse { background: var(--pr-fail-bg); color: var(--pr-fail); }
.pr-nb .pr-change.pr-other { background: var(--pr-warn-bg); color: var(--pr-warn); }
.pr-nb.pr-nb tr.pr-changed > td { background: rgba(255, 193, 7, 0.16); }
.pr-nb.pr-nb tr.pr-changed > td:first-child { box-shadow: inset 4px 0 0 #bf8700; }
.pr-nb .pr-bar {
  display: inline-block; position: relative; width: 7rem; height: 0.5rem; overflow: hidden;
  border-radius: 999px; background: rgba(127, 127, 127, 0.22); vertical-align: middle;
}
.pr-nb .pr-bar > span {
  display: block; height: 100%; border-radius: 999px; background: var(--pr-brand);
}
.pr-nb .pr-bar.pr-indeterminate > span {
  position: absolute; width: 35%; animation: pr-slide 1.3s ease-in-out infinite;
}
@keyframes pr-slide { from { left: -35%; } to { left: 100%; } }
.pr-nb.pr-nb .pr-question-text {
  margin: 0.2rem 0 0.8rem; padding: 0.1rem 0 0.1rem 0.8rem;
  border-left: 3px solid var(--pr-border-strong); color: var(--pr-muted); font-style: italic;
}
.pr-nb.pr-nb .pr-meta { color: var(--pr-muted); font-size: 0.86em; line-height: 1.4; }
.pr-nb .pr-remediation {
  margin: 0.8rem 0 1rem; padding: 0.55rem 0.9rem; border: 1px solid var(--pr-border);
  border-left: 5px solid #bf8700; border-radius: 4px; background: rgba(255, 193, 7, 0.12);
}
.pr-nb .pr-not-assessed-parts { color: var(--pr-muted); }
.pr-nb .pr-figure { margin: 0.9rem 0; }
.pr-nb .pr-figure img {
  display: block; max-width: 100%; height: auto; border-radius: 3px; background: #ffffff;
}
.pr-nb .pr-figure figcaption {
  margin-top: 0.3rem; color: var(--pr-muted); font-size: 0.86em; line-height: 1.4;
}
.pr-nb.pr-nb pre.pr-error-trace {
  max-height: 18rem; margin: 0.5rem 0 1rem; padding: 0.5rem 0.7rem; overflow: auto;
  border: 1px solid var(--pr-border); border-left: 4px solid var(--pr-fail);
  background: var(--pr-soft); color: var(--pr-fg); font-size: 0.78em; line-height: 1.4;
  white-space: pre;
}
.pr-nb section.pr-question { margin: 0; padding: 0; border: 0; }
.pr-nb.pr-nb section.pr-question + section.pr-question,
.pr-nb.pr-nb .pr-summary ~ section.pr-question,
.pr-nb.pr-nb .pr-comparison ~ section.pr-question {
  margin-top: 1.4rem; padding-top: 0.8rem; border-top: 1px solid var(--pr-border);
}
.pr-nb section.pr-question > h2:first-child { margin-top: 0.2em; }
.pr-nb .pr-card {
  padding: 0.6rem 0.9rem 0.1rem; border: 1px solid var(--pr-border); border-radius: 6px;
}
.pr-nb .pr-files { margin: 0.2rem 0 0.8rem; padding-left: 1.2em; }
"""


def _minified(css: str) -> str:
    """The stylesheet without line breaks and runs of spaces (it travels in every widget)."""
    text = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    text = re.sub(r"\s+", " ", text)
    return re.sub(r"\s*([{};:,>])\s*", r"\1", text).strip()


_STYLE_ELEMENT = f'<style type="text/css">{_minified(_NOTEBOOK_CSS)}</style>'


def stylesheet() -> str:
    """The ``<style>`` element of the notebook views (all its rules scoped to ``.pr-nb``)."""
    return _STYLE_ELEMENT


def styled(body: str) -> str:
    """``body`` (HTML from these views) with its styles, for JupyterLab and exported notebooks.

    The report has its own stylesheet; a notebook output, a widget or an object's
    ``_repr_html_`` does not, so each carries this scoped one.
    """
    return f'<div class="pr-nb">{_STYLE_ELEMENT}{body}</div>'


@dataclass(frozen=True)
class QuestionProgress:
    """Where one question stands in a run, for :func:`progress_html` (plain data).

    ``state`` is "waiting", "running", "done" or "kept" (a finding of an earlier run, not
    assessed again in this one); ``status`` the status once done (or kept); ``step`` and
    ``fraction`` what a running probe last reported; ``previous`` the status of the earlier run.
    """

    question: str
    state: str
    status: Status | None = None
    step: str = ""
    fraction: float | None = None
    seconds: float | None = None
    previous: Status | None = None


def progress_html(
    name: str, rows: Sequence[QuestionProgress], *, headline: str = "", note: str = ""
) -> str:
    """The live board of a run: one line per question, with its status or its progress."""
    done = sum(1 for r in rows if r.state == "done")
    running = sum(1 for r in rows if r.state in ("running", "waiting", "done"))
    line = headline or f"Assessing… {done} of {running} questions done"
    parts = [
        '<div class="pr-report pr-summary pr-live">',
        f"<h1>Production readiness: {escape(_text(name, _MAX_NAME_CHARS))}</h1>",
        f'<p class="pr-verdict pr-pending">{escape(line)}</p>',
    ]
    if note:
        parts.append(_note(note))
    parts.append(
        '<table class="pr-table pr-progress"><thead><tr><th>#</th><th>Question</th>'
        "<th>Status</th><th>Progress</th></tr></thead><tbody>"
    )
    for row in rows:
        q = get_question(row.question)
        if row.state == "running":
            status = '<span class="pr-badge pr-running">running</span>'
            known = _is_number(row.fraction) and math.isfinite(float(row.fraction or 0))
            share = min(max(float(row.fraction or 0.0), 0.0), 1.0) if known else None
            bar = (
                f'<span class="pr-bar"><span style="width:{share * 100:.0f}%"></span></span> '
                f"{pct(share)}"
                if share is not None
                else '<span class="pr-bar pr-indeterminate"><span></span></span>'
            )
            detail = f"{bar} {escape(_text(row.step, _MAX_LABEL_CHARS * 2))}"
        elif row.status is not None:
            status = badge(row.status)
            took = (
                f"{row.seconds:.1f} s"
                if _is_number(row.seconds) and row.seconds and math.isfinite(row.seconds)
                else ""
            )
            detail = escape("kept from the previous run" if row.state == "kept" else took)
        else:
            status = '<span class="pr-badge pr-waiting">waiting</span>'
            detail = ""
        if row.previous is not None and row.state != "kept":
            detail += f' <span class="pr-meta">(was {escape(row.previous.label)})</span>'
        parts.append(
            f"<tr><td>{q.id}</td><td>{escape(q.title)}</td><td>{status}</td><td>{detail}</td></tr>"
        )
    parts.append("</tbody></table></div>")
    return "\n".join(parts)


_ABSENT = '<span class="pr-meta">not in this run</span>'
# How a status change reads: towards PASS is better (PASS > WARN > the rest).
_RANK = {Status.PASS: 2, Status.WARN: 1}


def comparison_html(
    assessments: Sequence[Assessment],
    labels: Sequence[str] | None = None,
    *,
    title: str = "Comparison",
) -> str:
    """Several assessments side by side, question by question; rows that differ highlighted.

    ``labels`` name the columns (default: each run's id). With two assessments a last column
    says whether each change is better (towards PASS), worse, or another change.
    """
    runs = list(assessments)[:_MAX_SERIES]
    names = list(labels or [])[: len(runs)]
    names += [_text(a.run_id, _MAX_NAME_CHARS) for a in runs[len(names) :]]
    pair = len(runs) == 2
    head = "".join(f"<th>{escape(_text(n, _MAX_LABEL_CHARS))}</th>" for n in names)
    parts = [
        '<div class="pr-report pr-comparison">',
        f"<h2>{escape(_text(title, _MAX_TEXT_CHARS))}</h2>",
        '<table class="pr-table pr-compare"><thead><tr><th>#</th><th>Question</th>'
        f"{head}{'<th>Change</th>' if pair else ''}</tr></thead><tbody>",
    ]
    changed = 0
    for q in _questions_in(runs):
        statuses = [_status_of(a, q.id) for a in runs]
        differs = len(set(statuses)) > 1
        changed += differs
        cells = "".join(f"<td>{badge(s) if s is not None else _ABSENT}</td>" for s in statuses)
        change = ""
        if pair:
            change = "<td>" + (_change(statuses[0], statuses[1]) if differs else "") + "</td>"
        row_class = ' class="pr-changed"' if differs else ""
        parts.append(
            f"<tr{row_class}><td>{q.id}</td><td>{escape(q.title)}</td>{cells}{change}</tr>"
        )
    verdicts = "".join(
        f"<td><strong>{'READY' if a.ready else 'NOT READY'}</strong> ({pct(a.overall)})"
        + (
            f' <span class="pr-meta">on {escape(_join(a.questions, _MAX_LABEL_CHARS))} only</span>'
            if a.partial
            else ""
        )
        + "</td>"
        for a in runs
    )
    verdict_change = ""
    if pair:
        before, after = runs[0], runs[1]
        verdict_change = "<td>" + (
            _delta(after.overall - before.overall) if _is_number(after.overall) else ""
        )
        verdict_change += "</td>"
    parts.append(
        f"<tr><td></td><td><strong>Verdict</strong> (overall score)</td>{verdicts}"
        f"{verdict_change}</tr>"
    )
    parts.append("</tbody></table>")
    parts.append(
        _note(
            f"{changed} question{'s differ' if changed > 1 else ' differs'} between these runs "
            "(highlighted)."
            if changed
            else "Every question has the same status in these runs."
        )
    )
    parts.append("</div>")
    return "\n".join(parts)


def _questions_in(runs: Sequence[Assessment]) -> list[Any]:
    ids = {f.question for a in runs for f in _sequence(a.findings) if isinstance(f, Finding)}
    return [q for q in QUESTIONS if q.id in ids]


def _status_of(assessment: Assessment, question: str) -> Status | None:
    for f in _sequence(assessment.findings):
        if isinstance(f, Finding) and f.question == question:
            return f.status if isinstance(f.status, Status) else None
    return None


def _change(before: Status | None, after: Status | None) -> str:
    if before is None or after is None:
        return '<span class="pr-change pr-other">new</span>' if before is None else ""
    up, down = _RANK.get(after, 0), _RANK.get(before, 0)
    if up > down:
        return '<span class="pr-change pr-better">▲ better</span>'
    if up < down:
        return '<span class="pr-change pr-worse">▼ worse</span>'
    return '<span class="pr-change pr-other">changed</span>'


def _delta(difference: float) -> str:
    if not math.isfinite(difference) or abs(difference) < 5e-5:
        return ""
    points = f"{100 * difference:+.0f} points"
    kind = "pr-better" if difference > 0 else "pr-worse"
    return f'<span class="pr-change {kind}">{escape(points)}</span>'


def assessment_card_html(assessment: Assessment) -> str:
    """An assessment in a notebook: the executive summary and how to see each question."""
    hint = _note(
        "Each question in detail: assessment.finding('Q3'). The audit report: "
        "prodready assess SPEC, or prodready.run_assessment(spec)."
    )
    return styled(summary_html(assessment) + hint)


def finding_card_html(finding: Finding) -> str:
    """A finding in a notebook: the same section as the report's, with its styles."""
    return styled(f'<div class="pr-card">{finding_html(finding)}</div>')


def run_html(assessment: Assessment, directory: str, files: Sequence[tuple[str, str, int]]) -> str:
    """A finished headless run: its summary and links to its files.

    ``files`` lists (name, link, size in bytes); a link relative to the notebook's folder opens
    the file in JupyterLab; an empty link lists the file by name only.
    """
    items = "".join(
        (
            f'<li><a href="{escape(link)}" target="_blank" rel="noopener">{escape(name)}</a> '
            if link
            else f"<li>{escape(name)} "
        )
        + f'<span class="pr-meta">{size:,} bytes</span></li>'
        for name, link, size in files[:_MAX_LIST_ITEMS]
    )
    where = escape(_text(directory, _MAX_TEXT_CHARS))
    head = (
        f'<div class="pr-report pr-run"><p><strong>Run folder</strong> <code>{where}</code></p>'
        f'<ul class="pr-files">{items}</ul></div>'
    )
    return styled(head + summary_html(assessment))


def system_card_html(description: dict[str, Any]) -> str:
    """A short card of a system (from :meth:`prodready.System.describe`): what will be assessed."""
    d = _mapping(description)
    meta = _mapping(d.get("metadata"))
    rows_of = _mapping(d.get("rows"))
    features = _sequence(d.get("features"))
    categorical = _sequence(d.get("categorical"))
    endpoint = _mapping(d.get("endpoint"))
    registry = _mapping(d.get("registry"))
    hooks = _mapping(d.get("hooks"))
    model = _mapping(d.get("model"))
    rows: list[tuple[str, Any]] = [
        ("Task", d.get("task")),
        ("Model", d.get("model_type")),
        ("Model file", model.get("location") if model else None),
        ("Target", d.get("target")),
        (
            "Features",
            f"{len(features):,} ({len(categorical):,} categorical): {_join(features, 300)}",
        ),
        (
            "Data",
            f"reference {_text(rows_of.get('reference'))} rows; current "
            + (
                f"{_text(rows_of.get('current'))} rows"
                if rows_of.get("current") is not None
                else "none (data.current enables drift and performance monitoring)"
            ),
        ),
        ("Endpoint", endpoint.get("url") or endpoint.get("serve") if endpoint else None),
        (
            "Registry",
            f"{registry.get('model_name')} at {registry.get('uri')}" if registry else None,
        ),
        ("Hooks", _join(f"{k}: {v}" for k, v in hooks.items()) if hooks else None),
        ("Decision log", d.get("decision_log")),
        ("Owner", meta.get("owner")),
        ("Intended use", meta.get("intended_use")),
        ("Spec", d.get("source")),
    ]
    body = "".join(
        f"<tr><th>{escape(k)}</th><td>{escape(_text(v, _MAX_TEXT_CHARS))}</td></tr>"
        for k, v in rows
        if v not in (None, "", "<python>")
    )
    name = escape(_text(d.get("name"), _MAX_NAME_CHARS))
    return styled(
        f'<div class="pr-report pr-card"><h2>System: {name}</h2>'
        f'<table class="pr-kv">{body}</table></div>'
    )


def pending_question_html(question: str, *, note: str = "") -> str:
    """A question's panel before it is assessed: the question and how to run it."""
    q = get_question(question)
    text = note or "Not assessed yet: run the assessment, or run this question alone."
    return (
        f'<section class="pr-report pr-question" id="{q.id.lower()}">'
        f"<h2>{q.id}. {escape(q.title)}</h2>"
        f'<p class="pr-question-text">{escape(q.text)}</p>'
        f'<p class="pr-meta">{escape(text)}</p></section>'
    )


def dashboard_intro_html(name: str) -> str:
    """The dashboard before its first run."""
    return (
        '<div class="pr-report pr-summary">'
        f"<h1>Production readiness: {escape(_text(name, _MAX_NAME_CHARS))}</h1>"
        '<p class="pr-verdict pr-pending">Not assessed yet</p>'
        "<p>Click <strong>Run assessment</strong> to run every probe on the system; each "
        "question below fills in as its probe finishes. <strong>Stop</strong> cancels the "
        "probe running; a question's own button runs that question alone, keeping the "
        "others.</p></div>"
    )
