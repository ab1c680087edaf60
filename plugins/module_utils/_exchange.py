# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PowerShell remoting client of the Exchange modules (pypsrp over WS-Management).

Exchange cmdlets go as commands with typed parameters to the server's Exchange endpoint (``/PowerShell/``,
configuration ``Microsoft.Exchange``), as the Exchange Management Shell does; the few host operations (services, the
ExSetup file version, a file) go to the server's default WinRM endpoint (``/wsman``, ``Microsoft.PowerShell``). No
script text ever reaches the Exchange endpoint. One runspace pool per endpoint per module run, always closed.

PRIVATE to the collection: it can change at any time. Modules use ``call()``, ``host_script()`` and
``ExchangeClient.run()`` (set up by ``_exchange_module``) and catch ``ExchangeError`` (``_errors``) only.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import time
import traceback
from typing import Any, Callable, Optional, Sequence
from urllib.parse import urlsplit

from ansible_collections.exchange.hybrid.plugins.module_utils import _cmdlet_catalog as catalog
from ansible_collections.exchange.hybrid.plugins.module_utils._errors import (
    ExchangeCommandError,
    ExchangeConnectionError,
    ExchangeError,
    ExchangeInputError,
)
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange_connection import resolve_connection, wsman_arguments
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange_versions import validate_calls
from ansible_collections.exchange.hybrid.plugins.module_utils._host_scripts import HOST_CMDLETS, HOST_SCRIPTS
from ansible_collections.exchange.hybrid.plugins.module_utils._retry import Backoff, Retry, retry
from ansible_collections.exchange.hybrid.plugins.module_utils._values import SecureText, format_utc, parse_utc

try:
    from pypsrp.complex_objects import GenericComplexObject, ObjectMeta
    from pypsrp.exceptions import AuthenticationError, WinRMError, WinRMTransportError, WSManFaultError
    from pypsrp.powershell import PowerShell, RunspacePool
    from pypsrp.wsman import WSMan

    HAS_PYPSRP = True
    PYPSRP_IMPORT_ERROR: Optional[str] = None
except ImportError:  # pragma: no cover - exercised by ansible-test sanity import
    HAS_PYPSRP = False
    PYPSRP_IMPORT_ERROR = traceback.format_exc()
    WSMan = RunspacePool = PowerShell = None  # type: ignore[assignment,misc]

    class _Missing(Exception):
        pass

    AuthenticationError = WinRMError = WinRMTransportError = WSManFaultError = _Missing  # type: ignore[misc]
    GenericComplexObject = ObjectMeta = _Missing  # type: ignore[misc]

try:
    import requests.exceptions as requests_exceptions
except ImportError:  # pragma: no cover
    requests_exceptions = None  # type: ignore[assignment]


EXCHANGE_CONFIGURATION = "Microsoft.Exchange"
DEFAULT_CONFIGURATION = "Microsoft.PowerShell"
ENDPOINT_EXCHANGE = "exchange"
ENDPOINT_HOST = "host"

# WS-Management faults (wsmerror.h): too many shells / operations for this user; operation timed out; shell gone.
QUOTA_MAX_SHELLS = 0x803381A5
QUOTA_MAX_OPERATIONS = 0x803381A6
QUOTA_FAULTS = (QUOTA_MAX_SHELLS, QUOTA_MAX_OPERATIONS)
RESOURCE_NOT_FOUND = 0x80338000
SHELL_NOT_FOUND = 0x8033805B  # ERROR_WSMAN_INVALID_SELECTORS: "the shell was not found on the server"
# Exchange's throttling answer to one remote session too many (PowerShellMaxConcurrency of the throttling policy).
THROTTLED_TEXT = "exceeded the maximum number of connections allowed"
# Statements per batched pipeline (read_statements): pypsrp fragments a large Command across Send messages, so this
# only bounds one pipeline's output held in memory and the work lost if it fails.
STATEMENTS_PER_PIPELINE = 100
MAX_ATTEMPTS = 5
CLOSE_ATTEMPTS = 3
BACKOFF_BASE = 1.0
BACKOFF_MAX = 15.0
# 1 s doubling to at most 15 s, times a 0.5-1.0 jitter (spreads clients that hit a quota together).
BACKOFF = Backoff(first=BACKOFF_BASE, cap=BACKOFF_MAX, jitter_ratio=0.5)

_PARAMETER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
# How a DateTime arrives through remoting (pypsrp keeps the <DT> text): 2026-11-27T12:00:00.1234567+01:00.
_DATETIME_TEXT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?$")
# System.Management.Automation.ErrorCategory, by value.
ERROR_CATEGORIES = (
    "NotSpecified OpenError CloseError DeviceError DeadlockDetected InvalidArgument InvalidData InvalidOperation "
    "InvalidResult InvalidType MetadataError NotImplemented NotInstalled ObjectNotFound OperationStopped "
    "OperationTimeout SyntaxError ParserError PermissionDenied ResourceBusy ResourceExists ResourceUnavailable "
    "ReadError WriteError FromStdErr SecurityError ProtocolError ConnectionError AuthenticationError LimitsExceeded "
    "QuotaExceeded NotEnabled"
).split()
# The management roles that grant what the modules run (Get-ManagementRole -Cmdlet <name>); Organization Management
# holds them all.
ROLE_HINT = (
    "add the account to the Organization Management role group (or a role group with the management roles that "
    "grant it; Get-ManagementRole -Cmdlet %s lists them) and make sure RemotePowerShellEnabled is true for it"
)


def call(cmdlet: str, properties: Optional[Sequence[str]] = None, **parameters: Any) -> dict:
    """One command: an Exchange cmdlet (Exchange endpoint) or a Windows PowerShell cmdlet of ``HOST_CMDLETS``.

    Values travel as typed PSRP parameter values: str, int, float, bool (a switch is ``True``), None or a list of
    str; a DateTime as an ISO 8601 string, which PowerShell's parameter binding converts; ``bytes`` as a byte[]
    (FileData); a ``SecureText`` as a SecureString. ``properties`` are the
    properties returned for each output object; None drops the output.
    """
    if not catalog.is_exchange_cmdlet(cmdlet) and cmdlet not in HOST_CMDLETS:
        raise ExchangeInputError("%s is neither an Exchange cmdlet of the catalog nor a host cmdlet" % cmdlet)
    return _entry(cmdlet, properties, parameters)


def host_script(name: str, properties: Optional[Sequence[str]] = None, **parameters: Any) -> dict:
    """One of the fixed host scripts (``_host_scripts.HOST_SCRIPTS``), for the default endpoint only."""
    if name not in HOST_SCRIPTS:
        raise ExchangeInputError("unknown host script %r" % name)
    entry = _entry(name, properties, parameters)
    entry["script"] = True
    return entry


def _entry(name: str, properties: Optional[Sequence[str]], parameters: dict) -> dict:
    for key, value in parameters.items():
        if not _PARAMETER_NAME.match(key) or key.lower() in [p.lower() for p in catalog.COMMON_PARAMETERS]:
            raise ExchangeInputError("invalid parameter name %r for %s" % (key, name))
        if isinstance(value, list):
            if not all(isinstance(item, str) for item in value):
                raise ExchangeInputError("parameter %s of %s: a list must hold strings only" % (key, name))
        elif value is not None and not isinstance(value, (str, int, float, bool, bytes)):
            raise ExchangeInputError(
                "parameter %s of %s: unsupported value type %s" % (key, name, type(value).__name__)
            )
    entry: dict[str, Any] = {"cmdlet": name, "parameters": dict(parameters)}
    if properties is not None:
        entry["properties"] = list(properties)
    return entry


def endpoint_for(entry: dict) -> str:
    """Which endpoint runs a call: Exchange cmdlets the Exchange endpoint, everything else the default one."""
    if entry.get("script") or not catalog.is_exchange_cmdlet(entry["cmdlet"]):
        return ENDPOINT_HOST
    return ENDPOINT_EXCHANGE


def is_read(entry: dict) -> bool:
    """A call that changes nothing, so it may be sent again after a transient fault."""
    name = str(entry["cmdlet"])
    if entry.get("script"):
        return name == "host_facts" or bool(entry["parameters"].get("CheckOnly"))
    return name.split("-", 1)[0] in ("Get", "Test")


# ---------------------------------------------------------------- values from remoting


def plain(value: Any) -> Any:
    """One place that maps what pypsrp deserializes to the modules' value forms.

    null; str; number; bool; DateTime -> ``yyyy-MM-ddTHH:mm:ssZ`` (UTC); ``byte[]`` -> base64; enum -> its name;
    ServerVersion (Major/Minor/Build/Revision) -> a dict of ints; MultiValuedProperty and arrays -> list; other
    objects -> their ``ToString()``.
    """
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return _utc_text(value) if _DATETIME_TEXT.match(value) else value
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dt.datetime):
        return format_utc(value)
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if HAS_PYPSRP and isinstance(value, GenericComplexObject):
        if "System.Enum" in (value.types or []):
            return value.to_string
        properties = object_properties(value)
        if {"Major", "Minor", "Build", "Revision"} <= set(properties):
            return {part: int(properties[part] or 0) for part in ("Major", "Minor", "Build", "Revision")}
        lists = [item for item in value.property_sets if isinstance(item, list)]
        if lists and not properties:
            return [plain(item) for item in lists[0]]
        if value.to_string is not None:
            return value.to_string
        return {name: plain(item) for name, item in properties.items()}
    return str(value)


def _utc_text(text: str) -> str:
    parsed = parse_utc(re.sub(r"(\.\d{6})\d+", r"\1", text))
    return format_utc(parsed) if parsed else text


def object_properties(value: Any) -> dict:
    """Adapted then extended properties of a deserialized object (Exchange's objects carry adapted ones)."""
    if HAS_PYPSRP and isinstance(value, GenericComplexObject):
        found = dict(value.extended_properties)
        found.update(value.adapted_properties)
        return found
    return {}


def record_target(record: Any) -> Optional[str]:
    """The object an ErrorRecord names (TargetObject, else CategoryInfo's TargetName), as text."""
    target = getattr(record, "target_object", None) or getattr(record, "target_name", None)
    if target is None:
        return None
    return str(getattr(target, "to_string", None) or target)


def error_record_text(record: Any) -> tuple[str, Optional[str], Optional[str]]:
    """(message, category name, FullyQualifiedErrorId) of a pypsrp ErrorRecord."""
    message = None
    exception = getattr(record, "exception", None)
    if exception is not None:
        message = object_properties(exception).get("Message") or getattr(exception, "to_string", None)
    message = message or getattr(record, "details_message", None) or getattr(record, "message", None)
    message = message or str(record)
    category = getattr(record, "category", None)
    if isinstance(category, int) and 0 <= category < len(ERROR_CATEGORIES):
        category_name: Optional[str] = ERROR_CATEGORIES[category]
    else:
        category_name = getattr(record, "reason", None)
    return str(message).strip(), category_name, getattr(record, "fq_error", None)


# ---------------------------------------------------------------- the client


class _Pool:
    def __init__(self, endpoint: str, uri: str, wsman: Any, pool: Any) -> None:
        self.endpoint = endpoint
        self.uri = uri
        self.wsman = wsman
        self.pool = pool


class ExchangeClient:
    """Runs calls over PSRP: one runspace pool per endpoint, opened on first use and kept until ``close()``."""

    def __init__(
        self,
        params: dict,
        wsman_factory: Optional[Callable[..., Any]] = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.params = dict(params)
        self.connection = resolve_connection(params)
        self.server = self.connection.server
        self.computer_name: Optional[str] = None
        self.server_version: Optional[tuple[int, int, int, int]] = None
        # The server's clock (host facts' UtcNow) once read: expiry is judged by the server's time.
        self.server_utc_now: Optional[dt.datetime] = None
        self.warnings: list[str] = []
        self.pools_opened: dict[str, int] = {ENDPOINT_EXCHANGE: 0, ENDPOINT_HOST: 0}
        self._pools: dict[str, _Pool] = {}
        self._factory = wsman_factory or WSMan
        self._sleep = sleep

    def __enter__(self) -> "ExchangeClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public

    def run(self, calls: list[dict]) -> list[list[dict]]:
        """Run ``calls`` in order, each its own pipeline; stop at the first that fails (ExchangeCommandError)."""
        if self.server_version is not None:
            validate_calls(calls, self.server_version, self.server)
        results: list[list[dict]] = []
        for index, entry in enumerate(calls):
            rows, errors = self._invoke(entry)
            if errors:
                raise self._command_error(entry, index, errors, results)
            results.append(rows)
        return results

    def read_statements(
        self,
        calls: list[dict],
        row_owner: Callable[[dict], Optional[int]],
        error_owner: Callable[[str], Optional[int]],
    ) -> list[tuple[list[dict], Optional[ExchangeCommandError]]]:
        """Run read ``calls`` of one cmdlet and one property list as the statements of one pipeline.

        One pipeline costs one Command and its Receives, whatever the number of statements. Its output is one
        stream, so which statement a row or an error belongs to is the caller's knowledge: ``row_owner(row)`` and
        ``error_owner(text)`` (the error's message and target) return the index of the call it answers, or None.
        Returns, per call, ``(rows, None)`` or ``([], its error)`` - what ``run()`` would give each call alone.

        A call that nothing could be attributed to - its rows could not be told apart, a terminating error ended the
        pipeline before it, or the endpoint refused the batch - is run again alone (one pipeline per call), so an
        endpoint that takes one statement only still answers everything. A call refused alone (RBAC, language)
        raises as in ``run()``.

        Whether Exchange's NoLanguage endpoint (Microsoft.Exchange, a restricted RemoteServer session) runs more
        than one statement is an assumption, not tested against a real server: statements are PowerShell.AddStatement()
        commands (pypsrp ``add_statement``, sent as ``ExtraCmds``), which go through no parser - the PowerShell team
        says NoLanguage allows AddCommand/AddParameter because they "don't go through the parser"
        (MicrosoftDocs/PowerShell-Docs#2940) - and nothing found documents a restricted or JEA runspace refusing
        them. Hence the fallback.
        """
        if not calls:
            return []
        first = calls[0]
        if any(
            not is_read(entry)
            or endpoint_for(entry) != ENDPOINT_EXCHANGE
            or entry["cmdlet"] != first["cmdlet"]
            or entry.get("properties") != first.get("properties")
            for entry in calls
        ):
            raise ExchangeInputError("read_statements takes reads of one Exchange cmdlet with one property list")
        if self.server_version is not None:
            validate_calls(calls, self.server_version, self.server)
        rows_of: list[list[dict]] = [[] for _call in calls]
        error_of: list[Optional[ExchangeCommandError]] = [None] * len(calls)
        for start in range(0, len(calls), STATEMENTS_PER_PIPELINE):
            chunk = range(start, min(start + STATEMENTS_PER_PIPELINE, len(calls)))
            rows, records = self._invoke_statements([calls[index] for index in chunk])
            for row in rows:
                owner = row_owner(row)
                if owner in chunk:
                    rows_of[owner].append(row)
            for record in records:
                error = self._command_error(first, start, [record], [])
                if error.kind != "cmdlet":
                    continue  # a refusal of the batch as a whole: the calls run alone below
                owner = error_owner("%s %s" % (error_record_text(record)[0], record_target(record) or ""))
                if owner in chunk and error_of[owner] is None:
                    error.index = owner
                    error_of[owner] = error
        for index, entry in enumerate(calls):
            if rows_of[index] or error_of[index] is not None:
                continue
            rows, records = self._invoke(entry)
            if records:
                error = self._command_error(entry, index, records, [])
                if error.kind != "cmdlet":
                    raise error
                error_of[index] = error
            else:
                rows_of[index] = rows
        # A call that wrote an error failed, as in run(), even if it wrote rows too.
        return [([], error) if error is not None else (rows, None) for rows, error in zip(rows_of, error_of)]

    def close(self) -> None:
        """Close every runspace pool (a pool left open counts against the user's quota and throttling budget)."""
        for endpoint in list(self._pools):
            self._close(self._pools.pop(endpoint))

    def _retry(self, attempts: int) -> Retry:
        return Retry(BACKOFF, attempts=attempts, sleep=self._sleep)

    # -- pools

    def _uri(self, endpoint: str) -> str:
        return self.connection.exchange_uri if endpoint == ENDPOINT_EXCHANGE else self.connection.host_uri

    def _pool(self, endpoint: str) -> _Pool:
        if endpoint in self._pools:
            return self._pools[endpoint]
        uri = self._uri(endpoint)
        configuration = EXCHANGE_CONFIGURATION if endpoint == ENDPOINT_EXCHANGE else DEFAULT_CONFIGURATION

        def open_pool() -> _Pool:
            wsman = self._factory(**wsman_arguments(self.connection, uri))
            pool = RunspacePool(wsman, configuration_name=configuration)
            try:
                pool.open()
            except BaseException:
                self._close(_Pool(endpoint, uri, wsman, pool))
                raise
            return _Pool(endpoint, uri, wsman, pool)

        try:
            opened = retry(open_pool, self._is_transient, self._retry(MAX_ATTEMPTS))
        except Exception as exc:  # pylint: disable=broad-except
            raise self._connection_error(exc, endpoint, "open", getattr(exc, "attempts", 1)) from None
        self.pools_opened[endpoint] += 1
        self._pools[endpoint] = opened
        return opened

    def _close(self, opened: _Pool) -> None:
        shell = getattr(opened.pool, "shell", None)
        if shell is None or not getattr(shell, "opened", False):
            return

        def delete() -> None:
            try:
                opened.pool.close()
            except Exception:
                # The connection may be gone with its authentication context: a new connection deletes it.
                opened.wsman = self._factory(**wsman_arguments(self.connection, opened.uri))
                shell.wsman = opened.wsman
                raise

        try:
            retry(delete, self._is_transient_close, self._retry(CLOSE_ATTEMPTS))
        except Exception as exc:  # pylint: disable=broad-except
            self.warnings.append(
                "could not close the runspace pool on %s (%s): %s"
                % (self.server, opened.uri, self._scrub(str(exc))[:300])
            )

    # -- one call

    def _invoke(self, entry: dict) -> tuple[list[dict], list[Any]]:
        return self._invoke_statements([entry])

    def _invoke_statements(self, entries: list[dict]) -> tuple[list[dict], list[Any]]:
        """One pipeline: each entry one statement (one entry: one command, no ``ExtraCmds``). Rows are shaped by
        the first entry's properties; the error records of all statements come back together."""
        first = entries[0]
        endpoint = endpoint_for(first)

        def attempt() -> tuple[list[dict], list[Any]]:
            opened = self._pool(endpoint)
            shell = PowerShell(opened.pool)
            for entry in entries:
                if shell.commands:
                    shell.add_statement()
                if entry.get("script"):
                    shell.add_script(HOST_SCRIPTS[entry["cmdlet"]])
                else:
                    shell.add_cmdlet(entry["cmdlet"])
                for name, value in entry["parameters"].items():
                    shell.add_parameter(name, self._secure(opened, value) if isinstance(value, SecureText) else value)
            try:
                output = shell.invoke()
            except Exception:
                # The pool's connection state is unknown now: never reuse it.
                self._close(self._pools.pop(endpoint, opened))
                raise
            return self._rows(first, output), (
                list(shell.streams.error) if shell.had_errors or shell.streams.error else []
            )

        try:
            if all(is_read(entry) for entry in entries):
                return retry(attempt, self._is_transient, self._retry(MAX_ATTEMPTS))
            return attempt()
        except ExchangeError:
            raise
        except Exception as exc:  # pylint: disable=broad-except
            raise self._connection_error(exc, endpoint, first["cmdlet"], getattr(exc, "attempts", 1)) from None

    @staticmethod
    def _secure(opened: "_Pool", value: SecureText) -> Any:
        """A SecureString element: the pool's session key is exchanged first (once per pool)."""
        opened.pool.exchange_keys()
        return opened.pool.serialize(str(value), ObjectMeta("SS"))

    @staticmethod
    def _rows(entry: dict, output: list) -> list[dict]:
        wanted = entry.get("properties")
        if wanted is None:
            return []
        rows = []
        for item in output:
            properties = object_properties(item)
            rows.append({name: plain(properties.get(name)) for name in wanted})
        return rows

    def _command_error(self, entry: dict, index: int, errors: list, results: list) -> ExchangeCommandError:
        message, category, error_id = error_record_text(errors[0])
        name = entry["cmdlet"]
        label = "host script %s" % name if entry.get("script") else name
        where = self.server
        kind = "cmdlet"
        if error_id and error_id.split(",", 1)[0] == "CommandNotFoundException":
            kind = "rbac"
            if endpoint_for(entry) == ENDPOINT_EXCHANGE:
                msg = (
                    "%s is not available to %s on %s's Exchange endpoint: %s. Exchange shows only the cmdlets the "
                    "account's management roles grant; %s"
                    % (name, self.connection.username or "the Kerberos user", where, message, ROLE_HINT % name)
                )
            else:
                msg = "%s is not available on %s's default endpoint: %s" % (name, where, message)
        elif error_id and error_id.split(",", 1)[0] == "ScriptsNotAllowed":
            kind = "language"
            msg = "%s's Exchange endpoint refused %s: %s (the endpoint runs commands only, never script text)" % (
                where,
                label,
                message,
            )
        else:
            msg = "%s failed on %s: %s" % (label, where, message)
        return ExchangeCommandError(
            self._scrub(msg),
            self.server,
            {"category": category, "fully_qualified_error_id": error_id, "index": index, "cmdlet": name},
            cmdlet=name,
            index=index,
            category=category,
            error_id=error_id,
            kind=kind,
            results=results,
        )

    # -- faults

    @staticmethod
    def _fault_code(exc: BaseException) -> Optional[int]:
        code = getattr(exc, "code", None)
        if isinstance(code, int) and code > 0xFFFF:
            return code
        # Windows sends the quota faults with an MSFT_WmiError detail, which pypsrp does not parse (its code is then
        # the SOAP subcode): the HTTP error it was raised from still holds the fault's XML.
        context = exc.__context__ if isinstance(exc, WSManFaultError) else None
        found = re.search(r"<(?:\w+:)?error_Code\b[^>]*>(\d+)<", str(getattr(context, "response_text", "") or ""))
        return int(found.group(1)) if found else None

    @staticmethod
    def _text(exc: BaseException) -> str:
        """The error and its causes as one text (gssapi's Kerberos reason is usually in a cause)."""
        texts, seen = [], set()
        current: Optional[BaseException] = exc
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            texts.append("%s %s" % (str(current), getattr(current, "reason", "") or ""))
            current = current.__cause__ or current.__context__
        return " | ".join(texts)

    def _is_transient(self, exc: BaseException) -> bool:
        if isinstance(exc, ExchangeError):
            return False  # already the verdict of an inner retry (a pool open), never retried again
        if self._fault_code(exc) in QUOTA_FAULTS:
            return True
        if THROTTLED_TEXT in self._text(exc):
            return True
        if isinstance(exc, WSManFaultError):
            return False
        if isinstance(exc, WinRMTransportError):
            return getattr(exc, "code", None) in (502, 503, 504)
        if requests_exceptions is not None:
            if isinstance(exc, (requests_exceptions.SSLError, requests_exceptions.Timeout)):
                return False
            if isinstance(exc, requests_exceptions.ConnectionError):
                return not self._refused(exc)
        return False

    def _is_transient_close(self, exc: BaseException) -> bool:
        # Every retry goes over a fresh WSMan (see _close): after a reset the old one re-sends a body sealed with
        # stale Kerberos keys (HTTP 400), and a fault on the Delete may clear. Only "shell not found" is final.
        return not (isinstance(exc, WSManFaultError) and exc.code == SHELL_NOT_FOUND)

    @staticmethod
    def _refused(exc: BaseException) -> bool:
        text = str(exc).lower()
        return any(
            marker in text
            for marker in (
                "refused",
                "name or service not known",
                "nodename nor servname",
                "failed to resolve",
                "no route to host",
            )
        )

    def _scrub(self, text: str) -> str:
        password = self.connection.password
        # Very short strings would mangle every message; real passwords are longer.
        if password and len(str(password)) >= 6:
            text = text.replace(str(password), "********")
        return text

    def _connection_error(
        self, exc: BaseException, endpoint: str, stage: str, attempts: int
    ) -> ExchangeConnectionError:
        uri = self._uri(endpoint)
        server = self.server
        user = self.connection.username or "(the Kerberos ticket cache's user)"
        auth = self.connection.auth
        which = "Exchange endpoint" if endpoint == ENDPOINT_EXCHANGE else "default WinRM endpoint"
        step = "opening the runspace pool" if stage == "open" else "running %s" % stage
        text = self._text(exc)
        lowered = text.lower()
        details: dict[str, Any] = {
            "endpoint": uri,
            "stage": stage,
            "attempts": attempts,
            "error_type": type(exc).__name__,
        }
        code = self._fault_code(exc)
        if "clock skew" in lowered:
            msg = (
                "Kerberos refused the connection to %s: the clocks of the controller, the KDC and %s differ by more "
                "than the allowed skew (Clock skew too great); synchronise the controller's time with the domain"
                % (uri, server)
            )
        elif "client '" in lowered and "not found in kerberos database" in lowered and "server '" not in lowered:
            # "Client 'user@REALM' not found in Kerberos database": the user, not the SPN, is unknown to the KDC.
            msg = (
                "the KDC does not know the user %s (Client not found in Kerberos database): check username "
                "(user@REALM, the account's user principal name)" % user
            )
        elif "not found in kerberos database" in lowered or "server not found" in lowered:
            msg = (
                "Kerberos has no service principal %s (Server not found in Kerberos database): connect with the "
                "server's FQDN, not an IP address or a load-balanced name, or set negotiate_hostname_override to the "
                "name the SPN is registered for" % self.connection.spn(uri)
            )
        elif "preauthentication failed" in lowered or "password incorrect" in lowered:
            msg = "the KDC rejected the password of %s (Kerberos preauthentication failed): check the password" % user
        elif "cannot find kdc" in lowered or ("realm" in lowered and ("unknown" in lowered or "not local" in lowered)):
            msg = (
                "Kerberos cannot find a KDC for the realm of %s: add the realm under [realms] and its DNS domain "
                "under [domain_realm] in krb5.conf (KRB5_CONFIG), and use user@REALM as username" % user
            )
        elif auth == "kerberos" and (
            "no kerberos credentials" in lowered
            or "credentials cache" in lowered
            or ("no credentials" in lowered and not self.connection.password)
        ):
            msg = (
                "no Kerberos ticket to connect to %s: run kinit user@REALM on the controller (KRB5CCNAME), or give "
                "username and password so the module gets one" % uri
            )
        elif "incompatible with the specified auth_provider" in lowered:
            offered = re.search(r"auth protocol '([^']+)'", text)
            msg = (
                "%s (%s) does not accept auth %s; it offers %s. Exchange's /PowerShell/ endpoint takes Kerberos: set "
                "auth: kerberos and username user@REALM"
                % (which, uri, auth, offered.group(1) if offered else "another")
            )
        elif isinstance(exc, AuthenticationError) or getattr(exc, "code", None) == 401:
            msg = (
                "the credentials of %s were rejected by %s (HTTP 401, auth %s): check the user name (user@domain for "
                "Kerberos) and password, and that the account may use remote PowerShell there" % (user, uri, auth)
            )
            if auth == "basic":
                msg += "; Basic authentication must also be enabled on the endpoint"
        elif THROTTLED_TEXT in text:
            limit = re.search(r"allowed\s*:\s*(\d+)", text)
            msg = (
                "%s refused a new remote PowerShell session for %s after %d attempts: the account %s (%s). Close "
                "other Exchange sessions of this account or raise PowerShellMaxConcurrency in its throttling policy "
                "(Get-ThrottlingPolicy | Format-List PowerShellMaxConcurrency)"
                % (server, user, attempts, THROTTLED_TEXT, "limit %s" % limit.group(1) if limit else "the limit")
            )
            details["throttled"] = True
        elif code in QUOTA_FAULTS:
            what = "shells" if code == QUOTA_MAX_SHELLS else "concurrent operations"
            msg = (
                "%s refused %s: the user %s has reached the maximum number of %s (fault 0x%X) and it did not clear "
                "after %d attempts; close other sessions or raise the quota (winrm/config/winrs)"
                % (server, step, user, what, code, attempts)
            )
            details["fault_code"] = "0x%X" % code
        elif (isinstance(exc, WinRMTransportError) and getattr(exc, "code", None) == 404) or (
            "was not found in the ws-management catalog" in lowered
        ):
            msg = (
                "%s has no PowerShell endpoint at %s (%s): use the server's FQDN and the Exchange endpoint "
                "http://<fqdn>/PowerShell/ (connection_uri), which lives in IIS, not on the WinRM ports"
                % (server, uri, "HTTP 404" if getattr(exc, "code", None) == 404 else "resource URI not found")
            )
        elif isinstance(exc, WSManFaultError):
            msg = "%s answered with a WS-Management fault while %s: %s" % (server, step, str(exc.reason or "").strip())
            details.update(wsman_fault_code=exc.code)
        elif isinstance(exc, WinRMTransportError):
            msg = "%s answered HTTP %s while %s on its %s (%s)" % (server, exc.code, step, which, uri)
            details["http_status"] = exc.code
        elif requests_exceptions is not None and isinstance(exc, requests_exceptions.SSLError):
            short = "certificate verify failed" if "CERTIFICATE_VERIFY_FAILED" in text else text[:200]
            msg = (
                "TLS certificate verification failed for %s (%s): set ca_path to the PEM file of the CA that issued "
                "the server's certificate, or, for a test server only, validate_certs: false" % (uri, short)
            )
        elif requests_exceptions is not None and isinstance(exc, requests_exceptions.ConnectTimeout):
            msg = "could not connect to %s within connection_timeout (%s s): check server, port and firewall" % (
                uri,
                self.connection.connection_timeout,
            )
        elif requests_exceptions is not None and isinstance(exc, requests_exceptions.ReadTimeout):
            msg = "%s did not answer within read_timeout (%s s) while %s; raise read_timeout" % (
                uri,
                self.connection.read_timeout,
                step,
            )
        elif requests_exceptions is not None and isinstance(exc, requests_exceptions.ConnectionError):
            if self._refused(exc):
                msg = (
                    "could not connect to %s: the connection was refused or the host is unknown; check the server "
                    "name and that port %s is open (80 or 443 for the Exchange endpoint, 5985/5986 for WinRM)"
                    % (uri, urlsplit(uri).port or (443 if uri.startswith("https") else 80))
                )
            else:
                msg = "the connection to %s was reset or closed while %s (%d attempts)" % (uri, step, attempts)
        elif isinstance(exc, WinRMError):
            msg = "PowerShell remoting error with %s while %s: %s" % (uri, step, exc)
        else:
            msg = "unexpected error talking to %s while %s: %s: %s" % (uri, step, type(exc).__name__, exc)
        return ExchangeConnectionError(self._scrub(msg), server, details)
