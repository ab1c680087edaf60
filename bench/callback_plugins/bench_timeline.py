# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark callback: writes when each task starts and when each host's result arrives, as JSON lines.

Enabled only by bench/run.py (ANSIBLE_CALLBACK_PLUGINS + ANSIBLE_CALLBACKS_ENABLED=bench_timeline); the file is
named by the BENCH_TIMELINE environment variable. The harness matches the simulators' timed request logs against
these task windows (the linear strategy runs one task at a time), so it can count requests per task and server.
"""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: bench_timeline
type: aggregate
short_description: task and result timestamps for the exchange.hybrid benchmark harness
description:
  - Writes one JSON line per play start, task start, host start and host result to the file named by
    C(BENCH_TIMELINE). Used by C(bench/run.py) only; not part of the collection.
requirements:
  - C(BENCH_TIMELINE) set to a writable file path
"""

# Copied from results so the harness can read the probe's wait and a module's change without the whole result.
_KEPT = ("changed", "waited_seconds", "attempts", "result_type", "msg")


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timeline"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._path = os.environ.get("BENCH_TIMELINE")

    def _write(self, event, **fields):
        if not self._path:
            return
        fields.update(event=event, time=time.time())
        with open(self._path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(fields, default=str) + "\n")

    def v2_playbook_on_play_start(self, play):
        self._write("play_start", name=play.get_name())

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._write("task_start", task_id=task._uuid, name=task.get_name(), action=task.action)

    def v2_runner_on_start(self, host, task):
        self._write("host_start", task_id=task._uuid, host=host.get_name())

    def _result(self, status, result):
        data = result._result if isinstance(result._result, dict) else {}
        kept = {key: data[key] for key in _KEPT if key in data and not isinstance(data[key], (dict, list))}
        self._write("result", status=status, task_id=result._task._uuid, host=result._host.get_name(), **kept)

    def v2_runner_on_ok(self, result):
        self._result("ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._result("failed", result)

    def v2_runner_on_skipped(self, result):
        self._result("skipped", result)

    def v2_runner_on_unreachable(self, result):
        self._result("unreachable", result)

    def v2_playbook_on_stats(self, stats):
        totals = {}
        for host in sorted(stats.processed):
            totals[host] = stats.summarize(host)
        self._write("stats", hosts=totals)
