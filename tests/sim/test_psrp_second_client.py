"""A second, independent PSRP client for the simulator: psrpcore's client side over a minimal WS-Man client.

pypsrp and the simulator's server both could share a misreading of the protocol; this client shares no code with
pypsrp. Its WS-Man layer is written here with ``requests`` (Basic over https, its own prefixes, SOAP by hand), the
PSRP layer is psrpcore's ``ClientRunspacePool``/``ClientPowerShell``.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
import xml.etree.ElementTree as ET
from typing import Any, Iterator, Optional
from xml.sax.saxutils import escape

import psrpcore
import pytest
import requests
from psrpcore.types import PSInvocationState, RunspacePoolState

from hybrid_sim.pki import create_pki
from hybrid_sim.wsman import (
    EXCHANGE_CONFIGURATION,
    PipelineRequest,
    PipelineResult,
    RemoteEnum,
    RemoteError,
    RemoteObject,
    WSManServer,
)

USER = "CONTOSO\\exadmin"
PASSWORD = "Corr3ct-Horse!"
NS = {
    "env": "http://www.w3.org/2003/05/soap-envelope",
    "wsa": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "wsman": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "shell": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "wst": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "fault": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
}
SHELL = NS["shell"]
RESOURCE = "http://schemas.microsoft.com/powershell/" + EXCHANGE_CONFIGURATION
DONE = SHELL + "/CommandState/Done"


class Fault(Exception):
    def __init__(self, status: int, code: Optional[str], reason: str) -> None:
        super().__init__("%s %s: %s" % (status, code, reason))
        self.status, self.code, self.reason = status, code, reason


class MiniWSMan:
    """Just enough WS-Management for one runspace pool: Create, Command, Send, Receive, Signal, Delete."""

    def __init__(self, url: str, ca_path: str, max_envelope: int = 512000, resource: str = RESOURCE) -> None:
        self.url = url
        self.resource = resource
        self.max_envelope = max_envelope
        self.http = requests.Session()
        self.http.auth = (USER, PASSWORD)
        self.ca_path = ca_path
        self.shell_id: Optional[str] = None

    def call(self, action: str, body: str, options: str = "", command_timeout: int = 20) -> ET.Element:
        message_id = "uuid:" + str(uuid.uuid4()).upper()
        selector = (
            '<wsman:SelectorSet><wsman:Selector Name="ShellId">%s</wsman:Selector></wsman:SelectorSet>' % self.shell_id
            if self.shell_id
            else ""
        )
        envelope = (
            '<env:Envelope xmlns:env="%(env)s" xmlns:wsa="%(wsa)s" xmlns:wsman="%(wsman)s" xmlns:shell="%(shell)s">'
            % NS
            + "<env:Header>"
            + "<wsa:To>%s</wsa:To>" % escape(self.url)
            + '<wsa:ReplyTo><wsa:Address env:mustUnderstand="true">'
            "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:Address></wsa:ReplyTo>"
            + '<wsa:Action env:mustUnderstand="true">%s</wsa:Action>' % action
            + '<wsman:MaxEnvelopeSize env:mustUnderstand="true">%d</wsman:MaxEnvelopeSize>' % self.max_envelope
            + "<wsa:MessageID>%s</wsa:MessageID>" % message_id
            + '<wsman:ResourceURI env:mustUnderstand="true">%s</wsman:ResourceURI>' % self.resource
            + "<wsman:OperationTimeout>PT%dS</wsman:OperationTimeout>" % command_timeout
            + selector
            + options
            + "</env:Header><env:Body>%s</env:Body></env:Envelope>" % body
        )
        # verify per request: requests lets REQUESTS_CA_BUNDLE (set on this machine) win over Session.verify.
        response = self.http.post(
            self.url,
            data=envelope.encode("utf-8"),
            headers={"Content-Type": "application/soap+xml;charset=UTF-8"},
            verify=self.ca_path,
        )
        root = ET.fromstring(response.content)
        assert root.findtext("env:Header/wsa:RelatesTo", namespaces=NS) == message_id
        if response.status_code != 200:
            detail = root.find(".//fault:WSManFault", NS)
            reason = root.findtext(".//env:Reason/env:Text", default="", namespaces=NS)
            raise Fault(response.status_code, detail.get("Code") if detail is not None else None, reason)
        assert len(response.content) <= self.max_envelope
        return root

    def create(self, shell_id: str, creation: bytes) -> None:
        body = (
            '<shell:Shell ShellId="%s"><shell:InputStreams>stdin pr</shell:InputStreams>'
            "<shell:OutputStreams>stdout</shell:OutputStreams>"
            '<creationXml xmlns="http://schemas.microsoft.com/powershell">%s</creationXml></shell:Shell>'
        ) % (shell_id, base64.b64encode(creation).decode())
        options = (
            '<wsman:OptionSet env:mustUnderstand="true">'
            '<wsman:Option Name="protocolversion" MustComply="true">2.3</wsman:Option></wsman:OptionSet>'
        )
        root = self.call("http://schemas.xmlsoap.org/ws/2004/09/transfer/Create", body, options)
        selector = root.find(".//wst:ResourceCreated/wsa:ReferenceParameters/wsman:SelectorSet/wsman:Selector", NS)
        assert selector is not None and selector.get("Name") == "ShellId"
        self.shell_id = selector.text

    def command(self, command_id: str, first_fragment: bytes) -> str:
        body = '<shell:CommandLine CommandId="%s"><shell:Command/><shell:Arguments>%s</shell:Arguments>' % (
            command_id,
            base64.b64encode(first_fragment).decode(),
        )
        root = self.call(SHELL + "/Command", body + "</shell:CommandLine>")
        return root.findtext("env:Body/shell:CommandResponse/shell:CommandId", namespaces=NS) or ""

    def send(self, data: bytes, command_id: Optional[str] = None) -> None:
        target = ' CommandId="%s"' % command_id if command_id else ""
        body = '<shell:Send><shell:Stream Name="stdin"%s>%s</shell:Stream></shell:Send>' % (
            target,
            base64.b64encode(data).decode(),
        )
        self.call(SHELL + "/Send", body)

    def receive(self, command_id: Optional[str] = None) -> tuple[bytes, bool]:
        target = ' CommandId="%s"' % command_id if command_id else ""
        body = "<shell:Receive><shell:DesiredStream%s>stdout</shell:DesiredStream></shell:Receive>" % target
        root = self.call(SHELL + "/Receive", body)
        data = b"".join(
            base64.b64decode(s.text or "") for s in root.findall("env:Body/shell:ReceiveResponse/shell:Stream", NS)
        )
        state = root.find("env:Body/shell:ReceiveResponse/shell:CommandState", NS)
        return data, state is not None and state.get("State") == DONE

    def signal(self, command_id: str) -> None:
        body = '<shell:Signal CommandId="%s"><shell:Code>%s/signal/terminate</shell:Code></shell:Signal>' % (
            command_id,
            SHELL,
        )
        self.call(SHELL + "/Signal", body)

    def delete(self) -> None:
        self.call("http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete", "")
        self.shell_id = None


class Client:
    """psrpcore's client runspace pool driven over MiniWSMan."""

    def __init__(self, wsman: MiniWSMan) -> None:
        self.wsman = wsman
        self.pool = psrpcore.ClientRunspacePool()

    def open(self) -> None:
        self.pool.open()
        payload = self.pool.data_to_send()
        assert payload is not None and self.pool.data_to_send() is None  # SessionCapability + InitRunspacePool
        self.wsman.create(str(self.pool.runspace_pool_id).upper(), payload.data)
        while self.pool.state != RunspacePoolState.Opened:
            data, _done = self.wsman.receive()
            self._events(data, None)

    def run(self, ps: psrpcore.ClientPowerShell) -> dict[str, Any]:
        ps.start()
        command_id = str(ps.pipeline_id).upper()
        first = self.pool.data_to_send(self.wsman.max_envelope // 2)
        assert first is not None
        assert self.wsman.command(command_id, first.data) == command_id
        while True:
            rest = self.pool.data_to_send(self.wsman.max_envelope // 2)
            if rest is None:
                break
            self.wsman.send(rest.data, command_id)
        result: dict[str, Any] = {"output": [], "errors": [], "state": None, "reason": None, "receives": 0}
        done = False
        while not done:
            data, done = self.wsman.receive(command_id)
            result["receives"] += 1
            for event in self._events(data, ps.pipeline_id):
                if isinstance(event, psrpcore.PipelineOutputEvent):
                    result["output"].append(event.data)
                elif isinstance(event, psrpcore.ErrorRecordEvent):
                    result["errors"].append(event.record)
                elif isinstance(event, psrpcore.PipelineStateEvent):
                    result["state"], result["reason"] = event.state, event.reason
        self.wsman.signal(command_id)
        ps.close()
        return result

    def close(self) -> None:
        if self.wsman.shell_id:
            self.wsman.delete()

    def _events(self, data: bytes, pipeline_id: Optional[uuid.UUID]) -> list[Any]:
        self.pool.receive_data(psrpcore.PSRPPayload(data, psrpcore.StreamType.default, pipeline_id))
        events = []
        while True:
            event = self.pool.next_event()
            if event is None:
                return events
            events.append(event)


# --- the simulator's side --------------------------------------------------------------------------------------------
def handler(request: PipelineRequest) -> PipelineResult:
    command = request.commands[0]
    if command.name == "Get-Big":
        return PipelineResult(output=["%04d" % i + "y" * 19_996 for i in range(60)])
    if command.name == "Get-Statements":
        # How the server side split the commands: one line per statement, its commands joined by " | ".
        return PipelineResult(
            output=[
                " | ".join("%s %s" % (c.name, ",".join("%s=%s" % p for p in c.parameters)) for c in statement)
                for statement in request.statements()
            ]
        )
    if command.name == "Fail":
        return PipelineResult(
            errors=[RemoteError("first, non-terminating", "InvalidData", "First,Fail", target="t1")],
            failed=RemoteError("then terminating", "InvalidOperation", "Second,Fail"),
        )
    return PipelineResult(
        output=[
            RemoteObject(
                ["Microsoft.Exchange.Data.Directory.Management.ExchangeServer", "System.Object"],
                {
                    "Name": request.server_name,
                    "User": request.username,
                    "Configuration": request.configuration,
                    "Parameters": [[name, value] for name, value in command.parameters],
                    "Since": dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc),
                    "Role": RemoteEnum(
                        "Microsoft.Exchange.Data.Directory.SystemConfiguration.ServerRole", "Mailbox", 2
                    ),
                },
                to_string=request.server_name,
            )
        ]
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: Any) -> Iterator[WSManServer]:
    pki = create_pki(str(tmp_path_factory.mktemp("pki")))
    # Exchange's endpoint with Basic enabled (the vdir's BasicAuthentication switch), over https.
    with WSManServer(
        "EX02",
        handler,
        {USER: PASSWORD},
        pki=pki,
        http=False,
        configurations=(EXCHANGE_CONFIGURATION,),
        path="/PowerShell",
        auth_methods=("kerberos", "basic"),
        kerberos_service="HTTP",
    ) as srv:
        srv.ca_path = pki.ca_path  # type: ignore[attr-defined]
        yield srv


@pytest.fixture
def client(server: WSManServer) -> Iterator[Client]:
    url = "https://127.0.0.1:%d/PowerShell/?SerializationLevel=Full" % server.https_port
    instance = Client(MiniWSMan(url, server.ca_path))  # type: ignore[attr-defined]
    yield instance
    instance.close()
    assert server.open_shells() == []


def test_one_cmdlet_and_its_output(server: WSManServer, client: Client) -> None:
    client.open()
    assert server.open_shells()[0]["configuration"] == EXCHANGE_CONFIGURATION
    ps = psrpcore.ClientPowerShell(client.pool)
    since = dt.datetime(2024, 12, 24, 18, 30, 15, 250000, tzinfo=dt.timezone.utc)
    ps.add_command("Get-ExchangeServer").add_parameter("Identity", "EX02").add_parameter("Since", since)
    ps.add_parameter("Status", True)
    result = client.run(ps)
    assert result["state"] == PSInvocationState.Completed and result["errors"] == []
    (obj,) = result["output"]
    # psrpcore adds "Deserialized." on its side, as PowerShell's own client does: the server sent the live names.
    assert obj.PSTypeNames == [
        "Deserialized.Microsoft.Exchange.Data.Directory.Management.ExchangeServer",
        "Deserialized.System.Object",
    ]
    assert str(obj) == "EX02"
    assert (obj.Name, obj.User, obj.Configuration) == ("EX02", USER, EXCHANGE_CONFIGURATION)
    # psrpcore can send a DateTime parameter (pypsrp cannot): it reaches the handler as an aware UTC datetime.
    assert [list(p) for p in obj.Parameters] == [["Identity", "EX02"], ["Since", since], ["Status", True]]
    assert obj.Since == dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    assert (str(obj.Role), int(obj.Role)) == ("Mailbox", 2)
    assert {r["auth"] for r in server.requests} == {"basic"}


def test_large_output_over_small_envelopes(server: WSManServer, client: Client) -> None:
    client.wsman.max_envelope = 32 * 1024  # MiniWSMan asserts that every reply fits
    client.open()
    ps = psrpcore.ClientPowerShell(client.pool)
    ps.add_command("Get-Big")
    result = client.run(ps)
    assert result["output"] == ["%04d" % i + "y" * 19_996 for i in range(60)]
    assert result["receives"] > 30  # 1.2 MB of output in 32 KiB envelopes


def test_errors_and_failed_state(server: WSManServer, client: Client) -> None:
    client.open()
    ps = psrpcore.ClientPowerShell(client.pool)
    ps.add_command("Fail")
    result = client.run(ps)
    assert [str(e) for e in result["errors"]] == ["first, non-terminating"]
    assert result["errors"][0].FullyQualifiedErrorId == "First,Fail"
    assert result["errors"][0].TargetObject == "t1"
    assert result["state"] == PSInvocationState.Failed
    assert str(result["reason"]) == "then terminating"
    assert result["reason"].CategoryInfo.Category.name == "InvalidOperation"


def test_statements_from_an_independent_client(server: WSManServer, client: Client) -> None:
    client.open()
    ps = psrpcore.ClientPowerShell(client.pool)
    ps.add_command("Get-Statements").add_parameter("Server", "EX1").add_command("Select-Object")
    ps.add_parameter("First", 1).add_statement()
    ps.add_command("Get-ExchangeCertificate").add_parameter("Server", "EX2").add_statement()
    ps.add_command("Get-ExchangeCertificate").add_parameter("Server", "EX3")
    result = client.run(ps)
    assert result["state"] == PSInvocationState.Completed
    assert result["output"] == [
        "Get-Statements Server=EX1 | Select-Object First=1",
        "Get-ExchangeCertificate Server=EX2",
        "Get-ExchangeCertificate Server=EX3",
    ]


def test_wrong_configuration_fault_to_an_independent_client(server: WSManServer) -> None:
    url = "https://127.0.0.1:%d/PowerShell" % server.https_port
    other = "http://schemas.microsoft.com/powershell/Microsoft.PowerShell"
    wsman = MiniWSMan(url, server.ca_path, resource=other)  # type: ignore[attr-defined]
    pool = psrpcore.ClientRunspacePool()
    pool.open()
    payload = pool.data_to_send()
    assert payload is not None
    with pytest.raises(Fault) as info:
        wsman.create(str(pool.runspace_pool_id).upper(), payload.data)
    assert (info.value.status, info.value.code) == (500, "2150858770")
    assert "(http://schemas.microsoft.com/powershell/Microsoft.PowerShell) was not found" in info.value.reason
