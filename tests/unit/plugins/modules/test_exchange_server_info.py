# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

from test_exchange_fake import FakeExchange, run_module

from ansible_collections.exchange.hybrid.plugins.modules import exchange_server_info as mod


def test_flags_2013_cu2(monkeypatch):
    exchange = FakeExchange(version=(15, 0, 712, 24), exsetup="15.0.712.24")
    out, client = run_module(monkeypatch, mod, {}, exchange)
    assert not out.failed
    server = out.result["servers"][0]
    assert server["meets_push_minimum"] is False and server["version"] == "15.0.712.24"
    assert server["admin_display_version"] == "Version 15.0 (Build 712.24)"
    assert out.result["below_push_minimum"] == ["EX01"] and out.result["all_meet_push_minimum"] is False
    assert len(client.batches) == 1  # one PowerShell process


def test_hybrid_application_from_exsetup(monkeypatch):
    out, _client = run_module(monkeypatch, mod, {}, FakeExchange(version=(15, 2, 1748, 10), exsetup="15.2.1748.24"))
    server = out.result["servers"][0]
    assert server["meets_push_minimum"] and server["supports_hybrid_application"]
    assert server["supports_hybrid_application_known"] and server["exsetup_version"] == "15.2.1748.24"
    assert out.result["organization"]["name"] == "Contoso"


def test_hybrid_application_unknown_without_exsetup(monkeypatch):
    out, _client = run_module(monkeypatch, mod, {}, FakeExchange(version=(15, 1, 2507, 6), exsetup=None))
    server = out.result["servers"][0]
    assert server["supports_hybrid_application"] is False and server["supports_hybrid_application_known"] is False


def test_basic_over_http_refused_before_connecting(monkeypatch):
    out, _client = run_module(monkeypatch, mod, {"transport": "basic", "scheme": "http"})
    assert out.failed and "allow_unencrypted_basic" in out.result["msg"]
