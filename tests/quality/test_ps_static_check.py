# Copyright (c) exchange.hybrid contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The static PowerShell check: its rules, the real collection, and planted defects that make the gate fail."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import ps_static_check as psc

ROOT = Path(__file__).resolve().parents[2]
CHECK = Path(psc.__file__)
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "planted"
CATALOG = psc.Catalog(
    {
        "Get-ExchangeServer": {
            "applies_to": ["2013", "2016", "2019", "SE"],
            "parameters": {"Identity": {"type": "ServerIdParameter"}, "Status": {"type": "SwitchParameter"}},
        },
        "New-AuthServer": {
            "applies_to": ["2013", "2016", "2019", "SE"],
            "parameters": {
                "Name": {"type": "String"},
                "DomainName": {"type": "MultiValuedProperty", "min_build": [[15, 1, 2106, 2]]},
                "Cloud": {"type": "String", "applies_to": ["2016", "2019", "SE"]},
                "Legacy": {"type": "String", "applies_to": ["2010"]},
                "Confirm": {"type": "SwitchParameter", "aliases": ["cf"]},
            },
        },
        "Get-SettingOverride": {"applies_to": ["2016", "2019", "SE"], "parameters": {}},
        "Get-OldThing": {"applies_to": ["2010"], "parameters": {}},
    }
)
PARAMETERS = {"Path": ("String", True), "Base64Content": ("String", True), "CheckOnly": ("Switch", False)}

CLEAN = """function Set-FileContent {
    param([string]$Target, [string]$Content)
    [System.IO.File]::WriteAllBytes($Target, [System.Convert]::FromBase64String($Content))
}
$known = @('Get-Service', 'Set-FileContent')
$request = ConvertFrom-Json -InputObject '{"a": 1}'
$table = @{}
foreach ($property in $request.PSObject.Properties) { $table[$property.Name] = $property.Value }
$services = Get-Service -Name 'W32Time' -ErrorAction Stop
$names = $services | ? { $_.Name } | % { $_.Name }
& { param($x) $x } 1
& 'Get-Date'
$json = ConvertTo-Json -InputObject @($names) -Depth 4 -Compress
[Console]::Out.Write($json)
"""

CLEAN_HOST = """param(
    [Parameter(Mandatory = $true)][string]$Path,
    [Parameter(Mandatory)][string]$Base64Content,
    [switch]$CheckOnly
)
$ErrorActionPreference = 'Stop'
$bytes = [Convert]::FromBase64String($Base64Content)
$changed = $true
if (Test-Path -LiteralPath $Path -PathType Leaf) {
    $changed = [Convert]::ToBase64String([IO.File]::ReadAllBytes($Path)) -ne $Base64Content
}
foreach ($item in @(1, 2)) { $last = $item }
Get-Date -OutVariable stamp | Out-Null
if ($changed -and -not $CheckOnly) { [IO.File]::WriteAllBytes($Path, $bytes) }
New-Object -TypeName PSObject -Property @{ Path = $Path; Changed = $changed; At = $stamp; Last = $last; Host = $env:COMPUTERNAME }
"""


def messages(text: str) -> list[str]:
    return [f.message for f in psc.check_text(text, "t", CATALOG)]


def host_messages(text: str, parameters: dict | None = None) -> list[str]:
    return [f.message for f in psc.check_host_script(text, "t", CATALOG, PARAMETERS if parameters is None else parameters)]


def test_clean_texts_have_no_findings() -> None:
    assert messages(CLEAN) == []
    assert host_messages(CLEAN_HOST) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("if ($a) { Get-Date", "parse error: missing '}'"),
        ("$x = (1 + ", "parse error"),
        ("Get-Date && Get-Date", "&& or || needs PowerShell 7"),
        ("Get-Date || Get-Date", "&& or || needs PowerShell 7"),
        ("$a = $b ? 1 : 2", "ternary operator"),
        ("$a = $b ?? 3", "null-coalescing"),
        ("$a ??= 3", "null-coalescing"),
        ("$n = $a?.Name", "null-conditional"),
        ("$o = ConvertFrom-Json -InputObject $t -AsHashtable", "ConvertFrom-Json -AsHashtable needs PowerShell 6.0"),
        ("$o = ConvertFrom-Json -InputObject $t -AsHash", "ConvertFrom-Json -AsHashtable needs PowerShell 6.0"),
        ("$o | ConvertTo-Json -Compress", "ConvertTo-Json without -Depth"),
        ("$s = [System.Text.StringBuilder]::new()", "[Type]::new() needs PowerShell 5.0"),
        ("$l.ForEach({ $_ })", ".ForEach()/.Where() methods need PowerShell 4.0"),
        ("class Foo {\n[string]$a\n}", "class definitions need PowerShell 5.0"),
        ("Get-Date -InformationAction Stop", "-InformationAction needs PowerShell 5.0"),
        ("Set-Content -Path x -Value y -Encoding utf8NoBOM", "-Encoding utf8nobom needs PowerShell 6.0"),
        ("Get-Date | Select-Object -SkipLast 1", "Select-Object -SkipLast needs PowerShell 5.0"),
        ("$f = New-TemporaryFile", "New-TemporaryFile needs PowerShell 5.0"),
        ("iex $x", "values never become code"),
        ("Invoke-Expression -Command $x", "values never become code"),
        ("$b = [ScriptBlock]::Create($x)", "[ScriptBlock]::Create turns a string into code"),
        ("$b = [System.Management.Automation.ScriptBlock]::Create($x)", "[ScriptBlock]::Create turns a string"),
        ("$p = [PowerShell]::Create().AddScript($x)", ".AddScript() turns a string into code"),
        ("$ExecutionContext.InvokeCommand.ExpandString($x)", "$ExecutionContext"),
        ("& $x", "& with '$x' runs whatever the value names"),
        (". $x", ". with '$x' runs whatever the value names"),
        ('& "Get-$x"', "runs whatever the value names"),
        ("& (Get-Command $x)", "runs whatever the value names"),
        ("Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn", "the Exchange snap-in is never loaded"),
        ("Get-ExchangeServer -Identity x", "Exchange cmdlet Get-ExchangeServer in a PowerShell text"),
        ("& 'Get-ExchangeServer'", "Exchange cmdlet Get-ExchangeServer in a PowerShell text"),
        ("Get-Nope -X 1", "unknown command 'Get-Nope'"),
        ("& 'Get-Nope'", "unknown command 'Get-Nope'"),
        ("cmd.exe /c dir", "unknown command 'cmd.exe'"),
        ("$allowed = @('Get-Service', 'Get-Nonexistent')", "'Get-Nonexistent' names a cmdlet that is neither"),
        ("$allowed = @('Get-Service', 'Get-ExchangeServer')", "'Get-ExchangeServer' names an Exchange cmdlet"),
    ],
)
def test_rule_fires(text: str, expected: str) -> None:
    found = messages(text)
    assert any(expected in m for m in found), found


HEADER = "param([Parameter(Mandatory = $true)][string]$Path, [Parameter(Mandatory = $true)][string]$Base64Content, [switch]$CheckOnly)\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Test-Path -LiteralPath 'x'", "starts with a param() block"),
        ("$x = 1\n" + HEADER, "starts with a param() block"),
        (HEADER.replace("[Parameter(Mandatory = $true)][string]$Path", "[string]$Path"),
         "declares $Path with Mandatory=$false; HOST_SCRIPT_PARAMETERS says mandatory"),
        (HEADER.replace("[switch]$CheckOnly", "[Parameter(Mandatory = $true)][switch]$CheckOnly"),
         "declares $CheckOnly with Mandatory=$true; HOST_SCRIPT_PARAMETERS says optional"),
        (HEADER.replace("[switch]$CheckOnly", "[bool]$CheckOnly"),
         "declares $CheckOnly as Boolean; HOST_SCRIPT_PARAMETERS says Switch (write [switch])"),
        (HEADER.replace("[string]$Base64Content", "$Base64Content"),
         "declares $Base64Content as Object; HOST_SCRIPT_PARAMETERS says String"),
        (HEADER.replace("$CheckOnly)", "$CheckOnly, [string]$Extra)"), "declares $Extra, which HOST_SCRIPT_PARAMETERS"),
        (HEADER.replace(", [switch]$CheckOnly", ""), "lists -CheckOnly for this script, but its param() block does not"),
        (HEADER.replace("$Path,", "$path,"), "declares $path; HOST_SCRIPT_PARAMETERS spells it Path"),
        (HEADER + "Write-Output $args[0]", "$args takes values that are not declared parameters"),
        (HEADER + "$input | Out-Null", "$input takes pipeline input"),
        (HEADER + "Write-Output $using:Secret", "$using: variables"),
        (HEADER + "Write-Output $global:Secret", "$global: variables"),
        (HEADER + "Write-Output ${function:Get-Thing}", "reads a provider item"),
        (HEADER + "Write-Output $Content", "$Content is neither a declared parameter, assigned in the script"),
        (HEADER + 'Write-Output "to $Destination"', "$Destination is neither a declared parameter"),
        (HEADER + "Import-Module WebAdministration", "Import-Module in a host script"),
        (HEADER + "Add-Type -TypeDefinition 'x'", "Add-Type in a host script"),
        (HEADER + "Invoke-Command -ComputerName x -ScriptBlock { 1 }", "Invoke-Command in a host script"),
        (HEADER + "Start-Job -ScriptBlock { 1 }", "Start-Job in a host script"),
        (HEADER + "Get-ExchangeServer", "the Exchange snap-in is not loaded and must not be"),
        (HEADER + "Invoke-Expression -Command $Path", "values never become code"),
        (HEADER + "& $Path", "runs whatever the value names"),
    ],
)
def test_host_script_rule_fires(text: str, expected: str) -> None:
    found = host_messages(text)
    assert any(expected in m for m in found), found


def test_host_rules_do_not_apply_to_other_texts() -> None:
    # A .ps1 of a role may take $args (an Ansible PowerShell module does) and import modules.
    assert messages("$a = $args[0]\nImport-Module WebAdministration\nWrite-Output $a") == []


def test_declared_parameters_reads_names_types_and_mandatory() -> None:
    root = psc._parser().parse(
        b"param([Parameter(Mandatory)][string]$A, [Parameter(Position = 0, Mandatory = $false)]$B, "
        b"[System.Management.Automation.SwitchParameter]$C, [Parameter(Mandatory = $true)][System.String]$D)\n"
    ).root_node
    block = root.children[0]
    assert [(name, kind, mandatory) for _node, name, kind, mandatory in psc.declared_parameters(block)] == [
        ("A", "String", True),
        ("B", "Object", False),
        ("C", "Switch", False),
        ("D", "String", True),
    ]


def test_where_object_alias_is_not_a_ternary() -> None:
    assert messages("$x = Get-Date | ? { $_ }\n$y = @(1) |\n    ? { $_ }") == []


def test_unicode_quotes_are_normalised_like_powershell_does() -> None:
    # PowerShell treats U+2018/2019/201A/201B as ' and U+201C/201D/201E as "; mixed pairs are valid strings.
    for text in ("Write-Output \u2018a\u2019", "Write-Output \u201ca\u201d", "Write-Output \u201aa'", "Write-Output \u201ea\""):
        assert messages(text) == [], text
    assert messages("Get-Date \u2013Format 'o'") == []  # an en dash starts a parameter too
    # Without normalisation the grammar sees an unterminated or bare token; with it, a real error still shows.
    assert any("parse error" in m for m in messages("Write-Output \u2018a"))


def test_token_rules_report_the_right_column_after_non_ascii_text() -> None:
    (finding,) = psc.check_text("$a = 'caf\u00e9 \u00e9t\u00e9'; Get-Date && Get-Date", "t", CATALOG)
    assert (finding.line, finding.column) == (1, 27) and "&&" in finding.message


# -- Python: what the modules send


def python_root(tmp_path: Path, module_source: str) -> Path:
    """A collection tree with the fixture's catalog and host scripts and one module holding ``module_source``."""
    root = tmp_path / "collection"
    shutil.copytree(FIXTURE / "plugins" / "module_utils", root / "plugins" / "module_utils")
    (root / "plugins" / "modules").mkdir(parents=True)
    (root / "plugins" / "modules" / "m.py").write_text(module_source, encoding="utf-8")
    return root


def python_messages(tmp_path: Path, body: str, imports: str = "") -> list[str]:
    source = (
        imports
        or "from ansible_collections.fixture.planted.plugins.module_utils._exchange import call, host_script\n"
    ) + body + "\n"
    root = python_root(tmp_path, source)
    catalog = psc.load_catalog(root)
    host, problems = psc.load_host_scripts(root)
    assert problems == []
    findings, _sites, _files = psc.check_python(root, catalog, host)
    return [f"{f.source}:{f.line}: {f.message}" for f in findings]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('call("Invoke-Expression", None, Command="x")', 'call("Invoke-Expression"): neither an Exchange cmdlet'),
        ('call("Invoke-Expression", None, Command="x")', "values never become code"),
        ('call("Add-PSSnapin", None, Name="x")', 'call("Add-PSSnapin"): neither an Exchange cmdlet'),
        ('call("Get-Mailbox")', 'call("Get-Mailbox"): neither an Exchange cmdlet of the catalog nor one of HOST_CMDLETS'),
        ('call("get-exchangeserver")', "write it as the catalog spells it, Get-ExchangeServer"),
        ('call("Get-ExchangeServer", ["Name"], Nope=1)', "Get-ExchangeServer has no parameter -Nope"),
        ('call("Get-ExchangeServer", ["Name"], ErrorAction="Stop")', "-ErrorAction: a common parameter"),
        ('call("Get-Service", ["Name"], Nope="x")', "Get-Service has no parameter -Nope (Windows PowerShell 5.1)"),
        ('name = "Get-ExchangeServer"\ncall(name)', "call() with a name computed at run time"),
        ("call()", "call() without a name"),
        ('host_script("nope")', 'host_script("nope"): not a script of HOST_SCRIPTS'),
        ('host_script("read_file", ["Path"])', 'host_script("read_file") lacks its mandatory parameter -Path'),
        ('host_script("read_file", None, Path="x", Extra=1)', "passes -Extra, which its param() block"),
        ("shell.add_script(text)", "add_script() with something other than HOST_SCRIPTS[...]"),
        ('shell.add_script("Get-Date")', "add_script() with something other than HOST_SCRIPTS[...]"),
    ],
)
def test_python_rule_fires(tmp_path: Path, body: str, expected: str) -> None:
    found = python_messages(tmp_path, body)
    assert any(expected in m and m.startswith("plugins/modules/m.py:") for m in found), found


def test_python_rules_follow_aliases_and_module_imports(tmp_path: Path) -> None:
    found = python_messages(
        tmp_path,
        'c("Get-Nope")\n_exchange.call("Get-Nope2")\nex.host_script("nope")',
        imports=(
            "from ansible_collections.fixture.planted.plugins.module_utils._exchange import call as c\n"
            "from ansible_collections.fixture.planted.plugins.module_utils import _exchange\n"
            "import ansible_collections.fixture.planted.plugins.module_utils._exchange as ex\n"
        ),
    )
    assert [m.split(": ", 1)[0] for m in found] == [f"plugins/modules/m.py:{n}" for n in (4, 5, 6)], found
    assert 'call("Get-Nope")' in found[0] and 'call("Get-Nope2")' in found[1] and 'host_script("nope")' in found[2]


def test_python_clean_sites_pass(tmp_path: Path) -> None:
    body = "\n".join(
        [
            'call("Get-ExchangeServer", ["Name"], Identity="EX01")',
            'call("Get-ExchangeServer", properties=["Name"], Status=True)',
            'call("Get-Service", ["Name"], ServiceName="W32Time")',  # an alias of -Name
            'host_script("read_file", None, **{"Path": "x"})',  # a mapping: mandatory parameters not checked
            'host_script("read_file", None, Path="x", Base64=True)',
            "shell.add_script(HOST_SCRIPTS[entry['cmdlet']])",
            'subprocess.call(["ls"])',  # not the client's call()
            'other.call("Get-Nope")',
        ]
    )
    assert python_messages(tmp_path, body) == []


def test_exchange_parameters_must_exist_on_some_supported_build() -> None:
    found: list[str] = []

    def add(_node, message):
        found.append(message)

    def keywords(source: str) -> list[ast.keyword]:
        return ast.parse(source).body[0].value.keywords

    spec = CATALOG.cmdlets["New-AuthServer"]
    psc._check_exchange_parameters("New-AuthServer", spec, keywords("f(Name='x', Cloud='y', DomainName='z', cf=True)"), add)
    assert found == []  # Cloud (2016+), DomainName (min_build) and the alias cf exist on some supported build
    psc._check_exchange_parameters("New-AuthServer", spec, keywords("f(Legacy='x')"), add)
    assert found == ["New-AuthServer -Legacy exists on no supported Exchange version (the parameter applies to ['2010'])"]
    found.clear()
    psc._check_exchange_parameters("Get-OldThing", CATALOG.cmdlets["Get-OldThing"], [], add)
    assert found and "exists on no supported Exchange version" in found[0]


@pytest.mark.parametrize(
    ("cmdlets", "expected"),
    [
        (("Get-ExchangeServer",), "is an Exchange cmdlet"),
        (("Get-Nope",), "not a Windows PowerShell 5.1 built-in"),
        (("gsv",), "not a Windows PowerShell 5.1 built-in"),  # an alias, not the cmdlet's name
        (("Invoke-Expression",), "values never become code"),
        (("Invoke-Command",), "reaches no other endpoint"),
        (("Get-Process",), "add its Windows PowerShell 5.1 parameters"),
    ],
)
def test_host_cmdlets_must_be_checkable_builtins(cmdlets: tuple[str, ...], expected: str) -> None:
    problems = psc.host_cmdlet_problems(psc.HostScripts({}, {}, cmdlets), CATALOG)
    assert any(expected in p for p in problems), problems
    assert psc.host_cmdlet_problems(psc.HostScripts({}, {}, ("Get-Service", "Restart-Service")), CATALOG) == []


def test_host_script_parameters_must_cover_exactly_the_scripts(tmp_path: Path) -> None:
    (tmp_path / "plugins" / "module_utils").mkdir(parents=True)
    path = tmp_path / "plugins" / "module_utils" / "_host_scripts.py"
    path.write_text(
        "HOST_SCRIPTS = {'a': 'param()', 'b': 'param()'}\n"
        "HOST_SCRIPT_PARAMETERS = {'a': {}, 'c': {}, 'd': {'X': 'String'}}\nHOST_CMDLETS = ()\n",
        encoding="utf-8",
    )
    _host, problems = psc.load_host_scripts(tmp_path)
    text = [str(p) for p in problems]
    assert any("has no entry for host script 'b'" in p for p in text), text
    assert any("lists 'c', which HOST_SCRIPTS does not have" in p for p in text), text
    assert any("d: must map each parameter to (type, mandatory)" in p for p in text), text
    assert all(p.startswith("plugins/module_utils/_host_scripts.py:HOST_SCRIPT_PARAMETERS:2:") for p in text), text
    path.unlink()
    assert "missing" in str(psc.load_host_scripts(tmp_path)[1][0])


def test_banned_words_of_the_old_design(tmp_path: Path) -> None:
    (tmp_path / "plugins" / "modules").mkdir(parents=True)
    (tmp_path / "plugins" / "modules" / "m.py").write_text(
        "# ok\nX = 'powershell.exe -NoProfile -EncodedCommand abc'\n# add-pssnapin Microsoft.Exchange\n", encoding="utf-8"
    )
    (tmp_path / "roles" / "r" / "tasks").mkdir(parents=True)
    (tmp_path / "roles" / "r" / "tasks" / "main.yml").write_text("- ansible.builtin.raw: PowerShell.EXE -c 1\n", encoding="utf-8")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "t.py").write_text("Add-PSSnapin\n", encoding="utf-8")  # tests may name the old design
    found = [str(f) for f in psc.banned_words(tmp_path)]
    assert [f.split(": ", 1)[0] for f in found] == [
        "plugins/modules/m.py:2:6",
        "plugins/modules/m.py:2:32",
        "plugins/modules/m.py:3:3",
        "roles/r/tasks/main.yml:1:24",
    ], found


# -- the real collection


def test_real_collection_passes() -> None:
    """The gate itself: every PowerShell text and every call() site the collection ships passes the check."""
    report = psc.run_checks(ROOT)
    assert not report.findings, "\n".join(str(f) for f in report.findings)
    from ansible_collections.exchange.hybrid.plugins.module_utils import _host_scripts

    names = [t.name for t in report.texts]
    for script in _host_scripts.HOST_SCRIPTS:
        assert f"plugins/module_utils/_host_scripts.py:HOST_SCRIPTS[{script}]" in names
    assert all(t.parameters == _host_scripts.HOST_SCRIPT_PARAMETERS[t.name.split("[")[1][:-1]] for t in report.texts if t.is_host_script)
    # Not a vacuous pass: the modules' call() sites were found and checked.
    assert report.call_sites >= 30 and report.python_files >= 10, (report.call_sites, report.python_files)
    assert not (ROOT / "plugins" / "module_utils" / "_runner_script.py").exists()


def test_real_host_texts_and_cmdlets_go_to_the_default_endpoint_only() -> None:
    from ansible_collections.exchange.hybrid.plugins.module_utils import _cmdlet_catalog, _exchange, _host_scripts

    for name in _host_scripts.HOST_SCRIPTS:
        assert _exchange.endpoint_for(_exchange.host_script(name)) == _exchange.ENDPOINT_HOST
    for cmdlet in _host_scripts.HOST_CMDLETS:
        assert not _cmdlet_catalog.is_exchange_cmdlet(cmdlet)
        assert _exchange.endpoint_for(_exchange.call(cmdlet)) == _exchange.ENDPOINT_HOST
    assert _exchange.endpoint_for(_exchange.call("Get-ExchangeServer")) == _exchange.ENDPOINT_EXCHANGE


# -- the gate's CLI on the planted fixture collection


def run_cli(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CHECK), str(root)], capture_output=True, text=True, check=False)


def replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not once in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


HOST = "plugins/module_utils/_host_scripts.py"
BAD_MODULE = '''"""A planted module of the old design."""
from ansible_collections.fixture.planted.plugins.module_utils._exchange import call

# Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn
COMMAND_LINE = "powershell.exe -NoProfile -EncodedCommand "


def run(text):
    return [call("Invoke-Expression", None, Command=text)]
'''

PLANTED = {
    "and-and": (
        [(HOST, "$length = 0\n", "$length = 0\nGet-Date && Get-Date\n")],
        [(f"{HOST}:HOST_SCRIPTS[read_file]:7:", "&& or || needs PowerShell 7")],
    ),
    "parse-error": (
        [(HOST, "    $length = (Get-Item -LiteralPath $Path).Length\n}\n", "    $length = (Get-Item -LiteralPath $Path\n}\n")],
        [(f"{HOST}:HOST_SCRIPTS[read_file]:", "parse error")],
    ),
    "exchange-cmdlet": (
        [(HOST, "Get-Service -Name 'W32Time'", "Get-ExchangeServer -Identity $env:COMPUTERNAME")],
        [(f"{HOST}:HOST_SCRIPTS[host_facts]:3:", "Exchange cmdlet Get-ExchangeServer in a PowerShell text")],
    ),
    "snap-in": (
        [(HOST, "$ErrorActionPreference = 'Stop'\n$service", "Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn\n$service")],
        [(f"{HOST}:HOST_SCRIPTS[host_facts]:2:1:", "the Exchange snap-in is never loaded"), (f"{HOST}:9:1:", "Add-PSSnapin:")],
    ),
    "param-mandatory": (
        [(HOST, "[Parameter(Mandatory = $true)][string]$Path", "[string]$Path")],
        [(f"{HOST}:HOST_SCRIPTS[read_file]:2:", "declares $Path with Mandatory=$false; HOST_SCRIPT_PARAMETERS says mandatory")],
    ),
    "param-table": (
        [(HOST, '"Base64": ("Switch", False)', '"Base64": ("String", False), "Force": ("Switch", False)')],
        [
            (f"{HOST}:HOST_SCRIPTS[read_file]:3:", "declares $Base64 as Switch; HOST_SCRIPT_PARAMETERS says String"),
            (f"{HOST}:HOST_SCRIPTS[read_file]:1:", "lists -Force for this script, but its param() block does not"),
        ],
    ),
    "invoke-expression": (
        [(HOST, "Write-Output $json\n", "Invoke-Expression -Command $Path\n")],
        [(f"{HOST}:HOST_SCRIPTS[read_file]:11:", "values never become code")],
    ),
    "undeclared-value": (
        [(HOST, "Write-Output $json\n", "Write-Output $json $args $Destination\n")],
        [
            (f"{HOST}:HOST_SCRIPTS[read_file]:11:", "$args takes values that are not declared parameters"),
            (f"{HOST}:HOST_SCRIPTS[read_file]:11:", "$Destination is neither a declared parameter"),
        ],
    ),
    "host-cmdlet": (
        [(HOST, 'HOST_CMDLETS = ("Get-Service",)', 'HOST_CMDLETS = ("Get-Service", "Invoke-Expression")')],
        [(f"{HOST}:HOST_CMDLETS:", "Invoke-Expression: values never become code")],
    ),
    "call-site": (
        [("plugins/module_utils/_exchange.py", 'Identity=server', 'Identity=server, Nope=1')],
        [("plugins/module_utils/_exchange.py:21:71:", "Get-ExchangeServer has no parameter -Nope")],
    ),
    "bad-module": (
        [("plugins/modules/planted_exchange.py", None, BAD_MODULE)],
        [
            ("plugins/modules/planted_exchange.py:9:", 'call("Invoke-Expression"): neither an Exchange cmdlet'),
            ("plugins/modules/planted_exchange.py:4:3:", "Add-PSSnapin:"),
            ("plugins/modules/planted_exchange.py:5:17:", "powershell.exe:"),
            ("plugins/modules/planted_exchange.py:5:43:", "-EncodedCommand:"),
        ],
    ),
}


def test_planted_fixture_passes_the_gate(planted: Path) -> None:
    clean = run_cli(planted)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "5 call()/host_script() site(s)" in clean.stdout
    assert clean.stdout.splitlines()[-1].startswith("ps_static_check: 2 PowerShell text(s) checked (")
    assert clean.stdout.splitlines()[-1].endswith(": 0 finding(s), ok")


@pytest.mark.parametrize("case", sorted(PLANTED))
def test_planted_defect_fails_the_gate(planted: Path, case: str) -> None:
    edits, expected = PLANTED[case]
    for rel, old, new in edits:
        if old is None:
            (planted / rel).write_text(new, encoding="utf-8")
        else:
            replace(planted / rel, old, new)
    broken = run_cli(planted)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    lines = broken.stdout.splitlines()
    for where, message in expected:
        assert any(line.startswith(where) and message in line for line in lines), (where, message, broken.stdout)
    assert lines[-1].endswith("finding(s), FAILED")


def test_gate_fails_without_host_scripts_or_catalog(planted: Path) -> None:
    (planted / "plugins" / "module_utils" / "_host_scripts.py").unlink()
    (planted / "plugins" / "module_utils" / "_cmdlet_catalog.py").unlink()
    result = run_cli(planted)
    assert result.returncode == 1
    assert "plugins/module_utils/_host_scripts.py:1:1: missing" in result.stdout
    assert "plugins/module_utils/_cmdlet_catalog.py:1:1: no cmdlet catalog" in result.stdout


def test_gate_fails_on_a_wrong_root(tmp_path: Path) -> None:
    assert run_cli(tmp_path).returncode == 1
