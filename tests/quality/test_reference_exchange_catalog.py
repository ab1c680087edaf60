# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The project's cmdlet catalog matches Microsoft's reference (../shared/reference/exchange-cmdlets.json)."""

from __future__ import annotations

import copy
import importlib.util
import json
import os

import pytest

from ansible_collections.exchange.hybrid.plugins.module_utils import _cmdlet_catalog as cat

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REFERENCE = os.path.join(os.path.dirname(ROOT), "shared", "reference", "exchange-cmdlets.json")
PRODUCTS = {
    "Exchange Server 2010": "2010",
    "Exchange Server 2013": "2013",
    "Exchange Server 2016": "2016",
    "Exchange Server 2019": "2019",
    "Exchange Server SE": "SE",
}

pytestmark = pytest.mark.skipif(
    not os.path.exists(REFERENCE),
    reason="../shared/reference/exchange-cmdlets.json is not present (the reference folder ships outside the repo)",
)


@pytest.fixture(scope="module")
def reference():
    with open(REFERENCE, encoding="utf-8") as handle:
        return json.load(handle)


def onprem(names):
    return [PRODUCTS[n] for n in names if n in PRODUCTS]


def mismatches(catalog, reference):
    """Every difference between what the catalog carries and the reference, as readable lines."""
    problems = []
    for name, entry in catalog.items():
        if "source" in entry:
            if name in reference["cmdlets"]:
                problems.append("%s: carried as an extra but the reference has it" % name)
            continue
        ref = reference["cmdlets"].get(name)
        if ref is None:
            problems.append("%s: not in the reference and has no source note" % name)
            continue
        if entry["applies_to"] != onprem(ref["applies_to"]):
            problems.append("%s: applies_to %s != %s" % (name, entry["applies_to"], onprem(ref["applies_to"])))
        if sorted(entry["parameter_sets"]) != sorted(ref["parameter_sets"]):
            wanted = sorted(ref["parameter_sets"])
            problems.append("%s: parameter sets %s != %s" % (name, entry["parameter_sets"], wanted))
        for pname in entry["parameters"]:
            if pname not in ref["parameters"]:
                problems.append("%s -%s: not in the reference" % (name, pname))
                continue
            ours, theirs = cat.fill_defaults(entry, pname), ref["parameters"][pname]
            for key in ("type", "switch"):
                if ours[key] != theirs[key]:
                    problems.append("%s -%s: %s %r != %r" % (name, pname, key, ours[key], theirs[key]))
            for key in ("required_in", "parameter_sets"):
                if sorted(ours[key]) != sorted(theirs[key]):
                    problems.append("%s -%s: %s %r != %r" % (name, pname, key, ours[key], theirs[key]))
            if ours["applies_to"] != onprem(theirs["applies_to"]):
                problems.append("%s -%s: applies_to %r != %r" % (name, pname, ours["applies_to"], theirs["applies_to"]))
            if ours.get("valid_values", []) != theirs.get("valid_values", []):
                problems.append("%s -%s: valid_values differ" % (name, pname))
            if sorted(ours.get("aliases", [])) != sorted(theirs.get("aliases", [])):
                problems.append("%s -%s: aliases differ" % (name, pname))
        # Every set's member list must match too (derived from the per-parameter sets).
        for set_name, members in ref["parameter_sets"].items():
            ours_members = [
                p
                for p in entry["parameters"]
                if {set_name, "__AllParameterSets"} & set(cat.fill_defaults(entry, p)["parameter_sets"])
            ]
            if sorted(ours_members) != sorted(members):
                problems.append("%s: set %s members %s != %s" % (name, set_name, ours_members, members))
    return problems


def test_catalog_matches_reference(reference):
    assert mismatches(cat.CATALOG, reference) == []


def test_every_reference_cmdlet_and_parameter_is_carried(reference):
    for name, ref in reference["cmdlets"].items():
        assert name in cat.CATALOG, name
        assert sorted(cat.CATALOG[name]["parameters"]) == sorted(ref["parameters"]), name
    assert cat.COMMON_PARAMETERS == reference["common_parameters"]


def test_extras_are_documented_as_missing_or_looked_up(reference):
    assert "Get-PushNotificationApp" in reference["missing_cmdlets"]
    for name in ("Get-PushNotificationApp", "Remove-SettingOverride", "Get-ExchangeDiagnosticInfo"):
        assert name not in reference["cmdlets"] and cat.CATALOG[name]["source"]


def test_generator_output_is_committed():
    path = os.path.join(ROOT, "scripts", "make_cmdlet_catalog.py")
    spec = importlib.util.spec_from_file_location("make_cmdlet_catalog", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--check", "--reference", REFERENCE]) == 0


@pytest.mark.parametrize(
    "defect",
    [
        lambda c: c["New-AuthServer"]["parameters"]["Type"].__setitem__("valid_values", ["ACS"]),
        lambda c: c["Set-AuthConfig"]["parameters"]["CertificateThumbprint"].__setitem__("required_in", []),
        lambda c: c["New-AuthServer"]["parameters"]["DomainName"].__setitem__("applies_to", ["2013", "2019"]),
        lambda c: c["Set-AuthConfig"]["parameters"]["PublishCertificate"].__setitem__("parameter_sets", ["Other"]),
        lambda c: c["Get-AuthServer"]["parameters"].__setitem__("Bogus", {"type": "String"}),
        lambda c: c["New-ExchangeCertificate"]["parameters"]["KeySize"].__setitem__("type", "String"),
    ],
)
def test_planted_defects_are_caught(reference, defect):
    planted = copy.deepcopy(cat.CATALOG)
    defect(planted)
    assert mismatches(planted, reference)
