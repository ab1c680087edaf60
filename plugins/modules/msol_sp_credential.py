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
        the display name, and make sure it has the C(full_access_as_app) permission, a service principal, and admin
        consent.
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
graph_error:
  description: Status, Graph error code and request-id of a failed call.
  returned: on Graph failures
  type: dict
"""

import datetime as dt
import re
import uuid
from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.exchange.hybrid.plugins.module_utils._certificates import (
    CRYPTOGRAPHY_IMPORT_ERROR,
    HAS_CRYPTOGRAPHY,
    PublicCertificate,
    load_certificate,
    load_certificate_file,
    thumbprint_of_key,
)
from ansible_collections.exchange.hybrid.plugins.module_utils._clouds import (
    EXCHANGE_ONLINE_APP_ID,
    FULL_ACCESS_AS_APP_ROLE_ID,
)
from ansible_collections.exchange.hybrid.plugins.module_utils._errors import CertificateError, GraphConnectionError, GraphError
from ansible_collections.exchange.hybrid.plugins.module_utils._graph import GraphClient, graph_module

READ_APPS = {"Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
WRITE_APPS = {"Application.ReadWrite.All", "Directory.ReadWrite.All"}
WRITE_ASSIGNMENTS = {"AppRoleAssignment.ReadWrite.All"}
NOTES = (
    "Used by Exchange Server as part of the hybrid configuration to enable hybrid features such as Free/Busy, "
    "MailTips, and Profile Picture sharing between Exchange Server and Exchange Online."
)
KEY_FIELDS = ("customKeyIdentifier", "displayName", "endDateTime", "key", "keyId", "startDateTime", "type", "usage")
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class Failure(Exception):
    def __init__(self, msg: str, **extra: Any) -> None:
        super().__init__(msg)
        self.msg = msg
        self.extra = extra


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_date(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.timezone.utc)
    except ValueError:
        return None


def summary(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "key_id": entry.get("keyId"),
        "thumbprint": thumbprint_of_key(entry),
        "display_name": entry.get("displayName"),
        "start_date_time": entry.get("startDateTime"),
        "end_date_time": entry.get("endDateTime"),
        "type": entry.get("type"),
        "usage": entry.get("usage"),
    }


MAX_KEY_DISPLAY_NAME = 90
MAX_APP_DISPLAY_NAME = 256


def odata_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class KeyManager:
    def __init__(self, module: AnsibleModule, client: GraphClient) -> None:
        self.module = module
        self.client = client
        self.params = module.params
        self.actions: list[str] = []
        self.warnings: list[str] = []
        # Set when this run created the application: a 404 for it then means Entra has not replicated it yet (for
        # any other object a 404 is an answer).
        self.new_object: tuple[str, ...] = ()

    # --- reads ------------------------------------------------------------------------------------------------
    def exchange_online_sp(self) -> dict[str, Any]:
        found = self.client.get_all(
            "servicePrincipals",
            "find the Office 365 Exchange Online service principal",
            params={"$filter": f"appId eq '{EXCHANGE_ONLINE_APP_ID}'", "$select": "id,appId,displayName,appRoles"},
            permission="Application.Read.All",
        )
        if len(found) != 1:
            raise Failure(
                f"Found {len(found)} service principals for Office 365 Exchange Online (appId {EXCHANGE_ONLINE_APP_ID}) "
                "in the tenant; expected exactly one. Is Exchange Online part of this tenant's subscription?"
            )
        return found[0]

    def find_application(self) -> tuple[list[dict[str, Any]], str]:
        if self.params["application_id"]:
            value = self.params["application_id"]
            query, label = f"appId eq {odata_quote(value)}", f"with application id {value}"
        else:
            value = self.application_name()
            query, label = f"displayName eq {odata_quote(value)}", f"named '{value}'"
        select = "id,appId,displayName,requiredResourceAccess"
        found = self.client.get_all(
            "applications",
            f"find the application {label}",
            params={"$filter": query, "$select": select},
            permission="Application.Read.All",
        )
        if not found and self.params["application_id"]:
            # A $filter leaves out an application Entra has not replicated yet; a read by its alternate key answers
            # 404 until it has: wait for it (replication_timeout) rather than report it missing.
            try:
                found = [self.client.get(
                    f"applications(appId={odata_quote(self.params['application_id'])})",
                    f"read the application {label}",
                    params={"$select": select},
                    permission="Application.Read.All",
                    replication=("not_found",),
                )]
            except GraphError as error:
                if error.status != 404:
                    raise
        return found, label

    def application_name(self) -> str:
        if self.params["application_display_name"]:
            return self.params["application_display_name"]
        return f"ExchangeServerApp-{self.params['exchange_organization_guid']}"

    def read_keys(self, path: str, label: str) -> list[dict[str, Any]]:
        # Only a single-object GET with $select=keyCredentials returns the key data (graph-facts 1.2).
        answer = self.client.get(
            path, f"read the keys of {label}", params={"$select": "id,keyCredentials"}, permission="Application.Read.All",
            replication=self.new_object,
        )
        return list(answer.get("keyCredentials") or [])

    # --- application set-up (hybrid target) --------------------------------------------------------------------
    def ensure_application(self, check: bool) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """Return (application or None when it would be created in check mode, application result)."""
        found, label = self.find_application()
        if len(found) > 1:
            ids = ", ".join(a["appId"] for a in found)
            raise Failure(f"Found {len(found)} applications {label} (appIds {ids}); set application_id to pick one.")
        info: dict[str, Any] = {
            "created": False,
            "actions": self.actions,
            "objects": {"application": "missing", "service_principal": "missing", "admin_consent": "missing"},
        }
        create = self.params["create_application"] and self.params["state"] == "present"
        if not found:
            if not create or self.params["application_id"]:
                if self.params["state"] == "absent":
                    return None, info
                if self.params["application_id"]:
                    raise Failure(
                        f"No application {label} in the tenant (waited up to replication_timeout for Entra to "
                        "replicate it). create_application creates an application only by name: leave out "
                        "application_id, or give the id of the existing dedicated hybrid application."
                    )
                raise Failure(
                    f"No application {label} in the tenant. Set create_application: true to create it, or give the "
                    "application_id of the existing dedicated hybrid application."
                )
            exo = self.exchange_online_sp()
            self._require_role(exo)
            self.actions += ["create application", "add permission full_access_as_app", "create service principal",
                             "grant admin consent"]
            info.update(created=True, display_name=self.application_name(), app_id=None, object_id=None,
                        service_principal_id=None)
            if check:
                return None, info
            self.client.require_permissions(
                {"Application.ReadWrite.All": WRITE_APPS, "AppRoleAssignment.ReadWrite.All": WRITE_ASSIGNMENTS},
                f"create the application '{self.application_name()}'",
            )
            app = self.client.request(
                "POST",
                "applications",
                f"create the application '{self.application_name()}'",
                body={
                    "displayName": self.application_name(),
                    "signInAudience": "AzureADMyOrg",
                    "description": "Exchange Server hybrid application (created by the exchange.hybrid Ansible collection)",
                    "notes": NOTES,
                    "requiredResourceAccess": [self._exchange_permission()],
                },
                permission="Application.ReadWrite.All",
            )
            info.update(app_id=app["appId"], object_id=app["id"], display_name=app["displayName"])
            info["objects"]["application"] = "created"
            self.new_object = ("not_found",)
            try:
                # Entra is eventually consistent: the new application's service principal and its consent may be
                # refused for a while; the client waits that out (replication_timeout).
                sp = self._ensure_service_principal(app, info)
                self._ensure_consent(sp, exo, info)
            except GraphError as error:
                error.msg += (
                    f". The application '{app['displayName']}' (appId {app['appId']}) was created; fix the cause and "
                    f"rerun with create_application: true and application_id: {app['appId']} to complete it (found by "
                    "its id even before Entra lists it; without application_id wait until Entra lists it, usually "
                    "within a minute, or a second application could be created)."
                )
                raise
            finally:
                self._note_wait(info)
            return app, info
        app = found[0]
        info.update(app_id=app["appId"], object_id=app["id"], display_name=app["displayName"])
        info["objects"]["application"] = "found"
        if create:
            try:
                self._complete_application(app, info, check)
            finally:
                self._note_wait(info)
        return app, info

    def _note_wait(self, info: dict[str, Any]) -> None:
        counters = getattr(self.client, "counters", None) or {}
        info["replication_waited"] = round(float(counters.get("replication_waited", 0.0)), 1)

    @staticmethod
    def _exchange_permission() -> dict[str, Any]:
        return {"resourceAppId": EXCHANGE_ONLINE_APP_ID, "resourceAccess": [{"id": FULL_ACCESS_AS_APP_ROLE_ID, "type": "Role"}]}

    @staticmethod
    def _require_role(exo: dict[str, Any]) -> None:
        if not any(role.get("id") == FULL_ACCESS_AS_APP_ROLE_ID for role in exo.get("appRoles") or []):
            raise Failure("The Office 365 Exchange Online service principal has no full_access_as_app app role.")

    def _complete_application(self, app: dict[str, Any], info: dict[str, Any], check: bool) -> None:
        """An existing application: add what create_application promises and is missing."""
        name = app["displayName"]
        requirements = app.get("requiredResourceAccess") or []
        has_permission = any(
            r.get("resourceAppId") == EXCHANGE_ONLINE_APP_ID
            and any(a.get("id") == FULL_ACCESS_AS_APP_ROLE_ID and a.get("type") == "Role" for a in r.get("resourceAccess") or [])
            for r in requirements
        )
        sps = self.client.get_all(
            "servicePrincipals",
            f"find the service principal of '{name}'",
            params={"$filter": f"appId eq '{app['appId']}'", "$select": "id,appId,displayName"},
            permission="Application.Read.All",
        )
        exo = self.exchange_online_sp()
        self._require_role(exo)
        consented = False
        if sps:
            info["service_principal_id"] = sps[0]["id"]
            info["objects"]["service_principal"] = "found"
            assignments = self.client.get_all(
                f"servicePrincipals/{sps[0]['id']}/appRoleAssignments",
                f"read the app role assignments of '{name}'",
                permission="Application.Read.All",
            )
            consented = any(
                a.get("appRoleId") == FULL_ACCESS_AS_APP_ROLE_ID and a.get("resourceId") == exo["id"] for a in assignments
            )
            if consented:
                info["objects"]["admin_consent"] = "found"
        todo = []
        if not has_permission:
            todo.append("add permission full_access_as_app")
        if not sps:
            todo.append("create service principal")
        if not consented:
            todo.append("grant admin consent")
        self.actions += todo
        if check or not todo:
            return
        needed = {"Application.ReadWrite.All": WRITE_APPS}
        if not consented:
            needed["AppRoleAssignment.ReadWrite.All"] = WRITE_ASSIGNMENTS
        self.client.require_permissions(needed, f"complete the application '{name}'")
        if not has_permission:
            merged = [r for r in requirements if r.get("resourceAppId") != EXCHANGE_ONLINE_APP_ID]
            exchange = [r for r in requirements if r.get("resourceAppId") == EXCHANGE_ONLINE_APP_ID]
            accesses = [a for r in exchange for a in r.get("resourceAccess") or []]
            accesses.append({"id": FULL_ACCESS_AS_APP_ROLE_ID, "type": "Role"})
            merged.append({"resourceAppId": EXCHANGE_ONLINE_APP_ID, "resourceAccess": accesses})
            self.client.request(
                "PATCH",
                f"applications/{app['id']}",
                f"add the full_access_as_app permission to '{name}'",
                body={"requiredResourceAccess": merged},
                permission="Application.ReadWrite.All",
            )
        sp = sps[0] if sps else self._ensure_service_principal(app, info)
        info["service_principal_id"] = sp["id"]
        if not consented:
            self._ensure_consent(sp, exo, info)

    def _ensure_service_principal(self, app: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
        """Create the application's service principal, or adopt the one Entra says exists (never a second one)."""
        name = app["displayName"]
        try:
            sp = self.client.request(
                "POST",
                "servicePrincipals",
                f"create the service principal of '{name}'",
                body={"appId": app["appId"], "accountEnabled": True, "notes": NOTES},
                permission="Application.ReadWrite.All",
                replication=("application_not_replicated",),
            )
            state = "created"
        except GraphError as error:
            # "... the service principal name <appId> is already in use": it exists, maybe not listed yet
            if error.status != 409 or error.code != "Request_MultipleObjectsWithSameKeyValue":
                raise
            sp = self.client.get(
                f"servicePrincipals(appId={odata_quote(app['appId'])})",
                f"read the existing service principal of '{name}'",
                params={"$select": "id,appId,displayName"},
                permission="Application.Read.All",
                replication=("not_found",),
            )
            state = "adopted"
            self._not_done("create service principal")
        info["objects"]["service_principal"] = state
        info["service_principal_id"] = sp["id"]
        return sp

    def _ensure_consent(self, sp: dict[str, Any], exo: dict[str, Any], info: dict[str, Any]) -> None:
        """Grant admin consent (app role assignment); an answer that it already exists means it is granted."""
        try:
            self.client.request(
                "POST",
                f"servicePrincipals/{sp['id']}/appRoleAssignments",
                "grant admin consent for full_access_as_app on Office 365 Exchange Online",
                body={"principalId": sp["id"], "resourceId": exo["id"], "appRoleId": FULL_ACCESS_AS_APP_ROLE_ID},
                permission="AppRoleAssignment.ReadWrite.All",
                replication=("reference_not_replicated", "not_found"),
            )
            info["objects"]["admin_consent"] = "granted"
        except GraphError as error:
            # Request_BadRequest is Graph's generic code: this answer is told apart by its text
            if error.status != 400 or "already exists on the object" not in error.msg:
                raise
            info["objects"]["admin_consent"] = "adopted"
            self._not_done("grant admin consent")

    def _not_done(self, action: str) -> None:
        """An object Graph says exists was adopted: the action was not needed (and nothing was written)."""
        if action in self.actions:
            self.actions.remove(action)

    # --- keys -------------------------------------------------------------------------------------------------
    def new_entry(self, cert: PublicCertificate) -> dict[str, Any]:
        name = self.params["display_name"] or cert.subject or f"Exchange Server Auth Certificate {cert.thumbprint}"
        return {
            "customKeyIdentifier": cert.thumbprint,
            "displayName": name[:MAX_KEY_DISPLAY_NAME],
            "endDateTime": iso(cert.not_after),
            "key": cert.base64,
            "keyId": str(uuid.uuid4()),
            "startDateTime": iso(cert.not_before),
            "type": "AsymmetricX509Cert",
            "usage": "Verify",
        }

    def plan(self, keys: list[dict[str, Any]], thumbprint: str, cert: PublicCertificate | None):
        now = dt.datetime.now(dt.timezone.utc)
        ours = [k for k in keys if thumbprint_of_key(k) == thumbprint]
        removed: list[dict[str, Any]] = []
        kept: list[dict[str, Any]] = []
        for entry in keys:
            end = parse_date(entry.get("endDateTime"))
            mine = thumbprint_of_key(entry) == thumbprint
            if self.params["state"] == "absent" and mine:
                removed.append(entry)
            elif self.params["prune_expired"] and end is not None and end <= now:
                removed.append(entry)
            else:
                kept.append(entry)
        added: list[dict[str, Any]] = []
        if self.params["state"] == "present" and not ours and cert is not None:
            added.append(self.new_entry(cert))
        return kept, added, removed

    def write_keys(self, path: str, label: str, kept, added, removed) -> list[dict[str, Any]]:
        for entry in kept:
            if not entry.get("key"):
                raise Failure(
                    f"Graph returned no key data for key {entry.get('keyId')} of {label}; refusing to write, because "
                    "the update would drop that key."
                )
        body = {"keyCredentials": [{f: e.get(f) for f in KEY_FIELDS if e.get(f) is not None} for e in kept + added]}
        what = f"update the keyCredentials of {label}"
        if self.params["state"] == "present" or added:
            needed = "add"
        else:
            needed = "remove"
        self.client.require_permissions({"Application.ReadWrite.All": WRITE_APPS}, f"{needed} the key on {label}")
        dropped = None
        try:
            # a 404 (a new object not replicated yet) writes nothing, so waiting and sending again is safe
            self.client.request("PATCH", path, what, body=body, permission="Application.ReadWrite.All",
                                replication=self.new_object)
        except GraphConnectionError as error:
            dropped = error
        after = self.read_keys(path, label)
        expected = {(k.get("keyId"), thumbprint_of_key(k)) for k in kept + added}
        actual = {(k.get("keyId"), thumbprint_of_key(k)) for k in after}
        gone = {(k.get("keyId"), thumbprint_of_key(k)) for k in removed}
        applied = expected <= actual and not (gone & actual)
        if dropped is not None:
            if not applied:
                untouched = {(k.get("keyId"), thumbprint_of_key(k)) for k in kept + removed} <= actual
                state = "nothing was changed" if untouched else "the keys are now in an unexpected state"
                raise Failure(
                    f"{dropped.msg} Re-reading the keys shows the update was not applied ({state}); rerun the task.",
                    keys=[summary(k) for k in after],
                )
            self.warnings.append(
                f"The connection dropped during the update of {label}; re-reading shows Graph applied it."
            )
        elif not applied:
            raise Failure(
                f"Failed to verify the keyCredentials of {label}: after the update Graph does not list the expected keys.",
                keys=[summary(k) for k in after],
            )
        return after


def run(module: AnsibleModule) -> dict[str, Any]:
    params = module.params
    cert: PublicCertificate | None = None
    try:
        if params["certificate"] is not None:
            cert = load_certificate(params["certificate"], "certificate")
        elif params["certificate_path"] is not None:
            cert = load_certificate_file(params["certificate_path"], "certificate_path")
    except CertificateError as error:
        if params["certificate"] is not None:
            # it may be a private key: keep it out of the result's invocation and any other output
            module.no_log_values.add(params["certificate"])
        raise Failure(error.msg) from None
    if params["thumbprint"] is not None:
        if params["state"] != "absent":
            raise Failure("thumbprint only identifies a key to remove (state: absent); give certificate to add one.")
        thumbprint = re.sub(r"[\s:]", "", params["thumbprint"]).upper()
        if not re.match(r"^[0-9A-F]{40}$", thumbprint):
            raise Failure("thumbprint must be the certificate's SHA-1 thumbprint: 40 hexadecimal characters.")
    else:
        thumbprint = cert.thumbprint
    if cert is not None and params["state"] == "present" and cert.is_expired():
        raise Failure(
            f"The certificate {cert.thumbprint} expired on {iso(cert.not_after)}; renew the Exchange Auth certificate "
            "(exchange.hybrid.exchange_oauth_cert) and upload the new one."
        )
    hybrid = params["target"] == "hybrid_application"
    if not hybrid and (params["application_id"] or params["application_display_name"] or params["create_application"]):
        raise Failure(
            "application_id, application_display_name and create_application apply only to target: hybrid_application."
        )
    if hybrid and not (params["application_id"] or params["application_display_name"] or params["exchange_organization_guid"]):
        raise Failure(
            "target: hybrid_application needs application_id, application_display_name, or exchange_organization_guid "
            "(for the default name ExchangeServerApp-<guid>)."
        )
    if params["exchange_organization_guid"] and not GUID.match(params["exchange_organization_guid"]):
        raise Failure("exchange_organization_guid must be a GUID, as (Get-OrganizationConfig).Guid shows it.")
    if params["application_id"] and not GUID.match(params["application_id"]):
        raise Failure("application_id must be the application (client) id, a GUID.")
    # Refuse rather than let Graph shorten the name: a later run could then never match the key or application.
    if params["display_name"] is not None and len(params["display_name"]) > MAX_KEY_DISPLAY_NAME:
        raise Failure(
            f"display_name has {len(params['display_name'])} characters; Graph keeps at most {MAX_KEY_DISPLAY_NAME} "
            "for a key credential's display name. Give a shorter display_name."
        )
    if params["application_display_name"] is not None and len(params["application_display_name"]) > MAX_APP_DISPLAY_NAME:
        raise Failure(
            f"application_display_name has {len(params['application_display_name'])} characters; an Entra "
            f"application's display name has at most {MAX_APP_DISPLAY_NAME}. Give a shorter application_display_name."
        )

    if params["replication_timeout"] < 0:
        raise Failure("replication_timeout must be 0 or more seconds.")
    try:
        client = GraphClient(params)
    except GraphError as error:
        raise Failure(error.msg) from None
    client.replication_wait = float(params["replication_timeout"])
    # Any read permission lets the run start (check mode and no-op runs only read); it is named as the one the
    # module needs for its writes.
    client.require_permissions({"Application.ReadWrite.All": READ_APPS}, "read the keys in Entra ID")
    manager = KeyManager(module, client)
    result: dict[str, Any] = {"changed": False, "thumbprint": thumbprint, "key": None, "added": [], "removed": []}
    check = module.check_mode

    if hybrid:
        app, info = manager.ensure_application(check)
        result["application"] = info
        if app is None:
            label = f"the application '{info.get('display_name') or manager.application_name()}'"
            target = {"type": "hybrid_application", "object_type": "application", "object_id": None,
                      "app_id": None, "display_name": info.get("display_name")}
            keys_before: list[dict[str, Any]] = []
            path = None
        else:
            label = f"the application '{app['displayName']}' ({app['appId']})"
            target = {"type": "hybrid_application", "object_type": "application", "object_id": app["id"],
                      "app_id": app["appId"], "display_name": app["displayName"]}
            path = f"applications/{app['id']}"
            keys_before = manager.read_keys(path, label)
    else:
        sp = manager.exchange_online_sp()
        label = f"the service principal '{sp.get('displayName')}' ({sp['id']})"
        target = {"type": "shared_service_principal", "object_type": "servicePrincipal", "object_id": sp["id"],
                  "app_id": sp.get("appId"), "display_name": sp.get("displayName")}
        path = f"servicePrincipals/{sp['id']}"
        keys_before = manager.read_keys(path, label)
    result["target"] = target

    kept, added, removed = manager.plan(keys_before, thumbprint, cert)
    keys_changed = bool(added or removed)
    result["changed"] = keys_changed or bool(manager.actions)
    result["added"] = [summary(k) for k in added]
    result["removed"] = [summary(k) for k in removed]
    predicted = kept + added
    if keys_changed and not check:
        if path is None:
            raise Failure(f"Cannot write keys: {label} does not exist.")
        keys_after = manager.write_keys(path, label, kept, added, removed)
    else:
        keys_after = predicted
    result["keys"] = [summary(k) for k in keys_after]
    mine = [k for k in keys_after if thumbprint_of_key(k) == thumbprint]
    result["key"] = summary(mine[0]) if mine else None
    if module._diff:
        result["diff"] = {
            "before": {"target": label, "keys": [_diff_key(k) for k in keys_before]},
            "after": {"target": label, "keys": [_diff_key(k) for k in keys_after]},
        }
        if manager.actions:
            result["diff"]["after"]["application_actions"] = list(manager.actions)
    result["warnings"] = manager.warnings + client.warnings
    return result


def _diff_key(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "thumbprint": thumbprint_of_key(entry),
        "display_name": entry.get("displayName"),
        "end_date_time": entry.get("endDateTime"),
    }


def main() -> None:
    argument_spec = dict(
        certificate=dict(type="str"),
        certificate_path=dict(type="path"),
        thumbprint=dict(type="str"),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        target=dict(type="str", default="shared_service_principal", choices=["shared_service_principal", "hybrid_application"]),
        application_id=dict(type="str"),
        application_display_name=dict(type="str"),
        exchange_organization_guid=dict(type="str"),
        create_application=dict(type="bool", default=False),
        display_name=dict(type="str"),
        prune_expired=dict(type="bool", default=False),
        replication_timeout=dict(type="int", default=60),
    )
    module = graph_module(
        argument_spec,
        mutually_exclusive=[("certificate", "certificate_path", "thumbprint"), ("application_id", "application_display_name")],
        required_one_of=[("certificate", "certificate_path", "thumbprint")],
    )
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=CRYPTOGRAPHY_IMPORT_ERROR)
    try:
        result = run(module)
    except Failure as failure:
        module.fail_json(msg=failure.msg, **failure.extra)
    except GraphError as error:
        module.fail_json(msg=error.msg, **error.result())
    warnings = result.pop("warnings", [])
    for warning in warnings:
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
