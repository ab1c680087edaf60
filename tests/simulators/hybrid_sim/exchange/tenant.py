"""What the Exchange side reads from the simulated Entra (``state["entra"]``): tenants, domains, keys.

Written against the contract in docs/dev/architecture.md: ``state["entra"]["tenants"][<tenant id>]`` holds Graph
objects, ``servicePrincipals`` and ``applications`` whose ``keyCredentials`` keep ``key`` (base64 DER).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
from typing import Any, Optional

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def tenants(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return ((state.get("entra") or {}).get("tenants")) or {}


def domain_names(tenant: dict[str, Any]) -> list[str]:
    names = []
    for domain in tenant.get("domains") or []:
        name = domain.get("id") if isinstance(domain, dict) else domain
        if name:
            names.append(str(name).lower())
    return names


def resolve_tenant(state: dict[str, Any], text: Optional[str]) -> Optional[str]:
    """The tenant id named by a tenant id or by one of the tenant's domains (case-insensitive)."""
    if not text:
        return None
    wanted = str(text).strip().lower()
    for tid, tenant in tenants(state).items():
        if tid.lower() == wanted or wanted in domain_names(tenant):
            return tid
    return None


def is_guid(text: str) -> bool:
    return bool(_GUID.match(text or ""))


def parse_graph_date(text: Any) -> Optional[dt.datetime]:
    if not text:
        return None
    value = str(text).strip().replace("Z", "+00:00")
    value = re.sub(r"\.(\d{6})\d+", r".\1", value)
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment


def key_thumbprint(credential: dict[str, Any]) -> Optional[str]:
    """SHA-1 of the base64-decoded ``key`` (the DER certificate), upper-case hex: the certificate's thumbprint."""
    try:
        return hashlib.sha1(base64.b64decode(credential.get("key") or "", validate=False)).hexdigest().upper()
    except (binascii.Error, ValueError):
        return None


def find_by_app_id(tenant: dict[str, Any], collection: str, app_id: str) -> Optional[dict[str, Any]]:
    for item in tenant.get(collection) or []:
        if str(item.get("appId", "")).lower() == app_id.lower():
            return item
    return None
