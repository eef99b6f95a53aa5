"""Approval records: signing, verifying each broken record with its exact state, the trusted-keys
file's errors, and ``prodready approve`` (folder storage; the registry is in the probe tests)."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from prodready.attest import generate_keypair, key_id, load_private_key
from prodready.attest._approval import (
    MAX_ENVELOPE_CHARS,
    PAYLOAD_TYPE,
    Approval,
    ApprovalError,
    approval_filename,
    approve,
    check_record,
    file_sha256,
    load_trusted_keys,
    parse_time,
    read_folder,
    sign_approval,
    tag_key,
    utc_now,
)
from prodready.attest._dsse import pae
from prodready.cli import main

DIGEST = "ab" * 32


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """alice (model-owner), bob (model-risk), carol (both roles); mallory is not trusted."""
    folder = tmp_path_factory.mktemp("keys")
    for name in ("alice", "bob", "carol", "mallory"):
        generate_keypair(folder, name)
    (folder / "trusted.yaml").write_text(
        "keys:\n"
        "  - {person: Alice Chen, roles: [model-owner], public_key: alice.pub}\n"
        "  - {person: Bob Diaz, roles: [model-risk], public_key: bob.pub}\n"
        "  - {person: Carol Evans, roles: [model-owner, model-risk], public_key: carol.pub}\n"
    )
    return folder


def record(**changes: object) -> Approval:
    base = Approval(
        model="credit-risk",
        version="1",
        artifact_sha256=DIGEST,
        role="model-owner",
        approver="Alice Chen",
        time="2026-11-27T04:00:00.000000Z",
        comment="reviewed the validation report",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_signed_record_verifies_and_reads_back(keys: Path) -> None:
    alice = load_private_key(keys / "alice.key")
    envelope = sign_approval(record(), alice)
    assert envelope["payloadType"] == PAYLOAD_TYPE
    payload = base64.b64decode(envelope["payload"])
    # The payload is the canonical JSON of the record: sorted keys, no spaces.
    assert payload.startswith(b'{"approver":"Alice Chen","artifact_sha256":"abab')
    assert json.loads(payload)["schema"] == "prodready.approval/v1"
    sig = base64.b64decode(envelope["signatures"][0]["sig"])
    alice.public_key().verify(sig, pae(PAYLOAD_TYPE, payload))
    result = check_record("r", json.dumps(envelope), load_trusted_keys(keys / "trusted.yaml"))
    assert result.state == "valid", result.problem
    assert result.approval == record(key_id=key_id(alice))
    assert result.signer is not None and result.signer.person == "Alice Chen"
    assert len(json.dumps(envelope)) < MAX_ENVELOPE_CHARS


def test_each_broken_record_gets_its_exact_state(keys: Path) -> None:
    trusted = load_trusted_keys(keys / "trusted.yaml")
    alice = load_private_key(keys / "alice.key")
    mallory = load_private_key(keys / "mallory.key")
    good = sign_approval(record(), alice)

    tampered = json.loads(json.dumps(good))
    changed = json.loads(base64.b64decode(tampered["payload"]))
    changed["version"] = "2"
    tampered["payload"] = base64.b64encode(json.dumps(changed).encode()).decode()
    result = check_record("t", tampered, trusted)
    assert (result.state, result.problem) == (
        "forged",
        "its signature does not verify: the record was changed after it was signed, or "
        "signed by another key than the trusted one it names",
    )

    # Mallory signs a record and claims Alice's key id: a forgery.
    forged = sign_approval(record(), mallory)
    forged["signatures"][0]["keyid"] = key_id(alice)
    assert check_record("f", forged, trusted).state == "forged"

    unknown = check_record("u", sign_approval(record(), mallory), trusted)
    assert unknown.state == "unknown key"
    assert unknown.problem == (
        f"signed by key {key_id(mallory)[:16]}, which is not in the trusted-keys file "
        f"{str(keys / 'trusted.yaml')!r}"
    )

    role = check_record("r", sign_approval(record(role="model-risk"), alice), trusted)
    assert (role.state, role.problem) == (
        "unauthorised role",
        "Alice Chen signed as model-risk, a role the trusted-keys file does not give them "
        "(their roles: model-owner)",
    )

    assert check_record("j", "not json", trusted).state == "malformed"
    other_type = dict(good, payloadType="application/json")
    assert "expected 'application/vnd.prodready.approval+json'" in (
        check_record("p", other_type, trusted).problem
    )


def test_a_validly_signed_but_malformed_payload(keys: Path) -> None:
    from prodready.attest import sign_envelope

    alice = load_private_key(keys / "alice.key")
    body = record(key_id=key_id(alice)).to_json()
    body["time"] = "yesterday"
    envelope = sign_envelope(json.dumps(body).encode(), PAYLOAD_TYPE, alice)
    result = check_record("m", envelope, load_trusted_keys(keys / "trusted.yaml"))
    assert result.state == "malformed"
    assert "time is 'yesterday'" in result.problem
    # A record naming another key than the one that signed it.
    body = record(key_id="cd" * 32).to_json()
    envelope = sign_envelope(json.dumps(body).encode(), PAYLOAD_TYPE, alice)
    result = check_record("k", envelope, load_trusted_keys(keys / "trusted.yaml"))
    assert result.state == "forged"
    assert result.problem.startswith("it names key cdcdcdcdcdcdcdcd but was signed by")


def test_hostile_records_are_malformed_never_a_crash(keys: Path) -> None:
    from prodready.attest import sign_envelope

    trusted = load_trusted_keys(keys / "trusted.yaml")
    alice = load_private_key(keys / "alice.key")
    # JSON nested thousands deep (fits a 5,000-character tag) makes json.loads recurse out.
    for text in ("[" * 5000 + "]" * 5000, '{"a":' * 3000 + "1" + "}" * 3000):
        result = check_record("deep", text, trusted)
        assert (result.state, result.problem) == (
            "malformed",
            "it is not JSON (not a signed envelope)",
        )
    deep = sign_envelope(("[" * 5000 + "]" * 5000).encode(), PAYLOAD_TYPE, alice)
    result = check_record("deep payload", deep, trusted)
    assert (result.state, result.problem) == (
        "malformed",
        "signed by Alice Chen, but its payload is not JSON",
    )
    # Validly signed, of the records' form, but no real time (month 13): the judge would
    # otherwise fail to compare it with the deployment time.
    body = record(key_id=key_id(alice)).to_json()
    body["time"] = "2026-13-45T99:99:99Z"
    result = check_record(
        "m", sign_envelope(json.dumps(body).encode(), PAYLOAD_TYPE, alice), trusted
    )
    assert result.state == "malformed"
    assert result.problem == (
        "signed by Alice Chen, but time is '2026-13-45T99:99:99Z': expected UTC ISO 8601 like "
        "2026-11-27T04:40:00Z"
    )
    with pytest.raises(ApprovalError, match="time is '2026-02-30T00:00:00Z'"):
        sign_approval(record(time="2026-02-30T00:00:00Z"), alice)


def test_signing_refuses_bad_records(keys: Path) -> None:
    alice = load_private_key(keys / "alice.key")
    with pytest.raises(ApprovalError, match="role is 'Model Owner'"):
        sign_approval(record(role="Model Owner"), alice)
    with pytest.raises(ApprovalError, match="artifact_sha256 is not 64"):
        sign_approval(record(artifact_sha256="abc"), alice)
    # Non-ASCII is escaped in the canonical JSON (6 characters each): the envelope limit.
    with pytest.raises(ApprovalError, match="larger than 5000 characters"):
        sign_approval(record(comment="\u00e9" * 900), alice)


def test_times_and_storage_names() -> None:
    assert parse_time("2026-11-27T04:00:00Z") == parse_time("2026-11-27T04:00:00+00:00")
    with pytest.raises(ValueError, match="no time zone"):
        parse_time("2026-11-27T04:00:00")
    assert utc_now().endswith("Z") and len(utc_now()) == 27
    assert tag_key("0123456789abcdef" + "0" * 48, "model-risk") == (
        "prodready.approval.0123456789abcdef.model-risk"
    )
    assert approval_filename(record(model="a/b", key_id="ef" * 32)) == (
        "a_b.v1.efefefefefefefef.model-owner.approval.json"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("keys: []\n", "keys: is missing or empty"),
        ("keys: [1]\n", r"keys\[1\]: is not a mapping"),
        ("keys:\n  - {person: A, roles: [x], public_key: alice.pub, team: y}\n", "unknown field"),
        ("keys:\n  - {roles: [x], public_key: alice.pub}\n", r"keys\[1\]\.person: is missing"),
        ("keys:\n  - {person: A, roles: [X Y], public_key: alice.pub}\n", r"\.roles: is \['X Y'\]"),
        ("keys:\n  - {person: A, roles: [x], public_key: nope.pub}\n", "nope.pub'.*does not exist"),
        (
            "keys:\n  - {person: A, roles: [x], public_key: alice.pub}\n"
            "  - {person: B, roles: [y], public_key: alice.pub}\n",
            r"keys\[2\]\.public_key: the key [0-9a-f]{16} is listed twice",
        ),
        ("keys: [\n", "is not valid YAML at line 2"),
        ("keys: " + "[" * 2000 + "]" * 2000 + "\n", "is nested too deeply"),
    ],
)
def test_trusted_keys_file_errors(keys: Path, tmp_path: Path, text: str, message: str) -> None:
    for name in ("alice.pub",):
        (tmp_path / name).write_bytes((keys / name).read_bytes())
    path = tmp_path / "trusted.yaml"
    path.write_text(text)
    with pytest.raises(ApprovalError, match=message):
        load_trusted_keys(path)


def test_trusted_keys_refuses_a_private_key_without_echoing_it(keys: Path, tmp_path: Path) -> None:
    private = (keys / "alice.key").read_text()
    path = tmp_path / "trusted.yaml"
    path.write_text(
        "keys:\n  - person: A\n    roles: [x]\n    public_key: |\n"
        + "".join(f"      {line}\n" for line in private.splitlines())
    )
    with pytest.raises(ApprovalError, match="holds a PRIVATE key") as info:
        load_trusted_keys(path)
    assert private.splitlines()[1] not in str(info.value)
    # Inline PEM of a public key works.
    public = (keys / "alice.pub").read_text()
    path.write_text(
        "keys:\n  - person: A\n    roles: [x]\n    public_key: |\n"
        + "".join(f"      {line}\n" for line in public.splitlines())
    )
    assert len(load_trusted_keys(path)) == 1
    with pytest.raises(ApprovalError, match="does not exist"):
        load_trusted_keys(tmp_path / "missing.yaml")


def test_approve_into_a_folder_with_an_artifact(keys: Path, tmp_path: Path) -> None:
    artifact = tmp_path / "model.skops"
    artifact.write_bytes(b"the model")
    done = approve(
        model="credit-risk",
        version="3",
        role="model-owner",
        key=keys / "alice.key",
        artifact=artifact,
        folder=tmp_path / "approvals",
        approver="Alice Chen",
        comment="ok",
    )
    assert done.approval.artifact_sha256 == file_sha256(artifact)
    [(name, text)] = read_folder(tmp_path / "approvals")
    assert Path(done.location).name == name
    result = check_record(name, text, load_trusted_keys(keys / "trusted.yaml"))
    assert result.state == "valid" and result.approval == done.approval


def test_cli_approve_bad_inputs_one_line_each(
    keys: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    artifact = tmp_path / "model.skops"
    artifact.write_bytes(b"m")
    base = ["approve", "--model", "m", "--version", "1", "--role", "model-owner"]
    where = ["--artifact", str(artifact), "--folder", str(tmp_path / "a")]
    loose = tmp_path / "loose.key"
    loose.write_bytes((keys / "alice.key").read_bytes())
    os.chmod(loose, 0o644)
    pub_as_key = keys / "alice.pub"
    typo = tmp_path / "regsitry" / "mlflow.db"  # a typo: no registry is created there
    cases = [
        ([*base, "--key", str(keys / "alice.key")], "--registry: missing"),
        ([*base, "--key", str(loose), *where], "can be read by others (mode 0644)"),
        ([*base, "--key", str(pub_as_key), *where], "is not an unencrypted Ed25519 private key"),
        ([*base, "--key", str(tmp_path / "none.key"), *where], "does not exist"),
        (
            [*base[:4], "v1", *base[5:], "--key", "k", "--registry", f"sqlite:///{typo}"],
            "--version: 'v1' is not a version number (1, 2, ...) of the registry",
        ),
        (
            [*base[:4], "1.4 beta", *base[5:], "--key", "k", *where],
            "--version: '1.4 beta' is not a version name: expected a release name",
        ),
        (
            ["approve", "--model", "m", "--version", "1", "--role", "Risk", "--key", "k", *where],
            "--role: 'Risk' is not a role name",
        ),
        (
            [*base, "--key", str(keys / "alice.key"), "--comment", "x" * 1001, *where],
            "--comment: is 1001 characters long",
        ),
        (
            [*base, "--key", str(keys / "alice.key"), "--registry", f"sqlite:///{typo}"],
            f"--registry: {str(typo)!r} does not exist",
        ),
    ]
    secret = (keys / "alice.key").read_text().splitlines()[1]
    for argv, message in cases:
        assert main(argv) == 2, argv
        out, err = capsys.readouterr()
        assert message in err, (argv, err)
        assert len(err.strip().splitlines()) == 1, err
        assert secret not in out + err and "PRIVATE" not in out + err
    assert not typo.parent.exists()
    assert main([*base, "--key", str(keys / "alice.key"), "--approver", "Alice Chen", *where]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("approved: m version 1 (sha256 ") and not err
    assert secret not in out


def test_cli_approve_a_release_name_without_a_registry(
    keys: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A system without a registry names its releases its own way: 1.4.0 is accepted."""
    artifact = tmp_path / "model.skops"
    artifact.write_bytes(b"release 1.4.0")
    argv = ["approve", "--model", "credit-risk", "--version", "1.4.0", "--role", "model-risk"]
    where = ["--artifact", str(artifact), "--folder", str(tmp_path / "approvals")]
    assert main([*argv, "--key", str(keys / "bob.key"), "--approver", "Bob Diaz", *where]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("approved: credit-risk version 1.4.0 (sha256 ") and not err
    [(name, text)] = read_folder(tmp_path / "approvals")
    assert name.startswith("credit-risk.v1.4.0.")
    result = check_record(name, text, load_trusted_keys(keys / "trusted.yaml"))
    assert result.state == "valid", result.problem
    assert result.approval is not None and result.approval.version == "1.4.0"
    assert result.approval.artifact_sha256 == file_sha256(artifact)
    # A version name of more than 64 characters is no release name.
    too_long = ["approve", "--model", "m", "--version", "1" * 40 + "." + "2" * 30]
    assert main([*too_long, "--role", "model-risk", "--key", str(keys / "bob.key"), *where]) == 2
    assert "is not a version name" in capsys.readouterr().err


def test_private_key_bytes_are_nowhere_in_the_records(keys: Path, tmp_path: Path) -> None:
    approve(
        model="m",
        version="1",
        role="model-risk",
        key=keys / "bob.key",
        artifact=keys / "bob.pub",
        folder=tmp_path,
    )
    from cryptography.hazmat.primitives import serialization

    key = load_private_key(keys / "bob.key")
    assert isinstance(key, Ed25519PrivateKey)
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    needles = [base64.b64encode(raw).decode().rstrip("="), raw.hex(), "PRIVATE KEY"]
    for path in tmp_path.iterdir():
        text = path.read_text()
        assert not [n for n in needles if n in text], path
