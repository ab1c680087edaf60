"""Defects for the faults family: a PSRP client that never closes its runspace pools, and one that gives up on the
first transient fault (no retry)."""

from __future__ import annotations

import contextlib
from typing import Iterator
from unittest import mock

from ansible_collections.exchange.hybrid.plugins.module_utils import _exchange


@contextlib.contextmanager
def pool_never_closed() -> Iterator[None]:
    """pypsrp's RunspacePool with a close() that does nothing: every pool stays open on the server."""
    base = _exchange.RunspacePool

    class LeakyRunspacePool(base):  # type: ignore[misc,valid-type]
        def close(self) -> None:
            return None

    with mock.patch.object(_exchange, "RunspacePool", LeakyRunspacePool):
        yield


@contextlib.contextmanager
def no_retry() -> Iterator[None]:
    """Every fault is taken as permanent: no transient fault is retried."""
    with mock.patch.object(_exchange.ExchangeClient, "_is_transient", lambda self, exc: False):
        yield
