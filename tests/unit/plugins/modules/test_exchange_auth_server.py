# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""exchange_auth_server against the simulator's Exchange: act, read back, rerun, check mode, HCW adoption."""

from __future__ import annotations

import uuid

import pytest
from ansible.module_utils import basic

from hybrid_sim.exchange.testing import E2013_CU23, E2016_CU23, E2019_CU15_HU, ExchangeHarness
from hybrid_sim.module_runner import run_module

from ansible_collections.exchange.hybrid.plugins.modules import exchange_auth_server as mod

ACS = "https://accounts.accesscontrol.windows.net/metadata/json/1/?realm=contoso.onmicrosoft.com"


class Org(ExchangeHarness):
    """One simulated organization (one Exchange 2019 CU15 server with the April 2025 HU unless told)."""

    def __init__(self, directory, servers=(E2019_CU15_HU,), auth_servers=(), **options):
        super().__init__(str(directory), servers=list(servers), **options)
        with self.edit() as state:
            state["exchange"]["auth_servers"] = [stored(row) for row in auth_servers]

    @property
    def auth_servers(self):
        return self.state()["exchange"]["auth_servers"]

    def snapshot(self):
        return self.state()["exchange"]


def stored(row):
    """A row as the simulator stores an AuthServer (identity fields beside the ones the module reads)."""
    full = {"Identity": row["Name"], "Id": row["Name"], "Guid": str(uuid.uuid4()), "IsDefaultAuthorizationEndpoint": False}
    full.update(row)
    return full


@pytest.fixture
def org(tmp_path):
    def make(**options):
        directory = tmp_path / uuid.uuid4().hex
        directory.mkdir()
        return Org(directory, **options)

    return make


def run(org, args, check=False, diff=False):
    return run_module(mod, args, exchange=org, check=check, diff=diff)


def writes(outcome):
    return [(c["cmdlet"], c["parameters"]) for c in outcome.calls if c["cmdlet"] in outcome.writes]


def test_create_then_idempotent_then_absent(org):
    exchange = org()
    out = run(exchange, {"tenant_domain": "contoso.onmicrosoft.com"}, diff=True)
    assert out.result["changed"] and out.result["auth_server"]["auth_metadata_url"] == ACS
    new = next(c for c in out.calls if c["cmdlet"] == "New-AuthServer")["parameters"]
    assert new == {"Name": "MicrosoftSts", "AuthMetadataUrl": ACS, "Enabled": True}
    assert out.result["diff"]["before"] is None
    [created] = exchange.auth_servers
    assert (created["Name"], created["Type"], created["AuthMetadataUrl"]) == ("MicrosoftSts", "MicrosoftACS", ACS)

    again = run(exchange, {"tenant_domain": "contoso.onmicrosoft.com"})
    assert not again.result["changed"] and again.writes == []

    gone = run(exchange, {"state": "absent"}, diff=True)
    assert gone.result["changed"] and exchange.auth_servers == []
    assert gone.result["auth_server"] is None and gone.result["diff"]["after"] is None
    assert not run(exchange, {"state": "absent"}).result["changed"]


def test_wrong_url_corrected(org):
    exchange = org(
        auth_servers=[
            {"Name": "MicrosoftSts", "Type": "MicrosoftACS", "AuthMetadataUrl": "https://x", "Enabled": True, "DomainName": []}
        ]
    )
    out = run(exchange, {"tenant_domain": "contoso.onmicrosoft.com"})
    assert out.result["changed"]
    assert writes(out) == [("Set-AuthServer", {"Identity": "MicrosoftSts", "AuthMetadataUrl": ACS})]
    assert exchange.auth_servers[0]["AuthMetadataUrl"] == ACS


def test_type_mismatch_reported_not_recreated(org):
    exchange = org(auth_servers=[{"Name": "MicrosoftSts", "Type": "AzureAD", "AuthMetadataUrl": ACS, "Enabled": True}])
    before = exchange.snapshot()
    out = run(exchange, {"tenant_domain": "contoso.onmicrosoft.com"})
    assert out.failed and "cannot be changed" in out.result["msg"] and exchange.snapshot() == before


def test_azure_ad_type_and_application_identifier(org):
    exchange = org()
    app = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    args = {"name": "EvoSTS", "type": "azure_ad", "tenant_domain": "contoso.onmicrosoft.com", "application_identifier": app}
    out = run(exchange, args)
    done = writes(out)
    assert done[0][1]["Type"] == "AzureAD" and "federationmetadata" in done[0][1]["AuthMetadataUrl"]
    assert done[1] == ("Set-AuthServer", {"Identity": "EvoSTS", "ApplicationIdentifier": app})
    [created] = exchange.auth_servers
    assert (created["Type"], created["ApplicationIdentifier"]) == ("AzureAD", app)
    assert run(exchange, args).writes == []


def test_domain_name_refused_on_2013_before_any_write(org):
    exchange = org(servers=[E2013_CU23])
    before = exchange.snapshot()
    out = run(exchange, {"tenant_domain": "contoso.onmicrosoft.com", "domain_name": ["contoso.com"]})
    msg = out.result["msg"]
    assert out.failed and "domain_name" in msg and "ex01.contoso.com" in msg and "15.0.1497.2" in msg
    assert "15.1.2106.2" in msg and exchange.snapshot() == before and out.writes == []


def test_application_identifier_refused_on_2016_cu23_without_hu(org):
    exchange = org(servers=[E2016_CU23])
    out = run(exchange, {"tenant_domain": "contoso.onmicrosoft.com", "application_identifier": APP})
    assert out.failed and "15.1.2507.55" in out.result["msg"] and out.writes == []


def test_check_mode_predicts(org):
    exchange = org()
    before = exchange.snapshot()
    out = run(exchange, {"tenant_domain": "contoso.onmicrosoft.com"}, check=True, diff=True)
    assert out.result["changed"] and out.result["diff"]["after"]["auth_metadata_url"] == ACS
    assert exchange.snapshot() == before and out.writes == []


@pytest.mark.parametrize(
    "args,needle",
    [
        ({"tenant_domain": "not a domain"}, "tenant_domain"),
        ({}, "tenant_domain is required"),
        ({"tenant_domain": "contoso.com", "auth_metadata_url": "http://insecure"}, "auth_metadata_url"),
        ({"tenant_domain": "contoso.com", "application_identifier": "x'; Remove-Item"}, "application_identifier"),
        ({"tenant_domain": "contoso.com", "cloud": "bleu"}, "set auth_metadata_url"),
        ({"tenant_domain": "contoso.com", "graph_base_url": "http://graph.microsoft.com"}, "graph_base_url"),
    ],
)
def test_bad_input_refused_before_connecting(args, needle):
    out = run_module(mod, args)  # no Exchange: connecting would fail the test
    assert out.failed and needle in out.result["msg"] and out.calls == []


def test_a_sovereign_cloud_evosts_url_from_its_login_host(org):
    out = run(org(), {"name": "EvoSTS", "type": "azure_ad", "tenant_domain": "contoso.onmicrosoft.com", "cloud": "delos"})
    assert not out.failed, out.result
    assert out.result["auth_metadata_url"].startswith("https://login.sovcloud-identity.de/contoso.onmicrosoft.com/")


def test_exact_build_enables_catalog_check_of_writes(org):
    out = run(org(), {"tenant_domain": "contoso.onmicrosoft.com"})
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


def evosts_args(**extra):
    args = {
        "name": "EvoSTS",
        "type": "azure_ad",
        "tenant_domain": "contoso.onmicrosoft.com",
        "application_identifier": APP,
    }
    args.update(extra)
    return args


def test_hcw_evosts_adopted_in_place_with_the_acs_domains(org):
    exchange = org(auth_servers=[acs_row(), evo_row(HCW_EVO)])
    out = run(exchange, evosts_args(tenant_id=TENANT), diff=True)
    result = out.result
    assert not out.failed and result["changed"] and result["adopted"] is True and result["name"] == HCW_EVO
    assert result["domain_name_source"] == "acs_auth_server" and HCW_ACS in result["domain_name_reason"]
    assert writes(out) == [
        ("Set-AuthServer", {"Identity": HCW_EVO, "DomainName": ["contoso.com", "fabrikam.com"]}),
        ("Set-AuthServer", {"Identity": HCW_EVO, "ApplicationIdentifier": APP}),
    ]
    assert [r["Name"] for r in exchange.auth_servers] == [HCW_ACS, HCW_EVO]
    assert result["diff"]["after"]["application_identifier"] == APP

    again = run(exchange, evosts_args(tenant_id=TENANT))
    assert not again.result["changed"] and again.result["adopted"] is True and writes(again) == []


def test_adoption_in_check_mode_writes_nothing(org):
    exchange = org(auth_servers=[acs_row(), evo_row(HCW_EVO)])
    before = exchange.snapshot()
    out = run(exchange, evosts_args(), check=True, diff=True)
    assert out.result["changed"] and out.result["name"] == HCW_EVO and writes(out) == []
    assert out.result["diff"]["after"]["domain_name"] == ["contoso.com", "fabrikam.com"]
    assert exchange.snapshot() == before


@pytest.mark.parametrize("name", ["evosts", "Contoso EvoSTS", "EVOSTS - 2F1C3A0E-5B6D-4E7F-8A9B-0C1D2E3F4A5B"])
def test_names_matched_as_microsofts_script_does(org, name):
    exchange = org(auth_servers=[evo_row(name, domains=["contoso.com"])])
    out = run(exchange, evosts_args(tenant_id=TENANT))
    assert not out.failed and out.result["name"] == name
    assert out.result["adopted"] is (name.lower() != "evosts")
    assert not [c for c in writes(out) if c[0] == "New-AuthServer"]


def test_not_adopted_an_acs_or_unrelated_name(org):
    exchange = org(auth_servers=[acs_row(name="EvoSTS-like ACS"), evo_row("Partner STS")])
    out = run(exchange, evosts_args(tenant_id=TENANT))
    assert not out.failed and out.result["adopted"] is False and out.result["name"] == "EvoSTS"
    assert writes(out)[0][0] == "New-AuthServer"


def test_duplicates_refused_before_any_change_with_the_fix(org):
    exchange = org(auth_servers=[acs_row(), evo_row(HCW_EVO), evo_row("EvoSTS")])
    before = exchange.snapshot()
    out = run(exchange, evosts_args())
    msg = out.result["msg"]
    assert out.failed and HCW_EVO in msg and "'EvoSTS'" in msg and TENANT in msg
    assert "Remove-AuthServer -Identity 'EvoSTS' -Confirm:$false" in msg and "remove_duplicates" in msg
    assert out.result["duplicates"] == [HCW_EVO, "EvoSTS"]
    assert exchange.snapshot() == before and writes(out) == []


def test_remove_duplicates_keeps_hcws_and_removes_the_others(org):
    servers = [evo_row("EvoSTS"), acs_row(), evo_row(HCW_EVO)]
    check_exchange = org(auth_servers=[dict(r) for r in servers])
    out = run(check_exchange, evosts_args(remove_duplicates=True), check=True)
    assert out.result["changed"] and out.result["removed_duplicates"] == ["EvoSTS"] and writes(out) == []

    exchange = org(auth_servers=servers)
    out = run(exchange, evosts_args(remove_duplicates=True))
    assert out.result["name"] == HCW_EVO and out.result["removed_duplicates"] == ["EvoSTS"]
    done = writes(out)
    assert done[-1] == ("Remove-AuthServer", {"Identity": "EvoSTS", "Confirm": False})
    assert all(c[1]["Identity"] == HCW_EVO for c in done[:-1])
    assert sorted(r["Name"] for r in exchange.auth_servers) == sorted([HCW_ACS, HCW_EVO])


def test_default_authorization_endpoint_is_the_one_kept(org):
    exchange = org(auth_servers=[evo_row(HCW_EVO), evo_row("EvoSTS", IsDefaultAuthorizationEndpoint=True)])
    out = run(exchange, evosts_args(remove_duplicates=True, tenant_id=TENANT))
    assert out.result["name"] == "EvoSTS" and out.result["removed_duplicates"] == [HCW_EVO]


def test_several_tenants_pick_by_realm(org):
    servers = [evo_row("EvoSts - 00000000-0000-4000-8000-000000000001", tenant=OTHER_TENANT), evo_row(HCW_EVO)]
    exchange = org(auth_servers=[dict(r) for r in servers])
    before = exchange.snapshot()
    out = run(exchange, evosts_args())
    assert out.failed and "tenant_id" in out.result["msg"] and exchange.snapshot() == before

    out = run(exchange, evosts_args(tenant_id=TENANT))
    assert not out.failed and out.result["name"] == HCW_EVO and out.result["realm_source"] == "tenant_id"
    assert {c[1]["Identity"] for c in writes(out)} == {HCW_EVO}


def test_tenant_id_from_an_auth_server_naming_the_domain(org):
    microsoft_sts = acs_row(name="MicrosoftSts", domains=())
    microsoft_sts["AuthMetadataUrl"] = ACS
    servers = [microsoft_sts, evo_row("EvoSts - 00000000-0000-4000-8000-000000000001", tenant=OTHER_TENANT)]
    exchange = org(auth_servers=servers + [evo_row(HCW_EVO)])
    out = run(exchange, evosts_args())
    assert not out.failed and out.result["name"] == HCW_EVO and "MicrosoftSts" in out.result["realm_source"]


def test_exact_name_for_another_tenant_is_refused(org):
    exchange = org(auth_servers=[evo_row("EvoSTS", tenant=OTHER_TENANT)])
    before = exchange.snapshot()
    out = run(exchange, evosts_args(tenant_id=TENANT))
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
def test_domain_name_source(org, servers, extra, source, domains):
    exchange = org(auth_servers=servers)
    out = run(exchange, evosts_args(**extra))
    assert not out.failed and out.result["domain_name_source"] == source
    assert out.result["auth_server"]["domain_name"] == (domains or ["contoso.onmicrosoft.com"])
    if source in ("existing", "tenant_domain"):
        assert "tenant_domains" in out.result["domain_name_reason"]
    assert not [c for c in out.calls if c["cmdlet"] == "Get-AcceptedDomain"]  # not read without tenant_domains


def test_tenant_id_must_be_a_guid(org):
    out = run_module(mod, evosts_args(tenant_id="contoso"))
    assert out.failed and "tenant_id" in out.result["msg"]


def test_hcw_metadata_url_kept_when_the_tenant_id_is_known(org):
    exchange = org(auth_servers=[evo_row(HCW_EVO, domains=["contoso.com"])])
    out = run(exchange, evosts_args(tenant_id=TENANT))
    assert not [c for c in writes(out) if "AuthMetadataUrl" in c[1]]
    # Without the tenant ID the Realm is not proven to be the tenant's: the URL becomes the derived one.
    exchange = org(auth_servers=[evo_row(HCW_EVO, domains=["contoso.com"])])
    out = run(exchange, evosts_args())
    assert out.result["adopted"] and [c for c in writes(out) if "AuthMetadataUrl" in c[1]]
    assert not [c for c in writes(out) if c[0] == "New-AuthServer"]


def test_hcws_acs_auth_server_adopted_for_the_acs_type(org):
    exchange = org(auth_servers=[acs_row(), evo_row(HCW_EVO)])
    out = run(exchange, {"tenant_domain": "contoso.onmicrosoft.com", "tenant_id": TENANT})
    assert not out.failed and not out.result["changed"] and out.result["adopted"] and out.result["name"] == HCW_ACS
    assert writes(out) == []
    # Without the tenant ID the realm cannot be matched: the documented MicrosoftSts is created as before.
    out = run(exchange, {"tenant_domain": "contoso.onmicrosoft.com"})
    assert out.result["adopted"] is False and writes(out)[0][0] == "New-AuthServer"


def test_several_acs_auth_servers_use_hcws_and_warn(org):
    other = acs_row(name="ACS - 00000000-0000-4000-8000-000000000002")
    exchange = org(auth_servers=[other, acs_row()])
    out = run(exchange, {"tenant_domain": "contoso.onmicrosoft.com", "tenant_id": TENANT})
    assert out.result["name"] == other["Name"] and out.result["duplicates"] == [other["Name"], HCW_ACS]
    assert writes(out) == []


def test_an_acs_auth_server_not_named_by_hcw_is_not_adopted(org):
    exchange = org(auth_servers=[acs_row(name="Partner ACS")])
    out = run(exchange, {"tenant_domain": "contoso.onmicrosoft.com", "tenant_id": TENANT})
    assert out.result["adopted"] is False and writes(out)[0][0] == "New-AuthServer"


# tenant_info's verified_domains for a tenant with a custom domain (its initial domain marked).
VERIFIED = [
    {"name": "contoso.onmicrosoft.com", "is_initial": True, "is_default": False, "type": "Managed", "capabilities": "Email"},
    {"name": "contoso.mail.onmicrosoft.com", "is_initial": False, "is_default": False},
    {"name": "contoso.com", "is_initial": False, "is_default": True},
]


@pytest.fixture
def warnings(monkeypatch):
    """The module's warnings (the harness returns the result given to exit_json, without them)."""
    seen = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, text: seen.append(text))
    return seen


def test_domain_name_from_accepted_domains_that_are_tenant_domains(org, warnings):
    """No ACS AuthServer: Microsoft's fallback (PR #2387), the accepted domains also verified in the tenant, the
    initial domain left out; an accepted domain the tenant does not know stays out too."""
    exchange = org(
        auth_servers=[evo_row(HCW_EVO, domains=["old.example"])],
        accepted_domains=["contoso.com", "fabrikam.com", "contoso.onmicrosoft.com", "contoso.mail.onmicrosoft.com"],
    )
    out = run(exchange, evosts_args(tenant_id=TENANT, tenant_domains=VERIFIED), diff=True)
    assert not out.failed and out.result["changed"], out.result
    assert out.result["domain_name_source"] == "accepted_domains"
    assert out.result["auth_server"]["domain_name"] == ["contoso.com", "contoso.mail.onmicrosoft.com"]
    reason = out.result["domain_name_reason"]
    assert "left out the initial domain contoso.onmicrosoft.com" in reason and "fabrikam.com" in reason
    [evo] = [s for s in exchange.auth_servers if s["Name"] == HCW_EVO]
    assert evo["DomainName"] == ["contoso.com", "contoso.mail.onmicrosoft.com"]
    assert not any("DomainName" in w for w in warnings)

    again = run(exchange, evosts_args(tenant_id=TENANT, tenant_domains=VERIFIED))
    assert not again.result["changed"] and again.writes == []
    assert again.result["domain_name_source"] == "accepted_domains"


def test_accepted_domain_fallback_in_check_mode_writes_nothing(org):
    exchange = org(accepted_domains=["contoso.com"])
    before = exchange.snapshot()
    out = run(exchange, evosts_args(tenant_id=TENANT, tenant_domains=VERIFIED), check=True, diff=True)
    assert out.result["changed"] and out.writes == [] and exchange.snapshot() == before
    assert out.result["diff"]["after"]["domain_name"] == ["contoso.com"]


def test_acs_auth_server_wins_over_accepted_domains(org):
    exchange = org(auth_servers=[acs_row(), evo_row(HCW_EVO)], accepted_domains=["contoso.com"])
    out = run(exchange, evosts_args(tenant_id=TENANT, tenant_domains=VERIFIED))
    assert out.result["domain_name_source"] == "acs_auth_server"
    assert out.result["auth_server"]["domain_name"] == ["contoso.com", "fabrikam.com"]


def test_no_accepted_domain_in_the_tenant_falls_back_with_the_reason(org, warnings):
    exchange = org(auth_servers=[evo_row(HCW_EVO)], accepted_domains=["fabrikam.com", "contoso.onmicrosoft.com"])
    out = run(exchange, evosts_args(tenant_id=TENANT, tenant_domains=VERIFIED))
    assert not out.failed and out.result["domain_name_source"] == "tenant_domain"
    reason = out.result["domain_name_reason"]
    assert "no accepted domain (fabrikam.com, contoso.onmicrosoft.com)" in reason and "domain_name" in reason
    assert any("DomainName" in w for w in warnings)


def test_tenant_domains_names_must_be_domains(org):
    out = run_module(mod, evosts_args(tenant_domains=[{"name": "not a domain"}]))
    assert out.failed and "tenant_domains" in out.result["msg"]


def test_graph_base_url_set_once_and_refused_on_2016(org):
    """The Graph workflow's endpoint on the evoSTS AuthServer (the script's Set-AuthServer -GraphBaseUrl)."""
    exchange = org()
    args = {"name": "EvoSTS", "type": "azure_ad", "tenant_domain": "contoso.onmicrosoft.com"}
    assert not run(exchange, args).failed
    with_graph = dict(args, graph_base_url="https://graph.microsoft.com")
    predicted = run(exchange, with_graph, check=True)
    assert predicted.result["changed"] is True and predicted.writes == []
    out = run(exchange, with_graph)
    assert ("Set-AuthServer", {"Identity": "EvoSTS", "GraphBaseUrl": "https://graph.microsoft.com"}) in writes(out)
    assert [a["GraphBaseUrl"] for a in exchange.auth_servers] == ["https://graph.microsoft.com"]
    assert out.result["auth_server"]["graph_base_url"] == "https://graph.microsoft.com"
    assert run(exchange, with_graph).writes == []

    older = org(servers=[E2016_CU23])
    refused = run(older, dict(with_graph, tenant_domain="contoso.onmicrosoft.com"))
    assert refused.failed and "graph_base_url" in refused.result["msg"] and refused.writes == []


def test_a_new_evosts_auth_server_gets_its_graph_base_url_after_new_auth_server(org):
    """New-AuthServer -Type AzureAD cannot take -GraphBaseUrl (another parameter set): Set-AuthServer sets it after."""
    exchange = org()
    args = {"name": "EvoSTS", "type": "azure_ad", "tenant_domain": "contoso.onmicrosoft.com",
            "graph_base_url": "https://graph.microsoft.com"}
    out = run(exchange, args)
    assert not out.failed, out.result
    new, then = writes(out)[0], writes(out)[1:]
    assert new[0] == "New-AuthServer" and "GraphBaseUrl" not in new[1]
    assert ("Set-AuthServer", {"Identity": "EvoSTS", "GraphBaseUrl": "https://graph.microsoft.com"}) in then
    assert [a["GraphBaseUrl"] for a in exchange.auth_servers] == ["https://graph.microsoft.com"]
    assert run(exchange, args).writes == []
