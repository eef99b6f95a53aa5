"""The ``prodready`` command: a thin layer over the API, with exit codes for CI.

Exit codes: 0 ready, 1 assessed but not ready, 2 bad input or usage, 3 internal error.
A :class:`~prodready.ProdreadyError` is printed as one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from prodready._exceptions import ProdreadyError, UsageError
from prodready.checklist import get_question
from prodready.results import Assessment
from prodready.views import pct

__all__ = ["EXIT_ERROR", "EXIT_NOT_READY", "EXIT_READY", "EXIT_USAGE", "main"]

EXIT_READY, EXIT_NOT_READY, EXIT_USAGE, EXIT_ERROR = 0, 1, 2, 3


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (the console script exits with it)."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except (UsageError, OSError) as exc:  # OSError: a path the user gave cannot be used
        print(f"prodready: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ProdreadyError as exc:
        print(f"prodready: internal error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("prodready: interrupted", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # a bug of ours: say so in one line; PRODREADY_DEBUG shows more
        import os
        import traceback

        if os.environ.get("PRODREADY_DEBUG"):
            traceback.print_exc()
        print(
            f"prodready: internal error: {type(exc).__name__}: {exc} "
            "(set PRODREADY_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return EXIT_ERROR


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prodready",
        description="Is this ML system ready for production? Assesses it against a "
        "ten-question readiness checklist and writes an offline HTML audit report.",
        epilog="Exit codes: 0 ready, 1 not ready, 2 bad input or usage, 3 internal error.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "assess",
        help="assess the system of a spec file and write a report",
        description="Run the assessment notebook (papermill), render the HTML "
        "report (nbconvert) and write OUT/<run-id>/{assessment.ipynb, "
        "results.json, report.html}.",
    )
    p.add_argument("spec", help="the YAML spec file of the system")
    p.add_argument("--out", default="reports", help="folder for run folders (default: reports)")
    p.add_argument("--junit", metavar="FILE", help="also write JUnit XML, one case per question")
    p.add_argument(
        "--engine",
        choices=["auto", "scipy", "alibi"],
        default="",
        help="drift engine (default: the spec's monitoring.engine)",
    )
    p.add_argument(
        "--questions",
        metavar="Q3,Q5",
        default="",
        help="assess only these questions (ids or keys, comma-separated): a partial "
        "assessment, judged on that subset and labelled so (default: all ten)",
    )
    p.add_argument("--run-id", help="name of the run folder (default: time and random hex)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the verdict line")
    p.set_defaults(func=_assess)

    p = sub.add_parser(
        "validate",
        help="check a spec file: load its model and data",
        description="Load the spec, the model and the data, and report what "
        "would be assessed. Exit 0 when valid, 2 when not.",
    )
    p.add_argument("spec", help="the YAML spec file of the system")
    p.set_defaults(func=_validate)

    p = sub.add_parser(
        "example",
        help="generate the bundled example system (once) and print its spec path",
        description="Generate the synthetic credit-risk data and train the "
        "example model on first use; later calls reuse them.",
    )
    p.add_argument(
        "--dir", default=".cache/example", help="where to put it (default: .cache/example)"
    )
    p.add_argument(
        "--rows", type=int, default=100_000, help="rows per data window (default: 100000)"
    )
    p.set_defaults(func=_example)
    return parser


def _assess(args: argparse.Namespace) -> int:
    from prodready.junit import write_junit
    from prodready.report.run import run_assessment

    result = run_assessment(
        args.spec,
        args.out,
        drift_engine=args.engine,
        run_id=args.run_id,
        questions=_questions(args.questions),
    )
    if args.junit:
        write_junit(result.assessment, args.junit)
    _print_summary(result.assessment, quiet=args.quiet)
    print(f"report: {result.report}")
    if result.assessment.ready:
        return EXIT_READY
    if result.assessment.policy.get("gate") == "advisory":
        print("policy.gate is advisory: not ready, but this exit code does not block.")
        return EXIT_READY
    return EXIT_NOT_READY


def _questions(text: str) -> list[str] | None:
    names = [q.strip() for q in text.split(",") if q.strip()]
    return names or None


def _print_summary(a: Assessment, *, quiet: bool) -> None:
    scope = f" -- {a.scope}" if a.partial else ""
    print(f"{a.system.get('name')}: {a.verdict.upper()} (overall score {pct(a.overall)}){scope}")
    if quiet:
        return
    print("scores: " + ", ".join(f"{s} {pct(v)}" for s, v in a.scores.items()))
    for f in a.findings:
        q = get_question(f.question)
        print(f"  {q.id:>3} {f.status.label:<12} {q.title}: {f.summary}")


def _validate(args: argparse.Namespace) -> int:
    from prodready.assessment import preflight
    from prodready.spec import load_spec

    system = load_spec(args.spec)
    preflight(system)
    info = system.describe()
    print(f"{args.spec}: valid")
    print(f"  model: {info['model_type']} ({system.task})")
    rows = info["rows"]
    print(
        f"  data: {rows['reference']} reference rows"
        + (f", {rows['current']} current rows" if rows["current"] is not None else "")
    )
    print(
        f"  features: {len(system.feature_columns)} "
        f"({len(system.categorical_columns)} categorical); target: {system.target}"
    )
    return EXIT_READY


def _example(args: argparse.Namespace) -> int:
    from prodready.example import ensure_example

    if args.rows < 100:
        raise UsageError(f"--rows is {args.rows}: expected at least 100")
    print(ensure_example(Path(args.dir), n_rows=args.rows))
    return EXIT_READY


if __name__ == "__main__":
    sys.exit(main())
