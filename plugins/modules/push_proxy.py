# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: push_proxy
short_description: Enable or disable the Outlook on the web push notification proxy of an Exchange organization
version_added: 0.1.0
description:
  - Step 4 of Microsoft's procedure for push notifications to Outlook on the web for devices. Reads the
    organization's C(OnPrem-Proxy) push notification app and runs C(Enable-PushNotificationProxy) or
    C(Disable-PushNotificationProxy) only when its state differs from the one requested.
  - The setting is organization-wide. In a play over several Exchange servers run it once (C(run_once)).
  - One PowerShell process reads the app; one more runs the change (and reads the result back) only when
    something must change and not in check mode.
options:
  organization:
    description:
      - The Microsoft 365 tenant domain the proxy sends notifications for, for example
        C(contoso.onmicrosoft.com). Passed to C(Enable-PushNotificationProxy -Organization).
      - Required when O(state=enabled). Compared case-insensitively (Exchange stores it as given, the documented
        sample shows it lower-cased).
    type: str
  uri:
    description:
      - The push notification service endpoint, passed to C(Enable-PushNotificationProxy -Uri).
      - When omitted, the current value is kept and Exchange uses its default
        V(https://outlook.office365.com/PushNotifications) when none is set.
      - Must be an C(https://) URL. Compared ignoring case and a trailing slash.
    type: str
  state:
    description:
      - V(enabled) enables the proxy for O(organization) (and O(uri)).
      - V(disabled) disables the proxy; the organization and URI stay as they are.
    type: str
    choices: [enabled, disabled]
    default: enabled
notes:
  - Microsoft publishes no reference page for C(Get-PushNotificationApp) (it is absent from the
    office-docs-powershell repository and its whole history). This module relies only on what Microsoft's push
    notification article shows as the output of C(Enable-PushNotificationProxy), which is the C(OnPrem-Proxy)
    app object with the properties C(Name)/C(Identity) C(OnPrem-Proxy), C(DisplayName) C(On Premises Proxy app),
    C(Enabled), C(Organization) and C(Uri); and on the inference that C(Get-PushNotificationApp) returns that same
    object. It is called without C(-Identity) (a C($null) or unknown identity returns every object anyway) and
    the C(OnPrem-Proxy) app is picked by name, so a missing app reads as disabled instead of failing. The bundled
    simulator models exactly this object. Verify on a lab server before relying on other properties.
  - C(Disable-PushNotificationProxy) has a built-in pause, so both cmdlets are called with C(-Confirm:$false).
  - Needs the Organization Management or Recipient Management role group.
seealso:
  - module: exchange.hybrid.exchange_monitoring_probe
  - module: exchange.hybrid.exchange_auth_server
  - name: Configure push notifications proxying for OWA for Devices
    description: Microsoft's procedure (Exchange 2013 documentation).
    link: https://learn.microsoft.com/previous-versions/exchange-server/exchange-150/dn511017(v=exchg.150)
author:
  - exchange.hybrid contributors (@exchange-hybrid)
extends_documentation_fragment:
  - exchange.hybrid.exchange_connection
  - exchange.hybrid.attributes
  - exchange.hybrid.attributes.action_plugin
  - exchange.hybrid.actiongroup_exchange
"""

EXAMPLES = r"""
- name: Enable the push notification proxy for the tenant (once per organization)
  exchange.hybrid.push_proxy:
    organization: contoso.onmicrosoft.com
  run_once: true

- name: Audit only
  exchange.hybrid.push_proxy:
    organization: contoso.onmicrosoft.com
  check_mode: true
  register: proxy

- name: Roll back
  exchange.hybrid.push_proxy:
    state: disabled
  run_once: true
"""

RETURN = r"""
enabled:
  description: Whether the proxy is enabled after the task (predicted in check mode).
  returned: always
  type: bool
  sample: true
organization:
  description: The organization the proxy is configured for after the task (predicted in check mode).
  returned: always
  type: str
  sample: contoso.onmicrosoft.com
uri:
  description: The push notification service endpoint after the task; null when Exchange reports none.
  returned: always
  type: str
  sample: https://outlook.office365.com/PushNotifications
found:
  description: Whether the C(OnPrem-Proxy) push notification app existed before the task.
  returned: always
  type: bool
  sample: true
diff:
  description: The proxy's C(enabled), C(organization) and C(uri) before and after.
  returned: when diff mode is on
  type: dict
  sample: {"before": {"enabled": false}, "after": {"enabled": true}}
"""

from urllib.parse import urlsplit

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.exchange.hybrid.plugins.module_utils._errors import ExchangeError, fail_from_error
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange import call
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange_module import client_for, exchange_module
from ansible_collections.exchange.hybrid.plugins.module_utils._values import is_domain_name

PROXY_APP_NAME = "OnPrem-Proxy"
APP_PROPERTIES = ["Name", "Identity", "DisplayName", "Enabled", "Organization", "Uri"]


def _same_text(left: str | None, right: str | None) -> bool:
    return (left or "").casefold() == (right or "").casefold()


def _same_uri(left: str | None, right: str | None) -> bool:
    return (left or "").rstrip("/").casefold() == (right or "").rstrip("/").casefold()


def find_proxy_app(apps: list) -> dict | None:
    for app in apps or []:
        for key in ("Name", "Identity"):
            if _same_text(str(app.get(key) or ""), PROXY_APP_NAME):
                return app
    return None


def snapshot(app: dict | None) -> dict:
    if app is None:
        return {"enabled": False, "organization": None, "uri": None}
    return {"enabled": bool(app.get("Enabled")), "organization": app.get("Organization"), "uri": app.get("Uri")}


def desired(before: dict, state: str, organization: str | None, uri: str | None) -> dict:
    after = dict(before)
    if state == "disabled":
        after["enabled"] = False
        return after
    after["enabled"] = True
    if not _same_text(before["organization"], organization):
        after["organization"] = organization
    if uri is not None and not _same_uri(before["uri"], uri):
        after["uri"] = uri
    return after


def needs_change(before: dict, after: dict) -> bool:
    return (
        before["enabled"] != after["enabled"]
        or not _same_text(before["organization"], after["organization"])
        or not _same_uri(before["uri"], after["uri"])
    )


def validate(module: AnsibleModule) -> None:
    organization = module.params["organization"]
    uri = module.params["uri"]
    if organization is not None and not is_domain_name(organization):
        module.fail_json(
            msg=f"organization must be the tenant's domain name, such as contoso.onmicrosoft.com; got {organization!r}"
        )
    if uri is not None:
        parts = urlsplit(uri)
        if parts.scheme != "https" or not parts.hostname:
            module.fail_json(
                msg=f"uri must be an https:// URL such as https://outlook.office365.com/PushNotifications; got {uri!r}"
            )


def main() -> None:
    argument_spec = dict(
        organization=dict(type="str"),
        uri=dict(type="str"),
        state=dict(type="str", choices=["enabled", "disabled"], default="enabled"),
    )
    module = exchange_module(argument_spec, required_if=[("state", "enabled", ("organization",))])
    validate(module)
    params = module.params
    client = client_for(module)
    read = call("Get-PushNotificationApp", properties=APP_PROPERTIES)

    try:
        apps = client.run([read])[0]
    except ExchangeError as err:
        fail_from_error(module, err, "read the push notification proxy (OnPrem-Proxy app)")

    app = find_proxy_app(apps)
    before = snapshot(app)
    after = desired(before, params["state"], params["organization"], params["uri"])
    changed = needs_change(before, after)
    result = dict(changed=changed, found=app is not None, **after)
    if module._diff:
        result["diff"] = {"before": before, "after": after}

    if changed and not module.check_mode:
        if params["state"] == "disabled":
            write = call("Disable-PushNotificationProxy", Confirm=False)
        else:
            arguments = {"Organization": params["organization"], "Confirm": False}
            if params["uri"] is not None:
                arguments["Uri"] = params["uri"]
            write = call("Enable-PushNotificationProxy", **arguments)
        try:
            written = find_proxy_app(client.run([write, read])[1])
        except ExchangeError as err:
            verb = "disable" if params["state"] == "disabled" else "enable"
            fail_from_error(module, err, f"{verb} the push notification proxy", **result)
        actual = snapshot(written)
        # Enable without -Uri may fill in Exchange's default endpoint: only a requested URI is checked.
        expected = dict(after, uri=actual["uri"]) if params["uri"] is None else after
        if needs_change(actual, expected):
            module.fail_json(
                msg=f"{write['cmdlet']} ran but the OnPrem-Proxy app now reads enabled={actual['enabled']}, "
                f"organization={actual['organization']!r}, uri={actual['uri']!r}",
                **result,
            )
        result.update(actual)
        if module._diff:
            result["diff"]["after"] = actual

    module.exit_json(**result)


if __name__ == "__main__":
    main()
