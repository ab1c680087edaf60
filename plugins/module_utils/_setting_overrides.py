# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the collection judges setting overrides and the DAuth guard, in one place.

exchange_setting_override uses it before it writes (adoption, duplicates, the DAuth guard); exchange_auth_info
returns the same judgement as a reader (``oauth_hybrid``, ``setting_override_duplicates``), which the role asserts on
before anything changes and the audit reports. The functions take the rows as Exchange returns them
(``Name``, ``ComponentName``, ``SectionName``, ``Parameters``, ``Server``; ``ApplicationIdentifier``, ``Enabled``).
"""

from __future__ import annotations

from typing import Any, Optional

# The "Exchange Online" partner application has the shared first-party service principal's app ID (Microsoft's
# script's $resourceAppId).
from ansible_collections.exchange.hybrid.plugins.module_utils._clouds import EXCHANGE_ONLINE_APP_ID
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange_object import same_set, same_text

# The override that turns the dedicated hybrid application on, and the name Microsoft's
# ConfigureExchangeHybridApplication.ps1 gives it (its EnableExchangeHybridApplicationOverride region).
HYBRID_APP_COMPONENT = "Global"
HYBRID_APP_SECTION = "ExchangeOnpremAsThirdPartyAppId"
HYBRID_APP_PARAMETERS = ["Enabled=true"]
SCRIPT_NAME = "EnableExchangeHybrid3PAppFeature"
# What oauth_hybrid found, as exchange_setting_override returns it (the reader adds the reason and the fix).
OAUTH_FOUND_KEYS = (
    "passed",
    "exchange_online_partner_applications",
    "enabled_intra_organization_connectors",
    "disabled_intra_organization_connectors",
)
OAUTH_FIX = (
    "Configure OAuth between Exchange and Exchange Online first (run the Hybrid Configuration Wizard and choose its "
    "modern/OAuth option, or enable the IntraOrganizationConnector with Set-IntraOrganizationConnector -Enabled "
    "$true), or set allow_without_oauth_hybrid to true if you know that DAuth is not needed."
)


def values(value: Any) -> list[str]:
    """A multi-valued property as a list of non-empty strings (Exchange returns one value bare)."""
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


def in_section(row: dict, component: Optional[str], section: Optional[str]) -> bool:
    return same_text(row.get("ComponentName"), component) and same_text(row.get("SectionName"), section)


def sets(row: dict, parameters, servers) -> bool:
    """The override sets these parameters for these servers (none: organization-wide)."""
    return same_parameters(values(row.get("Parameters")), parameters) and same_set(values(row.get("Server")), servers or [])


def turns_hybrid_application_on(component: Optional[str], section: Optional[str], parameters) -> bool:
    """The override is the dedicated hybrid application's, with Enabled=true: Microsoft's script checks OAuth
    before it creates it (CSS-Exchange pull request 2399)."""
    return (
        same_text(component, HYBRID_APP_COMPONENT)
        and same_text(section, HYBRID_APP_SECTION)
        and any(normalise_parameter(p).casefold() == "enabled=true" for p in parameters or [])
    )


def keep_order(row: dict) -> tuple:
    """Which of several overrides to keep (or adopt): Microsoft's script's name first, then the oldest (HCW or the
    script made it before we came), then by name."""
    return (not same_text(row.get("Name"), SCRIPT_NAME), str(row.get("WhenCreatedUTC") or ""), str(row.get("Name")))


def oauth_missing(found: dict) -> str:
    missing = []
    if not found["exchange_online_partner_applications"]:
        missing.append("no enabled 'Exchange Online' partner application (ApplicationIdentifier %s)" % EXCHANGE_ONLINE_APP_ID)
    if not found["enabled_intra_organization_connectors"]:
        disabled = found["disabled_intra_organization_connectors"]
        missing.append(
            "no enabled IntraOrganizationConnector" + (" (disabled: %s)" % ", ".join(disabled) if disabled else "")
        )
    return " and ".join(missing)


def oauth_hybrid(partner_applications: list, connectors: list) -> dict:
    """What Microsoft's script checks before it creates the override: the enabled 'Exchange Online' partner
    application (its well-known app ID, no Realm) and at least one enabled IntraOrganizationConnector. With the
    reason (why turning the dedicated application on would break hybrid) and the fix, both null when it passed."""
    partners = [
        str(row.get("Name"))
        for row in partner_applications or []
        if same_text(row.get("ApplicationIdentifier"), EXCHANGE_ONLINE_APP_ID)
        and not row.get("Realm")
        and row.get("Enabled") is True
    ]
    rows = connectors or []
    found = {
        "passed": False,
        "exchange_online_partner_applications": partners,
        "enabled_intra_organization_connectors": [str(row.get("Name")) for row in rows if row.get("Enabled") is True],
        "disabled_intra_organization_connectors": [str(row.get("Name")) for row in rows if row.get("Enabled") is not True],
    }
    found["passed"] = bool(partners) and bool(found["enabled_intra_organization_connectors"])
    found["reason"] = None if found["passed"] else (
        "the organization does not use OAuth for hybrid (%s): enabling %s\\%s there breaks free/busy, MailTips and "
        "profile photos, which then use DAuth (CSS-Exchange pull request 2399)"
        % (oauth_missing(found), HYBRID_APP_COMPONENT, HYBRID_APP_SECTION)
    )
    found["fix"] = None if found["passed"] else OAUTH_FIX
    return found


def hybrid_application_override_in_place(overrides: list) -> bool:
    """An override already turns the dedicated application on organization-wide (the DAuth guard then only warns)."""
    return any(
        in_section(row, HYBRID_APP_COMPONENT, HYBRID_APP_SECTION) and sets(row, HYBRID_APP_PARAMETERS, [])
        for row in overrides or []
    )


def duplicates_fix(rows: list, kept: str) -> str:
    """The commands that remove the other overrides of a section, keeping ``kept``."""
    return "Remove-SettingOverride %s (keeping %s), or set remove_duplicates to true." % (
        "; ".join("-Identity '%s' -Confirm:$false" % row.get("Name") for row in rows),
        kept,
    )


def duplicates_finding(rows: list, component: str, section: str, kept: str) -> str:
    """HealthChecker's MultipleSettingOverrides: Exchange applies all of them."""
    return "%d other setting overrides also set %s\\%s (%s) beside %s, so the feature's state cannot be told" % (
        len(rows), component, section, ", ".join("'%s'" % row.get("Name") for row in rows), kept,
    )


def section_duplicates(overrides: list) -> list[dict]:
    """Each component\\section that several overrides set: ``{component, section, names, agree, keep,
    hybrid_application, fix}``. They agree when all set the same parameters for the same servers."""
    by_section: dict[tuple, list] = {}
    for row in overrides or []:
        key = (str(row.get("ComponentName") or "").casefold(), str(row.get("SectionName") or "").casefold())
        by_section.setdefault(key, []).append(row)
    found = []
    for rows in by_section.values():
        if len(rows) < 2:
            continue
        keep = sorted(rows, key=keep_order)[0]
        others = [row for row in rows if row is not keep]
        agree = all(sets(row, values(keep.get("Parameters")), values(keep.get("Server"))) for row in others)
        component, section = str(keep.get("ComponentName")), str(keep.get("SectionName"))
        found.append({
            "component": component,
            "section": section,
            "names": [str(row.get("Name")) for row in rows],
            "agree": agree,
            "keep": str(keep.get("Name")),
            "hybrid_application": in_section(keep, HYBRID_APP_COMPONENT, HYBRID_APP_SECTION),
            "fix": "%s%s. Fix: %s" % (
                duplicates_finding(others, component, section, str(keep.get("Name"))),
                "" if agree else ", and they set other values",
                duplicates_fix(others, str(keep.get("Name"))),
            ),
        })
    return found
