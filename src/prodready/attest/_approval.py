"""Signed approvals of model versions (question 8), and the trusted-keys file that judges them.

An *approval record* says: person P, in role R, approves (or rejects) version V of model M,
whose artifact has the sha256 digest D, at time T, with a comment. P signs it with their
Ed25519 key (``prodready keygen``) inside a DSSE envelope (:mod:`prodready.attest._dsse`) of
type :data:`PAYLOAD_TYPE`. The record is bound to the artifact's digest, not only to a version
number: approving version 1 approves those bytes, and a version 2 (or a version 1 whose
artifact was replaced) is not approved. The format is documented for auditors in
``docs/approvals.md``.

Records are stored with the model version as registry tags (:func:`tag_key`) or as files in a
folder (:func:`approval_filename`); :func:`check_record` verifies one against a
:class:`TrustedKeys` file, which maps public keys to people and the roles they may approve in.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from prodready._chain import canonical_json
from prodready._exceptions import UsageError
from prodready._files import shown
from prodready._settings import quote
from prodready.attest._dsse import EnvelopeError, SignatureError, UnknownKeyError
from prodready.attest._dsse import sign_envelope as _sign_envelope
from prodready.attest._dsse import verify_envelope as _verify_envelope
from prodready.attest._keys import key_id as _key_id

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

__all__ = [
    "PAYLOAD_TYPE",
    "SCHEMA",
    "TAG_PREFIX",
    "Approval",
    "ApprovalError",
    "Approved",
    "RecordCheck",
    "TrustedKey",
    "TrustedKeys",
    "approval_filename",
    "approve",
    "check_record",
    "file_sha256",
    "load_trusted_keys",
    "parse_time",
    "read_folder",
    "sign_approval",
    "tag_key",
    "utc_now",
    "write_to_folder",
]

#: The DSSE payloadType of an approval record.
PAYLOAD_TYPE = "application/vnd.prodready.approval+json"
#: The record's ``schema`` field: bumped if the record's meaning ever changes.
SCHEMA = "prodready.approval/v1"
#: Registry tags holding approvals start with this: ``prodready.approval.<key16>.<role>``.
TAG_PREFIX = "prodready.approval."
#: Largest envelope (JSON characters) written: MLflow 2.x stores a model-version tag's value
#: in a VARCHAR(5000) (3.x: TEXT, up to 100,000 characters); staying under 5000 keeps the
#: record storable in every MLflow version and in any tag store of that size.
MAX_ENVELOPE_CHARS = 5000
#: Longest comment accepted (characters); the envelope limit above bounds it too.
MAX_COMMENT_CHARS = 1000
#: A suffix of the approval files in a folder.
FILE_SUFFIX = ".approval.json"

_ROLE = re.compile(r"[a-z][a-z0-9_-]{0,39}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z")
_MODEL = re.compile(r"[^\x00-\x1f\x7f/\\]{1,256}")
_VERSION = re.compile(r"[0-9]{1,12}")
#: A release name of a system without a registry (``1.4.0``, ``2026-11-27_rc1``): letters,
#: digits, ".", "-", "_" or "+", at most 64, starting with a letter or digit. A registry
#: version number is one too, so a record may carry either.
_RELEASE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
_FIELDS = (
    "schema",
    "model",
    "version",
    "artifact_sha256",
    "role",
    "approver",
    "time",
    "decision",
    "comment",
    "key_id",
)
#: Largest trusted-keys file read.
_MAX_TRUSTED_BYTES = 1024 * 1024


class ApprovalError(UsageError):
    """An approval cannot be made or the trusted-keys file is wrong (one line, what and where)."""


def utc_now() -> str:
    """The current time as the records write it: UTC ISO 8601 with microseconds and ``Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """A record's (or a deployment tag's) UTC time; ``ValueError`` if it is not one.

    Accepts the records' form (``2026-11-27T04:40:00.123456Z``) and any ISO 8601 time with an
    offset (``+00:00``); a time without a zone is refused: it would be ambiguous.
    """
    value = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return value.astimezone(UTC)


def _real(text: str) -> bool:
    """True when ``text`` (already of the records' form) is a time that exists (no month 13)."""
    try:
        parse_time(text)
    except ValueError:
        return False
    return True


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The hex sha256 of the file at ``path``, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Approval:
    """One approval record: who decided what about which artifact, when, in which role.

    - ``model``, ``version``: the registered model's name and version (a decimal string);
    - ``artifact_sha256``: hex sha256 of the version's model artifact (what is served);
    - ``role``: the role the approver acts in (``model-risk``, ``model-owner``...);
    - ``approver``: the approver's name as they gave it (the trusted-keys file says whose key
      it is: that is authoritative);
    - ``time``: when, UTC ISO 8601 (``2026-11-27T04:40:00.123456Z``);
    - ``decision``: ``approve`` or ``reject``; ``comment``: free text;
    - ``key_id``: the id of the key that signs it (sha256 of the raw public key, hex).
    """

    model: str
    version: str
    artifact_sha256: str
    role: str
    approver: str
    time: str
    decision: Literal["approve", "reject"] = "approve"
    comment: str = ""
    key_id: str = ""

    def problems(self) -> list[str]:
        """What is wrong with the record's fields, in words (empty when it is well-formed)."""
        out: list[str] = []
        if not isinstance(self.model, str) or not _MODEL.fullmatch(self.model):
            out.append(f"model is {quote(self.model)}: expected a registered model's name")
        if not isinstance(self.version, str) or not _RELEASE.fullmatch(self.version):
            out.append(
                f"version is {quote(self.version)}: expected a version number or a release "
                "name (letters, digits, '.', '-', '_' or '+', at most 64)"
            )
        if not isinstance(self.artifact_sha256, str) or not _HEX64.fullmatch(self.artifact_sha256):
            out.append("artifact_sha256 is not 64 lowercase hex digits")
        if not isinstance(self.role, str) or not _ROLE.fullmatch(self.role):
            out.append(
                f"role is {quote(self.role)}: expected lowercase letters, digits, '-' or '_' "
                "(at most 40, starting with a letter)"
            )
        if (
            not isinstance(self.approver, str)
            or not self.approver.strip()
            or len(self.approver) > 200
        ):
            out.append("approver is empty or longer than 200 characters")
        if not isinstance(self.time, str) or not _TIME.fullmatch(self.time) or not _real(self.time):
            out.append(
                f"time is {quote(self.time)}: expected UTC ISO 8601 like 2026-11-27T04:40:00Z"
            )
        if self.decision not in ("approve", "reject"):
            out.append(f"decision is {quote(self.decision)}: expected approve or reject")
        if not isinstance(self.comment, str) or len(self.comment) > MAX_COMMENT_CHARS:
            out.append(f"comment is not text of at most {MAX_COMMENT_CHARS} characters")
        if not isinstance(self.key_id, str) or not _HEX64.fullmatch(self.key_id):
            out.append("key_id is not 64 lowercase hex digits")
        return out

    @property
    def when(self) -> datetime:
        """:attr:`time` as an aware UTC datetime."""
        return parse_time(self.time)

    def to_json(self) -> dict[str, Any]:
        """The record as the signed payload holds it (with its ``schema``)."""
        return {
            "schema": SCHEMA,
            "model": self.model,
            "version": self.version,
            "artifact_sha256": self.artifact_sha256,
            "role": self.role,
            "approver": self.approver,
            "time": self.time,
            "decision": self.decision,
            "comment": self.comment,
            "key_id": self.key_id,
        }

    def payload(self) -> bytes:
        """The signed bytes: the canonical JSON of :meth:`to_json` (sorted keys, ASCII)."""
        return canonical_json(self.to_json()).encode("ascii")

    @classmethod
    def from_payload(cls, payload: bytes) -> Approval:
        """The record in a verified payload; ``ValueError`` saying what is wrong with it."""
        try:
            value = json.loads(payload)
        except (ValueError, UnicodeDecodeError, RecursionError):
            # RecursionError: JSON nested thousands deep, which no record is.
            raise ValueError("its payload is not JSON") from None
        if not isinstance(value, dict):
            raise ValueError("its payload is not a JSON object")
        if value.get("schema") != SCHEMA:
            raise ValueError(f"its schema is {quote(value.get('schema'))}, expected {SCHEMA!r}")
        missing = [name for name in _FIELDS if name not in value]
        if missing:
            raise ValueError(f"its payload lacks {', '.join(missing)}")
        extra = sorted(set(value) - set(_FIELDS))
        if extra:
            raise ValueError(f"its payload has unknown fields {', '.join(extra[:5])}")
        record = cls(**{name: value[name] for name in _FIELDS if name != "schema"})
        problems = record.problems()
        if problems:
            raise ValueError("; ".join(problems))
        return record


def sign_approval(approval: Approval, key: Ed25519PrivateKey) -> dict[str, Any]:
    """The DSSE envelope of ``approval`` signed with ``key`` (whose id the record gets).

    Raises :class:`ApprovalError` for an ill-formed record, or one whose envelope would be
    larger than :data:`MAX_ENVELOPE_CHARS` (a shorter comment fixes that).
    """
    from dataclasses import replace

    signed = replace(approval, key_id=_key_id(key))
    problems = signed.problems()
    if problems:
        raise ApprovalError(f"the approval cannot be made: {problems[0]}")
    envelope = _sign_envelope(signed.payload(), PAYLOAD_TYPE, key)
    if len(json.dumps(envelope)) > MAX_ENVELOPE_CHARS:
        raise ApprovalError(
            f"the approval record is larger than {MAX_ENVELOPE_CHARS} characters once signed: "
            "expected a shorter comment"
        )
    return envelope


# -- trusted keys ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TrustedKey:
    """One entry of the trusted-keys file: whose key it is and the roles they approve in."""

    key_id: str
    person: str
    roles: tuple[str, ...]
    public_key: Ed25519PublicKey = field(repr=False, compare=False)

    @property
    def fingerprint(self) -> str:
        """The first 16 hex digits of the key id, as reports show a key."""
        return self.key_id[:16]


@dataclass(frozen=True)
class TrustedKeys:
    """The trusted-keys file: key id -> :class:`TrustedKey`, and where it was read from."""

    keys: Mapping[str, TrustedKey]
    source: str = "<python>"

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        """Key id -> public key, what :func:`~prodready.attest.verify_envelope` takes."""
        return {kid: entry.public_key for kid, entry in self.keys.items()}

    def __len__(self) -> int:
        return len(self.keys)

    def __iter__(self) -> Iterator[TrustedKey]:
        return iter(self.keys.values())


def load_trusted_keys(path: str | os.PathLike[str]) -> TrustedKeys:
    """Read a trusted-keys file (YAML); :class:`ApprovalError` naming file, entry and field.

    The file::

        keys:
          - person: Alice Chen            # who holds the key
            roles: [model-risk]           # the roles they may approve in
            public_key: keys/alice.pub    # a .pub file (relative to this file) or the PEM text

    A key may appear once; a person may have several keys (key rotation) and still counts as
    one approver.
    """
    import yaml

    from prodready.attest._keys import load_public_key

    file = Path(path)
    where = shown(file)
    try:
        if file.stat().st_size > _MAX_TRUSTED_BYTES:
            raise ApprovalError(f"{where}: is larger than 1 MiB: expected a trusted-keys file")
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ApprovalError(f"{where}: does not exist: expected a trusted-keys file") from None
    except IsADirectoryError:
        raise ApprovalError(f"{where}: is a folder: expected a trusted-keys file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ApprovalError(f"{where}: cannot be read ({exc}): expected UTF-8 YAML") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise ApprovalError(f"{where}: is not valid YAML{at}") from None
    except RecursionError:  # nested thousands deep: no trusted-keys file is
        raise ApprovalError(
            f"{where}: is nested too deeply: expected a trusted-keys file"
        ) from None
    entries = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ApprovalError(
            f"{where}: keys: is missing or empty: expected a list of entries with person, "
            "roles and public_key"
        )
    keys: dict[str, TrustedKey] = {}
    for number, entry in enumerate(entries, start=1):
        at = f"{where}: keys[{number}]"
        if not isinstance(entry, dict):
            raise ApprovalError(f"{at}: is not a mapping: expected person, roles, public_key")
        unknown = sorted(str(k) for k in set(entry) - {"person", "roles", "public_key"})
        if unknown:
            raise ApprovalError(
                f"{at}: unknown field {quote(unknown[0])}: expected person, roles, public_key"
            )
        person = entry.get("person")
        if not isinstance(person, str) or not person.strip() or len(person) > 200:
            raise ApprovalError(f"{at}.person: is missing: expected the key holder's name")
        roles = entry.get("roles")
        if isinstance(roles, str):
            roles = [roles]
        if (
            not isinstance(roles, list)
            or not roles
            or not all(isinstance(r, str) and _ROLE.fullmatch(r) for r in roles)
        ):
            raise ApprovalError(
                f"{at}.roles: is {quote(roles)}: expected a list of role names (lowercase "
                "letters, digits, '-' or '_')"
            )
        public = entry.get("public_key")
        if not isinstance(public, str) or not public.strip():
            raise ApprovalError(
                f"{at}.public_key: is missing: expected a .pub file path or the PEM text"
            )
        if "-----BEGIN" in public:
            key = _public_from_pem(public.encode("utf-8"), f"{at}.public_key")
        else:
            key_path = Path(public)
            if not key_path.is_absolute():
                key_path = file.parent / key_path
            try:
                key = load_public_key(key_path)
            except UsageError as exc:
                raise ApprovalError(f"{at}.public_key: {exc}") from None
        kid = _key_id(key)
        if kid in keys:
            raise ApprovalError(
                f"{at}.public_key: the key {kid[:16]} is listed twice: expected each key once "
                "(one person per key)"
            )
        keys[kid] = TrustedKey(kid, person.strip(), tuple(dict.fromkeys(roles)), key)
    return TrustedKeys(keys, where)


def _public_from_pem(data: bytes, where: str) -> Ed25519PublicKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if b"PRIVATE KEY" in data:
        # Never echo it: a private key pasted here is a leak to report, not to print.
        raise ApprovalError(
            f"{where}: holds a PRIVATE key: expected the public key (.pub); remove the private "
            "key from this file"
        )
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, Ed25519PublicKey):
        raise ApprovalError(f"{where}: is not an Ed25519 public key in PEM")
    return key


# -- checking one record ---------------------------------------------------------------------

#: What :func:`check_record` found: the record verifies (``valid``), or why not.
RecordState = Literal["valid", "malformed", "forged", "unknown key", "unauthorised role"]


@dataclass(frozen=True)
class RecordCheck:
    """One stored record, verified: ``state`` and, unless valid, ``problem`` in words.

    ``where`` names the record (a registry tag, a file). ``approval`` is the record when its
    signature verified (even if its role is not one the key may approve in), ``signer`` the
    trusted key that signed it.
    """

    where: str
    state: RecordState
    problem: str = ""
    approval: Approval | None = None
    signer: TrustedKey | None = None


def check_record(where: str, text: str | Mapping[str, Any], trusted: TrustedKeys) -> RecordCheck:
    """Verify one stored record (envelope JSON text, or the parsed envelope).

    Checks, in order: a DSSE envelope of :data:`PAYLOAD_TYPE`; signed by a key of ``trusted``
    (``unknown key``); the signature verifies (``forged``: the record was changed after it
    was signed, or signed by another key than the one it names); the payload is a well-formed
    record whose ``key_id`` is the signing key (``malformed``, ``forged``); the role is one
    the trusted-keys file gives the key (``unauthorised role``).
    """
    if isinstance(text, str):
        try:
            envelope: Any = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: nested thousands deep
            return RecordCheck(where, "malformed", "it is not JSON (not a signed envelope)")
    else:
        envelope = text
    try:
        payload, kid = _verify_envelope(envelope, trusted.public_keys(), payload_type=PAYLOAD_TYPE)
    except UnknownKeyError as exc:
        named = ", ".join(k[:16] if k else "no key id" for k in exc.key_ids)
        return RecordCheck(
            where,
            "unknown key",
            f"signed by key {named}, which is not in the trusted-keys file {trusted.source}",
        )
    except SignatureError:
        return RecordCheck(
            where,
            "forged",
            "its signature does not verify: the record was changed after it was signed, or "
            "signed by another key than the trusted one it names",
        )
    except EnvelopeError as exc:
        return RecordCheck(where, "malformed", f"not a signed approval: {exc}")
    signer = trusted.keys[kid]
    try:
        approval = Approval.from_payload(payload)
    except ValueError as exc:
        return RecordCheck(where, "malformed", f"signed by {signer.person}, but {exc}")
    if approval.key_id != kid:
        return RecordCheck(
            where,
            "forged",
            f"it names key {approval.key_id[:16]} but was signed by {kid[:16]} ({signer.person})",
            approval,
            signer,
        )
    if approval.role not in signer.roles:
        return RecordCheck(
            where,
            "unauthorised role",
            f"{signer.person} signed as {approval.role}, a role the trusted-keys file does "
            f"not give them (their roles: {', '.join(signer.roles)})",
            approval,
            signer,
        )
    return RecordCheck(where, "valid", "", approval, signer)


# -- storage -----------------------------------------------------------------------------------


def tag_key(key_id: str, role: str) -> str:
    """The registry tag that holds a key's approval in a role: ``prodready.approval.<16>.<role>``.

    One tag per key and role: a later decision by the same key in the same role replaces the
    earlier one (approving, then rejecting, leaves the rejection).
    """
    return f"{TAG_PREFIX}{key_id[:16]}.{role}"


def approval_filename(approval: Approval) -> str:
    """The file name of a record in an approvals folder (one per model, version, key, role)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", approval.model)[:100]
    return f"{safe}.v{approval.version}.{approval.key_id[:16]}.{approval.role}{FILE_SUFFIX}"


def write_to_folder(folder: str | os.PathLike[str], envelope: Mapping[str, Any]) -> Path:
    """Write ``envelope`` into ``folder`` (created if missing) under :func:`approval_filename`.

    The file is replaced atomically; returns its path.
    """
    from prodready._files import atomic_write

    payload = json.loads(_b64(envelope["payload"]))
    approval = Approval(**{k: payload[k] for k in _FIELDS if k != "schema"})
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    path = target / approval_filename(approval)
    atomic_write(path, (json.dumps(envelope, indent=2) + "\n").encode("utf-8"))
    return path


def read_folder(folder: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """The records in an approvals folder: ``(file name, text)`` of every ``*.approval.json``.

    Files larger than 64 KiB are returned as an empty text (they cannot be records).
    """
    out: list[tuple[str, str]] = []
    base = Path(folder)
    for path in sorted(base.glob(f"*{FILE_SUFFIX}")):
        try:
            if path.stat().st_size > 64 * 1024:
                out.append((path.name, ""))
                continue
            out.append((path.name, path.read_text(encoding="utf-8", errors="replace")))
        except OSError:
            out.append((path.name, ""))
    return out


def _b64(text: str) -> bytes:
    from prodready.attest._dsse import b64decode

    return b64decode(text)


# -- making one (prodready approve) -------------------------------------------------------------


@dataclass(frozen=True)
class Approved:
    """What :func:`approve` did: the record signed and where it was stored."""

    approval: Approval
    location: str


def approve(
    *,
    model: str,
    version: str,
    role: str,
    key: str | os.PathLike[str],
    registry: str | None = None,
    folder: str | os.PathLike[str] | None = None,
    artifact: str | os.PathLike[str] | None = None,
    decision: str = "approve",
    comment: str = "",
    approver: str | None = None,
    time: str | None = None,
) -> Approved:
    """Sign an approval of ``model`` version ``version`` and store it (``prodready approve``).

    The artifact's digest is computed, never given: from the registry version's artifact
    bytes (``registry``, an MLflow tracking URI), or from the file or MLflow model folder
    ``artifact`` (a system without a registry). The record is stored as the version's
    registry tag :func:`tag_key`, or in ``folder`` when given. ``approver`` defaults to the
    key file's name (``alice`` for ``alice.key``). Every bad input is an
    :class:`ApprovalError` (or another :class:`UsageError`) in one line; the private key is
    never printed.
    """
    from prodready.attest._keys import load_private_key

    version = str(version)
    if not isinstance(model, str) or not _MODEL.fullmatch(model):
        raise ApprovalError(f"--model: {quote(model)} is not a registered model's name")
    if registry is not None and not _VERSION.fullmatch(version):
        raise ApprovalError(
            f"--version: {quote(version)} is not a version number (1, 2, ...) of the registry"
        )
    if registry is None and not _RELEASE.fullmatch(version):
        # Without a registry the version is the system's own release name (1.4.0, ...).
        raise ApprovalError(
            f"--version: {quote(version)} is not a version name: expected a release name of "
            "letters, digits, '.', '-', '_' or '+' (at most 64, starting with a letter or "
            "digit), e.g. 1.4.0"
        )
    if not _ROLE.fullmatch(role):
        raise ApprovalError(
            f"--role: {quote(role)} is not a role name: expected lowercase letters, digits, "
            "'-' or '_' (at most 40, starting with a letter), e.g. model-risk"
        )
    if decision not in ("approve", "reject"):
        raise ApprovalError(f"--decision: {quote(decision)}: expected approve or reject")
    if len(comment) > MAX_COMMENT_CHARS:
        raise ApprovalError(
            f"--comment: is {len(comment)} characters long: expected at most {MAX_COMMENT_CHARS}"
        )
    if registry is None and artifact is None:
        raise ApprovalError(
            "--registry: missing: expected the registry's URI (the digest is computed from the "
            "version's artifact), or --artifact FILE for a system without a registry"
        )
    if registry is not None and artifact is not None:
        raise ApprovalError("--artifact: give either --registry or --artifact, not both")
    if registry is None and folder is None:
        raise ApprovalError("--folder: missing: with --artifact the record goes to a folder")
    key_path = Path(key)
    private = load_private_key(key_path)
    _check_key_mode(key_path)
    name = approver if approver is not None else key_path.name.removesuffix(".key")
    if not name.strip() or len(name) > 200:
        raise ApprovalError("--approver: expected your name (1 to 200 characters)")
    digest = _digest_of(model, version, registry, artifact)
    record = Approval(
        model=model,
        version=version,
        artifact_sha256=digest,
        role=role,
        approver=name.strip(),
        time=time or utc_now(),
        decision=decision,  # type: ignore[arg-type]
        comment=comment,
    )
    envelope = sign_approval(record, private)
    signed = Approval.from_payload(_b64(envelope["payload"]))
    if folder is not None:
        path = write_to_folder(folder, envelope)
        return Approved(signed, str(path))
    from prodready.adapters.registry import MLflowRegistry

    assert registry is not None
    tag = tag_key(signed.key_id, role)
    MLflowRegistry(registry).set_tag(
        model, version, tag, json.dumps(envelope, separators=(",", ":"))
    )
    return Approved(signed, f"registry {registry}, model {model!r} version {version}, tag {tag}")


def _check_key_mode(path: Path) -> None:
    """Refuse a private key file others may read (as ssh does): it may already have leaked."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return  # load_private_key names the problem
    if mode & 0o077:
        raise ApprovalError(
            f"--key: {shown(path)} can be read by others (mode {mode & 0o777:04o}): expected a "
            f"private key only its owner can read (chmod 600 {shown(path)})"
        )


def _digest_of(
    model: str, version: str, registry: str | None, artifact: str | os.PathLike[str] | None
) -> str:
    if artifact is not None:
        path = Path(artifact)
        if path.is_dir():
            from prodready.adapters.registry import model_digest

            return model_digest(path)
        if not path.is_file():
            raise ApprovalError(
                f"--artifact: {shown(path)} does not exist: expected the model file or folder"
            )
        return file_sha256(path)
    from prodready._exceptions import RegistryError
    from prodready.adapters.registry import MLflowRegistry, _sqlite_path

    assert registry is not None
    database = _sqlite_path(registry)
    if database is not None and not database.is_file():
        # MLflow would create an empty registry there: a typo must not leave one behind.
        raise ApprovalError(
            f"--registry: {shown(database)} does not exist: expected the sqlite database of "
            "the registry that holds the version"
        )
    try:
        # verify=True: the digest of the artifact's bytes, not of an (editable) tag.
        return MLflowRegistry(registry).version(model, version, verify=True).digest
    except RegistryError as exc:
        raise ApprovalError(f"--registry: {exc}") from None
