# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""exchange_server_info, exchange_oauth_cert and exchange_auth_server through real ansible-playbook and pywinrm
against the simulated organization (WS-Management server + Exchange engine)."""

from __future__ import annotations

import json

import pytest

from hybrid_sim.simulation import ServerSpec

INFO = "- hosts: EX2019\n  gather_facts: false\n  tasks:\n    - name: t\n      exchange.hybrid.exchange_server_info:\n"
ACS = "https://accounts.accesscontrol.windows.net/metadata/json/1/?realm=contoso.onmicrosoft.com"

CONFIGURE = """
- hosts: EX2019
  gather_facts: false
  tasks:
    - name: cert
      exchange.hybrid.exchange_oauth_cert:
        export_path: C:\\Certificates\\OAuthCert.cer
    - name: authserver
      exchange.hybrid.exchange_auth_server:
        tenant_domain: contoso.onmicrosoft.com
"""


def failure(run, task, host):
    """The message of a task that must have failed (the recorded status, not the result's keys)."""
    records = run.results(task, host)
    assert len(records) == 1 and records[0]["status"] == "failed", run
    return records[0]["result"]["msg"]


def state_bytes(sim):
    with open(sim.state_path, "rb") as handle:
        return handle.read()


def org(sim):
    return sim.read_state()["exchange"]


def auth_current(sim):
    config = org(sim)["auth_config"]
    return (config.get("CurrentCertificateThumbprint") or config.get("current") or "").upper()


def auth_servers(sim):
    servers = org(sim)["auth_servers"]
    return servers if isinstance(servers, list) else list(servers.values())


def test_from_scratch_then_rerun_no_change(simulation, run_playbook):
    run = run_playbook(simulation, CONFIGURE, diff=True)
    assert run.ok, run
    cert = run.result("cert", "EX2019")
    assert cert["changed"] and cert["created"] and cert["action"] == "assigned"
    assert cert["thumbprint"] == auth_current(simulation)
    assert cert["auth_config"]["current"] == cert["thumbprint"] and cert["certificate"]
    assert cert["export"] == {"path": "C:\\Certificates\\OAuthCert.cer", "changed": True}
    new = [c for c in simulation.calls() if c["cmdlet"] == "New-ExchangeCertificate"]
    assert len(new) == 1 and new[0]["parameters"]["Services"] == "Federation"
    server = run.result("authserver", "EX2019")
    assert server["changed"] and server["auth_server"]["auth_metadata_url"] == ACS
    assert [s for s in auth_servers(simulation) if s.get("Name") == "MicrosoftSts"]
    assert "--- before" in run.stdout and "+++ after" in run.stdout

    again = run_playbook(simulation, CONFIGURE)
    assert again.ok and again.changed == 0, again
    assert again.result("cert", "EX2019")["thumbprint"] == cert["thumbprint"]

    checked = before = None
    before = state_bytes(simulation)
    checked = run_playbook(simulation, CONFIGURE, check=True)
    assert checked.ok and checked.changed == 0, checked
    assert state_bytes(simulation) == before


def test_check_mode_on_fresh_org_writes_nothing(simulation, run_playbook):
    before = state_bytes(simulation)
    run = run_playbook(simulation, CONFIGURE, check=True, diff=True)
    assert run.ok, run
    assert run.result("cert", "EX2019")["changed"] and run.result("cert", "EX2019")["created"]
    assert run.result("authserver", "EX2019")["changed"]
    assert "+++ after" in run.stdout
    assert state_bytes(simulation) == before
    assert not [c for c in simulation.calls() if c["cmdlet"].startswith(("New-", "Set-", "Remove-"))]


def test_exchange_2013_cu2_flagged_and_domain_name_refused(make_simulation, run_playbook):
    sim = make_simulation(
        servers=[ServerSpec("EX2013CU2", "Version 15.0 (Build 712.24)", exsetup_version="15.0.712.24")]
    )
    run = run_playbook(
        sim,
        """
- hosts: EX2013CU2
  gather_facts: false
  tasks:
    - name: info
      exchange.hybrid.exchange_server_info:
      register: info
    - name: authserver
      exchange.hybrid.exchange_auth_server:
        tenant_domain: contoso.onmicrosoft.com
        domain_name: [contoso.com]
""",
    )
    info = run.result("info", "EX2013CU2")
    assert info["below_push_minimum"] == ["EX2013CU2"] and info["all_meet_push_minimum"] is False
    assert info["servers"][0]["meets_push_minimum"] is False and info["servers"][0]["version"] == "15.0.712.24"
    msg = failure(run, "authserver", "EX2013CU2")
    assert "domain_name" in msg and "15.0.712.24" in msg and "15.1.2106.2" in msg and "EX2013CU2" in msg
    assert not [c for c in sim.calls() if c["cmdlet"].startswith(("New-", "Set-", "Remove-"))]


@pytest.mark.parametrize(
    "task,needle",
    [
        ("exchange.hybrid.exchange_oauth_cert: {key_size: 1024}", "key_size 1024"),
        ("exchange.hybrid.exchange_oauth_cert: {thumbprint: 'ABC-not-hex'}", "thumbprint"),
        ("exchange.hybrid.exchange_auth_server: {tenant_domain: 'not a domain'}", "tenant_domain"),
    ],
)
def test_bad_input_refused_before_connecting(simulation, run_playbook, task, needle):
    before = state_bytes(simulation)
    run = run_playbook(simulation, "- hosts: EX2019\n  gather_facts: false\n  tasks:\n    - name: t\n      %s\n" % task)
    assert needle in failure(run, "t", "EX2019")
    assert simulation.calls() == [] and state_bytes(simulation) == before


def test_wrong_password_clear_error_without_secret(simulation, run_playbook):
    run = run_playbook(
        simulation,
        "- hosts: EX2019\n  gather_facts: false\n  tasks:\n    - name: t\n      exchange.hybrid.exchange_server_info:\n",
        extra_vars={"ansible_password": "Wr0ng-canary-password"},
        verbosity=3,
    )
    msg = failure(run, "t", "EX2019")
    assert "were rejected by 127.0.0.1" in msg and "CONTOSO\\exadmin" in msg
    assert "Wr0ng-canary-password" not in run.stdout + run.stderr + json.dumps(run.tasks)


def test_ca_path_wins_over_requests_ca_bundle(simulation, run_playbook):
    import certifi

    # The environment trusts the simulator, the host's CA path does not: the CA path decides (refused).
    refused = run_playbook(
        simulation,
        INFO,
        extra_vars={"ansible_winrm_ca_trust_path": certifi.where()},
        env={"REQUESTS_CA_BUNDLE": simulation.ca_path, "CURL_CA_BUNDLE": None},
    )
    msg = failure(refused, "t", "EX2019")
    assert "TLS certificate verification failed" in msg and "ca_path" in msg
    # The environment points at an unrelated bundle, the CA path at the simulator's CA: accepted.
    accepted = run_playbook(simulation, INFO, env={"REQUESTS_CA_BUNDLE": certifi.where(), "CURL_CA_BUNDLE": None})
    assert accepted.ok, accepted


def test_missing_ca_file_named_before_connecting(simulation, run_playbook):
    run = run_playbook(simulation, INFO, extra_vars={"ansible_winrm_ca_trust_path": "/nonexistent/ca.pem"})
    assert "ca_path /nonexistent/ca.pem does not exist" in failure(run, "t", "EX2019")
    assert simulation.calls() == []


def test_untrusted_tls_without_ca_path(simulation, run_playbook):
    server = simulation.server("EX2019")
    run = run_playbook(
        simulation,
        """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: t
      exchange.hybrid.exchange_server_info:
        server: 127.0.0.1
        port: %d
        username: CONTOSO\\exadmin
        password: %s
""" % (server.https_port, simulation.password),
        env={"REQUESTS_CA_BUNDLE": None, "CURL_CA_BUNDLE": None},
    )
    msg = failure(run, "t", "localhost")
    assert "TLS certificate verification failed" in msg and "ca_path" in msg


@pytest.mark.parametrize("transport,scheme", [("basic", "https"), ("ntlm", "http")])
def test_basic_over_https_and_ntlm_over_http(simulation, run_playbook, transport, scheme):
    server = simulation.server("EX2019")
    port = server.https_port if scheme == "https" else server.http_port
    run = run_playbook(
        simulation,
        """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: t
      exchange.hybrid.exchange_server_info:
        server: 127.0.0.1
        port: %d
        scheme: %s
        transport: %s
        username: CONTOSO\\exadmin
        password: "{{ pw }}"
        ca_path: %s
""" % (port, scheme, transport, simulation.ca_path),
        extra_vars={"pw": simulation.password},
    )
    assert run.ok, run
    assert {s["name"] for s in run.result("t", "localhost")["servers"]} == {"EX2013", "EX2016", "EX2019"}


def test_basic_over_http_refused(simulation, run_playbook):
    server = simulation.server("EX2019")
    run = run_playbook(
        simulation,
        """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: t
      exchange.hybrid.exchange_server_info:
        server: 127.0.0.1
        port: %d
        scheme: http
        transport: basic
        username: CONTOSO\\exadmin
        password: whatever
""" % server.http_port,
    )
    assert "allow_unencrypted_basic" in failure(run, "t", "localhost")
    assert simulation.calls() == []


HOSTILE = [
    "'; Remove-Item C:\\ -Recurse -Force; '",
    '"; Stop-Computer; "',
    "$(Remove-Item C:\\Windows)",
    "@(Get-Process) ${env:COMPUTERNAME}",
    "back`tick`n `$x",
    "line1\r\nline2\rline3\n",
    "\u2018single\u2019 \u201cdouble\u201d \u201a\u201b\u201e quotes",
    "Gr\u00fc\u00dfe \u00e9t\u00e9",
]


def test_hostile_values_reach_cmdlets_unchanged(simulation, run_playbook):
    names = {"cert%d" % i: value for i, value in enumerate(HOSTILE)}
    tasks = []
    for i in range(len(HOSTILE)):
        tasks.append(
            '    - name: cert%d\n      exchange.hybrid.exchange_oauth_cert:\n        friendly_name: "{{ v%d }}"\n'
            "        renew_before_days: 0\n" % (i, i)
        )
        tasks.append(
            '    - name: as%d\n      exchange.hybrid.exchange_auth_server:\n        name: "{{ v%d }}"\n'
            "        tenant_domain: contoso.onmicrosoft.com\n" % (i, i)
        )
    playbook = "- hosts: EX2019\n  gather_facts: false\n  tasks:\n" + "".join(tasks)
    run = run_playbook(simulation, playbook, extra_vars={"v%d" % i: v for i, v in enumerate(HOSTILE)})
    assert run.ok, run
    calls = simulation.calls()
    friendly = [c["parameters"]["FriendlyName"] for c in calls if c["cmdlet"] == "New-ExchangeCertificate"]
    created = [c["parameters"]["Name"] for c in calls if c["cmdlet"] == "New-AuthServer"]
    assert friendly == HOSTILE and created == HOSTILE, (friendly, created, names)


def test_20kb_request(simulation, run_playbook):
    big = "N" * 20000
    run = run_playbook(
        simulation,
        "- hosts: EX2019\n  gather_facts: false\n  tasks:\n    - name: t\n      exchange.hybrid.exchange_auth_server:\n"
        '        name: "{{ big }}"\n        tenant_domain: contoso.onmicrosoft.com\n',
        extra_vars={"big": big},
    )
    assert run.ok, run
    assert [c["parameters"]["Name"] for c in simulation.calls() if c["cmdlet"] == "New-AuthServer"] == [big]


@pytest.mark.parametrize("kind", ["shell_quota", "operation_quota"])
def test_quota_faults_retried(simulation, run_playbook, kind):
    simulation.inject("EX2019", "Create", kind, count=2)
    run = run_playbook(simulation, INFO)
    assert run.ok, run


def test_wsman_fault_reported_with_reason_and_shell_closed(simulation, run_playbook):
    simulation.inject("EX2019", "Command", "http500")
    run = run_playbook(simulation, INFO)
    msg = failure(run, "t", "EX2019")
    assert "127.0.0.1 answered the WS-Management Command request with a fault" in msg
    assert simulation.open_shells() == {}


def test_reset_during_read_is_retried(simulation, run_playbook):
    simulation.inject("EX2019", "Receive", "reset")
    run = run_playbook(simulation, INFO)
    assert run.ok, run


def test_hostile_export_path_and_refused_options(simulation, run_playbook):
    path = "C:\\Certs\\x'; Remove-Item C:\\ -Recurse; $(Stop-Computer) `n \u2019.cer"
    run = run_playbook(
        simulation,
        "- hosts: EX2019\n  gather_facts: false\n  tasks:\n    - name: cert\n      exchange.hybrid.exchange_oauth_cert:\n"
        '        export_path: "{{ p }}"\n    - name: bad\n      exchange.hybrid.exchange_oauth_cert:\n'
        '        domain_name: "{{ d }}"\n',
        extra_vars={"p": path, "d": "contoso.com'; Remove-Item C:\\"},
    )
    writes = [c["parameters"]["Path"] for c in simulation.calls() if c["cmdlet"] == "Set-RunnerFileContent"]
    assert writes == [path]
    assert "domain_name" in failure(run, "bad", "EX2019")


def _inventory(sim, tmp_path, **changes):
    import yaml

    inventory = sim.inventory()
    hosts = inventory["all"]["children"]["exchange"]["hosts"]
    for host in hosts.values():
        for key, value in changes.items():
            if value is None:
                host.pop(key, None)
            else:
                host[key] = value
    path = tmp_path / "inventory-custom.yml"
    path.write_text(yaml.safe_dump(inventory))
    return str(path)


def test_password_file_reaches_module_through_connection_options(simulation, run_playbook, tmp_path):
    # What an AWX machine credential or --ask-pass does: no ansible_password in the inventory.
    inventory = _inventory(simulation, tmp_path, ansible_password=None)
    secret = tmp_path / "password.txt"
    secret.write_text(simulation.password + "\n")
    run = run_playbook(simulation, INFO, inventory=inventory, args=["--connection-password-file", str(secret)])
    assert run.ok, run
    assert simulation.password not in run.stdout + run.stderr


def test_psrp_host_connection_options(simulation, run_playbook, tmp_path):
    inventory = _inventory(
        simulation,
        tmp_path,
        ansible_connection="psrp",
        ansible_winrm_transport=None,
        ansible_winrm_scheme=None,
        ansible_winrm_ca_trust_path=None,
        ansible_psrp_protocol="https",
        ansible_psrp_auth="ntlm",
        ansible_psrp_ca_cert=simulation.ca_path,
    )
    run = run_playbook(simulation, INFO, inventory=inventory)
    assert run.ok, run
    assert run.result("t", "EX2019")["connected_server"] == "EX2019"


def test_password_never_in_output_at_vvvv(simulation, run_playbook):
    run = run_playbook(simulation, CONFIGURE, verbosity=4, diff=True)
    assert run.ok, run
    assert simulation.password not in run.stdout + run.stderr + json.dumps(run.tasks)
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in run.stdout


CERT_ONLY = (
    "- hosts: EX2019\n  gather_facts: false\n  tasks:\n    - name: cert\n      exchange.hybrid.exchange_oauth_cert:\n"
)


def _move_clock(sim, days):
    with sim.store.transaction() as state:
        state["clock_offset_seconds"] = int(days * 86400)


def test_renewal_follows_the_servers_clock(simulation, run_playbook):
    first = run_playbook(simulation, CERT_ONLY)
    assert first.ok, first
    cert = first.result("cert", "EX2019")
    left = cert["days_remaining"]

    _move_clock(simulation, left - 70)  # 70 days before expiry: nothing to do
    calm = run_playbook(simulation, CERT_ONLY)
    assert calm.ok and calm.changed == 0, calm

    _move_clock(simulation, left - 50)  # 50 days before expiry: a next certificate is staged
    staged = run_playbook(simulation, CERT_ONLY).result("cert", "EX2019")
    assert staged["action"] == "staged" and staged["thumbprint"] == cert["thumbprint"]
    assert staged["next_certificate"]["thumbprint"] == staged["auth_config"]["next"]
    assert run_playbook(simulation, CERT_ONLY).changed == 0

    _move_clock(simulation, left + 40)  # long after expiry: whatever is current gets replaced now if expired
    late = run_playbook(simulation, CERT_ONLY)
    assert late.ok, late
    final = late.result("cert", "EX2019")
    assert final["days_remaining"] > 60 and final["thumbprint"] == auth_current(simulation)


def test_expired_current_certificate_replaced_now(simulation, run_playbook):
    first = run_playbook(simulation, CERT_ONLY)
    old = first.result("cert", "EX2019")
    _move_clock(simulation, old["days_remaining"] + 10)
    run = run_playbook(simulation, CERT_ONLY)
    assert run.ok, run
    result = run.result("cert", "EX2019")
    assert result["action"] == "replaced" and result["thumbprint"] != old["thumbprint"]
    assert result["thumbprint"] == auth_current(simulation) and result["days_remaining"] > 60
    sets = [sorted(c["parameters"]) for c in simulation.calls() if c["cmdlet"] == "Set-AuthConfig"][-3:]
    assert sets == [
        ["Force", "NewCertificateEffectiveDate", "NewCertificateThumbprint"],
        ["PublishCertificate"],
        ["ClearPreviousCertificate"],
    ]
    assert run_playbook(simulation, CERT_ONLY).changed == 0


def test_server_info_reads_hotfix_level_of_each_connected_server(simulation, run_playbook):
    run = run_playbook(
        simulation,
        "- hosts: exchange\n  gather_facts: false\n  tasks:\n    - name: t\n      exchange.hybrid.exchange_server_info:\n",
    )
    assert run.ok, run
    expected = {"EX2013": (False, "15.0.1497.2"), "EX2016": (True, "15.1.2507.55"), "EX2019": (True, "15.2.1748.24")}
    for host, (hybrid, exsetup) in expected.items():
        result = run.result("t", host)
        me = next(s for s in result["servers"] if s["connected"])
        assert me["name"] == host and me["exsetup_version"] == exsetup and me["supports_hybrid_application"] is hybrid
        assert me["supports_hybrid_application_known"] and me["meets_push_minimum"]
        assert result["organization"]["name"] == "Contoso" and result["all_meet_push_minimum"]
