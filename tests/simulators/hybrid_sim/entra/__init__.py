"""Simulated Entra ID (OpenID configuration, client-credentials token endpoint) and Microsoft Graph v1.0."""

from __future__ import annotations

from .certs import TestCertificate, make_certificate
from .seed import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PERMISSIONS,
    DEFAULT_TENANT_DOMAIN,
    DEFAULT_TENANT_ID,
    EXCHANGE_ONLINE_APP_ID,
    EXCHANGE_ONLINE_SP_ID,
    FULL_ACCESS_AS_APP_ROLE_ID,
    GRAPH_APP_ROLES,
    MICROSOFT_GRAPH_APP_ID,
    MICROSOFT_GRAPH_SP_ID,
    hash_secret,
    initial_entra_state,
)
from .server import EntraServer, Fault

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_PERMISSIONS",
    "DEFAULT_TENANT_DOMAIN",
    "DEFAULT_TENANT_ID",
    "EXCHANGE_ONLINE_APP_ID",
    "EXCHANGE_ONLINE_SP_ID",
    "FULL_ACCESS_AS_APP_ROLE_ID",
    "GRAPH_APP_ROLES",
    "MICROSOFT_GRAPH_APP_ID",
    "MICROSOFT_GRAPH_SP_ID",
    "EntraServer",
    "Fault",
    "TestCertificate",
    "hash_secret",
    "initial_entra_state",
    "make_certificate",
]
