# Copyright (c) exchange.hybrid contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Static check of every PowerShell text the collection ships, and of what its Python sends as commands.

Exchange cmdlets travel to the Exchange endpoint as PSRP commands with typed parameters (``_exchange.call()``), never
as script text. The only PowerShell text the collection ships is the fixed host scripts, ``HOST_SCRIPTS`` of
``plugins/module_utils/_host_scripts.py``, sent only to the server's default WinRM endpoint (Microsoft.PowerShell),
plus any ``*.ps1``/``*.psm1`` file under ``plugins/``, ``roles/`` or ``playbooks/``.

Every text is parsed with tree-sitter-powershell after normalising the Unicode quotes and dashes PowerShell itself
honours, and must:

- parse without ERROR or MISSING nodes;
- use nothing newer than Windows PowerShell 3.0 (the host scripts run on 3.0 to 5.1): no ``&&``/``||`` chains,
  ternary, ``??``/``??=``, ``?.``, ``-AsHashtable`` on ConvertFrom-Json, ``class``/``enum``, ``[T]::new()``,
  ``.ForEach()``/``.Where()``, PowerShell 6+ parameters of built-in cmdlets;
- give ``ConvertTo-Json`` an explicit ``-Depth`` (the default of 2 silently truncates);
- call only Windows PowerShell 5.1 built-in commands (``BUILTIN_COMMANDS``) or functions defined in the same text;
  never an Exchange cmdlet (the default endpoint has no Exchange snap-in, and none may be loaded: no
  ``Add-PSSnapin``), never Invoke-Expression;
- have no point where a value becomes code: no ``[ScriptBlock]::Create``, ``.AddScript()``, ``$ExecutionContext``
  (``InvokeCommand.ExpandString``/``NewScriptBlock``/``InvokeScript``), no ``&``/``.`` with a variable or an
  expression instead of a literal command;
- name in its string literals only cmdlets that are built in or defined there (no Exchange cmdlet names).

Each host script additionally:

- starts with a ``param()`` block whose parameters are exactly ``HOST_SCRIPT_PARAMETERS[name]`` (names, types,
  ``Mandatory``; ``[switch]`` for ``Switch``), and ``HOST_SCRIPT_PARAMETERS`` has an entry for exactly the scripts
  of ``HOST_SCRIPTS``;
- takes values only through those parameters: no ``$args``, ``$input``, ``$using:``/``$global:`` variables, and
  every variable it reads is a declared parameter, assigned in the script, or automatic;
- imports and compiles nothing and reaches no other endpoint (no Import-Module, Add-Type, Invoke-Command,
  Start-Job).

Repository-wide (Python, with ``ast``, over ``plugins/**/*.py``):

- every ``call("Name", ...)`` (``_exchange.call``) has a literal cmdlet name that is an Exchange cmdlet of the
  catalog (``plugins/module_utils/_cmdlet_catalog.py``) existing on some supported version (2013, 2016, 2019, SE),
  written as the catalog spells it, with keyword parameters that exist on some supported version (name or alias;
  PowerShell's common parameters are refused, as ``call()`` refuses them), or one of ``HOST_CMDLETS`` with that
  built-in's Windows PowerShell 5.1 parameters (``HOST_CMDLET_PARAMETERS``);
- every ``host_script("name", ...)`` names a script of ``HOST_SCRIPTS`` and passes only its declared parameters,
  all mandatory ones unless a ``**mapping`` is passed;
- ``HOST_CMDLETS`` names Windows PowerShell built-ins only (no Exchange cmdlet, nothing refused here);
- every ``.add_script(...)`` sends ``HOST_SCRIPTS[...]`` and nothing else;
- no file under ``plugins/``, ``roles/`` or ``playbooks/`` mentions ``Add-PSSnapin``, ``-EncodedCommand`` or
  ``powershell.exe`` (the old WinRS shell design).

Library: ``check_text()``, ``check_host_script()``, ``check_python()``, ``banned_words()``, ``run_checks()``/``check_collection()``.
CLI: ``python tests/quality/ps_static_check.py [ROOT]`` (exit 1 and one ``source:line:column: message`` line per
finding when something is wrong; the last line is the summary).

Known grammar limits of tree-sitter-powershell 0.26 (write the texts so they parse; PowerShell accepts both):
bareword lists as command arguments (``Select-Object Name, Fqdn``: write ``-Property @('Name', 'Fqdn')``) and a
``param()`` block followed by a statement on the same line.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable

TARGET_VERSIONS = ("2013", "2016", "2019", "SE")
HOST_SCRIPTS_FILE = "plugins/module_utils/_host_scripts.py"
CATALOG_FILE = "plugins/module_utils/_cmdlet_catalog.py"
# Directories whose files the collection ships and runs (PowerShell texts, the banned words of the old design).
SHIPPED_DIRS = ("plugins", "roles", "playbooks")

# PowerShell's tokenizer treats these as ' " and - (System.Management.Automation.Language.CharExtensions).
QUOTE_MAP = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u2013": "-",
    "\u2014": "-",
    "\u2015": "-",
}

# Windows PowerShell 5.1 core commands (Microsoft.PowerShell.Core/Utility/Management/Security, CimCmdlets) we allow,
# with the version that introduced each; anything above 3.0 is reported because the host scripts must run on 3.0.
BUILTIN_COMMANDS: dict[str, str] = {
    # Microsoft.PowerShell.Core
    "Add-PSSnapin": "3.0",
    "Get-PSSnapin": "3.0",
    "Remove-PSSnapin": "3.0",
    "ForEach-Object": "3.0",
    "Where-Object": "3.0",
    "Get-Command": "3.0",
    "Invoke-Expression": "3.0",
    "Get-Help": "3.0",
    "Get-Module": "3.0",
    "Import-Module": "3.0",
    "Remove-Module": "3.0",
    "Invoke-Command": "3.0",
    "Out-Default": "3.0",
    "Out-Host": "3.0",
    "Out-Null": "3.0",
    "Set-StrictMode": "3.0",
    "Start-Job": "3.0",
    "Receive-Job": "3.0",
    "Wait-Job": "3.0",
    "Remove-Job": "3.0",
    "Get-Job": "3.0",
    "Stop-Job": "3.0",
    # Microsoft.PowerShell.Utility
    "Add-Member": "3.0",
    "Add-Type": "3.0",
    "Clear-Variable": "3.0",
    "Compare-Object": "3.0",
    "ConvertFrom-Csv": "3.0",
    "ConvertFrom-Json": "3.0",
    "ConvertFrom-StringData": "3.0",
    "ConvertTo-Csv": "3.0",
    "ConvertTo-Json": "3.0",
    "ConvertTo-Xml": "3.0",
    "Export-Clixml": "3.0",
    "Export-Csv": "3.0",
    "Format-List": "3.0",
    "Format-Table": "3.0",
    "Get-Culture": "3.0",
    "Get-Date": "3.0",
    "Get-Host": "3.0",
    "Get-Member": "3.0",
    "Get-Random": "3.0",
    "Get-Unique": "3.0",
    "Get-Variable": "3.0",
    "Group-Object": "3.0",
    "Import-Clixml": "3.0",
    "Import-Csv": "3.0",
    "Measure-Command": "3.0",
    "Measure-Object": "3.0",
    "New-Object": "3.0",
    "New-TimeSpan": "3.0",
    "New-Variable": "3.0",
    "Out-File": "3.0",
    "Out-String": "3.0",
    "Remove-Variable": "3.0",
    "Select-Object": "3.0",
    "Select-String": "3.0",
    "Select-Xml": "3.0",
    "Set-Variable": "3.0",
    "Sort-Object": "3.0",
    "Start-Sleep": "3.0",
    "Tee-Object": "3.0",
    "Write-Debug": "3.0",
    "Write-Error": "3.0",
    "Write-Host": "3.0",
    "Write-Output": "3.0",
    "Write-Progress": "3.0",
    "Write-Verbose": "3.0",
    "Write-Warning": "3.0",
    "Get-TypeData": "3.0",
    "Remove-TypeData": "3.0",
    "Update-TypeData": "3.0",
    "Get-FileHash": "4.0",
    "New-Guid": "5.0",
    "New-TemporaryFile": "5.0",
    "Write-Information": "5.0",
    "Format-Hex": "5.0",
    # Microsoft.PowerShell.Management
    "Add-Content": "3.0",
    "Clear-Content": "3.0",
    "Convert-Path": "3.0",
    "Copy-Item": "3.0",
    "Get-ChildItem": "3.0",
    "Get-Content": "3.0",
    "Get-Item": "3.0",
    "Get-ItemProperty": "3.0",
    "Get-Location": "3.0",
    "Get-Process": "3.0",
    "Get-Service": "3.0",
    "Get-WmiObject": "3.0",
    "Join-Path": "3.0",
    "Move-Item": "3.0",
    "New-Item": "3.0",
    "Pop-Location": "3.0",
    "Push-Location": "3.0",
    "Remove-Item": "3.0",
    "Rename-Item": "3.0",
    "Resolve-Path": "3.0",
    "Restart-Service": "3.0",
    "Set-Content": "3.0",
    "Set-Item": "3.0",
    "Set-ItemProperty": "3.0",
    "Set-Location": "3.0",
    "Split-Path": "3.0",
    "Start-Service": "3.0",
    "Stop-Service": "3.0",
    "Test-Path": "3.0",
    "Get-ItemPropertyValue": "5.0",
    # Microsoft.PowerShell.Security
    "ConvertFrom-SecureString": "3.0",
    "ConvertTo-SecureString": "3.0",
    "Get-Acl": "3.0",
    "Set-Acl": "3.0",
    "Get-ExecutionPolicy": "3.0",
    # WebAdministration (IIS, installed with every Exchange server's Client Access services; autoloaded on first use):
    # Microsoft's MonitorExchangeAuthCertificate.ps1 recycles the OWA and ECP application pools with it.
    "Restart-WebAppPool": "3.0",
    # CimCmdlets
    "Get-CimInstance": "3.0",
    "Invoke-CimMethod": "3.0",
}

# Built-in aliases of Windows PowerShell 5.1 that also exist in 3.0 (curl/wget are left out: gone in 6+).
BUILTIN_ALIASES: dict[str, str] = {
    "%": "ForEach-Object",
    "foreach": "ForEach-Object",
    "?": "Where-Object",
    "where": "Where-Object",
    "select": "Select-Object",
    "sort": "Sort-Object",
    "group": "Group-Object",
    "measure": "Measure-Object",
    "gm": "Get-Member",
    "echo": "Write-Output",
    "write": "Write-Output",
    "gci": "Get-ChildItem",
    "ls": "Get-ChildItem",
    "dir": "Get-ChildItem",
    "gc": "Get-Content",
    "cat": "Get-Content",
    "type": "Get-Content",
    "sc": "Set-Content",
    "ac": "Add-Content",
    "ni": "New-Item",
    "ri": "Remove-Item",
    "rm": "Remove-Item",
    "del": "Remove-Item",
    "gi": "Get-Item",
    "gp": "Get-ItemProperty",
    "cp": "Copy-Item",
    "copy": "Copy-Item",
    "mv": "Move-Item",
    "move": "Move-Item",
    "gsv": "Get-Service",
    "sasv": "Start-Service",
    "spsv": "Stop-Service",
    "gps": "Get-Process",
    "ps": "Get-Process",
    "sleep": "Start-Sleep",
    "ft": "Format-Table",
    "fl": "Format-List",
    "gv": "Get-Variable",
    "sv": "Set-Variable",
    "set": "Set-Variable",
    "gwmi": "Get-WmiObject",
    "ipmo": "Import-Module",
    "gcm": "Get-Command",
    "icm": "Invoke-Command",
    "tee": "Tee-Object",
    "diff": "Compare-Object",
    "compare": "Compare-Object",
    "rvpa": "Resolve-Path",
    "cd": "Set-Location",
    "sl": "Set-Location",
    "pwd": "Get-Location",
    "gl": "Get-Location",
    "pushd": "Push-Location",
    "popd": "Pop-Location",
    "iex": "Invoke-Expression",
}

# Built-in commands that exist but are refused in every text.
FORBIDDEN_COMMANDS: dict[str, str] = {
    "Invoke-Expression": "values never become code (Invoke-Expression runs a string as PowerShell)",
    "Add-PSSnapin": "the Exchange snap-in is never loaded: Exchange cmdlets go to the Exchange endpoint as commands "
    "(call()), never into a PowerShell text",
}
# Built-ins refused in a host script: it runs on the default endpoint with what is loaded there and nothing else.
HOST_FORBIDDEN_COMMANDS: dict[str, str] = {
    "Import-Module": "a host script imports nothing (the Exchange management shell's modules included)",
    "Add-Type": "a host script compiles no code",
    "Invoke-Command": "a host script reaches no other endpoint or computer and runs no script block it was given",
    "Start-Job": "a host script starts no other PowerShell process",
}

# Windows PowerShell 5.1 parameters (with aliases) of the built-ins a module may send as commands (HOST_CMDLETS).
HOST_CMDLET_PARAMETERS: dict[str, dict[str, dict[str, Any]]] = {
    "Get-Service": {
        "Name": {"aliases": ["ServiceName"]},
        "ComputerName": {"aliases": ["Cn"]},
        "DependentServices": {"aliases": ["DS"]},
        "RequiredServices": {"aliases": ["SDO", "ServicesDependedOn"]},
        "DisplayName": {},
        "Include": {},
        "Exclude": {},
        "InputObject": {},
    },
    "Restart-Service": {
        "Name": {"aliases": ["ServiceName"]},
        "DisplayName": {},
        "Force": {},
        "PassThru": {},
        "Include": {},
        "Exclude": {},
        "InputObject": {},
        "WhatIf": {"aliases": ["wi"]},
        "Confirm": {"aliases": ["cf"]},
    },
}

# Common parameters (3.0 set, plus the later ones flagged with their version).
COMMON_PARAMETERS: dict[str, str] = {
    "Debug": "3.0",
    "ErrorAction": "3.0",
    "ErrorVariable": "3.0",
    "OutBuffer": "3.0",
    "OutVariable": "3.0",
    "Verbose": "3.0",
    "WarningAction": "3.0",
    "WarningVariable": "3.0",
    "PipelineVariable": "4.0",
    "InformationAction": "5.0",
    "InformationVariable": "5.0",
}

# Parameters of built-in cmdlets added after Windows PowerShell 3.0 (mostly PowerShell 6+).
LATER_PARAMETERS: dict[str, dict[str, str]] = {
    "ConvertFrom-Json": {"AsHashtable": "6.0", "Depth": "6.2", "NoEnumerate": "7.0"},
    "ConvertTo-Json": {"AsArray": "6.2", "EnumsAsStrings": "6.2", "EscapeHandling": "6.2"},
    "Get-Content": {"AsByteStream": "6.0"},
    "Set-Content": {"AsByteStream": "6.0", "NoNewline": "5.0"},
    "Add-Content": {"AsByteStream": "6.0", "NoNewline": "5.0"},
    "Out-File": {"NoNewline": "5.0"},
    "Get-ChildItem": {"Depth": "5.0", "FollowSymlink": "6.0"},
    "Select-Object": {"SkipLast": "5.0"},
    "Sort-Object": {"Top": "6.0", "Bottom": "6.0", "Stable": "6.0"},
    "ForEach-Object": {"Parallel": "7.0", "ThrottleLimit": "7.0", "AsJob": "7.0"},
    "Start-Sleep": {"Duration": "7.3"},
    "Get-Date": {"AsUTC": "7.1", "UnixTimeSeconds": "7.1"},
    "Split-Path": {"LeafBase": "6.0", "Extension": "6.0"},
    "Join-Path": {"AdditionalChildPath": "6.0"},
    "Measure-Object": {"AllStats": "6.0", "StandardDeviation": "6.0"},
}
# -Encoding values that only PowerShell 6+ knows.
LATER_ENCODINGS = {"utf8nobom": "6.0", "utf8bom": "6.0", "ansi": "7.4"}

APPROVED_VERBS = frozenset(
    "Add Approve Assert Backup Block Build Checkpoint Clear Close Compare Complete Compress Confirm Connect Convert "
    "ConvertFrom ConvertTo Copy Debug Deny Deploy Disable Disconnect Dismount Edit Enable Enter Exit Expand Export "
    "Find Format Get Grant Group Hide Import Initialize Install Invoke Join Limit Lock Measure Merge Mount Move New "
    "Open Optimize Out Ping Pop Protect Publish Push Read Receive Redo Register Remove Rename Repair Request Reset "
    "Resize Resolve Restart Restore Resume Revoke Save Search Select Send Set Show Skip Split Start Step Stop Submit "
    "Suspend Switch Sync Test Trace Unblock Undo Uninstall Unlock Unprotect Unpublish Unregister Update Use Wait "
    "Watch Write".split()
)
CMDLET_NAME = re.compile(r"^([A-Z][A-Za-z]+)-([A-Z][A-Za-z0-9]+)$")
WORKFLOW_NODES = {"parallel_statement", "sequence_statement", "inlinescript_statement"}

# Methods that turn a string into code (with [ScriptBlock]::Create and $ExecutionContext).
CODE_FROM_TEXT_METHODS = {"addscript", "invokescript", "newscriptblock", "expandstring"}
SCRIPTBLOCK_TYPES = {"scriptblock", "system.management.automation.scriptblock", "management.automation.scriptblock"}

# Variables a host script may read without declaring or assigning them: automatic and preference variables.
AUTOMATIC_VARIABLES = frozenset(
    name.lower()
    for name in (
        "_", "PSItem", "null", "true", "false", "Error", "ErrorActionPreference", "WarningPreference",
        "VerbosePreference", "DebugPreference", "ProgressPreference", "ConfirmPreference", "WhatIfPreference",
        "InformationPreference", "Host", "PID", "PSVersionTable", "PWD", "HOME", "PSHOME", "LASTEXITCODE", "Matches",
        "PSBoundParameters", "MyInvocation", "PSCmdlet", "PSCulture", "PSUICulture", "OFS", "StackTrace", "this",
        "PSScriptRoot", "PSCommandPath", "ShellId", "NestedPromptLevel",
    )
)
# Variables through which a value that is not a declared parameter reaches a host script.
INPUT_VARIABLES = {
    "args": "$args takes values that are not declared parameters",
    "input": "$input takes pipeline input instead of a declared parameter",
}
INPUT_SCOPES = {
    "using": "$using: variables come from the caller's session, not from a declared parameter",
    "global": "$global: variables come from the session, not from a declared parameter",
}
# Scope prefixes that name an ordinary variable of the script.
PLAIN_SCOPES = {"script", "local", "private", "variable"}
# Common parameters that name a variable the cmdlet assigns (with their aliases).
VARIABLE_PARAMETERS = {
    "outvariable", "ov", "errorvariable", "ev", "warningvariable", "wv", "informationvariable", "iv",
    "pipelinevariable", "pv",
}
# Type names of a param() block, as HOST_SCRIPT_PARAMETERS writes them.
TYPE_NAMES = {
    "string": "String",
    "switch": "Switch",
    "switchparameter": "Switch",
    "management.automation.switchparameter": "Switch",
    "int": "Int32",
    "int32": "Int32",
    "long": "Int64",
    "int64": "Int64",
    "bool": "Boolean",
    "boolean": "Boolean",
    "datetime": "DateTime",
    "object": "Object",
    "string[]": "String[]",
    "byte[]": "Byte[]",
}

# Words of the old design (a WinRS shell running powershell.exe with an -EncodedCommand bootstrap that loaded the
# Exchange snap-in) that must not come back anywhere in the shipped tree.
BANNED_WORDS = (
    (re.compile(r"add-pssnapin", re.I), "Add-PSSnapin: the Exchange snap-in is never loaded; Exchange cmdlets go to "
     "the Exchange endpoint with call()"),
    (re.compile(r"-encodedcommand\b", re.I), "-EncodedCommand: no PowerShell command line is built; commands travel "
     "over PSRP"),
    (re.compile(r"\bpowershell\.exe\b", re.I), "powershell.exe: no process is started on the server; commands travel "
     "over PSRP to a runspace pool"),
)
EXCLUDED_DIRS = {".venv", ".git", "tests", "__pycache__", "build", ".tox", ".nox", "output"}


@dataclass(frozen=True)
class Finding:
    source: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}:{self.column}: {self.message}"


@dataclass(frozen=True)
class PowerShellText:
    name: str
    text: str
    # For a host script: its declared parameters (HOST_SCRIPT_PARAMETERS[name]); None for any other text.
    parameters: dict[str, tuple[str, bool]] | None = None

    @property
    def is_host_script(self) -> bool:
        return self.parameters is not None


@dataclass
class Catalog:
    cmdlets: dict[str, dict[str, Any]]

    def find(self, name: str) -> tuple[str, dict[str, Any]] | None:
        for key, value in self.cmdlets.items():
            if key.lower() == name.lower():
                return key, value
        return None


@dataclass
class HostScripts:
    """The three constants of _host_scripts.py."""

    scripts: dict[str, str]
    parameters: dict[str, dict[str, tuple[str, bool]]]
    cmdlets: tuple[str, ...]


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    texts: list[PowerShellText] = field(default_factory=list)
    call_sites: int = 0
    python_files: int = 0
    host: HostScripts | None = None


def normalise(text: str) -> str:
    return text.translate(str.maketrans(QUOTE_MAP))


def _parser() -> Any:
    import tree_sitter
    import tree_sitter_powershell

    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))


def _walk(node: Any) -> Iterable[Any]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def _text(node: Any) -> str:
    return node.text.decode("utf-8")


def _pos(node: Any, lines: list[bytes] | None = None) -> tuple[int, int]:
    """1-based line and column of a node; the column counts characters when the text's ``lines`` (bytes) are given
    (tree-sitter counts bytes)."""
    row, column = node.start_point
    if lines is not None and row < len(lines):
        column = len(lines[row][:column].decode("utf-8", errors="replace"))
    return row + 1, column + 1


def _string_value(node: Any) -> str | None:
    """The value of a constant string literal ('x', "x" without $ expansion), else None."""
    raw = _text(node)
    if len(raw) >= 2 and raw[0] == raw[-1] == "'":
        return raw[1:-1].replace("''", "'")
    if len(raw) >= 2 and raw[0] == raw[-1] == '"' and "$" not in raw and "`" not in raw:
        return raw[1:-1]
    return None


def _code_only(text: str, root: Any) -> str:
    """The text with string literals and comments blanked (same character offsets), for token-level scans."""
    data = text.encode("utf-8")
    # character offset of each byte offset (tree-sitter counts bytes, re counts characters)
    char_at = [0] * (len(data) + 1)
    index = 0
    for offset, char in enumerate(text):
        width = len(char.encode("utf-8"))
        for b in range(width):
            char_at[index + b] = offset
        index += width
    char_at[len(data)] = len(text)
    chars = list(text)
    for node in _walk(root):
        if node.type in ("string_literal", "comment"):
            for i in range(char_at[node.start_byte], char_at[node.end_byte]):
                if chars[i] not in "\r\n":
                    chars[i] = " "
    return "".join(chars)


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _inside_error(node: Any) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.type == "ERROR":
            return True
        parent = parent.parent
    return False


def _defined_functions(root: Any) -> set[str]:
    names = set()
    for node in _walk(root):
        if node.type == "function_statement":
            for child in node.children:
                if child.type == "function_name":
                    names.add(_text(child).lower())
    return names


def _param_name(node: Any) -> str:
    return _text(node).lstrip("-").rstrip(":")


def _resolve_parameter(name: str, parameters: dict[str, dict[str, Any]]) -> str | None:
    for pname, spec in parameters.items():
        if pname.lower() == name.lower() or name.lower() in (a.lower() for a in spec.get("aliases", [])):
            return pname
    return None


def _later_than_3(version: str) -> bool:
    return tuple(int(p) for p in version.split(".")) > (3, 0)


def _builtin(name: str) -> str | None:
    for key in BUILTIN_COMMANDS:
        if key.lower() == name.lower():
            return key
    return BUILTIN_ALIASES.get(name.lower())


def _check_builtin_call(cmdlet: str, params: list[Any], elements: list[Any], add) -> None:
    later = {k.lower(): (k, v) for k, v in LATER_PARAMETERS.get(cmdlet, {}).items()}
    names = [_param_name(p) for p in params]
    for node, name in zip(params, names):
        lname = name.lower()
        for key, (full, version) in later.items():
            # PowerShell accepts unambiguous prefixes, so -AsHash is -AsHashtable.
            if key == lname or (len(lname) >= 3 and key.startswith(lname) and cmdlet == "ConvertFrom-Json"):
                add(node, f"{cmdlet} -{full} needs PowerShell {version}; the texts must run on Windows PowerShell 3.0")
        common = {c.lower(): (c, v) for c, v in COMMON_PARAMETERS.items()}
        if lname in common and _later_than_3(common[lname][1]):
            add(node, f"common parameter -{common[lname][0]} needs PowerShell {common[lname][1]}")
    if cmdlet == "ConvertTo-Json" and "depth" not in (n.lower() for n in names):
        add(None, "ConvertTo-Json without -Depth (its default of 2 silently truncates)")
    for node in params:
        if _param_name(node).lower() == "encoding":
            following = [e for e in elements if e.start_byte > node.end_byte and e.type != "command_argument_sep"]
            if following:
                value = _text(following[0]).strip("'\"").lower()
                if value in LATER_ENCODINGS:
                    add(node, f"-Encoding {value} needs PowerShell {LATER_ENCODINGS[value]}")


def _check_command(command, at, params, elements, functions, catalog, host, add) -> None:
    if command.lower() in functions:
        return
    builtin = _builtin(command)
    if builtin is not None:
        if builtin in FORBIDDEN_COMMANDS:
            add(at, f"{command}: {FORBIDDEN_COMMANDS[builtin]}")
            return
        if host and builtin in HOST_FORBIDDEN_COMMANDS:
            add(at, f"{command} in a host script: {HOST_FORBIDDEN_COMMANDS[builtin]}")
            return
        version = BUILTIN_COMMANDS.get(builtin, "3.0")
        if _later_than_3(version):
            add(at, f"{builtin} needs PowerShell {version}; the texts must run on Windows PowerShell 3.0")
        _check_builtin_call(builtin, params, elements, lambda n, m: add(n if n is not None else at, m))
        return
    found = catalog.find(command)
    if found is not None:
        where = (
            "host scripts run on the default endpoint (Microsoft.PowerShell), where the Exchange snap-in is not "
            "loaded and must not be"
            if host
            else "no PowerShell text may run Exchange cmdlets"
        )
        add(at, f"Exchange cmdlet {found[0]} in a PowerShell text: {where}; send it with call() to the Exchange endpoint")
        return
    add(at, f"unknown command {command!r}: not a Windows PowerShell 5.1 built-in or a function defined here")


def _type_name(node: Any) -> str:
    spec = next((c for c in node.children if c.type == "type_spec"), None)
    raw = _text(spec if spec is not None else node).strip("[]").strip()
    lowered = raw.lower()
    if lowered.startswith("system."):
        lowered = lowered[len("system.") :]
    return TYPE_NAMES.get(lowered, raw)


def _attribute_name(node: Any) -> str:
    name = next((c for c in node.children if c.type == "attribute_name"), None)
    return _text(name).lower() if name is not None else ""


def _mandatory(attribute: Any) -> bool | None:
    """Mandatory of a [Parameter(...)] attribute: True, False, or None when not said."""
    arguments = next((c for c in attribute.children if c.type == "attribute_arguments"), None)
    if arguments is None:
        return None
    for argument in arguments.children:
        if argument.type != "attribute_argument":
            continue
        name = next((c for c in argument.children if c.type == "simple_name"), None)
        if name is None or _text(name).lower() != "mandatory":
            continue
        values = [c for c in argument.children if c.type not in ("simple_name", "=")]
        if not values:
            return True
        value = _text(values[-1]).strip().lower()
        return value in ("$true", "1")
    return None


def declared_parameters(param_block: Any) -> list[tuple[Any, str, str, bool]]:
    """(node, name, type, mandatory) of each parameter of a param() block; type "Object" when untyped."""
    declared = []
    parameter_list = next((c for c in param_block.children if c.type == "parameter_list"), None)
    if parameter_list is None:
        return declared
    for parameter in parameter_list.children:
        if parameter.type != "script_parameter":
            continue
        variable = next((c for c in parameter.children if c.type == "variable"), None)
        if variable is None:
            continue
        type_name, mandatory = "Object", False
        attributes = next((c for c in parameter.children if c.type == "attribute_list"), None)
        for attribute in attributes.children if attributes is not None else []:
            literal = next((c for c in attribute.children if c.type == "type_literal"), None)
            if literal is not None:
                type_name = _type_name(literal)
            elif _attribute_name(attribute) in ("parameter", "system.management.automation.parameter"):
                mandatory = bool(_mandatory(attribute))
        declared.append((parameter, _text(variable).lstrip("$"), type_name, mandatory))
    return declared


def _check_param_block(root: Any, parameters: dict[str, tuple[str, bool]], add) -> set[str]:
    """The script's param() block against HOST_SCRIPT_PARAMETERS; returns the declared names (lower case)."""
    first = next((c for c in root.children if c.type != "comment"), None)
    if first is None or first.type != "param_block":
        add(first, "a host script starts with a param() block (its only way to take values)")
        return set()
    declared = declared_parameters(first)
    spec = {name: (str(kind), bool(mandatory)) for name, (kind, mandatory) in parameters.items()}
    by_lower = {name.lower(): name for name in spec}
    seen = set()
    for node, name, type_name, mandatory in declared:
        expected_name = by_lower.get(name.lower())
        if expected_name is None:
            add(node, f"param() declares ${name}, which HOST_SCRIPT_PARAMETERS does not list for this script")
            continue
        seen.add(expected_name)
        if name != expected_name:
            add(node, f"param() declares ${name}; HOST_SCRIPT_PARAMETERS spells it {expected_name}")
        kind, required = spec[expected_name]
        if type_name.lower() != kind.lower():
            add(node, f"param() declares ${name} as {type_name}; HOST_SCRIPT_PARAMETERS says {kind}"
                + (" (write [switch])" if kind.lower() == "switch" else ""))
        if mandatory != required:
            add(node, f"param() declares ${name} with Mandatory={'$true' if mandatory else '$false'}; "
                f"HOST_SCRIPT_PARAMETERS says {'mandatory' if required else 'optional'}")
    for name in spec:
        if name not in seen:
            add(first, f"HOST_SCRIPT_PARAMETERS lists -{name} for this script, but its param() block does not declare it")
    return {name.lower() for _node, name, _type, _mandatory in declared}


def _variable_spelling(node: Any) -> str:
    """A variable's name as written, without $/@ and braces (with its scope, if any)."""
    raw = _text(node)
    raw = raw[1:] if raw[:1] in "$@" else raw
    if raw.startswith("{") and raw.endswith("}"):
        raw = raw[1:-1]
    return raw


def _variable_name(node: Any) -> tuple[str, str]:
    """(scope, name) of a variable node, both lower case; scope is "" when none is written."""
    scope, sep, name = _variable_spelling(node).lower().partition(":")
    return (scope, name) if sep else ("", scope)


def _assigned_variables(root: Any) -> set[str]:
    assigned: set[str] = set()

    def add_all(node: Any) -> None:
        for child in _walk(node):
            if child.type == "variable":
                scope, name = _variable_name(child)
                if scope in ("",) or scope in PLAIN_SCOPES:
                    assigned.add(name)

    for node in _walk(root):
        if node.type == "left_assignment_expression":
            add_all(node)
        elif node.type == "foreach_statement":
            variable = next((c for c in node.children if c.type == "variable"), None)
            if variable is not None:
                add_all(variable)
        elif node.type == "script_parameter":
            variable = next((c for c in node.children if c.type == "variable"), None)
            if variable is not None:
                add_all(variable)
        elif node.type == "cast_expression":
            literal = next((c for c in node.children if c.type == "type_literal"), None)
            if literal is not None and _type_name(literal).lower() == "ref":
                add_all(node)
        elif node.type == "command_elements":
            elements = [c for c in node.children if c.type != "command_argument_sep"]
            for parameter, value in zip(elements, elements[1:]):
                if parameter.type == "command_parameter" and _param_name(parameter).lower() in VARIABLE_PARAMETERS:
                    text = _string_value(value) if value.type == "string_literal" else _text(value)
                    if text:
                        assigned.add(text.lstrip("+").lower())
    return assigned


def _check_variables(root: Any, declared: set[str], add) -> None:
    """A host script reads only its parameters, its own variables and automatic ones."""
    assigned = _assigned_variables(root)
    reported: set[str] = set()
    for node in _walk(root):
        if node.type != "variable":
            continue
        scope, name = _variable_name(node)
        if scope in INPUT_SCOPES:
            add(node, INPUT_SCOPES[scope])
            continue
        if scope == "env":
            continue
        if scope and scope not in PLAIN_SCOPES:
            add(node, f"${_variable_spelling(node)} reads a provider item, not a declared parameter")
            continue
        if name in INPUT_VARIABLES:
            add(node, INPUT_VARIABLES[name])
            continue
        if name in declared or name in assigned or name in AUTOMATIC_VARIABLES or name in reported:
            continue
        if name == "executioncontext":
            continue  # reported by _check_code_from_text
        reported.add(name)
        add(node, f"${_variable_spelling(node)} is neither a declared parameter, assigned in the script, nor an automatic variable "
            "(values reach a host script only as its declared parameters)")


def _check_code_from_text(root: Any, add) -> None:
    """Points where a value would become code."""
    for node in _walk(root):
        if node.type == "invokation_expression":
            kids = list(node.children)
            for a, b in zip(kids, kids[1:]):
                if b.type != "member_name":
                    continue
                member = _text(b).lower()
                if _text(a) == "::" and member == "create":
                    literal = next((c for c in kids if c.type == "type_literal"), None)
                    if literal is not None and _type_name(literal).lower() in SCRIPTBLOCK_TYPES:
                        add(b, "[ScriptBlock]::Create turns a string into code; values never become code")
                if member in CODE_FROM_TEXT_METHODS:
                    add(b, f".{_text(b)}() turns a string into code; values never become code")
        elif node.type == "variable" and _variable_name(node)[1] == "executioncontext":
            add(node, "$ExecutionContext (InvokeCommand.ExpandString/NewScriptBlock/InvokeScript) turns strings into "
                "code; values never become code")
        elif node.type == "command":
            operator = next((c for c in node.children if c.type == "command_invokation_operator"), None)
            expr = next((c for c in node.children if c.type == "command_name_expr"), None)
            if operator is None or expr is None or not expr.children:
                continue
            target = expr.children[0]
            if target.type == "script_block_expression":
                continue
            if target.type == "string_literal" and _string_value(target) is not None:
                continue
            add(node, f"{_text(operator)} with {_text(target)[:40]!r} runs whatever the value names; invoke a literal "
                "command or script block")


def check_text(
    text: str,
    name: str,
    catalog: Catalog,
    host_script: bool = False,
    parameters: dict[str, tuple[str, bool]] | None = None,
) -> list[Finding]:
    """Every rule for one PowerShell text; with ``host_script`` also the host-script rules, and with ``parameters``
    (HOST_SCRIPT_PARAMETERS[name]) the param() block's contract."""
    host_script = host_script or parameters is not None
    findings: list[Finding] = []
    source = normalise(text)
    tree = _parser().parse(source.encode("utf-8"))
    root = tree.root_node
    current: list[tuple[int, int]] = []
    lines = source.encode("utf-8").split(b"\n")

    def add(node: Any, message: str, where: tuple[int, int] | None = None) -> None:
        line, col = where or (_pos(node, lines) if node is not None else (current[0] if current else (1, 1)))
        findings.append(Finding(name, line, col, message))

    for node in _walk(root):
        if node.is_missing:
            add(node, f"parse error: missing {node.type!r}")
        elif node.type == "ERROR" and not _inside_error(node):
            snippet = _text(node).strip().splitlines()[0][:60] if _text(node).strip() else ""
            add(node, f"parse error near {snippet!r}")
        elif node.type == "pipeline_chain_tail":
            add(node, "pipeline chain operator && or || needs PowerShell 7")
        elif node.type in ("class_statement", "enum_statement"):
            add(node, f"{node.type.split('_')[0]} definitions need PowerShell 5.0")
        elif node.type in WORKFLOW_NODES:
            add(node, "workflow statements are not available in a plain PowerShell script")
        elif node.type == "invokation_expression":
            kids = list(node.children)
            for a, b in zip(kids, kids[1:]):
                if _text(a) == "::" and b.type == "member_name" and _text(b).lower() == "new":
                    add(b, "[Type]::new() needs PowerShell 5.0; use New-Object")

    # Token-level rules for syntax the grammar cannot represent (it yields ERROR nodes; say why).
    code = _code_only(source, root)
    seen_chain = any(f.message.startswith("pipeline chain") for f in findings)
    token_rules = [
        (r"\?\?=?", "null-coalescing operator ?? / ??= needs PowerShell 7"),
        (r"\?\.|\?\[", "null-conditional operator ?. / ?[] needs PowerShell 7.1"),
        (r"\.(?:ForEach|Where)\s*\(", ".ForEach()/.Where() methods need PowerShell 4.0"),
    ]
    if not seen_chain:
        token_rules.append((r"&&|\|\|", "pipeline chain operator && or || needs PowerShell 7"))
    for pattern, message in token_rules:
        for match in re.finditer(pattern, code, re.I):
            add(None, message, _line_col(source, match.start()))
    for match in re.finditer(r"(?<=\s)\?(?=\s)", code):
        # '?' starting a pipeline element is the Where-Object alias; anywhere else it is the ternary operator.
        before = code[: match.start()].rstrip(" \t")
        if before and before[-1] not in "|;{(\n":
            add(None, "ternary operator ? : needs PowerShell 7", _line_col(source, match.start()))

    functions = _defined_functions(root)
    for node in _walk(root):
        if node.type != "command":
            continue
        name_node = next((c for c in node.children if c.type == "command_name"), None)
        expr_node = next((c for c in node.children if c.type == "command_name_expr"), None)
        elements_node = next((c for c in node.children if c.type == "command_elements"), None)
        elements = list(elements_node.children) if elements_node is not None else []
        params = [e for e in elements if e.type == "command_parameter"]
        if name_node is not None:
            command, at = _text(name_node), name_node
        elif expr_node is not None and expr_node.children and expr_node.children[0].type == "string_literal":
            value = _string_value(expr_node.children[0])
            if value is None:
                continue  # reported by _check_code_from_text
            command, at = value, expr_node
        else:
            continue  # & { } runs a literal script block; & $x is reported by _check_code_from_text
        current[:] = [_pos(at, lines)]
        _check_command(command, at, params, elements, functions, catalog, host_script, add)
    current[:] = []

    match = re.search(r"-AsHashtable\b", code, re.I)
    if match and not any("AsHashtable" in f.message for f in findings):
        line, col = _line_col(source, match.start())
        context = code[max(0, code.rfind("\n", 0, match.start())) : match.start()]
        if "group-object" not in context.lower():
            add(None, "-AsHashtable (ConvertFrom-Json) needs PowerShell 6.0; walk PSObject.Properties instead", (line, col))

    _check_code_from_text(root, add)

    # String literals naming cmdlets must name cmdlets that run here: built in or defined in this text.
    for node in _walk(root):
        if node.type != "string_literal":
            continue
        value = _string_value(node)
        if value is None:
            continue
        match = CMDLET_NAME.match(value)
        if not match or match.group(1) not in APPROVED_VERBS:
            continue
        if catalog.find(value) is not None:
            add(node, f"{value!r} names an Exchange cmdlet in a PowerShell text; Exchange cmdlets are sent only with "
                "call(), to the Exchange endpoint")
        elif _builtin(value) is None and value.lower() not in functions:
            add(node, f"{value!r} names a cmdlet that is neither built in nor defined here")

    if host_script:
        declared = _check_param_block(root, parameters, add) if parameters is not None else set()
        if parameters is None:
            first = next((c for c in root.children if c.type != "comment"), None)
            if first is not None and first.type == "param_block":
                declared = {name.lower() for _n, name, _t, _m in declared_parameters(first)}
        _check_variables(root, declared, add)
    return sorted(findings, key=lambda f: (f.line, f.column))


def check_host_script(text: str, name: str, catalog: Catalog, parameters: dict[str, tuple[str, bool]]) -> list[Finding]:
    return check_text(text, name, catalog, host_script=True, parameters=parameters)


def _load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_catalog(root: Path) -> Catalog:
    path = root / CATALOG_FILE
    if not path.exists():
        return Catalog({})
    module = _load_module(path, f"_ps_check_catalog_{abs(hash(str(root)))}")
    for attr in ("EXCHANGE_CMDLETS", "CATALOG"):
        data = getattr(module, attr, None)
        if isinstance(data, dict):
            return Catalog(data)
    raise RuntimeError(f"{path} defines neither EXCHANGE_CMDLETS nor CATALOG")


def _assignment_line(path: Path, name: str) -> int:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return 1
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return node.lineno
    return 1


def load_host_scripts(root: Path) -> tuple[HostScripts | None, list[Finding]]:
    """HOST_SCRIPTS, HOST_SCRIPT_PARAMETERS and HOST_CMDLETS of _host_scripts.py, with findings on their shape."""
    path = root / HOST_SCRIPTS_FILE
    if not path.exists():
        return None, [Finding(HOST_SCRIPTS_FILE, 1, 1, "missing: the host scripts and HOST_CMDLETS live there")]
    module = _load_module(path, f"_ps_check_host_scripts_{abs(hash(str(root)))}")
    findings = []

    def add(attr: str, message: str) -> None:
        findings.append(Finding(f"{HOST_SCRIPTS_FILE}:{attr}", _assignment_line(path, attr), 1, message))

    scripts = getattr(module, "HOST_SCRIPTS", None)
    parameters = getattr(module, "HOST_SCRIPT_PARAMETERS", None)
    cmdlets = getattr(module, "HOST_CMDLETS", None)
    if not isinstance(scripts, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in scripts.items()):
        add("HOST_SCRIPTS", "must be a dict of script name -> PowerShell text")
        scripts = {}
    if not isinstance(parameters, dict):
        add("HOST_SCRIPT_PARAMETERS", "must be a dict of script name -> {parameter: (type, mandatory)}")
        parameters = {}
    if not isinstance(cmdlets, (tuple, list)) or not all(isinstance(c, str) for c in cmdlets):
        add("HOST_CMDLETS", "must be a tuple of cmdlet names")
        cmdlets = ()
    clean: dict[str, dict[str, tuple[str, bool]]] = {}
    for script, spec in parameters.items():
        if not isinstance(spec, dict) or not all(
            isinstance(v, (tuple, list)) and len(v) == 2 and isinstance(v[0], str) and isinstance(v[1], bool)
            for v in spec.values()
        ):
            add("HOST_SCRIPT_PARAMETERS", f"{script}: must map each parameter to (type, mandatory)")
            continue
        clean[script] = {name: (v[0], v[1]) for name, v in spec.items()}
    for script in sorted(set(scripts) - set(parameters)):
        add("HOST_SCRIPT_PARAMETERS", f"has no entry for host script {script!r}")
    for script in sorted(set(parameters) - set(scripts)):
        add("HOST_SCRIPT_PARAMETERS", f"lists {script!r}, which HOST_SCRIPTS does not have")
    return HostScripts(dict(scripts), clean, tuple(cmdlets)), findings


def host_cmdlet_problems(host: HostScripts, catalog: Catalog) -> list[str]:
    problems = []
    for cmdlet in host.cmdlets:
        if catalog.find(cmdlet) is not None:
            problems.append(f"{cmdlet} is an Exchange cmdlet: HOST_CMDLETS run on the default endpoint, which has no "
                            "Exchange snap-in")
        elif cmdlet not in BUILTIN_COMMANDS:
            problems.append(f"{cmdlet} is not a Windows PowerShell 5.1 built-in cmdlet (full name, as Microsoft spells it)")
        elif cmdlet in FORBIDDEN_COMMANDS or cmdlet in HOST_FORBIDDEN_COMMANDS:
            problems.append(f"{cmdlet}: {FORBIDDEN_COMMANDS.get(cmdlet) or HOST_FORBIDDEN_COMMANDS[cmdlet]}")
        elif cmdlet not in HOST_CMDLET_PARAMETERS:
            problems.append(f"{cmdlet}: add its Windows PowerShell 5.1 parameters to ps_static_check.HOST_CMDLET_PARAMETERS "
                            "so its call() sites can be checked")
    return problems


def collect_texts(root: Path, host: HostScripts | None) -> list[PowerShellText]:
    texts: list[PowerShellText] = []
    if host is not None:
        for name, text in host.scripts.items():
            texts.append(PowerShellText(f"{HOST_SCRIPTS_FILE}:HOST_SCRIPTS[{name}]", text, host.parameters.get(name, {})))
    for base in SHIPPED_DIRS:
        for path in sorted((root / base).rglob("*")):
            if path.suffix.lower() in (".ps1", ".psm1") and not EXCLUDED_DIRS.intersection(path.relative_to(root).parts):
                texts.append(PowerShellText(str(path.relative_to(root)), path.read_text(encoding="utf-8-sig")))
    return texts


# -- Python: what the modules send

def _python_files(root: Path) -> list[Path]:
    return [
        p for p in sorted((root / "plugins").rglob("*.py")) if not EXCLUDED_DIRS.intersection(p.relative_to(root).parts)
    ]


def _client_names(tree: ast.Module, is_exchange: bool) -> tuple[dict[str, str], set[str]]:
    """Local names of _exchange.call/host_script ({local: "call"|"host_script"}) and of the _exchange module."""
    functions: dict[str, str] = {}
    modules: set[str] = set()
    if is_exchange:
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name in ("call", "host_script"):
                functions[node.name] = node.name
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            last = node.module.rsplit(".", 1)[-1]
            for alias in node.names:
                if last == "_exchange" and alias.name in ("call", "host_script"):
                    functions[alias.asname or alias.name] = alias.name
                elif alias.name == "_exchange":
                    modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.rsplit(".", 1)[-1] == "_exchange":
                    modules.add(alias.asname or alias.name)
    return functions, modules


def _literal_name(node: ast.Call, keyword: str) -> tuple[bool, str | None]:
    """(given, value): the first argument (or the keyword) when it is a string literal."""
    target = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == keyword), None)
    if target is None:
        return False, None
    if isinstance(target, ast.Constant) and isinstance(target.value, str):
        return True, target.value
    return True, None


def _keywords(node: ast.Call, reserved: tuple[str, ...]) -> tuple[list[ast.keyword], bool]:
    named = [k for k in node.keywords if k.arg is not None and k.arg not in reserved]
    return named, any(k.arg is None for k in node.keywords)


def _check_exchange_parameters(cmdlet: str, spec: dict[str, Any], keywords: list[ast.keyword], add) -> None:
    applies = [v for v in TARGET_VERSIONS if v in spec.get("applies_to", [])]
    if not applies:
        add(None, f"{cmdlet} exists on no supported Exchange version ({', '.join(TARGET_VERSIONS)}); "
            f"the catalog says {spec.get('applies_to', [])}")
        return
    parameters = spec.get("parameters", {})
    common = {c.lower() for c in COMMON_PARAMETERS}
    for keyword in keywords:
        if keyword.arg.lower() in common:
            add(keyword, f"{cmdlet} -{keyword.arg}: a common parameter, which call() refuses")
            continue
        resolved = _resolve_parameter(keyword.arg, parameters)
        if resolved is None:
            add(keyword, f"{cmdlet} has no parameter -{keyword.arg} (catalog)")
            continue
        pspec = parameters[resolved]
        versions = [v for v in applies if v in pspec.get("applies_to", applies)]
        if not versions:
            add(keyword, f"{cmdlet} -{resolved} exists on no supported Exchange version "
                f"(the parameter applies to {pspec.get('applies_to')})")


def check_python(root: Path, catalog: Catalog, host: HostScripts | None) -> tuple[list[Finding], int, int]:
    """call()/host_script()/add_script() sites of plugins/**/*.py; returns (findings, sites, files)."""
    findings: list[Finding] = []
    sites = 0
    files = _python_files(root)
    host_cmdlets = host.cmdlets if host is not None else ()
    scripts = host.scripts if host is not None else {}
    script_parameters = host.parameters if host is not None else {}
    for path in files:
        rel = str(path.relative_to(root))
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
        except SyntaxError as err:
            findings.append(Finding(rel, err.lineno or 1, err.offset or 1, f"cannot parse: {err.msg}"))
            continue
        functions, modules = _client_names(tree, rel == "plugins/module_utils/_exchange.py")
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue

            def add(at: Any, message: str, node: ast.Call = node) -> None:
                where = at if at is not None and hasattr(at, "lineno") else node
                findings.append(Finding(rel, where.lineno, where.col_offset + 1, message))

            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == "add_script":
                argument = node.args[0] if len(node.args) == 1 and not node.keywords else None
                base = argument.value if isinstance(argument, ast.Subscript) else None
                if not (
                    isinstance(base, ast.Name) and base.id == "HOST_SCRIPTS"
                    or isinstance(base, ast.Attribute) and base.attr == "HOST_SCRIPTS"
                ):
                    add(None, "add_script() with something other than HOST_SCRIPTS[...]: the only PowerShell text "
                        "sent is a fixed host script")
                continue
            kind = None
            if isinstance(func, ast.Name) and func.id in functions:
                kind = functions[func.id]
            elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in modules:
                kind = func.attr if func.attr in ("call", "host_script") else None
            if kind is None:
                continue
            sites += 1
            given, name = _literal_name(node, "cmdlet" if kind == "call" else "name")
            if name is None:
                add(None, f"{kind}() with a name computed at run time: write the name as a string literal so this "
                    "check can see what is sent" if given else f"{kind}() without a name")
                continue
            if kind == "host_script":
                keywords, splat = _keywords(node, ("name", "properties"))
                if name not in scripts:
                    add(None, f'host_script("{name}"): not a script of HOST_SCRIPTS ({", ".join(sorted(scripts))})')
                    continue
                declared = script_parameters.get(name, {})
                for keyword in keywords:
                    if keyword.arg not in declared:
                        add(keyword, f'host_script("{name}") passes -{keyword.arg}, which its param() block '
                            "(HOST_SCRIPT_PARAMETERS) does not declare")
                if not splat:
                    passed = {k.arg for k in keywords}
                    for pname, (_type, mandatory) in declared.items():
                        if mandatory and pname not in passed:
                            add(None, f'host_script("{name}") lacks its mandatory parameter -{pname}')
                continue
            keywords, _splat = _keywords(node, ("cmdlet", "properties"))
            if name in host_cmdlets:
                known = HOST_CMDLET_PARAMETERS.get(name, {})
                for keyword in keywords:
                    if _resolve_parameter(keyword.arg, known) is None:
                        add(keyword, f"{name} has no parameter -{keyword.arg} (Windows PowerShell 5.1)")
                continue
            found = catalog.find(name)
            if found is None:
                reason = FORBIDDEN_COMMANDS.get(_builtin(name) or "")
                add(None, f'call("{name}"): neither an Exchange cmdlet of the catalog nor one of HOST_CMDLETS '
                    f"({', '.join(host_cmdlets) or 'none'})" + (f"; {reason}" if reason else ""))
                continue
            if found[0] != name:
                add(None, f'call("{name}"): write it as the catalog spells it, {found[0]} (the endpoint is chosen by name)')
            _check_exchange_parameters(found[0], found[1], keywords, add)
    return findings, sites, len(files)


def banned_words(root: Path) -> list[Finding]:
    findings = []
    for base in SHIPPED_DIRS:
        for path in sorted((root / base).rglob("*")):
            if not path.is_file() or EXCLUDED_DIRS.intersection(path.relative_to(root).parts):
                continue
            data = path.read_bytes()
            if b"\0" in data[:8192]:
                continue
            text = data.decode("utf-8", errors="replace")
            for pattern, message in BANNED_WORDS:
                for match in pattern.finditer(text):
                    line, col = _line_col(text, match.start())
                    findings.append(Finding(str(path.relative_to(root)), line, col, message))
    return sorted(findings, key=lambda f: (f.source, f.line, f.column))


def run_checks(root: Path) -> Report:
    root = Path(root).resolve()
    report = Report()
    catalog = load_catalog(root)
    host, report.findings = load_host_scripts(root)
    report.host = host
    if not catalog.cmdlets:
        report.findings.append(Finding(CATALOG_FILE, 1, 1, "no cmdlet catalog to check the call() sites against"))
    if host is not None:
        for problem in host_cmdlet_problems(host, catalog):
            report.findings.append(
                Finding(f"{HOST_SCRIPTS_FILE}:HOST_CMDLETS", _assignment_line(root / HOST_SCRIPTS_FILE, "HOST_CMDLETS"), 1, problem)
            )
    report.texts = collect_texts(root, host)
    for item in report.texts:
        report.findings.extend(check_text(item.text, item.name, catalog, parameters=item.parameters))
    python_findings, report.call_sites, report.python_files = check_python(root, catalog, host)
    report.findings.extend(python_findings)
    report.findings.extend(banned_words(root))
    return report


def check_collection(root: Path) -> tuple[list[Finding], list[PowerShellText]]:
    report = run_checks(root)
    return report.findings, report.texts


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else Path(__file__).resolve().parents[2]
    report = run_checks(root)
    for finding in report.findings:
        print(finding)
    cmdlets = ", ".join(report.host.cmdlets) if report.host is not None and report.host.cmdlets else "none"
    print(f"ps_static_check: {report.call_sites} call()/host_script() site(s) in {report.python_files} Python file(s) "
          f"checked against the Exchange cmdlet catalog, HOST_CMDLETS ({cmdlets}) and HOST_SCRIPT_PARAMETERS")
    names = ", ".join(t.name for t in report.texts) or "none"
    status = "FAILED" if report.findings else "ok"
    print(f"ps_static_check: {len(report.texts)} PowerShell text(s) checked ({names}): "
          f"{len(report.findings)} finding(s), {status}")
    return 1 if report.findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
