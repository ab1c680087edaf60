"""Transport security (issue 8): certificates validated by default on WinRM and Graph, an untrusted certificate
explained (names ca_path), ca_path honoured with REQUESTS_CA_BUNDLE pointing elsewhere, Basic over plain HTTP
refused unless opted in, NTLM over HTTP encrypted. The e2e tests prove the same through ansible-playbook
(tests/e2e/test_exchange_modules.py, test_graph_msol_sp_credential.py); these run in-process with planted defects."""

from __future__ import annotations

import certifi

from ansible_collections.exchange.hybrid.plugins.modules import exchange_server_info, tenant_info
from defects import insecure_tls
from safety_harness import drive, graph_args, winrm_args

FAMILY = "transport"


def winrm_untrusted_refused(sim):
    args = winrm_args(sim)
    args.pop("ca_path")
    outcome = drive(exchange_server_info, args, sim)
    assert outcome.failed, "WinRM over HTTPS accepted a certificate from an untrusted CA"
    assert "ca_path" in outcome.msg and "verif" in outcome.msg.lower(), outcome.msg
    assert not outcome.calls


def graph_untrusted_refused(sim):
    args = graph_args(sim)
    args.pop("ca_path")
    outcome = drive(tenant_info, args, sim)
    assert outcome.failed, "Graph accepted a certificate from an untrusted CA"
    assert "ca_path" in outcome.msg and "verif" in outcome.msg.lower(), outcome.msg


def test_certificates_validated_by_default(shared_sim, cases, monkeypatch):
    with cases.case("WinRM https: untrusted certificate refused, message names ca_path"):
        winrm_untrusted_refused(shared_sim)
    with cases.case("Graph: untrusted certificate refused, message names ca_path"):
        graph_untrusted_refused(shared_sim)
    with cases.case("WinRM https: untrusted with REQUESTS_CA_BUNDLE set elsewhere is still refused"):
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
        winrm_untrusted_refused(shared_sim)
    with cases.case("Graph: untrusted with REQUESTS_CA_BUNDLE set elsewhere is still refused"):
        graph_untrusted_refused(shared_sim)


def test_ca_path_wins_over_requests_ca_bundle(shared_sim, cases, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    monkeypatch.setenv("CURL_CA_BUNDLE", certifi.where())
    with cases.case("WinRM: ca_path validates with REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE unrelated"):
        outcome = drive(exchange_server_info, winrm_args(shared_sim), shared_sim)
        assert not outcome.failed, outcome
    with cases.case("Graph: ca_path validates with REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE unrelated"):
        outcome = drive(tenant_info, graph_args(shared_sim), shared_sim)
        assert not outcome.failed, outcome


def test_basic_over_http(shared_sim, cases):
    http = shared_sim.server("EX2019").http_port
    with cases.case("Basic over http refused before connecting, naming the opt-in"):
        outcome = drive(
            exchange_server_info, winrm_args(shared_sim, transport="basic", scheme="http", port=http), shared_sim
        )
        assert outcome.failed and not outcome.winrm_requests, outcome
        assert "allow_unencrypted_basic" in outcome.msg and "readable" in outcome.msg, outcome.msg
    with cases.case("Basic over http attempted only with allow_unencrypted_basic (the service then decides)"):
        outcome = drive(
            exchange_server_info,
            winrm_args(shared_sim, transport="basic", scheme="http", port=http, allow_unencrypted_basic=True),
            shared_sim,
        )
        # the simulated service keeps Windows' AllowUnencrypted=false, so it answers 401: the client did connect
        assert "HTTP 401" in outcome.msg and "allow_unencrypted_basic" not in outcome.msg, outcome.msg


def test_ntlm_over_http_is_encrypted(shared_sim, cases):
    http = shared_sim.server("EX2019").http_port
    with cases.case("NTLM over http: every WS-Man request encrypted"):
        outcome = drive(exchange_server_info, winrm_args(shared_sim, scheme="http", port=http), shared_sim)
        assert not outcome.failed, outcome
        soap = [r for r in outcome.winrm_requests if r["action"] != "?"]
        assert soap and all(r["encrypted"] and r["scheme"] == "http" for r in soap), outcome.winrm_requests
    with cases.case("NTLM over http with message_encryption never: refused by the service, no plaintext success"):
        outcome = drive(
            exchange_server_info,
            winrm_args(shared_sim, scheme="http", port=http, message_encryption="never"),
            shared_sim,
        )
        assert outcome.failed and not outcome.calls, outcome


def test_planted_tls_defects_are_caught(shared_sim, cases):
    with cases.defect("WinRM client ignoring server certificates"):
        with insecure_tls.winrm_ignores_certificates():
            winrm_untrusted_refused(shared_sim)
    with cases.defect("Graph client not verifying"):
        with insecure_tls.graph_does_not_verify():
            graph_untrusted_refused(shared_sim)
