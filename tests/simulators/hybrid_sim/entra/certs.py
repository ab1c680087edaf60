"""Self-signed test certificates (real key material) for the Entra simulator and the tests.

Generating RSA keys is the slow part, so keys are made once per process and reused; every certificate still
gets its own serial number, subject and validity, hence its own thumbprint.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import threading
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

_KEYS: list[rsa.RSAPrivateKey] = []
_LOCK = threading.Lock()


@dataclass
class TestCertificate:
    der: bytes
    cert_pem: str
    key_pem: str
    not_before: dt.datetime
    not_after: dt.datetime

    @property
    def thumbprint(self) -> str:
        """SHA-1 over the DER, upper-case hex: what Exchange (Get-ExchangeCertificate) shows."""
        return hashlib.sha1(self.der).hexdigest().upper()

    @property
    def base64_der(self) -> str:
        return base64.b64encode(self.der).decode("ascii")


def _key(index: int) -> rsa.RSAPrivateKey:
    with _LOCK:
        while len(_KEYS) <= index:
            _KEYS.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
        return _KEYS[index]


def make_certificate(
    common_name: str = "Microsoft Exchange Server Auth Certificate",
    days: int = 1825,
    start: dt.datetime | None = None,
    key_index: int = 0,
) -> TestCertificate:
    """A self-signed RSA certificate valid from ``start`` (default: one day ago) for ``days`` days."""
    key = _key(key_index)
    start = (start or dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)).replace(microsecond=0)
    end = start + dt.timedelta(days=days)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .sign(key, hashes.SHA256())
    )
    return TestCertificate(
        der=cert.public_bytes(serialization.Encoding.DER),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii"),
        not_before=start,
        not_after=end,
    )
