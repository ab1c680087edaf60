"""The DAuth guard through the push_notifications role (issue 15, CSS-Exchange PR #2399): an organization whose
hybrid uses DAuth only (no IntraOrganizationConnector, no Exchange Online partner application) is refused before
anything changes on the dedicated application path; push_notifications_allow_without_oauth_hybrid goes on."""

from __future__ import annotations

from hybrid_sim.simulation import ServerSpec

from test_role_support import CONFIGURE, org_snapshot, role_vars, tenant

SUPPORTED = [ServerSpec("EX2019", "Version 15.2 (Build 1748.10)", exsetup_version="15.2.1748.24")]
GUARD_TASK = "the dedicated application's setting override may be turned on (DAuth guard), once"


def test_dauth_only_organization_is_refused_before_any_change(make_simulation, run_playbook):
    sim = make_simulation(servers=SUPPORTED, exchange_options={"dauth_only": True})
    before = org_snapshot(sim)
    hybrid = role_vars(entra_target="hybrid_application", restart_health_service=False)
    run = run_playbook(sim, CONFIGURE, extra_vars=hybrid)
    assert not run.ok
    failed = [t for t in run.tasks if t["status"] == "failed"]
    assert failed[0]["task"].endswith(GUARD_TASK), failed[0]
    message = failed[0]["result"]["msg"]
    assert "does not use OAuth for hybrid" in message and "IntraOrganizationConnector" in message
    assert "allow_without_oauth_hybrid" in message
    assert org_snapshot(sim) == before and not tenant(sim).get("applications")
    state = sim.read_state()["exchange"]
    assert state["setting_overrides"] == [] and state["auth_servers"] == []
    assert not [c for c in sim.calls() if c["cmdlet"].split("-")[0] in ("New", "Set", "Remove", "Enable", "Import")]


def test_the_override_option_goes_on(make_simulation, run_playbook):
    sim = make_simulation(servers=SUPPORTED, exchange_options={"dauth_only": True})
    hybrid = role_vars(
        entra_target="hybrid_application", restart_health_service=False, allow_without_oauth_hybrid=True, verify=False
    )
    run = run_playbook(sim, CONFIGURE, extra_vars=hybrid)
    assert run.ok, run
    guard = run.result("Step 3 - read the organization's OAuth configuration, once")
    assert guard["oauth_hybrid"]["passed"] is False
    override = run.result("Step 3 - the setting override that turns the dedicated application on, once")
    assert override["action"] == "created", run
    assert [o["Name"] for o in sim.read_state()["exchange"]["setting_overrides"]] == ["EnableExchangeHybrid3PAppFeature"]
