# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest
from test_exchange_fake import FakeExchange, make_cert, run_module

from ansible_collections.exchange.hybrid.plugins.modules import exchange_oauth_cert as mod


def test_creates_assigns_then_idempotent(monkeypatch):
    exchange = FakeExchange()
    out, client = run_module(monkeypatch, mod, {"export_path": "C:\\Certs\\oauth.cer"}, exchange, diff=True)
    r = out.result
    assert not out.failed and r["changed"] and r["created"] and r["action"] == "assigned"
    new = next(c for c in exchange.calls if c["cmdlet"] == "New-ExchangeCertificate")["parameters"]
    assert new["Services"] == "Federation" and new["KeySize"] == 2048 and new["PrivateKeyExportable"] is True
    assert new["DomainName"] == ["contoso.com"]
    assert exchange.auth["CurrentCertificateThumbprint"] == r["thumbprint"] == r["auth_config"]["current"]
    assert r["certificate"] == exchange.certs[0]["RawData"] and exchange.files["C:\\Certs\\oauth.cer"]
    assert (
        r["diff"]["before"]["auth_config"]["current"] is None
        and r["diff"]["after"]["certificate"]["thumbprint"] == r["thumbprint"]
    )
    assert client.batches[0] == ["Get-ExchangeServer", "Get-ExchangeCertificate", "Get-AuthConfig"]

    again, client = run_module(monkeypatch, mod, {"export_path": "C:\\Certs\\oauth.cer"}, exchange)
    assert not again.result["changed"] and again.result["thumbprint"] == r["thumbprint"]
    assert not [c for b in client.batches for c in b if c.startswith(("New-", "Set-Auth"))]
    assert len(exchange.certs) == 1

    checked, _client = run_module(monkeypatch, mod, {"export_path": "C:\\Certs\\oauth.cer"}, exchange, check=True)
    assert not checked.result["changed"]


def test_check_mode_writes_nothing(monkeypatch):
    exchange = FakeExchange()
    before = exchange.snapshot()
    out, client = run_module(monkeypatch, mod, {"export_path": "C:\\x.cer"}, exchange, check=True, diff=True)
    assert out.result["changed"] and out.result["created"] and out.result["thumbprint"] is None
    assert exchange.snapshot() == before
    assert all(not c.startswith(("New-", "Set-Auth")) for b in client.batches for c in b)
    assert "diff" in out.result


def test_reuses_valid_and_skips_bad_certificates(monkeypatch):
    good = make_cert(days=400)
    exchange = FakeExchange(
        certs=[
            make_cert(days=-3),
            make_cert(key=1024),
            make_cert(exportable=False),
            make_cert(name="Other", days=900),
            good,
        ]
    )
    out, _client = run_module(monkeypatch, mod, {}, exchange)
    assert out.result["thumbprint"] == good["Thumbprint"] and not out.result["created"]
    assert exchange.auth["CurrentCertificateThumbprint"] == good["Thumbprint"]


def test_adopt_thumbprint_normalised(monkeypatch):
    cert = make_cert(name="anything", days=300)
    exchange = FakeExchange(certs=[cert])
    spaced = " ".join(cert["Thumbprint"][i : i + 2] for i in range(0, 40, 2)).lower()
    out, _client = run_module(monkeypatch, mod, {"thumbprint": spaced}, exchange)
    assert out.result["thumbprint"] == cert["Thumbprint"] and out.result["action"] == "assigned"


def test_adopt_missing_thumbprint_fails_naming_server(monkeypatch):
    exchange = FakeExchange()
    out, _client = run_module(monkeypatch, mod, {"thumbprint": "A" * 40}, exchange)
    assert (
        out.failed and "ex01.contoso.com" in out.result["msg"] and "not in the certificate store" in out.result["msg"]
    )


@pytest.mark.parametrize(
    "args,needle",
    [
        ({"key_size": 1024}, "key_size 1024"),
        ({"thumbprint": "not-a-thumbprint"}, "thumbprint"),
        ({"domain_name": "not a domain"}, "domain_name"),
        ({"export_path": "relative\\path.cer"}, "export_path"),
        ({"friendly_name": "  "}, "friendly_name"),
    ],
)
def test_bad_input_refused_before_connecting(monkeypatch, args, needle):
    out, _client = run_module(monkeypatch, mod, args)
    assert out.failed and needle in out.result["msg"]
    assert "pw-canary" not in str(out.result)


def test_stages_next_certificate_inside_renewal_window(monkeypatch):
    current = make_cert(days=50)
    exchange = FakeExchange(
        certs=[current],
        auth={
            "CurrentCertificateThumbprint": current["Thumbprint"],
            "NextCertificateThumbprint": None,
            "PreviousCertificateThumbprint": None,
            "NextCertificateEffectiveDate": None,
        },
    )
    out, _client = run_module(monkeypatch, mod, {}, exchange)
    r = out.result
    assert r["action"] == "staged" and r["created"] and r["thumbprint"] == current["Thumbprint"]
    assert r["next_certificate"]["thumbprint"] == exchange.auth["NextCertificateThumbprint"]
    assert exchange.auth["NextCertificateEffectiveDate"] == "2026-12-27T12:00:00Z"  # 30 days ahead
    again, _client = run_module(monkeypatch, mod, {}, exchange)
    assert not again.result["changed"] and again.result["next_certificate"]


def test_replaces_expired_current_now(monkeypatch):
    old = make_cert(days=-2)
    exchange = FakeExchange(
        certs=[old],
        auth={
            "CurrentCertificateThumbprint": old["Thumbprint"],
            "NextCertificateThumbprint": None,
            "PreviousCertificateThumbprint": None,
            "NextCertificateEffectiveDate": None,
        },
    )
    out, _client = run_module(monkeypatch, mod, {}, exchange)
    sets = [c["parameters"] for c in exchange.calls if c["cmdlet"] == "Set-AuthConfig"]
    assert [sorted(p) for p in sets] == [
        ["Force", "NewCertificateEffectiveDate", "NewCertificateThumbprint"],
        ["PublishCertificate"],
        ["ClearPreviousCertificate"],
    ]
    assert out.result["action"] == "replaced" and exchange.auth["CurrentCertificateThumbprint"] != old["Thumbprint"]
    assert out.result["thumbprint"] == exchange.auth["CurrentCertificateThumbprint"]


def test_staging_days():
    assert [mod.staging_days(d) for d in (59, 31, 30, 20, 4, 3, 2, 1, 0)] == [30, 30, 4, 4, 2, 2, 0, 0, 0]
