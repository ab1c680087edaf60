"""Defect: the WinRM client writes the first string parameter of the first call into the PowerShell text
(``$Label = '<value>'``) instead of sending it only as JSON data, the classic injection mistake."""

from __future__ import annotations

import contextlib
from typing import Iterator
from unittest import mock

from ansible_collections.exchange.hybrid.plugins.module_utils import _exchange, _runner_script


def _interpolating_payload(request: dict) -> bytes:
    label = ""
    for entry in request.get("calls", []):
        for value in entry.get("parameters", {}).values():
            if isinstance(value, str):
                label = value
                break
        if label:
            break
    runner = _runner_script.RUNNER.replace("$RunnerVersion = 1", "$RunnerVersion = 1\n$Label = '%s'" % label, 1)
    return (runner + _runner_script.SEPARATOR + _runner_script.request_json(request)).encode("ascii", "replace")


@contextlib.contextmanager
def planted() -> Iterator[None]:
    with mock.patch.object(_exchange, "stdin_payload", _interpolating_payload):
        yield
