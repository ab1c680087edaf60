# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""exchange_server_info against the simulator's Exchange (hybrid_sim.module_runner): set the organization up, read
it, assert, read again (the same answer), read in check mode (the same answer)."""

from __future__ import annotations

import datetime as dt

import pytest
from ansible.module_utils.common.warnings import get_warning_messages

from hybrid_sim.exchange import cmdlets
from hybrid_sim.exchange.cmdlets import CmdletError
from hybrid_sim.exchange.testing import E2016_CU23_HU, E2019_CU15_HU, ExchangeHarness
from hybrid_sim.module_runner import run_module
from hybrid_sim.state import iso, now

from ansible_collections.exchange.hybrid.plugins.modules import exchange_auth_info
from ansible_collections.exchange.hybrid.plugins.modules import exchange_server_info as mod

SERVER = "EX2019"
E2013_CU2 = {"name": "EX01", "version": "Version 15.0 (Build 712.24)"}


@pytest.fixture
def org(tmp_path):
    """Three servers (2013, 2016 with the hotfix update, 2019 with it); setup's Auth certificate current on each."""
    return ExchangeHarness(str(tmp_path))


def read(harness, args=None, server=SERVER, **kwargs):
    return run_module(mod, dict(args or {}), exchange=harness, server=server, **kwargs)


def assert_reader(harness, out, server=SERVER):
    """A reader: nothing written or changed, a second read and a check-mode read answer the same."""
    before = harness.state()
    assert not out.failed, out.result
    assert out.result["changed"] is False and not out.writes
    for other in (read(harness, server=server), read(harness, server=server, check=True)):
        assert not other.failed and not other.writes and other.result == out.result
    assert harness.state() == before


def by_name(result):
    return {entry["name"]: entry for entry in result["servers"]}


def current(harness):
    return harness.state()["exchange"]["auth_config"]["CurrentCertificateThumbprint"]


def stored(harness, server, thumbprint):
    return next(c for c in harness.state()["exchange"]["servers"][server]["certificates"] if c["Thumbprint"] == thumbprint)


def test_flags_2013_cu2(tmp_path):
    harness = ExchangeHarness(str(tmp_path), servers=[E2013_CU2])
    out = read(harness, server="EX01")
    assert_reader(harness, out, server="EX01")
    server = out.result["servers"][0]
    assert server["meets_push_minimum"] is False and server["version"] == "15.0.712.24"
    assert server["admin_display_version"] == "Version 15.0 (Build 712.24)" and server["connected"]
    assert out.result["below_push_minimum"] == ["EX01"] and out.result["all_meet_push_minimum"] is False
    assert out.result["connected_server"] == "EX01"


def test_hybrid_application_from_exsetup(org):
    out = read(org)
    assert_reader(org, out)
    server = by_name(out.result)[SERVER]
    assert server["version"] == "15.2.1748.10" and server["exsetup_version"] == "15.2.1748.24"
    assert server["meets_push_minimum"] and server["supports_hybrid_application"]
    assert server["supports_hybrid_application_known"] and server["effective_version"] == "15.2.1748.24"
    assert out.result["organization"]["name"] == "Contoso" and out.result["connected_server"] == SERVER
    assert out.result["all_meet_push_minimum"] is True and out.result["below_push_minimum"] == []


def test_hybrid_application_unknown_without_exsetup(org):
    """EX2016 has the hotfix update, but only the connected server's ExSetup version is read: the cumulative update
    alone cannot tell."""
    assert E2016_CU23_HU["exsetup_build"] != E2019_CU15_HU["exsetup_build"]
    out = read(org)
    server = by_name(out.result)["EX2016"]
    assert server["connected"] is False and server["exsetup_version"] is None
    assert server["supports_hybrid_application"] is False and server["supports_hybrid_application_known"] is False
    # Connected to EX2016 itself, its ExSetup version shows the hotfix update.
    own = by_name(read(org, server="EX2016").result)["EX2016"]
    assert own["exsetup_version"] == "15.1.2507.55"
    assert own["supports_hybrid_application"] is True and own["supports_hybrid_application_known"] is True


def test_basic_over_http_refused_before_connecting():
    out = run_module(mod, {"transport": "basic", "scheme": "http"})
    assert out.failed and "allow_unencrypted_basic" in out.result["msg"] and out.calls == []


def test_auth_certificate_present_with_private_key(org):
    out = read(org)
    assert_reader(org, out)
    thumbprint = current(org)
    cert = stored(org, SERVER, thumbprint)
    state = out.result["auth_certificate"]
    assert state["thumbprint"] == thumbprint and state["present"] and state["has_private_key"]
    assert state["private_key_exportable"] is True and state["signature_algorithm"] == "sha256RSA"
    assert state["usable"] and state["problems"] == [] and state["days_remaining"] > 1800
    assert state["not_before"] == cert["NotBefore"] and state["not_after"] == cert["NotAfter"]
    assert state["public_key_size"] == 2048
    assert out.result["next_auth_certificate"] is None
    # AuthConfig and the store were read through the connected server, with the servers.
    assert {"Get-AuthConfig", "Get-ExchangeCertificate", "Get-ExchangeServer"} <= set(out.cmdlets)
    # No certificate bytes in the result.
    assert "RawData" not in str(out.result) and cert["RawData"][:40] not in str(out.result)


def test_the_same_judgement_as_exchange_auth_info(org):
    """Both readers judge AuthConfig's certificate on a server alike (exchange_auth_info reads every server)."""
    weak = org.add_certificate([SERVER], key_size=1024, signature_hash="sha1", private_key_exportable=False)
    org.edit_auth_config(CurrentCertificateThumbprint=weak)
    mine = read(org).result["auth_certificate"]
    theirs = next(
        s for s in run_module(exchange_auth_info, {}, exchange=org, server=SERVER).result["servers"] if s["connected"]
    )["auth_certificate"]
    assert mine["usable"] is False and mine["problems"] and mine["problems"] == theirs["problems"]
    assert mine["public_key_size"] == theirs["key_size"] == 1024
    for key in ("thumbprint", "present", "has_private_key", "private_key_exportable", "not_before", "not_after",
                "days_remaining", "signature_algorithm", "usable"):
        assert mine[key] == theirs[key], key


def test_auth_certificate_missing_on_this_server(org):
    org.edit_store(SERVER, current(org), remove=True)
    out = read(org)
    assert_reader(org, out)
    state = out.result["auth_certificate"]
    assert state["thumbprint"] == current(org)
    assert state["present"] is False and state["usable"] is False and state["has_private_key"] is None
    assert "not in the certificate store" in state["problems"][0]


@pytest.mark.parametrize(
    "kwargs, problem",
    [
        ({"has_private_key": False}, "no private key"),
        ({"private_key_exportable": False}, "not exportable"),
        ({"key_size": 1024}, "1024 bits"),
        ({"issued_days_ago": 400, "years": 1}, "expired on"),
        ({"signature_hash": "sha1"}, "sha1RSA"),
    ],
)
def test_auth_certificate_unusable(org, kwargs, problem):
    thumbprint = org.add_certificate([SERVER], **kwargs)
    org.edit_auth_config(CurrentCertificateThumbprint=thumbprint)
    out = read(org)
    assert_reader(org, out)
    state = out.result["auth_certificate"]
    assert state["thumbprint"] == thumbprint and state["present"] is True and state["usable"] is False
    assert any(problem in text for text in state["problems"]), state["problems"]


def test_no_current_certificate_and_a_staged_next(org):
    staged = org.add_certificate([SERVER], has_private_key=False)
    effective = iso(now(org.state()).replace(microsecond=0) + dt.timedelta(days=30))
    org.edit_auth_config(
        CurrentCertificateThumbprint=None, NextCertificateThumbprint=staged, NextCertificateEffectiveDate=effective
    )
    out = read(org)
    assert_reader(org, out)
    state = out.result["auth_certificate"]
    assert state["thumbprint"] is None and state["present"] is False and state["usable"] is False
    assert state["problems"] == ["AuthConfig names no certificate"]
    nxt = out.result["next_auth_certificate"]
    assert nxt["thumbprint"] == staged and nxt["effective_date"] == effective
    assert nxt["present"] and nxt["has_private_key"] is False and not nxt["usable"]


def failing(cmdlet, message):
    """Make the simulator's ``cmdlet`` fail as Exchange does when Active Directory cannot answer it."""

    def fail(_ctx, _bound, *_set):
        raise CmdletError(message, "ReadError", "ADOperationException")

    return cmdlet, fail


def test_servers_still_returned_where_auth_config_cannot_be_read(org, monkeypatch):
    monkeypatch.setitem(
        cmdlets.CMDLETS,
        *failing("Get-AuthConfig", "Active Directory operation failed on DC01.contoso.com. The object does not exist."),
    )
    earlier = len(get_warning_messages())
    out = read(org)
    assert not out.failed, out.result
    assert by_name(out.result)[SERVER]["connected"] and sorted(by_name(out.result)) == ["EX2013", "EX2016", "EX2019"]
    assert out.result["auth_certificate"] is None and out.result["next_auth_certificate"] is None
    warned = get_warning_messages()[earlier:]
    assert any("AuthConfig and the certificates could not be read through" in text for text in warned), warned


def test_other_command_errors_still_fail(org, monkeypatch):
    monkeypatch.setitem(cmdlets.CMDLETS, *failing("Get-ExchangeServer", "Active Directory operation failed: access denied"))
    out = read(org)
    assert out.failed and "access denied" in out.result["msg"] and "Get-ExchangeServer" in out.result["msg"]


def test_graph_flow_support_per_server_from_exsetup(tmp_path):
    """The May 2026 HU shows only in ExSetup: the connected SE server knows; the others only show the CU."""
    servers = [
        {"name": "EXSE2", "version": "Version 15.2 (Build 2562.17)", "exsetup_build": "15.2.2562.41"},
        {"name": "EXSE1", "version": "Version 15.2 (Build 2562.17)", "exsetup_build": "15.2.2562.37"},
        E2019_CU15_HU,
    ]
    harness = ExchangeHarness(str(tmp_path), servers=servers)
    on_may = by_name(read(harness, server="EXSE2").result)
    assert on_may["EXSE2"]["supports_graph_flow"] is True and on_may["EXSE2"]["graph_flow_needs"] is None
    assert (on_may["EXSE1"]["supports_graph_flow"], on_may["EXSE1"]["supports_graph_flow_known"]) == (False, False)
    e2019 = on_may[E2019_CU15_HU["name"]]
    assert (e2019["supports_graph_flow"], e2019["supports_graph_flow_known"]) == (False, True)
    assert e2019["graph_flow_needs"].startswith("an upgrade to Exchange SE")
    on_feb = read(harness, server="EXSE1")
    assert_reader(harness, on_feb, server="EXSE1")
    feb = by_name(on_feb.result)["EXSE1"]
    assert (feb["supports_graph_flow"], feb["supports_graph_flow_known"]) == (False, True)
    assert feb["graph_flow_needs"] == "the May 2026 hotfix update (15.2.2562.41)"
