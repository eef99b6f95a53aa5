"""Signed run folders: a DSSE envelope around an in-toto Statement over the folder's files.

At the end of a run, in the parent process (never in the kernel that produced the files),
:func:`sign_run` hashes every file of the run folder and writes ``run.dsse.json`` beside them:
a DSSE envelope (Ed25519, payload type ``application/vnd.in-toto+json``) whose payload is an
in-toto Statement v1. Its subjects are the folder's files (relative POSIX paths, sha256 of
their bytes); its predicate (type :data:`PREDICATE_TYPE`) holds the run id, the system, the
verdict, the scores, the signer's key id and the signing time.

:func:`verify_run` checks a run folder against a public key: the envelope's signature, then
every subject's digest, and that the folder holds no file the statement does not name. The
same checks need no prodready: ``docs/signing.md`` does them with python3's standard library
(or jq), printf, ``openssl pkeyutl -verify -rawin`` and ``sha256sum -c``.

Private keys are only ever read from their file; nothing here prints, logs or writes them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import stat
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prodready._exceptions import ReportError, UsageError
from prodready._files import atomic_write, shown
from prodready.attest._dsse import (
    EnvelopeError,
    SignatureError,
    UnknownKeyError,
    sign_envelope,
    verify_envelope,
)
from prodready.attest._keys import fingerprint, key_id, load_private_key, load_public_key

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

    from prodready.results import Assessment

__all__ = [
    "ENVELOPE",
    "PAYLOAD_TYPE",
    "PREDICATE_TYPE",
    "STATEMENT_TYPE",
    "Signer",
    "VerifyResult",
    "load_signer",
    "report_signing",
    "sign_run",
    "verify_run",
]

#: The envelope's file name in the run folder (not itself a subject).
ENVELOPE = "run.dsse.json"
#: DSSE payload type of an in-toto Statement.
PAYLOAD_TYPE = "application/vnd.in-toto+json"
#: The Statement's ``_type``.
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
#: The predicate type of a prodready assessment (fields: see :func:`sign_run`).
PREDICATE_TYPE = "https://prodready.dev/assessment/v1"
#: The environment variable naming the signing key when ``--sign-key`` is not given.
SIGN_KEY_ENV = "PRODREADY_SIGN_KEY"
# An envelope is a few KiB (one subject line per file); refuse to parse anything absurd.
_MAX_ENVELOPE_BYTES = 16 * 1024 * 1024
_BLOCK = 1024 * 1024


@dataclass(frozen=True)
class Signer:
    """A loaded signing key and how reports name it. ``repr`` never shows the key."""

    key: Ed25519PrivateKey = field(repr=False)
    key_id: str
    fingerprint: str
    source: str = ""

    def __repr__(self) -> str:
        """The key's fingerprint, never its material."""
        return f"<Signer {self.fingerprint}>"


def load_signer(path: str | os.PathLike[str]) -> Signer:
    """The Ed25519 private key in ``path`` as a :class:`Signer`; one-line UsageError if not.

    Call it before a run starts, so that a bad key costs no kernel start.
    """
    key = load_private_key(os.fspath(path))
    return Signer(key, key_id(key), fingerprint(key), os.fspath(path))


def report_signing(signer: Signer | None) -> dict[str, Any]:
    """What the report's title block says about the signature (the key is known beforehand).

    ``{"signed": True, "fingerprint", "key_id", "envelope"}`` or ``{"signed": False}``.
    """
    if signer is None:
        return {"signed": False}
    return {
        "signed": True,
        "fingerprint": signer.fingerprint,
        "key_id": signer.key_id,
        "envelope": ENVELOPE,
    }


# --- signing ---------------------------------------------------------------------------------


def sign_run(
    run_dir: str | os.PathLike[str],
    signer: Signer,
    assessment: Assessment,
    *,
    exclude: Collection[str] = (),
    signed_at: datetime | None = None,
) -> Path:
    """Sign every file of ``run_dir`` (but the top-level names in ``exclude``); return the
    envelope's path (``run_dir/run.dsse.json``).

    The predicate holds ``runId``, ``system`` (its name), ``verdict``, ``overall``,
    ``scores``, ``scope``, ``signer`` (``keyId``, ``fingerprint``) and ``signedAt`` (UTC,
    ISO 8601). A symbolic link or anything but a regular file in the folder is refused
    (:class:`ReportError`): what a link points to can change after signing.
    """
    folder = Path(run_dir)
    skip = {ENVELOPE, *exclude}
    subjects = [
        {"name": name, "digest": {"sha256": digest}}
        for name, digest in sorted(_digests(folder, skip, strict=True).items())
    ]
    when = (signed_at or datetime.now(UTC)).astimezone(UTC)
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "runId": assessment.run_id,
            "system": str(assessment.system.get("name") or ""),
            "verdict": assessment.verdict,
            "overall": assessment.overall,
            "scores": dict(assessment.scores),
            "scope": assessment.scope,
            "signer": {"keyId": signer.key_id, "fingerprint": signer.fingerprint},
            "signedAt": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    }
    payload = json.dumps(statement, indent=1, sort_keys=True, allow_nan=False).encode()
    envelope = sign_envelope(payload, PAYLOAD_TYPE, signer.key)
    return atomic_write(folder / ENVELOPE, _envelope_text(envelope))


def _envelope_text(envelope: Mapping[str, Any]) -> str:
    """The envelope file's exact text: :func:`verify_run` demands these bytes, so that no
    byte of the file can change unseen (not even whitespace the signature does not cover)."""
    return json.dumps(envelope, indent=1, sort_keys=True) + "\n"


def _digests(folder: Path, skip: Collection[str], *, strict: bool) -> dict[str, str]:
    """sha256 of every file under ``folder`` by relative POSIX path (top-level ``skip`` left out).

    ``strict`` (signing) refuses links and special files; otherwise (verifying) they are
    listed with the digest ``""``, which never matches a subject.
    """
    found: dict[str, str] = {}
    for root, dirs, files in os.walk(folder):
        base = Path(root)
        for name in [*files, *[d for d in dirs if (base / d).is_symlink()]]:
            path = base / name
            rel = path.relative_to(folder).as_posix()
            if base == folder and name in skip:
                continue
            info = os.lstat(path)
            if not stat.S_ISREG(info.st_mode):
                if strict:
                    raise ReportError(
                        f"{shown(path)}: is not a regular file (a link or a special file): "
                        "a run folder holds plain files only"
                    )
                found[rel] = ""
                continue
            found[rel] = _sha256(path)
        dirs[:] = sorted(d for d in dirs if not (base / d).is_symlink())
    return found


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


# --- verifying -------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyResult:
    """What :func:`verify_run` found.

    ``ok`` when the signature is the key's and every file is as signed. ``wrong_key``: the
    envelope is not signed by the key given (the CLI's exit 2). ``changed``, ``added`` and
    ``missing`` name files (relative paths); ``problems`` are every failure as one line each
    (a broken envelope or signature included). ``signer`` is the key's fingerprint,
    ``signed_at``, ``run_id`` and ``verdict`` come from the signed statement (empty when it
    could not be trusted).
    """

    run_dir: Path
    key_id: str
    signer: str
    signed_at: str = ""
    run_id: str = ""
    verdict: str = ""
    files: int = 0
    wrong_key: bool = False
    changed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the run folder is exactly as the key's owner signed it."""
        return not self.problems and not self.wrong_key


def verify_run(
    run_dir: str | os.PathLike[str], public_key_path: str | os.PathLike[str]
) -> VerifyResult:
    """Check the run folder ``run_dir`` against the Ed25519 public key in ``public_key_path``.

    Raises :class:`UsageError` for a key file that is not an Ed25519 public key, or a
    ``run_dir`` that is not a folder. Everything else is in the result: a missing or broken
    envelope, a signature that does not verify, a key that did not sign it (``wrong_key``),
    and each file changed, added or missing.
    """
    public = load_public_key(os.fspath(public_key_path))
    folder = Path(run_dir)
    if not folder.is_dir():
        raise UsageError(f"{shown(folder)}: is not a folder: expected a run folder")
    kid = key_id(public)
    envelope, problem = _read_envelope(folder / ENVELOPE)
    if envelope is None:
        return VerifyResult(folder, kid, kid[:16], problems=[problem])
    payload, sig_keyids, problem = _check_signature(envelope, public, kid)
    if payload is None:
        if problem:
            return VerifyResult(folder, kid, kid[:16], problems=[problem])
        others = ", ".join(k[:16] for k in sig_keyids) or "no key id"
        return VerifyResult(
            folder,
            kid,
            kid[:16],
            wrong_key=True,
            problems=[
                f"{ENVELOPE}: not signed by key {kid[:16]} (signed by {others}): "
                "wrong key, or the signature was replaced"
            ],
        )
    statement, problem = _read_statement(payload)
    if statement is None:
        return VerifyResult(folder, kid, kid[:16], problems=[problem])
    expected = {s["name"]: s["digest"]["sha256"] for s in statement["subject"]}
    present = _digests(folder, {ENVELOPE}, strict=False)
    changed = sorted(n for n in expected if n in present and present[n] != expected[n])
    missing = sorted(n for n in expected if n not in present)
    added = sorted(n for n in present if n not in expected)
    problems = [f"changed: {n}" for n in changed]
    problems += [f"added: {n} (not in the signed statement)" for n in added]
    problems += [f"missing: {n}" for n in missing]
    predicate = statement["predicate"]
    return VerifyResult(
        folder,
        kid,
        kid[:16],
        signed_at=str(predicate.get("signedAt", "")),
        run_id=str(predicate.get("runId", "")),
        verdict=str(predicate.get("verdict", "")),
        files=len(expected),
        changed=changed,
        added=added,
        missing=missing,
        problems=problems,
    )


def _read_envelope(path: Path) -> tuple[dict[str, Any] | None, str]:
    """The envelope as a dict, or None and why not."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None, f"missing: {ENVELOPE} (the run is not signed)"
    if not stat.S_ISREG(info.st_mode) or info.st_size > _MAX_ENVELOPE_BYTES:
        return None, f"{ENVELOPE}: is not a regular file of a DSSE envelope's size"
    try:
        data = path.read_bytes()
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None, f"{ENVELOPE}: is not JSON: the envelope was altered"
    if not (
        isinstance(value, dict)
        and isinstance(value.get("payload"), str)
        and isinstance(value.get("payloadType"), str)
        and isinstance(value.get("signatures"), list)
        and value["signatures"]
        and all(isinstance(s, dict) and isinstance(s.get("sig"), str) for s in value["signatures"])
    ):
        return None, (
            f"{ENVELOPE}: is not a DSSE envelope (payload, payloadType and signatures "
            "expected): the envelope was altered"
        )
    if value["payloadType"] != PAYLOAD_TYPE:
        return None, f"{ENVELOPE}: its payloadType is not {PAYLOAD_TYPE}: altered"
    if data != _envelope_text(value).encode():
        return None, (
            f"{ENVELOPE}: is not byte for byte as prodready wrote it (its JSON was edited or "
            "reformatted): the envelope was altered"
        )
    return value, ""


def _b64(text: str) -> bytes | None:
    """Strict, canonical base64: a text with another encoding of the same bytes is refused.

    Without the canonical check, flipping the unused low bits of the last character would
    give the same bytes: an altered envelope that still verifies.
    """
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return data if base64.b64encode(data).decode("ascii") == text else None


def _check_signature(
    envelope: Mapping[str, Any], public: Ed25519PublicKey, kid: str
) -> tuple[bytes | None, list[str], str]:
    """``(payload, keyids, problem)``: the payload if ``public`` signed it.

    ``(None, keyids, "")`` means no signature is by this key (wrong key); ``(None, _, why)``
    a broken envelope or signature. prodready writes canonical, padded standard base64 and
    this check demands it (DSSE verifiers in general accept variants): another encoding of
    the same bytes means someone edited the envelope.
    """
    signatures = envelope["signatures"]
    keyids = [str(s.get("keyid", "")) for s in signatures]
    if _b64(envelope["payload"]) is None or any(_b64(s["sig"]) is None for s in signatures):
        return None, keyids, f"{ENVELOPE}: not prodready's canonical base64: altered"
    try:
        payload, _kid = verify_envelope(envelope, {kid: public}, payload_type=PAYLOAD_TYPE)
    except UnknownKeyError as exc:
        return None, list(exc.key_ids), ""
    except SignatureError:
        return (
            None,
            keyids,
            (
                f"{ENVELOPE}: the signature does not verify with key {kid[:16]}: the envelope or "
                "its payload was altered"
            ),
        )
    except EnvelopeError as exc:
        return None, keyids, f"{ENVELOPE}: {exc}"
    if keyids != [kid]:  # the key signed, but the recorded key id was edited (or added to)
        return None, keyids, f"{ENVELOPE}: the signature's keyid was altered"
    return payload, keyids, ""


def _read_statement(payload: bytes) -> tuple[dict[str, Any] | None, str]:
    """The signed in-toto Statement, checked for shape, or None and why not."""
    try:
        value = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None, f"{ENVELOPE}: the signed payload is not JSON"
    subjects = value.get("subject") if isinstance(value, dict) else None
    if not (
        isinstance(value, dict)
        and value.get("_type") == STATEMENT_TYPE
        and value.get("predicateType") == PREDICATE_TYPE
        and isinstance(value.get("predicate"), dict)
        and isinstance(subjects, list)
        and all(
            isinstance(s, dict)
            and isinstance(s.get("name"), str)
            and isinstance(s.get("digest"), dict)
            and isinstance(s["digest"].get("sha256"), str)
            for s in subjects
        )
    ):
        return None, (
            f"{ENVELOPE}: the signed payload is not a prodready in-toto Statement "
            f"({STATEMENT_TYPE}, {PREDICATE_TYPE})"
        )
    return value, ""
