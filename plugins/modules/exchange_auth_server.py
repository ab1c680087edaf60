#!/usr/bin/python
# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: exchange_auth_server
short_description: Ensure the Exchange AuthServer that trusts Microsoft 365's token issuer
version_added: 0.1.0
description:
  - Step 3 of the push notification procedure, on Exchange. Creates the AuthServer with C(New-AuthServer),
    corrects a wrong C(AuthMetadataUrl) with C(Set-AuthServer) as the procedure does, and removes it with
    C(Remove-AuthServer) when O(state=absent).
  - With O(type=acs) (default) the metadata URL is the documented ACS one
    (C(https://accounts.accesscontrol.windows.net/metadata/json/1/?realm=<tenant_domain>) in the global cloud),
    as the push notification article's C(MicrosoftSts); with O(type=azure_ad) it is the evoSTS federation
    metadata of the tenant and the AuthServer is created with C(-Type AzureAD).
  - The type of an existing AuthServer cannot be changed; a mismatch is reported, never silently recreated.
  - With O(type=azure_ad) the module adopts the evoSTS AuthServer that the Hybrid Configuration Wizard
    (C(EvoSts - <GUID>)) or Microsoft's C(ConfigureExchangeHybridApplication.ps1) made, found as that script finds
    it (type C(AzureAD), a name that is or contains C(EvoSTS), case-insensitively, the Realm equal to the tenant
    ID when it is known), and updates it in place instead of creating a second one beside it. RV(name) and
    RV(adopted) say which one was used. Its C(AuthMetadataUrl) is kept when its Realm is the tenant ID given as
    O(tenant_id) (or O(tenant_domain)), as HCW's names the tenant by its ID.
  - With O(type=acs) and no AuthServer named O(name), HCW's C(ACS - <GUID>) AuthServer (MicrosoftACS, Realm the
    tenant ID) is adopted as it is, when the tenant ID is known (O(tenant_id), or the Realm of an
    AuthServer whose metadata URL names O(tenant_domain)); several are reported in RV(duplicates) with a warning.
  - Several AzureAD AuthServers for the same tenant are a finding. The module fails before any change, naming
    them, the one to keep and the commands that remove the others; with O(remove_duplicates=true) it keeps one
    (the default authorization endpoint, else the one HCW made, else the one named O(name), else the first) and
    removes the others after configuring it.
  - C(DomainName) of the evoSTS AuthServer, when O(domain_name) is not given, is chosen as Microsoft's
    C(ConfigureExchangeHybridApplication.ps1) chooses it (CSS-Exchange pull request 2387) - from the one enabled MicrosoftACS
    AuthServer of the same tenant (HCW's C(ACS - <GUID>)), its domains; else the accepted domains
    (C(Get-AcceptedDomain)) that are also the tenant's verified domains given as O(tenant_domains), the initial
    C(*.onmicrosoft.com) domain left out. When neither gives a domain (or O(tenant_domains) is not given) the module
    keeps the AuthServer's own non-empty C(DomainName), else uses O(tenant_domain), and warns.
    RV(domain_name_source) and RV(domain_name_reason) say which domains and why.
  - O(application_identifier) and O(domain_name) exist only on newer builds; on a build that lacks them the
    module fails before any change, naming the server, its build and the minimum.
  - Reads in one PowerShell process and writes in at most one more; nothing is written in check mode.
options:
  name:
    description:
      - Name of the AuthServer.
    type: str
    default: MicrosoftSts
  tenant_domain:
    description:
      - The Microsoft 365 tenant, such as C(contoso.onmicrosoft.com) (for O(type=azure_ad) also the tenant ID).
      - Required with O(state=present) unless O(auth_metadata_url) is given (or, with O(type=azure_ad), O(tenant_id)).
    type: str
  tenant_id:
    description:
      - The tenant ID (a GUID). With O(type=azure_ad) the evoSTS AuthServer to adopt must have it as Realm.
      - When neither this nor a tenant ID as O(tenant_domain) is given, the module takes the Realm of an AuthServer
        whose metadata URL names O(tenant_domain), else the only tenant among the evoSTS AuthServers; with evoSTS
        AuthServers for several tenants it fails and asks for this option.
    type: str
  tenant_domains:
    description:
      - The tenant's verified domains, as M(exchange.hybrid.tenant_info) returns them (RV(exchange.hybrid.tenant_info#module:verified_domains));
        the module never calls Graph itself.
      - With O(type=azure_ad) and O(domain_name) unset, C(DomainName) falls back to the accepted domains that are also
        in this list, leaving out the one marked C(is_initial), when no single MicrosoftACS AuthServer gives it.
    type: list
    elements: dict
    suboptions:
      name:
        description: The domain.
        type: str
        required: true
      is_initial:
        description: Whether it is the tenant's initial domain (left out, as Microsoft's script does).
        type: bool
        default: false
      is_default:
        description: Whether it is the tenant's default domain (not used; accepted so tenant_info's list fits as is).
        type: bool
      type:
        description: C(Managed) or C(Federated) (not used).
        type: str
      capabilities:
        description: The domain's services (not used).
        type: str
  remove_duplicates:
    description:
      - With O(type=azure_ad), when several AzureAD AuthServers trust the same tenant, keep one and remove the
        others (C(Remove-AuthServer)) instead of failing with the finding.
    type: bool
    default: false
  type:
    description:
      - V(acs) is the ACS issuer of the documented procedure; V(azure_ad) is evoSTS (C(-Type AzureAD)).
    type: str
    choices: [acs, azure_ad]
    default: acs
  cloud:
    description:
      - Microsoft cloud of the tenant; selects the metadata URL.
      - V(bleu) and V(delos) have no published ACS metadata URL, so with O(type=acs) set O(auth_metadata_url) there.
    type: str
    choices: [global, usgovernment_l4, usgovernment_l5, china, bleu, delos]
    default: global
  auth_metadata_url:
    description:
      - Use this metadata URL (https) instead of the one derived from O(type), O(cloud) and O(tenant_domain).
    type: str
  application_identifier:
    description:
      - Application (client) ID of the dedicated Exchange hybrid application (C(-ApplicationIdentifier)).
      - Needs the April 2025 hotfix update (2016 CU23 15.1.2507.55, 2019 CU14 15.2.1544.25, 2019 CU15
        15.2.1748.24) or Exchange SE.
    type: str
  graph_base_url:
    description:
      - Microsoft Graph endpoint of the AuthServer (C(-GraphBaseUrl)), which the May 2026 Graph workflow of the
        dedicated application needs; ConfigureExchangeHybridApplication.ps1 sets it to the cloud's Graph endpoint
        on the evoSTS AuthServer. Omitted, it is not changed.
      - Exchange 2019 and Exchange SE only (Set-AuthServer's reference); an https URL.
    type: str
  domain_name:
    description:
      - Tenant domains linked to the AuthServer (C(-DomainName)), for multi-tenant hybrid.
      - With O(type=azure_ad) and this unset, the module chooses them (see the description and
        RV(domain_name_source)); with O(type=acs) and this unset, C(DomainName) is left as it is.
      - Needs Exchange 2016 CU18 or 2019 CU7 or later; not available on Exchange 2013.
    type: list
    elements: str
  enabled:
    description:
      - Whether the AuthServer is enabled.
    type: bool
    default: true
  state:
    description:
      - V(present) creates or corrects it; V(absent) removes it.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - exchange.hybrid.exchange_connection
  - exchange.hybrid.attributes
  - exchange.hybrid.attributes.action_plugin
  - exchange.hybrid.actiongroup_exchange
author:
  - exchange.hybrid maintainers (@exchange-hybrid)
"""

EXAMPLES = r"""
- name: Trust the tenant's ACS issuer, as the push notification procedure does
  exchange.hybrid.exchange_auth_server:
    tenant_domain: contoso.onmicrosoft.com
  run_once: true

- name: evoSTS for the dedicated hybrid application
  exchange.hybrid.exchange_auth_server:
    name: EvoSTS
    type: azure_ad
    tenant_domain: 6a4b3c2d-1e0f-4a5b-9c8d-7e6f5a4b3c2d
    application_identifier: 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0
  run_once: true

- name: Point the evoSTS AuthServer HCW made (EvoSts - <GUID>) at the dedicated application; DomainName from HCW's ACS one
  exchange.hybrid.exchange_auth_server:
    type: azure_ad
    name: EvoSTS
    tenant_domain: contoso.onmicrosoft.com
    tenant_id: 6a4b3c2d-1e0f-4a5b-9c8d-7e6f5a4b3c2d
    application_identifier: 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0
  run_once: true
  register: evosts

- name: Read the tenant's verified domains (Graph), for the DomainName fallback
  exchange.hybrid.tenant_info:
  delegate_to: localhost
  run_once: true
  register: tenant

- name: evoSTS with DomainName from the accepted domains that are also the tenant's (no ACS AuthServer)
  exchange.hybrid.exchange_auth_server:
    name: EvoSTS
    type: azure_ad
    tenant_id: "{{ tenant.tenant_id }}"
    tenant_domains: "{{ tenant.verified_domains }}"
    application_identifier: 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0
  run_once: true

- name: Several evoSTS AuthServers for the tenant - keep one, remove the others
  exchange.hybrid.exchange_auth_server:
    type: azure_ad
    name: EvoSTS
    tenant_id: 6a4b3c2d-1e0f-4a5b-9c8d-7e6f5a4b3c2d
    application_identifier: 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0
    remove_duplicates: true
  run_once: true

- name: Remove it
  exchange.hybrid.exchange_auth_server:
    name: MicrosoftSts
    state: absent
  run_once: true
"""

RETURN = r"""
auth_server:
  description: The AuthServer after the run (predicted in check mode); null when absent.
  returned: success
  type: dict
  contains:
    name:
      description: Name.
      type: str
      sample: MicrosoftSts
    type:
      description: Type as Exchange reports it (MicrosoftACS, AzureAD...).
      type: str
    auth_metadata_url:
      description: AuthMetadataUrl.
      type: str
    enabled:
      description: Enabled.
      type: bool
    realm:
      description: Realm (tenant ID, read from the metadata by Exchange).
      type: str
    issuer_identifier:
      description: IssuerIdentifier.
      type: str
    application_identifier:
      description: ApplicationIdentifier.
      type: str
    graph_base_url:
      description: GraphBaseUrl.
      type: str
    domain_name:
      description: DomainName.
      type: list
      elements: str
name:
  description: Name of the AuthServer actually used (the adopted one, or O(name)).
  returned: success
  type: str
  sample: EvoSts - 2f1c3a0e-5b6d-4e7f-8a9b-0c1d2e3f4a5b
adopted:
  description: True when an existing AuthServer with another name than O(name) (the evoSTS or ACS one HCW or
    Microsoft's script made) was used instead of creating O(name).
  returned: success
  type: bool
realm_source:
  description: Where the tenant ID that the evoSTS AuthServer's Realm had to match came from.
  returned: when a tenant ID was known and used to find the AuthServer
  type: str
duplicates:
  description: Names of the AuthServers of the wanted type found for the same tenant, when more than one (for
    AzureAD the finding the module fails with, unless O(remove_duplicates=true)).
  returned: when there are duplicates
  type: list
  elements: str
removed_duplicates:
  description: The duplicates removed (predicted in check mode) with O(remove_duplicates=true).
  returned: when duplicates were removed
  type: list
  elements: str
domain_name_source:
  description:
    - Where C(DomainName) came from. V(option) (O(domain_name)), V(acs_auth_server) (copied from the MicrosoftACS
      AuthServer, as Microsoft's script does), V(accepted_domains) (the accepted domains that are also verified
      domains of the tenant, the initial one left out, Microsoft's fallback), V(existing) (the AuthServer's own, kept), V(tenant_domain)
      (O(tenant_domain), the earlier default) or V(none) (left unset).
  returned: when O(state=present)
  type: str
  sample: acs_auth_server
domain_name_reason:
  description: Which domains were chosen and why, in words (why Microsoft's other sources were not used).
  returned: with O(type=azure_ad) when O(state=present)
  type: str
auth_metadata_url:
  description: The metadata URL the module wanted.
  returned: when O(state=present)
  type: str
server_version:
  description: The build the version checks used (ExSetup when known).
  returned: success
  type: str
"""

import re
from typing import Any, Optional

from ansible_collections.exchange.hybrid.plugins.module_utils._clouds import CLOUD_CHOICES, CLOUDS, auth_metadata_url
from ansible_collections.exchange.hybrid.plugins.module_utils._errors import ExchangeError, ExchangeInputError
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange import call
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange_module import (
    SERVER_PROPERTIES,
    exchange_module,
    find_connected,
)
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange_object import (
    ExchangeObject,
    Property,
    Refused,
    Run,
    run_exchange_object,
    same_bool,
    same_set,
    same_text,
)
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange_versions import (
    best_version,
    format_version,
    minimum_builds,
    parameter_support,
    product_name,
)
from ansible_collections.exchange.hybrid.plugins.module_utils._auth_servers import (
    duplicates_fix,
    is_evosts,
    is_hcw_name,
    keep_order,
    realm_of,
    tenant_id_for,
)
from ansible_collections.exchange.hybrid.plugins.module_utils._values import is_domain_name, is_guid

AUTH_SERVER_PROPERTIES = [
    "Name",
    "Type",
    "AuthMetadataUrl",
    "Enabled",
    "Realm",
    "IssuerIdentifier",
    "ApplicationIdentifier",
    "DomainName",
    "IsDefaultAuthorizationEndpoint",
    "GraphBaseUrl",
]
EXPECTED_TYPE = {"acs": "MicrosoftACS", "azure_ad": "AzureAD"}


def check_input(params: dict) -> None:
    name = params["name"]
    if not name or not name.strip():
        raise ExchangeInputError("name must be a non-empty AuthServer name")
    tenant = params.get("tenant_domain")
    if tenant is not None:
        if not (is_domain_name(tenant) or (params["type"] == "azure_ad" and is_guid(tenant))):
            raise ExchangeInputError(
                "tenant_domain must be the tenant's DNS domain such as contoso.onmicrosoft.com%s, got %r"
                % (" (or its tenant ID)" if params["type"] == "azure_ad" else "", tenant)
            )
    url = params.get("auth_metadata_url")
    if url is not None and (not re.match(r"^https://[^\s/]+(/\S*)?$", url)):
        raise ExchangeInputError("auth_metadata_url must be an https URL without spaces, got %r" % url)
    graph = params.get("graph_base_url")
    if graph is not None and (not re.match(r"^https://[^\s/]+(/\S*)?$", graph)):
        raise ExchangeInputError("graph_base_url must be an https URL without spaces such as https://graph.microsoft.com, "
                                 "got %r" % graph)
    if params["state"] == "present" and not url and auth_metadata_url(params["cloud"], params["type"], "tenant") is None:
        raise ExchangeInputError(
            "cloud %s has no published %s metadata URL (Microsoft documents none for it): set auth_metadata_url"
            % (params["cloud"], "ACS" if params["type"] == "acs" else "evoSTS")
        )
    if params["state"] == "present" and not tenant and not url:
        if not (params["type"] == "azure_ad" and params.get("tenant_id")):
            raise ExchangeInputError("tenant_domain is required with state present (or give auth_metadata_url)")
    tenant_id = params.get("tenant_id")
    if tenant_id is not None and not is_guid(tenant_id):
        raise ExchangeInputError(
            "tenant_id must be the tenant ID (a GUID such as 6a4b3c2d-1e0f-4a5b-9c8d-7e6f5a4b3c2d), got %r" % tenant_id
        )
    app = params.get("application_identifier")
    if app is not None and not is_guid(app):
        raise ExchangeInputError(
            "application_identifier must be an application (client) ID such as 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
        )
    for entry in params.get("tenant_domains") or []:
        if not is_domain_name(entry["name"]):
            raise ExchangeInputError("tenant_domains names must be DNS domains such as contoso.com, got %r" % entry["name"])
    for domain in params.get("domain_name") or []:
        if not is_domain_name(domain):
            raise ExchangeInputError("domain_name entries must be DNS domains such as contoso.com, got %r" % domain)


def view(row: Optional[dict]) -> Optional[dict]:
    if not row:
        return None
    domains = row.get("DomainName")
    if isinstance(domains, str):
        domains = [d for d in re.split(r"[,\s]+", domains) if d]
    return {
        "name": row.get("Name"),
        "type": row.get("Type"),
        "auth_metadata_url": row.get("AuthMetadataUrl"),
        "enabled": row.get("Enabled"),
        "realm": row.get("Realm"),
        "issuer_identifier": row.get("IssuerIdentifier"),
        "application_identifier": row.get("ApplicationIdentifier"),
        "graph_base_url": row.get("GraphBaseUrl"),
        "domain_name": list(domains or []),
    }


def type_matches(actual: Any, wanted: str) -> bool:
    actual = str(actual or "")
    if wanted == "azure_ad":
        return actual.lower() == "azuread"
    # Created without -Type (the procedure's command), Exchange may report Unknown or MicrosoftACS.
    return actual.lower() in ("", "microsoftacs", "unknown", "none")


ONLY_TENANT = "the only tenant among the evoSTS AuthServers"
# Microsoft's script's initialCloudDomainsDefault: onmicrosoft.com, partner.onmschina.cn, onmicrosoft.us.
_INITIAL_CLOUD_DOMAINS = tuple(sorted({c["initial_domain_suffix"] for c in CLOUDS.values() if c["initial_domain_suffix"]}))


def domains_of(row: Optional[dict]) -> list[str]:
    return list((view(row) or {}).get("domain_name") or [])


ACCEPTED_DOMAIN_PROPERTIES = ["Name", "DomainName", "DomainType", "Default"]


def accepted_and_verified(params: dict, accepted_rows: list[dict]) -> tuple:
    """Microsoft's fallback (ConfigureExchangeHybridApplication.ps1, PR #2387): the accepted domains that are also
    the tenant's verified domains, the initial one left out. (domains, why in words)."""
    verified = {str(d["name"]).lower(): d for d in params["tenant_domains"]}
    accepted = [str(row.get("DomainName") or row.get("Name") or "") for row in accepted_rows or []]
    accepted = [domain for domain in accepted if domain]
    chosen = [d for d in accepted if d.lower() in verified and not verified[d.lower()]["is_initial"]]
    initial = [d for d in accepted if d.lower() in verified and verified[d.lower()]["is_initial"]]
    elsewhere = [d for d in accepted if d.lower() not in verified]
    parts = []
    if initial:
        parts.append("left out the initial domain %s" % ", ".join(initial))
    if elsewhere:
        parts.append("accepted but not verified in the tenant: %s" % ", ".join(elsewhere))
    detail = " (%s)" % "; ".join(parts) if parts else ""
    if chosen:
        return chosen, "the accepted domains that are also the tenant's verified domains%s" % detail
    return [], (
        "no accepted domain (%s) is a verified domain of the tenant other than the initial one (verified: %s)%s"
        % (", ".join(accepted) or "none", ", ".join(d["name"] for d in params["tenant_domains"]) or "none", detail)
    )


def choose_domains(params: dict, auth_servers: list[dict], target: Optional[dict], realm: Optional[str], accepted) -> tuple:
    """DomainName as ConfigureExchangeHybridApplication.ps1 chooses it: (domains, source, reason)."""
    if params.get("domain_name") is not None:
        return list(params["domain_name"]), "option", "domain_name was given"
    acs = [
        row
        for row in auth_servers
        if str(row.get("Type") or "").lower() == "microsoftacs"
        and bool(row.get("Enabled"))
        and domains_of(row)
        and (realm is None or realm_of(row) == realm)
    ]
    if len(acs) == 1:
        return (
            domains_of(acs[0]),
            "acs_auth_server",
            "copied from the MicrosoftACS AuthServer %s (Realm %s), as Microsoft's ConfigureExchangeHybridApplication.ps1 "
            "does" % (acs[0].get("Name"), acs[0].get("Realm")),
        )
    no_acs = "%d enabled MicrosoftACS AuthServers with domains for this realm (Microsoft's script copies only from exactly one)" % len(acs)
    if params.get("tenant_domains") is not None:
        domains, why = accepted_and_verified(params, accepted)
        if domains:
            return domains, "accepted_domains", "%s; %s, as Microsoft's ConfigureExchangeHybridApplication.ps1 does" % (no_acs, why)
        why_not = "%s; %s: set domain_name to choose them" % (no_acs, why)
    else:
        why_not = (
            "%s; Microsoft's fallback, the accepted domains that are also the tenant's verified domains without the "
            "initial *.onmicrosoft.com domain, needs tenant_domains (tenant_info's verified_domains): set it, or set "
            "domain_name to choose them" % no_acs
        )
    if target is not None and domains_of(target):
        return domains_of(target), "existing", "kept the AuthServer's own DomainName; " + why_not
    tenant = params.get("tenant_domain") or ""
    if tenant and not is_guid(tenant):
        initial = any(tenant.lower().endswith("." + suffix) for suffix in _INITIAL_CLOUD_DOMAINS)
        note = " (an initial cloud domain, which Microsoft's script leaves out)" if initial else ""
        return [tenant], "tenant_domain", "the tenant domain%s, the earlier default; %s" % (note, why_not)
    return None, "none", "left unset; " + why_not


def reads_accepted_domains(params: dict) -> bool:
    return (
        params["state"] == "present"
        and params["type"] == "azure_ad"
        and params.get("domain_name") is None
        and params.get("tenant_domains") is not None
    )


def validate(params: dict) -> Optional[str]:
    try:
        check_input(params)
    except ExchangeInputError as exc:
        return exc.msg
    return None


def reads(run: Run) -> list[dict]:
    calls = [call("Get-AuthServer", AUTH_SERVER_PROPERTIES), call("Get-ExchangeServer", SERVER_PROPERTIES)]
    if reads_accepted_domains(run.params):
        calls.append(call("Get-AcceptedDomain", ACCEPTED_DOMAIN_PROPERTIES))
    return calls


def locate(run: Run, rows: list[dict]) -> Optional[dict]:
    used = str(run.result["name"]).lower()
    return next((row for row in rows if str(row.get("Name") or "").lower() == used), None)


def connected_server(run: Run) -> None:
    """The build the version checks use, and how messages name the server."""
    client, server = run.client, run.params["server"]
    connected = find_connected(run.outputs[1], client) or {}
    adv = connected.get("AdminDisplayVersion")
    version = best_version(adv, run.exsetup)
    if run.exsetup:
        # The exact build is known: the client checks every write against the cmdlet catalog before sending.
        client.server_version = version
    run.result["server_version"] = format_version(version)
    run.data["adv"] = adv
    run.data["where"] = "%s (%s, %s build %s)" % (
        server,
        connected.get("Name") or client.computer_name or server,
        product_name(version) if version else "Exchange",
        format_version(version) or "unknown",
    )


def find_evosts(run: Run, existing: Optional[dict]) -> Optional[dict]:
    """Adopt the evoSTS AuthServer HCW or Microsoft's script made instead of adding a second one."""
    params, result, name, where = run.params, run.result, run.params["name"], run.data["where"]
    auth_servers = run.outputs[0]
    candidates = [
        row
        for row in auth_servers
        if is_evosts(row) or (row is existing and type_matches(row.get("Type"), "azure_ad"))
    ]
    realm, realm_source = tenant_id_for(params, auth_servers)
    if realm is not None:
        same = [row for row in candidates if realm_of(row) == realm or (row is existing and not realm_of(row))]
    else:
        realms = sorted(set(realm_of(row) for row in candidates))
        if len(realms) > 1:
            raise Refused(
                "Failed to configure AuthServer %s through %s: AzureAD (evoSTS) AuthServers for %d tenants "
                "exist (%s) and the tenant ID is not known; set tenant_id (or give the tenant ID as tenant_domain) "
                "to choose. Nothing was changed."
                % (
                    name,
                    where,
                    len(realms),
                    ", ".join("'%s' (Realm %s)" % (r.get("Name"), r.get("Realm")) for r in candidates),
                )
            )
        same = candidates
        if same:
            realm = realm_of(same[0]) or None
            realm_source = ONLY_TENANT
    if len(same) > 1:
        keep = sorted(same, key=lambda row: keep_order(row, name))[0]
        result["duplicates"] = [row.get("Name") for row in same]
        if not params["remove_duplicates"]:
            raise Refused("Failed to configure AuthServer %s through %s: %s" % (name, where, duplicates_fix(same, keep, realm or "")))
        run.data["duplicates"] = [row for row in same if row is not keep]
        same = [keep]
    run.data["realm"], run.data["realm_source"] = realm, realm_source
    if realm:
        result["realm_source"] = realm_source
    if same:
        result["adopted"] = str(same[0].get("Name") or "").lower() != name.lower()
        result["name"] = same[0].get("Name")
        return same[0]
    if existing is not None and type_matches(existing.get("Type"), "azure_ad"):
        raise Refused(
            "Failed to configure AuthServer %s through %s: it exists for another tenant (Realm %s, not %s). "
            "Nothing was changed; choose another name, or remove it first (state: absent) if that tenant is gone."
            % (name, where, existing.get("Realm"), realm),
            auth_server=view(existing),
        )
    return existing  # None, or one of another type: reported as a type mismatch


def find_acs(run: Run) -> Optional[dict]:
    """HCW's ACS - <GUID> (MicrosoftACS, Realm the tenant ID) serves as the push article's MicrosoftSts: adopt it
    rather than add a second MicrosoftACS AuthServer for the tenant."""
    realm, realm_source = tenant_id_for(run.params, run.outputs[0])
    run.data["realm"], run.data["realm_source"] = realm, realm_source
    same = [
        row
        for row in run.outputs[0]
        if realm
        and str(row.get("Type") or "").lower() == "microsoftacs"
        and realm_of(row) == realm
        and is_hcw_name(row.get("Name"), "acs")
    ]
    if not same:
        return None
    result = run.result
    result.update(adopted=True, name=same[0].get("Name"), realm_source=realm_source)
    if len(same) > 1:
        result["duplicates"] = [row.get("Name") for row in same]
        run.module.warn(
            "%d MicrosoftACS AuthServers named by HCW trust the tenant %s (%s); using '%s'. Remove the others "
            "(Remove-AuthServer -Identity <name> -Confirm:$false) unless another tool needs them."
            % (len(same), realm, ", ".join(result["duplicates"]), same[0].get("Name"))
        )
    return same[0]


def find(run: Run) -> Optional[dict]:
    run.result.update(changed=False, adopted=False, name=run.params["name"])
    run.data.update(duplicates=[], realm=None, realm_source="")
    connected_server(run)
    existing = locate(run, run.outputs[0])
    if run.params["state"] == "absent":
        return existing
    if run.params["type"] == "azure_ad":
        return find_evosts(run, existing)
    return existing if existing is not None else find_acs(run)


def desired(run: Run) -> Optional[dict]:
    params, result, existing, where = run.params, run.result, run.found, run.data["where"]
    if params["state"] == "absent":
        return None
    used, adv, exsetup = result["name"], run.data["adv"], run.exsetup
    # Parameters the server's build may lack: refuse before any write.
    for option, cmdlet, parameter in (
        ("domain_name", "New-AuthServer", "DomainName"),
        ("application_identifier", "Set-AuthServer", "ApplicationIdentifier"),
        ("graph_base_url", "Set-AuthServer", "GraphBaseUrl"),
    ):
        if params.get(option) is not None and parameter_support(cmdlet, parameter, adv, exsetup) is False:
            raise Refused(
                "Failed to configure AuthServer %s: %s (-%s) is not available on %s; it needs %s or later. "
                "Update the server or leave %s unset."
                % (used, option, parameter, where, minimum_builds(cmdlet, parameter), option)
            )

    domains: Optional[list[str]] = params["domain_name"]
    if params["type"] == "azure_ad":
        accepted = run.outputs[2] if reads_accepted_domains(params) else []
        domains, source, reason = choose_domains(params, run.outputs[0], existing, run.data["realm"], accepted)
        result["domain_name_source"] = source
        result["domain_name_reason"] = reason
        if (
            source != "option"
            and domains is not None
            and parameter_support("Set-AuthServer", "DomainName", adv, exsetup) is False
        ):
            domains = None
            result["domain_name_source"] = "none"
            result["domain_name_reason"] = "left unset: -DomainName is not available on %s" % where
    else:
        result["domain_name_source"] = "option" if domains is not None else "none"

    url = params["auth_metadata_url"] or auth_metadata_url(
        params["cloud"], params["type"], params["tenant_domain"] or params["tenant_id"]
    )
    result["auth_metadata_url"] = url
    wanted: dict[str, Any] = {"auth_metadata_url": url, "enabled": params["enabled"]}
    if existing is None:
        wanted["name"] = params["name"]
    else:
        if not type_matches(existing.get("Type"), params["type"]):
            raise Refused(
                "Failed to configure AuthServer %s through %s: it exists with type %s, not %s, and an "
                "AuthServer's type cannot be changed. Remove it first (state: absent) or choose another name."
                % (params["name"], where, existing.get("Type"), EXPECTED_TYPE[params["type"]]),
                auth_server=run.before,
            )
        known = run.data["realm_source"] and run.data["realm_source"] != ONLY_TENANT
        if not params["auth_metadata_url"] and known and realm_of(existing) == run.data["realm"]:
            # Exchange read this tenant's ID from the AuthServer's own metadata URL (HCW names the tenant by its ID,
            # the derived URL by its domain): the same issuer, so the URL is not wrong.
            wanted["auth_metadata_url"] = existing.get("AuthMetadataUrl") or url
    if domains is not None:
        wanted["domain_name"] = list(domains)
    if params["application_identifier"] is not None:
        wanted["application_identifier"] = params["application_identifier"]
    if params["graph_base_url"] is not None:
        wanted["graph_base_url"] = params["graph_base_url"]
    if run.data["duplicates"]:
        # After the kept one is configured, so a failed update removes nothing.
        result["removed_duplicates"] = [row.get("Name") for row in run.data["duplicates"]]
        run.extra_writes = [
            call("Remove-AuthServer", None, Identity=row.get("Name"), Confirm=False) for row in run.data["duplicates"]
        ]
    return wanted


def new_view(run: Run) -> dict:
    return {
        "name": run.params["name"],
        "type": EXPECTED_TYPE[run.params["type"]],
        "auth_metadata_url": None,
        "enabled": None,
        "realm": None,
        "issuer_identifier": None,
        "application_identifier": None,
        "graph_base_url": None,
        "domain_name": [],
    }


def application_identifier(run: Run) -> list[dict]:
    if "application_identifier" not in run.changes:
        return []
    # AppSecret is its own parameter set: a separate call.
    return [
        call("Set-AuthServer", None, Identity=run.result["name"], ApplicationIdentifier=run.after["application_identifier"])
    ]


def create(run: Run) -> list[dict]:
    parameters = run.new_parameters()
    then = application_identifier(run)
    if run.params["type"] == "azure_ad":
        parameters["Type"] = "AzureAD"
        # New-AuthServer takes -GraphBaseUrl only without -Type (its AuthMetadataUrl parameter set): set it after.
        graph = parameters.pop("GraphBaseUrl", None)
        if graph is not None:
            then.append(call("Set-AuthServer", None, Identity=run.result["name"], GraphBaseUrl=graph))
    return [call("New-AuthServer", None, **parameters)] + then


def update(run: Run) -> list[dict]:
    changed = run.parameters()
    writes = [call("Set-AuthServer", None, Identity=run.result["name"], **changed)] if changed else []
    return writes + application_identifier(run)


def remove(run: Run) -> list[dict]:
    return [call("Remove-AuthServer", None, Identity=run.found.get("Name") or run.params["name"], Confirm=False)]


def planned(run: Run) -> None:
    if (
        run.result["changed"]
        and run.params["type"] == "azure_ad"
        and run.result.get("domain_name_source") in ("existing", "tenant_domain", "none")
    ):
        run.module.warn("AuthServer %s DomainName: %s." % (run.result["name"], run.result["domain_name_reason"]))


def failure(run: Run, stage: str, _error: Optional[ExchangeError]) -> str:
    server = run.params["server"]
    if stage == "read":
        return "read the AuthServers through %s" % server
    if run.action == "removed":
        return "remove AuthServer %s through %s" % (run.params["name"], server)
    verb = "create" if run.action == "created" else "update"
    return "%s AuthServer %s through %s" % (verb, run.result["name"], server)


AUTH_SERVER = ExchangeObject(
    properties=[
        Property("name", "Name", option=None, compare=same_text),
        Property("auth_metadata_url", "AuthMetadataUrl", compare=same_text),
        Property("enabled", "Enabled", compare=same_bool),
        Property("domain_name", "DomainName", option=None, compare=same_set),
        Property("application_identifier", option=None, compare=same_text),
        Property("graph_base_url", "GraphBaseUrl", option=None, compare=same_text),
    ],
    reads=reads,
    host_facts=True,
    locate=locate,
    find=find,
    view=view,
    validate=validate,
    desired=desired,
    new_view=new_view,
    new=create,
    update=update,
    remove=remove,
    planned=planned,
    failure=failure,
    result_key="auth_server",
)


ARGUMENT_SPEC = dict(
    name=dict(type="str", default="MicrosoftSts"),
    tenant_domain=dict(type="str"),
    tenant_id=dict(type="str"),
    type=dict(type="str", default="acs", choices=["acs", "azure_ad"]),
    cloud=dict(type="str", default="global", choices=CLOUD_CHOICES),
    auth_metadata_url=dict(type="str"),
    application_identifier=dict(type="str"),
    graph_base_url=dict(type="str"),
    domain_name=dict(type="list", elements="str"),
    enabled=dict(type="bool", default=True),
    remove_duplicates=dict(type="bool", default=False),
    tenant_domains=dict(
        type="list",
        elements="dict",
        options=dict(
            name=dict(type="str", required=True),
            is_initial=dict(type="bool", default=False),
            is_default=dict(type="bool"),
            type=dict(type="str"),
            capabilities=dict(type="str"),
        ),
    ),
    state=dict(type="str", default="present", choices=["present", "absent"]),
)


def main() -> None:
    module = exchange_module(ARGUMENT_SPEC)
    run_exchange_object(module, AUTH_SERVER)


if __name__ == "__main__":
    main()
