"""The simulated WS-Management (WinRS) service of a Windows host; see ``server.WSManServer``."""

from __future__ import annotations

from .command import (
    CLIXML_HEADER,
    CommandRequest,
    CommandResult,
    Handler,
    clixml_error,
    clixml_progress_only,
    echo_handler,
)
from .server import ACTIONS, CMD_LINE_LIMIT, FAULT_KINDS, WSManServer, register_ntlm_users

__all__ = [
    "ACTIONS",
    "CLIXML_HEADER",
    "CMD_LINE_LIMIT",
    "FAULT_KINDS",
    "CommandRequest",
    "CommandResult",
    "Handler",
    "WSManServer",
    "clixml_error",
    "clixml_progress_only",
    "echo_handler",
    "register_ntlm_users",
]
