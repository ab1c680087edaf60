"""exchange_monitoring_probe against the simulated health service: it waits for readiness, not a fixed 120 s."""

from __future__ import annotations

PROBE = """\
- hosts: EX2019
  gather_facts: false
  tasks:
    - name: probe
      exchange.hybrid.exchange_monitoring_probe:
        fail_on_failure: false
        poll_interval: 2
"""


def test_probe_waits_for_the_health_service_not_120_seconds(make_simulation, run_playbook):
    sim = make_simulation(exchange_options={"health_ready_delay_seconds": 20})
    run = run_playbook(sim, PROBE)
    assert run.ok, run
    result = run.result("probe")
    assert result["restarted"] is True
    # About the readiness delay: at least the delay, far below the documented fixed 120 s.
    assert 20 <= result["waited_seconds"] < 60, result
    assert result["attempts"] >= 2
    # A fresh organization is not configured: the probe answers Failed and names the first missing piece.
    assert result["result_type"] == "Failed"
    assert "AuthServer" in result["error"] or "Auth certificate" in result["error"], result["error"]
    assert result["target_server"] == "ex2019.contoso.com"
    restarts = [c for c in sim.calls() if c["cmdlet"] == "Restart-Service"]
    assert [c["server"] for c in restarts] == ["EX2019"]


def test_probe_fails_the_task_naming_the_missing_piece(simulation, run_playbook):
    run = run_playbook(simulation, PROBE.replace("fail_on_failure: false", "restart_health_service: false"))
    assert not run.ok
    assert run.results("probe")[0]["status"] == "failed"
    result = run.result("probe")
    assert result["result_type"] == "Failed"
    assert "PushNotificationsEnterpriseConnectivityProbe" in result["msg"]
    assert not [c for c in simulation.calls() if c["cmdlet"] == "Restart-Service"]


def test_probe_in_check_mode_runs_nothing(simulation, run_playbook):
    before = open(simulation.state_path, "rb").read()
    run = run_playbook(simulation, PROBE, check=True)
    assert run.ok, run
    assert run.result("probe")["result_type"] is None
    assert simulation.calls() == []
    assert open(simulation.state_path, "rb").read() == before
