#!/usr/bin/python
# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: exchange_auth_info
short_description: Read an Exchange organization's OAuth set-up and its Auth certificate on every server
version_added: 0.1.0
description:
  - Reads, through one Exchange session on the server it connects to, what OAuth between Exchange and Microsoft 365
    rests on - AuthConfig's current, next and previous certificates with their dates, the AuthServers, the partner
    applications, the IntraOrganizationConnectors, the setting overrides and the push notification proxy - and the
    connected server's clock (from its default WinRM endpoint), by which every date is judged.
  - Exchange answers for the whole organization from one server. C(Get-ExchangeServer) lists every server and its
    build; C(Get-ExchangeCertificate -Server <name>) reads another server's certificate store. With O(servers=all)
    the Auth certificate is checked on every Exchange server of the organization in the same session, as the
    AuthAdmin servicelet must have deployed it to each, with its private key. The stores are read as the statements of
    one pipeline (one round trip for all servers); an endpoint that refuses several statements is read one pipeline
    per server.
  - A server whose store cannot be read (it is down, or its RPC is blocked) is returned with
    RV(servers[].answered=false) and Exchange's error; the run does not fail.
  - Per certificate it reports the findings Microsoft's HealthChecker makes about the Auth certificate - a key under
    2048 bits, a SHA-1 signature, an expired certificate - besides a missing or not exportable private key.
  - Nothing is changed; the module runs the same way in check mode. Reading needs only C(Get-*) cmdlets, which the
    C(View-Only Organization Management) role group grants.
  - No certificate bytes or keys are returned.
options:
  servers:
    description:
      - V(all) reads the Auth certificate in the store of every Exchange server of the organization (Edge Transport
        servers excepted; they take no part in OAuth).
      - V(connected) reads it on the connected server only; RV(servers) then lists that server alone.
    type: str
    choices: [all, connected]
    default: all
extends_documentation_fragment:
  - exchange.hybrid.exchange_connection
  - exchange.hybrid.attributes.info_module
  - exchange.hybrid.attributes.action_plugin
  - exchange.hybrid.actiongroup_exchange
seealso:
  - module: exchange.hybrid.exchange_oauth_cert
  - module: exchange.hybrid.exchange_server_info
author:
  - exchange.hybrid maintainers (@exchange-hybrid)
"""

EXAMPLES = r"""
- name: Read the organization's OAuth set-up through one of its servers
  exchange.hybrid.exchange_auth_info:
  run_once: true
  register: auth

- name: Every server must be able to sign with the current Auth certificate
  ansible.builtin.assert:
    that: auth.servers | rejectattr('is_edge') | rejectattr('auth_certificate.usable') | list | length == 0
    fail_msg: >-
      Not usable on {{ auth.servers | rejectattr('is_edge') | rejectattr('auth_certificate.usable')
      | map(attribute='name') | list }}

- name: Only the connected server's store
  exchange.hybrid.exchange_auth_info:
    servers: connected
"""

RETURN = r"""
server_utc_now:
  description:
    - The connected server's clock (UTC, ISO 8601), read from its default WinRM endpoint; every C(days_remaining),
      C(expired) and C(effective) is judged by it.
    - V(null) when the default endpoint could not be reached (a warning says so); the controller's clock is then used.
  returned: success
  type: str
  sample: "2026-12-01T12:00:00Z"
connected_server:
  description: Name of the server the module read through.
  returned: success
  type: str
  sample: EX01
organization:
  description: The Exchange organization.
  returned: success
  type: dict
  contains:
    name:
      description: Organization name.
      type: str
      sample: Contoso
    guid:
      description: The organization object's GUID.
      type: str
auth_config:
  description: AuthConfig (C(Get-AuthConfig)), which Exchange replicates to every server.
  returned: success
  type: dict
  contains:
    current:
      description:
        - C(CurrentCertificateThumbprint) and what the stores show of that certificate; V(null) when none is set.
        - Its dates, key size and signature algorithm come from the connected server's store, else from the first
          server that holds it; they are V(null) when no store read holds it.
      type: dict
      contains:
        thumbprint:
          description: Thumbprint, upper case.
          type: str
        not_before:
          description: Start of validity (UTC).
          type: str
        not_after:
          description: End of validity (UTC).
          type: str
        days_remaining:
          description: Whole days until RV(auth_config.current.not_after), by the server's clock (negative once expired).
          type: int
        key_size:
          description: RSA key size in bits.
          type: int
        signature_algorithm:
          description: Signature algorithm as Windows names it (C(sha256RSA), C(sha1RSA), ...).
          type: str
        expired:
          description: Whether it has expired by the server's clock.
          type: bool
    next:
      description:
        - C(NextCertificateThumbprint), with the keys of RV(auth_config.current), C(effective_date)
          (C(NextCertificateEffectiveDate)) and C(effective); V(null) when nothing is staged.
        - C(effective) is whether the effective date has been reached by the server's clock (Exchange's AuthAdmin
          servicelet then makes it current on its next pass).
      type: dict
      sample:
        thumbprint: 7B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E
        not_before: "2026-11-01T00:00:00Z"
        not_after: "2031-11-01T00:00:00Z"
        days_remaining: 1795
        key_size: 2048
        signature_algorithm: sha256RSA
        expired: false
        effective_date: "2026-12-31T00:00:00Z"
        effective: false
    previous:
      description:
        - C(PreviousCertificateThumbprint), with the keys of RV(auth_config.current); V(null) when none is set.
        - Once the previous certificate has been removed from the stores only its thumbprint is known.
      type: dict
    service_name:
      description: C(ServiceName) (the Exchange Online application ID setup writes).
      type: str
      sample: 00000002-0000-0ff1-ce00-000000000000
    realm:
      description: C(Realm) (empty unless set).
      type: str
servers:
  description: The Exchange servers of the organization (with O(servers=connected), the connected one only).
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Server name.
      type: str
    fqdn:
      description: Fully qualified domain name.
      type: str
    version:
      description: The build from C(AdminDisplayVersion), dotted (cumulative update level).
      type: str
      sample: 15.2.1748.10
    roles:
      description: Server roles.
      type: list
      elements: str
    is_edge:
      description: Whether the server is an Edge Transport server (its store is not read).
      type: bool
    connected:
      description: Whether this is the server the module read through.
      type: bool
    meets_push_minimum:
      description: Whether the build is Exchange 2013 CU3 (15.0.775.38) or later.
      type: bool
    answered:
      description: Whether the server's certificate store could be read; V(null) for an Edge Transport server.
      type: bool
    error:
      description: Exchange's error when RV(servers[].answered) is false, else V(null).
      type: str
      sample: "A special Rpc error occurs on server EX02: The RPC server is unavailable."
    auth_certificate:
      description: AuthConfig's current certificate in this server's store; V(null) when the store was not read.
      type: dict
      contains:
        thumbprint:
          description: The thumbprint AuthConfig names (V(null) when it names none).
          type: str
        present:
          description: Whether the certificate is in this server's store.
          type: bool
        has_private_key:
          description: Whether this server holds its private key (V(null) when not present).
          type: bool
        private_key_exportable:
          description: Whether the private key is exportable (V(null) when not present).
          type: bool
        not_before:
          description: Start of validity (UTC).
          type: str
        not_after:
          description: End of validity (UTC).
          type: str
        days_remaining:
          description: Whole days until RV(servers[].auth_certificate.not_after), by the server's clock.
          type: int
        key_size:
          description: RSA key size in bits.
          type: int
        signature_algorithm:
          description: Signature algorithm as Windows names it.
          type: str
        usable:
          description: >-
            Whether this server can sign with it: present, with an exportable private key, a key of at least 2048
            bits, a SHA-256 or better signature, valid now and not revoked.
          type: bool
        problems:
          description: Why it is not usable here (empty when it is).
          type: list
          elements: str
          sample: [it has no private key, its key has 1024 bits (at least 2048 needed)]
    next_auth_certificate:
      description: >-
        AuthConfig's next certificate in this server's store (the keys of RV(servers[].auth_certificate)); V(null)
        when none is staged or the store was not read.
      type: dict
auth_servers:
  description: The AuthServers (C(Get-AuthServer)).
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Name.
      type: str
      sample: EvoSts - 3b1e0c52-8d5f-4c7e-9a3b-2f6d1e0a9c84
    type:
      description: C(MicrosoftACS), C(AzureAD), ...
      type: str
    realm:
      description: Realm (the tenant ID for Microsoft 365).
      type: str
    enabled:
      description: Whether it is enabled.
      type: bool
    auth_metadata_url:
      description: The metadata document it was made from.
      type: str
    application_identifier:
      description: The dedicated Exchange hybrid application's ID, when set.
      type: str
    domain_name:
      description: The tenant domains it serves.
      type: list
      elements: str
    is_default_authorization_endpoint:
      description: Whether it is the default authorization endpoint (Hybrid Modern Authentication).
      type: bool
evosts_duplicates:
  description:
    - Each tenant (Realm) that more than one AzureAD (evoSTS) AuthServer trusts, recognised as Microsoft's
      C(ConfigureExchangeHybridApplication.ps1) recognises them. Exchange needs exactly one;
      M(exchange.hybrid.exchange_auth_server) refuses to configure the dedicated application until they are resolved
      (or removes the others with its O(exchange.hybrid.exchange_auth_server#module:remove_duplicates)).
    - Empty when there are none.
  returned: success
  type: list
  elements: dict
  contains:
    realm:
      description: The tenant ID they trust.
      type: str
    names:
      description: Their names.
      type: list
      elements: str
    keep:
      description: The one to keep (the default authorization endpoint, else HCW's, else C(EvoSTS)).
      type: str
    fix:
      description: What is wrong and how to fix it, with the C(Remove-AuthServer) commands.
      type: str
partner_applications:
  description: The partner applications (C(Get-PartnerApplication)).
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Name.
      type: str
      sample: Exchange Online
    application_identifier:
      description: Application ID.
      type: str
    enabled:
      description: Whether it is enabled.
      type: bool
    linked_account:
      description: The linked account.
      type: str
    realm:
      description: Realm.
      type: str
    use_auth_server:
      description: Whether tokens come from an AuthServer.
      type: bool
intra_organization_connectors:
  description: The IntraOrganizationConnectors (C(Get-IntraOrganizationConnector)).
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Name.
      type: str
    enabled:
      description: Whether it is enabled.
      type: bool
    target_address_domains:
      description: The domains it serves.
      type: list
      elements: str
    discovery_endpoint:
      description: The Autodiscover endpoint.
      type: str
setting_overrides:
  description: The setting overrides (C(Get-SettingOverride)).
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Name.
      type: str
    component:
      description: C(ComponentName).
      type: str
    section:
      description: C(SectionName).
      type: str
    parameters:
      description: The C(name=value) parameters.
      type: list
      elements: str
    reason:
      description: Reason.
      type: str
    server:
      description: The servers it is limited to (empty for all).
      type: list
      elements: str
    when_created:
      description: When the override was created (C(WhenCreatedUTC)), UTC; of several, the oldest is the one to keep.
      type: str
oauth_hybrid:
  description:
    - Whether the organization uses OAuth for hybrid, judged as M(exchange.hybrid.exchange_setting_override) judges it
      before it turns the dedicated hybrid application on (the DAuth guard, Microsoft's
      C(ConfigureExchangeHybridApplication.ps1) check of CSS-Exchange pull request 2399) - an enabled C(Exchange Online)
      partner application and at least one enabled IntraOrganizationConnector.
    - Without them hybrid uses DAuth, and the override C(Global\\ExchangeOnpremAsThirdPartyAppId) would break free/busy,
      MailTips and profile photos.
  returned: success
  type: dict
  contains:
    passed:
      description: Whether the partner application and an enabled connector were found.
      type: bool
    exchange_online_partner_applications:
      description: The enabled C(Exchange Online) partner applications.
      type: list
      elements: str
    enabled_intra_organization_connectors:
      description: The enabled IntraOrganizationConnectors.
      type: list
      elements: str
    disabled_intra_organization_connectors:
      description: The disabled ones.
      type: list
      elements: str
    override_in_place:
      description:
        - Whether an override already turns the dedicated application on organization-wide (C(Enabled=true), no
          servers); M(exchange.hybrid.exchange_setting_override) then only warns instead of refusing.
      type: bool
    reason:
      description: What is missing and what the override would break; V(null) when RV(oauth_hybrid.passed).
      type: str
      sample: >-
        the organization does not use OAuth for hybrid (no enabled IntraOrganizationConnector): enabling
        Global\ExchangeOnpremAsThirdPartyAppId there breaks free/busy, MailTips and profile photos, which then use
        DAuth (CSS-Exchange pull request 2399)
    fix:
      description: How to fix it, or the option that goes on anyway; V(null) when RV(oauth_hybrid.passed).
      type: str
setting_override_duplicates:
  description:
    - Each component and section that more than one setting override sets (HealthChecker's
      C(MultipleSettingOverrides) - Exchange applies all of them and the feature's state cannot be told), judged as
      M(exchange.hybrid.exchange_setting_override) judges them. Empty when there are none.
  returned: success
  type: list
  elements: dict
  contains:
    component:
      description: C(ComponentName).
      type: str
    section:
      description: C(SectionName).
      type: str
      sample: ExchangeOnpremAsThirdPartyAppId
    names:
      description: The overrides' names.
      type: list
      elements: str
    agree:
      description: Whether they all set the same parameters for the same servers.
      type: bool
    keep:
      description: The one to keep (Microsoft's script's C(EnableExchangeHybrid3PAppFeature), else the oldest).
      type: str
    hybrid_application:
      description: Whether they are the dedicated hybrid application's (C(Global\\ExchangeOnpremAsThirdPartyAppId)).
      type: bool
    fix:
      description: What is wrong and the C(Remove-SettingOverride) commands that fix it.
      type: str
push_proxy:
  description: The push notification proxy (the C(OnPrem-Proxy) app), as M(exchange.hybrid.push_proxy) reads it.
  returned: success
  type: dict
  contains:
    found:
      description: Whether the C(OnPrem-Proxy) app exists.
      type: bool
    enabled:
      description: Whether the proxy is enabled.
      type: bool
    organization:
      description: The tenant domain it proxies for.
      type: str
    uri:
      description: The push service endpoint.
      type: str
"""

import datetime as dt
from typing import Any, Optional

from ansible_collections.exchange.hybrid.plugins.module_utils._auth_certificates import (
    certificate_facts,
    find_certificate,
    read_stores,
    store_state,
)
from ansible_collections.exchange.hybrid.plugins.module_utils._errors import (
    ExchangeError,
    fail_from_error,
)
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange import call
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange_module import (
    SERVER_PROPERTIES,
    client_for,
    exchange_module,
    find_connected,
    now_for,
    run_reads,
    server_facts,
)
from ansible_collections.exchange.hybrid.plugins.module_utils._auth_servers import evosts_duplicates
from ansible_collections.exchange.hybrid.plugins.module_utils._setting_overrides import (
    hybrid_application_override_in_place,
    oauth_hybrid,
    section_duplicates,
)
from ansible_collections.exchange.hybrid.plugins.module_utils._values import format_utc, parse_utc

PROXY_APP_NAME = "OnPrem-Proxy"
# The properties each object read returns, renamed: Exchange property -> result key (read in this order).
OBJECTS: dict[str, dict[str, str]] = {
    "auth_servers": {
        "Name": "name",
        "Type": "type",
        "Realm": "realm",
        "Enabled": "enabled",
        "AuthMetadataUrl": "auth_metadata_url",
        "ApplicationIdentifier": "application_identifier",
        "DomainName": "domain_name",
        "IsDefaultAuthorizationEndpoint": "is_default_authorization_endpoint",
    },
    "partner_applications": {
        "Name": "name",
        "ApplicationIdentifier": "application_identifier",
        "Enabled": "enabled",
        "LinkedAccount": "linked_account",
        "Realm": "realm",
        "UseAuthServer": "use_auth_server",
    },
    "intra_organization_connectors": {
        "Name": "name",
        "Enabled": "enabled",
        "TargetAddressDomains": "target_address_domains",
        "DiscoveryEndpoint": "discovery_endpoint",
    },
    "setting_overrides": {
        "Name": "name",
        "ComponentName": "component",
        "SectionName": "section",
        "Parameters": "parameters",
        "Reason": "reason",
        "Server": "server",
        "WhenCreatedUTC": "when_created",
    },
}
LISTS = ("domain_name", "target_address_domains", "parameters", "server")
AUTH_CONFIG_PROPERTIES = [
    "CurrentCertificateThumbprint",
    "NextCertificateThumbprint",
    "PreviousCertificateThumbprint",
    "NextCertificateEffectiveDate",
    "ServiceName",
    "Realm",
]
PUSH_APP_PROPERTIES = ["Name", "Identity", "Enabled", "Organization", "Uri"]
SERVER_KEYS = ("name", "fqdn", "version", "roles", "is_edge", "connected", "meets_push_minimum")


def organization_reads() -> list[dict]:
    reads = [
        call("Get-ExchangeServer", SERVER_PROPERTIES),
        call("Get-OrganizationConfig", ["Name", "Guid"]),
        call("Get-AuthConfig", AUTH_CONFIG_PROPERTIES),
        call("Get-PushNotificationApp", PUSH_APP_PROPERTIES),
    ]
    return reads + [
        call("Get-AuthServer", list(OBJECTS["auth_servers"])),
        call("Get-PartnerApplication", list(OBJECTS["partner_applications"])),
        call("Get-IntraOrganizationConnector", list(OBJECTS["intra_organization_connectors"])),
        call("Get-SettingOverride", list(OBJECTS["setting_overrides"])),
    ]


def renamed(rows: list[dict], names: dict[str, str]) -> list[dict]:
    shown = []
    for row in rows:
        item = {key: row.get(prop) for prop, key in names.items()}
        for key in LISTS:
            if key in item and not isinstance(item[key], list):
                item[key] = [] if item[key] in (None, "") else [item[key]]
        shown.append(item)
    return shown


def push_proxy(apps: list[dict]) -> dict:
    names = ("Name", "Identity")
    app = next((a for a in apps if PROXY_APP_NAME.casefold() in [str(a.get(n)).casefold() for n in names]), None)
    if app is None:
        return {"found": False, "enabled": False, "organization": None, "uri": None}
    return {
        "found": True,
        "enabled": bool(app.get("Enabled")),
        "organization": app.get("Organization"),
        "uri": app.get("Uri"),
    }


def server_entry(row: dict, facts: dict, store: Optional[tuple], auth: dict, now: dt.datetime) -> dict:
    entry = {key: facts[key] for key in SERVER_KEYS}
    entry.update(answered=None, error=None, auth_certificate=None, next_auth_certificate=None)
    if store is None:
        return entry  # an Edge Transport server: its store is not read
    certificates, error = store
    entry.update(answered=certificates is not None, error=error)
    if certificates is not None:
        entry["auth_certificate"] = store_state(auth.get("CurrentCertificateThumbprint"), certificates, now)
        if auth.get("NextCertificateThumbprint"):
            entry["next_auth_certificate"] = store_state(auth["NextCertificateThumbprint"], certificates, now)
    return entry


def auth_config_view(auth: dict, stores: list[list[dict]], now: dt.datetime) -> dict:
    """AuthConfig's certificates with what the stores read (the connected server's first) show of each."""

    def facts(key: str) -> Optional[dict]:
        thumb = auth.get(key)
        cert = next((found for found in (find_certificate(thumb, s) for s in stores) if found), None)
        return certificate_facts(thumb, cert, now)

    view = {
        "current": facts("CurrentCertificateThumbprint"),
        "next": facts("NextCertificateThumbprint"),
        "previous": facts("PreviousCertificateThumbprint"),
        "service_name": auth.get("ServiceName"),
        "realm": auth.get("Realm"),
    }
    if view["next"] is not None:
        effective = parse_utc(auth.get("NextCertificateEffectiveDate"))
        view["next"].update(
            effective_date=auth.get("NextCertificateEffectiveDate") or None,
            effective=effective is not None and effective <= now,
        )
    return view


def read_auth_info(client: Any, scope: str) -> dict:
    outputs, exsetup = run_reads(client, organization_reads())
    servers, organization, auth_rows, apps = outputs[:4]
    auth = auth_rows[0] if auth_rows else {}
    now = now_for(client)
    connected = find_connected(servers, client)
    if scope == "connected":
        if connected is None:
            raise ExchangeError(
                "Exchange does not list the connected server %s (%s) among its servers; use servers=all"
                % (client.server, client.computer_name),
                client.server,
            )
        servers = [connected]
    # The connected server's store first: AuthConfig's certificates are described from it when it has them.
    order = sorted(servers, key=lambda row: row is not connected)
    read = [row for row in order if not row.get("IsEdgeServer")]
    stores = {id(row): store for row, store in zip(read, read_stores(client, read))}
    entries = [
        server_entry(row, server_facts(row, exsetup, row is connected), stores.get(id(row)), auth, now)
        for row in servers
    ]
    org = organization[0] if organization else {}
    result: dict[str, Any] = {
        "server_utc_now": format_utc(now) if client.server_utc_now else None,
        "connected_server": (connected or {}).get("Name") or client.computer_name,
        "organization": {"name": org.get("Name"), "guid": org.get("Guid")},
        "auth_config": auth_config_view(auth, [s[0] for s in stores.values() if s[0] is not None], now),
        "servers": entries,
        "push_proxy": push_proxy(apps),
    }
    for (key, names), rows in zip(OBJECTS.items(), outputs[4:]):
        result[key] = renamed(rows, names)
    result["evosts_duplicates"] = evosts_duplicates(outputs[4])
    result["oauth_hybrid"] = dict(
        oauth_hybrid(outputs[5], outputs[6]), override_in_place=hybrid_application_override_in_place(outputs[7])
    )
    result["setting_override_duplicates"] = section_duplicates(outputs[7])
    return result


def main() -> None:
    module = exchange_module(dict(servers=dict(type="str", choices=["all", "connected"], default="all")))
    client = client_for(module)
    try:
        found = read_auth_info(client, module.params["servers"])
    except ExchangeError as exc:
        fail_from_error(module, exc, "read the Auth configuration through %s" % module.params["server"])
        return
    module.exit_json(changed=False, **found)


if __name__ == "__main__":
    main()
