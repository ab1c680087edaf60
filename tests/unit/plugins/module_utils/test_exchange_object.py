# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Exchange object engine, through a small declaration of its own run against the simulator's Exchange."""

from __future__ import annotations

import pytest
from ansible.module_utils import basic

from hybrid_sim.exchange import cmdlets as simulated
from hybrid_sim.exchange.cmdlets import CmdletError
from hybrid_sim.exchange.testing import E2019_CU15_HU, ExchangeHarness
from hybrid_sim.module_runner import run_module

from ansible_collections.exchange.hybrid.plugins.module_utils._exchange import call
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange_module import exchange_module
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange_object import (
    ExchangeObject,
    Property,
    Refused,
    run_exchange_object,
    same_bool,
    same_set,
    same_text,
    same_uri,
)

URL = "https://accounts.accesscontrol.windows.net/metadata/json/1/?realm=contoso.onmicrosoft.com"
OTHER_URL = "https://accounts.accesscontrol.windows.net/metadata/json/1/?realm=fabrikam.onmicrosoft.com"
PROPERTIES = ["Name", "AuthMetadataUrl", "Enabled"]


def view(row):
    if row is None:
        return None
    return {"name": row["Name"], "url": row["AuthMetadataUrl"], "enabled": row["Enabled"]}


def locate(run, rows):
    return next((row for row in rows if same_text(row["Name"], run.params["name"])), None)


def update(run):
    # One Set-AuthServer per changed property, so that a failure can fall between two writes.
    return [call("Set-AuthServer", None, Identity=run.params["name"], **{k: v}) for k, v in run.parameters().items()]


def declaration(**hooks):
    """An AuthServer reduced to its name, metadata URL and Enabled: what a new object type declares."""
    fields = dict(
        properties=[
            Property("name", "Name", compare=same_text),
            Property("url", "AuthMetadataUrl", compare=same_text),
            Property("enabled", "Enabled", compare=same_bool),
        ],
        reads=lambda run: [call("Get-AuthServer", PROPERTIES)],
        locate=locate,
        view=view,
        desired=lambda run: None if run.params["state"] == "absent" else run.given(),
        new=lambda run: [call("New-AuthServer", None, **run.new_parameters())],
        update=update,
        remove=lambda run: [call("Remove-AuthServer", None, Identity=run.params["name"], Confirm=False)],
        failure=lambda run, stage, error: "%s AuthServer %s" % (stage, run.params["name"]),
        result_key="auth_server",
    )
    fields.update(hooks)
    return ExchangeObject(**fields)


class DeclaredModule:
    """A module that is nothing but its declaration and an argument spec."""

    __name__ = "declared_module"

    def __init__(self, **hooks):
        self.declaration = declaration(**hooks)

    def main(self):
        module = exchange_module(
            dict(
                name=dict(type="str", required=True),
                url=dict(type="str"),
                enabled=dict(type="bool", default=True),
                state=dict(type="str", default="present", choices=["present", "absent"]),
            )
        )
        run_exchange_object(module, self.declaration)


WANTED = {"name": "Issuer", "url": URL}


@pytest.fixture
def org(tmp_path):
    return ExchangeHarness(str(tmp_path), servers=[E2019_CU15_HU])


def stored(org):
    return {a["Name"]: (a["AuthMetadataUrl"], a["Enabled"]) for a in org.state()["exchange"]["auth_servers"]}


def test_creates_reads_back_and_a_second_run_changes_nothing(org):
    first = run_module(DeclaredModule(), WANTED, exchange=org, diff=True)
    assert not first.failed, first.result
    assert first.result["changed"] and first.writes == ["New-AuthServer"]
    # The write is proven by a re-read in the same run: the last call reads the object again.
    assert first.cmdlets[-1] == "Get-AuthServer"
    assert stored(org) == {"Issuer": (URL, True)}
    assert first.result["auth_server"] == {"name": "Issuer", "url": URL, "enabled": True}
    assert first.result["diff"] == {"before": None, "after": first.result["auth_server"]}

    again = run_module(DeclaredModule(), dict(WANTED, url=URL.upper()), exchange=org, diff=True)
    assert not again.failed and not again.result["changed"] and again.writes == []
    assert again.result["diff"]["before"] == again.result["diff"]["after"] == first.result["auth_server"]


def test_check_mode_predicts_and_writes_nothing(org):
    run_module(DeclaredModule(), WANTED, exchange=org)
    before = org.state()["exchange"]
    outcome = run_module(DeclaredModule(), dict(WANTED, url=OTHER_URL, enabled=False), exchange=org, check=True, diff=True)
    assert outcome.result["changed"] and outcome.writes == []
    assert org.state()["exchange"] == before
    assert outcome.result["diff"]["before"] == {"name": "Issuer", "url": URL, "enabled": True}
    assert outcome.result["diff"]["after"] == {"name": "Issuer", "url": OTHER_URL, "enabled": False}
    assert outcome.result["auth_server"] == outcome.result["diff"]["after"]


def test_only_changed_properties_are_written(org):
    run_module(DeclaredModule(), WANTED, exchange=org)
    outcome = run_module(DeclaredModule(), dict(WANTED, enabled=False), exchange=org)
    assert [c["parameters"] for c in outcome.calls if c["cmdlet"] == "Set-AuthServer"] == [
        {"Identity": "Issuer", "Enabled": False}
    ]
    assert stored(org) == {"Issuer": (URL, False)}


def test_absent_removes_and_a_second_run_changes_nothing(org):
    run_module(DeclaredModule(), WANTED, exchange=org)
    gone = run_module(DeclaredModule(), {"name": "Issuer", "state": "absent"}, exchange=org, diff=True)
    assert gone.result["changed"] and gone.writes == ["Remove-AuthServer"] and stored(org) == {}
    assert gone.result["auth_server"] is None and gone.result["diff"]["after"] is None
    again = run_module(DeclaredModule(), {"name": "Issuer", "state": "absent"}, exchange=org)
    assert not again.result["changed"] and again.writes == []


def test_a_write_the_re_read_disproves_is_an_error(org, monkeypatch):
    run_module(DeclaredModule(), WANTED, exchange=org)
    monkeypatch.setitem(simulated.CMDLETS, "Set-AuthServer", lambda _ctx, _params, _set: [])
    outcome = run_module(DeclaredModule(), dict(WANTED, enabled=False), exchange=org)
    assert outcome.failed
    assert outcome.result["msg"].startswith("Failed to write AuthServer Issuer: Set-AuthServer ran, but it reads back as")
    assert outcome.result["changed"] is True


def test_a_failing_write_leaves_the_result_saying_what_was_done(org, monkeypatch):
    run_module(DeclaredModule(), WANTED, exchange=org)
    real = simulated.CMDLETS["Set-AuthServer"]

    def cannot_disable(ctx, params, parameter_set):
        if "Enabled" in params:
            raise CmdletError("Active Directory operation failed on DC01.", "WriteError", "ADOperationException")
        return real(ctx, params, parameter_set)

    monkeypatch.setitem(simulated.CMDLETS, "Set-AuthServer", cannot_disable)
    outcome = run_module(DeclaredModule(), dict(WANTED, url=OTHER_URL, enabled=False), exchange=org)
    assert outcome.failed
    assert outcome.result["msg"].startswith("Failed to write AuthServer Issuer: ")
    assert "Active Directory operation failed" in outcome.result["msg"]
    assert outcome.result["writes_done"] == ["Set-AuthServer"]
    assert outcome.result["auth_server"]["enabled"] is False  # what the run set out to do
    assert stored(org) == {"Issuer": (OTHER_URL, True)}  # the first write stays, as Exchange keeps it


def test_a_hook_that_refuses_stops_before_any_write(org):
    def refuse(run):
        run.result["finding"] = "two issuers"
        raise Refused("Failed to configure AuthServer Issuer: two issuers. Nothing was changed.", hint="remove one")

    outcome = run_module(DeclaredModule(desired=refuse), WANTED, exchange=org)
    assert outcome.failed and outcome.writes == [] and stored(org) == {}
    assert outcome.result["msg"] == "Failed to configure AuthServer Issuer: two issuers. Nothing was changed."
    assert (outcome.result["finding"], outcome.result["hint"]) == ("two issuers", "remove one")


def test_bad_input_is_refused_before_connecting():
    def validate(params):
        return None if str(params["url"]).startswith("https://") else "url must be https"

    outcome = run_module(DeclaredModule(validate=validate), dict(WANTED, url="http://x"))
    assert outcome.failed and outcome.result["msg"] == "url must be https" and outcome.calls == []


def test_a_failing_follow_up_is_the_declarations_to_report(org, monkeypatch):
    seen = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, text: seen.append(text))

    def reported(run, done, error):
        run.result["followed_up"] = done
        if error is not None:
            run.module.warn("follow-up failed: %s" % error.msg)

    module = DeclaredModule(
        follow_ups=lambda run: [call("Get-AuthServer", ["Name"]), call("Get-AuthServer", ["Name"], Identity="Nobody")],
        followed_up=reported,
    )
    outcome = run_module(module, WANTED, exchange=org)
    assert not outcome.failed, outcome.result
    assert outcome.result["followed_up"] == 1 and seen and "follow-up failed" in seen[0]
    assert stored(org) == {"Issuer": (URL, True)}


def test_comparisons():
    assert same_text(None, "") and same_text("Contoso", "contoso") and not same_text("a", "b")
    assert same_set(["A.com", "b.com"], ["B.COM", "a.com"]) and not same_set(["a.com"], ["a.com", "b.com"])
    assert same_uri("https://x/Push/", "https://X/push") and not same_uri("https://x/a", "https://x/b")
    assert same_bool(None, False) and not same_bool(True, False)
