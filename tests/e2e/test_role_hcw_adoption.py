"""An organization the Hybrid Configuration Wizard configured, through the push_notifications role's dedicated
application path and through exchange_auth_server: HCW's AuthServers are adopted, none is added (issue 15)."""

from __future__ import annotations

import pytest

from hybrid_sim.simulation import ServerSpec

from test_role_support import CONFIGURE, org_snapshot, probe_results, role_vars, tenant

TENANT_ID = "6a4b3c2d-1e0f-4a5b-8c7d-9e0f1a2b3c4d"
SUPPORTED = [
    ServerSpec("EX2016", "Version 15.1 (Build 2507.6)", exsetup_version="15.1.2507.55"),
    ServerSpec("EX2019", "Version 15.2 (Build 1748.10)", exsetup_version="15.2.1748.24"),
]


def hcw_simulation(make_simulation, **exchange_options):
    options = {"hcw": True, "tenant_id": TENANT_ID, "hybrid_domains": ["contoso.com"]}
    options.update(exchange_options)
    return make_simulation(servers=SUPPORTED, exchange_options=options, entra_options={"tenant_id": TENANT_ID})


def auth_servers(sim):
    return sim.read_state()["exchange"]["auth_servers"]


def writes_of(sim, cmdlet):
    return [c for c in sim.calls() if c["cmdlet"] == cmdlet]


def overrides(sim):
    return sim.read_state()["exchange"]["setting_overrides"]


# The role's own override name (Microsoft's script's, the default) and another one: either way the override the
# script made is used, never a second one.
@pytest.mark.parametrize("override_name", ["EnableExchangeHybrid3PAppFeature", "ExchangeHybrid3PApp-Ansible"])
def test_hcw_organization_converges_with_no_new_auth_server(make_simulation, run_playbook, override_name):
    sim = hcw_simulation(make_simulation, hybrid_app_override=True)
    seeded = {s["Name"]: s["Type"] for s in auth_servers(sim)}
    assert sorted(seeded.values()) == ["AzureAD", "MicrosoftACS"]
    [evo_name] = [n for n, t in seeded.items() if t == "AzureAD"]
    [seeded_override] = overrides(sim)
    assert seeded_override["Name"] == "EnableExchangeHybrid3PAppFeature"
    hybrid = role_vars(
        entra_target="hybrid_application", restart_health_service=False, setting_override_name=override_name
    )

    first = run_playbook(sim, CONFIGURE, extra_vars=hybrid)
    assert first.ok, first
    assert [p["result_type"] for p in probe_results(first)] == ["Succeeded"]
    assert writes_of(sim, "New-AuthServer") == [] and writes_of(sim, "Remove-AuthServer") == []
    after = {s["Name"]: s for s in auth_servers(sim)}
    assert {n: s["Type"] for n, s in after.items()} == seeded
    [app] = tenant(sim)["applications"]
    evo = after[evo_name]
    assert evo["ApplicationIdentifier"] == app["appId"] and evo["DomainName"] == ["contoso.com"]
    assert evo["AuthMetadataUrl"].startswith("https://login.windows.net/%s/" % TENANT_ID)  # HCW's URL kept
    evosts = first.result("Step 3 - the evoSTS AuthServer points at the dedicated application, once")
    assert evosts["adopted"] is True and evosts["name"] == evo_name
    assert evosts["domain_name_source"] == "acs_auth_server"
    assert writes_of(sim, "New-SettingOverride") == [] and writes_of(sim, "Remove-SettingOverride") == []
    assert overrides(sim) == [seeded_override]  # untouched, its reason too
    override = first.result("Step 3 - the setting override that turns the dedicated application on, once")
    assert override["name"] == "EnableExchangeHybrid3PAppFeature" and override["changed"] is False
    assert override["adopted"] is (override_name != "EnableExchangeHybrid3PAppFeature")
    assert override["oauth_hybrid"]["passed"] is True and "duplicates" not in override

    calls_before = len(sim.calls())
    second = run_playbook(sim, CONFIGURE, extra_vars=hybrid)
    assert second.ok, second
    assert second.changed == 0, second
    later = sim.calls()[calls_before:]
    assert not [c for c in later if c["cmdlet"] in ("New-AuthServer", "Set-AuthServer", "Remove-AuthServer")]
    assert not [c for c in later if c["cmdlet"] in ("New-SettingOverride", "Remove-SettingOverride")]


def test_duplicate_evosts_refused_before_any_change_with_the_finding(make_simulation, run_playbook):
    sim = hcw_simulation(make_simulation, duplicate_evosts=True)
    before = org_snapshot(sim)
    hybrid = role_vars(entra_target="hybrid_application", restart_health_service=False)
    run = run_playbook(sim, CONFIGURE, extra_vars=hybrid)
    assert not run.ok
    failed = [t for t in run.tasks if t["status"] == "failed"]
    assert failed[0]["task"].endswith(
        "the evoSTS AuthServer to point at the dedicated application is unambiguous, once"
    )
    assert org_snapshot(sim) == before and not tenant(sim).get("applications")  # no application created either
    message = failed[0]["result"]["msg"]
    names = sorted(s["Name"] for s in auth_servers(sim) if s["Type"] == "AzureAD")
    assert all("'%s'" % n in message for n in names) and "Remove-AuthServer -Identity 'EvoSTS'" in message
    assert "remove_duplicates" in message and TENANT_ID in message
    assert writes_of(sim, "New-AuthServer") == [] and writes_of(sim, "Set-AuthServer") == []
    assert writes_of(sim, "Remove-AuthServer") == []


def test_module_refuses_duplicates_then_removes_them_on_request(make_simulation, run_playbook):
    sim = hcw_simulation(make_simulation, duplicate_evosts=True)
    before = org_snapshot(sim)
    play = (
        "- hosts: EX2019\n  gather_facts: false\n  tasks:\n    - name: evosts\n"
        "      exchange.hybrid.exchange_auth_server:\n        name: EvoSTS\n        type: azure_ad\n"
        "        tenant_id: %s\n        application_identifier: 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0\n"
        "        remove_duplicates: %s\n"
    )
    refused = run_playbook(sim, play % (TENANT_ID, "false"))
    assert not refused.ok and "Nothing was changed" in refused.result("evosts", "EX2019")["msg"]
    assert org_snapshot(sim) == before

    fixed = run_playbook(sim, play % (TENANT_ID, "true"))
    assert fixed.ok, fixed
    result = fixed.result("evosts", "EX2019")
    assert result["removed_duplicates"] == ["EvoSTS"] and result["name"].startswith("EvoSts - ")
    assert [s["Name"] for s in auth_servers(sim) if s["Type"] == "AzureAD"] == [result["name"]]
    assert [c["parameters"]["Identity"] for c in writes_of(sim, "Remove-AuthServer")] == ["EvoSTS"]

    again = run_playbook(sim, play % (TENANT_ID, "true"))
    assert again.ok and again.changed == 0, again


def test_duplicate_overrides_are_reported_then_removed_on_request(make_simulation, run_playbook):
    sim = hcw_simulation(make_simulation, duplicate_overrides=True)
    hybrid = role_vars(entra_target="hybrid_application", restart_health_service=False)
    first = run_playbook(sim, CONFIGURE, extra_vars=hybrid)
    assert first.ok, first
    override = first.result("Step 3 - the setting override that turns the dedicated application on, once")
    assert override["duplicates"] == ["Hybrid3PApp"] and "Remove-SettingOverride -Identity 'Hybrid3PApp'" in (
        override["duplicates_fix"]
    )
    assert writes_of(sim, "New-SettingOverride") == [] and len(overrides(sim)) == 2

    fixed = run_playbook(sim, CONFIGURE, extra_vars=dict(hybrid, push_notifications_remove_duplicate_setting_overrides=True))
    assert fixed.ok, fixed
    assert [o["Name"] for o in overrides(sim)] == ["EnableExchangeHybrid3PAppFeature"]
    assert [c["parameters"]["Identity"] for c in writes_of(sim, "Remove-SettingOverride")] == ["Hybrid3PApp"]
