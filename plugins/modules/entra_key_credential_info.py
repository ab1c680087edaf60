# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: entra_key_credential_info
short_description: Read the key credentials of the Exchange service principal and the dedicated hybrid application
version_added: 0.1.0
description:
  - Reads, through Microsoft Graph, the key credentials (certificates) on the shared Office 365 Exchange Online
    service principal (appId C(00000002-0000-0ff1-ce00-000000000000)) and on the dedicated Exchange hybrid
    application, with the application's service principal, its API permissions and whether admin consent covers
    them.
  - Each key is returned with its id, thumbprint, display name, type, usage, start and end dates, whether it has
    expired at O(reference_time), and whether it is one of ours (O(thumbprints)). Key material is never returned.
  - The dedicated application is found as M(exchange.hybrid.msol_sp_credential) finds it (O(application_id), else
    O(application_display_name), else C(ExchangeServerApp-<exchange_organization_guid>)). An application (or
    service principal) that does not exist is an answer (C(found=false)), not a failure.
  - Changes nothing; C(changed) is always false.
options:
  target:
    description:
      - Which Entra objects to read.
    type: str
    choices: [both, shared_service_principal, hybrid_application]
    default: both
  application_id:
    description:
      - Application (client) id of the dedicated hybrid application.
      - Mutually exclusive with O(application_display_name).
    type: str
  application_display_name:
    description:
      - Display name of the dedicated hybrid application, at most 256 characters.
      - Defaults to C(ExchangeServerApp-<exchange_organization_guid>), the name Microsoft's script uses.
    type: str
  exchange_organization_guid:
    description:
      - GUID of the Exchange organization (C((Get-OrganizationConfig).Guid)), used to build the default
        O(application_display_name).
      - With O(target=both) or O(target=hybrid_application), one of O(application_id), O(application_display_name)
        and O(exchange_organization_guid) is required.
    type: str
  thumbprints:
    description:
      - SHA-1 thumbprints (40 hexadecimal characters; spaces and colons are ignored) of our certificates, such as
        AuthConfig's current, next and previous certificates. Keys with one of them get RV(shared_service_principal.keys[].ours=true),
        so an audit can tell our keys left on the shared service principal from keys that are not ours.
      - Empty entries are ignored.
    type: list
    elements: str
    default: []
  reference_time:
    description:
      - The time each key's RV(shared_service_principal.keys[].expired) is judged against, a UTC time in ISO 8601
        such as C(2026-12-01T12:00:00Z) (a time without offset is read as UTC).
      - Defaults to the controller's clock. Pass the Exchange server's clock (C(server_utc_now) of
        C(exchange.hybrid.exchange_auth_info)) to judge keys as Exchange does.
    type: str
extends_documentation_fragment:
  - exchange.hybrid.graph_connection
  - exchange.hybrid.attributes.info_module
  - exchange.hybrid.actiongroup_graph
notes:
  - Needs the Microsoft Graph application permission C(Application.Read.All) (or C(Application.ReadWrite.All),
    C(Directory.Read.All)).
  - A key counts as expired when its end date is at or before O(reference_time).
seealso:
  - module: exchange.hybrid.msol_sp_credential
  - name: Microsoft Graph keyCredential resource
    description: Fields of a key credential.
    link: https://learn.microsoft.com/graph/api/resources/keycredential
author:
  - exchange.hybrid contributors (@exchange-hybrid)
"""

EXAMPLES = r"""
- name: Keys on the shared service principal and the dedicated application, judged by the Exchange server's clock
  exchange.hybrid.entra_key_credential_info:
    tenant: contoso.onmicrosoft.com
    exchange_organization_guid: "{{ org_guid }}"
    thumbprints: "{{ [current_thumbprint, next_thumbprint, previous_thumbprint] | select | list }}"
    reference_time: "{{ auth_info.server_utc_now }}"
  register: entra_keys

- name: Our keys still on the shared service principal
  ansible.builtin.debug:
    msg: "{{ entra_keys.shared_service_principal.keys | selectattr('ours') | map(attribute='thumbprint') | list }}"

- name: Only the shared service principal
  exchange.hybrid.entra_key_credential_info:
    tenant: contoso.onmicrosoft.com
    target: shared_service_principal
  register: shared_keys
"""

RETURN = r"""
reference_time:
  description: The time the keys' C(expired) was judged against (UTC).
  returned: always
  type: str
  sample: "2026-12-01T12:00:00Z"
shared_service_principal:
  description: The Office 365 Exchange Online service principal.
  returned: when O(target) is V(both) or V(shared_service_principal)
  type: dict
  contains:
    found:
      description: Whether the tenant has it.
      type: bool
    id:
      description: Its object id.
      type: str
    app_id:
      description: Its application id.
      type: str
    display_name:
      description: Its display name.
      type: str
    keys:
      description: Its key credentials (no key material).
      type: list
      elements: dict
      contains:
        key_id:
          description: The key's id.
          type: str
        thumbprint:
          description: SHA-1 thumbprint of the certificate (upper-case hex).
          type: str
        display_name:
          description: The key's display name.
          type: str
        type:
          description: Key type, such as C(AsymmetricX509Cert).
          type: str
        usage:
          description: Key usage, such as C(Verify).
          type: str
        start_date_time:
          description: Start of validity (UTC, ISO 8601).
          type: str
        end_date_time:
          description: End of validity (UTC, ISO 8601).
          type: str
        expired:
          description: Whether the end date is at or before RV(reference_time).
          type: bool
        ours:
          description: Whether the thumbprint is one of O(thumbprints).
          type: bool
  sample:
    found: true
    id: 0c3d9f6e-5a1b-4c2d-8e7f-1a2b3c4d5e6f
    app_id: 00000002-0000-0ff1-ce00-000000000000
    display_name: Office 365 Exchange Online
    keys:
      - key_id: 7b0d4a9e-2c1f-4e53-9a8b-6f5e4d3c2b1a
        thumbprint: 2B5C7E1F0A9D8C7B6A5F4E3D2C1B0A9F8E7D6C5B
        display_name: CN=Microsoft Exchange Server Auth Certificate
        type: AsymmetricX509Cert
        usage: Verify
        start_date_time: "2026-01-01T00:00:00Z"
        end_date_time: "2030-12-31T00:00:00Z"
        expired: false
        ours: true
hybrid_application:
  description: The dedicated Exchange hybrid application.
  returned: when O(target) is V(both) or V(hybrid_application)
  type: dict
  contains:
    found:
      description: Whether the application exists.
      type: bool
    id:
      description: Its object id (null when not found).
      type: str
    app_id:
      description: Its application (client) id (null when not found).
      type: str
    display_name:
      description: Its display name (the name looked for when not found by O(application_id)).
      type: str
    keys:
      description: Its key credentials, shaped as RV(shared_service_principal.keys) (empty when not found).
      type: list
      elements: dict
    service_principal:
      description: The application's service principal, C(found) and C(id).
      type: dict
    permissions:
      description: The API permissions the application requests (C(requiredResourceAccess)).
      type: list
      elements: dict
      contains:
        resource_app_id:
          description: Application id of the API.
          type: str
        resource:
          description: Display name of the API's service principal (null when the tenant has none).
          type: str
        type:
          description: C(Role) (application permission) or C(Scope) (delegated permission).
          type: str
        value:
          description: The permission's name, such as C(full_access_as_app) (null when the API does not define it).
          type: str
        id:
          description: The permission's id.
          type: str
        consented:
          description: Whether admin consent covers it (an app role assignment for a C(Role), a tenant-wide
            delegated grant for a C(Scope)).
          type: bool
        family:
          description: >-
            The family of the dedicated application's permissions it belongs to, C(ews) (C(full_access_as_app)) or
            C(graph) (the May 2026 Graph workflow's C(Calendars.Read), C(MailboxSettings.Read),
            C(MailTips.ReadBasic.All), C(ProfilePhoto.Read.All) on Microsoft Graph); null for any other permission.
          type: str
    consent_granted:
      description: Whether the application has a service principal, requests at least one permission and admin
        consent covers every permission it requests.
      type: bool
  sample:
    found: true
    id: 9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d
    app_id: 11111111-2222-4333-8444-555555555555
    display_name: ExchangeServerApp-5e3c2a1b-0f9e-4d8c-b7a6-95f4e3d2c1b0
    keys: []
    service_principal: {found: true, id: 22222222-2222-4222-8222-222222222222}
    permissions:
      - resource_app_id: 00000002-0000-0ff1-ce00-000000000000
        resource: Office 365 Exchange Online
        type: Role
        value: full_access_as_app
        id: dc890d15-9560-4a4c-9b7f-a736ec74ec40
        consented: true
        family: ews
    consent_granted: true
graph_error:
  description: Status, Graph error code and request-id of a failed call.
  returned: on Graph failures
  type: dict
"""

import datetime as dt
from typing import Any

from ansible_collections.exchange.hybrid.plugins.module_utils._certificates import thumbprint_of_key
from ansible_collections.exchange.hybrid.plugins.module_utils._errors import GraphError, HybridError, fail_from_error
from ansible_collections.exchange.hybrid.plugins.module_utils._graph import GraphClient, graph_module
from ansible_collections.exchange.hybrid.plugins.module_utils._hybrid_application import (
    application_name,
    find_applications,
    find_exchange_online,
    find_service_principals,
    lookup_problem,
    permissions_view,
)
from ansible_collections.exchange.hybrid.plugins.module_utils._key_credentials import (
    READ_APPS,
    EntraRefusal,
    is_expired,
    key_view,
    parse_utc_option,
    read_keys,
)
from ansible_collections.exchange.hybrid.plugins.module_utils._module import HybridModule
from ansible_collections.exchange.hybrid.plugins.module_utils._values import format_utc, normalize_thumbprint, utc_now

ARGUMENT_SPEC = dict(
    target=dict(type="str", default="both", choices=["both", "shared_service_principal", "hybrid_application"]),
    application_id=dict(type="str"),
    application_display_name=dict(type="str"),
    exchange_organization_guid=dict(type="str"),
    thumbprints=dict(type="list", elements="str", default=[]),
    reference_time=dict(type="str"),
)


def load_input(params: dict[str, Any]) -> tuple[set[str], dt.datetime]:
    """(our thumbprints, reference time); EntraRefusal names the option and the fix, before any Graph call."""
    try:
        ours = {normalize_thumbprint(t, "every entry of thumbprints") for t in params["thumbprints"] if t and t.strip()}
        at = parse_utc_option(params["reference_time"], "reference_time") or utc_now()
    except HybridError as error:
        raise EntraRefusal(error.msg) from None
    except ValueError as error:
        raise EntraRefusal(str(error)) from None
    if params["target"] != "shared_service_principal":
        problem = lookup_problem(params, params["target"])
        if problem:
            raise EntraRefusal(problem)
    return ours, at


def keys_view(keys: list[dict[str, Any]], ours: set[str], at: dt.datetime) -> list[dict[str, Any]]:
    return [dict(key_view(k), expired=is_expired(k, at), ours=thumbprint_of_key(k) in ours) for k in keys]


def shared_service_principal(client: GraphClient, ours: set[str], at: dt.datetime) -> dict[str, Any]:
    found = find_exchange_online(client)
    if len(found) > 1:
        raise EntraRefusal(f"Found {len(found)} service principals for Office 365 Exchange Online in the tenant; "
                           "expected at most one.")
    if not found:
        return {"found": False, "id": None, "app_id": None, "display_name": None, "keys": []}
    sp = found[0]
    label = f"the service principal '{sp.get('displayName')}' ({sp['id']})"
    keys = read_keys(client, f"servicePrincipals/{sp['id']}", label)
    return {"found": True, "id": sp["id"], "app_id": sp.get("appId"), "display_name": sp.get("displayName"),
            "keys": keys_view(keys, ours, at)}


def hybrid_application(client: GraphClient, params: dict[str, Any], ours: set[str], at: dt.datetime) -> dict[str, Any]:
    name = application_name(params["application_display_name"], params["exchange_organization_guid"])
    found, label = find_applications(client, params["application_id"], name)
    if len(found) > 1:
        ids = ", ".join(a["appId"] for a in found)
        raise EntraRefusal(f"Found {len(found)} applications {label} (appIds {ids}); set application_id to pick one.")
    if not found:
        return {"found": False, "id": None, "app_id": params["application_id"],
                "display_name": None if params["application_id"] else name, "keys": [],
                "service_principal": {"found": False, "id": None}, "permissions": [], "consent_granted": False}
    app = found[0]
    keys = read_keys(client, f"applications/{app['id']}", f"the application '{app['displayName']}' ({app['appId']})")
    sps = find_service_principals(client, app)
    sp = sps[0] if sps else None
    permissions = permissions_view(client, app, sp)
    return {
        "found": True,
        "id": app["id"],
        "app_id": app["appId"],
        "display_name": app["displayName"],
        "keys": keys_view(keys, ours, at),
        "service_principal": {"found": sp is not None, "id": sp["id"] if sp else None},
        "permissions": permissions,
        "consent_granted": sp is not None and bool(permissions) and all(p["consented"] for p in permissions),
    }


def run(module: HybridModule) -> dict[str, Any]:
    params = module.params
    ours, at = load_input(params)
    try:
        client = GraphClient(params)
    except GraphError as error:
        raise EntraRefusal(error.msg) from None  # bad connection options: not a Graph answer
    module.add_client(client)  # its warnings are shown when the module ends
    client.replication_wait = 0.0  # a reader does not wait for objects to appear: not found is the answer
    client.require_permissions({"Application.Read.All": READ_APPS}, "read the keys in Entra ID")
    result: dict[str, Any] = {"changed": False, "reference_time": format_utc(at)}
    if params["target"] in ("both", "shared_service_principal"):
        result["shared_service_principal"] = shared_service_principal(client, ours, at)
    if params["target"] in ("both", "hybrid_application"):
        result["hybrid_application"] = hybrid_application(client, params, ours, at)
    return result


def main() -> None:
    module = graph_module(ARGUMENT_SPEC, mutually_exclusive=[("application_id", "application_display_name")])
    try:
        module.exit_json(**run(module))
    except GraphError as error:
        fail_from_error(module, error)


if __name__ == "__main__":
    main()
