# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: tenant_info
short_description: Check that a Microsoft Entra tenant exists and answers, and read its verified domains
version_added: 0.1.0
description:
  - Step 1 of the Exchange hybrid OAuth procedure; make sure the Microsoft 365 tenant exists in the chosen cloud.
  - Reads the tenant's OpenID configuration from C(<login host>/<tenant>/v2.0/.well-known/openid-configuration),
    which needs no credentials, and returns the tenant id and cloud.
  - With credentials (O(client_secret), O(client_certificate_path) or O(access_token)) it also reads the organization
    through Microsoft Graph and returns its display name and verified domains. This needs the Microsoft Graph
    application permission C(Organization.Read.All) (or C(Directory.Read.All)).
  - An unknown tenant fails the task with Entra's explanation (C(AADSTS90002)).
options: {}
extends_documentation_fragment:
  - exchange.hybrid.graph_connection
  - exchange.hybrid.attributes.info_module
  - exchange.hybrid.actiongroup_graph
seealso:
  - module: exchange.hybrid.msol_sp_credential
author:
  - exchange.hybrid contributors (@exchange-hybrid)
"""

EXAMPLES = r"""
- name: The tenant exists (no credentials needed)
  exchange.hybrid.tenant_info:
    tenant: contoso.onmicrosoft.com
  register: tenant

- name: Tenant id and verified domains, with the automation app's credentials from AZURE_* variables
  exchange.hybrid.tenant_info:
    tenant: contoso.onmicrosoft.com
    cloud: global
  register: tenant

- name: Show the tenant id
  ansible.builtin.debug:
    msg: "{{ tenant.tenant_id }} ({{ tenant.verified_domains | map(attribute='name') | join(', ') }})"
"""

RETURN = r"""
tenant:
  description: The tenant as given.
  returned: always
  type: str
  sample: contoso.onmicrosoft.com
tenant_id:
  description: The tenant id (GUID), from the OpenID configuration.
  returned: always
  type: str
  sample: 6a4b3c2d-1e0f-4a5b-8c7d-9e8f7a6b5c4d
cloud:
  description: The cloud the tenant was found in.
  returned: always
  type: str
  sample: global
login_host:
  description: The login host asked.
  returned: always
  type: str
  sample: https://login.microsoftonline.com
graph_endpoint:
  description: The Microsoft Graph host of the cloud (or O(graph_endpoint)).
  returned: always
  type: str
  sample: https://graph.microsoft.com
issuer:
  description: The token issuer of the tenant.
  returned: always
  type: str
  sample: https://login.microsoftonline.com/6a4b3c2d-1e0f-4a5b-8c7d-9e8f7a6b5c4d/v2.0
token_endpoint:
  description: The tenant's OAuth 2.0 token endpoint.
  returned: always
  type: str
tenant_region_scope:
  description: Region of the tenant as the OpenID configuration reports it (for example C(EU), C(NA), C(USGov)).
  returned: when reported
  type: str
cloud_instance_name:
  description: Cloud instance name from the OpenID configuration (for example C(microsoftonline.com)).
  returned: when reported
  type: str
display_name:
  description: Display name of the organization.
  returned: with credentials
  type: str
verified_domains:
  description: The verified domains of the organization.
  returned: with credentials
  type: list
  elements: dict
  contains:
    name:
      description: Domain name.
      type: str
    is_default:
      description: Whether it is the default domain.
      type: bool
    is_initial:
      description: Whether it is the initial C(onmicrosoft) domain.
      type: bool
    type:
      description: C(Managed) or C(Federated).
      type: str
    capabilities:
      description: Services enabled for the domain, such as C(Email, OfficeCommunicationsOnline).
      type: str
default_domain:
  description: The default verified domain.
  returned: with credentials
  type: str
initial_domain:
  description: The initial domain (C(<name>.onmicrosoft.com) in the global cloud).
  returned: with credentials
  type: str
graph_error:
  description: Status, error code and request-id of a failed call.
  returned: on failures
  type: dict
"""

from typing import Any
from urllib.parse import urlsplit

from ansible_collections.exchange.hybrid.plugins.module_utils._errors import GraphError, fail_from_error
from ansible_collections.exchange.hybrid.plugins.module_utils._graph import GraphClient, graph_module
from ansible_collections.exchange.hybrid.plugins.module_utils._module import HybridModule
from ansible_collections.exchange.hybrid.plugins.module_utils._values import GUID


def tenant_id_from(config: dict[str, Any]) -> str | None:
    for key in ("token_endpoint", "issuer"):
        path = urlsplit(config.get(key) or "").path
        match = GUID.search(path)
        if match:
            return match.group(0).lower()
    return None


def run(module: HybridModule) -> dict[str, Any]:
    params = module.params
    client = GraphClient(params)
    config = client.openid_configuration()
    tenant_id = tenant_id_from(config)
    if tenant_id is None:
        raise GraphError(f"Failed to read the tenant id of '{client.tenant}': the OpenID configuration names none.")
    result: dict[str, Any] = {
        "changed": False,
        "tenant": client.tenant,
        "tenant_id": tenant_id,
        "cloud": client.cloud,
        "login_host": client.login_url,
        "graph_endpoint": client.graph_url,
        "issuer": config.get("issuer"),
        "token_endpoint": config.get("token_endpoint"),
    }
    for key in ("tenant_region_scope", "cloud_instance_name"):
        if config.get(key):
            result[key] = config[key]
    if params["access_token"] or params["client_secret"] or params["client_certificate_path"]:
        organizations = client.get_all(
            "organization",
            f"read the organization of tenant '{client.tenant}'",
            params={"$select": "id,displayName,verifiedDomains"},
            permission="Organization.Read.All",
        )
        if not organizations:
            raise GraphError(f"Failed to read the organization of tenant '{client.tenant}': Graph returned none.")
        org = organizations[0]
        domains = [
            {
                "name": d.get("name"),
                "is_default": bool(d.get("isDefault")),
                "is_initial": bool(d.get("isInitial")),
                "type": d.get("type"),
                "capabilities": d.get("capabilities"),
            }
            for d in org.get("verifiedDomains") or []
        ]
        result.update(
            display_name=org.get("displayName"),
            verified_domains=domains,
            default_domain=next((d["name"] for d in domains if d["is_default"]), None),
            initial_domain=next((d["name"] for d in domains if d["is_initial"]), None),
        )
    for warning in client.warnings:
        module.warn(warning)
    return result


def main() -> None:
    module = graph_module({})
    try:
        result = run(module)
    except GraphError as error:
        fail_from_error(module, error)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
