"""The Entra/Graph simulator enforces Graph's documented rules and answers in Graph's shapes."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os

import jsonschema
import jwt
import msal
import pytest
import requests

from ansible_collections.exchange.hybrid.plugins.module_utils._graph_schemas import json_schema
from hybrid_sim.entra import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_TENANT_ID,
    EXCHANGE_ONLINE_APP_ID,
    EXCHANGE_ONLINE_SP_ID,
    FULL_ACCESS_AS_APP_ROLE_ID,
    GRAPH_APP_ROLES,
    MICROSOFT_GRAPH_SP_ID,
    EntraServer,
    initial_entra_state,
    make_certificate,
)
from hybrid_sim.pki import create_pki
from hybrid_sim.state import StateStore


class Sim:
    def __init__(self, directory: str, **seed) -> None:
        self.pki = create_pki(os.path.join(directory, "pki"))
        self.path = os.path.join(directory, "state.json")
        with open(self.path, "w", encoding="utf-8") as handle:
            json.dump({"clock_offset_seconds": 0, "exchange": {}, "entra": initial_entra_state(**seed)}, handle)
        self.store = StateStore(self.path)
        self.server = EntraServer(self.store, self.pki).start()
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = self.pki.ca_path

    @property
    def url(self) -> str:
        return self.server.base_url

    def token(self, **form) -> requests.Response:
        data = {
            "grant_type": "client_credentials",
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
            "scope": f"{self.url}/.default",
        }
        data.update(form)
        data = {k: v for k, v in data.items() if v is not None}
        return self.session.post(f"{self.url}/{DEFAULT_TENANT_ID}/oauth2/v2.0/token", data=data)

    def graph(self, method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
        token = token or self.token().json()["access_token"]
        return self.session.request(method, f"{self.url}/v1.0/{path}", headers={"Authorization": f"Bearer {token}"}, **kwargs)

    def tenant(self) -> dict:
        return self.store.read()["entra"]["tenants"][DEFAULT_TENANT_ID]


@pytest.fixture
def sim(tmp_path):
    simulation = Sim(str(tmp_path))
    yield simulation
    simulation.server.stop()


def validate(instance, name):
    jsonschema.validate(instance, json_schema(name))


def exo_keys(sim: Sim, select: bool = True) -> list[dict]:
    params = {"$select": "id,keyCredentials"} if select else None
    answer = sim.graph("GET", f"servicePrincipals/{EXCHANGE_ONLINE_SP_ID}", params=params)
    assert answer.status_code == 200
    validate(answer.json(), "servicePrincipal")
    return answer.json()["keyCredentials"]


# --- login --------------------------------------------------------------------------------------------------


def test_openid_configuration_by_domain_and_by_id(sim):
    for name in ("contoso.onmicrosoft.com", "CONTOSO.com", DEFAULT_TENANT_ID):
        answer = sim.session.get(f"{sim.url}/{name}/v2.0/.well-known/openid-configuration")
        assert answer.status_code == 200
        assert answer.json()["token_endpoint"] == f"{sim.url}/{DEFAULT_TENANT_ID}/oauth2/v2.0/token"


def test_unknown_tenant_is_aadsts90002(sim):
    answer = sim.session.get(f"{sim.url}/fabrikam.onmicrosoft.com/v2.0/.well-known/openid-configuration")
    assert answer.status_code == 400
    body = answer.json()
    assert body["error_codes"] == [90002]
    assert body["error_description"].startswith("AADSTS90002: Tenant 'fabrikam.onmicrosoft.com' not found.")


@pytest.mark.parametrize(
    "form, status, code",
    [
        ({"client_secret": "wrong"}, 401, 7000215),
        ({"client_id": "11111111-2222-3333-4444-555555555555"}, 400, 700016),
        ({"client_secret": None}, 401, 7000216),
        ({"scope": "https://graph.microsoft.com/Application.ReadWrite.All"}, 400, 1002012),
    ],
)
def test_token_endpoint_errors(sim, form, status, code):
    answer = sim.token(**form)
    assert answer.status_code == status
    assert answer.json()["error_codes"] == [code]
    assert DEFAULT_CLIENT_SECRET not in answer.text


def test_secret_is_stored_only_as_hash(sim):
    with open(sim.path, encoding="utf-8") as handle:
        assert DEFAULT_CLIENT_SECRET not in handle.read()


def test_token_is_counted_and_carries_roles(sim):
    answer = sim.token()
    assert answer.status_code == 200
    claims = jwt.decode(answer.json()["access_token"], options={"verify_signature": False})
    assert claims["tid"] == DEFAULT_TENANT_ID and "Application.ReadWrite.All" in claims["roles"]
    assert sim.server.counters["token_requests"] == 1


def test_client_assertion_signature_is_verified(tmp_path):
    client_cert = make_certificate("automation", key_index=2)
    other = make_certificate("intruder", key_index=3)
    simulation = Sim(str(tmp_path), client_certificate_pem=client_cert.cert_pem)
    try:
        for cert, expect in ((client_cert, True), (other, False)):
            for with_public in (False, True):
                credential = {"private_key": cert.key_pem, "thumbprint": hashlib.sha1(cert.der).hexdigest()}
                if with_public:
                    credential["public_certificate"] = cert.cert_pem  # PS256 with x5t#S256
                app = msal.ConfidentialClientApplication(
                    DEFAULT_CLIENT_ID,
                    client_credential=credential,
                    authority=f"{simulation.url}/{DEFAULT_TENANT_ID}",
                    http_client=simulation.session,
                    instance_discovery=False,
                )
                result = app.acquire_token_for_client([f"{simulation.url}/.default"])
                assert ("access_token" in result) is expect, result
                if not expect:
                    assert result["error_codes"] == [700027]
        # a forged assertion (right thumbprint, wrong key) is refused
        header = {"x5t": base64.urlsafe_b64encode(hashlib.sha1(client_cert.der).digest()).decode().rstrip("=")}
        token_url = f"{simulation.url}/{DEFAULT_TENANT_ID}/oauth2/v2.0/token"
        forged = jwt.encode(
            {"aud": token_url, "iss": DEFAULT_CLIENT_ID, "sub": DEFAULT_CLIENT_ID, "exp": 9999999999},
            other.key_pem,
            algorithm="RS256",
            headers=header,
        )
        answer = simulation.token(
            client_secret=None,
            client_assertion=forged,
            client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        )
        assert answer.status_code == 401 and answer.json()["error_codes"] == [700027]
    finally:
        simulation.server.stop()


# --- Graph rules ----------------------------------------------------------------------------------------------


def test_key_is_null_in_lists_and_without_select(sim):
    listed = sim.graph("GET", "servicePrincipals", params={"$filter": f"appId eq '{EXCHANGE_ONLINE_APP_ID}'", "$select": "id,keyCredentials"})
    assert listed.status_code == 200
    validate(listed.json()["value"][0], "servicePrincipal")
    assert [k["key"] for k in listed.json()["value"][0]["keyCredentials"]] == [None, None]
    assert all(k["key"] is None for k in exo_keys(sim, select=False))
    assert all(k["key"] for k in exo_keys(sim, select=True))
    by_app_id = sim.graph("GET", f"servicePrincipals(appId='{EXCHANGE_ONLINE_APP_ID}')", params={"$select": "keyCredentials"})
    assert all(k["key"] for k in by_app_id.json()["keyCredentials"])


def test_patch_replaces_the_collection_and_answers_204(sim):
    before = exo_keys(sim)
    ours = make_certificate()
    answer = sim.graph(
        "PATCH",
        f"servicePrincipals/{EXCHANGE_ONLINE_SP_ID}",
        json={"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": ours.base64_der}]},
    )
    assert answer.status_code == 204 and answer.content == b""
    after = exo_keys(sim)
    assert len(before) == 2 and len(after) == 1  # the two foreign keys are gone: PATCH replaces
    assert after[0]["customKeyIdentifier"] == ours.thumbprint
    assert after[0]["endDateTime"] == ours.not_after.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_entry_without_key_is_rejected_and_nothing_changes(sim):
    before = exo_keys(sim)
    stripped = [{k: v for k, v in entry.items() if k != "key"} for entry in before]
    answer = sim.graph("PATCH", f"servicePrincipals/{EXCHANGE_ONLINE_SP_ID}", json={"keyCredentials": stripped})
    assert answer.status_code == 400
    validate(answer.json(), "odataError")
    assert answer.json()["error"]["message"] == "Property keyCredentials in payload has a value that does not match schema."
    assert answer.json()["error"]["innerError"]["request-id"] == answer.headers["request-id"]
    assert exo_keys(sim) == before


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"usage": "Encrypt"}, 'The value for the property "usage" in one of your credentials is invalid. Acceptable values are Sign, Verify.'),
        ({"type": "Certificate"}, 'The value for the property "type"'),
        ({"key": base64.b64encode(b"not a certificate").decode()}, "Invalid certificate: Key value is invalid certificate"),
    ],
)
def test_invalid_entries_are_rejected(sim, entry, message):
    good = {"type": "AsymmetricX509Cert", "usage": "Verify", "key": make_certificate().base64_der}
    good.update(entry)
    answer = sim.graph("PATCH", f"servicePrincipals/{EXCHANGE_ONLINE_SP_ID}", json={"keyCredentials": [good]})
    assert answer.status_code == 400
    assert answer.json()["error"]["message"].startswith(message)


def test_missing_permission_is_403(tmp_path):
    simulation = Sim(str(tmp_path), permissions=["Application.Read.All"])
    try:
        answer = simulation.graph("PATCH", f"servicePrincipals/{EXCHANGE_ONLINE_SP_ID}", json={"keyCredentials": []})
        assert answer.status_code == 403
        assert answer.json()["error"]["code"] == "Authorization_RequestDenied"
        assert answer.json()["error"]["message"] == "Insufficient privileges to complete the operation."
        assert simulation.graph("GET", f"servicePrincipals/{EXCHANGE_ONLINE_SP_ID}").status_code == 200
    finally:
        simulation.server.stop()


def test_expired_token_is_401(sim):
    token = sim.token().json()["access_token"]
    with sim.store.transaction() as state:
        state["clock_offset_seconds"] = 7200
    answer = sim.graph("GET", "organization", token=token)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert "expired" in answer.json()["error"]["message"]


def test_unknown_object_is_404(sim):
    answer = sim.graph("GET", "servicePrincipals/00000000-0000-0000-0000-000000000001")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "Request_ResourceNotFound"


def test_application_service_principal_and_consent(sim):
    token = sim.token().json()["access_token"]
    created = sim.graph(
        "POST",
        "applications",
        token=token,
        json={
            "displayName": "ExchangeServerApp-1",
            "signInAudience": "AzureADMyOrg",
            "requiredResourceAccess": [
                {"resourceAppId": EXCHANGE_ONLINE_APP_ID, "resourceAccess": [{"id": FULL_ACCESS_AS_APP_ROLE_ID, "type": "Role"}]}
            ],
        },
    )
    assert created.status_code == 201
    validate(created.json(), "application")
    app = created.json()
    sp = sim.graph("POST", "servicePrincipals", token=token, json={"appId": app["appId"]})
    assert sp.status_code == 201
    validate(sp.json(), "servicePrincipal")
    assert sim.graph("POST", "servicePrincipals", token=token, json={"appId": app["appId"]}).status_code == 409
    body = {"principalId": sp.json()["id"], "resourceId": EXCHANGE_ONLINE_SP_ID, "appRoleId": FULL_ACCESS_AS_APP_ROLE_ID}
    assigned = sim.graph("POST", f"servicePrincipals/{sp.json()['id']}/appRoleAssignments", token=token, json=body)
    assert assigned.status_code == 201
    validate(assigned.json(), "appRoleAssignment")
    again = sim.graph("POST", f"servicePrincipals/{sp.json()['id']}/appRoleAssignments", token=token, json=body)
    assert again.status_code == 400
    listed = sim.graph("GET", f"servicePrincipals/{sp.json()['id']}/appRoleAssignments", token=token)
    assert [a["appRoleId"] for a in listed.json()["value"]] == [FULL_ACCESS_AS_APP_ROLE_ID]
    found = sim.graph("GET", "applications", token=token, params={"$filter": "displayName eq 'ExchangeServerApp-1'"})
    assert [a["id"] for a in found.json()["value"]] == [app["id"]]


def test_graph_app_roles_unknown_role_refused_and_consent_removed(sim):
    token = sim.token().json()["access_token"]
    app = sim.graph("POST", "applications", token=token, json={"displayName": "ExchangeServerApp-2"}).json()
    sp = sim.graph("POST", "servicePrincipals", token=token, json={"appId": app["appId"]}).json()
    graph = sim.graph("GET", f"servicePrincipals/{MICROSOFT_GRAPH_SP_ID}", token=token).json()
    assert {r["value"] for r in graph["appRoles"]} == {value for value, _id, _d in GRAPH_APP_ROLES}
    path = f"servicePrincipals/{sp['id']}/appRoleAssignments"
    unknown = {"principalId": sp["id"], "resourceId": MICROSOFT_GRAPH_SP_ID, "appRoleId": FULL_ACCESS_AS_APP_ROLE_ID}
    refused = sim.graph("POST", path, token=token, json=unknown)
    assert refused.status_code == 400 and "was not found on application" in refused.json()["error"]["message"]
    calendars = next(role_id for value, role_id, _d in GRAPH_APP_ROLES if value == "Calendars.Read")
    body = dict(unknown, appRoleId=calendars)
    assigned = sim.graph("POST", path, token=token, json=body).json()
    assert sim.graph("DELETE", f"{path}/{assigned['id']}", token=token).status_code == 204
    assert sim.graph("GET", path, token=token).json()["value"] == []
    gone = sim.graph("DELETE", f"{path}/{assigned['id']}", token=token)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "Request_ResourceNotFound"


def test_consent_needs_approleassignment_permission(tmp_path):
    simulation = Sim(str(tmp_path), permissions=["Application.ReadWrite.All"])
    try:
        body = {"principalId": EXCHANGE_ONLINE_SP_ID, "resourceId": EXCHANGE_ONLINE_SP_ID, "appRoleId": FULL_ACCESS_AS_APP_ROLE_ID}
        answer = simulation.graph("POST", f"servicePrincipals/{EXCHANGE_ONLINE_SP_ID}/appRoleAssignments", json=body)
        assert answer.status_code == 403
    finally:
        simulation.server.stop()


def test_organization_and_domains(sim):
    org = sim.graph("GET", "organization")
    assert org.status_code == 200
    validate(org.json()["value"][0], "organization")
    names = [d["name"] for d in org.json()["value"][0]["verifiedDomains"]]
    assert names == ["contoso.onmicrosoft.com", "contoso.com"]
    assert sim.graph("GET", "domains").status_code == 403  # needs Domain.Read.All, not granted by default
    with sim.store.transaction() as state:
        state["entra"]["tenants"][DEFAULT_TENANT_ID]["clients"][DEFAULT_CLIENT_ID]["permissions"].append("Domain.Read.All")
    domains = sim.graph("GET", "domains")  # a new token carries the new role
    assert len(domains.json()["value"]) == 2
    for domain in domains.json()["value"]:
        validate(domain, "domain")


def test_paging_with_next_link(sim):
    token = sim.token().json()["access_token"]
    for index in range(3):
        sim.graph("POST", "applications", token=token, json={"displayName": f"app{index}"})
    first = sim.graph("GET", "applications", token=token, params={"$top": "2"}).json()
    assert len(first["value"]) == 2 and "@odata.nextLink" in first
    second = sim.session.get(first["@odata.nextLink"], headers={"Authorization": f"Bearer {token}"}).json()
    assert len(second["value"]) == 1 and "@odata.nextLink" not in second


def test_unsupported_filter(sim):
    answer = sim.graph("GET", "servicePrincipals", params={"$filter": "startswith(displayName,'Office')"})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "Request_UnsupportedQuery"


# --- faults -------------------------------------------------------------------------------------------------


def test_injected_429_carries_retry_after_then_clears(sim):
    token = sim.token().json()["access_token"]
    sim.server.inject("GET", r"/v1\.0/organization", status=429, retry_after=7, count=1)
    first = sim.graph("GET", "organization", token=token)
    assert first.status_code == 429 and first.headers["Retry-After"] == "7"
    validate(first.json(), "odataError")
    assert sim.graph("GET", "organization", token=token).status_code == 200


@pytest.mark.parametrize(
    "status, code",
    [
        (401, "InvalidAuthenticationToken"),
        (403, "Authorization_RequestDenied"),
        (404, "Request_ResourceNotFound"),
        (500, "generalException"),
        (503, "serviceNotAvailable"),
    ],
)
def test_injected_status_faults(sim, status, code):
    token = sim.token().json()["access_token"]
    sim.server.inject("*", r"/v1\.0/domains", status=status)
    answer = sim.graph("GET", "domains", token=token)
    assert answer.status_code == status and answer.json()["error"]["code"] == code


@pytest.mark.parametrize("action, applied", [("drop_before", False), ("drop_after", True)])
def test_dropped_patch_applied_or_not(sim, action, applied):
    token = sim.token().json()["access_token"]
    sim.server.inject("PATCH", "servicePrincipals", action=action)
    ours = make_certificate()
    with pytest.raises(requests.ConnectionError):
        sim.graph(
            "PATCH",
            f"servicePrincipals/{EXCHANGE_ONLINE_SP_ID}",
            token=token,
            json={"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": ours.base64_der}]},
        )
    thumbprints = [k["customKeyIdentifier"] for k in exo_keys(sim)]
    assert (ours.thumbprint in thumbprints) is applied
    assert sim.server.counters["dropped"] == 1


def test_token_endpoint_down(sim):
    sim.server.inject("POST", r"/oauth2/v2\.0/token", action="drop_before")
    with pytest.raises(requests.ConnectionError):
        sim.token()
    sim.server.inject("POST", r"/oauth2/v2\.0/token", status=503, retry_after=1)
    assert sim.token().status_code == 503
    assert sim.token().status_code == 200
    assert sim.server.counters["token_requests"] == 3


def test_state_unchanged_by_reads(sim):
    with open(sim.path, "rb") as handle:
        before = handle.read()
    exo_keys(sim)
    sim.graph("GET", "organization")
    with open(sim.path, "rb") as handle:
        after = handle.read()
    assert json.loads(before) == json.loads(after)


def test_dates_follow_the_certificate(sim):
    ours = make_certificate(days=30, start=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    entry = {"type": "AsymmetricX509Cert", "usage": "Verify", "key": ours.base64_der, "endDateTime": "2027-01-01T00:00:00Z"}
    answer = sim.graph("PATCH", f"servicePrincipals/{EXCHANGE_ONLINE_SP_ID}", json={"keyCredentials": [entry]})
    assert answer.status_code == 400  # the end date lies beyond the certificate's NotAfter


# --- replication delay (Entra's eventual consistency) ------------------------------------------------------------


def advance(sim: Sim, seconds: float) -> None:
    with sim.store.transaction() as state:
        state["clock_offset_seconds"] = state.get("clock_offset_seconds", 0) + seconds


def error_of(answer: requests.Response) -> tuple[int, str, str]:
    error = answer.json()["error"]
    return answer.status_code, error["code"], error["message"]


APP_BODY = {
    "displayName": "ExchangeServerApp-delay",
    "requiredResourceAccess": [
        {"resourceAppId": EXCHANGE_ONLINE_APP_ID, "resourceAccess": [{"id": FULL_ACCESS_AS_APP_ROLE_ID, "type": "Role"}]}
    ],
}


@pytest.fixture
def delayed(tmp_path):
    # the delay runs on the simulated clock: the tests move the clock instead of waiting
    simulation = Sim(str(tmp_path), replication_delay_seconds=600)
    yield simulation
    simulation.server.stop()


def test_new_application_is_not_replicated_until_the_delay_has_passed(delayed):
    sim = delayed
    token = sim.token().json()["access_token"]
    created = sim.graph("POST", "applications", token=token, json=APP_BODY)
    assert created.status_code == 201
    app = created.json()
    refused = sim.graph("POST", "servicePrincipals", token=token, json={"appId": app["appId"]})
    assert error_of(refused) == (
        400, "Request_BadRequest",
        f"The appId '{app['appId']}' of the service principal does not reference a valid application object.",
    )
    assert refused.json()["error"]["innerError"]["request-id"]
    for path in (f"applications/{app['id']}", f"applications(appId='{app['appId']}')"):
        status, code, message = error_of(sim.graph("GET", path, token=token))
        assert (status, code) == (404, "Request_ResourceNotFound")
        assert "does not exist or one of its queried reference-property objects are not present" in message
    listed = sim.graph("GET", "applications", token=token, params={"$filter": "displayName eq 'ExchangeServerApp-delay'"})
    assert listed.status_code == 200 and listed.json()["value"] == []  # a $filter leaves it out
    assert [a["id"] for a in sim.tenant()["applications"]] == [app["id"]]  # it exists nonetheless

    advance(sim, 599)
    assert sim.graph("GET", f"applications/{app['id']}", token=token).status_code == 404
    advance(sim, 2)
    assert sim.graph("GET", f"applications/{app['id']}", token=token).status_code == 200
    listed = sim.graph("GET", "applications", token=token, params={"$filter": "displayName eq 'ExchangeServerApp-delay'"})
    assert [a["id"] for a in listed.json()["value"]] == [app["id"]]
    assert sim.graph("POST", "servicePrincipals", token=token, json={"appId": app["appId"]}).status_code == 201


def test_new_service_principal_consent_and_conflicts_under_delay(delayed):
    sim = delayed
    token = sim.token().json()["access_token"]
    app = sim.graph("POST", "applications", token=token, json=APP_BODY).json()
    advance(sim, 601)
    sp = sim.graph("POST", "servicePrincipals", token=token, json={"appId": app["appId"]}).json()
    # a second one for the same appId is refused at once, replicated or not: it exists
    assert error_of(sim.graph("POST", "servicePrincipals", token=token, json={"appId": app["appId"]})) == (
        409, "Request_MultipleObjectsWithSameKeyValue",
        "The service principal cannot be created, updated, or restored because the service principal name "
        f"{app['appId']} is already in use.",
    )
    assert sim.graph("GET", f"servicePrincipals(appId='{app['appId']}')", token=token).status_code == 404
    listed = sim.graph("GET", "servicePrincipals", token=token, params={"$filter": f"appId eq '{app['appId']}'"})
    assert listed.json()["value"] == []
    body = {"principalId": sp["id"], "resourceId": EXCHANGE_ONLINE_SP_ID, "appRoleId": FULL_ACCESS_AS_APP_ROLE_ID}
    refused = sim.graph("POST", f"servicePrincipals/{sp['id']}/appRoleAssignments", token=token, json=body)
    assert error_of(refused) == (400, "Request_BadRequest", "Not a valid reference update.")
    assert sim.tenant()["appRoleAssignments"] == []  # the refusal wrote nothing

    advance(sim, 601)
    assert sim.graph("GET", f"servicePrincipals(appId='{app['appId']}')", token=token).json()["id"] == sp["id"]
    assigned = sim.graph("POST", f"servicePrincipals/{sp['id']}/appRoleAssignments", token=token, json=body)
    assert assigned.status_code == 201
    # the new assignment is not listed yet, but a second one is refused because it exists
    assert sim.graph("GET", f"servicePrincipals/{sp['id']}/appRoleAssignments", token=token).json()["value"] == []
    again = sim.graph("POST", f"servicePrincipals/{sp['id']}/appRoleAssignments", token=token, json=body)
    assert error_of(again) == (400, "Request_BadRequest", "Permission being assigned already exists on the object.")
    advance(sim, 601)
    listed = sim.graph("GET", f"servicePrincipals/{sp['id']}/appRoleAssignments", token=token).json()["value"]
    assert [a["id"] for a in listed] == [assigned.json()["id"]]
    assert len(sim.tenant()["appRoleAssignments"]) == 1


def test_replication_delay_set_and_finished_at_runtime(sim):
    token = sim.token().json()["access_token"]
    sim.server.set_replication_delay(600)
    app = sim.graph("POST", "applications", token=token, json=APP_BODY).json()
    assert sim.graph("GET", f"applications/{app['id']}", token=token).status_code == 404
    sim.server.replicate_now()
    assert sim.graph("GET", f"applications/{app['id']}", token=token).status_code == 200
    sim.server.set_replication_delay(0)
    other = sim.graph("POST", "applications", token=token, json=dict(APP_BODY, displayName="other")).json()
    assert sim.graph("GET", f"applications/{other['id']}", token=token).status_code == 200
    assert sim.graph("POST", "servicePrincipals", token=token, json={"appId": other["appId"]}).status_code == 201
