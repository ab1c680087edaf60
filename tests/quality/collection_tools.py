# Copyright (c) exchange.hybrid contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers shared by the quality gates (scripts/test.sh) and their planted-defect proofs.

Library and CLI:
  python tests/quality/collection_tools.py get-pip-standin      # offline pip bootstrap for ansible-test
  python tests/quality/collection_tools.py copy <root> <dest>   # tracked tree -> <dest>/ansible_collections/exchange/hybrid
  python tests/quality/collection_tools.py build-check <root> <outdir>   # galaxy build + tarball + ansible-doc checks
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import yaml

NAMESPACE = "exchange"
NAME = "hybrid"

# ansible-test bootstraps pip in its sanity venvs by downloading get-pip.py from ci-files.testing.ansible.com,
# which is unreachable here. It first looks in its cache; this stand-in installs the requested pip from the package
# registry with the project's own pip (pip --python: no pip needed in the target venv), or with ensurepip when the
# project venv is gone.
GET_PIP_STANDIN = '''\
"""Stand-in for get-pip.py written by exchange.hybrid's test command (tests/quality/collection_tools.py)."""
import os
import subprocess
import sys

PROJECT_PYTHON = %r
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
if os.path.exists(PROJECT_PYTHON):
    if subprocess.call([PROJECT_PYTHON, "-m", "pip", "--python", sys.executable, "install"] + args) == 0:
        sys.exit(0)
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)
'''


def ansible_test_pip_version() -> str:
    """The pip version ansible-test bootstraps (differs between ansible-core releases)."""
    import ansible_test

    source = Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
    match = re.search(r"pip='([0-9.]+)'", source.read_text(encoding="utf-8"))
    if not match:
        raise RuntimeError(f"cannot find the pip bootstrap version in {source}; ansible-test changed, update this helper")
    return match.group(1)


def ensure_get_pip_standin() -> Path:
    version = ansible_test_pip_version()
    path = Path(os.path.expanduser(f"~/.ansible/test/cache/get_pip_{version.replace('.', '_')}.py"))
    path.parent.mkdir(parents=True, exist_ok=True)
    content = GET_PIP_STANDIN % sys.executable
    if not path.exists() or path.read_text(encoding="utf-8") != content:
        path.write_text(content, encoding="utf-8")
    return path


def shipped_files(root: Path) -> list[str]:
    """Tracked plus untracked-but-not-ignored files that exist (what a fresh clone plus work in progress holds)."""
    out = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        check=True,
        capture_output=True,
    ).stdout
    names = sorted({n for n in out.decode("utf-8").split("\0") if n})
    return [n for n in names if (root / n).is_file()]


def copy_collection(root: Path, dest: Path, exclude_prefixes: tuple[str, ...] = ()) -> Path:
    """Copy the collection to <dest>/ansible_collections/exchange/hybrid (ansible-test needs that real path)."""
    target = dest / "ansible_collections" / NAMESPACE / NAME
    if target.exists():
        shutil.rmtree(target)
    if (root / ".git").exists():
        names = shipped_files(root)
    else:
        names = [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    for name in names:
        if name.startswith(exclude_prefixes):
            continue
        src = root / name
        dst = target / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
    return target


# What must never ship in the tarball: virtualenvs, caches, test output, build results, simulator state.
UNWANTED_PARTS = {".venv", "__pycache__", ".pytest_cache", ".hypothesis", ".git", ".sim", ".tox", ".nox", ".cache"}
UNWANTED_PREFIXES = ("tests/output/", "build/")
UNWANTED_SUFFIXES = (".pyc", ".tar.gz")


def build_collection(root: Path, outdir: Path) -> Path:
    outdir.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["ansible-galaxy", "collection", "build", "--force", "--output-path", str(outdir), str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"ansible-galaxy collection build failed:\n{result.stdout}{result.stderr}")
    meta = yaml.safe_load((root / "galaxy.yml").read_text(encoding="utf-8"))
    return outdir / f"{meta['namespace']}-{meta['name']}-{meta['version']}.tar.gz"


def tarball_problems(tarball: Path) -> list[str]:
    problems = []
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    for name in names:
        parts = name.split("/")
        if UNWANTED_PARTS.intersection(parts) or name.startswith(UNWANTED_PREFIXES) or name.endswith(UNWANTED_SUFFIXES):
            problems.append(f"{tarball.name} contains {name}")
    for required in ("MANIFEST.json", "FILES.json"):
        if required not in names:
            problems.append(f"{tarball.name} lacks {required}")
    return problems


def module_doc_problems(root: Path, env: dict[str, str] | None = None) -> list[str]:
    """Every plugins/modules/*.py is listed by ansible-doc -l with a description, and its documentation loads."""
    meta = yaml.safe_load((root / "galaxy.yml").read_text(encoding="utf-8"))
    collection = f"{meta['namespace']}.{meta['name']}"
    modules = sorted(p.stem for p in (root / "plugins" / "modules").glob("*.py") if p.stem != "__init__")
    listed = subprocess.run(
        ["ansible-doc", "-t", "module", "-l", "--json", collection], capture_output=True, text=True, env=env, check=False
    )
    if listed.returncode != 0:
        return [f"ansible-doc -l {collection} failed: {listed.stderr.strip()}"]
    listing = json.loads(listed.stdout or "{}")
    problems = []
    for module in modules:
        fqcn = f"{collection}.{module}"
        if fqcn not in listing:
            problems.append(f"ansible-doc -l {collection} does not list {fqcn}")
        elif not listing[fqcn] or "UNDOCUMENTED" in str(listing[fqcn]).upper():
            problems.append(f"{fqcn} has no short_description")

    def load(names: list[str]) -> tuple[dict, str]:
        docs = subprocess.run(
            ["ansible-doc", "-t", "module", "--json"] + names, capture_output=True, text=True, env=env, check=False
        )
        data = json.loads(docs.stdout) if docs.returncode == 0 and docs.stdout.strip().startswith("{") else {}
        return data, docs.stderr.strip()

    fqcns = [f"{collection}.{m}" for m in modules]
    loaded = load(fqcns)[0] if fqcns else {}
    for fqcn in fqcns:
        if not loaded.get(fqcn, {}).get("doc"):
            # ansible-doc stops at the first broken module: ask again for this one alone to name its error.
            single, error = load([fqcn])
            if not single.get(fqcn, {}).get("doc"):
                problems.append(f"ansible-doc cannot load the documentation of {fqcn}: {error[:400]}")
    return problems


def build_check(root: Path, outdir: Path) -> int:
    tarball = build_collection(root, outdir)
    problems = tarball_problems(tarball)
    with tarfile.open(tarball) as archive:
        count = len(archive.getnames())
    print(f"built {tarball.name}: {count} entries, {tarball.stat().st_size // 1024} KiB")
    problems += module_doc_problems(root)
    modules = sorted(p.stem for p in (root / "plugins" / "modules").glob("*.py") if p.stem != "__init__")
    print(f"ansible-doc: {len(modules)} module(s) in plugins/modules: {', '.join(modules) or 'none yet'}")
    for problem in problems:
        print(f"FAILED: {problem}")
    return 1 if problems else 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["get-pip-standin"]:
        print(ensure_get_pip_standin())
        return 0
    if argv[:1] == ["copy"] and len(argv) in (3, 4):
        excludes = tuple(argv[3].split(",")) if len(argv) == 4 and argv[3] else ()
        print(copy_collection(Path(argv[1]).resolve(), Path(argv[2]).resolve(), excludes))
        return 0
    if argv[:1] == ["build-check"] and len(argv) == 3:
        return build_check(Path(argv[1]).resolve(), Path(argv[2]).resolve())
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
