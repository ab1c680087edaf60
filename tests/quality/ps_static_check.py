# Copyright (c) exchange.hybrid contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Static check of every PowerShell text the collection ships.

Texts: the string constants ``BOOTSTRAP`` and ``RUNNER`` of ``plugins/module_utils/_runner_script.py`` and every
``*.ps1``/``*.psm1`` file under ``plugins/`` and ``roles/``. Each text is parsed with tree-sitter-powershell after
normalising the Unicode quotes and dashes PowerShell itself honours, and must:

- parse without ERROR or MISSING nodes;
- use nothing newer than Windows PowerShell 3.0 (the runner targets 3.0 to 5.1): no ``&&``/``||`` chains, ternary,
  ``??``/``??=``, ``?.``, ``-AsHashtable`` on ConvertFrom-Json, ``class``/``enum``, ``[T]::new()``, ``.ForEach()``/
  ``.Where()``, PowerShell 6+ parameters of built-in cmdlets;
- give ``ConvertTo-Json`` an explicit ``-Depth`` (the default of 2 silently truncates);
- call only built-in commands (``BUILTIN_COMMANDS``), Exchange cmdlets of the project's catalog that exist on every
  targeted version (2013, 2016, 2019, SE) with parameters that exist on all of them, or functions defined in the
  same text; never Invoke-Expression;
- name in its string literals (the runner's allowlist) only cmdlets that exist: catalog, built-in or defined here.

The ``-EncodedCommand`` command line built from BOOTSTRAP must stay far below cmd.exe's 8191-character limit.

Library: ``check_text()``, ``check_collection()``. CLI: ``python tests/quality/ps_static_check.py [ROOT]``
(exit 1 and one line per finding when something is wrong).

Known grammar limits of tree-sitter-powershell 0.26 (write the texts so they parse; PowerShell accepts both):
bareword lists as command arguments (``Select-Object Name, Fqdn``: write ``-Property @('Name', 'Fqdn')``) and a
``param()`` block followed by a statement on the same line.
"""

from __future__ import annotations

import base64
import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable

TARGET_VERSIONS = ("2013", "2016", "2019", "SE")
CMD_LINE_LIMIT = 8191
# "Far below": the bootstrap must leave room for the shell's own wrapping; half of cmd.exe's limit.
CMD_LINE_BUDGET = CMD_LINE_LIMIT // 2
COMMAND_LINE_PREFIX = "powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand "

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
# with the version that introduced each; anything above 3.0 is reported because the runner must run on 3.0.
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

# Built-in commands that exist but are refused: values never become code.
FORBIDDEN_COMMANDS: dict[str, str] = {
    "Invoke-Expression": "values never become code; run fixed text with [ScriptBlock]::Create",
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
    ascii_only: bool = False


@dataclass
class Catalog:
    cmdlets: dict[str, dict[str, Any]]

    def find(self, name: str) -> tuple[str, dict[str, Any]] | None:
        for key, value in self.cmdlets.items():
            if key.lower() == name.lower():
                return key, value
        return None


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


def _pos(node: Any) -> tuple[int, int]:
    return node.start_point[0] + 1, node.start_point[1] + 1


def _string_value(node: Any) -> str | None:
    """The value of a constant string literal ('x', "x" without $ expansion), else None."""
    raw = _text(node)
    if len(raw) >= 2 and raw[0] == raw[-1] == "'":
        return raw[1:-1].replace("''", "'")
    if len(raw) >= 2 and raw[0] == raw[-1] == '"' and "$" not in raw and "`" not in raw:
        return raw[1:-1]
    return None


def _code_only(text: str, root: Any) -> str:
    """The text with string literals and comments blanked (same offsets), for token-level scans."""
    chars = list(text.encode("utf-8"))
    for node in _walk(root):
        if node.type in ("string_literal", "comment"):
            for i in range(node.start_byte, node.end_byte):
                if chars[i] not in (10, 13):
                    chars[i] = 32
    return bytes(chars).decode("utf-8", errors="replace")


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


def _check_exchange_call(cmdlet: str, spec: dict[str, Any], params: list[Any], add) -> None:
    missing = [v for v in TARGET_VERSIONS if v not in spec.get("applies_to", [])]
    if missing:
        add(params[0] if params else None, f"{cmdlet} does not exist on Exchange {', '.join(missing)}")
    parameters = spec.get("parameters", {})
    for node in params:
        name = _param_name(node)
        if name in COMMON_PARAMETERS or name.lower() in (c.lower() for c in COMMON_PARAMETERS):
            continue
        resolved = _resolve_parameter(name, parameters)
        if resolved is None:
            add(node, f"{cmdlet} has no parameter -{name} (write the full parameter name from the catalog)")
            continue
        pspec = parameters[resolved]
        applies = pspec.get("applies_to", spec.get("applies_to", []))
        lacking = [v for v in TARGET_VERSIONS if v not in applies]
        if lacking:
            add(node, f"{cmdlet} -{resolved} does not exist on Exchange {', '.join(lacking)}")
        elif pspec.get("min_build"):
            add(node, f"{cmdlet} -{resolved} needs a minimum build {pspec['min_build']}; not on every targeted server")


def _check_builtin_call(cmdlet: str, params: list[Any], elements: list[Any], add) -> None:
    later = {k.lower(): (k, v) for k, v in LATER_PARAMETERS.get(cmdlet, {}).items()}
    names = [_param_name(p) for p in params]
    for node, name in zip(params, names):
        lname = name.lower()
        for key, (full, version) in later.items():
            # PowerShell accepts unambiguous prefixes, so -AsHash is -AsHashtable.
            if key == lname or (len(lname) >= 3 and key.startswith(lname) and cmdlet == "ConvertFrom-Json"):
                add(node, f"{cmdlet} -{full} needs PowerShell {version}; the runner must run on Windows PowerShell 3.0")
        common = {c.lower(): (c, v) for c, v in COMMON_PARAMETERS.items()}
        if lname in common and _later_than_3(common[lname][1]):
            add(node, f"common parameter -{common[lname][0]} needs PowerShell {common[lname][1]}")
    if cmdlet == "ConvertTo-Json" and "depth" not in (n.lower() for n in names):
        add(None, "ConvertTo-Json without -Depth (its default of 2 silently truncates)")
    for i, node in enumerate(params):
        if _param_name(node).lower() == "encoding":
            following = [e for e in elements if e.start_byte > node.end_byte and e.type != "command_argument_sep"]
            if following:
                value = _text(following[0]).strip("'\"").lower()
                if value in LATER_ENCODINGS:
                    add(node, f"-Encoding {value} needs PowerShell {LATER_ENCODINGS[value]}")


def check_text(text: str, name: str, catalog: Catalog, ascii_only: bool = False) -> list[Finding]:
    findings: list[Finding] = []
    if ascii_only:
        for offset, char in enumerate(text):
            if ord(char) > 0x7F:
                line, col = _line_col(text, offset)
                findings.append(
                    Finding(name, line, col, f"non-ASCII character U+{ord(char):04X} (the runner protocol is ASCII)")
                )
    source = normalise(text)
    tree = _parser().parse(source.encode("utf-8"))
    root = tree.root_node

    def add(node: Any, message: str, where: tuple[int, int] | None = None) -> None:
        line, col = where or (_pos(node) if node is not None else (current[0] if current else (1, 1)))
        findings.append(Finding(name, line, col, message))

    current: list[tuple[int, int]] = []
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
            command = _text(name_node)
            at = name_node
        elif expr_node is not None and expr_node.children and expr_node.children[0].type == "string_literal":
            value = _string_value(expr_node.children[0])
            if value is None:
                continue
            command, at = value, expr_node
        else:
            continue  # & $scriptBlock / . $x: dynamic, nothing to resolve
        current[:] = [_pos(at)]
        _check_command(command, at, params, elements, functions, catalog, add)

    if re.search(r"-AsHashtable\b", code, re.I) and not any("AsHashtable" in f.message for f in findings):
        offset = re.search(r"-AsHashtable\b", code, re.I).start()
        line, col = _line_col(source, offset)
        context = code[max(0, code.rfind("\n", 0, offset)) : offset]
        if "group-object" not in context.lower():
            add(None, "-AsHashtable (ConvertFrom-Json) needs PowerShell 6.0; walk PSObject.Properties instead", (line, col))

    # String literals naming cmdlets (the runner's allowlist) must name cmdlets that exist.
    for node in _walk(root):
        if node.type != "string_literal":
            continue
        value = _string_value(node)
        if value is None:
            continue
        match = CMDLET_NAME.match(value)
        if not match or match.group(1) not in APPROVED_VERBS:
            continue
        if catalog.find(value) is None and _builtin(value) is None and value.lower() not in functions:
            add(node, f"{value!r} names a cmdlet that is neither in the Exchange catalog, built in, nor defined here")
    return findings


def _builtin(name: str) -> str | None:
    for key in BUILTIN_COMMANDS:
        if key.lower() == name.lower():
            return key
    alias = BUILTIN_ALIASES.get(name.lower())
    return alias


def _check_command(command, at, params, elements, functions, catalog, add) -> None:
    if command.lower() in functions:
        return
    builtin = _builtin(command)
    if builtin is not None:
        if builtin in FORBIDDEN_COMMANDS:
            add(at, f"{command}: {FORBIDDEN_COMMANDS[builtin]}")
            return
        version = BUILTIN_COMMANDS.get(builtin, "3.0")
        if _later_than_3(version):
            add(at, f"{builtin} needs PowerShell {version}; the runner must run on Windows PowerShell 3.0")
        _check_builtin_call(builtin, params, elements, lambda n, m: add(n if n is not None else at, m))
        return
    found = catalog.find(command)
    if found is not None:
        _check_exchange_call(found[0], found[1], params, lambda n, m: add(n if n is not None else at, m))
        return
    add(at, f"unknown command {command!r}: not a PowerShell built-in, an Exchange cmdlet of the catalog, or a function defined here")


def _load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_catalog(root: Path) -> Catalog:
    path = root / "plugins" / "module_utils" / "_cmdlet_catalog.py"
    if not path.exists():
        return Catalog({})
    module = _load_module(path, f"_ps_check_catalog_{abs(hash(str(root)))}")
    for attr in ("EXCHANGE_CMDLETS", "CATALOG"):
        data = getattr(module, attr, None)
        if isinstance(data, dict):
            return Catalog(data)
    raise RuntimeError(f"{path} defines neither EXCHANGE_CMDLETS nor CATALOG")


EXCLUDED_DIRS = {".venv", ".git", "tests", "__pycache__", "build", ".tox", ".nox"}


def collect_texts(root: Path) -> tuple[list[PowerShellText], ModuleType | None]:
    texts: list[PowerShellText] = []
    runner_module = None
    runner_path = root / "plugins" / "module_utils" / "_runner_script.py"
    if runner_path.exists():
        runner_module = _load_module(runner_path, f"_ps_check_runner_{abs(hash(str(root)))}")
        for attr in ("BOOTSTRAP", "RUNNER"):
            value = getattr(runner_module, attr, None)
            if not isinstance(value, str):
                raise RuntimeError(f"{runner_path} must define the string constant {attr}")
            texts.append(PowerShellText(f"{runner_path.relative_to(root)}:{attr}", value, ascii_only=True))
    for base in ("plugins", "roles", "playbooks"):
        for path in sorted((root / base).rglob("*")):
            if path.suffix.lower() in (".ps1", ".psm1") and not EXCLUDED_DIRS.intersection(path.relative_to(root).parts):
                texts.append(PowerShellText(str(path.relative_to(root)), path.read_text(encoding="utf-8-sig")))
    return texts, runner_module


def encoded_command_line(bootstrap: str) -> str:
    return COMMAND_LINE_PREFIX + base64.b64encode(bootstrap.encode("utf-16-le")).decode("ascii")


def check_collection(root: Path) -> tuple[list[Finding], list[PowerShellText]]:
    root = Path(root).resolve()
    catalog = load_catalog(root)
    texts, runner_module = collect_texts(root)
    findings: list[Finding] = []
    if runner_module is not None and not catalog.cmdlets:
        findings.append(Finding("plugins/module_utils/_cmdlet_catalog.py", 1, 1, "no cmdlet catalog to check against"))
    for item in texts:
        findings.extend(check_text(item.text, item.name, catalog, ascii_only=item.ascii_only))
    if runner_module is not None:
        # The command line the client really sends, when the module builds it; else the documented one.
        builder = getattr(runner_module, "command_line", None)
        line = builder() if callable(builder) else encoded_command_line(runner_module.BOOTSTRAP)
        if "-EncodedCommand" not in line:
            findings.append(Finding("plugins/module_utils/_runner_script.py:command_line", 1, 1, "no -EncodedCommand"))
        if len(line) > CMD_LINE_BUDGET:
            findings.append(
                Finding(
                    "plugins/module_utils/_runner_script.py:BOOTSTRAP", 1, 1,
                    f"-EncodedCommand command line is {len(line)} characters; keep it under {CMD_LINE_BUDGET} "
                    f"(cmd.exe refuses more than {CMD_LINE_LIMIT})",
                )
            )
        # A Python-side allowlist, if the module keeps one, must name catalog cmdlets or built-ins only.
        functions = set()
        for item in texts:
            if item.name.endswith(":RUNNER") or item.name.endswith(":BOOTSTRAP"):
                functions |= _defined_functions(_parser().parse(normalise(item.text).encode("utf-8")).root_node)
        for attr in dir(runner_module):
            value = getattr(runner_module, attr)
            if "ALLOW" in attr.upper() and isinstance(value, (list, tuple, set, frozenset)):
                for cmdlet in sorted(value):
                    if not isinstance(cmdlet, str):
                        continue
                    if catalog.find(cmdlet) is None and _builtin(cmdlet) is None and cmdlet.lower() not in functions:
                        findings.append(
                            Finding(f"plugins/module_utils/_runner_script.py:{attr}", 1, 1,
                                    f"{cmdlet!r} is allowlisted but is neither in the catalog, built in, nor defined in the runner")
                        )
    return findings, texts


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else Path(__file__).resolve().parents[2]
    findings, texts = check_collection(root)
    for finding in findings:
        print(finding)
    names = ", ".join(t.name for t in texts) or "none"
    status = "FAILED" if findings else "ok"
    bootstrap = next((t.text for t in texts if t.name.endswith(":BOOTSTRAP")), None)
    if bootstrap is not None:
        print(f"ps_static_check: -EncodedCommand command line {len(encoded_command_line(bootstrap))} characters "
              f"(budget {CMD_LINE_BUDGET}, cmd.exe limit {CMD_LINE_LIMIT})")
    print(f"ps_static_check: {len(texts)} PowerShell text(s) checked ({names}): {len(findings)} finding(s), {status}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
