# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""WinRM client for the Exchange modules: pywinrm ``Protocol`` driving the fixed runner (see ``_runner_script``).

PRIVATE to the collection: it can change at any time. Modules use ``exchange_module()``, ``client_for()``,
``call()`` and ``ExchangeClient.run()`` and catch ``ExchangeError`` only.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import time
import traceback
from typing import Any, Callable, Optional, Sequence

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from ansible_collections.exchange.hybrid.plugins.module_utils import _cmdlet_catalog as catalog
from ansible_collections.exchange.hybrid.plugins.module_utils._runner_script import (
    RUNNER_PROTOCOL_VERSION,
    command_line,
    stdin_payload,
)

try:
    from winrm.exceptions import (
        AuthenticationError,
        WinRMError,
        WinRMOperationTimeoutError,
        WinRMTransportError,
        WSManFaultError,
    )
    from winrm.protocol import Protocol

    HAS_PYWINRM = True
    PYWINRM_IMPORT_ERROR: Optional[str] = None
except ImportError:  # pragma: no cover - exercised by ansible-test sanity import
    HAS_PYWINRM = False
    PYWINRM_IMPORT_ERROR = traceback.format_exc()
    Protocol = None  # type: ignore[assignment,misc]

    class _Missing(Exception):
        pass

    AuthenticationError = WinRMError = WinRMOperationTimeoutError = WinRMTransportError = WSManFaultError = _Missing

try:
    import requests.exceptions as requests_exceptions
except ImportError:  # pragma: no cover
    requests_exceptions = None  # type: ignore[assignment]


WINRM_ARGUMENT_SPEC: dict[str, dict[str, Any]] = dict(
    server=dict(type="str", required=True),
    port=dict(type="int"),
    scheme=dict(type="str", default="https", choices=["https", "http"]),
    username=dict(type="str", fallback=(env_fallback, ["EXCHANGE_USERNAME"])),
    password=dict(type="str", no_log=True, fallback=(env_fallback, ["EXCHANGE_PASSWORD"])),
    transport=dict(type="str", default="ntlm", choices=["ntlm", "kerberos", "credssp", "basic", "certificate"]),
    validate_certs=dict(type="bool", default=True),
    ca_path=dict(type="path"),
    cert_pem=dict(type="path"),
    cert_key_pem=dict(type="path", no_log=False),
    message_encryption=dict(type="str", default="auto", choices=["auto", "always", "never"]),
    operation_timeout=dict(type="int", default=20),
    read_timeout=dict(type="int", default=30),
    allow_unencrypted_basic=dict(type="bool", default=False),
)
CONNECTION_OPTIONS = tuple(WINRM_ARGUMENT_SPEC)

# WS-Management quota faults (wsmerror.h): too many shells / too many operations for this user.
QUOTA_MAX_SHELLS = 0x803381A5
QUOTA_MAX_OPERATIONS = 0x803381A6
QUOTA_FAULTS = (QUOTA_MAX_SHELLS, QUOTA_MAX_OPERATIONS)
MAX_ATTEMPTS = 5
CLOSE_SHELL_ATTEMPTS = 3
# Longest user name Windows accepts for an account (UPN) is 1024 characters; NTLM carries lengths as 16-bit.
MAX_USERNAME_LENGTH = 1024
BACKOFF_BASE = 1.0
BACKOFF_MAX = 15.0
# Send standard input in pieces well below the default MaxEnvelopeSize (150-500 KB after base64).
STDIN_CHUNK = 48 * 1024

PUSH_MINIMUM = (15, 0, 775, 38)  # Exchange 2013 CU3, required for push notifications
_PARAMETER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_THUMBPRINT = re.compile(r"^[0-9A-F]{40}$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))+$")


class ExchangeError(Exception):
    """Base error: ``msg`` is what the user reads; ``details`` never holds secrets."""

    def __init__(self, msg: str, server: Optional[str] = None, details: Optional[dict] = None) -> None:
        super().__init__(msg)
        self.msg = msg
        self.server = server
        self.details = details or {}


class ExchangeConnectionError(ExchangeError):
    """Transport, authentication, TLS or WS-Management failures (after bounded retries)."""


class ExchangeCommandError(ExchangeError):
    """The runner's error envelope: a cmdlet failed, the snap-in is missing, or the request was refused."""

    def __init__(
        self,
        msg: str,
        server: Optional[str] = None,
        details: Optional[dict] = None,
        cmdlet: Optional[str] = None,
        index: Optional[int] = None,
        category: Optional[str] = None,
        error_id: Optional[str] = None,
        kind: Optional[str] = None,
        results: Optional[list] = None,
    ) -> None:
        super().__init__(msg, server, details)
        self.cmdlet = cmdlet
        self.index = index
        self.category = category
        self.error_id = error_id
        self.kind = kind
        self.results = results or []


class ExchangeInputError(ExchangeError):
    """A value or call refused before anything is sent."""


def call(cmdlet: str, properties: Optional[Sequence[str]] = None, **parameters: Any) -> dict:
    """One runner call. Values must be JSON data: str, int, float, bool, None or a list of str."""
    for name, value in parameters.items():
        if not _PARAMETER_NAME.match(name) or name.lower() in [p.lower() for p in catalog.COMMON_PARAMETERS]:
            raise ExchangeInputError("invalid parameter name %r for %s" % (name, cmdlet))
        if isinstance(value, list):
            if not all(isinstance(item, str) for item in value):
                raise ExchangeInputError("parameter %s of %s: a list must hold strings only" % (name, cmdlet))
        elif value is not None and not isinstance(value, (str, int, float, bool)):
            raise ExchangeInputError(
                "parameter %s of %s: unsupported value type %s" % (name, cmdlet, type(value).__name__)
            )
    entry: dict[str, Any] = {"cmdlet": cmdlet, "parameters": dict(parameters)}
    if properties is not None:
        entry["properties"] = list(properties)
    return entry


# ---------------------------------------------------------------- small shared helpers


def version_tuple(value: Any) -> Optional[tuple[int, int, int, int]]:
    """(major, minor, build, revision) from the runner's ServerVersion object or a version string."""
    if value is None:
        return None
    if isinstance(value, dict):
        try:
            return tuple(int(value.get(part) or 0) for part in ("Major", "Minor", "Build", "Revision"))  # type: ignore
        except (TypeError, ValueError):
            return None
    if isinstance(value, (list, tuple)) and len(value) == 4:
        return tuple(int(part) for part in value)  # type: ignore[return-value]
    try:
        return catalog.version_from_text(str(value))
    except ValueError:
        return None


def format_version(version: Optional[Sequence[int]]) -> Optional[str]:
    return None if version is None else ".".join(str(part) for part in version)


def product_name(version: Sequence[int]) -> str:
    return "Exchange " + catalog.product_of(version)


def minimum_builds(cmdlet: str, parameter: str) -> str:
    """Human text of the builds that first have ``parameter`` (from the catalog), e.g. '15.1.2106.2, 15.2.721.2'."""
    spec = catalog.CATALOG[cmdlet]["parameters"][parameter]
    builds = [format_version(b) for b in spec.get("min_build", [])]
    products = spec.get("applies_to", catalog.CATALOG[cmdlet]["applies_to"])
    text = "Exchange " + "/".join(products)
    if builds:
        text += " at build " + " or ".join(b for b in builds if b)
    return text


def meets_push_minimum(version: Optional[Sequence[int]]) -> bool:
    return version is not None and tuple(version[:4]) >= PUSH_MINIMUM


def supports_parameter(cmdlet: str, parameter: str, version: Optional[Sequence[int]]) -> bool:
    return version is not None and catalog.parameter_available(cmdlet, parameter, version)


def normalize_thumbprint(value: Optional[str], option: str = "thumbprint") -> Optional[str]:
    """Upper-case 40-hex thumbprint; spaces/colons and invisible marks from copy-paste are dropped."""
    if value is None:
        return None
    cleaned = re.sub(r"[\s:\u200e\u200f\ufeff]", "", str(value)).upper()
    if not _THUMBPRINT.match(cleaned):
        raise ExchangeInputError(
            "%s must be a certificate thumbprint of 40 hexadecimal characters (SHA-1), got %d characters; copy it "
            "from Get-ExchangeCertificate's Thumbprint column" % (option, len(str(value)))
        )
    return cleaned


def same_thumbprint(left: Optional[str], right: Optional[str]) -> bool:
    return bool(left) and bool(right) and str(left).upper() == str(right).upper()


def is_domain_name(value: Any) -> bool:
    return isinstance(value, str) and bool(_DOMAIN.match(value))


def parse_utc(value: Optional[str]) -> Optional[dt.datetime]:
    """The runner's ``yyyy-MM-ddTHH:mm:ssZ`` (or any ISO 8601 text) as an aware UTC datetime."""
    if not value:
        return None
    text = str(value).strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc)


MINIMUM_AUTH_KEY_SIZE = 2048


def auth_certificate_problems(cert: dict, now: dt.datetime, key_size: int = MINIMUM_AUTH_KEY_SIZE) -> list[str]:
    """Why ``cert`` (Get-ExchangeCertificate properties) cannot be the Auth certificate; empty when it can."""
    found = []
    if not cert.get("HasPrivateKey"):
        found.append("it has no private key")
    if cert.get("PrivateKeyExportable") is False:
        found.append("its private key is not exportable")
    size = cert.get("PublicKeySize")
    if isinstance(size, int) and size < key_size:
        found.append("its key has %d bits (at least %d needed)" % (size, key_size))
    end, start = parse_utc(cert.get("NotAfter")), parse_utc(cert.get("NotBefore"))
    if end is not None and end <= now:
        found.append("it expired on %s" % cert.get("NotAfter"))
    if start is not None and start > now + dt.timedelta(days=1):
        found.append("it is not valid before %s" % cert.get("NotBefore"))
    if str(cert.get("Status") or "") in ("Revoked", "Invalid", "DateInvalid"):
        found.append("its status is %s" % cert.get("Status"))
    return found


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def validate_calls(calls: Sequence[dict], version: Optional[Sequence[int]], server: Optional[str] = None) -> None:
    """Refuse (ExchangeInputError) any Exchange call that ``version`` of Exchange would reject, before sending."""
    for entry in calls:
        name = entry["cmdlet"]
        if not catalog.is_exchange_cmdlet(name):
            continue
        try:
            catalog.validate_call(name, entry.get("parameters", {}), version)
        except catalog.CatalogError as exc:
            where = server or "the server"
            build = " (%s, build %s)" % (product_name(version), format_version(version)) if version else ""
            raise ExchangeInputError(
                "%s cannot be sent to %s%s: %s" % (name, where, build, exc.message),
                server,
                {"cmdlet": name, "parameter": exc.parameter},
            )


# ---------------------------------------------------------------- connection parameters


def connection_problem(params: dict) -> Optional[str]:
    """A reason to refuse the connection options before connecting, or None."""
    if not params.get("server"):
        return "server is required: the Exchange server's host name (or run the task against a winrm/psrp host)"
    scheme = params.get("scheme") or "https"
    transport = params.get("transport") or "ntlm"
    if transport == "basic" and scheme == "http" and not params.get("allow_unencrypted_basic"):
        return (
            "transport basic over scheme http would send the password readable on the network; use scheme https, "
            "or transport ntlm/kerberos (message encryption), or set allow_unencrypted_basic: true to accept the risk"
        )
    if transport == "certificate":
        if scheme != "https":
            return "transport certificate needs scheme https"
        if not params.get("cert_pem") or not params.get("cert_key_pem"):
            return "transport certificate needs cert_pem and cert_key_pem (the client certificate and its key)"
    elif transport not in ("kerberos",) and not params.get("username"):
        return "username is required for transport %s (or set EXCHANGE_USERNAME)" % transport
    username = params.get("username") or ""
    if len(username) > MAX_USERNAME_LENGTH or any(c in username for c in "\r\n\0"):
        return (
            "username must be a Windows account name (DOMAIN\\user or user@domain): at most %d characters, "
            "without line breaks or NUL" % MAX_USERNAME_LENGTH
        )
    for option in ("ca_path", "cert_pem", "cert_key_pem"):
        path = params.get(option)
        if path and not os.path.isfile(path):
            return "%s %s does not exist or is not a file on the controller" % (option, path)
    operation_timeout = params.get("operation_timeout") or 20
    read_timeout = params.get("read_timeout") or 30
    if operation_timeout < 1 or read_timeout <= operation_timeout:
        return "read_timeout (%s) must be greater than operation_timeout (%s), and both positive" % (
            read_timeout,
            operation_timeout,
        )
    return None


def endpoint_of(params: dict) -> str:
    scheme = params.get("scheme") or "https"
    port = params.get("port") or (5986 if scheme == "https" else 5985)
    host = str(params["server"])
    if ":" in host and not host.startswith("["):
        host = "[%s]" % host
    return "%s://%s:%d/wsman" % (scheme, host, port)


def protocol_arguments(params: dict) -> dict:
    """Keyword arguments for pywinrm ``Protocol`` (the password is passed, never logged)."""
    transport = params.get("transport") or "ntlm"
    arguments: dict[str, Any] = dict(
        endpoint=endpoint_of(params),
        transport=transport,
        username=params.get("username"),
        password=params.get("password"),
        message_encryption=params.get("message_encryption") or "auto",
        operation_timeout_sec=params.get("operation_timeout") or 20,
        read_timeout_sec=params.get("read_timeout") or 30,
    )
    if params.get("validate_certs", True):
        arguments["server_cert_validation"] = "validate"
        # Explicit, so requests' REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE never overrides ca_path (None = default store).
        arguments["ca_trust_path"] = params.get("ca_path") or _environment_ca_bundle()
    else:
        arguments["server_cert_validation"] = "ignore"
        arguments["ca_trust_path"] = None
    if transport == "certificate":
        arguments["cert_pem"] = params.get("cert_pem")
        arguments["cert_key_pem"] = params.get("cert_key_pem")
    return arguments


def _environment_ca_bundle() -> Optional[str]:
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None


# ---------------------------------------------------------------- the client


class _AttemptFailed(Exception):
    def __init__(self, original: BaseException, stage: str, executed: bool) -> None:
        super().__init__(str(original))
        self.original = original
        self.stage = stage
        self.executed = executed  # the command may have run (all input sent)


_STAGE_TEXT = {
    "open_shell": "Create (open shell)",
    "run_command": "Command",
    "send_input": "Send (standard input)",
    "receive": "Receive (output)",
}


class ExchangeClient:
    """Runs batches of calls through the fixed runner; one shell and one PowerShell process per ``run()``."""

    def __init__(
        self,
        params: dict,
        protocol_factory: Optional[Callable[..., Any]] = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.params = dict(params)
        self.server = str(params.get("server"))
        self.endpoint = endpoint_of(params)
        self.computer_name: Optional[str] = None
        self.ps_version: Optional[str] = None
        self.server_version: Optional[tuple[int, int, int, int]] = None
        # The server's clock (envelope "utc_now") when it sends one: expiry is judged by the server's time.
        self.server_utc_now: Optional[dt.datetime] = None
        self.warnings: list[str] = []
        self.attempts = 0
        self._factory = protocol_factory or Protocol
        self._sleep = sleep

    # -- public

    def run(self, calls: list[dict]) -> list[list[dict]]:
        if not calls:
            return []
        if self.server_version is not None:
            validate_calls(calls, self.server_version, self.server)
        payload = stdin_payload({"runner": RUNNER_PROTOCOL_VERSION, "calls": list(calls)})
        read_only = all(str(entry["cmdlet"]).startswith("Get-") for entry in calls)
        attempt = 0
        while True:
            attempt += 1
            self.attempts += 1
            try:
                stdout, stderr, rc = self._execute(payload)
                break
            except _AttemptFailed as failure:
                transient = self._is_transient(failure.original)
                # A batch with writes is never re-sent once all its input reached the server.
                if transient and attempt < MAX_ATTEMPTS and (read_only or not failure.executed):
                    self._sleep(self._backoff(attempt))
                    continue
                raise self._connection_error(failure.original, failure.stage, attempt) from None
        return self._outputs(stdout, stderr, rc, calls)

    # -- one attempt

    def _execute(self, payload: bytes) -> tuple[bytes, bytes, int]:
        stage = "open_shell"
        shell_id = None
        executed = False
        try:
            protocol = self._factory(**protocol_arguments(self.params))
        except Exception as exc:  # invalid options or a missing optional library (kerberos, credssp)
            raise _AttemptFailed(exc, "open_shell", False)
        try:
            shell_id = protocol.open_shell(codepage=65001)
            stage = "run_command"
            command_id = protocol.run_command(shell_id, command_line())
            try:
                stage = "send_input"
                chunks = [payload[i : i + STDIN_CHUNK] for i in range(0, len(payload), STDIN_CHUNK)] or [b""]
                for position, chunk in enumerate(chunks):
                    last = position == len(chunks) - 1
                    executed = last
                    protocol.send_command_input(shell_id, command_id, chunk, end=last)
                stage = "receive"
                return protocol.get_command_output(shell_id, command_id)
            finally:
                try:
                    protocol.cleanup_command(shell_id, command_id)
                except Exception:  # the command may already be gone; closing the shell ends it anyway
                    pass
        except Exception as exc:
            raise _AttemptFailed(exc, stage, executed)
        finally:
            if shell_id is not None:
                self._close_shell(protocol, shell_id)

    def _close_shell(self, protocol: Any, shell_id: str) -> None:
        # A shell left open counts against the user's MaxShellsPerUser quota on the server, so a Delete that
        # failed on a dropped connection is tried again on a new one before giving up.
        for attempt in range(1, CLOSE_SHELL_ATTEMPTS + 1):
            try:
                protocol.close_shell(shell_id)
                return
            except Exception as exc:
                retry = self._is_transient(exc) or (
                    requests_exceptions is not None and isinstance(exc, requests_exceptions.Timeout)
                )
                if attempt < CLOSE_SHELL_ATTEMPTS and retry:
                    self._sleep(self._backoff(attempt))
                    continue
                self.warnings.append(
                    "could not close the WinRM shell on %s: %s" % (self.server, self._scrub(str(exc))[:300])
                )
                return

    # -- errors

    @staticmethod
    def _backoff(attempt: int) -> float:
        return min(BACKOFF_MAX, BACKOFF_BASE * (2 ** (attempt - 1))) * random.uniform(0.5, 1.0)

    @staticmethod
    def _quota_code(exc: BaseException) -> Optional[int]:
        for code in (getattr(exc, "wmierror_code", None), getattr(exc, "wsman_fault_code", None)):
            if code in QUOTA_FAULTS:
                return code
        return None

    def _is_transient(self, exc: BaseException) -> bool:
        if self._quota_code(exc) is not None:
            return True
        if isinstance(exc, WinRMOperationTimeoutError):
            return True
        if isinstance(exc, WinRMTransportError) and not isinstance(exc, WSManFaultError):
            return exc.code in (502, 503, 504)
        if requests_exceptions is not None:
            if isinstance(exc, (requests_exceptions.SSLError, requests_exceptions.Timeout)):
                return False
            if isinstance(exc, requests_exceptions.ConnectionError):
                return not self._refused(exc)
        return False

    @staticmethod
    def _refused(exc: BaseException) -> bool:
        text = str(exc).lower()
        return (
            "refused" in text
            or "name or service not known" in text
            or "nodename nor servname" in text
            or ("failed to resolve" in text)
            or "no route to host" in text
        )

    def _scrub(self, text: str) -> str:
        password = self.params.get("password")
        # Very short strings would mangle every message; real passwords are longer.
        if password and len(str(password)) >= 6:
            text = text.replace(str(password), "********")
        return text

    def _connection_error(self, exc: BaseException, stage: str, attempts: int) -> ExchangeConnectionError:
        server, endpoint = self.server, self.endpoint
        user = self.params.get("username") or "(no user)"
        transport = self.params.get("transport") or "ntlm"
        step = _STAGE_TEXT.get(stage, stage)
        details: dict[str, Any] = {
            "endpoint": endpoint,
            "stage": stage,
            "attempts": attempts,
            "error_type": type(exc).__name__,
        }
        quota = self._quota_code(exc)
        if isinstance(exc, AuthenticationError) or getattr(exc, "code", None) == 401:
            msg = (
                "the credentials for %s were rejected by %s (HTTP 401, transport %s): check the user name "
                "(DOMAIN\\user or user@domain) and password, and that the account may use WinRM there"
                % (user, server, transport)
            )
            if transport == "basic":
                msg += "; Basic authentication must also be enabled on the WinRM service (winrm/config/service/auth)"
        elif quota is not None:
            what = "shells" if quota == QUOTA_MAX_SHELLS else "concurrent operations"
            msg = (
                "%s refused the WS-Management %s request: the user %s has reached the maximum number of %s "
                "(fault 0x%X) and it did not clear after %d attempts; close other sessions or raise the quota "
                "(winrm/config/winrs)" % (server, step, user, what, quota, attempts)
            )
            details["fault_code"] = "0x%X" % quota
        elif isinstance(exc, WSManFaultError):
            reason = (exc.reason or "").strip()
            msg = "%s answered the WS-Management %s request with a fault: %s" % (server, step, reason)
            details.update(
                http_status=exc.code,
                fault_code=exc.fault_code,
                fault_subcode=exc.fault_subcode,
                wsman_fault_code=exc.wsman_fault_code,
                wmierror_code=exc.wmierror_code,
            )
        elif isinstance(exc, WinRMOperationTimeoutError):
            msg = "%s did not complete the WS-Management %s request within operation_timeout (%s s)" % (
                server,
                step,
                self.params.get("operation_timeout") or 20,
            )
        elif isinstance(exc, WinRMTransportError):
            msg = "%s answered the WS-Management %s request with HTTP %s" % (server, step, exc.code)
            if exc.code == 500 and (self.params.get("scheme") == "http"):
                msg += " (over http the service may refuse unencrypted messages: keep message_encryption auto)"
            details["http_status"] = exc.code
        elif requests_exceptions is not None and isinstance(exc, requests_exceptions.SSLError):
            reason = str(exc)
            short = "certificate verify failed" if "CERTIFICATE_VERIFY_FAILED" in reason else reason[:200]
            msg = (
                "TLS certificate verification failed for %s (%s): set ca_path to the PEM file of the CA that issued "
                "the server's certificate, or, for a test server only, validate_certs: false" % (endpoint, short)
            )
        elif requests_exceptions is not None and isinstance(exc, requests_exceptions.ConnectTimeout):
            msg = "could not connect to %s within %s s: check server, port and firewall" % (
                endpoint,
                self.params.get("read_timeout") or 30,
            )
        elif requests_exceptions is not None and isinstance(exc, requests_exceptions.ReadTimeout):
            msg = "%s did not answer the WS-Management %s request within read_timeout (%s s); raise read_timeout" % (
                server,
                step,
                self.params.get("read_timeout") or 30,
            )
        elif requests_exceptions is not None and isinstance(exc, requests_exceptions.ConnectionError):
            if self._refused(exc):
                msg = (
                    "could not connect to %s: the connection was refused or the host is unknown; check server, "
                    "port (%s) and scheme, and that a WinRM listener runs there (winrm enumerate "
                    "winrm/config/listener)" % (endpoint, endpoint.rsplit(":", 1)[-1].split("/")[0])
                )
            else:
                msg = "the connection to %s was reset or closed during the WS-Management %s request (%d attempts)" % (
                    endpoint,
                    step,
                    attempts,
                )
        elif isinstance(exc, WinRMError):
            msg = "WinRM error with %s during %s: %s" % (server, step, exc)
        else:
            msg = "unexpected error talking to %s during %s: %s: %s" % (server, step, type(exc).__name__, exc)
        return ExchangeConnectionError(self._scrub(msg), server, details)

    # -- the envelope

    def _outputs(self, stdout: bytes, stderr: bytes, rc: int, calls: list[dict]) -> list[list[dict]]:
        envelope = self._envelope(stdout)
        if envelope is None:
            error_text = _clean_stderr(stderr)
            if "command line is too long" in error_text.lower():
                hint = "the command line exceeded cmd.exe's limit"
            else:
                hint = error_text[:1000] or "no output"
            raise ExchangeCommandError(
                self._scrub("the runner on %s returned no result (exit code %s): %s" % (self.server, rc, hint)),
                self.server,
                {"exit_code": rc},
                kind="runner",
            )
        self.computer_name = envelope.get("computer_name") or self.computer_name
        self.ps_version = envelope.get("ps_version") or self.ps_version
        self.server_utc_now = parse_utc(envelope.get("utc_now")) or self.server_utc_now
        results = [entry.get("output") or [] for entry in envelope.get("results") or []]
        if envelope.get("ok"):
            return results
        error = envelope.get("error") or {}
        kind = error.get("kind") or "cmdlet"
        message = str(error.get("message") or "").strip()
        where = self.server
        if self.computer_name and self.computer_name.lower() not in self.server.lower():
            where = "%s (%s)" % (self.server, self.computer_name)
        if kind == "snapin":
            msg = (
                "the Exchange cmdlets are not available on %s: %s. Target an Exchange 2013 or later server (or a "
                "machine with the Exchange Management Tools)" % (where, message)
            )
        elif kind == "request":
            msg = "the runner on %s refused the request: %s" % (where, message)
        else:
            msg = "%s failed on %s: %s" % (error.get("cmdlet"), where, message)
        raise ExchangeCommandError(
            self._scrub(msg),
            self.server,
            {
                "category": error.get("category"),
                "fully_qualified_error_id": error.get("fully_qualified_error_id"),
                "index": error.get("index"),
                "cmdlet": error.get("cmdlet"),
            },
            cmdlet=error.get("cmdlet"),
            index=error.get("index"),
            category=error.get("category"),
            error_id=error.get("fully_qualified_error_id"),
            kind=kind,
            results=results,
        )

    @staticmethod
    def _envelope(stdout: bytes) -> Optional[dict]:
        text = (stdout or b"").decode("utf-8", errors="replace").strip()
        candidates = [text] + [line.strip() for line in reversed(text.splitlines())]
        for candidate in candidates:
            if not candidate.startswith("{"):
                continue
            try:
                parsed = json.loads(candidate)
            except ValueError:
                continue
            if isinstance(parsed, dict) and "runner" in parsed:
                return parsed
        return None


def _clean_stderr(stderr: bytes) -> str:
    text = (stderr or b"").decode("utf-8", errors="replace")
    if text.startswith("#< CLIXML"):
        parts = re.findall(r'<S S="Error">(.*?)</S>', text, re.DOTALL)
        text = "".join(parts).replace("_x000D__x000A_", "\n")
        text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")
    return text.strip()


# ---------------------------------------------------------------- module glue


def exchange_module(argument_spec: dict, **kwargs: Any) -> AnsibleModule:
    """An AnsibleModule with the connection options merged in, check mode on, pywinrm and options checked."""
    spec = dict(WINRM_ARGUMENT_SPEC)
    spec.update(argument_spec)
    kwargs.setdefault("supports_check_mode", True)
    module = AnsibleModule(argument_spec=spec, **kwargs)
    if not HAS_PYWINRM:
        module.fail_json(msg=missing_required_lib("pywinrm"), exception=PYWINRM_IMPORT_ERROR)
    problem = connection_problem(module.params)
    if problem:
        module.fail_json(msg=problem)
    return module


def now_for(client: ExchangeClient) -> dt.datetime:
    return client.server_utc_now or utc_now()


def client_for(module: AnsibleModule) -> ExchangeClient:
    return ExchangeClient({name: module.params.get(name) for name in CONNECTION_OPTIONS})


def fail_from_error(module: AnsibleModule, exc: ExchangeError, what: str, **result: Any) -> None:
    """fail_json with 'Failed to <what>: <cause>' and the error's non-secret details."""
    details = dict(exc.details)
    if isinstance(exc, ExchangeCommandError) and exc.kind:
        details.setdefault("kind", exc.kind)
    module.fail_json(
        msg="Failed to %s: %s" % (what, exc.msg),
        server=exc.server,
        error=details,
        exception="".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
        **result,
    )


def diff_result(module: AnsibleModule, result: dict, before: Any, after: Any) -> dict:
    if module._diff:
        result["diff"] = {"before": before, "after": after}
    return result


# ---------------------------------------------------------------- servers and versions

SERVER_PROPERTIES = ["Name", "Fqdn", "Domain", "Edition", "AdminDisplayVersion", "ServerRole", "Site", "IsEdgeServer"]
EXSETUP_CMDLET = "Get-RunnerExSetupVersion"


def run_reads(client: ExchangeClient, calls: list[dict]) -> tuple[list[list[dict]], Optional[str]]:
    """Run read ``calls`` plus the runner's ExSetup probe in one batch: (outputs of ``calls``, ExSetup version)."""
    probe = call(EXSETUP_CMDLET, ["ComputerName", "FileVersion"])
    try:
        outputs = client.run(list(calls) + [probe])
    except ExchangeCommandError as exc:
        # A peer that does not know the probe refuses the request before running anything: read without it.
        if exc.kind == "request" and (exc.cmdlet == EXSETUP_CMDLET or EXSETUP_CMDLET in exc.msg):
            return client.run(list(calls)), None
        raise
    rows = outputs[-1] if outputs else []
    exsetup = rows[0].get("FileVersion") if rows else None
    return outputs[:-1], (str(exsetup) if exsetup else None)


def find_connected(rows: list[dict], client: ExchangeClient) -> Optional[dict]:
    """The Get-ExchangeServer row of the server the runner ran on."""
    names = [n.lower() for n in (client.computer_name, client.server) if n]
    for row in rows:
        if str(row.get("Name") or "").lower() in names or str(row.get("Fqdn") or "").lower() in names:
            return row
    short = client.server.split(".")[0].lower()
    for row in rows:
        if str(row.get("Name") or "").lower() == short:
            return row
    return rows[0] if len(rows) == 1 else None


def best_version(admin_display_version: Any, exsetup: Optional[str]) -> Optional[tuple[int, int, int, int]]:
    """ExSetup's version (shows hotfix updates) when it belongs to the same product line, else AdminDisplayVersion."""
    adv = version_tuple(admin_display_version)
    setup = version_tuple(exsetup) if exsetup else None
    if setup is not None and (adv is None or tuple(setup[:2]) == tuple(adv[:2])):
        return setup
    return adv


def parameter_support(
    cmdlet: str, parameter: str, admin_display_version: Any, exsetup: Optional[str] = None
) -> Optional[bool]:
    """True/False when known; None when only AdminDisplayVersion is known and a hotfix update could add it."""
    if exsetup:
        return supports_parameter(cmdlet, parameter, best_version(admin_display_version, exsetup))
    adv = version_tuple(admin_display_version)
    if adv is None:
        return None
    if supports_parameter(cmdlet, parameter, adv):
        return True
    spec = catalog.CATALOG[cmdlet]["parameters"][parameter]
    for minimum in spec.get("min_build", []):
        if tuple(minimum[:3]) == tuple(adv[:3]) and catalog.product_of(adv) in spec.get("applies_to", []):
            return None  # AdminDisplayVersion shows the CU only; the hotfix update may be installed
    return False


def server_facts(row: dict, exsetup: Optional[str] = None, connected: bool = False) -> dict:
    version = version_tuple(row.get("AdminDisplayVersion"))
    effective = best_version(row.get("AdminDisplayVersion"), exsetup if connected else None)
    roles = row.get("ServerRole")
    if isinstance(roles, str):
        roles = [r.strip() for r in roles.split(",") if r.strip()]
    site = row.get("Site")
    hybrid = parameter_support(
        "Set-AuthServer", "ApplicationIdentifier", row.get("AdminDisplayVersion"), exsetup if connected else None
    )
    return {
        "name": row.get("Name"),
        "fqdn": row.get("Fqdn"),
        "domain": row.get("Domain"),
        "edition": row.get("Edition"),
        "admin_display_version": ("Version %d.%d (Build %d.%d)" % version if version else None),
        "version": format_version(version),
        "build": dict(zip(("major", "minor", "build", "revision"), version)) if version else None,
        "exsetup_version": format_version(version_tuple(exsetup)) if (connected and exsetup) else None,
        "effective_version": format_version(effective),
        "product": product_name(version) if version else None,
        "roles": roles or [],
        "site": site,
        "site_name": str(site).rsplit("/", 1)[-1] if site else None,
        "is_edge": bool(row.get("IsEdgeServer")),
        "connected": connected,
        "meets_push_minimum": meets_push_minimum(version),
        "supports_hybrid_application": bool(hybrid) and not row.get("IsEdgeServer"),
        "supports_hybrid_application_known": hybrid is not None,
        "supports_auth_server_domain_name": bool(
            parameter_support(
                "New-AuthServer", "DomainName", row.get("AdminDisplayVersion"), exsetup if connected else None
            )
        ),
    }
