# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The project's own schemas of the Microsoft Graph v1.0 objects the collection reads and writes.

Written from Microsoft's v1.0 metadata (msgraph-metadata CSDL: property names, Edm types, Nullable flags) in the
OpenAPI style Graph publishes (``type`` + ``format`` + ``nullable``). Only the properties the collection and its
simulator use are listed; entity types are open (Graph returns more). Complex values in Graph's
``odata.metadata=minimal`` answers carry no ``@odata.type``, so it is allowed but not required here.
``json_schema(name)`` turns an entry into plain JSON Schema (draft 2020-12) for validating answers.
"""

from __future__ import annotations

import copy
from typing import Any

_GUID = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_DATE = (
    "^[0-9]{4,}-(0[1-9]|1[012])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    "([.][0-9]{1,12})?(Z|[+-][0-9][0-9]:[0-9][0-9])$"
)


def _string(nullable: bool = True) -> dict[str, Any]:
    return {"type": "string", "nullable": nullable}


def _binary() -> dict[str, Any]:
    return {"type": "string", "format": "base64url", "nullable": True}


def _guid(nullable: bool = True) -> dict[str, Any]:
    return {"type": "string", "format": "uuid", "pattern": _GUID, "nullable": nullable}


def _date() -> dict[str, Any]:
    return {"type": "string", "format": "date-time", "pattern": _DATE, "nullable": True}


def _boolean(nullable: bool = True) -> dict[str, Any]:
    return {"type": "boolean", "nullable": nullable}


def _collection(item: dict[str, Any]) -> dict[str, Any]:
    # Collection(...) properties are Nullable=false in the CSDL.
    return {"type": "array", "items": item}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/schemas/microsoft.graph.{name}"}


_ODATA_TYPE = {"type": "string"}

SCHEMAS: dict[str, dict[str, Any]] = {
    "microsoft.graph.keyCredential": {
        "type": "object",
        "properties": {
            "customKeyIdentifier": _binary(),
            "displayName": _string(),
            "endDateTime": _date(),
            "key": _binary(),
            "keyId": _guid(),
            "startDateTime": _date(),
            "type": _string(),
            "usage": _string(),
            "@odata.type": _ODATA_TYPE,
        },
    },
    "microsoft.graph.passwordCredential": {
        "type": "object",
        "properties": {
            "customKeyIdentifier": _binary(),
            "displayName": _string(),
            "endDateTime": _date(),
            "hint": _string(),
            "keyId": _guid(),
            "secretText": _string(),
            "startDateTime": _date(),
            "@odata.type": _ODATA_TYPE,
        },
    },
    "microsoft.graph.resourceAccess": {
        "type": "object",
        "properties": {"id": _guid(nullable=False), "type": _string(), "@odata.type": _ODATA_TYPE},
    },
    "microsoft.graph.requiredResourceAccess": {
        "type": "object",
        "properties": {
            "resourceAccess": _collection(_ref("resourceAccess")),
            "resourceAppId": _string(nullable=False),
            "@odata.type": _ODATA_TYPE,
        },
    },
    "microsoft.graph.appRole": {
        "type": "object",
        "properties": {
            "allowedMemberTypes": _collection({"type": "string"}),
            "description": _string(),
            "displayName": _string(),
            "id": _guid(nullable=False),
            "isEnabled": _boolean(nullable=False),
            "origin": _string(),
            "value": _string(),
        },
    },
    "microsoft.graph.servicePrincipal": {
        "type": "object",
        "openType": True,
        "properties": {
            "id": _string(nullable=False),
            "accountEnabled": _boolean(),
            "appId": _string(),
            "appDisplayName": _string(),
            "appOwnerOrganizationId": _guid(),
            "appRoles": _collection(_ref("appRole")),
            "displayName": _string(),
            "keyCredentials": _collection(_ref("keyCredential")),
            "passwordCredentials": _collection(_ref("passwordCredential")),
            "servicePrincipalNames": _collection({"type": "string"}),
            "servicePrincipalType": _string(),
            "tags": _collection({"type": "string"}),
        },
    },
    "microsoft.graph.application": {
        "type": "object",
        "openType": True,
        "properties": {
            "id": _string(nullable=False),
            "appId": _string(),
            "displayName": _string(),
            "keyCredentials": _collection(_ref("keyCredential")),
            "passwordCredentials": _collection(_ref("passwordCredential")),
            "requiredResourceAccess": _collection(_ref("requiredResourceAccess")),
            "signInAudience": _string(),
            "tags": _collection({"type": "string"}),
        },
    },
    "microsoft.graph.appRoleAssignment": {
        "type": "object",
        "openType": True,
        "properties": {
            "id": _string(nullable=False),
            "appRoleId": _guid(nullable=False),
            "createdDateTime": _date(),
            "principalDisplayName": _string(),
            "principalId": _guid(),
            "principalType": _string(),
            "resourceDisplayName": _string(),
            "resourceId": _guid(),
        },
    },
    "microsoft.graph.verifiedDomain": {
        "type": "object",
        "properties": {
            "capabilities": _string(),
            "isDefault": _boolean(),
            "isInitial": _boolean(),
            "name": _string(),
            "type": _string(),
        },
    },
    "microsoft.graph.organization": {
        "type": "object",
        "openType": True,
        "properties": {
            "id": _string(nullable=False),
            "displayName": _string(),
            "verifiedDomains": _collection(_ref("verifiedDomain")),
        },
    },
    "microsoft.graph.domain": {
        "type": "object",
        "openType": True,
        "properties": {
            "id": _string(nullable=False),
            "authenticationType": _string(nullable=False),
            "isDefault": _boolean(nullable=False),
            "isInitial": _boolean(nullable=False),
            "isVerified": _boolean(nullable=False),
            "supportedServices": _collection({"type": "string"}),
        },
    },
    # The error body every Graph failure carries (learn.microsoft.com/graph/errors).
    "microsoft.graph.odataError": {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "innerError": {"type": "object"},
                },
                "required": ["code", "message"],
            }
        },
        "required": ["error"],
    },
}


def _convert(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _convert(v) for k, v in node.items() if k not in ("nullable", "openType")}
        if node.get("nullable") and "type" in out:
            out["type"] = [out["type"], "null"]
        if "$ref" in out:
            out["$ref"] = out["$ref"].replace("#/schemas/", "#/$defs/")
        if node.get("type") == "object" and "properties" in node and not node.get("openType"):
            # complex types are closed: an unknown property in an answer is a simulator bug
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_convert(v) for v in node]
    return node


def json_schema(name: str) -> dict[str, Any]:
    """Plain JSON Schema for ``microsoft.graph.<name>`` (or a full name), with all types as ``$defs``."""
    full = name if name.startswith("microsoft.graph.") else f"microsoft.graph.{name}"
    defs = {key: _convert(copy.deepcopy(value)) for key, value in SCHEMAS.items()}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$defs": defs, "$ref": f"#/$defs/{full}"}
