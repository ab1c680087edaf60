"""Tests of the benchmark harness itself (bench/run.py), not of speed: nothing here asserts on a duration.

Two tiny runs with the latency model off, started together: the baseline, whose results.json must validate against
bench/schema.json and meet the count-based targets (1 and 4: at most one Exchange session per module task per server
and no write on the no-op rerun), and the planted shell-per-call variant (a runspace pool per cmdlet call), which must
miss target 1 and make the harness exit 1. Plus the pure attribution and target logic on synthetic logs, and the
variant's patch on a stand-in client.
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
    assert set(results["figures"]) == {"sessions", "verification", "fleet_audit", "graph", "overhead"}
    model = results["latency_model"]
    assert model["enabled"] is False and model["exchange_session_seconds"] == 0.0
    # Where each cost of the model comes from is written with the figures.
    assert "assumption" in model["basis"]["exchange_session"] and "assumption" in model["basis"]["host_session"]
    assert {target["id"] for target in results["targets"]} == {1, 2, 3, 4}
    assert [size["servers"] for size in results["figures"]["fleet_audit"]["sizes"]] == [1, 2]
    # The table is printed.
    assert "Targets" in run["output"] and "all targets met" in run["output"]


def test_baseline_meets_the_count_targets(tiny_runs):
    results = tiny_runs["baseline"]["results"]
    by_name = {target["name"]: target for target in results["targets"]}
    count_targets = [t for t in results["targets"] if t["id"] in (1, 4)]
    assert count_targets and all(t["met"] for t in count_targets), by_name
    sessions = results["figures"]["sessions"]
    # Something really was counted: every Exchange module task opened a session (the Exchange endpoint's, or only the
    # default endpoint's for a host operation such as the Auth certificate refresh), the converge wrote, the rerun did not.
    converge, rerun = sessions["converge"], sessions["rerun"]
    assert converge["tasks"] and all(row["exchange_sessions"] + row["host_sessions"] >= 1 for row in converge["tasks"])
    assert converge["host_sessions"] >= 1 and converge["pipelines"] > converge["exchange_sessions"]
    assert converge["mutating_cmdlets"] > 0 and rerun["mutating_cmdlets"] == 0 and rerun["mutating_by_cmdlet"] == {}
    # One pool per endpoint per module run: at most one session on each endpoint per module task and server.
    assert rerun["max_exchange_sessions_per_task_per_server"] == 1
    assert rerun["max_host_sessions_per_task_per_server"] <= 1
    assert converge["refused_creates"] == rerun["refused_creates"] == 0
    fleet = results["figures"]["fleet_audit"]["sizes"]
    assert all(size["max_exchange_sessions_per_task_per_server"] <= 1 for size in fleet)
    assert all(size["mutating_cmdlets"] == 0 for size in fleet)
    # Each organization is read through one Exchange session, whatever its size; every server's store is read.
    assert [size["exchange_sessions"] for size in fleet] == [1, 1]
    assert [size["certificate_store_reads"] for size in fleet] == [1, 2]
    assert all(size["wsman_requests_per_pipeline"] >= 2 for size in fleet)
    plays = {play["run"]: play for play in results["figures"]["graph"]["plays"]}
    assert plays["converge"]["token_requests"] == 1
    assert any(m["module"] == "msol_sp_credential" and m["patches_per_run"] >= 1 for m in plays["converge"]["modules"])
    verification = results["figures"]["verification"]
    assert verification["result_type"] == "Succeeded"
    # The probe's polls share the module's sessions: one per endpoint.
    assert verification["probe_exchange_sessions"] == 1 and verification["probe_host_sessions"] == 1


def test_shell_per_call_variant_misses_target_one(tiny_runs):
    run = tiny_runs["variant"]
    assert run["results"] is not None, run["output"][-3000:]
    results = run["results"]
    jsonschema.validate(results, _schema())
    assert results["variant"] == "shell-per-call"
    target = next(t for t in results["targets"] if t["name"].startswith("no-op rerun: Exchange sessions"))
    assert target["met"] is False and target["value"] > 1
    rerun = results["figures"]["sessions"]["rerun"]
    # The planted client still does the same work: the same calls, only more sessions.
    assert rerun["exchange_sessions"] > len(rerun["tasks"]) and rerun["mutating_cmdlets"] == 0
    assert results["all_targets_met"] is False and run["returncode"] == 1
    assert "[MISS] 1." in run["output"]


# -------------------------------------------------------------------------------- logic on synthetic logs


class _Server:
    def __init__(self, requests):
        self.requests = requests


class _Sim:
    def __init__(self, servers, graph=(), hosts=None):
        self.servers = {name: _Server(list(requests)) for name, requests in servers.items()}
        self.hosts = {name: _Server(list(requests)) for name, requests in (hosts or {}).items()}
        self.entra = _Server(list(graph))


def _run(label="rerun", calls=()):
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
    return {"label": label, "changed": 0, "_window": (9.0, 40.0), "_events": events, "_calls": list(calls)}


def _request(action, moment, status=200):
    return {"action": action, "time": moment, "elapsed": 0.0, "status": status}


def test_sessions_are_runspace_pool_opens_attributed_to_the_task_window_server_and_endpoint():
    sim = _Sim(
        {
            # Exchange endpoints: a pool open (Create) and its commands; a throttled Create opens nothing.
            "EX01": [_request("Create", 11.0), _request("Command", 11.1), _request("Command", 11.2)],
            "EX02": [
                _request("Create", 11.5),
                _request("Create", 11.6, status=500),
                _request("Create", 11.7),
                _request("Receive", 11.8),
                _request("Create", 25.0),  # in a task without Exchange module: still counted there
            ],
        },
        hosts={"EX01": [_request("Create", 11.3), _request("Command", 11.4)], "EX02": []},
    )
    summary = harness.session_summary(sim, _run())
    assert [row["task"] for row in summary["tasks"]] == ["role : read", "role : key"]
    read = summary["tasks"][0]
    assert read["exchange_sessions_per_server"] == {"EX01": 1, "EX02": 2}
    assert read["host_sessions_per_server"] == {"EX01": 1}
    assert read["max_exchange_sessions_per_server"] == 2 and read["max_host_sessions_per_server"] == 1
    assert read["pipelines"] == 3 and read["refused_creates"] == 1
    assert summary["exchange_sessions"] == 4 and summary["host_sessions"] == 1
    assert summary["per_server_exchange_sessions"] == {"EX01": 1, "EX02": 3}
    assert summary["max_exchange_sessions_per_task_per_server"] == 2
    assert summary["max_host_sessions_per_task_per_server"] == 1


def test_mutating_cmdlets_follow_the_simulators_read_rule():
    calls = [
        {"cmdlet": "Get-AuthConfig"},
        {"cmdlet": "script:host_facts"},
        {"cmdlet": "script:write_file", "parameters": {"CheckOnly": True}},
        {"cmdlet": "Test-OAuthConnectivity"},
        {"cmdlet": "script:write_file", "parameters": {"Path": "C:\\x"}},
        {"cmdlet": "Set-AuthConfig"},
        {"cmdlet": "Restart-Service"},
    ]
    summary = harness.session_summary(_Sim({"EX01": []}), _run(calls=calls))
    assert summary["mutating_cmdlets"] == 3
    assert summary["mutating_by_cmdlet"] == {"Restart-Service": 1, "Set-AuthConfig": 1, "script:write_file": 1}


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
        "sessions": {"rerun": {"max_exchange_sessions_per_task_per_server": 2, "mutating_cmdlets": 1}},
        "verification": {
            "restart_to_result_seconds": 50.1,
            "health_ready_delay_seconds": 45.0,
            "result_type": "Succeeded",
        },
        "fleet_audit": {"sizes": [{"servers": 1}, {"servers": 50}], "ratio_largest_to_smallest": 1.31,
                        "cpu_ratio_largest_to_smallest": 5.1},
        "graph": {"plays": [{"run": "rerun", "token_requests": 2, "modules": [{"writes_per_run": 1.0}]}]},
    }
    found = harness.targets(figures, None)
    assert len(found) == 7 and not any(t["met"] for t in found)
    passing = copy.deepcopy(figures)
    passing["sessions"]["rerun"].update(max_exchange_sessions_per_task_per_server=1, mutating_cmdlets=0)
    passing["verification"]["restart_to_result_seconds"] = 50.0
    passing["fleet_audit"].update(ratio_largest_to_smallest=1.3, cpu_ratio_largest_to_smallest=5.0)
    passing["graph"]["plays"][0].update(token_requests=1, modules=[{"writes_per_run": 0.0}])
    assert all(t["met"] for t in harness.targets(passing, None))


def test_schema_rejects_results_without_the_machine(tiny_runs):
    results = copy.deepcopy(tiny_runs["variant"]["results"])
    del results["machine"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(results, _schema())


# -------------------------------------------------------------------------------- the planted variant's patch


def _load_variant():
    path = os.path.join(ROOT, "bench", "variants", "sitecustomize.py")
    spec = importlib.util.spec_from_file_location("bench_variant_sitecustomize", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # without EXCHANGE_HYBRID_BENCH_VARIANT it installs nothing
    return module


class _CommandError(Exception):
    def __init__(self, index, results):
        super().__init__("failed")
        self.index = index
        self.results = results
        self.details = {"index": index}


class _Client:
    """A stand-in for ExchangeClient: one pool per endpoint, opened on first use, kept until close()."""

    def __init__(self):
        self.pools_opened = 0
        self.open = False

    def run(self, calls):
        results = []
        for index, entry in enumerate(calls):
            if not self.open:
                self.open = True
                self.pools_opened += 1
            if entry == "fail":
                raise _CommandError(index, results)
            results.append([entry])
        return results

    def close(self):
        self.open = False


def test_variant_opens_a_pool_per_call_and_keeps_the_batch_results(monkeypatch):
    monkeypatch.delenv("EXCHANGE_HYBRID_BENCH_VARIANT", raising=False)
    variant = _load_variant()

    class Module:
        ExchangeClient = type("ExchangeClient", (_Client,), {})
        ExchangeCommandError = _CommandError

    batch = Module.ExchangeClient()
    assert batch.run(["a", "b", "c"]) == [["a"], ["b"], ["c"]] and batch.pools_opened == 1
    variant._patch(Module)  # pylint: disable=protected-access
    client = Module.ExchangeClient()
    assert client.run(["a", "b", "c"]) == [["a"], ["b"], ["c"]]
    assert client.pools_opened == 3 and client.open is False
    with pytest.raises(_CommandError) as caught:
        client.run(["a", "b", "fail", "d"])
    # As the batch would report it: the failing call's index in the batch and the results before it.
    assert caught.value.index == 2 and caught.value.details["index"] == 2
    assert caught.value.results == [["a"], ["b"]]
    assert client.open is False
