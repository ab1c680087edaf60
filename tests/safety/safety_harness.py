"""Shared machinery of the safety suite (issue 8): case recording, in-process module runs against a Simulation.

The modules talk PowerShell remoting (pypsrp) to two simulated endpoints per server: the Exchange endpoint
(``sim.server(name)``, Microsoft.Exchange, Kerberos over http) and the default WinRM endpoint (``sim.host(name)``,
Microsoft.PowerShell, for the host operations). ``capture_commands`` records every pipeline either endpoint decoded
from PSRP (``PipelineRequest``) and every TCP connection it accepted; ``drive`` returns them per run in an
``Outcome``.

Every check is recorded as a *case* of a *family* (injection, secrets, transport, faults, nothing lost) in the
test item's ``user_properties`` (so results survive pytest-xdist); ``tests/safety/conftest.py`` adds them up and
prints the summary table at the end of the run. A *defect* case runs a check against a planted defect
(``tests/safety/defects/``) and holds when the check fails on it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator
from unittest import mock

from ansible.module_utils import basic
from ansible.module_utils.common import warnings
from ansible.module_utils.testing import patch_module_args

FAMILIES = ("injection", "secrets", "transport", "faults", "nothing lost")
PROPERTY = "safety_case"


class Cases:
    """Per-test recorder: ``with cases.case("name"):`` (hard) or ``cases.soft("name")`` (collect, fail at end)."""

    def __init__(self, family: str, node: Any) -> None:
        if family not in FAMILIES:
            raise ValueError("unknown family %r" % family)
        self.family = family
        self.node = node
        self.failures: list[str] = []

    def _record(self, name: str, held: bool, kind: str = "case", detail: str = "") -> None:
        self.node.user_properties.append(
            (PROPERTY, {"family": self.family, "case": name, "held": held, "kind": kind, "detail": detail[:500]})
        )

    @contextlib.contextmanager
    def case(self, name: str) -> Iterator[None]:
        try:
            yield
        except BaseException as error:
            self._record(name, False, detail="%s: %s" % (type(error).__name__, error))
            raise
        self._record(name, True)

    @contextlib.contextmanager
    def soft(self, name: str) -> Iterator[None]:
        """Like ``case`` but an AssertionError is collected; call ``raise_failures()`` at the end of the test."""
        try:
            yield
        except AssertionError as error:
            text = str(error).splitlines()[0] if str(error) else "assertion failed"
            self._record(name, False, detail=text)
            self.failures.append("%s: %s" % (name, text[:300]))
            return
        self._record(name, True)

    def raise_failures(self) -> None:
        if self.failures:
            raise AssertionError("%d case(s) did not hold:\n%s" % (len(self.failures), "\n".join(self.failures)))

    @contextlib.contextmanager
    def defect(self, name: str) -> Iterator[None]:
        """The block runs a check with a planted defect in place: it must fail (AssertionError) to count."""
        try:
            yield
        except AssertionError as error:
            self._record(name, True, kind="defect", detail=str(error).splitlines()[0] if str(error) else "")
            return
        self._record(name, False, kind="defect", detail="the planted defect was NOT caught")
        raise AssertionError("planted defect %r was not caught by the check" % name)


# ---------------------------------------------------------------- in-process module runs


class _Exit(Exception):
    def __init__(self, failed: bool, result: dict) -> None:
        super().__init__(result.get("msg"))
        self.failed = failed
        self.result = result


@dataclass
class Outcome:
    failed: bool
    result: dict
    exchange_requests: list[dict] = field(default_factory=list)  # WSManServer.requests of the Exchange endpoints
    host_requests: list[dict] = field(default_factory=list)  # WSManServer.requests of the default endpoints
    connections: int = 0  # TCP connections the simulated endpoints accepted (authenticated or not)
    graph_requests: list[dict] = field(default_factory=list)  # EntraServer.log entries of this run
    pipelines: list[Any] = field(default_factory=list)  # PipelineRequest objects the endpoints decoded (both)
    calls: list[dict] = field(default_factory=list)  # calls.jsonl lines of this run
    warnings: list[str] = field(default_factory=list)  # module.warn() texts of this run
    stderr: str = ""

    @property
    def msg(self) -> str:
        return str(self.result.get("msg") or "")

    @property
    def wsman_requests(self) -> list[dict]:
        return self.exchange_requests + self.host_requests

    @property
    def connected(self) -> bool:
        return bool(self.connections or self.wsman_requests or self.pipelines or self.graph_requests)

    def __repr__(self) -> str:
        return "Outcome(failed=%s, msg=%r, exchange=%d, host=%d, connections=%d, graph=%d, calls=%d)" % (
            self.failed,
            self.msg[:300],
            len(self.exchange_requests),
            len(self.host_requests),
            self.connections,
            len(self.graph_requests),
            len(self.calls),
        )


ENDPOINT_KINDS = ("exchange", "host")


def endpoints(sim: Any) -> Iterator[tuple[str, str, Any]]:
    """(kind, server name, WSManServer) of every simulated endpoint: the Exchange one and the default one."""
    for name, server in sim.servers.items():
        yield "exchange", name, server
    for name, server in sim.hosts.items():
        yield "host", name, server


def capture_commands(sim: Any) -> None:
    """Record, on every endpoint of ``sim``, each pipeline exactly as the server decoded it from PSRP (a
    ``PipelineRequest``: commands, ``is_script``, parameter values) and each TCP connection it accepted."""
    for _kind, _name, server in endpoints(sim):
        if not getattr(server.handler, "_safety_wrapped", False):
            server.handler = _recording(server.handler)
        for listener in getattr(server, "_listeners", []):
            if getattr(listener, "_safety_counted", None) is None:
                _count_connections(listener)


def _recording(original: Callable) -> Callable:
    seen: list[Any] = []

    def handler(request: Any) -> Any:
        seen.append(request)
        return original(request)

    handler._safety_wrapped = True  # type: ignore[attr-defined]
    handler.seen = seen  # type: ignore[attr-defined]
    handler.inner = original  # type: ignore[attr-defined]
    return handler


def _count_connections(listener: Any) -> None:
    counter = [0]
    original = listener.process_request

    def process_request(request: Any, client_address: Any) -> None:
        counter[0] += 1
        original(request, client_address)

    listener.process_request = process_request
    listener._safety_counted = counter  # pylint: disable=protected-access


def _connections(server: Any) -> int:
    return sum(getattr(listener, "_safety_counted", [0])[0] for listener in getattr(server, "_listeners", []))


def pipelines_seen(sim: Any) -> list[Any]:
    """Every pipeline the endpoints of ``sim`` decoded since capture began (both endpoints)."""
    return [p for _kind, _name, server in endpoints(sim) for p in getattr(server.handler, "seen", [])]


def exchange_args(sim: Any, server: str = "EX2019", **overrides: Any) -> dict:
    """Connection options of a Kerberos host (``Simulation.connection_params``) with the suite's timeouts."""
    args = sim.connection_params(server, read_timeout=30, operation_timeout=20)
    args.update(overrides)
    return args


def graph_args(sim: Any, **overrides: Any) -> dict:
    entra = sim._entra_details()  # pylint: disable=protected-access
    args = {
        "tenant": entra["tenant_id"],
        "client_id": entra["client_id"],
        "client_secret": entra["client_secret"],
        "authority_host": entra["authority_host"],
        "graph_endpoint": entra["graph_endpoint"],
        "ca_path": sim.ca_path,
    }
    args.update(overrides)
    return args


def drive(module: Any, params: dict, sim: Any = None, check: bool = False, diff: bool = False) -> Outcome:
    """Run ``module.main()`` in this process with ``params``; exit_json/fail_json are intercepted so the result is
    seen *before* Ansible's no_log masking (stricter for the secrets family)."""
    from ansible.module_utils import _internal  # pylint: disable=import-outside-toplevel

    marks = _marks(sim)
    full = dict(params)
    full["_ansible_check_mode"] = check
    full["_ansible_diff"] = diff

    def exit_json(_self: Any, **kwargs: Any) -> None:
        raise _Exit(False, kwargs)

    def fail_json(_self: Any, msg: str = "", **kwargs: Any) -> None:
        kwargs["msg"] = msg
        raise _Exit(True, kwargs)

    stderr = _StderrTap()
    # A module run is a process of its own: start with Ansible's (deduplicating) warning list empty.
    warnings._global_warnings.clear()  # pylint: disable=protected-access
    with mock.patch.object(basic.AnsibleModule, "exit_json", exit_json), mock.patch.object(
        basic.AnsibleModule, "fail_json", fail_json
    ), mock.patch.object(_internal, "is_controller", False), patch_module_args(full), stderr:
        try:
            module.main()
        except _Exit as done:
            outcome = Outcome(done.failed, done.result)
        except SystemExit as done:  # a module that exits some other way
            outcome = Outcome(True, {"msg": "SystemExit %s" % done.code})
        else:
            outcome = Outcome(True, {"msg": "main() returned without exit_json/fail_json"})
    outcome.stderr = stderr.text
    outcome.warnings = list(warnings.get_warning_messages())
    warnings._global_warnings.clear()  # pylint: disable=protected-access
    _since(sim, marks, outcome)
    return outcome


class _StderrTap:
    """Captures what a module writes to sys.stderr/logging during a run (a leak channel)."""

    def __init__(self) -> None:
        self.text = ""

    def __enter__(self) -> "_StderrTap":
        import io
        import logging

        self._buffer = io.StringIO()
        self._old = sys.stderr
        sys.stderr = self._buffer
        self._handler = logging.StreamHandler(self._buffer)
        self._handler.setLevel(logging.DEBUG)
        self._root_level = logging.getLogger().level
        logging.getLogger().addHandler(self._handler)
        logging.getLogger().setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc: Any) -> None:
        import logging

        sys.stderr = self._old
        logging.getLogger().removeHandler(self._handler)
        logging.getLogger().setLevel(self._root_level)
        self.text = self._buffer.getvalue()


def _marks(sim: Any) -> dict:
    if sim is None or sim._running is None:  # pylint: disable=protected-access
        return {}
    return {
        "requests": {(k, n): len(server.requests) for k, n, server in endpoints(sim)},
        "seen": {(k, n): len(getattr(server.handler, "seen", [])) for k, n, server in endpoints(sim)},
        "connections": {(k, n): _connections(server) for k, n, server in endpoints(sim)},
        "graph": len(sim.entra.log) if sim.entra is not None else 0,
        "calls": len(sim.calls()),
    }


def _since(sim: Any, marks: dict, outcome: Outcome) -> None:
    if not marks:
        return
    for kind, name, server in endpoints(sim):
        key = (kind, name)
        new = [dict(entry, endpoint=kind, server=name) for entry in server.requests[marks["requests"].get(key, 0) :]]
        (outcome.exchange_requests if kind == "exchange" else outcome.host_requests).extend(new)
        outcome.pipelines.extend(getattr(server.handler, "seen", [])[marks["seen"].get(key, 0) :])
        outcome.connections += _connections(server) - marks["connections"].get(key, 0)
    if sim.entra is not None:
        outcome.graph_requests.extend(sim.entra.log[marks["graph"] :])
    outcome.calls.extend(sim.calls()[marks["calls"] :])


# ---------------------------------------------------------------- secrets


def files_containing(root: str, needles: list[str]) -> list[str]:
    """Files under ``root`` whose bytes contain any needle (as UTF-8, base64 not considered)."""
    found = []
    encoded = [n.encode("utf-8") for n in needles if n]
    for directory, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            try:
                with open(path, "rb") as handle:
                    data = handle.read()
            except OSError:
                continue
            if any(n in data for n in encoded):
                found.append(path)
    return found


def json_text(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def short_exception() -> str:
    return traceback.format_exc(limit=3)
