"""Defects that turn certificate validation off: a WinRM client that ignores server certificates, and a Graph
client whose session does not verify."""

from __future__ import annotations

import contextlib
from typing import Iterator
from unittest import mock

from ansible_collections.exchange.hybrid.plugins.module_utils import _exchange, _graph


@contextlib.contextmanager
def winrm_ignores_certificates() -> Iterator[None]:
    original = _exchange.protocol_arguments

    def protocol_arguments(params: dict) -> dict:
        arguments = original(params)
        arguments["server_cert_validation"] = "ignore"
        return arguments

    with mock.patch.object(_exchange, "protocol_arguments", protocol_arguments):
        yield


@contextlib.contextmanager
def graph_does_not_verify() -> Iterator[None]:
    with mock.patch.object(_graph.GraphClient, "_verify", lambda self: False):
        yield
