# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: exchange_oauth_connectivity
short_description: Prove OAuth between Exchange and Exchange Online with Test-OAuthConnectivity
version_added: 0.1.0
description:
  - Runs C(Test-OAuthConnectivity -Service EWS -TargetUri <Exchange Online EWS URL> -Mailbox <mailbox>) on the
    connected Exchange server, as Microsoft's "Configure OAuth authentication between Exchange and Exchange Online
    organizations" page does to check the set-up, and returns its C(ResultType) (C(Success) or C(Error)), C(Task)
    and C(Detail).
  - A second proof of step 3 of the push notification procedure, beside the push notification probe
    (M(exchange.hybrid.exchange_monitoring_probe)). It succeeds only when Exchange gets a token for the mailbox
    from Microsoft 365 and Exchange Online accepts it, which needs the Auth certificate, the AuthServer for the
    tenant and the certificate's key on the Entra target.
  - A failure is explained (RV(explanation)), with what the detail shows and what to check.
  - The module only tests; it changes nothing (C(changed) is always false) and runs the test in check mode too.
options:
  mailbox:
    description:
      - The on-premises mailbox to test for (C(-Mailbox)), by any value that identifies it, such as its name,
        alias, e-mail address or user principal name.
      - Its user must be synchronized to Microsoft 365 (Microsoft's KB 3090197 names an unsynchronized account
        as a cause of C(401) answers).
    type: str
    required: true
  target_uri:
    description:
      - The URL tested (C(-TargetUri)). Defaults to Exchange Online's EWS URL of O(cloud), for the global cloud
        U(https://outlook.office365.com/EWS/Exchange.asmx).
    type: str
  cloud:
    description:
      - The Microsoft 365 cloud whose Exchange Online EWS URL is the default O(target_uri).
    type: str
    choices: [global, usgovernment_l4, usgovernment_l5, china, bleu, delos]
    default: global
  service:
    description:
      - The partner application tested (C(-Service)).
    type: str
    choices: [EWS, AutoD, Generic]
    default: EWS
  fail_on_failure:
    description:
      - Fail the task unless C(ResultType) is C(Success); the message explains the failure.
      - With V(false) the task succeeds and returns the result for the caller to judge.
    type: bool
    default: true
notes:
  - C(Test-OAuthConnectivity) needs the permissions of the "Partner applications - configure" entry of Exchange's
    Sharing and collaboration permissions (Organization Management has them).
  - The mailbox must exist; Exchange's own error is returned when it does not.
seealso:
  - module: exchange.hybrid.exchange_monitoring_probe
  - module: exchange.hybrid.entra_key_credential_info
  - name: Test-OAuthConnectivity
    description: Microsoft's cmdlet reference.
    link: https://learn.microsoft.com/powershell/module/exchangepowershell/test-oauthconnectivity
  - name: Configure OAuth authentication between Exchange and Exchange Online organizations
    description: Microsoft's procedure, which checks the set-up with Test-OAuthConnectivity.
    link: https://learn.microsoft.com/exchange/configure-oauth-authentication-between-exchange-and-exchange-online-organizations-exchange-2013-help
author:
  - exchange.hybrid contributors (@exchange-hybrid)
extends_documentation_fragment:
  - exchange.hybrid.exchange_connection
  - exchange.hybrid.attributes
  - exchange.hybrid.attributes.action_plugin
  - exchange.hybrid.actiongroup_exchange
"""

EXAMPLES = r"""
- name: Prove OAuth to Exchange Online for a mailbox
  exchange.hybrid.exchange_oauth_connectivity:
    mailbox: administrator@contoso.com
  register: oauth

- name: Judge the result yourself
  exchange.hybrid.exchange_oauth_connectivity:
    mailbox: administrator@contoso.com
    cloud: usgovernment_l4
    fail_on_failure: false
  register: oauth

- name: Show what to check
  ansible.builtin.debug:
    msg: "{{ oauth.explanation }}"
  when: not oauth.succeeded
"""

RETURN = r"""
succeeded:
  description: Whether C(ResultType) is C(Success).
  returned: always
  type: bool
  sample: true
result_type:
  description: The test's C(ResultType), C(Success) or C(Error).
  returned: always
  type: str
  sample: Success
task:
  description: The test's C(Task).
  returned: always
  type: str
  sample: Checking EWS API Call Under Oauth
detail:
  description: The test's C(Detail) (Exchange's outbound OAuth log and the response).
  returned: always
  type: str
  sample: "The configuration was last successfully loaded at ..."
explanation:
  description: What the detail shows and what to check, one line each; empty when the test succeeded.
  returned: always
  type: list
  elements: str
  sample:
    - "Microsoft 365 did not find the Auth certificate's key (AADSTS700027): ..."
target_uri:
  description: The URL tested.
  returned: always
  type: str
  sample: https://outlook.office365.com/EWS/Exchange.asmx
mailbox:
  description: The mailbox tested for.
  returned: always
  type: str
  sample: administrator@contoso.com
service:
  description: The partner application tested.
  returned: always
  type: str
  sample: EWS
"""

from typing import Any, Optional
from urllib.parse import urlsplit

from ansible_collections.exchange.hybrid.plugins.module_utils._clouds import CLOUD_CHOICES, CLOUDS
from ansible_collections.exchange.hybrid.plugins.module_utils._errors import ExchangeError, fail_from_error
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange import call
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange_module import client_for, exchange_module

ARGUMENT_SPEC = dict(
    mailbox=dict(type="str", required=True),
    target_uri=dict(type="str"),
    cloud=dict(type="str", choices=CLOUD_CHOICES, default="global"),
    service=dict(type="str", choices=["EWS", "AutoD", "Generic"], default="EWS"),
    fail_on_failure=dict(type="bool", default=True),
)

STEP_3 = "the role's step 3 (exchange.hybrid.configure_push_notifications)"
# What a Detail shows, first match wins: (markers, what it means and what to check). The markers are the texts
# Exchange and Microsoft 365 write: AADSTS700027 (Entra: the client assertion's key is unknown), the WebException
# statuses, "The user specified by the user-context in the token does not exist" (CSS-Exchange FreeBusyChecker,
# KB 3090197), OAuthTokenRequestFailedException (Exchange could not get a token).
EXPLANATIONS = [
    (("AADSTS700027", "The key was not found"),
     "Microsoft 365 does not know the key Exchange signed with (AADSTS700027): the Auth certificate's key is not on "
     "the Entra target (the Office 365 Exchange Online service principal, or the dedicated hybrid application). "
     "Check it with exchange.hybrid.entra_key_credential_info and upload it with " + STEP_3 + "."),
    (("user-context in the token does not exist",),
     "Exchange Online does not know the mailbox's user: test with a mailbox whose user is synchronized to "
     "Microsoft 365 (KB 3090197)."),
    (("(401) Unauthorized",),
     "Exchange Online refused Exchange's token (401): check the Auth certificate's key on the Entra target "
     "(exchange.hybrid.entra_key_credential_info), the AuthServer for the tenant, and that the mailbox's user is "
     "synchronized to Microsoft 365 (KB 3090197)."),
    (("(403) Forbidden",),
     "The call was refused with 403: a proxy or firewall between this server and Exchange Online (Exchange's "
     "InternetWebProxy) may block it; allow outbound HTTPS to the target URL."),
    (("could not be resolved", "Unable to connect", "timed out"),
     "This server could not reach the target URL: check DNS, outbound HTTPS (443) and target_uri or cloud."),
    (("Auth certificate",),
     "Exchange could not sign with the Auth certificate: check AuthConfig's current certificate on this server "
     "(exchange.hybrid.exchange_auth_info) and renew or deploy it with " + STEP_3 + "."),
    (("AuthServer",),
     "Exchange has no usable AuthServer for the tenant: create or enable it with exchange.hybrid.exchange_auth_server "
     "or " + STEP_3 + "."),
]


def explain(detail: str) -> list[str]:
    """What a failed test's Detail shows and what to check."""
    for markers, meaning in EXPLANATIONS:
        if any(marker.lower() in detail.lower() for marker in markers):
            return [meaning]
    return ["Read the detail; run Test-OAuthConnectivity -Service EWS -TargetUri <URL> -Mailbox <mailbox> | "
            "Format-List on the server for the whole log."]


def input_problem(params: dict) -> Optional[str]:
    """What is wrong with the options, before connecting; None when nothing is."""
    if not params["mailbox"].strip():
        return "mailbox must name an on-premises mailbox (its name, alias, e-mail address or UPN)"
    target = params["target_uri"]
    if target is not None:
        parts = urlsplit(target)
        if parts.scheme != "https" or not parts.hostname:
            return f"target_uri must be an https URL such as {CLOUDS['global']['ews']}; got {target!r}"
    return None


def run_test(module: Any, result: dict) -> dict:
    """The test's one row (Task, ResultType, Detail)."""
    params = module.params
    client = client_for(module)
    test = call("Test-OAuthConnectivity", properties=["Task", "ResultType", "Detail"], Service=params["service"],
                TargetUri=result["target_uri"], Mailbox=params["mailbox"])
    try:
        rows = client.run([test])[0]
    except ExchangeError as err:
        fail_from_error(module, err, f"test OAuth connectivity to {result['target_uri']} for {params['mailbox']}",
                        **result)
    if not rows:
        module.fail_json(msg="Test-OAuthConnectivity returned no result", **result)
    return rows[0]


def finish(module: Any, row: dict, result: dict) -> None:
    kind = str(row.get("ResultType") or "")
    detail = str(row.get("Detail") or "")
    succeeded = kind == "Success"
    result.update(succeeded=succeeded, result_type=kind, task=str(row.get("Task") or ""), detail=detail,
                  explanation=[] if succeeded else explain(detail))
    if not succeeded and module.params["fail_on_failure"]:
        module.fail_json(msg="Test-OAuthConnectivity to %s for %s reported %s: %s"
                         % (result["target_uri"], result["mailbox"], kind or "no result type",
                            " ".join(result["explanation"])), **result)
    module.exit_json(**result)


def main() -> None:
    module = exchange_module(ARGUMENT_SPEC)
    problem = input_problem(module.params)
    if problem:
        module.fail_json(msg=problem)
    params = module.params
    result = dict(changed=False, succeeded=False, result_type=None, task=None, detail=None, explanation=[],
                  mailbox=params["mailbox"], service=params["service"],
                  target_uri=params["target_uri"] or CLOUDS[params["cloud"]]["ews"])
    finish(module, run_test(module, result), result)


if __name__ == "__main__":
    main()
