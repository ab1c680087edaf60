"""exchange_setting_override against a mocked Exchange client: idempotence, check mode, diff, only ours changes."""

from __future__ import annotations

import json
from unittest import mock

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.exchange.hybrid.plugins.module_utils._errors import ExchangeCommandError
from ansible_collections.exchange.hybrid.plugins.modules import exchange_setting_override as override_module

CONNECTION = {"server": "ex01.contoso.com", "username": "CONTOSO\\exadmin", "password": "secret-canary"}
HYBRID = {
    "name": "EnableExchangeHybrid3PAppFeature",
    "component": "Global",
    "section": "ExchangeOnpremAsThirdPartyAppId",
    "parameters": ["Enabled=true"],
}
SERVERS = [
    {"Name": "EX01", "Fqdn": "ex01.contoso.com", "IsEdgeServer": False},
    {"Name": "EX02", "Fqdn": "ex02.contoso.com", "IsEdgeServer": False},
    {"Name": "EDGE01", "Fqdn": "edge01.contoso.com", "IsEdgeServer": True},
]


class FakeOrg:
    def __init__(self, overrides=None, refresh_fails_on=None):
        self.overrides = [dict(o) for o in overrides or []]
        self.refresh_fails_on = refresh_fails_on
        self.batches: list[list[dict]] = []
        self.refreshed: list[str] = []
        self.computer_name = "EX01"

    def run(self, calls):
        self.batches.append(calls)
        outputs = []
        for index, entry in enumerate(calls):
            cmdlet, parameters = entry["cmdlet"], entry["parameters"]
            if cmdlet == "Get-SettingOverride":
                assert parameters == {}
                outputs.append([{p: o.get(p) for p in entry["properties"]} for o in self.overrides])
                continue
            if cmdlet == "Get-ExchangeServer":
                outputs.append([dict(s) for s in SERVERS])
                continue
            if cmdlet == "New-SettingOverride":
                assert not any(o["Name"] == parameters["Name"] for o in self.overrides)
                self.overrides.append(
                    {
                        "Name": parameters["Name"],
                        "Identity": parameters["Name"],
                        "ComponentName": parameters["Component"],
                        "SectionName": parameters["Section"],
                        "Parameters": list(parameters["Parameters"]),
                        "Reason": parameters["Reason"],
                        "Server": list(parameters.get("Server") or []) or None,
                    }
                )
            elif cmdlet == "Remove-SettingOverride":
                assert parameters["Confirm"] is False
                self.overrides = [o for o in self.overrides if o["Name"] != parameters["Identity"]]
            elif cmdlet == "Get-ExchangeDiagnosticInfo":
                assert parameters["Process"] == "Microsoft.Exchange.Directory.TopologyService"
                assert (parameters["Component"], parameters["Argument"]) == ("VariantConfiguration", "Refresh")
                if parameters["Server"] == self.refresh_fails_on:
                    raise ExchangeCommandError(
                        "Get-ExchangeDiagnosticInfo failed: RPC server unavailable", "ex01", cmdlet=cmdlet, index=index
                    )
                self.refreshed.append(parameters["Server"])
            else:
                raise AssertionError("unexpected cmdlet %s" % cmdlet)
            outputs.append([])
        return outputs

    @property
    def writes(self):
        return [
            c["cmdlet"]
            for batch in self.batches
            for c in batch
            if c["cmdlet"] not in ("Get-SettingOverride", "Get-ExchangeServer")
        ]


def existing(**changes):
    row = {
        "Name": "EnableExchangeHybrid3PAppFeature",
        "Identity": "EnableExchangeHybrid3PAppFeature",
        "ComponentName": "Global",
        "SectionName": "ExchangeOnpremAsThirdPartyAppId",
        "Parameters": ["Enabled=true"],
        "Reason": "Created by ConfigureExchangeHybridApplication.ps1",
        "Server": None,
    }
    row.update(changes)
    return row


def warnings(result):
    """Warning texts (ansible-core 2.19 returns structured warning summaries, older versions strings)."""
    return [w["event"]["msg"] if isinstance(w, dict) else w for w in result.get("warnings", [])]


def run(org, capsys, check=False, diff=False, **options):
    args = dict(CONNECTION, **options)
    args["_ansible_check_mode"] = check
    args["_ansible_diff"] = diff
    with patch_module_args(args), mock.patch.object(override_module, "client_for", return_value=org):
        with pytest.raises(SystemExit):
            override_module.main()
    return json.loads(capsys.readouterr().out)


def test_creates_the_override_and_refreshes_every_non_edge_server(capsys):
    org = FakeOrg()
    result = run(org, capsys, diff=True, **HYBRID)
    assert result["changed"] is True and result["action"] == "created"
    assert org.writes == ["New-SettingOverride", "Get-ExchangeDiagnosticInfo", "Get-ExchangeDiagnosticInfo"]
    assert org.refreshed == ["EX01", "EX02"]
    assert result["refreshed_servers"] == ["EX01", "EX02"]
    assert len(org.batches) == 2
    new = org.batches[1][0]["parameters"]
    assert new["Parameters"] == ["Enabled=true"]
    assert new["Reason"] == override_module.DEFAULT_REASON
    assert "Server" not in new
    assert result["override"]["section"] == "ExchangeOnpremAsThirdPartyAppId"
    assert result["diff"]["before"] == {}
    assert result["diff"]["after"]["parameters"] == ["Enabled=true"]


def test_rerun_and_microsofts_own_override_are_unchanged(capsys):
    org = FakeOrg([existing(Parameters=["enabled = True"])])
    result = run(org, capsys, **HYBRID)
    assert result["changed"] is False and result["action"] == "none"
    assert org.writes == []
    assert len(org.batches) == 1


def test_check_mode_predicts_and_writes_nothing(capsys):
    org = FakeOrg()
    result = run(org, capsys, check=True, diff=True, **HYBRID)
    assert result["changed"] is True and result["action"] == "created"
    assert org.writes == [] and org.overrides == []
    assert result["diff"]["after"]["component"] == "Global"
    assert "would create" in result["msg"]


def test_different_parameters_are_recreated(capsys):
    org = FakeOrg([existing(Parameters=["Enabled=false"])])
    result = run(org, capsys, diff=True, refresh_variant_configuration=False, **HYBRID)
    assert result["action"] == "recreated"
    assert org.writes == ["Remove-SettingOverride", "New-SettingOverride"]
    assert org.overrides[0]["Parameters"] == ["Enabled=true"]
    # The reason was not given, so the existing one is kept.
    assert org.overrides[0]["Reason"] == "Created by ConfigureExchangeHybridApplication.ps1"
    assert result["diff"]["before"]["parameters"] == ["Enabled=false"]


def test_reason_is_compared_only_when_given(capsys):
    org = FakeOrg([existing()])
    assert run(org, capsys, **HYBRID)["changed"] is False
    result = run(org, capsys, reason="Dedicated hybrid application", **HYBRID)
    assert result["action"] == "recreated"


def test_absent_removes_only_ours(capsys):
    other = existing(Name="SomethingElse", Identity="SomethingElse", SectionName="Other")
    org = FakeOrg([existing(), other])
    result = run(org, capsys, name="EnableExchangeHybrid3PAppFeature", state="absent")
    assert result["changed"] is True and result["action"] == "removed"
    assert [o["Name"] for o in org.overrides] == ["SomethingElse"]
    assert run(org, capsys, name="EnableExchangeHybrid3PAppFeature", state="absent")["changed"] is False


def test_another_override_of_the_same_section_is_left_alone_with_a_warning(capsys):
    org = FakeOrg([existing(Name="Theirs", Identity="Theirs")])
    result = run(org, capsys, **HYBRID)
    assert result["action"] == "created"
    assert any("Theirs" in w for w in warnings(result))
    assert [o["Name"] for o in org.overrides] == ["Theirs", "EnableExchangeHybrid3PAppFeature"]


def test_servers_limit_the_override_and_the_refresh(capsys):
    org = FakeOrg()
    result = run(org, capsys, servers=["EX02"], **HYBRID)
    assert org.batches[0][0]["cmdlet"] == "Get-SettingOverride" and len(org.batches[0]) == 1
    assert org.overrides[0]["Server"] == ["EX02"]
    assert result["refreshed_servers"] == ["EX02"]
    assert run(org, capsys, servers=["ex02"], **HYBRID)["changed"] is False


def test_failed_refresh_warns_but_keeps_the_change(capsys):
    org = FakeOrg(refresh_fails_on="EX02")
    result = run(org, capsys, **HYBRID)
    assert not result.get("failed")
    assert result["changed"] is True
    assert result["refreshed_servers"] == ["EX01"]
    assert any("EX02" in w for w in warnings(result))
    assert org.overrides


@pytest.mark.parametrize(
    "options, text",
    [
        (dict(HYBRID, parameters=["Enabled"]), "Key=Value"),
        (dict(HYBRID, parameters=["=true"]), "Key=Value"),
        (dict(HYBRID, component=" "), "component must not be empty"),
        ({"name": "x"}, "component"),
    ],
)
def test_bad_input_fails_before_connecting(capsys, options, text):
    org = FakeOrg()
    result = run(org, capsys, **options)
    assert result["failed"] is True and text in result["msg"]
    assert org.batches == []
