# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Graph workflow's reference data (_clouds.API_PERMISSION_FAMILIES, _exchange_versions.GRAPH_FLOW_MINIMUM, the
role's RouteThroughMSGraph override) agrees with ../shared/reference where it has the facts."""

from __future__ import annotations

import json
import os
import re

import pytest
import yaml

from ansible_collections.exchange.hybrid.plugins.module_utils import _clouds, _exchange_versions

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REFERENCE = os.path.join(os.path.dirname(ROOT), "shared", "reference")
FACTS = os.path.join(REFERENCE, "hybrid-2026-facts.md")
GRAPH_FACTS = os.path.join(REFERENCE, "graph-facts.md")
CMDLETS = os.path.join(REFERENCE, "exchange-cmdlets.json")

pytestmark = pytest.mark.skipif(
    not os.path.exists(FACTS), reason="../shared/reference is not present (the reference folder ships outside the repo)"
)


def read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def test_graph_permission_names_are_the_scripts():
    facts = read(FACTS)
    quoted = re.search(r"Graph permissions\s+named by a comparison of the script:\s*([^()]+?)\s*\(verify", facts, re.S)
    assert quoted, "hybrid-2026-facts.md no longer names the Graph permissions"
    names = {n.strip() for n in quoted.group(1).replace("\n", " ").split(",")}
    assert set(_clouds.API_PERMISSION_FAMILIES["graph"]["roles"]) == names


def test_resources_and_ews_role_as_the_reference_has_them():
    graph_facts = read(GRAPH_FACTS)
    assert _clouds.API_PERMISSION_FAMILIES["ews"]["roles"]["full_access_as_app"] in graph_facts
    assert _clouds.API_PERMISSION_FAMILIES["ews"]["resource_app_id"] == "00000002-0000-0ff1-ce00-000000000000"
    assert _clouds.MICROSOFT_GRAPH_APP_ID == "00000003-0000-0000-c000-000000000000"
    for roles in (f["roles"] for f in _clouds.API_PERMISSION_FAMILIES.values()):
        assert all(re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", r) for r in roles.values())
    ids = [r for f in _clouds.API_PERMISSION_FAMILIES.values() for r in f["roles"].values()]
    assert len(ids) == len(set(ids))


def test_override_as_the_reference_quotes_the_script():
    facts = read(FACTS)
    for fragment in ('-Name\n  "EnableRouteThroughMSGraphFeature"', '-Component "SettingOverride"', '-Section "RouteThroughMSGraph"',
                     '@("Enabled=true")', "-Component VariantConfiguration\n  -Argument Refresh"):
        assert fragment.replace("\n  ", " ") in facts.replace("\n  ", " ")
    with open(os.path.join(ROOT, "roles", "push_notifications", "tasks", "graph_flow.yml"), encoding="utf-8") as handle:
        tasks = yaml.safe_load(handle)
    overrides = [t for t in tasks if "exchange.hybrid.exchange_setting_override" in t]
    [on] = [t for t in overrides if t["exchange.hybrid.exchange_setting_override"].get("state", "present") == "present"]
    module = on["exchange.hybrid.exchange_setting_override"]
    assert (module["component"], module["section"], module["parameters"]) == ("SettingOverride", "RouteThroughMSGraph",
                                                                              ["Enabled=true"])
    assert module["refresh_variant_configuration"] is True
    with open(os.path.join(ROOT, "roles", "push_notifications", "defaults", "main.yml"), encoding="utf-8") as handle:
        defaults = yaml.safe_load(handle)
    assert defaults["push_notifications_graph_setting_override_name"] == "EnableRouteThroughMSGraphFeature"


def test_minimum_is_the_may_2026_hu_and_set_authserver_knows_graph_base_url():
    assert "May26HU" in read(FACTS)
    assert _exchange_versions.GRAPH_FLOW_MINIMUM == {"SE": (15, 2, 2562, 41)}
    with open(CMDLETS, encoding="utf-8") as handle:
        cmdlets = json.load(handle)["cmdlets"]
    assert "Exchange Server SE" in cmdlets["Set-AuthServer"]["parameters"]["GraphBaseUrl"]["applies_to"]


@pytest.mark.parametrize("adv, exsetup, expected", [
    ("15.2.2562.17", "15.2.2562.41", True),
    ("15.2.2562.17", "15.2.2562.37", False),
    ("15.2.2562.17", None, None),  # AdminDisplayVersion does not show the hotfix update
    ("15.2.1748.10", "15.2.1748.49", False),  # Exchange 2019: no May 2026 HU exists
    ("15.1.2507.6", "15.1.2507.72", False),
])
def test_graph_flow_support(adv, exsetup, expected):
    assert _exchange_versions.graph_flow_support(adv, exsetup) is expected
