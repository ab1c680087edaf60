# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""exchange_auth_certificate_refresh against the simulator's default endpoint (hybrid_sim.module_runner): the
services and pools restarted, the thumbprint remembered, nothing restarted again, check mode restarts nothing."""

from __future__ import annotations

import pytest
from ansible.module_utils import basic

from hybrid_sim.exchange.testing import ExchangeHarness
from hybrid_sim.module_runner import run_module

from ansible_collections.exchange.hybrid.plugins.modules import exchange_auth_certificate_refresh as mod

SERVER = "EX2019"
THUMBPRINT = "7A39541F8DF58D4821967DD8F899B27410F7C081"
ALL = ["MSExchangeServiceHost", "MSExchangeOWAAppPool", "MSExchangeECPAppPool"]


def run(harness, args=None, **kwargs):
    return run_module(mod, dict({"thumbprint": THUMBPRINT}, **(args or {})), exchange=harness, server=SERVER, **kwargs)


@pytest.fixture
def warnings(monkeypatch):
    seen: list[str] = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, text: seen.append(text))
    return seen


def counters(harness, server=SERVER):
    entry = harness.state()["exchange"]["servers"][server]
    return (
        entry["services"]["MSExchangeServiceHost"]["restarts"],
        entry["app_pools"]["MSExchangeOWAAppPool"]["recycles"],
        entry["app_pools"]["MSExchangeECPAppPool"]["recycles"],
        entry["app_pools"]["MSExchangeServicesAppPool"]["recycles"],
    )


def test_restarts_once_then_nothing(tmp_path):
    harness = ExchangeHarness(str(tmp_path))
    checked = run(harness, check=True, diff=True)
    r = checked.result
    assert not checked.failed and r["changed"] and r["restarted"] == ALL and not checked.writes
    assert counters(harness) == (0, 0, 0, 0) and r["refreshed_for"] is None
    assert r["diff"] == {"before": {"refreshed_for": None}, "after": {"refreshed_for": THUMBPRINT}}

    out = run(harness, diff=True)
    r = out.result
    assert r["changed"] and r["restarted"] == ALL and r["failed"] == [] and r["server"] == SERVER
    assert out.cmdlets == ["auth_certificate_refresh"]
    assert counters(harness) == (1, 1, 1, 0)  # only the OWA and ECP pools are recycled

    again = run(harness)
    assert not again.result["changed"] and again.result["restarted"] == [] and counters(harness) == (1, 1, 1, 0)
    assert again.result["refreshed_for"] == THUMBPRINT
    assert not run(harness, check=True).result["changed"]

    spaced = " ".join("B" * 40)
    newer = run(harness, {"thumbprint": spaced.lower()})  # another certificate became current: restart again
    assert newer.result["changed"] and newer.result["thumbprint"] == "B" * 40 and counters(harness) == (2, 2, 2, 0)


def test_a_pool_that_cannot_be_recycled_warns_and_is_tried_again(tmp_path, warnings):
    harness = ExchangeHarness(str(tmp_path))
    with harness.edit() as state:
        del state["exchange"]["servers"][SERVER]["app_pools"]["MSExchangeECPAppPool"]
    out = run(harness)
    r = out.result
    assert not out.failed and r["changed"] and r["restarted"] == ALL[:2]
    assert r["failed"][0].startswith("MSExchangeECPAppPool: ") and "MSExchangeECPAppPool" in " ".join(warnings)
    again = run(harness)
    assert again.result["changed"] and again.result["refreshed_for"] is None  # not remembered: tried again


def test_bad_thumbprint_refused_before_connecting():
    out = run_module(mod, {"thumbprint": "not-a-thumbprint"})
    assert out.failed and "thumbprint" in out.result["msg"]
