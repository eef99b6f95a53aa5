"""An auditor without prodready: the exact script of docs/signing.md, run with bash.

It uses python3's standard library, printf, ``openssl pkeyutl -verify -rawin`` and
``sha256sum -c`` only. The tamper test runs it once for each of the 200 flipped bytes that
test_sign.py checks through the API (each run of the script costs ~0.1 s).
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.attest.conftest import SignedRun
from tests.attest.test_sign import flip_positions

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not (shutil.which("openssl") and shutil.which("sha256sum") and shutil.which("bash")),
        reason="needs bash, openssl and sha256sum",
    ),
]

DOC = Path(__file__).resolve().parents[2] / "docs" / "signing.md"


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``bash`` block of docs/signing.md marked as verify-run.sh, byte for byte."""
    match = re.search(r"<!-- verify-run\.sh[^\n]*-->\n```bash\n(.*?)```", DOC.read_text(), re.S)
    assert match, "docs/signing.md lost its verify-run.sh block"
    path = tmp_path_factory.mktemp("route") / "verify-run.sh"
    path.write_text(match.group(1))
    return path


def _route(script: Path, run: Path, key: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script), str(run), str(key)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_openssl_version_is_3() -> None:
    out = subprocess.run(["openssl", "version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("OpenSSL 3.")


def test_the_documented_commands_verify_a_signed_run(script: Path, signed_run: SignedRun) -> None:
    done = _route(script, signed_run.run_dir, signed_run.public)
    assert done.returncode == 0, done.stderr
    assert "Signature Verified Successfully" in done.stdout
    assert done.stdout.rstrip().endswith("VERIFIED")
    assert "run signed not ready signed by key" in done.stdout


def test_the_documented_commands_detect_flipped_bytes(
    script: Path, signed_run: SignedRun, tmp_path: Path
) -> None:
    picks = flip_positions(signed_run.run_dir, 200, seed=200)  # the 200 of test_sign.py
    rng = random.Random(11)
    flips = [(name, position, rng.randrange(1, 256)) for name, position in picks]

    def check(worker: int) -> list[tuple[str, int]]:
        """Run the script once per flip of this worker's share, on its own copy."""
        run = signed_run.copy(tmp_path / f"worker{worker}")
        missed = []
        for name, position, mask in flips[worker::2]:
            original = (run / name).read_bytes()
            data = bytearray(original)
            data[position] ^= mask
            (run / name).write_bytes(bytes(data))
            try:
                done = _route(script, run, signed_run.public)
            finally:
                (run / name).write_bytes(original)
            detected = f"{name}: FAILED" in done.stdout and "VERIFIED" not in done.stdout.split()
            if done.returncode == 0 or not detected:
                missed.append((name, position))
        return missed

    # Two at a time (one per core): each run of the script is a few short processes.
    with ThreadPoolExecutor(2) as pool:
        missed = [m for part in pool.map(check, range(2)) for m in part]
    assert missed == []


def test_the_documented_commands_reject_a_wrong_key_and_added_or_missing_files(
    script: Path, signed_run: SignedRun, tmp_path: Path
) -> None:
    done = _route(script, signed_run.run_dir, signed_run.other_public)
    assert done.returncode != 0 and "Signature Verification Failure" in done.stdout + done.stderr
    run = signed_run.copy(tmp_path)
    (run / "notes.txt").write_text("added\n")
    done = _route(script, run, signed_run.public)
    assert done.returncode != 0 and "> notes.txt" in done.stdout
    (run / "notes.txt").unlink()
    (run / "monitor.json").unlink()
    done = _route(script, run, signed_run.public)
    assert done.returncode != 0 and "monitor.json: FAILED open or read" in done.stdout
