"""Signed evidence: Ed25519 keys, and (with the signing work) DSSE envelopes and the ledger.

``prodready keygen`` makes the keys (:func:`generate_keypair`); approvals of model versions
(question 8) and signed run folders use them. :func:`sign_run` signs a run folder (a DSSE
envelope around an in-toto Statement, ``run.dsse.json``), :func:`verify_run` checks one, and
the audit ledger (:func:`append_run`, :func:`verify_ledger`) chains one line per run.
"""

from prodready.attest._approval import (
    Approval,
    ApprovalError,
    TrustedKey,
    TrustedKeys,
    check_record,
    load_trusted_keys,
    sign_approval,
)
from prodready.attest._dsse import (
    EnvelopeError,
    SignatureError,
    UnknownKeyError,
    pae,
    sign_envelope,
    verify_envelope,
)
from prodready.attest._keys import (
    fingerprint,
    generate_keypair,
    key_id,
    load_private_key,
    load_public_key,
    public_pem,
)
from prodready.attest._ledger import (
    LedgerEntry,
    append_run,
    check_ledger_path,
    ledger_record,
    read_ledger,
    verify_ledger,
)
from prodready.attest._sign import (
    ENVELOPE,
    Signer,
    VerifyResult,
    load_signer,
    report_signing,
    sign_run,
    verify_run,
)

__all__ = [
    "ENVELOPE",
    "Approval",
    "ApprovalError",
    "EnvelopeError",
    "LedgerEntry",
    "SignatureError",
    "Signer",
    "TrustedKey",
    "TrustedKeys",
    "UnknownKeyError",
    "VerifyResult",
    "append_run",
    "check_ledger_path",
    "check_record",
    "fingerprint",
    "generate_keypair",
    "key_id",
    "ledger_record",
    "load_private_key",
    "load_public_key",
    "load_signer",
    "load_trusted_keys",
    "pae",
    "public_pem",
    "read_ledger",
    "report_signing",
    "sign_approval",
    "sign_envelope",
    "sign_run",
    "verify_envelope",
    "verify_ledger",
    "verify_run",
]
