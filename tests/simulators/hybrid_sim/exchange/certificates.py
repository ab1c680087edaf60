"""Real self-signed certificates for the simulated Exchange certificate stores (``cryptography``).

Each store entry keeps the documented ExchangeCertificate properties (PS Get-ExchangeCertificate.md) already in
the state's JSON form (objects.py types them for remoting); RawData is the genuine DER and Thumbprint its SHA-1, so what the modules upload to
Entra and what the probe compares are real. Private keys are not kept: HasPrivateKey says whether the store has one.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..state import iso

# Exchange's self-signed certificates are valid for five years (New-ExchangeCertificate.md).
SELF_SIGNED_YEARS = 5
# X509Certificate2.SignatureAlgorithm is an Oid; its FriendlyName as Windows names the OIDs (the names and OIDs
# CSS-Exchange's HealthChecker reads, Get-ExchangeCertificateCustomObject.ps1).
SIGNATURE_ALGORITHMS = {
    "1.2.840.113549.1.1.4": "md5RSA",
    "1.2.840.113549.1.1.5": "sha1RSA",
    "1.2.840.113549.1.1.10": "RSASSA-PSS",
    "1.2.840.113549.1.1.11": "sha256RSA",
    "1.2.840.113549.1.1.12": "sha384RSA",
    "1.2.840.113549.1.1.13": "sha512RSA",
    "1.2.840.10045.4.1": "sha1ECDSA",
    "1.2.840.10045.4.3.2": "sha256ECDSA",
    "1.2.840.10045.4.3.3": "sha384ECDSA",
    "1.2.840.10045.4.3.4": "sha512ECDSA",
}
_HASHES = {"sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
# DER of the sha256WithRSAEncryption and sha1WithRSAEncryption OIDs (same length, so one can replace the other).
_SHA256_RSA_OID = bytes.fromhex("06092a864886f70d01010b")
_SHA1_RSA_OID = bytes.fromhex("06092a864886f70d010105")
_DN_KEYS = {
    "CN": NameOID.COMMON_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "L": NameOID.LOCALITY_NAME,
    "S": NameOID.STATE_OR_PROVINCE_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "C": NameOID.COUNTRY_NAME,
}


class SubjectError(ValueError):
    pass


def parse_subject(text: str) -> x509.Name:
    """``cn=Microsoft Exchange Server Auth Certificate`` / ``C=US, O=Contoso, CN=mail.contoso.com``."""
    attributes = []
    for part in [p.strip() for p in re.split(r",(?=\s*[A-Za-z]+\s*=)", text or "") if p.strip()]:
        key, sep, value = part.partition("=")
        oid = _DN_KEYS.get(key.strip().upper())
        if not sep or oid is None or not value.strip():
            raise SubjectError(text)
        attributes.append(x509.NameAttribute(oid, value.strip()))
    if not attributes:
        raise SubjectError(text)
    return x509.Name(attributes)


def subject_text(name: x509.Name) -> str:
    """As .NET prints X500DistinguishedName.Name: most specific first, ``CN=..., O=...``."""
    short = {v: k for k, v in _DN_KEYS.items() if k != "ST"}
    return ", ".join("%s=%s" % (short.get(a.oid, a.oid.dotted_string), a.value) for a in reversed(list(name)))


_SETUP_KEYS: dict[tuple[int, str], rsa.RSAPrivateKey] = {}


def make_certificate(
    now: dt.datetime,
    subject: str,
    domains: list[str],
    key_size: int = 2048,
    subject_key_identifier: str | None = None,
    years: int = SELF_SIGNED_YEARS,
    reuse_key: str | None = None,
    signature_hash: str = "sha256",
    lifetime_days: int | None = None,
) -> tuple[bytes, dt.datetime, dt.datetime, str]:
    """A self-signed RSA certificate; returns (DER, not_before, not_after, serial hex).

    ``reuse_key`` names a key kept for the life of the process: the certificates setup leaves in a fresh
    organization use it, so starting many organizations stays fast (their certificates still differ).
    ``signature_hash`` (sha1, sha256, sha384, sha512): Exchange 2013's setup signed its certificates with SHA-1,
    the finding HealthChecker reports.
    """
    if reuse_key is None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    else:
        key = _SETUP_KEYS.get((key_size, reuse_key))
        if key is None:
            key = _SETUP_KEYS[(key_size, reuse_key)] = rsa.generate_private_key(
                public_exponent=65537, key_size=key_size
            )
    name = parse_subject(subject)
    if lifetime_days is not None:
        not_before = now.replace(microsecond=0)
        not_after = not_before + dt.timedelta(days=lifetime_days)
    else:
        not_before = now.replace(microsecond=0) - dt.timedelta(minutes=5)
        not_after = (
            not_before.replace(year=not_before.year + years)
            if not (not_before.month == 2 and not_before.day == 29)
            else not_before + dt.timedelta(days=365 * years + 1)
        )
    serial = x509.random_serial_number()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
    )
    if domains:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in domains]), critical=False)
    if subject_key_identifier:
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier(bytes.fromhex(subject_key_identifier)), critical=False
        )
    else:
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    from cryptography.hazmat.primitives.serialization import Encoding

    if signature_hash == "sha1":
        der = _sha1_signed(builder.sign(key, hashes.SHA256()), key)
    else:
        der = builder.sign(key, _HASHES[signature_hash]()).public_bytes(Encoding.DER)
    return der, not_before, not_after, format(serial, "X")


def _sha1_signed(cert: x509.Certificate, key: rsa.RSAPrivateKey) -> bytes:
    """The same certificate signed with SHA-1 (the OpenSSL here refuses to build SHA-1 certificates, but signs with
    SHA-1): both algorithm identifiers rewritten, the TBS part signed again; an RSA signature keeps its length."""
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.serialization import Encoding

    der = cert.public_bytes(Encoding.DER)
    tbs = cert.tbs_certificate_bytes
    new_tbs = tbs.replace(_SHA256_RSA_OID, _SHA1_RSA_OID, 1)
    signature = key.sign(new_tbs, padding.PKCS1v15(), hashes.SHA1())
    head, rest = der.split(tbs, 1)
    rest = rest.replace(_SHA256_RSA_OID, _SHA1_RSA_OID, 1).replace(cert.signature, signature)
    return head + new_tbs + rest


def thumbprint(der: bytes) -> str:
    return hashlib.sha1(der).hexdigest().upper()


def store_entry(
    der: bytes,
    server_fqdn: str,
    friendly_name: str,
    services: str,
    has_private_key: bool = True,
    private_key_exportable: bool = False,
) -> dict[str, Any]:
    """The documented ExchangeCertificate properties of one certificate in one server's store."""
    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName
        )
    except x509.ExtensionNotFound:
        san = []
    try:
        ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest.hex().upper()
    except x509.ExtensionNotFound:
        ski = None
    thumb = thumbprint(der)
    subject = subject_text(cert.subject)
    issuer = subject_text(cert.issuer)
    return {
        "Thumbprint": thumb,
        "Identity": "%s\\%s" % (server_fqdn, thumb),
        "FriendlyName": friendly_name,
        "Subject": subject,
        "Issuer": issuer,
        "SubjectName": subject,
        "IssuerName": issuer,
        "CertificateDomains": list(san),
        "DnsNameList": list(san),
        "Services": services,
        "PublicKeySize": cert.public_key().key_size,
        "NotBefore": iso(cert.not_valid_before_utc),
        "NotAfter": iso(cert.not_valid_after_utc),
        "HasPrivateKey": has_private_key,
        "PrivateKeyExportable": private_key_exportable,
        "IsSelfSigned": cert.subject == cert.issuer,
        "RootCAType": "None",
        "SerialNumber": format(cert.serial_number, "X"),
        "SubjectKeyIdentifier": ski,
        "KeyIdentifier": ski,
        "SignatureAlgorithm": signature_algorithm(cert),
        "Version": 3,
        "EnhancedKeyUsageList": ["Server Authentication (1.3.6.1.5.5.7.3.1)"],
        "RawData": base64.b64encode(der).decode("ascii"),
        "Archived": False,
        "SendAsTrustedIssuer": False,
    }


def pfx(der: bytes, password: str, friendly_name: str) -> bytes:
    """A PKCS #12 file of the certificate, encrypted with ``password`` (what Export-ExchangeCertificate -Password
    writes; the simulated stores keep no private keys, so the file holds the certificate alone)."""
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

    cert = x509.load_der_x509_certificate(der)
    name = friendly_name.encode("utf-8") if friendly_name else None
    return pkcs12.serialize_key_and_certificates(name, None, cert, None, BestAvailableEncryption(password.encode("utf-8")))


def read_pfx(data: bytes, password: str | None) -> tuple[bytes, str | None]:
    """(DER, friendly name) of a PKCS #12 file, or of a DER certificate given without a password; ValueError when
    the password does not open it."""
    from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

    if password is None:
        try:
            return x509.load_der_x509_certificate(data).public_bytes(Encoding.DER), None
        except ValueError:
            pass
    loaded = pkcs12.load_pkcs12(data, password.encode("utf-8") if password is not None else None)
    # Without a key bag the certificate is one of the file's additional certificates.
    found = loaded.cert or next(iter(loaded.additional_certs), None)
    if found is None:
        raise ValueError("no certificate in the PKCS #12 file")
    name = found.friendly_name
    return found.certificate.public_bytes(Encoding.DER), name.decode("utf-8") if name else None


def signature_algorithm(cert: x509.Certificate) -> dict[str, Any]:
    """The Oid in the state's JSON form: ``{"Value": "1.2.840.113549.1.1.11", "FriendlyName": "sha256RSA"}``."""
    oid = cert.signature_algorithm_oid.dotted_string
    return {"Value": oid, "FriendlyName": SIGNATURE_ALGORITHMS.get(oid)}


SERVICE_ORDER = ["None", "IMAP", "POP", "UM", "IIS", "SMTP", "Federation", "UMCallRouter"]


def normalise_services(value: Any) -> list[str]:
    """AllowedServices flags from a string ("IMAP, POP") or a list, canonical names, Exchange's flag order."""
    items = value if isinstance(value, list) else [value]
    names: set[str] = set()
    for item in items:
        for word in str(item).split(","):
            word = word.strip()
            for canonical in SERVICE_ORDER:
                if canonical.lower() == word.lower():
                    names.add(canonical)
    if len(names) > 1:
        names.discard("None")
    return [s for s in SERVICE_ORDER if s in names] or ["None"]


def services_text(names: list[str]) -> str:
    """The enum's ToString(): ``IMAP, POP, SMTP``."""
    return ", ".join(names)
