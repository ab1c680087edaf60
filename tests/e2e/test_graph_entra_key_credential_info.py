"""entra_key_credential_info through real ansible-playbook against the simulated Entra ID + Graph: act with
msol_sp_credential, read back with the info module, assert, read again in check mode."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from test_graph_msol_sp_credential import ORG_GUID, exo_keys, graph_simulation, play, run, tenant

from hybrid_sim.entra import DEFAULT_TENANT_ID, EXCHANGE_ONLINE_SP_ID, FULL_ACCESS_AS_APP_ROLE_ID, make_certificate
from hybrid_sim.entra.seed import key_credential

PREVIOUS_KEY_ID = "22222222-3333-4444-8555-666666666666"


@pytest.fixture
def sim(make_simulation, tmp_path):
    return graph_simulation(make_simulation, tmp_path)


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_both_targets_ours_foreign_expired_by_reference_time_check_mode_and_no_key_material(sim, run_playbook):
    now = dt.datetime.now(dt.timezone.utc)
    current = make_certificate("Exchange Auth current")
    # our previous certificate's key, left on the shared service principal, valid for 10 more days by our clock
    previous = make_certificate("Exchange Auth previous", days=40, start=now - dt.timedelta(days=30))
    with sim.store.transaction() as state:
        sp = next(s for s in state["entra"]["tenants"][DEFAULT_TENANT_ID]["servicePrincipals"] if s["id"] == EXCHANGE_ONLINE_SP_ID)
        sp["keyCredentials"].append(key_credential(previous, "CN=Exchange Auth previous", PREVIOUS_KEY_ID))
    foreign = [k for k in exo_keys(sim) if k["keyId"] != PREVIOUS_KEY_ID]
    created = run(run_playbook, sim, play("msol_sp_credential", target="hybrid_application", exchange_organization_guid=ORG_GUID,
                                          create_application=True, certificate=current.cert_pem))
    assert created.ok, created
    patches, posts = sim.entra.counters["graph_PATCH"], sim.entra.counters["graph_POST"]

    reference_time = iso(now + dt.timedelta(days=20))  # the previous key has expired by then, the others have not
    text = play("entra_key_credential_info", exchange_organization_guid=ORG_GUID, reference_time=reference_time,
                thumbprints=[current.thumbprint, previous.thumbprint.lower(), ""])
    done = run(run_playbook, sim, text)
    assert done.ok and done.changed == 0, done
    result = done.result("under test")
    assert result["changed"] is False and result["reference_time"] == reference_time

    shared = result["shared_service_principal"]
    assert shared["found"] is True and shared["id"] == EXCHANGE_ONLINE_SP_ID
    by_id = {k["key_id"]: k for k in shared["keys"]}
    assert set(by_id) == {k["keyId"] for k in foreign} | {PREVIOUS_KEY_ID}
    assert (by_id[PREVIOUS_KEY_ID]["ours"], by_id[PREVIOUS_KEY_ID]["expired"]) == (True, True)
    assert by_id[PREVIOUS_KEY_ID]["thumbprint"] == previous.thumbprint
    for key in foreign:  # not ours, whoever added them, and still valid
        assert (by_id[key["keyId"]]["ours"], by_id[key["keyId"]]["expired"]) == (False, False)

    app = tenant(sim)["applications"][0]
    app_sp = next(s for s in tenant(sim)["servicePrincipals"] if s["appId"] == app["appId"])
    hybrid = result["hybrid_application"]
    assert (hybrid["found"], hybrid["id"], hybrid["app_id"]) == (True, app["id"], app["appId"])
    assert hybrid["display_name"] == f"ExchangeServerApp-{ORG_GUID}"
    assert [(k["thumbprint"], k["ours"], k["expired"]) for k in hybrid["keys"]] == [(current.thumbprint, True, False)]
    assert hybrid["service_principal"] == {"found": True, "id": app_sp["id"]}
    assert hybrid["permissions"] == [{"resource_app_id": "00000002-0000-0ff1-ce00-000000000000",
                                      "resource": "Office 365 Exchange Online", "type": "Role",
                                      "value": "full_access_as_app", "id": FULL_ACCESS_AS_APP_ROLE_ID, "consented": True, "family": "ews"}]
    assert hybrid["consent_granted"] is True

    # by the controller's clock the previous key is still valid
    by_our_clock = run(run_playbook, sim, play("entra_key_credential_info", target="shared_service_principal",
                                               thumbprints=[previous.thumbprint]))
    assert by_our_clock.ok, by_our_clock
    keys = by_our_clock.result("under test")["shared_service_principal"]["keys"]
    assert [(k["ours"], k["expired"]) for k in keys if k["key_id"] == PREVIOUS_KEY_ID] == [(True, False)]
    assert "hybrid_application" not in by_our_clock.result("under test")

    checked = run(run_playbook, sim, text, check=True)
    assert checked.ok and checked.changed == 0, checked
    assert checked.result("under test")["hybrid_application"] == hybrid
    assert checked.result("under test")["shared_service_principal"] == shared

    # nothing written, and no key material anywhere in what the runs showed
    assert (sim.entra.counters["graph_PATCH"], sim.entra.counters["graph_POST"]) == (patches, posts)
    material = [k["key"] for k in exo_keys(sim)] + [k["key"] for k in tenant(sim)["applications"][0]["keyCredentials"]]
    assert len(material) == 4 and all(material)
    for run_ in (done, by_our_clock, checked):
        shown = run_.stdout + json.dumps(run_.result("under test"))
        for key in material:
            assert key[:60] not in shown


def test_a_missing_application_is_an_answer(sim, run_playbook):
    done = run(run_playbook, sim, play("entra_key_credential_info", target="hybrid_application",
                                       exchange_organization_guid=ORG_GUID))
    assert done.ok and done.changed == 0, done
    hybrid = done.result("under test")["hybrid_application"]
    assert hybrid["found"] is False and hybrid["keys"] == [] and hybrid["consent_granted"] is False
    assert hybrid["display_name"] == f"ExchangeServerApp-{ORG_GUID}"
