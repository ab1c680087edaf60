"""The simulators' shared state: one JSON file, read and written under an exclusive file lock.

The WS-Management/Exchange side and the Entra/Graph side may run in different processes (and tests edit the
file directly), so every request loads the file, works on the dict and writes it back only when it changed.
The file is written atomically (temp file + rename) and with sorted keys, so an unchanged state stays
byte-identical: audits assert exactly that.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import fcntl
import json
import os
import tempfile
from typing import Any, Iterator


class StateStore:
    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self._lock_path = self.path + ".lock"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self._lock_path, "a+", encoding="utf-8") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _load(self) -> dict[str, Any]:
        with open(self.path, encoding="utf-8") as handle:
            return json.load(handle)

    def _save(self, state: dict[str, Any]) -> None:
        directory = os.path.dirname(self.path)
        fd, tmp = tempfile.mkstemp(prefix=".state-", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(state, handle, indent=1, sort_keys=True)
            handle.write("\n")
        os.replace(tmp, self.path)

    def read(self) -> dict[str, Any]:
        with self._locked():
            return self._load()

    def write(self, state: dict[str, Any]) -> None:
        with self._locked():
            self._save(state)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[dict[str, Any]]:
        """Yield the state for changes; it is saved when the block ends without an exception and changed."""
        with self._locked():
            state = self._load()
            before = copy.deepcopy(state)
            yield state
            if state != before:
                self._save(state)


def now(state: dict[str, Any]) -> dt.datetime:
    """The simulated clock: real UTC time moved by the state's ``clock_offset_seconds`` (tests move time)."""
    offset = state.get("clock_offset_seconds", 0)
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=offset)


def iso(moment: dt.datetime) -> str:
    """Dates as the runner normalises them: UTC, second precision, ``Z`` suffix."""
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
