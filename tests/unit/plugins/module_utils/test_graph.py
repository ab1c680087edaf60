"""GraphClient: retries, error texts, token refresh, token cache, TLS (ca_path beats REQUESTS_CA_BUNDLE)."""

from __future__ import annotations

import base64
import json
import os
import stat

import pytest
import requests

from ansible_collections.exchange.hybrid.plugins.module_utils import _graph, _retry
from ansible_collections.exchange.hybrid.plugins.module_utils._errors import GraphConnectionError, GraphError
from ansible_collections.exchange.hybrid.plugins.module_utils._graph import (
    GRAPH_ARGUMENT_SPEC,
    GraphClient,
    token_roles,
)
from hybrid_sim.entra import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_TENANT_ID,
    EntraServer,
    initial_entra_state,
    make_certificate,
)
from hybrid_sim.pki import create_pki
from hybrid_sim.state import StateStore

# --- fakes -----------------------------------------------------------------------------------------------------


class FakeResponse:
    def __init__(self, status, body=None, headers=None):
        self.status_code = status
        self._body = body
        self.headers = headers or {}
        self.content = b"" if body is None else json.dumps(body).encode()
        self.reason = "reason"

    def json(self):
        if self._body is None:
            raise ValueError("no body")
        return self._body


class FakeSession:
    def __init__(self, answers):
        self.answers = list(answers)
        self.calls = []

    def request(self, method, url, **kwargs):
        self.calls.append((method, url, kwargs))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def graph_error(status, code, message, request_id="rid-1"):
    return FakeResponse(status, {"error": {"code": code, "message": message, "innerError": {"request-id": request_id}}})


def make_client(answers, **params):
    sleeps = []
    base = {"tenant": "contoso.onmicrosoft.com", "access_token": "a.b.c", "cloud": "global", "validate_certs": True}
    base.update(params)
    client = GraphClient(base, sleep=sleeps.append)
    client._session = FakeSession(answers)
    return client, sleeps


# --- argument spec ---------------------------------------------------------------------------------------------


def test_argument_spec_is_exactly_the_documented_one():
    assert list(GRAPH_ARGUMENT_SPEC) == [
        "tenant",
        "client_id",
        "client_secret",
        "client_certificate_path",
        "client_certificate_password",
        "access_token",
        "cloud",
        "authority_host",
        "graph_endpoint",
        "validate_certs",
        "ca_path",
    ]
    secrets = {name for name, spec in GRAPH_ARGUMENT_SPEC.items() if spec.get("no_log")}
    assert secrets == {"client_secret", "client_certificate_password", "access_token"}
    envs = {name: spec["fallback"][1] for name, spec in GRAPH_ARGUMENT_SPEC.items() if "fallback" in spec}
    assert envs == {
        "tenant": ["AZURE_TENANT_ID"],
        "client_id": ["AZURE_CLIENT_ID"],
        "client_secret": ["AZURE_CLIENT_SECRET"],
        "client_certificate_path": ["AZURE_CLIENT_CERTIFICATE_PATH"],
        "client_certificate_password": ["AZURE_CLIENT_CERTIFICATE_PASSWORD"],
        "cloud": ["EXCHANGE_HYBRID_CLOUD"],
    }
    assert GRAPH_ARGUMENT_SPEC["cloud"]["choices"] == ["global", "usgovernment_l4", "usgovernment_l5", "china", "bleu", "delos"]


def test_doc_fragment_matches_argument_spec():
    import yaml

    from ansible_collections.exchange.hybrid.plugins.doc_fragments.graph_connection import ModuleDocFragment

    options = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    assert set(options) == set(GRAPH_ARGUMENT_SPEC)
    for name, spec in GRAPH_ARGUMENT_SPEC.items():
        assert options[name]["type"] == spec["type"], name
        assert options[name].get("default") == spec.get("default"), name
        assert options[name].get("choices") == spec.get("choices"), name
        assert bool(options[name].get("required")) == bool(spec.get("required")), name


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"authority_host": "http://login.example"}, "authority_host must be an https URL"),
        ({"graph_endpoint": "graph.microsoft.com"}, "graph_endpoint must be an https URL"),
        ({"tenant": "contoso.com/../x"}, "tenant must be a domain name"),
        ({"tenant": ""}, "tenant is required"),
        ({"ca_path": "/nonexistent/ca.pem"}, "ca_path /nonexistent/ca.pem does not exist"),
    ],
)
def test_bad_options_are_named(params, fragment):
    with pytest.raises(GraphError) as caught:
        make_client([], **params)
    assert fragment in caught.value.msg


def test_cloud_hosts():
    client, _sleeps = make_client([], cloud="usgovernment_l5")
    assert client.login_url == "https://login.microsoftonline.us"
    assert client.graph_url == "https://dod-graph.microsoft.us"
    assert client.url("servicePrincipals") == "https://dod-graph.microsoft.us/v1.0/servicePrincipals"


# --- retries ---------------------------------------------------------------------------------------------------


def test_429_waits_retry_after_then_succeeds():
    client, sleeps = make_client(
        [FakeResponse(429, {"error": {"code": "TooManyRequests", "message": "x"}}, {"Retry-After": "3"}), FakeResponse(200, {"value": []})]
    )
    assert client.get("servicePrincipals", "list service principals") == {"value": []}
    assert sleeps == [3.0]


@pytest.mark.parametrize("status", [503, 504])
def test_503_504_back_off_exponentially_and_give_up(status):
    answers = [graph_error(status, "serviceNotAvailable", "busy")] * 10
    client, sleeps = make_client(answers)
    client.max_retries = 3
    with pytest.raises(GraphError) as caught:
        client.get("organization", "read the organization")
    assert len(sleeps) == 3
    assert sleeps[0] < sleeps[1] < sleeps[2]
    assert caught.value.msg.startswith("Failed to read the organization: serviceNotAvailable: busy (request-id rid-1)")
    assert "gave up after 4 attempts" in caught.value.msg


def test_total_wait_is_bounded():
    throttled = FakeResponse(429, {"error": {"code": "TooManyRequests", "message": "slow down"}}, {"Retry-After": "100"})
    client, sleeps = make_client([throttled, throttled, FakeResponse(200, {})])
    with pytest.raises(GraphError) as caught:
        client.get("organization", "read the organization")
    assert sleeps == [100.0]
    assert "TooManyRequests" in caught.value.msg


def test_retry_after_as_http_date():
    assert _retry.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert _retry.parse_retry_after("5") == 5.0
    assert _retry.parse_retry_after("soon") is None


def test_500_is_not_retried():
    client, sleeps = make_client([graph_error(500, "generalException", "boom")])
    with pytest.raises(GraphError):
        client.get("organization", "read the organization")
    assert sleeps == []


NOT_REPLICATED_APP = "The appId 'a1' of the service principal does not reference a valid application object."


def test_replication_answers_are_waited_out_only_when_named():
    missing = graph_error(404, "Request_ResourceNotFound", "Resource 'x' does not exist or one of its queried ...")
    client, sleeps = make_client([missing, missing, FakeResponse(200, {"id": "x"})])
    assert client.get("applications/x", "read the application x", replication=("not_found",)) == {"id": "x"}
    assert sleeps == [1.0, 2.0]
    assert client.counters["replication_waited"] == 3.0
    # without naming it, a 404 is an answer, not a delay
    client, sleeps = make_client([missing, FakeResponse(200, {})])
    with pytest.raises(GraphError) as caught:
        client.get("applications/x", "read the application x")
    assert caught.value.status == 404 and sleeps == []


def test_replication_retry_matches_code_and_text_not_just_status():
    other = graph_error(400, "Request_BadRequest", "Property 'displayName' is required.")
    client, sleeps = make_client([other, FakeResponse(201, {})])
    with pytest.raises(GraphError) as caught:
        client.request("POST", "servicePrincipals", "create the service principal", body={},
                       replication=("application_not_replicated",))
    assert "displayName" in caught.value.msg and sleeps == []
    refused = graph_error(400, "Request_BadRequest", NOT_REPLICATED_APP)
    client, sleeps = make_client([refused, FakeResponse(201, {"id": "sp"})])
    assert client.request("POST", "servicePrincipals", "create the service principal", body={},
                          replication=("application_not_replicated",)) == {"id": "sp"}
    assert sleeps == [1.0]


def test_replication_wait_is_bounded_and_said():
    refused = graph_error(400, "Request_BadRequest", NOT_REPLICATED_APP)
    client, sleeps = make_client([refused] * 20)
    client.replication_wait = 20
    with pytest.raises(GraphError) as caught:
        client.request("POST", "servicePrincipals", "create the service principal", body={},
                       replication=("application_not_replicated",))
    assert sleeps == [1.0, 2.0, 4.0, 8.0]  # the next 10 s would pass the 20 s bound
    assert caught.value.code == "Request_BadRequest" and caught.value.status == 400
    assert "Entra had not replicated the new object after 5 attempts and 15s of waiting" in caught.value.msg
    client, sleeps = make_client([refused] * 2)
    client.replication_wait = 0
    with pytest.raises(GraphError):
        client.request("POST", "servicePrincipals", "create", body={}, replication=("application_not_replicated",))
    assert sleeps == [] and len(client._session.calls) == 1


def test_throttling_and_replication_in_one_call():
    throttled = FakeResponse(429, {"error": {"code": "TooManyRequests", "message": "x"}}, {"Retry-After": "3"})
    refused = graph_error(400, "Request_BadRequest", "Not a valid reference update.")
    client, sleeps = make_client([refused, throttled, refused, FakeResponse(201, {"id": "a"})])
    answer = client.request("POST", "servicePrincipals/sp/appRoleAssignments", "grant admin consent", body={},
                            replication=("reference_not_replicated",))
    assert answer == {"id": "a"} and sleeps == [1.0, 3.0, 2.0]


def test_get_retries_connection_errors_but_patch_does_not():
    client, sleeps = make_client([requests.exceptions.ConnectionError("reset"), FakeResponse(200, {"ok": 1})])
    assert client.get("organization", "read the organization") == {"ok": 1}
    assert len(sleeps) == 1
    client, sleeps = make_client([requests.exceptions.ConnectionError("reset"), FakeResponse(204)])
    with pytest.raises(GraphConnectionError) as caught:
        client.request("PATCH", "servicePrincipals/1", "update keyCredentials of service principal 1", body={})
    assert "not known whether the change was applied" in caught.value.msg
    assert sleeps == [] and len(client._session.calls) == 1


def test_401_refreshes_the_token_once(monkeypatch):
    expired = graph_error(401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")
    client, _sleeps = make_client([expired, FakeResponse(200, {"ok": 1})], access_token=None, client_id="c", client_secret="s")
    client._token = "old"
    refreshed = []

    def refresh():
        refreshed.append(1)
        client._token = "new"
        return True

    monkeypatch.setattr(client, "_refresh_token", refresh)
    assert client.get("organization", "read the organization") == {"ok": 1}
    assert refreshed == [1]
    assert client._session.calls[1][2]["headers"]["Authorization"] == "Bearer new"
    client._session = FakeSession([expired, expired])
    refreshed.clear()
    with pytest.raises(GraphError) as caught:
        client.get("organization", "read the organization")
    assert refreshed == [1]
    assert "InvalidAuthenticationToken" in caught.value.msg and "access token was rejected" in caught.value.msg


def test_given_access_token_is_not_refreshed():
    client, _sleeps = make_client([graph_error(401, "InvalidAuthenticationToken", "expired")])
    with pytest.raises(GraphError):
        client.get("organization", "read the organization")
    assert len(client._session.calls) == 1


def test_403_names_the_permission():
    client, _sleeps = make_client([graph_error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")])
    with pytest.raises(GraphError) as caught:
        client.request("POST", "servicePrincipals/1/appRoleAssignments", "grant admin consent", body={}, permission="AppRoleAssignment.ReadWrite.All")
    assert caught.value.msg == (
        "Failed to grant admin consent: Authorization_RequestDenied: Insufficient privileges to complete the operation. "
        "(request-id rid-1). The application needs the Microsoft Graph application permission "
        "AppRoleAssignment.ReadWrite.All with admin consent"
    )
    assert caught.value.result()["graph_error"] == {"status": 403, "code": "Authorization_RequestDenied", "request_id": "rid-1"}


def test_paging_follows_next_link_on_the_same_host():
    client, _sleeps = make_client(
        [
            FakeResponse(200, {"value": [1], "@odata.nextLink": "https://graph.microsoft.com/v1.0/x?$skiptoken=1"}),
            FakeResponse(200, {"value": [2]}),
        ]
    )
    assert client.get_all("x", "list x") == [1, 2]
    client, _sleeps = make_client([FakeResponse(200, {"value": [1], "@odata.nextLink": "https://evil.example/v1.0/x"})])
    with pytest.raises(GraphError):
        client.get_all("x", "list x")


def test_token_roles_and_permission_precheck():
    payload = base64.urlsafe_b64encode(json.dumps({"roles": ["Application.ReadWrite.All"]}).encode()).decode().rstrip("=")
    token = f"e30.{payload}.sig"
    assert token_roles(token) == ["Application.ReadWrite.All"]
    assert token_roles("opaque") is None

    def jwt_of(claims):
        return "e30." + base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=") + ".sig"

    assert token_roles(jwt_of({"appid": "x"})) == []  # app-only token, nothing consented
    assert token_roles(jwt_of({"scp": "Directory.AccessAsUser.All", "roles": ["x"]})) is None  # delegated
    client, _sleeps = make_client([], access_token=jwt_of({"appid": "x", "tid": "t"}))
    with pytest.raises(GraphError) as caught:
        client.require_permissions({"Application.ReadWrite.All": {"Application.ReadWrite.All"}}, "update keys")
    assert "admin consent is missing" in caught.value.msg
    client, _sleeps = make_client([], access_token=token)
    client.require_permissions({"Application.ReadWrite.All": {"Application.ReadWrite.All"}}, "update keys")
    with pytest.raises(GraphError) as caught:
        client.require_permissions(
            {"Application.ReadWrite.All": {"Application.ReadWrite.All"}, "AppRoleAssignment.ReadWrite.All": {"AppRoleAssignment.ReadWrite.All"}},
            "create the application",
        )
    assert "lacks the Microsoft Graph application permission AppRoleAssignment.ReadWrite.All" in caught.value.msg


# --- against the simulator ------------------------------------------------------------------------------------


@pytest.fixture
def entra(tmp_path, monkeypatch):
    pki = create_pki(str(tmp_path / "pki"))
    path = tmp_path / "state.json"
    client_cert = make_certificate("automation", key_index=2)
    path.write_text(json.dumps({"clock_offset_seconds": 0, "entra": initial_entra_state(client_certificate_pem=client_cert.cert_pem)}))
    server = EntraServer(StateStore(str(path)), pki).start()
    cache = tmp_path / "cache"
    monkeypatch.setenv(_graph.TOKEN_CACHE_DIR_ENV, str(cache))
    server.client_cert = client_cert
    server.params = {
        "tenant": "contoso.onmicrosoft.com",
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
        "cloud": "global",
        "authority_host": server.base_url,
        "graph_endpoint": server.base_url,
        "validate_certs": True,
        "ca_path": pki.ca_path,
    }
    server.cache_dir = cache
    yield server
    server.stop()


def test_ca_path_beats_requests_ca_bundle(entra, monkeypatch, tmp_path):
    unrelated = tmp_path / "unrelated.pem"
    unrelated.write_text(make_certificate("unrelated CA").cert_pem)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(unrelated))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(unrelated))
    assert GraphClient(entra.params).get("organization", "read the organization")["value"][0]["id"] == DEFAULT_TENANT_ID
    with pytest.raises(GraphError) as caught:
        GraphClient(dict(entra.params, ca_path=None)).get("organization", "read the organization")
    assert "could not be verified" in caught.value.msg and "ca_path" in caught.value.msg
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    monkeypatch.delenv("CURL_CA_BUNDLE")
    with pytest.raises(GraphError):
        GraphClient(dict(entra.params, ca_path=None)).get("organization", "read the organization")
    assert GraphClient(dict(entra.params, ca_path=None, validate_certs=False)).get("organization", "read it")


def test_one_token_for_many_clients_in_a_private_file(entra):
    for _attempt in range(3):
        GraphClient(entra.params).get("organization", "read the organization")
    assert entra.counters["token_requests"] == 1
    assert stat.S_IMODE(os.stat(entra.cache_dir).st_mode) == 0o700
    files = [f for f in os.listdir(entra.cache_dir) if f.endswith(".json")]
    assert len(files) == 1
    assert stat.S_IMODE(os.stat(entra.cache_dir / files[0]).st_mode) == 0o600
    assert DEFAULT_CLIENT_SECRET not in (entra.cache_dir / files[0]).read_text()


def test_other_credential_does_not_reuse_the_cached_token(entra):
    GraphClient(entra.params).get("organization", "read the organization")
    with pytest.raises(GraphError) as caught:
        GraphClient(dict(entra.params, client_secret="wrong-secret-value")).get("organization", "read the organization")
    assert "AADSTS7000215" in caught.value.msg


def test_unsafe_cache_directory_is_not_used(entra):
    os.makedirs(entra.cache_dir, mode=0o777)
    os.chmod(entra.cache_dir, 0o777)
    client = GraphClient(entra.params)
    client.get("organization", "read the organization")
    assert any("token cache disabled" in w for w in client.warnings)
    assert os.listdir(entra.cache_dir) == []


def test_expired_token_is_refreshed_once(entra):
    GraphClient(entra.params).get("organization", "read the organization")
    with StateStore(entra.store.path).transaction() as state:
        state["clock_offset_seconds"] = 7200  # the cached token is past its expiry for Graph
    client = GraphClient(entra.params)
    assert client.get("organization", "read the organization")
    assert entra.counters["token_requests"] == 2


@pytest.mark.parametrize(
    "change, fragments",
    [
        ({"client_secret": "not-the-secret"}, ["AADSTS7000215", "use the secret's Value"]),
        ({"client_id": "11111111-2222-3333-4444-555555555555"}, ["AADSTS700016", "check client_id and tenant"]),
        ({"tenant": "fabrikam.onmicrosoft.com"}, ["Failed to find tenant 'fabrikam.onmicrosoft.com'", "AADSTS90002"]),
        ({"client_secret": None}, ["No Graph credentials"]),
    ],
)
def test_token_errors_are_explained_without_secrets(entra, change, fragments):
    with pytest.raises(GraphError) as caught:
        GraphClient(dict(entra.params, **change)).get("organization", "read the organization")
    for fragment in fragments:
        assert fragment in caught.value.msg
    assert DEFAULT_CLIENT_SECRET not in caught.value.msg and "not-the-secret" not in caught.value.msg
    assert "Trace ID" not in caught.value.msg


def test_token_endpoint_down(entra):
    entra.inject("POST", r"/oauth2/v2\.0/token", action="drop_before")
    with pytest.raises(GraphConnectionError) as caught:
        GraphClient(entra.params).get("organization", "read the organization")
    assert caught.value.msg.startswith(f"Failed to get a token for client '{DEFAULT_CLIENT_ID}': could not connect")


def test_openid_configuration_without_credentials(entra):
    config = GraphClient(dict(entra.params, client_id=None, client_secret=None)).openid_configuration()
    assert config["token_endpoint"].endswith(f"/{DEFAULT_TENANT_ID}/oauth2/v2.0/token")


@pytest.mark.parametrize("kind", ["pem", "pfx"])
def test_certificate_credential(entra, tmp_path, kind):
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    cert = entra.client_cert
    if kind == "pem":
        path = tmp_path / "client.pem"
        path.write_text(cert.key_pem + cert.cert_pem)
        password = None
    else:
        path = tmp_path / "client.pfx"
        key = serialization.load_pem_private_key(cert.key_pem.encode(), None)
        path.write_bytes(
            pkcs12.serialize_key_and_certificates(
                b"c", key, x509.load_pem_x509_certificate(cert.cert_pem.encode()), None, serialization.BestAvailableEncryption(b"pfx-pw")
            )
        )
        password = "pfx-pw"
    params = dict(entra.params, client_secret=None, client_certificate_path=str(path), client_certificate_password=password)
    assert GraphClient(params).get("organization", "read the organization")
    other = tmp_path / "other.pem"
    stranger = make_certificate("stranger", key_index=3)
    other.write_text(stranger.key_pem + stranger.cert_pem)
    with pytest.raises(GraphError) as caught:
        GraphClient(dict(params, client_certificate_path=str(other), client_certificate_password=None)).get("organization", "x")
    assert "AADSTS700027" in caught.value.msg


def test_token_endpoint_503_is_retried_through_a_new_msal_application(entra):
    entra.inject("POST", r"/oauth2/v2\.0/token", status=503, retry_after=1, count=1)
    sleeps = []
    client = GraphClient(entra.params, sleep=sleeps.append)
    assert client.get("organization", "read the organization")
    assert sleeps == [5.0]
    assert entra.counters["token_requests"] == 2


def test_token_endpoint_unavailable_gives_up(entra):
    entra.inject("POST", r"/oauth2/v2\.0/token", status=503, retry_after=1, count=10)
    sleeps = []
    with pytest.raises(GraphError) as caught:
        GraphClient(entra.params, sleep=sleeps.append).get("organization", "read the organization")
    assert sleeps == [5.0, 10.0]
    assert "temporarily_unavailable" in caught.value.msg and "retry later" in caught.value.msg
    assert entra.counters["token_requests"] == 3


def test_connection_refused_and_non_entra_answers_are_explained(entra):
    closed = dict(entra.params, authority_host="https://127.0.0.1:1", graph_endpoint="https://127.0.0.1:1")
    with pytest.raises(GraphConnectionError) as caught:
        GraphClient(dict(closed, client_id=None, client_secret=None)).openid_configuration()
    assert "could not connect to 127.0.0.1:1: [Errno 111] Connection refused" in caught.value.msg
    odd = dict(entra.params, authority_host=entra.base_url + "/v1.0")
    with pytest.raises(GraphError) as caught:
        GraphClient(odd).openid_configuration()
    assert "without an Entra error answer" in caught.value.msg
