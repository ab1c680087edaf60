# Copyright (c) exchange.hybrid contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's docsite (antsibull-docs + Sphinx) builds offline without warnings.

Like the generated build.sh: `antsibull-docs sphinx-init`, `antsibull-docs collection`, then `sphinx-build -W`.
Offline, Sphinx cannot download the intersphinx inventories of docs.ansible.com, so conf.py is pointed at a local
inventory holding the Ansible labels antsibull-docs' templates link to and one label per ansible.builtin plugin
(M(ansible.builtin.x) in our docs); any other unresolved reference still fails the build. Needs the theme
sphinx-ansible-theme (requirements-dev.txt); antsibull-docs brings Sphinx itself.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DOCSITE = ROOT / "docs" / "docsite"
GUIDES = sorted((DOCSITE / "rst").glob("*.rst"))
ANSIBLE_DOCS = "https://docs.ansible.com/projects/ansible/devel/"
# Labels of the Ansible documentation that antsibull-docs' page templates reference (module/plugin/role pages,
# environment variable index), with where they live there.
ANSIBLE_LABELS = {
    "action_plugins": ("plugins/action.html", "Action plugins"),
    "ansible_configuration_settings": ("reference_appendices/config.html", "Ansible Configuration Settings"),
    "callback_plugins": ("plugins/callback.html", "Callback plugins"),
    "collections_keyword": ("collections_guide/collections_using_playbooks.html", "Collections keyword"),
    "common_return_values": ("reference_appendices/common_return_values.html", "Return Values"),
    "list_of_callback_plugins": ("collections/callback_index_.html", "Index of all Callback Plugins"),
    "list_of_collections": ("collections/index.html", "Collection Index"),
}
BUILTIN_PLUGIN_TYPES = ("module", "lookup", "filter", "test", "connection", "callback", "become", "inventory")
PENDING_PLAYBOOKS: set[str] = set()  # playbooks the guides may name before they land


def _tool(name: str) -> str:
    path = BIN / name
    return str(path) if path.exists() else (shutil.which(name) or name)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", str(ROOT / ".venv" / "collections"))
    env["ANSIBLE_NOCOLOR"] = "1"
    return env


def _run(cmd: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout, check=False)


def write_inventory(path: Path, labels: dict[str, tuple[str, str]]) -> None:
    """A Sphinx objects.inv (version 2) with std:label entries."""
    header = (
        "# Sphinx inventory version 2\n# Project: Ansible\n# Version: devel\n"
        "# The remainder of this file is compressed using zlib.\n"
    ).encode()
    body = "".join(f"{name} std:label -1 {uri} {title}\n" for name, (uri, title) in sorted(labels.items()))
    path.write_bytes(header + zlib.compress(body.encode()))


def ansible_labels() -> dict[str, tuple[str, str]]:
    """ANSIBLE_LABELS plus the page label of every ansible.builtin plugin, found in ansible-core's package (module
    and plugin files; filters and tests by their documentation files), as docs.ansible.com names them."""
    import ansible

    package = Path(ansible.__file__).parent
    labels = dict(ANSIBLE_LABELS)
    for plugin_type in BUILTIN_PLUGIN_TYPES:
        folder = package / "modules" if plugin_type == "module" else package / "plugins" / plugin_type
        pattern = "*.yml" if plugin_type in ("filter", "test") else "*.py"
        for path in folder.glob(pattern):
            if path.stem == "__init__":
                continue
            labels[f"ansible_collections.ansible.builtin.{path.stem}_{plugin_type}"] = (
                f"collections/ansible/builtin/{path.stem}_{plugin_type}.html",
                f"ansible.builtin.{path.stem} {plugin_type}",
            )
    return labels


def offline_conf(conf: Path, inventory: Path) -> None:
    """Replace the intersphinx mapping (which would download) by the local inventory."""
    conf.write_text(
        conf.read_text(encoding="utf-8")
        + "\n# exchange.hybrid test: offline build, no inventory download\n"
        + f"intersphinx_mapping = {{'ansible_devel': ({ANSIBLE_DOCS!r}, {str(inventory)!r})}}\n",
        encoding="utf-8",
    )


@pytest.fixture(scope="module")
def docsite(tmp_path_factory) -> dict:
    try:
        import sphinx_ansible_theme  # noqa: F401
    except ImportError:
        pytest.fail("the docsite theme is missing: add sphinx-ansible-theme to requirements-dev.txt")
    dest = tmp_path_factory.mktemp("docsite")
    dest.chmod(0o700)  # antsibull-docs refuses a destination others can write to
    proc = _run(
        [_tool("antsibull-docs"), "sphinx-init", "--use-current", "--fail-on-error", "--dest-dir", str(dest),
         "exchange.hybrid"],
        dest,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    inventory = dest / "ansible_devel.inv"
    write_inventory(inventory, ansible_labels())
    offline_conf(dest / "conf.py", inventory)
    (dest / "rst").mkdir(mode=0o700, exist_ok=True)
    proc = _run(
        [_tool("antsibull-docs"), "--config-file", "antsibull-docs.cfg", "collection", "--cleanup", "everything",
         "--use-current", "--fail-on-error", "--dest-dir", "rst", "exchange.hybrid"],
        dest,
    )
    assert proc.returncode == 0, "antsibull-docs collection failed:\n" + proc.stdout[-3000:] + proc.stderr[-3000:]
    build = _run([sys.executable, "-m", "sphinx", "-b", "html", "rst", "build", "-c", ".", "-W", "--keep-going",
                  "-q"], dest)
    return {"dest": dest, "build": build, "html": dest / "build" / "collections" / "exchange" / "hybrid"}


def test_docsite_builds_without_warnings(docsite):
    build = docsite["build"]
    warnings = [line for line in build.stderr.splitlines() if "WARNING" in line or "ERROR" in line]
    assert build.returncode == 0 and not warnings, "\n".join(warnings) or build.stdout[-3000:] + build.stderr[-3000:]


def test_docsite_has_the_guides_modules_and_role(docsite):
    html = docsite["html"]
    for guide in GUIDES:
        page = html / "docsite" / (guide.stem + ".html")
        assert page.is_file(), page
    index = (html / "index.html").read_text(encoding="utf-8")
    for guide in GUIDES:
        assert f"docsite/{guide.stem}.html" in index, f"{guide.stem} is not linked from the collection index"
    for module in sorted((ROOT / "plugins" / "modules").glob("*.py")):
        if module.name != "__init__.py":
            assert (html / f"{module.stem}_module.html").is_file(), f"no docsite page for module {module.stem}"
    for role in sorted(p for p in (ROOT / "roles").iterdir() if (p / "meta" / "argument_specs.yml").is_file()):
        assert (html / f"{role.name}_role.html").is_file(), f"no docsite page for role {role.name}"


def test_offline_build_fails_on_an_unknown_reference(tmp_path, docsite):
    """The -W build with the local inventory is able to fail: a reference to a label nobody defines."""
    site = tmp_path / "site"
    (site / "rst").mkdir(parents=True)
    shutil.copy2(docsite["dest"] / "conf.py", site / "conf.py")
    (site / "rst" / "index.rst").write_text(
        "Index\n=====\n\nSee :ref:`common_return_values` and :ref:`no_such_label_anywhere`.\n", encoding="utf-8"
    )
    proc = _run([sys.executable, "-m", "sphinx", "-b", "html", "rst", "build", "-c", ".", "-W", "-q"], site)
    assert proc.returncode != 0
    assert "no_such_label_anywhere" in proc.stderr
    assert "common_return_values" not in proc.stderr


def test_lint_collection_docs_accepts_the_guides():
    proc = _run([_tool("antsibull-docs"), "lint-collection-docs", "."], ROOT, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_lint_collection_docs_can_fail(tmp_path):
    """A guide with broken RST is refused."""
    collection = tmp_path / "ansible_collections" / "exchange" / "hybrid"
    shutil.copytree(DOCSITE, collection / "docs" / "docsite")
    shutil.copy2(ROOT / "galaxy.yml", collection / "galaxy.yml")
    (collection / "meta").mkdir()
    shutil.copy2(ROOT / "meta" / "runtime.yml", collection / "meta" / "runtime.yml")
    guide = collection / "docs" / "docsite" / "rst" / "guide_quickstart.rst"
    guide.write_text(guide.read_text(encoding="utf-8") + "\n* a list item\nthat ends without a blank line\n")
    proc = _run([_tool("antsibull-docs"), "lint-collection-docs", "."], collection, timeout=300)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "guide_quickstart.rst" in proc.stdout + proc.stderr


def test_extra_docs_list_every_guide():
    extra = yaml.safe_load((DOCSITE / "extra-docs.yml").read_text(encoding="utf-8"))
    listed = [name for section in extra["sections"] for name in section["toctree"]]
    assert sorted(listed) == sorted(guide.stem for guide in GUIDES)
    for guide in GUIDES:
        label = f".. _ansible_collections.exchange.hybrid.docsite.{guide.stem}:"
        assert label in guide.read_text(encoding="utf-8"), f"{guide.name} lacks {label}"


def _role_options() -> set[str]:
    options: set[str] = set()
    for spec in (ROOT / "roles").glob("*/meta/argument_specs.yml"):
        for entry in yaml.safe_load(spec.read_text(encoding="utf-8"))["argument_specs"].values():
            options |= set(entry.get("options", {}))
    return options


def test_guides_name_only_real_role_variables():
    options = _role_options()
    if not options:
        pytest.skip("roles/*/meta/argument_specs.yml not there yet")
    text = "\n".join(guide.read_text(encoding="utf-8") for guide in GUIDES)
    named = set(re.findall(r"\bpush_notifications_[a-z0-9_]+", text))
    assert named, "the guides should show the role's main variables"
    assert sorted(named - options) == [], "variables the guides name but the role does not have"


def test_guides_name_only_real_audit_variables():
    audit = ROOT / "playbooks" / "audit_push_notifications.yml"
    if not audit.is_file():
        pytest.skip("playbooks/audit_push_notifications.yml not there yet")
    plays = yaml.safe_load(audit.read_text(encoding="utf-8"))
    play_vars = set().union(*(play.get("vars", {}) for play in plays))
    # Host variables the playbook reads from the inventory (such as audit_organization) are real too.
    host_vars = set(re.findall(r"\bhost\.(audit_[a-z0-9_]+)", audit.read_text(encoding="utf-8")))
    text = "\n".join(guide.read_text(encoding="utf-8") for guide in GUIDES)
    named = set(re.findall(r"``(audit_[a-z0-9_]+)", text))
    assert named and sorted(named - play_vars - host_vars) == []


def test_guides_name_only_real_playbooks():
    text = "\n".join(guide.read_text(encoding="utf-8") for guide in GUIDES)
    named = set(re.findall(r"\bexchange\.hybrid\.([a-z0-9_]+_push_notifications)\b", text))
    assert {"configure_push_notifications", "verify_push_notifications"} <= named
    missing = sorted(name for name in named - PENDING_PLAYBOOKS if not (ROOT / "playbooks" / f"{name}.yml").is_file())
    if missing and not any((ROOT / "playbooks").glob("*.yml")):
        pytest.skip("playbooks/ not there yet")
    assert missing == [], "playbooks the guides name but the collection does not ship"


def test_guides_name_only_injected_environment_variables():
    """Env variables the guides tell users about are the ones the credential types inject."""
    injected = set()
    for path in (ROOT / "extensions" / "credential_types").glob("*.yml"):
        text = path.read_text(encoding="utf-8")
        injected |= set(re.findall(r"^\s+([A-Z][A-Z0-9_]+): !unsafe", text, flags=re.M))
    text = "\n".join(guide.read_text(encoding="utf-8") for guide in GUIDES)
    named = set(re.findall(r"``((?:AZURE|EXCHANGE)_[A-Z0-9_]+)``", text))
    assert named and sorted(named - injected) == []
