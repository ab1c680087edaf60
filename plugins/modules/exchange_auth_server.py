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
      - Required with O(state=present) unless O(auth_metadata_url) is given.
    type: str
  type:
    description:
      - V(acs) is the ACS issuer of the documented procedure; V(azure_ad) is evoSTS (C(-Type AzureAD)).
    type: str
    choices: [acs, azure_ad]
    default: acs
  cloud:
    description:
      - Microsoft cloud of the tenant; selects the metadata URL.
    type: str
    choices: [global, usgovernment_l4, usgovernment_l5, china]
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
  domain_name:
    description:
      - Tenant domains linked to the AuthServer (C(-DomainName)), for multi-tenant hybrid.
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
    domain_name:
      description: DomainName.
      type: list
      elements: str
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

from ansible_collections.exchange.hybrid.plugins.module_utils._clouds import CLOUD_CHOICES, auth_metadata_url
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange import (
    SERVER_PROPERTIES,
    ExchangeError,
    ExchangeInputError,
    best_version,
    call,
    client_for,
    diff_result,
    exchange_module,
    fail_from_error,
    find_connected,
    format_version,
    is_domain_name,
    minimum_builds,
    parameter_support,
    product_name,
    run_reads,
)

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
]
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
EXPECTED_TYPE = {"acs": "MicrosoftACS", "azure_ad": "AzureAD"}


def check_input(params: dict) -> None:
    name = params["name"]
    if not name or not name.strip():
        raise ExchangeInputError("name must be a non-empty AuthServer name")
    tenant = params.get("tenant_domain")
    if tenant is not None:
        if not (is_domain_name(tenant) or (params["type"] == "azure_ad" and _GUID.match(tenant))):
            raise ExchangeInputError(
                "tenant_domain must be the tenant's DNS domain such as contoso.onmicrosoft.com%s, got %r"
                % (" (or its tenant ID)" if params["type"] == "azure_ad" else "", tenant)
            )
    url = params.get("auth_metadata_url")
    if url is not None and (not re.match(r"^https://[^\s/]+(/\S*)?$", url)):
        raise ExchangeInputError("auth_metadata_url must be an https URL without spaces, got %r" % url)
    if params["state"] == "present" and not tenant and not url:
        raise ExchangeInputError("tenant_domain is required with state present (or give auth_metadata_url)")
    app = params.get("application_identifier")
    if app is not None and not _GUID.match(app):
        raise ExchangeInputError(
            "application_identifier must be an application (client) ID such as 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
        )
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
        "domain_name": list(domains or []),
    }


def type_matches(actual: Any, wanted: str) -> bool:
    actual = str(actual or "")
    if wanted == "azure_ad":
        return actual.lower() == "azuread"
    # Created without -Type (the procedure's command), Exchange may report Unknown or MicrosoftACS.
    return actual.lower() in ("", "microsoftacs", "unknown", "none")


def main() -> None:
    module = exchange_module(
        dict(
            name=dict(type="str", default="MicrosoftSts"),
            tenant_domain=dict(type="str"),
            type=dict(type="str", default="acs", choices=["acs", "azure_ad"]),
            cloud=dict(type="str", default="global", choices=CLOUD_CHOICES),
            auth_metadata_url=dict(type="str"),
            application_identifier=dict(type="str"),
            domain_name=dict(type="list", elements="str"),
            enabled=dict(type="bool", default=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
        )
    )
    params = module.params
    try:
        check_input(params)
    except ExchangeInputError as exc:
        module.fail_json(msg=exc.msg)
    client = client_for(module)
    server, name = params["server"], params["name"]
    result: dict[str, Any] = {"changed": False}
    stage = "read the AuthServers through %s" % server
    try:
        (servers, auth_servers), exsetup = run_reads(
            client, [call("Get-ExchangeServer", SERVER_PROPERTIES), call("Get-AuthServer", AUTH_SERVER_PROPERTIES)]
        )
        connected = find_connected(servers, client) or {}
        adv = connected.get("AdminDisplayVersion")
        version = best_version(adv, exsetup)
        if exsetup:
            # The exact build is known: the client checks every write against the cmdlet catalog before sending.
            client.server_version = version
        result["server_version"] = format_version(version)
        where = "%s (%s, %s build %s)" % (
            server,
            connected.get("Name") or client.computer_name or server,
            product_name(version) if version else "Exchange",
            format_version(version) or "unknown",
        )
        existing = next((row for row in auth_servers if str(row.get("Name") or "").lower() == name.lower()), None)
        before = view(existing)

        if params["state"] == "absent":
            result["auth_server"] = None
            if existing is None:
                diff_result(module, result, before, None)
                module.exit_json(**result)
            result["changed"] = True
            diff_result(module, result, before, None)
            if not module.check_mode:
                stage = "remove AuthServer %s through %s" % (name, server)
                client.run([call("Remove-AuthServer", None, Identity=existing.get("Name") or name, Confirm=False)])
            module.exit_json(**result)

        # Parameters the server's build may lack: refuse before any write.
        for option, cmdlet, parameter in (
            ("domain_name", "New-AuthServer", "DomainName"),
            ("application_identifier", "Set-AuthServer", "ApplicationIdentifier"),
        ):
            if params.get(option) is None:
                continue
            if parameter_support(cmdlet, parameter, adv, exsetup) is False:
                module.fail_json(
                    msg="Failed to configure AuthServer %s: %s (-%s) is not available on %s; it needs %s or later. "
                    "Update the server or leave %s unset."
                    % (name, option, parameter, where, minimum_builds(cmdlet, parameter), option),
                    **result,
                )

        url = params["auth_metadata_url"] or auth_metadata_url(params["cloud"], params["type"], params["tenant_domain"])
        result["auth_metadata_url"] = url
        writes: list[dict] = []
        after = dict(before or {})
        if existing is None:
            create: dict[str, Any] = {"Name": name, "AuthMetadataUrl": url, "Enabled": params["enabled"]}
            if params["type"] == "azure_ad":
                create["Type"] = "AzureAD"
            if params["domain_name"] is not None:
                create["DomainName"] = list(params["domain_name"])
            writes.append(call("New-AuthServer", None, **create))
            after = {
                "name": name,
                "type": EXPECTED_TYPE[params["type"]],
                "auth_metadata_url": url,
                "enabled": params["enabled"],
                "realm": None,
                "issuer_identifier": None,
                "application_identifier": None,
                "domain_name": list(params["domain_name"] or []),
            }
        else:
            if not type_matches(existing.get("Type"), params["type"]):
                module.fail_json(
                    msg="Failed to configure AuthServer %s through %s: it exists with type %s, not %s, and an "
                    "AuthServer's type cannot be changed. Remove it first (state: absent) or choose another name."
                    % (name, where, existing.get("Type"), EXPECTED_TYPE[params["type"]]),
                    auth_server=before,
                    **result,
                )
            update: dict[str, Any] = {}
            if str(existing.get("AuthMetadataUrl") or "") != url:
                update["AuthMetadataUrl"] = url
                after["auth_metadata_url"] = url
            if bool(existing.get("Enabled")) != params["enabled"]:
                update["Enabled"] = params["enabled"]
                after["enabled"] = params["enabled"]
            if params["domain_name"] is not None:
                have = sorted(d.lower() for d in (before or {}).get("domain_name") or [])
                if have != sorted(d.lower() for d in params["domain_name"]):
                    update["DomainName"] = list(params["domain_name"])
                    after["domain_name"] = list(params["domain_name"])
            if update:
                writes.append(call("Set-AuthServer", None, Identity=existing.get("Name") or name, **update))
        app = params["application_identifier"]
        if app is not None and str((existing or {}).get("ApplicationIdentifier") or "").lower() != app.lower():
            # AppSecret is its own parameter set: a separate call.
            writes.append(call("Set-AuthServer", None, Identity=name, ApplicationIdentifier=app))
            after["application_identifier"] = app

        result["changed"] = bool(writes)
        if writes and not module.check_mode:
            stage = ("create" if existing is None else "update") + " AuthServer %s through %s" % (name, server)
            outputs = client.run(writes + [call("Get-AuthServer", AUTH_SERVER_PROPERTIES)])
            found = next((row for row in outputs[-1] if str(row.get("Name") or "").lower() == name.lower()), None)
            after = view(found) or after
        result["auth_server"] = after if writes else before
        for warning in client.warnings:
            module.warn(warning)
        diff_result(module, result, before, result["auth_server"])
        module.exit_json(**result)
    except ExchangeError as exc:
        fail_from_error(module, exc, stage, **result)


if __name__ == "__main__":
    main()
