# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: exchange_monitoring_probe
short_description: Run an Exchange Managed Availability probe, waiting for the health service instead of sleeping
version_added: 0.1.0
description:
  - Runs C(Invoke-MonitoringProbe) for one probe against one Exchange server and returns its C(ResultType),
    C(Error) and C(Exception). By default it runs the push notification proxy probe
    C(PushNotifications.Proxy\PushNotificationsEnterpriseConnectivityProbe), the proof step of Microsoft's push
    notification procedure.
  - Microsoft's procedure restarts the Health Manager service (C(MSExchangeHM)) to clear its cache and then
    sleeps a fixed 120 seconds. This module restarts it (O(restart_health_service)) and then polls every
    O(poll_interval) seconds until C(MSExchangeHM) runs and the probe answers, up to O(timeout) seconds, so the
    wait is as long as the service needs and no longer.
  - An answer that only says the service is not ready yet (the service is not running, the probe cmdlet fails,
    returns nothing, or returns a result type other than C(Succeeded)/C(Failed)) is retried. A C(Failed)
    result is final.
  - Each poll is one PowerShell process that reads the service state and runs the probe.
options:
  identity:
    description:
      - The probe, as C(<HealthSet>\<ProbeName>). Passed to C(Invoke-MonitoringProbe -Identity).
    type: str
    default: PushNotifications.Proxy\PushNotificationsEnterpriseConnectivityProbe
  target_server:
    description:
      - The Exchange server the probe runs for (C(Invoke-MonitoringProbe -Server)), by name or FQDN.
      - Defaults to the FQDN of the server the module is connected to.
      - Named C(target_server) because O(server) is the WinRM connection's host.
      - With O(restart_health_service=true) it must be the connected server, because the health service is
        restarted where the module is connected; connect to the server you want to probe instead.
    type: str
  restart_health_service:
    description:
      - Restart C(MSExchangeHM) on the connected server before probing, as the procedure does, to clear the
        cache the health service kept from when push notifications were not yet configured.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait, after the restart, for the service to run and the probe to answer.
    type: int
    default: 300
  poll_interval:
    description:
      - Seconds between two polls.
    type: int
    default: 5
  fail_on_failure:
    description:
      - Fail the task unless the probe's result is C(Succeeded) (a C(Failed) result, or no answer within
        O(timeout)).
      - With V(false) the task succeeds and returns the result for the caller to judge.
    type: bool
    default: true
notes:
  - In check mode the module connects to nothing, restarts nothing and runs no probe; it reports what it would do
    (C(changed) is true when it would restart the health service).
  - C(changed) is true when the health service was restarted; the probe itself changes no configuration.
  - Needs the Organization Management or Server Management role group (Managed Availability cmdlets).
seealso:
  - module: exchange.hybrid.push_proxy
  - name: Invoke-MonitoringProbe
    description: Microsoft's cmdlet reference.
    link: https://learn.microsoft.com/powershell/module/exchangepowershell/invoke-monitoringprobe
author:
  - exchange.hybrid contributors (@exchange-hybrid)
extends_documentation_fragment:
  - exchange.hybrid.exchange_connection
  - exchange.hybrid.attributes
  - exchange.hybrid.attributes.action_plugin
  - exchange.hybrid.actiongroup_exchange
"""

EXAMPLES = r"""
- name: Prove that push notifications work (restart the health service, wait for it, run the probe)
  exchange.hybrid.exchange_monitoring_probe:
  register: probe

- name: Show the result
  ansible.builtin.debug:
    msg: "{{ probe.result_type }} after {{ probe.waited_seconds }} s"

- name: Run the probe without restarting anything and judge the result yourself
  exchange.hybrid.exchange_monitoring_probe:
    restart_health_service: false
    fail_on_failure: false
  register: probe
"""

RETURN = r"""
result_type:
  description:
    - The probe's C(ResultType) (C(Succeeded), C(Failed), ...); C(Timeout) when it did not answer within
      O(timeout); null in check mode.
  returned: always
  type: str
  sample: Succeeded
error:
  description: The probe's C(Error) text (empty when it succeeded), or why it did not answer.
  returned: always
  type: str
  sample: ""
exception:
  description: The probe's C(Exception) text (empty when it succeeded).
  returned: always
  type: str
  sample: ""
waited_seconds:
  description: Seconds from the health service restart (or from the first poll without a restart) to the answer.
  returned: always
  type: float
  sample: 21.3
attempts:
  description: How many times the probe was run.
  returned: always
  type: int
  sample: 4
restarted:
  description: Whether C(MSExchangeHM) was restarted.
  returned: always
  type: bool
  sample: true
target_server:
  description: The server the probe ran for (C(-Server)).
  returned: always
  type: str
  sample: ex01.contoso.com
identity:
  description: The probe that ran.
  returned: always
  type: str
  sample: PushNotifications.Proxy\PushNotificationsEnterpriseConnectivityProbe
health_service_status:
  description: The last C(Status) read of C(MSExchangeHM).
  returned: when the module connected
  type: str
  sample: Running
"""

import time
from typing import Any, Optional

from ansible_collections.exchange.hybrid.plugins.module_utils._errors import (
    ExchangeCommandError,
    ExchangeError,
    fail_from_error,
)
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange import call
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange_module import (
    client_for,
    exchange_module,
    read_host_facts,
)
from ansible_collections.exchange.hybrid.plugins.module_utils._retry import poll

DEFAULT_PROBE = "PushNotifications.Proxy\\PushNotificationsEnterpriseConnectivityProbe"
HEALTH_SERVICE = "MSExchangeHM"
PROBE_PROPERTIES = ["ResultType", "Error", "Exception", "ExecutionStartTime", "ExecutionEndTime", "ResultName"]
FINAL_RESULTS = ("Succeeded", "Failed")
# Managed Availability's ResultType codes, in case a result arrives as a number.
RESULT_CODES = {1: "Timeout", 2: "Poisoned", 3: "Succeeded", 4: "Failed", 5: "Quarantined", 6: "Rejected"}


def result_type_name(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return RESULT_CODES.get(int(value), str(value))
    return str(value)


def _host(name: str | None) -> str:
    return (name or "").split(".")[0].casefold()


def find_server(servers: list, name: str | None) -> dict | None:
    """The Exchange server whose Name or FQDN is ``name`` (short names match FQDNs)."""
    if not name:
        return None
    for server in servers or []:
        fqdn = str(server.get("Fqdn") or "")
        if name.casefold() in (str(server.get("Name") or "").casefold(), fqdn.casefold()):
            return server
    for server in servers or []:
        if _host(name) == _host(str(server.get("Name") or "")):
            return server
    return None


def poll_calls(identity: str, target: str) -> list:
    return [
        call("Get-Service", properties=["Name", "Status"], Name=HEALTH_SERVICE),
        call("Invoke-MonitoringProbe", properties=PROBE_PROPERTIES, Identity=identity, Server=target),
    ]


def interpret(outputs: list | None, error: ExchangeCommandError | None) -> tuple[str | None, dict | None, str]:
    """(service status, final probe answer or None, why not final)."""
    status = None
    if outputs and outputs[0]:
        status = str(outputs[0][0].get("Status") or "")
    if error is not None:
        return status, None, f"Invoke-MonitoringProbe answered: {error.msg}"
    if status != "Running":
        return status, None, f"{HEALTH_SERVICE} is {status or 'not found'}"
    rows = outputs[1] if outputs and len(outputs) > 1 else []
    if not rows:
        return status, None, "the probe returned no result"
    row = rows[0]
    kind = result_type_name(row.get("ResultType"))
    if kind not in FINAL_RESULTS:
        return status, None, f"the probe answered {kind or 'without a result type'}"
    return status, dict(row, ResultType=kind), ""


ARGUMENT_SPEC = dict(
    identity=dict(type="str", default=DEFAULT_PROBE),
    target_server=dict(type="str"),
    restart_health_service=dict(type="bool", default=True),
    timeout=dict(type="int", default=300),
    poll_interval=dict(type="int", default=5),
    fail_on_failure=dict(type="bool", default=True),
)


def input_problem(params: dict) -> Optional[str]:
    """What is wrong with the options, before connecting; None when nothing is."""
    identity = params["identity"]
    if "\\" not in identity or identity.startswith("\\") or identity.endswith("\\"):
        return f"identity must read <HealthSet>\\<ProbeName>, such as {DEFAULT_PROBE}; got {identity!r}"
    if params["timeout"] < 1:
        return f"timeout must be at least 1 second; got {params['timeout']}"
    if not 1 <= params["poll_interval"] <= params["timeout"]:
        return f"poll_interval must be between 1 and timeout ({params['timeout']}); got {params['poll_interval']}"
    return None


def new_result(params: dict) -> dict:
    return dict(
        changed=False,
        identity=params["identity"],
        target_server=params["target_server"],
        restarted=False,
        result_type=None,
        error=None,
        exception=None,
        waited_seconds=0.0,
        attempts=0,
    )


def predicted(params: dict, result: dict) -> dict:
    """Check mode: what a run would do (it would restart the health service: a change)."""
    target = f"-Server {params['target_server']}" if params["target_server"] else "for the connected server"
    steps = [f"restart {HEALTH_SERVICE} and wait up to {params['timeout']} s for it"] if params["restart_health_service"] else []
    steps.append(f"run Invoke-MonitoringProbe {params['identity']} {target}")
    result.update(changed=params["restart_health_service"], msg="Check mode: would " + ", then ".join(steps))
    return result


def choose_target(module: Any, client: Any, result: dict) -> str:
    """The server the probe runs for: target_server, else the connected server (the health service's host)."""
    params = module.params
    try:
        servers = client.run([call("Get-ExchangeServer", properties=["Name", "Fqdn", "IsMailboxServer"])])[0]
    except ExchangeError as err:
        fail_from_error(module, err, "read the Exchange servers", **result)
    # The connected computer's name comes from its default endpoint (the host facts), where the service lives too.
    read_host_facts(client)
    connected = find_server(servers, client.computer_name or client.server)
    if not params["target_server"]:
        if connected is None:
            module.fail_json(msg=f"The connected computer {client.computer_name!r} is not an Exchange server", **result)
        return str(connected.get("Fqdn") or connected.get("Name"))
    target = params["target_server"]
    target_entry = find_server(servers, target)
    if target_entry is None:
        module.fail_json(msg=f"target_server {target!r} is not an Exchange server of this organization", **result)
    if params["restart_health_service"] and target_entry is not connected:
        module.fail_json(
            msg=f"restart_health_service restarts {HEALTH_SERVICE} on the connected server "
            f"({client.computer_name}), not on {target}: connect to {target} or set restart_health_service: false",
            **result,
        )
    return target


class ProbeRun:
    """Restart the health service once (with the first poll), then poll the probe until it gives a final answer."""

    def __init__(self, module: Any, client: Any, target: str, result: dict) -> None:
        self.module, self.client, self.target, self.result = module, client, target, result
        self.probe = poll_calls(module.params["identity"], target)
        restart = [call("Restart-Service", Name=HEALTH_SERVICE)] if module.params["restart_health_service"] else []
        # The batch is the probe itself once the restart has gone (attempt() compares by identity).
        self.batch = restart + self.probe if restart else self.probe
        self.answer: Optional[dict] = None
        self.why = ""
        self.status: Optional[str] = None

    def attempt(self) -> bool:
        """One poll: the probe's batch once; True when the probe gave a final answer."""
        outputs, error = None, None
        try:
            outputs = self.client.run(self.batch)
        except ExchangeCommandError as err:
            if err.cmdlet != "Invoke-MonitoringProbe":
                action = "restart" if err.cmdlet == "Restart-Service" else "read"
                self.module.fail_json(
                    msg=f"Failed to {action} {HEALTH_SERVICE} on {self.client.computer_name}: {err.msg}", **self.result
                )
            # The client stops at the failing call and returns the calls before it (the restart ran).
            error = err
            outputs = err.results
        except ExchangeError as err:
            fail_from_error(self.module, err, f"run the probe on {self.target}", **self.result)
        if self.batch is not self.probe:
            self.result.update(restarted=True, changed=True)
            outputs = outputs[1:] if outputs else outputs
            self.batch = self.probe
        self.result["attempts"] += 1
        polled_status, self.answer, self.why = interpret(outputs, error)
        self.status = polled_status or self.status
        if self.status:
            self.result["health_service_status"] = self.status
        return self.answer is not None

    def run(self) -> None:
        params = self.module.params
        started = time.monotonic()
        # Polls instead of a fixed sleep: the health service answers as soon as it is ready after the restart.
        poll(self.attempt, params["timeout"], params["poll_interval"])
        self.result["waited_seconds"] = round(time.monotonic() - started, 1)


def finish(module: Any, probe: ProbeRun) -> None:
    """Exit with the probe's answer; a timeout or a result other than Succeeded fails with fail_on_failure."""
    params, result, answer = module.params, probe.result, probe.answer
    where = f"The probe {params['identity']} on {probe.target}"
    if answer is None:
        result.update(result_type="Timeout", error=f"No probe result within {params['timeout']} s: {probe.why}")
        if params["fail_on_failure"]:
            module.fail_json(msg=f"{where} did not answer within {params['timeout']} s: {probe.why}", **result)
        module.exit_json(**result)
    result.update(result_type=answer["ResultType"], error=answer.get("Error") or "", exception=answer.get("Exception") or "")
    if answer["ResultType"] != "Succeeded" and params["fail_on_failure"]:
        module.fail_json(msg=f"{where} reported {answer['ResultType']}: {result['error'] or result['exception']}", **result)
    module.exit_json(**result)


def main() -> None:
    module = exchange_module(ARGUMENT_SPEC)
    problem = input_problem(module.params)
    if problem:
        module.fail_json(msg=problem)
    result = new_result(module.params)
    if module.check_mode:
        module.exit_json(**predicted(module.params, result))
    client = client_for(module)
    result["target_server"] = target = choose_target(module, client, result)
    probe = ProbeRun(module, client, target, result)
    probe.run()
    finish(module, probe)


if __name__ == "__main__":
    main()
