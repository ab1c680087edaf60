"""The module harness itself: a module runs in-process against the simulator's Exchange, through the real client."""

from __future__ import annotations

import pytest

from hybrid_sim.exchange.testing import E2019_CU15_HU, ExchangeHarness
from hybrid_sim.module_runner import run_module

from ansible_collections.exchange.hybrid.plugins.modules import exchange_auth_server, exchange_server_info

ACS = {"name": "MicrosoftSts", "tenant_domain": "contoso.onmicrosoft.com", "type": "acs"}


@pytest.fixture
def org(tmp_path):
    return ExchangeHarness(str(tmp_path), servers=[E2019_CU15_HU])


def test_a_module_changes_the_simulated_organization_and_a_rerun_does_not(org):
    first = run_module(exchange_auth_server, ACS, exchange=org)
    assert not first.failed, first.result
    assert first.result["changed"] and "New-AuthServer" in first.writes
    assert [a["Name"] for a in org.state()["exchange"]["auth_servers"]] == ["MicrosoftSts"]

    again = run_module(exchange_auth_server, ACS, exchange=org)
    assert not again.failed and not again.result["changed"] and again.writes == []


def test_check_mode_writes_nothing(org):
    before = org.state()["exchange"]
    outcome = run_module(exchange_auth_server, ACS, exchange=org, check=True, diff=True)
    assert outcome.result["changed"] and outcome.writes == []
    assert org.state()["exchange"] == before
    assert outcome.result["diff"]["before"] != outcome.result["diff"]["after"]


def test_cmdlet_errors_come_back_as_the_real_client_words_them(org):
    with org.edit() as state:
        state["exchange"]["rbac"] = {"CONTOSO\\viewer": ["View-Only Organization Management"]}
    outcome = run_module(exchange_auth_server, dict(ACS, username="CONTOSO\\viewer"), exchange=org)
    assert outcome.failed
    assert "New-AuthServer is not available to CONTOSO\\viewer" in outcome.result["msg"]


def test_the_servers_clock_and_build_come_from_the_simulation(org):
    outcome = run_module(exchange_server_info, {}, exchange=org, server="ex2019.contoso.com")
    assert not outcome.failed, outcome.result
    assert "host_facts" in outcome.cmdlets
    assert [s["name"] for s in outcome.result["servers"]] == ["EX2019"]


def test_without_an_exchange_a_module_that_connects_fails_the_test():
    with pytest.raises(AssertionError, match="should have refused the input first"):
        run_module(exchange_auth_server, ACS)
