"""The safety suite (issue 8): fixtures, the case collector and the summary table printed at the end of the run.

Run it on its own so the summary prints (pytest loads this file in the xdist controller only when it is an
initial conftest): ``python -m pytest -p no:cacheprovider -n 2 tests/safety``.
"""

from __future__ import annotations

import os
import sys
from collections import defaultdict
from typing import Any

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from safety_harness import FAMILIES, PROPERTY, Cases, capture_commands  # noqa: E402

E2E = os.path.join(os.path.dirname(HERE), "e2e")


def _load_e2e() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("safety_e2e_conftest", os.path.join(E2E, "conftest.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["safety_e2e_conftest"] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


_E2E = _load_e2e()
run_playbook_impl = _E2E.run_playbook
stop_and_check = _E2E.stop_and_check


# ---------------------------------------------------------------- fixtures


@pytest.fixture(name="cases")
def fixture_cases(request: Any) -> Cases:
    family = getattr(request.module, "FAMILY", None)
    recorder = Cases(family, request.node)
    yield recorder
    recorder.raise_failures()


@pytest.fixture(autouse=True)
def _private_token_cache(tmp_path_factory: Any, monkeypatch: Any) -> None:
    # Each test gets its own Graph token cache directory (checked by the secrets family).
    directory = tmp_path_factory.mktemp("token-cache")
    os.chmod(directory, 0o700)
    monkeypatch.setenv("EXCHANGE_HYBRID_TOKEN_CACHE_DIR", str(directory))
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


def _make(factory_dir: Any, started: list, **kwargs: Any) -> Any:
    from hybrid_sim.simulation import Simulation

    directory = kwargs.pop("directory", None) or str(factory_dir / ("sim%d" % len(started)))
    sim = Simulation(directory, **kwargs)
    started.append(sim)
    sim.start()
    capture_commands(sim)
    return sim


@pytest.fixture(name="make_sim")
def fixture_make_sim(tmp_path: Any) -> Any:
    """``make_sim(**Simulation kwargs)``: a started simulation (command capture on); shells checked at teardown."""
    started: list = []
    yield lambda **kwargs: _make(tmp_path, started, **kwargs)
    stop_and_check(started)


@pytest.fixture(name="shared_sim", scope="module")
def fixture_shared_sim(tmp_path_factory: Any) -> Any:
    """One simulation for a whole test file (for many cheap in-process runs)."""
    started: list = []
    sim = _make(tmp_path_factory.mktemp("shared"), started)
    yield sim
    stop_and_check(started)


@pytest.fixture(name="run_playbook")
def fixture_run_playbook() -> Any:
    return run_playbook_impl


# ---------------------------------------------------------------- summary


class _Tally:
    def __init__(self) -> None:
        self.tried: dict[str, int] = defaultdict(int)
        self.held: dict[str, int] = defaultdict(int)
        self.defects: dict[str, int] = defaultdict(int)
        self.defects_caught: dict[str, int] = defaultdict(int)
        self.known_bugs: dict[str, int] = defaultdict(int)
        self.failed_tests: dict[str, list[str]] = defaultdict(list)
        self.outcomes: dict[str, str] = {}
        self.seen = False


_TALLY = _Tally()


def _family_of(nodeid: str) -> str | None:
    name = os.path.basename(nodeid.split("::", 1)[0])
    for family in FAMILIES:
        if name.startswith("test_safety_" + family.replace(" ", "_")):
            return family
    return None


def pytest_runtest_logreport(report: Any) -> None:
    family = _family_of(report.nodeid)
    if family is None:
        return
    _TALLY.seen = True
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        if hasattr(report, "wasxfail"):
            _TALLY.outcomes[report.nodeid] = "xfail"
        else:
            _TALLY.outcomes[report.nodeid] = report.outcome
    if report.when != "teardown":
        return
    recorded = [value for key, value in report.user_properties if key == PROPERTY]
    outcome = _TALLY.outcomes.get(report.nodeid, "passed")
    if report.outcome == "failed":
        outcome = "failed"
    if outcome == "xfail":
        _TALLY.known_bugs[family] += 1
        return
    if outcome == "skipped":
        return
    for entry in recorded:
        fam = entry.get("family") or family
        if entry.get("kind") == "defect":
            _TALLY.defects[fam] += 1
            _TALLY.defects_caught[fam] += int(bool(entry.get("held")))
        else:
            _TALLY.tried[fam] += 1
            _TALLY.held[fam] += int(bool(entry.get("held")))
    unrecorded_failure = outcome == "failed" and all(e.get("held") for e in recorded)
    if not recorded or unrecorded_failure:
        # A test without recorded cases counts as one case; a failure outside a case still counts.
        _TALLY.tried[family] += 1
        _TALLY.held[family] += int(outcome == "passed")
    if outcome == "failed":
        _TALLY.failed_tests[family].append(report.nodeid)


def summary_lines() -> list[str]:
    header = ("case family", "cases tried", "held", "planted defects caught", "known bugs (xfail)")
    rows = []
    for family in FAMILIES:
        rows.append(
            (
                family,
                str(_TALLY.tried[family]),
                str(_TALLY.held[family]),
                "%d/%d" % (_TALLY.defects_caught[family], _TALLY.defects[family]),
                str(_TALLY.known_bugs[family]),
            )
        )
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    fmt = " | ".join("%%-%ds" % w for w in widths)
    lines = [fmt % header, "-+-".join("-" * w for w in widths)]
    lines += [fmt % row for row in rows]
    bad = [f for f in FAMILIES if _TALLY.held[f] != _TALLY.tried[f] or _TALLY.defects_caught[f] != _TALLY.defects[f]]
    missing = [f for f in FAMILIES if _TALLY.defects[f] == 0 or _TALLY.tried[f] == 0]
    if bad:
        lines.append("FAILURES in: %s" % ", ".join(bad))
        for family in bad:
            lines += ["  " + nodeid for nodeid in _TALLY.failed_tests[family]]
    elif missing:
        lines.append("not run (or without a planted defect) in this session: %s" % ", ".join(missing))
    else:
        lines.append("every family held, every planted defect was caught")
    return lines


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _TALLY.seen:
        return
    terminalreporter.write_sep("=", "safety summary (issue 8)")
    for line in summary_lines():
        terminalreporter.write_line(line)
