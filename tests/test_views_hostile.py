"""Hostile results render: mathtext, huge evidence, control characters, odd values, bad shapes.

Results come from probes, plug-ins or a results.json written elsewhere: the views treat them as
untrusted input. Whatever they hold, rendering finishes, stays bounded in time and size, and
writes no invisible or unencodable character into the HTML.
"""

from __future__ import annotations

import base64
import io
import math
import re
import struct
import time
import tracemalloc
from typing import Any

import matplotlib
import pytest
from bs4 import BeautifulSoup
from matplotlib.figure import Figure
from nbformat.v4 import new_code_cell, new_notebook, new_output

from prodready import views
from prodready.checklist import QUESTIONS
from prodready.report.exporter import content_security_policy, render_html
from prodready.results import Assessment, Chart, Check, Finding, Status, Table
from tests.test_results import sample

MATHTEXT = ("pay_$_rate_$", "fee $\\notamacro{x}$ plan")
HOSTILE = "\x1b[2J\x1b[HREADY\x07\x00"
# What must never be written raw: C0 controls but \t \n \r, DEL, C1, bidi overrides, surrogates.
RAW = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
PNG_RE = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def _pngs(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in PNG_RE.findall(html)]


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def _caption(html: str) -> str:
    soup = BeautifulSoup(html, "html.parser")
    caption = soup.find("figcaption")
    assert caption is not None
    return caption.get_text()


# -- 1. mathtext: text in figures is plain text ----------------------------------------------


def test_the_strings_really_break_matplotlib_mathtext() -> None:
    """The control: with matplotlib's defaults the second string raises at draw time."""
    fig = Figure()
    fig.add_subplot().set_title(MATHTEXT[1])
    with pytest.raises(ValueError, match="notamacro"):
        fig.savefig(io.BytesIO(), format="png")


@pytest.mark.parametrize("text", MATHTEXT)
@pytest.mark.parametrize("kind", ["barh", "hist", "line"])
def test_mathtext_in_every_text_of_a_chart_is_drawn_as_plain_text(kind: str, text: str) -> None:
    x: list[Any] = {
        "barh": [text, f"{text} 2", "plain"],
        "hist": [0.0, 1.0, 2.0, 3.0],
        "line": [text, "b", f"c {text}"],  # labels, not numbers: tick labels from the data
    }[kind]
    chart = Chart(
        title=f"Title {text}",
        chart=kind,  # type: ignore[arg-type]
        x=x,
        series={text: [0.2, 0.5, 0.3], f"current {text}": [0.3, 0.4, 0.3]},  # two: a legend
        xlabel=f"x {text}",
        ylabel=f"y {text}",
        note=f"note {text}",
    )
    parse_math = matplotlib.rcParams["text.parse_math"]
    html = views._chart_html(chart)
    (png,) = _pngs(html)
    assert _png_size(png)[0] == 770  # 7 in at 110 dpi: a real figure, not a placeholder
    assert "could not be drawn" not in html
    assert _caption(html) == f"Title {text}. note {text}"
    assert matplotlib.rcParams["text.parse_math"] == parse_math  # no global change left behind


def test_a_users_usetex_setting_does_not_reach_the_report() -> None:
    chart = Chart(f"t {MATHTEXT[1]}", "barh", [MATHTEXT[0]], {"a": [1.0]})
    with matplotlib.rc_context({"text.usetex": True, "text.parse_math": True}):
        (png,) = _pngs(views._chart_html(chart))
        assert matplotlib.rcParams["text.usetex"] is True
    assert _png_size(png)[0] == 770


# -- 2. bounded rendering ---------------------------------------------------------------------


def test_barh_with_100000_shares_draws_30_bars_and_other_quickly() -> None:
    n = 100_000
    labels = [f"cat{i}" for i in range(n)]
    # 30 categories hold 60% (given out of order), the rest share 40% equally.
    big = list(range(n - 1, 0, -3333))[:30]
    ref = [0.4 / (n - 30)] * n
    for rank, i in enumerate(big):
        ref[i] = 0.02 - rank * 1e-5
    shift = sum(ref[i] for i in big) - 0.6
    for i in big:
        ref[i] -= shift / 30
    chart = Chart("Drifted feature: id", "barh", labels, {"reference": ref, "current": ref})

    start = time.perf_counter()
    html = views._chart_html(chart)
    elapsed = time.perf_counter() - start

    assert elapsed < 3.0, elapsed
    (png,) = _pngs(html)
    assert len(png) < 150_000
    assert _png_size(png)[1] <= 9.5 * 110  # height capped
    plot = views._plot(chart)
    assert plot.tick_labels == [f"cat{i}" for i in sorted(big)] + ["other (99,970 more)"]
    for series in plot.series:
        assert series.y[-1] == pytest.approx(0.4)  # "other" sums the rest
        assert float(series.y.sum()) == pytest.approx(1.0)
    assert _caption(html) == (
        "Drifted feature: id. The 30 largest of 100,000 labels are drawn; "
        'the other 99,970 are summed in "other".'
    )


def test_barh_with_100000_signed_values_draws_the_30_largest_and_says_so() -> None:
    n = 100_000
    values = [(-1) ** i * (i % 1000) / 1000 for i in range(n)]  # signed: not shares or counts
    values[12_345] = -50.0
    chart = Chart("Coefficients", "barh", [f"f{i}" for i in range(n)], {"coef": values})
    html = views._chart_html(chart)
    assert len(_pngs(html)) == 1
    plot = views._plot(chart)
    assert len(plot.tick_labels) == 30
    assert "f12345" in plot.tick_labels
    assert not any(t.startswith("other") for t in plot.tick_labels)
    assert _caption(html) == (
        "Coefficients. The 30 largest of 100,000 labels (by absolute value) are drawn; "
        "99,970 more not shown."
    )


def test_barh_counts_get_an_other_bar() -> None:
    chart = Chart("Counts", "barh", [f"c{i}" for i in range(40)], {"rows": list(range(40))})
    plot = views._plot(chart)
    assert plot.tick_labels[-1] == "other (10 more)"
    assert plot.series[0].y[-1] == sum(range(10))  # the ten smallest: 0..9


def test_memory_of_a_huge_barh_stays_small() -> None:
    n = 100_000
    chart = Chart("m", "barh", [f"c{i}" for i in range(n)], {"a": [1.0 / n] * n})
    views._chart_html(chart)  # warm up imports and font caches
    tracemalloc.start()
    try:
        views._chart_html(chart)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40_000_000, peak


def test_hist_with_100000_bins_is_merged_into_200_keeping_the_area() -> None:
    n = 100_000
    edges = [i / n for i in range(n + 1)]
    density = [2.0 * (i + 0.5) / n for i in range(n)]  # a triangle, area 1
    chart = Chart("h", "hist", edges, {"ref": density})
    start = time.perf_counter()
    html = views._chart_html(chart)
    assert time.perf_counter() - start < 3.0
    assert len(_pngs(html)) == 1
    (series,) = views._plot(chart).series
    assert len(series.x) == 201 and len(series.y) == 200
    area = float((series.y * (series.x[1:] - series.x[:-1])).sum())
    assert area == pytest.approx(1.0)
    assert _caption(html) == "h. 100,000 bins merged into 200 for drawing."


def test_line_with_a_million_points_is_decimated_keeping_the_spike() -> None:
    n = 1_000_000
    y = [math.sin(i / 1000) for i in range(n)]
    y[777_777] = 50.0
    chart = Chart("latency", "line", list(range(n)), {"p99": y})
    start = time.perf_counter()
    html = views._chart_html(chart)
    assert time.perf_counter() - start < 5.0
    assert len(_pngs(html)) == 1
    (series,) = views._plot(chart).series
    assert len(series.y) <= 2_000
    assert float(series.y.max()) == 50.0 and 777_777.0 in series.x
    assert _caption(html) == (
        "latency. 1,000,000 points drawn as the minimum and maximum of each of 1,000 buckets."
    )


def test_at_most_8_series_are_drawn() -> None:
    chart = Chart("s", "line", [0, 1], {f"s{i}": [0.0, float(i)] for i in range(20)})
    html = views._chart_html(chart)
    assert len(views._plot(chart).series) == 8
    assert _caption(html) == "s. 12 more series not shown."


def test_table_of_100000_long_rows_renders_bounded() -> None:
    n = 100_000
    table = Table(
        "big",
        [f"column {i} " + "h" * 500 for i in range(100)],
        [["x" * 10_000] * 100] * n,
    )
    start = time.perf_counter()
    html = views._table_html(table)
    assert time.perf_counter() - start < 1.0
    assert len(html) < 700_000
    soup = BeautifulSoup(html, "html.parser")
    assert len(soup.find_all("th")) == 30
    assert len(soup.select("tbody tr")) == 60
    cells = soup.find_all("td")
    assert len(cells) == 60 * 30
    assert cells[0].get_text() == "x" * 299 + "…"
    assert len(soup.find("th").get_text()) == 100  # type: ignore[union-attr]
    assert "(99,940 more rows in results.json.) (70 more columns in results.json.)" in html


def test_a_huge_value_in_a_cell_is_cut_without_serializing_all_of_it() -> None:
    table = Table("t", ["values"], [[list(range(10**6))], [{"k": "v" * 10**6}]])
    start = time.perf_counter()
    html = views._table_html(table)
    assert time.perf_counter() - start < 0.5
    cells = [td.get_text() for td in BeautifulSoup(html, "html.parser").find_all("td")]
    assert [len(c) for c in cells] == [300, 300]
    assert cells[0].startswith("[0, 1, 2, 3") and cells[0].endswith("…")
    assert cells[1].startswith('{"k": "vvv') and cells[1].endswith("…")


def test_a_finding_with_many_evidence_items_shows_30() -> None:
    finding = Finding(
        "Q3",
        Status.WARN,
        "many",
        evidence=[Table(f"t{i}", ["a"], [[i]]) for i in range(100)],
        not_assessed=[f"part {i}" for i in range(50)],
        checks=[Check(f"c{i}", Status.PASS, i, "-", "ok") for i in range(100)],
    )
    html = views.finding_html(finding)
    assert html.count("<caption>t") == 30
    assert "70 more evidence items are in results.json, not shown here." in html
    assert html.count("<li>") == 31 and "<li>… and 20 more</li>" in html
    assert "(40 more rows in results.json.)" in html  # the checks table


# -- 3. no raw control characters in the HTML -------------------------------------------------


def test_visible_writes_control_characters_out() -> None:
    text = "a\x1b[2J\x07\x00\x7f\x85\u202e\udc80\t\n\r é ✓"
    assert views.visible(text) == "a\\x1b[2J\\x07\\x00\\x7f\\x85\\u202e\\udc80\t\n\r é ✓"
    assert views.escape('<b class="x">\x1b') == "&lt;b class=&quot;x&quot;&gt;\\x1b"


def _hostile_assessment() -> Assessment:
    a = sample()
    a.run_id = f"run{HOSTILE}"
    a.created = f"2026{HOSTILE}"
    a.system["name"] = f"model{HOSTILE}\udc80\u202e"
    a.system["metadata"] = {"owner": HOSTILE, "intended_use": f"use{HOSTILE}"}
    a.system["features"] = [HOSTILE, "b"]
    a.environment = {"python": HOSTILE, "packages": {HOSTILE: HOSTILE}}
    f = a.finding("Q3")
    f.summary = f"summary{HOSTILE}"
    f.remediation = f"fix{HOSTILE}"
    f.not_assessed = [HOSTILE]
    f.probe = f"probe{HOSTILE}"
    f.error = f"Traceback{HOSTILE}"
    f.checks = [Check(HOSTILE, Status.WARN, HOSTILE, HOSTILE, HOSTILE)]
    f.thresholds = {HOSTILE: HOSTILE}
    f.evidence = [
        Table(HOSTILE, [HOSTILE], [[HOSTILE], [{"k": HOSTILE}]], note=HOSTILE),
        Chart(HOSTILE, "barh", [HOSTILE, "b"], {HOSTILE: [1.0, 2.0], "b": [1.0, 1.0]}, HOSTILE),
    ]
    return a


def _all_views(a: Assessment) -> str:
    return (
        views.summary_html(a)
        + views.system_html(a)
        + "".join(views.question_html(a, q.id) for q in QUESTIONS)
    )


def test_control_characters_in_user_strings_are_shown_not_written() -> None:
    html = _all_views(_hostile_assessment())
    assert RAW.search(html) is None
    for char in "\x1b\x07\x00":
        assert char not in html
    assert "model\\x1b[2J\\x1b[HREADY\\x07\\x00\\udc80\\u202e" in html
    assert "run\\x1b[2J" in html and "summary\\x1b[2J" in html
    assert 'class="pr-verdict pr-not-ready">NOT READY' in html
    assert len(_pngs(html)) == 1  # the hostile chart still draws
    html.encode("utf-8")  # no lone surrogate left: the page can be written


def test_report_page_has_no_raw_control_characters_and_keeps_its_csp() -> None:
    a = _hostile_assessment()
    nb = new_notebook()
    nb.metadata["prodready"] = {"title": f"Production readiness: {a.system['name']}"}
    nb.cells = [
        new_code_cell(
            "display(HTML(views...))",
            execution_count=1,
            outputs=[new_output("display_data", data={"text/html": _all_views(a)})],
        ),
        new_code_cell(
            "print(name)",
            execution_count=2,
            outputs=[new_output("stream", name="stdout", text=f"raw {HOSTILE}\x9b\udc80 end\n")],
        ),
    ]
    html = render_html(nb)
    assert RAW.search(html) is None
    html.encode("utf-8")
    soup = BeautifulSoup(html, "html.parser")
    head = soup.find("head")
    assert head is not None
    meta = head.find_all(True)[1]
    assert meta.get("http-equiv") == "Content-Security-Policy"
    nonce = re.search(r"'nonce-([^']+)'", str(meta["content"]))
    assert nonce is not None
    assert meta["content"] == content_security_policy(nonce.group(1))
    assert soup.title is not None
    assert soup.title.get_text() == (
        "Production readiness: model\\x1b[2J\\x1b[HREADY\\x07\\x00\\udc80\\u202e"
    )
    assert "\\x9b\\udc80 end" in html  # the stream output, written out by the final pass


def test_report_title_is_one_bounded_line() -> None:
    nb = new_notebook()
    nb.metadata["prodready"] = {"title": "a\nb\x00" + "c" * 1000}
    soup = BeautifulSoup(render_html(nb), "html.parser")
    assert soup.title is not None
    assert soup.title.get_text() == "a b\\x00" + "c" * 192 + "…"


# -- 4. odd values and shapes -----------------------------------------------------------------


def test_table_with_missing_non_finite_and_huge_values() -> None:
    table = Table(
        "t",
        ["v"],
        [
            [math.nan],
            [math.inf],
            [-math.inf],
            [None],
            [10**400],
            [-(10**5000)],
            [1e308],
            [12_345_678_901_234],
            [True],
            [[math.nan, None]],
        ],
    )
    cells = [td.get_text() for td in BeautifulSoup(views._table_html(table), "html.parser")("td")]
    assert cells == [
        "n/a",
        "inf",
        "-inf",
        "—",
        "1e+400",
        "-1e+5000",
        "1e+308",
        "12345678901234",
        "True",
        "[n/a, null]",
    ]


@pytest.mark.parametrize("kind", ["barh", "line"])
def test_chart_with_missing_non_finite_and_huge_values_still_draws(kind: str) -> None:
    values: list[Any] = [1.0, None, math.nan, math.inf, "abc", 10**400, 1e308, 2.0]
    chart = Chart("v", kind, list(range(8)), {"a": values})  # type: ignore[arg-type]
    html = views._chart_html(chart)
    assert len(_pngs(html)) == 1
    assert _caption(html) == (
        "v. 6 missing, non-finite or out-of-range values (beyond ±1e+100) not drawn."
    )


def test_hist_with_none_in_values_draws_and_bad_edges_say_so() -> None:
    good = Chart("h", "hist", [0, 1, 2], {"a": [None, 1.0]})
    assert len(_pngs(views._chart_html(good))) == 1
    bad = Chart("h", "hist", [0, 2, 1], {"a": [1.0, 1.0]})
    html = views._chart_html(bad)
    assert _pngs(html) == []
    assert _caption(html) == "h. The bin edges are not increasing finite numbers: not drawn."


def test_series_that_do_not_fit_x_are_left_out_with_a_note() -> None:
    only_bad = Chart("c", "barh", ["a", "b", "c"], {"ref": [1.0, 2.0]})
    html = views._chart_html(only_bad)
    assert _pngs(html) == []
    assert _caption(html) == "c. Series 'ref' has 2 values for 3 labels: not drawn."

    one_bad = Chart("c", "hist", [0.0, 1.0, 2.0], {"ref": [0.5, 0.5], "cur": [1.0, 2.0, 3.0]})
    html = views._chart_html(one_bad)
    assert len(_pngs(html)) == 1
    assert _caption(html) == "c. Series 'cur' has 3 values for 2 bins: not drawn."


WRONG_SHAPES: list[tuple[dict[str, Any], str]] = [
    ({"chart": "pie", "x": [1], "series": {"a": [1.0]}}, "Unknown chart type 'pie'."),
    ({"x": None, "series": {"a": [1.0]}}, "Series 'a' has 1 values for 0 points: not drawn."),
    ({"x": [1, 2], "series": None}, "Nothing to draw."),
    ({"x": [1, 2], "series": {"a": "xy"}}, "Series 'a' has 1 values for 2 points: not drawn."),
]


@pytest.mark.parametrize(("fields", "note"), WRONG_SHAPES)
def test_charts_of_the_wrong_shape_render_a_note(fields: dict[str, Any], note: str) -> None:
    chart = Chart(**{"title": "c", "chart": "line", **fields})
    html = views._chart_html(chart)
    assert _pngs(html) == []
    assert _caption(html) == f"c. {note}"


def test_an_evidence_item_that_cannot_render_becomes_a_note(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def boom(plot: object) -> bytes:
        raise RuntimeError("boom")

    monkeypatch.setattr(views, "_draw", boom)
    finding = Finding(
        "Q3",
        Status.WARN,
        "s",
        evidence=[
            Chart("c", "line", [0, 1], {"a": [0.0, 1.0]}),
            {"kind": "chart"},  # type: ignore[list-item]
            Table("t", None, "not rows"),  # type: ignore[arg-type]
        ],
    )
    html = views.finding_html(finding)
    assert "<figcaption>c. This figure could not be drawn: RuntimeError: boom.</figcaption>" in html
    assert "An evidence item of unknown kind (dict) is not shown." in html
    assert "<caption>t</caption><thead><tr></tr></thead><tbody><tr><td>not rows</td></tr>" in html


def test_an_old_results_json_with_bad_evidence_renders() -> None:
    doc = sample().to_dict()
    q3 = next(f for f in doc["findings"] if f["question"] == "Q3")
    q3["evidence"] = [
        {"kind": "chart", "title": "old", "chart": "barh", "x": ["a", "b"], "series": {"s": [1]}},
        {"kind": "table", "title": "old t", "columns": ["a"], "rows": [[None, 1e999]]},
    ]
    doc["overall"] = None
    a = Assessment.from_dict(doc)
    html = views.summary_html(a) + views.question_html(a, "Q3")
    assert "overall score n/a" in html
    assert "<figcaption>old. Series &#x27;s&#x27; has 1 values for 2 labels: not drawn." in html
    assert '<td>—</td><td class="pr-num">inf</td>' in html


def test_pct_of_missing_or_non_finite_scores() -> None:
    assert [views.pct(v) for v in (math.nan, math.inf, None)] == ["n/a", "n/a", "n/a"]  # type: ignore[list-item]


def test_run_notes_are_shown_escaped_and_bounded() -> None:
    a = sample()
    a.notes = [f"plug-in <x>{HOSTILE} was ignored"] + [f"n{i}" for i in range(40)]
    html = views.summary_html(a)
    assert (
        '<p class="pr-meta pr-run-note"><strong>Note:</strong> '
        "plug-in &lt;x&gt;\\x1b[2J\\x1b[HREADY\\x07\\x00 was ignored</p>"
    ) in html
    assert html.count("pr-run-note") == 30
    assert "11 more notes in results.json." in html


def test_numpy_arrays_from_a_plug_in_render_like_lists() -> None:
    import numpy as np

    chart = Chart("np", "line", np.arange(3), {"a": np.array([0.5, np.nan, 2.0])})  # type: ignore[arg-type]
    html = views._chart_html(chart)
    assert len(_pngs(html)) == 1
    assert _caption(html) == (
        "np. 1 missing, non-finite or out-of-range values (beyond ±1e+100) not drawn."
    )
    table = Table("t", ["a", "b"], [np.array([np.int64(7), np.float32(0.25)])])  # type: ignore[list-item]
    assert '<td class="pr-num">7</td><td class="pr-num">0.25</td>' in views._table_html(table)
