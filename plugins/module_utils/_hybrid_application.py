# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dedicated Exchange hybrid application in Entra ID: find, adopt or create it, its service principal and the
admin consent for its API permissions, as Microsoft's ``ConfigureExchangeHybridApplication.ps1`` does. The
permissions come in families (``_clouds.API_PERMISSION_FAMILIES``): ``ews`` (Office 365 Exchange Online's
``full_access_as_app``) and ``graph`` (the May 2026 Graph workflow's Microsoft Graph application permissions). The
families asked for are added with admin consent, the families asked to be removed lose their app role assignments
and their requiredResourceAccess entries (the script's -RemoveApiPermissions); the others, and every permission that
is not one of ours, are kept.

Entra is eventually consistent (hybrid-2026-facts.md): right after a create, Graph refuses what depends on the new
object for a while. The Graph client waits those named answers out (``replication=``); an answer that an object
already exists means it is adopted, never created twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ansible_collections.exchange.hybrid.plugins.module_utils._clouds import (
    API_PERMISSION_FAMILIES,
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


def family_roles(family: str) -> dict[str, str]:
    """The family's permissions: {value: app role id}."""
    return API_PERMISSION_FAMILIES[family]["roles"]


def requested_roles(app: dict[str, Any], family: str) -> set[str]:
    """The family's role ids the application's requiredResourceAccess asks for (as application permissions)."""
    resource_app_id = API_PERMISSION_FAMILIES[family]["resource_app_id"]
    wanted = set(family_roles(family).values())
    return {
        a.get("id")
        for r in app.get("requiredResourceAccess") or [] if r.get("resourceAppId") == resource_app_id
        for a in r.get("resourceAccess") or [] if a.get("type") == "Role" and a.get("id") in wanted
    }


def family_requirements(families: list[str]) -> list[dict[str, Any]]:
    """requiredResourceAccess for a new application asking for ``families``."""
    return [
        {"resourceAppId": API_PERMISSION_FAMILIES[f]["resource_app_id"],
         "resourceAccess": [{"id": role_id, "type": "Role"} for role_id in family_roles(f).values()]}
        for f in families
    ]


def exchange_permission() -> dict[str, Any]:
    return family_requirements(["ews"])[0]


def has_exchange_permission(app: dict[str, Any]) -> bool:
    return FULL_ACCESS_AS_APP_ROLE_ID in requested_roles(app, "ews")


def is_consented(assignments: list[dict[str, Any]], exo: dict[str, Any]) -> bool:
    return any(a.get("appRoleId") == FULL_ACCESS_AS_APP_ROLE_ID and a.get("resourceId") == exo["id"] for a in assignments)


def resource_principal(client: GraphClient, family: str) -> dict[str, Any]:
    """The service principal of the family's API in the tenant (Office 365 Exchange Online, Microsoft Graph)."""
    if family == "ews":
        return exchange_online(client)
    spec = API_PERMISSION_FAMILIES[family]
    found = client.get_all(
        "servicePrincipals",
        f"find the {spec['resource']} service principal",
        params={"$filter": f"appId eq '{spec['resource_app_id']}'", "$select": "id,appId,displayName,appRoles"},
        permission="Application.Read.All",
    )
    if len(found) != 1:
        raise EntraRefusal(
            f"Found {len(found)} service principals for {spec['resource']} (appId {spec['resource_app_id']}) in the "
            "tenant; expected exactly one."
        )
    return found[0]


def require_roles(resource: dict[str, Any], family: str) -> None:
    """Refuse before any write when the API's service principal does not offer one of the family's app roles."""
    offered = {role.get("id") for role in resource.get("appRoles") or []}
    missing = [value for value, role_id in family_roles(family).items() if role_id not in offered]
    if missing:
        raise EntraRefusal(
            f"The {API_PERMISSION_FAMILIES[family]['resource']} service principal has no "
            f"{', '.join(missing)} app role{'s' if len(missing) > 1 else ''}."
        )


def require_role(exo: dict[str, Any]) -> None:
    require_roles(exo, "ews")


def create_application(client: GraphClient, name: str, families: list[str] | None = None) -> dict[str, Any]:
    return client.request(
        "POST",
        "applications",
        f"create the application '{name}'",
        body={
            "displayName": name,
            "signInAudience": "AzureADMyOrg",
            "description": "Exchange Server hybrid application (created by the exchange.hybrid Ansible collection)",
            "notes": NOTES,
            "requiredResourceAccess": family_requirements(families or ["ews"]),
        },
        permission="Application.ReadWrite.All",
    )


def update_requirements(client: GraphClient, app: dict[str, Any], add: list[str], remove: list[str]) -> None:
    """PATCH requiredResourceAccess with the families ``add`` added and ``remove`` removed, every other entry kept
    (a resource left with no permission is dropped)."""
    dropping = {(API_PERMISSION_FAMILIES[f]["resource_app_id"], role_id) for f in remove for role_id in family_roles(f).values()}
    merged: list[dict[str, Any]] = []
    for requirement in app.get("requiredResourceAccess") or []:
        resource_app_id = requirement.get("resourceAppId")
        accesses = [a for a in requirement.get("resourceAccess") or []
                    if not (a.get("type") == "Role" and (resource_app_id, a.get("id")) in dropping)]
        if accesses:
            merged.append({**requirement, "resourceAccess": accesses})
    for family in add:
        resource_app_id = API_PERMISSION_FAMILIES[family]["resource_app_id"]
        entry = next((r for r in merged if r.get("resourceAppId") == resource_app_id), None)
        if entry is None:
            entry = {"resourceAppId": resource_app_id, "resourceAccess": []}
            merged.append(entry)
        present = {a.get("id") for a in entry["resourceAccess"] if a.get("type") == "Role"}
        entry["resourceAccess"] = entry["resourceAccess"] + [
            {"id": role_id, "type": "Role"} for role_id in family_roles(family).values() if role_id not in present
        ]
    names = [f"{verb} {', '.join(sorted(family_roles(f)))}" for verb, fs in (("add", add), ("remove", remove)) for f in fs]
    client.request(
        "PATCH",
        f"applications/{app['id']}",
        f"{' and '.join(names)} on '{app['displayName']}'",
        body={"requiredResourceAccess": merged},
        permission="Application.ReadWrite.All",
    )
    app["requiredResourceAccess"] = merged


def add_exchange_permission(client: GraphClient, app: dict[str, Any]) -> None:
    """PATCH requiredResourceAccess with full_access_as_app added, every other permission kept."""
    update_requirements(client, app, ["ews"], [])


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


def grant_consent(client: GraphClient, sp: dict[str, Any], exo: dict[str, Any],
                  role_id: str = FULL_ACCESS_AS_APP_ROLE_ID, value: str = "full_access_as_app") -> str:
    """Admin consent by an app role assignment: granted, or adopted when Graph says it already exists."""
    try:
        client.request(
            "POST",
            f"servicePrincipals/{sp['id']}/appRoleAssignments",
            f"grant admin consent for {value} on {exo.get('displayName') or 'Office 365 Exchange Online'}",
            body={"principalId": sp["id"], "resourceId": exo["id"], "appRoleId": role_id},
            permission="AppRoleAssignment.ReadWrite.All",
            replication=("reference_not_replicated", "not_found"),
        )
        return "granted"
    except GraphError as error:
        # Request_BadRequest is Graph's generic code: this answer is told apart by its text
        if error.status != 400 or "already exists on the object" not in error.msg:
            raise
    return "adopted"


def revoke_consent(client: GraphClient, sp: dict[str, Any], assignment: dict[str, Any], value: str) -> None:
    """Remove one app role assignment (admin consent) of the application's service principal; gone already is fine."""
    try:
        client.request(
            "DELETE",
            f"servicePrincipals/{sp['id']}/appRoleAssignments/{assignment['id']}",
            f"revoke admin consent for {value} on {assignment.get('resourceDisplayName') or assignment.get('resourceId')}",
            permission="AppRoleAssignment.ReadWrite.All",
        )
    except GraphError as error:
        if error.status != 404:
            raise


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


def consent_action(value: str) -> str:
    # "grant admin consent" alone is full_access_as_app's, as before the Graph family existed
    return "grant admin consent" if value == "full_access_as_app" else f"grant admin consent for {value}"


def assignments_of(assignments: list[dict[str, Any]], resource: dict[str, Any], family: str) -> dict[str, dict[str, Any]]:
    """The family's app role assignments on ``resource`` among ``assignments``: {value: assignment}."""
    by_id = {role_id: value for value, role_id in family_roles(family).items()}
    return {by_id[a["appRoleId"]]: a for a in assignments
            if a.get("resourceId") == resource["id"] and a.get("appRoleId") in by_id}


class ApplicationSetup:
    """Find the dedicated application; with ``create``, create or complete it (the permissions of ``families``,
    principal, consent); with ``remove``, take those families' permissions and consent away again."""

    def __init__(self, client: GraphClient, application_id: str | None, name: str, create: bool, removing: bool,
                 families: list[str] | None = None, remove: list[str] | None = None) -> None:
        self.client = client
        self.application_id = application_id
        self.name = name
        self.create = create
        self.removing = removing
        self.families = list(families or ["ews"])
        self.remove = list(remove or [])
        self.actions: list[str] = []
        self.permissions: dict[str, list[str]] = {"added": [], "removed": [], "consent_granted": [], "consent_revoked": []}
        self.info: dict[str, Any] = {
            "created": False,
            "actions": self.actions,
            "objects": {"application": "missing", "service_principal": "missing", "admin_consent": "missing"},
            "permissions": self.permissions,
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
            if self.create or self.remove:
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

    def _resources(self, families: list[str]) -> dict[str, dict[str, Any]]:
        resources = {family: resource_principal(self.client, family) for family in dict.fromkeys(families)}
        for family in self.families if self.create else []:
            require_roles(resources[family], family)
        return resources

    def _create_all(self, check: bool) -> ApplicationOutcome:
        resources = self._resources(self.families)
        wanted = [(f, value, role_id) for f in self.families for value, role_id in family_roles(f).items()]
        self.actions += ["create application", *[f"add permission {value}" for _f, value, _r in wanted],
                         "create service principal", *[consent_action(value) for _f, value, _r in wanted]]
        self.permissions["added"] += [value for _f, value, _r in wanted]
        self.permissions["consent_granted"] += [value for _f, value, _r in wanted]
        self.info.update(created=True, display_name=self.name, app_id=None, object_id=None, service_principal_id=None)
        if check:
            return self._outcome(None)
        self.client.require_permissions(
            {"Application.ReadWrite.All": WRITE_APPS, "AppRoleAssignment.ReadWrite.All": WRITE_ASSIGNMENTS},
            f"create the application '{self.name}'",
        )
        app = create_application(self.client, self.name, self.families)
        self.info.update(app_id=app["appId"], object_id=app["id"], display_name=app["displayName"])
        self.info["objects"]["application"] = "created"
        try:
            # Entra is eventually consistent: the new application's service principal and its consent may be
            # refused for a while; the client waits that out (replication_timeout).
            sp = self._service_principal(app)
            for family, value, role_id in wanted:
                self._consent(sp, resources[family], role_id, value)
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
        """An existing application: add what create_application promises and is missing; remove ``remove``."""
        name = app["displayName"]
        adding = self.families if self.create else []
        sps = find_service_principals(self.client, app)
        resources = self._resources(adding + self.remove)
        sp = sps[0] if sps else None
        assignments = read_app_role_assignments(self.client, sp["id"], name) if sp else []
        if sp:
            self.info["service_principal_id"] = sp["id"]
            self.info["objects"]["service_principal"] = "found"
        missing = [(f, value) for f in adding for value, role_id in family_roles(f).items()
                   if role_id not in requested_roles(app, f)]
        to_consent = [(f, value, role_id) for f in adding for value, role_id in family_roles(f).items()
                      if value not in assignments_of(assignments, resources[f], f)]
        unrequest = [(f, value) for f in self.remove for value, role_id in family_roles(f).items()
                     if role_id in requested_roles(app, f)]
        to_revoke = [(value, a) for f in self.remove for value, a in assignments_of(assignments, resources[f], f).items()]
        if adding and not to_consent and sp:
            self.info["objects"]["admin_consent"] = "found"
        todo = [f"add permission {value}" for _f, value in missing]
        todo += [f"remove permission {value}" for _f, value in unrequest]
        if adding and not sp:
            todo.append("create service principal")
        todo += [f"revoke admin consent for {value}" for value, _a in to_revoke]
        todo += [consent_action(value) for _f, value, _r in to_consent]
        self.actions += todo
        self.permissions["added"] += [value for _f, value in missing]
        self.permissions["removed"] += [value for _f, value in unrequest]
        self.permissions["consent_revoked"] += [value for value, _a in to_revoke]
        self.permissions["consent_granted"] += [value for _f, value, _r in to_consent]
        if check or not todo:
            return
        needed = {"Application.ReadWrite.All": WRITE_APPS}
        if to_consent or to_revoke:
            needed["AppRoleAssignment.ReadWrite.All"] = WRITE_ASSIGNMENTS
        self.client.require_permissions(needed, f"complete the application '{name}'")
        if missing or unrequest:
            update_requirements(self.client, app, list(dict.fromkeys(f for f, _v in missing)),
                                list(dict.fromkeys(f for f, _v in unrequest)))
        for value, assignment in to_revoke:
            revoke_consent(self.client, sp, assignment, value)
        if adding:
            sp = sp or self._service_principal(app)
            self.info["service_principal_id"] = sp["id"]
            for family, value, role_id in to_consent:
                self._consent(sp, resources[family], role_id, value)

    def _service_principal(self, app: dict[str, Any]) -> dict[str, Any]:
        sp, state = create_service_principal(self.client, app)
        if state == "adopted":
            self._not_done("create service principal")
        self.info["objects"]["service_principal"] = state
        self.info["service_principal_id"] = sp["id"]
        return sp

    def _consent(self, sp: dict[str, Any], resource: dict[str, Any], role_id: str, value: str) -> None:
        state = grant_consent(self.client, sp, resource, role_id, value)
        if state == "adopted":
            self._not_done(consent_action(value))
            if value in self.permissions["consent_granted"]:
                self.permissions["consent_granted"].remove(value)
        # "granted" once any assignment was written, "adopted" while every one already existed
        if self.info["objects"]["admin_consent"] != "granted":
            self.info["objects"]["admin_consent"] = state

    def _not_done(self, action: str) -> None:
        """An object Graph says exists was adopted: the action was not needed (and nothing was written)."""
        if action in self.actions:
            self.actions.remove(action)

    def _note_wait(self) -> None:
        counters = getattr(self.client, "counters", None) or {}
        self.info["replication_waited"] = round(float(counters.get("replication_waited", 0.0)), 1)


# --- reading, for entra_key_credential_info ----------------------------------------------------------------------


def permission_family(resource_app_id: Any, role_id: Any) -> str | None:
    """The family (ews, graph) an application permission belongs to, None when it is not one of ours."""
    for family, spec in API_PERMISSION_FAMILIES.items():
        if spec["resource_app_id"] == resource_app_id and role_id in spec["roles"].values():
            return family
    return None


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
                "family": permission_family(resource_app_id, access.get("id")) if kind == "Role" else None,
            })
    return permissions
