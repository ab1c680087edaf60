# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: msol_sp_credential
short_description: Upload the Exchange Auth certificate to Microsoft Entra ID as a key credential
version_added: 0.1.0
description:
  - Adds (or removes) the public key of the Exchange Server Auth certificate as a key credential (type
    C(AsymmetricX509Cert), usage C(Verify)) on a Microsoft Entra object, through Microsoft Graph. This replaces the
    retired MSOnline C(New-MsolServicePrincipalCredential) step of the Exchange hybrid OAuth procedure.
  - O(target=shared_service_principal) uses the service principal of Office 365 Exchange Online
    (appId C(00000002-0000-0ff1-ce00-000000000000)), as the documented procedure does.
  - O(target=hybrid_application) uses the dedicated Exchange hybrid application Microsoft requires since 2025
    (keys go on the application object). With O(create_application=true) the application is created (or
    completed) as Microsoft's C(ConfigureExchangeHybridApplication.ps1) does it; single-tenant application,
    Office 365 Exchange Online C(full_access_as_app) application permission, service principal, and admin consent
    by an app role assignment.
  - Graph returns key data only to a single-object read with C($select=keyCredentials), and a write replaces the
    whole collection. So the module reads every key with its data, matches by certificate thumbprint (SHA-1 of the
    key's DER, or the key's C(customKeyIdentifier)), writes back every other key unchanged together with ours, then
    reads again and verifies. A key that is not ours is never dropped (unless O(prune_expired) and expired).
  - When the connection drops during the write, the module re-reads the keys to learn whether Graph applied it and
    reports accordingly; it never resends the write blindly.
options:
  certificate:
    description:
      - The public Auth certificate, PEM or base64 of its DER bytes (what M(exchange.hybrid.exchange_oauth_cert)
        returns).
      - A private key is refused and never echoed.
      - Mutually exclusive with O(certificate_path) and O(thumbprint).
    type: str
  certificate_path:
    description:
      - File holding the public certificate (PEM, base64 DER or binary DER C(.cer)).
    type: path
  next_certificate:
    description:
      - AuthConfig's staged next Auth certificate (the C(certificate) of RV(exchange.hybrid.exchange_oauth_cert#module:next_certificate)),
        PEM or base64 of its DER bytes. Its key is added in the same write as the key of O(certificate), so that Entra
        ID knows it before Exchange switches to it.
      - Only with O(state=present) and O(certificate) or O(certificate_path). A private key is refused and never echoed.
    type: str
  thumbprint:
    description:
      - SHA-1 thumbprint (40 hex characters) of the certificate whose key to remove. Only with O(state=absent),
        for when the certificate itself is no longer at hand.
    type: str
  state:
    description:
      - V(present) adds the certificate's key when it is missing; V(absent) removes the key(s) of this certificate
        and nothing else.
    type: str
    choices: [present, absent]
    default: present
  target:
    description:
      - Which Entra object carries the key.
    type: str
    choices: [shared_service_principal, hybrid_application]
    default: shared_service_principal
  application_id:
    description:
      - Application (client) id of an existing dedicated hybrid application. Only with
        O(target=hybrid_application).
      - Mutually exclusive with O(application_display_name).
    type: str
  application_display_name:
    description:
      - Display name of the dedicated hybrid application. Only with O(target=hybrid_application).
      - Defaults to C(ExchangeServerApp-<exchange_organization_guid>), the name Microsoft's script uses.
      - At most 256 characters.
    type: str
  exchange_organization_guid:
    description:
      - GUID of the Exchange organization (C((Get-OrganizationConfig).Guid)), used to build the default
        O(application_display_name).
    type: str
  create_application:
    description:
      - With O(target=hybrid_application) and O(state=present), create the application when no application has
        the display name, and make sure it has the permissions of O(api_permissions) (default C(full_access_as_app)),
        a service principal, and admin consent for each.
      - Needs the Microsoft Graph application permissions C(Application.ReadWrite.All) and
        C(AppRoleAssignment.ReadWrite.All).
      - Each object is looked up before it is created (the application by O(application_display_name) or
        O(application_id), the service principal by appId, the consent among the service principal's app role
        assignments), so a rerun completes what an earlier run left unfinished. When Graph answers that the object
        already exists (409 C(Request_MultipleObjectsWithSameKeyValue) for the service principal, "Permission being
        assigned already exists on the object." for the consent), the existing one is adopted, never created twice.
      - With O(application_id) no application is created; an application with that id that Entra has not replicated
        yet is waited for (O(replication_timeout)).
    type: bool
    default: false
  api_permissions:
    description:
      - With O(create_application=true), the families of API permissions the dedicated application must have, each
        with admin consent, as Microsoft's C(ConfigureExchangeHybridApplication.ps1) grants them.
      - V(ews) is Office 365 Exchange Online's C(full_access_as_app) (the EWS workflow). V(graph) is the May 2026
        hotfix update's Graph workflow, the Microsoft Graph application permissions C(Calendars.Read),
        C(MailboxSettings.Read), C(MailTips.ReadBasic.All) and C(ProfilePhoto.Read.All) (the script's default
        asks whether to add them; C(-UseGraphApiOnly) is V([graph])).
      - A family not named here is kept as it is (remove it with O(remove_api_permissions)); permissions that are not
        one of these families are never touched. Graph-only breaks the archiving of on-premises mailboxes with
        cloud archives, Microsoft's script warns.
    type: list
    elements: str
    choices: [ews, graph]
    default: [ews]
  remove_api_permissions:
    description:
      - Families of permissions to remove from the dedicated application, as the script's C(-RemoveApiPermissions)
        does it, their admin consent (app role assignments of its service principal) and their entries in its
        C(requiredResourceAccess). Only the permissions of the family are removed; any other permission on the same
        API is kept.
      - A family cannot be in both O(api_permissions) and O(remove_api_permissions). Only with
        O(target=hybrid_application) and O(state=present).
      - Needs C(AppRoleAssignment.ReadWrite.All) when consent is revoked.
    type: list
    elements: str
    choices: [ews, graph]
    default: []
  replication_timeout:
    description:
      - Microsoft Entra is eventually consistent. Right after the application is created, creating its service
        principal (400 C(Request_BadRequest) "... does not reference a valid application object."), granting admin
        consent (400 "Not a valid reference update.") and reading or updating the new objects (404
        C(Request_ResourceNotFound)) can be refused for a while. The module retries exactly these answers with
        backoff (1, 2, 4, 8, then 10 seconds between attempts) for at most this many seconds per Graph call, then
        fails with what was created and how to complete it.
      - C(0) does not wait. Throttling (429/503/504) is retried separately, honouring C(Retry-After).
    type: int
    default: 60
  display_name:
    description:
      - Display name given to the key when it is added, at most 90 characters (Graph's limit). Defaults to the
        certificate's subject (shortened to 90 characters). An existing key's display name is not changed.
    type: str
  prune_expired:
    description:
      - Also remove keys whose end date has passed, whoever added them. Keys that are still valid are never removed.
    type: bool
    default: false
  only_if_expired_at:
    description:
      - With O(state=absent), remove the key only if it has expired by this time, a UTC time in ISO 8601 such as
        C(2026-12-01T12:00:00Z) (a time without offset is read as UTC).
      - A key counts as expired when its end date lies at least one day before this time, so a key that may still
        be valid is never removed. Otherwise nothing changes and RV(reason) says why.
      - Pass the Exchange server's clock (C(server_utc_now) of C(exchange.hybrid.exchange_auth_info)) to remove the
        previous Auth certificate's key after a rollover when Exchange sees it expired.
    type: str
extends_documentation_fragment:
  - exchange.hybrid.graph_connection
  - exchange.hybrid.attributes
  - exchange.hybrid.actiongroup_graph
notes:
  - Changing keys needs the Microsoft Graph application permission C(Application.ReadWrite.All) (the shared service
    principal is not owned by the tenant, so C(Application.ReadWrite.OwnedBy) is not enough). The module checks the
    permissions in the access token before its first write and names any that is missing.
  - Graph limits reading key data of service principals to 150 requests per minute per tenant; throttled requests
    are retried after C(Retry-After).
seealso:
  - module: exchange.hybrid.tenant_info
  - module: exchange.hybrid.exchange_oauth_cert
  - name: Microsoft Graph keyCredential resource
    description: Fields of a key credential and when Graph returns the key data.
    link: https://learn.microsoft.com/graph/api/resources/keycredential
author:
  - exchange.hybrid contributors (@exchange-hybrid)
"""

EXAMPLES = r"""
- name: Upload the Auth certificate to the shared Office 365 Exchange Online service principal
  exchange.hybrid.msol_sp_credential:
    tenant: contoso.onmicrosoft.com
    client_id: "{{ graph_client_id }}"
    client_secret: "{{ graph_client_secret }}"
    certificate: "{{ auth_cert.certificate }}"

- name: Dedicated Exchange hybrid application, created when missing, with the Auth certificate
  exchange.hybrid.msol_sp_credential:
    tenant: contoso.onmicrosoft.com
    target: hybrid_application
    exchange_organization_guid: "{{ org_guid }}"
    create_application: true
    certificate: "{{ auth_cert.certificate }}"
  register: hybrid_app

- name: The dedicated application with the May 2026 Graph workflow's permissions beside EWS's
  exchange.hybrid.msol_sp_credential:
    tenant: contoso.onmicrosoft.com
    target: hybrid_application
    exchange_organization_guid: "{{ org_guid }}"
    create_application: true
    api_permissions: [ews, graph]
    certificate: "{{ auth_cert.certificate }}"
- name: Graph only - remove the EWS permission and its consent
  exchange.hybrid.msol_sp_credential:
    tenant: contoso.onmicrosoft.com
    target: hybrid_application
    exchange_organization_guid: "{{ org_guid }}"
    create_application: true
    api_permissions: [graph]
    remove_api_permissions: [ews]
    certificate: "{{ auth_cert.certificate }}"
- name: The current Auth certificate's key and the staged next one's, in one write
  exchange.hybrid.msol_sp_credential:
    tenant: contoso.onmicrosoft.com
    certificate: "{{ auth_cert.certificate }}"
    next_certificate: "{{ auth_cert.next_certificate.certificate }}"
  when: auth_cert.next_certificate is not none

- name: After a rollover, remove the previous certificate's key once it has expired by the Exchange server's clock
  exchange.hybrid.msol_sp_credential:
    tenant: contoso.onmicrosoft.com
    state: absent
    thumbprint: "{{ previous_thumbprint }}"
    only_if_expired_at: "{{ auth_info.server_utc_now }}"

- name: Once the dedicated application works, remove our key from the shared service principal
  exchange.hybrid.msol_sp_credential:
    tenant: contoso.onmicrosoft.com
    target: shared_service_principal
    state: absent
    thumbprint: "{{ auth_cert.thumbprint }}"
"""

RETURN = r"""
target:
  description: The Entra object holding the keys.
  returned: always
  type: dict
  sample:
    type: shared_service_principal
    object_type: servicePrincipal
    object_id: 0c3d9f6e-5a1b-4c2d-8e7f-1a2b3c4d5e6f
    app_id: 00000002-0000-0ff1-ce00-000000000000
    display_name: Office 365 Exchange Online
  contains:
    type:
      description: The O(target) chosen.
      type: str
    object_type:
      description: C(servicePrincipal) or C(application).
      type: str
    object_id:
      description: Object id of the target (null in check mode when the application would be created).
      type: str
    app_id:
      description: Application (client) id of the target.
      type: str
    display_name:
      description: Display name of the target.
      type: str
key:
  description: Our key as it is (or, in check mode, would be) in Entra ID. Null when absent.
  returned: always
  type: dict
  sample:
    key_id: 7b0d4a9e-2c1f-4e53-9a8b-6f5e4d3c2b1a
    thumbprint: 2B5C7E1F0A9D8C7B6A5F4E3D2C1B0A9F8E7D6C5B
    display_name: CN=Microsoft Exchange Server Auth Certificate
    start_date_time: "2026-01-01T00:00:00Z"
    end_date_time: "2030-12-31T00:00:00Z"
thumbprint:
  description: SHA-1 thumbprint of the certificate handled.
  returned: always
  type: str
  sample: 2B5C7E1F0A9D8C7B6A5F4E3D2C1B0A9F8E7D6C5B
next_key:
  description: The key of O(next_certificate) as it is (or, in check mode, would be) in Entra ID.
  returned: when O(next_certificate) is given
  type: dict
  sample:
    key_id: 0f6c2d1e-8a7b-4c3d-9e5f-4a3b2c1d0e9f
    thumbprint: 9A8B7C6D5E4F3A2B1C0D9E8F7A6B5C4D3E2F1A0B
    display_name: CN=Microsoft Exchange Server Auth Certificate
    start_date_time: "2030-11-01T00:00:00Z"
    end_date_time: "2035-11-01T00:00:00Z"
keys:
  description: Every key credential of the target after the run (no key data), each with C(key_id), C(thumbprint),
    C(display_name), C(start_date_time), C(end_date_time), C(type) and C(usage).
  returned: always
  type: list
  elements: dict
added:
  description: Keys added by this run (predicted in check mode).
  returned: always
  type: list
  elements: dict
removed:
  description: Keys removed by this run (predicted in check mode).
  returned: always
  type: list
  elements: dict
application:
  description: The dedicated hybrid application and what was done to it.
  returned: when O(target=hybrid_application)
  type: dict
  contains:
    app_id:
      description: Application (client) id; use it as the evoSTS AuthServer's ApplicationIdentifier.
      type: str
    object_id:
      description: Object id of the application.
      type: str
    display_name:
      description: Display name.
      type: str
    service_principal_id:
      description: Object id of its service principal (when known).
      type: str
    created:
      description: Whether the application was created by this run (predicted in check mode).
      type: bool
    objects:
      description:
        - For C(application), C(service_principal) and C(admin_consent), what this run did about it.
        - C(found) it existed and was read; C(created) (C(granted) for the consent) by this run; C(adopted) Graph
          answered that it already existed (not yet listed, Entra replicating) and it was taken as it is;
          C(missing) it does not exist (check mode, or O(create_application=false)).
      type: dict
      sample: {"application": "created", "service_principal": "created", "admin_consent": "granted"}
    permissions:
      description:
        - The permissions of O(api_permissions) and O(remove_api_permissions) this run changed (predicted in check
          mode), by name; C(added) and C(removed) are entries of the application's C(requiredResourceAccess),
          C(consent_granted) and C(consent_revoked) app role assignments of its service principal.
      type: dict
      sample: {"added": ["Calendars.Read"], "removed": [], "consent_granted": ["Calendars.Read"], "consent_revoked": []}
    replication_waited:
      description: Seconds this run waited for Entra to replicate new objects (see O(replication_timeout)).
      type: float
      returned: with O(create_application=true)
    actions:
      description: What was (or would be) done, such as C(create application), C(grant admin consent).
      type: list
      elements: str
diff:
  description: The keys (thumbprint, display name, end date) before and after.
  returned: when diff mode is on
  type: dict
reason:
  description: Why the key was or was not removed, judged against O(only_if_expired_at).
  returned: when O(only_if_expired_at) is set
  type: str
  sample: "The key of 2B5C7E1F0A9D8C7B6A5F4E3D2C1B0A9F8E7D6C5B is kept: its end date (2030-12-31T00:00:00Z) is not at
    least one day before only_if_expired_at (2026-12-01T12:00:00Z), so it may still be valid."
graph_error:
  description: Status, Graph error code and request-id of a failed call.
  returned: on Graph failures
  type: dict
"""

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.exchange.hybrid.plugins.module_utils._certificates import (
    CRYPTOGRAPHY_IMPORT_ERROR,
    HAS_CRYPTOGRAPHY,
    PublicCertificate,
    load_certificate,
    load_certificate_file,
    thumbprint_of_key,
)
from ansible_collections.exchange.hybrid.plugins.module_utils._clouds import API_PERMISSION_FAMILY_CHOICES
from ansible_collections.exchange.hybrid.plugins.module_utils._errors import CertificateError, GraphError, HybridError, fail_from_error
from ansible_collections.exchange.hybrid.plugins.module_utils._graph import GraphClient, graph_module
from ansible_collections.exchange.hybrid.plugins.module_utils._hybrid_application import (
    ApplicationOutcome,
    ApplicationSetup,
    application_name,
    exchange_online,
    lookup_problem,
)
from ansible_collections.exchange.hybrid.plugins.module_utils._key_credentials import (
    MAX_KEY_DISPLAY_NAME,
    READ_APPS,
    EntraRefusal,
    KeyPlan,
    diff_view,
    key_view,
    parse_utc_option,
    plan_keys,
    read_keys,
    write_keys,
)
from ansible_collections.exchange.hybrid.plugins.module_utils._module import HybridModule
from ansible_collections.exchange.hybrid.plugins.module_utils._values import format_utc, normalize_thumbprint, utc_now

ARGUMENT_SPEC = dict(
    certificate=dict(type="str"),
    certificate_path=dict(type="path"),
    next_certificate=dict(type="str"),
    thumbprint=dict(type="str"),
    state=dict(type="str", default="present", choices=["present", "absent"]),
    target=dict(type="str", default="shared_service_principal", choices=["shared_service_principal", "hybrid_application"]),
    application_id=dict(type="str"),
    application_display_name=dict(type="str"),
    exchange_organization_guid=dict(type="str"),
    create_application=dict(type="bool", default=False),
    display_name=dict(type="str"),
    prune_expired=dict(type="bool", default=False),
    only_if_expired_at=dict(type="str"),
    replication_timeout=dict(type="int", default=60),
    api_permissions=dict(type="list", elements="str", default=["ews"], choices=API_PERMISSION_FAMILY_CHOICES),
    remove_api_permissions=dict(type="list", elements="str", default=[], choices=API_PERMISSION_FAMILY_CHOICES),
)


def load_pem_option(module: HybridModule, option: str) -> PublicCertificate | None:
    """The public certificate in a PEM/base64 option; EntraRefusal (and the value kept out of all output) if not."""
    value = module.params[option]
    if value is None:
        return None
    try:
        return load_certificate(value, option)
    except CertificateError as error:
        # it may be a private key: keep it out of the result's invocation and any other output
        module.no_log_values.add(value)
        raise EntraRefusal(error.msg) from None


def load_input(module: HybridModule) -> tuple[PublicCertificate | None, PublicCertificate | None, str, dt.datetime | None]:
    """(certificate, next certificate, thumbprint, only_if_expired_at) from the options; EntraRefusal names the
    option and the fix."""
    params = module.params
    cert = load_pem_option(module, "certificate")
    if cert is None and params["certificate_path"] is not None:
        try:
            cert = load_certificate_file(params["certificate_path"], "certificate_path")
        except CertificateError as error:
            raise EntraRefusal(error.msg) from None
    next_cert = load_pem_option(module, "next_certificate")
    problem = option_problem(params, cert) or next_certificate_problem(params, cert, next_cert)
    if problem:
        raise EntraRefusal(problem)
    thumbprint = normalize_thumbprint(params["thumbprint"], "thumbprint") if params["thumbprint"] is not None else cert.thumbprint
    return cert, next_cert, thumbprint, parse_utc_option(params["only_if_expired_at"], "only_if_expired_at")


def next_certificate_problem(params: dict[str, Any], cert: PublicCertificate | None,
                             next_cert: PublicCertificate | None) -> str | None:
    if next_cert is None:
        return None
    if params["state"] != "present" or cert is None:
        return "next_certificate is uploaded beside certificate (or certificate_path) with state: present; give both."
    if next_cert.is_expired():
        return (f"The next certificate {next_cert.thumbprint} expired on {format_utc(next_cert.not_after)}; stage a new Auth "
                "certificate (exchange.hybrid.exchange_oauth_cert) and upload that one.")
    return None


def option_problem(params: dict[str, Any], cert: PublicCertificate | None) -> str | None:
    """The first thing wrong with the options (checked before any Graph call), or None."""
    if params["thumbprint"] is not None:
        if params["state"] != "absent":
            return "thumbprint only identifies a key to remove (state: absent); give certificate to add one."
        try:
            normalize_thumbprint(params["thumbprint"], "thumbprint")
        except HybridError as error:
            return error.msg
    if cert is not None and params["state"] == "present" and cert.is_expired():
        return (f"The certificate {cert.thumbprint} expired on {format_utc(cert.not_after)}; renew the Exchange Auth certificate "
                "(exchange.hybrid.exchange_oauth_cert) and upload the new one.")
    if params["only_if_expired_at"] is not None:
        if params["state"] != "absent":
            return "only_if_expired_at decides whether a key is removed: use it with state: absent."
        try:
            parse_utc_option(params["only_if_expired_at"], "only_if_expired_at")
        except ValueError as error:
            return str(error)
    hybrid = params["target"] == "hybrid_application"
    if not hybrid and (params["application_id"] or params["application_display_name"] or params["create_application"]):
        return "application_id, application_display_name and create_application apply only to target: hybrid_application."
    if params["remove_api_permissions"]:
        if not hybrid or params["state"] != "present":
            return "remove_api_permissions applies to target: hybrid_application with state: present."
        both = [f for f in params["remove_api_permissions"] if f in params["api_permissions"]]
        if both:
            return (f"{', '.join(both)} is in both api_permissions and remove_api_permissions; name each family in one of "
                    "them (api_permissions keeps or adds it, remove_api_permissions removes it).")
    if not params["api_permissions"]:
        return "api_permissions needs at least one family (ews, graph): the dedicated application is useless without one."
    if hybrid:
        problem = lookup_problem(params)
        if problem:
            return problem
    # Refuse rather than let Graph shorten the name: a later run could then never match the key.
    if params["display_name"] is not None and len(params["display_name"]) > MAX_KEY_DISPLAY_NAME:
        return (f"display_name has {len(params['display_name'])} characters; Graph keeps at most {MAX_KEY_DISPLAY_NAME} "
                "for a key credential's display name. Give a shorter display_name.")
    if params["replication_timeout"] < 0:
        return "replication_timeout must be 0 or more seconds."
    return None


@dataclass
class KeyHolder:
    """The Entra object holding the keys, as found (or, in check mode, about to be created)."""

    result: dict[str, Any]  # the module's "target"
    label: str  # how messages name it
    path: str | None  # its Graph path; None when it does not exist
    keys: list[dict[str, Any]] = field(default_factory=list)
    application: ApplicationOutcome | None = None
    replication: tuple[str, ...] = ()  # the answers that mean "not replicated yet" for it


def find_key_holder(client: GraphClient, params: dict[str, Any], check: bool) -> KeyHolder:
    if params["target"] == "shared_service_principal":
        sp = exchange_online(client)
        label = f"the service principal '{sp.get('displayName')}' ({sp['id']})"
        path = f"servicePrincipals/{sp['id']}"
        target = {"type": "shared_service_principal", "object_type": "servicePrincipal", "object_id": sp["id"],
                  "app_id": sp.get("appId"), "display_name": sp.get("displayName")}
        return KeyHolder(target, label, path, read_keys(client, path, label))
    name = application_name(params["application_display_name"], params["exchange_organization_guid"])
    setup = ApplicationSetup(client, params["application_id"], name,
                             create=params["create_application"] and params["state"] == "present",
                             removing=params["state"] == "absent",
                             families=params["api_permissions"], remove=params["remove_api_permissions"])
    outcome = setup.run(check)
    app = outcome.app
    if app is None:
        display_name = outcome.info.get("display_name")
        target = {"type": "hybrid_application", "object_type": "application", "object_id": None, "app_id": None,
                  "display_name": display_name}
        return KeyHolder(target, f"the application '{display_name or name}'", None, application=outcome)
    label = f"the application '{app['displayName']}' ({app['appId']})"
    path = f"applications/{app['id']}"
    target = {"type": "hybrid_application", "object_type": "application", "object_id": app["id"], "app_id": app["appId"],
              "display_name": app["displayName"]}
    return KeyHolder(target, label, path, read_keys(client, path, label, outcome.replication), outcome,
                     outcome.replication)


def with_next_key(plan: KeyPlan, next_cert: PublicCertificate, display_name: str | None) -> KeyPlan:
    """``plan`` with the next certificate's key added too (when missing): one write for both keys."""
    staged = plan_keys(plan.kept, next_cert.thumbprint, present=True, cert=next_cert, display_name=display_name)
    return KeyPlan(kept=staged.kept, added=plan.added + staged.added, removed=plan.removed + staged.removed,
                   reason=plan.reason)


def run(module: HybridModule) -> dict[str, Any]:
    params = module.params
    cert, next_cert, thumbprint, only_if_expired_at = load_input(module)
    try:
        client = GraphClient(params)
    except GraphError as error:
        raise EntraRefusal(error.msg) from None  # bad connection options: not a Graph answer
    module.add_client(client)  # its warnings are shown when the module ends
    client.replication_wait = float(params["replication_timeout"])
    # Any read permission lets the run start (check mode and no-op runs only read); it is named as the one the
    # module needs for its writes.
    client.require_permissions({"Application.ReadWrite.All": READ_APPS}, "read the keys in Entra ID")
    check = module.check_mode
    holder = find_key_holder(client, params, check)
    actions = holder.application.actions if holder.application else []
    plan = plan_keys(
        holder.keys, thumbprint, present=params["state"] == "present", cert=cert, display_name=params["display_name"],
        prune_expired_at=utc_now() if params["prune_expired"] else None,
        only_if_expired_at=only_if_expired_at,
    )
    if next_cert is not None:
        plan = with_next_key(plan, next_cert, params["display_name"])
    warnings: list[str] = []
    keys_after = plan.after
    if plan.changes and not check:
        if holder.path is None:
            raise EntraRefusal(f"Cannot write keys: {holder.label} does not exist.")
        action = "add" if params["state"] == "present" or plan.added else "remove"
        keys_after, warnings = write_keys(client, holder.path, holder.label, plan, action, holder.replication)
    mine = [k for k in keys_after if thumbprint_of_key(k) == thumbprint]
    result: dict[str, Any] = {
        "changed": plan.changes or bool(actions),
        "thumbprint": thumbprint,
        "target": holder.result,
        "key": key_view(mine[0]) if mine else None,
        "keys": [key_view(k) for k in keys_after],
        "added": [key_view(k) for k in plan.added],
        "removed": [key_view(k) for k in plan.removed],
    }
    if next_cert is not None:
        staged = [k for k in keys_after if thumbprint_of_key(k) == next_cert.thumbprint]
        result["next_key"] = key_view(staged[0]) if staged else None
    if holder.application:
        result["application"] = holder.application.info
    if plan.reason is not None:
        result["reason"] = plan.reason
    if module._diff:
        result["diff"] = {
            "before": {"target": holder.label, "keys": [diff_view(k) for k in holder.keys]},
            "after": {"target": holder.label, "keys": [diff_view(k) for k in keys_after]},
        }
        if actions:
            result["diff"]["after"]["application_actions"] = list(actions)
    for warning in warnings:
        module.warn(warning)
    return result


def main() -> None:
    module = graph_module(
        ARGUMENT_SPEC,
        mutually_exclusive=[("certificate", "certificate_path", "thumbprint"), ("application_id", "application_display_name"),
                            ("next_certificate", "thumbprint")],
        required_one_of=[("certificate", "certificate_path", "thumbprint")],
    )
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=CRYPTOGRAPHY_IMPORT_ERROR)
    try:
        module.exit_json(**run(module))
    except GraphError as error:
        fail_from_error(module, error)


if __name__ == "__main__":
    main()
