# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark harness: the collection against the simulators with a latency model (see bench/README.md).

python bench/run.py [--out bench/results.json] [--variant shell-per-call] [--latency-off] ...

Runs real ansible-playbook against simulated organizations started in this process (so it can read their request
logs), prints a table, writes results.json (schema: bench/schema.json) and exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SCHEMA_PATH = os.path.join(HERE, "schema.json")
# 2: PowerShell remoting (runspace-pool opens per endpoint) instead of WinRS processes.
SCHEMA_VERSION = 2

# The modules that talk PSRP to an Exchange server (its Exchange endpoint and its default WinRM endpoint).
EXCHANGE_MODULES = {
    "exchange_server_info",
    "exchange_auth_info",
    "exchange_oauth_cert",
    "exchange_auth_server",
    "exchange_setting_override",
    "exchange_monitoring_probe",
    "push_proxy",
}
GRAPH_MODULES = {"msol_sp_credential", "tenant_info", "entra_key_credential_info"}
WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")
# The two PSRP endpoints of every simulated server: sim.servers (Exchange, /PowerShell, Microsoft.Exchange) and
# sim.hosts (default WinRM endpoint, /wsman, Microsoft.PowerShell).
ENDPOINTS = ("exchange", "host")
# The documented procedure: four Exchange Management Shell sessions (new certificate, Set-AuthConfig x2 with the
# service restart, New-AuthServer, Enable-PushNotificationProxy) and one MSOnline session, every one of them writing.
MANUAL_PROCEDURE = {"exchange_management_shell_sessions": 4, "msonline_sessions": 1, "total": 5, "mutating": 5}
DOCUMENTED_FIXED_WAIT = 120.0
VARIANTS = ("baseline", "shell-per-call")
DEFAULT_SERVERS = (
    "EX2013=Version 15.0 (Build 1497.2)",
    "EX2016=15.1.2507.6/15.1.2507.55",
    "EX2019=15.2.1748.10/15.2.1748.24",
)
FLEET_VERSION = "15.2.1748.10/15.2.1748.24"
# Target 3: the audit reads an organization through one Exchange session, so 50 servers may cost at most 1.3 times
# the wall time of one. Its controller CPU must no longer grow with the servers: the fixed cost (ansible-playbook,
# one module process per reader) dominates; a limit of 5 for 50/1 is a tenth of linear growth and leaves room for
# what does grow, decoding one certificate store per server inside the one module run.
FLEET_WALL_RATIO = 1.3
FLEET_CPU_RATIO = 5.0

# Where each latency figure comes from (written into results.json with the figures).
LATENCY_BASIS = {
    "rtt": "assumption: 30 ms per WS-Management HTTP request (a LAN round trip plus IIS/WinRM request handling); "
    "kept from the WinRS model",
    "exchange_session": "assumption: 3 s per runspace-pool open on Microsoft.Exchange (IIS/WinRM creates the session, "
    "Exchange resolves the caller's RBAC roles and loads the cmdlets they grant), the same 3 s the WinRS model charged "
    "per powershell.exe start + snap-in load. No public measurement of an on-premises session open was found; the "
    "nearest public figure is Exchange Online: 10-15 s to create a Microsoft.Exchange PSSession from a Windows client "
    "(jborean93/omi#45), a remote cloud endpoint and so an upper bound rather than a value",
    "host_session": "assumption: 0.5 s per runspace-pool open on the default endpoint (Microsoft.PowerShell: a "
    "wsmprovhost.exe start, no Exchange cmdlets loaded); not measured",
    "health_ready": "assumption: 45 s from Restart-Service MSExchangeHM until the probe answers",
    "graph": "assumption: 80 ms per Entra ID / Graph request",
}


def short_action(action: str) -> str:
    return action.rsplit(".", 1)[-1]


# ------------------------------------------------------------------------------------------ measuring a playbook


def _children(pid: int) -> list[int]:
    """pid and every descendant, from /proc (Linux)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, []))
    return found


def _rss_kib(pid: int) -> int:
    try:
        with open("/proc/%d/status" % pid, encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


class RssSampler(threading.Thread):
    """Peak summed RSS of a process tree and peak process count, sampled every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak_kib = 0
        self.peak_processes = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            tree = _children(self.pid)
            self.peak_kib = max(self.peak_kib, sum(_rss_kib(p) for p in tree))
            self.peak_processes = max(self.peak_processes, len(tree))
            self.done.wait(self.interval)


class Bench:
    def __init__(self, args: argparse.Namespace, work: str) -> None:
        self.args = args
        self.work = work
        self.runs: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.counter = 0

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            ANSIBLE_CALLBACK_PLUGINS=os.path.join(HERE, "callback_plugins"),
            ANSIBLE_CALLBACKS_ENABLED="bench_timeline",
            ANSIBLE_DEPRECATION_WARNINGS="false",
            ANSIBLE_RETRY_FILES_ENABLED="false",
            ANSIBLE_NOCOLOR="1",
        )
        env.pop("EXCHANGE_HYBRID_BENCH_VARIANT", None)
        if self.args.variant != "baseline":
            env["EXCHANGE_HYBRID_BENCH_VARIANT"] = self.args.variant
            env["PYTHONPATH"] = os.pathsep.join(p for p in (os.path.join(HERE, "variants"), env.get("PYTHONPATH")) if p)
        return env

    def playbook(
        self, sim: Any, label: str, playbook: str, forks: int, extra: dict[str, Any] | None = None, limit: str = ""
    ) -> dict:
        self.counter += 1
        stem = os.path.join(self.work, "%02d-%s" % (self.counter, label))
        timeline = stem + ".timeline.jsonl"
        vars_path = stem + ".vars.yml"
        from hybrid_sim.simulation import ROLE_VARS  # pylint: disable=import-outside-toplevel

        variables = dict(ROLE_VARS)
        variables.update(extra or {})
        variables["audit_report_dir"] = self.work
        with open(vars_path, "w", encoding="utf-8") as handle:
            yaml.safe_dump(variables, handle)
        env = self.env()
        env["BENCH_TIMELINE"] = timeline
        # A cold token cache per play: every play pays its own token, as a fresh AWX job does.
        env["EXCHANGE_HYBRID_TOKEN_CACHE_DIR"] = tempfile.mkdtemp(prefix="tokens-", dir=self.work)
        calls_before = len(sim.calls())
        command = ["ansible-playbook", "-i", sim.inventory_path, "-e", "@" + vars_path, "-f", str(forks), playbook]
        if limit:
            command[1:1] = ["--limit", limit]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        # This process runs the simulators: its CPU is what the simulated servers cost, not the controller.
        before_self = resource.getrusage(resource.RUSAGE_SELF)
        started = time.time()
        with open(stem + ".log", "wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.work)
            sampler = RssSampler(process.pid)
            sampler.start()
            returncode = process.wait()
            sampler.done.set()
            sampler.join()
        ended = time.time()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        after_self = resource.getrusage(resource.RUSAGE_SELF)
        events = []
        if os.path.exists(timeline):
            with open(timeline, encoding="utf-8") as handle:
                events = [json.loads(line) for line in handle if line.strip()]
        run = {
            "label": label,
            "playbook": playbook,
            "hosts": len(limit.split(",")) if limit else len(sim.specs),
            "forks": forks,
            "returncode": returncode,
            "wall_seconds": round(ended - started, 3),
            "controller_cpu_seconds": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 3),
            "simulator_cpu_seconds": round(
                (after_self.ru_utime - before_self.ru_utime) + (after_self.ru_stime - before_self.ru_stime), 3
            ),
            "peak_rss_mib": round(sampler.peak_kib / 1024.0, 1),
            "peak_processes": sampler.peak_processes,
            "load_average_after": [round(value, 2) for value in os.getloadavg()],
            "stats": next((e["hosts"] for e in reversed(events) if e["event"] == "stats"), {}),
            "log": stem + ".log",
        }
        run["peak_rss_mib_per_host"] = round(run["peak_rss_mib"] / max(1, run["hosts"]), 1)
        run["changed"] = sum(h.get("changed", 0) for h in run["stats"].values())
        run["failed"] = sum(h.get("failures", 0) + h.get("unreachable", 0) for h in run["stats"].values())
        if returncode != 0 or run["failed"]:
            self.errors.append(
                "%s: ansible-playbook %s exited %d (log: %s)" % (label, playbook, returncode, run["log"])
            )
        self.runs.append(run)
        # Kept out of results.json; the figures below are computed from them.
        run["_window"] = (started, ended)
        run["_events"] = events
        run["_calls"] = sim.calls()[calls_before:]
        return run


# ------------------------------------------------------------------------------------------ attributing requests


def task_windows(run: dict) -> list[dict[str, Any]]:
    """Tasks in start order with [start, end) windows; the linear strategy runs one task at a time."""
    started, ended = run["_window"]
    tasks = [e for e in run["_events"] if e["event"] == "task_start"]
    windows = []
    for position, task in enumerate(tasks):
        end = tasks[position + 1]["time"] if position + 1 < len(tasks) else ended
        results = [e for e in run["_events"] if e["event"] == "result" and e["task_id"] == task["task_id"]]
        starts = {
            e["host"]: e["time"]
            for e in run["_events"]
            if e["event"] == "host_start" and e["task_id"] == task["task_id"]
        }
        windows.append(
            {
                "id": task["task_id"],
                "name": task["name"],
                "module": short_action(task["action"]),
                "start": task["time"],
                "end": end,
                "results": results,
                "host_starts": starts,
            }
        )
    if windows:
        windows[0]["start"] = min(windows[0]["start"], started)
    return windows


def _in(window: dict, moment: float) -> bool:
    return window["start"] <= moment < window["end"]


def endpoint_servers(sim: Any) -> dict[str, dict[str, Any]]:
    """{"exchange": sim.servers, "host": sim.hosts}: the WSManServers of both endpoints, by server name."""
    return {"exchange": dict(sim.servers), "host": dict(getattr(sim, "hosts", None) or {})}


def wsman_requests(sim: Any, run: dict) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """The run's WS-Management requests: {endpoint: {server: [request, ...]}} (request as WSManServer logs it)."""
    started, ended = run["_window"]
    return {
        endpoint: {
            name: [r for r in list(server.requests) if started <= r["time"] <= ended] for name, server in found.items()
        }
        for endpoint, found in endpoint_servers(sim).items()
    }


def graph_requests(sim: Any, run: dict) -> list[dict[str, Any]]:
    started, ended = run["_window"]
    return [r for r in list(sim.entra.requests) if started <= r["time"] <= ended] if sim.entra else []


def is_session_open(request: dict[str, Any]) -> bool:
    """A runspace pool opened: a WS-Man Create the endpoint accepted (a refused one, e.g. throttled, opens none)."""
    return request["action"] == "Create" and request.get("status", 200) == 200


def sessions_by_task(sim: Any, run: dict) -> list[dict[str, Any]]:
    """Runspace-pool opens (accepted Creates) per module task and server, on each endpoint, and pipelines (Commands)."""
    requests = wsman_requests(sim, run)
    rows = []
    for window in task_windows(run):
        per_endpoint: dict[str, dict[str, int]] = {}
        pipelines = 0
        refused = 0
        for endpoint, servers in requests.items():
            counts = {}
            for server, entries in servers.items():
                inside = [r for r in entries if _in(window, r["time"])]
                count = sum(1 for r in inside if is_session_open(r))
                pipelines += sum(1 for r in inside if r["action"] == "Command")
                refused += sum(1 for r in inside if r["action"] == "Create" and not is_session_open(r))
                if count:
                    counts[server] = count
            per_endpoint[endpoint] = dict(sorted(counts.items()))
        exchange, host = per_endpoint["exchange"], per_endpoint["host"]
        ran = [r for r in window["results"] if r["status"] != "skipped"]
        if window["module"] not in EXCHANGE_MODULES and not exchange and not host:
            continue
        if not ran and not exchange and not host:
            continue
        rows.append(
            {
                "task": window["name"],
                "module": window["module"],
                "hosts_run": len(ran),
                "exchange_sessions_per_server": exchange,
                "host_sessions_per_server": host,
                "max_exchange_sessions_per_server": max(exchange.values(), default=0),
                "max_host_sessions_per_server": max(host.values(), default=0),
                "exchange_sessions": sum(exchange.values()),
                "host_sessions": sum(host.values()),
                "pipelines": pipelines,
                "refused_creates": refused,
            }
        )
    return rows


def _is_read_call(entry: dict[str, Any]) -> bool:
    from hybrid_sim.simulation import is_read_call  # pylint: disable=import-outside-toplevel

    return is_read_call(entry)


def mutating_calls(run: dict) -> list[str]:
    """The commands the simulators executed that change something (hybrid_sim.simulation.is_read_call), by name."""
    return [str(c.get("cmdlet")) for c in run["_calls"] if not _is_read_call(c)]


def session_summary(sim: Any, run: dict) -> dict[str, Any]:
    tasks = sessions_by_task(sim, run)
    totals: dict[str, dict[str, int]] = {"exchange": {}, "host": {}}
    for row in tasks:
        for endpoint in ENDPOINTS:
            for server, count in row["%s_sessions_per_server" % endpoint].items():
                totals[endpoint][server] = totals[endpoint].get(server, 0) + count
    mutating = mutating_calls(run)
    by_cmdlet: dict[str, int] = {}
    for name in mutating:
        by_cmdlet[name] = by_cmdlet.get(name, 0) + 1
    return {
        "run": run["label"],
        "changed": run["changed"],
        "mutating_cmdlets": len(mutating),
        "mutating_by_cmdlet": dict(sorted(by_cmdlet.items())),
        "tasks": tasks,
        "per_server_exchange_sessions": dict(sorted(totals["exchange"].items())),
        "per_server_host_sessions": dict(sorted(totals["host"].items())),
        "exchange_sessions": sum(totals["exchange"].values()),
        "host_sessions": sum(totals["host"].values()),
        "pipelines": sum(row["pipelines"] for row in tasks),
        "refused_creates": sum(row["refused_creates"] for row in tasks),
        "max_exchange_sessions_per_task_per_server": max(
            (row["max_exchange_sessions_per_server"] for row in tasks), default=0
        ),
        "max_host_sessions_per_task_per_server": max((row["max_host_sessions_per_server"] for row in tasks), default=0),
    }


def graph_summary(sim: Any, run: dict) -> dict[str, Any]:
    requests = graph_requests(sim, run)
    modules = []
    for window in task_windows(run):
        if window["module"] not in GRAPH_MODULES:
            continue
        ran = [r for r in window["results"] if r["status"] != "skipped"]
        if not ran:
            continue
        inside = [r for r in requests if _in(window, r["time"])]
        graph = [r for r in inside if r["kind"] == "graph"]
        runs = len(ran)
        modules.append(
            {
                "task": window["name"],
                "module": window["module"],
                "module_runs": runs,
                "changed": any(r.get("changed") for r in ran),
                "token_requests": sum(1 for r in inside if r["kind"] == "token"),
                "gets_per_run": round(sum(1 for r in graph if r["method"] == "GET") / runs, 2),
                "patches_per_run": round(sum(1 for r in graph if r["method"] == "PATCH") / runs, 2),
                "writes_per_run": round(sum(1 for r in graph if r["method"] in WRITE_METHODS) / runs, 2),
            }
        )
    return {
        "run": run["label"],
        "token_requests": sum(1 for r in requests if r["kind"] == "token"),
        "graph_requests": sum(1 for r in requests if r["kind"] == "graph"),
        "modules": modules,
    }


# ------------------------------------------------------------------------------------------ phases


class _Started:
    """A started Simulation with the harness's latency model applied to both endpoints of every server."""

    def __init__(self, sim: Any, host_session: float) -> None:
        self.sim = sim
        self.host_session = host_session

    def __enter__(self) -> Any:
        self.sim.start()
        try:
            # The Simulation charges a pool open on the Exchange endpoint only (latency_process); the default
            # endpoint's WSManServer has the same knob, set here after start (it is read at every Create).
            for host in self.sim.hosts.values():
                host.latency_pool_open = self.host_session
        except BaseException:
            self.sim.stop()
            raise
        return self.sim

    def __exit__(self, *exc: object) -> None:
        self.sim.stop()


def simulation(args: argparse.Namespace, directory: str, servers: list[str], latency: bool) -> _Started:
    from hybrid_sim.simulation import Simulation, parse_server_argument  # pylint: disable=import-outside-toplevel

    sim = Simulation(
        directory,
        servers=[parse_server_argument(text) for text in servers],
        latency_rtt=args.latency_rtt if latency else 0.0,
        # Slept once per runspace-pool open on the Exchange endpoint (loading the Exchange cmdlets for the session).
        latency_process=args.latency_session if latency else 0.0,
        latency_graph=args.latency_graph if latency else 0.0,
        max_shells_per_user=max(30, 2 * args.forks),
        exchange_options={"health_ready_delay_seconds": args.health_ready_delay if latency else 0.0},
    )
    return _Started(sim, args.latency_host_session if latency else 0.0)


def overhead_figure(sim: Any, run: dict) -> dict[str, Any]:
    """Per module task and host: wall time on the controller minus the time the simulators spent answering."""
    requests = wsman_requests(sim, run)
    every_request = [r for servers in requests.values() for entries in servers.values() for r in entries]
    graph = graph_requests(sim, run)
    samples: dict[str, list[float]] = {}
    for window in task_windows(run):
        if window["module"] not in EXCHANGE_MODULES | GRAPH_MODULES:
            continue
        for result in window["results"]:
            if result["status"] == "skipped" or result["host"] not in window["host_starts"]:
                continue
            begin, end = window["host_starts"][result["host"]], result["time"]
            server_busy = sum(r["elapsed"] for r in every_request if begin <= r["time"] < end)
            samples.setdefault(window["module"], []).append(max(0.0, (end - begin) - server_busy))
    per_module = {
        module: {
            "runs": len(values),
            "median_seconds": round(statistics.median(values), 3),
            "max_seconds": round(max(values), 3),
        }
        for module, values in sorted(samples.items())
    }
    every = [value for values in samples.values() for value in values]
    return {
        "run": run["label"],
        "latency_model": "off",
        "per_module": per_module,
        "median_seconds_per_module_task": round(statistics.median(every), 3) if every else None,
        "graph_requests_in_run": len(graph),
    }


def phase_organization(bench: Bench, figures: dict[str, Any]) -> None:
    args = bench.args
    directory = os.path.join(bench.work, "org")
    with simulation(args, directory, args.server or list(DEFAULT_SERVERS), latency=not args.latency_off) as sim:
        no_verify = {"push_notifications_verify": False}
        converge = bench.playbook(
            sim, "converge", "exchange.hybrid.configure_push_notifications", args.forks, no_verify
        )
        rerun = bench.playbook(sim, "rerun", "exchange.hybrid.configure_push_notifications", args.forks, no_verify)
        figures["sessions"] = {
            "servers": len(sim.specs),
            "converge": session_summary(sim, converge),
            "rerun": session_summary(sim, rerun),
            "manual_procedure": dict(MANUAL_PROCEDURE),
        }
        graph = [graph_summary(sim, converge), graph_summary(sim, rerun)]
        if "verify" in args.phases:
            verify = bench.playbook(sim, "verify", "exchange.hybrid.verify_push_notifications", args.forks)
            figures["verification"] = verification_figure(
                sim, verify, 0.0 if args.latency_off else args.health_ready_delay
            )
            graph.append(graph_summary(sim, verify))
        figures["graph"] = {"plays": graph}
        if args.latency_off:
            figures["overhead"] = overhead_figure(sim, rerun)
        elif "overhead" in args.phases:
            latency_off(sim)
            quiet = bench.playbook(
                sim, "overhead-rerun", "exchange.hybrid.configure_push_notifications", args.forks, no_verify
            )
            figures["overhead"] = overhead_figure(sim, quiet)


def verification_figure(sim: Any, run: dict, readiness: float) -> dict[str, Any]:
    state = sim.read_state()
    probe = None
    for window in task_windows(run):
        if window["module"] == "exchange_monitoring_probe":
            done = [r for r in window["results"] if r["status"] != "skipped"]
            if done:
                probe = (window, done[0])
    figure: dict[str, Any] = {
        "health_ready_delay_seconds": readiness,
        "documented_fixed_wait_seconds": DOCUMENTED_FIXED_WAIT,
        "module_waited_seconds": None,
        "restart_to_result_seconds": None,
        "probe_polls": None,
        "probe_exchange_sessions": None,
        "probe_host_sessions": None,
        "probe_pipelines": None,
        "result_type": None,
        "server": None,
    }
    if probe is None:
        return figure
    window, result = probe
    figure.update(
        module_waited_seconds=result.get("waited_seconds"),
        result_type=result.get("result_type"),
        probe_polls=result.get("attempts"),
    )
    requests = wsman_requests(sim, run)
    servers = state["exchange"]["servers"]
    for name, server in servers.items() if isinstance(servers, dict) else ((s["name"], s) for s in servers):
        service = (server.get("services") or {}).get("MSExchangeHM") or {}
        exchange = [r for r in requests["exchange"].get(name, []) if _in(window, r["time"])]
        host = [r for r in requests["host"].get(name, []) if _in(window, r["time"])]
        if "ready_at" not in service or not (exchange or host):
            continue
        restarted = float(service["ready_at"]) - readiness
        if not window["start"] <= restarted <= window["end"]:
            continue
        # The probe's answer is the last Receive of the module run (Invoke-MonitoringProbe is each poll's last call).
        receives = [r["time"] + r["elapsed"] for r in exchange + host if r["action"] == "Receive"]
        figure.update(
            server=name,
            restart_to_result_seconds=round(max(receives) - restarted, 2) if receives else None,
            probe_exchange_sessions=sum(1 for r in exchange if is_session_open(r)),
            probe_host_sessions=sum(1 for r in host if is_session_open(r)),
            probe_pipelines=sum(1 for r in exchange + host if r["action"] == "Command"),
        )
    return figure


def phase_fleet(bench: Bench, figures: dict[str, Any]) -> None:
    """One organization per size (1, 10, 50 servers), configured with the latency model off (not a figure), then
    audited with it on: the audit reads an organization through one of its servers, so a fleet is measured by the
    size of the organization, not by a --limit on one large organization (which would read all of it every time)."""
    args = bench.args
    sizes = []
    for size in args.fleet_sizes:
        directory = os.path.join(bench.work, "fleet-%d" % size)
        servers = ["EX%03d=%s" % (number, FLEET_VERSION) for number in range(1, size + 1)]
        with simulation(args, directory, servers, latency=not args.latency_off) as sim:
            latency_off(sim)
            no_verify = {"push_notifications_verify": False}
            bench.playbook(sim, "fleet-%d-configure" % size, "exchange.hybrid.configure_push_notifications",
                           args.forks, no_verify)
            if not args.latency_off:
                latency_on(sim, args)
            audit = bench.playbook(sim, "fleet-%d-audit" % size, "exchange.hybrid.audit_push_notifications", args.forks)
            sessions = session_summary(sim, audit)
            sizes.append(
                {
                    "servers": size,
                    "wall_seconds": audit["wall_seconds"],
                    "controller_cpu_seconds": audit["controller_cpu_seconds"],
                    "controller_cpu_seconds_per_host": round(audit["controller_cpu_seconds"] / size, 3),
                    "simulator_cpu_seconds": audit["simulator_cpu_seconds"],
                    "peak_rss_mib": audit["peak_rss_mib"],
                    "peak_rss_mib_per_host": audit["peak_rss_mib_per_host"],
                    "peak_processes": audit["peak_processes"],
                    "exchange_sessions": sessions["exchange_sessions"],
                    "host_sessions": sessions["host_sessions"],
                    "pipelines": sessions["pipelines"],
                    "max_exchange_sessions_per_task_per_server": sessions["max_exchange_sessions_per_task_per_server"],
                    "mutating_cmdlets": sessions["mutating_cmdlets"],
                    "mutating_by_cmdlet": sessions["mutating_by_cmdlet"],
                    "load_average_after": audit["load_average_after"],
                    **pipeline_cost(sim, audit),
                    "tasks": [
                        {"task": w["name"], "module": w["module"], "seconds": round(w["end"] - w["start"], 2)}
                        for w in task_windows(audit)
                    ],
                }
            )
            figures.setdefault("graph", {"plays": []})["plays"].append(graph_summary(sim, audit))
    smallest = min(sizes, key=lambda entry: entry["servers"]) if sizes else None
    largest = max(sizes, key=lambda entry: entry["servers"]) if sizes else None
    figures["fleet_audit"] = {
        "forks": args.forks,
        "organization_servers": max(args.fleet_sizes),
        "sizes": sizes,
        "ratio_largest_to_smallest": (
            round(largest["wall_seconds"] / smallest["wall_seconds"], 2) if sizes and smallest["wall_seconds"] else None
        ),
        "cpu_ratio_largest_to_smallest": (
            round(largest["controller_cpu_seconds"] / smallest["controller_cpu_seconds"], 2)
            if sizes and smallest["controller_cpu_seconds"]
            else None
        ),
    }


def pipeline_cost(sim: Any, run: dict) -> dict[str, Any]:
    """Where an audit's remote time goes: WS-Man requests by action on both endpoints, how many each pipeline
    (Command) costs, and the per-server certificate reads (Get-ExchangeCertificate -Server) among the pipelines."""
    by_action: dict[str, int] = {}
    for servers in wsman_requests(sim, run).values():
        for requests in servers.values():
            for request in requests:
                by_action[request["action"]] = by_action.get(request["action"], 0) + 1
    commands = by_action.get("Command", 0)
    pipeline_requests = sum(by_action.get(action, 0) for action in ("Command", "Send", "Receive", "Signal"))
    return {
        "wsman_requests": sum(by_action.values()),
        "wsman_requests_by_action": dict(sorted(by_action.items())),
        "wsman_requests_per_pipeline": round(pipeline_requests / commands, 2) if commands else None,
        "certificate_store_reads": sum(1 for c in run["_calls"] if c.get("cmdlet") == "Get-ExchangeCertificate"),
    }


def latency_on(sim: Any, args: argparse.Namespace) -> None:
    """Put the latency model back on a simulation whose latency was switched off (the fleet's configure runs)."""
    for server in sim.servers.values():
        server.latency_rtt = args.latency_rtt
        server.latency_pool_open = args.latency_session
    for host in sim.hosts.values():
        host.latency_rtt = args.latency_rtt
        host.latency_pool_open = args.latency_host_session
    if sim.entra is not None:
        sim.entra.latency = args.latency_graph


def latency_off(sim: Any) -> None:
    """Turn a running simulation's latency model off (figure 5 reuses the converged organization)."""
    for servers in endpoint_servers(sim).values():
        for server in servers.values():
            server.latency_rtt = 0.0
            server.latency_pool_open = 0.0
    if sim.entra is not None:
        sim.entra.latency = 0.0


# ------------------------------------------------------------------------------------------ targets and output


def targets(figures: dict[str, Any], args: argparse.Namespace) -> list[dict[str, Any]]:
    found = []
    sessions = figures.get("sessions")
    if sessions:
        rerun = sessions["rerun"]
        worst = rerun["max_exchange_sessions_per_task_per_server"]
        found.append(
            {
                "id": 1,
                "name": "no-op rerun: Exchange sessions per module task per server",
                "value": worst,
                "limit": 1,
                "met": worst <= 1,
            }
        )
        writes = rerun["mutating_cmdlets"]
        found.append(
            {
                "id": 1,
                "name": "no-op rerun: mutating cmdlets executed",
                "value": writes,
                "limit": 0,
                "met": writes == 0,
            }
        )
    verification = figures.get("verification")
    if verification:
        value = verification["restart_to_result_seconds"]
        limit = verification["health_ready_delay_seconds"] + 5.0
        found.append(
            {
                "id": 2,
                "name": "verification: seconds from health service restart to probe result",
                "value": value,
                "limit": limit,
                "met": value is not None and value <= limit and verification["result_type"] == "Succeeded",
            }
        )
    fleet = figures.get("fleet_audit")
    if fleet and len(fleet["sizes"]) > 1:
        largest = max(s["servers"] for s in fleet["sizes"])
        value = fleet["ratio_largest_to_smallest"]
        found.append(
            {
                "id": 3,
                "name": "fleet audit: wall time of %d servers / 1 server" % largest,
                "value": value,
                "limit": FLEET_WALL_RATIO,
                "met": value is not None and value <= FLEET_WALL_RATIO,
            }
        )
        value = fleet["cpu_ratio_largest_to_smallest"]
        found.append(
            {
                "id": 3,
                "name": "fleet audit: controller CPU of %d servers / 1 server" % largest,
                "value": value,
                "limit": FLEET_CPU_RATIO,
                "met": value is not None and value <= FLEET_CPU_RATIO,
            }
        )
    graph = figures.get("graph")
    if graph and graph["plays"]:
        tokens = max(play["token_requests"] for play in graph["plays"])
        found.append(
            {"id": 4, "name": "Graph: token requests per play", "value": tokens, "limit": 1, "met": tokens <= 1}
        )
        rerun_plays = [play for play in graph["plays"] if play["run"] == "rerun"]
        writes = sum(m["writes_per_run"] for play in rerun_plays for m in play["modules"])
        found.append(
            {
                "id": 4,
                "name": "Graph: writes per module run on a no-op rerun",
                "value": writes,
                "limit": 0,
                "met": bool(rerun_plays) and writes == 0,
            }
        )
    return found


def machine() -> dict[str, Any]:
    try:
        from ansible import release  # pylint: disable=import-outside-toplevel

        ansible_version = release.__version__
    except ImportError:
        ansible_version = None
    return {
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "ansible_core": ansible_version,
    }


def public(run: dict) -> dict:
    return {key: value for key, value in run.items() if not key.startswith("_")}


def latency_model(args: argparse.Namespace) -> dict[str, Any]:
    off = args.latency_off
    return {
        "enabled": not off,
        "rtt_seconds": 0.0 if off else args.latency_rtt,
        "exchange_session_seconds": 0.0 if off else args.latency_session,
        "host_session_seconds": 0.0 if off else args.latency_host_session,
        "health_ready_seconds": 0.0 if off else args.health_ready_delay,
        "graph_seconds": 0.0 if off else args.latency_graph,
        "basis": dict(LATENCY_BASIS),
    }


def table(results: dict[str, Any]) -> str:
    lines = []
    figures = results["figures"]
    model = results["latency_model"]
    lines.append(
        "exchange.hybrid benchmark (variant %s; latency model: rtt %.3f s, Exchange session %.1f s, default-endpoint "
        "session %.1f s, readiness %.0f s, graph %.3f s)"
        % (
            results["variant"],
            model["rtt_seconds"],
            model["exchange_session_seconds"],
            model["host_session_seconds"],
            model["health_ready_seconds"],
            model["graph_seconds"],
        )
    )
    machine_info = results["machine"]
    lines.append(
        "machine: %s CPUs, Python %s, ansible-core %s, %s; load average %s at start, %s at end"
        % (
            machine_info["cpu_count"],
            machine_info["python"],
            machine_info["ansible_core"],
            machine_info["platform"],
            "/".join("%.1f" % value for value in machine_info["load_average"]),
            "/".join("%.1f" % value for value in machine_info["load_average_end"]),
        )
    )
    sessions = figures.get("sessions")
    if sessions:
        lines.append("")
        lines.append(
            "1. Sessions: runspace-pool opens, Exchange endpoint / default endpoint (%d servers)" % sessions["servers"]
        )
        lines.append(
            "   %-62s %17s %17s"
            % ("module task: all servers (max on one server)", "converge Ex / def", "rerun Ex / def")
        )
        converge = {row["task"]: row for row in sessions["converge"]["tasks"]}
        rerun = {row["task"]: row for row in sessions["rerun"]["tasks"]}
        names = list(converge) + [name for name in rerun if name not in converge]
        for name in names:
            lines.append(
                "   %-62s %17s %17s"
                % (name.split(" : ", 1)[-1][:62], _cell(converge.get(name)), _cell(rerun.get(name)))
            )
        for label, key in (
            ("Exchange sessions (all servers)", "exchange_sessions"),
            ("default-endpoint sessions (all servers)", "host_sessions"),
            ("pipelines (WS-Man Commands, both endpoints)", "pipelines"),
            ("mutating cmdlets executed", "mutating_cmdlets"),
        ):
            lines.append("   %-62s %17d %17d" % (label, sessions["converge"][key], sessions["rerun"][key]))
        for run in ("converge", "rerun"):
            written = sessions[run]["mutating_by_cmdlet"]
            if written:
                lines.append(
                    "   %s wrote: %s" % (run, ", ".join("%s %d" % (name, count) for name, count in written.items()))
                )
        manual = sessions["manual_procedure"]
        lines.append(
            "   documented manual procedure: %d Exchange Management Shell + %d MSOnline sessions = %d, all mutating"
            % (manual["exchange_management_shell_sessions"], manual["msonline_sessions"], manual["total"])
        )
    verification = figures.get("verification")
    if verification:
        lines.append("")
        lines.append(
            "2. Verification: restart -> probe result %s s (module waited %s s, %s polls, %s Exchange + %s default-endpoint "
            "sessions, %s pipelines, %s); readiness %.0f s; documented fixed wait %.0f s"
            % (
                verification["restart_to_result_seconds"],
                verification["module_waited_seconds"],
                verification["probe_polls"],
                verification["probe_exchange_sessions"],
                verification["probe_host_sessions"],
                verification["probe_pipelines"],
                verification["result_type"],
                verification["health_ready_delay_seconds"],
                verification["documented_fixed_wait_seconds"],
            )
        )
    fleet = figures.get("fleet_audit")
    if fleet:
        lines.append("")
        lines.append("3. Fleet audit (forks %d)" % fleet["forks"])
        lines.append(
            "   %7s %8s %10s %12s %10s %11s %9s %9s %9s"
            % (
                "servers",
                "wall s",
                "ctrl CPU s",
                "CPU s / host",
                "peak MiB",
                "MiB / host",
                "Ex sess",
                "def sess",
                "writes",
            )
        )
        for size in fleet["sizes"]:
            lines.append(
                "   %7d %8.1f %10.1f %12.2f %10.1f %11.1f %9d %9d %9d"
                % (
                    size["servers"],
                    size["wall_seconds"],
                    size["controller_cpu_seconds"],
                    size["controller_cpu_seconds_per_host"],
                    size["peak_rss_mib"],
                    size["peak_rss_mib_per_host"],
                    size["exchange_sessions"],
                    size["host_sessions"],
                    size["mutating_cmdlets"],
                )
            )
        lines.append(
            "   ratio largest/smallest: wall %s, controller CPU %s"
            % (fleet["ratio_largest_to_smallest"], fleet.get("cpu_ratio_largest_to_smallest"))
        )
        for size in fleet["sizes"]:
            lines.append(
                "   %d servers: %d pipelines (%d certificate store reads), %d WS-Man requests, %s per pipeline"
                % (size["servers"], size["pipelines"], size.get("certificate_store_reads", 0),
                   size.get("wsman_requests", 0), size.get("wsman_requests_per_pipeline"))
            )
        if len(fleet["sizes"]) > 1:
            first, last = fleet["sizes"][0], fleet["sizes"][-1]
            lines.append("   audit task seconds: %d servers vs %d" % (last["servers"], first["servers"]))
            small = {task["task"]: task["seconds"] for task in first["tasks"]}
            for task in last["tasks"]:
                lines.append("     %7.1f %7s  %s" % (task["seconds"], small.get(task["task"], "-"), task["task"][:80]))
    graph = figures.get("graph")
    if graph:
        lines.append("")
        lines.append("4. Graph")
        lines.append("   %-22s %6s   %s" % ("play", "tokens", "per module run: GET / PATCH / writes"))
        for play in graph["plays"]:
            detail = "; ".join(
                "%s %s/%s/%s" % (m["module"], m["gets_per_run"], m["patches_per_run"], m["writes_per_run"])
                for m in play["modules"]
            )
            lines.append("   %-22s %6d   %s" % (play["run"], play["token_requests"], detail or "-"))
    overhead = figures.get("overhead")
    if overhead:
        lines.append("")
        lines.append(
            "5. Controller overhead per module task (latency off): median %s s"
            % overhead["median_seconds_per_module_task"]
        )
        for module, values in overhead["per_module"].items():
            lines.append(
                "   %-28s median %.3f s  max %.3f s  (%d runs)"
                % (module, values["median_seconds"], values["max_seconds"], values["runs"])
            )
    lines.append("")
    lines.append("Targets")
    for target in results["targets"]:
        lines.append(
            "   [%s] %d. %s: %s (limit %s)"
            % ("met " if target["met"] else "MISS", target["id"], target["name"], target["value"], target["limit"])
        )
    for error in results["errors"]:
        lines.append("   error: %s" % error)
    lines.append("   all targets met: %s" % results["all_targets_met"])
    return "\n".join(lines)


def _cell(row: dict | None) -> str:
    if row is None:
        return "-"
    return "%d (%d) / %d (%d)" % (
        row["exchange_sessions"],
        row["max_exchange_sessions_per_server"],
        row["host_sessions"],
        row["max_host_sessions_per_server"],
    )


def validate(results: dict[str, Any]) -> None:
    import jsonschema  # pylint: disable=import-outside-toplevel

    with open(SCHEMA_PATH, encoding="utf-8") as handle:
        jsonschema.validate(results, json.load(handle))


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--out", default=os.path.join(HERE, "results.json"), help="results file (default bench/results.json)"
    )
    parser.add_argument(
        "--variant",
        choices=VARIANTS,
        default="baseline",
        help="shell-per-call: the planted slow client (a runspace pool per cmdlet call)",
    )
    parser.add_argument("--latency-rtt", type=float, default=0.030, help="seconds per WS-Man request (default 0.030)")
    parser.add_argument(
        "--latency-session",
        "--latency-process",
        dest="latency_session",
        type=float,
        default=3.0,
        help="seconds per runspace-pool open on the Exchange endpoint, an Exchange session (assumption: 3)",
    )
    parser.add_argument(
        "--latency-host-session",
        type=float,
        default=0.5,
        help="seconds per runspace-pool open on the default WinRM endpoint (assumption: 0.5)",
    )
    parser.add_argument(
        "--health-ready-delay", type=float, default=45.0, help="health service readiness after restart (45)"
    )
    parser.add_argument("--latency-graph", type=float, default=0.080, help="seconds per Graph request (default 0.080)")
    parser.add_argument("--latency-off", action="store_true", help="no latency model anywhere (tests)")
    parser.add_argument("--server", action="append", metavar="NAME=VERSION", help="organization for figures 1, 2, 4")
    parser.add_argument("--fleet-sizes", default="1,10,50", help="servers per fleet audit (default 1,10,50)")
    parser.add_argument("--forks", type=int, default=25, help="ansible forks (default 25)")
    parser.add_argument(
        "--phases",
        default="organization,verify,fleet,overhead",
        help="comma-separated: organization (figures 1, 4), verify (2), fleet (3), overhead (5)",
    )
    parser.add_argument("--keep", metavar="DIR", help="keep logs and simulator state in DIR")
    args = parser.parse_args(argv)
    args.fleet_sizes = sorted({int(size) for size in args.fleet_sizes.split(",") if size.strip()})
    args.phases = [phase.strip() for phase in args.phases.split(",") if phase.strip()]
    unknown = set(args.phases) - {"organization", "verify", "fleet", "overhead"}
    if unknown:
        parser.error("--phases: unknown %s" % ", ".join(sorted(unknown)))
    for phase in ("verify", "overhead"):
        if phase in args.phases and "organization" not in args.phases:
            parser.error("--phases: %s needs organization (it reuses the converged organization)" % phase)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    figures: dict[str, Any] = {}
    began = time.time()
    # Other work on the machine skews every wall time: the load averages at start and end are reported.
    machine_info = machine()
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
        work = tempfile.mkdtemp(prefix="bench-", dir=args.keep)
    else:
        work = tempfile.mkdtemp(prefix="exchange-hybrid-bench-")
    bench = Bench(args, work)
    try:
        if "organization" in args.phases:
            phase_organization(bench, figures)
        if "fleet" in args.phases:
            phase_fleet(bench, figures)
    finally:
        # Logs stay when something failed, so the error lines below point at files that exist.
        if not args.keep and not bench.errors:
            shutil.rmtree(work, ignore_errors=True)
    machine_info["load_average_end"] = [round(value, 2) for value in os.getloadavg()]
    found = targets(figures, args)
    results = {
        "schema_version": SCHEMA_VERSION,
        "generated_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "duration_seconds": round(time.time() - began, 1),
        "variant": args.variant,
        "machine": machine_info,
        "latency_model": latency_model(args),
        "forks": args.forks,
        "figures": figures,
        "targets": found,
        "all_targets_met": bool(found) and all(t["met"] for t in found) and not bench.errors,
        "runs": [public(run) for run in bench.runs],
        "errors": bench.errors,
    }
    if not args.keep and not bench.errors:
        for run in results["runs"]:
            run.pop("log", None)
    validate(results)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=1, sort_keys=False)
        handle.write("\n")
    print(table(results))
    print("\nresults: %s" % args.out)
    return 0 if results["all_targets_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
