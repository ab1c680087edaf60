"""``python -m hybrid_sim up|status|down`` as the demo and the benchmarks use it: a detached simulation with its own
Kerberos KDC in ``DIR/kdc``, its inventory used by real ansible-playbook with ``KRB5_CONFIG`` pointing there (as
scripts/demo.sh does), and ``down`` stopping the servers and the KDC."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import types
from typing import Any
from urllib.parse import urlsplit

SIMULATORS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "simulators")
HERE = os.path.dirname(os.path.abspath(__file__))


def _cli(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SIMULATORS, env.get("PYTHONPATH", "")) if p)
    return subprocess.run(
        [sys.executable, "-m", "hybrid_sim", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def _load_e2e_conftest() -> Any:
    path = os.path.join(os.path.dirname(HERE), "e2e", "conftest.py")
    spec = importlib.util.spec_from_file_location("e2e_conftest_for_cli", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = module  # type: ignore[union-attr]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return False
    return True


PLAYBOOK = """
- hosts: EX02
  gather_facts: false
  tasks:
    - name: info
      exchange.hybrid.exchange_server_info:
"""


def test_up_status_down(tmp_path: Any) -> None:
    directory = str(tmp_path / "demo")
    up = _cli(
        "up",
        "--dir",
        directory,
        "--detach",
        "--no-entra",
        "--server",
        "EX01=15.2.1748.24",
        "--server",
        "EX02=Version 15.1 (Build 2507.6)",
        "--latency-rtt",
        "0.01",
        "--latency-process",
        "0.02",
    )
    ports: list[int] = []
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "ready" in up.stdout and "/PowerShell/" in up.stdout
        status = _cli("status", "--dir", directory, "--json")
        assert status.returncode == 0, status.stderr
        info = json.loads(status.stdout)
        assert info["running"] is True and info["pid"] != os.getpid()
        endpoints = info["endpoints"]
        assert sorted(endpoints["servers"]) == ["EX01", "EX02"]
        assert endpoints["servers"]["EX01"]["spec"]["version_text"] == "Version 15.2 (Build 1748.24)"
        assert endpoints["servers"]["EX02"]["fqdn"] == "ex02.contoso.com"
        assert (endpoints["latency_rtt"], endpoints["latency_process"]) == (0.01, 0.02)
        assert endpoints["entra"] == {}
        # The run's own realm, in DIR/kdc (not this process's shared one).
        kdc = os.path.join(directory, "kdc")
        assert endpoints["realm"] == "CONTOSO.COM"
        assert endpoints["krb5_config"] == os.path.join(kdc, "krb5.conf")
        assert os.environ.get("KRB5_CONFIG") != endpoints["krb5_config"]
        with open(endpoints["krb5_config"], encoding="utf-8") as handle:
            kdc_port = int(re.search(r"kdc = 127\.0\.0\.1:(\d+)", handle.read()).group(1))  # type: ignore[union-attr]
        assert _listening(kdc_port)
        ports = [kdc_port]
        for server in endpoints["servers"].values():
            ports += [urlsplit(server["exchange_uri"]).port, server["https_port"], server["http_port"]]
        assert all(_listening(port) for port in ports)
        assert _cli("status", "--dir", directory).stdout.startswith("hybrid_sim: running in")
        again = _cli("up", "--dir", directory, "--no-entra")
        assert again.returncode == 1 and "already running" in again.stderr

        # Real ansible-playbook against the written inventory, Kerberos through the CLI's KDC as in the demo.
        e2e = _load_e2e_conftest()
        target = types.SimpleNamespace(directory=directory, inventory_path=endpoints["inventory_path"])
        env = {"KRB5_CONFIG": endpoints["krb5_config"], "KRB5CCNAME": "FILE:" + os.path.join(directory, "ccache")}
        run = e2e.run_playbook(target, PLAYBOOK, env=env)
        assert run.ok, str(run)
        result = run.result("info", "EX02")
        assert result["connected_server"] == "EX02" and result["changed"] is False
        assert {s["name"] for s in result["servers"]} == {"EX01", "EX02"}
        assert [s["version"] for s in result["servers"] if s["name"] == "EX02"] == ["15.1.2507.6"]
        assert endpoints["password"] not in run.stdout + run.stderr
        with open(os.path.join(directory, "calls.jsonl"), encoding="utf-8") as handle:
            calls = [json.loads(line) for line in handle if line.strip()]
        assert {(c["server"], c["endpoint"]) for c in calls} == {
            ("EX02", "Microsoft.Exchange"),
            ("EX02", "Microsoft.PowerShell"),
        }
    finally:
        down = _cli("down", "--dir", directory)
    assert down.returncode == 0 and "stopped" in down.stdout, down.stdout + down.stderr
    status = _cli("status", "--dir", directory)
    assert status.returncode == 3 and "not running" in status.stdout
    assert not os.path.exists(os.path.join(directory, "sim.pid"))
    assert ports and not any(_listening(port) for port in ports)  # the servers and the KDC are gone
    assert _cli("down", "--dir", directory).returncode == 0  # down again: nothing to stop


def test_bad_server_argument(tmp_path: Any) -> None:
    result = _cli("up", "--dir", str(tmp_path), "--server", "EX01")
    assert result.returncode == 2 and "NAME=VERSION" in result.stderr


def test_removed_handler_option(tmp_path: Any) -> None:
    result = _cli("up", "--dir", str(tmp_path), "--handler", "echo")
    assert result.returncode == 2 and "unrecognized arguments: --handler" in result.stderr
