"""The contract between the WS-Management server and whatever plays the remote process (the Exchange simulator).

The server hands a handler the command line exactly as cmd.exe would see it (``rsp:Command`` and every
``rsp:Arguments`` joined with spaces) and the bytes written to standard input; decoding ``-EncodedCommand`` is the
handler's business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable
from xml.sax.saxutils import escape


@dataclass(frozen=True)
class CommandRequest:
    server_name: str
    username: str
    command_line: str
    stdin: bytes


@dataclass(frozen=True)
class CommandResult:
    stdout: bytes = b""
    stderr: bytes = b""
    exit_code: int = 0


Handler = Callable[[CommandRequest], CommandResult]

CLIXML_HEADER = b"#< CLIXML\r\n"
_OBJS_OPEN = '<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
_PROGRESS = (
    '<Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T><T>System.Object</T>'
    '</TN><MS><I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing modules for first use.</AV><AI>0</AI><Nil />'
    "<PI>-1</PI><PC>-1</PC><T>Completed</T><SR>-1</SR><SD> </SD></PR></MS></Obj>"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _clixml_text(text: str) -> str:
    # PowerShell's serializer escapes control characters (and a literal "_x" start) as _xHHHH_.
    text = re.sub(r"_(?=x[0-9A-Fa-f]{4}_)", "_x005F_", text)
    return escape(_CONTROL.sub(lambda match: "_x%04X_" % ord(match.group(0)), text))


def clixml_error(message: str, wrap: int | None = None, progress: bool = True) -> bytes:
    """Standard error as ``powershell -EncodedCommand`` writes it when an error reaches the console.

    One ``<S S="Error">`` record per console line, each ending in ``_x000D__x000A_``. ``wrap`` splits long lines at
    that many characters the way the console does (words get cut), ``progress`` adds the usual
    "Preparing modules for first use." record first.
    """
    lines: list[str] = []
    for line in message.replace("\r\n", "\n").split("\n"):
        if wrap and len(line) > wrap:
            lines.extend(line[i : i + wrap] for i in range(0, len(line), wrap))
        else:
            lines.append(line)
    records = "".join('<S S="Error">%s_x000D__x000A_</S>' % _clixml_text(line) for line in lines)
    body = _OBJS_OPEN + (_PROGRESS if progress else "") + records + "</Objs>"
    return CLIXML_HEADER + body.encode("utf-8")


def clixml_progress_only() -> bytes:
    """What a successful ``powershell -EncodedCommand`` often leaves on standard error: progress, no error."""
    return CLIXML_HEADER + (_OBJS_OPEN + _PROGRESS + "</Objs>").encode("utf-8")


def echo_handler(request: CommandRequest) -> CommandResult:
    """A trivial handler for tests: stdout is the command line, then the stdin bytes."""
    return CommandResult(stdout=request.command_line.encode("utf-8") + b"\r\n" + request.stdin, stderr=b"", exit_code=0)
