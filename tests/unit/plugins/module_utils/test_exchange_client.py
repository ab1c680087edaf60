# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import json

import pytest
import requests
from winrm.exceptions import InvalidCredentialsError, WinRMTransportError, WSManFaultError

from ansible_collections.exchange.hybrid.plugins.module_utils import _exchange as ex
from ansible_collections.exchange.hybrid.plugins.module_utils import _runner_script as rs

PASSWORD = "S3cr3t-canary-\u00e9"
PARAMS = {
    "server": "ex01.contoso.com",
    "port": None,
    "scheme": "https",
    "username": "CONTOSO\\exadmin",
    "password": PASSWORD,
    "transport": "ntlm",
    "validate_certs": True,
    "ca_path": __file__,
    "cert_pem": None,
    "cert_key_pem": None,
    "message_encryption": "auto",
    "operation_timeout": 20,
    "read_timeout": 30,
    "allow_unencrypted_basic": False,
}


def envelope(results=None, ok=True, error=None):
    return json.dumps(
        {"runner": 1, "ok": ok, "computer_name": "EX01", "ps_version": "5.1", "results": results or [], "error": error}
    ).encode()


class FakeProtocol:
    """Records the five operations; ``fail`` maps an operation to an exception (or a list consumed per call)."""

    instances: list = []

    def __init__(self, script, **kwargs):
        self.kwargs = kwargs
        self.script = script
        self.log = []
        self.open = set()
        FakeProtocol.instances.append(self)

    def _maybe_fail(self, op):
        failure = self.script.get(op)
        if isinstance(failure, list):
            failure = failure.pop(0) if failure else None
        if failure is not None:
            raise failure

    def open_shell(self, codepage=437):
        self.log.append("open_shell")
        self._maybe_fail("open_shell")
        self.open.add("S1")
        return "S1"

    def run_command(self, shell_id, command, arguments=()):
        self.log.append("run_command")
        self.command = command
        self._maybe_fail("run_command")
        return "C1"

    def send_command_input(self, shell_id, command_id, data, end=False):
        self.log.append(("send", end))
        self.stdin = getattr(self, "stdin", b"") + data
        self._maybe_fail("send")

    def get_command_output(self, shell_id, command_id):
        self.log.append("receive")
        self._maybe_fail("receive")
        return self.script.get("stdout", envelope()), b"", self.script.get("rc", 0)

    def cleanup_command(self, shell_id, command_id):
        self.log.append("cleanup")

    def close_shell(self, shell_id, close_session=True):
        self.log.append("close_shell")
        self.open.discard(shell_id)


def make_client(script, params=None):
    FakeProtocol.instances = []
    sleeps = []
    client = ex.ExchangeClient(
        dict(PARAMS, **(params or {})), protocol_factory=lambda **kw: FakeProtocol(script, **kw), sleep=sleeps.append
    )
    return client, sleeps


def quota_fault(code=ex.QUOTA_MAX_SHELLS):
    return WSManFaultError(
        500,
        "Bad HTTP response",
        "<xml/>",
        "maximum number of concurrent shells",
        "s:Receiver",
        "w:InternalError",
        None,
        code,
    )


def test_run_sends_fixed_texts_and_returns_outputs():
    out = [{"cmdlet": "Get-ExchangeServer", "output": [{"Name": "EX01"}]}]
    client, _sleeps = make_client({"stdout": envelope(out)})
    calls = [ex.call("Get-ExchangeServer", ["Name"])]
    assert client.run(calls) == [[{"Name": "EX01"}]]
    proto = FakeProtocol.instances[0]
    assert proto.command == rs.command_line()
    runner, request = rs.split_stdin(proto.stdin)
    assert runner == rs.RUNNER
    assert json.loads(request) == {"runner": 1, "calls": calls}
    assert proto.log[-1] == "close_shell" and not proto.open
    assert client.computer_name == "EX01"


def test_protocol_arguments_tls_and_ca_path(monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/unrelated.pem")
    args = ex.protocol_arguments(PARAMS)
    assert args["endpoint"] == "https://ex01.contoso.com:5986/wsman"
    assert args["ca_trust_path"] == __file__ and args["server_cert_validation"] == "validate"
    args = ex.protocol_arguments(dict(PARAMS, ca_path=None))
    assert args["ca_trust_path"] == "/etc/unrelated.pem"
    args = ex.protocol_arguments(dict(PARAMS, validate_certs=False))
    assert args["server_cert_validation"] == "ignore"
    assert ex.endpoint_of(dict(PARAMS, scheme="http")) == "http://ex01.contoso.com:5985/wsman"
    assert ex.endpoint_of(dict(PARAMS, server="::1", port=1234)) == "https://[::1]:1234/wsman"


def test_basic_over_http_refused_naming_option():
    problem = ex.connection_problem(dict(PARAMS, transport="basic", scheme="http"))
    assert "allow_unencrypted_basic" in problem
    assert ex.connection_problem(dict(PARAMS, transport="basic", scheme="http", allow_unencrypted_basic=True)) is None
    assert "read_timeout" in ex.connection_problem(dict(PARAMS, operation_timeout=30, read_timeout=30))
    assert "ca_path /nonexistent.pem does not exist" in ex.connection_problem(dict(PARAMS, ca_path="/nonexistent.pem"))


@pytest.mark.parametrize("op", ["run_command", "send", "receive"])
def test_shell_closed_when_a_step_raises(op):
    client, _sleeps = make_client({op: ValueError("boom " + PASSWORD)})
    with pytest.raises(ex.ExchangeConnectionError) as info:
        client.run([ex.call("Set-AuthConfig", CertificateThumbprint="A" * 40, Force=True)])
    proto = FakeProtocol.instances[0]
    assert "close_shell" in proto.log and not proto.open
    assert PASSWORD not in info.value.msg
    assert len(FakeProtocol.instances) == 1  # not retried


def test_quota_fault_retried_with_bounded_backoff():
    client, sleeps = make_client({"open_shell": [quota_fault(), quota_fault(ex.QUOTA_MAX_OPERATIONS)]})
    assert client.run([ex.call("Get-AuthConfig", ["CurrentCertificateThumbprint"])]) == []
    assert len(sleeps) == 2 and all(0 < s <= ex.BACKOFF_MAX for s in sleeps)


def test_quota_fault_gives_up_after_max_attempts():
    client, sleeps = make_client({"open_shell": [quota_fault()] * 10})
    with pytest.raises(ex.ExchangeConnectionError) as info:
        client.run([ex.call("Get-AuthConfig")])
    assert len(FakeProtocol.instances) == ex.MAX_ATTEMPTS and len(sleeps) == ex.MAX_ATTEMPTS - 1
    assert "0x803381A5" in info.value.msg


def test_write_batch_not_resent_after_input_delivered():
    reset = requests.exceptions.ConnectionError("Connection aborted. ConnectionResetError(104)")
    client, sleeps = make_client({"receive": [reset]})
    with pytest.raises(ex.ExchangeConnectionError) as info:
        client.run([ex.call("New-AuthServer", Name="x", AuthMetadataUrl="https://a")])
    assert len(FakeProtocol.instances) == 1 and not sleeps
    assert "reset" in info.value.msg


def test_read_batch_resent_after_reset():
    reset = requests.exceptions.ConnectionError("Connection aborted. ConnectionResetError(104)")
    client, sleeps = make_client({"receive": [reset]})
    client.run([ex.call("Get-AuthServer", ["Name"])])
    assert len(FakeProtocol.instances) == 2 and len(sleeps) == 1
    assert all(not p.open for p in FakeProtocol.instances)


def test_401_message_names_user_and_server_without_secret():
    client, _sleeps = make_client({"open_shell": InvalidCredentialsError("the specified credentials were rejected")})
    with pytest.raises(ex.ExchangeConnectionError) as info:
        client.run([ex.call("Get-AuthConfig")])
    msg = info.value.msg
    assert "CONTOSO\\exadmin" in msg and "ex01.contoso.com" in msg and "rejected" in msg
    assert PASSWORD not in msg and PASSWORD not in json.dumps(info.value.details)


def test_tls_failure_says_how_to_fix():
    err = requests.exceptions.SSLError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    client, _sleeps = make_client({"open_shell": err})
    with pytest.raises(ex.ExchangeConnectionError) as info:
        client.run([ex.call("Get-AuthConfig")])
    assert "ca_path" in info.value.msg and "validate_certs" in info.value.msg
    assert len(FakeProtocol.instances) == 1


def test_refused_not_retried():
    err = requests.exceptions.ConnectionError("Failed to establish a new connection: [Errno 111] Connection refused")
    client, sleeps = make_client({"open_shell": err})
    with pytest.raises(ex.ExchangeConnectionError) as info:
        client.run([ex.call("Get-AuthConfig")])
    assert "refused" in info.value.msg and not sleeps


def test_wsman_fault_reason_reported():
    fault = WSManFaultError(
        500,
        "m",
        "<x/>",
        "The WS-Management service cannot process the request.",
        "s:Sender",
        "w:InvalidSelectors",
        2150858843,
        None,
    )
    client, _sleeps = make_client({"run_command": fault})
    with pytest.raises(ex.ExchangeConnectionError) as info:
        client.run([ex.call("Get-AuthConfig")])
    assert "cannot process the request" in info.value.msg and "Command" in info.value.msg


def test_http_503_is_transient():
    client, sleeps = make_client({"open_shell": [WinRMTransportError("http", 503, "busy")]})
    client.run([ex.call("Get-AuthConfig")])
    assert len(sleeps) == 1


def test_snapin_error_kind():
    err = {
        "index": 0,
        "cmdlet": "Get-AuthConfig",
        "kind": "snapin",
        "message": "No snap-ins have been registered",
        "category": "InvalidArgument",
        "fully_qualified_error_id": "AddPSSnapInRead",
    }
    client, _sleeps = make_client({"stdout": envelope(ok=False, error=err), "rc": 1})
    with pytest.raises(ex.ExchangeCommandError) as info:
        client.run([ex.call("Get-AuthConfig")])
    assert "the Exchange cmdlets are not available on ex01.contoso.com" in info.value.msg
    assert info.value.kind == "snapin"


def test_cmdlet_error_structured():
    err = {
        "index": 1,
        "cmdlet": "Set-AuthConfig",
        "kind": "cmdlet",
        "message": "bad thumbprint",
        "category": "InvalidArgument",
        "fully_qualified_error_id": "X,Microsoft.Exchange.SetAuthConfig",
    }
    client, _sleeps = make_client({"stdout": envelope([{"cmdlet": "Get-AuthConfig", "output": []}], ok=False, error=err)})
    with pytest.raises(ex.ExchangeCommandError) as info:
        client.run([ex.call("Get-AuthConfig"), ex.call("Set-AuthConfig", CertificateThumbprint="x")])
    e = info.value
    assert (e.cmdlet, e.index, e.category, e.kind) == ("Set-AuthConfig", 1, "InvalidArgument", "cmdlet")
    assert e.results == [[]] and "Set-AuthConfig failed on ex01.contoso.com: bad thumbprint" in e.msg


def test_envelope_found_after_stray_host_output():
    stdout = b"WARNING: something\r\n" + envelope([{"cmdlet": "Get-AuthConfig", "output": [{"A": 1}]}])
    client, _sleeps = make_client({"stdout": stdout})
    assert client.run([ex.call("Get-AuthConfig", ["A"])]) == [[{"A": 1}]]


def test_no_envelope_reports_stderr():
    client, _sleeps = make_client({"stdout": b"", "rc": 1})
    with pytest.raises(ex.ExchangeCommandError) as info:
        client.run([ex.call("Get-AuthConfig")])
    assert "returned no result" in info.value.msg


def test_large_request_is_chunked():
    client, _sleeps = make_client({})
    client.run([ex.call("Set-AuthServer", Identity="x" * 150000)])
    proto = FakeProtocol.instances[0]
    sends = [entry for entry in proto.log if isinstance(entry, tuple)]
    assert len(sends) > 1 and sends[-1] == ("send", True) and all(not end for _op, end in sends[:-1])
    assert json.loads(rs.split_stdin(proto.stdin)[1])["calls"][0]["parameters"]["Identity"] == "x" * 150000


def test_call_refuses_non_data_values():
    with pytest.raises(ex.ExchangeInputError):
        ex.call("Get-AuthServer", Identity={"a": 1})
    with pytest.raises(ex.ExchangeInputError):
        ex.call("Get-AuthServer", ErrorAction="Continue")
    with pytest.raises(ex.ExchangeInputError):
        ex.call("Get-AuthServer", **{"Bad name": 1})


def test_helpers():
    assert ex.version_tuple({"Major": 15, "Minor": 0, "Build": 775, "Revision": 38}) == (15, 0, 775, 38)
    assert ex.version_tuple("Version 15.0 (Build 712.24)") == (15, 0, 712, 24)
    assert ex.meets_push_minimum((15, 0, 775, 38)) and not ex.meets_push_minimum((15, 0, 712, 24))
    assert ex.normalize_thumbprint("\u200eab cd" + "0" * 36) == "ABCD" + "0" * 36
    with pytest.raises(ex.ExchangeInputError) as info:
        ex.normalize_thumbprint("xyz")
    assert "thumbprint" in info.value.msg
    assert ex.is_domain_name("contoso.onmicrosoft.com") and not ex.is_domain_name("not a domain")
    assert ex.parse_utc("2026-12-27T00:00:00Z").year == 2026


def test_validate_calls_refuses_domain_name_on_2013():
    with pytest.raises(ex.ExchangeInputError) as info:
        ex.validate_calls(
            [ex.call("New-AuthServer", Name="a", AuthMetadataUrl="https://x", DomainName=["c.com"])],
            (15, 0, 1497, 2),
            "ex2013",
        )
    assert "DomainName" in info.value.msg and "ex2013" in info.value.msg


def test_known_server_version_refuses_calls_before_connecting():
    client, _sleeps = make_client({})
    client.server_version = (15, 0, 1497, 2)
    with pytest.raises(ex.ExchangeInputError) as info:
        client.run(
            [ex.call("Set-AuthServer", Identity="x", ApplicationIdentifier="0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")]
        )
    assert "ApplicationIdentifier" in info.value.msg and FakeProtocol.instances == []
