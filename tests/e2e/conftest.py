"""Fixtures for end-to-end tests: a simulated organization + tenant, and real ``ansible-playbook`` against it.

- ``simulation``: a fresh ``Simulation`` (three Exchange servers 2013/2016/2019, tenant contoso.onmicrosoft.com)
  in ``tmp_path``; stopped after the test, which fails if a runspace pool was left open on any endpoint.
- ``make_simulation(**kwargs)``: the same for other topologies (kwargs of ``hybrid_sim.simulation.Simulation``).
- ``run_playbook(sim, playbook, extra_vars=None, check=False, diff=False, verbosity=0, env=None, limit=None)``:
  runs ``ansible-playbook`` in a subprocess against ``sim``'s inventory and returns a ``PlaybookRun`` with rc,
  stdout, stderr, per-task results (``.tasks``, ``.results(name)``, ``.result(name, host)``) and recap ``.stats``.
  The normal stdout callback stays (tests can read what a user sees); a small notification callback, written into
  the simulation directory at run time, records every task result as JSON lines. The child inherits the test realm's
  KRB5_CONFIG (hybrid_sim.kdc) and gets an empty Kerberos ticket cache of its own (KRB5CCNAME; ``env`` may replace
  it with one a test filled with ``sim.realm.kinit``), so Kerberos comes from the inventory's password unless a test
  says otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest

from hybrid_sim.simulation import Simulation

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_CALLBACK = textwrap.dedent('''
    from __future__ import annotations

    import json
    import os

    from ansible.plugins.callback import CallbackBase

    DOCUMENTATION = """
    name: e2e_results
    type: notification
    short_description: records task results as JSON lines for the end-to-end tests
    description: [records task results as JSON lines for the end-to-end tests]
    """


    class CallbackModule(CallbackBase):
        CALLBACK_VERSION = 2.0
        CALLBACK_TYPE = "notification"
        CALLBACK_NAME = "e2e_results"
        CALLBACK_NEEDS_ENABLED = True

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._path = os.environ.get("E2E_RESULTS_FILE")
            self._play = None

        def _write(self, record):
            if not self._path:
                return
            with open(self._path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record, default=str, sort_keys=True) + "\\n")

        def v2_playbook_on_play_start(self, play):
            self._play = play.get_name()

        def _record(self, result, status):
            task = getattr(result, "task", None) or result._task
            host = getattr(result, "host", None) or result._host
            data = getattr(result, "result", None)
            if not isinstance(data, dict):
                data = result._result
            data = dict(data)
            if status == "ok" and data.get("changed"):
                status = "changed"
            self._write({
                "event": "task",
                "play": self._play,
                "task": task.get_name(),
                "action": task.action,
                "host": host.get_name(),
                "status": status,
                "result": data,
            })

        def v2_runner_on_ok(self, result, **kwargs):
            self._record(result, "ok")

        def v2_runner_on_failed(self, result, ignore_errors=False, **kwargs):
            self._record(result, "ignored" if ignore_errors else "failed")

        def v2_runner_on_skipped(self, result, **kwargs):
            self._record(result, "skipped")

        def v2_runner_on_unreachable(self, result, **kwargs):
            self._record(result, "unreachable")

        def v2_playbook_on_stats(self, stats):
            summary = {host: stats.summarize(host) for host in sorted(stats.processed)}
            self._write({"event": "stats", "stats": summary})
    ''')


@dataclass(repr=False)
class PlaybookRun:
    rc: int
    stdout: str
    stderr: str
    command: list[str]
    tasks: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.rc == 0

    @property
    def changed(self) -> int:
        """Sum of ``changed`` over the recap (0 on a converged rerun)."""
        return sum(host.get("changed", 0) for host in self.stats.values())

    @property
    def failures(self) -> int:
        return sum(host.get("failures", 0) + host.get("unreachable", 0) for host in self.stats.values())

    def results(self, task: str, host: str | None = None) -> list[dict[str, Any]]:
        """Task records (``status``, ``host``, ``result``...) whose task name equals ``task`` (or ends with
        ``: task``, for role tasks named ``role : task``)."""
        return [
            t
            for t in self.tasks
            if (t["task"] == task or t["task"].endswith(" : " + task)) and (host is None or t["host"] == host)
        ]

    def result(self, task: str, host: str | None = None) -> dict[str, Any]:
        """The single module result of ``task`` on ``host`` (fails the test if there is not exactly one)."""
        found = self.results(task, host)
        assert len(found) == 1, "expected one result for task %r host %r, got %d\n%s" % (task, host, len(found), self)
        return found[0]["result"]

    def __repr__(self) -> str:
        # pytest cuts an assertion message's repr at ~240 characters: the failures come first.
        failed = [
            "%s %r: %s" % (t["host"], t["task"], t["result"].get("msg", ""))
            for t in self.tasks
            if t["status"] in ("failed", "unreachable")
        ]
        tail = self.stderr.strip().splitlines()[-1:] if not failed else []
        return "PlaybookRun(rc=%d, failed=%s, stderr_tail=%s, changed=%d; str() has the output)" % (
            self.rc,
            failed,
            tail,
            self.changed,
        )

    def __str__(self) -> str:
        return "ansible-playbook rc=%d\n--- stdout ---\n%s\n--- stderr ---\n%s" % (
            self.rc,
            self.stdout[-20000:],
            self.stderr[-5000:],
        )


def _ansible_playbook() -> str:
    candidate = os.path.join(ROOT, ".venv", "bin", "ansible-playbook")
    if os.path.exists(candidate):
        return candidate
    found = shutil.which("ansible-playbook")
    if not found:
        raise RuntimeError("ansible-playbook not found: run `source scripts/setup.sh` first")
    return found


def run_playbook(
    sim: Simulation,
    playbook: str | os.PathLike[str],
    extra_vars: dict[str, Any] | None = None,
    check: bool = False,
    diff: bool = False,
    verbosity: int = 0,
    env: dict[str, str] | None = None,
    limit: str | None = None,
    inventory: str | None = None,
    args: list[str] | None = None,
    timeout: float = 900,
) -> PlaybookRun:
    """Run real ansible-playbook against ``sim``. ``playbook`` is YAML text or a path to a playbook file (or a
    collection playbook name such as ``exchange.hybrid.configure_push_notifications``). ``env`` is merged into the
    child's environment (a value of None removes the variable)."""
    work = os.path.join(sim.directory, "e2e")
    os.makedirs(work, exist_ok=True)
    run_id = len([n for n in os.listdir(work) if n.startswith("results-")])
    playbook_text = str(playbook)
    if "\n" in playbook_text or playbook_text.lstrip().startswith("-"):
        playbook_path = os.path.join(work, "playbook-%d.yml" % run_id)
        with open(playbook_path, "w", encoding="utf-8") as handle:
            handle.write(playbook_text)
    else:
        playbook_path = playbook_text
    callback_dir = os.path.join(work, "callback_plugins")
    os.makedirs(callback_dir, exist_ok=True)
    with open(os.path.join(callback_dir, "e2e_results.py"), "w", encoding="utf-8") as handle:
        handle.write(_CALLBACK)
    results_path = os.path.join(work, "results-%d.jsonl" % run_id)
    open(results_path, "w", encoding="utf-8").close()

    command = [_ansible_playbook(), "-i", inventory or sim.inventory_path, playbook_path]
    if extra_vars:
        vars_path = os.path.join(work, "extra-vars-%d.json" % run_id)
        with open(vars_path, "w", encoding="utf-8") as handle:
            json.dump(extra_vars, handle)
        command += ["-e", "@" + vars_path]
    if check:
        command.append("--check")
    if diff:
        command.append("--diff")
    if limit:
        command += ["--limit", limit]
    if verbosity:
        command.append("-" + "v" * verbosity)
    command += list(args or [])

    child = dict(os.environ)
    child.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(ROOT, ".venv", "collections"))
    child.setdefault("ANSIBLE_COLLECTIONS_SCAN_SYS_PATH", "false")
    enabled = [c for c in child.get("ANSIBLE_CALLBACKS_ENABLED", "").split(",") if c.strip()]
    child.update(
        {
            "ANSIBLE_CALLBACK_PLUGINS": callback_dir,
            "ANSIBLE_CALLBACKS_ENABLED": ",".join(enabled + ["e2e_results"]),
            "E2E_RESULTS_FILE": results_path,
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_RETRY_FILES_ENABLED": "false",
            "ANSIBLE_HOST_KEY_CHECKING": "false",
            "ANSIBLE_LOCAL_TEMP": os.path.join(work, "tmp"),
            "ANSIBLE_DEPRECATION_WARNINGS": "false",
            # A ticket cache of the run's own, empty unless a test kinits into it and passes it in ``env``: a ticket
            # left in the realm's default cache (shared by the worker's tests) or the caller's cannot make a run pass.
            "KRB5CCNAME": "FILE:" + os.path.join(work, "krb5cc-%d" % run_id),
            "PYTHONPATH": os.pathsep.join(
                p for p in [os.path.join(ROOT, "tests", "simulators"), child.get("PYTHONPATH", "")] if p
            ),
        }
    )
    for key, value in (env or {}).items():
        if value is None:
            child.pop(key, None)
        else:
            child[key] = value
    completed = subprocess.run(
        command,
        cwd=work,
        env=child,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    run = PlaybookRun(completed.returncode, completed.stdout, completed.stderr, command)
    with open(results_path, encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            record = json.loads(line)
            if record.get("event") == "stats":
                run.stats = record["stats"]
            else:
                run.tasks.append(record)
    return run


@pytest.fixture(name="make_simulation")
def fixture_make_simulation(tmp_path: Any) -> Any:
    started: list[Simulation] = []

    def factory(**kwargs: Any) -> Simulation:
        directory = kwargs.pop("directory", None) or str(tmp_path / ("sim%d" % len(started)))
        sim = Simulation(directory, **kwargs)
        started.append(sim)
        return sim.start()

    yield factory
    stop_and_check(started)


def stop_and_check(sims: list[Simulation]) -> None:
    """Stop every simulation; fail if one still holds an open runspace pool, on an Exchange or a default endpoint
    (unless it set ``allow_open_shells``)."""
    leftovers: dict[str, Any] = {}
    for sim in sims:
        try:
            if not getattr(sim, "allow_open_shells", False):
                leftovers.update(sim.open_shells())
        finally:
            sim.stop()
    assert not leftovers, "runspace pools left open at teardown: %s" % leftovers


@pytest.fixture(name="simulation")
def fixture_simulation(make_simulation: Callable[..., Simulation]) -> Simulation:
    return make_simulation()


@pytest.fixture(name="run_playbook")
def fixture_run_playbook() -> Callable[..., PlaybookRun]:
    return run_playbook
