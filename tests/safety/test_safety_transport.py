"""Transport security (issue 8, issue 13): certificates validated by default on both PowerShell remoting endpoints
and on Graph, an untrusted certificate explained (names ca_path), ca_path honoured with REQUESTS_CA_BUNDLE pointing
elsewhere, Basic over plain HTTP refused unless opted in (and Basic over HTTPS working where the endpoint enables
it), Kerberos over HTTP to the Exchange endpoint with every request sealed (message encryption), NTLM over HTTP to
the default endpoint sealed too. The e2e tests prove the same through ansible-playbook; these run in-process with
planted defects."""

from __future__ import annotations

import certifi
import pytest

from ansible_collections.exchange.hybrid.plugins.module_utils import _errors, _exchange, _exchange_connection, _exchange_module
from ansible_collections.exchange.hybrid.plugins.modules import exchange_server_info, tenant_info
from defects import insecure_tls
from safety_harness import drive, exchange_args, graph_args

FAMILY = "transport"


@pytest.fixture(name="https_sim", scope="module")
def fixture_https_sim(tmp_path_factory):
    """One server whose Exchange endpoint is served over HTTPS too (a virtual directory with Basic enabled), so both
    endpoints have a certificate to check; connection_params() then points connection_uri at https."""
    from hybrid_sim.simulation import DEFAULT_SERVERS, Simulation
    from safety_harness import capture_commands

    sim = Simulation(
        str(tmp_path_factory.mktemp("https") / "sim"), servers=DEFAULT_SERVERS[2:], exchange_basic_auth=True
    ).start()
    capture_commands(sim)
    yield sim
    shells = sim.open_shells()
    sim.stop()
    assert not shells, shells


def exchange_untrusted_refused(sim):
    """The Exchange endpoint over https without ca_path: refused, the message names ca_path, nothing ran."""
    args = exchange_args(sim)
    assert args["connection_uri"].startswith("https://"), args["connection_uri"]
    args.pop("ca_path")
    outcome = drive(exchange_server_info, args, sim)
    assert outcome.failed, "the Exchange endpoint over https accepted a certificate from an untrusted CA"
    assert "ca_path" in outcome.msg and "verif" in outcome.msg.lower(), outcome.msg
    assert not outcome.calls and not outcome.wsman_requests, outcome


def host_untrusted_refused(sim):
    """The default endpoint over https without ca_path: the host facts are not read (a warning naming ca_path; the
    Exchange endpoint is http with Kerberos encryption here, so the module itself still succeeds)."""
    args = exchange_args(sim)
    assert args["connection_uri"].startswith("http://"), args["connection_uri"]
    args.pop("ca_path")
    outcome = drive(exchange_server_info, args, sim)
    assert not outcome.host_requests, "the default endpoint over https accepted a certificate from an untrusted CA"
    assert not any(c["endpoint"] == "Microsoft.PowerShell" for c in outcome.calls), outcome.calls
    assert any("ca_path" in w and "verif" in w.lower() for w in outcome.warnings), outcome.warnings


def graph_untrusted_refused(sim):
    args = graph_args(sim)
    args.pop("ca_path")
    outcome = drive(tenant_info, args, sim)
    assert outcome.failed, "Graph accepted a certificate from an untrusted CA"
    assert "ca_path" in outcome.msg and "verif" in outcome.msg.lower(), outcome.msg


def test_certificates_validated_by_default(shared_sim, https_sim, cases, monkeypatch):
    with cases.case("Exchange endpoint https: untrusted certificate refused, message names ca_path"):
        exchange_untrusted_refused(https_sim)
    with cases.case("default endpoint https: untrusted certificate refused, warning names ca_path"):
        host_untrusted_refused(shared_sim)
    with cases.case("Graph: untrusted certificate refused, message names ca_path"):
        graph_untrusted_refused(shared_sim)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    with cases.case("Exchange endpoint https: untrusted with REQUESTS_CA_BUNDLE set elsewhere is still refused"):
        exchange_untrusted_refused(https_sim)
    with cases.case("default endpoint https: untrusted with REQUESTS_CA_BUNDLE set elsewhere is still refused"):
        host_untrusted_refused(shared_sim)
    with cases.case("Graph: untrusted with REQUESTS_CA_BUNDLE set elsewhere is still refused"):
        graph_untrusted_refused(shared_sim)


def both_endpoints_validated(sim):
    outcome = drive(exchange_server_info, exchange_args(sim), sim)
    assert not outcome.failed and not outcome.warnings, outcome
    assert outcome.exchange_requests and outcome.host_requests, outcome
    assert all(r["scheme"] == "https" for r in outcome.wsman_requests), {r["scheme"] for r in outcome.wsman_requests}
    connected = [s for s in outcome.result["servers"] if s["connected"]]
    assert connected and connected[0]["exsetup_version"], outcome.result["servers"]


def test_ca_path_wins_over_requests_ca_bundle(shared_sim, https_sim, cases, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    monkeypatch.setenv("CURL_CA_BUNDLE", certifi.where())
    with cases.case("PSRP: ca_path validates both https endpoints with REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE unrelated"):
        both_endpoints_validated(https_sim)
    with cases.case("Graph: ca_path validates with REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE unrelated"):
        outcome = drive(tenant_info, graph_args(shared_sim), shared_sim)
        assert not outcome.failed, outcome


def test_basic_auth(shared_sim, https_sim, cases):
    basic = {"auth": "basic", "username": shared_sim.username}
    with cases.case("Basic over http refused before connecting, naming the opt-in"):
        outcome = drive(exchange_server_info, exchange_args(shared_sim, **basic), shared_sim)
        assert outcome.failed and not outcome.connected, outcome
        assert "allow_unencrypted_basic" in outcome.msg and "readable" in outcome.msg, outcome.msg
    with cases.case("Basic over http (scheme http for the default endpoint) refused before connecting"):
        args = exchange_args(https_sim, scheme="http", port=https_sim.host("EX2019").http_port, **basic)
        outcome = drive(exchange_server_info, args, https_sim)
        assert outcome.failed and not outcome.connected, outcome
        assert "allow_unencrypted_basic" in outcome.msg, outcome.msg
    with cases.case("Basic over http attempted only with allow_unencrypted_basic (the service then decides)"):
        outcome = drive(
            exchange_server_info, exchange_args(shared_sim, allow_unencrypted_basic=True, **basic), shared_sim
        )
        # The Exchange endpoint takes Kerberos only: it answers 401; the client did connect, and said so plainly.
        assert outcome.failed and outcome.connections and not outcome.calls, outcome
        assert "HTTP 401" in outcome.msg and "allow_unencrypted_basic" not in outcome.msg, outcome.msg
    with cases.case("Basic over https works where the endpoint enables it (both endpoints)"):
        outcome = drive(exchange_server_info, exchange_args(https_sim, **basic), https_sim)
        assert not outcome.failed and not outcome.warnings, outcome
        seen = {(r["endpoint"], r["scheme"], r["auth"]) for r in outcome.wsman_requests}
        assert seen == {("exchange", "https", "basic"), ("host", "https", "basic")}, seen


def kerberos_http_sealed(sim):
    outcome = drive(exchange_server_info, exchange_args(sim), sim)
    assert not outcome.failed, outcome
    exchange = outcome.exchange_requests
    assert exchange, outcome
    plain = [r for r in exchange if not (r["encrypted"] and r["scheme"] == "http" and r["auth"] == "kerberos")]
    assert not plain, "requests to the Exchange endpoint not sealed with Kerberos over http: %s" % plain[:2]
    assert all(r["configuration"] == "Microsoft.Exchange" for r in exchange), {r["configuration"] for r in exchange}


def test_kerberos_over_http_is_encrypted(shared_sim, cases):
    with cases.case("Kerberos over http to the Exchange endpoint: every WS-Man request sealed"):
        kerberos_http_sealed(shared_sim)
    with cases.case("Kerberos over http with message_encryption never: refused by the service, nothing ran"):
        outcome = drive(exchange_server_info, exchange_args(shared_sim, message_encryption="never"), shared_sim)
        assert outcome.failed and not outcome.calls and not outcome.pipelines, outcome


def client_params(sim, **changes):
    """The connection options as a module resolves them (defaults included), for the client used directly."""
    params = {name: spec.get("default") for name, spec in _exchange_connection.CONNECTION_ARGUMENT_SPEC.items()}
    params.update(exchange_args(sim, **changes))
    return params


def host_facts_over_ntlm(sim, **changes):
    """The host facts read from the default endpoint over http with NTLM (the client itself: every module talks to
    the Exchange endpoint first, which refuses NTLM). Returns the default endpoint's requests of the run."""
    server = sim.host("EX2019")
    mark = len(server.requests)
    params = client_params(
        sim, auth="ntlm", username=sim.username, scheme="http", port=server.http_port, connection_uri=None, **changes
    )
    client = _exchange.ExchangeClient(params)
    try:
        rows = client.run([_exchange.host_script("host_facts", _exchange_module.HOST_FACTS_PROPERTIES)])[0]
    finally:
        client.close()
    assert not sim.open_shells(), sim.open_shells()
    return rows, server.requests[mark:]


def test_ntlm_over_http_is_encrypted(shared_sim, cases):
    with cases.case("NTLM over http to the default endpoint: every WS-Man request sealed"):
        rows, requests = host_facts_over_ntlm(shared_sim)
        assert rows and rows[0]["FileVersion"], rows
        plain = [r for r in requests if not (r["encrypted"] and r["scheme"] == "http" and r["auth"] == "ntlm")]
        assert requests and not plain, "requests to the default endpoint not sealed with NTLM: %s" % plain[:2]
    with cases.case("NTLM over http with message_encryption never: refused by the service, no plaintext success"):
        with pytest.raises(_errors.ExchangeConnectionError) as refused:
            host_facts_over_ntlm(shared_sim, message_encryption="never")
        assert "HTTP 500" in refused.value.msg, refused.value.msg
    with cases.case("NTLM to the Exchange endpoint: refused (Kerberos only), the message says which auth to use"):
        outcome = drive(exchange_server_info, exchange_args(shared_sim, auth="ntlm", username=shared_sim.username))
        assert outcome.failed and "kerberos" in outcome.msg.lower(), outcome.msg


def test_planted_transport_defects_are_caught(shared_sim, https_sim, cases):
    with cases.defect("PSRP client ignoring server certificates: Exchange endpoint"):
        with insecure_tls.psrp_ignores_certificates():
            exchange_untrusted_refused(https_sim)
    with cases.defect("PSRP client ignoring server certificates: default endpoint"):
        with insecure_tls.psrp_ignores_certificates():
            host_untrusted_refused(shared_sim)
    with cases.defect("PSRP client sending Kerberos over http without message encryption"):
        with insecure_tls.psrp_without_message_encryption():
            kerberos_http_sealed(shared_sim)
    with cases.defect("Graph client not verifying"):
        with insecure_tls.graph_does_not_verify():
            graph_untrusted_refused(shared_sim)
