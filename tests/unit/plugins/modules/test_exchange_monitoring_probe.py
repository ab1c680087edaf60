"""exchange_monitoring_probe against a mocked Exchange client and a fake clock: the wait follows readiness."""

from __future__ import annotations

import json
from unittest import mock

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.exchange.hybrid.plugins.module_utils._errors import ExchangeCommandError
from ansible_collections.exchange.hybrid.plugins.modules import exchange_monitoring_probe as probe_module

CONNECTION = {"server": "ex01.contoso.com", "username": "CONTOSO\\exadmin", "password": "secret-canary"}
SERVERS = [
    {"Name": "EX01", "Fqdn": "ex01.contoso.com", "IsMailboxServer": True},
    {"Name": "EX02", "Fqdn": "ex02.contoso.com", "IsMailboxServer": True},
]


class Clock:
    def __init__(self):
        self.now = 1000.0

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


class FakeServer:
    """MSExchangeHM that becomes ready ``ready_after`` simulated seconds after a restart, and a probe."""

    def __init__(self, clock, ready_after=20.0, result="Succeeded", error="", restarted_at=None, never_ready=False):
        self.clock = clock
        self.ready_after = ready_after
        self.result = result
        self.error = error
        self.restarted_at = restarted_at
        self.never_ready = never_ready
        self.batches: list[list[dict]] = []
        self.computer_name = None
        self.server = "ex01.contoso.com"
        self.server_utc_now = None
        self.warnings: list[str] = []

    def ready(self):
        if self.never_ready:
            return False
        return self.restarted_at is None or self.clock.now - self.restarted_at >= self.ready_after

    def run(self, calls):
        if [c["cmdlet"] for c in calls] == ["host_facts"]:
            return [[{"ComputerName": "EX01", "UtcNow": None, "FileVersion": None}]]
        self.batches.append(calls)
        self.clock.now += 0.5  # one PowerShell process
        outputs = []
        for index, entry in enumerate(calls):
            cmdlet, parameters = entry["cmdlet"], entry["parameters"]
            if cmdlet == "Get-ExchangeServer":
                outputs.append([dict(s) for s in SERVERS])
            elif cmdlet == "Restart-Service":
                assert parameters == {"Name": "MSExchangeHM"}
                self.restarted_at = self.clock.now
                outputs.append([])
            elif cmdlet == "Get-Service":
                outputs.append([{"Name": "MSExchangeHM", "Status": "Running" if self.ready() else "StartPending"}])
            elif cmdlet == "Invoke-MonitoringProbe":
                assert parameters["Identity"] == probe_module.DEFAULT_PROBE
                if not self.ready():
                    raise ExchangeCommandError(
                        "Invoke-MonitoringProbe failed on ex01: the health manager is not ready",
                        "ex01",
                        cmdlet=cmdlet,
                        index=index,
                        results=outputs,
                    )
                outputs.append([{"ResultType": self.result, "Error": self.error, "Exception": "", "ResultName": "x"}])
            else:
                raise AssertionError("unexpected cmdlet %s" % cmdlet)
        return outputs

    def cmdlets(self):
        return [[c["cmdlet"] for c in batch] for batch in self.batches]


@pytest.fixture(name="clock")
def fixture_clock():
    clock = Clock()
    with mock.patch.object(probe_module.time, "monotonic", clock.monotonic), mock.patch.object(
        probe_module.time, "sleep", clock.sleep
    ):
        yield clock


def run(server, capsys, check=False, **options):
    args = dict(CONNECTION, **options)
    args["_ansible_check_mode"] = check
    with patch_module_args(args), mock.patch.object(probe_module, "client_for", return_value=server) as factory:
        with pytest.raises(SystemExit):
            probe_module.main()
    result = json.loads(capsys.readouterr().out)
    result["_client_created"] = factory.called
    return result


def test_waits_for_readiness_not_a_fixed_120_seconds(clock, capsys):
    server = FakeServer(clock, ready_after=20.0)
    result = run(server, capsys)
    assert result["result_type"] == "Succeeded"
    assert result["changed"] is True and result["restarted"] is True
    assert 20.0 <= result["waited_seconds"] < 30.0
    assert result["target_server"] == "ex01.contoso.com"
    assert server.cmdlets()[0] == ["Get-ExchangeServer"]
    assert server.cmdlets()[1] == ["Restart-Service", "Get-Service", "Invoke-MonitoringProbe"]
    assert all(batch == ["Get-Service", "Invoke-MonitoringProbe"] for batch in server.cmdlets()[2:])
    assert sum(batch.count("Restart-Service") for batch in server.cmdlets()) == 1
    assert server.batches[1][2]["parameters"]["Server"] == "ex01.contoso.com"


def test_ready_at_once_takes_two_processes(clock, capsys):
    server = FakeServer(clock, ready_after=0.0)
    result = run(server, capsys)
    assert result["result_type"] == "Succeeded"
    assert len(server.batches) == 2
    assert result["attempts"] == 1


def test_failed_is_final_and_fails_the_task(clock, capsys):
    server = FakeServer(
        clock, ready_after=10.0, result="Failed", error="AuthServer MicrosoftSts: wrong AuthMetadataUrl"
    )
    result = run(server, capsys)
    assert result["failed"] is True
    assert result["result_type"] == "Failed"
    assert "wrong AuthMetadataUrl" in result["msg"]
    polls_after_ready = server.cmdlets()[2:]
    assert len(polls_after_ready) <= 3  # stops at the first real answer


def test_fail_on_failure_false_returns_the_result(clock, capsys):
    server = FakeServer(clock, ready_after=0.0, result="Failed", error="proxy disabled")
    result = run(server, capsys, fail_on_failure=False)
    assert not result.get("failed")
    assert (result["result_type"], result["error"]) == ("Failed", "proxy disabled")


def test_timeout_is_bounded(clock, capsys):
    server = FakeServer(clock, never_ready=True)
    result = run(server, capsys, timeout=30, poll_interval=5)
    assert result["failed"] is True
    assert result["result_type"] == "Timeout"
    assert "did not answer within 30 s" in result["msg"]
    assert result["waited_seconds"] <= 30
    assert result["attempts"] <= 7


def test_result_codes_are_named(clock, capsys):
    server = FakeServer(clock, ready_after=0.0, result=3)
    assert run(server, capsys)["result_type"] == "Succeeded"


def test_without_restart_nothing_changes(clock, capsys):
    server = FakeServer(clock)
    result = run(server, capsys, restart_health_service=False, target_server="EX02")
    assert result["changed"] is False and result["restarted"] is False
    assert result["result_type"] == "Succeeded"
    assert all("Restart-Service" not in batch for batch in server.cmdlets())
    assert server.batches[1][1]["parameters"]["Server"] == "EX02"


def test_restart_on_another_server_is_refused(clock, capsys):
    server = FakeServer(clock)
    result = run(server, capsys, target_server="ex02.contoso.com")
    assert result["failed"] is True
    assert "connect to ex02.contoso.com" in result["msg"]
    assert server.cmdlets() == [["Get-ExchangeServer"]]


def test_check_mode_runs_nothing(clock, capsys):
    server = FakeServer(clock)
    result = run(server, capsys, check=True)
    assert server.batches == []
    assert result["changed"] is True
    assert result["result_type"] is None
    assert "would restart MSExchangeHM" in result["msg"]


@pytest.mark.parametrize(
    "options, text",
    [
        ({"identity": "NoHealthSet"}, "identity must read"),
        ({"timeout": 0}, "timeout must be"),
        ({"poll_interval": 0}, "poll_interval must be"),
    ],
)
def test_bad_input_fails_before_connecting(clock, capsys, options, text):
    server = FakeServer(clock)
    result = run(server, capsys, **options)
    assert result["failed"] is True and text in result["msg"]
    assert server.batches == []
