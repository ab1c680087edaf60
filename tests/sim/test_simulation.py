"""The Simulation composition: files it writes, servers it starts, and real Ansible reaching them over WinRM."""

from __future__ import annotations

import importlib.util
import json
import os
import stat
import sys
from typing import Any

import pytest
import winrm
import yaml

from hybrid_sim.simulation import DEFAULT_SERVERS, ServerSpec, Simulation, parse_server_argument
from hybrid_sim.wsman import CommandResult

HERE = os.path.dirname(os.path.abspath(__file__))


def _stub_factory(store: Any, server_name: str) -> Any:
    def handler(request: Any) -> CommandResult:
        return CommandResult(("%s says hi to %s\r\n" % (server_name, request.username)).encode())

    return handler


def _load_e2e_conftest() -> Any:
    path = os.path.join(os.path.dirname(HERE), "e2e", "conftest.py")
    spec = importlib.util.spec_from_file_location("e2e_conftest_under_test", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = module  # type: ignore[union-attr]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.fixture
def stub_sim(tmp_path: Any) -> Any:
    sim = Simulation(str(tmp_path / "sim"), handler_factory=_stub_factory, entra=False)
    with sim:
        yield sim
        assert sim.open_shells() == {}


def test_default_topology() -> None:
    assert [s.name for s in DEFAULT_SERVERS] == ["EX2013", "EX2016", "EX2019"]
    assert DEFAULT_SERVERS[0].version_text == "Version 15.0 (Build 1497.2)"


def test_files_and_servers(stub_sim: Simulation) -> None:
    directory = stub_sim.directory
    for name in ("ca.pem", "state.json", "inventory.yml", "endpoints.json"):
        assert os.path.exists(os.path.join(directory, name)), name
    assert stat.S_IMODE(os.stat(stub_sim.inventory_path).st_mode) == 0o600
    state = json.load(open(stub_sim.state_path, encoding="utf-8"))
    assert state["clock_offset_seconds"] == 0 and "exchange" in state and "entra" in state

    inventory = yaml.safe_load(open(stub_sim.inventory_path, encoding="utf-8"))
    hosts = inventory["all"]["children"]["exchange"]["hosts"]
    assert sorted(hosts) == ["EX2013", "EX2016", "EX2019"]
    endpoints = json.load(open(stub_sim.endpoints_path, encoding="utf-8"))
    ports = set()
    for name, host in hosts.items():
        assert host["ansible_host"] == "127.0.0.1"
        assert host["ansible_connection"] == "winrm"
        assert host["ansible_winrm_transport"] == "ntlm" and host["ansible_winrm_scheme"] == "https"
        assert host["ansible_winrm_ca_trust_path"] == stub_sim.ca_path
        assert host["ansible_port"] == endpoints["servers"][name]["https_port"]
        ports.update({host["ansible_port"], host["exchange_sim_http_port"]})
        # Each server answers as itself, over NTLM/HTTPS with the test CA, as the inventory says.
        session = winrm.Session(
            "https://127.0.0.1:%d/wsman" % host["ansible_port"],
            auth=(host["ansible_user"], host["ansible_password"]),
            transport="ntlm",
            ca_trust_path=host["ansible_winrm_ca_trust_path"],
        )
        assert session.run_ps("hostname").std_out == ("%s says hi to CONTOSO\\exadmin\r\n" % name).encode()
    assert len(ports) == 6


def test_inject_through_simulation(stub_sim: Simulation) -> None:
    stub_sim.inject("EX2016", "Create", "shell_quota")
    endpoint = stub_sim.server("ex2016")
    session = winrm.Session(
        endpoint.https_url,
        auth=(stub_sim.username, stub_sim.password),
        transport="basic",
        ca_trust_path=stub_sim.ca_path,
    )
    with pytest.raises(winrm.exceptions.WSManFaultError):
        session.run_cmd("hostname")
    assert session.run_cmd("hostname").status_code == 0
    stub_sim.inject("*", "*", "reset")
    stub_sim.clear_faults()
    assert all(not s.pending_faults() for s in stub_sim.servers.values())


def test_stop_closes_ports(tmp_path: Any) -> None:
    sim = Simulation(
        str(tmp_path),
        servers=[ServerSpec("EX01", "Version 15.2 (Build 1748.10)")],
        handler_factory=_stub_factory,
        entra=False,
    ).start()
    url = sim.server("EX01").https_url
    sim.stop()
    session = winrm.Session(url, auth=(sim.username, sim.password), transport="basic", ca_trust_path=sim.ca_path)
    with pytest.raises(Exception):
        session.run_cmd("hostname")


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


def test_run_playbook_raw_over_winrm(stub_sim: Simulation) -> None:
    """Real ansible-playbook, its winrm connection plugin (pywinrm, NTLM over HTTPS, ca_trust_path) and our callback."""
    e2e = _load_e2e_conftest()
    playbook = """
- hosts: exchange
  gather_facts: false
  tasks:
    - name: say hello
      ansible.builtin.raw: hostname
      register: hello
    - name: show it
      ansible.builtin.debug:
        msg: "{{ hello.stdout }}"
"""
    run = e2e.run_playbook(stub_sim, playbook, limit="EX2019,EX2013")
    assert run.ok, str(run)
    result = run.result("say hello", "EX2019")
    assert result["stdout"] == "EX2019 says hi to CONTOSO\\exadmin\r\n"
    assert run.results("show it", "EX2013")[0]["status"] == "ok"
    assert set(run.stats) == {"EX2013", "EX2019"}
    assert run.stats["EX2019"]["ok"] == 2 and run.changed == 2  # raw always reports changed
    assert stub_sim.password not in run.stdout
    assert stub_sim.open_shells() == {}  # the winrm connection plugin closed its shells


def test_run_playbook_over_http_ntlm_encrypted(stub_sim: Simulation) -> None:
    e2e = _load_e2e_conftest()
    playbook = """
- hosts: EX2016
  gather_facts: false
  vars:
    ansible_winrm_scheme: http
    ansible_port: "{{ exchange_sim_http_port }}"
  tasks:
    - name: say hello
      ansible.builtin.raw: hostname
"""
    run = e2e.run_playbook(stub_sim, playbook, verbosity=3)
    assert run.ok, str(run)
    assert run.result("say hello", "EX2016")["stdout"] == "EX2016 says hi to CONTOSO\\exadmin\r\n"
    seen = {(r["scheme"], r["encrypted"]) for r in stub_sim.server("EX2016").requests}
    assert seen == {("http", True)}


def test_with_entra(tmp_path: Any) -> None:
    import requests  # pylint: disable=import-outside-toplevel

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


def test_fixture_teardown_catches_leaked_shell(tmp_path: Any) -> None:
    e2e = _load_e2e_conftest()
    sim = Simulation(str(tmp_path), handler_factory=_stub_factory, entra=False).start()
    protocol = winrm.protocol.Protocol(
        sim.server("EX2013").https_url,
        transport="basic",
        username=sim.username,
        password=sim.password,
        ca_trust_path=sim.ca_path,
    )
    protocol.open_shell()  # never closed
    with pytest.raises(AssertionError, match="EX2013"):
        e2e.stop_and_check([sim])
    assert sim.entra is None and sim.open_shells() == {}  # stopped anyway


def test_default_simulation_with_exchange_and_entra(tmp_path: Any) -> None:
    with Simulation(str(tmp_path)) as sim:
        state = sim.read_state()
        servers = state["exchange"]["servers"]
        assert sorted(servers) == ["EX2013", "EX2016", "EX2019"]
        assert servers["EX2016"]["admin_display_version"] == {"Major": 15, "Minor": 1, "Build": 2507, "Revision": 6}
        assert servers["EX2016"]["exsetup_build"]["Revision"] == 55
        assert servers["EX2019"]["fqdn"] == "ex2019.contoso.com"
        assert sim.tenant_id in state["entra"]["tenants"]
        # The real handler refuses anything that is not the runner.
        session = winrm.Session(
            sim.server("EX2019").https_url,
            auth=(sim.username, sim.password),
            transport="ntlm",
            ca_trust_path=sim.ca_path,
        )
        result = session.run_ps("Get-ExchangeServer")
        assert result.status_code != 0
