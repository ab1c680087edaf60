"""Entra ID's OpenID configuration and token endpoint (client credentials), as the simulator answers them.

Error texts are Entra's AADSTS texts (the parts msal and users see). Access tokens are JWTs signed with a key
kept in the state (HS256, so they survive a simulator restart); like real Graph tokens they carry ``tid``,
``appid`` and the application permissions in ``roles`` as granted when the token was issued.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..state import now
from .seed import hash_secret

TOKEN_LIFETIME = 3599
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class TokenError(Exception):
    def __init__(self, status: int, error: str, code: int, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.code, self.description = status, error, code, description

    def body(self, base_url: str) -> dict[str, Any]:
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
        return {
            "error": self.error,
            "error_description": f"AADSTS{self.code}: {self.description} Trace ID: {trace} "
            f"Correlation ID: {correlation} Timestamp: {stamp}",
            "error_codes": [self.code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": f"{base_url}/error?code={self.code}",
        }


def find_tenant(state: dict[str, Any], name: str) -> dict[str, Any] | None:
    """A tenant by id or by any of its domains (case-insensitive), as login.microsoftonline.com resolves it."""
    tenants = state.get("entra", {}).get("tenants", {})
    wanted = name.lower()
    for tenant_id, tenant in tenants.items():
        if tenant_id.lower() == wanted or any(d["id"].lower() == wanted for d in tenant.get("domains", [])):
            return tenant
    return None


def tenant_not_found(name: str) -> TokenError:
    return TokenError(
        400,
        "invalid_tenant",
        90002,
        f"Tenant '{name}' not found. Check to make sure you have the correct tenant ID and are signing into the "
        "correct cloud. Check with your subscription administrator, this may happen if there are no active "
        "subscriptions for the tenant.",
    )


def openid_configuration(state: dict[str, Any], base_url: str, tenant_name: str) -> dict[str, Any]:
    tenant = find_tenant(state, tenant_name)
    if tenant is None:
        raise tenant_not_found(tenant_name)
    tid = tenant["tenant_id"]
    return {
        "token_endpoint": f"{base_url}/{tid}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": f"{base_url}/{tid}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{base_url}/{tid}/v2.0",
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": f"{base_url}/oidc/userinfo",
        "authorization_endpoint": f"{base_url}/{tid}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{base_url}/{tid}/oauth2/v2.0/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{base_url}/{tid}/oauth2/v2.0/logout",
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "ver"],
        "kerberos_endpoint": f"{base_url}/{tid}/kerberos",
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": base_url.split("://", 1)[1],
        "rbac_url": "https://pas.windows.net",
    }


def _b64url_digest(der: bytes, algorithm: str) -> str:
    return base64.urlsafe_b64encode(hashlib.new(algorithm, der).digest()).decode("ascii").rstrip("=")


def _verify_assertion(client_id: str, client: dict[str, Any], assertion: str, audience: str) -> None:
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        raise TokenError(400, "invalid_request", 50027, "JWT token is invalid or malformed.") from None
    for pem in client.get("certificates", []):
        cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
        der = cert.public_bytes(serialization.Encoding.DER)
        x5t, x5t256 = (str(header.get(name) or "").rstrip("=") for name in ("x5t", "x5t#S256"))
        if x5t == _b64url_digest(der, "sha1") or x5t256 == _b64url_digest(der, "sha256"):
            try:
                claims = jwt.decode(
                    assertion, cert.public_key(), algorithms=["RS256", "PS256"], audience=audience, leeway=300
                )
            except jwt.PyJWTError as error:
                raise TokenError(
                    401, "invalid_client", 700027, f"Client assertion failed signature validation. ({error})"
                ) from None
            if claims.get("iss") != client_id or claims.get("sub") != client_id:
                raise TokenError(401, "invalid_client", 700023, "Client assertion audience or issuer is invalid.")
            return
    thumbprint = header.get("x5t") or header.get("x5t#S256") or ""
    raise TokenError(
        401,
        "invalid_client",
        700027,
        "Client assertion contains an invalid signature. [Reason - The key was not found., "
        f"Thumbprint of key used by client: '{thumbprint}']",
    )


def issue_token(state: dict[str, Any], base_url: str, tenant_name: str, body: bytes) -> dict[str, Any]:
    """Handle a POST to the token endpoint; returns the token response or raises TokenError."""
    form = {k: v[0] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items()}
    tenant = find_tenant(state, tenant_name)
    if tenant is None:
        raise tenant_not_found(tenant_name)
    if form.get("grant_type") != "client_credentials":
        raise TokenError(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
    client_id = form.get("client_id", "")
    client = tenant["clients"].get(client_id)
    if client is None:
        raise TokenError(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory '{tenant['organization']['displayName']}'. "
            "This can happen if the application has not been installed by the administrator of the tenant or "
            "consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
        )
    if "client_secret" in form:
        if hash_secret(form["client_secret"]) not in client.get("secretHashes", []):
            raise TokenError(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
                f"value, not the client secret ID, for a secret added to app '{client_id}'.",
            )
    elif "client_assertion" in form:
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise TokenError(400, "invalid_request", 50027, "Invalid client_assertion_type.")
        _verify_assertion(client_id, client, form["client_assertion"], f"{base_url}/{tenant['tenant_id']}/oauth2/v2.0/token")
    else:
        raise TokenError(
            401,
            "invalid_client",
            7000216,
            "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
        )
    scope = form.get("scope", "")
    resources = [s for s in scope.split() if s.endswith("/.default")]
    if len(resources) != 1 or len(scope.split()) != 1:
        raise TokenError(
            400,
            "invalid_scope",
            1002012,
            f"The provided value for scope {scope} is not valid. Client credential flows must have a scope value "
            "with /.default suffixed to the resource identifier (application ID URI).",
        )
    issued = now(state)
    claims = {
        "aud": resources[0][: -len("/.default")],
        "iss": f"https://sts.windows.net/{tenant['tenant_id']}/",
        "iat": int(issued.timestamp()),
        "nbf": int(issued.timestamp()),
        "exp": int(issued.timestamp()) + TOKEN_LIFETIME,
        "appid": client_id,
        "idtyp": "app",
        "oid": client_id,
        "tid": tenant["tenant_id"],
        "uti": uuid.uuid4().hex,
        "ver": "1.0",
    }
    if client.get("permissions"):
        # like Entra, no "roles" claim at all when no application permission is consented
        claims["roles"] = list(client["permissions"])
    token = jwt.encode(claims, state["entra"]["token_signing_key"], algorithm="HS256", headers={"typ": "JWT"})
    return {"token_type": "Bearer", "expires_in": TOKEN_LIFETIME, "ext_expires_in": TOKEN_LIFETIME, "access_token": token}


class GraphAuthError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def validate_access_token(state: dict[str, Any], authorization: str | None, audiences: tuple[str, ...]) -> dict[str, Any]:
    """Claims of a Graph request's bearer token, or GraphAuthError (Graph's InvalidAuthenticationToken texts)."""
    if not authorization or not authorization.startswith("Bearer ") or not authorization[7:].strip():
        raise GraphAuthError("Access token is empty.")
    token = authorization[7:].strip()
    try:
        claims = jwt.decode(
            token,
            state["entra"]["token_signing_key"],
            algorithms=["HS256"],
            options={"verify_exp": False, "verify_aud": False, "verify_nbf": False, "verify_iat": False},
        )
    except jwt.PyJWTError:
        raise GraphAuthError("IDX14100: JWT is not well formed, there are no dots (.).") from None
    if claims.get("aud") not in audiences:
        raise GraphAuthError("Access token validation failure. Invalid audience.")
    if claims.get("exp", 0) <= now(state).timestamp():
        raise GraphAuthError("Lifetime validation failed, the token is expired.")
    return claims
