# Copyright (c) exchange.hybrid contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The execution environment (EE) metadata and ansible-builder definition.

- meta/execution-environment.yml points ansible-builder's introspection at requirements.txt and bindep.txt;
- bindep.txt lists only optional (profile-tagged) Kerberos/CredSSP packages, with rpm and dpkg platform tags;
- execution-environment.yml (ansible-builder v3) produces a build context with `ansible-builder create` (no
  container engine needed) that installs the collection from the build context and our Python/system deps;
- `ansible-builder introspect` on an installed collection tree lists our dependencies.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
RUNTIME_DEPS = ("pywinrm", "cryptography", "msal", "requests")
OPTIONAL_PROFILES = {"kerberos", "credssp", "kerberos-compile"}
BINDEP_LINE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9.+_-]*)\s*(?:\[(?P<tags>[^\]]*)\])?\s*$")


def _tool(name: str) -> str:
    path = BIN / name
    return str(path) if path.exists() else (shutil.which(name) or name)


def _run(cmd: list[str], cwd: Path | None = None, collections: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_GALAXY_DISABLE_GPG_VERIFY="1")
    if collections is not None:
        # otherwise ansible-galaxy sees the work tree's collection (setup.sh's link) as installed and skips
        env["ANSIBLE_COLLECTIONS_PATH"] = str(collections)
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300, env=env, check=False)


def parse_bindep(text: str) -> list[tuple[str, set[str], set[str]]]:
    """(package, platforms, profiles) per entry; raises ValueError on a line bindep would not accept."""
    entries = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = BINDEP_LINE.match(line)
        if not match:
            raise ValueError(f"bindep.txt line {number} is not 'package [tags]': {raw!r}")
        tags = set((match.group("tags") or "").split())
        platforms = {tag.split(":", 1)[1] for tag in tags if tag.startswith("platform:")}
        profiles = {tag for tag in tags if not tag.startswith("platform:")}
        entries.append((match.group("name"), platforms, profiles))
    return entries


def bindep_problems(text: str) -> list[str]:
    """Every entry must be optional (an opt-in profile) and say which package family it is for."""
    problems = []
    for name, platforms, profiles in parse_bindep(text):
        if not profiles or not profiles <= OPTIONAL_PROFILES:
            problems.append(f"{name}: must be tagged with an optional profile {sorted(OPTIONAL_PROFILES)}")
        if not platforms & {"rpm", "dpkg"}:
            problems.append(f"{name}: needs a platform:rpm or platform:dpkg tag")
    return problems


def parse_requirements(text: str) -> dict[str, Requirement]:
    reqs = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            reqs[req.name.lower()] = req
    return reqs


def test_meta_execution_environment_points_at_requirements_and_bindep():
    meta = yaml.safe_load((ROOT / "meta" / "execution-environment.yml").read_text(encoding="utf-8"))
    assert meta == {"version": 1, "dependencies": {"python": "requirements.txt", "system": "bindep.txt"}}
    for name in ("requirements.txt", "bindep.txt"):
        assert (ROOT / name).is_file(), name


def test_requirements_txt_has_only_lower_bounds_for_our_runtime_deps():
    reqs = parse_requirements((ROOT / "requirements.txt").read_text(encoding="utf-8"))
    assert set(RUNTIME_DEPS) <= set(reqs), reqs
    for req in reqs.values():
        assert req.specifier and all(spec.operator == ">=" for spec in req.specifier), str(req)


def test_bindep_kerberos_and_credssp_are_optional_with_platform_tags():
    text = (ROOT / "bindep.txt").read_text(encoding="utf-8")
    assert bindep_problems(text) == []
    entries = parse_bindep(text)
    by_profile: dict[str, set[str]] = {}
    for name, platforms, profiles in entries:
        for profile in profiles:
            for platform in platforms:
                by_profile.setdefault(f"{profile}/{platform}", set()).add(name)
    assert {"krb5-libs", "krb5-workstation"} <= by_profile["kerberos/rpm"]
    assert {"krb5-libs"} <= by_profile["credssp/rpm"]
    assert {"krb5-devel", "gcc", "python3-devel"} <= by_profile["kerberos-compile/rpm"]
    assert {"libgssapi-krb5-2", "krb5-user"} <= by_profile["kerberos/dpkg"]
    assert {"libkrb5-dev", "gcc"} <= by_profile["kerberos-compile/dpkg"]


@pytest.mark.parametrize(
    "planted",
    [
        "krb5-libs [platform:rpm]\n",  # not optional: would be forced into every EE that includes us
        "krb5-libs [kerberos]\n",  # no platform tag
    ],
)
def test_bindep_check_can_fail(planted):
    assert bindep_problems(planted) != []


def test_bindep_parser_refuses_a_broken_line():
    with pytest.raises(ValueError, match="line 1"):
        parse_bindep("krb5-libs [platform:rpm kerberos\n")


def _ee_definition() -> dict:
    return yaml.safe_load((ROOT / "execution-environment.yml").read_text(encoding="utf-8"))


def test_ee_definition_python_deps_cover_requirements_txt():
    """The EE's inline Python list is requirements.txt plus pywinrm's kerberos/credssp extras, nothing looser."""
    ee_reqs = {Requirement(line).name.lower(): Requirement(line) for line in _ee_definition()["dependencies"]["python"]}
    reqs = parse_requirements((ROOT / "requirements.txt").read_text(encoding="utf-8"))
    for name, req in reqs.items():
        assert name in ee_reqs, f"execution-environment.yml lacks {req} from requirements.txt"
        assert ee_reqs[name].specifier == req.specifier, f"{ee_reqs[name]} != {req} (requirements.txt)"
    assert {"kerberos", "credssp"} <= ee_reqs["pywinrm"].extras


def test_ee_definition_system_deps_select_the_optional_rpm_profiles():
    """The image enables what bindep.txt tags optional: run-time libraries untagged, build headers as compile."""
    system = parse_bindep("\n".join(_ee_definition()["dependencies"]["system"]))
    ee_runtime = {name for name, _platforms, profiles in system if not profiles}
    ee_compile = {name for name, _platforms, profiles in system if profiles == {"compile"}}
    for name, platforms, profiles in parse_bindep((ROOT / "bindep.txt").read_text(encoding="utf-8")):
        if "rpm" not in platforms:
            continue
        if profiles & {"kerberos", "credssp"}:
            assert name in ee_runtime, f"{name} (bindep.txt) missing from the EE's run-time packages"
        if "kerberos-compile" in profiles:
            # the EE builds for its own interpreter (python3.11), so python3-devel becomes python3.11-devel
            expected = "python3.11-devel" if name == "python3-devel" else name
            assert expected in ee_compile, f"{expected} (bindep.txt) missing from the EE's compile packages"


@pytest.fixture(scope="module")
def collection_tarball(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("galaxy-build")
    proc = _run([_tool("ansible-galaxy"), "collection", "build", "--force", "--output-path", str(out), str(ROOT)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (tarball,) = out.glob("exchange-hybrid-*.tar.gz")
    return tarball


def test_ansible_builder_create_writes_a_context_with_our_dependencies(tmp_path, collection_tarball):
    # The EE file's relative paths (requirements.txt, bindep.txt, build/ee/...) resolve next to it, so lay out a
    # copy of the repository's relevant files instead of writing build output into the work tree.
    for name in ("execution-environment.yml", "requirements.txt", "bindep.txt"):
        shutil.copy2(ROOT / name, tmp_path / name)
    (tmp_path / "build" / "ee").mkdir(parents=True)
    shutil.copy2(collection_tarball, tmp_path / "build" / "ee" / "exchange-hybrid.tar.gz")
    context = tmp_path / "context"
    proc = _run(
        [_tool("ansible-builder"), "create", "-f", "execution-environment.yml", "--context", str(context)],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No matches" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr

    build_files = [context / name for name in ("Containerfile", "Dockerfile") if (context / name).exists()]
    assert build_files, sorted(p.name for p in context.iterdir())
    containerfile = build_files[0].read_text(encoding="utf-8")
    assert 'EE_BASE_IMAGE="quay.io/centos/centos:stream9"' in containerfile
    assert "ansible-galaxy collection install" in containerfile
    assert "introspect" in containerfile

    pip = (context / "_build" / "requirements.txt").read_text(encoding="utf-8")
    for dep in RUNTIME_DEPS:
        assert re.search(rf"^{dep}(\[[^\]]*\])?>=", pip, re.M), f"{dep} not in the build context:\n{pip}"
    bindep = (context / "_build" / "bindep.txt").read_text(encoding="utf-8")
    for package in ("krb5-libs [platform:rpm]", "krb5-workstation [platform:rpm]", "krb5-devel [platform:rpm compile]"):
        assert package in bindep, bindep

    galaxy = yaml.safe_load((context / "_build" / "requirements.yml").read_text(encoding="utf-8"))
    (entry,) = galaxy["collections"]
    assert entry == {"name": "collections/exchange-hybrid.tar.gz", "type": "file"}
    # the galaxy stage runs in /build, where _build/ is copied: the tarball must be there under that name
    assert (context / "_build" / entry["name"]).is_file()


def test_galaxy_requirement_of_the_ee_installs_the_collection(tmp_path, collection_tarball):
    """What the EE's galaxy stage runs, here without a container: the renamed tarball installs."""
    build = tmp_path / "build"
    (build / "collections").mkdir(parents=True)
    shutil.copy2(collection_tarball, build / "collections" / "exchange-hybrid.tar.gz")
    (build / "requirements.yml").write_text(
        yaml.safe_dump({"collections": _ee_definition()["dependencies"]["galaxy"]["collections"]}), encoding="utf-8"
    )
    dest = tmp_path / "installed"
    proc = _run(
        [_tool("ansible-galaxy"), "collection", "install", "-r", "requirements.yml", "--collections-path", str(dest)],
        cwd=build,
        collections=dest,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    installed = dest / "ansible_collections" / "exchange" / "hybrid"
    for name in ("meta/execution-environment.yml", "requirements.txt", "bindep.txt", "meta/runtime.yml"):
        assert (installed / name).is_file(), f"{name} is not shipped in the collection tarball"


def test_ansible_builder_introspect_lists_our_dependencies(tmp_path, collection_tarball):
    dest = tmp_path / "collections"
    proc = _run(
        [_tool("ansible-galaxy"), "collection", "install", str(collection_tarball), "-p", str(dest)], collections=dest
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = _run([_tool("ansible-builder"), "introspect", "--sanitize", str(dest)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = yaml.safe_load(proc.stdout.split("\n", 1)[1])  # first line is a "# Dependency data" comment
    python = [line for line in data["python"] if "from collection exchange.hybrid" in line]
    for dep in RUNTIME_DEPS:
        assert any(line.startswith(f"{dep}>=") for line in python), (dep, python)
    system = [line for line in data["system"] if "from collection exchange.hybrid" in line]
    assert any(line.startswith("krb5-libs [platform:rpm kerberos") for line in system), system
    assert any(line.startswith("libgssapi-krb5-2 [platform:dpkg kerberos") for line in system), system
