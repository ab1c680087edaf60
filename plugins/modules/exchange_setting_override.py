# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: exchange_setting_override
short_description: Manage an Exchange setting override
version_added: 0.1.0
description:
  - Creates, corrects or removes one Exchange setting override (C(New-SettingOverride),
    C(Remove-SettingOverride)), found by its name with C(Get-SettingOverride).
  - The dedicated Exchange hybrid application needs the override O(component=Global),
    O(section=ExchangeOnpremAsThirdPartyAppId), O(parameters=[Enabled=true]); Microsoft's
    ConfigureExchangeHybridApplication.ps1 names it C(EnableExchangeHybrid3PAppFeature).
  - An override whose component, section, parameters, servers or (when given) reason differ is removed and
    created again with the same name, because C(Set-SettingOverride) cannot change the component or section.
  - Only the override named O(name) is ever changed or removed.
  - One PowerShell process reads; one more writes (and reads the result back) only when something must change
    and not in check mode.
options:
  name:
    description: The override's name (C(-Name), C(-Identity)).
    type: str
    required: true
  component:
    description: The component (C(-Component)); read back as C(ComponentName). Required with O(state=present).
    type: str
  section:
    description: The section (C(-Section)); read back as C(SectionName). Required with O(state=present).
    type: str
  parameters:
    description:
      - The settings, each C(Key=Value) (C(-Parameters)). Required with O(state=present).
      - Compared ignoring the order of the entries, the case, and spaces around C(=).
    type: list
    elements: str
  reason:
    description:
      - Why the override exists (C(-Reason), which Exchange requires).
      - When omitted, a new override gets C(Managed by the exchange.hybrid Ansible collection) and the reason of an
        existing one is not compared.
    type: str
  servers:
    description:
      - Limit the override to these servers (C(-Server)). Omitted means organization-wide.
      - Compared as a set, ignoring case.
      - Named C(servers) because O(server) is the WinRM connection's host.
    type: list
    elements: str
  state:
    description: Whether the override should exist.
    type: str
    choices: [present, absent]
    default: present
  refresh_variant_configuration:
    description:
      - After a change, make Exchange apply it now instead of at the next periodic reload of its variant
        configuration, by running C(Get-ExchangeDiagnosticInfo -Server <server> -Process
        Microsoft.Exchange.Directory.TopologyService -Component VariantConfiguration -Argument Refresh) for each
        server the override applies to (O(servers), or every Exchange server except Edge Transport servers when
        the override is organization-wide), as Microsoft's ConfigureExchangeHybridApplication.ps1 does.
      - The cost, paid only when something changed - the server list is read in the same process as the overrides, and
        each refresh is one call in the write process that makes the Topology Service on that server re-read
        the overrides from Active Directory (a few seconds per server on a real organization).
      - A refresh that fails does not undo the change; the module warns and the override takes effect at the next
        reload.
    type: bool
    default: true
notes:
  - Needs the Organization Management or Server Management role group.
  - In check mode nothing is written and no refresh runs; the result and diff predict the change.
seealso:
  - module: exchange.hybrid.exchange_auth_server
  - module: exchange.hybrid.msol_sp_credential
  - name: New-SettingOverride
    description: Microsoft's cmdlet reference.
    link: https://learn.microsoft.com/powershell/module/exchangepowershell/new-settingoverride
author:
  - exchange.hybrid contributors (@exchange-hybrid)
extends_documentation_fragment:
  - exchange.hybrid.exchange_connection
  - exchange.hybrid.attributes
  - exchange.hybrid.attributes.action_plugin
  - exchange.hybrid.actiongroup_exchange
"""

EXAMPLES = r"""
- name: Let Exchange use the dedicated hybrid application (once per organization)
  exchange.hybrid.exchange_setting_override:
    name: EnableExchangeHybrid3PAppFeature
    component: Global
    section: ExchangeOnpremAsThirdPartyAppId
    parameters:
      - Enabled=true
    reason: Dedicated Exchange hybrid application (exchange.hybrid)
  run_once: true

- name: Remove it again
  exchange.hybrid.exchange_setting_override:
    name: EnableExchangeHybrid3PAppFeature
    state: absent
  run_once: true
"""

RETURN = r"""
override:
  description: The override after the task (predicted in check mode); null when it does not exist.
  returned: always
  type: dict
  contains:
    name:
      description: Name.
      type: str
    component:
      description: ComponentName.
      type: str
    section:
      description: SectionName.
      type: str
    parameters:
      description: Parameters.
      type: list
      elements: str
    reason:
      description: Reason.
      type: str
    servers:
      description: Server (empty when organization-wide).
      type: list
      elements: str
  sample:
    name: EnableExchangeHybrid3PAppFeature
    component: Global
    section: ExchangeOnpremAsThirdPartyAppId
    parameters: [Enabled=true]
    reason: Dedicated Exchange hybrid application
    servers: []
action:
  description: What the module did (or would do in check mode).
  returned: always
  type: str
  sample: created
  choices: [none, created, recreated, removed]
refreshed_servers:
  description: The servers whose variant configuration was refreshed.
  returned: always
  type: list
  elements: str
  sample: [EX01, EX02]
diff:
  description: The override before and after.
  returned: when diff mode is on
  type: dict
"""

import re

from ansible_collections.exchange.hybrid.plugins.module_utils._errors import ExchangeCommandError
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange import call
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange_module import exchange_module
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange_object import (
    ExchangeObject,
    Property,
    run_exchange_object,
    same_set,
    same_text,
)

DEFAULT_REASON = "Managed by the exchange.hybrid Ansible collection"
OVERRIDE_PROPERTIES = ["Name", "Identity", "ComponentName", "SectionName", "Parameters", "Reason", "Server"]
PARAMETER_RE = re.compile(r"^\s*[^=\s][^=]*=")
REFRESH = {
    "Process": "Microsoft.Exchange.Directory.TopologyService",
    "Component": "VariantConfiguration",
    "Argument": "Refresh",
}


def _list(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value if item is not None and str(item) != ""]
    return [str(value)] if str(value) else []


def normalise_parameter(entry: str) -> str:
    key, _sep, value = entry.partition("=")
    return f"{key.strip()}={value.strip()}"


def same_parameters(current, wanted) -> bool:
    """Key=Value entries in any order, ignoring case and spaces around '='."""
    return sorted(normalise_parameter(p).casefold() for p in current or []) == sorted(
        normalise_parameter(p).casefold() for p in wanted or []
    )


def view(row: dict | None) -> dict | None:
    if row is None:
        return None
    return {
        "name": row.get("Name"),
        "component": row.get("ComponentName"),
        "section": row.get("SectionName"),
        "parameters": _list(row.get("Parameters")),
        "reason": row.get("Reason"),
        "servers": _list(row.get("Server")),
    }


def locate(run, rows: list) -> dict | None:
    # Get-SettingOverride without -Identity: a $null or unknown identity returns every override anyway.
    name = run.params["name"]
    for row in rows or []:
        if str(row.get("Name") or "").casefold() == name.casefold():
            return row
    return None


def validate(params: dict) -> str | None:
    if not params["name"].strip():
        return "name must not be empty"
    if params["state"] == "absent":
        return None
    for key in ("component", "section"):
        if not (params[key] or "").strip():
            return f"{key} must not be empty when state is present"
    if not params["parameters"]:
        return "parameters must list at least one Key=Value entry when state is present"
    for entry in params["parameters"]:
        if not PARAMETER_RE.match(entry or ""):
            return f"each entry of parameters must read Key=Value, such as Enabled=true; got {entry!r}"
    for server in params["servers"] or []:
        if not (server or "").strip():
            return "servers must not contain empty names"
    return None


def reads(run) -> list:
    calls = [call("Get-SettingOverride", properties=OVERRIDE_PROPERTIES)]
    if run.params["refresh_variant_configuration"] and not run.params["servers"]:
        calls.append(call("Get-ExchangeServer", properties=["Name", "Fqdn", "IsEdgeServer"]))
    return calls


def desired(run) -> dict | None:
    params = run.params
    if params["state"] == "absent":
        return None
    wanted = dict(run.given(), servers=list(params["servers"] or []))
    if params["reason"] is None:
        # A new override needs a reason; an existing one's is not compared.
        if run.before is None:
            wanted["reason"] = DEFAULT_REASON
        else:
            wanted.pop("reason", None)
    return wanted


def remove(run) -> list:
    return [call("Remove-SettingOverride", Identity=run.params["name"], Confirm=False)]


def create(run) -> list:
    keys = ["name", "component", "section", "parameters", "reason"] + (["servers"] if run.after["servers"] else [])
    return [call("New-SettingOverride", **dict(run.parameters(keys), Name=run.params["name"]))]


def recreate(run) -> list:
    # Set-SettingOverride cannot change the component or section: remove and create again, keeping the reason.
    run.after["reason"] = run.after.get("reason") or DEFAULT_REASON
    return remove(run) + create(run)


def refresh_targets(run) -> list[str]:
    params = run.params
    if not params["refresh_variant_configuration"]:
        return []
    if params["servers"]:
        return list(params["servers"])
    return [str(row.get("Name")) for row in run.outputs[1] or [] if row.get("Name") and not row.get("IsEdgeServer")]


def planned(run) -> None:
    name, after = run.params["name"], run.after
    action = {"updated": "recreated"}.get(run.action, run.action)
    run.result.update(action=action, refreshed_servers=[])
    run.data["refresh"] = refresh_targets(run) if action != "none" else []
    for other in run.outputs[0] or []:
        other_name = str(other.get("Name") or "")
        if (
            after is not None
            and other_name.casefold() != name.casefold()
            and same_text(other.get("ComponentName"), after["component"])
            and same_text(other.get("SectionName"), after["section"])
        ):
            run.module.warn(
                f"The setting override {other_name!r} also sets {after['component']}\\{after['section']}; "
                f"Exchange applies both. It was left unchanged."
            )
    if run.module.check_mode and action != "none":
        targets = run.data["refresh"]
        run.result["msg"] = f"Check mode: would {action[:-1]} the setting override {name}" + (
            " and refresh the variant configuration on " + ", ".join(targets) if targets else ""
        )


def refreshes(run) -> list:
    return [call("Get-ExchangeDiagnosticInfo", Server=server, **REFRESH) for server in run.data["refresh"]]


def refreshed(run, done: int, error) -> None:
    targets = run.data["refresh"]
    run.result["refreshed_servers"] = targets[:done]
    if error is not None:
        run.module.warn(
            f"The setting override {run.params['name']} was {run.result['action']}, but refreshing the variant "
            f"configuration on {targets[done]} failed ({error.msg}); it takes effect there at the next reload."
        )


def failure(run, stage: str, error) -> str:
    if stage == "read":
        return "read the setting overrides"
    verb = "remove" if run.action == "removed" and isinstance(error, ExchangeCommandError) else "write"
    return f"{verb} the setting override {run.params['name']}"


SETTING_OVERRIDE = ExchangeObject(
    properties=[
        Property("name", "Name", compare=same_text),
        Property("component", "Component", compare=same_text),
        Property("section", "Section", compare=same_text),
        Property("parameters", "Parameters", compare=same_parameters),
        Property("reason", "Reason"),
        Property("servers", "Server", compare=same_set),
    ],
    reads=reads,
    locate=locate,
    view=view,
    validate=validate,
    desired=desired,
    new=create,
    update=recreate,
    remove=remove,
    planned=planned,
    follow_ups=refreshes,
    followed_up=refreshed,
    failure=failure,
    mismatch=lambda run, actual: f"The setting override {run.params['name']} does not read back as written: {actual!r}",
    result_key="override",
    absent_diff={},
)


def main() -> None:
    argument_spec = dict(
        name=dict(type="str", required=True),
        component=dict(type="str"),
        section=dict(type="str"),
        parameters=dict(type="list", elements="str", no_log=False),
        reason=dict(type="str"),
        servers=dict(type="list", elements="str"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        refresh_variant_configuration=dict(type="bool", default=True),
    )
    module = exchange_module(argument_spec, required_if=[("state", "present", ("component", "section", "parameters"))])
    run_exchange_object(module, SETTING_OVERRIDE)


if __name__ == "__main__":
    main()
