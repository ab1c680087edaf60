"""entra_key_credential_info against a fake Graph client: both targets, ours and expired keys, not found as an
answer, permissions and consent, input refused before any Graph call, never a write and never key material."""

from __future__ import annotations

import copy
import datetime as dt
import json

import pytest
from test_msol_sp_credential import CONNECTION, FOREIGN, HYBRID_APP, OURS, SP_ID, FakeGraph

from ansible_collections.exchange.hybrid.plugins.modules import entra_key_credential_info
from hybrid_sim.entra import EXCHANGE_ONLINE_APP_ID, FULL_ACCESS_AS_APP_ROLE_ID, make_certificate
from hybrid_sim.entra.seed import key_credential
from hybrid_sim.module_runner import run_module

APP_SP_ID = "44444444-4444-4444-8444-444444444444"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
USER_READ = "e1fe6dd8-ba31-4d61-89e7-88639da4683d"
OLD = make_certificate("old", days=30, start=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))  # ends 2026-01-31


class ReadingGraph(FakeGraph):
    """The fake Graph, with delegated permission grants, and failing on any write."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.grants: list[dict] = []

    def get_all(self, path, what, params=None, permission=None):
        if path == "oauth2PermissionGrants":
            client_id = params["$filter"].split("'")[1]
            return [g for g in self.grants if g["clientId"] == client_id]
        return super().get_all(path, what, params, permission)

    def request(self, method, path, what, params=None, body=None, permission=None, replication=()):
        raise AssertionError(f"a reader wrote: {method} {path}")


def with_application(fake, keys=(), consent=True, service_principal=True):
    app = copy.deepcopy(HYBRID_APP)
    app["keyCredentials"] = list(keys)
    fake.apps.append(app)
    if service_principal:
        fake.sps.append({"id": APP_SP_ID, "appId": app["appId"], "displayName": app["displayName"], "keyCredentials": []})
    if consent and service_principal:
        fake.assignments.append({"id": "as-1", "principalId": APP_SP_ID, "resourceId": SP_ID,
                                 "appRoleId": FULL_ACCESS_AS_APP_ROLE_ID})
    return app


def run(fake, check=False, **args):
    outcome = run_module(entra_key_credential_info, args, connection=CONNECTION, graph=fake.construct, check=check)
    return dict(outcome.result, failed=outcome.failed)


def test_both_targets_ours_foreign_and_expired_keys_without_key_material():
    fake = ReadingGraph()
    fake.sp["keyCredentials"].append(key_credential(OLD, "old", "00000000-0000-4000-8000-0000000000bb"))
    with_application(fake, keys=[key_credential(OURS, "ours", "00000000-0000-4000-8000-0000000000aa")])
    result = run(fake, application_display_name="MyHybridApp", reference_time="2026-06-01T00:00:00Z",
                 thumbprints=[OLD.thumbprint.lower(), "", OURS.thumbprint])
    assert not result["failed"], result
    assert result["changed"] is False and result["reference_time"] == "2026-06-01T00:00:00Z"
    shared = result["shared_service_principal"]
    assert (shared["found"], shared["id"], shared["app_id"]) == (True, SP_ID, EXCHANGE_ONLINE_APP_ID)
    by_thumbprint = {k["thumbprint"]: k for k in shared["keys"]}
    assert set(by_thumbprint) == {c.thumbprint for c in FOREIGN} | {OLD.thumbprint}
    assert by_thumbprint[OLD.thumbprint]["ours"] is True and by_thumbprint[OLD.thumbprint]["expired"] is True
    for foreign in FOREIGN:
        assert by_thumbprint[foreign.thumbprint]["ours"] is False and by_thumbprint[foreign.thumbprint]["expired"] is False
    assert set(by_thumbprint[OLD.thumbprint]) == {"key_id", "thumbprint", "display_name", "type", "usage",
                                                  "start_date_time", "end_date_time", "expired", "ours"}
    hybrid = result["hybrid_application"]
    assert (hybrid["found"], hybrid["app_id"], hybrid["display_name"]) == (True, HYBRID_APP["appId"], "MyHybridApp")
    assert [(k["thumbprint"], k["ours"], k["expired"]) for k in hybrid["keys"]] == [(OURS.thumbprint, True, False)]
    assert hybrid["service_principal"] == {"found": True, "id": APP_SP_ID}
    assert hybrid["permissions"] == [{"resource_app_id": EXCHANGE_ONLINE_APP_ID, "resource": "Office 365 Exchange Online",
                                      "type": "Role", "value": "full_access_as_app", "id": FULL_ACCESS_AS_APP_ROLE_ID,
                                      "consented": True, "family": "ews"}]
    assert hybrid["consent_granted"] is True
    text = json.dumps(result)
    for cert in [OURS, OLD, *FOREIGN]:
        assert cert.base64_der not in text and cert.base64_der[:64] not in text
    assert "secret-canary-123" not in text


def test_expired_is_judged_by_reference_time_not_the_controller_clock():
    fake = ReadingGraph(keys=[key_credential(OLD, "old", "00000000-0000-4000-8000-0000000000bb")])
    before_end = run(fake, target="shared_service_principal", reference_time="2026-01-30T23:59:59Z")
    at_end = run(fake, target="shared_service_principal", reference_time="2026-01-31T00:00:00+00:00")
    without_offset = run(fake, target="shared_service_principal", reference_time="2026-02-01T00:00:00")
    assert [k["expired"] for k in before_end["shared_service_principal"]["keys"]] == [False]
    assert [k["expired"] for k in at_end["shared_service_principal"]["keys"]] == [True]
    assert without_offset["reference_time"] == "2026-02-01T00:00:00Z"
    default = run(fake, target="shared_service_principal")  # the controller's clock
    now = dt.datetime.now(dt.timezone.utc)
    assert abs((dt.datetime.fromisoformat(default["reference_time"].replace("Z", "+00:00")) - now).total_seconds()) < 600
    assert "hybrid_application" not in default and "hybrid_application" not in before_end


def test_a_missing_application_is_an_answer_and_nothing_is_waited_for():
    fake = ReadingGraph()
    result = run(fake, target="hybrid_application", exchange_organization_guid="5e3c2a1b-0f9e-4d8c-b7a6-95f4e3d2c1b0")
    assert not result["failed"], result
    hybrid = result["hybrid_application"]
    assert hybrid["found"] is False and hybrid["keys"] == [] and hybrid["permissions"] == []
    assert hybrid["display_name"] == "ExchangeServerApp-5e3c2a1b-0f9e-4d8c-b7a6-95f4e3d2c1b0"
    assert hybrid["service_principal"] == {"found": False, "id": None} and hybrid["consent_granted"] is False
    assert "shared_service_principal" not in result
    by_id = run(fake, target="hybrid_application", application_id=HYBRID_APP["appId"])
    assert not by_id["failed"] and by_id["hybrid_application"]["found"] is False
    assert fake.replication_wait == 0.0


def test_an_application_not_yet_listed_is_found_by_its_id():
    fake = ReadingGraph()
    app = with_application(fake)
    fake.unlisted.add(app["id"])
    result = run(fake, target="hybrid_application", application_id=app["appId"])
    assert result["hybrid_application"]["found"] is True and result["hybrid_application"]["id"] == app["id"]


def test_missing_consent_and_service_principal_are_reported():
    fake = ReadingGraph()
    with_application(fake, consent=False)
    no_consent = run(fake, target="hybrid_application", application_display_name="MyHybridApp")["hybrid_application"]
    assert [p["consented"] for p in no_consent["permissions"]] == [False] and no_consent["consent_granted"] is False
    fake = ReadingGraph()
    with_application(fake, service_principal=False)
    no_sp = run(fake, target="hybrid_application", application_display_name="MyHybridApp")["hybrid_application"]
    assert no_sp["service_principal"] == {"found": False, "id": None} and no_sp["consent_granted"] is False
    assert [p["value"] for p in no_sp["permissions"]] == ["full_access_as_app"]


def test_delegated_permissions_are_consented_by_a_tenant_wide_grant():
    fake = ReadingGraph()
    app = with_application(fake)
    app["requiredResourceAccess"].append({"resourceAppId": GRAPH_APP_ID, "resourceAccess": [{"id": USER_READ, "type": "Scope"}]})
    fake.sps.append({"id": "55555555-5555-4555-8555-555555555555", "appId": GRAPH_APP_ID, "displayName": "Microsoft Graph",
                     "appRoles": [], "oauth2PermissionScopes": [{"id": USER_READ, "value": "User.Read"}], "keyCredentials": []})
    args = dict(target="hybrid_application", application_display_name="MyHybridApp")
    result = run(fake, **args)["hybrid_application"]
    assert [(p["resource"], p["type"], p["value"], p["consented"]) for p in result["permissions"]] == [
        ("Office 365 Exchange Online", "Role", "full_access_as_app", True),
        ("Microsoft Graph", "Scope", "User.Read", False),
    ]
    assert result["consent_granted"] is False
    fake.grants.append({"clientId": APP_SP_ID, "consentType": "AllPrincipals",
                        "resourceId": "55555555-5555-4555-8555-555555555555", "scope": "openid User.Read"})
    assert run(fake, **args)["hybrid_application"]["consent_granted"] is True


def test_check_mode_reads_the_same():
    fake = ReadingGraph()
    with_application(fake)
    args = dict(application_display_name="MyHybridApp", reference_time="2026-06-01T00:00:00Z")
    assert run(fake, check=True, **args) == run(fake, **args)


def test_two_applications_with_the_name_are_refused():
    fake = ReadingGraph()
    with_application(fake)
    fake.apps.append(dict(copy.deepcopy(HYBRID_APP), id="app-2", appId="66666666-6666-4666-8666-666666666666"))
    result = run(fake, target="hybrid_application", application_display_name="MyHybridApp")
    assert result["failed"] and "Found 2 applications named 'MyHybridApp'" in result["msg"] and "application_id" in result["msg"]


@pytest.mark.parametrize(
    "args, fragment",
    [
        ({}, "target: both needs application_id, application_display_name, or exchange_organization_guid"),
        ({"target": "hybrid_application", "application_id": "nope"}, "application_id must be"),
        ({"exchange_organization_guid": "nope"}, "exchange_organization_guid must be a GUID"),
        ({"target": "shared_service_principal", "thumbprints": ["abc"]}, "every entry of thumbprints must be"),
        ({"target": "shared_service_principal", "reference_time": "yesterday"}, "reference_time must be a UTC time in ISO 8601"),
        ({"application_id": HYBRID_APP["appId"], "application_display_name": "x"}, "mutually exclusive"),
    ],
)
def test_input_errors_before_any_graph_call(args, fragment):
    fake = ReadingGraph()
    result = run(fake, **args)
    assert result["failed"] and fragment in result["msg"], result
    assert fake.constructed == []


def test_a_shared_service_principal_missing_is_an_answer():
    fake = ReadingGraph()
    fake.sps.clear()
    result = run(fake, target="shared_service_principal")
    assert result["shared_service_principal"] == {"found": False, "id": None, "app_id": None, "display_name": None, "keys": []}
