# Copyright (c) exchange.hybrid contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared doc fragments parse, and action-group membership agrees with meta/runtime.yml."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from ansible_collections.exchange.hybrid.plugins.doc_fragments import actiongroup_exchange, actiongroup_graph, attributes

ROOT = Path(__file__).resolve().parents[4]
GROUP_FRAGMENTS = {"exchange": actiongroup_exchange, "graph": actiongroup_graph}


def _runtime_groups() -> dict[str, list[str]]:
    return yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text(encoding="utf-8"))["action_groups"]


def _module_fragments(path: Path) -> list[str]:
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "DOCUMENTATION" for t in node.targets):
            doc = yaml.safe_load(node.value.value)
            fragments = doc.get("extends_documentation_fragment", [])
            return [fragments] if isinstance(fragments, str) else list(fragments)
    return []


@pytest.mark.parametrize("variant", ["DOCUMENTATION", "INFO_MODULE", "ACTION_PLUGIN"])
def test_attributes_variants_parse(variant: str) -> None:
    doc = yaml.safe_load(getattr(attributes.ModuleDocFragment, variant))
    assert doc["options"] == {}
    for name, attribute in doc["attributes"].items():
        assert attribute["description"] and attribute["support"] in ("full", "partial", "none", "N/A"), name


def test_info_variant_is_read_only() -> None:
    attrs = yaml.safe_load(attributes.ModuleDocFragment.INFO_MODULE)["attributes"]
    assert attrs["check_mode"]["support"] == "full"
    assert attrs["diff_mode"]["support"] == "N/A"
    base = yaml.safe_load(attributes.ModuleDocFragment.DOCUMENTATION)["attributes"]
    assert base["check_mode"]["support"] == base["diff_mode"]["support"] == "full"


@pytest.mark.parametrize("group", sorted(GROUP_FRAGMENTS))
def test_group_fragment_membership(group: str) -> None:
    doc = yaml.safe_load(GROUP_FRAGMENTS[group].ModuleDocFragment.DOCUMENTATION)
    action_group = doc["attributes"]["action_group"]
    assert action_group["membership"] == [f"exchange.hybrid.{group}"]
    assert f"group/exchange.hybrid.{group}" in action_group["description"]
    assert group in _runtime_groups()


def test_modules_document_their_action_group() -> None:
    """Each existing module extends the fragment of exactly the group(s) runtime.yml puts it in."""
    groups = _runtime_groups()
    modules = sorted((ROOT / "plugins" / "modules").glob("*.py"))
    problems = []
    for path in modules:
        if path.name == "__init__.py":
            continue
        try:
            fragments = _module_fragments(path)
        except yaml.YAMLError as exc:
            problems.append(f"{path.name}: DOCUMENTATION is not valid YAML ({exc.problem})")
            continue
        for group in GROUP_FRAGMENTS:
            member = path.stem in groups.get(group, [])
            documented = f"exchange.hybrid.actiongroup_{group}" in fragments
            if member != documented:
                problems.append(f"{path.name}: in runtime.yml group {group}={member}, extends actiongroup_{group}={documented}")
    assert not problems, "\n".join(problems)
