"""Defects that leak secrets: a WinRM client that logs its connection arguments (password included), and a
Graph client that keeps the client secret in the token cache file beside the token."""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Iterator
from unittest import mock

from ansible_collections.exchange.hybrid.plugins.module_utils import _exchange, _graph


@contextlib.contextmanager
def logging_winrm_client() -> Iterator[None]:
    original = _exchange.protocol_arguments

    def protocol_arguments(params: dict) -> dict:
        arguments = original(params)
        logging.getLogger("exchange.hybrid.debug").debug("connecting with %s", json.dumps(arguments, default=str))
        return arguments

    with mock.patch.object(_exchange, "protocol_arguments", protocol_arguments):
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
