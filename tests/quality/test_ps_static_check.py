# Copyright (c) exchange.hybrid contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The static PowerShell check: its rules, the real collection, and a planted defect that makes the gate fail."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import ps_static_check as psc

ROOT = Path(__file__).resolve().parents[2]
CHECK = Path(psc.__file__)
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
            },
        },
        "Get-SettingOverride": {"applies_to": ["2016", "2019", "SE"], "parameters": {}},
    }
)

CLEAN = """function Set-RunnerFileContent {
    param([string]$Path, [string]$Base64Content)
    [System.IO.File]::WriteAllBytes($Path, [System.Convert]::FromBase64String($Base64Content))
}
$allowed = @('Get-ExchangeServer', 'Get-Service', 'Set-RunnerFileContent')
$request = ConvertFrom-Json -InputObject $RequestJson
$table = @{}
foreach ($property in $request.PSObject.Properties) { $table[$property.Name] = $property.Value }
$servers = Get-ExchangeServer -Identity $null -ErrorAction Stop
$names = $servers | ? { $_.Name } | % { $_.Name }
& $block @table
$json = ConvertTo-Json -InputObject @($names) -Depth 4 -Compress
[Console]::Out.Write($json)
"""


def messages(text: str) -> list[str]:
    return [f.message for f in psc.check_text(text, "t", CATALOG)]


def test_clean_text_has_no_findings() -> None:
    assert messages(CLEAN) == []


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
        ("Get-Nope -X 1", "unknown command 'Get-Nope'"),
        ("& 'Get-Nope'", "unknown command 'Get-Nope'"),
        ("cmd.exe /c dir", "unknown command 'cmd.exe'"),
        ("Get-ExchangeServer -Nope 1", "Get-ExchangeServer has no parameter -Nope"),
        ("Get-ExchangeServer -Ident 1", "Get-ExchangeServer has no parameter -Ident"),
        ("New-AuthServer -Name x -DomainName y", "-DomainName needs a minimum build"),
        ("New-AuthServer -Name x -Cloud y", "New-AuthServer -Cloud does not exist on Exchange 2013"),
        ("Get-SettingOverride", "Get-SettingOverride does not exist on Exchange 2013"),
        ("$allowed = @('Get-ExchangeServer', 'Get-Nonexistent')", "'Get-Nonexistent' names a cmdlet"),
    ],
)
def test_rule_fires(text: str, expected: str) -> None:
    found = messages(text)
    assert any(expected in m for m in found), found


def test_where_object_alias_is_not_a_ternary() -> None:
    assert messages("$x = Get-Date | ? { $_ }\n$y = @(1) |\n    ? { $_ }") == []


def test_unicode_quotes_are_normalised_like_powershell_does() -> None:
    # PowerShell treats U+2018/2019/201A/201B as ' and U+201C/201D/201E as "; mixed pairs are valid strings.
    for text in ("Write-Output \u2018a\u2019", "Write-Output \u201ca\u201d", "Write-Output \u201aa'", "Write-Output \u201ea\""):
        assert messages(text) == [], text
    # Without normalisation the grammar sees an unterminated or bare token; with it, a real error still shows.
    assert any("parse error" in m for m in messages("Write-Output \u2018a"))


def test_runner_texts_must_be_ascii() -> None:
    found = [f.message for f in psc.check_text("Write-Output 'caf\u00e9'", "t", CATALOG, ascii_only=True)]
    assert any("non-ASCII character U+00E9" in m for m in found)


def test_command_line_budget() -> None:
    assert len(psc.encoded_command_line("Write-Output 1")) < psc.CMD_LINE_BUDGET
    assert len(psc.encoded_command_line("#" * 2000)) > psc.CMD_LINE_BUDGET


def test_real_collection_passes() -> None:
    """The gate itself: every PowerShell text the collection ships passes the check."""
    findings, texts = psc.check_collection(ROOT)
    names = [t.name for t in texts]
    assert "plugins/module_utils/_runner_script.py:BOOTSTRAP" in names
    assert "plugins/module_utils/_runner_script.py:RUNNER" in names
    assert not findings, "\n".join(str(f) for f in findings)
    bootstrap = next(t.text for t in texts if t.name.endswith(":BOOTSTRAP"))
    assert len(psc.encoded_command_line(bootstrap)) < psc.CMD_LINE_BUDGET


def test_real_runner_allowlist_is_in_catalog() -> None:
    catalog = psc.load_catalog(ROOT)
    assert catalog.cmdlets, "plugins/module_utils/_cmdlet_catalog.py has no catalog"
    runner = next(t for t in psc.collect_texts(ROOT)[0] if t.name.endswith(":RUNNER"))
    functions = psc._defined_functions(psc._parser().parse(runner.text.encode("utf-8")).root_node)
    literals = psc.re.findall(r"'([A-Z][a-z]+-[A-Za-z]+)'", runner.text)
    exchange = [name for name in literals if psc._builtin(name) is None and name.lower() not in functions]
    assert exchange, "no Exchange cmdlet names found in RUNNER's allowlist"
    missing = [name for name in exchange if catalog.find(name) is None]
    assert not missing


def run_cli(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CHECK), str(root)], capture_output=True, text=True, check=False)


def test_planted_defects_fail_the_gate(planted: Path) -> None:
    clean = run_cli(planted)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "2 PowerShell text(s) checked" in clean.stdout

    (planted / "plugins" / "module_utils" / "Broken.psm1").write_text(
        "function Get-Thing {\n    Get-Date && Get-Date\n", encoding="utf-8"
    )
    runner = planted / "plugins" / "module_utils" / "_runner_script.py"
    runner.write_text(
        runner.read_text(encoding="utf-8").replace("-Depth 4 -Compress", "-Compress").replace(
            "'Get-Service'", "'Get-Servce'"
        ),
        encoding="utf-8",
    )
    broken = run_cli(planted)
    assert broken.returncode == 1
    out = broken.stdout
    assert "plugins/module_utils/Broken.psm1:" in out and "parse error" in out and "&& or ||" in out
    assert "_runner_script.py:RUNNER" in out and "ConvertTo-Json without -Depth" in out
    assert "'Get-Servce' names a cmdlet" in out


def test_planted_long_bootstrap_fails_the_gate(planted: Path) -> None:
    runner = planted / "plugins" / "module_utils" / "_runner_script.py"
    padding = "# " + "x" * 1500 + "\n"
    runner.write_text(runner.read_text(encoding="utf-8").replace('BOOTSTRAP = r"""', 'BOOTSTRAP = r"""' + padding), encoding="utf-8")
    result = run_cli(planted)
    assert result.returncode == 1 and "-EncodedCommand command line is" in result.stdout
