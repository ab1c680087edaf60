"""A WS-Management (WinRS) server that real pywinrm and pypsrp talk to unmodified.

One ``WSManServer`` plays one Windows host: an HTTPS listener (test CA certificate) and an HTTP listener, Basic and
NTLM/Negotiate (pyspnego acceptor, message encryption), the shell operations Create, Command, Send, Receive, Signal
and Delete, Windows-shaped faults, a shell table tests can inspect, and fault injection settable at runtime.
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
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import spnego

from . import soap
from .command import CommandRequest, CommandResult, Handler, clixml_error

CMD_LINE_LIMIT = 8191
TEXT_LINE_TOO_LONG = b"The command line is too long.\r\n"
ACTIONS = ("Create", "Command", "Send", "Receive", "Signal", "Delete")
FAULT_KINDS = (
    "latency",  # sleep `seconds`, then answer normally
    "http401",  # 401 (credentials rejected)
    "http500",  # 500 with a WS-Man fault (w:InternalError)
    "shell_quota",  # 500, MSFT_WmiError 0x803381A5
    "operation_quota",  # 500, MSFT_WmiError 0x803381A6
    "timed_out",  # 500, w:TimedOut 2150858793
    "reset",  # close the connection without an answer (the request is not processed)
    "slow",  # sleep `seconds` (longer than the client's read timeout), then close without processing
)
_BOUNDARY = b"--Encrypted Boundary\r\n"
_BOUNDARY_END = b"--Encrypted Boundary--\r\n"
_OCTET = b"\tContent-Type: application/octet-stream\r\n"


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


# --- shell table -----------------------------------------------------------------------------------------------
@dataclass
class _Command:
    command_id: str
    command_line: str
    skip_cmd_shell: bool
    stdin: bytearray = field(default_factory=bytearray)
    stdin_ended: bool = False
    started: bool = False
    done: threading.Event = field(default_factory=threading.Event)
    result: CommandResult | None = None
    stdout_pos: int = 0
    stderr_pos: int = 0
    terminated: bool = False


@dataclass
class _Shell:
    shell_id: str
    owner: str
    client_ip: str
    created: str
    input_streams: str
    output_streams: str
    options: dict[str, str]
    environment: dict[str, str]
    working_directory: str | None
    commands: dict[str, _Command] = field(default_factory=dict)


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
    """One simulated Windows host.

    ``users`` maps ``DOMAIN\\user`` (or a bare user) to its password. ``pki`` (``hybrid_sim.pki.TestPKI``) enables
    the HTTPS listener; ``http=True`` the plain HTTP listener. ``allow_unencrypted`` is the service's
    AllowUnencrypted setting (Basic over http and unencrypted NTLM over http are refused when false, as on Windows).
    ``latency_rtt`` is slept once per HTTP request, ``latency_process`` once per command (process start).
    """

    def __init__(
        self,
        name: str,
        handler: Handler,
        users: dict[str, str],
        pki: Any = None,
        http: bool = True,
        allow_unencrypted: bool = False,
        max_shells_per_user: int = 30,
        max_operations_per_user: int = 1500,
        output_chunk_size: int = 64 * 1024,
        latency_rtt: float = 0.0,
        latency_process: float = 0.0,
        https_port: int = 0,
        http_port: int = 0,
        legacy_quota_faults: bool = False,
        max_envelope_size_kb: int = 500,
    ) -> None:
        self.name = name
        self.handler = handler
        self.users = dict(users)
        self.pki = pki
        self.allow_unencrypted = allow_unencrypted
        self.max_shells_per_user = max_shells_per_user
        self.max_operations_per_user = max_operations_per_user
        self.output_chunk_size = output_chunk_size
        self.latency_rtt = latency_rtt
        self.latency_process = latency_process
        # Older hosts report quota errors as f:WSManFault/@Code instead of an MSFT_WmiError detail.
        self.legacy_quota_faults = legacy_quota_faults
        # MaxEnvelopeSizekb also caps request size (MS-WSMV 2.2.4.10): large stdin must be sent in several Sends.
        self.max_envelope_size_kb = max_envelope_size_kb
        self._stopping = threading.Event()
        # One entry per SOAP request (action, user, status, scheme, encrypted), for tests.
        self.requests: list[dict[str, Any]] = []
        self._want_https = pki is not None
        self._want_http = http
        self._ports = (https_port, http_port)
        self._lock = threading.RLock()
        self._shells: dict[str, _Shell] = {}
        self._operations: dict[str, int] = {}
        self._faults: list[_Fault] = []
        self._listeners: list[_Listener] = []
        self._threads: list[threading.Thread] = []
        self._connections: set[socket.socket] = set()
        self.https_port: int | None = None
        self.http_port: int | None = None

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
        return "https://127.0.0.1:%d/wsman" % self.https_port if self.https_port else None

    @property
    def http_url(self) -> str | None:
        return "http://127.0.0.1:%d/wsman" % self.http_port if self.http_port else None

    # -- test hooks ---------------------------------------------------------------------------------------------
    def open_shells(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {
                    "shell_id": shell.shell_id,
                    "owner": shell.owner,
                    "created": shell.created,
                    "commands": [cmd.command_id for cmd in shell.commands.values()],
                }
                for shell in self._shells.values()
            ]

    def close_all_shells(self) -> int:
        with self._lock:
            count = len(self._shells)
            self._shells.clear()
            self._operations.clear()
            return count

    def inject(self, action: str, kind: str, count: int = 1, seconds: float | None = None) -> None:
        """Make the next ``count`` requests of ``action`` (Create, Command, Send, Receive, Signal, Delete or ``*``)
        fail with ``kind`` (see ``FAULT_KINDS``); ``seconds`` for latency (default 1) and slow (default 60)."""
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
            user = user.split("@", 1)[0]
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
        return self._match_user(principal, None) or principal

    # -- SOAP dispatch ------------------------------------------------------------------------------------------
    def process(
        self, data: bytes, username: str, client_ip: str, scheme: str = "https", encrypted: bool = False
    ) -> tuple[int, bytes]:
        """Run one SOAP request; returns (HTTP status, reply envelope). Raises _Drop for injected resets."""
        relates: str | None = None
        action = "?"
        started = time.time()
        try:
            request = soap.parse_request(data)
            relates = request.message_id
            action = request.short_action
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
            handler = getattr(self, "_op_" + action.lower(), None) if action in ACTIONS else None
            if handler is None:
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
            status, body = 200, handler(request, username, client_ip)
        except soap.SoapError as error:
            status, body = 400, soap.fault(relates, "s:Sender", "w:SchemaValidationError", str(error), self.name)
        except _Reply as reply:
            status, body = reply.status, reply.body
        with self._lock:
            self.requests.append(
                {
                    "action": action,
                    "user": username,
                    "status": status,
                    "scheme": scheme,
                    "encrypted": encrypted,
                    "time": started,
                    "elapsed": time.time() - started,
                }
            )
        return status, body

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

    def _shell(self, request: soap.Request) -> _Shell:
        with self._lock:
            shell = self._shells.get(request.shell_id or "")
        if shell is None:
            raise _Reply(
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
        return shell

    def _command(self, request: soap.Request, shell: _Shell, command_id: str | None) -> _Command:
        command = shell.commands.get((command_id or "").upper())
        if command is None:
            raise _Reply(
                500,
                soap.fault(
                    request.message_id,
                    "s:Sender",
                    "w:InvalidParameter",
                    "The WS-Management service cannot process the request because the CommandId %s is not valid "
                    "for the shell %s. " % (command_id, shell.shell_id),
                    self.name,
                    wsman_code=2150858882,
                ),
            )
        return command

    def _op_create(self, request: soap.Request, username: str, client_ip: str) -> bytes:
        if request.resource_uri.lower() != soap.RESOURCE_CMD:
            raise _Reply(
                500,
                soap.fault(
                    request.message_id,
                    "s:Sender",
                    "w:DestinationUnreachable",
                    "The WS-Management service cannot process the request. The resource URI (%s) was not found in "
                    "the WS-Management catalog. " % request.resource_uri,
                    self.name,
                    wsman_code=2150858770,
                ),
            )
        shell_element = request.body
        if not soap.is_tag(shell_element, soap.NS_RSP, "Shell"):
            raise soap.SoapError("Create needs an rsp:Shell body.")
        environment = {
            var.get("Name", ""): var.text or ""
            for var in shell_element.iter("{%s}Variable" % soap.NS_RSP)  # type: ignore[union-attr]
        }
        working = soap.child(shell_element, soap.NS_RSP, "WorkingDirectory")
        inputs = soap.child(shell_element, soap.NS_RSP, "InputStreams")
        outputs = soap.child(shell_element, soap.NS_RSP, "OutputStreams")
        with self._lock:
            owned = sum(1 for s in self._shells.values() if s.owner == username)
            if owned >= self.max_shells_per_user:
                raise self._quota(request.message_id, soap.CODE_QUOTA_SHELLS, self.max_shells_per_user)
            shell_id = shell_element.get("ShellId") or str(uuid.uuid4()).upper()  # type: ignore[union-attr]
            shell = _Shell(
                shell_id=shell_id,
                owner=username,
                client_ip=client_ip,
                created=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                input_streams=(inputs.text if inputs is not None and inputs.text else "stdin"),
                output_streams=(outputs.text if outputs is not None and outputs.text else "stdout stderr"),
                options=dict(request.options),
                environment=environment,
                working_directory=working.text if working is not None else None,
            )
            self._shells[shell_id] = shell
        address = self.https_url or self.http_url or "http://127.0.0.1/wsman"
        body = (
            "<x:ResourceCreated><a:Address>%s</a:Address><a:ReferenceParameters><w:ResourceURI>%s</w:ResourceURI>"
            '<w:SelectorSet><w:Selector Name="ShellId">%s</w:Selector></w:SelectorSet></a:ReferenceParameters>'
            "</x:ResourceCreated><rsp:Shell><rsp:ShellId>%s</rsp:ShellId><rsp:ResourceUri>%s</rsp:ResourceUri>"
            "<rsp:Owner>%s</rsp:Owner><rsp:ClientIP>%s</rsp:ClientIP><rsp:IdleTimeOut>PT7200.000S</rsp:IdleTimeOut>"
            "<rsp:InputStreams>%s</rsp:InputStreams><rsp:OutputStreams>%s</rsp:OutputStreams>"
            "<rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime><rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity>"
            "</rsp:Shell>"
        ) % tuple(
            soap.escape(v)
            for v in (
                address,
                soap.RESOURCE_CMD,
                shell_id,
                shell_id,
                soap.RESOURCE_CMD,
                username,
                client_ip,
                shell.input_streams,
                shell.output_streams,
            )
        )
        return soap.envelope(soap.ACTION_CREATE + "Response", request.message_id, body)

    def _op_command(self, request: soap.Request, username: str, client_ip: str) -> bytes:
        shell = self._shell(request)
        line = request.body
        if not soap.is_tag(line, soap.NS_RSP, "CommandLine"):
            raise soap.SoapError("Command needs an rsp:CommandLine body.")
        parts = (
            [soap.child(line, soap.NS_RSP, "Command").text or ""]
            if soap.child(line, soap.NS_RSP, "Command") is not None
            else []
        )
        parts += [arg.text or "" for arg in soap.children(line, soap.NS_RSP, "Arguments")]
        command_line = " ".join(p for p in parts if p != "")
        skip = request.options.get("WINRS_SKIP_CMD_SHELL", "FALSE").upper() == "TRUE"
        with self._lock:
            used = self._operations.get(shell.owner, 0)
            if used >= self.max_operations_per_user:
                raise self._quota(request.message_id, soap.CODE_QUOTA_OPERATIONS, self.max_operations_per_user)
            # Terminate does not give the operation back for text shells: only Delete of the shell does.
            self._operations[shell.owner] = used + 1
            # A client-chosen CommandId (pypsrp) is kept as sent; lookups ignore case.
            command_id = line.get("CommandId") or str(uuid.uuid4()).upper()  # type: ignore[union-attr]
            shell.commands[command_id.upper()] = _Command(command_id, command_line, skip)
        body = "<rsp:CommandResponse><rsp:CommandId>%s</rsp:CommandId></rsp:CommandResponse>" % command_id
        return soap.envelope(soap.ACTION_COMMAND + "Response", request.message_id, body)

    def _op_send(self, request: soap.Request, username: str, client_ip: str) -> bytes:
        shell = self._shell(request)
        if not soap.is_tag(request.body, soap.NS_RSP, "Send"):
            raise soap.SoapError("Send needs an rsp:Send body.")
        for stream in soap.children(request.body, soap.NS_RSP, "Stream"):
            command = self._command(request, shell, stream.get("CommandId"))
            try:
                data = base64.b64decode(stream.text or "")
            except binascii.Error as error:
                raise soap.SoapError("stdin is not valid base64") from error
            with self._lock:
                if not command.stdin_ended:
                    command.stdin.extend(data)
                if (stream.get("End") or "").lower() == "true":
                    command.stdin_ended = True
            if command.stdin_ended:
                self._start(shell, command)
        return soap.envelope(soap.ACTION_SEND + "Response", request.message_id, "<rsp:SendResponse/>")

    def _start(self, shell: _Shell, command: _Command) -> None:
        with self._lock:
            if command.started:
                return
            command.started = True
        thread = threading.Thread(target=self._run, args=(shell, command), daemon=True)
        thread.name = "wsman-%s-cmd-%s" % (self.name, command.command_id[:8])
        thread.start()

    def _run(self, shell: _Shell, command: _Command) -> None:
        try:
            if not command.skip_cmd_shell and len(command.command_line) > CMD_LINE_LIMIT:
                # cmd.exe refuses before anything starts.
                command.result = CommandResult(b"", TEXT_LINE_TOO_LONG, 1)
                return
            if self.latency_process:
                self._stopping.wait(self.latency_process)
            request = CommandRequest(self.name, shell.owner, command.command_line, bytes(command.stdin))
            try:
                result = self.handler(request)
            except Exception as error:  # pylint: disable=broad-except
                result = CommandResult(b"", clixml_error("simulator handler failed: %r" % (error,)), 1)
            command.result = result
        finally:
            command.done.set()

    def _op_receive(self, request: soap.Request, username: str, client_ip: str) -> bytes:
        shell = self._shell(request)
        desired = soap.child(request.body, soap.NS_RSP, "DesiredStream")
        command = self._command(request, shell, desired.get("CommandId") if desired is not None else None)
        self._start(shell, command)
        timeout = request.operation_timeout if request.operation_timeout is not None else 60.0
        if not command.done.wait(timeout):
            raise self._timed_out(request.message_id)
        result = command.result or CommandResult(b"", b"", 1)
        chunk = self.output_chunk_size
        cid = soap.escape(command.command_id)
        with self._lock:
            out = result.stdout[command.stdout_pos : command.stdout_pos + chunk]
            err = result.stderr[command.stderr_pos : command.stderr_pos + chunk]
            command.stdout_pos += len(out)
            command.stderr_pos += len(err)
            finished = command.stdout_pos >= len(result.stdout) and command.stderr_pos >= len(result.stderr)
        streams = ""
        for name, data in (("stdout", out), ("stderr", err)):
            if data:
                streams += '<rsp:Stream Name="%s" CommandId="%s">%s</rsp:Stream>' % (
                    name,
                    cid,
                    base64.b64encode(data).decode("ascii"),
                )
        if finished:
            streams += '<rsp:Stream Name="stdout" CommandId="%s" End="true"></rsp:Stream>' % cid
            streams += '<rsp:Stream Name="stderr" CommandId="%s" End="true"></rsp:Stream>' % cid
            state = '<rsp:CommandState CommandId="%s" State="%s"><rsp:ExitCode>%d</rsp:ExitCode></rsp:CommandState>' % (
                cid,
                soap.STATE_DONE,
                result.exit_code,
            )
        else:
            state = '<rsp:CommandState CommandId="%s" State="%s"/>' % (cid, soap.STATE_RUNNING)
        body = "<rsp:ReceiveResponse>%s%s</rsp:ReceiveResponse>" % (streams, state)
        return soap.envelope(soap.ACTION_RECEIVE + "Response", request.message_id, body)

    def _op_signal(self, request: soap.Request, username: str, client_ip: str) -> bytes:
        shell = self._shell(request)
        signal = request.body
        command = self._command(request, shell, signal.get("CommandId") if signal is not None else None)
        code = soap.child(signal, soap.NS_RSP, "Code")
        code_text = (code.text or "").strip().lower() if code is not None else ""
        if code_text.endswith(("/terminate", "/ctrl_c", "/ctrl_break")):
            with self._lock:
                command.terminated = True
                shell.commands.pop(command.command_id.upper(), None)
        return soap.envelope(soap.ACTION_SIGNAL + "Response", request.message_id, "<rsp:SignalResponse/>")

    def _op_delete(self, request: soap.Request, username: str, client_ip: str) -> bytes:
        shell = self._shell(request)
        with self._lock:
            self._shells.pop(shell.shell_id, None)
            self._operations[shell.owner] = max(0, self._operations.get(shell.owner, 0) - len(shell.commands))
            if not any(s.owner == shell.owner for s in self._shells.values()):
                self._operations.pop(shell.owner, None)
        return soap.envelope(soap.ACTION_DELETE + "Response", request.message_id, "")


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
        self.auth_ctx: Any = None
        self.auth_user: str | None = None

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

    def _challenge(self) -> None:
        headers = [("WWW-Authenticate", "Negotiate")]
        if self.https or self.server.owner.allow_unencrypted:
            headers.append(("WWW-Authenticate", 'Basic realm="WSMAN"'))
        self._send(401, b"", headers)

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

    def do_GET(self) -> None:  # pylint: disable=invalid-name
        self._send(405, b"", [("Allow", "POST")])

    def do_POST(self) -> None:  # pylint: disable=invalid-name
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if owner.latency_rtt:
            time.sleep(owner.latency_rtt)
        if self.path.split("?", 1)[0].lower() != "/wsman":
            self._send(404, b"")
            return

        extra: list[tuple[str, str]] = []
        authorization = self.headers.get("Authorization")
        username: str | None = None
        basic = False
        if authorization:
            scheme, _sep, token = authorization.strip().partition(" ")
            if scheme.lower() == "basic":
                if not self.https and not owner.allow_unencrypted:
                    self._challenge()
                    return
                username = owner.check_basic(token.strip())
                if username is None:
                    self._challenge()
                    return
                basic = True
            elif scheme.lower() in ("negotiate", "ntlm"):
                if self.auth_ctx is None or self.auth_ctx.complete:
                    self.auth_ctx = spnego.server(protocol="negotiate")
                    self.auth_user = None
                try:
                    out = self.auth_ctx.step(base64.b64decode(token.strip()))
                except Exception:  # pylint: disable=broad-except
                    # Wrong password, unknown user or a garbled token: Windows answers 401.
                    self.auth_ctx = None
                    self._send(401, b"", [("WWW-Authenticate", "Negotiate")])
                    return
                if not self.auth_ctx.complete:
                    self._send(401, b"", [("WWW-Authenticate", "%s %s" % (scheme, base64.b64encode(out).decode()))])
                    return
                self.auth_user = owner.canonical_user(self.auth_ctx.client_principal or "")
                username = self.auth_user
                if out:
                    extra.append(("WWW-Authenticate", "%s %s" % (scheme, base64.b64encode(out).decode())))
            else:
                self._challenge()
                return
        elif self.auth_user is not None:
            username = self.auth_user
        else:
            self._challenge()
            return

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
                body, username or "", self.client_address[0], "https" if self.https else "http", encrypted
            )
        except _Drop:
            self._drop()
            return
        if status == 401:
            # Injected: the connection and its NTLM context stay usable. Only Basic is offered so that requests_ntlm
            # does not re-authenticate and replay a body sealed with the old keys.
            self._send(401, b"", [("WWW-Authenticate", 'Basic realm="WSMAN"')])
            return
        if encrypted and protocol:
            reply = _wrap(self.auth_ctx, reply, protocol)
            extra.append(
                (
                    "Content-Type",
                    'multipart/encrypted;protocol="%s";boundary="Encrypted Boundary"' % protocol,
                )
            )
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
