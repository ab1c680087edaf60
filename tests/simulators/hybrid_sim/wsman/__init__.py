"""The simulated WS-Management service of a Windows host, speaking PSRP; see ``server.WSManServer``.

The contract with whatever plays the remote runspace (the Exchange simulator) is ``pipeline``.
"""

from __future__ import annotations

from .pipeline import (
    DEFAULT_CONFIGURATION,
    EXCHANGE_CONFIGURATION,
    Command,
    PipelineHandler,
    PipelineRequest,
    PipelineResult,
    RemoteEnum,
    RemoteError,
    RemoteObject,
    Value,
)
from .server import ACTIONS, AUTH_METHODS, FAULT_KINDS, WSManServer, register_ntlm_users

__all__ = [
    "ACTIONS",
    "AUTH_METHODS",
    "DEFAULT_CONFIGURATION",
    "EXCHANGE_CONFIGURATION",
    "FAULT_KINDS",
    "Command",
    "PipelineHandler",
    "PipelineRequest",
    "PipelineResult",
    "RemoteEnum",
    "RemoteError",
    "RemoteObject",
    "Value",
    "WSManServer",
    "register_ntlm_users",
]
