# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's one error root, a subclass per service, and the one way to turn an error into ``fail_json``.

PRIVATE to the collection: it can change at any time. Modules catch ``HybridError`` (or a service's subclass) and
call ``fail_from_error()``; ``msg`` is what the user reads and neither it nor ``details`` ever holds a secret.
"""

from __future__ import annotations

import traceback
from typing import Any, Optional


class HybridError(Exception):
    """Base error: ``msg`` for the user, ``server`` that answered (if any), ``details`` without secrets."""

    def __init__(self, msg: str, server: Optional[str] = None, details: Optional[dict] = None) -> None:
        super().__init__(msg)
        self.msg = msg
        self.server = server
        self.details = details or {}

    def result(self) -> dict[str, Any]:
        """The keys this error adds to a module's failed result."""
        return {"error": dict(self.details)} if self.details else {}


# ---------------------------------------------------------------- Exchange (PowerShell remoting)


class ExchangeError(HybridError):
    """An Exchange module's failure: connecting, a command, or input refused before sending."""

    def result(self) -> dict[str, Any]:
        return {"server": self.server, "error": dict(self.details)}


class ExchangeConnectionError(ExchangeError):
    """Transport, authentication (Kerberos, NTLM, Basic), TLS or WS-Management failures (after bounded retries)."""


class ExchangeCommandError(ExchangeError):
    """A command failed on the server: a cmdlet's error, an RBAC refusal, or a refused script."""

    def __init__(
        self,
        msg: str,
        server: Optional[str] = None,
        details: Optional[dict] = None,
        cmdlet: Optional[str] = None,
        index: Optional[int] = None,
        category: Optional[str] = None,
        error_id: Optional[str] = None,
        kind: Optional[str] = None,
        results: Optional[list] = None,
    ) -> None:
        super().__init__(msg, server, details)
        self.cmdlet = cmdlet
        self.index = index
        self.category = category
        self.error_id = error_id
        self.kind = kind
        self.results = results or []

    def result(self) -> dict[str, Any]:
        found = super().result()
        if self.kind:
            found["error"].setdefault("kind", self.kind)
        return found


class ExchangeInputError(ExchangeError):
    """A value or call refused before anything is sent."""


# ---------------------------------------------------------------- Microsoft Graph and Entra ID


class GraphError(HybridError):
    """A failed Graph or login call; ``msg`` is ready for ``fail_json`` (it already says "Failed to ...")."""

    def __init__(
        self,
        msg: str,
        status: Optional[int] = None,
        code: Optional[str] = None,
        request_id: Optional[str] = None,
        details: Optional[dict[str, Any]] = None,
    ) -> None:
        super().__init__(msg, None, details)
        self.status = status
        self.code = code
        self.request_id = request_id

    def result(self) -> dict[str, Any]:
        info = {"status": self.status, "code": self.code, "request_id": self.request_id}
        info.update(self.details)
        return {"graph_error": {k: v for k, v in info.items() if v is not None}}


class GraphConnectionError(GraphError):
    """The connection failed before Graph answered; for writes it is unknown whether the change was applied."""


# ---------------------------------------------------------------- values the collection checks itself


class CertificateError(HybridError):
    """A certificate could not be used; ``msg`` never contains the value that was given."""

    def __init__(self, msg: str) -> None:
        super().__init__(msg)


class CatalogError(HybridError):
    """A call PowerShell would refuse; ``message`` reads like PowerShell's, ``error_id`` is the FullyQualifiedErrorId
    prefix (the simulator appends the cmdlet's .NET type), ``category`` the ErrorCategory name."""

    def __init__(
        self, message: str, category: str = "InvalidArgument", error_id: str = "", parameter: Optional[str] = None
    ) -> None:
        super().__init__(message)
        # PowerShell's own word for the text; the simulator writes it to the error stream as is.
        self.message = message
        self.category = category
        self.error_id = error_id
        self.parameter = parameter


def fail_from_error(module: Any, exc: HybridError, what: Optional[str] = None, **result: Any) -> None:
    """``module.fail_json`` for ``exc``: "Failed to <what>: <cause>" (or the error's own message when ``what`` is
    None, as Graph's messages already name what failed), the error's keys and its traceback."""
    # The error's keys win over a module's own keys of the same name (exchange_monitoring_probe's result has error
    # and exception): passing both would be a TypeError instead of a failure.
    fields = dict(result)
    fields.update(exc.result())
    fields["exception"] = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    module.fail_json(msg=exc.msg if what is None else "Failed to %s: %s" % (what, exc.msg), **fields)
