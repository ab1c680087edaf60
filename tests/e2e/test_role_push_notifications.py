"""The push_notifications role through ansible-playbook against the simulated organization and tenant
(shared service principal path, the documented procedure)."""

from __future__ import annotations

import pytest
from hybrid_sim.entra.seed import DEFAULT_CLIENT_SECRET
from hybrid_sim.simulation import DEFAULT_SERVERS, ServerSpec

from test_role_support import (
    CONFIGURE,
    VERIFY,
    auth_servers,
    org_snapshot,
    probe_results,
    role_vars,
    shared_sp,
    sp_key_ids,
    state_bytes,
)

STEP_TASKS = (
    "Step 3 - the Auth certificate, once, on the first mailbox server",
    "Step 3 - the AuthServer for the tenant's token issuer, once",
    "Step 4 - the push notification proxy, once",
)


def _changed(run, task):
    return [t for t in run.results(task) if t["status"] == "changed"]


def test_fresh_organization_converges_probe_succeeds_rerun_changes_nothing(simulation, run_playbook):
    foreign = sp_key_ids(simulation)
    first = run_playbook(simulation, CONFIGURE, extra_vars=role_vars())
    assert first.ok, first
    for task in STEP_TASKS:
        assert len(_changed(first, task)) == 1, task  # organization-wide: once, not per host
    assert _changed(
        first, "Step 3 - the Auth certificate's key in Entra ID, once, on the controller"
    )
    probes = probe_results(first)
    assert [p["result_type"] for p in probes] == ["Succeeded"]
    assert set(foreign) < set(sp_key_ids(simulation))  # ours added, the others kept

    second = run_playbook(simulation, CONFIGURE, extra_vars=role_vars())
    assert second.ok, second
    assert second.changed == 0, second
    assert [p["result_type"] for p in probe_results(second)] == ["Succeeded"]
    for run in (first, second):
        assert simulation.password not in run.stdout + run.stderr
        assert DEFAULT_CLIENT_SECRET not in run.stdout + run.stderr

    # Tags per step: only step 4's proxy task (plus step 2, which every run needs) runs.
    tagged = run_playbook(simulation, CONFIGURE, extra_vars=role_vars(), args=["--tags", "proxy"])
    assert tagged.ok, tagged
    ran = {t["task"].split(" : ")[-1] for t in tagged.tasks if t["status"] != "skipped"}
    assert "Step 4 - the push notification proxy, once" in ran
    assert not [name for name in ran if name.startswith(("Step 1", "Step 3"))], ran
    assert not probe_results(tagged)


def test_check_mode_on_a_fresh_organization_reports_every_step_and_writes_nothing(simulation, run_playbook):
    before = state_bytes(simulation)
    run = run_playbook(simulation, CONFIGURE, extra_vars=role_vars(), check=True, diff=True)
    assert run.ok, run
    assert state_bytes(simulation) == before
    for task in STEP_TASKS:
        assert _changed(run, task), task
    # The new certificate's key cannot be read before it exists: the role says what it would upload.
    assert any("would upload" in str(t["result"].get("msg")) for t in run.tasks)
    assert "would change" in run.stdout
    assert not simulation.writes()


def test_a_2013_cu2_server_stops_the_run_at_step_2_naming_it(make_simulation, run_playbook):
    servers = list(DEFAULT_SERVERS) + [ServerSpec("EX2013CU2", "Version 15.0 (Build 712.24)")]
    sim = make_simulation(servers=servers)
    before = org_snapshot(sim)
    run = run_playbook(sim, CONFIGURE, extra_vars=role_vars())
    assert not run.ok
    failed = [t for t in run.tasks if t["status"] == "failed"]
    assert failed and failed[0]["task"].endswith("every Exchange server runs Exchange 2013 CU3 (15.0.775.38) or later")
    assert "EX2013CU2 (15.0.712.24)" in failed[0]["result"]["msg"]
    assert "EX2016" not in failed[0]["result"]["msg"]
    assert org_snapshot(sim) == before
    assert not sim.writes()


def _break_key(sim, run_playbook):
    play = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - name: read the current Auth certificate
      exchange.hybrid.exchange_oauth_cert:
        friendly_name: Exchange S2S OAuth
        server: 127.0.0.1
        connection_uri: "{{ hostvars['EX2019'].exchange_connection_uri }}"
        negotiate_hostname_override: "{{ hostvars['EX2019'].ansible_psrp_negotiate_hostname_override }}"
        port: "{{ hostvars['EX2019'].ansible_port }}"
        username: "{{ hostvars['EX2019'].ansible_user }}"
        password: "{{ hostvars['EX2019'].ansible_password }}"
        ca_path: "{{ exchange_sim_ca_path | default(hostvars['EX2019'].exchange_sim_ca_path) }}"
      check_mode: true
      register: cert
    - name: remove our key
      exchange.hybrid.msol_sp_credential:
        certificate: "{{ cert.certificate }}"
        state: absent
        tenant: "{{ hostvars['EX2019'].hybrid_tenant_id }}"
        client_id: "{{ hostvars['EX2019'].hybrid_graph_client_id }}"
        client_secret: "{{ hostvars['EX2019'].hybrid_graph_client_secret }}"
        authority_host: "{{ hostvars['EX2019'].hybrid_graph_base_url }}"
        graph_endpoint: "{{ hostvars['EX2019'].hybrid_graph_base_url }}"
        ca_path: "{{ hostvars['EX2019'].exchange_sim_ca_path }}"
"""
    return run_playbook(sim, play)


def _break_auth_server(sim, run_playbook):
    # Someone edits the AuthServer behind Exchange's back (New-/Set-AuthServer would refuse a URL that does not
    # answer): change the stored AuthMetadataUrl directly.
    del run_playbook
    with sim.store.transaction() as state:
        [server] = [s for s in state["exchange"]["auth_servers"] if s["Name"] == "MicrosoftSts"]
        server["AuthMetadataUrl"] = "https://accounts.accesscontrol.windows.net/metadata/json/1/?realm=fabrikam.com"


def _break_proxy(sim, run_playbook):
    play = """\
- hosts: EX2019
  gather_facts: false
  tasks:
    - name: proxy off
      exchange.hybrid.push_proxy:
        state: disabled
"""
    return run_playbook(sim, play)


@pytest.mark.parametrize(
    "breaker, words",
    [
        (_break_key, "is not registered on the Entra ID service principal"),
        (_break_auth_server, "no enabled MicrosoftACS AuthServer has the authorization metadata URL"),
        (_break_proxy, "push notification proxy (OnPrem-Proxy) is disabled"),
    ],
    ids=["key-removed-from-entra", "authserver-url-wrong", "proxy-disabled"],
)
def test_each_missing_piece_fails_verify_by_name_and_configure_repairs_it(simulation, run_playbook, breaker, words):
    quick = role_vars(restart_health_service=False)
    assert run_playbook(simulation, CONFIGURE, extra_vars=quick).ok
    broken = breaker(simulation, run_playbook)
    assert broken is None or (broken.ok and broken.changed >= 1), broken

    verify = run_playbook(simulation, VERIFY, extra_vars=quick)
    assert not verify.ok
    failed = [t for t in verify.tasks if t["status"] == "failed"]
    assert len(failed) == 1
    assert words in failed[0]["result"]["msg"], failed[0]["result"]["msg"]

    repair = run_playbook(simulation, CONFIGURE, extra_vars=quick)
    assert repair.ok, repair
    assert repair.changed >= 1
    assert run_playbook(simulation, VERIFY, extra_vars=quick).ok


def test_verification_waits_for_the_health_service_not_120_seconds(make_simulation, run_playbook):
    sim = make_simulation(exchange_options={"health_ready_delay_seconds": 20})
    run = run_playbook(sim, CONFIGURE, extra_vars=role_vars(probe_servers="all"))
    assert run.ok, run
    probes = probe_results(run)
    # Every mailbox server of the play probes itself, each after its own health service restart.
    assert sorted(p["target_server"] for p in probes) == [
        "ex2013.contoso.com",
        "ex2016.contoso.com",
        "ex2019.contoso.com",
    ]
    for probe in probes:
        assert probe["result_type"] == "Succeeded"
        assert probe["restarted"] is True
        assert 20 <= probe["waited_seconds"] < 60, probe


def test_disabled_then_absent_roll_back_and_keep_what_is_not_ours(simulation, run_playbook):
    foreign = sp_key_ids(simulation)
    quick = role_vars(restart_health_service=False)
    assert run_playbook(simulation, CONFIGURE, extra_vars=quick).ok
    assert len(sp_key_ids(simulation)) == len(foreign) + 1

    disabled = run_playbook(simulation, CONFIGURE, extra_vars=role_vars(state="disabled"))
    assert disabled.ok, disabled
    app = next(a for a in simulation.read_state()["exchange"]["push_notification_apps"] if a["Name"] == "OnPrem-Proxy")
    assert app["Enabled"] is False
    assert [s["Name"] for s in auth_servers(simulation)] == ["MicrosoftSts"]
    assert not run_playbook(simulation, VERIFY, extra_vars=quick).ok

    absent = run_playbook(simulation, CONFIGURE, extra_vars=role_vars(state="absent"))
    assert absent.ok, absent
    assert sp_key_ids(simulation) == foreign
    assert all(k.get("key") for k in shared_sp(simulation)["keyCredentials"])
    assert auth_servers(simulation) == []
    again = run_playbook(simulation, CONFIGURE, extra_vars=role_vars(state="absent"))
    assert again.ok and again.changed == 0, again
