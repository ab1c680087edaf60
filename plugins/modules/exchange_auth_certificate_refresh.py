#!/usr/bin/python
# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: exchange_auth_certificate_refresh
short_description: Make one Exchange server pick up a new current Auth certificate at once
version_added: 0.1.0
description:
  - After a new Auth certificate became AuthConfig's current certificate (assigned or replaced now, or a staged one
    that reached its effective date), Exchange's services pick it up only when the AuthAdmin servicelet next runs.
    Microsoft's MonitorExchangeAuthCertificate.ps1 speeds that up by restarting the C(MSExchangeServiceHost)
    service and recycling the C(MSExchangeOWAAppPool) and C(MSExchangeECPAppPool) application pools; this module
    does the same on the server it connects to, as one fixed host script on the server's default WinRM endpoint.
  - Each server its own task host (the restart happens where the module connects), like
    M(exchange.hybrid.exchange_monitoring_probe)'s restart of the health service.
  - Idempotent. The server remembers the thumbprint it was refreshed for (the registry value
    C(AuthCertificateRefreshedFor) under C(HKLM:\SOFTWARE\exchange.hybrid)); when it is O(thumbprint) already,
    nothing is restarted. The value is written only once the service and both pools were restarted, so a pool that
    could not be recycled is tried again on the next run.
options:
  thumbprint:
    description:
      - The thumbprint of AuthConfig's current Auth certificate, the one the server must pick up
        (M(exchange.hybrid.exchange_oauth_cert)'s RV(exchange.hybrid.exchange_oauth_cert#module:thumbprint)).
      - 40 hexadecimal characters (spaces and colons are ignored).
    type: str
    required: true
notes:
  - In check mode the module only compares the remembered thumbprint (the host script with C(-CheckOnly)) and
    reports in RV(restarted) what it would restart.
  - A pool that cannot be recycled is a warning, not a failure, as in Microsoft's script (the certificate is
    current either way; the AuthAdmin servicelet picks it up later). A failed service restart fails the task.
  - The account needs the rights to restart services and recycle IIS application pools on the server (local
    Administrators), beside access to the default WinRM endpoint.
seealso:
  - module: exchange.hybrid.exchange_oauth_cert
  - name: MonitorExchangeAuthCertificate.ps1
    description: Microsoft's Auth certificate script (CSS-Exchange), whose restarts this module repeats.
    link: https://microsoft.github.io/CSS-Exchange/Admin/MonitorExchangeAuthCertificate/
author:
  - exchange.hybrid contributors (@exchange-hybrid)
extends_documentation_fragment:
  - exchange.hybrid.exchange_connection
  - exchange.hybrid.attributes
  - exchange.hybrid.attributes.action_plugin
  - exchange.hybrid.actiongroup_exchange
"""

EXAMPLES = r"""
- name: The Auth certificate
  exchange.hybrid.exchange_oauth_cert:
  run_once: true
  register: oauth_cert

- name: Every mailbox server picks up the current Auth certificate (each server its own task host)
  exchange.hybrid.exchange_auth_certificate_refresh:
    thumbprint: "{{ oauth_cert.thumbprint }}"
  when: oauth_cert.thumbprint is not none
"""

RETURN = r"""
server:
  description: The server's computer name.
  returned: success
  type: str
  sample: EX01
thumbprint:
  description: The certificate the server was refreshed for (normalized O(thumbprint)).
  returned: success
  type: str
  sample: 7A39541F8DF58D4821967DD8F899B27410F7C081
refreshed_for:
  description: The thumbprint the server had been refreshed for before this run (null when never).
  returned: success
  type: str
restarted:
  description:
    - What was restarted (C(MSExchangeServiceHost)) and recycled (C(MSExchangeOWAAppPool),
      C(MSExchangeECPAppPool)); in check mode what would be. Empty when nothing was needed.
  returned: success
  type: list
  elements: str
  sample: [MSExchangeServiceHost, MSExchangeOWAAppPool, MSExchangeECPAppPool]
failed:
  description: The application pools that could not be recycled, with the reason (also warnings).
  returned: success
  type: list
  elements: str
"""

from typing import Any

from ansible_collections.exchange.hybrid.plugins.module_utils._errors import ExchangeError, ExchangeInputError, fail_from_error
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange import host_script
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange_module import client_for, diff_result, exchange_module
from ansible_collections.exchange.hybrid.plugins.module_utils._values import normalize_thumbprint

ARGUMENT_SPEC = dict(
    thumbprint=dict(type="str", required=True),
)
PROPERTIES = ["ComputerName", "RefreshedFor", "Needed", "Restarted", "Failed"]
# What the host script restarts, in its order (for check mode's prediction).
RESTARTS = ["MSExchangeServiceHost", "MSExchangeOWAAppPool", "MSExchangeECPAppPool"]


def refresh_call(thumbprint: str, check_only: bool) -> dict:
    extra = {"CheckOnly": True} if check_only else {}
    return host_script("auth_certificate_refresh", PROPERTIES, Thumbprint=thumbprint, **extra)


def refresh(module: Any) -> dict:
    """One host script: it compares the remembered thumbprint and restarts only when the server was not refreshed
    for this one (check mode: -CheckOnly, it only compares)."""
    check = module.check_mode
    [row] = client_for(module).run([refresh_call(module.params["thumbprint"], check_only=check)])[0]
    needed = bool(row["Needed"])
    restarted = (RESTARTS if needed else []) if check else list(row["Restarted"] or [])
    return outcome(module, row, restarted, [] if check else list(row["Failed"] or []), needed)


def outcome(module: Any, row: dict, restarted: list, failed: list, changed: bool) -> dict:
    for problem in failed:
        module.warn("could not recycle %s; the AuthAdmin servicelet picks the certificate up later" % problem)
    thumbprint = module.params["thumbprint"]
    result = dict(
        changed=changed,
        server=row.get("ComputerName"),
        thumbprint=thumbprint,
        refreshed_for=row.get("RefreshedFor") or None,
        restarted=restarted,
        failed=failed,
    )
    after = thumbprint if changed and not failed else row.get("RefreshedFor") or None
    return diff_result(module, result, {"refreshed_for": row.get("RefreshedFor") or None}, {"refreshed_for": after})


def main() -> None:
    module = exchange_module(ARGUMENT_SPEC)
    try:
        module.params["thumbprint"] = normalize_thumbprint(module.params["thumbprint"], "thumbprint")
    except ExchangeInputError as exc:
        module.fail_json(msg=exc.msg)
    try:
        module.exit_json(**refresh(module))
    except ExchangeError as exc:
        fail_from_error(module, exc, "refresh the Auth certificate on %s" % module.params["server"], changed=False)


if __name__ == "__main__":
    main()
