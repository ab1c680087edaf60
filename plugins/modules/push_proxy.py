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

from ansible_collections.exchange.hybrid.plugins.module_utils._exchange import call
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange_module import exchange_module
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange_object import (
    ExchangeObject,
    Property,
    run_exchange_object,
    same_bool,
    same_text,
    same_uri,
)
from ansible_collections.exchange.hybrid.plugins.module_utils._values import is_domain_name

PROXY_APP_NAME = "OnPrem-Proxy"
APP_PROPERTIES = ["Name", "Identity", "DisplayName", "Enabled", "Organization", "Uri"]


def locate(_run, apps: list) -> dict | None:
    for app in apps or []:
        for key in ("Name", "Identity"):
            if same_text(str(app.get(key) or ""), PROXY_APP_NAME):
                return app
    return None


def view(app: dict | None) -> dict:
    # A missing OnPrem-Proxy app reads as a disabled proxy.
    if app is None:
        return {"enabled": False, "organization": None, "uri": None}
    return {"enabled": bool(app.get("Enabled")), "organization": app.get("Organization"), "uri": app.get("Uri")}


def validate(params: dict) -> str | None:
    organization, uri = params["organization"], params["uri"]
    if organization is not None and not is_domain_name(organization):
        return f"organization must be the tenant's domain name, such as contoso.onmicrosoft.com; got {organization!r}"
    if uri is not None:
        parts = urlsplit(uri)
        if parts.scheme != "https" or not parts.hostname:
            return f"uri must be an https:// URL such as https://outlook.office365.com/PushNotifications; got {uri!r}"
    return None


def desired(run) -> dict:
    if run.params["state"] == "disabled":
        return {"enabled": False}
    # Only a requested URI is managed: Enable without -Uri keeps the current one or fills in Exchange's default.
    return dict(run.given(), enabled=True)


def write(run) -> list:
    if run.params["state"] == "disabled":
        return [call("Disable-PushNotificationProxy", Confirm=False)]
    arguments = {"Organization": run.params["organization"], "Confirm": False}
    if run.params["uri"] is not None:
        arguments["Uri"] = run.params["uri"]
    return [call("Enable-PushNotificationProxy", **arguments)]


def failure(run, stage: str, _error) -> str:
    if stage == "read":
        return "read the push notification proxy (OnPrem-Proxy app)"
    return "%s the push notification proxy" % ("disable" if run.params["state"] == "disabled" else "enable")


def mismatch(run, actual: dict) -> str:
    cmdlet = "Disable-PushNotificationProxy" if run.params["state"] == "disabled" else "Enable-PushNotificationProxy"
    return (
        f"{cmdlet} ran but the OnPrem-Proxy app now reads enabled={actual['enabled']}, "
        f"organization={actual['organization']!r}, uri={actual['uri']!r}"
    )


def found(run) -> dict | None:
    app = locate(run, run.outputs[0])
    run.result["found"] = app is not None
    return app


PUSH_PROXY = ExchangeObject(
    properties=[
        Property("enabled", option=None, compare=same_bool),
        Property("organization", "Organization", compare=same_text),
        Property("uri", "Uri", compare=same_uri),
    ],
    reads=lambda run: [call("Get-PushNotificationApp", properties=APP_PROPERTIES)],
    locate=locate,
    find=found,
    view=view,
    validate=validate,
    desired=desired,
    new=write,
    update=write,
    failure=failure,
    mismatch=mismatch,
)


def main() -> None:
    argument_spec = dict(
        organization=dict(type="str"),
        uri=dict(type="str"),
        state=dict(type="str", choices=["enabled", "disabled"], default="enabled"),
    )
    module = exchange_module(argument_spec, required_if=[("state", "enabled", ("organization",))])
    run_exchange_object(module, PUSH_PROXY)


if __name__ == "__main__":
    main()
