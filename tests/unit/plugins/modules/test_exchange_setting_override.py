"""exchange_setting_override against the simulator's Exchange: act, read back, rerun, check mode, diff, only ours."""

from __future__ import annotations

import pytest
from ansible.module_utils import basic

from hybrid_sim.exchange import cmdlets as simulated
from hybrid_sim.exchange.cmdlets import CmdletError
from hybrid_sim.exchange.testing import E2016_CU23_HU, E2019_CU15_HU, ExchangeHarness
from hybrid_sim.module_runner import run_module

from ansible_collections.exchange.hybrid.plugins.modules import exchange_setting_override as override_module

HYBRID = {
    "name": "EnableExchangeHybrid3PAppFeature",
    "component": "Global",
    "section": "ExchangeOnpremAsThirdPartyAppId",
    "parameters": ["Enabled=true"],
}
EDGE = {"name": "EDGE01", "version": "Version 15.2 (Build 1748.10)", "exsetup_build": "15.2.1748.24", "roles": ["Edge"]}


@pytest.fixture
def org(tmp_path):
    return ExchangeHarness(str(tmp_path), servers=[E2016_CU23_HU, E2019_CU15_HU])


@pytest.fixture
def warnings(monkeypatch):
    """The module's warnings (the harness returns the result given to exit_json, without them)."""
    seen: list[str] = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, text: seen.append(text))
    return seen


def overrides(org):
    return org.state()["exchange"]["setting_overrides"]


def refreshes(org):
    return [r["server"] for r in org.state()["exchange"]["variant_configuration_refreshes"]]


def seed(org, **changes):
    row = {
        "Name": "EnableExchangeHybrid3PAppFeature",
        "Identity": "EnableExchangeHybrid3PAppFeature",
        "ComponentName": "Global",
        "SectionName": "ExchangeOnpremAsThirdPartyAppId",
        "Parameters": ["Enabled=true"],
        "Reason": "Created by ConfigureExchangeHybridApplication.ps1",
        "Server": [],
    }
    row.update(changes)
    with org.edit() as state:
        state["exchange"]["setting_overrides"].append(row)


def test_creates_the_override_and_refreshes_every_non_edge_server(org):
    outcome = run_module(override_module, HYBRID, exchange=org, diff=True)
    result = outcome.result
    assert not outcome.failed and result["changed"] is True and result["action"] == "created"
    assert outcome.writes == ["New-SettingOverride"]
    assert outcome.cmdlets[-2:] == ["Get-ExchangeDiagnosticInfo", "Get-ExchangeDiagnosticInfo"]
    assert refreshes(org) == ["EX2016", "EX2019"] and result["refreshed_servers"] == ["EX2016", "EX2019"]
    new = next(c for c in outcome.calls if c["cmdlet"] == "New-SettingOverride")["parameters"]
    assert new["Parameters"] == ["Enabled=true"] and new["Reason"] == override_module.DEFAULT_REASON
    assert "Server" not in new
    [stored] = overrides(org)
    assert (stored["ComponentName"], stored["SectionName"]) == ("Global", "ExchangeOnpremAsThirdPartyAppId")
    assert result["override"]["section"] == "ExchangeOnpremAsThirdPartyAppId"
    assert result["diff"]["before"] == {} and result["diff"]["after"]["parameters"] == ["Enabled=true"]


def test_edge_servers_are_not_refreshed(tmp_path):
    org = ExchangeHarness(str(tmp_path), servers=[E2019_CU15_HU, EDGE])
    outcome = run_module(override_module, HYBRID, exchange=org, server="ex2019.contoso.com")
    assert not outcome.failed, outcome.result
    assert outcome.result["refreshed_servers"] == ["EX2019"] and refreshes(org) == ["EX2019"]


def test_rerun_and_microsofts_own_override_are_unchanged(org):
    seed(org, Parameters=["enabled = True"])
    outcome = run_module(override_module, HYBRID, exchange=org)
    assert outcome.result["changed"] is False and outcome.result["action"] == "none"
    assert outcome.writes == [] and refreshes(org) == []


def test_check_mode_predicts_and_writes_nothing(org):
    before = org.state()["exchange"]
    outcome = run_module(override_module, HYBRID, exchange=org, check=True, diff=True)
    assert outcome.result["changed"] is True and outcome.result["action"] == "created"
    assert outcome.writes == [] and org.state()["exchange"] == before
    assert outcome.result["diff"]["after"]["component"] == "Global"
    assert "would create" in outcome.result["msg"] and "EX2016, EX2019" in outcome.result["msg"]


def test_different_parameters_are_recreated(org):
    seed(org, Parameters=["Enabled=false"])
    outcome = run_module(override_module, dict(HYBRID, refresh_variant_configuration=False), exchange=org, diff=True)
    assert outcome.result["action"] == "recreated"
    assert outcome.writes == ["Remove-SettingOverride", "New-SettingOverride"]
    [stored] = overrides(org)
    assert stored["Parameters"] == ["Enabled=true"]
    # The reason was not given, so the existing one is kept.
    assert stored["Reason"] == "Created by ConfigureExchangeHybridApplication.ps1"
    assert outcome.result["diff"]["before"]["parameters"] == ["Enabled=false"]
    assert run_module(override_module, HYBRID, exchange=org).result["changed"] is False


def test_reason_is_compared_only_when_given(org):
    seed(org)
    assert run_module(override_module, HYBRID, exchange=org).result["changed"] is False
    outcome = run_module(override_module, dict(HYBRID, reason="Dedicated hybrid application"), exchange=org)
    assert outcome.result["action"] == "recreated"
    assert overrides(org)[0]["Reason"] == "Dedicated hybrid application"


def test_absent_removes_only_ours(org):
    seed(org)
    seed(org, Name="SomethingElse", Identity="SomethingElse", SectionName="Other")
    args = {"name": "EnableExchangeHybrid3PAppFeature", "state": "absent"}
    outcome = run_module(override_module, args, exchange=org, diff=True)
    assert outcome.result["changed"] is True and outcome.result["action"] == "removed"
    assert outcome.result["override"] is None and outcome.result["diff"]["after"] == {}
    assert [o["Name"] for o in overrides(org)] == ["SomethingElse"]
    assert run_module(override_module, args, exchange=org).result["changed"] is False


def test_an_override_under_another_name_that_does_the_same_is_adopted(org):
    """HCW's or Microsoft's script's override under another name: adopted, no second one (issue 15)."""
    seed(org, Name="Theirs", Identity="Theirs")
    outcome = run_module(override_module, HYBRID, exchange=org, diff=True)
    result = outcome.result
    assert not outcome.failed and result["changed"] is False and result["action"] == "none"
    assert result["adopted"] is True and result["name"] == "Theirs" and outcome.writes == []
    assert result["override"]["name"] == "Theirs" and "duplicates" not in result
    assert [o["Name"] for o in overrides(org)] == ["Theirs"] and refreshes(org) == []
    # Given a reason, an adopted override's own reason is still not compared (it is not ours to rewrite).
    again = run_module(override_module, dict(HYBRID, reason="Ours"), exchange=org)
    assert again.result["changed"] is False and again.writes == []


def test_identical_duplicates_are_reported_with_the_fix_then_removed_on_request(tmp_path, warnings):
    org = ExchangeHarness(str(tmp_path), servers=[E2019_CU15_HU], duplicate_overrides=True)
    before = org.state()["exchange"]
    outcome = run_module(override_module, HYBRID, exchange=org)
    result = outcome.result
    assert result["changed"] is False and outcome.writes == [] and org.state()["exchange"] == before
    assert result["duplicates"] == ["Hybrid3PApp"] and result["name"] == "EnableExchangeHybrid3PAppFeature"
    assert "Remove-SettingOverride -Identity 'Hybrid3PApp' -Confirm:$false" in result["duplicates_fix"]
    assert any("MultipleSettingOverrides" in w and "Hybrid3PApp" in w for w in warnings)

    checked = run_module(override_module, dict(HYBRID, remove_duplicates=True), exchange=org, check=True)
    assert checked.result["changed"] is True and checked.writes == [] and org.state()["exchange"] == before
    assert "remove the duplicate overrides Hybrid3PApp" in checked.result["msg"]

    fixed = run_module(override_module, dict(HYBRID, remove_duplicates=True), exchange=org)
    assert fixed.result["changed"] is True and fixed.writes == ["Remove-SettingOverride"]
    assert fixed.result["removed_duplicates"] == ["Hybrid3PApp"] and fixed.result["action"] == "none"
    assert [o["Name"] for o in overrides(org)] == ["EnableExchangeHybrid3PAppFeature"]
    assert fixed.result["refreshed_servers"] == ["EX2019"]
    again = run_module(override_module, dict(HYBRID, remove_duplicates=True), exchange=org)
    assert again.result["changed"] is False and again.writes == []


def test_a_disagreeing_override_of_the_same_section_is_refused_before_any_change(org):
    seed(org, Name="Theirs", Identity="Theirs", Parameters=["Enabled=false"])
    before = org.state()["exchange"]
    outcome = run_module(override_module, HYBRID, exchange=org)
    assert outcome.failed and outcome.writes == [] and org.state()["exchange"] == before
    msg = outcome.result["msg"]
    assert "'Theirs'" in msg and "Nothing was changed" in msg and "remove_duplicates" in msg
    assert "Remove-SettingOverride -Identity 'Theirs' -Confirm:$false" in msg

    fixed = run_module(override_module, dict(HYBRID, remove_duplicates=True), exchange=org)
    assert fixed.result["action"] == "created" and fixed.writes == ["New-SettingOverride", "Remove-SettingOverride"]
    assert [o["Name"] for o in overrides(org)] == ["EnableExchangeHybrid3PAppFeature"]


def test_dauth_only_organization_is_refused_before_any_change(tmp_path):
    """Microsoft's script's check (PR #2399): no enabled IntraOrganizationConnector / Exchange Online partner
    application means hybrid uses DAuth, and the override would break free/busy, MailTips and photos."""
    org = ExchangeHarness(str(tmp_path), servers=[E2019_CU15_HU], dauth_only=True)
    before = org.state()["exchange"]
    for check in (True, False):
        outcome = run_module(override_module, HYBRID, exchange=org, check=check)
        assert outcome.failed and outcome.writes == [] and org.state()["exchange"] == before
        msg = outcome.result["msg"]
        assert msg.startswith("Refused to create the setting override EnableExchangeHybrid3PAppFeature")
        assert "IntraOrganizationConnector" in msg and "Exchange Online" in msg and "allow_without_oauth_hybrid" in msg
        assert "Nothing was changed" in msg and outcome.result["changed"] is False
        assert outcome.result["oauth_hybrid"]["passed"] is False
    assert {"Get-PartnerApplication", "Get-IntraOrganizationConnector"} <= set(outcome.cmdlets)


def test_dauth_guard_names_a_disabled_connector_and_yields_to_the_option(org, warnings):
    with org.edit() as state:
        for connector in state["exchange"]["intra_organization_connectors"]:
            connector["Enabled"] = False
    refused = run_module(override_module, HYBRID, exchange=org)
    assert refused.failed and "disabled: HybridIOC - " in refused.result["msg"] and overrides(org) == []

    allowed = run_module(override_module, dict(HYBRID, allow_without_oauth_hybrid=True), exchange=org)
    assert not allowed.failed and allowed.result["action"] == "created" and overrides(org)
    assert any("allow_without_oauth_hybrid" in w for w in warnings)
    # In place already: nothing to refuse, but the finding stays a warning.
    again = run_module(override_module, HYBRID, exchange=org)
    assert not again.failed and again.result["changed"] is False and any("is in place, but" in w for w in warnings)


def test_dauth_guard_reads_only_for_the_hybrid_application_override(org):
    outcome = run_module(override_module, dict(HYBRID, section="Other", name="Other"), exchange=org)
    assert "Get-IntraOrganizationConnector" not in outcome.cmdlets and "oauth_hybrid" not in outcome.result
    passed = run_module(override_module, HYBRID, exchange=org)
    assert passed.result["oauth_hybrid"]["passed"] is True and passed.result["action"] == "created"


def test_servers_limit_the_override_and_the_refresh(org):
    outcome = run_module(override_module, dict(HYBRID, servers=["EX2019"]), exchange=org)
    assert outcome.cmdlets[0] == "Get-SettingOverride" and "Get-ExchangeServer" not in outcome.cmdlets
    assert overrides(org)[0]["Server"] == ["EX2019"]
    assert outcome.result["refreshed_servers"] == ["EX2019"] and refreshes(org) == ["EX2019"]
    assert run_module(override_module, dict(HYBRID, servers=["ex2019"]), exchange=org).result["changed"] is False


def test_failed_refresh_warns_but_keeps_the_change(org, warnings, monkeypatch):
    real = simulated.CMDLETS["Get-ExchangeDiagnosticInfo"]

    def unavailable_on_2019(ctx, params):
        if str(params.get("Server")).upper() == "EX2019":
            raise CmdletError("The RPC server is unavailable.", "NotSpecified", "RpcServerUnavailable")
        return real(ctx, params)

    monkeypatch.setitem(simulated.CMDLETS, "Get-ExchangeDiagnosticInfo", unavailable_on_2019)
    outcome = run_module(override_module, HYBRID, exchange=org)
    assert not outcome.failed and outcome.result["changed"] is True
    assert outcome.result["refreshed_servers"] == ["EX2016"]
    assert any("EX2019" in w and "next reload" in w for w in warnings)
    assert overrides(org)


def test_failed_write_says_what_was_done(org, monkeypatch):
    seed(org, Parameters=["Enabled=false"])

    def refused(_ctx, _params):
        raise CmdletError("Active Directory operation failed.", "WriteError", "ADOperationException")

    monkeypatch.setitem(simulated.CMDLETS, "New-SettingOverride", refused)
    outcome = run_module(override_module, HYBRID, exchange=org)
    assert outcome.failed
    assert outcome.result["msg"].startswith("Failed to write the setting override EnableExchangeHybrid3PAppFeature: ")
    assert outcome.result["writes_done"] == ["Remove-SettingOverride"]


def test_write_that_does_not_stick_fails(org, monkeypatch):
    monkeypatch.setitem(simulated.CMDLETS, "New-SettingOverride", lambda _ctx, _params: [])
    outcome = run_module(override_module, HYBRID, exchange=org)
    assert outcome.failed and "does not read back as written: None" in outcome.result["msg"]


@pytest.mark.parametrize(
    "options, text",
    [
        (dict(HYBRID, parameters=["Enabled"]), "Key=Value"),
        (dict(HYBRID, parameters=["=true"]), "Key=Value"),
        (dict(HYBRID, component=" "), "component must not be empty"),
        ({"name": "x"}, "component"),
    ],
)
def test_bad_input_fails_before_connecting(options, text):
    outcome = run_module(override_module, options)
    assert outcome.failed is True and text in outcome.result["msg"]
    assert outcome.calls == []
