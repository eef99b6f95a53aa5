"""DSSE envelopes: the PAE bytes of the spec, signing, and every way verification refuses."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from prodready.attest import key_id
from prodready.attest._dsse import (
    EnvelopeError,
    SignatureError,
    UnknownKeyError,
    b64decode,
    pae,
    sign_envelope,
    verify_envelope,
)

# RFC 8032 section 7.1, test 1: a fixed Ed25519 key, so that signatures are reproducible.
RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
TYPE = "application/vnd.prodready.test+json"


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(RFC8032_SEED)


@pytest.fixture(scope="module")
def other() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def test_pae_of_the_dsse_spec_example() -> None:
    # protocol.md, "Test Vectors": PAYLOAD_TYPE http://example.com/HelloWorld, body hello world.
    expected = b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    assert pae("http://example.com/HelloWorld", b"hello world") == expected
    assert pae(b"http://example.com/HelloWorld", b"hello world") == expected


def test_pae_counts_bytes_and_keeps_the_trailing_space_of_an_empty_body() -> None:
    assert pae("application/vnd.in-toto+json", b"") == b"DSSEv1 28 application/vnd.in-toto+json 0 "
    # LEN is the byte length of the UTF-8 type: 2 bytes for the a-umlaut, so 5 and not 4.
    assert pae("\u00e4bc+", b"\x00\xff") == b"DSSEv1 5 \xc3\xa4bc+ 2 \x00\xff"


def test_sign_and_verify_round_trip(key: Ed25519PrivateKey) -> None:
    envelope = sign_envelope(b'{"a":1}', TYPE, key)
    assert envelope["payloadType"] == TYPE
    assert base64.b64decode(envelope["payload"]) == b'{"a":1}'
    assert envelope["signatures"][0]["keyid"] == key_id(key)
    # Ed25519 is deterministic: the same key and payload give the same envelope.
    assert sign_envelope(b'{"a":1}', TYPE, key) == envelope
    sig = base64.b64decode(envelope["signatures"][0]["sig"])
    key.public_key().verify(sig, pae(TYPE, b'{"a":1}'))
    # It survives JSON storage.
    stored = json.loads(json.dumps(envelope))
    payload, kid = verify_envelope(stored, {key_id(key): key.public_key()}, payload_type=TYPE)
    assert (payload, kid) == (b'{"a":1}', key_id(key))


def test_securesystemslib_verifies_our_envelope(key: Ed25519PrivateKey) -> None:
    """An independent implementation accepts what we sign (its PAE is the spec's)."""
    dsse = pytest.importorskip("securesystemslib.dsse")
    signer = pytest.importorskip("securesystemslib.signer")
    envelope = sign_envelope(b"hello", TYPE, key)
    theirs = dsse.Envelope.from_dict(envelope)
    public = signer.SSlibKey.from_crypto(key.public_key(), keyid=key_id(key))
    accepted = theirs.verify([public], 1)
    assert list(accepted) == [key_id(key)]


def test_url_safe_and_unpadded_base64_are_accepted(key: Ed25519PrivateKey) -> None:
    payload = b"\xfb\xff\xbf>?"  # encodes to + and / in standard base64
    envelope = sign_envelope(payload, TYPE, key)
    assert "+" in envelope["payload"] or "/" in envelope["payload"]
    envelope["payload"] = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    sig = envelope["signatures"][0]["sig"]
    envelope["signatures"][0]["sig"] = sig.replace("+", "-").replace("/", "_")
    assert verify_envelope(envelope, {key_id(key): key.public_key()})[0] == payload
    with pytest.raises(ValueError, match="bad length"):
        b64decode("a")
    with pytest.raises(ValueError, match="not base64"):
        b64decode("ab$=")


def test_tampered_payload_fails_with_the_reason(key: Ed25519PrivateKey) -> None:
    envelope = sign_envelope(b'{"version":1}', TYPE, key)
    envelope["payload"] = base64.b64encode(b'{"version":2}').decode()
    with pytest.raises(SignatureError, match="forged or changed after it was signed"):
        verify_envelope(envelope, {key_id(key): key.public_key()})


def test_swapped_payload_type_fails(key: Ed25519PrivateKey) -> None:
    envelope = sign_envelope(b"x", TYPE, key)
    envelope["payloadType"] = "application/vnd.other+json"
    with pytest.raises(SignatureError):
        verify_envelope(envelope, {key_id(key): key.public_key()})
    with pytest.raises(EnvelopeError, match=r"payloadType is 'application/vnd\.other"):
        verify_envelope(envelope, {key_id(key): key.public_key()}, payload_type=TYPE)


def test_forged_keyid_does_not_help(key: Ed25519PrivateKey, other: Ed25519PrivateKey) -> None:
    """A signature by an untrusted key that claims a trusted key's id is a forgery."""
    envelope = sign_envelope(b"x", TYPE, other)
    envelope["signatures"][0]["keyid"] = key_id(key)
    with pytest.raises(SignatureError, match=key_id(key)[:16]):
        verify_envelope(envelope, {key_id(key): key.public_key()})


def test_unknown_key(key: Ed25519PrivateKey, other: Ed25519PrivateKey) -> None:
    envelope = sign_envelope(b"x", TYPE, other)
    with pytest.raises(UnknownKeyError, match=f"not trusted \\({key_id(other)[:16]}\\)") as info:
        verify_envelope(envelope, {key_id(key): key.public_key()})
    assert info.value.key_ids == [key_id(other)]


def test_keyid_is_only_a_hint(key: Ed25519PrivateKey) -> None:
    """A missing or wrong keyid still verifies when a trusted key signed (DSSE: only a hint)."""
    envelope = sign_envelope(b"x", TYPE, key)
    del envelope["signatures"][0]["keyid"]
    assert verify_envelope(envelope, {key_id(key): key.public_key()})[1] == key_id(key)


def test_second_signature_verifies(key: Ed25519PrivateKey, other: Ed25519PrivateKey) -> None:
    first = sign_envelope(b"x", TYPE, other)
    second = sign_envelope(b"x", TYPE, key)
    first["signatures"] += second["signatures"]
    assert verify_envelope(first, {key_id(key): key.public_key()})[1] == key_id(key)


@pytest.mark.parametrize(
    ("envelope", "message"),
    [
        ([], "not a JSON object"),
        ({"payload": "eA==", "signatures": [{"sig": "AA=="}]}, "no payloadType"),
        ({"payloadType": TYPE, "signatures": [{"sig": "AA=="}]}, "no payload"),
        ({"payloadType": TYPE, "payload": "e$A", "signatures": [{}]}, "payload is not base64"),
        ({"payloadType": TYPE, "payload": "eA==", "signatures": []}, "no signatures"),
        ({"payloadType": TYPE, "payload": "eA==", "signatures": ["x"]}, "not a JSON object"),
        ({"payloadType": TYPE, "payload": "eA==", "signatures": [{"sig": 3}]}, "not base64"),
        (
            {"payloadType": TYPE, "payload": "eA==", "signatures": [{"keyid": 1, "sig": ""}]},
            "keyid is not a string",
        ),
    ],
)
def test_malformed_envelopes(envelope: object, message: str, key: Ed25519PrivateKey) -> None:
    with pytest.raises(EnvelopeError, match=message):
        verify_envelope(envelope, {key_id(key): key.public_key()})  # type: ignore[arg-type]
