# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import base64
import json
import re

import pytest

from ansible_collections.exchange.hybrid.plugins.module_utils import _runner_script as rs

HOSTILE = [
    "'; Remove-Item C:\\ -Recurse -Force; '",
    '"; Remove-Item C:\\ -Recurse; "',
    "$(Remove-Item C:\\)",
    "@(Stop-Computer)",
    "${env:COMPUTERNAME}",
    "`n`r`0 backtick",
    "line1\r\nline2\rline3\n",
    "nul\0inside",
    "\u2018single\u2019 \u201adouble\u201b \u201cq\u201d \u201e",
    "Gr\u00fc\u00dfe \U0001f600",
    "\0\0\0\0",
    "x" * 20000,
]


def test_texts_are_ascii_and_static():
    assert rs.BOOTSTRAP.isascii() and rs.RUNNER.isascii()
    assert rs.SEPARATOR not in rs.RUNNER and "\0" not in rs.BOOTSTRAP


def test_command_line_is_fixed_and_short():
    line = rs.command_line()
    prefix = "powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand "
    assert line.startswith(prefix)
    assert base64.b64decode(line[len(prefix) :]).decode("utf-16-le") == rs.BOOTSTRAP
    assert len(line) < 8191 - 100


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_stay_data(value):
    request = {
        "runner": 1,
        "calls": [{"cmdlet": "New-AuthServer", "parameters": {"Name": value, "DomainName": [value]}}],
    }
    payload = rs.stdin_payload(request)
    assert payload.isascii()
    runner, request_text = rs.split_stdin(payload)
    assert runner == rs.RUNNER
    assert json.loads(request_text) == request
    # the only NULs on stdin are the separator's
    assert payload.count(b"\0") == 4


def test_runner_allowlist_is_literal_and_covers_runner_cmdlets():
    names = set(re.findall(r"'([A-Z][a-z]+-[A-Za-z]+)'", rs.RUNNER))
    for needed in (
        "Get-ExchangeServer",
        "New-ExchangeCertificate",
        "Set-AuthConfig",
        "New-AuthServer",
        "Get-Service",
        "Restart-Service",
        "Set-RunnerFileContent",
        "Enable-PushNotificationProxy",
        "Invoke-MonitoringProbe",
    ):
        assert needed in names


def test_runner_avoids_powershell_6_syntax():
    code = rs.RUNNER + rs.BOOTSTRAP
    assert "-AsHashtable" not in code
    assert "&&" not in code and "||" not in code and "??" not in code
    for line in code.splitlines():
        if "ConvertTo-Json" in line and not line.lstrip().startswith("#"):
            assert "-Depth" in line


def test_catalog_cmdlets_are_allowlisted():
    catalog = pytest.importorskip("ansible_collections.exchange.hybrid.plugins.module_utils._cmdlet_catalog")
    cmdlets = getattr(catalog, "EXCHANGE_CMDLETS", None)
    if not cmdlets:
        pytest.skip("the catalog does not expose EXCHANGE_CMDLETS yet")
    missing = [name for name in cmdlets if f"'{name}'" not in rs.RUNNER]
    assert not missing, missing
