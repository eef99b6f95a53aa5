"""Ed25519 keys: made by ``prodready keygen``, used to sign run folders and approvals.

A key pair is two PEM files: ``NAME.key`` (the private key, PKCS#8, unencrypted, created with
mode 0600 so that only its owner can read it) and ``NAME.pub`` (the public key,
SubjectPublicKeyInfo: what ``openssl pkeyutl -verify -pubin -inkey NAME.pub`` reads). A key is
named by its *key id*: the sha256 of the raw 32-byte public key, in hex; the first 16 hex
digits are its *fingerprint* as shown in reports. Private key material is never printed,
logged or written anywhere but the private key file.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from prodready._exceptions import UsageError
from prodready._files import shown

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

__all__ = [
    "fingerprint",
    "generate_keypair",
    "key_id",
    "load_private_key",
    "load_public_key",
    "public_pem",
]

#: A key pair's name: a file name without a folder.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: Largest key file read: a PEM key is a few hundred bytes.
_MAX_KEY_BYTES = 64 * 1024


def generate_keypair(directory: str | Path, name: str) -> tuple[Path, Path]:
    """Create ``directory/NAME.key`` (mode 0600) and ``directory/NAME.pub``; return both paths.

    Refuses (:class:`UsageError`) to overwrite either file: a lost private key cannot be
    recovered, and approvals or signatures made with it would no longer verify.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise UsageError(
            f"name: {name!r} is not a key name: expected letters, digits, '.', '_' or '-' "
            "(at most 64, no folder)"
        )
    folder = Path(directory)
    if not folder.is_dir():
        raise UsageError(
            f"out: {shown(folder)} is not a folder: expected an existing folder for the keys"
        )
    private_path, public_path = folder / f"{name}.key", folder / f"{name}.pub"
    for path in (private_path, public_path):
        if os.path.lexists(path):
            raise UsageError(
                f"{shown(path)} already exists: expected a new key name (keys are never "
                "overwritten)"
            )
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # O_EXCL with mode 0600: the file is never readable by others, not even for an instant.
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, private_pem)
    finally:
        os.close(fd)
    try:
        fd = os.open(public_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, public_pem(key.public_key()))
        finally:
            os.close(fd)
    except BaseException:
        private_path.unlink()
        raise
    return private_path, public_path


def _read_key_file(path: str | Path, what: str) -> bytes:
    p = Path(path)
    try:
        if p.stat().st_size > _MAX_KEY_BYTES:
            raise UsageError(f"{shown(p)}: is too large for a key: expected {what} (PEM)")
        return p.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{shown(p)}: does not exist: expected {what} (PEM)") from None
    except IsADirectoryError:
        raise UsageError(f"{shown(p)}: is a folder: expected {what} (PEM)") from None
    except OSError as exc:
        raise UsageError(
            f"{shown(p)}: cannot be read ({exc.strerror or exc}): expected {what} (PEM)"
        ) from None


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in the PEM file ``path``; :class:`UsageError` if it is not one.

    The error names the file, never its content.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    data = _read_key_file(path, "an Ed25519 private key from prodready keygen")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(
            f"{shown(Path(path))}: is not an unencrypted Ed25519 private key: expected a "
            "private key file from prodready keygen"
        )
    return key


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    """The Ed25519 public key in the PEM file ``path``; :class:`UsageError` if it is not one."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    data = _read_key_file(path, "an Ed25519 public key from prodready keygen")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, Ed25519PublicKey):
        raise UsageError(
            f"{shown(Path(path))}: is not an Ed25519 public key: expected a public key "
            "file (.pub) from prodready keygen"
        )
    return key


def public_pem(key: Ed25519PublicKey) -> bytes:
    """``key`` as PEM SubjectPublicKeyInfo, the form openssl and the trusted-keys file use."""
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_id(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """The key's id: sha256 of its raw 32-byte public key, 64 hex digits."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def fingerprint(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """The first 16 hex digits of :func:`key_id`, as reports show a key."""
    return key_id(key)[:16]
