"""Defect: a Graph client whose PATCH of keyCredentials keeps only the last key (ours), dropping every foreign
key, the mistake Graph's replace-the-whole-collection rule invites."""

from __future__ import annotations

import contextlib
import copy
from typing import Iterator
from unittest import mock

from ansible_collections.exchange.hybrid.plugins.module_utils import _graph


@contextlib.contextmanager
def planted() -> Iterator[None]:
    original = _graph.GraphClient.request

    def request(self, method, path, what, params=None, body=None, permission=None, **extra):  # type: ignore[no-untyped-def]
        if method == "PATCH" and isinstance(body, dict) and body.get("keyCredentials"):
            body = copy.deepcopy(body)
            body["keyCredentials"] = body["keyCredentials"][-1:]
        return original(self, method, path, what, params=params, body=body, permission=permission, **extra)

    with mock.patch.object(_graph.GraphClient, "request", request):
        yield
