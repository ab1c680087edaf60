"""The contract between the simulated WS-Management/PSRP service and whatever plays the remote runspace.

The WS-Management server (``server.WSManServer``) decodes what a real PSRP client sends with psrpcore's server
side and hands every pipeline to a handler as a ``PipelineRequest``: the commands exactly as the client built them
(cmdlet name or script text, ``is_script``, the parameters as plain Python values, and which command ends a
statement when the client sent several statements). The handler answers with a
``PipelineResult``: output objects, records for the error stream, or a terminating error. The server turns those
back into PSRP messages (CLIXML through psrpcore), so the handler never sees XML.

Values, both ways: ``None``, ``str``, ``bool``, ``int``, ``float``, ``datetime.datetime`` (aware, UTC),
``bytes`` (``byte[]``), ``list`` (an array or a MultiValuedProperty), ``dict`` (a hashtable), ``RemoteEnum`` and
``RemoteObject``. A ``SecureString`` parameter arrives as ``str`` (already decrypted by the server).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

# The configuration names the simulator serves (resource URI http://schemas.microsoft.com/powershell/<name>).
EXCHANGE_CONFIGURATION = "Microsoft.Exchange"
DEFAULT_CONFIGURATION = "Microsoft.PowerShell"


@dataclass(frozen=True)
class Command:
    """One command of a pipeline: ``name`` is a cmdlet name, or the script text when ``is_script``."""

    name: str
    is_script: bool = False
    # (parameter name, value) in the order sent; a name of None is a positional argument.
    parameters: tuple[tuple[Optional[str], Any], ...] = ()
    # The last command of its statement (PowerShell.AddStatement(); psrpcore marks the last command of every one).
    end_of_statement: bool = False

    def named(self) -> dict[str, Any]:
        """Named parameters as a dict (the last value wins, as PowerShell's binder would refuse duplicates)."""
        return {name: value for name, value in self.parameters if name is not None}


@dataclass(frozen=True)
class PipelineRequest:
    server_name: str  # the simulated host's name (WSManServer.name)
    configuration: str  # EXCHANGE_CONFIGURATION or DEFAULT_CONFIGURATION
    username: str  # the authenticated user, canonical DOMAIN\\user form
    commands: tuple[Command, ...]  # every statement's commands, in order
    runspace_pool_id: str = ""

    def statements(self) -> list[tuple[Command, ...]]:
        """The commands split into statements (``ExtraCmds``): each its own pipeline, run one after another."""
        found: list[tuple[Command, ...]] = []
        current: list[Command] = []
        for command in self.commands:
            current.append(command)
            if command.end_of_statement:
                found.append(tuple(current))
                current = []
        if current:
            found.append(tuple(current))
        return found


@dataclass(frozen=True)
class RemoteEnum:
    """An enum value: serialised with its type names, ``ToString`` = ``name``, value = ``value``."""

    type_name: str
    name: str
    value: int = 0


@dataclass
class RemoteObject:
    """A (deserialized-looking) .NET object: type name chain, adapted properties, ``ToString``."""

    type_names: list[str]
    properties: dict[str, Any] = field(default_factory=dict)
    to_string: Optional[str] = None


@dataclass(frozen=True)
class RemoteError:
    """An ErrorRecord as PowerShell writes it."""

    message: str
    category: str = "NotSpecified"  # ErrorCategory name, e.g. InvalidArgument, ObjectNotFound
    fully_qualified_error_id: str = ""
    target: Optional[str] = None
    exception_type: str = "System.Management.Automation.RuntimeException"


@dataclass
class PipelineResult:
    output: list[Any] = field(default_factory=list)
    # Non-terminating errors: written to the error stream, the pipeline still completes.
    errors: list[RemoteError] = field(default_factory=list)
    # A terminating error: the pipeline ends in state Failed with this reason.
    failed: Optional[RemoteError] = None


PipelineHandler = Callable[[PipelineRequest], PipelineResult]
Value = Union[None, str, bool, int, float, dt.datetime, bytes, list, dict, RemoteEnum, RemoteObject]
