# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the collection recognises AuthServers that HCW and Microsoft's scripts made, in one place.

exchange_auth_server uses it to adopt them (never add a second one); exchange_auth_info uses it to report several
evoSTS AuthServers for one tenant, the finding exchange_auth_server refuses to work around.
"""

from __future__ import annotations

from typing import Any, Optional

from ansible_collections.exchange.hybrid.plugins.module_utils._values import is_guid

# The name Microsoft's script gives the evoSTS AuthServer when it creates one, and the one the role uses.
EVOSTS_NAME = "EvoSTS"


def is_evosts(row: dict) -> bool:
    """Microsoft's rule (ConfigureExchangeHybridApplication.ps1, ConfigureAuthServer): Type AzureAD and a name
    that is HCW's C(EvoSts - <GUID>) or contains C(EvoSTS), case-insensitively."""
    return str(row.get("Type") or "").lower() == "azuread" and "evosts" in str(row.get("Name") or "").lower()


def is_hcw_name(name: Any, prefix: str = "evosts") -> bool:
    """The name HCW gives its AuthServers: C(EvoSts - <GUID>), C(ACS - <GUID>)."""
    text = str(name or "").lower()
    head = prefix + " - "
    return text.startswith(head) and is_guid(text[len(head):])


def realm_of(row: dict) -> str:
    return str(row.get("Realm") or "").lower()


def keep_order(row: dict, name: str = EVOSTS_NAME) -> tuple:
    """Which of several evoSTS AuthServers to keep: the default authorization endpoint (HMA relies on it),
    then the one HCW made, then the one named ``name``, then the first listed."""
    return (
        not bool(row.get("IsDefaultAuthorizationEndpoint")),
        not is_hcw_name(row.get("Name")),
        str(row.get("Name") or "").lower() != name.lower(),
    )


def duplicates_fix(rows: list[dict], keep: dict, realm: str) -> str:
    """What is wrong with several evoSTS AuthServers for one tenant, and the fix."""
    names = ", ".join("'%s'" % row.get("Name") for row in rows)
    others = [row for row in rows if row is not keep]
    commands = "; ".join("Remove-AuthServer -Identity '%s' -Confirm:$false" % row.get("Name") for row in others)
    return (
        "%d AzureAD (evoSTS) AuthServers trust the same tenant (Realm %s): %s. Exchange needs exactly one; Microsoft's "
        "ConfigureExchangeHybridApplication.ps1 stops here too. Nothing was changed. Fix: keep '%s' and remove the "
        "others (%s), or re-run the Hybrid Configuration Wizard, or set remove_duplicates: true to let "
        "exchange.hybrid.exchange_auth_server keep '%s' and remove the others."
        % (len(rows), realm or "unknown", names, keep.get("Name"), commands, keep.get("Name"))
    )


def evosts_duplicates(auth_servers: list[dict], name: str = EVOSTS_NAME) -> list[dict]:
    """Every tenant (Realm) trusted by more than one evoSTS AuthServer: ``{realm, names, keep, fix}``."""
    by_realm: dict[str, list[dict]] = {}
    for row in auth_servers:
        if is_evosts(row):
            by_realm.setdefault(realm_of(row), []).append(row)
    found = []
    for realm, rows in sorted(by_realm.items()):
        if len(rows) > 1:
            keep = sorted(rows, key=lambda row: keep_order(row, name))[0]
            found.append({
                "realm": realm or None,
                "names": [row.get("Name") for row in rows],
                "keep": keep.get("Name"),
                "fix": duplicates_fix(rows, keep, realm),
            })
    return found


def tenant_id_for(params: dict, auth_servers: list[dict]) -> tuple[Optional[str], str]:
    """The tenant ID an AuthServer's Realm must match (from ``tenant_id`` or ``tenant_domain``), and its source."""
    if params.get("tenant_id"):
        return params["tenant_id"].lower(), "tenant_id"
    tenant = params.get("tenant_domain") or ""
    if is_guid(tenant):
        return tenant.lower(), "tenant_domain"
    if tenant:
        # An AuthServer whose metadata URL names the tenant domain (the push article's MicrosoftSts, or an evoSTS
        # created from the domain): Exchange read the tenant ID from that metadata into Realm.
        needles = ("/%s/" % tenant.lower(), "realm=%s" % tenant.lower())
        for row in auth_servers:
            url = str(row.get("AuthMetadataUrl") or "").lower()
            if any(n in url for n in needles) and is_guid(row.get("Realm")):
                return realm_of(row), "the Realm of AuthServer %s, whose metadata names %s" % (row.get("Name"), tenant)
    return None, ""
