"""``python -m hybrid_sim up|down|status --dir DIR``: run a simulated organization + tenant for the demo and benchmarks.

``up`` runs in the foreground until SIGTERM/SIGINT (``--detach`` starts it in the background and returns once it is
ready); it writes ``DIR/sim.pid`` when everything listens, next to ``inventory.yml`` and ``endpoints.json``.
``down`` stops the process named in the pid file; ``status`` prints the endpoints (exit code 3 when not running).
The simulation runs its own Kerberos KDC (MIT krb5) in ``DIR/kdc`` for as long as it runs: point clients at it with
``KRB5_CONFIG=DIR/kdc/krb5.conf`` (also in endpoints.json as ``krb5_config``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

PID_FILE = "sim.pid"
LOG_FILE = "sim.log"


def _pid_path(directory: str) -> str:
    return os.path.join(os.path.abspath(directory), PID_FILE)


def _read_pid(directory: str) -> int | None:
    try:
        with open(_pid_path(directory), encoding="utf-8") as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _build(args: argparse.Namespace) -> Any:
    from .simulation import (
        DEFAULT_SERVERS,
        Simulation,
        parse_server_argument,
    )  # pylint: disable=import-outside-toplevel

    from .kdc import KerberosRealm  # pylint: disable=import-outside-toplevel

    servers = [parse_server_argument(text) for text in args.server] if args.server else list(DEFAULT_SERVERS)
    realm = KerberosRealm(os.path.join(os.path.abspath(args.dir), "kdc")).start()
    # This process's own clients and acceptors (the simulated endpoints) use the run's realm too.
    os.environ.update(realm.environ())
    return Simulation(
        args.dir,
        servers=servers,
        tenant_domain=args.tenant,
        allow_unencrypted=args.allow_unencrypted,
        latency_rtt=args.latency_rtt,
        latency_process=args.latency_process,
        latency_graph=args.latency_graph,
        max_shells_per_user=args.max_shells,
        realm=realm,
        entra=not args.no_entra,
        exchange_options=(
            {"health_ready_delay_seconds": args.health_ready_delay} if args.health_ready_delay is not None else None
        ),
    )


def cmd_up(args: argparse.Namespace) -> int:
    directory = os.path.abspath(args.dir)
    os.makedirs(directory, exist_ok=True)
    pid = _read_pid(directory)
    if _alive(pid):
        print("hybrid_sim: already running in %s (pid %d); run `down` first" % (directory, pid), file=sys.stderr)
        return 1
    if args.detach:
        return _detach(args, directory)
    try:
        os.unlink(_pid_path(directory))
    except FileNotFoundError:
        pass
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    sim = _build(args).start()
    try:
        with open(_pid_path(directory) + ".tmp", "w", encoding="utf-8") as handle:
            handle.write("%d\n" % os.getpid())
        os.replace(_pid_path(directory) + ".tmp", _pid_path(directory))
        _print_summary(sim.endpoints())
        print("hybrid_sim: ready (pid %d); stop with: python -m hybrid_sim down --dir %s" % (os.getpid(), directory))
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        sim.stop()
        sim.realm.stop()
        try:
            os.unlink(_pid_path(directory))
        except FileNotFoundError:
            pass
    print("hybrid_sim: stopped")
    return 0


def _detach(args: argparse.Namespace, directory: str) -> int:
    argv = [sys.executable, "-m", "hybrid_sim"] + [a for a in args.argv if a != "--detach"]
    env = dict(os.environ)
    # The package's parent must be importable in the child whatever the caller's PYTHONPATH was.
    parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (parent, env.get("PYTHONPATH", "")) if p)
    try:
        os.unlink(_pid_path(directory))
    except FileNotFoundError:
        pass
    with open(os.path.join(directory, LOG_FILE), "ab") as log:
        child = subprocess.Popen(  # pylint: disable=consider-using-with
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, env=env
        )
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if _read_pid(directory) == child.pid:
            _print_summary(_endpoints(directory) or {})
            print("hybrid_sim: ready (pid %d)" % child.pid)
            return 0
        if child.poll() is not None:
            break
        time.sleep(0.1)
    if child.poll() is None:
        child.terminate()
    print("hybrid_sim: failed to start; see %s" % os.path.join(directory, LOG_FILE), file=sys.stderr)
    return 1


def cmd_down(args: argparse.Namespace) -> int:
    directory = os.path.abspath(args.dir)
    pid = _read_pid(directory)
    if not _alive(pid):
        print("hybrid_sim: not running in %s" % directory)
        try:
            os.unlink(_pid_path(directory))
        except FileNotFoundError:
            pass
        return 0
    os.kill(pid, signal.SIGTERM)  # type: ignore[arg-type]
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if not _alive(pid) or _read_pid(directory) != pid:
            print("hybrid_sim: stopped (pid %d)" % pid)
            return 0
        time.sleep(0.1)
    print("hybrid_sim: pid %d did not stop within %.0f s" % (pid, args.timeout), file=sys.stderr)
    return 1


def _endpoints(directory: str) -> dict[str, Any] | None:
    try:
        with open(os.path.join(directory, "endpoints.json"), encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _print_summary(endpoints: dict[str, Any]) -> None:
    for name, server in sorted(endpoints.get("servers", {}).items()):
        print(
            "  %-10s %s  %s  %s  (%s)"
            % (name, server["exchange_uri"], server["https_url"], server["http_url"], server["spec"]["version_text"])
        )
    entra = endpoints.get("entra") or {}
    if entra.get("base_url"):
        print("  %-10s %s  tenant %s" % ("entra", entra["base_url"], endpoints.get("tenant_domain")))
    if endpoints.get("inventory_path"):
        print("  inventory  %s" % endpoints["inventory_path"])


def cmd_status(args: argparse.Namespace) -> int:
    directory = os.path.abspath(args.dir)
    pid = _read_pid(directory)
    running = _alive(pid)
    endpoints = _endpoints(directory) if running else None
    if args.json:
        print(json.dumps({"running": running, "pid": pid if running else None, "endpoints": endpoints}, indent=1))
    elif running:
        print("hybrid_sim: running in %s (pid %d)" % (directory, pid))
        _print_summary(endpoints or {})
    else:
        print("hybrid_sim: not running in %s" % directory)
    return 0 if running else 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hybrid_sim", description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start a simulated organization and tenant (foreground)")
    up.add_argument("--dir", required=True, help="directory for state.json, inventory.yml, endpoints.json, ca.pem")
    up.add_argument(
        "--server",
        action="append",
        metavar="NAME=VERSION",
        help="an Exchange server, e.g. EX01=15.2.1748.24 (repeat; default: EX2013, EX2016, EX2019)",
    )
    up.add_argument("--tenant", default="contoso.onmicrosoft.com", help="tenant domain")
    up.add_argument("--latency-rtt", type=float, default=0.0, help="seconds added to every HTTP request")
    up.add_argument(
        "--latency-process",
        type=float,
        default=0.0,
        help="seconds added to every runspace-pool open on the Exchange endpoint (loading the Exchange cmdlets)",
    )
    up.add_argument("--latency-graph", type=float, default=0.0, help="seconds added to every Entra/Graph request")
    up.add_argument(
        "--health-ready-delay",
        type=float,
        default=None,
        help="seconds MSExchangeHM needs after a restart before the probe answers (Exchange simulator default)",
    )
    up.add_argument("--max-shells", type=int, default=30, help="MaxShellsPerUser")
    up.add_argument("--allow-unencrypted", action="store_true", help="AllowUnencrypted=true (Basic over http)")
    up.add_argument("--no-entra", action="store_true", help="do not start the Entra/Graph simulator")
    up.add_argument("--detach", action="store_true", help="start in the background, return when ready")
    up.add_argument("--timeout", type=float, default=60.0, help="with --detach: seconds to wait for readiness")
    up.set_defaults(func=cmd_up)
    down = sub.add_parser("down", help="stop the simulation running in DIR")
    down.add_argument("--dir", required=True)
    down.add_argument("--timeout", type=float, default=15.0)
    down.set_defaults(func=cmd_down)
    status = sub.add_parser("status", help="show whether a simulation runs in DIR and its endpoints")
    status.add_argument("--dir", required=True)
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.command == "up":
        for text in args.server or []:
            from .simulation import parse_server_argument  # pylint: disable=import-outside-toplevel

            try:
                parse_server_argument(text)
            except ValueError as error:
                parser.error("--server: %s" % error)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
