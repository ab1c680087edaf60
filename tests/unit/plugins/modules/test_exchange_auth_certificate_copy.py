# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""exchange_auth_certificate_copy against the simulator's Exchange (hybrid_sim.module_runner): a server lacking the
Auth certificate gets it with its private key, the password travels only as a SecureString, nothing is copied twice,
check mode writes nothing."""

from __future__ import annotations

import json

import pytest

from hybrid_sim.exchange.testing import ExchangeHarness
from hybrid_sim.module_runner import run_module

from ansible_collections.exchange.hybrid.plugins.module_utils import _cmdlet_catalog as catalog
from ansible_collections.exchange.hybrid.plugins.module_utils._errors import CatalogError
from ansible_collections.exchange.hybrid.plugins.module_utils._values import SecureText
from ansible_collections.exchange.hybrid.plugins.modules import exchange_auth_certificate_copy as mod

SERVERS = [
    {"name": "EX01", "version": "Version 15.2 (Build 1748.10)"},
    {"name": "EX02", "version": "Version 15.2 (Build 1748.10)"},
]


def harness_lacking(tmp_path, **options):
    return ExchangeHarness(str(tmp_path), servers=SERVERS, auth_certificate_missing_on=["EX02"], **options)


def run(harness, args=None, **kwargs):
    return run_module(mod, dict(args or {}), exchange=harness, server="EX01", **kwargs)


def holding(harness, server):
    state = harness.state()["exchange"]
    current = state["auth_config"]["CurrentCertificateThumbprint"]
    return [c for c in state["servers"][server]["certificates"] if c["Thumbprint"] == current]


def test_copies_to_the_server_lacking_it_then_nothing(tmp_path):
    harness = harness_lacking(tmp_path)
    assert holding(harness, "EX02") == []
    checked = run(harness, check=True, diff=True)
    r = checked.result
    assert not checked.failed and r["changed"] and not checked.writes and holding(harness, "EX02") == []
    assert r["copies"][0]["servers"] == ["EX02"] and r["copies"][0]["source"] == "EX01"
    assert r["diff"]["before"]["servers"]["EX02"]["current"] is False
    assert r["diff"]["after"]["servers"]["EX02"]["current"] is True

    out = run(harness)
    r = out.result
    assert not out.failed and r["changed"] and r["servers"] == {
        "EX01": {"current": True, "next": None},
        "EX02": {"current": True, "next": None},
    }
    [copied] = holding(harness, "EX02")
    assert copied["HasPrivateKey"] and copied["PrivateKeyExportable"]
    export = next(c for c in out.calls if c["cmdlet"] == "Export-ExchangeCertificate")["parameters"]
    imported = next(c for c in out.calls if c["cmdlet"] == "Import-ExchangeCertificate")["parameters"]
    assert isinstance(export["Password"], SecureText) and imported["Password"] == export["Password"]
    assert isinstance(imported["FileData"], bytes) and imported["Server"] == "EX02"
    assert export["Server"] == "EX01" and export["BinaryEncoded"] is True
    # Neither the password nor the PFX is in the result or the simulated server's call log.
    text = json.dumps(r)
    assert str(export["Password"]) not in text
    logged = json.dumps(harness.calls())
    assert str(export["Password"]) not in logged and "System.Security.SecureString" in logged

    again = run(harness)
    assert not again.result["changed"] and not again.writes and again.result["copies"] == []


def test_a_copy_without_private_key_is_replaced(tmp_path):
    harness = ExchangeHarness(str(tmp_path), servers=SERVERS)
    current = harness.state()["exchange"]["auth_config"]["CurrentCertificateThumbprint"]
    harness.edit_store("EX02", current, HasPrivateKey=False)
    out = run(harness)
    assert out.result["copies"][0]["replaced"] == ["EX02"]
    assert [c["cmdlet"] for c in out.calls if c["cmdlet"].split("-")[0] in ("Remove", "Import")] == [
        "Remove-ExchangeCertificate", "Import-ExchangeCertificate"]
    [copied] = holding(harness, "EX02")
    assert copied["HasPrivateKey"]


def test_no_exportable_holder_is_refused_before_any_write(tmp_path):
    harness = harness_lacking(tmp_path)
    current = harness.state()["exchange"]["auth_config"]["CurrentCertificateThumbprint"]
    harness.edit_store("EX01", current, PrivateKeyExportable=False)
    before = harness.state()
    out = run(harness)
    assert out.failed and "exportable private key" in out.result["msg"] and "EX02" in out.result["msg"]
    assert not out.writes and harness.state() == before


def test_a_plain_string_password_is_refused_as_powershell_does():
    with pytest.raises(CatalogError) as raised:
        catalog.validate_call("Export-ExchangeCertificate", {"Thumbprint": "A" * 40, "Password": "pw-canary"}, None)
    assert "System.Security.SecureString" in raised.value.msg and "pw-canary" not in raised.value.msg
    catalog.validate_call("Export-ExchangeCertificate", {"Thumbprint": "A" * 40, "Password": SecureText("x")}, None)
