"""Render a fleet sweep (:class:`~prodready.fleet._model.FleetResult`) as HTML.

Views render and never compute: everything shown is in the result (the sweep computed the
states, verdicts, scores and changes). Three pieces, used by the sweep's ``index.html``
(:func:`summary_page_html`), a notebook (``FleetResult._repr_html_``, :func:`fleet_card_html`)
and the fleet dashboard (:mod:`prodready.fleet._widget`):

- :func:`fleet_table_html`: the headline (sweep id, verdict, counts) and one row per system;
- :func:`changes_html`: what changed since the previous sweep, or a sentence why nothing is
  compared;
- :func:`where_html`: where the sweep ran (cluster, workers, the Dask dashboard's address).

The page is one self-contained file that works offline: inline CSS (the notebook views'
stylesheet, :func:`prodready.views.stylesheet`, with its own colours as fallbacks), no
script, no image, nothing loaded from anywhere; its Content-Security-Policy forbids loading
anything at all. The only links are relative ones to each system's ``<slug>/report.html``
beside it. The Dask dashboard's address is shown as text: it is dead once the sweep ends.

Every string from specs, results or the cluster goes through :func:`prodready.views.escape`
(HTML escaping, control and bidirectional characters made visible) and is cut to a bound.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import quote

from prodready import views
from prodready.checklist import Section, get_question
from prodready.fleet._model import Attempt, Change, FleetResult, SystemRun
from prodready.results import Status

__all__ = [
    "changes_html",
    "fleet_card_html",
    "fleet_table_html",
    "retried_text",
    "summary_page_html",
    "where_html",
]

_MAX_NAME = 200
_MAX_TEXT = 2_000
_MAX_ROWS = 2_000  # systems in the table; a bigger fleet says how many are left out
_MAX_CHANGES = 500

# How each change kind is listed, in this order.
_CHANGE_GROUPS = (
    ("new fail", "New FAILs"),
    ("verdict", "Verdict flips"),
    ("fixed", "Fixed"),
    ("score", "Score moves"),
    ("status", "Other status changes"),
    ("new system", "New systems"),
    ("no longer assessed", "No longer assessed"),
)

# The page's own rules (the views' stylesheet is scoped to .pr-nb and reused as it is).
_PAGE_CSS = (
    "body{margin:0;padding:1.5rem 1rem 3rem;background:#ffffff}"
    ".pr-nb.pr-fleet{max-width:90rem;margin:0 auto}"
    ".pr-nb.pr-fleet table.pr-fleet-table{width:100%}"
    ".pr-nb .pr-fleet-note{margin:0.6rem 0 1rem;padding:0.55rem 0.9rem;"
    "border:1px solid #b3141f;border-left:5px solid #b3141f;border-radius:4px;"
    "background:#ffebe9}"
)
# Nothing may be loaded: no script, no image (not even data:), no font, no frame, no form.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def _t(value: Any, limit: int = _MAX_TEXT) -> str:
    """A value as escaped text, cut to ``limit`` characters."""
    text = "—" if value is None else str(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return views.escape(text)


def _pill(css: str, label: str) -> str:
    return f'<span class="pr-badge pr-{css}">{views.escape(label)}</span>'


def _status_badge(value: Any) -> str:
    try:
        return views.badge(Status(str(value)))
    except ValueError:
        return _t(value, 40)


def _verdict_badge(run: SystemRun) -> str:
    if run.state != "assessed":
        return ""
    return _pill("pass", "ready") if run.verdict == "ready" else _pill("fail", "not ready")


def _state_badge(run: SystemRun) -> str:
    if run.state == "assessed":
        return _pill("skipped", "assessed")
    if run.state == "failed":
        return _pill("error", "failed")
    return _pill("not_assessed", str(run.state))


def _score_cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return '<td class="pr-num">—</td>'
    return f'<td class="pr-num">{views.pct(value)}</td>'


def _report_href(report: str) -> str:
    """The report's relative link ("" when it is not a safe relative path)."""
    parts = report.replace("\\", "/").split("/")
    if not report or report.startswith("/") or ".." in parts:
        return ""
    return quote(report, safe="/")  # a ':' becomes %3A: never a scheme such as javascript:


def _attempt_text(attempt: Attempt) -> str:
    pid = f" (pid {attempt.pid})" if attempt.pid else ""
    return f"{attempt.worker}{pid}"


def retried_text(run: SystemRun) -> str:
    """ "attempt 2 on W2 after W1 (pid 1234) was lost" (plain text, not yet escaped)."""
    if not run.attempts:
        return ""
    last = run.attempts[-1]
    earlier = run.attempts[:-1]
    text = f"attempt {last.number} on {last.worker}"
    if earlier:
        parts = [
            f"{_attempt_text(a)} was lost"
            if a.outcome == "lost"
            else f"attempt {a.number} on {_attempt_text(a)} finished"
            for a in earlier
        ]
        text += " after " + ", then ".join(parts)
    return text


def _headline(result: FleetResult) -> str:
    runs = result.systems
    ready = sum(1 for s in runs if s.state == "assessed" and s.verdict == "ready")
    not_ready = sum(1 for s in runs if s.state == "assessed" and s.verdict != "ready")
    failed = sum(1 for s in runs if s.state == "failed")
    not_started = sum(1 for s in runs if s.state == "not started")
    retried = sum(1 for s in runs if s.retried)
    counts = [f"{len(runs)} system{'s' if len(runs) != 1 else ''}", f"{ready} ready"]
    counts.append(f"{not_ready} not ready")
    if failed:
        counts.append(f"{failed} failed")
    if not_started:
        counts.append(f"{not_started} not started")
    if retried:
        counts.append(f"{retried} retried")
    verdict_class = "pr-ready" if result.verdict == "ready" else "pr-not-ready"
    return (
        f"<h1>Fleet readiness sweep {_t(result.sweep_id, _MAX_NAME)}</h1>"
        f'<p class="pr-verdict {verdict_class}">{_t(result.verdict.upper())} &mdash; '
        f"{views.escape(', '.join(counts))}</p>"
        f'<p class="pr-meta">Started {_t(result.created, 80)} &middot; finished '
        f"{_t(result.finished, 80)} &middot; {_seconds(result.seconds)} &middot; exit code "
        f"{result.exit_code} &middot; the fleet is ready only when every system was assessed "
        "ready.</p>"
    )


def _seconds(value: Any) -> str:
    if isinstance(value, int | float) and math.isfinite(value):
        return f"{value:,.1f} s"
    return "—"


def fleet_table_html(result: FleetResult, *, links: bool = True) -> str:
    """The headline and one row per system.

    ``links`` draws each report as a relative link (``<slug>/report.html``: right for the
    page in the sweep folder); without, as its path in the sweep folder (a notebook's links
    would resolve against the notebook's folder).
    """
    sections = list(Section)
    head = "".join(f'<th class="pr-num">{views.escape(s.value.title())}</th>' for s in sections)
    parts = [
        '<div class="pr-report pr-summary pr-fleet-summary">',
        _headline(result),
        '<table class="pr-table pr-fleet-table"><thead><tr><th>System</th><th>State</th>'
        f'<th>Verdict</th><th class="pr-num">Overall</th>{head}<th>FAIL</th><th>Report</th>'
        "<th>Reason / attempts</th></tr></thead><tbody>",
    ]
    for run in result.systems[:_MAX_ROWS]:
        fails = [q for q, s in run.statuses.items() if s == Status.FAIL.value]
        notes: list[str] = []
        if run.reason:
            notes.append(f"<strong>{_t(run.reason)}</strong>")
        if run.retried:
            notes.append(f'<span class="pr-change pr-other">retried</span> {_t(retried_text(run))}')
        scores = "".join(_score_cell(run.scores.get(s.value)) for s in sections)
        parts.append(
            f"<tr><td><strong>{_t(run.name, _MAX_NAME)}</strong><br>"
            f'<span class="pr-meta">{_t(run.spec, _MAX_NAME)}</span></td>'
            f"<td>{_state_badge(run)}</td><td>{_verdict_badge(run)}</td>"
            f"{_score_cell(run.overall)}{scores}"
            f"<td>{_t(', '.join(fails), 80)}</td>"
            f"<td>{_report_cell(result, run, links)}</td>"
            f"<td>{'<br>'.join(notes)}</td></tr>"
        )
    parts.append("</tbody></table>")
    if len(result.systems) > _MAX_ROWS:
        left = len(result.systems) - _MAX_ROWS
        parts.append(f'<p class="pr-meta">{left:,} more systems in fleet.json.</p>')
    parts.append(
        '<p class="pr-meta">Scores: PASS counts 1, WARN 0.5, anything else 0; the overall '
        "score is a system's lowest section score. FAIL lists the questions that FAILed.</p>"
        "</div>"
    )
    return "".join(parts)


def _report_cell(result: FleetResult, run: SystemRun, links: bool) -> str:
    if not run.report:
        return '<span class="pr-meta">none</span>'
    href = _report_href(run.report)
    if links and href:
        return f'<a href="{views.escape(href)}">report</a>'
    return f"<code>{_t(str(result.directory / run.report))}</code>"


def _change_text(change: Change) -> str:
    """One change in words (plain text, not yet escaped)."""
    question = change.question
    if change.kind in ("new fail", "fixed", "status"):
        try:
            title = get_question(question).title
            question = f"{question} ({title})"
        except (KeyError, ValueError, LookupError):
            pass
        was = _status_word(change.before) if change.before is not None else "not assessed"
        return f"{question}: {was} → {_status_word(change.after)}"
    if change.kind == "score":
        return f"{question} score {views.pct(change.before)} → {views.pct(change.after)}"
    if change.kind == "verdict":
        return f"{str(change.before).upper()} → {str(change.after).upper()}"
    if change.kind == "new system":
        return f"not in the previous sweep; now {change.after}"
    if change.kind == "no longer assessed":
        now = "not in this sweep" if change.after is None else f"{change.after} in this sweep"
        return f"was {str(change.before).upper() or 'assessed'}; {now}"
    return f"{question} {change.before} → {change.after}"


def _status_word(value: Any) -> str:
    try:
        return Status(str(value)).label
    except ValueError:
        return str(value)


def changes_html(result: FleetResult) -> str:
    """What changed since the previous sweep, by kind; or why nothing is compared."""
    parts = ['<div class="pr-report pr-fleet-changes">']
    notes = "".join(f'<p class="pr-fleet-note">{_t(n)}</p>' for n in result.notes[:50])
    if not result.previous_sweep:
        parts.append("<h2>Changes since the previous sweep</h2>")
        if notes:
            parts.append(notes)
        elif not result.ledger:
            parts.append(
                "<p>No ledger was given, so there is no previous sweep to compare with: "
                "give the sweep a ledger (--ledger) to see what changes from one sweep to "
                "the next.</p>"
            )
        else:
            parts.append(
                f"<p>The ledger {_t(result.ledger)} holds no earlier sweep: this is the first "
                "one, nothing to compare with yet.</p>"
            )
        parts.append("</div>")
        return "".join(parts)
    parts.append(f"<h2>Changes since sweep {_t(result.previous_sweep, _MAX_NAME)}</h2>")
    parts.append(notes)
    if not result.changes:
        parts.append(
            "<p>Nothing changed: every system has the same verdict, statuses and "
            "scores (within the score threshold) as in that sweep.</p></div>"
        )
        return "".join(parts)
    shown = result.changes[:_MAX_CHANGES]
    for kind, title in _CHANGE_GROUPS:
        items = [c for c in shown if c.kind == kind]
        if not items:
            continue
        parts.append(f"<h3>{views.escape(title)} ({len(items)})</h3><ul>")
        parts.extend(
            f"<li><strong>{_t(c.system, _MAX_NAME)}</strong>: {_t(_change_text(c))}</li>"
            for c in items
        )
        parts.append("</ul>")
    known = {kind for kind, _ in _CHANGE_GROUPS}
    others = [c for c in shown if c.kind not in known]
    if others:
        parts.append("<h3>Other changes</h3><ul>")
        parts.extend(
            f"<li><strong>{_t(c.system, _MAX_NAME)}</strong>: {_t(c.kind, 80)} "
            f"{_t(_change_text(c))}</li>"
            for c in others
        )
        parts.append("</ul>")
    if len(result.changes) > _MAX_CHANGES:
        parts.append(
            f'<p class="pr-meta">{len(result.changes) - _MAX_CHANGES:,} more changes in '
            "fleet.json.</p>"
        )
    parts.append("</div>")
    return "".join(parts)


def where_html(result: FleetResult) -> str:
    """Where the sweep ran: the cluster, its workers, the dashboard's address (as text)."""
    cluster = result.cluster if isinstance(result.cluster, dict) else {}
    kind = cluster.get("kind", "")
    workers = cluster.get("workers")
    many = f"{workers} worker{'s' if workers != 1 else ''}" if workers is not None else ""
    if kind == "local":
        where = f"a local Dask cluster (LocalCluster) of {many or 'its workers'}"
    elif kind:
        address = cluster.get("address", "")
        where = f"the Dask scheduler at {address}" + (f" with {many}" if many else "")
    else:
        where = "an unrecorded cluster"
    rows: list[tuple[str, str]] = [("Ran on", _t(where))]
    dashboard = cluster.get("dashboard")
    if dashboard:
        rows.append(
            (
                "Dask dashboard",
                f"<code>{_t(dashboard, _MAX_NAME)}</code> "
                '<span class="pr-meta">(served only while the sweep ran)</span>',
            )
        )
    rows.append(("Ledger", _t(result.ledger) if result.ledger else "none"))
    rows.append(
        (
            "Signed",
            "yes: each run folder carries run.dsse.json (prodready verify FOLDER)"
            if result.signed
            else "no",
        )
    )
    body = "".join(f"<tr><th>{views.escape(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return (
        '<div class="pr-report pr-fleet-where"><h2>Where it ran</h2>'
        f'<table class="pr-kv">{body}</table></div>'
    )


def fleet_card_html(result: FleetResult) -> str:
    """The sweep in a notebook: table and changes, styled (reports as paths, not links)."""
    return views.styled(fleet_table_html(result, links=False) + changes_html(result))


def summary_page_html(result: FleetResult) -> str:
    """The sweep's ``index.html``: one self-contained offline page."""
    body = fleet_table_html(result) + changes_html(result) + where_html(result)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Fleet readiness sweep {_t(result.sweep_id, _MAX_NAME)}: "
        f"{_t(result.verdict.upper())}</title>"
        f"{views.stylesheet()}<style>{_PAGE_CSS}</style></head>\n"
        f'<body><main class="pr-nb pr-fleet">{body}</main></body></html>\n'
    )
