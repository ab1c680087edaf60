# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""exchange_server_info, exchange_oauth_cert and exchange_auth_server through real ansible-playbook and pypsrp
(PowerShell remoting, Kerberos against the test realm's KDC) against the simulated organization: each server's
Exchange endpoint (/PowerShell/, Kerberos only unless the simulation enables Basic) and default WinRM endpoint
(/wsman, the host operations)."""

from __future__ import annotations

import base64
import json

import pytest
import yaml

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
    assert not simulation.writes()


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
    assert not sim.writes()


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


def local_task(options, module="exchange.hybrid.exchange_server_info"):
    """A localhost play (no winrm/psrp host: the task's own options only) with one task ``t``."""
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [{"name": "t", module: options}]}]
    return yaml.safe_dump(play, sort_keys=False)


def task_options(sim, name="EX2019", **changes):
    """The module options of a Kerberos task for ``name`` (``sim.connection_params``), the password as ``{{ pw }}``;
    an option changed to None is left out."""
    options = sim.connection_params(name, password="{{ pw }}", **changes)
    return {key: value for key, value in options.items() if value is not None}


def connected(result):
    return next(s for s in result["servers"] if s["connected"])


def used_auth(endpoint):
    """(auth, scheme) of every request an endpoint served."""
    return {(r["auth"], r["scheme"]) for r in endpoint.requests}


@pytest.fixture(name="https_simulation")
def fixture_https_simulation(make_simulation):
    """Exchange endpoints whose virtual directory also enables Basic: they listen on HTTPS too, and the inventory's
    exchange_connection_uri is https://127.0.0.1:<port>/PowerShell/ (Kerberos over TLS)."""
    sim = make_simulation(exchange_basic_auth=True)
    assert sim.exchange_uri("EX2019").startswith("https://")
    return sim


def test_wrong_password_clear_error_without_secret(simulation, run_playbook):
    # Kerberos from the password: the KDC refuses the pre-authentication before anything reaches the server.
    run = run_playbook(simulation, INFO, extra_vars={"ansible_password": "Wr0ng-canary-password"}, verbosity=3)
    msg = failure(run, "t", "EX2019")
    assert "KDC rejected the password" in msg and simulation.kerberos_username in msg, msg
    assert "Wr0ng-canary-password" not in run.stdout + run.stderr + json.dumps(run.tasks)
    assert simulation.calls() == [] and simulation.server("EX2019").requests == []


def test_ca_path_wins_over_requests_ca_bundle(https_simulation, run_playbook):
    import certifi

    sim = https_simulation
    # The environment trusts the simulator, the host's CA path does not: the CA path decides (refused).
    refused = run_playbook(
        sim,
        INFO,
        extra_vars={"ansible_psrp_ca_cert": certifi.where()},
        env={"REQUESTS_CA_BUNDLE": sim.ca_path, "CURL_CA_BUNDLE": None},
    )
    msg = failure(refused, "t", "EX2019")
    assert "TLS certificate verification failed" in msg and "ca_path" in msg and sim.exchange_uri("EX2019") in msg
    # The environment points at an unrelated bundle, the CA path at the simulator's CA: accepted, on both endpoints
    # (the ExSetup version comes from the default endpoint over https).
    accepted = run_playbook(sim, INFO, env={"REQUESTS_CA_BUNDLE": certifi.where(), "CURL_CA_BUNDLE": None})
    assert accepted.ok, accepted
    assert connected(accepted.result("t", "EX2019"))["exsetup_version"] == "15.2.1748.24"
    assert used_auth(sim.server("EX2019")) == {("kerberos", "https")}


def test_missing_ca_file_named_before_connecting(simulation, run_playbook):
    run = run_playbook(simulation, INFO, extra_vars={"ansible_psrp_ca_cert": "/nonexistent/ca.pem"})
    assert "ca_path /nonexistent/ca.pem does not exist" in failure(run, "t", "EX2019")
    assert simulation.calls() == []
    assert simulation.server("EX2019").requests == [] and simulation.host("EX2019").requests == []


def test_untrusted_tls_without_ca_path(https_simulation, run_playbook):
    sim = https_simulation
    run = run_playbook(
        sim,
        local_task(task_options(sim, ca_path=None)),
        extra_vars={"pw": sim.password},
        env={"REQUESTS_CA_BUNDLE": None, "CURL_CA_BUNDLE": None},
    )
    msg = failure(run, "t", "localhost")
    assert "TLS certificate verification failed" in msg and "ca_path" in msg
    assert sim.calls() == []


def test_basic_over_https_where_the_exchange_endpoint_enables_it(https_simulation, run_playbook):
    sim = https_simulation
    options = task_options(sim, auth="basic", username=sim.username, negotiate_hostname_override=None)
    run = run_playbook(sim, local_task(options), extra_vars={"pw": sim.password}, verbosity=4)
    assert run.ok, run
    result = run.result("t", "localhost")
    assert {s["name"] for s in result["servers"]} == {"EX2013", "EX2016", "EX2019"}
    assert connected(result)["exsetup_version"] == "15.2.1748.24"
    # Basic it was, over TLS, on both endpoints: never Kerberos in disguise.
    assert used_auth(sim.server("EX2019")) == {("basic", "https")}
    assert used_auth(sim.host("EX2019")) == {("basic", "https")}
    # Neither the password nor the Authorization header that carries it shows at -vvvv.
    token = base64.b64encode(("%s:%s" % (sim.username, sim.password)).encode()).decode()
    output = run.stdout + run.stderr + json.dumps(run.tasks)
    assert sim.password not in output and token not in output

    wrong = run_playbook(sim, local_task(options), extra_vars={"pw": "Wr0ng-basic-canary"})
    msg = failure(wrong, "t", "localhost")
    assert "were rejected by" in msg and sim.username in msg and "auth basic" in msg, msg
    assert "Wr0ng-basic-canary" not in wrong.stdout + wrong.stderr + json.dumps(wrong.tasks)


@pytest.mark.parametrize("where", ["task_options", "psrp_host"])
def test_ntlm_refused_by_the_exchange_endpoint_naming_kerberos(simulation, run_playbook, tmp_path, where):
    # NTLM is for the default endpoint only: Exchange's /PowerShell/ takes Kerberos, and the message says so.
    http_port = simulation.host("EX2019").http_port
    if where == "task_options":
        options = task_options(
            simulation,
            auth="ntlm",
            username=simulation.username,
            scheme="http",
            port=http_port,
            negotiate_hostname_override=None,
            ca_path=None,
        )
        run = run_playbook(simulation, local_task(options), extra_vars={"pw": simulation.password})
        host = "localhost"
    else:
        inventory = _inventory(
            simulation,
            tmp_path,
            ansible_port=http_port,
            ansible_psrp_protocol="http",
            ansible_psrp_auth="ntlm",
            ansible_user=simulation.username,
            ansible_psrp_negotiate_hostname_override=None,
        )
        run = run_playbook(simulation, INFO, inventory=inventory)
        host = "EX2019"
    msg = failure(run, "t", host)
    assert "does not accept auth ntlm" in msg and "set auth: kerberos" in msg, msg
    assert simulation.exchange_uri("EX2019") in msg
    assert simulation.calls() == [] and simulation.server("EX2019").requests == []


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_basic_over_http_refused(simulation, run_playbook, scheme):
    # scheme http: the default endpoint in clear text; scheme https: the Exchange endpoint is still http://.
    host = simulation.host("EX2019")
    options = {
        "server": "127.0.0.1",
        "port": host.http_port if scheme == "http" else host.https_port,
        "scheme": scheme,
        "transport": "basic",
        "username": simulation.username,
        "password": "whatever",
    }
    if scheme == "https":
        options["connection_uri"] = simulation.exchange_uri("EX2019")
    msg = failure(run_playbook(simulation, local_task(options)), "t", "localhost")
    assert "allow_unencrypted_basic" in msg
    assert ("scheme http" if scheme == "http" else "connection_uri " + simulation.exchange_uri("EX2019")) in msg, msg
    assert simulation.calls() == []
    assert simulation.server("EX2019").requests == [] and host.requests == []


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


@pytest.mark.parametrize("kind", ["shell_quota", "operation_quota", "throttled"])
def test_quota_faults_retried(simulation, run_playbook, kind):
    simulation.inject("EX2019", "Create", kind, count=2)
    run = run_playbook(simulation, INFO)
    assert run.ok, run
    creates = [r["status"] for r in simulation.server("EX2019").requests if r["action"] == "Create"]
    assert creates == [500, 500, 200], creates


def test_wsman_fault_reported_with_reason_and_shell_closed(simulation, run_playbook):
    simulation.inject("EX2019", "Command", "http500")
    run = run_playbook(simulation, INFO)
    msg = failure(run, "t", "EX2019")
    assert "127.0.0.1 answered with a WS-Management fault while running Get-ExchangeServer" in msg, msg
    assert "internal error (injected by the simulator)" in msg
    assert simulation.open_shells() == {}


@pytest.mark.parametrize("endpoint", ["exchange", "host"])
def test_reset_during_read_is_retried(simulation, run_playbook, endpoint):
    simulation.inject("EX2019", "Receive", "reset", endpoint=endpoint)
    run = run_playbook(simulation, INFO)
    assert run.ok, run
    result = run.result("t", "EX2019")
    # The host facts (default endpoint) made it too, and the pool whose connection was reset was deleted.
    assert connected(result)["exsetup_version"] == "15.2.1748.24", result.get("warnings")
    assert not result.get("warnings"), result["warnings"]
    assert simulation.server("EX2019").pending_faults() == [] and simulation.host("EX2019").pending_faults() == []
    assert simulation.open_shells() == {}


def test_hostile_export_path_and_refused_options(simulation, run_playbook):
    path = "C:\\Certs\\x'; Remove-Item C:\\ -Recurse; $(Stop-Computer) `n \u2019.cer"
    run = run_playbook(
        simulation,
        "- hosts: EX2019\n  gather_facts: false\n  tasks:\n    - name: cert\n      exchange.hybrid.exchange_oauth_cert:\n"
        '        export_path: "{{ p }}"\n    - name: bad\n      exchange.hybrid.exchange_oauth_cert:\n'
        '        domain_name: "{{ d }}"\n',
        extra_vars={"p": path, "d": "contoso.com'; Remove-Item C:\\"},
    )
    # The file is written by the fixed write_file script on the default endpoint, the path a parameter value.
    files = [c for c in simulation.writes() if c["cmdlet"] == "script:write_file"]
    assert [c["parameters"]["Path"] for c in files] == [path]
    assert {c["endpoint"] for c in files} == {"Microsoft.PowerShell"}
    assert "domain_name" in failure(run, "bad", "EX2019")


def _inventory(sim, tmp_path, **changes):
    """sim's inventory with host variables changed (None removes one; a callable gets the host's name)."""
    inventory = sim.inventory()
    hosts = inventory["all"]["children"]["exchange"]["hosts"]
    for name, host in hosts.items():
        for key, value in changes.items():
            value = value(name) if callable(value) else value
            if value is None:
                host.pop(key, None)
            else:
                host[key] = value
    path = tmp_path / ("inventory-custom-%d.yml" % len(list(tmp_path.glob("inventory-custom-*.yml"))))
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


@pytest.mark.parametrize("user", ["ansible_user", "ticket_cache_user"])
def test_kerberos_from_a_ticket_cache_without_password(simulation, run_playbook, tmp_path, user):
    # kinit on the controller, then an inventory without ansible_password (and, the second time, without a user).
    ccache = simulation.realm.kinit(simulation.kerberos_username, simulation.password, str(tmp_path / "krb5cc_admin"))
    changes = {"ansible_password": None}
    if user == "ticket_cache_user":
        changes["ansible_user"] = None
    inventory = _inventory(simulation, tmp_path, **changes)
    run = run_playbook(simulation, CONFIGURE, inventory=inventory, env={"KRB5CCNAME": ccache})
    assert run.ok, run
    assert run.result("cert", "EX2019")["changed"] and run.result("authserver", "EX2019")["changed"]
    assert used_auth(simulation.server("EX2019")) == {("kerberos", "http")}
    assert {r["user"] for r in simulation.server("EX2019").requests} == {simulation.username}
    # The same inventory with an empty ticket cache: no ticket, and the message says what to do.
    empty = run_playbook(
        simulation, INFO, inventory=inventory, env={"KRB5CCNAME": "FILE:" + str(tmp_path / "krb5cc_empty")}
    )
    msg = failure(empty, "t", "EX2019")
    assert "no Kerberos ticket" in msg and "kinit" in msg, msg


def test_winrm_host_with_kerberos(simulation, run_playbook, tmp_path):
    # A winrm host instead of psrp: the ansible_winrm_* variables become the same module options.
    inventory = _inventory(
        simulation,
        tmp_path,
        ansible_connection="winrm",
        ansible_psrp_protocol=None,
        ansible_psrp_auth=None,
        ansible_psrp_ca_cert=None,
        ansible_psrp_negotiate_hostname_override=None,
        ansible_winrm_scheme="https",
        ansible_winrm_transport="kerberos",
        ansible_winrm_ca_trust_path=simulation.ca_path,
        ansible_winrm_kerberos_hostname_override=lambda name: simulation.spec(name).fqdn,
    )
    run = run_playbook(simulation, CONFIGURE, inventory=inventory)
    assert run.ok, run
    assert run.result("cert", "EX2019")["changed"] and run.result("authserver", "EX2019")["changed"]
    info = run_playbook(
        simulation,
        "- hosts: exchange\n  gather_facts: false\n  tasks:\n    - name: t\n      exchange.hybrid.exchange_server_info:\n",
        inventory=inventory,
    )
    assert info.ok, info
    for name in ("EX2013", "EX2016", "EX2019"):
        result = info.result("t", name)
        assert connected(result)["name"] == name and not result.get("warnings"), result
        assert used_auth(simulation.server(name)) == {("kerberos", "http")}
        assert used_auth(simulation.host(name)) == {("kerberos", "https")}


def test_password_never_in_output_at_vvvv(simulation, run_playbook):
    run = run_playbook(simulation, CONFIGURE, verbosity=4, diff=True)
    assert run.ok, run
    assert simulation.password not in run.stdout + run.stderr + json.dumps(run.tasks)
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in run.stdout
    # pypsrp's DEBUG log (every SOAP message) goes to Python logging, never into Ansible's output.
    assert "<s:Envelope" not in run.stdout + run.stderr and "Sending message" not in run.stdout + run.stderr


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
