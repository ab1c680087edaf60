# Copyright (c) exchange.hybrid contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ansible-test sanity ignore entries are allowed only with a reason, and never as blanket skips."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def ignore_problems(root: Path) -> list[str]:
    problems = []
    for path in sorted((root / "tests" / "sanity").glob("ignore-*.txt")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            entry, _sep, reason = line.partition("#")
            where = f"{path.relative_to(root)}:{number}"
            if not reason.strip():
                problems.append(f"{where}: entry without a '# reason': {entry.strip()}")
            fields = entry.split()
            if len(fields) != 2 or ":" not in fields[1] and "!skip" not in fields[1]:
                problems.append(f"{where}: expected '<path> <test>:<code>  # reason', got {entry.strip()!r}")
            elif fields[1].endswith("!skip") or fields[0] in (".", "plugins", "plugins/"):
                problems.append(f"{where}: blanket skip of a whole test or tree: {entry.strip()}")
    return problems


def test_sanity_ignores_have_reasons() -> None:
    assert ignore_problems(ROOT) == []


def test_ignore_check_catches_an_entry_without_reason(tmp_path: Path) -> None:
    (tmp_path / "tests" / "sanity").mkdir(parents=True)
    (tmp_path / "tests" / "sanity" / "ignore-2.19.txt").write_text(
        "plugins/modules/a.py validate-modules:doc-default-does-not-match-spec\n"
        "plugins/modules/b.py pylint!skip  # too noisy\n"
        "plugins/modules/c.py pylint:unused-import  # imported for its side effect on the module registry\n",
        encoding="utf-8",
    )
    problems = ignore_problems(tmp_path)
    assert len(problems) == 2, problems
    assert "ignore-2.19.txt:1: entry without a '# reason'" in problems[0]
    assert "ignore-2.19.txt:2: blanket skip" in problems[1]
