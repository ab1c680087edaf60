"""Several statements in one PSRP pipeline (PowerShell.AddStatement(), sent as ExtraCmds).

The simulated Exchange endpoint runs each statement as its own pipeline with every check a single pipeline gets; the
client's ``read_statements`` reads every server's certificate store in one pipeline, attributes rows and errors to
their statements, and reads alone whatever it cannot attribute (an endpoint that refuses the batch still answers).
"""

from __future__ import annotations

from typing import Any, Iterator, Optional

import pytest

from ansible_collections.exchange.hybrid.plugins.module_utils import _exchange_connection
from ansible_collections.exchange.hybrid.plugins.module_utils._auth_certificates import CERTIFICATE_PROPERTIES
from ansible_collections.exchange.hybrid.plugins.module_utils._errors import ExchangeCommandError
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange import ExchangeClient, call
from hybrid_sim.exchange.handler import make_exchange_handler, scripts_not_allowed
from hybrid_sim.exchange.host import make_host_handler
from hybrid_sim.simulation import Simulation
from hybrid_sim.wsman.pipeline import (
    EXCHANGE_CONFIGURATION,
    Command,
    PipelineRequest,
    PipelineResult,
)

USER = "CONTOSO\\exadmin"
CONNECTED = "EX2019"
SERVERS = ("EX2019", "EX2016", "EX2013")
PROPERTIES = CERTIFICATE_PROPERTIES + ["Identity"]


@pytest.fixture(scope="module")
def sim(tmp_path_factory: Any) -> Iterator[Simulation]:
    with Simulation(str(tmp_path_factory.mktemp("statements")), entra=False) as running:
        yield running


@pytest.fixture(autouse=True)
def _online(sim: Simulation) -> Iterator[None]:
    yield
    with sim.store.transaction() as state:
        for server in state["exchange"]["servers"].values():
            server.pop("offline", None)
    for endpoint in list(sim.servers.values()) + list(sim.hosts.values()):
        endpoint.close_all_shells()


def statements(*groups: tuple[Command, ...]) -> tuple[Command, ...]:
    """Commands as psrpcore hands them over: the last command of every statement marked."""
    commands: list[Command] = []
    for group in groups:
        *head, last = group
        commands.extend(head)
        commands.append(Command(last.name, last.is_script, last.parameters, end_of_statement=True))
    return tuple(commands)


def store_read(server: str) -> Command:
    return Command("Get-ExchangeCertificate", parameters=(("Server", server),))


def request(*commands: Command, configuration: str = EXCHANGE_CONFIGURATION) -> PipelineRequest:
    return PipelineRequest(CONNECTED, configuration, USER, commands)


def identities(result: PipelineResult) -> list[str]:
    return [str(item.properties["Identity"]) for item in result.output]


def fqdn(sim: Simulation, name: str) -> str:
    return sim.spec(name).fqdn


# --- the simulated endpoint -------------------------------------------------------------------------------------------
def test_each_statement_runs_and_an_error_does_not_stop_the_next(sim: Simulation) -> None:
    with sim.store.transaction() as state:
        state["exchange"]["servers"]["EX2016"]["offline"] = True
    handler = make_exchange_handler(sim.store, CONNECTED)
    result = handler(request(*statements(*((store_read(name),) for name in SERVERS))))
    assert result.failed is None
    owners = {identity.split("\\", 1)[0] for identity in identities(result)}
    assert owners == {fqdn(sim, "EX2019"), fqdn(sim, "EX2013")}
    assert [error.message for error in result.errors] == [
        "A special Rpc error occurs on server EX2016: The RPC server is unavailable."
    ]
    # Every certificate row names its store: ServerFQDN\Thumbprint.
    state = sim.read_state()["exchange"]["servers"]
    expected = {
        "%s\\%s" % (fqdn(sim, name), cert["Thumbprint"])
        for name in ("EX2019", "EX2013")
        for cert in state[name]["certificates"]
    }
    assert set(identities(result)) == expected


def test_a_terminating_error_ends_the_invocation_after_what_ran(sim: Simulation) -> None:
    handler = make_exchange_handler(sim.store, CONNECTED)
    unknown = Command("Get-ExchangeCertificate", parameters=(("NoSuchParameter", "x"),))
    result = handler(request(*statements((store_read("EX2013"),), (unknown,), (store_read("EX2016"),))))
    assert result.failed is not None and "NoSuchParameter" in result.failed.message
    assert {identity.split("\\", 1)[0] for identity in identities(result)} == {fqdn(sim, "EX2013")}


@pytest.mark.parametrize(
    "refused,error_id",
    [
        (Command("Get-ExchangeCertificate; Remove-Item C:\\ -Recurse", is_script=True), "ScriptsNotAllowed"),
        (Command("Remove-Item", parameters=(("Path", "C:\\"),)), "CommandNotFoundException"),
        (Command("Get-ExchangeCertificate", parameters=(("Server", ["EX2013", "EX2016"]),)), None),
    ],
    ids=["script", "outside-rbac", "bad-parameter"],
)
def test_a_refused_command_in_any_statement_is_refused(
    sim: Simulation, refused: Command, error_id: Optional[str]
) -> None:
    handler = make_exchange_handler(sim.store, CONNECTED)
    mark = len(sim.calls())
    result = handler(request(*statements((refused,), (store_read("EX2013"),))))
    assert result.failed is not None
    if error_id:
        assert result.failed.fully_qualified_error_id.split(",", 1)[0] == error_id
    # A refused first statement: nothing after it ran.
    assert result.output == [] and sim.calls()[mark:] == []


def test_a_script_in_a_later_statement_refuses_the_whole_invocation(sim: Simulation) -> None:
    handler = make_exchange_handler(sim.store, CONNECTED)
    mark = len(sim.calls())
    script = Command("Get-Date", is_script=True)
    result = handler(request(*statements((store_read("EX2013"),), (script,))))
    assert result.failed == scripts_not_allowed("Get-Date") and result.output == []
    assert sim.calls()[mark:] == []


def test_the_host_endpoint_still_refuses_more_than_one_command(sim: Simulation) -> None:
    handler = make_host_handler(sim.store, CONNECTED)
    two = statements((Command("Get-Service", parameters=(("Name", "W3SVC"),)),), (Command("Get-Date"),))
    result = handler(request(*two, configuration="Microsoft.PowerShell"))
    assert result.failed is not None and "2" in result.failed.message


# --- the client over pypsrp -----------------------------------------------------------------------------------------
def client_for(sim: Simulation) -> ExchangeClient:
    params = {name: spec.get("default") for name, spec in _exchange_connection.CONNECTION_ARGUMENT_SPEC.items()}
    params.update(sim.connection_params(CONNECTED))
    return ExchangeClient(params, sleep=lambda _seconds: None)


def read_all(sim: Simulation, client: ExchangeClient) -> list[tuple[list[dict], Optional[ExchangeCommandError]]]:
    index = {fqdn(sim, name): position for position, name in enumerate(SERVERS)}

    def row_owner(row: dict) -> Optional[int]:
        return index.get(str(row.get("Identity")).split("\\", 1)[0])

    def error_owner(text: str) -> Optional[int]:
        named = [position for position, name in enumerate(SERVERS) if "server %s:" % name in text]
        return named[0] if len(named) == 1 else None

    reads = [call("Get-ExchangeCertificate", PROPERTIES, Server=name) for name in SERVERS]
    try:
        return client.read_statements(reads, row_owner, error_owner)
    finally:
        client.close()


def commands_sent(sim: Simulation, mark: int) -> int:
    return sum(1 for r in sim.server(CONNECTED).requests[mark:] if r["action"] == "Command")


def thumbprints(rows: list[dict]) -> set[str]:
    return {row["Thumbprint"] for row in rows}


def test_every_store_in_one_pipeline_with_rows_and_errors_attributed(sim: Simulation) -> None:
    with sim.store.transaction() as state:
        state["exchange"]["servers"]["EX2016"]["offline"] = True
    mark = len(sim.server(CONNECTED).requests)
    (ex2019, _ok), (ex2016, error), (ex2013, _ok) = read_all(sim, client_for(sim))
    assert commands_sent(sim, mark) == 1
    state = sim.read_state()["exchange"]["servers"]
    assert thumbprints(ex2019) == {c["Thumbprint"] for c in state["EX2019"]["certificates"]}
    assert thumbprints(ex2013) == {c["Thumbprint"] for c in state["EX2013"]["certificates"]}
    assert ex2016 == [] and error is not None and error.kind == "cmdlet" and error.index == 1
    assert "RPC server is unavailable" in error.msg


def test_an_endpoint_that_refuses_statements_is_read_one_pipeline_per_server(sim: Simulation, monkeypatch: Any) -> None:
    endpoint = sim.server(CONNECTED)
    original = endpoint.handler

    def one_statement_only(pipeline: PipelineRequest) -> PipelineResult:
        if len(pipeline.statements()) > 1:
            return PipelineResult(failed=scripts_not_allowed("<statements>"))
        return original(pipeline)

    monkeypatch.setattr(endpoint, "handler", one_statement_only)
    with sim.store.transaction() as state:
        state["exchange"]["servers"]["EX2013"]["offline"] = True
    mark = len(endpoint.requests)
    (ex2019, none), (ex2016, _ok), (ex2013, error) = read_all(sim, client_for(sim))
    assert commands_sent(sim, mark) == 1 + len(SERVERS)
    state = sim.read_state()["exchange"]["servers"]
    assert none is None and thumbprints(ex2019) == {c["Thumbprint"] for c in state["EX2019"]["certificates"]}
    assert thumbprints(ex2016) == {c["Thumbprint"] for c in state["EX2016"]["certificates"]}
    assert ex2013 == [] and error is not None and "RPC server is unavailable" in error.msg


def test_a_store_read_refused_by_rbac_fails_as_a_single_read_would(sim: Simulation, monkeypatch: Any) -> None:
    endpoint = sim.server(CONNECTED)
    original = endpoint.handler

    def no_certificates(pipeline: PipelineRequest) -> PipelineResult:
        renamed = tuple(
            Command("Get-NoSuchCmdlet", c.is_script, c.parameters, c.end_of_statement) for c in pipeline.commands
        )
        return original(PipelineRequest(pipeline.server_name, pipeline.configuration, pipeline.username, renamed))

    monkeypatch.setattr(endpoint, "handler", no_certificates)
    with pytest.raises(ExchangeCommandError) as info:
        read_all(sim, client_for(sim))
    assert info.value.kind == "rbac"
