"""The sweep's summary: runs read back, changes since the previous sweep from the ledger (and
only from a ledger that verifies), fleet.json, the offline page, the notebook and dashboard.

Run folders are made cheaply: a results.json written from a constructed Assessment, no
assessment runs.
"""

from __future__ import annotations

import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from prodready import _chain
from prodready.attest import append_run, ledger_record, verify_ledger
from prodready.fleet._model import Attempt, Change, FleetResult, SystemRun
from prodready.fleet._page import retried_text, summary_page_html
from prodready.fleet._summary import (
    SCORE_THRESHOLD,
    changes_since,
    read_summary,
    system_run_from_results,
    write_summary,
)
from prodready.results import Assessment, Finding, Status

HOSTILE = '<script>alert("x")</script> \u202eevil\u202c \'q\' & "dq"'


def _assessment(
    name: str,
    statuses: dict[str, str],
    *,
    verdict: str = "not ready",
    overall: float = 0.5,
    scores: dict[str, float] | None = None,
    run_id: str = "run",
) -> Assessment:
    findings = [Finding(q, Status(s), f"{q} is {s}") for q, s in statuses.items()]
    return Assessment(
        run_id=run_id,
        created="2026-11-27T08:00:00+00:00",
        system={"name": name, "model": {"location": "m.skops", "sha256": "ab" * 32}},
        findings=findings,
        scores=scores if scores is not None else {"technical": 0.5, "governance": 0.5},
        overall=overall,
        verdict=verdict,  # type: ignore[arg-type]
        policy={},
        environment={},
        questions=list(statuses),
    )


def _run_folder(root: Path, slug: str, assessment: Assessment) -> Path:
    folder = root / slug
    folder.mkdir(parents=True)
    assessment.save(folder / "results.json")
    (folder / "report.html").write_text("<html></html>")
    return folder


def _statuses(**given: str) -> dict[str, str]:
    """Q1..Q5 PASS but those given (e.g. Q1="fail")."""
    base = {f"Q{i}": "pass" for i in range(1, 6)}
    base.update(given)
    return base


def _attempts(n: int = 1) -> list[Attempt]:
    lost = [
        Attempt(i, f"tcp://127.0.0.1:{39110 + i}", "127.0.0.1", 1230 + i, "t0", "t1", "lost")
        for i in range(1, n)
    ]
    last = Attempt(n, "tcp://127.0.0.1:40123", "127.0.0.1", 4321, "t1", "t2", "finished")
    return [*lost, last]


def _system(root: Path, slug: str, assessment: Assessment, attempts: int = 1) -> SystemRun:
    folder = _run_folder(root, slug, assessment)
    return system_run_from_results(f"specs/{slug}.yaml", slug, folder, _attempts(attempts), 12.5, 0)


# -- one system's run ------------------------------------------------------------------------


def test_an_assessed_run_is_read_from_its_results(tmp_path: Path) -> None:
    a = _assessment("Credit", _statuses(Q3="fail"), scores={"technical": 0.75}, overall=0.75)
    run = _system(tmp_path, "credit", a, attempts=2)
    assert run.state == "assessed" and run.name == "Credit" and run.slug == "credit"
    assert run.verdict == "not ready" and run.overall == 0.75
    assert run.scores == {"technical": 0.75}
    assert run.statuses == {"Q1": "pass", "Q2": "pass", "Q3": "fail", "Q4": "pass", "Q5": "pass"}
    assert run.model_sha256 == "ab" * 32 and run.run_id == "run"
    assert run.report == "credit/report.html" and run.exit_code == 0 and run.seconds == 12.5
    assert run.retried and len(run.attempts) == 2


def test_a_results_json_that_cannot_be_read_makes_a_failed_run(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "results.json").write_text("{not json")
    run = system_run_from_results("specs/broken.yaml", "broken", folder, _attempts(), 1.0, 1)
    assert run.state == "failed" and run.name == "broken" and run.report == ""
    assert run.reason.startswith("its results.json cannot be read:")
    assert "not JSON" in run.reason and run.statuses == {} and run.overall is None


# -- changes since the previous sweep --------------------------------------------------------


def _append(ledger: Path, root: Path, slug: str, a: Assessment, sweep: str) -> None:
    append_run(ledger, _run_folder(root, slug, a), a, durable=False, sweep=sweep)


@pytest.fixture
def two_sweeps(tmp_path: Path) -> tuple[Path, list[SystemRun]]:
    """A ledger holding sweep s1 (A, B, C, D), a single run, and sweep s2's own lines;
    s2's systems: A (a new fail, a fix, a WARN), B (ready now), C (failed), E (new)."""
    ledger = tmp_path / "audit.jsonl"
    s1 = tmp_path / "s1"
    _append(ledger, s1, "a", _assessment("A", _statuses(Q4="fail")), "s1")
    _append(
        ledger,
        s1,
        "b",
        _assessment("B", _statuses(Q2="fail"), scores={"technical": 0.8}, overall=0.45),
        "s1",
    )
    _append(ledger, s1, "c", _assessment("C", _statuses()), "s1")
    _append(ledger, s1, "d", _assessment("D", _statuses(), verdict="ready"), "s1")
    # A single run between the sweeps (no sweep id): never "the previous sweep".
    _append(ledger, tmp_path / "single", "a", _assessment("A", _statuses(Q5="fail")), "")
    s2 = tmp_path / "s2"
    a = _assessment("A", _statuses(Q1="fail", Q2="warn", Q4="pass"))
    b = _assessment(
        "B",
        _statuses(),
        verdict="ready",
        scores={"technical": 0.84, "governance": 1.0},
        overall=0.5,
    )
    systems = [
        _system(s2, "a", a),
        _system(s2, "b", b),
        SystemRun("specs/c.yaml", "c", "C", "failed", reason="kernel died", exit_code=3),
        _system(s2, "e", _assessment("E", _statuses())),
    ]
    # This sweep's own lines may already be in the ledger: they are not "the previous sweep".
    _append(ledger, tmp_path / "s2-ledgered", "a", a, "s2")
    return ledger, systems


def test_every_kind_of_change_since_the_previous_sweep(
    two_sweeps: tuple[Path, list[SystemRun]],
) -> None:
    ledger, systems = two_sweeps
    report = changes_since(ledger, None, systems, current="s2")
    assert report.previous_sweep == "s1" and report.notes == []
    assert report.changes == [
        Change("A", "new fail", "Q1", "pass", "fail"),
        Change("A", "status", "Q2", "pass", "warn"),
        Change("A", "fixed", "Q4", "fail", "pass"),
        Change("B", "verdict", "", "not ready", "ready"),
        Change("B", "fixed", "Q2", "fail", "pass"),
        Change("B", "score", "overall", 0.45, 0.5),  # a move of exactly the threshold
        Change("C", "no longer assessed", "", "not ready", "failed"),
        Change("E", "new system", "", None, "not ready"),
        Change("D", "no longer assessed", "", "ready", None),
    ]
    # B's technical score moved 0.04 (< SCORE_THRESHOLD): not a change; governance is new.
    assert SCORE_THRESHOLD == 0.05


def test_the_previous_sweep_may_be_named(two_sweeps: tuple[Path, list[SystemRun]]) -> None:
    ledger, systems = two_sweeps
    report = changes_since(ledger, "s2", systems[:1], current="s3")
    assert report.previous_sweep == "s2" and report.changes == [] and report.notes == []
    missing = changes_since(ledger, "nope", systems, current="s3")
    assert missing.previous_sweep == "" and missing.changes == []
    assert missing.notes == [
        f"Sweep 'nope' is not in the ledger {str(ledger)!r}: nothing to compare with."
    ]


def test_no_ledger_or_no_earlier_sweep_means_no_changes(tmp_path: Path) -> None:
    run = _system(tmp_path, "a", _assessment("A", _statuses()))
    assert changes_since(None, None, [run]) == ("", [], [])
    assert changes_since(tmp_path / "never-written.jsonl", None, [run]) == ("", [], [])
    ledger = tmp_path / "audit.jsonl"
    _append(ledger, tmp_path / "single", "a", _assessment("A", _statuses()), "")
    _append(ledger, tmp_path / "now", "a", _assessment("A", _statuses()), "s9")
    assert changes_since(ledger, None, [run], current="s9") == ("", [], [])


def test_an_edited_ledger_is_not_used(two_sweeps: tuple[Path, list[SystemRun]]) -> None:
    ledger, systems = two_sweeps
    lines = ledger.read_text().splitlines(keepends=True)
    lines[3] = lines[3].replace('"verdict":"ready"', '"verdict":"not ready"')
    ledger.write_text("".join(lines))
    assert not verify_ledger(ledger).ok
    report = changes_since(ledger, None, systems, current="s2")
    assert report.previous_sweep == "" and report.changes == []
    (note,) = report.notes
    assert note.startswith(f"The ledger {str(ledger)!r} failed verification (line 4: ")
    assert note.endswith("no changes are computed from it, and no earlier sweep is vouched for.")


def _legacy_append(ledger: Path, root: Path, slug: str, a: Assessment) -> Path:
    """A line as written before ``statuses`` existed (with a sweep id)."""
    folder = _run_folder(root, slug, a)
    record = ledger_record(folder, a, sweep="old")
    del record["statuses"]
    _chain.append(ledger, [record])
    return folder


def test_older_lines_fall_back_to_results_json_only_when_its_digest_matches(
    tmp_path: Path,
) -> None:
    ledger = tmp_path / "audit.jsonl"
    old = tmp_path / "old"
    _legacy_append(ledger, old, "a", _assessment("A", _statuses(Q3="fail")))
    b_folder = _legacy_append(ledger, old, "b", _assessment("B", _statuses(Q3="fail")))
    assert "statuses" not in json.loads(ledger.read_text().splitlines()[0])
    # B's results.json is edited after the ledger recorded it: its digest no longer matches.
    results = b_folder / "results.json"
    results.write_text(results.read_text().replace('"fail"', '"pass"'))
    now = tmp_path / "now"
    systems = [
        _system(now, "a", _assessment("A", _statuses())),
        _system(now, "b", _assessment("B", _statuses(), overall=0.9)),
    ]
    report = changes_since(ledger, None, systems, current="new")
    assert report.previous_sweep == "old"
    assert report.changes == [
        Change("A", "fixed", "Q3", "fail", "pass"),  # read from A's intact results.json
        Change("B", "score", "overall", 0.5, 0.9),  # B: from its scores only
    ]
    assert report.notes == [
        f"B: its earlier ledger line records no question statuses, and its results.json "
        f"({str(results)!r}) no longer matches the sha256 the ledger recorded: it is not used, "
        "and its changes are computed from its verdict and scores only."
    ]


def test_a_ledger_line_records_statuses_and_its_sweep(tmp_path: Path) -> None:
    a = _assessment("A", {"Q1": "fail", "Q3": "not_assessed"})
    folder = _run_folder(tmp_path, "a", a)
    line = append_run(tmp_path / "l.jsonl", folder, a, durable=False, sweep="2026-11-27T0800")
    assert line["statuses"] == {"Q1": "fail", "Q3": "not_assessed"}
    assert line["sweep"] == "2026-11-27T0800"
    assert append_run(tmp_path / "l.jsonl", folder, a, durable=False)["sweep"] == ""
    assert verify_ledger(tmp_path / "l.jsonl").ok


# -- the files -------------------------------------------------------------------------------


def _fleet(tmp_path: Path) -> FleetResult:
    folder = tmp_path / "sweep-1"
    hostile = _assessment(
        HOSTILE,
        _statuses(Q1="fail"),
        scores={"technical": float("nan"), "governance": 0.5},
        overall=float("nan"),
    )
    systems = [
        _system(folder, "ready-one", _assessment("Ready one", _statuses(), verdict="ready")),
        _system(folder, "hostile", hostile, attempts=2),
        SystemRun(
            "specs/broken.yaml",
            "broken",
            "broken <b>",
            "not started",
            reason="specs/broken.yaml: model: is missing (expected a model file) <img src=x>",
            exit_code=2,
        ),
    ]
    return FleetResult(
        sweep_id="sweep-1",
        directory=folder,
        created="2026-11-27T08:00:00Z",
        finished="2026-11-27T08:03:00Z",
        seconds=180.0,
        cluster={
            "kind": "local",
            "address": "tcp://127.0.0.1:38000",
            "workers": 2,
            "dashboard": "http://127.0.0.1:8787/status",
        },
        systems=systems,
        changes=[
            Change(HOSTILE, "new fail", "Q1", "pass", "fail"),
            Change("Ready one", "score", "technical", 0.5, 1.0),
            Change("Gone", "no longer assessed", "", "ready", None),
        ],
        previous_sweep="sweep-0 <i>",
        ledger=str(tmp_path / "audit.jsonl"),
        signed=True,
    )


def _tags(page: str) -> list[tuple[str, dict[str, str | None]]]:
    """Every start tag of ``page`` with its attributes, as a browser's parser reads them."""
    tags: list[tuple[str, dict[str, str | None]]] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            tags.append((tag, dict(attrs)))

    Collect().feed(page)
    return tags


def _strict(text: str) -> Any:
    def refuse(constant: str) -> None:
        raise AssertionError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_fleet_json_is_a_strict_document_that_reads_back(tmp_path: Path) -> None:
    result = _fleet(tmp_path)
    write_summary(result)
    data = _strict(result.summary_json.read_text(encoding="utf-8"))
    assert data["summary_version"] == "1.0" and data["sweep_id"] == "sweep-1"
    assert data["verdict"] == "not ready" and data["exit_code"] == 1
    assert data["counts"] == {
        "systems": 3,
        "ready": 1,
        "not ready": 1,
        "failed": 0,
        "not started": 1,
        "retried": 1,
    }
    assert data["cluster"]["workers"] == 2 and data["previous_sweep"] == "sweep-0 <i>"
    hostile = data["systems"][1]
    assert hostile["name"] == HOSTILE and hostile["report"] == "hostile/report.html"
    assert hostile["scores"] == {"governance": 0.5}  # NaN is no score at all
    assert hostile["overall"] is None
    assert hostile["statuses"]["Q1"] == "fail" and hostile["retried"] is True
    assert [a["outcome"] for a in hostile["attempts"]] == ["lost", "finished"]
    broken = data["systems"][2]
    assert broken["state"] == "not started" and broken["overall"] is None
    assert broken["reason"].startswith("specs/broken.yaml: model: is missing")
    assert data["changes"][0] == {
        "system": HOSTILE,
        "kind": "new fail",
        "question": "Q1",
        "before": "pass",
        "after": "fail",
    }
    assert data["score_threshold"] == SCORE_THRESHOLD and data["notes"] == []
    again = read_summary(result.directory)
    assert again.systems == result.systems and again.changes == result.changes
    assert again.verdict == result.verdict and again.cluster == result.cluster


def test_the_page_is_offline_and_escapes_every_name(tmp_path: Path) -> None:
    result = _fleet(tmp_path)
    write_summary(result)
    page = result.summary_html.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<title>Fleet readiness sweep sweep-1" in page
    # Nothing loaded from anywhere: no script, no image, no external link or stylesheet.
    tags = _tags(page)
    assert {name for name, _ in tags} <= {
        "html",
        "head",
        "meta",
        "title",
        "style",
        "body",
        "main",
        "div",
        "h1",
        "h2",
        "h3",
        "p",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "span",
        "strong",
        "br",
        "a",
        "code",
        "ul",
        "li",
    }
    assert not [attrs for _, attrs in tags if "src" in attrs or "srcset" in attrs]
    assert "url(" not in page and "@import" not in page
    hrefs = [attrs["href"] for name, attrs in tags if name == "a"]
    assert hrefs == ["ready-one/report.html", "hostile/report.html"]
    # The dashboard's address is text: the only "http" on the page, not a link.
    assert re.findall(r"https?://[^\s<\"]*", page) == ["http://127.0.0.1:8787/status"]
    assert "<code>http://127.0.0.1:8787/status</code>" in page
    # Hostile text is escaped, its bidi override made visible.
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "\u202e" not in page and "\\u202eevil\\u202c" in page
    assert "broken &lt;b&gt;" in page and "&lt;img src=x&gt;" in page
    assert "Changes since sweep sweep-0 &lt;i&gt;" in page
    # The headline, a retry named with its attempts, the change lines.
    assert "NOT READY &mdash; 3 systems, 1 ready, 1 not ready, 1 not started, 1 retried" in page
    assert (
        "attempt 2 on tcp://127.0.0.1:40123 after tcp://127.0.0.1:39111 (pid 1231) was lost" in page
    )
    assert "Q1 (Load at 10x): PASS → FAIL" in page
    assert "technical score 50% → 100%" in page
    assert "was READY; not in this sweep" in page
    assert "a local Dask cluster (LocalCluster) of 2 workers" in page


def test_the_page_says_why_nothing_is_compared(tmp_path: Path) -> None:
    base = _fleet(tmp_path)
    fields = dict(base.__dict__)
    fields.update(previous_sweep="", changes=[], ledger="")
    page = summary_page_html(FleetResult(**fields))
    assert "No ledger was given, so there is no previous sweep to compare with" in page
    fields.update(ledger="audit.jsonl")
    assert "holds no earlier sweep: this is the first one" in summary_page_html(
        FleetResult(**fields)
    )
    fields.update(notes=["The ledger 'audit.jsonl' failed verification (line 4: x) <b>"])
    page = summary_page_html(FleetResult(**fields))
    assert "failed verification (line 4: x) &lt;b&gt;" in page and "first one" not in page
    fields.update(previous_sweep="s0", notes=[])
    assert "Nothing changed" in summary_page_html(FleetResult(**fields))


def test_retried_names_every_attempt() -> None:
    run = SystemRun("s.yaml", "s", "S", "assessed", attempts=_attempts(3))
    assert retried_text(run) == (
        "attempt 3 on tcp://127.0.0.1:40123 after tcp://127.0.0.1:39111 (pid 1231) was lost, "
        "then tcp://127.0.0.1:39112 (pid 1232) was lost"
    )


def test_a_notebook_shows_the_fleet(tmp_path: Path) -> None:
    result = _fleet(tmp_path)
    html = result._repr_html_()
    assert html.startswith('<div class="pr-nb">') and "pr-fleet-table" in html
    assert "Changes since sweep" in html and "<script" not in html
    # A link would resolve against the notebook's folder: the report's path is shown instead.
    assert "href=" not in html
    assert f"<code>{result.directory / 'hostile/report.html'}</code>" in html


def test_the_fleet_dashboard(tmp_path: Path) -> None:
    from prodready.fleet._widget import FleetDashboard

    result = _fleet(tmp_path)
    board = FleetDashboard(result)
    assert board.result is result and "pr-fleet-table" in board.table.value
    assert board.reload_button.layout.display == "none"
    assert "Where it ran" in board.static_html() and "sweep-1" in repr(board)
    write_summary(result)
    from_folder = FleetDashboard(result.directory)
    assert from_folder.result is not None and from_folder.result.systems == result.systems
    assert from_folder.reload_button.layout.display == ""
    result.summary_json.write_text("{}")
    from_folder.reload()
    assert "Cannot show the sweep" in from_folder.status.value
    assert from_folder.result.sweep_id == "sweep-1"  # the last sweep read stays shown
    assert "text/html" in from_folder._repr_mimebundle_()


def test_the_fleet_dashboard_names_the_extra_without_ipywidgets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prodready import MissingDependencyError
    from prodready.fleet._widget import FleetDashboard

    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import ipywidgets now fails
    with pytest.raises(MissingDependencyError, match=r"pip install 'prodready\[lab\]'"):
        FleetDashboard(_fleet(tmp_path))


def test_a_report_link_stays_inside_the_sweep_folder(tmp_path: Path) -> None:
    base = _fleet(tmp_path)
    odd = [
        SystemRun("a.yaml", "a", "A", "assessed", verdict="ready", report="../up/report.html"),
        SystemRun("b.yaml", "b", "B", "assessed", verdict="ready", report="/etc/report.html"),
        SystemRun(
            "c.yaml", "c", "C", "assessed", verdict="ready", report='javascript:"<x>/report.html'
        ),
    ]
    fields = dict(base.__dict__)
    fields.update(systems=odd)
    page = summary_page_html(FleetResult(**fields))
    hrefs = [attrs["href"] for name, attrs in _tags(page) if name == "a"]
    assert hrefs == ["javascript%3A%22%3Cx%3E/report.html"]  # a relative path, not a scheme
    assert "<code>" in page and "../up/report.html" in page
