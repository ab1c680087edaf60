# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest
from test_exchange_fake import FakeExchange, make_cert, run_module

from ansible_collections.exchange.hybrid.plugins.module_utils._errors import ExchangeCommandError
from ansible_collections.exchange.hybrid.plugins.modules import exchange_server_info as mod


def test_flags_2013_cu2(monkeypatch):
    exchange = FakeExchange(version=(15, 0, 712, 24), exsetup="15.0.712.24")
    out, client = run_module(monkeypatch, mod, {}, exchange)
    assert not out.failed
    server = out.result["servers"][0]
    assert server["meets_push_minimum"] is False and server["version"] == "15.0.712.24"
    assert server["admin_display_version"] == "Version 15.0 (Build 712.24)"
    assert out.result["below_push_minimum"] == ["EX01"] and out.result["all_meet_push_minimum"] is False
    assert len(client.exchange_batches) == 1  # one PowerShell process


def test_hybrid_application_from_exsetup(monkeypatch):
    out, _client = run_module(monkeypatch, mod, {}, FakeExchange(version=(15, 2, 1748, 10), exsetup="15.2.1748.24"))
    server = out.result["servers"][0]
    assert server["meets_push_minimum"] and server["supports_hybrid_application"]
    assert server["supports_hybrid_application_known"] and server["exsetup_version"] == "15.2.1748.24"
    assert out.result["organization"]["name"] == "Contoso"


def test_hybrid_application_unknown_without_exsetup(monkeypatch):
    out, _client = run_module(monkeypatch, mod, {}, FakeExchange(version=(15, 1, 2507, 6), exsetup=None))
    server = out.result["servers"][0]
    assert server["supports_hybrid_application"] is False and server["supports_hybrid_application_known"] is False


def test_basic_over_http_refused_before_connecting(monkeypatch):
    out, _client = run_module(monkeypatch, mod, {"transport": "basic", "scheme": "http"})
    assert out.failed and "allow_unencrypted_basic" in out.result["msg"]


def _auth(current=None, nxt=None, effective=None):
    return {
        "CurrentCertificateThumbprint": current,
        "NextCertificateThumbprint": nxt,
        "PreviousCertificateThumbprint": None,
        "NextCertificateEffectiveDate": effective,
    }


def test_auth_certificate_present_with_private_key_in_the_same_batch(monkeypatch):
    cert = make_cert(days=400)
    exchange = FakeExchange(certs=[cert], auth=_auth(cert["Thumbprint"].lower()))
    out, client = run_module(monkeypatch, mod, {}, exchange)
    assert not out.failed
    state = out.result["auth_certificate"]
    assert state["thumbprint"] == cert["Thumbprint"] and state["present"] and state["has_private_key"]
    assert state["usable"] and state["problems"] == [] and state["days_remaining"] == 400
    assert state["not_after"] == cert["NotAfter"] and state["public_key_size"] == 2048
    assert out.result["next_auth_certificate"] is None
    assert len(client.exchange_batches) == 1
    assert {"Get-AuthConfig", "Get-ExchangeCertificate", "Get-ExchangeServer"} <= set(client.batches[0])
    read = next(c for c in exchange.calls if c["cmdlet"] == "Get-ExchangeCertificate")
    assert "RawData" not in read["properties"] and "HasPrivateKey" in read["properties"]


def test_auth_certificate_missing_on_this_server(monkeypatch):
    exchange = FakeExchange(certs=[make_cert()], auth=_auth("AB" * 20))
    out, _client = run_module(monkeypatch, mod, {}, exchange)
    state = out.result["auth_certificate"]
    assert state["present"] is False and state["usable"] is False and state["has_private_key"] is None
    assert "not in the certificate store" in state["problems"][0]


@pytest.mark.parametrize(
    "kwargs, problem",
    [
        ({"private": False}, "no private key"),
        ({"exportable": False}, "not exportable"),
        ({"key": 1024}, "1024 bits"),
        ({"days": -3}, "expired on"),
    ],
)
def test_auth_certificate_unusable(monkeypatch, kwargs, problem):
    cert = make_cert(**kwargs)
    out, _client = run_module(monkeypatch, mod, {}, FakeExchange(certs=[cert], auth=_auth(cert["Thumbprint"])))
    state = out.result["auth_certificate"]
    assert state["present"] is True and state["usable"] is False
    assert any(problem in text for text in state["problems"])


def test_no_current_certificate_and_a_staged_next(monkeypatch):
    nxt = make_cert(days=2000, private=False)
    exchange = FakeExchange(certs=[nxt], auth=_auth(None, nxt["Thumbprint"], "2027-01-01T00:00:00Z"))
    out, _client = run_module(monkeypatch, mod, {}, exchange)
    assert out.result["auth_certificate"]["thumbprint"] is None
    assert out.result["auth_certificate"]["present"] is False and out.result["auth_certificate"]["problems"] == []
    staged = out.result["next_auth_certificate"]
    assert staged["thumbprint"] == nxt["Thumbprint"] and staged["effective_date"] == "2027-01-01T00:00:00Z"
    assert staged["present"] and staged["has_private_key"] is False and not staged["usable"]


def test_servers_still_returned_where_auth_config_cannot_be_read(monkeypatch):
    exchange = FakeExchange()
    original = exchange.handle

    def handle(entry):
        if entry["cmdlet"] == "Get-AuthConfig":
            raise ExchangeCommandError(
                "Get-AuthConfig failed on EX01: not recognized", kind="cmdlet", cmdlet="Get-AuthConfig"
            )
        return original(entry)

    exchange.handle = handle
    out, client = run_module(monkeypatch, mod, {}, exchange)
    assert not out.failed and out.result["servers"][0]["name"] == "EX01"
    assert out.result["auth_certificate"] is None and out.result["next_auth_certificate"] is None
    assert len(client.exchange_batches) == 2 and "Get-AuthConfig" not in client.batches[1]


def test_other_command_errors_still_fail(monkeypatch):
    exchange = FakeExchange()

    def handle(entry):
        raise ExchangeCommandError(
            "Get-ExchangeServer failed on EX01: access denied", kind="cmdlet", cmdlet="Get-ExchangeServer"
        )

    exchange.handle = handle
    out, client = run_module(monkeypatch, mod, {}, exchange)
    assert out.failed and "access denied" in out.result["msg"] and len(client.exchange_batches) == 1
