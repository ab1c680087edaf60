# Copyright (c) exchange.hybrid contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The execution environment (EE) metadata and ansible-builder definition.

- meta/execution-environment.yml points ansible-builder's introspection at requirements.txt and bindep.txt;
- requirements.txt holds pypsrp and pyspnego[kerberos] (PowerShell remoting, Kerberos the default auth), msal,
  requests and cryptography, each with a lower bound (pypsrp also capped below 1.0), and no pywinrm;
- bindep.txt lists the MIT Kerberos run-time libraries and kinit/klist unconditionally (no profile: Kerberos is the
  default auth, not an option) and the headers and compiler that build python-gssapi/krb5 under ansible-builder's
  `compile` profile, each with an rpm or dpkg platform tag; bindep's own parser selects exactly these;
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
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
RUNTIME_DEPS = ("pypsrp", "pyspnego", "cryptography", "msal", "requests")
# The old WinRS design's client; PowerShell remoting (pypsrp) replaced it.
GONE_DEPS = ("pywinrm",)
# ansible-builder installs `bindep -b compile` in its builder stage and the default profile in the final image.
COMPILE_PROFILE = "compile"
# Opt-in profiles a bindep entry may carry besides compile (none is in use: CredSSP needs no package of its own).
OPTIONAL_PROFILES = {"credssp"}
# Kerberos is the default auth: these are required on every host, per package family.
KRB5_RUNTIME = {
    "rpm": {"krb5-libs", "krb5-workstation"},
    "dpkg": {"libkrb5-3", "libgssapi-krb5-2", "krb5-user"},
}
# What builds python-gssapi and krb5 (no Linux wheels), per package family.
KRB5_COMPILE = {
    "rpm": {"krb5-devel", "gcc", "python3-devel"},
    "dpkg": {"libkrb5-dev", "gcc", "python3-dev"},
}
# Platform profiles bindep itself would add on a CentOS Stream 9 / a Debian 12 host.
PLATFORM_PROFILES = {
    "rpm": ["platform:rpm", "platform:centos", "platform:redhat", "platform:centos-9"],
    "dpkg": ["platform:dpkg", "platform:debian", "platform:debian-12"],
}
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
    """Every entry says which package family it is for; the Kerberos run-time packages carry no profile (always
    installed), the build-time ones exactly ``compile``; no other profile than an opt-in one."""
    problems = []
    found: dict[tuple[str, str], set[str]] = {}
    for name, platforms, profiles in parse_bindep(text):
        families = platforms & {"rpm", "dpkg"}
        if not families:
            problems.append(f"{name}: needs a platform:rpm or platform:dpkg tag")
        unknown = profiles - {COMPILE_PROFILE} - OPTIONAL_PROFILES
        if unknown:
            problems.append(f"{name}: unknown profile(s) {sorted(unknown)} (ansible-builder selects only compile)")
        for family in families:
            found.setdefault((family, name), set()).update(profiles or {""})
    for family, names in KRB5_RUNTIME.items():
        for name in sorted(names):
            profiles = found.get((family, name))
            if profiles is None:
                problems.append(f"{name} [platform:{family}]: missing (Kerberos is the default auth)")
            elif "" not in profiles:
                problems.append(f"{name} [platform:{family}]: must carry no profile (Kerberos is the default auth, "
                                f"not an option), has {sorted(profiles)}")
    for family, names in KRB5_COMPILE.items():
        for name in sorted(names):
            profiles = found.get((family, name))
            if profiles is None:
                problems.append(f"{name} [platform:{family} compile]: missing (builds python-gssapi/krb5)")
            elif profiles != {COMPILE_PROFILE}:
                problems.append(f"{name} [platform:{family}]: a build-time package belongs under the compile profile "
                                f"only (ansible-builder's builder stage), has {sorted(p or 'none' for p in profiles)}")
    return problems


def bindep_selection(text: str, family: str, profiles: list[str]) -> set[str]:
    """The packages bindep itself selects from ``text`` on a host of ``family`` for ``profiles``."""
    from bindep.depends import Depends

    rules = Depends(text).active_rules(PLATFORM_PROFILES[family] + profiles)
    return {rule[0] for rule in rules}


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


def requirement_problems(reqs: dict[str, Requirement]) -> list[str]:
    """Each requirement has a lower bound; an upper bound only below the next major version of that lower bound."""
    problems = []
    for name, req in reqs.items():
        lower = [spec for spec in req.specifier if spec.operator == ">="]
        if len(lower) != 1:
            problems.append(f"{req}: needs exactly one >= lower bound")
            continue
        major = Version(lower[0].version).major
        for spec in req.specifier:
            if spec.operator == ">=":
                continue
            if spec.operator != "<" or Version(spec.version) != Version(f"{major + 1}.0"):
                problems.append(f"{req}: {spec} is not a cap below the next major version ({major + 1}.0)")
    return problems


def test_requirements_txt_has_our_runtime_deps_with_lower_bounds():
    reqs = parse_requirements((ROOT / "requirements.txt").read_text(encoding="utf-8"))
    assert set(RUNTIME_DEPS) <= set(reqs), reqs
    assert not set(GONE_DEPS) & set(reqs), reqs
    assert requirement_problems(reqs) == []
    assert "kerberos" in reqs["pyspnego"].extras  # gssapi + krb5: Kerberos is the default auth
    assert reqs["pypsrp"].specifier.contains("0.9.1") and not reqs["pypsrp"].specifier.contains("0.8.1")


@pytest.mark.parametrize(
    "planted",
    ["pypsrp==0.9.1", "pypsrp", "pypsrp>=0.9.0,<0.10", "msal>=1.28.0,<3.0", "requests>=2.31.0,!=2.32.0"],
)
def test_requirement_check_can_fail(planted):
    assert requirement_problems(parse_requirements(planted)) != []
    assert requirement_problems(parse_requirements("pypsrp>=0.9.0,<1.0\nmsal>=1.28.0")) == []


def test_bindep_kerberos_is_required_and_build_packages_are_compile_only():
    text = (ROOT / "bindep.txt").read_text(encoding="utf-8")
    assert bindep_problems(text) == []
    # What bindep itself selects: the default profile (the final image, any host) holds exactly the run-time
    # Kerberos packages; the compile profile (ansible-builder's builder stage) adds exactly the build packages.
    for family in ("rpm", "dpkg"):
        assert bindep_selection(text, family, ["default"]) == KRB5_RUNTIME[family], family
        assert bindep_selection(text, family, [COMPILE_PROFILE]) == KRB5_RUNTIME[family] | KRB5_COMPILE[family], family
        # an opt-in profile adds nothing now (CredSSP uses the Kerberos libraries already there)
        assert bindep_selection(text, family, ["credssp"]) == KRB5_RUNTIME[family], family


def _real_bindep_with(old: str, new: str) -> str:
    text = (ROOT / "bindep.txt").read_text(encoding="utf-8")
    assert old in text, old
    return text.replace(old, new)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # optional again: an EE or a host without the profile would lack Kerberos, the default auth
        ("krb5-libs [platform:rpm]\n", "krb5-libs [platform:rpm kerberos]\n", "krb5-libs [platform:rpm]: must carry no profile"),
        ("libkrb5-3 [platform:dpkg]\n", "", "libkrb5-3 [platform:dpkg]: missing"),
        ("krb5-user [platform:dpkg]\n", "krb5-user\n", "krb5-user: needs a platform:rpm or platform:dpkg tag"),
        # a build package without the compile profile would be installed in the final image
        ("krb5-devel [platform:rpm compile]\n", "krb5-devel [platform:rpm]\n", "krb5-devel [platform:rpm]: a build-time package"),
        ("gcc [platform:dpkg compile]\n", "gcc [platform:dpkg kerberos-compile]\n", "unknown profile(s) ['kerberos-compile']"),
        ("python3-devel [platform:rpm compile]\n", "", "python3-devel [platform:rpm compile]: missing"),
    ],
)
def test_bindep_check_can_fail(old, new, expected):
    problems = bindep_problems(_real_bindep_with(old, new))
    assert any(expected in p for p in problems), problems


def test_bindep_selection_sees_a_profile_mistake():
    text = _real_bindep_with("krb5-workstation [platform:rpm]\n", "krb5-workstation [platform:rpm kerberos]\n")
    assert "krb5-workstation" not in bindep_selection(text, "rpm", ["default"])


def test_bindep_parser_refuses_a_broken_line():
    with pytest.raises(ValueError, match="line 1"):
        parse_bindep("krb5-libs [platform:rpm kerberos\n")


def _ee_definition() -> dict:
    return yaml.safe_load((ROOT / "execution-environment.yml").read_text(encoding="utf-8"))


def test_ee_definition_python_deps_cover_requirements_txt():
    """The EE's inline Python list is requirements.txt (same bounds, at least its extras) plus pypsrp's credssp
    extra, and nothing else."""
    ee_reqs = {Requirement(line).name.lower(): Requirement(line) for line in _ee_definition()["dependencies"]["python"]}
    reqs = parse_requirements((ROOT / "requirements.txt").read_text(encoding="utf-8"))
    for name, req in reqs.items():
        assert name in ee_reqs, f"execution-environment.yml lacks {req} from requirements.txt"
        assert ee_reqs[name].specifier == req.specifier, f"{ee_reqs[name]} != {req} (requirements.txt)"
        assert req.extras <= ee_reqs[name].extras, f"{ee_reqs[name]} lacks the extras of {req} (requirements.txt)"
    assert set(ee_reqs) == set(reqs), sorted(set(ee_reqs) - set(reqs))
    assert "kerberos" in ee_reqs["pyspnego"].extras
    assert "credssp" in ee_reqs["pypsrp"].extras


def test_ee_definition_system_deps_are_bindeps_rpm_entries():
    """The image lists bindep.txt's rpm entries: run-time libraries untagged, build packages as compile."""
    system = parse_bindep("\n".join(_ee_definition()["dependencies"]["system"]))
    ee_runtime = {name for name, _platforms, profiles in system if not profiles}
    ee_compile = {name for name, _platforms, profiles in system if profiles == {COMPILE_PROFILE}}
    assert all(platforms == {"rpm"} and profiles <= {COMPILE_PROFILE} for _n, platforms, profiles in system), system
    for name, platforms, profiles in parse_bindep((ROOT / "bindep.txt").read_text(encoding="utf-8")):
        if "rpm" not in platforms:
            continue
        if not profiles:
            assert name in ee_runtime, f"{name} (bindep.txt) missing from the EE's run-time packages"
        if COMPILE_PROFILE in profiles:
            # the EE builds for its own interpreter (python3.11), so python3-devel becomes python3.11-devel
            expected = "python3.11-devel" if name == "python3-devel" else name
            assert expected in ee_compile, f"{expected} (bindep.txt) missing from the EE's compile packages"
    assert KRB5_RUNTIME["rpm"] <= ee_runtime


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
    assert re.search(r"^pyspnego\[kerberos\]>=", pip, re.M) and re.search(r"^pypsrp\[credssp\]>=", pip, re.M), pip
    assert "pywinrm" not in pip, pip
    bindep = (context / "_build" / "bindep.txt").read_text(encoding="utf-8").splitlines()
    for package in (
        "krb5-libs [platform:rpm]",
        "krb5-workstation [platform:rpm]",
        "krb5-devel [platform:rpm compile]",
        "gcc [platform:rpm compile]",
        "python3.11-devel [platform:rpm compile]",
    ):
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
        assert any(re.match(rf"{dep}(\[[^\]]*\])?>=", line) for line in python), (dep, python)
    assert any(line.startswith("pyspnego[kerberos]>=") for line in python), python
    assert not any(line.startswith(GONE_DEPS) for line in python), python
    system = [line.split("#", 1)[0].strip() for line in data["system"] if "from collection exchange.hybrid" in line]
    for line in (
        "krb5-libs [platform:rpm]",
        "krb5-workstation [platform:rpm]",
        "krb5-devel [platform:rpm compile]",
        "libkrb5-3 [platform:dpkg]",
        "libgssapi-krb5-2 [platform:dpkg]",
        "krb5-user [platform:dpkg]",
        "libkrb5-dev [platform:dpkg compile]",
    ):
        assert line in system, (line, system)
