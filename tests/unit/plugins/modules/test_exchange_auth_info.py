# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""exchange_auth_info against the simulator's Exchange (hybrid_sim.module_runner): set the organization up, read
it back, assert, read again (nothing changes), read in check mode (the same answer)."""

from __future__ import annotations

import datetime as dt

import pytest

from hybrid_sim.exchange.testing import ExchangeHarness
from hybrid_sim.module_runner import run_module
from hybrid_sim.state import iso, now, parse_iso

from ansible_collections.exchange.hybrid.plugins.modules import exchange_auth_info as mod
from ansible_collections.exchange.hybrid.plugins.modules import exchange_setting_override as override_module

SERVER = "EX2019"
ALL = ("EX2013", "EX2016", "EX2019")
PUSH_URI = "https://outlook.office365.com/PushNotifications"
TENANT_ID = "6a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
LIFETIME_DAYS = 5 * 365 + 1  # the simulator's self-signed certificates live five years


@pytest.fixture
def org(tmp_path):
    """Three servers (2013, 2016, 2019); setup's Auth certificate current and deployed to each."""
    return ExchangeHarness(str(tmp_path))


def read(harness, args=None, **kwargs):
    return run_module(mod, dict(args or {}), exchange=harness, server=SERVER, **kwargs)


def by_name(result):
    return {entry["name"]: entry for entry in result["servers"]}


def current(harness):
    return harness.state()["exchange"]["auth_config"]["CurrentCertificateThumbprint"]


def assert_reader(harness, out, args=None):
    """A reader: nothing changed or written, a second read and a check-mode read answer the same."""
    before = harness.state()
    assert not out.failed, out.result
    assert out.result["changed"] is False and not out.writes
    again = read(harness, args)
    checked = read(harness, args, check=True)
    assert harness.state() == before
    for other in (again, checked):
        assert not other.failed and not other.writes and other.result["changed"] is False
        assert without_clock(other.result) == without_clock(out.result)


def without_clock(result):
    """The clock moves between two reads; everything else must answer the same."""
    return {key: value for key, value in result.items() if key != "server_utc_now"}


def test_reads_the_whole_organization_through_one_server(org):
    out = read(org)
    assert_reader(org, out)
    r = out.result
    thumbprint = current(org)
    assert r["connected_server"] == SERVER and r["organization"]["name"] == "Contoso"
    assert abs((parse_iso(r["server_utc_now"]) - now(org.state())).total_seconds()) < 60  # the server's clock
    assert r["auth_config"]["current"]["thumbprint"] == thumbprint
    assert r["auth_config"]["current"]["key_size"] == 2048 and r["auth_config"]["current"]["expired"] is False
    assert r["auth_config"]["current"]["signature_algorithm"] == "sha256RSA"
    assert r["auth_config"]["next"] is None and r["auth_config"]["previous"] is None
    assert r["auth_config"]["service_name"] == "00000002-0000-0ff1-ce00-000000000000"
    servers = by_name(r)
    assert sorted(servers) == sorted(ALL) and [s["name"] for s in r["servers"] if s["connected"]] == [SERVER]
    for entry in servers.values():
        assert entry["answered"] is True and entry["error"] is None and entry["meets_push_minimum"]
        cert = entry["auth_certificate"]
        assert cert["thumbprint"] == thumbprint and cert["present"] and cert["has_private_key"]
        assert cert["usable"] and cert["problems"] == [] and cert["days_remaining"] > 1800
        assert entry["next_auth_certificate"] is None
    assert servers["EX2016"]["version"] == "15.1.2507.6" and servers["EX2013"]["roles"] == ["Mailbox", "ClientAccess"]
    # Every store is read through the connected server, by name: one Get-ExchangeCertificate per server.
    stores = [c["parameters"] for c in out.calls if c["cmdlet"] == "Get-ExchangeCertificate"]
    assert sorted(p["Server"] for p in stores) == sorted(ALL)
    assert r["partner_applications"][0]["name"] == "Exchange Online" and r["partner_applications"][0]["enabled"]
    assert r["intra_organization_connectors"][0]["target_address_domains"] == ["contoso.mail.onmicrosoft.com"]
    assert r["push_proxy"] == {"found": True, "enabled": False, "organization": None, "uri": None}
    assert r["auth_servers"] == [] and r["setting_overrides"] == []


def test_no_certificate_bytes_in_the_result(org):
    out = read(org)
    raw = [c["RawData"] for s in org.state()["exchange"]["servers"].values() for c in s["certificates"]]
    text = str(out.result)
    assert raw and not [r for r in raw if r[:40] in text] and "RawData" not in text


def test_a_server_without_the_certificate_or_its_private_key(org):
    thumbprint = current(org)
    org.edit_store("EX2013", thumbprint, remove=True)
    org.edit_store("EX2016", thumbprint, HasPrivateKey=False)
    out = read(org)
    assert_reader(org, out)
    servers = by_name(out.result)
    missing, keyless, good = (servers[n]["auth_certificate"] for n in ALL)
    assert missing["present"] is False and missing["usable"] is False and missing["has_private_key"] is None
    assert missing["problems"] == ["it is not in the certificate store of this server"]
    assert keyless["present"] and keyless["has_private_key"] is False and not keyless["usable"]
    assert "it has no private key" in keyless["problems"]
    assert good["usable"] and servers["EX2013"]["answered"] and servers["EX2016"]["answered"]


def test_a_server_that_does_not_answer_is_reported_not_failed(org):
    with org.edit() as state:
        state["exchange"]["servers"]["EX2013"]["offline"] = True
    out = read(org)
    assert_reader(org, out)
    down = by_name(out.result)["EX2013"]
    assert down["answered"] is False and "The RPC server is unavailable" in down["error"] and "EX2013" in down["error"]
    assert down["auth_certificate"] is None and down["next_auth_certificate"] is None
    assert all(by_name(out.result)[n]["answered"] for n in ("EX2016", "EX2019"))


def test_staged_next_certificate_before_and_after_its_effective_date(org):
    staged = org.add_certificate(ALL)
    effective = now(org.state()) + dt.timedelta(days=1)
    org.edit_auth_config(NextCertificateThumbprint=staged, NextCertificateEffectiveDate=iso(effective))
    before = read(org)
    assert_reader(org, before)
    nxt = before.result["auth_config"]["next"]
    assert nxt["thumbprint"] == staged and nxt["effective_date"] == iso(effective) and nxt["effective"] is False
    assert nxt["key_size"] == 2048 and nxt["expired"] is False
    for entry in before.result["servers"]:
        assert entry["next_auth_certificate"]["thumbprint"] == staged and entry["next_auth_certificate"]["usable"]

    # Past the effective date, before the AuthAdmin servicelet's next pass: still next, now effective.
    org.move_clock(dt.timedelta(days=1, minutes=10).total_seconds())
    after = read(org)
    assert_reader(org, after)
    assert after.result["auth_config"]["next"]["effective"] is True
    assert after.result["auth_config"]["current"]["thumbprint"] != staged


def test_expired_previous_certificate_and_one_gone_from_the_stores(org):
    old = org.add_certificate(ALL, issued_days_ago=LIFETIME_DAYS + 10)
    org.edit_auth_config(PreviousCertificateThumbprint=old)
    out = read(org)
    assert_reader(org, out)
    previous = out.result["auth_config"]["previous"]
    assert previous["thumbprint"] == old and previous["expired"] is True and previous["days_remaining"] < 0

    org.edit_auth_config(PreviousCertificateThumbprint="AB" * 20)
    gone = read(org).result["auth_config"]["previous"]
    assert gone["thumbprint"] == "AB" * 20
    assert {k for k, v in gone.items() if v is not None} == {"thumbprint"}


def test_sha1_and_1024_bit_findings(org):
    weak = org.add_certificate(ALL, key_size=1024, signature_hash="sha1")
    org.edit_auth_config(CurrentCertificateThumbprint=weak)
    out = read(org)
    assert_reader(org, out)
    assert out.result["auth_config"]["current"]["signature_algorithm"] == "sha1RSA"
    assert out.result["auth_config"]["current"]["key_size"] == 1024
    for entry in out.result["servers"]:
        cert = entry["auth_certificate"]
        assert cert["usable"] is False and cert["key_size"] == 1024 and cert["signature_algorithm"] == "sha1RSA"
        assert any("1024 bits" in p for p in cert["problems"]) and any("sha1RSA" in p for p in cert["problems"])


def test_an_expired_current_certificate(org):
    expired = org.add_certificate(ALL, issued_days_ago=LIFETIME_DAYS + 3)
    org.edit_auth_config(CurrentCertificateThumbprint=expired)
    out = read(org)
    assert out.result["auth_config"]["current"]["expired"] is True
    assert all(
        not s["auth_certificate"]["usable"] and any("expired" in p for p in s["auth_certificate"]["problems"])
        for s in out.result["servers"]
    )


def test_connected_only(org):
    out = read(org, {"servers": "connected"})
    assert_reader(org, out, {"servers": "connected"})
    assert [s["name"] for s in out.result["servers"]] == [SERVER]
    stores = [c["parameters"] for c in out.calls if c["cmdlet"] == "Get-ExchangeCertificate"]
    assert stores == [{"Server": SERVER}]


def test_objects_of_a_hybrid_organization(tmp_path):
    harness = ExchangeHarness(str(tmp_path), hcw=True, tenant_id=TENANT_ID)
    with harness.edit() as state:
        state["exchange"]["setting_overrides"].append(
            {
                "Name": "EnableExchangeHybrid3PAppFeature",
                "Identity": "EnableExchangeHybrid3PAppFeature",
                "ComponentName": "Global",
                "SectionName": "ExchangeOnpremAsThirdPartyAppId",
                "Parameters": ["Enabled=True"],
                "Reason": "dedicated hybrid app",
                "Server": [],
                "WhenCreatedUTC": "2026-05-07T10:00:00Z",
            }
        )
        app = state["exchange"]["push_notification_apps"][0]
        app.update(Enabled=True, Organization="contoso.onmicrosoft.com", Uri=PUSH_URI)
    out = read(harness)
    assert_reader(harness, out)
    r = out.result
    kinds = sorted(s["type"] for s in r["auth_servers"])
    assert kinds == ["AzureAD", "MicrosoftACS"]
    assert all(s["realm"] == TENANT_ID and s["domain_name"] == ["contoso.com"] for s in r["auth_servers"])
    assert r["setting_overrides"] == [
        {
            "name": "EnableExchangeHybrid3PAppFeature",
            "component": "Global",
            "section": "ExchangeOnpremAsThirdPartyAppId",
            "parameters": ["Enabled=True"],
            "reason": "dedicated hybrid app",
            "server": [],
            "when_created": "2026-05-07T10:00:00Z",
        }
    ]
    assert r["push_proxy"] == {
        "found": True,
        "enabled": True,
        "organization": "contoso.onmicrosoft.com",
        "uri": PUSH_URI,
    }
    assert r["evosts_duplicates"] == []


def test_several_evosts_auth_servers_for_one_tenant_are_a_finding_with_the_fix(tmp_path):
    harness = ExchangeHarness(str(tmp_path), hcw=True, tenant_id=TENANT_ID, duplicate_evosts=True)
    out = read(harness)
    assert_reader(harness, out)
    (finding,) = out.result["evosts_duplicates"]
    azure = sorted(s["name"] for s in out.result["auth_servers"] if s["type"] == "AzureAD")
    assert finding["realm"] == TENANT_ID and sorted(finding["names"]) == azure and len(azure) == 2
    # HCW's EvoSts - <GUID> is kept; the fix names the command for the other one and the module option
    assert finding["keep"].startswith("EvoSts - ")
    other = next(name for name in azure if name != finding["keep"])
    assert "Remove-AuthServer -Identity '%s' -Confirm:$false" % other in finding["fix"]
    assert "remove_duplicates" in finding["fix"] and TENANT_ID in finding["fix"]


def test_edge_servers_are_listed_but_not_read(tmp_path):
    edge = {"name": "EDGE01", "version": "Version 15.2 (Build 1748.10)", "roles": ["Edge"]}
    mailbox = {"name": "EX2019", "version": "Version 15.2 (Build 1748.10)"}
    harness = ExchangeHarness(str(tmp_path), servers=[mailbox, edge])
    out = read(harness)
    assert_reader(harness, out)
    entry = by_name(out.result)["EDGE01"]
    assert entry["is_edge"] and entry["answered"] is None and entry["auth_certificate"] is None
    assert [c["parameters"]["Server"] for c in out.calls if c["cmdlet"] == "Get-ExchangeCertificate"] == ["EX2019"]


def test_view_only_administrator_can_read(tmp_path):
    harness = ExchangeHarness(str(tmp_path), rbac={"CONTOSO\\viewer": ["View-Only Organization Management"]})
    out = read(harness, {"username": "CONTOSO\\viewer"})
    assert not out.failed and all(s["answered"] for s in out.result["servers"])


def test_bad_input_refused_before_connecting():
    out = run_module(mod, {"servers": "some"})  # no Exchange: connecting would fail the test
    assert out.failed and "servers" in out.result["msg"] and "pw-canary" not in str(out.result)


# The DAuth guard and the duplicate overrides, judged as exchange_setting_override judges them (issue 15): the role
# asserts on these before anything changes instead of running the writer in check mode.
HYBRID_OVERRIDE = {
    "name": "EnableExchangeHybrid3PAppFeature",
    "component": "Global",
    "section": "ExchangeOnpremAsThirdPartyAppId",
    "parameters": ["Enabled=true"],
}


def add_override(harness, name, parameters, section="ExchangeOnpremAsThirdPartyAppId", created="2026-06-01T08:00:00Z"):
    with harness.edit() as state:
        state["exchange"]["setting_overrides"].append({
            "Name": name, "Identity": name, "ComponentName": "Global", "SectionName": section,
            "Parameters": list(parameters), "Reason": "by hand", "Server": [], "WhenCreatedUTC": created,
        })


def writer(harness, **args):
    return run_module(override_module, dict(HYBRID_OVERRIDE, **args), exchange=harness, server=SERVER)


def test_oauth_hybrid_of_an_organization_with_its_connector_passes(org):
    out = read(org)
    assert_reader(org, out)
    found = out.result["oauth_hybrid"]
    assert found["passed"] is True and found["reason"] is None and found["fix"] is None
    assert found["exchange_online_partner_applications"] == ["Exchange Online"]
    assert found["enabled_intra_organization_connectors"] and found["override_in_place"] is False
    assert out.result["setting_override_duplicates"] == []
    # The writer finds the same (and goes on).
    written = writer(org)
    assert written.result["oauth_hybrid"] == {k: v for k, v in found.items() if k not in ("reason", "fix", "override_in_place")}
    assert read(org).result["oauth_hybrid"]["override_in_place"] is True


def test_oauth_hybrid_of_a_dauth_only_organization_fails_with_the_writer_s_reason_and_fix(tmp_path):
    harness = ExchangeHarness(str(tmp_path), dauth_only=True)
    out = read(harness)
    assert_reader(harness, out)
    found = out.result["oauth_hybrid"]
    assert found["passed"] is False and found["override_in_place"] is False
    assert "does not use OAuth for hybrid" in found["reason"] and "IntraOrganizationConnector" in found["reason"]
    assert "allow_without_oauth_hybrid" in found["fix"]
    refused = writer(harness)
    assert refused.failed and found["reason"] in refused.result["msg"] and found["fix"] in refused.result["msg"]


def test_a_disabled_connector_is_named_and_an_override_in_place_is_seen(org):
    with org.edit() as state:
        for connector in state["exchange"]["intra_organization_connectors"]:
            connector["Enabled"] = False
    add_override(org, "Theirs", ["Enabled=True"])
    found = read(org).result["oauth_hybrid"]
    assert found["passed"] is False and found["enabled_intra_organization_connectors"] == []
    assert "disabled: HybridIOC - " in found["reason"] and found["override_in_place"] is True
    # In place: the writer only warns, as the role's assert lets it go on.
    assert not writer(org).failed


def test_agreeing_duplicate_overrides_are_a_finding_with_the_fix(tmp_path):
    harness = ExchangeHarness(str(tmp_path), duplicate_overrides=True)
    out = read(harness)
    assert_reader(harness, out)
    (entry,) = out.result["setting_override_duplicates"]
    assert entry["component"] == "Global" and entry["section"] == "ExchangeOnpremAsThirdPartyAppId"
    assert sorted(entry["names"]) == ["EnableExchangeHybrid3PAppFeature", "Hybrid3PApp"]
    assert entry["agree"] is True and entry["hybrid_application"] is True
    assert entry["keep"] == "EnableExchangeHybrid3PAppFeature"  # Microsoft's script's name
    assert "Remove-SettingOverride -Identity 'Hybrid3PApp' -Confirm:$false" in entry["fix"]
    assert "cannot be told" in entry["fix"]
    # The writer warns about the same ones, with the same commands.
    written = writer(harness)
    assert not written.failed and written.result["duplicates"] == ["Hybrid3PApp"]
    assert written.result["duplicates_fix"] in entry["fix"]


def test_disagreeing_duplicate_overrides_are_told_apart_per_section(org):
    add_override(org, "EnableExchangeHybrid3PAppFeature", ["Enabled=true"])
    add_override(org, "Theirs", ["Enabled=false"])
    add_override(org, "A", ["X=1"], section="Other")
    add_override(org, "B", ["x = 1"], section="other")
    out = read(org)
    assert_reader(org, out)
    entries = {e["section"]: e for e in out.result["setting_override_duplicates"]}
    hybrid, other = entries["ExchangeOnpremAsThirdPartyAppId"], entries["Other"]
    assert hybrid["agree"] is False and "they set other values" in hybrid["fix"] and hybrid["hybrid_application"]
    assert other["agree"] is True and other["hybrid_application"] is False and other["names"] == ["A", "B"]
    refused = writer(org)
    assert refused.failed and "Remove-SettingOverride -Identity 'Theirs' -Confirm:$false" in hybrid["fix"]
    assert "Remove-SettingOverride -Identity 'Theirs' -Confirm:$false" in refused.result["msg"]


def test_of_duplicates_under_other_names_the_oldest_is_kept_reader_and_writer_alike(tmp_path):
    harness = ExchangeHarness(str(tmp_path))
    add_override(harness, "Hybrid-A", ["Enabled=true"], created="2026-07-01T08:00:00Z")
    add_override(harness, "Hybrid-B", ["Enabled=true"], created="2026-03-01T08:00:00Z")
    (entry,) = read(harness).result["setting_override_duplicates"]
    assert entry["keep"] == "Hybrid-B"  # older, though its name sorts later
    written = writer(harness)
    assert not written.failed and written.result["name"] == "Hybrid-B" and written.result["adopted"] is True
