"""Render an :class:`~prodready.Assessment` as HTML: views render and never compute.

Every function here turns results into an HTML string (figures are PNGs drawn with matplotlib
and embedded as ``data:`` URIs), so the same output reads in JupyterLab, in the executed
notebook and in the static, offline HTML report. Every string that comes from the user or the
system (names, values, messages) is escaped here, at the source.

The CSS classes used (``pr-...``) are styled by the report template.
"""

from __future__ import annotations

import base64
import io
import json
import math
from html import escape
from typing import Any

from prodready.checklist import Section, get_question
from prodready.results import Assessment, Chart, Finding, Status, Table

__all__ = [
    "badge",
    "escape",
    "finding_html",
    "pct",
    "question_html",
    "summary_html",
    "system_html",
]

_SECTION_TITLES = {
    Section.TECHNICAL: "Technical readiness",
    Section.GOVERNANCE: "Governance readiness",
    Section.OPERATIONAL: "Operational readiness",
}
_MAX_TABLE_ROWS = 60


def badge(status: Status) -> str:
    """A status pill, e.g. ``<span class="pr-badge pr-fail">FAIL</span>``."""
    return f'<span class="pr-badge pr-{status.value}">{escape(status.label)}</span>'


def summary_html(assessment: Assessment) -> str:
    """The executive summary: verdict, section scores, the ten questions in one line each."""
    a = assessment
    name = escape(str(a.system.get("name", "")))
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
    parts = [
        '<div class="pr-report pr-summary">',
        f"<h1>Production readiness: {name}</h1>",
        f'<p class="pr-verdict {verdict_class}">{"READY" if a.ready else "NOT READY"}'
        f" &mdash; overall score {pct(a.overall)}</p>",
        scope,
        f'<p class="pr-meta">Run {escape(a.run_id)} &middot; {escape(a.created)} &middot; '
        f"{escape(tally)} &middot; ready needs every applicable question PASS or WARN and an "
        f"overall score of at least {pct(float(a.policy.get('min_score', 0)))}.</p>",
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
            f"<td>{badge(f.status)}</td><td>{escape(f.summary)}</td></tr>"
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
    meta = s.get("metadata") or {}
    rows: list[tuple[str, Any]] = [
        ("System", s.get("name")),
        ("Owner", meta.get("owner")),
        ("Intended use", meta.get("intended_use")),
        ("Description", meta.get("description")),
        ("Limitations", meta.get("limitations")),
        ("Contact", meta.get("contact")),
        ("Task", s.get("task")),
        ("Model type", s.get("model_type")),
    ]
    model = s.get("model") or {}
    if model:
        rows += [
            ("Model artifact", f"{model.get('location')} ({model.get('format')})"),
            ("Model sha256", model.get("sha256")),
        ]
    for which, art in (s.get("data") or {}).items():
        if art:
            rows += [
                (
                    f"{which.capitalize()} data",
                    f"{art.get('location')} ({(s.get('rows') or {}).get(which)} rows)",
                ),
                (f"{which.capitalize()} sha256", art.get("sha256")),
            ]
    rows += [
        ("Target", s.get("target")),
        ("Features", ", ".join(s.get("features") or [])),
        ("Categorical", ", ".join(s.get("categorical") or []) or "none"),
        ("Spec", s.get("source")),
    ]
    env = assessment.environment
    packages = ", ".join(f"{k} {v}" for k, v in (env.get("packages") or {}).items() if v)
    rows += [("Assessed with", f"Python {env.get('python')} on {env.get('platform')}; {packages}")]
    body = "".join(
        f"<tr><th>{escape(k)}</th><td>{escape(_text(v))}</td></tr>"
        for k, v in rows
        if v not in (None, "")
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
        f"<p>{escape(f.summary)}</p>",
    ]
    if f.checks:
        parts.append(
            _table_html(
                Table(
                    title="Checks",
                    columns=["check", "status", "measured", "threshold", "finding"],
                    rows=[
                        [c.name, c.status.label, c.measured, c.threshold, c.message]
                        for c in f.checks
                    ],
                )
            )
        )
    if f.not_assessed:
        items = "".join(f"<li>{escape(p)}</li>" for p in f.not_assessed)
        parts.append(
            f'<div class="pr-not-assessed-parts"><strong>Not assessed yet:</strong>'
            f"<ul>{items}</ul></div>"
        )
    if f.remediation:
        parts.append(
            f'<div class="pr-remediation"><strong>What to do:</strong> '
            f"{escape(f.remediation)}</div>"
        )
    for item in f.evidence:
        parts.append(_table_html(item) if isinstance(item, Table) else _chart_html(item))
    if f.thresholds:
        parts.append(
            _table_html(
                Table(
                    title="Thresholds used",
                    columns=["name", "value"],
                    rows=[[k, _text(v)] for k, v in f.thresholds.items()],
                )
            )
        )
    if f.error:
        parts.append(f'<pre class="pr-error-trace">{escape(f.error)}</pre>')
    meta = [f"probe {escape(f.probe)}"] if f.probe else []
    if f.duration_s:
        meta.append(f"{f.duration_s:.2f} s")
    if meta:
        parts.append(f'<p class="pr-meta">{" &middot; ".join(meta)}</p>')
    parts.append("</section>")
    return "\n".join(parts)


# -- pieces -------------------------------------------------------------------------------


def _table_html(table: Table) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in table.columns)
    body = []
    for row in table.rows[:_MAX_TABLE_ROWS]:
        cells = "".join(
            f'<td class="pr-num">{_text(v)}</td>'
            if _is_number(v)
            else f"<td>{escape(_text(v))}</td>"
            for v in row
        )
        body.append(f"<tr>{cells}</tr>")
    more = len(table.rows) - _MAX_TABLE_ROWS
    note = table.note + (f" ({more} more rows in results.json.)" if more > 0 else "")
    caption = f"<caption>{escape(table.title)}</caption>" if table.title else ""
    note_html = f'<p class="pr-meta">{escape(note)}</p>' if note else ""
    return (
        f'<table class="pr-table">{caption}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>{note_html}"
    )


def _chart_html(chart: Chart) -> str:
    png = base64.b64encode(_draw(chart)).decode("ascii")
    note = f" {escape(chart.note)}" if chart.note else ""
    return (
        f'<figure class="pr-figure"><img alt="{escape(chart.title)}" '
        f'src="data:image/png;base64,{png}"/>'
        f"<figcaption>{escape(chart.title)}.{note}</figcaption></figure>"
    )


def _draw(chart: Chart) -> bytes:
    """Draw a chart to PNG bytes (Agg, no display needed)."""
    from matplotlib.figure import Figure

    names = list(chart.series)
    height = 3.0 if chart.chart != "barh" else max(2.2, 0.28 * len(chart.x) + 1.0)
    fig = Figure(figsize=(7.0, height), dpi=110)
    ax = fig.add_subplot()
    if chart.chart == "barh":
        n = len(names)
        width = 0.8 / max(n, 1)
        positions = list(range(len(chart.x)))
        for i, name in enumerate(names):
            ax.barh(
                [p + (i - (n - 1) / 2) * width for p in positions],
                chart.series[name],
                height=width,
                label=name,
            )
        ax.set_yticks(positions, [str(x) for x in chart.x])
        ax.invert_yaxis()
    elif chart.chart == "hist":
        edges = [float(e) for e in chart.x]
        for name in names:
            ax.stairs(chart.series[name], edges, label=name, linewidth=1.6)
    else:
        for name in names:
            ax.plot(chart.x, chart.series[name], label=name)
    ax.set_xlabel(chart.xlabel)
    ax.set_ylabel(chart.ylabel)
    ax.set_title(chart.title, fontsize=10)
    if len(names) > 1:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:.4g}"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


def pct(value: float) -> str:
    """A score as a whole percentage, rounded half up (0.125 -> "13%", not banker's "12%")."""
    return f"{math.floor(100 * value + 0.5 + 1e-9):.0f}%"
