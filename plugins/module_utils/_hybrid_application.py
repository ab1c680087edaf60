# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dedicated Exchange hybrid application in Entra ID: find, adopt or create it, its service principal and the
admin consent for Office 365 Exchange Online's ``full_access_as_app``, as Microsoft's
``ConfigureExchangeHybridApplication.ps1`` does.

Entra is eventually consistent (hybrid-2026-facts.md): right after a create, Graph refuses what depends on the new
object for a while. The Graph client waits those named answers out (``replication=``); an answer that an object
already exists means it is adopted, never created twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ansible_collections.exchange.hybrid.plugins.module_utils._clouds import (
    EXCHANGE_ONLINE_APP_ID,
    FULL_ACCESS_AS_APP_ROLE_ID,
)
from ansible_collections.exchange.hybrid.plugins.module_utils._errors import GraphError
from ansible_collections.exchange.hybrid.plugins.module_utils._graph import GraphClient
from ansible_collections.exchange.hybrid.plugins.module_utils._key_credentials import WRITE_APPS, EntraRefusal
from ansible_collections.exchange.hybrid.plugins.module_utils._values import is_guid

WRITE_ASSIGNMENTS = {"AppRoleAssignment.ReadWrite.All"}
NOTES = (
    "Used by Exchange Server as part of the hybrid configuration to enable hybrid features such as Free/Busy, "
    "MailTips, and Profile Picture sharing between Exchange Server and Exchange Online."
)
MAX_APP_DISPLAY_NAME = 256
APPLICATION_SELECT = "id,appId,displayName,requiredResourceAccess"


def odata_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def application_name(application_display_name: str | None, exchange_organization_guid: str | None) -> str:
    """The given name, or Microsoft's default ``ExchangeServerApp-<organization GUID>``."""
    return application_display_name or f"ExchangeServerApp-{exchange_organization_guid}"


def lookup_problem(params: dict[str, Any], target: str = "hybrid_application") -> str | None:
    """What is wrong with the options that find the application (before any Graph call), or None."""
    if not (params.get("application_id") or params.get("application_display_name") or params.get("exchange_organization_guid")):
        return (f"target: {target} needs application_id, application_display_name, or exchange_organization_guid "
                "(for the default name ExchangeServerApp-<guid>).")
    if params.get("exchange_organization_guid") and not is_guid(params["exchange_organization_guid"]):
        return "exchange_organization_guid must be a GUID, as (Get-OrganizationConfig).Guid shows it."
    if params.get("application_id") and not is_guid(params["application_id"]):
        return "application_id must be the application (client) id, a GUID."
    name = params.get("application_display_name")
    if name is not None and len(name) > MAX_APP_DISPLAY_NAME:
        # refused rather than shortened by Graph: a later run could then never match the application
        return (f"application_display_name has {len(name)} characters; an Entra application's display name has at most "
                f"{MAX_APP_DISPLAY_NAME}. Give a shorter application_display_name.")
    return None


# --- thin Graph calls ------------------------------------------------------------------------------------------


def find_exchange_online(client: GraphClient) -> list[dict[str, Any]]:
    """The Office 365 Exchange Online service principal(s) of the tenant (normally exactly one)."""
    return client.get_all(
        "servicePrincipals",
        "find the Office 365 Exchange Online service principal",
        params={"$filter": f"appId eq '{EXCHANGE_ONLINE_APP_ID}'", "$select": "id,appId,displayName,appRoles"},
        permission="Application.Read.All",
    )


def exchange_online(client: GraphClient) -> dict[str, Any]:
    found = find_exchange_online(client)
    if len(found) != 1:
        raise EntraRefusal(
            f"Found {len(found)} service principals for Office 365 Exchange Online (appId {EXCHANGE_ONLINE_APP_ID}) "
            "in the tenant; expected exactly one. Is Exchange Online part of this tenant's subscription?"
        )
    return found[0]


def find_applications(client: GraphClient, application_id: str | None, name: str) -> tuple[list[dict[str, Any]], str]:
    """The applications with ``application_id`` (else named ``name``) and how the messages name them."""
    if application_id:
        query, label = f"appId eq {odata_quote(application_id)}", f"with application id {application_id}"
    else:
        query, label = f"displayName eq {odata_quote(name)}", f"named '{name}'"
    found = client.get_all(
        "applications",
        f"find the application {label}",
        params={"$filter": query, "$select": APPLICATION_SELECT},
        permission="Application.Read.All",
    )
    if not found and application_id:
        # A $filter leaves out an application Entra has not replicated yet; a read by its alternate key answers 404
        # until it has: wait for it (the client's replication_wait) rather than report it missing.
        try:
            found = [client.get(
                f"applications(appId={odata_quote(application_id)})",
                f"read the application {label}",
                params={"$select": APPLICATION_SELECT},
                permission="Application.Read.All",
                replication=("not_found",),
            )]
        except GraphError as error:
            if error.status != 404:
                raise
    return found, label


def find_service_principals(client: GraphClient, app: dict[str, Any], select: str = "id,appId,displayName") -> list[dict[str, Any]]:
    return client.get_all(
        "servicePrincipals",
        f"find the service principal of '{app['displayName']}'",
        params={"$filter": f"appId eq '{app['appId']}'", "$select": select},
        permission="Application.Read.All",
    )


def read_app_role_assignments(client: GraphClient, sp_id: str, name: str) -> list[dict[str, Any]]:
    return client.get_all(
        f"servicePrincipals/{sp_id}/appRoleAssignments",
        f"read the app role assignments of '{name}'",
        permission="Application.Read.All",
    )


def read_permission_grants(client: GraphClient, sp_id: str, name: str) -> list[dict[str, Any]]:
    """Delegated permission grants (admin consent for Scope permissions) of a service principal."""
    return client.get_all(
        "oauth2PermissionGrants",
        f"read the delegated permission grants of '{name}'",
        params={"$filter": f"clientId eq '{sp_id}'"},
        permission="Application.Read.All",
    )


def exchange_permission() -> dict[str, Any]:
    return {"resourceAppId": EXCHANGE_ONLINE_APP_ID, "resourceAccess": [{"id": FULL_ACCESS_AS_APP_ROLE_ID, "type": "Role"}]}


def has_exchange_permission(app: dict[str, Any]) -> bool:
    return any(
        r.get("resourceAppId") == EXCHANGE_ONLINE_APP_ID
        and any(a.get("id") == FULL_ACCESS_AS_APP_ROLE_ID and a.get("type") == "Role" for a in r.get("resourceAccess") or [])
        for r in app.get("requiredResourceAccess") or []
    )


def is_consented(assignments: list[dict[str, Any]], exo: dict[str, Any]) -> bool:
    return any(a.get("appRoleId") == FULL_ACCESS_AS_APP_ROLE_ID and a.get("resourceId") == exo["id"] for a in assignments)


def require_role(exo: dict[str, Any]) -> None:
    if not any(role.get("id") == FULL_ACCESS_AS_APP_ROLE_ID for role in exo.get("appRoles") or []):
        raise EntraRefusal("The Office 365 Exchange Online service principal has no full_access_as_app app role.")


def create_application(client: GraphClient, name: str) -> dict[str, Any]:
    return client.request(
        "POST",
        "applications",
        f"create the application '{name}'",
        body={
            "displayName": name,
            "signInAudience": "AzureADMyOrg",
            "description": "Exchange Server hybrid application (created by the exchange.hybrid Ansible collection)",
            "notes": NOTES,
            "requiredResourceAccess": [exchange_permission()],
        },
        permission="Application.ReadWrite.All",
    )


def add_exchange_permission(client: GraphClient, app: dict[str, Any]) -> None:
    """PATCH requiredResourceAccess with full_access_as_app added, every other permission kept."""
    requirements = app.get("requiredResourceAccess") or []
    merged = [r for r in requirements if r.get("resourceAppId") != EXCHANGE_ONLINE_APP_ID]
    accesses = [a for r in requirements if r.get("resourceAppId") == EXCHANGE_ONLINE_APP_ID for a in r.get("resourceAccess") or []]
    accesses.append({"id": FULL_ACCESS_AS_APP_ROLE_ID, "type": "Role"})
    merged.append({"resourceAppId": EXCHANGE_ONLINE_APP_ID, "resourceAccess": accesses})
    client.request(
        "PATCH",
        f"applications/{app['id']}",
        f"add the full_access_as_app permission to '{app['displayName']}'",
        body={"requiredResourceAccess": merged},
        permission="Application.ReadWrite.All",
    )


def create_service_principal(client: GraphClient, app: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Create the application's service principal, or adopt the one Entra says exists: (it, created|adopted)."""
    name = app["displayName"]
    try:
        sp = client.request(
            "POST",
            "servicePrincipals",
            f"create the service principal of '{name}'",
            body={"appId": app["appId"], "accountEnabled": True, "notes": NOTES},
            permission="Application.ReadWrite.All",
            replication=("application_not_replicated",),
        )
        return sp, "created"
    except GraphError as error:
        # "... the service principal name <appId> is already in use": it exists, maybe not listed yet
        if error.status != 409 or error.code != "Request_MultipleObjectsWithSameKeyValue":
            raise
    sp = client.get(
        f"servicePrincipals(appId={odata_quote(app['appId'])})",
        f"read the existing service principal of '{name}'",
        params={"$select": "id,appId,displayName"},
        permission="Application.Read.All",
        replication=("not_found",),
    )
    return sp, "adopted"


def grant_consent(client: GraphClient, sp: dict[str, Any], exo: dict[str, Any]) -> str:
    """Admin consent by an app role assignment: granted, or adopted when Graph says it already exists."""
    try:
        client.request(
            "POST",
            f"servicePrincipals/{sp['id']}/appRoleAssignments",
            "grant admin consent for full_access_as_app on Office 365 Exchange Online",
            body={"principalId": sp["id"], "resourceId": exo["id"], "appRoleId": FULL_ACCESS_AS_APP_ROLE_ID},
            permission="AppRoleAssignment.ReadWrite.All",
            replication=("reference_not_replicated", "not_found"),
        )
        return "granted"
    except GraphError as error:
        # Request_BadRequest is Graph's generic code: this answer is told apart by its text
        if error.status != 400 or "already exists on the object" not in error.msg:
            raise
    return "adopted"


# --- the set-up msol_sp_credential runs --------------------------------------------------------------------------


@dataclass
class ApplicationOutcome:
    """The application (None when missing, or to be created in check mode) and the module's ``application`` result."""

    app: dict[str, Any] | None
    info: dict[str, Any]
    # The replication answers that mean "not replicated yet" for this application: a 404 is waited out only for an
    # application this run created (for any other object a 404 is an answer).
    replication: tuple[str, ...] = ()
    actions: list[str] = field(default_factory=list)


class ApplicationSetup:
    """Find the dedicated application; with ``create``, create or complete it (permission, principal, consent)."""

    def __init__(self, client: GraphClient, application_id: str | None, name: str, create: bool, removing: bool) -> None:
        self.client = client
        self.application_id = application_id
        self.name = name
        self.create = create
        self.removing = removing
        self.actions: list[str] = []
        self.info: dict[str, Any] = {
            "created": False,
            "actions": self.actions,
            "objects": {"application": "missing", "service_principal": "missing", "admin_consent": "missing"},
        }

    def run(self, check: bool) -> ApplicationOutcome:
        found, label = find_applications(self.client, self.application_id, self.name)
        if len(found) > 1:
            ids = ", ".join(a["appId"] for a in found)
            raise EntraRefusal(f"Found {len(found)} applications {label} (appIds {ids}); set application_id to pick one.")
        if found:
            app = found[0]
            self.info.update(app_id=app["appId"], object_id=app["id"], display_name=app["displayName"])
            self.info["objects"]["application"] = "found"
            if self.create:
                try:
                    self._complete(app, check)
                finally:
                    self._note_wait()
            return self._outcome(app)
        if not self.create or self.application_id:
            if self.removing:
                return self._outcome(None)
            if self.application_id:
                raise EntraRefusal(
                    f"No application {label} in the tenant (waited up to replication_timeout for Entra to "
                    "replicate it). create_application creates an application only by name: leave out "
                    "application_id, or give the id of the existing dedicated hybrid application."
                )
            raise EntraRefusal(
                f"No application {label} in the tenant. Set create_application: true to create it, or give the "
                "application_id of the existing dedicated hybrid application."
            )
        return self._create_all(check)

    def _outcome(self, app: dict[str, Any] | None, replication: tuple[str, ...] = ()) -> ApplicationOutcome:
        return ApplicationOutcome(app, self.info, replication, self.actions)

    def _create_all(self, check: bool) -> ApplicationOutcome:
        exo = exchange_online(self.client)
        require_role(exo)
        self.actions += ["create application", "add permission full_access_as_app", "create service principal",
                         "grant admin consent"]
        self.info.update(created=True, display_name=self.name, app_id=None, object_id=None, service_principal_id=None)
        if check:
            return self._outcome(None)
        self.client.require_permissions(
            {"Application.ReadWrite.All": WRITE_APPS, "AppRoleAssignment.ReadWrite.All": WRITE_ASSIGNMENTS},
            f"create the application '{self.name}'",
        )
        app = create_application(self.client, self.name)
        self.info.update(app_id=app["appId"], object_id=app["id"], display_name=app["displayName"])
        self.info["objects"]["application"] = "created"
        try:
            # Entra is eventually consistent: the new application's service principal and its consent may be
            # refused for a while; the client waits that out (replication_timeout).
            sp = self._service_principal(app)
            self._consent(sp, exo)
        except GraphError as error:
            error.msg += (
                f". The application '{app['displayName']}' (appId {app['appId']}) was created; fix the cause and "
                f"rerun with create_application: true and application_id: {app['appId']} to complete it (found by "
                "its id even before Entra lists it; without application_id wait until Entra lists it, usually "
                "within a minute, or a second application could be created)."
            )
            raise
        finally:
            self._note_wait()
        return self._outcome(app, ("not_found",))

    def _complete(self, app: dict[str, Any], check: bool) -> None:
        """An existing application: add what create_application promises and is missing."""
        name = app["displayName"]
        has_permission = has_exchange_permission(app)
        sps = find_service_principals(self.client, app)
        exo = exchange_online(self.client)
        require_role(exo)
        consented = False
        if sps:
            self.info["service_principal_id"] = sps[0]["id"]
            self.info["objects"]["service_principal"] = "found"
            consented = is_consented(read_app_role_assignments(self.client, sps[0]["id"], name), exo)
            if consented:
                self.info["objects"]["admin_consent"] = "found"
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
            add_exchange_permission(self.client, app)
        sp = sps[0] if sps else self._service_principal(app)
        self.info["service_principal_id"] = sp["id"]
        if not consented:
            self._consent(sp, exo)

    def _service_principal(self, app: dict[str, Any]) -> dict[str, Any]:
        sp, state = create_service_principal(self.client, app)
        if state == "adopted":
            self._not_done("create service principal")
        self.info["objects"]["service_principal"] = state
        self.info["service_principal_id"] = sp["id"]
        return sp

    def _consent(self, sp: dict[str, Any], exo: dict[str, Any]) -> None:
        state = grant_consent(self.client, sp, exo)
        if state == "adopted":
            self._not_done("grant admin consent")
        self.info["objects"]["admin_consent"] = state

    def _not_done(self, action: str) -> None:
        """An object Graph says exists was adopted: the action was not needed (and nothing was written)."""
        if action in self.actions:
            self.actions.remove(action)

    def _note_wait(self) -> None:
        counters = getattr(self.client, "counters", None) or {}
        self.info["replication_waited"] = round(float(counters.get("replication_waited", 0.0)), 1)


# --- reading, for entra_key_credential_info ----------------------------------------------------------------------


def permissions_view(client: GraphClient, app: dict[str, Any], sp: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Each permission the application requests, named from its resource, and whether admin consent covers it.

    A Role (application permission) is consented by an app role assignment of the application's service principal;
    a Scope (delegated permission) by a tenant-wide oauth2PermissionGrant of it naming the scope.
    """
    requirements = app.get("requiredResourceAccess") or []
    name = app["displayName"]
    assignments = read_app_role_assignments(client, sp["id"], name) if sp and requirements else []
    wants_scopes = any(a.get("type") == "Scope" for r in requirements for a in r.get("resourceAccess") or [])
    grants = read_permission_grants(client, sp["id"], name) if sp and wants_scopes else []
    permissions = []
    for requirement in requirements:
        resource_app_id = requirement.get("resourceAppId")
        resources = client.get_all(
            "servicePrincipals",
            f"find the service principal of the API {resource_app_id} that '{name}' requests permissions on",
            params={"$filter": f"appId eq {odata_quote(str(resource_app_id))}",
                    "$select": "id,appId,displayName,appRoles,oauth2PermissionScopes"},
            permission="Application.Read.All",
        )
        resource = resources[0] if resources else {}
        for access in requirement.get("resourceAccess") or []:
            kind = access.get("type")
            catalog = resource.get("appRoles") if kind == "Role" else resource.get("oauth2PermissionScopes")
            value = next((p.get("value") for p in catalog or [] if p.get("id") == access.get("id")), None)
            if kind == "Role":
                consented = any(a.get("appRoleId") == access.get("id") and a.get("resourceId") == resource.get("id")
                                for a in assignments)
            else:
                consented = any(
                    g.get("resourceId") == resource.get("id") and g.get("consentType") == "AllPrincipals"
                    and value in (g.get("scope") or "").split()
                    for g in grants
                ) if value else False
            permissions.append({
                "resource_app_id": resource_app_id,
                "resource": resource.get("displayName"),
                "type": kind,
                "value": value,
                "id": access.get("id"),
                "consented": bool(resource) and consented,
            })
    return permissions
