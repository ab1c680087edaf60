# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""exchange_oauth_connectivity against the simulator's Exchange and Entra (hybrid_sim.module_runner): an organization
whose OAuth is complete succeeds; each missing piece fails with the explanation naming it; an unknown mailbox fails
with Exchange's error; the test writes nothing and answers the same in check mode."""

from __future__ import annotations

import pytest

from hybrid_sim.entra import initial_entra_state
from hybrid_sim.exchange.testing import ExchangeHarness
from hybrid_sim.module_runner import run_module

from ansible_collections.exchange.hybrid.plugins.module_utils._clouds import CLOUDS, EXCHANGE_ONLINE_APP_ID
from ansible_collections.exchange.hybrid.plugins.modules import exchange_oauth_connectivity as mod

SERVER = "EX2019"
TENANT = "contoso.onmicrosoft.com"
MAILBOX = "administrator@contoso.com"


def configured(directory):
    """Step 3 done by hand: the ACS AuthServer for the tenant and the Auth certificate's key on the shared SP."""
    harness = ExchangeHarness(directory, entra=initial_entra_state(TENANT))
    tenant_id = next(iter(harness.state()["entra"]["tenants"]))
    with harness.edit() as state:
        ex = state["exchange"]
        thumb = ex["auth_config"]["CurrentCertificateThumbprint"]
        cert = next(c for c in ex["servers"][SERVER]["certificates"] if c["Thumbprint"] == thumb)
        ex["auth_servers"].append({
            "Name": "ACS", "Identity": "ACS", "Type": "MicrosoftACS", "Enabled": True, "Realm": tenant_id,
            "AuthMetadataUrl": CLOUDS["global"]["acs_metadata"].format(tenant=TENANT),
        })
        sp = next(s for s in state["entra"]["tenants"][tenant_id]["servicePrincipals"]
                  if s["appId"] == EXCHANGE_ONLINE_APP_ID)
        sp.setdefault("keyCredentials", []).append({
            "keyId": "7b0d4a9e-2c1f-4e53-9a8b-6f5e4d3c2b1a", "type": "AsymmetricX509Cert", "usage": "Verify",
            "key": cert["RawData"], "customKeyIdentifier": thumb, "displayName": cert["Subject"],
            "startDateTime": cert["NotBefore"], "endDateTime": cert["NotAfter"],
        })
    return harness, tenant_id


def run(harness, args=None, **kwargs):
    return run_module(mod, dict({"mailbox": MAILBOX}, **(args or {})), exchange=harness, server=SERVER, **kwargs)


def assert_only_tests(harness, out, args=None):
    """Nothing written or changed; a second run and a check-mode run answer the same (but the request id)."""
    before = harness.state()
    assert out.result["changed"] is False and not out.writes
    for other in (run(harness, args), run(harness, args, check=True)):
        assert not other.writes and other.failed == out.failed
        assert other.result["result_type"] == out.result["result_type"]
        assert other.result["explanation"] == out.result["explanation"]
    assert harness.state() == before


def test_success_when_oauth_is_complete(tmp_path):
    harness = configured(str(tmp_path))[0]
    out = run(harness)
    assert not out.failed, out.result
    assert out.result["succeeded"] is True and out.result["result_type"] == "Success"
    assert out.result["task"] == "Checking EWS API Call Under Oauth"
    assert out.result["target_uri"] == "https://outlook.office365.com/EWS/Exchange.asmx"
    assert out.result["explanation"] == []
    sent = [c for c in harness.calls() if c["cmdlet"] == "Test-OAuthConnectivity"][0]["parameters"]
    assert sent == {"Service": "EWS", "TargetUri": "https://outlook.office365.com/EWS/Exchange.asmx", "Mailbox": MAILBOX}
    assert_only_tests(harness, out)


def test_missing_entra_key_is_explained(tmp_path):
    harness, tenant_id = configured(str(tmp_path))
    with harness.edit() as state:
        for sp in state["entra"]["tenants"][tenant_id]["servicePrincipals"]:
            sp["keyCredentials"] = []
    out = run(harness)
    assert out.failed and out.result["result_type"] == "Error" and out.result["succeeded"] is False
    assert "AADSTS700027" in out.result["detail"]
    assert "not on the Entra target" in out.result["explanation"][0]
    assert "AADSTS700027" in out.result["msg"]
    assert_only_tests(harness, out)
    judged = run(harness, {"fail_on_failure": False})
    assert not judged.failed and judged.result["succeeded"] is False and judged.result["explanation"]


@pytest.mark.parametrize("break_it, words", [
    (lambda ex: ex["auth_servers"].clear(), "no usable AuthServer"),
    (lambda ex: ex["auth_config"].update(CurrentCertificateThumbprint=None), "could not sign with the Auth certificate"),
])
def test_other_missing_pieces_are_explained(tmp_path, break_it, words):
    harness = configured(str(tmp_path))[0]
    with harness.edit() as state:
        break_it(state["exchange"])
    out = run(harness)
    assert out.failed and out.result["result_type"] == "Error"
    assert words in out.result["explanation"][0]


def test_unreachable_target_is_explained(tmp_path):
    harness = configured(str(tmp_path))[0]
    out = run(harness, {"target_uri": "https://ews.example.invalid/EWS/Exchange.asmx"})
    assert out.failed and "could not reach the target URL" in out.result["explanation"][0]


def test_cloud_picks_its_ews_url(tmp_path):
    harness = configured(str(tmp_path))[0]
    out = run(harness, {"cloud": "usgovernment_l4", "fail_on_failure": False})
    assert out.result["target_uri"] == "https://outlook.office365.us/EWS/Exchange.asmx"


def test_unknown_mailbox_is_exchanges_error(tmp_path):
    harness = configured(str(tmp_path))[0]
    out = run(harness, {"mailbox": "nobody@contoso.com"})
    assert out.failed and not out.writes
    assert "couldn't be found" in out.result["msg"] and "nobody@contoso.com" in out.result["msg"]


@pytest.mark.parametrize("args, words", [
    ({"mailbox": " "}, "mailbox must name"),
    ({"target_uri": "http://outlook.office365.com/EWS/Exchange.asmx"}, "target_uri must be an https URL"),
])
def test_bad_input_is_refused_before_connecting(tmp_path, args, words):
    harness = configured(str(tmp_path))[0]
    out = run(harness, args)
    assert out.failed and words in out.result["msg"] and not out.cmdlets
