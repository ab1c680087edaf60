"""The ``exchange`` section of the simulators' state: one Exchange organization.

Shape (values in JSON form: ISO dates, base64 bytes, enum names; ``objects.py`` types them for remoting):

    {"organization": {Name, Guid, ...Get-OrganizationConfig properties},
     "ad_domain": "contoso.com", "domain_controller": "DC01.contoso.com",
     "servers": {"EX01": {name, fqdn, domain, admin_display_version {Major..}, exsetup_build {Major..}, roles, site,
                          edition, certificates [ExchangeCertificate...], files {path: base64}, offline,
                          services {"MSExchangeHM": {"Status": "Running", "ready_at": <unix time>, "restarts": n}},
                          app_pools {"MSExchangeOWAAppPool": {"State": "Started", "recycles": n}},
                          registry {"HKLM:\\SOFTWARE\\exchange.hybrid": {"AuthCertificateRefreshedFor": ...}}}},
     "auth_config": {...Get-AuthConfig}, "auth_servers": [...], "partner_applications": [...],
     "intra_organization_connectors": [...], "accepted_domains": [...], "push_notification_apps": [OnPrem-Proxy],
     "setting_overrides": [...], "variant_configuration_refreshes": [{server, time}],
     "mailboxes": [{Name, Alias, PrimarySmtpAddress, UserPrincipalName, SamAccountName, Guid}],
     "settings": {"health_ready_delay_seconds": 3, "auth_servicelet_delay_seconds": 3600},
     "rbac": {"contoso\\viewer": ["View-Only Organization Management"]}}    (rbac.py)
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Iterable, Mapping, Optional

from ansible_collections.exchange.hybrid.plugins.module_utils._cmdlet_catalog import version_from_text

from . import certificates as certs
from .rbac import rbac_state

EXCHANGE_ONLINE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
AUTH_CERTIFICATE_SUBJECT = "CN=Microsoft Exchange Server Auth Certificate"
DEFAULT_PUSH_URI = "https://outlook.office365.com/PushNotifications"
HEALTH_SERVICES = {
    "MSExchangeHM": "Microsoft Exchange Health Manager",
    "MSExchangeServiceHost": "Microsoft Exchange Service Host",
    "MSExchangeADTopology": "Microsoft Exchange Active Directory Topology",
    "W3SVC": "World Wide Web Publishing Service",
}

# The IIS application pools of Exchange's OWA and ECP virtual directories (the names MonitorExchangeAuthCertificate.ps1
# recycles), and the others a Mailbox server runs.
APP_POOLS = (
    "MSExchangeOWAAppPool",
    "MSExchangeECPAppPool",
    "MSExchangeServicesAppPool",
    "MSExchangePowerShellAppPool",
)


def _version_dict(version: tuple[int, int, int, int]) -> dict[str, int]:
    return dict(zip(("Major", "Minor", "Build", "Revision"), version))


def version_tuple(value: dict[str, int]) -> tuple[int, int, int, int]:
    return value["Major"], value["Minor"], value["Build"], value["Revision"]


def spec_dict(spec: Any) -> dict[str, Any]:
    """A server description: a dict ``{"name", "version" ("Version 15.0 (Build 1497.2)"), "exsetup_build"?,
    "roles"?, "site"?, "domain"?, "fqdn"?}`` or a ``simulation.ServerSpec``."""
    if isinstance(spec, dict):
        return dict(spec)
    return {
        "name": spec.name,
        "version": spec.version_text,
        "exsetup_build": getattr(spec, "exsetup_version", None),
        "roles": list(getattr(spec, "roles", None) or []),
        "site": getattr(spec, "site", None),
        "domain": getattr(spec, "domain", None),
        "offline": getattr(spec, "offline", False),
    }


def server_entry(spec: dict[str, Any], ad_domain: str, org_dn: str) -> dict[str, Any]:
    """One server entry of the state from a :func:`spec_dict` description."""
    name = spec["name"]
    version = version_from_text(spec["version"])
    exsetup = version_from_text(spec["exsetup_build"]) if spec.get("exsetup_build") else version
    if version[1] == 0 and version[0] == 15:
        default_roles = ["Mailbox", "ClientAccess"]
    else:
        default_roles = ["Mailbox"]
    roles = list(spec.get("roles") or default_roles)
    fqdn = spec.get("fqdn") or "%s.%s" % (name.lower(), spec.get("domain") or ad_domain)
    site = spec.get("site") or "Default-First-Site-Name"
    if "/" not in site:
        site = "%s/Configuration/Sites/%s" % (ad_domain, site)
    return {
        "name": name,
        "fqdn": fqdn,
        "domain": spec.get("domain") or ad_domain,
        "guid": str(uuid.uuid4()),
        "admin_display_version": _version_dict(version),
        "exsetup_build": _version_dict(exsetup),
        "roles": roles,
        "site": site,
        "edition": spec.get("edition", "Standard"),
        "distinguished_name": "CN=%s,CN=Servers,CN=Exchange Administrative Group (FYDIBOHF23SPDLT),CN=Administrative "
        "Groups,%s" % (name, org_dn),
        "certificates": [],
        "files": {},
        "services": {svc: {"Status": "Running", "ready_at": 0, "restarts": 0} for svc in HEALTH_SERVICES},
        "app_pools": {pool: {"State": "Started", "recycles": 0} for pool in APP_POOLS},
        "registry": {},
        # True: the server is down; it stays listed in AD (Get-ExchangeServer) but answers no RPC from the others.
        "offline": bool(spec.get("offline")),
    }


def auth_server_entry(org_dn: str, name: str, kind: str, tenant_id: str, domains: list[str]) -> dict[str, Any]:
    """An AuthServer as HCW leaves it (exchange-facts (a)): ``MicrosoftACS`` from ACS's tenant metadata or
    ``AzureAD`` from Entra's federation metadata, Realm = the tenant ID."""
    if kind == "MicrosoftACS":
        url = "https://accounts.accesscontrol.windows.net/%s/metadata/json/1" % tenant_id
        issuer = "00000001-0000-0000-c000-000000000000"
        token = "https://accounts.accesscontrol.windows.net/%s/tokens/OAuth/2" % tenant_id
        authorize = None
    else:
        url = "https://login.windows.net/%s/federationmetadata/2007-06/federationmetadata.xml" % tenant_id
        issuer = "https://sts.windows.net/%s/" % tenant_id
        token = "https://login.windows.net/%s/oauth2/token" % tenant_id
        authorize = "https://login.windows.net/%s/oauth2/authorize" % tenant_id
    return {
        "Name": name,
        "Identity": name,
        "Id": name,
        "Guid": str(uuid.uuid4()),
        "DistinguishedName": "CN=%s,CN=Auth Servers,CN=Auth Configuration,%s" % (name, org_dn),
        "Type": kind,
        "AuthMetadataUrl": url,
        "IssuerIdentifier": issuer,
        "Realm": tenant_id,
        "TokenIssuingEndpoint": token,
        "AuthorizationEndpoint": authorize,
        "ApplicationIdentifier": None,
        "DomainName": list(domains),
        "GraphBaseUrl": None,
        "Enabled": True,
        "IsDefaultAuthorizationEndpoint": False,
        "TrustAnySSLCertificate": False,
    }


def accepted_domain_entry(org_dn: str, domain: str, default: bool) -> dict[str, Any]:
    """An authoritative accepted domain (Get-AcceptedDomain: Name, DomainName, DomainType, Default)."""
    return {
        "Name": domain,
        "Identity": domain,
        "Guid": str(uuid.uuid4()),
        "DistinguishedName": "CN=%s,CN=Accepted Domains,CN=Transport Settings,%s" % (domain, org_dn),
        "DomainName": domain,
        "DomainType": "Authoritative",
        "Default": default,
        "MatchSubDomains": False,
        "AddressBookEnabled": True,
    }


def hcw_auth_servers(org_dn: str, tenant_id: str, domains: list[str], duplicate_evosts: bool) -> list[dict[str, Any]]:
    """HCW's two AuthServers (``ACS - <GUID>``, ``EvoSts - <GUID>``), and with ``duplicate_evosts`` a second
    AzureAD one (``EvoSTS``) for the same realm."""
    servers = [
        auth_server_entry(org_dn, "ACS - %s" % uuid.uuid4(), "MicrosoftACS", tenant_id, domains),
        auth_server_entry(org_dn, "EvoSts - %s" % uuid.uuid4(), "AzureAD", tenant_id, domains),
    ]
    if duplicate_evosts:
        servers.append(auth_server_entry(org_dn, "EvoSTS", "AzureAD", tenant_id, []))
    return servers


def _mailbox(name: str, ad_domain: str) -> dict[str, Any]:
    alias = name.replace(" ", "").lower()
    return {
        "Name": name,
        "Alias": alias,
        "PrimarySmtpAddress": "%s@%s" % (alias, ad_domain),
        "UserPrincipalName": "%s@%s" % (alias, ad_domain),
        "SamAccountName": alias,
        "Guid": str(uuid.uuid5(uuid.NAMESPACE_DNS, "%s.%s" % (alias, ad_domain))),
    }


# The name and reason Microsoft's ConfigureExchangeHybridApplication.ps1 gives the override that turns the dedicated
# hybrid application on (its EnableExchangeHybridApplicationOverride region, newest version, May 2026).
SCRIPT_OVERRIDE_NAME = "EnableExchangeHybrid3PAppFeature"
SCRIPT_OVERRIDE_REASON = "Created by ConfigureExchangeHybridApplication.ps1 on %s"


def setting_override_entry(org_dn: str, name: str, reason: str, parameters: list[str], now: dt.datetime) -> dict:
    """A Global\\ExchangeOnpremAsThirdPartyAppId override as New-SettingOverride leaves it."""
    return {
        "Name": name,
        "Identity": name,
        "Guid": str(uuid.uuid4()),
        "DistinguishedName": "CN=%s,CN=Setting Overrides,CN=Global Settings,%s" % (name, org_dn),
        "Reason": reason,
        "ComponentName": "Global",
        "SectionName": "ExchangeOnpremAsThirdPartyAppId",
        "Parameters": list(parameters),
        "Server": [],
        "MinVersion": None,
        "MaxVersion": None,
        "WhenCreatedUTC": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def hybrid_app_overrides(org_dn: str, now: dt.datetime, script: bool, duplicates: bool) -> list[dict[str, Any]]:
    """The override Microsoft's script makes (``script``) and, with ``duplicates``, a second one for the same section
    under another name (HealthChecker's MultipleSettingOverrides finding)."""
    overrides = []
    if script or duplicates:
        overrides.append(
            setting_override_entry(
                org_dn, SCRIPT_OVERRIDE_NAME, SCRIPT_OVERRIDE_REASON % now.strftime("%m/%d/%Y %H:%M:%S"),
                ["Enabled=true"], now,
            )
        )
    if duplicates:
        overrides.append(
            setting_override_entry(org_dn, "Hybrid3PApp", "Enabled by hand after a support call", ["Enabled=true"], now)
        )
    return overrides


def initial_exchange_state(
    servers: Iterable[dict[str, Any]],
    organization_name: str = "Contoso",
    ad_domain: Optional[str] = None,
    tenant_domain: str = "contoso.onmicrosoft.com",
    now: Optional[dt.datetime] = None,
    auth_certificate: bool = True,
    intra_organization_connector: bool = True,
    health_ready_delay_seconds: float = 3.0,
    auth_servicelet_delay_seconds: float = 3600.0,
    rbac: Optional[Mapping[str, Iterable[str]]] = None,
    hcw: bool = False,
    tenant_id: Optional[str] = None,
    hybrid_domains: Optional[Iterable[str]] = None,
    duplicate_evosts: bool = False,
    accepted_domains: Optional[Iterable[str]] = None,
    dauth_only: bool = False,
    hybrid_app_override: bool = False,
    duplicate_overrides: bool = False,
    auth_certificate_missing_on: Iterable[str] = (),
) -> dict[str, Any]:
    """A freshly installed organization: setup's per-server "Microsoft Exchange" certificate, setup's Auth
    certificate on every server as AuthConfig's current one (``auth_certificate``), the Exchange Online partner
    application (enabled), optionally the IntraOrganizationConnector the HCW leaves, the OnPrem-Proxy push app
    (disabled), no AuthServers, no setting overrides, MSExchangeHM running and ready. ``rbac`` maps users
    (``DOMAIN\\user``) to role groups (rbac.py); users not in it are Organization Management.

    ``hcw=True`` seeds what the Hybrid Configuration Wizard leaves (:func:`hcw_auth_servers`): the
    ``ACS - <GUID>`` (MicrosoftACS) and ``EvoSts - <GUID>`` (AzureAD) AuthServers for ``tenant_id`` with
    ``hybrid_domains`` (default the AD domain) as DomainName, beside the IntraOrganizationConnector and the
    Exchange Online partner application. ``duplicate_evosts=True`` adds a second AzureAD AuthServer for the same
    realm (the older name ``EvoSTS``, as a manual procedure run after HCW leaves it).

    ``accepted_domains`` (default: the AD domain, the default authoritative one setup creates, and with ``hcw`` the
    tenant's coexistence domain ``<tenant>.mail.onmicrosoft.com`` HCW adds). ``dauth_only=True`` is an
    organization whose hybrid uses DAuth (the federation trust) only: no IntraOrganizationConnector and no Exchange
    Online partner application, which is what Microsoft's script checks before it turns the dedicated application
    on (CSS-Exchange PR #2399). ``hybrid_app_override=True`` seeds the Global\\ExchangeOnpremAsThirdPartyAppId
    override as Microsoft's script creates it; ``duplicate_overrides=True`` that one and a second one for the
    same section under another name.

    ``auth_certificate_missing_on`` names servers whose store lacks setup's Auth certificate, as when the AuthAdmin
    servicelet has not deployed it there (replication across AD sites, CSS-Exchange issue 1662)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    specs = [spec_dict(s) for s in servers]
    ad_domain = ad_domain or next((s["domain"] for s in specs if s.get("domain")), None)
    ad_domain = ad_domain or "%s.com" % organization_name.lower()
    dc_path = ",".join("DC=%s" % part for part in ad_domain.split("."))
    org_dn = "CN=%s,CN=Microsoft Exchange,CN=Services,CN=Configuration,%s" % (organization_name, dc_path)
    server_map: dict[str, dict[str, Any]] = {}
    for spec in specs:
        entry = server_entry(spec, ad_domain, org_dn)
        der = certs.make_certificate(
            now, "CN=%s" % entry["name"], [entry["name"], entry["fqdn"]], reuse_key="server:%d" % len(server_map)
        )[0]
        entry["certificates"].append(
            certs.store_entry(der, entry["fqdn"], "Microsoft Exchange", "IMAP, POP, IIS, SMTP", True, False)
        )
        server_map[entry["name"]] = entry
    if not server_map:
        raise ValueError("an organization needs at least one server")

    auth_config = {
        "Name": "Auth Configuration",
        "Identity": "Auth Configuration",
        "DistinguishedName": "CN=Auth Configuration,%s" % org_dn,
        "CurrentCertificateThumbprint": None,
        "PreviousCertificateThumbprint": None,
        "NextCertificateThumbprint": None,
        "NextCertificateEffectiveDate": None,
        "ServiceName": EXCHANGE_ONLINE_APP_ID,
        "Realm": "",
        "IssuerIdentifier": "",
        "ObjectClass": ["top", "msExchAuthAuthConfig"],
        "ExchangeVersion": "0.20 (15.0.0.0)",
    }
    if auth_certificate:
        # Setup's Auth certificate (subject CN=Microsoft Exchange Server Auth Certificate, Services SMTP), deployed
        # to every server by the AuthAdmin servicelet.
        der = certs.make_certificate(now, AUTH_CERTIFICATE_SUBJECT, [], reuse_key="auth")[0]
        missing = {name.upper() for name in auth_certificate_missing_on}
        for entry in server_map.values():
            if entry["name"].upper() in missing:
                continue
            entry["certificates"].append(
                certs.store_entry(der, entry["fqdn"], "Microsoft Exchange Server Auth Certificate", "SMTP", True, True)
            )
        auth_config["CurrentCertificateThumbprint"] = certs.thumbprint(der)

    ioc = []
    if intra_organization_connector and not dauth_only:
        ioc.append(
            {
                "Name": "HybridIOC - %s" % uuid.uuid4(),
                "Enabled": True,
                "TargetAddressDomains": [tenant_domain.replace(".onmicrosoft.", ".mail.onmicrosoft.")],
                "DiscoveryEndpoint": "https://autodiscover-s.outlook.com/autodiscover/autodiscover.svc",
                "Guid": str(uuid.uuid4()),
            }
        )
        ioc[0]["Identity"] = ioc[0]["Name"]

    return {
        "organization": {
            "Name": organization_name,
            "Identity": organization_name,
            "Guid": str(uuid.uuid4()),
            "DistinguishedName": org_dn,
            "OAuth2ClientProfileEnabled": False,
            "HybridConfigurationStatus": None,
            "MapiHttpEnabled": True,
            "IsUpgradingOrganization": False,
            "AdminDisplayVersion": "0.20 (15.1.0.0)",
        },
        "ad_domain": ad_domain,
        "domain_controller": "DC01.%s" % ad_domain,
        # The mailboxes Test-OAuthConnectivity -Mailbox can name: the administrator's and a user's.
        "mailboxes": [_mailbox(name, ad_domain) for name in ("Administrator", "Megan Bowen")],
        "servers": server_map,
        "auth_config": auth_config,
        "auth_servers": (
            hcw_auth_servers(
                org_dn, tenant_id or str(uuid.uuid4()), list(hybrid_domains or [ad_domain]), duplicate_evosts
            )
            if hcw or duplicate_evosts
            else []
        ),
        "partner_applications": [] if dauth_only else [
            {
                "Name": "Exchange Online",
                "Identity": "Exchange Online",
                "Guid": str(uuid.uuid4()),
                "Enabled": True,
                "ApplicationIdentifier": EXCHANGE_ONLINE_APP_ID,
                "Realm": "",
                "AuthMetadataUrl": None,
                "UseAuthServer": True,
                "AcceptSecurityIdentifierInformation": False,
                "LinkedAccount": "%s/Users/Exchange Online-ApplicationAccount" % ad_domain,
                "AccountType": "OrganizationalAccount",
                "IssuerIdentifier": "",
                "ActAsPermissions": [],
                "AppOnlyPermissions": [],
                "CertificateStrings": [],
                "DistinguishedName": "CN=Exchange Online,CN=Partner Applications,CN=Auth Configuration,%s" % org_dn,
            }
        ],
        "intra_organization_connectors": ioc,
        "accepted_domains": [
            accepted_domain_entry(org_dn, domain, index == 0)
            for index, domain in enumerate(
                accepted_domains
                if accepted_domains is not None
                else [ad_domain] + ([tenant_domain.replace(".onmicrosoft.", ".mail.onmicrosoft.")] if hcw else [])
            )
        ],
        "push_notification_apps": [
            {
                "Name": "OnPrem-Proxy",
                "Identity": "OnPrem-Proxy",
                "DisplayName": "On Premises Proxy app",
                "Enabled": False,
                "Organization": None,
                "Uri": None,
                "Guid": str(uuid.uuid4()),
                "IsValid": True,
                "ExchangeVersion": "0.20 (15.0.0.0)",
                "DistinguishedName": "CN=OnPrem-Proxy,CN=Push Notifications Settings,%s" % org_dn,
                "ObjectClass": ["top", "msExchPushNotificationsApp"],
            }
        ],
        "setting_overrides": hybrid_app_overrides(org_dn, now, hybrid_app_override, duplicate_overrides),
        "variant_configuration_refreshes": [],
        "settings": {
            "health_ready_delay_seconds": health_ready_delay_seconds,
            "auth_servicelet_delay_seconds": auth_servicelet_delay_seconds,
        },
        "rbac": rbac_state(rbac),
    }
