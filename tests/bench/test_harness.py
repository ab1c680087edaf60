"""Tests of the benchmark harness itself (bench/run.py), not of speed: nothing here asserts on a duration.

Two tiny runs with the latency model off, started together: the baseline, whose results.json must validate against
bench/schema.json and meet the count-based targets (1 and 4), and the planted shell-per-call variant, which must
miss target 1 and make the harness exit 1. Plus the pure attribution and target logic on synthetic logs.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import subprocess
import sys

import jsonschema
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN = os.path.join(ROOT, "bench", "run.py")
SCHEMA = os.path.join(ROOT, "bench", "schema.json")
SERVER = "EX01=15.2.1748.10/15.2.1748.24"


def _load_harness():
    spec = importlib.util.spec_from_file_location("bench_run", RUN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


harness = _load_harness()


def _schema():
    with open(SCHEMA, encoding="utf-8") as handle:
        return json.load(handle)


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    """Both runs at once (they mostly wait on module start-up), each with its own simulators and output."""
    base = tmp_path_factory.mktemp("bench")
    common = [sys.executable, RUN, "--latency-off", "--server", SERVER, "--forks", "5"]
    commands = {
        "baseline": common + ["--phases", "organization,verify,fleet", "--fleet-sizes", "1,2"],
        "variant": common + ["--phases", "organization", "--variant", "shell-per-call"],
    }
    processes = {}
    for name, command in commands.items():
        out = base / ("%s.json" % name)
        log = open(base / ("%s.log" % name), "wb")  # pylint: disable=consider-using-with
        processes[name] = (
            subprocess.Popen(command + ["--out", str(out)], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT),
            out,
            log,
        )
    finished = {}
    for name, (process, out, log) in processes.items():
        returncode = process.wait(timeout=600)
        log.close()
        text = (base / ("%s.log" % name)).read_text(errors="replace")
        results = json.loads(out.read_text()) if out.exists() else None
        finished[name] = {"returncode": returncode, "output": text, "results": results}
    return finished


def test_baseline_results_validate_and_carry_every_figure(tiny_runs):
    run = tiny_runs["baseline"]
    assert run["results"] is not None, run["output"][-3000:]
    results = run["results"]
    jsonschema.validate(results, _schema())
    assert results["errors"] == [], run["output"][-3000:]
    assert run["returncode"] in (0, 1)  # 1 only when a timing target was missed on a loaded machine
    machine = results["machine"]
    assert machine["cpu_count"] >= 1 and machine["python"] and machine["platform"] and machine["ansible_core"]
    assert set(results["figures"]) == {"processes", "verification", "fleet_audit", "graph", "overhead"}
    assert {target["id"] for target in results["targets"]} == {1, 2, 3, 4}
    assert [size["servers"] for size in results["figures"]["fleet_audit"]["sizes"]] == [1, 2]
    # The table is printed.
    assert "Targets" in run["output"] and "all targets met" in run["output"]


def test_baseline_meets_the_count_targets(tiny_runs):
    results = tiny_runs["baseline"]["results"]
    by_name = {target["name"]: target for target in results["targets"]}
    count_targets = [t for t in results["targets"] if t["id"] in (1, 4)]
    assert count_targets and all(t["met"] for t in count_targets), by_name
    processes = results["figures"]["processes"]
    # Something really was counted: the converge wrote, the rerun did not.
    assert processes["converge"]["total"] >= len(processes["converge"]["tasks"]) > 0
    assert processes["converge"]["mutating_cmdlets"] > 0 and processes["rerun"]["mutating_cmdlets"] == 0
    plays = {play["run"]: play for play in results["figures"]["graph"]["plays"]}
    assert plays["converge"]["token_requests"] == 1
    assert any(m["module"] == "msol_sp_credential" and m["patches_per_run"] >= 1 for m in plays["converge"]["modules"])
    assert results["figures"]["verification"]["result_type"] == "Succeeded"


def test_shell_per_call_variant_misses_target_one(tiny_runs):
    run = tiny_runs["variant"]
    assert run["results"] is not None, run["output"][-3000:]
    results = run["results"]
    jsonschema.validate(results, _schema())
    assert results["variant"] == "shell-per-call"
    target = next(t for t in results["targets"] if t["id"] == 1)
    assert target["met"] is False and target["value"] > 1
    assert results["all_targets_met"] is False and run["returncode"] == 1
    assert "[MISS] 1." in run["output"]


# -------------------------------------------------------------------------------- logic on synthetic logs


class _Server:
    def __init__(self, requests):
        self.requests = requests


class _Sim:
    def __init__(self, servers, graph=()):
        self.servers = {name: _Server(list(requests)) for name, requests in servers.items()}
        self.entra = _Server(list(graph))


def _run(label="rerun"):
    events = [
        {
            "event": "task_start",
            "time": 10.0,
            "task_id": "a",
            "name": "role : read",
            "action": "exchange.hybrid.exchange_server_info",
        },
        {"event": "host_start", "time": 10.1, "task_id": "a", "host": "EX01"},
        {"event": "result", "time": 12.0, "task_id": "a", "host": "EX01", "status": "ok", "changed": False},
        {
            "event": "task_start",
            "time": 20.0,
            "task_id": "b",
            "name": "role : key",
            "action": "exchange.hybrid.msol_sp_credential",
        },
        {"event": "result", "time": 22.0, "task_id": "b", "host": "EX01", "status": "ok", "changed": False},
        {
            "event": "task_start",
            "time": 30.0,
            "task_id": "c",
            "name": "role : note",
            "action": "ansible.builtin.set_fact",
        },
        {"event": "result", "time": 30.1, "task_id": "c", "host": "EX01", "status": "ok"},
    ]
    return {"label": label, "changed": 0, "_window": (9.0, 40.0), "_events": events, "_calls": []}


def _command(moment):
    return {"action": "Command", "time": moment, "elapsed": 0.0}


def test_processes_are_attributed_to_the_task_window_and_server():
    sim = _Sim(
        {
            "EX01": [_command(11.0), {"action": "Create", "time": 11.0, "elapsed": 0}],
            "EX02": [_command(11.5), _command(11.6)],
        }
    )
    summary = harness.process_summary(sim, _run())
    assert [row["task"] for row in summary["tasks"]] == ["role : read"]
    assert summary["tasks"][0]["processes_per_server"] == {"EX01": 1, "EX02": 2}
    assert summary["max_per_task_per_server"] == 2 and summary["total"] == 3


def test_graph_requests_are_counted_per_module_run():
    graph = [
        {"method": "POST", "kind": "token", "time": 20.5},
        {"method": "GET", "kind": "graph", "time": 20.6},
        {"method": "PATCH", "kind": "graph", "time": 20.7},
        {"method": "GET", "kind": "graph", "time": 50.0},  # after the run
    ]
    summary = harness.graph_summary(_Sim({"EX01": []}, graph), _run())
    assert summary["token_requests"] == 1
    assert summary["modules"] == [
        {
            "task": "role : key",
            "module": "msol_sp_credential",
            "module_runs": 1,
            "changed": False,
            "token_requests": 1,
            "gets_per_run": 1.0,
            "patches_per_run": 1.0,
            "writes_per_run": 1.0,
        }
    ]


def test_targets_fail_on_their_limits():
    figures = {
        "processes": {"rerun": {"max_per_task_per_server": 2}},
        "verification": {
            "restart_to_result_seconds": 50.1,
            "health_ready_delay_seconds": 45.0,
            "result_type": "Succeeded",
        },
        "fleet_audit": {"sizes": [{"servers": 1}, {"servers": 50}], "ratio_largest_to_smallest": 2.6},
        "graph": {"plays": [{"run": "rerun", "token_requests": 2, "modules": [{"writes_per_run": 1.0}]}]},
    }
    found = harness.targets(figures, None)
    assert len(found) == 5 and not any(t["met"] for t in found)
    passing = copy.deepcopy(figures)
    passing["processes"]["rerun"]["max_per_task_per_server"] = 1
    passing["verification"]["restart_to_result_seconds"] = 50.0
    passing["fleet_audit"]["ratio_largest_to_smallest"] = 2.5
    passing["graph"]["plays"][0].update(token_requests=1, modules=[{"writes_per_run": 0.0}])
    assert all(t["met"] for t in harness.targets(passing, None))


def test_schema_rejects_results_without_the_machine(tiny_runs):
    results = copy.deepcopy(tiny_runs["variant"]["results"])
    del results["machine"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(results, _schema())
