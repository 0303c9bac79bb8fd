"""Key material for both signature methods, generated at first start into ``<data-dir>/keys``.

Never committed: every data directory gets its own keys. Shop and gateway read the same dir.
"""

from __future__ import annotations

import datetime
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

MER_ID = "777290058110048"


@dataclass(frozen=True)
class KeyMaterial:
    """Shared key (signMethod 11) and the RSA keys/certificates (signMethod 01) of both sides."""

    secure_key: str
    merchant_key: rsa.RSAPrivateKey
    merchant_cert: x509.Certificate
    gateway_key: rsa.RSAPrivateKey
    gateway_cert: x509.Certificate

    @property
    def merchant_cert_id(self) -> str:
        return str(self.merchant_cert.serial_number)

    @property
    def gateway_cert_id(self) -> str:
        return str(self.gateway_cert.serial_number)

    @property
    def gateway_cert_pem(self) -> str:
        return self.gateway_cert.public_bytes(serialization.Encoding.PEM).decode()


def _new_pair(common_name: str) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def ensure_keys(keys_dir: Path) -> KeyMaterial:
    """Create the keys in ``keys_dir`` if missing (idempotent), then load them."""
    keys_dir.mkdir(parents=True, exist_ok=True)
    secure = keys_dir / "secure_key.txt"
    if not secure.exists():
        _write_atomic(secure, secrets.token_hex(32).encode())
    for role in ("merchant", "gateway"):
        key_path, cert_path = keys_dir / f"{role}_key.pem", keys_dir / f"{role}_cert.pem"
        if not (key_path.exists() and cert_path.exists()):
            key, cert = _new_pair(f"{role}.sim.unionpay.local")
            _write_atomic(key_path, key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
            _write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return load_keys(keys_dir)


def load_keys(keys_dir: Path) -> KeyMaterial:
    """Load existing key material from ``keys_dir``."""
    def key(role: str) -> rsa.RSAPrivateKey:
        return serialization.load_pem_private_key((keys_dir / f"{role}_key.pem").read_bytes(), None)

    def cert(role: str) -> x509.Certificate:
        return x509.load_pem_x509_certificate((keys_dir / f"{role}_cert.pem").read_bytes())

    return KeyMaterial(
        secure_key=(keys_dir / "secure_key.txt").read_text().strip(),
        merchant_key=key("merchant"),
        merchant_cert=cert("merchant"),
        gateway_key=key("gateway"),
        gateway_cert=cert("gateway"),
    )
