# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Microsoft Graph client shared by the Graph modules: msal token (file cache), requests session, retries, errors.

- TLS: the session's ``verify`` is ``ca_path``, else the environment's CA bundle, else the system default; the
  session ignores the environment (``trust_env=False``) so ``REQUESTS_CA_BUNDLE`` cannot override ``ca_path``.
  Proxies from the environment are still applied explicitly, per host.
- Tokens: one msal ConfidentialClientApplication per client; its cache lives in a file readable only by the
  user (0600 in a 0700 per-user directory), keyed by login host, tenant, client, cloud, Graph host and a digest of
  the credential, so every task of a play reuses one token.
- Retries: 429/503/504 honouring ``Retry-After`` within a bounded total wait; GETs also on connection errors;
  a 401 with an invalid/expired token is retried once with a fresh token. Writes are never resent after a
  dropped connection (the caller re-reads to learn whether it was applied: ``GraphConnectionError``).
- Replication (Entra is eventually consistent, hybrid-2026-facts.md): a call may name the answers that mean
  "a new object is not replicated yet" (``replication=``, from ``REPLICATION_ANSWERS``); those are retried by the
  same loop with backoff (1, 2, 4, 8, then 10 s) within ``replication_wait`` seconds in total.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import stat
import tempfile
import time
import traceback
import uuid
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

from ansible.module_utils.basic import env_fallback

from ansible_collections.exchange.hybrid.plugins.module_utils._certificates import load_client_credential
from ansible_collections.exchange.hybrid.plugins.module_utils._clouds import CLOUD_CHOICES, CLOUDS
from ansible_collections.exchange.hybrid.plugins.module_utils._errors import CertificateError, GraphConnectionError, GraphError
from ansible_collections.exchange.hybrid.plugins.module_utils._module import HybridModule, hybrid_module
from ansible_collections.exchange.hybrid.plugins.module_utils._retry import Backoff, Retry, parse_retry_after

try:
    import requests
    import requests.utils

    HAS_REQUESTS = True
    REQUESTS_IMPORT_ERROR = None
except ImportError:  # pragma: no cover
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR = traceback.format_exc()

try:
    import msal
    import msal.exceptions

    HAS_MSAL = True
    MSAL_IMPORT_ERROR = None
except ImportError:  # pragma: no cover
    HAS_MSAL = False
    MSAL_IMPORT_ERROR = traceback.format_exc()

try:
    import fcntl

    HAS_FCNTL = True
except ImportError:  # pragma: no cover - the controller is POSIX; without it the cache works unlocked
    HAS_FCNTL = False

GRAPH_ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "tenant": {"type": "str", "required": True, "fallback": (env_fallback, ["AZURE_TENANT_ID"])},
    "client_id": {"type": "str", "fallback": (env_fallback, ["AZURE_CLIENT_ID"])},
    "client_secret": {"type": "str", "no_log": True, "fallback": (env_fallback, ["AZURE_CLIENT_SECRET"])},
    "client_certificate_path": {"type": "path", "fallback": (env_fallback, ["AZURE_CLIENT_CERTIFICATE_PATH"])},
    "client_certificate_password": {
        "type": "str",
        "no_log": True,
        "fallback": (env_fallback, ["AZURE_CLIENT_CERTIFICATE_PASSWORD"]),
    },
    "access_token": {"type": "str", "no_log": True},
    "cloud": {
        "type": "str",
        "default": "global",
        "choices": CLOUD_CHOICES,
        "fallback": (env_fallback, ["EXCHANGE_HYBRID_CLOUD"]),
    },
    "authority_host": {"type": "str"},
    "graph_endpoint": {"type": "str"},
    "validate_certs": {"type": "bool", "default": True},
    "ca_path": {"type": "path"},
}

TOKEN_CACHE_DIR_ENV = "EXCHANGE_HYBRID_TOKEN_CACHE_DIR"
RETRY_STATUSES = (429, 503, 504)
# Answers Entra gives for an object created moments ago and not yet replicated (hybrid-2026-facts.md, "Microsoft
# Entra is eventually consistent"): (HTTP status, Graph error code, text the message must contain or None).
# Request_BadRequest is Graph's generic code, so those two are told apart by their message.
REPLICATION_ANSWERS = {
    # GET/PATCH of a new application or service principal by id or alternate key
    "not_found": (404, "Request_ResourceNotFound", None),
    # POST servicePrincipals for a new application (Microsoft Q&A 5883620, msgraph-sdk-powershell #846)
    "application_not_replicated": (400, "Request_BadRequest", "does not reference a valid application object"),
    # POST appRoleAssignments naming a new principal (terraform-provider-azuread retries on it)
    "reference_not_replicated": (400, "Request_BadRequest", "Not a valid reference update"),
}
DEFAULT_REPLICATION_WAIT = 60.0
# The loops' policies (``_retry``): 429/503/504 wait Retry-After, else 2, 4, 8 ... at most 60 s plus up to 1 s;
# a dropped connection on a GET is retried 3 times after 2, 4, 8 s; a new object not replicated yet after 1, 2, 4,
# 8, then 10 s within replication_wait; a login service that is temporarily unavailable is asked 3 times, 5 and
# 10 s apart.
THROTTLING_BACKOFF = Backoff(first=2.0, cap=60.0, jitter_seconds=1.0)
CONNECTION_BACKOFF = Backoff(first=2.0, cap=10.0)
CONNECTION_ATTEMPTS = 4
REPLICATION_BACKOFF = Backoff(first=1.0, cap=10.0)
TOKEN_BACKOFF = Backoff(first=5.0, cap=10.0)
TOKEN_ATTEMPTS = 3
TRANSIENT_TOKEN_ERRORS = ("temporarily_unavailable", "server_error")
USER_AGENT = "exchange.hybrid-ansible"

# AADSTS codes -> what to fix (the codes Entra answers for the usual set-up mistakes).
AADSTS_HINTS = {
    7000215: "the client secret is wrong: use the secret's Value (not its ID) in client_secret",
    7000222: "the client secret has expired: create a new one and update client_secret",
    700016: "no application with this client_id in the tenant: check client_id and tenant "
    "(and that the app registration lives in this tenant)",
    90002: "the tenant does not exist in this cloud: check tenant (verified domain or tenant id) and cloud",
    900023: "the tenant is not a valid domain name or tenant id: check tenant",
    700027: "the client certificate is not registered on the application (or the assertion is invalid): "
    "upload its public key to the app registration or check client_certificate_path",
    65001: "admin consent is missing: grant admin consent for the application's API permissions",
    500011: "the resource (Microsoft Graph) is not available in the tenant: check cloud and graph_endpoint",
    1002012: "the scope is invalid for client credentials: check graph_endpoint",
    50196: "the login service is temporarily unavailable: retry later",
}


def missing_libraries() -> list[tuple[str, str | None]]:
    """(library, import traceback) for every client library that is not installed."""
    missing = []
    if not HAS_REQUESTS:
        missing.append(("requests", REQUESTS_IMPORT_ERROR))
    if not HAS_MSAL:
        missing.append(("msal", MSAL_IMPORT_ERROR))
    return missing


def graph_module(argument_spec: dict, **kwargs: Any) -> HybridModule:
    """A module with the Graph connection options merged in, check mode on, requests and msal checked."""
    return hybrid_module(GRAPH_ARGUMENT_SPEC, argument_spec, missing_libraries(), **kwargs)


def _https_url(value: str, option: str) -> str:
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
        raise GraphError(f"{option} must be an https URL such as https://login.microsoftonline.com (got an invalid value).")
    return value.rstrip("/")


def token_roles(token: str) -> list[str] | None:
    """Application permissions (``roles``) in a JWT access token, read without verification; None if unknown."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, TypeError):
        return None
    if not isinstance(payload, dict) or "scp" in payload:
        return None  # not a JWT we can read, or a delegated token (user roles and scopes decide)
    roles = payload.get("roles")
    if isinstance(roles, list):
        return list(roles)
    # an app-only token without the claim: Entra omits it when no application permission is consented
    return [] if ("appid" in payload or "azp" in payload) else None


class _FileTokenCache:
    """msal SerializableTokenCache persisted in a private file, with an exclusive lock around each use."""

    def __init__(self, key: str) -> None:
        self.path: str | None = None
        self.warning: str | None = None
        directory = os.environ.get(TOKEN_CACHE_DIR_ENV) or os.path.join(
            tempfile.gettempdir(), f"exchange_hybrid_graph_{os.getuid()}"
        )
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            info = os.lstat(directory)
            if stat.S_ISLNK(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
                self.warning = f"token cache disabled: {directory} is not a private directory owned by this user"
            else:
                self.path = os.path.join(directory, f"{key}.json")
        except OSError as error:
            self.warning = f"token cache disabled: {directory}: {error.strerror}"
        self.cache = msal.SerializableTokenCache()

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        if self.path is None or not HAS_FCNTL:
            yield
            return
        fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._load()
            yield
            self._save()
        finally:
            os.close(fd)

    def _load(self) -> None:
        try:
            info = os.lstat(self.path)
            if stat.S_ISLNK(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
                return
            with open(self.path, encoding="utf-8") as handle:
                self.cache.deserialize(handle.read())
        except (OSError, ValueError):
            pass

    def _save(self) -> None:
        if not self.cache.has_state_changed:
            return
        directory = os.path.dirname(self.path)
        fd, tmp = tempfile.mkstemp(prefix=".token-", dir=directory)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(self.cache.serialize())
            os.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def forget_access_tokens(self) -> None:
        for entry in list(self.cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
            self.cache.remove_at(entry)


class GraphClient:
    """``GraphClient(module.params)``: tokens and Graph v1.0 requests with retries and clear errors."""

    def __init__(
        self,
        params: dict[str, Any],
        sleep: Callable[[float], None] = time.sleep,
        max_retries: int = 6,
        max_total_wait: float = 120.0,
        replication_wait: float = DEFAULT_REPLICATION_WAIT,
    ) -> None:
        # The one resolution of the options: the spec's defaults for any not given (tests and other callers may pass
        # a partial dict).
        self.params = {name: spec.get("default") for name, spec in GRAPH_ARGUMENT_SPEC.items()}
        self.params.update({name: value for name, value in params.items() if value is not None})
        params = self.params
        self.sleep = sleep
        self.max_retries = max_retries
        self.max_total_wait = max_total_wait
        # seconds a call naming replication answers may wait in total for a new object to replicate
        self.replication_wait = replication_wait
        self.warnings: list[str] = []
        self.cloud = params["cloud"]
        if self.cloud not in CLOUDS:
            raise GraphError(f"cloud must be one of {', '.join(CLOUD_CHOICES)}.")
        tenant = (params.get("tenant") or "").strip()
        if not tenant:
            raise GraphError("tenant is required (a verified domain such as contoso.onmicrosoft.com, or the tenant id); "
                             "it can also come from AZURE_TENANT_ID.")
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9.-]*$", tenant):
            raise GraphError("tenant must be a domain name (contoso.onmicrosoft.com) or a tenant id (GUID).")
        self.tenant = tenant
        self.login_url = _https_url(params.get("authority_host") or CLOUDS[self.cloud]["login"], "authority_host")
        self.graph_url = _https_url(params.get("graph_endpoint") or CLOUDS[self.cloud]["graph"], "graph_endpoint")
        self.authority = f"{self.login_url}/{self.tenant}"
        self.verify = self._verify()
        self.counters = {"token_requests": 0, "requests": 0, "retries": 0, "waited": 0.0, "replication_waited": 0.0}
        self._token: str | None = params.get("access_token") or None
        self._app: Any = None
        self._cache: _FileTokenCache | None = None
        self._session: Any = None

    # --- transport ---------------------------------------------------------------------------------------------
    def _verify(self) -> Any:
        ca_path = self.params.get("ca_path")
        if ca_path:
            if not os.path.exists(ca_path):
                raise GraphError(f"ca_path {ca_path} does not exist.")
            return ca_path
        if not self.params["validate_certs"]:
            return False
        # trust_env=False also drops these; keep honouring them when ca_path is not given (corporate proxies).
        return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True

    @property
    def session(self) -> Any:
        if self._session is None:
            session = requests.Session()
            session.trust_env = False
            session.verify = self.verify
            session.headers["User-Agent"] = USER_AGENT
            # msal sends no proxies of its own: give the session the login host's proxies (no_proxy honoured).
            session.proxies = requests.utils.get_environ_proxies(self.login_url)
            self._session = session
        return self._session

    def _connection_message(self, url: str, error: Exception) -> str:
        host = urlsplit(url).netloc
        if isinstance(error, requests.exceptions.SSLError) and "CERTIFICATE_VERIFY_FAILED" in str(error):
            return (
                f"the TLS certificate of {host} could not be verified ({type(error).__name__}). Set ca_path to the CA "
                "bundle that issued it (validate_certs: false only for tests)"
            )
        if isinstance(error, requests.exceptions.Timeout):
            return f"{host} did not answer in time"
        reason = str(error)
        errno = re.search(r"\[Errno -?\d+\] [^'\")]+", reason)
        if errno:
            reason = errno.group(0)
        elif "Caused by" in reason:
            reason = reason.split("(Caused by ", 1)[-1].rstrip(")")
        return f"could not connect to {host}: {reason}"

    # --- login -------------------------------------------------------------------------------------------------
    def openid_configuration(self) -> dict[str, Any]:
        """The tenant's OpenID configuration (no credentials needed): proves the tenant exists in this cloud."""
        url = f"{self.authority}/v2.0/.well-known/openid-configuration"
        try:
            response = self.session.get(url, timeout=(10, 30))
        except requests.exceptions.RequestException as error:
            raise GraphConnectionError(f"Failed to read the OpenID configuration of tenant '{self.tenant}': "
                                       f"{self._connection_message(url, error)}.") from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or "token_endpoint" not in body:
            raise self._token_error(body, f"find tenant '{self.tenant}' in cloud '{self.cloud}' ({self.login_url})",
                                    response.status_code)
        return body

    def _token_error(self, body: dict[str, Any], what: str, status: int | None = None) -> GraphError:
        codes = body.get("error_codes") or []
        if not isinstance(body.get("error"), str) and status is not None:
            return GraphError(
                f"Failed to {what}: HTTP {status} without an Entra error answer (is {self.login_url} a Microsoft "
                "login host? check cloud and authority_host)",
                status=status,
            )
        description = str(body.get("error_description") or body.get("error") or "no answer")
        # keep the AADSTS sentence, drop trace/correlation ids and timestamps
        description = re.split(r"\s*(?:\r?\n|Trace ID:)", description, maxsplit=1)[0].strip()
        hint = next((AADSTS_HINTS[c] for c in codes if c in AADSTS_HINTS), None)
        msg = f"Failed to {what}: {body.get('error', 'error')}: {description}"
        if hint:
            msg += f" ({hint})"
        return GraphError(
            msg,
            status=status,
            code=f"AADSTS{codes[0]}" if codes else body.get("error"),
            request_id=body.get("correlation_id"),
        )

    def _credential(self) -> tuple[Any, str]:
        path = self.params.get("client_certificate_path")
        if path:
            try:
                credential = load_client_credential(path, self.params.get("client_certificate_password"))
            except CertificateError as error:
                raise GraphError(error.msg) from None
            return credential, "cert:" + credential["thumbprint"]
        secret = self.params.get("client_secret")
        if secret:
            return secret, "secret:" + hashlib.sha256(secret.encode("utf-8")).hexdigest()
        raise GraphError(
            "No Graph credentials: set client_secret (or AZURE_CLIENT_SECRET), client_certificate_path, or access_token."
        )

    def _application(self) -> Any:
        if self._app is not None:
            return self._app
        client_id = self.params.get("client_id")
        if not client_id:
            raise GraphError("client_id is required with client_secret or client_certificate_path "
                             "(it can also come from AZURE_CLIENT_ID).")
        credential, fingerprint = self._credential()
        key = hashlib.sha256(
            json.dumps([self.login_url, self.tenant.lower(), client_id, self.cloud, self.graph_url, fingerprint]).encode()
        ).hexdigest()[:40]
        self._cache = _FileTokenCache(key)
        if self._cache.warning:
            self.warnings.append(self._cache.warning)
        options: dict[str, Any] = {}
        if self.params.get("authority_host"):
            options["instance_discovery"] = False
        try:
            self._app = msal.ConfidentialClientApplication(
                client_id,
                client_credential=credential,
                authority=self.authority,
                http_client=self.session,
                token_cache=self._cache.cache,
                **options,
            )
        except ValueError:
            # msal says only "Unable to get authority configuration": ask the endpoint ourselves for the reason
            self.openid_configuration()
            raise GraphError(f"Failed to read the OpenID configuration of {self.authority}.") from None
        except requests.exceptions.RequestException as error:
            raise GraphConnectionError(
                f"Failed to get a token for client '{client_id}': {self._connection_message(self.authority, error)}."
            ) from None
        return self._app

    def token(self) -> str:
        """A Graph access token: the given access_token, or msal's (cache first, one token per play)."""
        if self._token:
            return self._token
        client_id = self.params.get("client_id")
        scope = [f"{self.graph_url}/.default"]
        policy = Retry(TOKEN_BACKOFF, attempts=TOKEN_ATTEMPTS, wait_limit=self.max_total_wait, sleep=self.sleep)
        while True:
            app = self._application()
            try:
                with self._cache.locked():
                    result = app.acquire_token_for_client(scope)
            except requests.exceptions.RequestException as error:
                raise GraphConnectionError(
                    f"Failed to get a token for client '{client_id}': {self._connection_message(self.authority, error)}."
                ) from None
            except msal.exceptions.MsalServiceError as error:
                # msal raises for a 5xx from the token endpoint ("HTTP Error: 503")
                result = {"error": "temporarily_unavailable",
                          "error_description": f"the login service answered {error.args[0] if error.args else error}",
                          "error_codes": [50196]}
            if "access_token" in result or result.get("error") not in TRANSIENT_TOKEN_ERRORS or not policy.wait():
                break
            # msal remembers a 429/5xx answer per application object (Retry-After, default 5 s): after the wait, ask
            # again through a new application object so the retry really reaches the login service.
            self._app = None
        if "access_token" not in result:
            raise self._token_error(result, f"get a token for client '{client_id}' in tenant '{self.tenant}'")
        if result.get("token_source") != "cache":
            self.counters["token_requests"] += 1
        self._token = result["access_token"]
        return self._token

    def _refresh_token(self) -> bool:
        """Drop a rejected token and get a new one; False when the token came from ``access_token``."""
        if self.params.get("access_token") or self._cache is None:
            return False
        with self._cache.locked():
            self._cache.forget_access_tokens()
        self._token = None
        self.token()
        return True

    def roles(self) -> list[str] | None:
        """The application permissions the current token carries (None when the token does not say)."""
        return token_roles(self.token())

    def require_permissions(self, needed: dict[str, set[str]], what: str) -> None:
        """Fail before any write when the token shows a needed permission is missing.

        ``needed`` maps the permission to name in the message to the set of permissions that satisfy it.
        """
        roles = self.roles()
        if roles is None:
            return
        missing = [name for name, accepted in needed.items() if not accepted.intersection(roles)]
        if missing:
            consent = " The token carries no application permission at all: admin consent is missing." if not roles else ""
            raise GraphError(
                f"Failed to {what}: the application '{self.params.get('client_id') or 'of the access token'}' lacks the "
                f"Microsoft Graph application permission {' and '.join(missing)}.{consent} Add it to the app "
                "registration, grant admin consent, then rerun (a new token is needed to see the change).",
                status=403,
                code="Authorization_RequestDenied",
            )

    # --- Graph -------------------------------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return path if path.startswith("https://") else f"{self.graph_url}/v1.0/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        what: str,
        params: dict[str, str] | None = None,
        body: Any = None,
        permission: str | None = None,
        replication: tuple[str, ...] = (),
    ) -> Any:
        """One Graph call with retries; returns the JSON body (None for 204). ``what``: "read service principal X".

        ``replication`` names ``REPLICATION_ANSWERS`` that mean the object is not replicated yet: retried within
        ``replication_wait`` seconds, then raised as usual (with the time waited in the message).
        """
        url = self.url(path)
        proxies = requests.utils.get_environ_proxies(url)
        refreshed = False
        connection = Retry(CONNECTION_BACKOFF, attempts=CONNECTION_ATTEMPTS, sleep=self.sleep)
        throttling = Retry(
            THROTTLING_BACKOFF, attempts=self.max_retries + 1, wait_limit=self.max_total_wait, sleep=self.sleep
        )
        replicating = Retry(REPLICATION_BACKOFF, wait_limit=self.replication_wait, sleep=self.sleep)
        while True:
            headers = {"Authorization": f"Bearer {self.token()}", "client-request-id": str(uuid.uuid4())}
            if body is not None:
                headers["Content-Type"] = "application/json"
            self.counters["requests"] += 1
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    data=json.dumps(body) if body is not None else None,
                    headers=headers,
                    proxies=proxies,
                    timeout=(10, 120),
                )
            except requests.exceptions.RequestException as error:
                # Only reads are sent again: a write may have been applied before the connection dropped.
                if method == "GET" and not isinstance(error, requests.exceptions.SSLError) and connection.wait():
                    self.counters["retries"] += 1
                    continue
                message = self._connection_message(url, error)
                if method != "GET":
                    message += "; Graph did not answer, so it is not known whether the change was applied"
                raise GraphConnectionError(f"Failed to {what}: {message}.") from None
            if replication and self._replicating(response, replication):
                before = replicating.waited
                if replicating.wait():
                    self.counters["retries"] += 1
                    self.counters["replication_waited"] += replicating.waited - before
                    continue
                error = self._graph_error(response, what, permission)
                error.msg += (f" (Entra had not replicated the new object after {replicating.failures} attempts and "
                              f"{replicating.waited:.0f}s of waiting)")
                raise error
            if response.status_code in RETRY_STATUSES:
                before = throttling.waited
                if throttling.wait(parse_retry_after(response.headers.get("Retry-After"))):
                    self.counters["retries"] += 1
                    self.counters["waited"] += throttling.waited - before
                    continue
                error = self._graph_error(response, what, permission)
                error.msg += f" (gave up after {throttling.failures} attempts and {throttling.waited:.0f}s of waiting)"
                raise error
            if response.status_code == 401 and not refreshed and self._is_token_problem(response):
                refreshed = True
                if self._refresh_token():
                    continue
            if response.status_code >= 400:
                raise self._graph_error(response, what, permission)
            if response.status_code == 204 or not response.content:
                return None
            try:
                return response.json()
            except ValueError:
                raise GraphError(f"Failed to {what}: Graph answered HTTP {response.status_code} without JSON.",
                                 status=response.status_code) from None

    @staticmethod
    def _replicating(response: Any, names: tuple[str, ...]) -> bool:
        """Whether the answer is one of the named "not replicated yet" answers."""
        if response.status_code not in (400, 404):
            return False
        try:
            error = response.json()["error"]
            code, message = error.get("code"), error.get("message") or ""
        except (ValueError, KeyError, TypeError, AttributeError):
            return False
        for name in names:
            status, expected, text = REPLICATION_ANSWERS[name]
            if response.status_code == status and code == expected and (text is None or text in message):
                return True
        return False

    @staticmethod
    def _is_token_problem(response: Any) -> bool:
        try:
            return response.json()["error"]["code"] == "InvalidAuthenticationToken"
        except (ValueError, KeyError, TypeError):
            return True

    def _graph_error(self, response: Any, what: str, permission: str | None) -> GraphError:
        try:
            error = response.json()["error"]
            code, message = error.get("code") or "UnknownError", error.get("message") or ""
            inner = error.get("innerError") or error.get("innererror") or {}
        except (ValueError, KeyError, TypeError, AttributeError):
            code, message, inner = f"HTTP{response.status_code}", response.reason or "", {}
        request_id = inner.get("request-id") or response.headers.get("request-id")
        msg = f"Failed to {what}: {code}: {message}".rstrip()
        if request_id:
            msg += f" (request-id {request_id})"
        if response.status_code == 403:
            needed = permission or "Application.ReadWrite.All"
            msg += (f". The application needs the Microsoft Graph application permission {needed} "
                    "with admin consent")
        elif response.status_code == 401:
            msg += ". The access token was rejected (expired or issued for another resource)"
        return GraphError(msg, status=response.status_code, code=code, request_id=request_id)

    def get(self, path: str, what: str, params: dict[str, str] | None = None, permission: str | None = None,
            replication: tuple[str, ...] = ()) -> Any:
        return self.request("GET", path, what, params=params, permission=permission, replication=replication)

    def get_all(self, path: str, what: str, params: dict[str, str] | None = None,
                permission: str | None = None) -> list[dict[str, Any]]:
        """All items of a collection, following ``@odata.nextLink``."""
        items: list[dict[str, Any]] = []
        page = self.get(path, what, params=params, permission=permission)
        while True:
            items.extend(page.get("value", []))
            link = page.get("@odata.nextLink")
            if not link:
                return items
            if urlsplit(link).netloc != urlsplit(self.graph_url).netloc:
                raise GraphError(f"Failed to {what}: Graph returned a next page on another host.")
            page = self.get(link, what, permission=permission)
