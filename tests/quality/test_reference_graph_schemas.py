"""The project's Graph schemas (plugins/module_utils/_graph_schemas.py) agree with the research reference.

The reference (../shared/reference/graph-schemas.json, built from Microsoft's v1.0 CSDL) lives outside the
repository; without it the comparison is skipped with the reason. Every type and property both describe must
agree on type, format and nullability, and every reference property must exist in the project's schema.
"""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.exchange.hybrid.plugins.module_utils._graph_schemas import SCHEMAS, json_schema

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REFERENCE = os.path.join(os.path.dirname(ROOT), "shared", "reference", "graph-schemas.json")


def _reference() -> dict:
    if not os.path.exists(REFERENCE):
        pytest.skip(f"reference schemas not present at {REFERENCE} (shared research folder is not part of the repository)")
    with open(REFERENCE, encoding="utf-8") as handle:
        return json.load(handle)["schemas"]


def _shape(prop: dict) -> tuple:
    if prop.get("type") == "array":
        items = prop.get("items", {})
        return ("array", items.get("$ref", items.get("type")))
    return (prop.get("type"), prop.get("format"), bool(prop.get("nullable", False)))


def test_every_reference_type_is_described():
    reference = _reference()
    missing = sorted(set(reference) - set(SCHEMAS))
    assert not missing, f"types in the reference but not in _graph_schemas.py: {missing}"


def _problems(name: str, ours: dict, theirs: dict) -> list[str]:
    problems = []
    for prop, spec in theirs.items():
        if prop not in ours:
            problems.append(f"{name}.{prop}: missing")
        elif _shape(ours[prop]) != _shape(spec):
            problems.append(f"{name}.{prop}: ours {_shape(ours[prop])} != reference {_shape(spec)}")
        elif spec.get("pattern") and ours[prop].get("pattern") != spec["pattern"]:
            problems.append(f"{name}.{prop}: pattern differs")
    return problems


def test_properties_agree_with_reference():
    """Types only the project describes (appRoleAssignment, organization, domain, errors) are not compared."""
    reference = _reference()
    problems = []
    for name in sorted(set(SCHEMAS) & set(reference)):
        problems += _problems(name, SCHEMAS[name]["properties"], reference[name]["properties"])
    assert not problems, "; ".join(problems)


def test_json_schema_is_valid_and_resolves():
    import jsonschema

    for name in SCHEMAS:
        schema = json_schema(name)
        jsonschema.Draft202012Validator.check_schema(schema)


def test_comparison_can_fail():
    """Planted defect: a nullable flip on keyCredential.key must be reported by the shape comparison."""
    reference = _reference()
    name = "microsoft.graph.keyCredential"
    planted = dict(SCHEMAS[name]["properties"])
    planted["key"] = dict(planted["key"], nullable=False)
    del planted["usage"]
    problems = _problems(name, planted, reference[name]["properties"])
    assert any(p.startswith(f"{name}.key:") for p in problems) and f"{name}.usage: missing" in problems
