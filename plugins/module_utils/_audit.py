# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The push notification audit: findings from what the readers returned, and its JSON and HTML reports.

Input: one entry per organization, built by the push_notifications role's ``audit`` entry point (the playbook
``exchange.hybrid.audit_push_notifications``), each read through one Exchange session on one of its servers::

    {"reader": "EX01", "hosts": ["EX01", "EX02"],            # the inventory hosts of this organization
     "tenant_domain": "contoso.onmicrosoft.com", "entra_target": "shared_service_principal", "cloud": "global",
     "auth_server_name": "MicrosoftSts", "auth_metadata_url": null, "evosts_auth_server_name": "EvoSTS",
     "renew_before_days": 60,
     "exchange": <exchange_auth_info result>, "entra": <entra_key_credential_info result>,
     "builds": [<exchange_server_info result>, ...], "probe": <exchange_monitoring_probe result>}

Module results are read as Ansible registers them (``failed``, ``msg``, ``skipped``); every value is treated as
untrusted data. Dates are judged by the Exchange server's clock (``exchange.server_utc_now``), never the
controller's. The report schema is documented in docs/audit-report-schema.md; bump SCHEMA_VERSION on incompatible
changes.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from typing import Any, Optional

from ansible_collections.exchange.hybrid.plugins.module_utils._clouds import (
    EXCHANGE_ONLINE_APP_ID,
    MICROSOFT_GRAPH_APP_ID,
    auth_metadata_url,
)
from ansible_collections.exchange.hybrid.plugins.module_utils._setting_overrides import (
    HYBRID_APP_COMPONENT,
    HYBRID_APP_SECTION,
    in_section,
)
from ansible_collections.exchange.hybrid.plugins.module_utils._values import format_utc, parse_utc, thumbprint_key, utc_now

SCHEMA_VERSION = 1
SEVERITIES = ("ok", "warning", "failure")
_RANK = {name: index for index, name in enumerate(SEVERITIES)}
CONFIGURE = "exchange.hybrid.configure_push_notifications"
MINIMUM_BUILD = "15.0.775.38"
MINIMUM_KEY_SIZE = 2048
WEAK_SIGNATURES = ("md2", "md4", "md5", "sha1")


def worst(severities: list[str]) -> str:
    return max(severities, key=lambda s: _RANK[s]) if severities else "ok"


def finding(check: str, severity: str, title: str, detail: str = "", fix: Optional[str] = None) -> dict:
    if severity not in _RANK:
        raise ValueError("unknown severity %r" % severity)
    return {"check": check, "severity": severity, "title": title, "detail": detail, "fix": fix}


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _failed(result: Any, key: str) -> bool:
    """Whether a registered module result is a failure. The role registers with ``failed_when: false`` (which
    resets ``failed``), so a result lacking the key every success returns counts as failed too."""
    result = _dict(result)
    return bool(result.get("failed") or result.get("unreachable")) or key not in result


def _ran(result: Any) -> bool:
    result = _dict(result)
    return bool(result) and not result.get("skipped")


def _message(result: Any) -> str:
    return str(_dict(result).get("msg") or "no message").strip()


def _url(value: Any) -> str:
    return str(value or "").rstrip("/").lower()


def _is_weak(algorithm: Any) -> bool:
    return bool(algorithm) and str(algorithm).lower().startswith(WEAK_SIGNATURES)


# ---------------------------------------------------------------------------------------------- organization


def _certificate(auth: dict, warning_days: int, renew_before_days: int) -> tuple[list[dict], dict]:
    """AuthConfig's current and next certificates (exchange_auth_info ``auth_config``)."""
    current, nxt = _dict(auth.get("current")), _dict(auth.get("next"))
    thumbprint, next_thumbprint = thumbprint_key(current.get("thumbprint")), thumbprint_key(nxt.get("thumbprint"))
    facts: dict[str, Any] = {
        "auth_config": {
            "current": thumbprint,
            "next": next_thumbprint,
            "previous": thumbprint_key(_dict(auth.get("previous")).get("thumbprint")),
            "next_effective_date": nxt.get("effective_date"),
        },
        "current": None,
        "next": None,
        "predicted_action": "none",
    }
    days = current.get("days_remaining")
    findings = []
    if not thumbprint:
        facts["predicted_action"] = "assigned"
        findings.append(finding("auth_certificate", "failure", "No Auth certificate",
                                "AuthConfig has no current certificate: Exchange cannot sign OAuth tokens.",
                                "Run %s (step 3 creates the Auth certificate)." % CONFIGURE))
    elif not current.get("not_after"):
        facts["current"] = {"thumbprint": thumbprint}
        facts["predicted_action"] = "assigned"
        findings.append(finding("auth_certificate", "failure", "Auth certificate missing",
                                "AuthConfig names %s, but no server read holds it." % thumbprint,
                                "Import the certificate with its private key, or run %s to replace it." % CONFIGURE))
    else:
        facts["current"] = {key: current.get(key) for key in
                            ("thumbprint", "subject", "friendly_name", "not_before", "not_after", "days_remaining",
                             "key_size", "signature_algorithm")}
        facts["current"]["thumbprint"] = thumbprint
        if current.get("expired") or (isinstance(days, int) and days <= 0):
            facts["predicted_action"] = "replaced"
            findings.append(finding("auth_certificate", "failure", "Auth certificate expired",
                                    "Certificate %s expired on %s: OAuth, free/busy and push notifications fail."
                                    % (thumbprint, current.get("not_after")),
                                    "Run %s now: it replaces the expired certificate and uploads its key."
                                    % CONFIGURE))
        elif isinstance(days, int) and days <= warning_days and not next_thumbprint:
            findings.append(finding("auth_certificate", "warning", "Auth certificate expires in %d days" % days,
                                    "Certificate %s expires on %s and no next certificate is staged."
                                    % (thumbprint, current.get("not_after")),
                                    "Run %s: it stages a new certificate and uploads its key before the switch."
                                    % CONFIGURE))
        elif isinstance(days, int) and days <= warning_days:
            findings.append(finding("auth_certificate", "ok", "Auth certificate expires in %d days, renewal staged"
                                    % days, "Next certificate %s takes over on %s."
                                    % (next_thumbprint, nxt.get("effective_date"))))
        else:
            findings.append(finding("auth_certificate", "ok", "Auth certificate valid for %s days" % days,
                                    "Certificate %s, valid until %s." % (thumbprint, current.get("not_after"))))
        if (facts["predicted_action"] == "none" and not next_thumbprint and isinstance(days, int)
                and days <= renew_before_days):
            facts["predicted_action"] = "staged"
    if next_thumbprint:
        facts["next"] = {
            "thumbprint": next_thumbprint,
            "effective_date": nxt.get("effective_date"),
            "effective": nxt.get("effective"),
            "not_after": nxt.get("not_after"),
            "days_remaining": nxt.get("days_remaining"),
        }
    return findings, facts


def _next_certificate(auth: dict, now: Optional[dt.datetime]) -> list[dict]:
    """AuthConfig's next certificate and its effective date, by the Exchange server's clock."""
    nxt = _dict(auth.get("next"))
    thumbprint = thumbprint_key(nxt.get("thumbprint"))
    if not thumbprint:
        return []
    effective = parse_utc(nxt.get("effective_date"))
    if nxt.get("expired"):
        return [finding("next_certificate", "failure", "Next certificate expired",
                        "AuthConfig's next certificate %s expired on %s." % (thumbprint, nxt.get("not_after")),
                        "Run %s: it stages a valid certificate." % CONFIGURE)]
    if effective is None:
        return [finding("next_certificate", "warning", "Next certificate without an effective date",
                        "AuthConfig stages %s but names no date for the switch." % thumbprint,
                        "Run %s: it stages the certificate with an effective date." % CONFIGURE)]
    if now is not None and effective <= now and not nxt.get("effective"):
        return [finding("next_certificate", "warning", "Next certificate overdue",
                        "Certificate %s was to take over on %s (the server's clock reads %s)."
                        % (thumbprint, nxt.get("effective_date"), format_utc(now)),
                        "Run %s: it completes the switch." % CONFIGURE)]
    return [finding("next_certificate", "ok", "Next certificate staged",
                    "Certificate %s takes over on %s." % (thumbprint, nxt.get("effective_date")))]


SERVER_FIELDS = ("name", "type", "auth_metadata_url", "enabled", "realm", "application_identifier")


def _server_view(row: Optional[dict], expected: Optional[str]) -> dict:
    facts: dict[str, Any] = {"expected_auth_metadata_url": expected, "found": row is not None}
    if row is not None:
        facts.update({key: row.get(key) for key in SERVER_FIELDS})
    return facts


def _auth_server(reading: dict, auth_servers: list[dict]) -> tuple[list[dict], dict]:
    """The ACS AuthServer of the documented procedure: by its name, else the one that trusts the tenant's ACS."""
    key, label = "auth_server", "AuthServer"
    expected = reading.get("auth_metadata_url") or (
        auth_metadata_url(reading.get("cloud") or "global", "acs", reading["tenant_domain"])
        if reading.get("tenant_domain") else None)
    name = str(reading.get("auth_server_name") or "MicrosoftSts").lower()
    row = next((s for s in auth_servers if str(s.get("name") or "").lower() == name), None)
    if row is None and expected:
        row = next((s for s in auth_servers if _url(s.get("auth_metadata_url")) == _url(expected)), None)
    facts = _server_view(row, expected)
    if row is None:
        return [finding(key, "failure", "%s missing" % label,
                        "No AuthServer trusts the tenant's token issuer (%s)." % expected,
                        "Run %s (step 3 creates it)." % CONFIGURE)], facts
    if row.get("enabled") is False:
        return [finding(key, "failure", "%s disabled" % label, "AuthServer %s is disabled." % row.get("name"),
                        "Run %s to enable it." % CONFIGURE)], facts
    if expected and _url(row.get("auth_metadata_url")) != _url(expected):
        return [finding(key, "failure", "%s metadata URL wrong" % label,
                        "AuthServer %s reads %s; expected %s." % (row.get("name"), row.get("auth_metadata_url"),
                                                                  expected),
                        "Run %s to correct it." % CONFIGURE)], facts
    return [finding(key, "ok", "%s in place" % label,
                    "%s trusts %s." % (row.get("name"), row.get("auth_metadata_url")))], facts


def _evosts_auth_server(reading: dict, auth_servers: list[dict], app_id: Optional[str],
                        duplicates: list[dict]) -> tuple[list[dict], dict]:
    """With the dedicated application: the evoSTS AuthServer that names it (by application id, else by name, else
    the AzureAD AuthServer HCW made, ``EvoSts - <GUID>``)."""
    key, label = "evosts_auth_server", "evoSTS AuthServer"
    evosts = [s for s in auth_servers if str(s.get("type") or "").lower() == "azuread"]
    name = str(reading.get("evosts_auth_server_name") or "EvoSTS").lower()
    row = next((s for s in evosts if app_id and str(s.get("application_identifier") or "").lower() == app_id.lower()),
               None) or next((s for s in evosts if str(s.get("name") or "").lower() == name), None) or next(
        iter(evosts), None)
    facts = _server_view(row, None)
    if duplicates:  # exchange_auth_info's evosts_duplicates: Exchange needs exactly one per tenant
        return [finding(key, "failure", "Several evoSTS AuthServers for one tenant",
                        "AuthServers %s trust the same tenant." % "; ".join(
                            ", ".join(str(n) for n in d.get("names") or []) for d in duplicates),
                        " ".join(str(d.get("fix") or "") for d in duplicates).strip() or None)], facts
    if row is None:
        return [finding(key, "failure", "%s missing" % label,
                        "No AuthServer of type AzureAD trusts Entra ID for the dedicated application.",
                        "Run %s (the dedicated application path creates it)." % CONFIGURE)], facts
    if row.get("enabled") is False:
        return [finding(key, "failure", "%s disabled" % label, "AuthServer %s is disabled." % row.get("name"),
                        "Run %s to enable it." % CONFIGURE)], facts
    if not app_id or str(row.get("application_identifier") or "").lower() != app_id.lower():
        return [finding(key, "warning", "%s differs" % label,
                        "AuthServer %s names application %s, not the dedicated application %s."
                        % (row.get("name"), row.get("application_identifier"), app_id),
                        "Run %s --check --diff to see the difference." % CONFIGURE)], facts
    return [finding(key, "ok", "%s in place" % label,
                    "%s trusts Entra ID for application %s." % (row.get("name"), app_id))], facts


def _hybrid_app_overrides(exchange: dict, hybrid: bool) -> list[dict]:
    """HealthChecker's MultipleSettingOverrides for Global\\ExchangeOnpremAsThirdPartyAppId, as exchange_auth_info
    judged it (setting_override_duplicates): the state of the dedicated application cannot be told."""
    key = "hybrid_app_override"
    overrides = _list(exchange.get("setting_overrides"))
    for entry in _list(exchange.get("setting_override_duplicates")):
        if not entry.get("hybrid_application"):
            continue
        names = [str(n).casefold() for n in entry.get("names") or []]
        rows = [o for o in overrides if str(o.get("name") or "").casefold() in names]
        return [finding(key, "failure", "Several setting overrides for the dedicated application",
                        "Setting overrides %s all set Global\\ExchangeOnpremAsThirdPartyAppId (%s); the feature's "
                        "state cannot be told (HealthChecker's MultipleSettingOverrides)."
                        % (", ".join("'%s'" % n for n in entry.get("names") or []),
                           "; ".join("%s: %s" % (o.get("name"), ", ".join(o.get("parameters") or [])) for o in rows)),
                        "%s Or run %s with push_notifications_remove_duplicate_setting_overrides: true."
                        % (entry.get("fix"), CONFIGURE))]
    rows = [o for o in overrides if in_section({"ComponentName": o.get("component"), "SectionName": o.get("section")},
                                               HYBRID_APP_COMPONENT, HYBRID_APP_SECTION)]
    if rows and hybrid:
        return [finding(key, "ok", "Dedicated application's setting override in place",
                        "%s sets %s." % (rows[0].get("name"), ", ".join(rows[0].get("parameters") or [])))]
    return []


def _push_proxy(proxy: dict, tenant: Optional[str]) -> tuple[list[dict], dict]:
    facts = {key: proxy.get(key) for key in ("enabled", "organization", "uri")}
    if not proxy.get("enabled"):
        return [finding("push_proxy", "failure", "Push proxy disabled",
                        "The OnPrem-Proxy push notification app is %s."
                        % ("disabled" if proxy.get("found", True) else "missing"),
                        "Run %s (step 4 enables it)." % CONFIGURE)], facts
    if tenant and str(proxy.get("organization") or "").lower() != tenant.lower():
        return [finding("push_proxy", "failure", "Push proxy for another organization",
                        "The proxy sends for %r, not %s." % (proxy.get("organization"), tenant),
                        "Run %s to point it at %s." % (CONFIGURE, tenant))], facts
    detail = "For %s via %s." % (proxy.get("organization"), proxy.get("uri"))
    return [finding("push_proxy", "ok", "Push proxy enabled", detail)], facts


def _key_view(key: Optional[dict]) -> Optional[dict]:
    if key is None:
        return None
    return {k: key.get(k) for k in ("thumbprint", "key_id", "display_name", "start_date_time", "end_date_time")}


def _entra(reading: dict, cert: dict) -> tuple[list[dict], dict]:
    """The key credentials on the Entra target (entra_key_credential_info)."""
    result = reading.get("entra")
    if not _ran(result):
        return [], {}
    if _failed(result, "reference_time"):
        return [finding("entra_key", "failure", "Keys in Entra ID not read", _message(result),
                        "Check the Graph credentials (Application.ReadWrite.All) and run the audit again.")], {}
    hybrid = reading.get("entra_target") == "hybrid_application"
    target = _dict(result.get("hybrid_application" if hybrid else "shared_service_principal"))
    keys = _list(target.get("keys"))
    by_thumb = {thumbprint_key(k.get("thumbprint")): k for k in keys}
    facts: dict[str, Any] = {
        "target": reading.get("entra_target"),
        "target_name": target.get("display_name"),
        "target_object_id": target.get("id"),
        "target_app_id": target.get("app_id"),
        "keys": len(keys),
        "current_key": None,
        "next_key": None,
        "shared_service_principal_keys_ours": None,
    }
    where = "the %s %r" % ("application" if hybrid else "service principal", target.get("display_name"))
    if not target.get("found"):
        what = "The dedicated Exchange hybrid application" if hybrid else "The Office 365 Exchange Online service principal"
        return [finding("entra_key", "failure", "Entra target not found", "%s is not in the tenant." % what,
                        "Run %s (step 3 creates or finds it)." % CONFIGURE)], facts
    findings = []
    current = thumbprint_key(_dict(cert.get("current")).get("thumbprint"))
    if current:
        key = by_thumb.get(current)
        facts["current_key"] = _key_view(key)
        if key is None:
            findings.append(finding("entra_key", "failure", "Key missing in Entra ID",
                                    "The key of the Auth certificate %s is not on %s: Microsoft 365 rejects "
                                    "Exchange's tokens." % (current, where),
                                    "Run %s (step 3 uploads it)." % CONFIGURE))
        elif key.get("expired"):
            findings.append(finding("entra_key", "failure", "Key expired in Entra ID",
                                    "On %s, it ended on %s." % (where, key.get("end_date_time")),
                                    "Run %s (step 3 uploads the current key)." % CONFIGURE))
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
    if hybrid:
        findings += _application(target, current, nxt)
        shared = _dict(result.get("shared_service_principal"))
        ours = [k for k in _list(shared.get("keys")) if k.get("ours")]
        facts["shared_service_principal_keys_ours"] = len(ours)
        if ours:
            findings.append(finding("entra_shared_key_left", "warning", "Our keys left on the shared service principal",
                                    "%d key(s) of this organization's Auth certificates (%s) are still on %r; with "
                                    "the dedicated application they are no longer needed there."
                                    % (len(ours), ", ".join(sorted(str(thumbprint_key(k.get("thumbprint"))) for k in ours)),
                                       shared.get("display_name")),
                                    "Run %s with push_notifications_cleanup_shared_service_principal=true."
                                    % CONFIGURE))
        elif shared.get("found"):
            findings.append(finding("entra_shared_key_left", "ok", "No key of ours on the shared service principal"))
    return findings, facts


# The API permissions of the dedicated application (ConfigureExchangeHybridApplication.ps1): EWS is Office 365
# Exchange Online's full_access_as_app; Graph permissions are Microsoft Graph's application roles
# (_clouds.API_PERMISSION_FAMILIES).


def _application(app: dict, current: Optional[str], nxt: Optional[str]) -> list[dict]:
    """The dedicated application's permissions (EWS, Graph), admin consent and expired keys."""
    permissions = _list(app.get("permissions"))
    ews = [p for p in permissions if p.get("resource_app_id") == EXCHANGE_ONLINE_APP_ID and p.get("type") == "Role"]
    graph = sorted(str(p.get("value") or p.get("id")) for p in permissions
                   if p.get("resource_app_id") == MICROSOFT_GRAPH_APP_ID and p.get("type") == "Role")
    findings = []
    if not any(p.get("value") == "full_access_as_app" for p in ews) and not graph:
        findings.append(finding("entra_application_permissions", "failure", "Dedicated application without EWS permission",
                                "%r does not request full_access_as_app of Office 365 Exchange Online (nor Graph "
                                "permissions): Exchange Online refuses its calls." % app.get("display_name"),
                                "Run %s (step 3 completes the application's permissions)." % CONFIGURE))
    else:
        findings.append(finding("entra_application_permissions", "ok", "Dedicated application's permissions",
                                "EWS: %s; Graph: %s." % (", ".join(sorted(str(p.get("value")) for p in ews)) or "none",
                                                         ", ".join(graph) or "none")))
    missing = sorted(str(p.get("value") or p.get("id")) for p in permissions if not p.get("consented"))
    if not _dict(app.get("service_principal")).get("found"):
        findings.append(finding("entra_application_consent", "failure", "Dedicated application without service principal",
                                "%r has no service principal in the tenant, so no admin consent." % app.get("display_name"),
                                "Run %s (step 3 creates it and grants admin consent)." % CONFIGURE))
    elif missing or not app.get("consent_granted"):
        findings.append(finding("entra_application_consent", "failure", "Dedicated application without admin consent",
                                "Admin consent does not cover: %s." % (", ".join(missing) or "any permission"),
                                "Run %s (step 3 grants admin consent), or grant it in the Entra admin center."
                                % CONFIGURE))
    else:
        findings.append(finding("entra_application_consent", "ok", "Admin consent granted"))
    ours = {current, nxt} - {None}
    expired = sorted(str(thumbprint_key(k.get("thumbprint"))) for k in _list(app.get("keys"))
                     if k.get("expired") and thumbprint_key(k.get("thumbprint")) not in ours)
    if expired:
        findings.append(finding("entra_application_expired_keys", "warning", "Expired keys on the dedicated application",
                                "%d expired key(s) on %r (%s) sign nothing any more." % (len(expired), app.get("display_name"),
                                                                                         ", ".join(expired)),
                                "Remove them with exchange.hybrid.msol_sp_credential (state: absent, their thumbprints)."))
    return findings


def _probe(result: Any) -> tuple[list[dict], Optional[dict]]:
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


def _builds(results: Any) -> dict[str, dict]:
    """exchange_server_info's facts by server name: the connected server of each run (its ExSetup build is known),
    and any other server whose hybrid readiness its cumulative update alone shows."""
    found: dict[str, dict] = {}
    for result in _list(results):
        if _failed(result, "servers"):
            continue
        for facts in _list(result.get("servers")):
            name = str(facts.get("name") or "").lower()
            if facts.get("connected") or (name not in found and facts.get("supports_hybrid_application_known")):
                found[name] = facts
    return found


def _certificate_checks(server: str, state: dict) -> list[dict]:
    """The Auth certificate in one server's store, judged as HealthChecker does (missing, no private key, expired,
    key under 2048 bits, SHA-1 signature); exchange_auth_info judged the dates by the server's clock."""
    thumbprint = thumbprint_key(state.get("thumbprint"))
    reason = "Auth certificate %s on %s: %s." % (
        thumbprint, server, "; ".join(str(p) for p in state.get("problems") or []) or "it cannot sign tokens here")
    fix = ("Export the certificate with its private key from a server that has it and import it here "
           "(Import-ExchangeCertificate).")
    if not state.get("present"):
        return [finding("auth_certificate_present", "failure", "Auth certificate missing here", reason, fix)]
    findings = []
    days = state.get("days_remaining")
    if not state.get("has_private_key"):
        findings.append(finding("auth_certificate_present", "failure", "Auth certificate without private key here",
                                reason, fix))
    elif isinstance(days, int) and days <= 0:
        findings.append(finding("auth_certificate_present", "failure", "Auth certificate expired here", reason,
                                "Run %s: it replaces the expired certificate." % CONFIGURE))
    elif not state.get("usable") and not _is_weak(state.get("signature_algorithm")) and not (
            isinstance(state.get("key_size"), int) and state["key_size"] < MINIMUM_KEY_SIZE):
        findings.append(finding("auth_certificate_present", "failure", "Auth certificate unusable here", reason, fix))
    else:
        findings.append(finding("auth_certificate_present", "ok", "Auth certificate present with private key"))
    size = state.get("key_size")
    if isinstance(size, int) and size < MINIMUM_KEY_SIZE:
        findings.append(finding("auth_certificate_key_size", "failure", "Auth certificate key of %d bits" % size,
                                "Certificate %s has a %d-bit key; OAuth needs %d bits or more."
                                % (thumbprint, size, MINIMUM_KEY_SIZE),
                                "Run %s after removing it from AuthConfig: it creates a 2048-bit certificate."
                                % CONFIGURE))
    if _is_weak(state.get("signature_algorithm")):
        findings.append(finding("auth_certificate_signature", "warning", "Auth certificate signed with SHA-1",
                                "Certificate %s is signed with %s." % (thumbprint, state.get("signature_algorithm")),
                                "Replace it with a certificate signed with SHA-256 or better (New-ExchangeCertificate)."))
    return findings


def _server_row(facts: dict, host: Optional[str], build: Optional[dict], hybrid: bool) -> dict:
    """One server as exchange_auth_info read it; ``build``: exchange_server_info's facts for it, when read."""
    build = build or {}
    findings = []
    if facts.get("meets_push_minimum") is False:
        findings.append(finding("build", "failure", "Below Exchange 2013 CU3",
                                "Build %s; push notifications need %s or later."
                                % (facts.get("version"), MINIMUM_BUILD),
                                "Install a current cumulative update."))
    elif facts.get("meets_push_minimum"):
        findings.append(finding("build", "ok", "Build %s" % (build.get("effective_version") or facts.get("version"))))
    if hybrid and not facts.get("is_edge"):
        if build.get("supports_hybrid_application") is True:
            findings.append(finding("hybrid_build", "ok", "Build supports the dedicated application"))
        elif build.get("supports_hybrid_application") is False and build.get("supports_hybrid_application_known"):
            findings.append(finding("hybrid_build", "failure", "Build without the dedicated application's update",
                                    "Build %s; the dedicated Exchange hybrid application needs Exchange 2016 CU23, "
                                    "2019 CU14 or CU15 with the April 2025 hotfix update, or Exchange SE."
                                    % (build.get("effective_version") or facts.get("version")),
                                    "Install the April 2025 hotfix update or later."))
        else:
            findings.append(finding("hybrid_build", "warning", "Hotfix level not read",
                                    "The cumulative update alone does not show whether the server has the hotfix "
                                    "update the dedicated application needs, and its ExSetup version was not read.",
                                    "Add the server to the inventory group the audit runs on."))
    if host is None:
        findings.append(finding("audited", "ok", "Not in the inventory, read through its organization"))
    certificate: dict[str, Any] = {"thumbprint": None, "present": None}
    if facts.get("answered") is False:
        findings.append(finding("answered", "failure", "Server did not answer",
                                str(facts.get("error") or "its certificate store could not be read"),
                                "Check that the server runs and that the other Exchange servers reach it (RPC)."))
    elif isinstance(facts.get("auth_certificate"), dict):
        state = facts["auth_certificate"]
        certificate = {"thumbprint": thumbprint_key(state.get("thumbprint")), "present": bool(state.get("usable"))}
        checks = _certificate_checks(str(facts.get("name")), state)
        findings += checks
        if not state.get("usable"):
            certificate["reason"] = next((f["detail"] for f in checks if f["severity"] != "ok"),
                                         "it cannot sign tokens here")
        else:
            certificate.update(not_after=state.get("not_after"), days_remaining=state.get("days_remaining"),
                               key_size=state.get("key_size"), signature_algorithm=state.get("signature_algorithm"))
        nxt = facts.get("next_auth_certificate")
        if isinstance(nxt, dict) and nxt.get("thumbprint"):
            certificate["next_present"] = bool(nxt.get("usable"))
            if not nxt.get("usable"):
                findings.append(finding("next_auth_certificate_present", "warning", "Next certificate not usable here",
                                        "Next certificate %s on %s: %s." % (
                                            thumbprint_key(nxt.get("thumbprint")), facts.get("name"),
                                            "; ".join(str(p) for p in nxt.get("problems") or []) or "not usable"),
                                        "Import it with its private key here before its effective date."))
    return {
        "name": facts.get("name"),
        "host": host,
        "fqdn": facts.get("fqdn"),
        "product": build.get("product"),
        "version": facts.get("version"),
        "effective_version": build.get("effective_version") or facts.get("version"),
        "roles": facts.get("roles") or [],
        "site": build.get("site_name"),
        "meets_push_minimum": facts.get("meets_push_minimum"),
        "answered": facts.get("answered"),
        "auth_certificate": certificate,
        "status": worst([f["severity"] for f in findings]),
        "findings": findings,
    }


def _host_row(host: str, check: str, title: str, detail: str, fix: str) -> dict:
    """An inventory host that no reader could tie to a server."""
    return {"name": host, "host": host, "fqdn": None, "product": None, "version": None, "effective_version": None,
            "roles": [], "site": None, "meets_push_minimum": None, "answered": None,
            "auth_certificate": {"thumbprint": None, "present": None}, "status": "failure",
            "findings": [finding(check, "failure", title, detail, fix)]}


def _host_for(server: dict, hosts: list[str]) -> Optional[str]:
    """The inventory host that names this server (its name or FQDN, any case; a host's short name counts)."""
    names = {str(server.get("name") or "").lower(), str(server.get("fqdn") or "").lower()} - {""}
    return next((h for h in hosts if h.lower() in names or h.lower().split(".", 1)[0] in names), None)


def _count(findings: list[dict]) -> dict:
    return {name: sum(1 for f in findings if f["severity"] == name) for name in SEVERITIES}


def _read_organization(reading: dict, warning_days: int, run_probe: bool) -> dict:
    hosts = [str(h) for h in reading.get("hosts") or [] if h]
    exchange = reading.get("exchange")
    group = {"name": None, "guid": None, "tenant_domain": reading.get("tenant_domain"),
             "entra_target": reading.get("entra_target"), "primary": reading.get("reader")}
    if _failed(exchange, "servers"):
        why = _message(exchange) if _ran(exchange) else "the organization was not read"
        rows = [_host_row(h, "reachable", "Not audited",
                          "%s (read through %s): %s" % (h, reading.get("reader"), why),
                          "Check the WinRM connection and credentials of %s." % reading.get("reader"))
                for h in hosts or [reading.get("reader") or "(none)"]]
        return _organization(group, [], rows, {}, warning_days)
    organization = _dict(exchange.get("organization"))
    group.update(name=organization.get("name"), guid=organization.get("guid"))
    auth = _dict(exchange.get("auth_config"))
    auth_servers = _list(exchange.get("auth_servers"))
    hybrid = reading.get("entra_target") == "hybrid_application"
    renew = reading.get("renew_before_days")
    findings, cert = _certificate(auth, warning_days, renew if isinstance(renew, int) else 60)
    findings += _next_certificate(auth, parse_utc(exchange.get("server_utc_now")))
    server_findings, auth_server = _auth_server(reading, auth_servers)
    findings += server_findings
    evosts_findings, evosts = [], {}
    entra_findings, entra = _entra(reading, cert)
    if hybrid:
        evosts_findings, evosts = _evosts_auth_server(reading, auth_servers, entra.get("target_app_id"),
                                                      _list(exchange.get("evosts_duplicates")))
    findings += evosts_findings + entra_findings
    findings += _hybrid_app_overrides(exchange, hybrid)
    proxy_findings, proxy = _push_proxy(_dict(exchange.get("push_proxy")), reading.get("tenant_domain"))
    findings += proxy_findings
    probe_findings, probe = _probe(reading.get("probe")) if run_probe else ([], None)
    findings += probe_findings
    builds = _builds(reading.get("builds"))
    rows, matched = [], set()
    for server in _list(exchange.get("servers")):
        host = _host_for(server, hosts)
        matched.add(host)
        rows.append(_server_row(server, host, builds.get(str(server.get("name") or "").lower()), hybrid))
    for host in hosts:
        if host not in matched:
            rows.append(_host_row(host, "organization_member", "Not a server of %s" % group["name"],
                                  "%s reads %s through %s, which does not list %s among its servers."
                                  % (group["name"], reading.get("tenant_domain"), reading.get("reader"), host),
                                  "Give the host the audit_organization of its own organization."))
    details = {"auth_certificate": cert, "auth_server": auth_server, "evosts_auth_server": evosts,
               "entra": entra, "push_proxy": proxy, "probe": probe, "server_utc_now": exchange.get("server_utc_now")}
    return _organization(group, findings, rows, details, warning_days)


def build_report(organizations: list[dict], warning_days: int = 60, run_probe: bool = False,
                 generated_at: Optional[str] = None) -> dict:
    """The audit report (a JSON-serialisable dict) from what the readers returned, per organization."""
    generated_at = generated_at or format_utc(utc_now())
    report_organizations = [_read_organization(_dict(o), warning_days, run_probe) for o in organizations]
    every = [f for o in report_organizations for f in o["findings"]] + [
        f for o in report_organizations for s in o["servers"] for f in s["findings"]]
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": generated_at,
        "generator": "exchange.hybrid.audit_push_notifications",
        "settings": {"warning_days": warning_days, "run_probe": run_probe},
        "summary": {
            "status": worst([f["severity"] for f in every]),
            "organizations": len(report_organizations),
            "servers": sum(len(o["servers"]) for o in report_organizations),
            "findings": _count(every),
            "organizations_by_status": _count([{"severity": o["status"]} for o in report_organizations]),
            "servers_by_status": _count([{"severity": s["status"]} for o in report_organizations
                                         for s in o["servers"]]),
        },
        "organizations": report_organizations,
    }


def _organization(group: dict, findings: list[dict], rows: list[dict], details: dict, warning_days: int) -> dict:
    every = findings + [f for row in rows for f in row["findings"]]
    cert = details.get("auth_certificate", {})
    return {
        "name": group["name"] or "(not reached)",
        "guid": group["guid"],
        "tenant_domain": group["tenant_domain"],
        "entra_target": group["entra_target"],
        "primary_host": group["primary"],
        "server_utc_now": details.get("server_utc_now"),
        "status": worst([f["severity"] for f in every]),
        "counts": _count(every),
        "auth_certificate": cert.get("current"),
        "next_certificate": cert.get("next"),
        "auth_config": cert.get("auth_config"),
        "predicted_certificate_action": cert.get("predicted_action"),
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
