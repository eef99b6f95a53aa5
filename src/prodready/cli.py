"""The ``prodready`` command: a thin layer over the API, with exit codes for CI.

Exit codes: 0 ready, 1 assessed but not ready, 2 bad input or usage, 3 internal error, and
128 + the signal's number when stopped by one: 130 Ctrl-C (SIGINT), 143 SIGTERM, 129 SIGHUP.
A :class:`~prodready.ProdreadyError` is printed as one line on stderr, never a traceback.

SIGTERM and SIGHUP stop a run the way Ctrl-C does: the assessment kernel is stopped, the run's
temporary folder removed, and one line printed ("prodready: interrupted (SIGTERM)"). A second
signal during that clean-up is ignored, so the clean-up is not cut short.

Everything printed is made terminal-safe first: control characters, ANSI escape sequences and
bidirectional-text controls in names from the user's data or spec are written as visible
escapes (``\\x1b[2J``), so a name can neither clear the screen nor print a fake verdict.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from prodready._exceptions import ProdreadyError, UsageError
from prodready.checklist import get_question
from prodready.results import Assessment
from prodready.views import pct

__all__ = [
    "EXIT_ERROR",
    "EXIT_NOT_READY",
    "EXIT_READY",
    "EXIT_USAGE",
    "main",
    "printable",
]

EXIT_READY, EXIT_NOT_READY, EXIT_USAGE, EXIT_ERROR = 0, 1, 2, 3

#: Signals that stop a run cleanly, like Ctrl-C; the exit code is 128 + the signal's number.
STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n))


class Stopped(KeyboardInterrupt):
    """Raised by the CLI's handler of a stop signal: cleans up exactly like Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (the console script exits with it)."""
    _safe_streams()
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        with _stop_signals():
            code: int = args.func(args)
        return code
    except Stopped as exc:
        _error(f"prodready: interrupted ({signal.Signals(exc.signum).name})")
        return 128 + exc.signum
    except KeyboardInterrupt:
        _error("prodready: interrupted (Ctrl-C)")
        return 128 + signal.SIGINT
    except UsageError as exc:
        _error(f"prodready: error: {exc}")
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader went away (`prodready compare ... | head`): nothing to say, and nowhere
        # to say it. Later flushes at exit go to /dev/null; the status is the shell's for a
        # writer killed by SIGPIPE.
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except OSError as exc:  # a path the user gave cannot be used
        _error(f"prodready: error: {_os_error(exc)}")
        return EXIT_USAGE
    except ProdreadyError as exc:
        _error(f"prodready: internal error: {exc}")
        return EXIT_ERROR
    except Exception as exc:  # a bug of ours: say so in one line; PRODREADY_DEBUG shows more
        import traceback

        if os.environ.get("PRODREADY_DEBUG"):
            traceback.print_exc()
        _error(
            f"prodready: internal error: {type(exc).__name__}: {exc} "
            "(set PRODREADY_DEBUG=1 for the traceback)"
        )
        return EXIT_ERROR


# C0 and C1 controls (ESC starts every ANSI sequence; U+009B is a one-character CSI), DEL,
# bidirectional-text and zero-width controls (which reorder or hide what is shown), line and
# paragraph separators, and lone surrogates (not printable at all).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")


def printable(text: object) -> str:
    """``str(text)`` with every character a terminal would obey written as a visible escape."""
    return _UNSAFE.sub(_escape, str(text))


_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _SHORT.get(char) or (f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}")


def _out(line: str) -> None:
    print(printable(line))


def _error(line: str) -> None:
    with contextlib.suppress(OSError, ValueError):  # e.g. the terminal is gone (SIGHUP)
        print(printable(line), file=sys.stderr)


def _os_error(exc: OSError) -> str:
    """An OSError as words, without the raw ``[Errno NN]``."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.filename is None:
        return reason
    where = repr(os.fsdecode(exc.filename))
    if exc.filename2 is not None:
        where += f" -> {os.fsdecode(exc.filename2)!r}"
    return f"cannot use {where}: {reason}"


def _safe_streams() -> None:
    """Never crash on printing: what the terminal's encoding cannot show is escaped."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            with contextlib.suppress(Exception):
                stream.reconfigure(errors="backslashreplace")


@contextlib.contextmanager
def _stop_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into :class:`Stopped` while the command runs (main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}

    def stop(signum: int, frame: FrameType | None) -> None:
        for s in STOP_SIGNALS:  # one clean-up; a second signal does not cut it short
            signal.signal(s, signal.SIG_IGN)
        raise Stopped(signum)

    for s in STOP_SIGNALS:
        signal.signal(s, stop)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


class _Parser(argparse.ArgumentParser):
    """argparse, with its error line made terminal-safe (it quotes the user's arguments)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {printable(message)}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="prodready",
        description="Is this ML system ready for production? Assesses it against a "
        "ten-question readiness checklist and writes an offline HTML audit report.",
        epilog="Exit codes: 0 ready, 1 not ready, 2 bad input or usage, 3 internal error, "
        "128 + N when stopped by signal N (130 Ctrl-C, 143 SIGTERM).",
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
    p.add_argument(
        "--run-id",
        help="name of the run folder: 1 to 100 letters, digits, '.', '_' or '-', starting "
        "with a letter or digit (default: time and random hex)",
    )
    _attest_options(
        p,
        sign="sign the run folder with this Ed25519 private key from prodready keygen "
        "(default: $PRODREADY_SIGN_KEY; without one the run is unsigned)",
        ledger="append the run to this audit ledger (hash-chained JSON lines; default: "
        "$PRODREADY_LEDGER)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print only the verdict line")
    p.set_defaults(func=_assess)

    p = sub.add_parser(
        "fleet",
        help="assess every system of a fleet in parallel (Dask) and write a sweep summary",
        description="Assess every system of FLEET (a YAML list of spec paths, or a folder "
        "of specs), each as its own headless run, in parallel on Dask distributed: a "
        "LocalCluster on 127.0.0.1 by default, or --scheduler. Writes OUT/<sweep-id>/ with "
        "each system's run folder and a summary (index.html, fleet.json). Exit 0 when every "
        "system is ready, 1 when one is not (or failed), 2 when no system could start or for "
        "bad input. Needs pip install 'prodready[fleet]'. See docs/fleet.md.",
    )
    p.add_argument("fleet", help="a YAML list of spec paths, or a folder of specs")
    p.add_argument("--out", default="reports", help="folder for the sweep (default: reports)")
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="a running Dask scheduler, e.g. tcp://10.0.0.5:8786 (its workers must see --out "
        "at the same path); default: a LocalCluster on this machine",
    )
    p.add_argument(
        "--workers", type=int, help="LocalCluster worker processes (default: 2, or fewer CPUs)"
    )
    p.add_argument(
        "--retries",
        type=int,
        default=2,
        help="how often a system's run may be lost with a dying worker and run again (default: 2)",
    )
    p.add_argument(
        "--engine",
        choices=["auto", "scipy", "alibi"],
        default="",
        help="drift engine for every system (default: each spec's monitoring.engine)",
    )
    p.add_argument("--questions", metavar="Q3,Q5", default="", help="assess only these questions")
    p.add_argument("--sweep-id", help="name of the sweep folder (default: fleet-<time>-<hex>)")
    _attest_options(
        p,
        sign="sign every run folder with this private key (default: $PRODREADY_SIGN_KEY)",
        ledger="append every run to this audit ledger and compare with its previous sweep "
        "(default: $PRODREADY_LEDGER)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_fleet)

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

    p = sub.add_parser(
        "compare",
        help="print the verdicts of assessments side by side",
        description="Read the results.json of two or more runs (or their run folders) and "
        "print each question's status side by side, then the verdicts. Exit 0.",
    )
    p.add_argument("results", nargs="+", help="results.json files or run folders")
    p.set_defaults(func=_compare)

    p = sub.add_parser(
        "keygen",
        help="make an Ed25519 key pair for signing runs and approving models",
        description="Write OUT/NAME.key (the private key, mode 0600: keep it secret, it is "
        "never printed) and OUT/NAME.pub (the public key, for trusted-keys files and "
        "verification). Prints the paths and the key's fingerprint. Exit 0, or 2 if either "
        "file exists.",
    )
    p.add_argument("name", help="the key pair's name, e.g. your name or 'ci-signing'")
    p.add_argument("--out", default=".", help="folder for the two files (default: .)")
    p.set_defaults(func=_keygen)

    p = sub.add_parser(
        "approve",
        help="sign an approval (or rejection) of a registered model version",
        description="Sign, with your private key, a record approving version N of a model "
        "in a role; the artifact's sha256 is computed from the registry version's bytes "
        "(never typed). Stored as the version's registry tag prodready.approval.<key>.<role>, "
        "or in --folder. See docs/approvals.md. Exit 0, or 2 for bad input.",
    )
    p.add_argument("--model", required=True, help="the registered model's name")
    p.add_argument(
        "--version",
        required=True,
        help="the version approved: the registry's (1, 2, ...), or without one the "
        "release name (e.g. 1.4.0)",
    )
    p.add_argument("--role", required=True, help="the role you approve in, e.g. model-risk")
    p.add_argument("--key", required=True, metavar="KEY", help="your private key (.key)")
    p.add_argument("--registry", metavar="URI", help="the MLflow registry (tracking URI)")
    p.add_argument("--folder", metavar="DIR", help="store the record in this folder instead")
    p.add_argument(
        "--artifact", metavar="PATH", help="without a registry: the model file or folder"
    )
    p.add_argument("--decision", choices=["approve", "reject"], default="approve")
    p.add_argument("--comment", default="", help="why (at most 1,000 characters)")
    p.add_argument("--approver", help="your name (default: the key file's name)")
    p.set_defaults(func=_approve)

    p = sub.add_parser(
        "verify",
        help="check a signed run folder against the signer's public key",
        description="Check run.dsse.json's signature with the public key, then every file of "
        "the run folder against the signed sha256 digests. Exit 0 when intact (prints who "
        "signed and when), 1 naming each file changed, added or missing (or a broken "
        "signature), 2 for a wrong or unreadable key.",
    )
    p.add_argument("run_dir", help="the run folder (OUT/<run-id>)")
    p.add_argument("--key", required=True, metavar="PUB", help="the signer's public key (.pub)")
    p.set_defaults(func=_verify)

    p = sub.add_parser(
        "ledger",
        help="check or list an audit ledger of assessments",
        description="The audit ledger written by assess --ledger: one hash-chained JSON line "
        "per run.",
    )
    ledger = p.add_subparsers(dest="ledger_command", required=True)
    q = ledger.add_parser(
        "verify",
        help="check the ledger's chain",
        description="Exit 0 when every line links to the one before, 1 naming each line "
        "edited, deleted, reordered or inserted.",
    )
    q.add_argument("ledger", help="the ledger file")
    q.set_defaults(func=_ledger_verify)
    q = ledger.add_parser(
        "show",
        help="list the runs in the ledger",
        description="List runs and verdicts in order. Exit 0, or 1 (with a warning first) "
        "when the ledger does not verify.",
    )
    q.add_argument("ledger", help="the ledger file")
    q.add_argument("--system", metavar="NAME", help="only the runs of this system")
    q.set_defaults(func=_ledger_show)
    return parser


def _verify(args: argparse.Namespace) -> int:
    from prodready.attest import verify_run

    result = verify_run(args.run_dir, args.key)
    where = printable(args.run_dir)
    if result.wrong_key:
        for problem in result.problems:
            _error(f"prodready: error: {where}: {problem}")
        return EXIT_USAGE
    if not result.ok:
        for problem in result.problems:
            _out(f"{where}: {problem}")
        _out(f"{where}: NOT VERIFIED: {len(result.problems)} problem(s)")
        return EXIT_NOT_READY
    _out(
        f"{where}: verified: signed by key {result.signer} at {result.signed_at}; "
        f"{result.files} files intact (run {result.run_id}, {result.verdict.upper()})"
    )
    return EXIT_READY


def _ledger_verify(args: argparse.Namespace) -> int:
    from prodready.attest import verify_ledger

    check = verify_ledger(args.ledger)
    where = printable(args.ledger)
    for problem in check.problems:
        _out(f"{where}: {problem}")
    if check.more:
        _out(f"{where}: ... and {check.more} more problem(s)")
    if not check.ok:
        _out(f"{where}: NOT VALID: {len(check.problems) + check.more} problem(s)")
        return EXIT_NOT_READY
    _out(f"{where}: valid: {check.lines} line(s), an intact chain")
    return EXIT_READY


def _ledger_show(args: argparse.Namespace) -> int:
    from prodready.attest import read_ledger, verify_ledger

    entries = read_ledger(args.ledger, system=args.system)
    # A listing of a ledger that does not verify would vouch for what it cannot: say so first
    # (the listing skips lines that are not ledger records) and exit 1.
    check = verify_ledger(args.ledger)
    if not check.ok:
        problems = len(check.problems) + check.more
        first = check.problems[0] if check.problems else "its chain does not verify"
        _error(
            f"prodready: warning: {printable(args.ledger)} does not verify ({problems} "
            f"problem(s), first: {printable(first)}); prodready ledger verify names them all"
        )
    for e in entries:
        score = pct(e.overall) if e.overall is not None else "-"
        signed = f"signed {e.signer}" if e.signer else "unsigned"
        _out(
            f"{e.seq:>5}  {e.time:<26}  {_cut(e.system, 32):<32}  {e.verdict.upper():<9} "
            f"{score:>5}  {e.run_id}  {signed}"
        )
    _out(f"{len(entries)} run(s)" + (f" of {args.system}" if args.system else ""))
    return EXIT_READY if check.ok else EXIT_NOT_READY


def _keygen(args: argparse.Namespace) -> int:
    from prodready.attest import fingerprint, generate_keypair, load_public_key

    private, public = generate_keypair(args.out, args.name)
    print(f"private key: {printable(str(private))} (mode 0600; keep it secret)")
    print(f"public key:  {printable(str(public))}")
    print(f"fingerprint: {fingerprint(load_public_key(public))}")
    return 0


def _approve(args: argparse.Namespace) -> int:
    from prodready.attest._approval import approve

    done = approve(
        model=args.model,
        version=args.version,
        role=args.role,
        key=args.key,
        registry=args.registry,
        folder=args.folder,
        artifact=args.artifact,
        decision=args.decision,
        comment=args.comment,
        approver=args.approver,
    )
    a = done.approval
    verb = "approved" if a.decision == "approve" else "rejected"
    _out(f"{verb}: {a.model} version {a.version} (sha256 {a.artifact_sha256})")
    _out(f"role {a.role}, approver {a.approver}, key {a.key_id[:16]}, at {a.time}")
    _out(f"stored: {done.location}")
    return EXIT_READY


def _assess(args: argparse.Namespace) -> int:
    from prodready._files import check_folder, prepare_output_file, remove_folders
    from prodready.junit import write_junit
    from prodready.report.run import check_run_id, run_assessment

    # Every path and name first, before the spec is even read: one line, nothing written.
    if args.run_id is not None:
        check_run_id(args.run_id, "--run-id")
    check_folder(args.out, "--out")
    signer = _signer(args.sign_key)
    if args.ledger:
        from prodready.attest import check_ledger_path

        check_ledger_path(args.ledger, "--ledger")
    created: list[Path] = []
    if args.junit is not None:
        _check_junit_target(args)
        created = prepare_output_file(args.junit, "--junit")
    try:
        result = run_assessment(
            args.spec,
            args.out,
            drift_engine=args.engine,
            run_id=args.run_id,
            questions=_questions(args.questions),
            sign_key=signer,
            ledger=args.ledger or None,
        )
    except BaseException:
        remove_folders(created)  # a failed run leaves nothing behind, the JUnit folder neither
        raise
    if args.junit is not None:
        write_junit(result.assessment, args.junit)
    _print_summary(result.assessment, quiet=args.quiet)
    _out(f"report: {result.report}")
    if signer is not None:
        _out(f"signed: run.dsse.json, key {signer.fingerprint} (prodready verify RUN --key PUB)")
    else:
        _out("signed: NO -- unsigned run (give --sign-key KEY or set PRODREADY_SIGN_KEY)")
    if args.ledger:
        _out(f"ledger: appended to {args.ledger}")
    if result.assessment.ready:
        return EXIT_READY
    if result.assessment.policy.get("gate") == "advisory":
        _out("policy.gate is advisory: not ready, but this exit code does not block.")
        return EXIT_READY
    return EXIT_NOT_READY


def _attest_options(p: argparse.ArgumentParser, *, sign: str, ledger: str) -> None:
    """--sign-key and --ledger, defaulting to $PRODREADY_SIGN_KEY and $PRODREADY_LEDGER."""
    p.add_argument(
        "--sign-key", metavar="KEY", default=os.environ.get("PRODREADY_SIGN_KEY", ""), help=sign
    )
    p.add_argument(
        "--ledger", metavar="FILE", default=os.environ.get("PRODREADY_LEDGER", ""), help=ledger
    )


def _fleet(args: argparse.Namespace) -> int:
    from prodready.fleet import FleetResult, SystemRun, assess_fleet

    bar: Any = None

    def on_cluster(cluster: dict[str, Any]) -> None:
        where = f"{cluster['kind']} cluster at {cluster['address']}, {cluster['workers']} workers"
        _error(f"prodready: fleet on a {where}")
        if cluster.get("dashboard"):
            _error(f"prodready: Dask dashboard: {cluster['dashboard']}")

    def progress(done: int, all_: int, run: SystemRun) -> None:
        nonlocal bar
        if bar is None and not args.quiet:
            bar = _progress_bar(all_)
        verdict = run.verdict.upper() if run.state == "assessed" else run.state.upper()
        line = f"[{done}/{all_}] {run.name}: {verdict}" + (
            f" (overall {pct(run.overall)})" if run.overall is not None else f" -- {run.reason}"
        )
        if run.retried:
            line += f" (attempt {len(run.attempts)})"
        if bar is not None:
            bar.write(printable(line))
            bar.update(1)
        else:
            _out(line)

    try:
        result: FleetResult = assess_fleet(
            args.fleet,
            args.out,
            scheduler=args.scheduler,
            workers=args.workers,
            retries=args.retries,
            sign_key=args.sign_key or None,
            ledger=args.ledger or None,
            drift_engine=args.engine,
            questions=_questions(args.questions),
            sweep_id=args.sweep_id,
            progress=progress,
            on_cluster=on_cluster,
        )
    finally:
        if bar is not None:
            bar.close()
    counts: dict[str, int] = {}
    for run in result.systems:
        key = run.verdict if run.state == "assessed" else run.state
        counts[key] = counts.get(key, 0) + 1
    _out(
        f"fleet {result.sweep_id}: {result.verdict.upper()} -- "
        + ", ".join(f"{n} {k}" for k, n in counts.items())
        + f" ({len(result.systems)} systems in {result.seconds:,.0f} s)"
    )
    if result.previous_sweep:
        _out(f"changes since {result.previous_sweep}: {len(result.changes)}")
    for change in result.changes:
        what = change.kind + (f" {change.question}" if change.question else "")
        before = "-" if change.before is None else change.before
        after = "-" if change.after is None else change.after
        _out(f"  {change.system}: {what}: {before} -> {after}")
    for note in result.notes:
        _error(f"prodready: warning: {note}")
    _out(f"summary: {result.summary_html}")
    if not result.signed:
        _out("signed: NO -- unsigned runs (give --sign-key KEY or set PRODREADY_SIGN_KEY)")
    if result.ledger:
        _out(f"ledger: appended to {result.ledger}")
    return result.exit_code


def _progress_bar(total: int) -> Any:
    """tqdm on stderr (only on a terminal), or None when tqdm is missing."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="system", file=sys.stderr, disable=None, leave=False)


def _signer(path: str) -> Any:
    """The signing key of --sign-key / $PRODREADY_SIGN_KEY, loaded now (before any kernel)."""
    if not path:
        return None
    from prodready.attest import load_signer

    try:
        return load_signer(path)
    except UsageError as exc:
        raise UsageError(f"--sign-key: {exc}") from None


def _check_junit_target(args: argparse.Namespace) -> None:
    """--junit must not overwrite the spec, nor land on or in what the run publishes."""
    junit = Path(os.path.abspath(args.junit))
    clash = ""
    if junit == Path(os.path.abspath(args.spec)) or _same_file(args.junit, args.spec):
        clash = "is the spec file"
    elif junit == Path(os.path.abspath(args.out)):
        clash = "is the --out folder"
    elif args.run_id is not None and Path(os.path.abspath(args.out), args.run_id) in (
        junit,
        *junit.parents,
    ):
        clash = "is inside the run folder, which is published whole when the run ends"
    if clash:
        raise UsageError(f"--junit: {args.junit!r} {clash}: expected another file path")


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def _questions(text: str) -> list[str] | None:
    names = [q.strip() for q in text.split(",") if q.strip()]
    return names or None


def _print_summary(a: Assessment, *, quiet: bool) -> None:
    for note in a.notes:  # e.g. an ignored plug-in: on stderr, where CI logs show warnings
        _error(f"prodready: warning: {note}")
    scope = f" -- {a.scope}" if a.partial else ""
    _out(f"{a.system.get('name')}: {a.verdict.upper()} (overall score {pct(a.overall)}){scope}")
    if quiet:
        return
    _out("scores: " + ", ".join(f"{s} {pct(v)}" for s, v in a.scores.items()))
    for f in a.findings:
        q = get_question(f.question)
        _out(f"  {q.id:>3} {f.status.label:<12} {q.title}: {f.summary}")


def _validate(args: argparse.Namespace) -> int:
    from prodready.assessment import preflight
    from prodready.spec import load_spec

    system = load_spec(args.spec)
    preflight(system)
    info = system.describe()
    _out(f"{args.spec}: valid")
    _out(f"  model: {info['model_type']} ({system.task})")
    rows = info["rows"]
    _out(
        f"  data: {rows['reference']} reference rows"
        + (f", {rows['current']} current rows" if rows["current"] is not None else "")
    )
    _out(
        f"  features: {len(system.feature_columns)} "
        f"({len(system.categorical_columns)} categorical); target: {system.target}"
    )
    return EXIT_READY


def _compare(args: argparse.Namespace) -> int:
    from prodready._exceptions import DataError
    from prodready.checklist import QUESTIONS

    runs: list[Assessment] = []
    for given in args.results:
        path = Path(given)
        path = path / "results.json" if path.is_dir() else path
        try:
            runs.append(Assessment.load(path))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DataError(
                f"{printable(given)}: not a prodready results file ({type(exc).__name__})"
            ) from None
    width = 26
    full = [str(a.system.get("name") or a.run_id) for a in runs]
    names, shared = _distinct(full)
    if shared:  # "Credit risk: … (bundled example)" once, then "prototype", "production"
        _out(shared)
    names = [_cut(n, width) for n in names]
    _out(f"{'':<40}" + "".join(f"{n:<{width + 2}}" for n in names))
    for q in QUESTIONS:
        cells = []
        for a in runs:
            found = next((f for f in a.findings if f.question == q.id), None)
            cells.append("-" if found is None else found.status.label)
        _out(f"{q.id:>3} {_cut(q.title, 35):<36}" + "".join(f"{c:<{width + 2}}" for c in cells))
    verdicts = [f"{a.verdict.upper()} ({pct(a.overall)})" for a in runs]
    _out(f"{'verdict':<40}" + "".join(f"{v:<{width + 2}}" for v in verdicts))
    return EXIT_READY


def _distinct(names: list[str]) -> tuple[list[str], str]:
    """The words that tell ``names`` apart, and what they share ("A: … (b)"), if anything."""
    words = [n.split() for n in names]
    if len(names) < 2 or len(set(names)) < len(names):
        return names, ""
    head = 0
    while all(len(w) > head + 1 and w[head] == words[0][head] for w in words):
        head += 1
    tail = 0
    while all(len(w) > head + tail + 1 and w[-1 - tail] == words[0][-1 - tail] for w in words):
        tail += 1
    if head == 0 and tail == 0:
        return names, ""
    parts = [" ".join(w[head : len(w) - tail]) for w in words]
    shared = " ".join([*words[0][:head], "…", *words[0][len(words[0]) - tail :]])
    return parts, shared


def _cut(text: str, width: int) -> str:
    text = printable(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def _example(args: argparse.Namespace) -> int:
    from prodready.example import (
        MIN_ROWS,
        PRODUCTION_SPEC,
        PROTOTYPE_SPEC,
        ensure_example,
        mlflow_available,
    )

    if args.rows < MIN_ROWS:
        raise UsageError(f"--rows is {args.rows}: expected at least {MIN_ROWS}")
    served = mlflow_available()
    spec = ensure_example(Path(args.dir), n_rows=args.rows, served=served)
    _out(str(spec))
    if served:  # the two served systems: the prototype and the production variant
        _out(str(spec.parent / PROTOTYPE_SPEC))
        _out(str(spec.parent / PRODUCTION_SPEC))
    return EXIT_READY


if __name__ == "__main__":
    sys.exit(main())
