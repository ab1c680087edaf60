"""Defect: a PSRP client that formats a value into script text instead of sending it as a parameter value.

The classic injection mistake, on the new transport: the string parameters of a command are written into the
command's text (``<Cmdlet> -Name '<value>' -Reason '<value>'`` sent with ``add_script``; for a host script
``$Path = '<value>'`` lines prepended to the fixed text) and dropped from the PSRP parameters. ``scope`` picks what is rewritten: ``"cmdlets"``
(the Exchange cmdlets and host cmdlets) or ``"host scripts"``.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator
from unittest import mock

from pypsrp.complex_objects import Command

from ansible_collections.exchange.hybrid.plugins.module_utils import _exchange


def interpolated(command: Any, protocol_version: str) -> Any:
    """The script ``Command`` that carries ``command``'s string parameters in its text, or ``command``."""
    strings = [arg for arg in command.args if arg.name and isinstance(arg.value, str)]
    if not strings:
        return command
    if command.is_script:
        text = "".join("$%s = '%s'\n" % (arg.name, arg.value) for arg in strings) + command.cmd
    else:
        text = command.cmd + "".join(" -%s '%s'" % (arg.name, arg.value) for arg in strings)
    script = Command(text, protocol_version=protocol_version, is_script=True)
    script.args = [arg for arg in command.args if arg not in strings]
    return script


@contextlib.contextmanager
def planted(scope: str = "cmdlets") -> Iterator[None]:
    if scope not in ("cmdlets", "host scripts"):
        raise ValueError(scope)
    base = _exchange.PowerShell

    class InterpolatingPowerShell(base):  # type: ignore[misc,valid-type]
        def begin_invoke(self, *args: Any, **kwargs: Any) -> None:
            version = self.runspace_pool.protocol_version or "2.3"
            self.commands = [
                interpolated(c, version) if bool(c.is_script) == (scope == "host scripts") else c for c in self.commands
            ]
            return super().begin_invoke(*args, **kwargs)

    with mock.patch.object(_exchange, "PowerShell", InterpolatingPowerShell):
        yield
