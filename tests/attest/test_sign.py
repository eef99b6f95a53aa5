"""Signed run folders: signing at the end of a run, verification, tampering, wrong keys.

The run folder is made once (tests/attest/conftest.py); each test that changes files works on
a copy.
"""

from __future__ import annotations

import base64
import json
import random
import time
from pathlib import Path

import pytest

from prodready import UsageError, run_assessment
from prodready.attest import ENVELOPE, key_id, load_private_key, load_public_key, verify_run
from prodready.cli import main
from prodready.report.exporter import render_html
from tests.attest.conftest import SignedRun

pytestmark = pytest.mark.e2e

SUBJECTS = ["assessment.ipynb", "monitor.json", "report.html", "results.json", "spec.yaml"]


def _statement(run_dir: Path) -> dict:  # type: ignore[type-arg]
    envelope = json.loads((run_dir / ENVELOPE).read_text())
    return json.loads(base64.b64decode(envelope["payload"]))  # type: ignore[no-any-return]


def test_a_signed_run_verifies_and_says_who_signed(
    signed_run: SignedRun, capsys: pytest.CaptureFixture[str]
) -> None:
    run = signed_run.run_dir
    fp = key_id(load_public_key(signed_run.public))[:16]
    assert signed_run.code == 1, signed_run.stderr  # Q3 warns: not ready, but assessed
    assert f"signed: run.dsse.json, key {fp}" in signed_run.stdout
    files = sorted(p.name for p in run.iterdir() if p.name != ENVELOPE)
    assert set(SUBJECTS) <= set(files) and (run / ENVELOPE).is_file()
    # The spec copied in is the spec's bytes.
    spec = run.parents[1] / "example"
    assert (run / "spec.yaml").read_bytes() in {p.read_bytes() for p in spec.glob("*.yaml")}

    statement = _statement(run)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://prodready.dev/assessment/v1"
    assert [s["name"] for s in statement["subject"]] == files  # every file, attachments too
    predicate = statement["predicate"]
    assert predicate["runId"] == "signed" and predicate["verdict"] == "not ready"
    assert predicate["scores"] == {"technical": 0.5} and predicate["overall"] == 0.5
    assert predicate["signer"] == {
        "keyId": key_id(load_public_key(signed_run.public)),
        "fingerprint": fp,
    }

    result = verify_run(run, signed_run.public)
    assert result.ok and result.files == len(files) and result.signer == fp
    assert result.signed_at == predicate["signedAt"] and result.run_id == "signed"

    assert main(["verify", str(run), "--key", str(signed_run.public)]) == 0
    out = capsys.readouterr().out
    assert f"key {fp} at {predicate['signedAt']}; {len(files)} files intact" in out

    # The title block of the report names the key and how to verify.
    html = (run / "report.html").read_text()
    assert f"with the Ed25519 key <code>{fp}</code>" in html
    assert "prodready verify RUN_FOLDER --key SIGNER.pub" in html
    assert html.index('class="pr-signature"') < html.index("Partial assessment")


def _flip(path: Path, position: int, rng: random.Random) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= rng.randrange(1, 256)
    path.write_bytes(bytes(data))


def flip_positions(run_dir: Path, n: int, seed: int) -> list[tuple[str, int]]:
    """``n`` random (file, offset) pairs across the signed files: 10 in each file, the rest
    uniform over all their bytes together (so the large report gets most)."""
    rng = random.Random(seed)
    sizes = {name: (run_dir / name).stat().st_size for name in SUBJECTS}
    picks = [(name, rng.randrange(sizes[name])) for name in SUBJECTS for _ in range(10)]
    total = sum(sizes.values())
    while len(picks) < n:
        offset = rng.randrange(total)
        for name in SUBJECTS:
            if offset < sizes[name]:
                picks.append((name, offset))
                break
            offset -= sizes[name]
    return picks


def test_every_one_of_200_flipped_bytes_is_detected(
    signed_run: SignedRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = signed_run.copy(tmp_path)
    rng = random.Random(7)
    picks = flip_positions(run, 200, seed=200)
    assert len(picks) == 200 and {name for name, _ in picks} == set(SUBJECTS)
    started = time.perf_counter()
    capsys.readouterr()
    for name, position in picks:
        original = (run / name).read_bytes()
        _flip(run / name, position, rng)
        try:
            result = verify_run(run, signed_run.public)
            code = main(["verify", str(run), "--key", str(signed_run.public)])  # the command
        finally:
            (run / name).write_bytes(original)
        assert not result.ok and not result.wrong_key, (name, position)
        assert result.changed == [name] and result.problems == [f"changed: {name}"]
        out = capsys.readouterr().out.splitlines()
        assert code == 1 and out == [
            f"{run}: changed: {name}",
            f"{run}: NOT VERIFIED: 1 problem(s)",
        ]
    assert time.perf_counter() - started < 30
    assert verify_run(run, signed_run.public).ok  # restored: intact again


def test_a_flipped_byte_in_the_envelope_is_detected(signed_run: SignedRun, tmp_path: Path) -> None:
    run = signed_run.copy(tmp_path)
    envelope = run / ENVELOPE
    original = envelope.read_bytes()
    rng = random.Random(3)
    for position in rng.sample(range(len(original)), 60):
        _flip(envelope, position, rng)
        try:
            result = verify_run(run, signed_run.public)
        finally:
            envelope.write_bytes(original)
        assert not result.ok and not result.wrong_key, position
        assert result.problems and all(p.startswith(ENVELOPE) for p in result.problems)


def test_renamed_files_and_envelopes_or_signatures_of_other_runs_are_detected(
    signed_run: SignedRun, tmp_path: Path
) -> None:
    import shutil

    from prodready.attest import load_signer, sign_run
    from prodready.results import Assessment

    # A renamed file: the old name is missing, the new one added.
    run = signed_run.copy(tmp_path / "renamed")
    (run / "report.html").rename(run / "report-final.html")
    result = verify_run(run, signed_run.public)
    assert result.missing == ["report.html"] and result.added == ["report-final.html"]
    # Another run signed by the same key (its results differ): its whole envelope, put in
    # this folder, verifies as a signature but names the files that differ.
    other = signed_run.copy(tmp_path / "other")
    (other / "results.json").write_text((other / "results.json").read_text() + " ")
    sign_run(
        other, load_signer(signed_run.private), Assessment.load(signed_run.run_dir / "results.json")
    )
    assert verify_run(other, signed_run.public).ok
    run = signed_run.copy(tmp_path / "swapped")
    shutil.copyfile(other / ENVELOPE, run / ENVELOPE)
    result = verify_run(run, signed_run.public)
    assert result.changed == ["results.json"] and not result.ok and not result.wrong_key
    # Its signature alone, put in this folder's envelope: the signature does not verify.
    run = signed_run.copy(tmp_path / "signature")
    envelope = json.loads((run / ENVELOPE).read_text())
    envelope["signatures"] = json.loads((other / ENVELOPE).read_text())["signatures"]
    (run / ENVELOPE).write_text(json.dumps(envelope, indent=1, sort_keys=True) + "\n")
    result = verify_run(run, signed_run.public)
    assert not result.ok and not result.wrong_key
    assert result.problems == [
        f"{ENVELOPE}: the signature does not verify with key {result.signer}: the envelope or "
        "its payload was altered"
    ]
    # A second signature added (even a valid one by another key) is an altered envelope.
    from prodready.attest._dsse import sign_envelope

    envelope = json.loads((signed_run.run_dir / ENVELOPE).read_text())
    extra = sign_envelope(
        base64.b64decode(envelope["payload"]),
        envelope["payloadType"],
        load_private_key(signed_run.private.with_name("other.key")),
    )
    envelope["signatures"] += extra["signatures"]
    (run / ENVELOPE).write_text(json.dumps(envelope, indent=1, sort_keys=True) + "\n")
    for key in (signed_run.public, signed_run.other_public):
        result = verify_run(run, key)
        assert result.problems == [f"{ENVELOPE}: the signature's keyid was altered"], key
    # Whitespace the signature does not cover is still a byte of the file: it must not change.
    text = (signed_run.run_dir / ENVELOPE).read_text()
    for edited in (text.replace("\n ", "\n\r", 1), text.rstrip("\n"), json.dumps(json.loads(text))):
        (run / ENVELOPE).write_text(edited)
        result = verify_run(run, signed_run.public)
        assert result.problems == [
            f"{ENVELOPE}: is not byte for byte as prodready wrote it (its JSON was edited or "
            "reformatted): the envelope was altered"
        ]
    (run / ENVELOPE).write_text(text)
    assert verify_run(run, signed_run.public).ok


def test_added_and_missing_files_are_named(
    signed_run: SignedRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = signed_run.copy(tmp_path)
    (run / "notes.txt").write_text("added later\n")
    (run / "extra").mkdir()
    (run / "extra" / "x.json").write_text("{}")
    (run / "monitor.json").unlink()
    (run / "results.json").write_text("{}")
    result = verify_run(run, signed_run.public)
    assert result.added == ["extra/x.json", "notes.txt"]
    assert result.missing == ["monitor.json"] and result.changed == ["results.json"]
    assert main(["verify", str(run), "--key", str(signed_run.public)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert f"{run}: changed: results.json" in out
    assert f"{run}: added: notes.txt (not in the signed statement)" in out
    assert f"{run}: added: extra/x.json (not in the signed statement)" in out
    assert f"{run}: missing: monitor.json" in out
    assert out[-1] == f"{run}: NOT VERIFIED: 4 problem(s)"

    (run / ENVELOPE).unlink()  # an unsigned (or stripped) folder does not verify
    assert main(["verify", str(run), "--key", str(signed_run.public)]) == 1
    assert f"missing: {ENVELOPE} (the run is not signed)" in capsys.readouterr().out


def test_a_wrong_or_unreadable_key_exits_2(
    signed_run: SignedRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = str(signed_run.run_dir)
    result = verify_run(run, signed_run.other_public)
    assert result.wrong_key and not result.ok
    assert main(["verify", run, "--key", str(signed_run.other_public)]) == 2
    out, err = capsys.readouterr()
    other = key_id(load_public_key(signed_run.other_public))[:16]
    signer = key_id(load_public_key(signed_run.public))[:16]
    assert err.strip() == (
        f"prodready: error: {run}: {ENVELOPE}: not signed by key {other} (signed by "
        f"{signer}): wrong key, or the signature was replaced"
    )
    assert out == ""
    garbage = tmp_path / "garbage.pub"
    garbage.write_text("-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n")
    for key in (garbage, tmp_path / "absent.pub", signed_run.private, tmp_path):
        assert main(["verify", run, "--key", str(key)]) == 2, key
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert "PRIVATE KEY" not in err
    with pytest.raises(UsageError, match="is not an Ed25519 public key"):
        verify_run(run, garbage)


def test_no_private_key_material_in_any_output(signed_run: SignedRun) -> None:
    from cryptography.hazmat.primitives import serialization

    key = load_private_key(signed_run.private)
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    pem_body = "".join(signed_run.private.read_text().splitlines()[1:-1])
    secrets = [base64.b64encode(raw).decode(), raw.hex(), pem_body, "PRIVATE KEY"]
    texts = {"stdout": signed_run.stdout, "stderr": signed_run.stderr}
    for path in signed_run.run_dir.rglob("*"):
        texts[path.name] = path.read_bytes().decode("utf-8", "replace")
    texts["ledger"] = signed_run.ledger.read_text()
    for name, text in texts.items():
        for secret in secrets:
            assert secret not in text, name
    assert repr(load_private_key(signed_run.private)).startswith("<cryptography")  # sanity
    from prodready.attest import load_signer

    assert repr(load_signer(signed_run.private)) == f"<Signer {key_id(key)[:16]}>"


def test_a_bad_sign_key_fails_in_one_line_before_any_kernel(
    signed_run: SignedRun,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = signed_run.run_dir / "spec.yaml"  # any spec: the key is checked first
    out = tmp_path / "reports"
    bad = tmp_path / "bad.key"
    bad.write_text("not a key")
    for key in (str(bad), str(signed_run.public), str(tmp_path / "absent.key")):
        started = time.perf_counter()
        assert main(["assess", str(spec), "--out", str(out), "--sign-key", key]) == 2
        err = capsys.readouterr().err
        assert err.startswith("prodready: error: --sign-key: ") and err.count("\n") == 1, err
        assert time.perf_counter() - started < 3  # no kernel started
        assert not out.exists()
    monkeypatch.setenv("PRODREADY_SIGN_KEY", str(bad))
    assert main(["assess", str(spec), "--out", str(out)]) == 2
    assert "--sign-key: " in capsys.readouterr().err and not out.exists()
    with pytest.raises(UsageError, match="is not an unencrypted Ed25519 private key"):
        run_assessment(spec, out, sign_key=bad)
    assert not out.exists()


def test_an_unsigned_run_says_so(
    signed_run: SignedRun,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import nbformat

    import prodready.report.run as run_module
    from prodready.results import Assessment

    result = run_module.RunResult(
        signed_run.run_dir, Assessment.load(signed_run.run_dir / "results.json")
    )
    seen: dict[str, object] = {}

    def fake_run(*args: object, **kw: object) -> run_module.RunResult:
        seen.update(kw)
        return result

    monkeypatch.setattr(run_module, "run_assessment", fake_run)
    monkeypatch.delenv("PRODREADY_SIGN_KEY", raising=False)
    spec = signed_run.run_dir / "spec.yaml"
    assert main(["assess", str(spec), "--out", str(tmp_path)]) == 1
    assert seen["sign_key"] is None
    assert "signed: NO -- unsigned run (give --sign-key KEY or set PRODREADY_SIGN_KEY)" in (
        capsys.readouterr().out
    )
    # The report of an unsigned run says so in its title block.
    notebook = nbformat.read(signed_run.run_dir / "assessment.ipynb", as_version=4)
    notebook.metadata["prodready"]["signing"] = {"signed": False}
    html = render_html(notebook)
    assert "<strong>Not signed.</strong> This run was made without a signing key" in html
    # A forged fingerprint in the metadata is not shown as a signature.
    notebook.metadata["prodready"]["signing"] = {"signed": True, "fingerprint": "<b>x</b>"}
    assert "<strong>Not signed.</strong>" in render_html(notebook)


def test_securesystemslib_verifies_the_envelope_independently(signed_run: SignedRun) -> None:
    from cryptography.hazmat.primitives import serialization
    from securesystemslib.dsse import Envelope
    from securesystemslib.exceptions import VerificationError
    from securesystemslib.signer import SSlibKey  # type: ignore[attr-defined]

    def sslib_key(path: Path) -> SSlibKey:
        public = load_public_key(path)
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return SSlibKey(key_id(public), "ed25519", "ed25519", {"public": raw.hex()})

    text = (signed_run.run_dir / ENVELOPE).read_text()
    envelope = Envelope.from_dict(json.loads(text))  # from_dict changes the dict it reads
    assert envelope.payload_type == "application/vnd.in-toto+json"
    key = sslib_key(signed_run.public)
    assert list(envelope.verify([key], 1)) == [key.keyid]
    with pytest.raises(VerificationError):
        envelope.verify([sslib_key(signed_run.other_public)], 1)
    # A changed payload no longer verifies.
    statement = json.loads(envelope.pae()[envelope.pae().index(b"{") :])
    statement["predicate"]["verdict"] = "ready"
    data = json.loads(text)
    data["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    with pytest.raises(VerificationError):
        Envelope.from_dict(data).verify([key], 1)
