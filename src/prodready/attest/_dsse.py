"""DSSE envelopes signed with Ed25519: the one envelope format of prodready's signed evidence.

DSSE (Dead Simple Signing Envelope, https://github.com/secure-systems-lab/dsse, protocol
v1.0.0) signs a payload together with its type. Approvals of model versions (question 8)
and signed run folders both use it, so that one verifier checks both.

The envelope is a JSON object::

    {"payload": BASE64(SERIALIZED_BODY),
     "payloadType": PAYLOAD_TYPE,
     "signatures": [{"keyid": KEYID, "sig": BASE64(SIGNATURE)}]}

where ``SIGNATURE = Ed25519-Sign(PAE(UTF8(PAYLOAD_TYPE), SERIALIZED_BODY))`` and::

    PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body

(``LEN`` the ASCII decimal byte length, no leading zeros; ``SP`` one space). prodready writes
standard base64 with padding and accepts standard or URL-safe base64, with or without padding,
as the protocol requires of verifiers. ``keyid`` is the signer's key id (:func:`key_id`, the
sha256 of its raw public key): the protocol says it is only a hint, so :func:`verify_envelope`
uses it to pick the key to try but decides by the signature alone.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from prodready._exceptions import ProdreadyError
from prodready.attest._keys import key_id as _key_id

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

__all__ = [
    "EnvelopeError",
    "SignatureError",
    "UnknownKeyError",
    "b64decode",
    "pae",
    "sign_envelope",
    "verify_envelope",
]

#: Largest payload accepted in an envelope (decoded): evidence records are small; a bigger
#: one is refused before anything is decoded or verified.
MAX_PAYLOAD_BYTES = 64 * 1024 * 1024
_B64 = re.compile(r"[A-Za-z0-9+/\-_]*={0,2}")


class EnvelopeError(ProdreadyError):
    """An envelope is not a well-formed DSSE envelope (``problem`` says what is wrong)."""


class SignatureError(EnvelopeError):
    """No signature of the envelope verifies with the trusted key it names (or any key).

    The envelope was forged, or its payload or type changed after it was signed.
    """


class UnknownKeyError(EnvelopeError):
    """The envelope is signed only by keys that are not among the trusted ones.

    ``key_ids`` are the key ids its signatures name (empty strings for signatures without one).
    """

    def __init__(self, message: str, key_ids: list[str]) -> None:
        self.key_ids = key_ids
        super().__init__(message)


def pae(payload_type: str | bytes, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding of ``payload_type`` and ``payload``: what is signed.

    A ``str`` type is encoded as UTF-8 first; its length is counted in bytes.
    """
    kind = payload_type.encode("utf-8") if isinstance(payload_type, str) else payload_type
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def sign_envelope(payload: bytes, payload_type: str, key: Ed25519PrivateKey) -> dict[str, Any]:
    """A DSSE envelope holding ``payload`` of ``payload_type``, signed with ``key``.

    The signature's ``keyid`` is the key's id. JSON-serialise the returned dict to store it.
    """
    if not isinstance(payload, bytes):
        raise TypeError("payload must be bytes (serialise it first)")
    if not payload_type:
        raise ValueError("payload_type must not be empty")
    signature = key.sign(pae(payload_type, payload))
    return {
        "payload": base64.b64encode(payload).decode("ascii"),
        "payloadType": payload_type,
        "signatures": [{"keyid": _key_id(key), "sig": base64.b64encode(signature).decode("ascii")}],
    }


def b64decode(text: str) -> bytes:
    """Decode standard or URL-safe base64, padded or not; ``ValueError`` if it is neither."""
    if not isinstance(text, str) or not _B64.fullmatch(text):
        raise ValueError("not base64")
    body = text.rstrip("=").replace("-", "+").replace("_", "/")
    if len(body) % 4 == 1:
        raise ValueError("not base64 (bad length)")
    try:
        return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None


def verify_envelope(
    envelope: Mapping[str, Any],
    keys: Mapping[str, Ed25519PublicKey],
    *,
    payload_type: str | None = None,
) -> tuple[bytes, str]:
    """Verify ``envelope`` against the trusted ``keys`` (key id -> public key).

    Returns ``(payload, key_id)``: the payload bytes and the id of the first trusted key whose
    signature verifies. With ``payload_type`` the envelope must also be of that type.

    Raises :class:`EnvelopeError` for a malformed envelope or another payload type,
    :class:`UnknownKeyError` when no signature names a trusted key (and none verifies with
    any), :class:`SignatureError` when a trusted key's signature does not verify (forged or
    tampered). The messages name key ids (never key material) and say what is wrong.
    """
    from cryptography.exceptions import InvalidSignature

    if not isinstance(envelope, Mapping):
        raise EnvelopeError(f"the envelope is a {type(envelope).__name__}, not a JSON object")
    kind = envelope.get("payloadType")
    if not isinstance(kind, str) or not kind:
        raise EnvelopeError("the envelope has no payloadType (a non-empty string)")
    if payload_type is not None and kind != payload_type:
        raise EnvelopeError(
            f"the envelope's payloadType is {kind[:80]!r}, expected {payload_type!r}"
        )
    encoded = envelope.get("payload")
    if not isinstance(encoded, str):
        raise EnvelopeError("the envelope has no payload (a base64 string)")
    if len(encoded) > MAX_PAYLOAD_BYTES * 4 // 3 + 4:
        raise EnvelopeError(f"the envelope's payload is larger than {MAX_PAYLOAD_BYTES} bytes")
    try:
        payload = b64decode(encoded)
    except ValueError:
        raise EnvelopeError("the envelope's payload is not base64") from None
    signatures = envelope.get("signatures")
    if not isinstance(signatures, list) or not signatures:
        raise EnvelopeError("the envelope has no signatures (a non-empty list)")
    message = pae(kind, payload)
    named: list[str] = []
    failed: list[str] = []
    for number, entry in enumerate(signatures, start=1):
        if not isinstance(entry, Mapping):
            raise EnvelopeError(f"signature {number} is not a JSON object")
        hint = entry.get("keyid", "")
        if not isinstance(hint, str):
            raise EnvelopeError(f"signature {number}: keyid is not a string")
        try:
            signature = b64decode(entry.get("sig"))  # type: ignore[arg-type]
        except ValueError:
            raise EnvelopeError(f"signature {number}: sig is not base64") from None
        named.append(hint)
        # The keyid is only a hint (unauthenticated): try the key it names, or every trusted
        # key when it names none or an unknown one; the signature alone decides.
        candidates = [(hint, keys[hint])] if hint in keys else list(keys.items())
        for candidate_id, public in candidates:
            try:
                public.verify(signature, message)
            except InvalidSignature:
                continue
            return payload, candidate_id
        if hint in keys:
            failed.append(hint)
    if failed:
        shown = ", ".join(f"{k[:16]}" for k in failed)
        raise SignatureError(
            f"the signature by trusted key {shown} does not verify: the record was forged or "
            "changed after it was signed"
        )
    shown = ", ".join(k[:16] if k else "(no keyid)" for k in named)
    raise UnknownKeyError(
        f"signed by a key that is not trusted ({shown}): no trusted key's signature verifies",
        named,
    )
