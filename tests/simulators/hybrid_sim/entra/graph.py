"""Microsoft Graph v1.0 for the objects the collection touches, with Graph's documented rules enforced.

Rules (see ../shared/reference/graph-facts.md):
- keyCredentials ``key`` is null except on a single-object GET whose ``$select`` names keyCredentials (§1.2).
- PATCH keyCredentials replaces the whole collection (§1.3); every entry must carry its ``key`` (the simulator is
  strict where Microsoft's docs are silent, §6.1), answered with the observed text "Property keyCredentials in
  payload has a value that does not match schema." (§1.7, Microsoft365DSC PR #7200).
- invalid ``usage`` is answered with the observed text of msgraph-sdk-java #1823 (§1.7).
- PATCH answers 204 No Content; POST 201 with the object (§1.3, S4/S5).
- Permissions are the application permissions in the token's ``roles`` (§1.6); a missing one is
  403 Authorization_RequestDenied "Insufficient privileges to complete the operation.".
- Replication delay (``tenant["replication"]``, hybrid-2026-facts.md "Microsoft Entra is eventually consistent"):
  an application, service principal or app role assignment created while ``delay_seconds`` > 0 stays *pending*
  for that many seconds of the simulated clock (``now(state)``: real time plus ``clock_offset_seconds``). While
  pending it is left out of every list and ``$filter`` answer, a read/update of it by id or alternate key answers
  404 ``Request_ResourceNotFound``, creating the service principal of a pending application answers 400
  ``Request_BadRequest`` "The appId '...' of the service principal does not reference a valid application
  object." (Microsoft Q&A 5883620, msgraph-sdk-powershell #846), and an app role assignment for a pending principal
  answers 400 ``Request_BadRequest`` "Not a valid reference update." (terraform-provider-azuread). Uniqueness is
  enforced on pending objects too: a second service principal for an appId answers 409
  ``Request_MultipleObjectsWithSameKeyValue`` "The service principal cannot be created, updated, or restored
  because the service principal name <appId> is already in use." (Microsoft Graph's text, quoted in
  Azure/reliable-web-app-pattern-java #185 and KelvinTegelaar/CIPP #1142), and a second identical app role
  assignment answers 400 "Permission being assigned already exists on the object.".
- Every tenant has Microsoft Graph's service principal (seed.py) with the application permissions as app roles; an
  app role assignment naming a role its resource does not offer answers 400 "Permission being assigned was not
  found on application '<appId>'."; DELETE servicePrincipals/{id}/appRoleAssignments/{id} answers 204, an unknown
  assignment 404 (learn.microsoft.com/graph/api/serviceprincipal-delete-approleassignments).
Texts not taken from the reference are marked "simulator wording".
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import hashlib
import re
import uuid
from typing import Any
from urllib.parse import unquote

from cryptography import x509

from ..state import iso, now

READ_APPS = {"Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
WRITE_APPS = {"Application.ReadWrite.All", "Directory.ReadWrite.All"}
WRITE_ASSIGNMENTS = {"AppRoleAssignment.ReadWrite.All"}
READ_ORG = {"Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
READ_DOMAINS = {"Domain.Read.All", "Domain.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}

KEY_CREDENTIAL_PROPERTIES = {
    "customKeyIdentifier",
    "displayName",
    "endDateTime",
    "key",
    "keyId",
    "startDateTime",
    "type",
    "usage",
    "@odata.type",
}
KEY_SCHEMA_MESSAGE = "Property keyCredentials in payload has a value that does not match schema."
USAGE_MESSAGE = 'The value for the property "usage" in one of your credentials is invalid. Acceptable values are Sign, Verify.'
INSUFFICIENT = "Insufficient privileges to complete the operation."
PATCHABLE = {
    "servicePrincipals": {
        "keyCredentials",
        "tags",
        "notes",
        "description",
        "accountEnabled",
        "appRoleAssignmentRequired",
        "servicePrincipalNames",
        "displayName",
        "passwordCredentials",
    },
    "applications": {
        "keyCredentials",
        "requiredResourceAccess",
        "displayName",
        "description",
        "notes",
        "signInAudience",
        "tags",
        "passwordCredentials",
    },
}
PAGE_SIZE = 100


class GraphFailure(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def bad_request(message: str, code: str = "Request_BadRequest") -> GraphFailure:
    return GraphFailure(400, code, message)


def not_found(identifier: str) -> GraphFailure:
    return GraphFailure(
        404,
        "Request_ResourceNotFound",
        f"Resource '{identifier}' does not exist or one of its queried reference-property objects are not present.",
    )


class GraphRequest:
    def __init__(self, method: str, path: str, query: dict[str, str], body: Any, claims: dict[str, Any], base_url: str):
        self.method, self.path, self.query, self.body, self.claims, self.base_url = (
            method,
            path,
            query,
            body,
            claims,
            base_url,
        )

    def require(self, allowed: set[str]) -> None:
        if not allowed.intersection(self.claims.get("roles", [])):
            raise GraphFailure(403, "Authorization_RequestDenied", INSUFFICIENT)


# --- keyCredentials --------------------------------------------------------------------------------------------


def _parse_date(text: Any, field: str) -> dt.datetime:
    if not isinstance(text, str):
        raise bad_request(KEY_SCHEMA_MESSAGE, "BadRequest")
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.timezone.utc)
    except ValueError:
        raise bad_request(f"Cannot convert the literal '{text}' to the expected type 'Edm.DateTimeOffset'.") from None


def normalise_key_credentials(entries: Any) -> list[dict[str, Any]]:
    """Validate a keyCredentials payload and return the entries as Entra stores them."""
    if not isinstance(entries, list):
        raise bad_request(KEY_SCHEMA_MESSAGE, "BadRequest")
    stored: list[dict[str, Any]] = []
    seen_ids: set[str] = set()
    for entry in entries:
        if not isinstance(entry, dict) or set(entry) - KEY_CREDENTIAL_PROPERTIES:
            raise bad_request(KEY_SCHEMA_MESSAGE, "BadRequest")
        if not entry.get("key"):
            raise bad_request(KEY_SCHEMA_MESSAGE, "BadRequest")
        kind = entry.get("type")
        if kind not in ("AsymmetricX509Cert", "Symmetric", "X509CertAndPassword"):
            # simulator wording
            raise bad_request(
                'The value for the property "type" in one of your credentials is invalid. Acceptable values are '
                "AsymmetricX509Cert, Symmetric, X509CertAndPassword.",
                "BadRequest",
            )
        usage = entry.get("usage")
        if usage not in ("Sign", "Verify"):
            raise bad_request(USAGE_MESSAGE, "BadRequest")
        if kind == "AsymmetricX509Cert" and usage != "Verify":
            raise bad_request(USAGE_MESSAGE, "BadRequest")
        try:
            der = base64.b64decode(entry["key"], validate=True)
            cert = x509.load_der_x509_certificate(der)
        except (binascii.Error, ValueError, TypeError):
            raise bad_request("Invalid certificate: Key value is invalid certificate", "BadRequest") from None
        not_before = cert.not_valid_before_utc
        not_after = cert.not_valid_after_utc
        start = _parse_date(entry["startDateTime"], "startDateTime") if entry.get("startDateTime") else not_before
        end = _parse_date(entry["endDateTime"], "endDateTime") if entry.get("endDateTime") else not_after
        if end > not_after or start < not_before - dt.timedelta(seconds=1) or end <= start:
            raise bad_request("Key credential end date is invalid.", "BadRequest")  # simulator wording
        key_id = entry.get("keyId") or str(uuid.uuid4())
        try:
            key_id = str(uuid.UUID(key_id))
        except (ValueError, AttributeError, TypeError):
            raise bad_request(f"Cannot convert the literal '{key_id}' to the expected type 'Edm.Guid'.") from None
        if key_id in seen_ids:
            raise bad_request(f"Duplicate keyId '{key_id}' in keyCredentials.", "BadRequest")  # simulator wording
        seen_ids.add(key_id)
        display = entry.get("displayName")
        stored.append(
            {
                "customKeyIdentifier": entry.get("customKeyIdentifier") or hashlib.sha1(der).hexdigest().upper(),
                "displayName": display[:90] if isinstance(display, str) else display,
                "endDateTime": iso(end),
                "key": base64.b64encode(der).decode("ascii"),
                "keyId": key_id,
                "startDateTime": iso(start),
                "type": kind,
                "usage": usage,
            }
        )
    return stored


def _requirements(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise bad_request("Invalid value for requiredResourceAccess.")  # simulator wording
    result = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("resourceAppId"), str):
            raise bad_request("Invalid value for requiredResourceAccess.")
        accesses = item.get("resourceAccess", [])
        for access in accesses:
            if not isinstance(access, dict) or access.get("type") not in ("Role", "Scope"):
                raise bad_request("Invalid value for requiredResourceAccess.")
            try:
                uuid.UUID(str(access.get("id")))
            except ValueError:
                raise bad_request(f"Cannot convert the literal '{access.get('id')}' to the expected type 'Edm.Guid'.") from None
        result.append({"resourceAppId": item["resourceAppId"], "resourceAccess": [dict(id=a["id"], type=a["type"]) for a in accesses]})
    return result


# --- presentation ----------------------------------------------------------------------------------------------


def _select(query: dict[str, str]) -> list[str] | None:
    if "$select" not in query:
        return None
    return [p.strip() for p in query["$select"].split(",") if p.strip()]


def present(obj: dict[str, Any], select: list[str] | None, single: bool) -> dict[str, Any]:
    """The object as Graph returns it: ``$select`` applied, key bytes hidden unless the documented case."""
    out = copy.deepcopy(obj)
    show_keys = single and select is not None and "keyCredentials" in select
    if not show_keys:
        for key in out.get("keyCredentials", []):
            key["key"] = None
    if select is not None:
        out = {k: out.get(k) for k in select}
    return out


def _context(base_url: str, entity_set: str, select: list[str] | None, single: bool) -> str:
    suffix = f"({','.join(select)})" if select else ""
    return f"{base_url}/v1.0/$metadata#{entity_set}{suffix}" + ("/$entity" if single else "")


_FILTER = re.compile(r"^\s*(appId|displayName|id)\s+eq\s+'((?:[^']|'')*)'\s*$")


def _filter(items: list[dict[str, Any]], query: dict[str, str], entity_set: str) -> list[dict[str, Any]]:
    text = query.get("$filter")
    if text is None:
        return items
    match = _FILTER.match(text)
    if not match:
        prop = text.strip().split(" ", 1)[0]
        raise bad_request(
            f"Unsupported or invalid query filter clause specified for property '{prop}' of resource '{entity_set[:-1]}'.",
            "Request_UnsupportedQuery",
        )
    prop, value = match.group(1), match.group(2).replace("''", "'")
    return [item for item in items if item.get(prop) == value]


def _list(req: GraphRequest, items: list[dict[str, Any]], entity_set: str) -> dict[str, Any]:
    items = _filter(items, req.query, entity_set)
    select = _select(req.query)
    try:
        top = int(req.query.get("$top", PAGE_SIZE))
        skip = int(req.query.get("$skiptoken", "0"))
    except ValueError:
        raise bad_request("Invalid page size or skip token.") from None  # simulator wording
    page = items[skip : skip + top]
    body: dict[str, Any] = {
        "@odata.context": _context(req.base_url, entity_set, select, False),
        "value": [present(item, select, single=False) for item in page],
    }
    if skip + top < len(items):
        params = [f"$top={top}", f"$skiptoken={skip + top}"]
        for name in ("$filter", "$select"):
            if name in req.query:
                params.append(f"{name}={req.query[name]}")
        body["@odata.nextLink"] = f"{req.base_url}/v1.0/{entity_set}?" + "&".join(params)
    return body


# --- replication delay -----------------------------------------------------------------------------------------


def replication(tenant: dict[str, Any]) -> dict[str, Any]:
    """The tenant's replication settings: ``{"delay_seconds": N, "pending": {object id: ready at (epoch s)}}``."""
    return tenant.setdefault("replication", {"delay_seconds": 0.0, "pending": {}})


def _created(tenant: dict[str, Any], state: dict[str, Any], object_id: str) -> None:
    settings = replication(tenant)
    if settings.get("delay_seconds", 0) > 0:
        settings["pending"][object_id] = now(state).timestamp() + float(settings["delay_seconds"])


def is_pending(tenant: dict[str, Any], state: dict[str, Any], object_id: str) -> bool:
    """Whether Entra has not yet replicated the object (the simulated clock decides)."""
    ready = tenant.get("replication", {}).get("pending", {}).get(object_id)
    return ready is not None and now(state).timestamp() < ready


def _replicated(tenant: dict[str, Any], state: dict[str, Any], items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item for item in items if not is_pending(tenant, state, item["id"])]


# --- dispatch --------------------------------------------------------------------------------------------------

_ALT_KEY = re.compile(r"^\(appId='([^']*)'\)$")


def _find(items: list[dict[str, Any]], ref: str, tenant: dict[str, Any] | None = None,
          state: dict[str, Any] | None = None) -> dict[str, Any]:
    """The object by id or ``(appId='...')``; a not yet replicated one answers 404 as if it did not exist."""
    if tenant is not None:
        items = _replicated(tenant, state, items)
    match = _ALT_KEY.match(ref)
    if match:
        found = [i for i in items if i.get("appId") == match.group(1)]
        if not found:
            raise not_found(match.group(1))
        return found[0]
    for item in items:
        if item["id"] == ref:
            return item
    raise not_found(ref)


def handle(tenant: dict[str, Any], state: dict[str, Any], req: GraphRequest) -> tuple[int, Any]:
    """Run one Graph request against the tenant (mutated in place). Returns (status, JSON body or None)."""
    path = unquote(req.path)
    if not path.startswith("/v1.0/"):
        raise bad_request(f"Invalid version: {path.split('/')[1] if '/' in path else path}", "BadRequest")
    rest = path[len("/v1.0/") :].rstrip("/")
    if rest == "organization" and req.method == "GET":
        req.require(READ_ORG)
        return 200, _list(req, [tenant["organization"]], "organization")
    if rest == "domains" and req.method == "GET":
        req.require(READ_DOMAINS)
        return 200, _list(req, tenant["domains"], "domains")
    match = re.match(r"^(servicePrincipals|applications)(.*)$", rest)
    if not match:
        raise bad_request(f"Resource not found for the segment '{rest.split('/')[0]}'.", "BadRequest")
    entity_set, tail = match.group(1), match.group(2)
    items = tenant[entity_set]
    if tail == "":
        if req.method == "GET":
            req.require(READ_APPS)
            return 200, _list(req, _replicated(tenant, state, items), entity_set)
        if req.method == "POST":
            req.require(WRITE_APPS)
            created = _create(tenant, state, entity_set, req)
            return 201, {"@odata.context": _context(req.base_url, entity_set, None, True), **present(created, None, True)}
        raise GraphFailure(405, "Request_BadRequest", "The specified HTTP method is not allowed for the resource.")
    sub = re.match(r"^(?:/([0-9a-fA-F-]{36})|(\(appId='[^']*'\)))(/appRoleAssignments)?(?:/([A-Za-z0-9_-]+))?$", tail)
    if not sub or (sub.group(4) and not sub.group(3)):
        raise bad_request(f"Resource not found for the segment '{tail.strip('/')}'.", "BadRequest")
    ref = sub.group(1) or sub.group(2)
    if sub.group(4):
        return _unassign(tenant, state, req, entity_set, _find(items, ref, tenant, state), sub.group(4))
    if sub.group(3):
        if entity_set != "servicePrincipals":
            raise bad_request("Resource not found for the segment 'appRoleAssignments'.", "BadRequest")
        req.require(READ_APPS | WRITE_ASSIGNMENTS)
        if req.method == "POST" and is_pending(tenant, state, _find(items, ref)["id"]):
            # the principal exists but is not replicated yet (terraform-provider-azuread retries on this answer)
            req.require(WRITE_ASSIGNMENTS)
            raise bad_request("Not a valid reference update.")
        principal = _find(items, ref, tenant, state)
        if req.method == "GET":
            mine = [a for a in _replicated(tenant, state, tenant["appRoleAssignments"]) if a["principalId"] == principal["id"]]
            return 200, {"@odata.context": _context(req.base_url, "appRoleAssignments", None, False), "value": copy.deepcopy(mine)}
        if req.method == "POST":
            req.require(WRITE_ASSIGNMENTS)
            req.require(READ_APPS)
            return 201, _assign(tenant, state, principal, req.body)
        raise GraphFailure(405, "Request_BadRequest", "The specified HTTP method is not allowed for the resource.")
    if req.method == "GET":
        req.require(READ_APPS)
        obj = _find(items, ref, tenant, state)
        select = _select(req.query)
        return 200, {"@odata.context": _context(req.base_url, entity_set, select, True), **present(obj, select, True)}
    if req.method == "PATCH":
        req.require(WRITE_APPS)
        obj = _find(items, ref, tenant, state)
        _patch(obj, entity_set, req.body)
        return 204, None
    if req.method == "DELETE":
        req.require(WRITE_APPS)
        obj = _find(items, ref, tenant, state)
        items.remove(obj)
        return 204, None
    raise GraphFailure(405, "Request_BadRequest", "The specified HTTP method is not allowed for the resource.")


def _body_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request("Write requests (excluding DELETE) must contain the Content-Type header declaration.", "BadRequest")
    return body


def _patch(obj: dict[str, Any], entity_set: str, body: Any) -> None:
    body = _body_object(body)
    for name in body:
        if name not in PATCHABLE[entity_set]:
            # simulator wording
            raise bad_request(f"Property '{name}' does not exist as a declared property or extension property.")
    if "passwordCredentials" in body:
        raise bad_request("Property 'passwordCredentials' is read-only and cannot be set; use addPassword.")  # simulator wording
    update = dict(body)
    if "keyCredentials" in update:
        update["keyCredentials"] = normalise_key_credentials(update["keyCredentials"])
    if "requiredResourceAccess" in update:
        update["requiredResourceAccess"] = _requirements(update["requiredResourceAccess"])
    obj.update(update)


def _create(tenant: dict[str, Any], state: dict[str, Any], entity_set: str, req: GraphRequest) -> dict[str, Any]:
    body = _body_object(req.body)
    if entity_set == "applications":
        if not isinstance(body.get("displayName"), str) or not body["displayName"]:
            raise bad_request("Property 'displayName' is required.")  # simulator wording
        app = {
            "id": str(uuid.uuid4()),
            "appId": str(uuid.uuid4()),
            "createdDateTime": iso(now(state)),
            "description": body.get("description"),
            "displayName": body["displayName"],
            "notes": body.get("notes"),
            "publisherDomain": tenant["domains"][0]["id"],
            "signInAudience": body.get("signInAudience", "AzureADMyOrg"),
            "tags": list(body.get("tags", [])),
            "keyCredentials": normalise_key_credentials(body.get("keyCredentials", [])),
            "passwordCredentials": [],
            "requiredResourceAccess": _requirements(body.get("requiredResourceAccess", [])),
        }
        if app["signInAudience"] not in ("AzureADMyOrg", "AzureADMultipleOrgs", "AzureADandPersonalMicrosoftAccount", "PersonalMicrosoftAccount"):
            raise bad_request("Invalid value specified for property 'signInAudience' of resource 'Application'.")
        tenant["applications"].append(app)
        _created(tenant, state, app["id"])
        return app
    app_id = body.get("appId")
    # uniqueness is enforced on objects not yet replicated as well
    if any(sp["appId"] == app_id for sp in tenant["servicePrincipals"]):
        raise GraphFailure(
            409,
            "Request_MultipleObjectsWithSameKeyValue",
            "The service principal cannot be created, updated, or restored because the service principal name "
            f"{app_id} is already in use.",
        )
    apps = _replicated(tenant, state, [a for a in tenant["applications"] if a["appId"] == app_id])
    if not apps:
        raise bad_request(f"The appId '{app_id}' of the service principal does not reference a valid application object.")
    app = apps[0]
    sp = {
        "id": str(uuid.uuid4()),
        "accountEnabled": body.get("accountEnabled", True),
        "appId": app_id,
        "appDisplayName": app["displayName"],
        "appOwnerOrganizationId": tenant["tenant_id"],
        "appRoles": [],
        "description": body.get("description"),
        "displayName": app["displayName"],
        "notes": body.get("notes"),
        "servicePrincipalNames": [app_id],
        "servicePrincipalType": "Application",
        "tags": list(body.get("tags", [])),
        "keyCredentials": [],
        "passwordCredentials": [],
    }
    tenant["servicePrincipals"].append(sp)
    _created(tenant, state, sp["id"])
    return sp


def _unassign(tenant: dict[str, Any], state: dict[str, Any], req: GraphRequest, entity_set: str,
              principal: dict[str, Any], assignment_id: str) -> tuple[int, Any]:
    """DELETE servicePrincipals/{id}/appRoleAssignments/{id}: 204 (learn.microsoft.com/graph/api/
    serviceprincipal-delete-approleassignments); an id that is not one of the principal's assignments is 404."""
    if entity_set != "servicePrincipals":
        raise bad_request("Resource not found for the segment 'appRoleAssignments'.", "BadRequest")
    if req.method != "DELETE":
        raise GraphFailure(405, "Request_BadRequest", "The specified HTTP method is not allowed for the resource.")
    req.require(WRITE_ASSIGNMENTS)
    for assignment in _replicated(tenant, state, tenant["appRoleAssignments"]):
        if assignment["id"] == assignment_id and assignment["principalId"] == principal["id"]:
            tenant["appRoleAssignments"].remove(assignment)
            return 204, None
    raise not_found(assignment_id)


def _assign(tenant: dict[str, Any], state: dict[str, Any], principal: dict[str, Any], body: Any) -> dict[str, Any]:
    body = _body_object(body)
    if body.get("principalId") != principal["id"]:
        raise bad_request("Invalid value specified for property 'principalId' of resource 'AppRoleAssignment'.")
    resources = [sp for sp in tenant["servicePrincipals"] if sp["id"] == body.get("resourceId")]
    if not resources:
        raise not_found(str(body.get("resourceId")))
    resource = resources[0]
    if not any(role["id"] == body.get("appRoleId") for role in resource.get("appRoles", [])):
        raise bad_request(f"Permission being assigned was not found on application '{resource['appId']}'.")
    for existing in tenant["appRoleAssignments"]:
        if (existing["principalId"], existing["resourceId"], existing["appRoleId"]) == (
            principal["id"],
            resource["id"],
            body["appRoleId"],
        ):
            raise bad_request("Permission being assigned already exists on the object.")
    assignment = {
        "id": base64.urlsafe_b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes[:8]).decode("ascii").rstrip("="),
        "appRoleId": body["appRoleId"],
        "createdDateTime": iso(now(state)),
        "deletedDateTime": None,
        "principalDisplayName": principal["displayName"],
        "principalId": principal["id"],
        "principalType": "ServicePrincipal",
        "resourceDisplayName": resource["displayName"],
        "resourceId": resource["id"],
    }
    tenant["appRoleAssignments"].append(assignment)
    _created(tenant, state, assignment["id"])
    return copy.deepcopy(assignment)
