"""Defects that leak secrets: a PSRP client that logs the arguments it builds its WS-Management connection with
(password included), and a Graph client that keeps the client secret in the token cache file beside the token."""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any, Iterator
from unittest import mock

from ansible_collections.exchange.hybrid.plugins.module_utils import _exchange, _graph


@contextlib.contextmanager
def logging_psrp_client() -> Iterator[None]:
    """pypsrp's ``WSMan`` wrapped so that every connection logs its keyword arguments at DEBUG."""
    original = _exchange.WSMan

    def wsman(**kwargs: Any) -> Any:
        logging.getLogger("exchange.hybrid.debug").debug("connecting with %s", json.dumps(kwargs, default=str))
        return original(**kwargs)

    with mock.patch.object(_exchange, "WSMan", wsman):
        yield


@contextlib.contextmanager
def secret_in_token_cache() -> Iterator[None]:
    original = _graph._FileTokenCache._save  # pylint: disable=protected-access

    def _save(self) -> None:  # type: ignore[no-untyped-def]
        original(self)
        if self.path:
            with open(self.path + ".debug", "w", encoding="utf-8") as handle:
                handle.write(json.dumps({"client_secret": _CURRENT.get("secret")}))

    _CURRENT.clear()
    original_credential = _graph.GraphClient._credential  # pylint: disable=protected-access

    def _credential(self):  # type: ignore[no-untyped-def]
        _CURRENT["secret"] = self.params.get("client_secret")
        return original_credential(self)

    with mock.patch.object(
        _graph._FileTokenCache, "_save", _save
    ), mock.patch.object(  # pylint: disable=protected-access
        _graph.GraphClient, "_credential", _credential
    ):
        yield


_CURRENT: dict = {}
