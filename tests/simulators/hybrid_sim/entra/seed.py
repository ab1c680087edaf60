"""The initial ``entra`` section of the simulators' state: one tenant with the objects the collection touches."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any, Iterable

from ..state import iso
from .certs import make_certificate

DEFAULT_TENANT_DOMAIN = "contoso.onmicrosoft.com"
DEFAULT_TENANT_ID = "6a4b3c2d-1e0f-4a5b-8c7d-9e8f7a6b5c4d"
DEFAULT_CLIENT_ID = "3f2e1d0c-9b8a-4766-a5b4-c3d2e1f0a9b8"
# A test-only secret: the state keeps only its hash, so tests can grep state and output for this value.
DEFAULT_CLIENT_SECRET = "sim~Secret-9f8e7d6c5b4a3f2e1d0c"
DEFAULT_PERMISSIONS = ("Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All", "Organization.Read.All")

EXCHANGE_ONLINE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
EXCHANGE_ONLINE_SP_ID = "0c3d9f6e-5a1b-4c2d-8e7f-1a2b3c4d5e6f"
FULL_ACCESS_AS_APP_ROLE_ID = "dc890d15-9560-4a4c-9b7f-a736ec74ec40"
MICROSOFT_TENANT_ID = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
MICROSOFT_GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
MICROSOFT_GRAPH_SP_ID = "5b1e8c2a-7d3f-4e9a-b6c0-2f4d6e8a0b1c"
# Microsoft Graph's application roles the dedicated hybrid application's Graph workflow asks for, with the ids the
# collection's reference data cites (_clouds.API_PERMISSION_FAMILIES), plus one role the collection never asks for.
GRAPH_APP_ROLES = (
    ("Calendars.Read", "798ee544-9d2d-430c-a058-570e29e34338", "Read calendars in all mailboxes"),
    ("MailboxSettings.Read", "40f97065-369a-49f4-947c-6a255697ae91", "Read all user mailbox settings"),
    ("MailTips.ReadBasic.All", "a2c9652d-4d7f-4e4e-9d75-ac32fdc6f413", "Read mail tips for all users"),
    ("ProfilePhoto.Read.All", "e24d31aa-e1ab-4c80-85fe-23018690335d", "Read profile photo of a user or group"),
    ("User.Read.All", "df021288-bdef-4463-88db-98f22de89214", "Read all users' full profiles"),
)
FOREIGN_KEY_IDS = ("8e1a7c54-2b3d-4f60-9a1b-0c2d3e4f5a61", "8e1a7c54-2b3d-4f60-9a1b-0c2d3e4f5a62")


def hash_secret(secret: str) -> str:
    return hashlib.sha256(("hybrid_sim:" + secret).encode("utf-8")).hexdigest()


def key_credential(cert, display_name: str, key_id: str) -> dict[str, Any]:
    """A keyCredential as Entra stores it (the ``key`` is kept; Graph hides it unless $select asks for it)."""
    return {
        "customKeyIdentifier": cert.thumbprint,
        "displayName": display_name,
        "endDateTime": iso(cert.not_after),
        "key": cert.base64_der,
        "keyId": key_id,
        "startDateTime": iso(cert.not_before),
        "type": "AsymmetricX509Cert",
        "usage": "Verify",
    }


def exchange_online_service_principal(foreign_keys: int = 2) -> dict[str, Any]:
    now = dt.datetime.now(dt.timezone.utc)
    keys = []
    for index in range(foreign_keys):
        cert = make_certificate(
            common_name=f"Foreign Exchange Server {index + 1}", days=730, start=now - dt.timedelta(days=30), key_index=1
        )
        keys.append(key_credential(cert, f"CN=Foreign Exchange Server {index + 1}", FOREIGN_KEY_IDS[index % 2]))
    return {
        "id": EXCHANGE_ONLINE_SP_ID,
        "accountEnabled": True,
        "appId": EXCHANGE_ONLINE_APP_ID,
        "appDisplayName": "Office 365 Exchange Online",
        "appOwnerOrganizationId": MICROSOFT_TENANT_ID,
        "displayName": "Office 365 Exchange Online",
        "servicePrincipalType": "Application",
        "servicePrincipalNames": [EXCHANGE_ONLINE_APP_ID, "https://outlook.office365.com/"],
        "appRoles": [
            {
                "allowedMemberTypes": ["Application"],
                "description": "Allows the app to have full access via Exchange Web Services to all mailboxes.",
                "displayName": "Use Exchange Web Services with full access to all mailboxes",
                "id": FULL_ACCESS_AS_APP_ROLE_ID,
                "isEnabled": True,
                "origin": "Application",
                "value": "full_access_as_app",
            },
            {
                "allowedMemberTypes": ["Application"],
                "description": "Allows the app to read mail in all mailboxes without a signed-in user.",
                "displayName": "Read mail in all mailboxes",
                "id": "810c84a8-4a9e-49e6-bf7d-12d183f40d01",
                "isEnabled": True,
                "origin": "Application",
                "value": "Mail.Read",
            },
        ],
        "keyCredentials": keys,
        "passwordCredentials": [],
        "tags": [],
    }


def microsoft_graph_service_principal() -> dict[str, Any]:
    """Microsoft Graph's service principal as every tenant has it (its app roles: the application permissions)."""
    return {
        "id": MICROSOFT_GRAPH_SP_ID,
        "accountEnabled": True,
        "appId": MICROSOFT_GRAPH_APP_ID,
        "appDisplayName": "Microsoft Graph",
        "appOwnerOrganizationId": MICROSOFT_TENANT_ID,
        "displayName": "Microsoft Graph",
        "servicePrincipalType": "Application",
        "servicePrincipalNames": [MICROSOFT_GRAPH_APP_ID, "https://graph.microsoft.com"],
        "appRoles": [
            {"allowedMemberTypes": ["Application"], "description": display, "displayName": display, "id": role_id,
             "isEnabled": True, "origin": "Application", "value": value}
            for value, role_id, display in GRAPH_APP_ROLES
        ],
        "keyCredentials": [],
        "passwordCredentials": [],
        "tags": [],
    }


def initial_entra_state(
    tenant_domain: str = DEFAULT_TENANT_DOMAIN,
    tenant_id: str = DEFAULT_TENANT_ID,
    organization_name: str = "Contoso",
    verified_domains: Iterable[str] = ("contoso.com",),
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str | None = DEFAULT_CLIENT_SECRET,
    client_certificate_pem: str | None = None,
    permissions: Iterable[str] = DEFAULT_PERMISSIONS,
    foreign_keys: int = 2,
    replication_delay_seconds: float = 0,
) -> dict[str, Any]:
    """The ``entra`` section: ``{"tenants": {tenant_id: {...}}, "token_signing_key": ...}``.

    ``replication_delay_seconds``: Entra's eventual consistency (hybrid-2026-facts.md, "Microsoft Entra is
    eventually consistent"): for that many seconds of the simulated clock after an application, service principal
    or app role assignment is created, Graph refuses what depends on it (see ``graph.py``). 0 = replicated at once.

    ``clients`` holds the registered automation app (the Graph caller): its secret only as a hash, optional
    certificates (PEM) for client assertions, and the application permissions admin-consented to it.
    """
    extra = [d for d in verified_domains if d != tenant_domain]
    default_domain = extra[0] if extra else tenant_domain
    domains = [
        {
            "id": name,
            "authenticationType": "Managed",
            "isAdminManaged": True,
            "isDefault": name == default_domain,
            "isInitial": name == tenant_domain,
            "isRoot": True,
            "isVerified": True,
            "supportedServices": ["Email", "OfficeCommunicationsOnline"],
        }
        for name in [tenant_domain, *extra]
    ]
    organization = {
        "id": tenant_id,
        "displayName": organization_name,
        "tenantType": "AAD",
        "verifiedDomains": [
            {
                "capabilities": "Email, OfficeCommunicationsOnline",
                "isDefault": d["isDefault"],
                "isInitial": d["isInitial"],
                "name": d["id"],
                "type": "Managed",
            }
            for d in domains
        ],
    }
    client = {
        "displayName": "exchange-hybrid-automation",
        "secretHashes": [hash_secret(client_secret)] if client_secret else [],
        "certificates": [client_certificate_pem] if client_certificate_pem else [],
        "permissions": list(permissions),
    }
    return {
        "token_signing_key": secrets.token_hex(32),
        "tenants": {
            tenant_id: {
                "tenant_id": tenant_id,
                "domains": domains,
                "organization": organization,
                "servicePrincipals": [exchange_online_service_principal(foreign_keys), microsoft_graph_service_principal()],
                "applications": [],
                "appRoleAssignments": [],
                "clients": {client_id: client},
                "replication": {"delay_seconds": float(replication_delay_seconds), "pending": {}},
            }
        },
    }
