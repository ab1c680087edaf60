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
  - An override under another name (the one the Hybrid Configuration Wizard or Microsoft's script made) that already
    sets the same O(component), O(section), O(parameters) and O(servers) is adopted instead of creating O(name)
    beside it; RV(adopted) and RV(name) say so. Its reason is not compared.
  - Several overrides for the same component and section are a finding (HealthChecker's C(MultipleSettingOverrides) -
    Exchange applies all of them and the feature's state cannot be told). The module reports the others in
    RV(duplicates) with the commands that remove them (RV(duplicates_fix)) and warns; when they set other values than
    asked it fails before any change. With O(remove_duplicates=true) it removes them after its own override is in
    place.
  - The DAuth guard - before it creates the override that turns the dedicated hybrid application on
    (C(Global\\ExchangeOnpremAsThirdPartyAppId) with C(Enabled=true)), the module checks in the same read what
    Microsoft's C(ConfigureExchangeHybridApplication.ps1) checks (CSS-Exchange pull request 2399) - an enabled
    C(Exchange Online) partner application (C(Get-PartnerApplication)) and at least one enabled
    IntraOrganizationConnector (C(Get-IntraOrganizationConnector)). Without them hybrid uses DAuth, and the override
    would break free/busy, MailTips and profile photos; the module refuses with the reason and the fix, before any
    change and in check mode too, unless O(allow_without_oauth_hybrid=true). RV(oauth_hybrid) shows what it found.
  - Besides the duplicates removed on request, only the override named O(name) (or the adopted one) is ever
    changed or removed.
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
  remove_duplicates:
    description:
      - Remove the other overrides of the same component and section (RV(duplicates)) after the wanted one is in
        place, instead of reporting them.
    type: bool
    default: false
  allow_without_oauth_hybrid:
    description:
      - Create the dedicated hybrid application's override even when the organization does not use OAuth for hybrid
        (no enabled C(Exchange Online) partner application or no enabled IntraOrganizationConnector). Microsoft
        warns that free/busy, MailTips and photos then break; use it only when DAuth is not needed.
    type: bool
    default: false
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

- name: The same where HCW already made one - adopted; duplicates for the section removed
  exchange.hybrid.exchange_setting_override:
    name: EnableExchangeHybrid3PAppFeature
    component: Global
    section: ExchangeOnpremAsThirdPartyAppId
    parameters:
      - Enabled=true
    remove_duplicates: true
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
name:
  description: The name of the override used - O(name), or the adopted one's.
  returned: always
  type: str
  sample: EnableExchangeHybrid3PAppFeature
adopted:
  description: True when an override under another name that already does what is asked was used.
  returned: always
  type: bool
duplicates:
  description: The other overrides of the same component and section (HealthChecker's MultipleSettingOverrides).
  returned: when there are any, with O(state=present)
  type: list
  elements: str
  sample: [Hybrid3PApp]
duplicates_fix:
  description: The commands that remove the duplicates.
  returned: when there are duplicates
  type: str
  sample: "Remove-SettingOverride -Identity 'Hybrid3PApp' -Confirm:$false (keeping EnableExchangeHybrid3PAppFeature), or set remove_duplicates to true."
removed_duplicates:
  description: The duplicates removed (predicted in check mode) with O(remove_duplicates=true).
  returned: when duplicates were removed
  type: list
  elements: str
oauth_hybrid:
  description: The DAuth guard's findings, for the dedicated hybrid application's override.
  returned: when the override is C(Global\\ExchangeOnpremAsThirdPartyAppId) with C(Enabled=true) and O(state=present)
  type: dict
  contains:
    passed:
      description: Whether the organization uses OAuth for hybrid (partner application and connector found).
      type: bool
    exchange_online_partner_applications:
      description: The enabled C(Exchange Online) partner applications.
      type: list
      elements: str
    enabled_intra_organization_connectors:
      description: The enabled IntraOrganizationConnectors.
      type: list
      elements: str
    disabled_intra_organization_connectors:
      description: The disabled ones.
      type: list
      elements: str
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
    Refused,
    run_exchange_object,
    same_set,
    same_text,
)
from ansible_collections.exchange.hybrid.plugins.module_utils._setting_overrides import (
    OAUTH_FOUND_KEYS,
    duplicates_finding,
    duplicates_fix,
    in_section,
    keep_order,
    oauth_hybrid,
    same_parameters,
    sets,
    turns_hybrid_application_on,
    values,
)

DEFAULT_REASON = "Managed by the exchange.hybrid Ansible collection"
# WhenCreatedUTC: of several overrides for one section, the oldest is kept or adopted (keep_order).
OVERRIDE_PROPERTIES = ["Name", "Identity", "ComponentName", "SectionName", "Parameters", "Reason", "Server", "WhenCreatedUTC"]
PARAMETER_RE = re.compile(r"^\s*[^=\s][^=]*=")
REFRESH = {
    "Process": "Microsoft.Exchange.Directory.TopologyService",
    "Component": "VariantConfiguration",
    "Argument": "Refresh",
}


def view(row: dict | None) -> dict | None:
    if row is None:
        return None
    return {
        "name": row.get("Name"),
        "component": row.get("ComponentName"),
        "section": row.get("SectionName"),
        "parameters": values(row.get("Parameters")),
        "reason": row.get("Reason"),
        "servers": values(row.get("Server")),
    }


def locate(run, rows: list) -> dict | None:
    # Get-SettingOverride without -Identity: a $null or unknown identity returns every override anyway.
    name = run.result.get("name") or run.params["name"]
    for row in rows or []:
        if str(row.get("Name") or "").casefold() == name.casefold():
            return row
    return None


def same_section(row: dict, params: dict) -> bool:
    return in_section(row, params["component"], params["section"])


def sets_wanted(row: dict, params: dict) -> bool:
    """The override already does what is asked: the same settings for the same servers."""
    return sets(row, params["parameters"], params["servers"])


def find(run) -> dict | None:
    """The override named ``name``; else one under another name (HCW's, Microsoft's script's) that already sets the
    wanted component\\section, parameters and servers: adopted, never a second one beside it."""
    params = run.params
    run.result.update(name=params["name"], adopted=False)
    exact = locate(run, run.outputs[0])
    if params["state"] == "absent" or exact is not None:
        return exact
    candidates = sorted(
        (row for row in run.outputs[0] or [] if same_section(row, params) and sets_wanted(row, params)), key=keep_order
    )
    if not candidates:
        return None
    run.result.update(name=str(candidates[0].get("Name")), adopted=True)
    return candidates[0]


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


def guarded(params: dict) -> bool:
    """The override turns the dedicated hybrid application on: Microsoft's script checks OAuth first (PR #2399)."""
    return params["state"] == "present" and turns_hybrid_application_on(params["component"], params["section"], params["parameters"])


def reads(run) -> list:
    calls = [call("Get-SettingOverride", properties=OVERRIDE_PROPERTIES)]
    if run.params["refresh_variant_configuration"] and not run.params["servers"]:
        run.data["servers_at"] = len(calls)
        calls.append(call("Get-ExchangeServer", properties=["Name", "Fqdn", "IsEdgeServer"]))
    if guarded(run.params):
        run.data["oauth_at"] = len(calls)
        calls.append(call("Get-PartnerApplication", properties=["Name", "ApplicationIdentifier", "Realm", "Enabled"]))
        calls.append(call("Get-IntraOrganizationConnector", properties=["Name", "Enabled", "TargetAddressDomains"]))
    return calls


def desired(run) -> dict | None:
    params = run.params
    if params["state"] == "absent":
        return None
    wanted = dict(run.given(), servers=list(params["servers"] or []), name=run.result["name"])
    if params["reason"] is None or run.result["adopted"]:
        # A new override needs a reason; an existing one's is not compared, nor an adopted one's.
        if run.before is None:
            wanted["reason"] = params["reason"] or DEFAULT_REASON
        else:
            wanted.pop("reason", None)
    run.data["duplicates"] = duplicates(run)
    judge_duplicates(run)
    return wanted


def duplicates(run) -> list:
    """The other overrides of the same component\\section: HealthChecker's MultipleSettingOverrides finding."""
    used = run.result["name"].casefold()
    return [
        row
        for row in run.outputs[0] or []
        if same_section(row, run.params) and str(row.get("Name") or "").casefold() != used
    ]


def judge_duplicates(run) -> None:
    """Several overrides for one section: report them; remove them on request (after ours is in place); refuse,
    before any change, when they disagree."""
    rows, params, kept = run.data["duplicates"], run.params, run.result["name"]
    if not rows:
        return
    names = [str(row.get("Name")) for row in rows]
    fix = duplicates_fix(rows, kept)
    run.result.update(duplicates=names, duplicates_fix=fix)
    if params["remove_duplicates"]:
        run.result["removed_duplicates"] = names
        run.extra_writes = [call("Remove-SettingOverride", Identity=name, Confirm=False) for name in names]
        return
    finding = duplicates_finding(rows, params["component"], params["section"], kept)
    if any(not sets_wanted(row, params) for row in rows):
        raise Refused(
            "Failed to configure the setting override %s: %s, and they set other values. Nothing was changed. %s"
            % (kept, finding, fix),
            changed=False,
            override=run.before,
        )
    run.module.warn("%s (HealthChecker's MultipleSettingOverrides). Fix: %s" % (finding, fix))


def guard(run, action: str) -> None:
    """The DAuth guard: refuse to turn the dedicated application on where hybrid does not use OAuth."""
    if "oauth_at" not in run.data:
        return
    at = run.data["oauth_at"]
    found = oauth_hybrid(run.outputs[at], run.outputs[at + 1])
    run.result["oauth_hybrid"] = {key: found[key] for key in OAUTH_FOUND_KEYS}
    if found["passed"]:
        return
    why = found["reason"]
    if action == "none":
        run.module.warn("The setting override %s is in place, but %s." % (run.result["name"], why))
        return
    if run.params["allow_without_oauth_hybrid"]:
        run.module.warn("allow_without_oauth_hybrid is set: going on although %s." % why)
        return
    raise Refused(
        "Refused to %s the setting override %s: %s. Nothing was changed. %s" % (action[:-1], run.result["name"], why, found["fix"]),
        changed=False,
        override=run.before,
    )


def remove(run) -> list:
    return [call("Remove-SettingOverride", Identity=run.result["name"], Confirm=False)]


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
    rows = run.outputs[run.data["servers_at"]] or []
    return [str(row.get("Name")) for row in rows if row.get("Name") and not row.get("IsEdgeServer")]


def planned(run) -> None:
    name = run.result["name"]
    action = {"updated": "recreated"}.get(run.action, run.action)
    run.result.update(action=action, refreshed_servers=[])
    if run.after is not None:
        guard(run, action)
    changes = action != "none" or bool(run.extra_writes)
    run.data["refresh"] = refresh_targets(run) if changes else []
    if run.module.check_mode and changes:
        targets = run.data["refresh"]
        what = ["%s the setting override %s" % (action[:-1], name)] if action != "none" else []
        what += ["remove the duplicate overrides " + ", ".join(run.result["removed_duplicates"])] if run.extra_writes else []
        run.result["msg"] = "Check mode: would " + " and ".join(what) + (
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
    find=find,
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
        remove_duplicates=dict(type="bool", default=False),
        allow_without_oauth_hybrid=dict(type="bool", default=False),
    )
    module = exchange_module(argument_spec, required_if=[("state", "present", ("component", "section", "parameters"))])
    run_exchange_object(module, SETTING_OVERRIDE)


if __name__ == "__main__":
    main()
