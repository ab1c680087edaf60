# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Public certificates (PEM or base64 DER) as Exchange hands them out, thumbprints, and client credentials.

Error messages never contain the input: a value given as a certificate may be a private key.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
import traceback
from dataclasses import dataclass
from typing import Any

from ansible_collections.exchange.hybrid.plugins.module_utils._errors import CertificateError
from ansible_collections.exchange.hybrid.plugins.module_utils._values import is_thumbprint, utc_now

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - reported by the modules with missing_required_lib
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()

_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----\s*(.+?)\s*-----END CERTIFICATE-----", re.S)
_PEM_ANY = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----")


@dataclass(frozen=True)
class PublicCertificate:
    der: bytes
    subject: str
    not_before: dt.datetime
    not_after: dt.datetime

    @property
    def thumbprint(self) -> str:
        """SHA-1 over the DER in upper-case hex, as Exchange and Entra show it."""
        return hashlib.sha1(self.der).hexdigest().upper()

    @property
    def base64(self) -> str:
        return base64.b64encode(self.der).decode("ascii")

    def is_expired(self, now: dt.datetime | None = None) -> bool:
        return self.not_after <= (now or utc_now())


def _looks_like_private_key(der: bytes) -> bool:
    for loader in (serialization.load_der_private_key,):
        try:
            loader(der, password=None)
            return True
        except TypeError:  # encrypted private key
            return True
        except (ValueError, binascii.Error):
            pass
    try:
        pkcs12.load_key_and_certificates(der, None)
        return True
    except (ValueError, TypeError):
        pass
    # an encrypted PKCS#8 or PFX parses as neither without the password; its outer ASN.1 shape still shows it
    if der[:1] != b"\x30":
        return False
    pbes2 = b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x05\x0d"
    pkcs7_data = b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x01"
    return pbes2 in der[:64] or (b"\x02\x01\x03" in der[:8] and pkcs7_data in der[:32])


def _from_der(der: bytes, option: str) -> PublicCertificate:
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        if _looks_like_private_key(der):
            raise CertificateError(
                f"{option} holds a private key (or a PFX/PKCS#12 bundle), not a public certificate. Refusing to use "
                "it: pass only the public certificate (PEM or base64 DER, as exchange_oauth_cert returns it)."
            ) from None
        raise CertificateError(
            f"{option} could not be parsed as an X.509 certificate (PEM, or base64 of the DER bytes)."
        ) from None
    return PublicCertificate(
        der=der,
        subject=cert.subject.rfc4514_string(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
    )


def load_certificate(value: str | bytes, option: str = "certificate") -> PublicCertificate:
    """Parse a public certificate given as PEM text or base64 DER; refuse private keys without echoing them."""
    text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
    kinds = _PEM_ANY.findall(text)
    if any("PRIVATE KEY" in kind for kind in kinds):
        raise CertificateError(
            f"{option} contains a private key. Refusing to use it: pass only the public certificate "
            "(-----BEGIN CERTIFICATE----- ...), never the key."
        )
    if kinds:
        match = _PEM_CERT.search(text)
        if not match:
            raise CertificateError(f"{option} is PEM but holds no CERTIFICATE block.")
        body = match.group(1)
    else:
        body = text
    try:
        der = base64.b64decode("".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        if isinstance(value, bytes) and not kinds:
            return _from_der(value, option)  # a binary .cer file
        raise CertificateError(f"{option} is neither PEM nor base64 DER.") from None
    if not der:
        raise CertificateError(f"{option} is empty.")
    return _from_der(der, option)


def load_certificate_file(path: str, option: str = "certificate_path") -> PublicCertificate:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise CertificateError(f"{option}: cannot read {path}: {error.strerror}") from None
    return load_certificate(data, option)


def thumbprint_of_key(entry: dict[str, Any]) -> str | None:
    """The certificate thumbprint of a Graph keyCredential: SHA-1 of ``key`` when present, else its identifier.

    ``customKeyIdentifier`` is Edm.Binary; Graph hands certificate thumbprints back as the 40-character hex
    string, and a base64 value of 20 bytes is read as the raw thumbprint.
    """
    key = entry.get("key")
    if key:
        try:
            return hashlib.sha1(base64.b64decode(key)).hexdigest().upper()
        except (binascii.Error, ValueError):
            pass
    ident = entry.get("customKeyIdentifier")
    if not ident:
        return None
    if is_thumbprint(ident):
        return ident.upper()
    try:
        raw = base64.b64decode(ident + "=" * (-len(ident) % 4), altchars=b"-_" if "-" in ident or "_" in ident else None)
    except (binascii.Error, ValueError):
        return None
    if len(raw) == 20:
        return raw.hex().upper()
    text = raw.decode("ascii", errors="ignore")
    return text.upper() if is_thumbprint(text) else None


def load_client_credential(path: str, password: str | None) -> dict[str, str]:
    """An msal certificate credential from a PEM (key + certificate) or PFX file.

    Returns ``{"private_key": <PEM>, "thumbprint": <SHA-1 hex>, "public_certificate": <PEM>}``.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise CertificateError(f"client_certificate_path: cannot read {path}: {error.strerror}") from None
    secret = password.encode("utf-8") if password else None
    if b"-----BEGIN" in data:
        try:
            key = serialization.load_pem_private_key(data, password=secret)
        except TypeError:
            raise CertificateError(
                "client_certificate_path: the private key is encrypted; set client_certificate_password."
            ) from None
        except ValueError:
            raise CertificateError(
                "client_certificate_path: no usable private key in the PEM file (wrong client_certificate_password?)."
            ) from None
        match = _PEM_CERT.search(data.decode("latin-1"))
        if not match:
            raise CertificateError("client_certificate_path: the PEM file must hold the certificate next to its key.")
        cert = x509.load_der_x509_certificate(base64.b64decode("".join(match.group(1).split())))
    else:
        try:
            key, cert, _chain = pkcs12.load_key_and_certificates(data, secret)
        except ValueError:
            raise CertificateError(
                "client_certificate_path: not a PEM or PFX file, or wrong client_certificate_password."
            ) from None
        if key is None or cert is None:
            raise CertificateError("client_certificate_path: the PFX file must hold a private key and its certificate.")
    der = cert.public_bytes(serialization.Encoding.DER)
    return {
        "private_key": key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii"),
        "thumbprint": hashlib.sha1(der).hexdigest().upper(),
        "public_certificate": cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
    }
