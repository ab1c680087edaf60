"""The Simulation composition: files it writes, the endpoints it starts (two per Exchange server, Kerberos from the
process's MIT realm), fault injection through it, its teardown, and real Ansible reaching it as psrp/Kerberos hosts."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import stat
import sys
from typing import Any, Iterator
from urllib.parse import urlsplit

import pytest
import requests
import yaml
from pypsrp.exceptions import WSManFaultError
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from ansible_collections.exchange.hybrid.plugins.module_utils import _exchange, _exchange_connection, _exchange_module
from hybrid_sim.simulation import DEFAULT_SERVERS, ServerSpec, Simulation, parse_server_argument
from hybrid_sim.wsman.pipeline import DEFAULT_CONFIGURATION, EXCHANGE_CONFIGURATION, PipelineResult

HERE = os.path.dirname(os.path.abspath(__file__))
NAMES = ["EX2013", "EX2016", "EX2019"]


def _stub_factory(store: Any, server_name: str, configuration: str) -> Any:
    def handler(request: Any) -> PipelineResult:
        return PipelineResult(output=["%s (%s) says hi to %s" % (server_name, request.configuration, request.username)])

    return handler


def _load_e2e_conftest() -> Any:
    path = os.path.join(os.path.dirname(HERE), "e2e", "conftest.py")
    spec = importlib.util.spec_from_file_location("e2e_conftest_under_test", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = module  # type: ignore[union-attr]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _exchange_wsman(host: dict[str, Any]) -> WSMan:
    """Exchange's /PowerShell/ as the inventory host names it: Kerberos for HTTP/<fqdn>, HTTP, message encryption."""
    parts = urlsplit(host["exchange_connection_uri"])
    return WSMan(
        parts.hostname,
        port=parts.port,
        path=parts.path.lstrip("/"),
        ssl=False,
        auth="kerberos",
        username=host["ansible_user"],
        password=host["ansible_password"],
        negotiate_service="HTTP",
        negotiate_hostname_override=host["ansible_psrp_negotiate_hostname_override"],
        encryption="always",
    )


def _default_wsman(host: dict[str, Any]) -> WSMan:
    """The default /wsman as the psrp connection plugin would open it: HTTPS with the test CA, Kerberos, WSMAN/."""
    return WSMan(
        host["ansible_host"],
        port=host["ansible_port"],
        ssl=host["ansible_psrp_protocol"] == "https",
        auth=host["ansible_psrp_auth"],
        username=host["ansible_user"],
        password=host["ansible_password"],
        cert_validation=host["ansible_psrp_ca_cert"],
        negotiate_service="WSMAN",
        negotiate_hostname_override=host["ansible_psrp_negotiate_hostname_override"],
    )


def _invoke(wsman: WSMan, configuration: str, cmdlet: str = "Get-Anything") -> list[Any]:
    with wsman, RunspacePool(wsman, configuration_name=configuration) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet(cmdlet)
        return ps.invoke()


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.fixture
def stub_sim(tmp_path: Any) -> Iterator[Simulation]:
    sim = Simulation(str(tmp_path / "sim"), handler_factory=_stub_factory, entra=False)
    with sim:
        yield sim
        assert sim.open_shells() == {}


def test_default_topology() -> None:
    assert [s.name for s in DEFAULT_SERVERS] == NAMES
    assert DEFAULT_SERVERS[0].version_text == "Version 15.0 (Build 1497.2)"
    assert [s.fqdn for s in DEFAULT_SERVERS] == ["ex2013.contoso.com", "ex2016.contoso.com", "ex2019.contoso.com"]


def test_parse_server_argument() -> None:
    spec = parse_server_argument("EX01=15.1.2507.55")
    assert (spec.name, spec.version_text, spec.exsetup_version) == (
        "EX01",
        "Version 15.1 (Build 2507.55)",
        "15.1.2507.55",
    )
    assert parse_server_argument("EX02=Version 15.0 (Build 775.38)").version_text == "Version 15.0 (Build 775.38)"
    spec = parse_server_argument("EX05=15.2.1748.10/15.2.1748.24")
    assert (spec.version_text, spec.exsetup_version) == ("Version 15.2 (Build 1748.10)", "15.2.1748.24")
    with pytest.raises(ValueError):
        parse_server_argument("EX03")
    with pytest.raises(ValueError):
        parse_server_argument("EX03=15.1")


def test_files_ports_and_kerberos_endpoints(stub_sim: Simulation) -> None:
    directory = stub_sim.directory
    for name in ("ca.pem", "state.json", "inventory.yml", "endpoints.json", "role-vars.yml"):
        assert os.path.exists(os.path.join(directory, name)), name
    for path in (stub_sim.inventory_path, stub_sim.endpoints_path, stub_sim.role_vars_path):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path  # they hold the (test) password
    with open(stub_sim.state_path, encoding="utf-8") as handle:
        state = json.load(handle)
    assert state["clock_offset_seconds"] == 0 and "exchange" in state and "entra" in state

    with open(stub_sim.endpoints_path, encoding="utf-8") as handle:
        endpoints = json.load(handle)
    realm = stub_sim.realm
    assert (endpoints["realm"], endpoints["krb5_config"]) == ("CONTOSO.COM", realm.krb5_conf)
    with open(endpoints["krb5_config"], encoding="utf-8") as handle:
        krb5_conf = handle.read()
    assert "kdc = 127.0.0.1:%d" % realm.kdc_port in krb5_conf and ".contoso.com = CONTOSO.COM" in krb5_conf
    assert (endpoints["username"], endpoints["kerberos_username"]) == ("CONTOSO\\exadmin", "exadmin@CONTOSO.COM")
    assert endpoints["pid"] == os.getpid() and endpoints["ca_path"] == stub_sim.ca_path

    with open(stub_sim.inventory_path, encoding="utf-8") as handle:
        inventory = yaml.safe_load(handle)
    hosts = inventory["all"]["children"]["exchange"]["hosts"]
    assert sorted(hosts) == NAMES
    ports = set()
    for name, host in hosts.items():
        server = endpoints["servers"][name]
        exchange, default = stub_sim.server(name), stub_sim.host(name)
        assert host == {
            "ansible_host": "127.0.0.1",
            "ansible_port": default.https_port,
            "ansible_connection": "psrp",
            "ansible_psrp_protocol": "https",
            "ansible_psrp_auth": "kerberos",
            "ansible_psrp_ca_cert": stub_sim.ca_path,
            "ansible_psrp_negotiate_hostname_override": "%s.contoso.com" % name.lower(),
            "ansible_user": "exadmin@CONTOSO.COM",
            "ansible_password": stub_sim.password,
            "exchange_connection_uri": "http://127.0.0.1:%d/PowerShell/" % exchange.http_port,
            "exchange_sim_http_port": default.http_port,
        }
        assert server["exchange_uri"] == host["exchange_connection_uri"] and server["fqdn"] == "%s.contoso.com" % (
            name.lower()
        )
        assert (server["https_port"], server["http_port"]) == (default.https_port, default.http_port)
        assert exchange.https_port is None  # IIS's /PowerShell/ here: HTTP with Kerberos message encryption only
        ports.update({exchange.http_port, default.https_port, default.http_port})

        # Each endpoint answers as itself, with Kerberos, as the inventory says.
        mark_exchange, mark_default = len(exchange.requests), len(default.requests)
        assert _invoke(_exchange_wsman(host), EXCHANGE_CONFIGURATION) == [
            "%s (Microsoft.Exchange) says hi to CONTOSO\\exadmin" % name
        ]
        assert _invoke(_default_wsman(host), DEFAULT_CONFIGURATION) == [
            "%s (Microsoft.PowerShell) says hi to CONTOSO\\exadmin" % name
        ]
        assert {(r["scheme"], r["auth"], r["encrypted"]) for r in exchange.requests[mark_exchange:]} == {
            ("http", "kerberos", True)
        }
        assert {(r["scheme"], r["auth"]) for r in default.requests[mark_default:]} == {("https", "kerberos")}
    assert len(ports) == 9  # three per server, none shared

    # NTLM still works on the default endpoint, over http with message encryption.
    default = stub_sim.host("EX2016")
    mark = len(default.requests)
    ntlm = WSMan(
        "127.0.0.1",
        port=hosts["EX2016"]["exchange_sim_http_port"],
        ssl=False,
        auth="ntlm",
        username=stub_sim.username,
        password=stub_sim.password,
        encryption="always",
    )
    assert _invoke(ntlm, DEFAULT_CONFIGURATION) == ["EX2016 (Microsoft.PowerShell) says hi to CONTOSO\\exadmin"]
    assert {(r["scheme"], r["encrypted"], r["auth"]) for r in default.requests[mark:]} == {("http", True, "ntlm")}


def _opens(wsman: WSMan, configuration: str) -> bool:
    """Whether a runspace pool opens (it is closed again); False for a WS-Man fault."""
    try:
        _invoke(wsman, configuration)
    except WSManFaultError:
        return False
    return True


def test_inject_through_simulation(stub_sim: Simulation) -> None:
    hosts = yaml.safe_load(open(stub_sim.inventory_path, encoding="utf-8"))["all"]["children"]["exchange"]["hosts"]
    ex2016 = hosts["EX2016"]
    stub_sim.inject("EX2016", "Create", "shell_quota")  # the Exchange endpoint (the default for inject)
    assert _opens(_default_wsman(ex2016), DEFAULT_CONFIGURATION)  # the other endpoint is not affected
    assert stub_sim.server("EX2016").pending_faults() and not stub_sim.host("EX2016").pending_faults()
    assert not _opens(_exchange_wsman(ex2016), EXCHANGE_CONFIGURATION)
    assert _opens(_exchange_wsman(ex2016), EXCHANGE_CONFIGURATION)  # once only

    stub_sim.inject("ex2016", "Create", "http500", endpoint="host")
    assert not stub_sim.server("EX2016").pending_faults() and stub_sim.host("EX2016").pending_faults()
    assert _opens(_exchange_wsman(ex2016), EXCHANGE_CONFIGURATION)
    assert not _opens(_default_wsman(ex2016), DEFAULT_CONFIGURATION)

    stub_sim.inject("*", "*", "reset", count=3, endpoint="*")
    endpoints = list(stub_sim.servers.values()) + list(stub_sim.hosts.values())
    assert [len(e.pending_faults()) for e in endpoints] == [1] * 6
    stub_sim.clear_faults()
    assert all(not e.pending_faults() for e in endpoints)


def test_stop_closes_every_port(tmp_path: Any) -> None:
    sim = Simulation(
        str(tmp_path),
        servers=[ServerSpec("EX01", "Version 15.2 (Build 1748.10)")],
        handler_factory=_stub_factory,
        entra=True,
    ).start()
    ports = [sim.server("EX01").http_port, sim.host("EX01").https_port, sim.host("EX01").http_port]
    ports.append(urlsplit(sim.entra.base_url).port)
    assert not any(_refused(port) for port in ports)
    sim.stop()
    assert all(_refused(port) for port in ports)
    assert sim.entra is None and sim.open_shells() == {}
    with pytest.raises(RuntimeError):
        sim.server("EX01")
    sim.stop()  # twice is fine


def test_with_entra(tmp_path: Any) -> None:
    with Simulation(str(tmp_path), handler_factory=_stub_factory, entra=True) as sim:
        state = sim.read_state()
        assert sim.tenant_id in state["entra"]["tenants"]
        endpoints = json.load(open(sim.endpoints_path, encoding="utf-8"))
        entra = endpoints["entra"]
        assert entra["tenant_id"] == sim.tenant_id and entra["client_id"] and entra["client_secret"]
        group_vars = yaml.safe_load(open(sim.inventory_path, encoding="utf-8"))["all"]["children"]["exchange"]["vars"]
        assert group_vars["hybrid_tenant_domain"] == "contoso.onmicrosoft.com"
        assert group_vars["hybrid_graph_endpoint"] == entra["base_url"] == group_vars["hybrid_graph_authority_host"]
        assert group_vars["hybrid_graph_base_url"] == entra["base_url"]
        assert group_vars["exchange_sim_ca_path"] == sim.ca_path
        assert group_vars["hybrid_graph_client_secret"] == entra["client_secret"]
        response = requests.get(
            "%s/%s/v2.0/.well-known/openid-configuration" % (entra["base_url"], sim.tenant_id),
            verify=sim.ca_path,
            timeout=10,
        )
        assert response.status_code == 200
    assert sim.entra is None


def test_fixture_teardown_catches_leaked_pools(tmp_path: Any) -> None:
    e2e = _load_e2e_conftest()
    sim = Simulation(str(tmp_path), handler_factory=_stub_factory, entra=False).start()
    hosts = yaml.safe_load(open(sim.inventory_path, encoding="utf-8"))["all"]["children"]["exchange"]["hosts"]
    RunspacePool(_exchange_wsman(hosts["EX2013"]), configuration_name=EXCHANGE_CONFIGURATION).open()  # never closed
    RunspacePool(_default_wsman(hosts["EX2019"]), configuration_name=DEFAULT_CONFIGURATION).open()
    assert sorted(sim.open_shells()) == ["EX2013", "EX2019/wsman"]
    with pytest.raises(AssertionError, match=r"EX2013.*EX2019/wsman"):
        e2e.stop_and_check([sim])
    assert sim.entra is None and sim.open_shells() == {}  # stopped anyway


def test_default_simulation_serves_exchange_and_the_host_per_server(tmp_path: Any) -> None:
    with Simulation(str(tmp_path)) as sim:
        state = sim.read_state()
        servers = state["exchange"]["servers"]
        assert sorted(servers) == NAMES
        assert servers["EX2016"]["admin_display_version"] == {"Major": 15, "Minor": 1, "Build": 2507, "Revision": 6}
        assert servers["EX2016"]["exsetup_build"]["Revision"] == 55
        assert servers["EX2019"]["fqdn"] == "ex2019.contoso.com"
        assert sim.tenant_id in state["entra"]["tenants"]
        # The real handlers, wired per server and endpoint: the client reaches EX2016's own two endpoints.
        params = {n: s.get("default") for n, s in _exchange_connection.CONNECTION_ARGUMENT_SPEC.items()}
        params.update(sim.connection_params("EX2016"))
        with _exchange.ExchangeClient(params) as client:
            (rows,) = client.run([_exchange.call("Get-ExchangeServer", ["Name"])])
            assert [row["Name"] for row in rows] == NAMES
            assert _exchange_module.read_host_facts(client) == "15.01.2507.055"
            assert client.computer_name == "EX2016"
        assert {c["server"] for c in sim.calls()} == {"EX2016"}
        assert [(c["endpoint"], c["cmdlet"]) for c in sim.calls()] == [
            (EXCHANGE_CONFIGURATION, "Get-ExchangeServer"),
            (DEFAULT_CONFIGURATION, "script:host_facts"),
        ]
        # Exchange's endpoint is NoLanguage: a script is refused.
        hosts = yaml.safe_load(open(sim.inventory_path, encoding="utf-8"))["all"]["children"]["exchange"]["hosts"]
        with _exchange_wsman(hosts["EX2019"]) as wsman, RunspacePool(
            wsman, configuration_name=EXCHANGE_CONFIGURATION
        ) as pool:
            ps = PowerShell(pool)
            ps.add_script("Get-ExchangeServer | Select-Object Name")
            ps.invoke()
        assert ps.had_errors and ps.streams.error[0].fq_error.startswith("ScriptsNotAllowed")
        assert sim.open_shells() == {}


PLAYBOOK = """
- hosts: exchange
  gather_facts: false
  tasks:
    - name: info
      exchange.hybrid.exchange_server_info:
"""


def test_real_ansible_playbook_over_the_psrp_kerberos_inventory(tmp_path: Any) -> None:
    """ansible-playbook with the inventory as written (ansible_connection psrp, Kerberos, the SPN override) runs
    exchange_server_info. The collection's action plugin runs the module on the controller with the psrp host's
    options, so the psrp connection itself is never opened: each server sees one pool on each of its endpoints, the
    module's own."""
    e2e = _load_e2e_conftest()
    with Simulation(str(tmp_path / "sim"), entra=False) as sim:
        run = e2e.run_playbook(sim, PLAYBOOK, limit="EX2019,EX2013", verbosity=4)
        assert run.ok, str(run)
        assert set(run.stats) == {"EX2013", "EX2019"}
        assert run.changed == 0 and all(s["ok"] == 1 for s in run.stats.values())
        for name in ("EX2013", "EX2019"):
            result = run.result("info", name)
            assert result["connected_server"] == name
            assert {s["name"] for s in result["servers"]} == set(NAMES)
            connected = [s for s in result["servers"] if s["connected"]]
            assert [s["name"] for s in connected] == [name]
            assert connected[0]["exsetup_version"] == sim.spec(name).exsetup_version  # from the default endpoint
            # The options came from the psrp host: Kerberos to HTTP/<fqdn> (not the psrp plugin's WSMAN/).
            args = result["invocation"]["module_args"]
            assert (args["auth"], args["negotiate_service"], args["negotiate_hostname_override"]) == (
                "kerberos",
                "HTTP",
                sim.spec(name).fqdn,
            )
            assert args["connection_uri"] == sim.exchange_uri(name) and args["username"] == "exadmin@CONTOSO.COM"
            exchange, default = sim.server(name), sim.host(name)
            assert {(r["auth"], r["encrypted"]) for r in exchange.requests} == {("kerberos", True)}
            assert [r["action"] for r in exchange.requests].count("Create") == 1
            assert [r["action"] for r in default.requests].count("Create") == 1
        assert sim.server("EX2016").requests == [] and sim.host("EX2016").requests == []  # --limit
        assert "ESTABLISH LOCAL CONNECTION" in run.stdout and "ESTABLISH PSRP CONNECTION" not in run.stdout
        assert sim.password not in run.stdout + run.stderr + json.dumps(run.tasks)  # at -vvvv
        assert sim.writes() == [] and sim.open_shells() == {}


def test_inject_refuses_an_unknown_endpoint(tmp_path):
    """A typo in a fault test must fail loudly, not inject nothing and prove nothing."""
    with Simulation(str(tmp_path / "sim"), entra=False) as sim:
        with pytest.raises(ValueError):
            sim.inject("EX2019", "Create", "reset", endpoint="exhcange")
        assert all(not server.pending_faults() for server in list(sim.servers.values()) + list(sim.hosts.values()))
