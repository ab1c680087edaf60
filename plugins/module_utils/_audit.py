# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The push notification audit: findings from what the audit playbook gathered, and its JSON and HTML reports.

Input (one entry per inventory host, built by ``exchange.hybrid.audit_push_notifications``)::

    {"host": "EX01", "tenant_domain": "contoso.onmicrosoft.com", "entra_target": "shared_service_principal",
     "info": <exchange_server_info result>,
     "organization": null | {"oauth_cert": ..., "auth_server": ..., "push_proxy": ..., "entra": ..., "probe": ...}}

Whether a server holds the Auth certificate with its private key is read from its own ``info.auth_certificate``
(exchange_server_info reads AuthConfig and the server's certificate store in the same batch).

``organization`` is set on one host per Exchange organization (its primary). Module results are read as Ansible
registers them (``failed``, ``msg``, ``skipped``, ``diff``); every value is treated as untrusted data.
The report schema is documented in docs/audit-report-schema.md; bump SCHEMA_VERSION on incompatible changes.
"""

from __future__ import annotations

import html
import json
from typing import Any, Optional

from ansible_collections.exchange.hybrid.plugins.module_utils._values import format_utc, parse_utc, thumbprint_key, utc_now

SCHEMA_VERSION = 1
SEVERITIES = ("ok", "warning", "failure")
_RANK = {name: index for index, name in enumerate(SEVERITIES)}
CONFIGURE = "exchange.hybrid.configure_push_notifications"
MINIMUM_BUILD = "15.0.775.38"


def worst(severities: list[str]) -> str:
    return max(severities, key=lambda s: _RANK[s]) if severities else "ok"


def finding(check: str, severity: str, title: str, detail: str = "", fix: Optional[str] = None) -> dict:
    if severity not in _RANK:
        raise ValueError("unknown severity %r" % severity)
    return {"check": check, "severity": severity, "title": title, "detail": detail, "fix": fix}


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _failed(result: Any, key: str) -> bool:
    """Whether a registered module result is a failure. The playbook registers with ``failed_when: false`` (which
    resets ``failed``), so a result lacking the key every success returns counts as failed too."""
    result = _dict(result)
    return bool(result.get("failed") or result.get("unreachable")) or key not in result


def _ran(result: Any) -> bool:
    result = _dict(result)
    return bool(result) and not result.get("skipped")


def _message(result: Any) -> str:
    return str(_dict(result).get("msg") or "no message").strip()


def _before(result: Any) -> Any:
    return _dict(_dict(result).get("diff")).get("before")


# ---------------------------------------------------------------------------------------------- organization


def _certificate(org: dict, raw: dict, warning_days: int) -> tuple[list[dict], dict]:
    """AuthConfig's current and next certificates (read on the organization's primary server)."""
    result = raw.get("oauth_cert")
    facts: dict[str, Any] = {"current": None, "next": None, "auth_config": None, "predicted_action": None}
    if not _ran(result):
        return [finding("auth_certificate", "failure", "Auth certificate not read",
                        "The audit did not read AuthConfig (the task was skipped).", "Run the audit again.")], facts
    if _failed(result, "action"):
        return [finding("auth_certificate", "failure", "Auth certificate not read", _message(result),
                        "Check the connection to %s and run the audit again." % org["primary"])], facts
    before = _dict(_before(result))
    auth = _dict(before.get("auth_config") or result.get("auth_config"))
    cert = before.get("certificate")
    facts["auth_config"] = auth
    facts["predicted_action"] = result.get("action")
    current = thumbprint_key(auth.get("current"))
    findings = []
    if not current:
        findings.append(finding("auth_certificate", "failure", "No Auth certificate",
                                "AuthConfig has no current certificate: Exchange cannot sign OAuth tokens.",
                                "Run %s (step 3 creates the Auth certificate)." % CONFIGURE))
    elif not isinstance(cert, dict):
        facts["current"] = {"thumbprint": current}
        findings.append(finding("auth_certificate", "failure", "Auth certificate missing",
                                "AuthConfig names %s, but %s does not hold it." % (current, org["primary"]),
                                "Import the certificate with its private key on %s, or run %s to replace it."
                                % (org["primary"], CONFIGURE)))
    else:
        days = cert.get("days_remaining")
        facts["current"] = {key: cert.get(key) for key in
                            ("thumbprint", "subject", "friendly_name", "not_before", "not_after", "days_remaining")}
        nxt = thumbprint_key(auth.get("next"))
        if isinstance(days, int) and days <= 0:
            findings.append(finding("auth_certificate", "failure", "Auth certificate expired",
                                    "Certificate %s expired on %s: OAuth, free/busy and push notifications fail."
                                    % (current, cert.get("not_after")),
                                    "Run %s now: it replaces the expired certificate and uploads its key."
                                    % CONFIGURE))
        elif isinstance(days, int) and days <= warning_days and not nxt:
            findings.append(finding("auth_certificate", "warning", "Auth certificate expires in %d days" % days,
                                    "Certificate %s expires on %s and no next certificate is staged."
                                    % (current, cert.get("not_after")),
                                    "Run %s: it stages a new certificate and uploads its key before the switch."
                                    % CONFIGURE))
        elif isinstance(days, int) and days <= warning_days:
            findings.append(finding("auth_certificate", "ok", "Auth certificate expires in %d days, renewal staged"
                                    % days, "Next certificate %s takes over on %s."
                                    % (nxt, auth.get("next_effective_date"))))
        else:
            findings.append(finding("auth_certificate", "ok", "Auth certificate valid for %s days" % days,
                                    "Certificate %s, valid until %s." % (current, cert.get("not_after"))))
    nxt = thumbprint_key(auth.get("next"))
    if nxt:
        staged = _dict(result.get("next_certificate"))
        facts["next"] = {
            "thumbprint": nxt,
            "effective_date": auth.get("next_effective_date"),
            "not_after": staged.get("not_after"),
            "days_remaining": staged.get("days_remaining"),
        }
    return findings, facts


def _auth_server(raw: dict, key: str = "auth_server", label: str = "AuthServer") -> tuple[list[dict], dict]:
    """The ACS AuthServer of the documented procedure (``auth_server``), or the evoSTS AuthServer of the dedicated
    application (``evosts_auth_server``)."""
    result = raw.get(key)
    if not _ran(result):
        return [], {}
    if _failed(result, "auth_server"):
        return [finding(key, "failure", "%s not read" % label, _message(result),
                        "Check the connection and run the audit again.")], {}
    before = _before(result)
    expected = result.get("auth_metadata_url")
    facts = {"expected_auth_metadata_url": expected, "found": isinstance(before, dict)}
    if not isinstance(before, dict):
        return [finding(key, "failure", "%s missing" % label,
                        "No AuthServer trusts the tenant's token issuer (%s)." % expected,
                        "Run %s (step 3 creates it)." % CONFIGURE)], facts
    facts.update({k: before.get(k) for k in ("name", "type", "auth_metadata_url", "enabled", "realm",
                                             "application_identifier")})
    if before.get("enabled") is False:
        return [finding(key, "failure", "%s disabled" % label,
                        "AuthServer %s is disabled." % before.get("name"), "Run %s to enable it." % CONFIGURE)], facts
    if expected and str(before.get("auth_metadata_url") or "").rstrip("/").lower() != str(expected).rstrip("/").lower():
        return [finding(key, "failure", "%s metadata URL wrong" % label,
                        "AuthServer %s reads %s; expected %s." % (before.get("name"), before.get("auth_metadata_url"),
                                                                  expected),
                        "Run %s to correct it." % CONFIGURE)], facts
    if result.get("changed"):
        return [finding(key, "warning", "%s differs" % label,
                        "AuthServer %s differs from the configuration the role would apply (application identifier "
                        "or domains)." % before.get("name"),
                        "Run %s --check --diff to see the difference." % CONFIGURE)], facts
    return [finding(key, "ok", "%s in place" % label,
                    "%s trusts %s." % (before.get("name"), before.get("auth_metadata_url")))], facts


def _push_proxy(raw: dict, tenant: Optional[str]) -> tuple[list[dict], dict]:
    result = raw.get("push_proxy")
    if not _ran(result):
        return [], {}
    if _failed(result, "enabled"):
        return [finding("push_proxy", "failure", "Push proxy not read", _message(result),
                        "Check the connection and run the audit again.")], {}
    before = _dict(_before(result) or {key: result.get(key) for key in ("enabled", "organization", "uri")})
    facts = {key: before.get(key) for key in ("enabled", "organization", "uri")}
    if not before.get("enabled"):
        return [finding("push_proxy", "failure", "Push proxy disabled",
                        "The OnPrem-Proxy push notification app is disabled.",
                        "Run %s (step 4 enables it)." % CONFIGURE)], facts
    if tenant and str(before.get("organization") or "").lower() != tenant.lower():
        return [finding("push_proxy", "failure", "Push proxy for another organization",
                        "The proxy sends for %r, not %s." % (before.get("organization"), tenant),
                        "Run %s to point it at %s." % (CONFIGURE, tenant))], facts
    detail = "For %s via %s." % (before.get("organization"), before.get("uri"))
    return [finding("push_proxy", "ok", "Push proxy enabled", detail)], facts


def _entra(raw: dict, cert: dict) -> tuple[list[dict], dict]:
    result = raw.get("entra")
    if not _ran(result):
        return [], {}
    if _failed(result, "target"):
        return [finding("entra_key", "failure", "Keys in Entra ID not read", _message(result),
                        "Check the Graph credentials (Application.ReadWrite.All) and run the audit again.")], {}
    before = _dict(_before(result))
    keys = [k for k in before.get("keys") or result.get("keys") or [] if isinstance(k, dict)]
    target = _dict(result.get("target"))
    by_thumb = {thumbprint_key(k.get("thumbprint")): k for k in keys}
    facts: dict[str, Any] = {
        "target": target.get("type"),
        "target_name": target.get("display_name"),
        "target_object_id": target.get("object_id"),
        "keys": len(keys),
        "current_key": None,
        "next_key": None,
    }
    findings = []
    current = thumbprint_key(_dict(cert.get("current")).get("thumbprint"))
    where = "the %s %r" % (str(target.get("object_type") or "object"), target.get("display_name"))
    if current:
        key = by_thumb.get(current)
        facts["current_key"] = _key_view(key)
        if key is None:
            findings.append(finding("entra_key", "failure", "Key missing in Entra ID",
                                    "The key of the Auth certificate %s is not on %s: Microsoft 365 rejects "
                                    "Exchange's tokens." % (current, where),
                                    "Run %s (step 3 uploads it)." % CONFIGURE))
        else:
            findings.append(finding("entra_key", "ok", "Key present in Entra ID",
                                    "On %s, valid until %s." % (where, key.get("end_date_time"))))
    nxt = thumbprint_key(_dict(cert.get("next")).get("thumbprint"))
    if nxt:
        key = by_thumb.get(nxt)
        facts["next_key"] = _key_view(key)
        if key is None:
            findings.append(finding("entra_next_key", "warning", "Next certificate's key not in Entra ID",
                                    "Certificate %s becomes current on %s, but its key is not on %s yet."
                                    % (nxt, _dict(cert.get("next")).get("effective_date"), where),
                                    "Run %s before that date (it uploads the next key)." % CONFIGURE))
        else:
            findings.append(finding("entra_next_key", "ok", "Next certificate's key present in Entra ID",
                                    "Certificate %s is ready for the switch." % nxt))
    return findings, facts


def _key_view(key: Optional[dict]) -> Optional[dict]:
    if key is None:
        return None
    return {k: key.get(k) for k in ("thumbprint", "key_id", "display_name", "start_date_time", "end_date_time")}


def _probe(raw: dict) -> tuple[list[dict], Optional[dict]]:
    result = raw.get("probe")
    if not _ran(result):
        return [], None
    if _failed(result, "result_type"):
        return [finding("probe", "failure", "Probe did not run", _message(result),
                        "Check that the Microsoft Exchange Health Manager service runs.")], {"result_type": None}
    facts = {key: result.get(key) for key in ("result_type", "error", "target_server", "waited_seconds")}
    if result.get("result_type") == "Succeeded":
        return [finding("probe", "ok", "Probe succeeded",
                        "PushNotificationsEnterpriseConnectivityProbe on %s." % result.get("target_server"))], facts
    return [finding("probe", "failure", "Probe failed", str(result.get("error") or result.get("result_type")),
                    "Fix the failures above, run %s, then the audit with audit_run_probe=true." % CONFIGURE)], facts


# ---------------------------------------------------------------------------------------------- servers


def _server_row(facts: dict, host: Optional[str], cert_state: Any, current: Optional[str]) -> dict:
    """``cert_state``: the host's exchange_server_info ``auth_certificate``; ``current``: the organization's view."""
    findings = []
    if facts.get("meets_push_minimum") is False:
        findings.append(finding("build", "failure", "Below Exchange 2013 CU3",
                                "Build %s; push notifications need %s or later."
                                % (facts.get("version"), MINIMUM_BUILD),
                                "Install a current cumulative update."))
    elif facts.get("meets_push_minimum"):
        findings.append(finding("build", "ok", "Build %s" % (facts.get("effective_version") or facts.get("version"))))
    state = _dict(cert_state)
    # The server signs with AuthConfig as it reads it; it names the organization's current certificate unless
    # Active Directory replication has not reached it yet.
    thumbprint = thumbprint_key(state.get("thumbprint")) or current
    certificate: dict[str, Any] = {"thumbprint": thumbprint, "present": None}
    if host is None:
        findings.append(finding("audited", "warning", "Not in the inventory",
                                "The Auth certificate on this server was not checked.",
                                "Add the server to the inventory group the audit runs on."))
    elif current and state.get("thumbprint"):
        if not state.get("usable"):
            problems = [str(p) for p in state.get("problems") or []] or ["it cannot sign tokens here"]
            reason = "Auth certificate %s on %s: %s." % (thumbprint, facts.get("name"), "; ".join(problems))
            certificate.update(present=False, reason=reason)
            findings.append(finding("auth_certificate_present", "failure", "Auth certificate unusable here", reason,
                                    "Export the certificate with its private key from a server that has it and "
                                    "import it here (Import-ExchangeCertificate)."))
        else:
            certificate.update(present=True, not_after=state.get("not_after"),
                               days_remaining=state.get("days_remaining"))
            findings.append(finding("auth_certificate_present", "ok", "Auth certificate present with private key"))
    return {
        "name": facts.get("name"),
        "host": host,
        "fqdn": facts.get("fqdn"),
        "product": facts.get("product"),
        "version": facts.get("version"),
        "effective_version": facts.get("effective_version"),
        "roles": facts.get("roles") or [],
        "site": facts.get("site_name"),
        "meets_push_minimum": facts.get("meets_push_minimum"),
        "auth_certificate": certificate,
        "status": worst([f["severity"] for f in findings]),
        "findings": findings,
    }


def _unreachable_row(entry: dict) -> dict:
    findings = [finding("reachable", "failure", "Not audited", _message(entry.get("info")),
                        "Check the host's WinRM connection and credentials.")]
    return {"name": entry.get("host"), "host": entry.get("host"), "fqdn": None, "product": None, "version": None,
            "effective_version": None, "roles": [], "site": None, "meets_push_minimum": None,
            "auth_certificate": {"thumbprint": None, "present": None}, "status": "failure", "findings": findings}


def _count(findings: list[dict]) -> dict:
    return {name: sum(1 for f in findings if f["severity"] == name) for name in SEVERITIES}


def build_report(hosts: list[dict], warning_days: int = 60, run_probe: bool = False,
                 generated_at: Optional[str] = None) -> dict:
    """The audit report (a JSON-serialisable dict) from the gathered per-host data."""
    generated_at = generated_at or format_utc(utc_now())
    groups: dict[str, dict] = {}
    order: list[str] = []
    for entry in hosts:
        entry = _dict(entry)
        info = _dict(entry.get("info"))
        guid = None if _failed(info, "servers") else _dict(info.get("organization")).get("guid")
        key = str(guid or "")
        if key not in groups:
            groups[key] = {"guid": guid, "name": _dict(info.get("organization")).get("name"), "entries": [],
                           "primary": None, "raw": {}, "tenant_domain": entry.get("tenant_domain"),
                           "entra_target": entry.get("entra_target"), "servers_info": []}
            order.append(key)
        group = groups[key]
        group["entries"].append(entry)
        if isinstance(entry.get("organization"), dict) and group["primary"] is None:
            group["primary"] = entry.get("host")
            group["raw"] = entry["organization"]
            group["tenant_domain"] = entry.get("tenant_domain") or group["tenant_domain"]
            group["entra_target"] = entry.get("entra_target") or group["entra_target"]
        if info.get("servers") and not group["servers_info"]:
            group["servers_info"] = info["servers"]

    organizations = []
    for key in order:
        group = groups[key]
        if not group["guid"]:
            rows = [_unreachable_row(e) for e in group["entries"]]
            organizations.append(_organization(group, [], rows, {}, warning_days))
            continue
        org = {"primary": group["primary"] or (group["entries"][0].get("host"))}
        cert_findings, cert = _certificate(org, group["raw"], warning_days)
        findings = list(cert_findings)
        server_findings, auth_server = _auth_server(group["raw"])
        findings += server_findings
        evosts_findings, evosts = _auth_server(group["raw"], "evosts_auth_server", "evoSTS AuthServer")
        findings += evosts_findings
        entra_findings, entra = _entra(group["raw"], cert)
        findings += entra_findings
        proxy_findings, proxy = _push_proxy(group["raw"], group["tenant_domain"])
        findings += proxy_findings
        probe_findings, probe = _probe(group["raw"]) if run_probe else ([], None)
        findings += probe_findings
        current = thumbprint_key(_dict(cert.get("current")).get("thumbprint"))
        by_name: dict[str, dict] = {}
        for entry in group["entries"]:
            connected = next((s for s in _dict(entry.get("info")).get("servers") or [] if _dict(s).get("connected")),
                             None)
            if connected:
                by_name[str(connected.get("name")).lower()] = {"facts": connected, "entry": entry}
        rows = []
        for facts in group["servers_info"]:
            found = by_name.pop(str(_dict(facts).get("name")).lower(), None)
            if found:
                rows.append(_server_row(found["facts"], found["entry"].get("host"),
                                        _dict(found["entry"].get("info")).get("auth_certificate"), current))
            else:
                rows.append(_server_row(_dict(facts), None, None, current))
        for found in by_name.values():  # a host whose server the primary did not list
            rows.append(_server_row(found["facts"], found["entry"].get("host"),
                                    _dict(found["entry"].get("info")).get("auth_certificate"), current))
        details = {"auth_certificate": cert, "auth_server": auth_server, "evosts_auth_server": evosts,
                   "entra": entra, "push_proxy": proxy, "probe": probe}
        organizations.append(_organization(group, findings, rows, details, warning_days))

    every = [f for o in organizations for f in o["findings"]] + [
        f for o in organizations for s in o["servers"] for f in s["findings"]]
    counts = _count(every)
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": generated_at,
        "generator": "exchange.hybrid.audit_push_notifications",
        "settings": {"warning_days": warning_days, "run_probe": run_probe},
        "summary": {
            "status": worst([f["severity"] for f in every]),
            "organizations": len(organizations),
            "servers": sum(len(o["servers"]) for o in organizations),
            "findings": counts,
            "organizations_by_status": _count([{"severity": o["status"]} for o in organizations]),
            "servers_by_status": _count([{"severity": s["status"]} for o in organizations for s in o["servers"]]),
        },
        "organizations": organizations,
    }


def _organization(group: dict, findings: list[dict], rows: list[dict], details: dict, warning_days: int) -> dict:
    every = findings + [f for row in rows for f in row["findings"]]
    return {
        "name": group["name"] or "(not reached)",
        "guid": group["guid"],
        "tenant_domain": group["tenant_domain"],
        "entra_target": group["entra_target"],
        "primary_host": group["primary"],
        "status": worst([f["severity"] for f in every]),
        "counts": _count(every),
        "auth_certificate": details.get("auth_certificate", {}).get("current"),
        "next_certificate": details.get("auth_certificate", {}).get("next"),
        "auth_config": details.get("auth_certificate", {}).get("auth_config"),
        "predicted_certificate_action": details.get("auth_certificate", {}).get("predicted_action"),
        "auth_server": details.get("auth_server") or None,
        "evosts_auth_server": details.get("evosts_auth_server") or None,
        "entra": details.get("entra") or None,
        "push_proxy": details.get("push_proxy") or None,
        "probe": details.get("probe"),
        "findings": findings,
        "servers": rows,
    }


def failures(report: dict) -> list[str]:
    """One line per failure finding, for the play's failure message."""
    lines = []
    for org in report["organizations"]:
        for item in org["findings"]:
            if item["severity"] == "failure":
                lines.append("%s: %s" % (org["name"], item["title"]))
        for row in org["servers"]:
            for item in row["findings"]:
                if item["severity"] == "failure":
                    lines.append("%s/%s: %s" % (org["name"], row["name"], item["title"]))
    return lines


def to_json(report: dict) -> str:
    return json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
header{background:#1d2330;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#c3c8d4;font-size:13px}main{padding:20px 28px;max-width:1200px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin-bottom:18px}
.card{background:#fff;border-radius:8px;padding:12px 18px;min-width:120px;box-shadow:0 1px 3px rgba(0,0,0,.12)}
.card .n{font-size:28px;font-weight:700}.card .l{font-size:12px;color:#5b6475;text-transform:uppercase}
.card.ok{border-top:5px solid #2e9d5b}.card.warning{border-top:5px solid #e0a100}.card.failure{border-top:5px solid #d13438}
.card.neutral{border-top:5px solid #5b6475}
section.org{background:#fff;border-radius:8px;padding:16px 20px;margin-bottom:22px;box-shadow:0 1px 3px rgba(0,0,0,.12)}
section.org h2{margin:0 0 6px;font-size:19px}.meta{font-size:13px;color:#5b6475;margin-bottom:10px}
.badge{display:inline-block;padding:2px 9px;border-radius:10px;font-size:12px;font-weight:600;color:#fff}
.badge.ok{background:#2e9d5b}.badge.warning{background:#e0a100;color:#1d2330}.badge.failure{background:#d13438}
table{border-collapse:collapse;width:100%;margin:8px 0 14px;font-size:13px}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e3e6ec;vertical-align:top}
th{background:#f0f2f5;font-weight:600}tr.ok td.sev{color:#2e9d5b}tr.warning td.sev{color:#9a6b00}
tr.failure td.sev{color:#d13438}tr.failure{background:#fdf1f1}tr.warning{background:#fffaeb}
td.sev{font-weight:700;text-transform:uppercase;white-space:nowrap}.fix{color:#5b6475}
.timeline{position:relative;height:26px;background:#e3e6ec;border-radius:6px;margin:6px 0 4px;overflow:hidden}
.timeline .used{position:absolute;left:0;top:0;bottom:0}.timeline .used.ok{background:#8fd1a9}
.timeline .used.warning{background:#f3cf6b}.timeline .used.failure{background:#ef9a9c}
.timeline .window{position:absolute;top:0;bottom:0;right:0;background:repeating-linear-gradient(45deg,
rgba(209,52,56,.18),rgba(209,52,56,.18) 6px,transparent 6px,transparent 12px)}
.timeline .mark{position:absolute;top:0;bottom:0;width:3px;background:#1d2330}
.timeline .mark.next{background:#0063b1}.timeline span.t{position:absolute;top:5px;left:8px;font-size:12px;font-weight:600}
.legend{font-size:12px;color:#5b6475}code{font-size:12px}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _timeline(org: dict, warning_days: int) -> str:
    cert = org.get("auth_certificate") or {}
    start, end = parse_utc(cert.get("not_before")), parse_utc(cert.get("not_after"))
    days = cert.get("days_remaining")
    if not start or not end or not isinstance(days, int) or end <= start:
        return '<p class="legend">No Auth certificate expiry to show.</p>'
    total = max((end - start).total_seconds() / 86400.0, 1.0)
    used = min(max((total - days) / total, 0.0), 1.0)
    severity = "failure" if days <= 0 else ("warning" if days <= warning_days and not org.get("next_certificate")
                                            else "ok")
    window = min(warning_days / total, 1.0)
    parts = [
        '<div class="timeline" role="img" data-days-remaining="%d" aria-label="Auth certificate: %d days left">'
        % (days, days),
        '<div class="window" style="width:%.2f%%"></div>' % (window * 100),
        '<div class="used %s" style="width:%.2f%%"></div>' % (severity, used * 100),
        '<div class="mark" style="left:%.2f%%" title="today"></div>' % (used * 100),
    ]
    nxt = org.get("next_certificate") or {}
    effective = parse_utc(nxt.get("effective_date"))
    if effective:
        offset = min(max((effective - start).total_seconds() / 86400.0 / total, 0.0), 1.0)
        parts.append('<div class="mark next" style="left:%.2f%%" title="next certificate effective %s"></div>'
                     % (offset * 100, _e(nxt.get("effective_date"))))
    parts.append('<span class="t">%s days left</span></div>' % _e(days))
    parts.append('<p class="legend">Valid %s &rarr; %s. Hatched: the last %d days (renewal window)%s.</p>' % (
        _e(cert.get("not_before")), _e(cert.get("not_after")), warning_days,
        "; blue mark: next certificate effective %s" % _e(nxt.get("effective_date")) if effective else ""))
    return "".join(parts)


def _findings_table(findings: list[dict], css_class: str) -> str:
    rows = "".join(
        '<tr class="%s"><td class="sev">%s</td><td>%s</td><td>%s</td><td class="fix">%s</td></tr>'
        % (f["severity"], _e(f["severity"]), _e(f["title"]), _e(f["detail"]), _e(f["fix"] or ""))
        for f in findings
    )
    return ('<table class="%s"><thead><tr><th>Severity</th><th>Check</th><th>Detail</th><th>Fix</th></tr></thead>'
            "<tbody>%s</tbody></table>" % (css_class, rows))


def _servers_table(org: dict) -> str:
    rows = []
    for row in org["servers"]:
        cert = row.get("auth_certificate") or {}
        present = {True: "present", False: "missing or unusable", None: "not checked"}[cert.get("present")]
        problems = "; ".join(f["title"] for f in row["findings"] if f["severity"] != "ok") or "&#10003;"
        rows.append(
            '<tr class="%s" data-server="%s"><td class="sev">%s</td><td>%s<br><span class="legend">%s</span></td>'
            "<td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>"
            % (row["status"], _e(row["name"]), _e(row["status"]), _e(row["name"]), _e(row.get("fqdn") or ""),
               _e(row.get("product") or ""), _e(row.get("effective_version") or row.get("version") or ""),
               _e(", ".join(row.get("roles") or [])), _e(present),
               problems if problems == "&#10003;" else _e(problems))
        )
    return ('<table class="servers"><thead><tr><th>Status</th><th>Server</th><th>Product</th><th>Build</th>'
            "<th>Roles</th><th>Auth certificate</th><th>Problems</th></tr></thead><tbody>%s</tbody></table>"
            % "".join(rows))


def render_html(report: dict) -> str:
    """A self-contained page (inline CSS, no scripts, no external assets)."""
    summary = report["summary"]
    warning_days = report["settings"]["warning_days"]
    cards = [
        ('<div class="card neutral"><div class="n" id="summary-organizations">%d</div>'
         '<div class="l">organizations</div></div>' % summary["organizations"]),
        ('<div class="card neutral"><div class="n" id="summary-servers">%d</div><div class="l">servers</div></div>'
         % summary["servers"]),
    ]
    for name in SEVERITIES:
        cards.append('<div class="card %s"><div class="n" id="summary-%s">%d</div><div class="l">%s findings</div>'
                     "</div>" % (name, name, summary["findings"][name], name))
    sections = []
    for org in report["organizations"]:
        cert = org.get("auth_certificate") or {}
        counts = org["counts"]
        sections.append(
            '<section class="org" data-org="%s" data-status="%s" data-ok="%d" data-warning="%d" data-failure="%d">'
            '<h2>%s <span class="badge %s">%s</span></h2>'
            '<div class="meta">GUID %s &middot; tenant %s &middot; Entra target %s &middot; audited through %s'
            " &middot; %d ok, %d warning, %d failure</div>"
            "<h3>Auth certificate %s</h3>%s<h3>Organization</h3>%s<h3>Servers</h3>%s%s</section>"
            % (_e(org["name"]), org["status"], counts["ok"], counts["warning"], counts["failure"], _e(org["name"]),
               org["status"], _e(org["status"]), _e(org["guid"]), _e(org.get("tenant_domain")),
               _e(org.get("entra_target")), _e(org.get("primary_host")), counts["ok"], counts["warning"],
               counts["failure"], "<code>%s</code>" % _e(cert.get("thumbprint")) if cert.get("thumbprint") else "",
               _timeline(org, warning_days), _findings_table(org["findings"], "findings"), _servers_table(org),
               "".join("<h4>%s</h4>%s" % (_e(row["name"]), _findings_table(row["findings"], "server-findings"))
                       for row in org["servers"] if row["status"] != "ok"))
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Push notifications audit</title><style>%s</style></head><body>"
        '<header><h1>Push notifications audit <span class="badge %s" id="summary-status">%s</span></h1>'
        "<p>Generated %s by %s &middot; schema %d &middot; warning window %d days</p></header>"
        '<main><div class="cards" id="summary">%s</div>%s</main></body></html>\n'
        % (_CSS, summary["status"], _e(summary["status"]), _e(report["generated_at"]), _e(report["generator"]),
           report["schema_version"], warning_days, "".join(cards), "".join(sections))
    )
