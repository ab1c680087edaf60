"""The simulated WS-Management/PSRP service against the real, unmodified pypsrp client.

Two endpoints as the project meets them: a WinRM-style ``/wsman`` (Microsoft.PowerShell; NTLM/Negotiate, Kerberos,
Basic on https) and Exchange's ``/PowerShell`` (Microsoft.Exchange; Kerberos only, plain HTTP with Kerberos message
encryption), both fed by a test handler that echoes its ``PipelineRequest`` back as objects.
"""

from __future__ import annotations

import base64
import datetime as dt
import threading
from typing import Any, Iterator, Optional

import pytest
import requests
import spnego
from pypsrp.complex_objects import GenericComplexObject, ObjectMeta
from pypsrp.exceptions import AuthenticationError, WinRMTransportError, WSManFaultError
from pypsrp.powershell import PowerShell, PSInvocationState, RunspacePool
from pypsrp.wsman import WSMan

from hybrid_sim.kdc import KerberosRealm, shared_realm
from hybrid_sim.pki import create_pki
from hybrid_sim.wsman import (
    ACTIONS,
    DEFAULT_CONFIGURATION,
    EXCHANGE_CONFIGURATION,
    PipelineRequest,
    PipelineResult,
    RemoteEnum,
    RemoteError,
    RemoteObject,
    WSManServer,
)

# A user of its own in the shared realm, so that no other test module changes its password.
USER = "CONTOSO\\wsmanadmin"
PASSWORD = "Corr3ct-Horse!"
REALM = "CONTOSO.COM"
PRINCIPAL = "wsmanadmin@" + REALM
FQDN = "ex01.contoso.com"
EXCHANGE_PATH = "PowerShell/?SerializationLevel=Full"
CONCURRENCY = 2
WHEN = dt.datetime(2024, 2, 29, 13, 14, 15, 123456, tzinfo=dt.timezone.utc)
BIG_ITEMS = 42  # x 50 KB = 2.1 MB of output
MAILBOX_TYPES = [
    "Microsoft.Exchange.Data.Directory.Management.Mailbox",
    "Microsoft.Exchange.Data.Directory.ADPresentationObject",
    "Microsoft.Exchange.Data.Directory.ADObject",
    "System.Object",
]


# --- the handler ---------------------------------------------------------------------------------------------------
class Echo:
    """A test PipelineHandler: records every request and answers by cmdlet name (default: the request echoed)."""

    def __init__(self) -> None:
        self.requests: list[PipelineRequest] = []
        self.release = threading.Event()
        self.release.set()
        self.waiting = threading.Event()

    def __call__(self, request: PipelineRequest) -> PipelineResult:
        self.requests.append(request)
        name = request.commands[0].name
        if name == "Get-Typed":
            return PipelineResult(output=[typed_object(), None, "plain", 7])
        if name == "Write-Errors":
            return PipelineResult(
                output=["partial"],
                errors=[
                    RemoteError(
                        "The operation couldn't be performed because object 'nobody' couldn't be found.",
                        category="ObjectNotFound",
                        fully_qualified_error_id="6F3A1C2B,Microsoft.Exchange.Management.RecipientTasks.GetMailbox",
                        target="nobody",
                        exception_type="Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException",
                    )
                ],
            )
        if name == "Fail":
            return PipelineResult(
                output=["before the failure"],
                failed=RemoteError(
                    "A parameter cannot be found that matches parameter name 'Bogus'.",
                    category="InvalidArgument",
                    fully_qualified_error_id="NamedParameterNotFound,Get-Mailbox",
                    exception_type="System.Management.Automation.ParameterBindingException",
                ),
            )
        if name == "Raise":
            raise RuntimeError("handler bug")
        if name == "Get-Big":
            return PipelineResult(output=["%05d" % i + "x" * 49_995 for i in range(BIG_ITEMS)])
        if name == "Wait":
            self.waiting.set()
            self.release.wait(30)
            return PipelineResult(output=["released"])
        return PipelineResult(output=[echo_object(request)])


def echo_object(request: PipelineRequest) -> RemoteObject:
    commands = [
        RemoteObject(
            ["Simulator.Command", "System.Object"],
            {
                "Name": cmd.name,
                "IsScript": cmd.is_script,
                "Parameters": [
                    RemoteObject(["Simulator.Parameter", "System.Object"], {"Name": n, "Value": v}, to_string=n or "")
                    for n, v in cmd.parameters
                ],
            },
            to_string=cmd.name,
        )
        for cmd in request.commands
    ]
    return RemoteObject(
        ["Simulator.PipelineRequest", "System.Object"],
        {
            "ServerName": request.server_name,
            "Configuration": request.configuration,
            "UserName": request.username,
            "RunspacePoolId": request.runspace_pool_id,
            "Commands": commands,
        },
        to_string="echo",
    )


def typed_object() -> RemoteObject:
    return RemoteObject(
        MAILBOX_TYPES,
        {
            "Name": "Jürgen's mailbox",
            "WhenCreated": WHEN,
            "RawData": bytes(range(256)),
            "State": RemoteEnum("Microsoft.Exchange.Data.Directory.Recipient.RecipientTypeDetails", "UserMailbox", 1),
            "Owner": RemoteObject(
                ["Microsoft.Exchange.Data.Directory.ADObjectId", "System.Object"],
                {"Name": "exadmin", "DistinguishedName": "CN=exadmin,CN=Users,DC=contoso,DC=test"},
                to_string="contoso.test/Users/exadmin",
            ),
            "EmailAddresses": ["SMTP:jurgen@contoso.test", "smtp:j@contoso.test"],
            "Table": {"Key": "Value", "Count": 3},
            "Large": 2**40,
            "Negative": -(2**40),
            "Ratio": 0.1,
            "Enabled": True,
            "Nothing": None,
        },
        to_string="Jürgen",
    )


# --- the Kerberos realm ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def realm() -> KerberosRealm:
    """The process's MIT realm (KRB5_CONFIG/KRB5_KTNAME set), with this module's user and the host's service keys."""
    instance = shared_realm()
    assert instance.realm == REALM
    instance.add_user(PRINCIPAL.split("@", 1)[0], PASSWORD)
    instance.add_host(FQDN)  # HTTP/, host/ and WSMAN/
    return instance


# --- servers ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pki(tmp_path_factory: Any) -> Any:
    return create_pki(str(tmp_path_factory.mktemp("pki")))


@pytest.fixture(scope="module")
def echo() -> Echo:
    return Echo()


@pytest.fixture(scope="module")
def server(pki: Any, echo: Echo) -> Iterator[WSManServer]:
    """The WinRM service's endpoint: /wsman, Microsoft.PowerShell, Negotiate + Kerberos + Basic (https)."""
    with WSManServer("EX01", echo, {USER: PASSWORD}, pki=pki) as srv:
        yield srv
        assert srv.open_shells() == []


@pytest.fixture(scope="module")
def exchange(echo: Echo, realm: KerberosRealm) -> Iterator[WSManServer]:
    """IIS-hosted Exchange's endpoint: /PowerShell over plain HTTP, Microsoft.Exchange, Kerberos for HTTP/ only."""
    with WSManServer(
        "EX01",
        echo,
        {USER: PASSWORD},
        pki=None,
        configurations=(EXCHANGE_CONFIGURATION,),
        path="/PowerShell",
        auth_methods=("kerberos",),
        kerberos_service="HTTP",
        max_concurrency_per_user=CONCURRENCY,
    ) as srv:
        yield srv
        assert srv.open_shells() == []


@pytest.fixture(autouse=True)
def _clean(request: Any, echo: Echo) -> Iterator[None]:
    servers = [request.getfixturevalue(name) for name in ("server", "exchange") if name in request.fixturenames]
    for srv in servers:
        srv.clear_faults()
    yield
    echo.release.set()
    for srv in servers:
        srv.clear_faults()
        leaked = srv.open_shells()
        srv.close_all_shells()
        assert leaked == [], "the test left runspace pools open on %s" % srv.path


def ntlm_wsman(server: WSManServer, pki: Any, **kwargs: Any) -> WSMan:
    args: dict[str, Any] = dict(
        port=server.https_port,
        ssl=True,
        auth="ntlm",
        username=USER,
        password=PASSWORD,
        cert_validation=pki.ca_path,
    )
    args.update(kwargs)
    return WSMan("127.0.0.1", **args)


def kerberos_wsman(server: WSManServer, password: Optional[str] = PASSWORD, **kwargs: Any) -> WSMan:
    args: dict[str, Any] = dict(
        port=server.http_port,
        path=EXCHANGE_PATH,
        ssl=False,
        auth="kerberos",
        negotiate_service="HTTP",
        negotiate_hostname_override=FQDN,
        encryption="always",
    )
    if password is not None:
        args.update(username=PRINCIPAL, password=password)
    args.update(kwargs)
    return WSMan("127.0.0.1", **args)


def invoke(wsman: WSMan, cmdlet: str, configuration: str = DEFAULT_CONFIGURATION, **parameters: Any) -> list[Any]:
    with wsman, RunspacePool(wsman, configuration_name=configuration) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet(cmdlet)
        for name, value in parameters.items():
            ps.add_parameter(name, value)
        output = ps.invoke()
        ps.close()
        return output


def invoke_closing(wsman: WSMan, cmdlet: str) -> list[Any]:
    """Like ``invoke`` but closes the pool whatever fails, also when open() itself fails after Create."""
    pool = RunspacePool(wsman)
    try:
        pool.open()
        ps = PowerShell(pool)
        ps.add_cmdlet(cmdlet)
        return ps.invoke()
    finally:
        pool.close()
        wsman.close()


def since(server: WSManServer, start: int, action: Optional[str] = None) -> list[dict[str, Any]]:
    return [r for r in server.requests[start:] if action is None or r["action"] == action]


# --- round trips -------------------------------------------------------------------------------------------------
def test_ntlm_over_https_round_trip(server: WSManServer, pki: Any, echo: Echo) -> None:
    start = len(server.requests)
    with ntlm_wsman(server, pki) as wsman, RunspacePool(wsman) as pool:
        opened = server.open_shells()
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-ExchangeServer").add_parameter("Identity", "EX01").add_argument("positional")
        ps.add_cmdlet("Select-Object").add_parameter("Property", ["Name", "AdminDisplayVersion"])
        output = ps.invoke()
        ps.close()
    request = echo.requests[-1]
    assert (request.server_name, request.configuration, request.username) == ("EX01", DEFAULT_CONFIGURATION, USER)
    assert request.runspace_pool_id == pool.id
    assert [(c.name, c.is_script, c.parameters) for c in request.commands] == [
        ("Get-ExchangeServer", False, (("Identity", "EX01"), (None, "positional"))),
        ("Select-Object", False, (("Property", ["Name", "AdminDisplayVersion"]),)),
    ]
    # The same request as the client reads it back.
    (echoed,) = output
    assert echoed.types == ["Simulator.PipelineRequest", "System.Object"]
    assert echoed.adapted_properties["UserName"] == USER
    assert [str(c) for c in echoed.adapted_properties["Commands"]] == ["Get-ExchangeServer", "Select-Object"]
    assert opened == [
        {
            "id": pool.id,
            "shell_id": pool.id,
            "owner": USER,
            "configuration": DEFAULT_CONFIGURATION,
            "resource_uri": "http://schemas.microsoft.com/powershell/Microsoft.PowerShell",
            "created": opened[0]["created"],
            "auth": "ntlm",
            "pipelines": [],
        }
    ]
    log = since(server, start)
    assert [r["action"] for r in log] == ["Create", "Receive", "Command", "Receive", "Signal", "Delete"]
    assert {(r["scheme"], r["encrypted"], r["auth"], r["configuration"], r["user"]) for r in log} == {
        ("https", False, "ntlm", DEFAULT_CONFIGURATION, USER)
    }
    assert server.open_shells() == []


def test_kerberos_http_encrypted_from_password(exchange: WSManServer, echo: Echo) -> None:
    start = len(exchange.requests)
    output = invoke(kerberos_wsman(exchange), "Get-Mailbox", EXCHANGE_CONFIGURATION, Identity="jurgen")
    assert output[0].adapted_properties["UserName"] == USER  # wsmanadmin@CONTOSO.COM -> CONTOSO\wsmanadmin
    assert echo.requests[-1].configuration == EXCHANGE_CONFIGURATION
    assert echo.requests[-1].commands[0].parameters == (("Identity", "jurgen"),)
    log = since(exchange, start)
    assert log and {(r["scheme"], r["encrypted"], r["auth"], r["configuration"]) for r in log} == {
        ("http", True, "kerberos", EXCHANGE_CONFIGURATION)
    }


def test_kerberos_http_encrypted_from_ticket_cache(
    exchange: WSManServer, realm: KerberosRealm, tmp_path: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("KRB5CCNAME", realm.kinit(PRINCIPAL, PASSWORD, str(tmp_path / "ccache")))
    output = invoke(kerberos_wsman(exchange, password=None), "Get-ExchangeServer", EXCHANGE_CONFIGURATION)
    assert output[0].adapted_properties["UserName"] == USER
    assert exchange.requests[-1]["auth"] == "kerberos" and exchange.requests[-1]["encrypted"]


def test_kerberos_inside_negotiate_on_the_default_endpoint(server: WSManServer, realm: KerberosRealm) -> None:
    # The WinRM service's SPN is host/ (pypsrp 0.9's default service); Negotiate carries the Kerberos token.
    wsman = WSMan(
        "127.0.0.1",
        port=server.http_port,
        ssl=False,
        auth="negotiate",
        username=PRINCIPAL,
        password=PASSWORD,
        negotiate_hostname_override=FQDN,
        encryption="always",
    )
    output = invoke(wsman, "Get-Service")
    assert output[0].adapted_properties["UserName"] == USER
    assert (server.requests[-1]["auth"], server.requests[-1]["encrypted"]) == ("kerberos", True)


def test_parameters_arrive_exactly(server: WSManServer, pki: Any, echo: Echo) -> None:
    hostile = {
        "Quotes": 'it\'s "quoted" \u2018curly\u2019',
        "Subexpression": "$(Remove-Item C:\\ -Recurse) ${env:PATH} @(1) ; | & exit",
        "Backticks": "`n`r`t`0 ``",
        "Newlines": "line1\r\nline2\nline3\r",
        "Controls": "nul\x00bel\x07esc\x1b del\x7f",
        "Unicode": "Jürgen Größe — 東京 😀 \u200b",
        "EscapeLookalike": "_x0041_ _X0041_ _x00",
        "Xml": '<Obj RefId="0"/> ]]> &amp;',
        "Large": "é" * 100_000,
        "Empty": "",
    }
    # (pypsrp writes every Python int as <I32>: a value beyond Int32 is refused, as PowerShell's deserializer would.)
    typed = {"Count": 5, "Max": 2**31 - 1, "Negative": -3, "Enabled": True, "Disabled": False, "Switch": None}
    nested = {"List": ["a", 1, None, ["b"]], "Table": {"k": "v", "n": 2}}
    with ntlm_wsman(server, pki) as wsman, RunspacePool(wsman) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Set-Mailbox")
        for name, value in {**hostile, **typed, **nested}.items():
            ps.add_parameter(name, value)
        output = ps.invoke()
        ps.close()
    assert echo.requests[-1].commands[0].parameters == tuple({**hostile, **typed, **nested}.items())
    # And back again through the serializer on both sides.
    returned = {
        p.adapted_properties["Name"]: p.adapted_properties["Value"]
        for p in output[0].adapted_properties["Commands"][0].adapted_properties["Parameters"]
    }
    assert returned == {**hostile, **typed, **nested}


def test_create_pipeline_larger_than_an_envelope_continues_in_send(server: WSManServer, pki: Any, echo: Echo) -> None:
    huge = "z" * 700_000  # more than a 500 KiB envelope: pypsrp sends the rest of CreatePipeline with Send
    start = len(server.requests)
    with ntlm_wsman(server, pki) as wsman, RunspacePool(wsman) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Set-Thing").add_parameter("Value", huge)
        ps.invoke()
        ps.close()
    assert echo.requests[-1].commands[0].parameters == (("Value", huge),)
    actions = [r["action"] for r in since(server, start)]
    assert actions.index("Command") < actions.index("Send") < actions.index("Receive", actions.index("Command"))


def test_script_and_secure_string(server: WSManServer, pki: Any, echo: Echo) -> None:
    with ntlm_wsman(server, pki) as wsman, RunspacePool(wsman) as pool:
        pool.exchange_keys()  # PSRP's session key, so that the SecureString can be decrypted server-side
        ps = PowerShell(pool)
        ps.add_script("Get-Date | Out-String").add_parameter("Secret", pool.serialize("s3cr3t ü", ObjectMeta("SS")))
        ps.invoke()
        ps.close()
    command = echo.requests[-1].commands[0]
    assert (command.name, command.is_script, command.parameters) == (
        "Get-Date | Out-String",
        True,
        (("Secret", "s3cr3t ü"),),
    )


def test_typed_output_deserializes_in_pypsrp(server: WSManServer, pki: Any) -> None:
    mailbox, nothing, plain, number = invoke(ntlm_wsman(server, pki), "Get-Typed")
    assert isinstance(mailbox, GenericComplexObject)
    # Live type names (no "Deserialized."), adapted properties, no notes added by the server.
    assert mailbox.types == MAILBOX_TYPES
    assert str(mailbox) == "Jürgen"
    assert mailbox.extended_properties == {}
    props = mailbox.adapted_properties
    assert props["Name"] == "Jürgen's mailbox"
    assert props["WhenCreated"] == "2024-02-29T13:14:15.123456Z"  # pypsrp keeps DateTime as the CLIXML text
    assert props["RawData"] == bytes(range(256))  # byte[] arrives as bytes
    state = props["State"]  # an enum: an object whose ToString is the name and whose value is the int
    assert isinstance(state, GenericComplexObject)
    assert (str(state), state.property_sets) == ("UserMailbox", [1])
    assert state.types == [
        "Microsoft.Exchange.Data.Directory.Recipient.RecipientTypeDetails",
        "System.Enum",
        "System.ValueType",
        "System.Object",
    ]
    owner = props["Owner"]
    assert str(owner) == "contoso.test/Users/exadmin"
    assert owner.adapted_properties == {
        "Name": "exadmin",
        "DistinguishedName": "CN=exadmin,CN=Users,DC=contoso,DC=test",
    }
    assert props["EmailAddresses"] == ["SMTP:jurgen@contoso.test", "smtp:j@contoso.test"]
    assert props["Table"] == {"Key": "Value", "Count": 3}
    assert (props["Large"], props["Negative"], props["Ratio"]) == (2**40, -(2**40), 0.1)
    assert (props["Enabled"], props["Nothing"]) == (True, None)
    assert (nothing, plain, number) == (None, "plain", 7)


def test_error_stream(server: WSManServer, pki: Any) -> None:
    with ntlm_wsman(server, pki) as wsman, RunspacePool(wsman) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Write-Errors")
        output = ps.invoke()
        ps.close()
    assert output == ["partial"]
    # Non-terminating: the pipeline completes and pypsrp does not set had_errors.
    assert (ps.state, ps.had_errors) == (PSInvocationState.COMPLETED, False)
    (error,) = ps.streams.error
    assert str(error) == "The operation couldn't be performed because object 'nobody' couldn't be found."
    assert error.fq_error == "6F3A1C2B,Microsoft.Exchange.Management.RecipientTasks.GetMailbox"
    assert (error.reason, error.target_name, error.target_object) == (
        "ManagementObjectNotFoundException",
        "nobody",
        "nobody",
    )
    assert error.category == 13  # ErrorCategory.ObjectNotFound


def test_failed_pipeline_sets_had_errors(server: WSManServer, pki: Any) -> None:
    with ntlm_wsman(server, pki) as wsman, RunspacePool(wsman) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Fail")
        output = ps.invoke()  # pypsrp does not raise for a Failed pipeline
        ps.close()
    assert output == ["before the failure"]
    assert (ps.state, ps.had_errors) == (PSInvocationState.FAILED, True)
    assert [str(e) for e in ps.streams.error] == ["A parameter cannot be found that matches parameter name 'Bogus'."]
    assert ps.streams.error[0].fq_error == "NamedParameterNotFound,Get-Mailbox"


def test_handler_exception_fails_the_pipeline(exchange: WSManServer) -> None:
    with kerberos_wsman(exchange) as wsman, RunspacePool(wsman, configuration_name=EXCHANGE_CONFIGURATION) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Raise")
        ps.invoke()
        ps.close()
        # The pool survives a failed pipeline.
        ok = PowerShell(pool)
        ok.add_cmdlet("Get-Thing")
        assert ok.invoke()[0].adapted_properties["ServerName"] == "EX01"
        ok.close()
    assert ps.had_errors
    assert [str(e) for e in ps.streams.error] == ["simulator handler failed: RuntimeError('handler bug')"]


def test_max_envelope_size_honoured_for_large_output(server: WSManServer, pki: Any) -> None:
    start = len(server.requests)
    output = invoke(ntlm_wsman(server, pki), "Get-Big")
    assert output == ["%05d" % i + "x" * 49_995 for i in range(BIG_ITEMS)]
    receives = [r for r in since(server, start, "Receive") if r["configuration"]]
    assert len(receives) >= 5  # 2.1 MB over 500 KiB envelopes
    assert all(r["reply_bytes"] <= r["max_envelope_size"] for r in receives)
    assert {r["max_envelope_size"] for r in receives[1:]} == {512000}  # raised by pypsrp after SessionCapability


def test_small_client_envelope_is_honoured(server: WSManServer, pki: Any) -> None:
    # max_envelope_size != 153600 keeps pypsrp from raising it: every reply must fit 50 KiB.
    start = len(server.requests)
    output = invoke(ntlm_wsman(server, pki, max_envelope_size=51200), "Get-Typed")
    assert str(output[0]) == "Jürgen"
    output = invoke(ntlm_wsman(server, pki, max_envelope_size=51200), "Get-Big")
    assert len(output) == BIG_ITEMS
    receives = since(server, start, "Receive")
    assert len(receives) > 40
    assert {r["max_envelope_size"] for r in receives} == {51200}
    assert max(r["reply_bytes"] for r in receives) <= 51200


def test_update_max_payload_size_reads_the_config(server: WSManServer, pki: Any) -> None:
    with ntlm_wsman(server, pki) as wsman:
        wsman.update_max_payload_size()
        assert wsman.max_envelope_size == server.max_envelope_size_kb * 1024
    assert server.requests[-1]["action"] == "Get" and server.requests[-1]["status"] == 200


# --- authentication and endpoints ------------------------------------------------------------------------------------
def test_challenges_list_exactly_the_enabled_methods(server: WSManServer, exchange: WSManServer, pki: Any) -> None:
    headers = requests.post(server.https_url, data=b"", verify=pki.ca_path, timeout=10).headers
    assert headers["WWW-Authenticate"] == 'Negotiate, Kerberos, Basic realm="WSMAN"'
    headers = requests.post(server.http_url, data=b"", timeout=10).headers
    assert headers["WWW-Authenticate"] == "Negotiate, Kerberos"  # Basic only on https (AllowUnencrypted=false)
    headers = requests.post(exchange.http_url, data=b"", timeout=10).headers
    assert headers["WWW-Authenticate"] == "Kerberos"


def test_ntlm_refused_on_the_kerberos_only_endpoint(exchange: WSManServer) -> None:
    wsman = WSMan(
        "127.0.0.1",
        port=exchange.http_port,
        path=EXCHANGE_PATH,
        ssl=False,
        auth="ntlm",
        username=USER,
        password=PASSWORD,
    )
    with pytest.raises(ValueError) as info:
        with wsman, RunspacePool(wsman, configuration_name=EXCHANGE_CONFIGURATION):
            pass
    assert str(info.value) == (
        "Server responded with the auth protocol 'Kerberos' which is incompatible with the specified "
        "auth_provider 'ntlm'"
    )
    # A client that sends an NTLM token anyway (scheme Negotiate) gets 401 and the Kerberos challenge.
    token = spnego.client(USER, PASSWORD, protocol="ntlm").step()
    response = requests.post(
        exchange.http_url,
        data=b"",
        headers={"Authorization": "Negotiate " + base64.b64encode(token).decode()},
        timeout=10,
    )
    assert (response.status_code, response.headers["WWW-Authenticate"]) == (401, "Kerberos")


def test_kerberos_ticket_for_another_service_is_refused(
    exchange: WSManServer, server: WSManServer, realm: KerberosRealm
) -> None:
    # A host/ ticket is valid in the realm but not for Exchange's HTTP/ endpoint (kerberos_service="HTTP") ...
    with pytest.raises(AuthenticationError):
        invoke(kerberos_wsman(exchange, negotiate_service="host"), "Get-Mailbox", EXCHANGE_CONFIGURATION)
    # ... while the default endpoint takes any key in the keytab.
    output = invoke(kerberos_wsman(server, negotiate_service="host", path="wsman"), "Get-Service")
    assert output[0].adapted_properties["UserName"] == USER


def test_kerberos_wrong_password(exchange: WSManServer) -> None:
    with pytest.raises(Exception) as info:
        invoke(kerberos_wsman(exchange, password="wrong"), "Get-Mailbox", EXCHANGE_CONFIGURATION)
    assert "Preauthentication failed" in str(info.value)


def test_kerberos_clock_skew_is_reported_from_the_servers_error_token(
    exchange: WSManServer, realm: KerberosRealm, tmp_path: Any, monkeypatch: Any
) -> None:
    ccache = realm.kinit(PRINCIPAL, PASSWORD, str(tmp_path / "skewed"))
    monkeypatch.setenv("KRB5CCNAME", ccache)
    invoke(kerberos_wsman(exchange, password=None), "Get-Mailbox", EXCHANGE_CONFIGURATION)  # caches the HTTP/ ticket
    # The client now believes the clock is an hour ahead. The KDC is not asked again (the service ticket is cached),
    # so only the acceptor's KRB-ERROR in the server's 401 can tell the client why it failed.
    realm.skew_ccache(ccache, 3600)
    with pytest.raises(Exception) as info:
        invoke(kerberos_wsman(exchange, password=None), "Get-Mailbox", EXCHANGE_CONFIGURATION)
    assert "Clock skew too great" in str(info.value)


def test_unencrypted_kerberos_over_http_gets_500(exchange: WSManServer) -> None:
    with pytest.raises(WinRMTransportError) as info:
        invoke(kerberos_wsman(exchange, encryption="never"), "Get-Mailbox", EXCHANGE_CONFIGURATION)
    assert info.value.code == 500


def test_basic_over_https_and_bad_passwords(server: WSManServer, pki: Any) -> None:
    output = invoke(ntlm_wsman(server, pki, auth="basic"), "Get-Thing")
    assert output[0].adapted_properties["UserName"] == USER and server.requests[-1]["auth"] == "basic"
    for auth in ("basic", "ntlm"):
        with pytest.raises(AuthenticationError):
            invoke(ntlm_wsman(server, pki, auth=auth, password="wrong"), "Get-Thing")
    with pytest.raises(ValueError):  # pypsrp itself refuses Basic on http unless encryption="never"
        invoke(WSMan("127.0.0.1", port=server.http_port, ssl=False, auth="basic", username=USER, password="x"), "x")
    with pytest.raises(AuthenticationError):  # and the server refuses it on http (AllowUnencrypted=false)
        basic_http = WSMan(
            "127.0.0.1",
            port=server.http_port,
            ssl=False,
            auth="basic",
            username=USER,
            password=PASSWORD,
            encryption="never",
        )
        invoke(basic_http, "x")


def test_principal_maps_to_the_canonical_user(server: WSManServer) -> None:
    for spelling in (PRINCIPAL, "wsmanadmin@contoso.com", "contoso\\WSMANADMIN", "WsmanAdmin", USER):
        assert server.canonical_user(spelling) == USER
    assert server.canonical_user("someone@CONTOSO.COM") == "someone@CONTOSO.COM"
    # A user of that name in another NetBIOS domain is not ours.
    assert server.canonical_user("OTHER\\wsmanadmin") == "OTHER\\wsmanadmin"


@pytest.mark.parametrize("path", ["wsman", "WSMAN/", "wsman?PSVersion=5.1"])
def test_path_matching_ignores_case_slash_and_query(server: WSManServer, pki: Any, path: str) -> None:
    assert str(invoke(ntlm_wsman(server, pki, path=path), "Get-Typed")[0]) == "Jürgen"


def test_wrong_path_is_404(server: WSManServer, exchange: WSManServer, pki: Any) -> None:
    with pytest.raises(WinRMTransportError) as info:
        invoke(ntlm_wsman(server, pki, path="PowerShell"), "Get-Thing")
    assert info.value.code == 404
    with pytest.raises(WinRMTransportError) as info:
        invoke(kerberos_wsman(exchange, path="wsman"), "Get-Mailbox", EXCHANGE_CONFIGURATION)
    assert info.value.code == 404


def test_wrong_resource_uri_fault(server: WSManServer, exchange: WSManServer, pki: Any) -> None:
    # Exchange's configuration on the WinRM service's /wsman: what pypsrp #41/#47 show against a real host.
    with pytest.raises(WSManFaultError) as info:
        invoke(ntlm_wsman(server, pki), "Get-Mailbox", EXCHANGE_CONFIGURATION)
    assert info.value.code == 2150858770
    assert info.value.reason.startswith(
        "The WS-Management service cannot process the request. The resource URI "
        "(http://schemas.microsoft.com/powershell/Microsoft.Exchange) was not found in the WS-Management catalog."
    )
    with pytest.raises(WSManFaultError) as info:
        invoke(kerberos_wsman(exchange), "Get-Process")  # Microsoft.PowerShell is not served by Exchange's vdir
    assert info.value.code == 2150858770 and "(http://schemas.microsoft.com/powershell/Microsoft.PowerShell)" in str(
        info.value.reason
    )


# --- limits, faults and the pool table -------------------------------------------------------------------------------
def test_concurrency_limit(exchange: WSManServer) -> None:
    wsmans = [kerberos_wsman(exchange) for _index in range(CONCURRENCY + 1)]
    pools = [RunspacePool(w, configuration_name=EXCHANGE_CONFIGURATION) for w in wsmans]
    try:
        for pool in pools[:CONCURRENCY]:
            pool.open()
        assert len(exchange.open_shells()) == CONCURRENCY
        with pytest.raises(WSManFaultError) as info:
            pools[CONCURRENCY].open()
        assert info.value.reason == (
            "Fail to create a runspace because you have exceeded the maximum number of connections allowed : %d for "
            "the policy party : MaxConcurrency. Please close existing runspace and try again." % CONCURRENCY
        )
        pools[0].close()
        retry = RunspacePool(wsmans[CONCURRENCY], configuration_name=EXCHANGE_CONFIGURATION)
        retry.open()  # a freed slot can be used again
        retry.close()
    finally:
        for pool in pools:
            pool.close()
        for wsman in wsmans:
            wsman.close()


def test_shell_quota(pki: Any, echo: Echo) -> None:
    with WSManServer("EX03", echo, {USER: PASSWORD}, pki=pki, max_shells_per_user=2) as srv:
        wsman = ntlm_wsman(srv, pki)
        pools = [RunspacePool(wsman) for _index in range(3)]
        pools[0].open()
        pools[1].open()
        with pytest.raises(WSManFaultError) as info:
            pools[2].open()
        assert info.value.code == "w:InternalError"  # MSFT_WmiError detail: pypsrp keeps the subcode
        assert "maximum number of 2 concurrent shells" in info.value.reason
        for pool in pools:
            pool.close()
        wsman.close()
        assert srv.open_shells() == []


@pytest.mark.parametrize(
    "action, kind, check",
    [
        ("Create", "http500", lambda e: e.code == 0x80004005 and "injected" in e.reason),
        ("Create", "throttled", lambda e: e.reason.startswith("Fail to create a runspace") and ": 18 " in e.reason),
        ("Create", "shell_quota", lambda e: "concurrent shells" in e.reason),
        ("Command", "operation_quota", lambda e: "concurrent operations" in e.reason),
        ("Receive", "timed_out", lambda e: e.code == 2150858793),  # the pool's Receive in open(): not swallowed
    ],
)
def test_injected_faults(pki: Any, echo: Echo, action: str, kind: str, check: Any) -> None:
    with WSManServer("EX05", echo, {USER: PASSWORD}, pki=pki) as srv:
        srv.inject(action, kind)
        with pytest.raises(WSManFaultError) as info:
            invoke_closing(ntlm_wsman(srv, pki), "Get-Thing")
        assert check(info.value), info.value
        assert srv.pending_faults() == []
        assert srv.open_shells() == []  # closed by the client after the fault, or never opened


@pytest.mark.parametrize("action", ["Create", "Command", "Send", "Receive", "Signal", "Delete", "Get"])
def test_injected_reset_on_each_action(server: WSManServer, pki: Any, action: str) -> None:
    server.inject(action, "reset")
    wsman = ntlm_wsman(server, pki)
    pool = RunspacePool(wsman)
    try:
        with pytest.raises(requests.exceptions.ConnectionError):
            wsman.update_max_payload_size()  # Get
            pool.open()  # Create, Receive
            pool.exchange_keys()  # Send, Receive
            ps = PowerShell(pool)
            ps.add_cmdlet("Get-Thing")
            ps.invoke()  # Command, Receive
            ps.close()  # Signal
            pool.close()  # Delete
    finally:
        pool.close()  # on a fresh connection; sends the Delete again if that was the one reset
        wsman.close()
    assert server.pending_faults() == []


def test_injected_timed_out_on_a_pipeline_receive_is_retried(server: WSManServer, pki: Any) -> None:
    with ntlm_wsman(server, pki) as wsman, RunspacePool(wsman) as pool:
        server.inject("Receive", "timed_out", count=2)
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-Typed")
        output = ps.invoke()  # poll_invoke swallows 2150858793
        ps.close()
    assert str(output[0]) == "Jürgen"
    assert server.pending_faults() == []


def test_receive_long_poll_times_out_only_while_nothing_is_queued(server: WSManServer, pki: Any, echo: Echo) -> None:
    echo.release.clear()
    echo.waiting.clear()
    start = len(server.requests)
    with ntlm_wsman(server, pki) as wsman, RunspacePool(wsman) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Wait")
        ps.begin_invoke()
        assert echo.waiting.wait(10)
        ps.poll_invoke(timeout=1)  # nothing queued: TimedOut after OperationTimeout, swallowed by pypsrp
        assert ps.state == PSInvocationState.RUNNING and ps.output == []
        with pytest.raises(WSManFaultError) as info:
            pool._receive(timeout=1)  # pylint: disable=protected-access # the pool's own Receive: not swallowed
        assert info.value.code == 2150858793
        echo.release.set()
        assert ps.end_invoke() == ["released"]
        ps.close()
    statuses = [r["status"] for r in since(server, start, "Receive")]
    assert statuses.count(500) == 2 and statuses[-1] == 200


def test_stop_a_running_pipeline(server: WSManServer, pki: Any, echo: Echo) -> None:
    echo.release.clear()
    echo.waiting.clear()
    with ntlm_wsman(server, pki) as wsman, RunspacePool(wsman) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Wait")
        ps.begin_invoke()
        assert echo.waiting.wait(10)
        assert server.open_shells()[0]["pipelines"] == [ps.id]
        ps.stop()  # Signal powershell/signal/ctrl_c: stopped and forgotten
        assert server.open_shells()[0]["pipelines"] == []
        echo.release.set()
        ps.close()  # the Terminate that follows for the forgotten pipeline is accepted
        again = PowerShell(pool)
        again.add_cmdlet("Get-Typed")
        assert str(again.invoke()[0]) == "Jürgen"  # the pool is still usable
        again.close()


def test_no_pool_is_left_after_a_server_side_delete(server: WSManServer, pki: Any) -> None:
    with ntlm_wsman(server, pki) as wsman:
        pool = RunspacePool(wsman)
        pool.open()
        assert [s["id"] for s in server.open_shells()] == [pool.id]
        assert pool.is_alive()  # WS-Man Get on the shell
        assert server.close_all_shells() == 1  # what an idle timeout or an IIS recycle does
        assert server.open_shells() == []
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-Thing")
        with pytest.raises(WSManFaultError) as info:
            ps.invoke()
        assert info.value.code == 2150858843  # the shell was not found
        assert not pool.is_alive()  # pypsrp reads InvalidSelectors as closed
        pool.close()  # nothing left to delete


def test_unknown_action_fault(server: WSManServer, pki: Any) -> None:
    with ntlm_wsman(server, pki) as wsman:
        with pytest.raises(WSManFaultError) as info:
            wsman.invoke("http://schemas.xmlsoap.org/ws/2004/09/transfer/Frobnicate", "http://example/x", None)
    assert info.value.code == "a:ActionNotSupported"


def test_constructor_and_inject_validate(echo: Echo) -> None:
    with pytest.raises(ValueError):
        WSManServer("EX09", echo, {}, auth_methods=("digest",))
    legacy = WSManServer("EX09", echo, {}, latency_process=0.25)
    assert legacy.latency_pool_open == legacy.latency_process == 0.25
    legacy.latency_process = 0.0
    assert legacy.latency_pool_open == 0.0
    assert "Get" in ACTIONS
    with pytest.raises(ValueError):
        legacy.inject("Frobnicate", "reset")
    with pytest.raises(ValueError):
        legacy.inject("Create", "explode")
