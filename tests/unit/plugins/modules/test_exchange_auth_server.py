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


# ---------------------------------------------------------------- adopting what HCW and Microsoft's script made

TENANT = "6a4b3c2d-1e0f-4a5b-8c7d-9e0f1a2b3c4d"
OTHER_TENANT = "11111111-2222-4333-8444-555555555555"
APP = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
HCW_EVO = "EvoSts - 2f1c3a0e-5b6d-4e7f-8a9b-0c1d2e3f4a5b"
HCW_ACS = "ACS - 9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"


def evo_row(name, tenant=TENANT, domains=None, **extra):
    row = {
        "Name": name,
        "Type": "AzureAD",
        "AuthMetadataUrl": "https://login.windows.net/%s/federationmetadata/2007-06/federationmetadata.xml" % tenant,
        "Enabled": True,
        "Realm": tenant,
        "ApplicationIdentifier": None,
        "DomainName": list(domains or []),
        "IsDefaultAuthorizationEndpoint": False,
    }
    row.update(extra)
    return row


def acs_row(name=HCW_ACS, tenant=TENANT, domains=("contoso.com", "fabrikam.com")):
    return {
        "Name": name,
        "Type": "MicrosoftACS",
        "AuthMetadataUrl": "https://accounts.accesscontrol.windows.net/%s/metadata/json/1" % tenant,
        "Enabled": True,
        "Realm": tenant,
        "DomainName": list(domains),
    }


def writes(exchange):
    return [
        (c["cmdlet"], c["parameters"])
        for c in exchange.calls
        if not c["cmdlet"].startswith("Get-") and c["cmdlet"] != "host_facts"
    ]


def evosts_args(**extra):
    args = {
        "name": "EvoSTS",
        "type": "azure_ad",
        "tenant_domain": "contoso.onmicrosoft.com",
        "application_identifier": APP,
    }
    args.update(extra)
    return args


def test_hcw_evosts_adopted_in_place_with_the_acs_domains(monkeypatch):
    exchange = FakeExchange(auth_servers=[acs_row(), evo_row(HCW_EVO)])
    out, _client = run_module(monkeypatch, mod, evosts_args(tenant_id=TENANT), exchange, diff=True)
    result = out.result
    assert not out.failed and result["changed"] and result["adopted"] is True and result["name"] == HCW_EVO
    assert result["domain_name_source"] == "acs_auth_server" and HCW_ACS in result["domain_name_reason"]
    assert writes(exchange) == [
        ("Set-AuthServer", {"Identity": HCW_EVO, "DomainName": ["contoso.com", "fabrikam.com"]}),
        ("Set-AuthServer", {"Identity": HCW_EVO, "ApplicationIdentifier": APP}),
    ]
    assert [r["Name"] for r in exchange.auth_servers] == [HCW_ACS, HCW_EVO]
    assert result["diff"]["after"]["application_identifier"] == APP

    exchange.calls.clear()
    again, _client = run_module(monkeypatch, mod, evosts_args(tenant_id=TENANT), exchange)
    assert not again.result["changed"] and again.result["adopted"] is True and writes(exchange) == []


def test_adoption_in_check_mode_writes_nothing(monkeypatch):
    exchange = FakeExchange(auth_servers=[acs_row(), evo_row(HCW_EVO)])
    before = exchange.snapshot()
    out, _client = run_module(monkeypatch, mod, evosts_args(), exchange, check=True, diff=True)
    assert out.result["changed"] and out.result["name"] == HCW_EVO and writes(exchange) == []
    assert out.result["diff"]["after"]["domain_name"] == ["contoso.com", "fabrikam.com"]
    assert exchange.snapshot() == before


@pytest.mark.parametrize("name", ["evosts", "Contoso EvoSTS", "EVOSTS - 2F1C3A0E-5B6D-4E7F-8A9B-0C1D2E3F4A5B"])
def test_names_matched_as_microsofts_script_does(monkeypatch, name):
    exchange = FakeExchange(auth_servers=[evo_row(name, domains=["contoso.com"])])
    out, _client = run_module(monkeypatch, mod, evosts_args(tenant_id=TENANT), exchange)
    assert not out.failed and out.result["name"] == name
    assert out.result["adopted"] is (name.lower() != "evosts")
    assert not [c for c in writes(exchange) if c[0] == "New-AuthServer"]


def test_not_adopted_an_acs_or_unrelated_name(monkeypatch):
    exchange = FakeExchange(auth_servers=[acs_row(name="EvoSTS-like ACS"), evo_row("Partner STS")])
    out, _client = run_module(monkeypatch, mod, evosts_args(tenant_id=TENANT), exchange)
    assert not out.failed and out.result["adopted"] is False and out.result["name"] == "EvoSTS"
    assert writes(exchange)[0][0] == "New-AuthServer"


def test_duplicates_refused_before_any_change_with_the_fix(monkeypatch):
    exchange = FakeExchange(auth_servers=[acs_row(), evo_row(HCW_EVO), evo_row("EvoSTS")])
    before = exchange.snapshot()
    out, client = run_module(monkeypatch, mod, evosts_args(), exchange)
    msg = out.result["msg"]
    assert out.failed and HCW_EVO in msg and "'EvoSTS'" in msg and TENANT in msg
    assert "Remove-AuthServer -Identity 'EvoSTS' -Confirm:$false" in msg and "remove_duplicates" in msg
    assert out.result["duplicates"] == [HCW_EVO, "EvoSTS"]
    assert exchange.snapshot() == before and writes(exchange) == [] and len(client.exchange_batches) == 1


def test_remove_duplicates_keeps_hcws_and_removes_the_others(monkeypatch):
    servers = [evo_row("EvoSTS"), acs_row(), evo_row(HCW_EVO)]
    check_exchange = FakeExchange(auth_servers=[dict(r) for r in servers])
    out, _client = run_module(monkeypatch, mod, evosts_args(remove_duplicates=True), check_exchange, check=True)
    assert out.result["changed"] and out.result["removed_duplicates"] == ["EvoSTS"] and writes(check_exchange) == []

    exchange = FakeExchange(auth_servers=servers)
    out, _client = run_module(monkeypatch, mod, evosts_args(remove_duplicates=True), exchange)
    assert out.result["name"] == HCW_EVO and out.result["removed_duplicates"] == ["EvoSTS"]
    done = writes(exchange)
    assert done[-1] == ("Remove-AuthServer", {"Identity": "EvoSTS", "Confirm": False})
    assert all(c[1]["Identity"] == HCW_EVO for c in done[:-1])
    assert sorted(r["Name"] for r in exchange.auth_servers) == sorted([HCW_ACS, HCW_EVO])


def test_default_authorization_endpoint_is_the_one_kept(monkeypatch):
    exchange = FakeExchange(auth_servers=[evo_row(HCW_EVO), evo_row("EvoSTS", IsDefaultAuthorizationEndpoint=True)])
    out, _client = run_module(monkeypatch, mod, evosts_args(remove_duplicates=True, tenant_id=TENANT), exchange)
    assert out.result["name"] == "EvoSTS" and out.result["removed_duplicates"] == [HCW_EVO]


def test_several_tenants_pick_by_realm(monkeypatch):
    servers = [evo_row("EvoSts - 00000000-0000-4000-8000-000000000001", tenant=OTHER_TENANT), evo_row(HCW_EVO)]
    exchange = FakeExchange(auth_servers=[dict(r) for r in servers])
    before = exchange.snapshot()
    out, _client = run_module(monkeypatch, mod, evosts_args(), exchange)
    assert out.failed and "tenant_id" in out.result["msg"] and exchange.snapshot() == before

    out, _client = run_module(monkeypatch, mod, evosts_args(tenant_id=TENANT), exchange)
    assert not out.failed and out.result["name"] == HCW_EVO and out.result["realm_source"] == "tenant_id"
    assert {c[1]["Identity"] for c in writes(exchange)} == {HCW_EVO}


def test_tenant_id_from_an_auth_server_naming_the_domain(monkeypatch):
    microsoft_sts = acs_row(name="MicrosoftSts", domains=())
    microsoft_sts["AuthMetadataUrl"] = ACS
    servers = [microsoft_sts, evo_row("EvoSts - 00000000-0000-4000-8000-000000000001", tenant=OTHER_TENANT)]
    exchange = FakeExchange(auth_servers=servers + [evo_row(HCW_EVO)])
    out, _client = run_module(monkeypatch, mod, evosts_args(), exchange)
    assert not out.failed and out.result["name"] == HCW_EVO and "MicrosoftSts" in out.result["realm_source"]


def test_exact_name_for_another_tenant_is_refused(monkeypatch):
    exchange = FakeExchange(auth_servers=[evo_row("EvoSTS", tenant=OTHER_TENANT)])
    before = exchange.snapshot()
    out, _client = run_module(monkeypatch, mod, evosts_args(tenant_id=TENANT), exchange)
    assert out.failed and "another tenant" in out.result["msg"] and exchange.snapshot() == before


@pytest.mark.parametrize(
    "servers,extra,source,domains",
    [
        ([evo_row(HCW_EVO, domains=["contoso.com"])], {}, "existing", ["contoso.com"]),
        ([evo_row(HCW_EVO)], {}, "tenant_domain", ["contoso.onmicrosoft.com"]),
        ([acs_row(), evo_row(HCW_EVO)], {"domain_name": ["contoso.com"]}, "option", ["contoso.com"]),
        ([acs_row(), acs_row(name="ACS - 2"), evo_row(HCW_EVO, domains=["a.com"])], {}, "existing", ["a.com"]),
        ([acs_row(tenant=OTHER_TENANT), evo_row(HCW_EVO)], {"tenant_id": TENANT}, "tenant_domain", None),
    ],
)
def test_domain_name_source(monkeypatch, servers, extra, source, domains):
    exchange = FakeExchange(auth_servers=servers)
    out, _client = run_module(monkeypatch, mod, evosts_args(**extra), exchange)
    assert not out.failed and out.result["domain_name_source"] == source
    assert out.result["auth_server"]["domain_name"] == (domains or ["contoso.onmicrosoft.com"])
    if source in ("existing", "tenant_domain"):
        assert "Get-AcceptedDomain" in out.result["domain_name_reason"]


def test_tenant_id_must_be_a_guid(monkeypatch):
    out, _client = run_module(monkeypatch, mod, evosts_args(tenant_id="contoso"))
    assert out.failed and "tenant_id" in out.result["msg"]


def test_hcw_metadata_url_kept_when_the_tenant_id_is_known(monkeypatch):
    exchange = FakeExchange(auth_servers=[evo_row(HCW_EVO, domains=["contoso.com"])])
    run_module(monkeypatch, mod, evosts_args(tenant_id=TENANT), exchange)
    assert not [c for c in writes(exchange) if "AuthMetadataUrl" in c[1]]
    # Without the tenant ID the Realm is not proven to be the tenant's: the URL becomes the derived one.
    exchange = FakeExchange(auth_servers=[evo_row(HCW_EVO, domains=["contoso.com"])])
    out, _client = run_module(monkeypatch, mod, evosts_args(), exchange)
    assert out.result["adopted"] and [c for c in writes(exchange) if "AuthMetadataUrl" in c[1]]
    assert not [c for c in writes(exchange) if c[0] == "New-AuthServer"]


def test_hcws_acs_auth_server_adopted_for_the_acs_type(monkeypatch):
    exchange = FakeExchange(auth_servers=[acs_row(), evo_row(HCW_EVO)])
    out, _client = run_module(
        monkeypatch, mod, {"tenant_domain": "contoso.onmicrosoft.com", "tenant_id": TENANT}, exchange
    )
    assert not out.failed and not out.result["changed"] and out.result["adopted"] and out.result["name"] == HCW_ACS
    assert writes(exchange) == []
    # Without the tenant ID the realm cannot be matched: the documented MicrosoftSts is created as before.
    out, _client = run_module(monkeypatch, mod, {"tenant_domain": "contoso.onmicrosoft.com"}, exchange)
    assert out.result["adopted"] is False and writes(exchange)[0][0] == "New-AuthServer"


def test_several_acs_auth_servers_use_hcws_and_warn(monkeypatch):
    other = acs_row(name="ACS - 00000000-0000-4000-8000-000000000002")
    exchange = FakeExchange(auth_servers=[other, acs_row()])
    out, _client = run_module(
        monkeypatch, mod, {"tenant_domain": "contoso.onmicrosoft.com", "tenant_id": TENANT}, exchange
    )
    assert out.result["name"] == other["Name"] and out.result["duplicates"] == [other["Name"], HCW_ACS]
    assert writes(exchange) == []


def test_an_acs_auth_server_not_named_by_hcw_is_not_adopted(monkeypatch):
    exchange = FakeExchange(auth_servers=[acs_row(name="Partner ACS")])
    out, _client = run_module(
        monkeypatch, mod, {"tenant_domain": "contoso.onmicrosoft.com", "tenant_id": TENANT}, exchange
    )
    assert out.result["adopted"] is False and writes(exchange)[0][0] == "New-AuthServer"
