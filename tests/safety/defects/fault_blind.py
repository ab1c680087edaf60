"""Defects for the faults family: a WinRM client that never closes its shell, and one that gives up on the
first transient fault (no retry)."""

from __future__ import annotations

import contextlib
from typing import Iterator
from unittest import mock

from ansible_collections.exchange.hybrid.plugins.module_utils import _exchange


@contextlib.contextmanager
def shell_never_closed() -> Iterator[None]:
    original = _exchange.ExchangeClient._execute  # pylint: disable=protected-access

    def _execute(self, payload):  # type: ignore[no-untyped-def]
        factory = self._factory

        def leaky(**kwargs):  # type: ignore[no-untyped-def]
            protocol = factory(**kwargs)
            protocol.close_shell = lambda *a, **k: None
            return protocol

        self._factory = leaky
        try:
            return original(self, payload)
        finally:
            self._factory = factory

    with mock.patch.object(_exchange.ExchangeClient, "_execute", _execute):
        yield


@contextlib.contextmanager
def no_retry() -> Iterator[None]:
    with mock.patch.object(_exchange, "MAX_ATTEMPTS", 1):
        yield
