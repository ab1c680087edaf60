# Copyright (c) exchange.hybrid contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for the quality-gate tests: a temp copy of the tiny fixture collection to plant defects in."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

QUALITY = Path(__file__).resolve().parent
ROOT = QUALITY.parents[1]
FIXTURE = QUALITY / "fixtures" / "planted"

if str(QUALITY) not in sys.path:
    sys.path.insert(0, str(QUALITY))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: runs an external quality tool (seconds); still part of the test command")


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    """A fresh copy of fixture.planted at <tmp>/ansible_collections/fixture/planted."""
    target = tmp_path / "ansible_collections" / "fixture" / "planted"
    shutil.copytree(FIXTURE, target, ignore=shutil.ignore_patterns("__pycache__", "output"))
    return target


@pytest.fixture
def planted_env(planted: Path) -> dict[str, str]:
    """Environment in which Ansible finds fixture.planted (and nothing from the user's set-up)."""
    env = dict(os.environ)
    env["ANSIBLE_COLLECTIONS_PATH"] = str(planted.parents[2])
    env["ANSIBLE_NOCOLOR"] = "1"
    env["NO_COLOR"] = "1"
    return env
