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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.exchange.hybrid.plugins.module_utils._errors import (
    ExchangeCommandError,
    ExchangeError,
    fail_from_error,
)
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange import call
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange_module import client_for, exchange_module

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


def snapshot(row: dict | None) -> dict | None:
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


def find_override(rows: list, name: str) -> dict | None:
    # Get-SettingOverride without -Identity: a $null or unknown identity returns every override anyway.
    for row in rows or []:
        if str(row.get("Name") or "").casefold() == name.casefold():
            return row
    return None


def differences(current: dict, wanted: dict, compare_reason: bool) -> list[str]:
    found = []
    for key in ("component", "section"):
        if (current[key] or "").casefold() != (wanted[key] or "").casefold():
            found.append(key)
    if sorted(normalise_parameter(p).casefold() for p in current["parameters"]) != sorted(
        normalise_parameter(p).casefold() for p in wanted["parameters"]
    ):
        found.append("parameters")
    if {s.casefold() for s in current["servers"]} != {s.casefold() for s in wanted["servers"]}:
        found.append("servers")
    if compare_reason and (current["reason"] or "") != (wanted["reason"] or ""):
        found.append("reason")
    return found


def validate(module: AnsibleModule) -> None:
    params = module.params
    if not params["name"].strip():
        module.fail_json(msg="name must not be empty")
    if params["state"] == "absent":
        return
    for key in ("component", "section"):
        if not (params[key] or "").strip():
            module.fail_json(msg=f"{key} must not be empty when state is present")
    if not params["parameters"]:
        module.fail_json(msg="parameters must list at least one Key=Value entry when state is present")
    for entry in params["parameters"]:
        if not PARAMETER_RE.match(entry or ""):
            module.fail_json(msg=f"each entry of parameters must read Key=Value, such as Enabled=true; got {entry!r}")
    for server in params["servers"] or []:
        if not (server or "").strip():
            module.fail_json(msg="servers must not contain empty names")


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
    validate(module)
    params = module.params
    name = params["name"]
    refresh = params["refresh_variant_configuration"]
    client = client_for(module)

    reads = [call("Get-SettingOverride", properties=OVERRIDE_PROPERTIES)]
    if refresh and not params["servers"]:
        reads.append(call("Get-ExchangeServer", properties=["Name", "Fqdn", "IsEdgeServer"]))
    try:
        outputs = client.run(reads)
    except ExchangeError as err:
        fail_from_error(module, err, "read the setting overrides")

    before = snapshot(find_override(outputs[0], name))
    wanted = None
    if params["state"] == "present":
        wanted = {
            "name": name,
            "component": params["component"],
            "section": params["section"],
            "parameters": list(params["parameters"]),
            "reason": params["reason"] if params["reason"] is not None else DEFAULT_REASON,
            "servers": list(params["servers"] or []),
        }

    if wanted is None:
        action = "removed" if before is not None else "none"
        after = None
    elif before is None:
        action, after = "created", wanted
    else:
        changed_keys = differences(before, wanted, compare_reason=params["reason"] is not None)
        if changed_keys:
            action, after = "recreated", wanted
        else:
            action, after = "none", before
        if params["reason"] is None and action == "recreated":
            # Keep the existing reason when the user did not give one.
            after = dict(wanted, reason=before["reason"] or DEFAULT_REASON)

    refresh_targets: list[str] = []
    if action != "none" and refresh:
        if params["servers"]:
            refresh_targets = list(params["servers"])
        else:
            refresh_targets = [
                str(row.get("Name")) for row in outputs[1] or [] if row.get("Name") and not row.get("IsEdgeServer")
            ]

    result = dict(changed=action != "none", action=action, override=after, refreshed_servers=[])
    if module._diff:
        result["diff"] = {"before": before or {}, "after": after or {}}
    for other in outputs[0] or []:
        other_name = str(other.get("Name") or "")
        if (
            after is not None
            and other_name.casefold() != name.casefold()
            and str(other.get("ComponentName") or "").casefold() == after["component"].casefold()
            and str(other.get("SectionName") or "").casefold() == after["section"].casefold()
        ):
            module.warn(
                f"The setting override {other_name!r} also sets {after['component']}\\{after['section']}; "
                f"Exchange applies both. It was left unchanged."
            )

    if action == "none" or module.check_mode:
        if module.check_mode and action != "none":
            result["msg"] = f"Check mode: would {action[:-1]} the setting override {name}" + (
                " and refresh the variant configuration on " + ", ".join(refresh_targets) if refresh_targets else ""
            )
        module.exit_json(**result)

    writes = []
    if action in ("removed", "recreated"):
        writes.append(call("Remove-SettingOverride", Identity=name, Confirm=False))
    if action in ("created", "recreated"):
        arguments = {
            "Name": name,
            "Component": after["component"],
            "Section": after["section"],
            "Parameters": after["parameters"],
            "Reason": after["reason"],
        }
        if after["servers"]:
            arguments["Server"] = after["servers"]
        writes.append(call("New-SettingOverride", **arguments))
    writes.append(call("Get-SettingOverride", properties=OVERRIDE_PROPERTIES))
    reread_index = len(writes) - 1
    writes.extend(call("Get-ExchangeDiagnosticInfo", Server=server, **REFRESH) for server in refresh_targets)

    try:
        written = client.run(writes)
    except ExchangeCommandError as err:
        if err.cmdlet == "Get-ExchangeDiagnosticInfo" and err.index is not None and err.index > reread_index:
            failed = refresh_targets[err.index - reread_index - 1]
            result["refreshed_servers"] = refresh_targets[: err.index - reread_index - 1]
            module.warn(
                f"The setting override {name} was {action}, but refreshing the variant configuration on {failed} "
                f"failed ({err.msg}); it takes effect there at the next reload."
            )
            module.exit_json(**result)
        fail_from_error(
            module, err, f"{'remove' if action == 'removed' else 'write'} the setting override {name}", **result
        )
    except ExchangeError as err:
        fail_from_error(module, err, f"write the setting override {name}", **result)

    actual = snapshot(find_override(written[reread_index], name))
    if (actual is None) != (after is None) or (actual and differences(actual, after, compare_reason=True)):
        module.fail_json(msg=f"The setting override {name} does not read back as written: {actual!r}", **result)
    result.update(override=actual, refreshed_servers=refresh_targets)
    if module._diff:
        result["diff"]["after"] = actual or {}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
