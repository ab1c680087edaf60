"""push_proxy and exchange_setting_override through real ansible-playbook against the simulated organization."""

from __future__ import annotations

import textwrap


def _play(tasks: str, hosts: str = "EX2019") -> str:
    return textwrap.dedent("""\
        - hosts: {hosts}
          gather_facts: false
          tasks:
        """).format(hosts=hosts) + textwrap.indent(textwrap.dedent(tasks), "    ")


ENABLE = _play("""\
    - name: proxy
      exchange.hybrid.push_proxy:
        organization: "{{ hybrid_tenant_domain }}"
    """)


def _state_bytes(sim) -> bytes:
    with open(sim.state_path, "rb") as handle:
        return handle.read()


def test_push_proxy_converges_and_check_mode_writes_nothing(simulation, run_playbook):
    before = _state_bytes(simulation)
    check = run_playbook(simulation, ENABLE, check=True, diff=True)
    assert check.ok, check
    assert check.result("proxy")["changed"] is True
    assert check.result("proxy")["enabled"] is True
    assert _state_bytes(simulation) == before

    first = run_playbook(simulation, ENABLE)
    assert first.ok, first
    result = first.result("proxy")
    assert (result["changed"], result["enabled"], result["organization"]) == (True, True, "contoso.onmicrosoft.com")
    app = simulation.read_state()["exchange"]["push_app"] if "push_app" in simulation.read_state()["exchange"] else None
    enables = [c for c in simulation.calls() if c["cmdlet"] == "Enable-PushNotificationProxy"]
    assert len(enables) == 1 and enables[0]["parameters"]["Organization"] == "contoso.onmicrosoft.com"
    del app

    second = run_playbook(simulation, ENABLE)
    assert second.ok, second
    assert second.changed == 0

    disable = run_playbook(
        simulation,
        _play("""\
            - name: proxy
              exchange.hybrid.push_proxy:
                state: disabled
            """),
    )
    assert disable.ok, disable
    assert disable.result("proxy")["enabled"] is False
    assert [c["parameters"] for c in simulation.calls() if c["cmdlet"] == "Disable-PushNotificationProxy"] == [
        {"Confirm": False}
    ]


def test_setting_override_converges_and_removes_only_its_own(simulation, run_playbook):
    play = _play("""\
        - name: override
          exchange.hybrid.exchange_setting_override:
            name: EnableExchangeHybrid3PAppFeature
            component: Global
            section: ExchangeOnpremAsThirdPartyAppId
            parameters: [Enabled=true]
            reason: e2e
        """)
    first = run_playbook(simulation, play, diff=True)
    assert first.ok, first
    result = first.result("override")
    assert result["action"] == "created"
    assert sorted(result["refreshed_servers"]) == ["EX2013", "EX2016", "EX2019"]
    assert run_playbook(simulation, play).changed == 0

    absent = _play("""\
        - name: override
          exchange.hybrid.exchange_setting_override:
            name: EnableExchangeHybrid3PAppFeature
            state: absent
        """)
    removed = run_playbook(simulation, absent)
    assert removed.ok, removed
    assert removed.result("override")["action"] == "removed"
    assert run_playbook(simulation, absent).changed == 0
