# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small value helpers used across the collection: UTC times, thumbprints, domain names, GUIDs.

PRIVATE to the collection: it can change at any time.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Optional

from ansible_collections.exchange.hybrid.plugins.module_utils._errors import ExchangeInputError

_THUMBPRINT = re.compile(r"^[0-9A-Fa-f]{40}$")
# A GUID in its registry form (8-4-4-4-12 hexadecimal digits); ``search`` finds one inside a URL path.
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))+$")


def normalize_thumbprint(value: Optional[str], option: str = "thumbprint") -> Optional[str]:
    """Upper-case 40-hex thumbprint; spaces/colons and invisible marks from copy-paste are dropped."""
    if value is None:
        return None
    cleaned = re.sub(r"[\s:\u200e\u200f\ufeff]", "", str(value)).upper()
    if not _THUMBPRINT.match(cleaned):
        raise ExchangeInputError(
            "%s must be a certificate thumbprint of 40 hexadecimal characters (SHA-1), got %d characters; copy it "
            "from Get-ExchangeCertificate's Thumbprint column" % (option, len(str(value)))
        )
    return cleaned


def is_thumbprint(value: Any) -> bool:
    """40 hexadecimal characters (a SHA-1 thumbprint), either case."""
    return isinstance(value, str) and bool(_THUMBPRINT.match(value))


def thumbprint_key(value: Any) -> Optional[str]:
    """The form thumbprints are compared in (upper case); None for an empty value."""
    return str(value).upper() if value else None


def same_thumbprint(left: Optional[str], right: Optional[str]) -> bool:
    return bool(left) and bool(right) and thumbprint_key(left) == thumbprint_key(right)


def is_guid(value: Any) -> bool:
    return isinstance(value, str) and bool(GUID.fullmatch(value))


def is_domain_name(value: Any) -> bool:
    return isinstance(value, str) and bool(_DOMAIN.match(value))


def parse_utc(value: Optional[str]) -> Optional[dt.datetime]:
    """``yyyy-MM-ddTHH:mm:ssZ`` (or any ISO 8601 text) as an aware UTC datetime."""
    if not value:
        return None
    text = str(value).strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc)


def format_utc(moment: dt.datetime) -> str:
    """``yyyy-MM-ddTHH:mm:ssZ``; a naive datetime is taken as UTC."""
    moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class SecureText(str):
    """A value that travels as a SecureString: the client encrypts it with the runspace pool's session key (MS-PSRP
    key exchange) for a cmdlet's SecureString parameter (a PFX password); the catalog refuses a plain string there,
    as PowerShell does. Its repr never shows the text."""

    def __repr__(self) -> str:
        return "SecureText(********)"
