"""UnionPay ACP signatures: signMethod 11 (SHA-256 with a shared key) and 01 (RSA-SHA256).

String to sign: every field but ``signature`` and ``signPubKeyCert``, keys in ASCII order,
raw ``key=value`` joined with ``&``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

UNSIGNED_FIELDS = frozenset({"signature", "signPubKeyCert"})


def string_to_sign(fields: Mapping[str, str]) -> str:
    """The canonical string: sorted ``key=value`` pairs joined by ``&`` (signature excluded)."""
    return "&".join(f"{k}={fields[k]}" for k in sorted(fields) if k not in UNSIGNED_FIELDS)


def sign_sha256(fields: Mapping[str, str], secure_key: str) -> str:
    """signMethod 11: ``hex(SHA256(str + "&" + hex(SHA256(secure_key))))`` (lower-case hex)."""
    key_digest = hashlib.sha256(secure_key.encode()).hexdigest()
    return hashlib.sha256(f"{string_to_sign(fields)}&{key_digest}".encode()).hexdigest()


def verify_sha256(fields: Mapping[str, str], secure_key: str) -> bool:
    """True when ``fields["signature"]`` is the signMethod 11 signature (constant-time compare)."""
    given = fields.get("signature", "")
    return isinstance(given, str) and hmac.compare_digest(given.lower(), sign_sha256(fields, secure_key))


def sign_rsa(fields: Mapping[str, str], private_key: rsa.RSAPrivateKey) -> str:
    """signMethod 01: ``base64(RSA-PKCS1v15-SHA256(lower_hex(SHA256(str))))``."""
    digest_hex = hashlib.sha256(string_to_sign(fields).encode()).hexdigest()
    raw = private_key.sign(digest_hex.encode(), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(raw).decode()


def verify_rsa(fields: Mapping[str, str], public_key: rsa.RSAPublicKey) -> bool:
    """True when ``fields["signature"]`` is a valid signMethod 01 signature by ``public_key``."""
    try:
        raw = base64.b64decode(fields.get("signature", ""), validate=True)
    except (binascii.Error, ValueError, TypeError):
        return False
    digest_hex = hashlib.sha256(string_to_sign(fields).encode()).hexdigest()
    try:
        public_key.verify(raw, digest_hex.encode(), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True
