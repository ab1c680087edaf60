"""The simulated WS-Management service against real, unmodified pywinrm and pypsrp clients."""

from __future__ import annotations

import base64
import re
import threading
import warnings
from typing import Any, Iterator

import pytest
import requests
import winrm
from winrm.exceptions import InvalidCredentialsError, WinRMOperationTimeoutError, WinRMTransportError, WSManFaultError

from hybrid_sim.pki import create_pki
from hybrid_sim.wsman import CommandRequest, CommandResult, WSManServer, clixml_error, clixml_progress_only

USER = "CONTOSO\\exadmin"
PASSWORD = "Corr3ct-Horse!"


class Recorder:
    """A stub command handler: records requests and answers from a small script table."""

    def __init__(self) -> None:
        self.requests: list[CommandRequest] = []
        self.release = threading.Event()
        self.release.set()

    def __call__(self, request: CommandRequest) -> CommandResult:
        self.requests.append(request)
        script = _decode_script(request.command_line)
        if script == "fail":
            return CommandResult(b"", clixml_error("Boom: mailbox not found"), 1)
        if script == "big":
            return CommandResult(b"x" * 300_000 + b"END", clixml_progress_only(), 0)
        if script == "wait":
            self.release.wait(30)
        if script == "raise":
            raise RuntimeError("handler bug")
        if script.startswith("exit "):
            return CommandResult(b"", b"", int(script.split()[1]))
        return CommandResult(("user=%s;stdin=%d;" % (request.username, len(request.stdin))).encode() + b"ok\r\n")


def _decode_script(command_line: str) -> str:
    match = re.search(r"(?i)powershell(\.exe)?\s+(.*\s)?-(e|ec|enc|encodedcommand)\s+(\S+)", command_line)
    if not match:
        return command_line
    return base64.b64decode(match.group(4)).decode("utf-16-le")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: Any) -> Any:
    return create_pki(str(tmp_path_factory.mktemp("pki")))


@pytest.fixture(scope="module")
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture(scope="module")
def server(pki: Any, recorder: Recorder) -> Iterator[WSManServer]:
    with WSManServer("EX01", recorder, {USER: PASSWORD}, pki=pki, output_chunk_size=65536) as srv:
        yield srv
        # Every test closes what it opens: nothing may be left at the end of the module.
        assert srv.open_shells() == []


@pytest.fixture(autouse=True)
def _clean(server: WSManServer) -> Iterator[None]:
    server.clear_faults()
    yield
    server.clear_faults()
    leaked = server.open_shells()
    server.close_all_shells()
    assert leaked == [], "the test left shells open"


def https_session(server: WSManServer, pki: Any, password: str = PASSWORD, **kwargs: Any) -> winrm.Session:
    return winrm.Session(
        server.https_url,
        auth=(USER, password),
        transport="basic",
        server_cert_validation="validate",
        ca_trust_path=pki.ca_path,
        **kwargs,
    )


def ntlm_protocol(server: WSManServer, password: str = PASSWORD, **kwargs: Any) -> winrm.protocol.Protocol:
    return winrm.protocol.Protocol(
        server.http_url,
        transport="ntlm",
        username=USER,
        password=password,
        message_encryption="auto",
        server_cert_validation="ignore",
        **kwargs,
    )


def basic_protocol(server: WSManServer, pki: Any, **kwargs: Any) -> winrm.protocol.Protocol:
    return winrm.protocol.Protocol(
        server.https_url,
        transport="basic",
        username=USER,
        password=PASSWORD,
        server_cert_validation="validate",
        ca_trust_path=pki.ca_path,
        **kwargs,
    )


# --- round trips -------------------------------------------------------------------------------------------------
def test_run_ps_over_https_basic_with_test_ca(server: WSManServer, pki: Any, recorder: Recorder) -> None:
    result = https_session(server, pki).run_ps("Get-ExchangeServer")
    assert result.status_code == 0
    assert result.std_out == b"user=CONTOSO\\exadmin;stdin=0;ok\r\n"
    assert recorder.requests[-1].server_name == "EX01"
    assert recorder.requests[-1].command_line.startswith("powershell -encodedcommand ")
    assert _decode_script(recorder.requests[-1].command_line) == "Get-ExchangeServer"


def test_run_ps_over_localhost_name(server: WSManServer, pki: Any) -> None:
    session = winrm.Session(
        "https://localhost:%d/wsman" % server.https_port,
        auth=(USER, PASSWORD),
        transport="basic",
        ca_trust_path=pki.ca_path,
    )
    assert session.run_ps("x").status_code == 0


def test_clixml_stderr_is_cleaned_by_run_ps(server: WSManServer, pki: Any) -> None:
    result = https_session(server, pki).run_ps("fail")
    assert result.status_code == 1
    assert result.std_err == b"Boom: mailbox not found"


def test_ntlm_over_http_is_encrypted(server: WSManServer, recorder: Recorder) -> None:
    protocol = ntlm_protocol(server)
    shell = protocol.open_shell()
    try:
        command = protocol.run_command(shell, "powershell", ["-encodedcommand", _b64("hello")])
        out, err, rc = protocol.get_command_output(shell, command)
        protocol.cleanup_command(shell, command)
    finally:
        protocol.close_shell(shell)
    assert (out, rc) == (b"user=CONTOSO\\exadmin;stdin=0;ok\r\n", 0)
    assert _decode_script(recorder.requests[-1].command_line) == "hello"
    # Every SOAP request of this exchange arrived sealed.
    assert protocol.transport.encryption is not None
    assert {(r["scheme"], r["encrypted"]) for r in server.requests[-5:]} == {("http", True)}


def test_ntlm_over_https(server: WSManServer, pki: Any) -> None:
    session = winrm.Session(server.https_url, auth=(USER, PASSWORD), transport="ntlm", ca_trust_path=pki.ca_path)
    assert session.run_cmd("hostname").std_out.endswith(b"ok\r\n")


def test_session_run_ps_over_ntlm_http(server: WSManServer) -> None:
    session = winrm.Session(server.http_url, auth=(USER, PASSWORD), transport="ntlm", server_cert_validation="ignore")
    result = session.run_ps("exit 3")
    assert result.status_code == 3


def test_stdin_20kb_and_end(server: WSManServer, recorder: Recorder) -> None:
    payload = bytes(range(256)) * 80  # 20 KiB, every byte value
    protocol = ntlm_protocol(server)
    shell = protocol.open_shell()
    try:
        command = protocol.run_command(shell, "powershell.exe", ["-NoProfile", "-EncodedCommand", _b64("read")])
        protocol.send_command_input(shell, command, payload[:1000], end=False)
        protocol.send_command_input(shell, command, payload[1000:], end=True)
        out, _err, rc = protocol.get_command_output(shell, command)
        protocol.cleanup_command(shell, command)
    finally:
        protocol.close_shell(shell)
    assert rc == 0
    assert recorder.requests[-1].stdin == payload
    assert out.startswith(b"user=CONTOSO\\exadmin;stdin=20480;")


def test_request_larger_than_max_envelope_size(server: WSManServer) -> None:
    protocol = ntlm_protocol(server)
    shell = protocol.open_shell()
    try:
        command = protocol.run_command(shell, "powershell", ["-encodedcommand", _b64("read")])
        with pytest.raises(WSManFaultError) as info:
            protocol.send_command_input(shell, command, b"x" * 400_000, end=True)  # 533 KB of base64
        assert info.value.fault_subcode == "w:EncodingLimit"
        protocol.send_command_input(shell, command, b"x" * 300_000, end=True)  # 400 KB: accepted
        out, _err, rc = protocol.get_command_output(shell, command)
        assert rc == 0 and b"stdin=300000;" in out
        protocol.cleanup_command(shell, command)
    finally:
        protocol.close_shell(shell)


def test_large_output_is_chunked(server: WSManServer, pki: Any) -> None:
    protocol = basic_protocol(server, pki)
    shell = protocol.open_shell()
    try:
        command = protocol.run_command(shell, "powershell", ["-encodedcommand", _b64("big")])
        before = len(server.requests)
        out, err, rc = protocol.get_command_output(shell, command)
        receives = [r for r in server.requests[before:] if r["action"] == "Receive"]
        protocol.cleanup_command(shell, command)
    finally:
        protocol.close_shell(shell)
    assert rc == 0 and len(out) == 300_003 and out.endswith(b"END")
    assert err.startswith(b"#< CLIXML\r\n")
    assert len(receives) >= 5  # 64 KiB per Receive


def test_command_line_limit_is_cmd_exe_s(server: WSManServer, pki: Any, recorder: Recorder) -> None:
    session = https_session(server, pki)
    count = len(recorder.requests)
    result = session.run_cmd("x" * 8191)
    assert result.status_code == 0
    result = session.run_cmd("x" * 8192)
    assert (result.status_code, result.std_out, result.std_err) == (1, b"", b"The command line is too long.\r\n")
    long_script = session.run_ps("Write-Output 'a';" * 300)  # ~5000 chars -> > 8191 once encoded
    assert long_script.status_code == 1 and long_script.std_err == b"The command line is too long.\r\n"
    assert len(recorder.requests) == count + 1  # the handler never saw the refused lines


def test_relates_to_is_checked_by_pywinrm_signal_and_delete(server: WSManServer, pki: Any) -> None:
    protocol = basic_protocol(server, pki)
    shell = protocol.open_shell()
    try:
        command = protocol.run_command(shell, "hostname")
        protocol.get_command_output(shell, command)
        protocol.cleanup_command(shell, command)  # asserts RelatesTo == MessageID
    finally:
        protocol.close_shell(shell)  # same check


def test_client_chosen_command_id_pypsrp(server: WSManServer, pki: Any) -> None:
    from pypsrp.shell import WinRS  # pylint: disable=import-outside-toplevel
    from pypsrp.wsman import WSMan  # pylint: disable=import-outside-toplevel

    chosen = "0d7a3b4c-1111-2222-3333-444455556666"
    wsman = WSMan(
        "127.0.0.1", port=server.https_port, auth="basic", username=USER, password=PASSWORD, cert_validation=pki.ca_path
    )
    with wsman, WinRS(wsman) as shell:
        body = shell.command("hostname", [], command_id=chosen)
        returned = body.find(
            "{http://schemas.microsoft.com/wbem/wsman/1/windows/shell}CommandResponse/"
            "{http://schemas.microsoft.com/wbem/wsman/1/windows/shell}CommandId"
        )
        assert returned is not None and returned.text == chosen
        assert server.open_shells()[0]["commands"] == [chosen]


# --- authentication ----------------------------------------------------------------------------------------------
def test_bad_password_basic(server: WSManServer, pki: Any) -> None:
    with pytest.raises(InvalidCredentialsError) as info:
        https_session(server, pki, password="wrong").run_cmd("hostname")
    assert info.value.code == 401


def test_bad_password_ntlm(server: WSManServer) -> None:
    with pytest.raises(InvalidCredentialsError):
        ntlm_protocol(server, password="wrong").open_shell()


def test_untrusted_ca_is_refused(server: WSManServer, tmp_path: Any) -> None:
    other = create_pki(str(tmp_path / "other"))
    session = winrm.Session(server.https_url, auth=(USER, PASSWORD), transport="basic", ca_trust_path=other.ca_path)
    with pytest.raises(requests.exceptions.SSLError):
        session.run_cmd("hostname")


def test_basic_over_http_refused_by_default(server: WSManServer) -> None:
    session = winrm.Session(server.http_url, auth=(USER, PASSWORD), transport="basic", server_cert_validation="ignore")
    with pytest.raises(InvalidCredentialsError):
        session.run_cmd("hostname")


def test_unencrypted_ntlm_over_http_gets_500(server: WSManServer) -> None:
    protocol = winrm.protocol.Protocol(
        server.http_url,
        transport="ntlm",
        username=USER,
        password=PASSWORD,
        message_encryption="never",
        server_cert_validation="ignore",
    )
    with pytest.raises(WinRMTransportError) as info:
        protocol.open_shell()
    assert info.value.code == 500


def test_basic_over_http_when_allow_unencrypted(pki: Any, recorder: Recorder) -> None:
    with WSManServer("EX02", recorder, {USER: PASSWORD}, pki=None, allow_unencrypted=True) as srv:
        session = winrm.Session(srv.http_url, auth=(USER, PASSWORD), transport="basic", server_cert_validation="ignore")
        assert session.run_cmd("hostname").status_code == 0
        protocol = winrm.protocol.Protocol(
            srv.http_url,
            transport="ntlm",
            username=USER,
            password=PASSWORD,
            message_encryption="never",
            server_cert_validation="ignore",
        )
        shell = protocol.open_shell()
        protocol.close_shell(shell)
        assert srv.https_url is None
        assert srv.open_shells() == []


# --- faults ------------------------------------------------------------------------------------------------------
def _run(protocol: winrm.protocol.Protocol, script: str = "x") -> tuple[bytes, bytes, int]:
    shell = protocol.open_shell()
    try:
        command = protocol.run_command(shell, "powershell", ["-encodedcommand", _b64(script)])
        result = protocol.get_command_output(shell, command)
        protocol.cleanup_command(shell, command)
        return result
    finally:
        protocol.close_shell(shell)


def test_unknown_shell_is_invalid_selectors(server: WSManServer, pki: Any) -> None:
    protocol = basic_protocol(server, pki)
    with pytest.raises(WSManFaultError) as info:
        protocol.run_command("11111111-2222-3333-4444-555555555555", "hostname")
    assert info.value.wsman_fault_code == 2150858843
    assert info.value.fault_subcode == "w:InvalidSelectors"
    assert "the shell was not found on the server" in info.value.reason


def test_shell_quota(pki: Any, recorder: Recorder) -> None:
    with WSManServer("EX03", recorder, {USER: PASSWORD}, pki=pki, max_shells_per_user=2) as srv:
        protocol = basic_protocol(srv, pki)
        shells = [protocol.open_shell(), protocol.open_shell()]
        with pytest.raises(WSManFaultError) as info:
            protocol.open_shell()
        assert info.value.wmierror_code == 0x803381A5
        assert info.value.wsman_fault_code is None
        assert "maximum number of 2 concurrent shells" in info.value.reason
        for shell in shells:
            protocol.close_shell(shell)
        assert srv.open_shells() == []


@pytest.mark.parametrize("action", ["Create", "Command", "Send", "Receive", "Signal", "Delete"])
def test_injected_reset_on_each_action(server: WSManServer, pki: Any, action: str) -> None:
    server.inject(action, "reset")
    protocol = basic_protocol(server, pki)
    with pytest.raises(requests.exceptions.ConnectionError):
        _run_with_send(protocol)
    assert server.pending_faults() == []


def _run_with_send(protocol: winrm.protocol.Protocol) -> None:
    shell = protocol.open_shell()
    try:
        command = protocol.run_command(shell, "powershell", ["-encodedcommand", _b64("read")])
        protocol.send_command_input(shell, command, b"data", end=True)
        protocol.get_command_output(shell, command)
        protocol.cleanup_command(shell, command)
    finally:
        try:
            protocol.close_shell(shell)
        except requests.exceptions.ConnectionError:
            # The Delete itself was the one reset: close again on a fresh connection.
            protocol.close_shell(shell)
            raise


@pytest.mark.parametrize(
    "kind, expected, check",
    [
        ("http401", InvalidCredentialsError, lambda e: e.code == 401),
        ("http500", WSManFaultError, lambda e: e.code == 500 and e.fault_subcode == "w:InternalError"),
        ("shell_quota", WSManFaultError, lambda e: e.wmierror_code == 2150859173),
        ("operation_quota", WSManFaultError, lambda e: e.wmierror_code == 2150859174),
        ("timed_out", WinRMOperationTimeoutError, lambda e: True),
    ],
)
def test_injected_faults_on_command(server: WSManServer, pki: Any, kind: str, expected: type, check: Any) -> None:
    server.inject("Command", kind)
    protocol = basic_protocol(server, pki)
    with pytest.raises(expected) as info:
        _run(protocol)
    assert check(info.value)


def test_injected_fault_encrypted_over_ntlm(server: WSManServer) -> None:
    server.inject("Command", "operation_quota")
    with pytest.raises(WSManFaultError) as info:
        _run(ntlm_protocol(server))
    assert info.value.wmierror_code == 0x803381A6
    assert "concurrent operations" in info.value.reason


def test_injected_401_over_ntlm_encrypted(server: WSManServer) -> None:
    server.inject("Receive", "http401")
    with pytest.raises(InvalidCredentialsError):
        _run(ntlm_protocol(server))


def test_legacy_quota_fault_form(pki: Any, recorder: Recorder) -> None:
    with WSManServer("EX04", recorder, {USER: PASSWORD}, pki=pki, legacy_quota_faults=True) as srv:
        srv.inject("Create", "shell_quota")
        with pytest.raises(WSManFaultError) as info:
            _run(basic_protocol(srv, pki))
        assert info.value.wsman_fault_code == 0x803381A5 and info.value.wmierror_code is None


def test_injected_timed_out_on_receive_is_retried_by_pywinrm(server: WSManServer, pki: Any) -> None:
    server.inject("Receive", "timed_out", count=2)
    out, _err, rc = _run(basic_protocol(server, pki))
    assert rc == 0 and out.endswith(b"ok\r\n")
    assert server.pending_faults() == []


def test_receive_long_poll_times_out(server: WSManServer, pki: Any, recorder: Recorder) -> None:
    recorder.release.clear()
    protocol = basic_protocol(server, pki, operation_timeout_sec=1, read_timeout_sec=5)
    before = len(server.requests)

    def release_after_a_timed_out_receive() -> None:
        # The handler finishes only once a Receive was answered with TimedOut (no timing assumptions).
        while not recorder.release.is_set():
            if any(r["action"] == "Receive" and r["status"] == 500 for r in server.requests[before:]):
                recorder.release.set()
            recorder.release.wait(0.05)

    watcher = threading.Thread(target=release_after_a_timed_out_receive, daemon=True)
    watcher.start()
    try:
        out, _err, rc = _run(protocol, "wait")
    finally:
        recorder.release.set()
        watcher.join()
    assert rc == 0 and out.endswith(b"ok\r\n")
    statuses = [r["status"] for r in server.requests[before:] if r["action"] == "Receive"]
    assert 500 in statuses and statuses[-1] == 200


def test_injected_slow_response_is_read_timeout(server: WSManServer, pki: Any) -> None:
    server.inject("Create", "slow", seconds=10)
    protocol = basic_protocol(server, pki, operation_timeout_sec=1, read_timeout_sec=2)
    with pytest.raises(requests.exceptions.ReadTimeout):
        protocol.open_shell()


def test_injected_latency_then_success(server: WSManServer, pki: Any) -> None:
    server.inject("*", "latency", count=2, seconds=0.2)
    assert _run(basic_protocol(server, pki))[2] == 0
    assert server.pending_faults() == []


def test_inject_validates_arguments(server: WSManServer) -> None:
    with pytest.raises(ValueError):
        server.inject("Frobnicate", "reset")
    with pytest.raises(ValueError):
        server.inject("Create", "explode")


def test_unknown_action_fault(server: WSManServer, pki: Any) -> None:
    protocol = basic_protocol(server, pki)
    message = protocol.build_wsman_header(
        resource_uri="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd",
        action="http://schemas.xmlsoap.org/ws/2004/09/transfer/Frobnicate",
    )
    import xmltodict  # pylint: disable=import-outside-toplevel

    envelope = xmltodict.unparse({"env:Envelope": dict(message, **{"env:Body": {}})})
    with pytest.raises(WSManFaultError) as info:
        protocol.send_message(envelope)
    assert info.value.fault_subcode == "a:ActionNotSupported"


# --- pypsrp as a second client -------------------------------------------------------------------------------------
@pytest.mark.parametrize("auth", ["ntlm", "negotiate"])
def test_pypsrp_winrs_over_http_encrypted(server: WSManServer, auth: str) -> None:
    from pypsrp.shell import Process, SignalCode, WinRS  # pylint: disable=import-outside-toplevel
    from pypsrp.wsman import WSMan  # pylint: disable=import-outside-toplevel

    wsman = WSMan(
        "127.0.0.1", port=server.http_port, ssl=False, auth=auth, username=USER, password=PASSWORD, encryption="always"
    )
    with wsman, WinRS(wsman) as shell:
        process = Process(shell, "powershell", ["-encodedcommand", _b64("pypsrp")])
        process.invoke()
        process.signal(SignalCode.CTRL_C)
        assert process.rc == 0
        assert process.stdout.endswith(b"ok\r\n")


def test_pypsrp_winrs_over_https_basic_with_stdin(server: WSManServer, pki: Any, recorder: Recorder) -> None:
    from pypsrp.shell import Process, SignalCode, WinRS  # pylint: disable=import-outside-toplevel
    from pypsrp.wsman import WSMan  # pylint: disable=import-outside-toplevel

    wsman = WSMan(
        "127.0.0.1",
        port=server.https_port,
        ssl=True,
        auth="basic",
        username=USER,
        password=PASSWORD,
        cert_validation=pki.ca_path,
    )
    with wsman, WinRS(wsman) as shell:
        process = Process(shell, "powershell", ["-encodedcommand", _b64("stdin")], no_shell=False)
        process.begin_invoke()
        process.send(b"hello stdin", end=True)
        process.end_invoke()
        process.signal(SignalCode.TERMINATE)
    assert process.rc == 0
    assert recorder.requests[-1].stdin == b"hello stdin"


def test_pypsrp_bad_password(server: WSManServer) -> None:
    from pypsrp.exceptions import AuthenticationError  # pylint: disable=import-outside-toplevel
    from pypsrp.shell import WinRS  # pylint: disable=import-outside-toplevel
    from pypsrp.wsman import WSMan  # pylint: disable=import-outside-toplevel

    wsman = WSMan("127.0.0.1", port=server.http_port, ssl=False, auth="ntlm", username=USER, password="nope")
    with pytest.raises(AuthenticationError):
        with wsman, WinRS(wsman):
            pass


def test_handler_exception_becomes_clixml_error(server: WSManServer, pki: Any) -> None:
    result = https_session(server, pki).run_ps("raise")
    assert result.status_code == 1
    assert b"simulator handler failed: RuntimeError('handler bug')" in result.std_err


def test_expired_shell_is_not_found(server: WSManServer, pki: Any) -> None:
    protocol = basic_protocol(server, pki)
    shell = protocol.open_shell()
    assert server.close_all_shells() == 1  # what an idle timeout or a WinRM restart does
    with pytest.raises(WSManFaultError) as info:
        protocol.run_command(shell, "hostname")
    assert info.value.wsman_fault_code == 2150858843


# --- helpers under test ------------------------------------------------------------------------------------------
def test_clixml_error_escapes_and_wraps() -> None:
    data = clixml_error("a <b> & c\nsecond_x0041_ line", wrap=None, progress=False)
    assert data.startswith(b"#< CLIXML\r\n<Objs ")
    text = data.decode()
    assert '<S S="Error">a &lt;b&gt; &amp; c_x000D__x000A_</S>' in text
    assert "second_x005F_x0041_ line_x000D__x000A_" in text
    wrapped = clixml_error("x" * 100, wrap=80, progress=True).decode()
    assert wrapped.count('<S S="Error">') == 2 and 'S="progress"' in wrapped


def _b64(script: str) -> str:
    with warnings.catch_warnings():
        return base64.b64encode(script.encode("utf-16-le")).decode()
