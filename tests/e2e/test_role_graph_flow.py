"""The push_notifications role's May 2026 Graph workflow (issue 15 §2): every server's build checked, the Graph
permissions granted with admin consent, the RouteThroughMSGraph override set with the VariantConfiguration refresh;
rerun unchanged; check mode writes nothing; off again removes our override only; a server below the May 2026 hotfix
update stops the run before any change, named with the build it needs."""

from __future__ import annotations

from hybrid_sim.entra import GRAPH_APP_ROLES, MICROSOFT_GRAPH_SP_ID
from hybrid_sim.simulation import SE_FEB26SU, SE_MAY26HU, ServerSpec

from test_role_support import CONFIGURE, org_snapshot, role_vars, state_bytes, tenant

GRAPH_ROLE_IDS = {role_id for value, role_id, _display in GRAPH_APP_ROLES if value != "User.Read.All"}
SECOND_MAY26HU = ServerSpec("EXSE3", "Version 15.2 (Build 2562.17)", exsetup_version="15.2.2562.41")


def graph_overrides(sim):
    return [o for o in sim.read_state()["exchange"]["setting_overrides"] if o["SectionName"] == "RouteThroughMSGraph"]


def graph_consents(sim):
    [app] = tenant(sim)["applications"]
    sp = next(s for s in tenant(sim)["servicePrincipals"] if s["appId"] == app["appId"])
    return {a["appRoleId"] for a in tenant(sim)["appRoleAssignments"]
            if a["principalId"] == sp["id"] and a["resourceId"] == MICROSOFT_GRAPH_SP_ID}


def writes(sim, since=0):
    return [c["cmdlet"] for c in sim.calls()[since:] if not c["cmdlet"].startswith(("Get-", "Test-"))]


def test_graph_flow_on_rerun_check_mode_then_off(make_simulation, run_playbook):
    sim = make_simulation(servers=[SE_MAY26HU, SECOND_MAY26HU])
    on = role_vars(entra_target="hybrid_application", restart_health_service=False, route_through_graph=True)

    before = state_bytes(sim)
    checked = run_playbook(sim, CONFIGURE, extra_vars=on, check=True)
    assert checked.ok, checked
    assert state_bytes(sim) == before  # check mode writes nothing

    first = run_playbook(sim, CONFIGURE, extra_vars=on)
    assert first.ok, first
    [override] = graph_overrides(sim)
    assert (override["Name"], override["ComponentName"], override["Parameters"]) == (
        "EnableRouteThroughMSGraphFeature", "SettingOverride", ["Enabled=true"])
    assert graph_consents(sim) == GRAPH_ROLE_IDS  # EWS kept beside Graph (default api_permissions [ews])
    [evosts] = [a for a in sim.read_state()["exchange"]["auth_servers"] if a["Type"] == "AzureAD"]
    assert evosts["GraphBaseUrl"] == sim.endpoints()["entra"]["base_url"]  # the Graph endpoint tenant_info names
    refreshes = [c for c in sim.calls() if c["cmdlet"] == "Get-ExchangeDiagnosticInfo"
                 and c["parameters"].get("Component") == "VariantConfiguration"]
    assert refreshes
    result = first.result("Step 3 - the setting override that routes hybrid requests through Microsoft Graph, once")
    assert result["changed"] is True

    calls = len(sim.calls())
    second = run_playbook(sim, CONFIGURE, extra_vars=on)
    assert second.ok and second.changed == 0, second
    assert not [w for w in writes(sim, calls) if "SettingOverride" in w]

    # an override that is not ours, in the same section, survives the off switch
    state = sim.read_state()
    foreign = dict(override, Name="SomeoneElsesGraphOverride", Identity="SomeoneElsesGraphOverride")
    state["exchange"]["setting_overrides"].append(foreign)
    sim.store.write(state)

    off = role_vars(entra_target="hybrid_application", restart_health_service=False, route_through_graph=False,
                    hybrid_remove_api_permissions=["graph"])
    turned_off = run_playbook(sim, CONFIGURE, extra_vars=off)
    assert turned_off.ok, turned_off
    assert [o["Name"] for o in graph_overrides(sim)] == ["SomeoneElsesGraphOverride"]
    assert graph_consents(sim) == set()  # permissions as asked: graph removed
    again = run_playbook(sim, CONFIGURE, extra_vars=off)
    assert again.ok and again.changed == 0, again


def test_server_below_may_2026_hu_stops_before_any_change(make_simulation, run_playbook):
    sim = make_simulation(servers=[SE_MAY26HU, SE_FEB26SU])
    before = org_snapshot(sim)
    on = role_vars(entra_target="hybrid_application", restart_health_service=False, route_through_graph=True)
    run = run_playbook(sim, CONFIGURE, extra_vars=on)
    assert not run.ok
    failed = [t for t in run.tasks if t["status"] == "failed"]
    assert failed[0]["task"].endswith("every Exchange server supports the Graph workflow (May 2026 hotfix update)")
    message = failed[0]["result"]["msg"]
    assert "EXSE1 (15.2.2562.37; needs the May 2026 hotfix update (15.2.2562.41))" in message
    assert "EXSE2" not in message
    assert org_snapshot(sim) == before and not tenant(sim).get("applications")
