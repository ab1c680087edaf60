"""Defects that weaken the transport: a PSRP client that ignores server certificates, one that sends Kerberos over
http without message encryption, and a Graph client whose session does not verify."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator
from unittest import mock

from ansible_collections.exchange.hybrid.plugins.module_utils import _exchange, _graph


def _patched_arguments(**changes):  # type: ignore[no-untyped-def]
    original = _exchange.wsman_arguments

    def wsman_arguments(connection: Any, uri: str) -> dict:
        arguments = original(connection, uri)
        arguments.update(changes)
        return arguments

    return mock.patch.object(_exchange, "wsman_arguments", wsman_arguments)


@contextlib.contextmanager
def psrp_ignores_certificates() -> Iterator[None]:
    with _patched_arguments(cert_validation=False):
        yield


@contextlib.contextmanager
def psrp_without_message_encryption() -> Iterator[None]:
    with _patched_arguments(encryption="never"):
        yield


@contextlib.contextmanager
def graph_does_not_verify() -> Iterator[None]:
    with mock.patch.object(_graph.GraphClient, "_verify", lambda self: False):
        yield
