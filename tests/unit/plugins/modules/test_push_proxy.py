"""push_proxy against the simulator's Exchange: act, read back, rerun, check mode, diff, input errors."""

from __future__ import annotations

import json

import pytest

from hybrid_sim.exchange import cmdlets as simulated
from hybrid_sim.exchange.cmdlets import CmdletError
from hybrid_sim.exchange.testing import E2019_CU15_HU, ExchangeHarness
from hybrid_sim.module_runner import run_module

from ansible_collections.exchange.hybrid.plugins.modules import push_proxy

TENANT = {"organization": "contoso.onmicrosoft.com"}
DEFAULT_URI = "https://outlook.office365.com/PushNotifications"


@pytest.fixture
def org(tmp_path):
    return ExchangeHarness(str(tmp_path), servers=[E2019_CU15_HU])


def proxy_app(org):
    return next(a for a in org.state()["exchange"]["push_notification_apps"] if a["Name"] == "OnPrem-Proxy")


def set_app(org, **values):
    with org.edit() as state:
        next(a for a in state["exchange"]["push_notification_apps"] if a["Name"] == "OnPrem-Proxy").update(values)


def test_enables_a_disabled_proxy_in_one_read_and_one_write(org):
    outcome = run_module(push_proxy, TENANT, exchange=org, diff=True)
    result = outcome.result
    assert not outcome.failed and result["changed"] is True
    assert (result["enabled"], result["organization"], result["uri"]) == (True, "contoso.onmicrosoft.com", DEFAULT_URI)
    assert outcome.writes == ["Enable-PushNotificationProxy"]
    enable = next(c for c in outcome.calls if c["cmdlet"] == "Enable-PushNotificationProxy")
    assert enable["parameters"] == {"Organization": "contoso.onmicrosoft.com", "Confirm": False}
    assert proxy_app(org)["Enabled"] is True
    assert result["diff"]["before"]["enabled"] is False
    assert result["diff"]["after"] == {"enabled": True, "organization": "contoso.onmicrosoft.com", "uri": DEFAULT_URI}


def test_rerun_is_unchanged_and_ignores_case(org):
    assert run_module(push_proxy, TENANT, exchange=org).result["changed"]
    again = run_module(push_proxy, {"organization": "Contoso.OnMicrosoft.com"}, exchange=org)
    assert again.result["changed"] is False and again.writes == []
    assert again.cmdlets == ["Get-PushNotificationApp"]


def test_check_mode_predicts_and_writes_nothing(org):
    before = org.state()["exchange"]
    outcome = run_module(push_proxy, TENANT, exchange=org, check=True, diff=True)
    assert outcome.result["changed"] is True and outcome.result["enabled"] is True
    assert outcome.writes == [] and org.state()["exchange"] == before
    assert outcome.result["diff"] == {
        "before": {"enabled": False, "organization": None, "uri": None},
        "after": {"enabled": True, "organization": "contoso.onmicrosoft.com", "uri": None},
    }


def test_other_organization_is_corrected(org):
    set_app(org, Enabled=True, Organization="fabrikam.com")
    outcome = run_module(push_proxy, TENANT, exchange=org)
    assert outcome.result["changed"] is True and outcome.result["organization"] == "contoso.onmicrosoft.com"
    assert proxy_app(org)["Organization"] == "contoso.onmicrosoft.com"


def test_uri_is_managed_only_when_given(org):
    set_app(org, Enabled=True, Organization="contoso.onmicrosoft.com", Uri="https://push.example.com/PushNotifications")
    assert run_module(push_proxy, TENANT, exchange=org).result["changed"] is False
    outcome = run_module(push_proxy, dict(TENANT, uri=DEFAULT_URI + "/"), exchange=org)
    assert outcome.result["changed"] is True
    assert outcome.calls[-2]["parameters"]["Uri"] == DEFAULT_URI + "/"
    assert proxy_app(org)["Uri"] == DEFAULT_URI + "/"
    # Compared ignoring case and the trailing slash.
    assert run_module(push_proxy, dict(TENANT, uri=DEFAULT_URI.upper()), exchange=org).result["changed"] is False


def test_disable_runs_only_when_enabled(org):
    set_app(org, Enabled=True, Organization="contoso.onmicrosoft.com")
    outcome = run_module(push_proxy, {"state": "disabled"}, exchange=org)
    assert outcome.result["changed"] is True and outcome.result["enabled"] is False
    assert outcome.writes == ["Disable-PushNotificationProxy"]
    assert proxy_app(org)["Enabled"] is False and proxy_app(org)["Organization"] == "contoso.onmicrosoft.com"
    again = run_module(push_proxy, {"state": "disabled"}, exchange=org)
    assert again.result["changed"] is False and again.writes == []


def test_missing_app_reads_as_disabled(org):
    with org.edit() as state:
        state["exchange"]["push_notification_apps"] = [
            a for a in state["exchange"]["push_notification_apps"] if a["Name"] != "OnPrem-Proxy"
        ]
    outcome = run_module(push_proxy, {"state": "disabled"}, exchange=org)
    assert outcome.result["found"] is False and outcome.result["changed"] is False
    predicted = run_module(push_proxy, TENANT, exchange=org, check=True)
    assert predicted.result["changed"] is True and predicted.result["enabled"] is True


@pytest.mark.parametrize(
    "options, text",
    [
        ({"organization": "not a domain"}, "organization must be the tenant's domain"),
        ({"organization": "contoso.com'; Remove-Item C:\\ -Recurse"}, "organization must be the tenant's domain"),
        ({"organization": "contoso.com", "uri": "http://outlook.office365.com/PushNotifications"}, "uri must be an https"),
        ({}, "organization"),
    ],
)
def test_bad_input_fails_before_connecting(options, text):
    outcome = run_module(push_proxy, options)  # no Exchange: connecting would fail the test
    assert outcome.failed is True and text in outcome.result["msg"]
    assert outcome.calls == []


def test_write_error_is_reported(org, monkeypatch):
    def denied(_ctx, _params):
        raise CmdletError("Access is denied.", "PermissionDenied", "UnauthorizedAccessException")

    monkeypatch.setitem(simulated.CMDLETS, "Enable-PushNotificationProxy", denied)
    outcome = run_module(push_proxy, TENANT, exchange=org)
    assert outcome.failed is True
    assert outcome.result["msg"].startswith("Failed to enable the push notification proxy: ")
    assert "Access is denied" in outcome.result["msg"]
    assert outcome.result["writes_done"] == []
    assert "pw-canary" not in json.dumps(outcome.result)


def test_write_that_does_not_stick_fails(org, monkeypatch):
    monkeypatch.setitem(simulated.CMDLETS, "Enable-PushNotificationProxy", lambda _ctx, _params: [])
    outcome = run_module(push_proxy, TENANT, exchange=org)
    assert outcome.failed is True
    assert "Enable-PushNotificationProxy ran but the OnPrem-Proxy app now reads enabled=False" in outcome.result["msg"]
