"""Shared machinery of the safety suite (issue 8): case recording, in-process module runs against a Simulation.

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
    winrm_requests: list[dict] = field(default_factory=list)  # WSManServer.requests entries of this run
    graph_requests: list[dict] = field(default_factory=list)  # EntraServer.log entries of this run
    commands: list[Any] = field(default_factory=list)  # CommandRequest objects the Exchange side received
    calls: list[dict] = field(default_factory=list)  # calls.jsonl lines of this run
    stderr: str = ""

    @property
    def msg(self) -> str:
        return str(self.result.get("msg") or "")

    @property
    def connected(self) -> bool:
        return bool(self.winrm_requests or self.graph_requests)

    def __repr__(self) -> str:
        return "Outcome(failed=%s, msg=%r, winrm=%d, graph=%d, calls=%d)" % (
            self.failed,
            self.msg[:300],
            len(self.winrm_requests),
            len(self.graph_requests),
            len(self.calls),
        )


def capture_commands(sim: Any) -> None:
    """Wrap every server's command handler so the suite sees the exact command line and stdin sent."""
    for server in sim.servers.values():
        if getattr(server.handler, "_safety_wrapped", False):
            continue
        server.handler = _recording(server.handler)


def _recording(original: Callable) -> Callable:
    seen: list[Any] = []

    def handler(request: Any) -> Any:
        seen.append(request)
        return original(request)

    handler._safety_wrapped = True  # type: ignore[attr-defined]
    handler.seen = seen  # type: ignore[attr-defined]
    return handler


def winrm_args(sim: Any, server: str = "EX2019", **overrides: Any) -> dict:
    target = sim.server(server)
    args = {
        "server": "127.0.0.1",
        "port": target.https_port,
        "username": sim.username,
        "password": sim.password,
        "ca_path": sim.ca_path,
        "read_timeout": 30,
        "operation_timeout": 20,
    }
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
        "winrm": {name: len(server.requests) for name, server in sim.servers.items()},
        "seen": {name: len(getattr(server.handler, "seen", [])) for name, server in sim.servers.items()},
        "graph": len(sim.entra.log) if sim.entra is not None else 0,
        "calls": len(sim.calls()),
    }


def _since(sim: Any, marks: dict, outcome: Outcome) -> None:
    if not marks:
        return
    for name, server in sim.servers.items():
        outcome.winrm_requests.extend(server.requests[marks["winrm"][name] :])
        outcome.commands.extend(getattr(server.handler, "seen", [])[marks["seen"][name] :])
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
