#!/usr/bin/python
# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: push_notifications_report
short_description: Turn what the push notification audit gathered into findings, a JSON report and an HTML report
version_added: 0.1.0
description:
  - The last step of the playbook C(exchange.hybrid.audit_push_notifications). Runs on the controller; reads
    nothing from Exchange or Microsoft 365 itself.
  - Takes what the readers returned for each organization (M(exchange.hybrid.exchange_auth_info) through one of
    its servers, M(exchange.hybrid.entra_key_credential_info), and where a finding needs it
    M(exchange.hybrid.exchange_server_info) and the probe), judges each check as C(ok), C(warning) or C(failure)
    with a fix hint, dates by the Exchange server's clock, and writes a JSON report (schema in
    C(docs/audit-report-schema.md), with C(schema_version)) and a self-contained HTML report (inline styles, no scripts, no external assets).
  - Files are written only when their content differs; in check mode nothing is written (the audit playbook
    runs this one task with C(check_mode=false), as it writes on the controller only).
options:
  organizations:
    description:
      - One entry per organization, as the role's C(audit) entry point builds it.
      - C(reader) (the inventory host it was read through), C(hosts) (the inventory hosts of the organization),
        C(tenant_domain), C(entra_target), C(cloud), C(auth_server_name), C(auth_metadata_url),
        C(evosts_auth_server_name), C(renew_before_days), and the registered results C(exchange)
        (M(exchange.hybrid.exchange_auth_info)), C(entra) (M(exchange.hybrid.entra_key_credential_info)),
        C(builds) (a list of M(exchange.hybrid.exchange_server_info) results) and C(probe).
      - A failed or missing reader result is a finding (the organization's hosts are reported as not audited),
        not a failure of this module.
    type: list
    elements: dict
    required: true
  json_path:
    description:
      - Write the JSON report to this path on the controller. Its directory must exist.
    type: path
  html_path:
    description:
      - Write the HTML report to this path on the controller. Its directory must exist.
    type: path
  warning_days:
    description:
      - An Auth certificate expiring within this many days, with no next certificate staged, is a warning.
    type: int
    default: 60
  run_probe:
    description:
      - Whether the audit ran the monitoring probe (its result is then judged; otherwise it is left out).
    type: bool
    default: false
  generated_at:
    description:
      - Timestamp written into the report (UTC, ISO 8601). Defaults to the controller's current time.
    type: str
extends_documentation_fragment:
  - exchange.hybrid.attributes
attributes:
  diff_mode:
    support: none
    details:
      - The reports are regenerated on every run.
author:
  - exchange.hybrid contributors (@exchange-hybrid)
"""

EXAMPLES = r"""
- name: Write the audit reports
  exchange.hybrid.push_notifications_report:
    organizations: "{{ audit_organizations }}"
    json_path: /var/reports/push-audit.json
    html_path: /var/reports/push-audit.html
  delegate_to: localhost
  run_once: true
  check_mode: false
"""

RETURN = r"""
report:
  description: The whole report, as written to O(json_path) (see C(docs/audit-report-schema.md)).
  returned: always
  type: dict
summary:
  description: The report's summary (status, counts of organizations, servers and findings by severity).
  returned: always
  type: dict
  sample:
    status: warning
    organizations: 1
    servers: 3
    findings: {ok: 9, warning: 1, failure: 0}
failures:
  description: One line per failure finding (organization, server, title).
  returned: always
  type: list
  elements: str
json_path:
  description: Where the JSON report was written (null when not asked).
  returned: always
  type: str
html_path:
  description: Where the HTML report was written (null when not asked).
  returned: always
  type: str
"""

import os
import tempfile
from typing import Optional

from ansible_collections.exchange.hybrid.plugins.module_utils._audit import (
    build_report,
    failures,
    render_html,
    to_json,
)
from ansible_collections.exchange.hybrid.plugins.module_utils._module import hybrid_module


def _write(path: str, text: str) -> bool:
    """Write ``text`` atomically; False when the file already holds it."""
    data = text.encode("utf-8")
    if os.path.exists(path):
        with open(path, "rb") as handle:
            if handle.read() == data:
                return False
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".audit-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True


# The report runs on the controller and connects nowhere: no connection options.
ARGUMENT_SPEC = dict(
    organizations=dict(type="list", elements="dict", required=True),
    json_path=dict(type="path"),
    html_path=dict(type="path"),
    warning_days=dict(type="int", default=60),
    run_probe=dict(type="bool", default=False),
    generated_at=dict(type="str"),
)


def input_problem(params: dict) -> Optional[str]:
    if params["warning_days"] < 0:
        return "warning_days must be 0 or more, got %d" % params["warning_days"]
    for option in ("json_path", "html_path"):
        path = params[option]
        if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            return "%s: the directory of %s does not exist; create it first" % (option, path)
    return None


def write_reports(params: dict, report: dict) -> bool:
    """Write the JSON and HTML files asked for; True when either changed."""
    changed = False
    if params["json_path"]:
        changed = _write(params["json_path"], to_json(report)) or changed
    if params["html_path"]:
        changed = _write(params["html_path"], render_html(report)) or changed
    return changed


def main() -> None:
    module = hybrid_module({}, ARGUMENT_SPEC)
    params = module.params
    problem = input_problem(params)
    if problem:
        module.fail_json(msg=problem)
    report = build_report(params["organizations"], params["warning_days"], params["run_probe"], params["generated_at"])
    try:
        changed = False if module.check_mode else write_reports(params, report)
    except OSError as exc:
        module.fail_json(msg="Failed to write the audit report: %s" % exc)
    module.exit_json(changed=changed, report=report, summary=report["summary"], failures=failures(report),
                     json_path=params["json_path"], html_path=params["html_path"])


if __name__ == "__main__":
    main()
