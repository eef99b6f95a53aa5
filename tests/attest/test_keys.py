"""Ed25519 key pairs from ``prodready keygen``: private file 0600, never printed, never reused."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from prodready import UsageError
from prodready.attest import (
    fingerprint,
    generate_keypair,
    key_id,
    load_private_key,
    load_public_key,
)
from prodready.cli import main


def test_keygen_writes_a_private_key_only_its_owner_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keygen", "alice", "--out", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    private, public = tmp_path / "alice.key", tmp_path / "alice.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    key = load_private_key(private)
    assert key_id(load_public_key(public)) == key_id(key)
    assert f"fingerprint: {fingerprint(key)}" in out
    # The private key is in its file and nowhere else: not on the terminal.
    raw = key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    for secret in ("PRIVATE KEY", base64.b64encode(raw).decode(), raw.hex()):
        assert secret not in out + err


def test_keys_are_never_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    generate_keypair(tmp_path, "bob")
    before = (tmp_path / "bob.key").read_bytes()
    assert main(["keygen", "bob", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already exists" in err
    assert (tmp_path / "bob.key").read_bytes() == before


@pytest.mark.parametrize("name", ["", "../evil", "a/b", ".hidden", "x" * 65])
def test_bad_key_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(UsageError, match="is not a key name"):
        generate_keypair(tmp_path, name)
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_not_a_key_is_one_clear_line(tmp_path: Path) -> None:
    private, public = generate_keypair(tmp_path, "carol")
    with pytest.raises(UsageError, match="is not an Ed25519 public key"):
        load_public_key(private)
    with pytest.raises(UsageError, match="is not an unencrypted Ed25519 private key") as info:
        load_private_key(public)
    assert "PUBLIC KEY" not in str(info.value)  # names the file, never its content
    with pytest.raises(UsageError, match="does not exist"):
        load_public_key(tmp_path / "missing.pub")
