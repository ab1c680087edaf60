"""The dedicated application's permission families (issue 15 §2) through msol_sp_credential against the simulated
Entra ID: the May 2026 Graph workflow's Microsoft Graph app roles with admin consent, Graph only, removal of a family
(its consent and its requiredResourceAccess entries), permissions that are not ours kept."""

from __future__ import annotations

import json

import pytest

from hybrid_sim.entra import (
    EXCHANGE_ONLINE_APP_ID,
    EXCHANGE_ONLINE_SP_ID,
    FULL_ACCESS_AS_APP_ROLE_ID,
    GRAPH_APP_ROLES,
    MICROSOFT_GRAPH_APP_ID,
    MICROSOFT_GRAPH_SP_ID,
    make_certificate,
)

from test_graph_msol_sp_credential import ORG_GUID, graph_simulation, play, run, tenant

GRAPH_FLOW = {value: role_id for value, role_id, _display in GRAPH_APP_ROLES if value != "User.Read.All"}
USER_READ_ALL = next(role_id for value, role_id, _display in GRAPH_APP_ROLES if value == "User.Read.All")


@pytest.fixture(scope="module")
def auth_cert():
    return make_certificate()


def the_app(sim):
    [app] = tenant(sim)["applications"]
    return app


def consents(sim):
    """{(resource sp id, app role id)} granted to the application's service principal."""
    app = the_app(sim)
    sp = next(s for s in tenant(sim)["servicePrincipals"] if s["appId"] == app["appId"])
    return {(a["resourceId"], a["appRoleId"]) for a in tenant(sim)["appRoleAssignments"] if a["principalId"] == sp["id"]}


def requested(app):
    return {(r["resourceAppId"], a["id"]) for r in app["requiredResourceAccess"] for a in r["resourceAccess"]}


def hybrid_play(auth_cert, **args):
    return play("msol_sp_credential", target="hybrid_application", exchange_organization_guid=ORG_GUID,
                create_application=True, certificate=auth_cert.cert_pem, **args)


def test_graph_permissions_added_with_consent_then_unchanged_then_removed(make_simulation, tmp_path, run_playbook, auth_cert):
    sim = graph_simulation(make_simulation, tmp_path)
    assert run(run_playbook, sim, hybrid_play(auth_cert)).ok  # today's application: EWS only
    ews = {(EXCHANGE_ONLINE_SP_ID, FULL_ACCESS_AS_APP_ROLE_ID)}
    assert consents(sim) == ews

    both = hybrid_play(auth_cert, api_permissions=["ews", "graph"])
    checked = run(run_playbook, sim, both, check=True, diff=True)
    assert checked.ok, checked
    predicted = checked.result("under test")["application"]
    assert sorted(predicted["permissions"]["added"]) == sorted(GRAPH_FLOW)
    assert "grant admin consent for Calendars.Read" in predicted["actions"]
    assert consents(sim) == ews  # check mode wrote nothing

    first = run(run_playbook, sim, both)
    assert first.ok and first.result("under test")["changed"] is True, first
    done = first.result("under test")["application"]["permissions"]
    assert sorted(done["added"]) == sorted(GRAPH_FLOW) and sorted(done["consent_granted"]) == sorted(GRAPH_FLOW)
    graph = {(MICROSOFT_GRAPH_SP_ID, role_id) for role_id in GRAPH_FLOW.values()}
    assert consents(sim) == ews | graph
    assert requested(the_app(sim)) == {(EXCHANGE_ONLINE_APP_ID, FULL_ACCESS_AS_APP_ROLE_ID)} | {
        (MICROSOFT_GRAPH_APP_ID, role_id) for role_id in GRAPH_FLOW.values()}

    again = run(run_playbook, sim, both)
    assert again.ok and again.changed == 0, again

    # the info module names the Graph permissions and their family
    info_play = play("entra_key_credential_info", target="hybrid_application", exchange_organization_guid=ORG_GUID)
    info = run(run_playbook, sim, info_play)
    assert info.ok, info
    shown = {(p["value"], p["family"], p["consented"]) for p in info.result("under test")["hybrid_application"]["permissions"]}
    assert shown == {("full_access_as_app", "ews", True)} | {(value, "graph", True) for value in GRAPH_FLOW}

    # Graph only: EWS's consent and manifest entry go, Graph's stay
    graph_only = hybrid_play(auth_cert, api_permissions=["graph"], remove_api_permissions=["ews"])
    removed = run(run_playbook, sim, graph_only)
    assert removed.ok, removed
    result = removed.result("under test")["application"]["permissions"]
    assert result["removed"] == ["full_access_as_app"] and result["consent_revoked"] == ["full_access_as_app"]
    assert consents(sim) == graph
    assert requested(the_app(sim)) == {(MICROSOFT_GRAPH_APP_ID, role_id) for role_id in GRAPH_FLOW.values()}
    assert run(run_playbook, sim, graph_only).changed == 0


def test_removal_keeps_permissions_that_are_not_ours(make_simulation, tmp_path, run_playbook, auth_cert):
    sim = graph_simulation(make_simulation, tmp_path)
    assert run(run_playbook, sim, hybrid_play(auth_cert, api_permissions=["ews", "graph"])).ok
    # someone else's Graph permission on the same application, consented
    state = sim.store.read()
    entra = state["entra"]["tenants"][next(iter(state["entra"]["tenants"]))]
    app = entra["applications"][0]
    graph_entry = next(r for r in app["requiredResourceAccess"] if r["resourceAppId"] == MICROSOFT_GRAPH_APP_ID)
    graph_entry["resourceAccess"].append({"id": USER_READ_ALL, "type": "Role"})
    sp = next(s for s in entra["servicePrincipals"] if s["appId"] == app["appId"])
    entra["appRoleAssignments"].append({
        "id": "foreignAssignment0123456789abcdefghij", "appRoleId": USER_READ_ALL, "principalId": sp["id"],
        "principalType": "ServicePrincipal", "resourceId": MICROSOFT_GRAPH_SP_ID, "resourceDisplayName": "Microsoft Graph",
        "principalDisplayName": sp["displayName"], "createdDateTime": "2026-01-01T00:00:00Z", "deletedDateTime": None})
    sim.store.write(state)

    check = run(run_playbook, sim, hybrid_play(auth_cert, remove_api_permissions=["graph"]), check=True)
    assert check.ok and sorted(check.result("under test")["application"]["permissions"]["removed"]) == sorted(GRAPH_FLOW)
    assert (MICROSOFT_GRAPH_SP_ID, GRAPH_FLOW["Calendars.Read"]) in consents(sim)  # nothing written in check mode

    removed = run(run_playbook, sim, hybrid_play(auth_cert, remove_api_permissions=["graph"]))
    assert removed.ok, removed
    assert consents(sim) == {(EXCHANGE_ONLINE_SP_ID, FULL_ACCESS_AS_APP_ROLE_ID), (MICROSOFT_GRAPH_SP_ID, USER_READ_ALL)}
    assert requested(the_app(sim)) == {(EXCHANGE_ONLINE_APP_ID, FULL_ACCESS_AS_APP_ROLE_ID),
                                       (MICROSOFT_GRAPH_APP_ID, USER_READ_ALL)}


def test_graph_only_new_application_and_bad_input(make_simulation, tmp_path, run_playbook, auth_cert):
    sim = graph_simulation(make_simulation, tmp_path)
    both = run(run_playbook, sim, hybrid_play(auth_cert, api_permissions=["graph"], remove_api_permissions=["graph"]))
    assert not both.ok
    assert "graph is in both api_permissions and remove_api_permissions" in json.dumps(both.result("under test"))
    assert tenant(sim)["applications"] == []

    first = run(run_playbook, sim, hybrid_play(auth_cert, api_permissions=["graph"]))
    assert first.ok, first
    assert requested(the_app(sim)) == {(MICROSOFT_GRAPH_APP_ID, role_id) for role_id in GRAPH_FLOW.values()}
    assert consents(sim) == {(MICROSOFT_GRAPH_SP_ID, role_id) for role_id in GRAPH_FLOW.values()}
