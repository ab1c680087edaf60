"""The push_notifications role on the dedicated Exchange hybrid application path (issue 10)."""

from __future__ import annotations

from hybrid_sim.simulation import ServerSpec

from test_role_support import (
    CONFIGURE,
    org_snapshot,
    probe_results,
    role_vars,
    shared_sp,
    sp_key_ids,
    state_bytes,
    tenant,
)

SUPPORTED = [
    ServerSpec("EX2016", "Version 15.1 (Build 2507.6)", exsetup_version="15.1.2507.55"),
    ServerSpec("EX2019", "Version 15.2 (Build 1748.10)", exsetup_version="15.2.1748.24"),
]


def _applications(sim):
    return tenant(sim).get("applications") or []


def test_hybrid_path_converges_probe_succeeds_rerun_unchanged(make_simulation, run_playbook):
    sim = make_simulation(servers=SUPPORTED)
    hybrid = role_vars(entra_target="hybrid_application", restart_health_service=False)
    first = run_playbook(sim, CONFIGURE, extra_vars=hybrid)
    assert first.ok, first
    assert [p["result_type"] for p in probe_results(first)] == ["Succeeded"]
    [app] = _applications(sim)
    assert app["displayName"].startswith("ExchangeServerApp-")
    assert app.get("keyCredentials")
    exchange = sim.read_state()["exchange"]
    evosts = [s for s in exchange["auth_servers"] if s.get("Type") == "AzureAD"]
    assert [s["ApplicationIdentifier"] for s in evosts] == [app["appId"]]
    overrides = [o for o in exchange["setting_overrides"] if o["SectionName"] == "ExchangeOnpremAsThirdPartyAppId"]
    assert [o["Name"] for o in overrides] == ["EnableExchangeHybrid3PAppFeature"]

    second = run_playbook(sim, CONFIGURE, extra_vars=hybrid)
    assert second.ok, second
    assert second.changed == 0, second

    # absent on this path: our override and our key on the application go; the application and evoSTS stay.
    absent = run_playbook(sim, CONFIGURE, extra_vars=dict(hybrid, push_notifications_state="absent"))
    assert absent.ok, absent
    exchange = sim.read_state()["exchange"]
    assert not [o for o in exchange["setting_overrides"] if o["Name"] == "EnableExchangeHybrid3PAppFeature"]
    assert [s["Name"] for s in exchange["auth_servers"] if s.get("Type") == "AzureAD"] == [e["Name"] for e in evosts]
    [app] = _applications(sim)
    assert not app.get("keyCredentials")


def test_hybrid_path_check_mode_writes_nothing(make_simulation, run_playbook):
    sim = make_simulation(servers=SUPPORTED)
    before = state_bytes(sim)
    run = run_playbook(sim, CONFIGURE, extra_vars=role_vars(entra_target="hybrid_application"), check=True)
    assert run.ok, run
    assert state_bytes(sim) == before
    assert any("would create the dedicated hybrid application" in str(t["result"].get("msg")) for t in run.tasks)


def test_an_exchange_2013_server_is_refused_on_the_hybrid_path_before_any_change(simulation, run_playbook):
    before = org_snapshot(simulation)
    run = run_playbook(simulation, CONFIGURE, extra_vars=role_vars(entra_target="hybrid_application"))
    assert not run.ok
    failed = [t for t in run.tasks if t["status"] == "failed"]
    assert failed[0]["task"].endswith("supports the dedicated hybrid application (April 2025 hotfix update)")
    message = failed[0]["result"]["msg"]
    assert "EX2013" in message and "EX2016" not in message and "EX2019" not in message
    assert "15.1.2507.55" in message  # names the minimum builds
    assert org_snapshot(simulation) == before


def test_switching_from_the_shared_service_principal_keeps_every_key_not_ours(make_simulation, run_playbook):
    sim = make_simulation(servers=SUPPORTED)
    foreign = sp_key_ids(sim)
    assert len(foreign) == 2
    shared = run_playbook(sim, CONFIGURE, extra_vars=role_vars(restart_health_service=False))
    assert shared.ok, shared
    assert len(sp_key_ids(sim)) == 3

    switch = run_playbook(
        sim,
        CONFIGURE,
        extra_vars=role_vars(
            entra_target="hybrid_application", cleanup_shared_service_principal=True, restart_health_service=False
        ),
    )
    assert switch.ok, switch
    assert [p["result_type"] for p in probe_results(switch)] == ["Succeeded"]
    assert sp_key_ids(sim) == foreign
    assert all(k.get("key") for k in shared_sp(sim)["keyCredentials"])  # their key data survived the PATCH
    [app] = _applications(sim)
    assert app.get("keyCredentials")


def test_hybrid_path_under_entra_replication_delay_converges_on_the_first_run(make_simulation, run_playbook):
    # issue 15: right after the application is created Entra refuses its service principal and consent for a while
    sim = make_simulation(servers=SUPPORTED, entra_options={"replication_delay_seconds": 2})
    hybrid = role_vars(entra_target="hybrid_application", restart_health_service=False)
    first = run_playbook(sim, CONFIGURE, extra_vars=hybrid)
    assert first.ok, first
    assert [p["result_type"] for p in probe_results(first)] == ["Succeeded"]
    [app] = _applications(sim)
    sps = [s for s in tenant(sim)["servicePrincipals"] if s["appId"] == app["appId"]]
    assert len(sps) == 1
    assert [a["principalId"] for a in tenant(sim)["appRoleAssignments"]] == [sps[0]["id"]]
    evosts = [s for s in sim.read_state()["exchange"]["auth_servers"] if s.get("Type") == "AzureAD"]
    assert [s["ApplicationIdentifier"] for s in evosts] == [app["appId"]]

    second = run_playbook(sim, CONFIGURE, extra_vars=hybrid)
    assert second.ok, second
    assert second.changed == 0, second
    assert [a["id"] for a in _applications(sim)] == [app["id"]]
    assert len(tenant(sim)["appRoleAssignments"]) == 1
