"""msol_sp_credential against a fake Graph client layer: matching, check mode, diff, nothing not ours lost."""

from __future__ import annotations

import copy
import datetime as dt
import json

import pytest
from ansible.module_utils.common.warnings import _global_warnings, get_warning_messages

from ansible_collections.exchange.hybrid.plugins.module_utils._errors import GraphConnectionError, GraphError
from ansible_collections.exchange.hybrid.plugins.modules import msol_sp_credential
from hybrid_sim.module_runner import run_module
from hybrid_sim.entra import EXCHANGE_ONLINE_APP_ID, FULL_ACCESS_AS_APP_ROLE_ID, make_certificate
from hybrid_sim.entra.seed import key_credential

SP_ID = "0c3d9f6e-5a1b-4c2d-8e7f-1a2b3c4d5e6f"
OURS = make_certificate()
FOREIGN = [make_certificate(f"Foreign {i}", key_index=1) for i in range(2)]
CONNECTION = {"tenant": "contoso.onmicrosoft.com", "client_id": "cid", "client_secret": "secret-canary-123"}


class FakeGraph:
    """Just enough Graph for the module: the Exchange Online SP, applications, writes recorded."""

    def __init__(self, keys=None, apply_patch=True, drop_patch=None, roles_ok=True):
        self.sp = {
            "id": SP_ID,
            "appId": EXCHANGE_ONLINE_APP_ID,
            "displayName": "Office 365 Exchange Online",
            "appRoles": [{"id": FULL_ACCESS_AS_APP_ROLE_ID, "value": "full_access_as_app"}],
            "keyCredentials": copy.deepcopy(
                keys
                if keys is not None
                else [
                    key_credential(c, c.thumbprint, f"00000000-0000-4000-8000-00000000000{i}")
                    for i, c in enumerate(FOREIGN)
                ]
            ),
        }
        self.apps: list[dict] = []
        self.sps = [self.sp]
        self.assignments: list[dict] = []
        self.writes: list[tuple] = []
        self.apply_patch = apply_patch
        self.drop_patch = drop_patch
        self.roles_ok = roles_ok
        self.warnings: list[str] = []
        # objects Entra holds but does not list yet (replication): their ids
        self.unlisted: set[str] = set()
        self.replication_asked: list[tuple] = []
        self.constructed: list[dict] = []

    def construct(self, params):
        """Stands for ``GraphClient(params)``: records that the module got as far as connecting."""
        self.constructed.append(params)
        return self

    def sleep(self, _seconds):
        pass

    def _object(self, path):
        kind, ident = path.split("/")[:2]
        items = self.sps if kind == "servicePrincipals" else self.apps
        return next(i for i in items if i["id"] == ident)

    def get(self, path, what, params=None, permission=None, replication=()):
        self.replication_asked.append(("GET", path, tuple(replication)))
        if "(appId=" in path:
            app_id = path.split("'")[1]
            items = self.sps if path.startswith("servicePrincipals") else self.apps
            found = [i for i in items if i["appId"] == app_id]
            if not found:
                raise GraphError(f"Failed to {what}: Request_ResourceNotFound: Resource '{app_id}' does not exist",
                                 status=404, code="Request_ResourceNotFound")
            return copy.deepcopy(found[0])
        obj = copy.deepcopy(self._object(path))
        assert params == {"$select": "id,keyCredentials"}
        return {"id": obj["id"], "keyCredentials": obj["keyCredentials"]}

    def get_all(self, path, what, params=None, permission=None):
        if path.endswith("/appRoleAssignments"):
            return [a for a in self.assignments if a["principalId"] == path.split("/")[1] and a.get("id") not in self.unlisted]
        items = [i for i in (self.sps if path == "servicePrincipals" else self.apps) if i["id"] not in self.unlisted]
        prop, value = params["$filter"].split(" eq ")
        found = [copy.deepcopy(i) for i in items if i.get(prop) == value.strip("'")]
        for item in found:
            item.pop("keyCredentials", None)  # lists never carry key data worth using
        return found

    def require_permissions(self, needed, what):
        if not self.roles_ok:
            raise GraphError(f"Failed to {what}: lacks {' and '.join(needed)}")

    def request(self, method, path, what, params=None, body=None, permission=None, replication=()):
        self.replication_asked.append((method, path, tuple(replication)))
        if method == "POST" and path == "servicePrincipals" and any(s["appId"] == body["appId"] for s in self.sps):
            raise GraphError(f"Failed to {what}: Request_MultipleObjectsWithSameKeyValue: ... is already in use.",
                             status=409, code="Request_MultipleObjectsWithSameKeyValue")
        if method == "POST" and path.endswith("/appRoleAssignments") and any(
            (a["principalId"], a["resourceId"], a["appRoleId"]) == (body["principalId"], body["resourceId"], body["appRoleId"])
            for a in self.assignments
        ):
            raise GraphError(f"Failed to {what}: Request_BadRequest: Permission being assigned already exists on the object.",
                             status=400, code="Request_BadRequest")
        self.writes.append((method, path, copy.deepcopy(body)))
        if method == "PATCH":
            if self.drop_patch == "before":
                raise GraphConnectionError(f"Failed to {what}: dropped")
            if self.apply_patch:
                self._object(path).update(copy.deepcopy(body))
            if self.drop_patch == "after":
                raise GraphConnectionError(f"Failed to {what}: dropped")
            return None
        if path == "applications":
            app = dict(body, id="app-object-id", appId="11111111-2222-4333-8444-555555555555", keyCredentials=[])
            self.apps.append(app)
            return app
        if path == "servicePrincipals":
            sp = {"id": "22222222-2222-4222-8222-222222222222", "appId": body["appId"], "displayName": "x", "keyCredentials": []}
            self.sps.append(sp)
            return sp
        if path.endswith("/appRoleAssignments"):
            self.assignments.append(dict(body))
            return dict(body, id="assignment")
        raise AssertionError(path)


def run(fake, check=False, diff=False, **args):
    """The module's result through the shared harness, with ``failed`` and the warnings it gave."""
    outcome = run_module(msol_sp_credential, args, connection=CONNECTION, graph=fake.construct, check=check, diff=diff)
    return dict(outcome.result, failed=outcome.failed, warnings=list(get_warning_messages()))


@pytest.fixture(autouse=True)
def no_warnings_left():
    # a module run is a process of its own: start each with Ansible's (deduplicating) warning list empty
    _global_warnings.clear()
    yield
    _global_warnings.clear()


def keys_in(fake):
    return {k["keyId"]: k for k in fake.sp["keyCredentials"]}


def test_adds_ours_and_resends_every_other_key_with_its_data():
    fake = FakeGraph()
    before = keys_in(fake)
    result = run(fake, certificate=OURS.cert_pem, diff=True)
    assert result["changed"] is True and result["key"]["thumbprint"] == OURS.thumbprint
    (method, path, body), = fake.writes
    assert (method, path) == ("PATCH", f"servicePrincipals/{SP_ID}")
    sent = {e["keyId"]: e for e in body["keyCredentials"]}
    for key_id, entry in before.items():
        assert sent[key_id]["key"] == entry["key"] and sent[key_id]["customKeyIdentifier"] == entry["customKeyIdentifier"]
    ours = [e for e in body["keyCredentials"] if e["key"] == OURS.base64_der]
    assert len(ours) == 1 and ours[0]["type"] == "AsymmetricX509Cert" and ours[0]["usage"] == "Verify"
    assert ours[0]["endDateTime"] == OURS.not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [k["thumbprint"] for k in result["diff"]["before"]["keys"]] == [c.thumbprint for c in FOREIGN]
    assert [k["thumbprint"] for k in result["diff"]["after"]["keys"]] == [c.thumbprint for c in FOREIGN] + [OURS.thumbprint]
    assert "secret-canary-123" not in json.dumps(result)


def test_present_is_idempotent():
    fake = FakeGraph(keys=[key_credential(OURS, "ours", "00000000-0000-4000-8000-0000000000aa")])
    assert run(fake, certificate=OURS.base64_der)["changed"] is False and fake.writes == []


def test_match_by_custom_key_identifier_when_key_data_is_missing():
    entry = key_credential(OURS, "ours", "00000000-0000-4000-8000-0000000000aa")
    entry["key"] = None
    fake = FakeGraph(keys=[entry])
    assert run(fake, certificate=OURS.base64_der)["changed"] is False


def test_check_mode_predicts_and_writes_nothing():
    fake = FakeGraph()
    result = run(fake, certificate=OURS.cert_pem, check=True, diff=True)
    assert result["changed"] is True and fake.writes == []
    assert result["added"][0]["thumbprint"] == OURS.thumbprint
    assert len(result["diff"]["after"]["keys"]) == 3


def test_absent_removes_only_ours():
    keys = [key_credential(c, c.thumbprint, f"00000000-0000-4000-8000-00000000000{i}") for i, c in enumerate(FOREIGN)]
    keys.insert(1, key_credential(OURS, "ours", "00000000-0000-4000-8000-0000000000aa"))
    fake = FakeGraph(keys=keys)
    result = run(fake, state="absent", thumbprint=OURS.thumbprint.lower())
    assert result["changed"] is True and result["key"] is None
    assert [k["thumbprint"] for k in result["removed"]] == [OURS.thumbprint]
    assert [k["customKeyIdentifier"] for k in fake.sp["keyCredentials"]] == [c.thumbprint for c in FOREIGN]
    assert all(k["key"] for k in fake.sp["keyCredentials"])


def test_a_kept_key_without_data_is_never_written():
    keys = [key_credential(FOREIGN[0], "foreign", "00000000-0000-4000-8000-000000000001")]
    keys[0]["key"] = None
    fake = FakeGraph(keys=keys)
    result = run(fake, certificate=OURS.cert_pem)
    assert result["failed"] and "refusing to write" in result["msg"] and fake.writes == []


def test_verification_failure_is_reported():
    fake = FakeGraph(apply_patch=False)
    result = run(fake, certificate=OURS.cert_pem)
    assert result["failed"] and result["msg"].startswith("Failed to verify the keyCredentials")


@pytest.mark.parametrize("drop, applied", [("after", True), ("before", False)])
def test_dropped_write_is_resolved_by_rereading(drop, applied):
    fake = FakeGraph(drop_patch=drop)
    result = run(fake, certificate=OURS.cert_pem)
    assert len(fake.writes) == 1
    if applied:
        assert result["changed"] is True and "Graph applied it" in json.dumps(result["warnings"])
    else:
        assert result["failed"] and "was not applied (nothing was changed)" in result["msg"]


def test_prune_expired():
    old = make_certificate("old", days=30, start=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc))
    keys = [key_credential(old, "old", "00000000-0000-4000-8000-0000000000bb")] + [
        key_credential(c, c.thumbprint, f"00000000-0000-4000-8000-00000000000{i}") for i, c in enumerate(FOREIGN)
    ]
    fake = FakeGraph(keys=keys)
    result = run(fake, certificate=OURS.cert_pem, prune_expired=True)
    assert [k["thumbprint"] for k in result["removed"]] == [old.thumbprint]
    assert [k["customKeyIdentifier"] for k in fake.sp["keyCredentials"]] == [c.thumbprint for c in FOREIGN] + [OURS.thumbprint]


def test_missing_permission_stops_before_the_write():
    fake = FakeGraph(roles_ok=False)
    result = run(fake, certificate=OURS.cert_pem)
    assert result["failed"] and "Application.ReadWrite.All" in result["msg"] and fake.writes == []


@pytest.mark.parametrize(
    "args, fragment",
    [
        ({"certificate": OURS.key_pem}, "private key"),
        ({"certificate": "garbage"}, "neither PEM nor base64 DER"),
        ({"certificate": "QUJDRA=="}, "could not be parsed"),
        ({"thumbprint": OURS.thumbprint}, "thumbprint only identifies a key to remove"),
        ({"thumbprint": "abc", "state": "absent"}, "40 hexadecimal characters"),
        ({"certificate": OURS.cert_pem, "target": "hybrid_application"}, "needs application_id"),
        ({"certificate": OURS.cert_pem, "create_application": True}, "apply only to target: hybrid_application"),
        ({"certificate": OURS.cert_pem, "target": "hybrid_application", "exchange_organization_guid": "nope"}, "must be a GUID"),
        (
            {"certificate": make_certificate("old", days=3, start=dt.datetime(2021, 5, 1, tzinfo=dt.timezone.utc)).cert_pem},
            "expired on 2021-05-04",
        ),
    ],
)
def test_input_errors_before_any_graph_call(args, fragment):
    fake = FakeGraph()
    result = run(fake, **args)
    assert result["failed"] and fragment in result["msg"]
    assert fake.constructed == []
    assert "PRIVATE KEY" not in result["msg"]
    for line in OURS.key_pem.splitlines()[1:-1]:
        assert line not in json.dumps(result)


def test_hybrid_application_created_with_permission_consent_and_key():
    fake = FakeGraph()
    guid = "5e3c2a1b-0f9e-4d8c-b7a6-95f4e3d2c1b0"
    result = run(fake, certificate=OURS.cert_pem, target="hybrid_application", exchange_organization_guid=guid, create_application=True)
    assert result["changed"] is True and result["application"]["created"] is True
    methods = [(m, p) for m, p, _body in fake.writes]
    assert methods == [
        ("POST", "applications"),
        ("POST", "servicePrincipals"),
        ("POST", "servicePrincipals/22222222-2222-4222-8222-222222222222/appRoleAssignments"),
        ("PATCH", "applications/app-object-id"),
    ]
    app_body = fake.writes[0][2]
    assert app_body["displayName"] == f"ExchangeServerApp-{guid}" and app_body["signInAudience"] == "AzureADMyOrg"
    assert app_body["requiredResourceAccess"] == [
        {"resourceAppId": EXCHANGE_ONLINE_APP_ID, "resourceAccess": [{"id": FULL_ACCESS_AS_APP_ROLE_ID, "type": "Role"}]}
    ]
    assert fake.writes[2][2] == {"principalId": "22222222-2222-4222-8222-222222222222", "resourceId": SP_ID, "appRoleId": FULL_ACCESS_AS_APP_ROLE_ID}
    assert result["target"]["object_type"] == "application"


def test_hybrid_application_check_mode_creates_nothing():
    fake = FakeGraph()
    result = run(
        fake,
        check=True,
        certificate=OURS.cert_pem,
        target="hybrid_application",
        application_display_name="MyHybridApp",
        create_application=True,
    )
    assert result["changed"] is True and fake.writes == []
    assert "create application" in result["application"]["actions"]


def test_existing_application_is_completed():
    fake = FakeGraph()
    fake.apps.append(
        {
            "id": "app-1",
            "appId": "33333333-3333-4333-8333-333333333333",
            "displayName": "MyHybridApp",
            "requiredResourceAccess": [],
            "keyCredentials": [],
        }
    )
    result = run(fake, certificate=OURS.cert_pem, target="hybrid_application", application_display_name="MyHybridApp", create_application=True)
    assert result["application"]["actions"] == ["add permission full_access_as_app", "create service principal", "grant admin consent"]
    assert [(m, p) for m, p, _body in fake.writes][0] == ("PATCH", "applications/app-1")
    assert fake.apps[0]["keyCredentials"][0]["key"] == OURS.base64_der
    # second run: everything in place
    fake.writes.clear()
    again = run(fake, certificate=OURS.cert_pem, target="hybrid_application", application_display_name="MyHybridApp",
                create_application=True)
    assert again["changed"] is False and fake.writes == []


HYBRID_APP = {
    "id": "app-1",
    "appId": "33333333-3333-4333-8333-333333333333",
    "displayName": "MyHybridApp",
    "requiredResourceAccess": [
        {"resourceAppId": EXCHANGE_ONLINE_APP_ID, "resourceAccess": [{"id": FULL_ACCESS_AS_APP_ROLE_ID, "type": "Role"}]}
    ],
    "keyCredentials": [],
}
HYBRID_ARGS = dict(target="hybrid_application", application_display_name="MyHybridApp", create_application=True)


def test_service_principal_not_listed_yet_is_adopted_not_created_twice():
    fake = FakeGraph()
    fake.apps.append(copy.deepcopy(HYBRID_APP))
    sp = {"id": "44444444-4444-4444-8444-444444444444", "appId": HYBRID_APP["appId"], "displayName": "MyHybridApp",
          "keyCredentials": []}
    fake.sps.append(sp)
    fake.unlisted.add(sp["id"])  # an earlier run created it; Entra does not list it yet
    result = run(fake, certificate=OURS.cert_pem, replication_timeout=5, **HYBRID_ARGS)
    assert [s["id"] for s in fake.sps if s["appId"] == HYBRID_APP["appId"]] == [sp["id"]]
    assert result["application"]["service_principal_id"] == sp["id"]
    assert result["application"]["objects"] == {"application": "found", "service_principal": "adopted", "admin_consent": "granted"}
    assert [(a["principalId"], a["appRoleId"]) for a in fake.assignments] == [(sp["id"], FULL_ACCESS_AS_APP_ROLE_ID)]
    assert fake.replication_wait == 5.0


def test_consent_not_listed_yet_is_adopted_not_granted_twice():
    fake = FakeGraph()
    fake.apps.append(copy.deepcopy(HYBRID_APP))
    sp = {"id": "44444444-4444-4444-8444-444444444444", "appId": HYBRID_APP["appId"], "displayName": "MyHybridApp",
          "keyCredentials": []}
    fake.sps.append(sp)
    fake.assignments.append({"id": "as-1", "principalId": sp["id"], "resourceId": SP_ID, "appRoleId": FULL_ACCESS_AS_APP_ROLE_ID})
    fake.unlisted.update({sp["id"], "as-1"})
    result = run(fake, certificate=OURS.cert_pem, **HYBRID_ARGS)
    assert result["application"]["objects"] == {"application": "found", "service_principal": "adopted", "admin_consent": "adopted"}
    assert len(fake.assignments) == 1 and len(fake.sps) == 2
    assert [w[:2] for w in fake.writes] == [("PATCH", "applications/app-1")]  # only our key
    assert result["application"]["actions"] == []  # adopted, so nothing was done to the application


def test_adopted_objects_and_key_in_place_report_no_change():
    fake = FakeGraph()
    app = copy.deepcopy(HYBRID_APP)
    app["keyCredentials"] = [key_credential(OURS, OURS.thumbprint, "00000000-0000-4000-8000-0000000000aa")]
    fake.apps.append(app)
    sp = {"id": "44444444-4444-4444-8444-444444444444", "appId": app["appId"], "displayName": "MyHybridApp", "keyCredentials": []}
    fake.sps.append(sp)
    fake.assignments.append({"id": "as-1", "principalId": sp["id"], "resourceId": SP_ID, "appRoleId": FULL_ACCESS_AS_APP_ROLE_ID})
    fake.unlisted.update({sp["id"], "as-1"})
    result = run(fake, certificate=OURS.cert_pem, **HYBRID_ARGS)
    assert result["changed"] is False and fake.writes == []


def test_new_objects_are_waited_for_on_the_calls_entra_refuses_while_replicating():
    fake = FakeGraph()
    objects = run(fake, certificate=OURS.cert_pem, **HYBRID_ARGS)["application"]["objects"]
    assert objects == {"application": "created", "service_principal": "created", "admin_consent": "granted"}
    asked = {(m, p.split("/")[0] if m != "POST" else p.split("/")[-1]): r for m, p, r in fake.replication_asked}
    assert asked[("POST", "servicePrincipals")] == ("application_not_replicated",)
    assert "reference_not_replicated" in asked[("POST", "appRoleAssignments")]
    assert asked[("GET", "applications")] == ("not_found",) and asked[("PATCH", "applications")] == ("not_found",)
    assert asked[("POST", "applications")] == ()  # creating the application is never retried


def test_a_404_on_an_object_this_run_did_not_create_is_an_answer():
    fake = FakeGraph()
    assert run(fake, certificate=OURS.cert_pem)["changed"] is True
    assert {r for _m, _p, r in fake.replication_asked} == {()}  # the shared service principal is never "replicating"


def test_application_id_is_never_created_and_waited_for():
    fake = FakeGraph()
    app = copy.deepcopy(HYBRID_APP)
    fake.apps.append(app)
    fake.unlisted.add(app["id"])  # created moments ago: not in a $filter answer yet, readable by its appId
    args = dict(target="hybrid_application", application_id=app["appId"], create_application=True)
    result = run(fake, certificate=OURS.cert_pem, **args)
    assert result["application"]["objects"]["application"] == "found" and len(fake.apps) == 1
    fake = FakeGraph()
    result = run(fake, certificate=OURS.cert_pem, **args)
    assert result["failed"] is True and "No application with application id" in result["msg"]
    assert fake.writes == [] and fake.apps == []


def test_graph_error_is_reported_with_details():
    class Failing(FakeGraph):
        def get_all(self, *args, **kwargs):
            raise GraphError(
                "Failed to find x: Authorization_RequestDenied: no (request-id r1)",
                status=403,
                code="Authorization_RequestDenied",
                request_id="r1",
            )

    result = run(Failing(), certificate=OURS.cert_pem)
    assert result["failed"] and result["graph_error"] == {"status": 403, "code": "Authorization_RequestDenied", "request_id": "r1"}


# --- only_if_expired_at: the rollover's removal, decided against the Exchange server's clock ---------------------

PREVIOUS = make_certificate("previous", days=30, start=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))  # ends 2026-01-31


def previous_and_foreign():
    keys = [key_credential(c, c.thumbprint, f"00000000-0000-4000-8000-00000000000{i}") for i, c in enumerate(FOREIGN)]
    return keys + [key_credential(PREVIOUS, "previous", "00000000-0000-4000-8000-0000000000cc")]


@pytest.mark.parametrize(
    "at, removed",
    [
        ("2026-02-01T00:00:00Z", True),  # exactly one day after the end date
        ("2026-02-01T00:00:01+00:00", True),
        ("2026-01-31T23:59:59Z", False),  # less than a day: it may still be valid
        ("2026-01-15T00:00:00Z", False),  # not expired at all
    ],
)
def test_only_if_expired_at_removes_the_key_only_a_day_after_its_end(at, removed):
    fake = FakeGraph(keys=previous_and_foreign())
    result = run(fake, state="absent", thumbprint=PREVIOUS.thumbprint, only_if_expired_at=at)
    assert not result["failed"], result
    assert result["changed"] is removed
    assert PREVIOUS.thumbprint in result["reason"]
    left = [k["customKeyIdentifier"] for k in fake.sp["keyCredentials"]]
    assert left == [c.thumbprint for c in FOREIGN] + ([] if removed else [PREVIOUS.thumbprint])
    if removed:
        assert [k["thumbprint"] for k in result["removed"]] == [PREVIOUS.thumbprint] and "expired" in result["reason"]
    else:
        assert fake.writes == [] and result["removed"] == [] and "is kept" in result["reason"]
        assert result["key"]["thumbprint"] == PREVIOUS.thumbprint


def test_only_if_expired_at_in_check_mode_predicts_and_writes_nothing():
    fake = FakeGraph(keys=previous_and_foreign())
    result = run(fake, check=True, state="absent", thumbprint=PREVIOUS.thumbprint, only_if_expired_at="2026-03-01T00:00:00Z")
    assert result["changed"] is True and fake.writes == [] and result["key"] is None


def test_only_if_expired_at_without_our_key_changes_nothing():
    fake = FakeGraph()
    result = run(fake, state="absent", thumbprint=PREVIOUS.thumbprint, only_if_expired_at="2026-03-01T00:00:00Z")
    assert result["changed"] is False and fake.writes == [] and "There is no key" in result["reason"]


def test_without_only_if_expired_at_there_is_no_reason():
    result = run(FakeGraph(keys=previous_and_foreign()), state="absent", thumbprint=PREVIOUS.thumbprint)
    assert result["changed"] is True and "reason" not in result


@pytest.mark.parametrize(
    "args, fragment",
    [
        ({"certificate": OURS.cert_pem, "only_if_expired_at": "2026-03-01T00:00:00Z"}, "use it with state: absent"),
        ({"thumbprint": OURS.thumbprint, "state": "absent", "only_if_expired_at": "soon"}, "only_if_expired_at must be a UTC time"),
    ],
)
def test_only_if_expired_at_input_errors_before_any_graph_call(args, fragment):
    fake = FakeGraph()
    result = run(fake, **args)
    assert result["failed"] and fragment in result["msg"] and fake.constructed == []


NEXT = make_certificate("Exchange S2S OAuth next", key_index=2)


def test_next_certificate_goes_up_in_the_same_write_and_a_rerun_writes_nothing():
    fake = FakeGraph()
    result = run(fake, certificate=OURS.cert_pem, next_certificate=NEXT.cert_pem)
    assert result["changed"] is True
    (method, _path, body), = fake.writes
    assert method == "PATCH"
    sent = {e["customKeyIdentifier"] for e in body["keyCredentials"]}
    assert {OURS.thumbprint, NEXT.thumbprint} | {c.thumbprint for c in FOREIGN} == sent
    assert result["key"]["thumbprint"] == OURS.thumbprint and result["next_key"]["thumbprint"] == NEXT.thumbprint
    assert sorted(k["thumbprint"] for k in result["added"]) == sorted([OURS.thumbprint, NEXT.thumbprint])

    fake.writes.clear()
    again = run(fake, certificate=OURS.cert_pem, next_certificate=NEXT.cert_pem)
    assert again["changed"] is False and fake.writes == []


def test_only_the_missing_next_key_is_added_in_check_mode():
    fake = FakeGraph(keys=[key_credential(OURS, "ours", "00000000-0000-4000-8000-0000000000aa")])
    result = run(fake, certificate=OURS.cert_pem, next_certificate=NEXT.base64_der, check=True)
    assert result["changed"] is True and fake.writes == []
    assert [k["thumbprint"] for k in result["added"]] == [NEXT.thumbprint]


@pytest.mark.parametrize("args", [dict(state="absent", certificate=OURS.cert_pem), dict(thumbprint=OURS.thumbprint, state="absent")])
def test_next_certificate_needs_the_current_one_with_state_present(args):
    fake = FakeGraph()
    outcome = run_module(msol_sp_credential, dict(args, next_certificate=NEXT.cert_pem), graph=fake.construct, connection=CONNECTION)
    assert outcome.failed and "next_certificate" in outcome.result["msg"] and fake.constructed == []


@pytest.mark.parametrize("changes, message", [
    ({"api_permissions": ["ews", "graph"], "remove_api_permissions": ["graph"]},
     "graph is in both api_permissions and remove_api_permissions"),
    ({"target": "shared_service_principal", "remove_api_permissions": ["ews"]},
     "remove_api_permissions applies to target: hybrid_application with state: present."),
    ({"api_permissions": []}, "api_permissions needs at least one family"),
])
def test_permission_family_options_refused_before_graph(changes, message):
    params = {name: spec.get("default") for name, spec in msol_sp_credential.ARGUMENT_SPEC.items()}
    params.update(target="hybrid_application", exchange_organization_guid="5e3c2a1b-0f9e-4d8c-b7a6-95f4e3d2c1b0")
    params.update(changes)
    assert message in msol_sp_credential.option_problem(params, None)
