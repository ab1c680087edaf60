# Copyright (c) exchange.hybrid contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Each gate of scripts/test.sh fails on a planted defect (and passes on the clean fixture collection).

Every test runs the same tool, with the same options, as the gate does, on a temp copy of
tests/quality/fixtures/planted; the static PowerShell check has its own proofs in test_ps_static_check.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import collection_tools

ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)


def replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_pytest_gate_fails_on_a_failing_test(tmp_path: Path) -> None:
    (tmp_path / "test_planted.py").write_text("def test_planted():\n    assert 1 + 1 == 3\n", encoding="utf-8")
    result = run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-n", "2", "."], tmp_path)
    assert result.returncode == 1, result.stdout
    assert "1 failed" in result.stdout
    (tmp_path / "test_planted.py").unlink()
    # No tests at all is exit code 5, which scripts/test.sh turns into a failure.
    assert run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "."], tmp_path).returncode == 5


@pytest.mark.slow
def test_sanity_gate_fails_on_doc_default_mismatch(planted: Path, planted_env: dict[str, str]) -> None:
    collection_tools.ensure_get_pip_standin()
    command = ["ansible-test", "sanity", "--local", "--python", "3.11", "--color", "no", "--test", "validate-modules"]
    clean = run(command, planted, planted_env)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    replace(planted / "plugins" / "modules" / "planted_info.py", "    default: 1\n", "    default: 2\n")
    broken = run(command, planted, planted_env)
    assert broken.returncode != 0
    assert "planted_info.py:0:0: doc-default-does-not-match-spec" in broken.stdout + broken.stderr


@pytest.mark.slow
def test_lint_gate_fails_on_playbook_violation(planted: Path, planted_env: dict[str, str]) -> None:
    command = ["ansible-lint", "--profile", "production", "--offline", "--nocolor", "-f", "pep8"]
    clean = run(command, planted, planted_env)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    (planted / "playbooks" / "bad.yml").write_text(
        "---\n- name: Planted\n  hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.command: echo planted\n",
        encoding="utf-8",
    )
    broken = run(command, planted, planted_env)
    assert broken.returncode != 0
    out = broken.stdout + broken.stderr
    assert "playbooks/bad.yml" in out and "name[missing]" in out and "no-changed-when" in out


def test_changelog_gate_fails_on_bad_fragment(planted: Path, planted_env: dict[str, str]) -> None:
    command = ["antsibull-changelog", "lint"]
    clean = run(command, planted, planted_env)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    (planted / "changelogs" / "fragments" / "2-planted.yml").write_text(
        "---\nminor_changes: this should be a list\nnot_a_section:\n  - x\n", encoding="utf-8"
    )
    broken = run(command, planted, planted_env)
    assert broken.returncode != 0
    assert "2-planted.yml" in broken.stdout + broken.stderr


@pytest.mark.slow
def test_docs_gate_fails_on_bad_markup(planted: Path, planted_env: dict[str, str]) -> None:
    command = ["antsibull-docs", "lint-collection-docs", "--plugin-docs", "."]
    clean = run(command, planted, planted_env)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    replace(planted / "plugins" / "modules" / "planted_info.py", "Returns O(count) unchanged.", "Returns O(nonexistent).")
    broken = run(command, planted, planted_env)
    assert broken.returncode != 0
    assert "nonexistent" in broken.stdout + broken.stderr


@pytest.mark.slow
def test_build_gate_fails_on_unwanted_files(planted: Path, tmp_path: Path) -> None:
    clean = collection_tools.build_collection(planted, tmp_path / "clean")
    assert collection_tools.tarball_problems(clean) == []
    (planted / ".venv" / "lib").mkdir(parents=True)
    (planted / ".venv" / "lib" / "site.py").write_text("x = 1\n", encoding="utf-8")
    (planted / ".hypothesis" / "examples").mkdir(parents=True)
    (planted / ".hypothesis" / "examples" / "e").write_text("x\n", encoding="utf-8")
    replace(planted / "galaxy.yml", "build_ignore:\n  - .venv\n  - tests/output\n  - __pycache__\n", "build_ignore: []\n")
    problems = collection_tools.tarball_problems(collection_tools.build_collection(planted, tmp_path / "broken"))
    assert any(".venv/lib/site.py" in p for p in problems), problems
    assert any(".hypothesis/examples/e" in p for p in problems), problems


@pytest.mark.slow
def test_ansible_doc_check_fails_on_undocumented_module(planted: Path, planted_env: dict[str, str]) -> None:
    assert collection_tools.module_doc_problems(planted, planted_env) == []
    replace(planted / "plugins" / "modules" / "planted_info.py", "options:\n  count:", "options:\n count:\n  broken")
    problems = collection_tools.module_doc_problems(planted, planted_env)
    assert any("fixture.planted.planted_info" in p for p in problems), problems


def test_ci_run_is_exactly_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [line for line in ci.splitlines() if line.strip() and not line.startswith("#")]
    assert commands[-1] == "./scripts/test.sh"
    assert "./scripts/test.sh" in readme
    # Only the interpreter line, strict mode and changing to the repository root besides the command itself.
    assert all(c in ("set -euo pipefail", 'cd "$(dirname "$0")/.."', "./scripts/test.sh") for c in commands), commands


def test_sanity_copy_holds_the_shipped_tree_only(tmp_path: Path) -> None:
    copy = collection_tools.copy_collection(ROOT, tmp_path)
    assert copy == tmp_path / "ansible_collections" / "exchange" / "hybrid"
    assert (copy / "galaxy.yml").is_file() and (copy / "meta" / "runtime.yml").is_file()
    assert (copy / "tests" / "quality" / "ps_static_check.py").is_file()
    assert not (copy / ".venv").exists() and not (copy / ".git").exists()
    assert not list(copy.rglob("__pycache__"))


def test_get_pip_standin_matches_installed_ansible_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    path = collection_tools.ensure_get_pip_standin()
    version = collection_tools.ansible_test_pip_version()
    assert path == tmp_path / ".ansible" / "test" / "cache" / f"get_pip_{version.replace('.', '_')}.py"
    assert "ensurepip" in path.read_text(encoding="utf-8")
