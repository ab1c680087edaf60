# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""exchange_auth_info through real ansible-playbook and pypsrp (Kerberos, PowerShell remoting) against the simulated
organization of three servers: the whole organization read through one Exchange session on one server, nothing
written, the same answer on a rerun and in check mode."""

from __future__ import annotations

READ = """
- hosts: EX2019
  gather_facts: false
  tasks:
    - name: auth
      exchange.hybrid.exchange_auth_info:
"""


def session_opens(endpoints):
    """Accepted WS-Management Creates (a runspace pool opened) per server."""
    return {
        name: sum(1 for r in list(server.requests) if r["action"] == "Create" and r.get("status", 200) == 200)
        for name, server in endpoints.items()
    }


def without_clock(result):
    return {k: v for k, v in result.items() if k not in ("server_utc_now", "invocation", "_ansible_no_log")}


def test_one_session_reads_the_organization_and_writes_nothing(simulation, run_playbook):
    run = run_playbook(simulation, READ)
    assert run.ok and run.changed == 0, run
    result = run.result("auth", "EX2019")
    current = simulation.read_state()["exchange"]["auth_config"]["CurrentCertificateThumbprint"]
    assert result["connected_server"] == "EX2019" and result["server_utc_now"].endswith("Z")
    assert result["auth_config"]["current"]["thumbprint"] == current
    assert result["auth_config"]["current"]["signature_algorithm"] == "sha256RSA"
    assert sorted(s["name"] for s in result["servers"]) == ["EX2013", "EX2016", "EX2019"]
    for entry in result["servers"]:
        assert entry["answered"] and entry["auth_certificate"]["thumbprint"] == current
        assert entry["auth_certificate"]["usable"], entry
    assert result["partner_applications"][0]["application_identifier"] == "00000002-0000-0ff1-ce00-000000000000"
    assert result["push_proxy"]["found"] and result["intra_organization_connectors"]

    # One Exchange session, on the server the task ran against, for the whole organization of three servers; the
    # host facts (the server's clock) on that server's default endpoint; nothing on the others.
    assert session_opens(simulation.servers) == {"EX2013": 0, "EX2016": 0, "EX2019": 1}
    assert session_opens(simulation.hosts) == {"EX2013": 0, "EX2016": 0, "EX2019": 1}
    stores = [c for c in simulation.calls() if c["cmdlet"] == "Get-ExchangeCertificate"]
    assert {c["server"] for c in stores} == {"EX2019"}
    assert sorted(c["parameters"]["Server"] for c in stores) == ["EX2013", "EX2016", "EX2019"]
    assert simulation.writes() == []
    raw = simulation.read_state()["exchange"]["servers"]["EX2019"]["certificates"][0]["RawData"]
    assert raw[:60] not in run.stdout + str(result)

    again = run_playbook(simulation, READ)
    checked = run_playbook(simulation, READ, check=True)
    for other in (again, checked):
        assert other.ok and other.changed == 0, other
        assert without_clock(other.result("auth", "EX2019")) == without_clock(result)
    assert simulation.writes() == []


def test_a_server_that_does_not_answer_is_a_finding(simulation, run_playbook):
    with simulation.store.transaction() as state:
        state["exchange"]["servers"]["EX2016"]["offline"] = True
    run = run_playbook(simulation, READ)
    assert run.ok, run
    servers = {s["name"]: s for s in run.result("auth", "EX2019")["servers"]}
    assert servers["EX2016"]["answered"] is False and "RPC server is unavailable" in servers["EX2016"]["error"]
    assert servers["EX2013"]["answered"] and servers["EX2019"]["answered"]
    assert simulation.writes() == []
