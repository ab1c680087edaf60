"""push_proxy against a mocked Exchange client: idempotence, check mode, diff, input errors."""

from __future__ import annotations

import json
from unittest import mock

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.exchange.hybrid.plugins.module_utils._errors import ExchangeCommandError
from ansible_collections.exchange.hybrid.plugins.modules import push_proxy

CONNECTION = {"server": "ex01.contoso.com", "username": "CONTOSO\\exadmin", "password": "secret-canary"}


class FakeOrg:
    """The OnPrem-Proxy app of a simulated organization, answering the module's runner calls."""

    def __init__(self, enabled=False, organization=None, uri=None, exists=True, ignore_writes=False):
        self.app = {
            "Name": "OnPrem-Proxy",
            "Identity": "OnPrem-Proxy",
            "DisplayName": "On Premises Proxy app",
            "Enabled": enabled,
            "Organization": organization,
            "Uri": uri,
        }
        self.exists = exists
        self.ignore_writes = ignore_writes
        self.batches: list[list[dict]] = []
        self.computer_name = "EX01"

    def run(self, calls):
        self.batches.append(calls)
        outputs = []
        for index, entry in enumerate(calls):
            cmdlet, parameters = entry["cmdlet"], entry["parameters"]
            if cmdlet == "Get-PushNotificationApp":
                other = {"Name": "Microsoft.Exchange.OWA.Apple", "Enabled": True, "Organization": None, "Uri": None}
                rows = [other] + ([dict(self.app)] if self.exists else [])
                outputs.append([{p: r.get(p) for p in entry["properties"]} for r in rows])
                continue
            if cmdlet == "Enable-PushNotificationProxy":
                assert parameters.get("Confirm") is False
                if parameters.get("Organization") == "boom.example":
                    raise ExchangeCommandError(
                        "Enable-PushNotificationProxy failed on ex01: access denied", "ex01", cmdlet=cmdlet, index=index
                    )
                if not self.ignore_writes:
                    self.exists = True
                    self.app.update(Enabled=True, Organization=parameters["Organization"].lower())
                    if "Uri" in parameters:
                        self.app["Uri"] = parameters["Uri"]
                    elif not self.app["Uri"]:
                        self.app["Uri"] = "https://outlook.office365.com/PushNotifications"
            elif cmdlet == "Disable-PushNotificationProxy":
                assert parameters == {"Confirm": False}
                if not self.ignore_writes:
                    self.app["Enabled"] = False
            else:
                raise AssertionError("unexpected cmdlet %s" % cmdlet)
            outputs.append([])
        return outputs

    @property
    def writes(self):
        return [c["cmdlet"] for batch in self.batches for c in batch if not c["cmdlet"].startswith("Get-")]


def run(org, capsys, check=False, diff=False, **options):
    args = dict(CONNECTION, **options)
    args["_ansible_check_mode"] = check
    args["_ansible_diff"] = diff
    with patch_module_args(args), mock.patch.object(push_proxy, "client_for", return_value=org):
        with pytest.raises(SystemExit):
            push_proxy.main()
    return json.loads(capsys.readouterr().out)


def test_enables_a_disabled_proxy_in_one_read_and_one_write(capsys):
    org = FakeOrg()
    result = run(org, capsys, diff=True, organization="contoso.onmicrosoft.com")
    assert result["changed"] is True
    assert (result["enabled"], result["organization"]) == (True, "contoso.onmicrosoft.com")
    assert result["uri"] == "https://outlook.office365.com/PushNotifications"
    assert org.writes == ["Enable-PushNotificationProxy"]
    assert len(org.batches) == 2
    enable = org.batches[1][0]
    assert enable["parameters"] == {"Organization": "contoso.onmicrosoft.com", "Confirm": False}
    assert result["diff"]["before"]["enabled"] is False
    assert result["diff"]["after"]["enabled"] is True


def test_rerun_is_unchanged_and_ignores_case(capsys):
    org = FakeOrg(
        enabled=True, organization="contoso.onmicrosoft.com", uri="https://outlook.office365.com/PushNotifications"
    )
    result = run(org, capsys, organization="Contoso.OnMicrosoft.com")
    assert result["changed"] is False
    assert org.writes == []
    assert len(org.batches) == 1


def test_check_mode_predicts_and_writes_nothing(capsys):
    org = FakeOrg()
    result = run(org, capsys, check=True, diff=True, organization="contoso.onmicrosoft.com")
    assert result["changed"] is True
    assert result["enabled"] is True
    assert org.writes == []
    assert org.app["Enabled"] is False
    assert result["diff"] == {
        "before": {"enabled": False, "organization": None, "uri": None},
        "after": {"enabled": True, "organization": "contoso.onmicrosoft.com", "uri": None},
    }


def test_other_organization_is_corrected(capsys):
    org = FakeOrg(enabled=True, organization="fabrikam.com")
    result = run(org, capsys, organization="contoso.onmicrosoft.com")
    assert result["changed"] is True
    assert result["organization"] == "contoso.onmicrosoft.com"


def test_uri_is_managed_only_when_given(capsys):
    org = FakeOrg(
        enabled=True, organization="contoso.onmicrosoft.com", uri="https://push.example.com/PushNotifications"
    )
    assert run(org, capsys, organization="contoso.onmicrosoft.com")["changed"] is False
    result = run(
        org, capsys, organization="contoso.onmicrosoft.com", uri="https://outlook.office365.com/PushNotifications/"
    )
    assert result["changed"] is True
    assert org.batches[-1][0]["parameters"]["Uri"] == "https://outlook.office365.com/PushNotifications/"


def test_disable_runs_only_when_enabled(capsys):
    org = FakeOrg(enabled=True, organization="contoso.onmicrosoft.com")
    result = run(org, capsys, state="disabled")
    assert result["changed"] is True and result["enabled"] is False
    assert org.writes == ["Disable-PushNotificationProxy"]
    result = run(org, capsys, state="disabled")
    assert result["changed"] is False
    assert org.writes == ["Disable-PushNotificationProxy"]


def test_missing_app_reads_as_disabled(capsys):
    org = FakeOrg(exists=False)
    assert run(org, capsys, state="disabled")["found"] is False
    result = run(org, capsys, organization="contoso.onmicrosoft.com")
    assert result["changed"] is True and result["enabled"] is True


@pytest.mark.parametrize(
    "options, text",
    [
        ({"organization": "not a domain"}, "organization must be the tenant's domain"),
        ({"organization": "contoso.com'; Remove-Item C:\\ -Recurse"}, "organization must be the tenant's domain"),
        (
            {"organization": "contoso.com", "uri": "http://outlook.office365.com/PushNotifications"},
            "uri must be an https",
        ),
        ({}, "organization"),
    ],
)
def test_bad_input_fails_before_connecting(capsys, options, text):
    org = FakeOrg()
    result = run(org, capsys, **options)
    assert result["failed"] is True
    assert text in result["msg"]
    assert org.batches == []


def test_write_error_is_reported(capsys):
    org = FakeOrg()
    result = run(org, capsys, organization="boom.example")
    assert result["failed"] is True
    assert result["msg"].startswith("Failed to enable the push notification proxy: ")
    assert "access denied" in result["msg"]
    assert "secret-canary" not in json.dumps(result)


def test_write_that_does_not_stick_fails(capsys):
    org = FakeOrg(ignore_writes=True)
    result = run(org, capsys, organization="contoso.onmicrosoft.com")
    assert result["failed"] is True
    assert "still" in result["msg"] or "now reads" in result["msg"]
