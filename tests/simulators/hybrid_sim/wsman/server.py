"""A WS-Management server speaking PowerShell remoting (PSRP) that real pypsrp talks to unmodified.

One ``WSManServer`` plays one endpoint of a Windows host: the WinRM service's ``/wsman`` (Microsoft.PowerShell) or
IIS-hosted Exchange's ``/PowerShell`` (Microsoft.Exchange). It has an HTTPS listener (test CA certificate) and an HTTP
listener; Kerberos (MIT keytab from KRB5_KTNAME), NTLM/Negotiate (pyspnego) with message encryption, and Basic, as
the endpoint allows; the shell operations Create, Command, Send, Receive, Signal, Delete and Get, with the PSRP
payload decoded and encoded by psrpcore's server side (see ``psrp.py``); Windows-shaped faults, a pool table tests
can inspect, per-user quotas, latency, and fault injection settable at runtime.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import os
import re
import socket
import ssl
import struct
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional

import psrpcore
import spnego

from . import soap
from .pipeline import DEFAULT_CONFIGURATION, EXCHANGE_CONFIGURATION, PipelineHandler, PipelineRequest
from .psrp import Pipeline, RunspacePool, commands_from

ACTIONS = ("Create", "Command", "Send", "Receive", "Signal", "Delete", "Get")
FAULT_KINDS = (
    "latency",  # sleep `seconds`, then answer normally
    "http401",  # 401 (credentials rejected)
    "http500",  # 500 with a WS-Man fault (w:InternalError)
    "shell_quota",  # 500, MSFT_WmiError 0x803381A5
    "operation_quota",  # 500, MSFT_WmiError 0x803381A6
    "timed_out",  # 500, w:TimedOut 2150858793
    "throttled",  # 500, Exchange's MaxConcurrency refusal
    "reset",  # close the connection without an answer (the request is not processed)
    "slow",  # sleep `seconds` (longer than the client's read timeout), then close without processing
)
AUTH_METHODS = ("kerberos", "negotiate", "ntlm", "basic")
_BOUNDARY = b"--Encrypted Boundary\r\n"
_BOUNDARY_END = b"--Encrypted Boundary--\r\n"
_OCTET = b"\tContent-Type: application/octet-stream\r\n"
# Room for the SOAP envelope around a Receive's stream data (headers, ReceiveResponse, CommandState).
_RECEIVE_OVERHEAD = 2048


# --- NTLM credential store -------------------------------------------------------------------------------------
# pyspnego's acceptor reads the NTLM_USER_FILE environment variable for every new context, so one file serves the
# whole process; every server registers its users in it.
_NTLM_LOCK = threading.Lock()
_NTLM_LINES: dict[tuple[str, str], str] = {}
_NTLM_FILE: str | None = None


def _split_user(username: str) -> tuple[str, str]:
    if "\\" in username:
        domain, user = username.split("\\", 1)
        return domain, user
    return "", username


def register_ntlm_users(users: dict[str, str]) -> str:
    """Add ``DOMAIN\\user -> password`` to the process-wide NTLM_USER_FILE and return its path."""
    global _NTLM_FILE  # pylint: disable=global-statement
    with _NTLM_LOCK:
        for username, password in users.items():
            domain, user = _split_user(username)
            # Clients may send the user with its domain or bare; both spellings must be found.
            _NTLM_LINES[(domain.lower(), user.lower())] = "%s:%s:%s" % (domain, user, password)
            _NTLM_LINES.setdefault(("", user.lower()), ":%s:%s" % (user, password))
        if _NTLM_FILE is None:
            fd, _NTLM_FILE = tempfile.mkstemp(prefix="hybrid-sim-ntlm-", suffix=".txt")
            os.close(fd)
        tmp = _NTLM_FILE + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write("\n".join(_NTLM_LINES.values()) + "\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, _NTLM_FILE)
        os.environ["NTLM_USER_FILE"] = _NTLM_FILE
        return _NTLM_FILE


# --- Kerberos acceptor helpers -----------------------------------------------------------------------------------
def _gss_context(ctx: Any) -> Any:
    """The python-gssapi SecurityContext inside a pyspnego Kerberos or Negotiate acceptor, if there is one."""
    inner = ctx
    for _depth in range(3):
        try:
            inner = getattr(inner, "_context", None)
        except Exception:  # pylint: disable=broad-except
            return None  # Negotiate without a chosen mech
        if inner is None:
            return None
        if type(inner).__module__.startswith("gssapi"):
            return inner
    return None


def _kerberos_error_token(ctx: Any) -> bytes | None:
    # python-gssapi defers an acceptor's error and returns its KRB-ERROR token from step(); pyspnego then fails on
    # the next attribute and the token is lost, except in the gssapi context's _last_err. The client needs it to
    # report the real cause ("Clock skew too great") instead of a bare 401.
    gss = _gss_context(ctx)
    error = getattr(gss, "__dict__", {}).get("_last_err") if gss is not None else None
    return getattr(error, "token", None) or None


def _acceptor_service(ctx: Any) -> str | None:
    """The service part of the principal the client's ticket was for (HTTP, host, WSMAN), or None."""
    gss = _gss_context(ctx)
    if gss is None:
        return None
    try:
        name = str(gss.target_name or "")
    except Exception:  # pylint: disable=broad-except
        return None
    return name.split("/", 1)[0] if "/" in name else None


# --- tables --------------------------------------------------------------------------------------------------------
@dataclass
class _Fault:
    action: str
    kind: str
    count: int
    seconds: float


class _Reply(Exception):
    """Raised inside request processing to answer with an HTTP status and a SOAP body."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


class _Drop(Exception):
    """Close the connection without an answer."""


class WSManServer:
    """One simulated WS-Management endpoint of a Windows host, serving PSRP runspace pools.

    ``handler`` runs every pipeline (``pipeline.PipelineHandler``). ``users`` maps ``DOMAIN\\user`` (or a bare user)
    to its password; a Kerberos principal ``user@REALM`` maps to the same entries. ``pki`` (``hybrid_sim.pki.TestPKI``)
    enables the HTTPS listener; ``http=True`` the plain HTTP listener. ``allow_unencrypted`` is the service's
    AllowUnencrypted setting (Basic over http and unencrypted NTLM/Kerberos over http are refused when false).
    ``configurations`` are the session configurations served (resource URI
    ``http://schemas.microsoft.com/powershell/<name>``); ``path`` the URL path (``/wsman``, or ``/PowerShell`` for
    Exchange); ``auth_methods`` a subset of ``AUTH_METHODS`` ("negotiate" is Negotiate with NTLM or Kerberos inside,
    "ntlm" allows NTLM only, "kerberos" the raw ``Kerberos`` scheme IIS uses, "basic" Basic on https or with
    allow_unencrypted); ``kerberos_service`` restricts Kerberos to tickets for that service (e.g. "HTTP"), None accepts
    any key of the keytab. ``max_shells_per_user`` is WinRM's MaxShellsPerUser (pools), ``max_concurrency_per_user``
    Exchange's PowerShellMaxConcurrency (Microsoft.Exchange pools only; None = off). ``latency_rtt`` is slept once
    per HTTP request, ``latency_pool_open`` once per runspace pool open (Exchange: loading the cmdlets);
    ``latency_process`` is the old name of the latter. ``output_chunk_size`` caps the PSRP bytes per Receive below
    what the client's MaxEnvelopeSize allows (None: only the envelope limits).
    """

    def __init__(
        self,
        name: str,
        handler: PipelineHandler,
        users: dict[str, str],
        pki: Any = None,
        http: bool = True,
        allow_unencrypted: bool = False,
        max_shells_per_user: int = 30,
        max_operations_per_user: int = 1500,
        output_chunk_size: int | None = None,
        latency_rtt: float = 0.0,
        latency_pool_open: float = 0.0,
        https_port: int = 0,
        http_port: int = 0,
        legacy_quota_faults: bool = False,
        max_envelope_size_kb: int = 500,
        *,
        configurations: tuple[str, ...] = (DEFAULT_CONFIGURATION,),
        path: str = "/wsman",
        auth_methods: tuple[str, ...] = ("negotiate", "kerberos", "basic"),
        kerberos_service: str | None = None,
        max_concurrency_per_user: int | None = 18,
        latency_process: float | None = None,
    ) -> None:
        unknown = [m for m in auth_methods if m not in AUTH_METHODS]
        if unknown or not auth_methods:
            raise ValueError("auth_methods must be a non-empty subset of %s, not %r" % (AUTH_METHODS, auth_methods))
        self.name = name
        self.handler = handler
        self.users = dict(users)
        self.pki = pki
        self.allow_unencrypted = allow_unencrypted
        self.max_shells_per_user = max_shells_per_user
        self.max_operations_per_user = max_operations_per_user
        self.max_concurrency_per_user = max_concurrency_per_user
        self.output_chunk_size = output_chunk_size
        self.latency_rtt = latency_rtt
        self.latency_pool_open = latency_process if latency_process is not None else latency_pool_open
        self.configurations = tuple(configurations)
        self.path = "/" + path.strip("/")
        self.auth_methods = tuple(auth_methods)
        self.kerberos_service = kerberos_service
        # Older hosts report quota errors as f:WSManFault/@Code instead of an MSFT_WmiError detail.
        self.legacy_quota_faults = legacy_quota_faults
        # MaxEnvelopeSizekb caps request size (MS-WSMV 2.2.4.10) and is what update_max_payload_size() reads.
        self.max_envelope_size_kb = max_envelope_size_kb
        self._stopping = threading.Event()
        # One entry per SOAP request (action, user, status, scheme, encrypted, auth, configuration, time, ...).
        self.requests: list[dict[str, Any]] = []
        self._want_https = pki is not None
        self._want_http = http
        self._ports = (https_port, http_port)
        self._lock = threading.RLock()
        self._pools: dict[str, RunspacePool] = {}  # by ShellId, upper case
        self._faults: list[_Fault] = []
        self._listeners: list[_Listener] = []
        self._threads: list[threading.Thread] = []
        self._connections: set[socket.socket] = set()
        self.https_port: int | None = None
        self.http_port: int | None = None

    @property
    def latency_process(self) -> float:
        """The old name of ``latency_pool_open`` (the WinRS shell slept it per process start)."""
        return self.latency_pool_open

    @latency_process.setter
    def latency_process(self, value: float) -> None:
        self.latency_pool_open = value

    # -- lifecycle ----------------------------------------------------------------------------------------------
    def start(self) -> "WSManServer":
        register_ntlm_users(self.users)
        if self._want_https:
            context = self.pki.server_context()
            listener = _Listener(("127.0.0.1", self._ports[0]), self, context)
            self.https_port = listener.server_address[1]
            self._listeners.append(listener)
        if self._want_http:
            listener = _Listener(("127.0.0.1", self._ports[1]), self, None)
            self.http_port = listener.server_address[1]
            self._listeners.append(listener)
        for listener in self._listeners:
            thread = threading.Thread(target=listener.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
            thread.name = "wsman-%s-%s" % (self.name, listener.server_address[1])
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stopping.set()
        # shutdown() waits for the listener's next poll: stop all listeners at once rather than one after another.
        stoppers = [threading.Thread(target=listener.shutdown, daemon=True) for listener in self._listeners]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join(timeout=5)
        for listener in self._listeners:
            listener.server_close()
        with self._lock:
            connections = list(self._connections)
            pools = list(self._pools.values())
        for pool in pools:
            pool.close()  # wakes long-polling Receives
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self._threads:
            thread.join(timeout=5)
        self._listeners.clear()
        self._threads.clear()

    def __enter__(self) -> "WSManServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def https_url(self) -> str | None:
        return "https://127.0.0.1:%d%s" % (self.https_port, self.path) if self.https_port else None

    @property
    def http_url(self) -> str | None:
        return "http://127.0.0.1:%d%s" % (self.http_port, self.path) if self.http_port else None

    # -- test hooks ---------------------------------------------------------------------------------------------
    def open_shells(self) -> list[dict[str, Any]]:
        """The open runspace pools (a PSRP pool is a WinRM shell), oldest first."""
        with self._lock:
            return [
                {
                    "id": pool.shell_id,
                    "shell_id": pool.shell_id,
                    "owner": pool.owner,
                    "configuration": pool.configuration,
                    "resource_uri": pool.resource_uri,
                    "created": pool.created,
                    "auth": pool.auth,
                    "pipelines": [pipe.command_id for pipe in pool.pipelines.values()],
                }
                for pool in self._pools.values()
            ]

    def close_all_shells(self) -> int:
        with self._lock:
            pools = list(self._pools.values())
            self._pools.clear()
        for pool in pools:
            pool.close()
        return len(pools)

    def inject(self, action: str, kind: str, count: int = 1, seconds: float | None = None) -> None:
        """Make the next ``count`` requests of ``action`` (one of ``ACTIONS`` or ``*``) fail with ``kind`` (see
        ``FAULT_KINDS``); ``seconds`` for latency (default 1) and slow (default 60)."""
        if action != "*" and action not in ACTIONS:
            raise ValueError("unknown action %r (use one of %s or '*')" % (action, ", ".join(ACTIONS)))
        if kind not in FAULT_KINDS:
            raise ValueError("unknown fault kind %r (use one of %s)" % (kind, ", ".join(FAULT_KINDS)))
        if seconds is None:
            seconds = 60.0 if kind == "slow" else 1.0
        with self._lock:
            self._faults.append(_Fault(action, kind, count, seconds))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending_faults(self) -> list[dict[str, Any]]:
        with self._lock:
            return [vars(f).copy() for f in self._faults]

    def _take_fault(self, action: str) -> _Fault | None:
        with self._lock:
            for entry in self._faults:
                if entry.action in ("*", action) and entry.count > 0:
                    entry.count -= 1
                    if entry.count == 0:
                        self._faults.remove(entry)
                    return entry
        return None

    # -- authentication -----------------------------------------------------------------------------------------
    def check_basic(self, token: str) -> str | None:
        try:
            username, _sep, password = base64.b64decode(token).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return self._match_user(username, password)

    def _match_user(self, username: str, password: str | None) -> str | None:
        domain, user = _split_user(username)
        if "@" in user and not domain:
            # user@REALM (Kerberos, UPN): the realm's first label stands for the NetBIOS domain where one matches.
            user, realm = user.split("@", 1)
            matches = [self._match_user("%s\\%s" % (realm.split(".")[0], user), password)]
            matches.append(self._match_user(user, password))
            return next((m for m in matches if m), None)
        for known, known_password in self.users.items():
            known_domain, known_user = _split_user(known)
            if known_user.lower() != user.lower():
                continue
            if domain and known_domain and domain.lower() != known_domain.lower():
                continue
            if password is None or password == known_password:
                return known
        return None

    def canonical_user(self, principal: str) -> str:
        """``DOMAIN\\user`` as listed in ``users`` for ``DOMAIN\\user``, ``user`` or ``user@REALM``."""
        return self._match_user(principal, None) or principal

    def kerberos_allowed(self, ctx: Any) -> bool:
        """Whether an accepted Kerberos context was for this endpoint's service."""
        if self.kerberos_service is None:
            return True
        service = _acceptor_service(ctx)
        return service is not None and service.lower() == self.kerberos_service.lower()

    # -- SOAP dispatch ------------------------------------------------------------------------------------------
    def process(
        self,
        data: bytes,
        username: str,
        client_ip: str,
        scheme: str = "https",
        encrypted: bool = False,
        auth: str = "",
    ) -> tuple[int, bytes]:
        """Run one SOAP request; returns (HTTP status, reply envelope). Raises _Drop for injected resets."""
        relates: str | None = None
        action = "?"
        configuration = ""
        max_envelope: int | None = None
        started = time.time()
        try:
            request = soap.parse_request(data)
            relates = request.message_id
            action = request.short_action
            max_envelope = request.max_envelope_size
            configuration = self._configuration_of(request)
            if len(data) > self.max_envelope_size_kb * 1024:
                # Text as Windows reports it; the numeric WSManFault code was not verified, so none is sent.
                raise _Reply(
                    500,
                    soap.fault(
                        relates,
                        "s:Sender",
                        "w:EncodingLimit",
                        "Request size exceeded the configured MaxEnvelopeSize quota. ",
                        self.name,
                        fault_detail="http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/MaxEnvelopeSize",
                    ),
                )
            injected = self._take_fault(action)
            if injected is not None:
                self._apply_fault(injected, request)
            operation: Callable[..., bytes] | None = (
                getattr(self, "_op_" + action.lower(), None) if action in ACTIONS else None
            )
            if operation is None:
                raise _Reply(
                    500,
                    soap.fault(
                        relates,
                        "s:Sender",
                        "a:ActionNotSupported",
                        "The WS-Management service cannot process the request because the action %s is not "
                        "supported. " % request.action,
                        self.name,
                        fault_detail="http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/ActionMismatch",
                    ),
                )
            status, body = 200, operation(request, username, client_ip, auth)
        except soap.SoapError as error:
            status, body = 400, soap.fault(relates, "s:Sender", "w:SchemaValidationError", str(error), self.name)
        except _Reply as reply:
            status, body = reply.status, reply.body
        except _Drop:
            raise
        except Exception as error:  # pylint: disable=broad-except
            # A simulator bug: answer a fault that names it rather than dropping the connection.
            status, body = 500, soap.fault(
                relates,
                "s:Receiver",
                "w:InternalError",
                "simulator error: %r " % (error,),
                self.name,
                wsman_code=0x80004005,
            )
        with self._lock:
            self.requests.append(
                {
                    "action": action,
                    "user": username,
                    "status": status,
                    "scheme": scheme,
                    "encrypted": encrypted,
                    "auth": auth,
                    "configuration": configuration,
                    "time": started,
                    "elapsed": time.time() - started,
                    "reply_bytes": len(body),
                    "max_envelope_size": max_envelope,
                }
            )
        return status, body

    def _configuration_of(self, request: soap.Request) -> str:
        uri = request.resource_uri
        if uri.lower().startswith(soap.RESOURCE_POWERSHELL):
            return uri[len(soap.RESOURCE_POWERSHELL) :]
        with self._lock:
            pool = self._pools.get((request.shell_id or "").upper())
        return pool.configuration if pool is not None else ""

    def _apply_fault(self, injected: _Fault, request: soap.Request) -> None:
        relates = request.message_id
        kind = injected.kind
        if kind == "latency":
            self._stopping.wait(injected.seconds)
            return
        if kind == "reset":
            raise _Drop()
        if kind == "slow":
            self._stopping.wait(injected.seconds)
            raise _Drop()
        if kind == "http401":
            raise _Reply(401, b"")
        if kind == "http500":
            raise _Reply(
                500,
                soap.fault(
                    relates,
                    "s:Receiver",
                    "w:InternalError",
                    "The WS-Management service cannot process the request because of an internal error "
                    "(injected by the simulator). ",
                    self.name,
                    wsman_code=0x80004005,
                ),
            )
        if kind == "timed_out":
            raise self._timed_out(relates)
        if kind == "shell_quota":
            raise self._quota(relates, soap.CODE_QUOTA_SHELLS, self.max_shells_per_user)
        if kind == "operation_quota":
            raise self._quota(relates, soap.CODE_QUOTA_OPERATIONS, self.max_operations_per_user)
        if kind == "throttled":
            raise self._throttled(relates)

    def _timed_out(self, relates: str) -> _Reply:
        return _Reply(
            500,
            soap.fault(
                relates, "s:Receiver", "w:TimedOut", soap.TEXT_TIMED_OUT, self.name, wsman_code=soap.CODE_TIMED_OUT
            ),
        )

    def _quota(self, relates: str, code: int, limit: int) -> _Reply:
        text = soap.TEXT_QUOTA_SHELLS if code == soap.CODE_QUOTA_SHELLS else soap.TEXT_QUOTA_OPERATIONS
        reason = text.format(limit=limit)
        if self.legacy_quota_faults:
            return _Reply(500, soap.fault(relates, "s:Receiver", "w:InternalError", reason, self.name, wsman_code=code))
        return _Reply(500, soap.fault(relates, "s:Receiver", "w:InternalError", reason, self.name, wmi_code=code))

    def _throttled(self, relates: str) -> _Reply:
        # Exchange's text, verbatim; the fault code is modelled (E_FAIL), not verified against a real Exchange.
        limit = self.max_concurrency_per_user if self.max_concurrency_per_user is not None else 18
        return _Reply(
            500,
            soap.fault(
                relates,
                "s:Receiver",
                "w:InternalError",
                soap.TEXT_MAX_CONCURRENCY.format(limit=limit),
                self.name,
                wsman_code=soap.CODE_MAX_CONCURRENCY,
            ),
        )

    def _resource_not_found(self, request: soap.Request) -> _Reply:
        return _Reply(
            500,
            soap.fault(
                request.message_id,
                "s:Sender",
                "w:DestinationUnreachable",
                soap.TEXT_RESOURCE_NOT_FOUND.format(uri=request.resource_uri),
                self.name,
                wsman_code=soap.CODE_RESOURCE_NOT_FOUND,
                fault_detail="http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/InvalidResourceURI",
            ),
        )

    def _pool(self, request: soap.Request) -> RunspacePool:
        with self._lock:
            pool = self._pools.get((request.shell_id or "").upper())
        if pool is None or pool.closed:
            raise self._shell_not_found(request)
        return pool

    def _shell_not_found(self, request: soap.Request) -> _Reply:
        return _Reply(
            500,
            soap.fault(
                request.message_id,
                "s:Sender",
                "w:InvalidSelectors",
                soap.TEXT_SHELL_NOT_FOUND.format(shell_id=request.shell_id or ""),
                self.name,
                wsman_code=soap.CODE_INVALID_SELECTORS,
                fault_detail="http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/InvalidValue",
            ),
        )

    def _bad_command(self, request: soap.Request, pool: RunspacePool, command_id: str | None) -> _Reply:
        return _Reply(
            500,
            soap.fault(
                request.message_id,
                "s:Sender",
                "w:InvalidParameter",
                "The WS-Management service cannot process the request because the CommandId %s is not valid "
                "for the shell %s. " % (command_id, pool.shell_id),
                self.name,
                wsman_code=soap.CODE_INVALID_PARAMETER,
            ),
        )

    def _internal(self, request: soap.Request, text: str) -> _Reply:
        return _Reply(
            500,
            soap.fault(request.message_id, "s:Receiver", "w:InternalError", text, self.name, wsman_code=0x80004005),
        )

    def _start_pipeline(self, pool: RunspacePool, pipe: Pipeline, powershell: Any) -> None:
        def build() -> PipelineRequest:
            return PipelineRequest(
                server_name=self.name,
                configuration=pool.configuration,
                username=pool.owner,
                commands=commands_from(powershell),
                runspace_pool_id=pool.shell_id,
            )

        thread = threading.Thread(target=pool.run, args=(pipe, self.handler, build), daemon=True)
        thread.name = "wsman-%s-pipeline-%s" % (self.name, pipe.command_id[:8])
        thread.start()

    @staticmethod
    def _b64(text: str | None) -> bytes:
        try:
            return base64.b64decode((text or "").strip(), validate=False)
        except binascii.Error as error:
            raise soap.SoapError("The stream data is not valid base64.") from error

    # -- operations -------------------------------------------------------------------------------------------------
    def _op_create(self, request: soap.Request, username: str, client_ip: str, auth: str) -> bytes:
        uri = request.resource_uri
        configuration = None
        if uri.lower().startswith(soap.RESOURCE_POWERSHELL):
            wanted = uri[len(soap.RESOURCE_POWERSHELL) :].lower()
            configuration = next((c for c in self.configurations if c.lower() == wanted), None)
        if configuration is None:
            raise self._resource_not_found(request)
        shell_element = request.body
        if not soap.is_tag(shell_element, soap.NS_RSP, "Shell"):
            raise soap.SoapError("Create needs an rsp:Shell body.")
        creation = shell_element.find("{%s}creationXml" % soap.NS_PWSH)  # type: ignore[union-attr]
        if creation is None or not (creation.text or "").strip():
            raise soap.SoapError("Create of a PowerShell shell needs a creationXml element.")
        creation_data = self._b64(creation.text)
        # pypsrp sends the RunspacePool id as ShellId; Windows keeps a client's ShellId as sent.
        shell_id = shell_element.get("ShellId") or str(uuid.uuid4()).upper()  # type: ignore[union-attr]
        with self._lock:
            owned = [p for p in self._pools.values() if p.owner == username]
            if self.max_concurrency_per_user is not None and configuration == EXCHANGE_CONFIGURATION:
                if sum(1 for p in owned if p.configuration == configuration) >= self.max_concurrency_per_user:
                    raise self._throttled(request.message_id)
            if len(owned) >= self.max_shells_per_user:
                raise self._quota(request.message_id, soap.CODE_QUOTA_SHELLS, self.max_shells_per_user)
            if shell_id.upper() in self._pools:
                raise self._internal(
                    request, "The WS-Management service cannot create the shell %s: it exists. " % shell_id
                )
            pool = RunspacePool(
                shell_id=shell_id,
                owner=username,
                configuration=configuration,
                resource_uri=soap.RESOURCE_POWERSHELL + configuration,
                created=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                client_ip=client_ip,
                auth=auth,
            )
            # Counted from here on, so that concurrent Creates cannot overrun the quotas while this one opens.
            self._pools[shell_id.upper()] = pool
        try:
            pool.feed(creation_data, None, lambda pipe, ps: self._start_pipeline(pool, pipe, ps))
        except Exception as error:  # pylint: disable=broad-except
            with self._lock:
                self._pools.pop(shell_id.upper(), None)
            raise self._internal(request, "The runspace pool could not be opened: %s " % (error,)) from error
        if self.latency_pool_open:
            self._stopping.wait(self.latency_pool_open)
        address = request.to or self.https_url or self.http_url or ""
        body = (
            "<x:ResourceCreated><a:Address>%s</a:Address><a:ReferenceParameters><w:ResourceURI>%s</w:ResourceURI>"
            '<w:SelectorSet><w:Selector Name="ShellId">%s</w:Selector></w:SelectorSet></a:ReferenceParameters>'
            "</x:ResourceCreated>%s"
        ) % (soap.escape(address), soap.escape(pool.resource_uri), soap.escape(shell_id), self._shell_xml(pool))
        return soap.envelope(soap.ACTION_CREATE + "Response", request.message_id, body)

    def _shell_xml(self, pool: RunspacePool) -> str:
        return (
            "<rsp:Shell><rsp:ShellId>%s</rsp:ShellId><rsp:ResourceUri>%s</rsp:ResourceUri><rsp:Owner>%s</rsp:Owner>"
            "<rsp:ClientIP>%s</rsp:ClientIP><rsp:IdleTimeOut>PT7200.000S</rsp:IdleTimeOut>"
            "<rsp:InputStreams>stdin pr</rsp:InputStreams><rsp:OutputStreams>stdout</rsp:OutputStreams>"
            "<rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime><rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity>"
            "<rsp:State>Connected</rsp:State></rsp:Shell>"
        ) % tuple(soap.escape(v) for v in (pool.shell_id, pool.resource_uri, pool.owner, pool.client_ip))

    def _op_command(self, request: soap.Request, username: str, client_ip: str, auth: str) -> bytes:
        pool = self._pool(request)
        line = request.body
        if not soap.is_tag(line, soap.NS_RSP, "CommandLine"):
            raise soap.SoapError("Command needs an rsp:CommandLine body.")
        data = b"".join(self._b64(arg.text) for arg in soap.children(line, soap.NS_RSP, "Arguments"))
        if len(data) < 61:
            raise soap.SoapError("Command needs the first CreatePipeline fragment in rsp:Arguments.")
        # The PSRP pipeline id: the message's PID (after the 21-byte fragment header, destination, type and RPID).
        pipeline_id = uuid.UUID(bytes_le=data[45:61])
        command_id = line.get("CommandId") or str(pipeline_id).upper()  # type: ignore[union-attr]
        with self._lock:
            active = sum(len(p.pipelines) for p in self._pools.values() if p.owner == pool.owner)
            if active >= self.max_operations_per_user:
                raise self._quota(request.message_id, soap.CODE_QUOTA_OPERATIONS, self.max_operations_per_user)
        with pool.lock:
            previous = pool.pipelines.get(command_id.upper())
            if previous is not None:
                pool.forget(previous)  # pypsrp reuses the CommandId when a PowerShell is invoked again
            pipe = pool.add_pipeline(command_id, pipeline_id)
            try:
                pool.feed(data, pipeline_id, lambda p, ps: self._start_pipeline(pool, p, ps))
            except Exception as error:  # pylint: disable=broad-except
                pool.forget(pipe)
                raise self._internal(request, "The pipeline could not be created: %s " % (error,)) from error
        body = "<rsp:CommandResponse><rsp:CommandId>%s</rsp:CommandId></rsp:CommandResponse>" % soap.escape(command_id)
        return soap.envelope(soap.ACTION_COMMAND + "Response", request.message_id, body)

    def _op_send(self, request: soap.Request, username: str, client_ip: str, auth: str) -> bytes:
        pool = self._pool(request)
        if not soap.is_tag(request.body, soap.NS_RSP, "Send"):
            raise soap.SoapError("Send needs an rsp:Send body.")
        for stream in soap.children(request.body, soap.NS_RSP, "Stream"):
            command_id = stream.get("CommandId")
            data = self._b64(stream.text)
            pipeline_id = None
            if command_id:
                pipe = pool.pipelines.get(command_id.upper())
                if pipe is None:
                    raise self._bad_command(request, pool, command_id)
                pipeline_id = pipe.pipeline_id
            if not data:
                continue
            stream_type = psrpcore.StreamType.prompt_response if stream.get("Name") == "pr" else None
            try:
                pool.feed(
                    data,
                    pipeline_id,
                    lambda p, ps: self._start_pipeline(pool, p, ps),
                    stream_type or psrpcore.StreamType.default,
                )
            except Exception as error:  # pylint: disable=broad-except
                raise self._internal(request, "The PSRP data could not be processed: %s " % (error,)) from error
        return soap.envelope(soap.ACTION_SEND + "Response", request.message_id, "<rsp:SendResponse/>")

    def _receive_budget(self, request: soap.Request) -> int:
        # The reply must fit the client's MaxEnvelopeSize; the stream data is base64 inside it.
        envelope = request.max_envelope_size or self.max_envelope_size_kb * 1024
        budget = (envelope - _RECEIVE_OVERHEAD) * 3 // 4
        if self.output_chunk_size:
            budget = min(budget, self.output_chunk_size)
        return max(budget, 64)

    def _op_receive(self, request: soap.Request, username: str, client_ip: str, auth: str) -> bytes:
        pool = self._pool(request)
        desired = soap.child(request.body, soap.NS_RSP, "DesiredStream")
        command_id = desired.get("CommandId") if desired is not None else None
        pipe = None
        if command_id:
            pipe = pool.pipelines.get(command_id.upper())
            if pipe is None:
                raise self._bad_command(request, pool, command_id)
        target = pipe.pipeline_id if pipe is not None else None
        budget = self._receive_budget(request)
        timeout = request.operation_timeout if request.operation_timeout is not None else 60.0
        deadline = time.monotonic() + timeout
        with pool.cond:
            while True:
                data = pool.take(target, budget)
                if data or (pipe is not None and (pipe.finished or pipe.forgotten)):
                    break
                if pool.closed:
                    raise self._shell_not_found(request)  # deleted while this Receive waited
                remaining = deadline - time.monotonic()
                # Windows holds the Receive until there is output or OperationTimeout passes; the TimedOut fault is
                # sent only when nothing is queued (pypsrp's open() does not swallow it, poll_invoke does).
                if remaining <= 0 or self._stopping.is_set():
                    raise self._timed_out(request.message_id)
                pool.cond.wait(min(remaining, 0.5))
            done = pipe is not None and (pipe.finished or pipe.forgotten) and not pool.has_output(target, budget)
        cid = ' CommandId="%s"' % soap.escape(command_id) if command_id else ""
        streams = ""
        if data:
            streams = '<rsp:Stream Name="stdout"%s>%s</rsp:Stream>' % (cid, base64.b64encode(data).decode("ascii"))
        state = ""
        if pipe is not None:
            state = '<rsp:CommandState%s State="%s"/>' % (cid, soap.STATE_DONE if done else soap.STATE_RUNNING)
        body = "<rsp:ReceiveResponse>%s%s</rsp:ReceiveResponse>" % (streams, state)
        return soap.envelope(soap.ACTION_RECEIVE + "Response", request.message_id, body)

    def _op_signal(self, request: soap.Request, username: str, client_ip: str, auth: str) -> bytes:
        pool = self._pool(request)
        signal = request.body
        command_id = signal.get("CommandId") if signal is not None else None
        code = soap.child(signal, soap.NS_RSP, "Code")
        code_text = (code.text or "").strip().lower() if code is not None else ""
        if not code_text.endswith(("/terminate", "/ctrl_c", "/ctrl_break")):
            raise soap.SoapError("Unknown signal code %r." % code_text)
        with pool.lock:
            pipe = pool.pipelines.get((command_id or "").upper())
            if pipe is not None:
                pool.forget(pipe)
            elif (command_id or "").upper() not in pool.forgotten:
                raise self._bad_command(request, pool, command_id)
            # else: pypsrp's stop() (ctrl_c) is followed by close() (terminate) for the same, forgotten pipeline
        return soap.envelope(soap.ACTION_SIGNAL + "Response", request.message_id, "<rsp:SignalResponse/>")

    def _op_delete(self, request: soap.Request, username: str, client_ip: str, auth: str) -> bytes:
        pool = self._pool(request)
        with self._lock:
            self._pools.pop(pool.shell_id.upper(), None)
        pool.close()
        return soap.envelope(soap.ACTION_DELETE + "Response", request.message_id, "")

    def _op_get(self, request: soap.Request, username: str, client_ip: str, auth: str) -> bytes:
        uri = request.resource_uri.rstrip("/").lower()
        if uri == soap.RESOURCE_CONFIG:
            # What pypsrp's update_max_payload_size() reads (cfg:Config/cfg:MaxEnvelopeSizekb).
            body = (
                '<cfg:Config xmlns:cfg="%s"><cfg:MaxEnvelopeSizekb>%d</cfg:MaxEnvelopeSizekb>'
                "<cfg:MaxTimeoutms>60000</cfg:MaxTimeoutms><cfg:MaxBatchItems>32000</cfg:MaxBatchItems>"
                "<cfg:MaxProviderRequests>4294967295</cfg:MaxProviderRequests></cfg:Config>"
            ) % (soap.NS_CFG, self.max_envelope_size_kb)
        elif uri == soap.RESOURCE_SHELL.lower():
            # pypsrp's RunspacePool.is_alive(): an unknown shell is the InvalidSelectors fault it treats as closed.
            body = self._shell_xml(self._pool(request))
        else:
            raise self._resource_not_found(request)
        return soap.envelope(soap.ACTION_GET + "Response", request.message_id, body)


# --- HTTP layer --------------------------------------------------------------------------------------------------
class _Listener(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], owner: WSManServer, ssl_context: ssl.SSLContext | None) -> None:
        self.owner = owner
        self.ssl_context = ssl_context
        super().__init__(address, _HTTPHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up (TLS refusal, resets, timeouts) are part of the tests, not server errors.
        pass


class _HTTPHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-HTTPAPI/2.0"
    sys_version = ""
    server: _Listener

    def setup(self) -> None:
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        owner = self.server.owner
        self._raw = self.request
        with owner._lock:  # pylint: disable=protected-access
            owner._connections.add(self._raw)  # pylint: disable=protected-access
        if self.server.ssl_context is not None:
            # Handshake here, in the connection's thread, not in accept() on the listener thread.
            try:
                self.request.settimeout(10)
                self.request = self.server.ssl_context.wrap_socket(self.request, server_side=True)
                self.request.settimeout(None)
            except (OSError, ssl.SSLError):
                self._forget()
                raise
        super().setup()
        # One security context per TCP connection (keep-alive): later requests carry no Authorization.
        self.auth_ctx: Any = None
        self.auth_user: str | None = None
        self.auth_kind = ""

    def _forget(self) -> None:
        owner = self.server.owner
        with owner._lock:  # pylint: disable=protected-access
            owner._connections.discard(self._raw)  # pylint: disable=protected-access

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self._forget()

    def log_message(self, format: str, *args: Any) -> None:  # pylint: disable=redefined-builtin
        pass

    @property
    def https(self) -> bool:
        return self.server.ssl_context is not None

    def _send(self, status: int, body: bytes = b"", headers: list[tuple[str, str]] | None = None) -> None:
        self.send_response(status)
        for key, value in headers or []:
            self.send_header(key, value)
        if body:
            if not any(k.lower() == "content-type" for k, _value in headers or []):
                self.send_header("Content-Type", "application/soap+xml;charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _challenge_headers(self) -> list[tuple[str, str]]:
        # Exactly the enabled methods: a client limited to another one (pypsrp auth="ntlm" against Exchange's
        # Kerberos-only endpoint) stops with "...incompatible with the specified auth_provider 'ntlm'".
        methods = self.server.owner.auth_methods
        headers = []
        if "negotiate" in methods or "ntlm" in methods:
            headers.append(("WWW-Authenticate", "Negotiate"))
        if "kerberos" in methods:
            headers.append(("WWW-Authenticate", "Kerberos"))
        if "basic" in methods and (self.https or self.server.owner.allow_unencrypted):
            headers.append(("WWW-Authenticate", 'Basic realm="WSMAN"'))
        return headers

    def _challenge(self) -> None:
        self.auth_ctx = None
        self.auth_user = None
        self._send(401, b"", self._challenge_headers())

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            self.request.close()
        except OSError:
            pass

    def _path_matches(self) -> bool:
        path = self.path
        if "://" in path:  # absolute form, as sent through a proxy
            rest = path.split("://", 1)[1]
            path = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
        path = path.split("?", 1)[0].split("#", 1)[0]
        return path.rstrip("/").lower() == self.server.owner.path.rstrip("/").lower()

    def do_GET(self) -> None:  # pylint: disable=invalid-name
        self._send(405, b"", [("Allow", "POST")])

    def _authenticate(self, authorization: str, extra: list[tuple[str, str]]) -> Optional[str]:
        """Check an Authorization header; returns the user, or None after answering 401."""
        owner = self.server.owner
        methods = owner.auth_methods
        scheme, _sep, token = authorization.strip().partition(" ")
        scheme_l = scheme.lower()
        if scheme_l == "basic":
            if "basic" not in methods or (not self.https and not owner.allow_unencrypted):
                self._challenge()
                return None
            username = owner.check_basic(token.strip())
            if username is None:
                self._challenge()
                return None
            self.auth_ctx, self.auth_user, self.auth_kind = None, None, "basic"
            return username
        if scheme_l == "kerberos":
            # IIS's Kerberos scheme: a raw AP-REQ, no SPNEGO.
            if "kerberos" not in methods:
                self._challenge()
                return None
            acceptor = "kerberos"
        elif scheme_l in ("negotiate", "ntlm"):
            if "negotiate" not in methods and "ntlm" not in methods:
                # Exchange's endpoint: Kerberos only, a Negotiate (NTLM) token gets 401.
                self._challenge()
                return None
            acceptor = "negotiate"  # raw NTLM, raw Kerberos or SPNEGO around either
        else:
            self._challenge()
            return None
        if self.auth_ctx is None or self.auth_ctx.complete:
            # The acceptor takes any key of the keytab (KRB5_KTNAME) whatever ``service`` says; kerberos_allowed()
            # checks the ticket's service afterwards.
            self.auth_ctx = spnego.server(
                service=owner.kerberos_service or "host",
                protocol=acceptor,
                options=spnego.NegotiateOptions.wrapping_winrm,
            )
            self.auth_user = None
        ctx = self.auth_ctx
        try:
            raw = base64.b64decode(token.strip())
            out = ctx.step(raw)
        except Exception:  # pylint: disable=broad-except
            # Wrong password, unknown user, clock skew or a garbled token: 401, with Kerberos' error token if any.
            error_token = _kerberos_error_token(ctx)
            self.auth_ctx, self.auth_user = None, None
            if error_token:
                self._send(401, b"", [("WWW-Authenticate", "%s %s" % (scheme, base64.b64encode(error_token).decode()))])
            else:
                self._send(401, b"", self._challenge_headers())
            return None
        if not ctx.complete:
            self._send(401, b"", [("WWW-Authenticate", "%s %s" % (scheme, base64.b64encode(out or b"").decode()))])
            return None
        protocol = "kerberos" if acceptor == "kerberos" else (ctx.negotiated_protocol or "ntlm")
        allowed = {
            "ntlm": "ntlm" in methods or "negotiate" in methods,
            "kerberos": "kerberos" in methods or "negotiate" in methods,
        }
        if not allowed.get(protocol, False) or (protocol == "kerberos" and not owner.kerberos_allowed(ctx)):
            self._challenge()
            return None
        self.auth_user = owner.canonical_user(ctx.client_principal or "")
        self.auth_kind = protocol
        if out:
            extra.append(("WWW-Authenticate", "%s %s" % (scheme, base64.b64encode(out).decode())))
        return self.auth_user

    def do_POST(self) -> None:  # pylint: disable=invalid-name
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if owner.latency_rtt:
            time.sleep(owner.latency_rtt)
        if not self._path_matches():
            self._send(404, b"")
            return

        extra: list[tuple[str, str]] = []
        authorization = self.headers.get("Authorization")
        if authorization:
            username = self._authenticate(authorization, extra)
            if username is None:
                return
        elif self.auth_user is not None:
            username = self.auth_user
        else:
            self._challenge()
            return
        basic = self.auth_kind == "basic" and self.auth_ctx is None

        content_type = self.headers.get("Content-Type", "")
        encrypted = content_type.lower().startswith(("multipart/encrypted", "multipart/x-multi-encrypted"))
        protocol = None
        if encrypted:
            if basic or self.auth_ctx is None:
                self._send(400, b"")
                return
            match = re.search(r'protocol="([^"]+)"', content_type)
            protocol = match.group(1) if match else "application/HTTP-SPNEGO-session-encrypted"
            try:
                body = _unwrap(self.auth_ctx, body)
            except Exception:  # pylint: disable=broad-except
                self._send(400, b"")
                return
        elif body and not basic and not self.https and not owner.allow_unencrypted:
            # AllowUnencrypted=false: Windows answers unencrypted NTLM/Kerberos on http with a bare 500.
            self._send(500, b"")
            return
        if not body:
            self._send(200, b"", extra)  # the priming POST before encryption starts
            return

        try:
            status, reply = owner.process(
                body,
                username or "",
                self.client_address[0],
                "https" if self.https else "http",
                encrypted,
                auth=self.auth_kind,
            )
        except _Drop:
            self._drop()
            return
        if status == 401:
            # Injected: the connection and its security context stay usable. Only Basic is offered so that the client
            # does not re-authenticate and replay a body sealed with the old keys.
            self._send(401, b"", [("WWW-Authenticate", 'Basic realm="WSMAN"')])
            return
        if encrypted and protocol:
            reply = _wrap(self.auth_ctx, reply, protocol)
            # pypsrp's regex needs the boundary quoted.
            extra.append(("Content-Type", 'multipart/encrypted;protocol="%s";boundary="Encrypted Boundary"' % protocol))
        self._send(status, reply, extra)


def _unwrap(ctx: Any, body: bytes) -> bytes:
    parts = [p for p in body.split(_BOUNDARY) if p]
    plain = b""
    for header, blob in zip(parts[0::2], parts[1::2]):
        match = re.search(rb"Length=(\d+)", header)
        expected = int(match.group(1)) if match else None
        if blob.startswith(_OCTET):
            blob = blob[len(_OCTET) :]
        if blob.endswith(_BOUNDARY_END):
            blob = blob[: -len(_BOUNDARY_END)]
        size = struct.unpack("<i", blob[:4])[0]
        data = ctx.unwrap_winrm(blob[4 : 4 + size], blob[4 + size :])
        if expected is not None and len(data) != expected:
            raise ValueError("encrypted length mismatch")
        plain += data
    return plain


def _wrap(ctx: Any, plain: bytes, protocol: str) -> bytes:
    result = ctx.wrap_winrm(plain)
    length = len(plain) + result.padding_length
    return (
        _BOUNDARY
        + b"\tContent-Type: "
        + protocol.encode()
        + b"\r\n\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length="
        + str(length).encode()
        + b"\r\n"
        + _BOUNDARY
        + _OCTET
        + struct.pack("<i", len(result.header))
        + result.header
        + result.data
        + _BOUNDARY_END
    )
