"""A small harness for driving one simulated organization's handlers directly (no WS-Management in between)."""

from __future__ import annotations

import json
import os
from typing import Any, Iterable, Optional

from ..state import StateStore
from ..wsman.command import CommandRequest, CommandResult
from .handler import make_handler
from .organization import initial_exchange_state

E2013_CU23 = {"name": "EX2013", "version": "Version 15.0 (Build 1497.2)"}
E2016_CU23 = {"name": "EX2016", "version": "Version 15.1 (Build 2507.6)"}
E2016_CU23_HU = {"name": "EX2016", "version": "Version 15.1 (Build 2507.6)", "exsetup_build": "15.1.2507.55"}
E2019_CU15_HU = {"name": "EX2019", "version": "Version 15.2 (Build 1748.10)", "exsetup_build": "15.2.1748.24"}


class ExchangeHarness:
    """``state.json`` (+ ``calls.jsonl``) in ``directory``; ``run(calls, server)`` returns (exit code, envelope)."""

    def __init__(
        self,
        directory: str,
        servers: Iterable[Any] = (E2013_CU23, E2016_CU23_HU, E2019_CU15_HU),
        entra: Optional[dict[str, Any]] = None,
        **options: Any,
    ) -> None:
        self.path = os.path.join(directory, "state.json")
        self.store = StateStore(self.path)
        state = {
            "clock_offset_seconds": 0,
            "exchange": initial_exchange_state(servers, **options),
            "entra": entra or {},
        }
        self.store.write(state)
        self.calls_path = os.path.join(directory, "calls.jsonl")

    def request(
        self, payload: dict[str, Any], server: str, command_line: Optional[str] = None, stdin: Optional[bytes] = None
    ) -> CommandResult:
        from ansible_collections.exchange.hybrid.plugins.module_utils import _runner_script as runner

        line = command_line if command_line is not None else runner.command_line()
        data = stdin if stdin is not None else runner.stdin_payload(payload)
        return make_handler(self.store, server)(CommandRequest(server, "CONTOSO\\exadmin", line, data))

    def run(self, calls: list[dict[str, Any]], server: Optional[str] = None) -> tuple[int, dict[str, Any]]:
        result = self.request({"runner": 1, "calls": calls}, server or self.first_server)
        return result.exit_code, json.loads(result.stdout.decode("ascii"))

    def ok(self, calls: list[dict[str, Any]], server: Optional[str] = None) -> list[list[dict[str, Any]]]:
        """Run and insist on success; returns each call's output."""
        code, envelope = self.run(calls, server)
        assert code == 0 and envelope["ok"], envelope["error"]
        return [r["output"] for r in envelope["results"]]

    def fail(self, calls: list[dict[str, Any]], server: Optional[str] = None) -> dict[str, Any]:
        """Run and insist on failure; returns the envelope's error."""
        code, envelope = self.run(calls, server)
        assert code == 1 and not envelope["ok"], envelope
        return envelope["error"]

    @property
    def first_server(self) -> str:
        return sorted(self.state()["exchange"]["servers"])[0]

    def state(self) -> dict[str, Any]:
        return self.store.read()

    def edit(self) -> Any:
        return self.store.transaction()

    def move_clock(self, seconds: float) -> None:
        with self.store.transaction() as state:
            state["clock_offset_seconds"] = state.get("clock_offset_seconds", 0) + seconds

    def calls(self) -> list[dict[str, Any]]:
        if not os.path.exists(self.calls_path):
            return []
        with open(self.calls_path, encoding="ascii") as handle:
            return [json.loads(line) for line in handle if line.strip()]


def call(cmdlet: str, properties: Optional[list[str]] = None, **parameters: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"cmdlet": cmdlet, "parameters": parameters}
    if properties is not None:
        entry["properties"] = properties
    return entry
