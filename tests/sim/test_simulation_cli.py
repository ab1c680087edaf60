"""``python -m hybrid_sim up|status|down`` as the demo and the benchmarks use it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import winrm

SIMULATORS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "simulators")


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


def test_up_status_down(tmp_path: Any) -> None:
    directory = str(tmp_path / "demo")
    up = _cli(
        "up",
        "--dir",
        directory,
        "--detach",
        "--handler",
        "echo",
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
    try:
        assert up.returncode == 0, up.stderr
        assert "ready" in up.stdout
        status = _cli("status", "--dir", directory, "--json")
        assert status.returncode == 0
        info = json.loads(status.stdout)
        assert info["running"] is True
        endpoints = info["endpoints"]
        assert sorted(endpoints["servers"]) == ["EX01", "EX02"]
        assert endpoints["servers"]["EX01"]["spec"]["version_text"] == "Version 15.2 (Build 1748.24)"
        assert (endpoints["latency_rtt"], endpoints["latency_process"]) == (0.01, 0.02)
        assert _cli("up", "--dir", directory, "--handler", "echo", "--no-entra").returncode == 1  # already running
        session = winrm.Session(
            endpoints["servers"]["EX02"]["https_url"],
            auth=(endpoints["username"], endpoints["password"]),
            transport="ntlm",
            ca_trust_path=endpoints["ca_path"],
        )
        assert session.run_cmd("hostname").std_out.startswith(b"hostname")
    finally:
        down = _cli("down", "--dir", directory)
    assert down.returncode == 0 and "stopped" in down.stdout
    status = _cli("status", "--dir", directory)
    assert status.returncode == 3 and "not running" in status.stdout
    assert not os.path.exists(os.path.join(directory, "sim.pid"))


def test_bad_server_argument(tmp_path: Any) -> None:
    result = _cli("up", "--dir", str(tmp_path), "--server", "EX01")
    assert result.returncode == 2 and "NAME=VERSION" in result.stderr
