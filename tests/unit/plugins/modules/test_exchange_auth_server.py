# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest
from test_exchange_fake import FakeExchange, run_module

from ansible_collections.exchange.hybrid.plugins.modules import exchange_auth_server as mod

ACS = "https://accounts.accesscontrol.windows.net/metadata/json/1/?realm=contoso.onmicrosoft.com"


def test_create_then_idempotent_then_absent(monkeypatch):
    exchange = FakeExchange()
    out, client = run_module(monkeypatch, mod, {"tenant_domain": "contoso.onmicrosoft.com"}, exchange, diff=True)
    assert out.result["changed"] and out.result["auth_server"]["auth_metadata_url"] == ACS
    new = next(c for c in exchange.calls if c["cmdlet"] == "New-AuthServer")["parameters"]
    assert new == {"Name": "MicrosoftSts", "AuthMetadataUrl": ACS, "Enabled": True}
    assert out.result["diff"]["before"] is None and len(client.exchange_batches) == 2

    again, client = run_module(monkeypatch, mod, {"tenant_domain": "contoso.onmicrosoft.com"}, exchange)
    assert not again.result["changed"] and len(client.exchange_batches) == 1

    gone, _client = run_module(monkeypatch, mod, {"state": "absent"}, exchange)
    assert gone.result["changed"] and exchange.auth_servers == []


def test_wrong_url_corrected(monkeypatch):
    exchange = FakeExchange(
        auth_servers=[
            {
                "Name": "MicrosoftSts",
                "Type": "MicrosoftACS",
                "AuthMetadataUrl": "https://x",
                "Enabled": True,
                "DomainName": [],
            }
        ]
    )
    out, _client = run_module(monkeypatch, mod, {"tenant_domain": "contoso.onmicrosoft.com"}, exchange)
    assert out.result["changed"]
    call = next(c for c in exchange.calls if c["cmdlet"] == "Set-AuthServer")["parameters"]
    assert call == {"Identity": "MicrosoftSts", "AuthMetadataUrl": ACS}


def test_type_mismatch_reported_not_recreated(monkeypatch):
    exchange = FakeExchange(
        auth_servers=[{"Name": "MicrosoftSts", "Type": "AzureAD", "AuthMetadataUrl": ACS, "Enabled": True}]
    )
    before = exchange.snapshot()
    out, _client = run_module(monkeypatch, mod, {"tenant_domain": "contoso.onmicrosoft.com"}, exchange)
    assert out.failed and "cannot be changed" in out.result["msg"] and exchange.snapshot() == before


def test_azure_ad_type_and_application_identifier(monkeypatch):
    exchange = FakeExchange()
    app = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    out, _client = run_module(
        monkeypatch,
        mod,
        {
            "name": "EvoSTS",
            "type": "azure_ad",
            "tenant_domain": "contoso.onmicrosoft.com",
            "application_identifier": app,
        },
        exchange,
    )
    cmdlets = [
        (c["cmdlet"], c["parameters"])
        for c in exchange.calls
        if not c["cmdlet"].startswith("Get-") and c["cmdlet"] != "host_facts"
    ]
    assert cmdlets[0][1]["Type"] == "AzureAD" and "federationmetadata" in cmdlets[0][1]["AuthMetadataUrl"]
    assert cmdlets[1] == ("Set-AuthServer", {"Identity": "EvoSTS", "ApplicationIdentifier": app})


def test_domain_name_refused_on_2013_before_any_write(monkeypatch):
    exchange = FakeExchange(version=(15, 0, 1497, 2), exsetup="15.0.1497.2")
    before = exchange.snapshot()
    out, client = run_module(
        monkeypatch, mod, {"tenant_domain": "contoso.onmicrosoft.com", "domain_name": ["contoso.com"]}, exchange
    )
    msg = out.result["msg"]
    assert out.failed and "domain_name" in msg and "ex01.contoso.com" in msg and "15.0.1497.2" in msg
    assert "15.1.2106.2" in msg and exchange.snapshot() == before and len(client.exchange_batches) == 1


def test_application_identifier_refused_on_2016_cu23_without_hu(monkeypatch):
    exchange = FakeExchange(version=(15, 1, 2507, 6), exsetup="15.1.2507.6")
    out, _client = run_module(
        monkeypatch,
        mod,
        {"tenant_domain": "contoso.onmicrosoft.com", "application_identifier": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"},
        exchange,
    )
    assert out.failed and "15.1.2507.55" in out.result["msg"]


def test_check_mode_predicts(monkeypatch):
    exchange = FakeExchange()
    before = exchange.snapshot()
    out, _client = run_module(
        monkeypatch, mod, {"tenant_domain": "contoso.onmicrosoft.com"}, exchange, check=True, diff=True
    )
    assert out.result["changed"] and out.result["diff"]["after"]["auth_metadata_url"] == ACS
    assert exchange.snapshot() == before


@pytest.mark.parametrize(
    "args,needle",
    [
        ({"tenant_domain": "not a domain"}, "tenant_domain"),
        ({}, "tenant_domain is required"),
        ({"tenant_domain": "contoso.com", "auth_metadata_url": "http://insecure"}, "auth_metadata_url"),
        ({"tenant_domain": "contoso.com", "application_identifier": "x'; Remove-Item"}, "application_identifier"),
    ],
)
def test_bad_input_refused_before_connecting(monkeypatch, args, needle):
    out, _client = run_module(monkeypatch, mod, args)
    assert out.failed and needle in out.result["msg"]


def test_exact_build_enables_catalog_check_of_writes(monkeypatch):
    exchange = FakeExchange(version=(15, 2, 1748, 10), exsetup="15.2.1748.24")
    out, client = run_module(monkeypatch, mod, {"tenant_domain": "contoso.onmicrosoft.com"}, exchange)
    assert not out.failed and out.result["server_version"] == "15.2.1748.24"
