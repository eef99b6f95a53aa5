"""Signed evidence: Ed25519 keys, and (with the signing work) DSSE envelopes and the ledger.

``prodready keygen`` makes the keys (:func:`generate_keypair`); approvals of model versions
(question 8) and signed run folders use them.
"""

from prodready.attest._keys import (
    fingerprint,
    generate_keypair,
    key_id,
    load_private_key,
    load_public_key,
    public_pem,
)

__all__ = [
    "fingerprint",
    "generate_keypair",
    "key_id",
    "load_private_key",
    "load_public_key",
    "public_pem",
]
