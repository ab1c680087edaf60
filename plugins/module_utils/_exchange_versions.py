# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Exchange builds: version tuples, the push minimum, what a build supports (from the cmdlet catalog).

PRIVATE to the collection: it can change at any time.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from ansible_collections.exchange.hybrid.plugins.module_utils import _cmdlet_catalog as catalog
from ansible_collections.exchange.hybrid.plugins.module_utils._errors import CatalogError, ExchangeInputError

PUSH_MINIMUM = (15, 0, 775, 38)  # Exchange 2013 CU3, required for push notifications

# The hybrid Graph workflow (RouteThroughMSGraph) needs the May 2026 hotfix update. ConfigureExchangeHybridApplication.ps1
# checks every server with Get-ProcessedServerList -MinimumSU "May26HU"; CSS-Exchange's build table
# (Shared/Get-ExchangeBuildVersionInformation.ps1, after PR #2537) has May26HU only for Exchange SE RTM, 15.2.2562.41
# (also learn.microsoft.com/exchange/new-features/build-numbers-and-release-dates: "Exchange Server SE RTM May26HU",
# May 7, 2026). Exchange 2016 and 2019 are out of support and got no May 2026 HU, so no build of theirs has the flow
# (the script's comparison lets a product line without that HU pass; this collection does not, as none has it).
GRAPH_FLOW_MINIMUM = {"SE": (15, 2, 2562, 41)}
GRAPH_FLOW_NEEDED = "Exchange SE with the May 2026 hotfix update (15.2.2562.41) or later"


def version_tuple(value: Any) -> Optional[tuple[int, int, int, int]]:
    """(major, minor, build, revision) from a ServerVersion (dict of Major, Minor, Build, Revision) or a version string."""
    if value is None:
        return None
    if isinstance(value, dict):
        try:
            return tuple(int(value.get(part) or 0) for part in ("Major", "Minor", "Build", "Revision"))  # type: ignore
        except (TypeError, ValueError):
            return None
    if isinstance(value, (list, tuple)) and len(value) == 4:
        return tuple(int(part) for part in value)  # type: ignore[return-value]
    try:
        return catalog.version_from_text(str(value))
    except ValueError:
        return None


def format_version(version: Optional[Sequence[int]]) -> Optional[str]:
    return None if version is None else ".".join(str(part) for part in version)


def product_name(version: Sequence[int]) -> str:
    return "Exchange " + catalog.product_of(version)


def minimum_builds(cmdlet: str, parameter: str) -> str:
    """Human text of the builds that first have ``parameter`` (from the catalog), e.g. '15.1.2106.2, 15.2.721.2'."""
    spec = catalog.CATALOG[cmdlet]["parameters"][parameter]
    builds = [format_version(b) for b in spec.get("min_build", [])]
    products = spec.get("applies_to", catalog.CATALOG[cmdlet]["applies_to"])
    text = "Exchange " + "/".join(products)
    if builds:
        text += " at build " + " or ".join(b for b in builds if b)
    return text


def meets_push_minimum(version: Optional[Sequence[int]]) -> bool:
    return version is not None and tuple(version[:4]) >= PUSH_MINIMUM


def supports_parameter(cmdlet: str, parameter: str, version: Optional[Sequence[int]]) -> bool:
    return version is not None and catalog.parameter_available(cmdlet, parameter, version)


def best_version(admin_display_version: Any, exsetup: Optional[str]) -> Optional[tuple[int, int, int, int]]:
    """ExSetup's version (shows hotfix updates) when it belongs to the same product line, else AdminDisplayVersion."""
    adv = version_tuple(admin_display_version)
    setup = version_tuple(exsetup) if exsetup else None
    if setup is not None and (adv is None or tuple(setup[:2]) == tuple(adv[:2])):
        return setup
    return adv


def parameter_support(
    cmdlet: str, parameter: str, admin_display_version: Any, exsetup: Optional[str] = None
) -> Optional[bool]:
    """True/False when known; None when only AdminDisplayVersion is known and a hotfix update could add it."""
    if exsetup:
        return supports_parameter(cmdlet, parameter, best_version(admin_display_version, exsetup))
    adv = version_tuple(admin_display_version)
    if adv is None:
        return None
    if supports_parameter(cmdlet, parameter, adv):
        return True
    spec = catalog.CATALOG[cmdlet]["parameters"][parameter]
    for minimum in spec.get("min_build", []):
        if tuple(minimum[:3]) == tuple(adv[:3]) and catalog.product_of(adv) in spec.get("applies_to", []):
            return None  # AdminDisplayVersion shows the CU only; the hotfix update may be installed
    return False


def graph_flow_support(admin_display_version: Any, exsetup: Optional[str] = None) -> Optional[bool]:
    """Whether the build has the May 2026 HU's Graph workflow: True/False, or None when only AdminDisplayVersion is
    known and shows the cumulative update the hotfix update is installed on (it does not show the HU)."""
    version = best_version(admin_display_version, exsetup) if exsetup else version_tuple(admin_display_version)
    if version is None:
        return None
    minimum = GRAPH_FLOW_MINIMUM.get(catalog.product_of(version))
    if minimum is None:
        return False
    if tuple(version[:4]) >= minimum:
        return True
    if not exsetup and tuple(version[:3]) == tuple(minimum[:3]):
        return None
    return False


def graph_flow_needs(version: Optional[Sequence[int]]) -> str:
    """What a server of ``version`` needs for the Graph workflow, for messages."""
    minimum = GRAPH_FLOW_MINIMUM["SE"]
    if version is not None and catalog.product_of(version) == "SE":
        return "the May 2026 hotfix update (%s)" % format_version(minimum)
    return "an upgrade to %s" % GRAPH_FLOW_NEEDED


def validate_calls(calls: Sequence[dict], version: Optional[Sequence[int]], server: Optional[str] = None) -> None:
    """Refuse (ExchangeInputError) any Exchange call that ``version`` of Exchange would reject, before sending."""
    for entry in calls:
        name = entry["cmdlet"]
        if not catalog.is_exchange_cmdlet(name):
            continue
        try:
            catalog.validate_call(name, entry.get("parameters", {}), version)
        except CatalogError as exc:
            where = server or "the server"
            build = " (%s, build %s)" % (product_name(version), format_version(version)) if version else ""
            raise ExchangeInputError(
                "%s cannot be sent to %s%s: %s" % (name, where, build, exc.message),
                server,
                {"cmdlet": name, "parameter": exc.parameter},
            )
