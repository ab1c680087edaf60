#!/usr/bin/python
# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: exchange_server_info
short_description: List the Exchange servers of an organization with their builds and push/hybrid readiness
version_added: 0.1.0
description:
  - Reads every Exchange server of the organization (C(Get-ExchangeServer)) and the organization
    (C(Get-OrganizationConfig)) through the server it connects to, in one PowerShell process.
  - In the same process it reads C(Get-AuthConfig) and the connected server's certificates
    (C(Get-ExchangeCertificate)), and returns in RV(auth_certificate) whether AuthConfig's current Auth certificate
    is in this server's store with its private key (and in RV(next_auth_certificate) the same for a staged next
    certificate), so a per-server check needs no second module run.
  - The build is read from the C(AdminDisplayVersion) object (Major, Minor, Build, Revision), not from its text.
  - Per server, RV(servers[].meets_push_minimum) tells whether the build is at least Exchange 2013 CU3
    (15.0.775.38), which push notifications require, and RV(servers[].supports_hybrid_application) whether the
    build has the April 2025 hotfix update that brings the dedicated Exchange hybrid application.
  - C(AdminDisplayVersion) shows the cumulative update only. For the server the module is connected to, the
    module also reads the file version of C(ExSetup.exe), which shows hotfix updates; for the other servers a
    hotfix update on the same cumulative update cannot be seen, and
    RV(servers[].supports_hybrid_application_known) is then V(false). Run the module against each server (the
    C(exchange) inventory group) to know it for all of them.
options: {}
extends_documentation_fragment:
  - exchange.hybrid.exchange_connection
  - exchange.hybrid.attributes.info_module
  - exchange.hybrid.attributes.action_plugin
  - exchange.hybrid.actiongroup_exchange
author:
  - exchange.hybrid maintainers (@exchange-hybrid)
"""

EXAMPLES = r"""
- name: Read the organization's servers through each Exchange host of the inventory (psrp or winrm connection)
  exchange.hybrid.exchange_server_info:
  register: exchange

- name: Stop when a server is older than Exchange 2013 CU3
  ansible.builtin.assert:
    that: exchange.below_push_minimum | length == 0
    fail_msg: "Update these servers to Exchange 2013 CU3 or later first: {{ exchange.below_push_minimum | join(', ') }}"

- name: Connect explicitly from the controller
  exchange.hybrid.exchange_server_info:
    server: ex01.contoso.com
    username: CONTOSO\exadmin
    password: "{{ exchange_password }}"
    ca_path: /etc/pki/contoso-ca.pem
  delegate_to: localhost
"""

RETURN = r"""
servers:
  description: Every Exchange server of the organization.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Server name.
      type: str
      sample: EX01
    fqdn:
      description: Fully qualified domain name.
      type: str
      sample: ex01.contoso.com
    domain:
      description: The server's DNS domain.
      type: str
      sample: contoso.com
    edition:
      description: Edition (Standard, Enterprise...).
      type: str
    admin_display_version:
      description: C(AdminDisplayVersion) as Exchange prints it (cumulative update level only).
      type: str
      sample: Version 15.0 (Build 775.38)
    version:
      description: The build from C(AdminDisplayVersion), dotted.
      type: str
      sample: 15.0.775.38
    build:
      description: The build's parts.
      type: dict
      sample: {major: 15, minor: 0, build: 775, revision: 38}
    exsetup_version:
      description: File version of C(ExSetup.exe) (shows hotfix updates); only for the connected server, else null.
      type: str
      sample: 15.2.1748.24
    effective_version:
      description: The build the readiness checks used (the ExSetup version when known).
      type: str
    product:
      description: Product line of the build.
      type: str
      sample: Exchange 2019
    roles:
      description: Server roles.
      type: list
      elements: str
      sample: [Mailbox]
    site:
      description: Active Directory site, as Exchange prints it.
      type: str
    site_name:
      description: Last part of RV(servers[].site).
      type: str
      sample: Default-First-Site-Name
    is_edge:
      description: Whether the server is an Edge Transport server.
      type: bool
    connected:
      description: Whether this is the server the module connected to.
      type: bool
    meets_push_minimum:
      description: Whether the build is Exchange 2013 CU3 (15.0.775.38) or later.
      type: bool
    supports_hybrid_application:
      description: >-
        Whether the build has the dedicated hybrid application support (2016 CU23 15.1.2507.55, 2019 CU14
        15.2.1544.25, 2019 CU15 15.2.1748.24, SE 15.2.2562.17 or later); false for Edge servers.
      type: bool
    supports_hybrid_application_known:
      description: False when only the cumulative update is known and a hotfix update could change the answer.
      type: bool
    supports_auth_server_domain_name:
      description: Whether New-AuthServer/Set-AuthServer take C(-DomainName) (2016 CU18, 2019 CU7 or later).
      type: bool
    supports_graph_flow:
      description: >-
        Whether the build has the hybrid Graph workflow (the C(RouteThroughMSGraph) setting override) of the May 2026
        hotfix update, Exchange SE 15.2.2562.41 or later (Exchange 2016 and 2019 got no May 2026 hotfix update);
        false for Edge servers.
      type: bool
    supports_graph_flow_known:
      description: False when only the cumulative update is known and the May 2026 hotfix update could be installed.
      type: bool
    graph_flow_needs:
      description: What the server needs for the Graph workflow (null when it has it, and for Edge servers).
      type: str
      sample: the May 2026 hotfix update (15.2.2562.41)
connected_server:
  description: Name of the server the module connected to (its computer name, from the default WinRM endpoint).
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
below_push_minimum:
  description: Names of the servers older than Exchange 2013 CU3.
  returned: success
  type: list
  elements: str
  sample: [EX2013CU2]
all_meet_push_minimum:
  description: Whether every server is Exchange 2013 CU3 or later.
  returned: success
  type: bool
auth_certificate:
  description:
    - AuthConfig's current Auth certificate as the connected server holds it. Exchange replicates AuthConfig to
      every server, but each server needs the certificate with its private key in its own store.
    - V(null) when AuthConfig or the certificates could not be read through this server (an Edge Transport server,
      Exchange 2010, or missing rights); the module then warns and still returns the servers.
  returned: success
  type: dict
  contains:
    thumbprint:
      description: AuthConfig's C(CurrentCertificateThumbprint), upper case; V(null) when AuthConfig has none.
      type: str
      sample: 6A1B1F4E2C7D3A5B8E9F0A1B2C3D4E5F60718293
    present:
      description: Whether the certificate is in the connected server's certificate store.
      type: bool
    has_private_key:
      description: Whether the server holds its private key (V(null) when not present).
      type: bool
    private_key_exportable:
      description: Whether the private key is exportable (V(null) when not present).
      type: bool
    public_key_size:
      description: Key size in bits (V(null) when not present).
      type: int
      sample: 2048
    not_before:
      description: Start of validity, UTC (V(null) when not present).
      type: str
    not_after:
      description: End of validity, UTC (V(null) when not present).
      type: str
      sample: "2031-01-01T00:00:00Z"
    days_remaining:
      description: Whole days until RV(auth_certificate.not_after), by the server's clock (V(null) when not present).
      type: int
    signature_algorithm:
      description: Signature algorithm as Windows names it (V(null) when not present).
      type: str
      sample: sha256RSA
    usable:
      description: >-
        Whether this server can sign with it: present, with an exportable private key of at least 2048 bits, a
        SHA-256 or better signature, valid now and not revoked (the judgement of
        M(exchange.hybrid.exchange_auth_info)'s RV(exchange.hybrid.exchange_auth_info#module:servers[].auth_certificate)).
      type: bool
    problems:
      description: Why it is not usable here (empty when it is; C(AuthConfig names no certificate) when it names none).
      type: list
      elements: str
      sample: [it has no private key]
next_auth_certificate:
  description:
    - AuthConfig's staged next certificate as the connected server holds it, with the keys of RV(auth_certificate)
      and C(effective_date) (AuthConfig's C(NextCertificateEffectiveDate)).
    - V(null) when no next certificate is staged or AuthConfig could not be read.
  returned: success
  type: dict
  sample:
    thumbprint: 7B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E
    effective_date: "2030-06-01T00:00:00Z"
    present: true
    has_private_key: true
    private_key_exportable: true
    public_key_size: 2048
    not_before: "2030-05-01T00:00:00Z"
    not_after: "2035-05-01T00:00:00Z"
    days_remaining: 3078
    signature_algorithm: sha256RSA
    usable: true
    problems: []
"""

import datetime as dt
from typing import Any, Optional

from ansible_collections.exchange.hybrid.plugins.module_utils._auth_certificates import CERTIFICATE_PROPERTIES, store_state
from ansible_collections.exchange.hybrid.plugins.module_utils._errors import (
    ExchangeCommandError,
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

AUTH_PROPERTIES = ["CurrentCertificateThumbprint", "NextCertificateThumbprint", "NextCertificateEffectiveDate"]
AUTH_CMDLETS = ("Get-AuthConfig", "Get-ExchangeCertificate")


def certificate_state(thumbprint: Any, certificates: list[dict], now: dt.datetime) -> dict[str, Any]:
    """The certificate ``thumbprint`` as this server's store holds it, judged as exchange_auth_info judges it
    (``store_state``), under this module's documented name for the key size."""
    state = store_state(thumbprint, certificates, now)
    state["public_key_size"] = state.pop("key_size")
    return state


BASE_READS = [
    call("Get-ExchangeServer", SERVER_PROPERTIES),
    call("Get-OrganizationConfig", ["Name", "Guid", "Identity"]),
]
AUTH_READS = [call("Get-AuthConfig", AUTH_PROPERTIES), call("Get-ExchangeCertificate", CERTIFICATE_PROPERTIES)]


def read(module: Any, client: Any) -> tuple:
    """(servers, organization, AuthConfig rows or None, certificates, ExSetup version) through one session."""
    try:
        (servers, organization, auth_rows, certificates), exsetup = run_reads(client, BASE_READS + AUTH_READS)
    except ExchangeCommandError as exc:
        # Edge Transport and Exchange 2010 have no Get-AuthConfig: the servers are still worth returning.
        if exc.kind != "cmdlet" or exc.cmdlet not in AUTH_CMDLETS:
            raise
        module.warn(
            "AuthConfig and the certificates could not be read through %s (%s); auth_certificate is null"
            % (module.params["server"], exc.msg)
        )
        (servers, organization), exsetup = run_reads(client, BASE_READS)
        return servers, organization, None, [], exsetup
    return servers, organization, auth_rows, certificates, exsetup


def auth_certificates(client: Any, auth_rows: Optional[list[dict]], certificates: list[dict]) -> tuple:
    """AuthConfig's current and staged certificates as this server's store holds them (None without AuthConfig)."""
    if auth_rows is None:
        return None, None
    now = now_for(client)
    auth = auth_rows[0] if auth_rows else {}
    current = certificate_state(auth.get("CurrentCertificateThumbprint"), certificates, now)
    staged = None
    if auth.get("NextCertificateThumbprint"):
        staged = certificate_state(auth.get("NextCertificateThumbprint"), certificates, now)
        staged["effective_date"] = auth.get("NextCertificateEffectiveDate") or None
    return current, staged


def server_info(module: Any, client: Any) -> dict:
    servers, organization, auth_rows, certificates, exsetup = read(module, client)
    connected = find_connected(servers, client)
    facts = [server_facts(row, exsetup, row is connected) for row in servers]
    org = organization[0] if organization else {}
    below = [f["name"] for f in facts if not f["meets_push_minimum"]]
    current, staged = auth_certificates(client, auth_rows, certificates)
    return dict(
        changed=False,
        servers=facts,
        connected_server=(connected or {}).get("Name") or client.computer_name,
        organization={"name": org.get("Name"), "guid": org.get("Guid")},
        below_push_minimum=below,
        all_meet_push_minimum=not below,
        auth_certificate=current,
        next_auth_certificate=staged,
    )


def main() -> None:
    module = exchange_module({})
    client = client_for(module)
    try:
        found = server_info(module, client)
    except ExchangeError as exc:
        fail_from_error(module, exc, "read the Exchange servers through %s" % module.params["server"])
        return
    module.exit_json(**found)


if __name__ == "__main__":
    main()
