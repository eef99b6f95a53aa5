"""One real signed run folder for the signing tests (a kernel start costs ~10 s: made once).

A partial assessment (Q3, monitoring) of the small bundled example, signed and appended to a
ledger by the CLI itself, so that the tests see exactly what a user gets, output included.
"""

from __future__ import annotations

import contextlib
import io
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from prodready.attest import generate_keypair
from prodready.cli import main
from prodready.example import ensure_example


@dataclass(frozen=True)
class SignedRun:
    """The published run folder, the keys, the ledger and what the CLI printed."""

    run_dir: Path
    private: Path
    public: Path
    other_public: Path
    ledger: Path
    code: int
    stdout: str
    stderr: str

    def copy(self, target: Path) -> Path:
        """A copy of the run folder to tamper with (the original stays intact)."""
        return Path(shutil.copytree(self.run_dir, target / self.run_dir.name))


@pytest.fixture(scope="session")
def signed_run(tmp_path_factory: pytest.TempPathFactory) -> SignedRun:
    root = tmp_path_factory.mktemp("signed")
    spec = ensure_example(root / "example", n_rows=3000, served=False)
    keys = root / "keys"
    keys.mkdir()
    private, public = generate_keypair(keys, "signer")
    _other_private, other_public = generate_keypair(keys, "other")
    ledger = root / "audit.jsonl"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(
            [
                "assess",
                str(spec),
                "--out",
                str(root / "reports"),
                "--engine",
                "scipy",
                "--questions",
                "Q3",
                "--run-id",
                "signed",
                "--sign-key",
                str(private),
                "--ledger",
                str(ledger),
            ]
        )
    return SignedRun(
        root / "reports" / "signed",
        private,
        public,
        other_public,
        ledger,
        code,
        out.getvalue(),
        err.getvalue(),
    )
