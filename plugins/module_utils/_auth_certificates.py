# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Auth certificate as Exchange's stores and AuthConfig show it: dates on the server's clock, key size,
signature algorithm and the findings HealthChecker makes (key under 2048 bits, SHA-1, expired).

Works on Get-ExchangeCertificate rows (``plain()`` values). RawData is read here only to name the signature
algorithm and never returned: what these functions build holds no certificate bytes.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from typing import Any, Optional

from ansible_collections.exchange.hybrid.plugins.module_utils._exchange import call
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange_module import auth_certificate_problems
from ansible_collections.exchange.hybrid.plugins.module_utils._values import parse_utc, same_thumbprint, thumbprint_key

try:
    from cryptography import x509

    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - the algorithm is then unknown (None), everything else still holds
    HAS_CRYPTOGRAPHY = False

# The properties every caller reads (RawData for the signature algorithm only).
CERTIFICATE_PROPERTIES = [
    "Thumbprint",
    "FriendlyName",
    "Subject",
    "HasPrivateKey",
    "PrivateKeyExportable",
    "PublicKeySize",
    "NotBefore",
    "NotAfter",
    "Status",
    "RawData",
]
# Windows' names of the signature algorithm OIDs (X509Certificate2.SignatureAlgorithm.FriendlyName), and the hashes
# HealthChecker calls insecure (CSS-Exchange Get-ExchangeCertificateCustomObject.ps1).
SIGNATURE_ALGORITHMS = {
    "1.2.840.113549.1.1.2": "md2RSA",
    "1.2.840.113549.1.1.4": "md5RSA",
    "1.2.840.113549.1.1.5": "sha1RSA",
    "1.2.840.113549.1.1.10": "RSASSA-PSS",
    "1.2.840.113549.1.1.11": "sha256RSA",
    "1.2.840.113549.1.1.12": "sha384RSA",
    "1.2.840.113549.1.1.13": "sha512RSA",
    "1.2.840.10040.4.3": "sha1DSA",
    "1.2.840.10045.4.1": "sha1ECDSA",
    "1.2.840.10045.4.3.2": "sha256ECDSA",
    "1.2.840.10045.4.3.3": "sha384ECDSA",
    "1.2.840.10045.4.3.4": "sha512ECDSA",
}
WEAK_SIGNATURE_PREFIXES = ("md2", "md4", "md5", "sha1")


def days_remaining(not_after: Any, now: dt.datetime) -> Optional[int]:
    """Whole days from ``now`` (the server's clock) until ``not_after``; negative once expired."""
    end = parse_utc(not_after)
    return None if end is None else int((end - now).total_seconds() // 86400)


def signature_algorithm(raw_data: Any) -> Optional[str]:
    """The signature algorithm named in the certificate's DER (base64 RawData), as Windows names it.

    Read from the DER rather than the SignatureAlgorithm property: that is an Oid object whose text over remoting
    is its type name."""
    if not raw_data or not HAS_CRYPTOGRAPHY:
        return None
    try:
        oid = x509.load_der_x509_certificate(base64.b64decode(str(raw_data))).signature_algorithm_oid.dotted_string
    except (ValueError, TypeError, binascii.Error):
        return None
    return SIGNATURE_ALGORITHMS.get(oid, oid)


def is_weak_signature(algorithm: Optional[str]) -> bool:
    return bool(algorithm) and str(algorithm).lower().startswith(WEAK_SIGNATURE_PREFIXES)


def find_certificate(thumbprint: Optional[str], certificates: list[dict]) -> Optional[dict]:
    return next((c for c in certificates if same_thumbprint(c.get("Thumbprint"), thumbprint)), None)


def certificate_problems(cert: dict, now: dt.datetime) -> list[str]:
    """Why ``cert`` cannot serve as the Auth certificate: the adoption checks plus HealthChecker's SHA-1 finding."""
    found = auth_certificate_problems(cert, now)
    algorithm = signature_algorithm(cert.get("RawData"))
    if is_weak_signature(algorithm):
        found.append("it is signed with %s (a SHA-1 or older hash; use SHA-256 or better)" % algorithm)
    return found


def certificate_facts(thumbprint: Optional[str], cert: Optional[dict], now: dt.datetime) -> Optional[dict]:
    """AuthConfig's view of one of its certificates: what can be read of it (only the thumbprint once it has left
    every store); None when AuthConfig names none."""
    thumb = thumbprint_key(thumbprint)
    if thumb is None:
        return None
    cert = cert or {}
    end = parse_utc(cert.get("NotAfter"))
    size = cert.get("PublicKeySize")
    return {
        "thumbprint": thumb,
        "not_before": cert.get("NotBefore"),
        "not_after": cert.get("NotAfter"),
        "days_remaining": days_remaining(cert.get("NotAfter"), now),
        "key_size": size if isinstance(size, int) else None,
        "signature_algorithm": signature_algorithm(cert.get("RawData")),
        "expired": None if end is None else end <= now,
    }


def store_state(thumbprint: Optional[str], certificates: list[dict], now: dt.datetime) -> dict:
    """The certificate ``thumbprint`` as one server's store holds it, and whether that server can sign with it."""
    thumb = thumbprint_key(thumbprint)
    cert = find_certificate(thumb, certificates)
    state: dict[str, Any] = {
        "thumbprint": thumb,
        "present": cert is not None,
        "has_private_key": None,
        "private_key_exportable": None,
        "not_before": None,
        "not_after": None,
        "days_remaining": None,
        "key_size": None,
        "signature_algorithm": None,
        "usable": False,
        "problems": [],
    }
    if cert is None:
        state["problems"] = (
            ["it is not in the certificate store of this server"] if thumb else ["AuthConfig names no certificate"]
        )
        return state
    facts = certificate_facts(thumb, cert, now) or {}
    problems = certificate_problems(cert, now)
    state.update(
        has_private_key=bool(cert.get("HasPrivateKey")),
        private_key_exportable=cert.get("PrivateKeyExportable"),
        not_before=facts["not_before"],
        not_after=facts["not_after"],
        days_remaining=facts["days_remaining"],
        key_size=facts["key_size"],
        signature_algorithm=facts["signature_algorithm"],
        usable=not problems,
        problems=problems,
    )
    return state


# Identity (ServerFQDN\\Thumbprint) tells whose store a row of a batched read comes from.
STORE_PROPERTIES = CERTIFICATE_PROPERTIES + ["Identity"]


def name_pattern(server: dict) -> "re.Pattern[str]":
    """The server's FQDN or name as a whole word of a text (EX1 is not in EX10 or ex1-dag)."""
    names = "|".join(re.escape(str(name)) for name in (server.get("Fqdn"), server["Name"]) if name)
    return re.compile(r"(?<![\w.-])(?:%s)(?![\w-])" % names, re.IGNORECASE)


def read_stores(client: Any, servers: list[dict]) -> list[tuple[Optional[list[dict]], Optional[str]]]:
    """Each server's certificates, read through the connected server as the statements of one pipeline: per server
    (rows, None), or (None, Exchange's error). The rows name their store (Identity ``ServerFQDN\\Thumbprint``), an
    error the server it could not reach; the client reads alone what it cannot attribute."""
    reads = [call("Get-ExchangeCertificate", STORE_PROPERTIES, Server=server["Name"]) for server in servers]
    by_fqdn = {str(server["Fqdn"]).casefold(): index for index, server in enumerate(servers) if server.get("Fqdn")}
    names = [name_pattern(server) for server in servers]

    def row_owner(row: dict) -> Optional[int]:
        return by_fqdn.get(str(row.get("Identity") or "").split("\\", 1)[0].casefold())

    def error_owner(text: str) -> Optional[int]:
        # Only an error naming exactly one of the servers is that server's; any other is read again alone.
        named = [index for index, pattern in enumerate(names) if pattern.search(text)]
        return named[0] if len(named) == 1 else None

    stores = []
    # RBAC or language refusals raise: they are the whole run's failure, not one server's.
    for rows, error in client.read_statements(reads, row_owner, error_owner):
        stores.append((None, error.msg) if error is not None else (rows, None))
    return stores
