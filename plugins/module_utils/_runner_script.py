# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fixed PowerShell texts every WinRM module sends (see docs/dev/architecture.md, "The runner protocol").

``BOOTSTRAP`` travels base64/UTF-16LE in the command line; it only reads standard input and hands over to
``RUNNER``. ``RUNNER`` travels on standard input, followed by four NUL characters and the request JSON. User
values only ever appear in the request JSON: neither text below is ever formatted, concatenated or changed.
Both texts must stay Windows PowerShell 3.0-5.1 syntax and pure ASCII.
"""

from __future__ import annotations

import base64
import json

RUNNER_PROTOCOL_VERSION = 1
SEPARATOR = "\0\0\0\0"

BOOTSTRAP = r"""$ErrorActionPreference = 'Stop'
$runnerPayload = [string]($input | Out-String)
$runnerParts = $runnerPayload.Split([string[]]@("`0`0`0`0"), 2, [System.StringSplitOptions]::None)
if ($runnerParts.Length -ne 2) {
    $runnerFailure = '{"runner":1,"ok":false,"results":[],"error":{"index":null,"cmdlet":null,"kind":"request",' +
        '"message":"the runner payload on standard input is incomplete","category":"InvalidData",' +
        '"fully_qualified_error_id":"RunnerPayloadIncomplete"}}'
    [Console]::Out.Write($runnerFailure)
    exit 1
}
& ([ScriptBlock]::Create($runnerParts[0])) $runnerParts[1]
"""

RUNNER = r"""param([string]$RequestJson)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$WarningPreference = 'SilentlyContinue'
$VerbosePreference = 'SilentlyContinue'
$DebugPreference = 'SilentlyContinue'

$RunnerVersion = 1
$ExchangeSnapIn = 'Microsoft.Exchange.Management.PowerShell.SnapIn'
$ExchangeCmdlets = @(
    'Get-ExchangeServer', 'Get-ExchangeCertificate', 'New-ExchangeCertificate', 'Enable-ExchangeCertificate',
    'Export-ExchangeCertificate', 'Import-ExchangeCertificate', 'Remove-ExchangeCertificate',
    'Get-AuthConfig', 'Set-AuthConfig', 'Get-AuthServer', 'New-AuthServer', 'Set-AuthServer', 'Remove-AuthServer',
    'Get-PartnerApplication', 'Set-PartnerApplication',
    'Get-PushNotificationApp', 'Enable-PushNotificationProxy', 'Disable-PushNotificationProxy',
    'Invoke-MonitoringProbe', 'Get-ServerHealth', 'Get-HealthReport', 'Get-MonitoringItemIdentity',
    'Get-SettingOverride', 'New-SettingOverride', 'Set-SettingOverride', 'Remove-SettingOverride',
    'Get-ExchangeDiagnosticInfo', 'Get-IntraOrganizationConnector', 'Get-OrganizationConfig'
)
$LocalCmdlets = @('Get-Service', 'Restart-Service', 'Set-RunnerFileContent', 'Get-RunnerExSetupVersion')

# Windows PowerShell wraps some arrays as {"value":[...],"Count":n} in ConvertTo-Json because of this type data.
try { Remove-TypeData -TypeName System.Array -ErrorAction Stop } catch { $null = $_ }

function Set-RunnerFileContent {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)][string]$Path,
        [Parameter(Mandatory = $true)][AllowEmptyString()][string]$Base64Content,
        [switch]$CheckOnly
    )
    $bytes = [System.Convert]::FromBase64String($Base64Content)
    $changed = $true
    if ([System.IO.File]::Exists($Path)) {
        $existing = [System.Convert]::ToBase64String([System.IO.File]::ReadAllBytes($Path))
        if ($existing -ceq [System.Convert]::ToBase64String($bytes)) {
            $changed = $false
        }
    }
    if ($changed -and -not $CheckOnly) {
        $directory = [System.IO.Path]::GetDirectoryName($Path)
        if ($directory -and -not [System.IO.Directory]::Exists($directory)) {
            $null = [System.IO.Directory]::CreateDirectory($directory)
        }
        [System.IO.File]::WriteAllBytes($Path, $bytes)
    }
    New-Object -TypeName PSObject -Property @{ Path = $Path; Changed = $changed; Length = $bytes.Length }
}

# AdminDisplayVersion shows the CU only; ExSetup.exe's file version also shows the hotfix/security update.
function Get-RunnerExSetupVersion {
    [CmdletBinding()]
    param()
    $path = $null
    $version = $null
    if ($env:ExchangeInstallPath) {
        $path = [System.IO.Path]::Combine([string]$env:ExchangeInstallPath, 'Bin\ExSetup.exe')
        if ([System.IO.File]::Exists($path)) {
            $version = [System.Diagnostics.FileVersionInfo]::GetVersionInfo($path).FileVersion
        }
    }
    New-Object -TypeName PSObject -Property @{ ComputerName = [string]$env:COMPUTERNAME; Path = $path; FileVersion = $version }
}

function ConvertTo-RunnerParameters {
    param($Object)
    $table = @{}
    if ($null -ne $Object) {
        foreach ($property in $Object.PSObject.Properties) {
            $value = $property.Value
            if ($value -is [System.Array]) {
                $table[$property.Name] = [string[]]@($value)
            }
            else {
                $table[$property.Name] = $value
            }
        }
    }
    $table
}

function ConvertTo-RunnerValue {
    param($Value, [int]$Depth)
    if ($null -eq $Value) { return $null }
    if ($Value -is [string]) { return [string]$Value }
    if ($Value -is [bool]) { return [bool]$Value }
    if ($Value -is [System.Enum]) { return $Value.ToString() }
    if ($Value -is [datetime]) {
        return $Value.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", [System.Globalization.CultureInfo]::InvariantCulture)
    }
    if ($Value -is [System.DateTimeOffset]) {
        return $Value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", [System.Globalization.CultureInfo]::InvariantCulture)
    }
    if ($Value -is [byte[]]) { return [System.Convert]::ToBase64String($Value) }
    if ($Value -is [System.ValueType]) {
        $code = [int][System.Type]::GetTypeCode($Value.GetType())
        if ($code -ge 5 -and $code -le 15) { return $Value }
        return $Value.ToString()
    }
    $names = @($Value.PSObject.Properties | ForEach-Object { $_.Name })
    if (($names -contains 'Major') -and ($names -contains 'Minor') -and ($names -contains 'Build') -and ($names -contains 'Revision')) {
        $version = [ordered]@{}
        foreach ($part in @('Major', 'Minor', 'Build', 'Revision')) {
            $version[$part] = [int]$Value.$part
        }
        return $version
    }
    if (($Value -is [System.Collections.IEnumerable]) -and -not ($Value -is [System.Collections.IDictionary])) {
        $items = New-Object -TypeName System.Collections.ArrayList
        if ($Depth -lt 3) {
            foreach ($item in $Value) {
                $null = $items.Add((ConvertTo-RunnerValue -Value $item -Depth ($Depth + 1)))
            }
        }
        else {
            foreach ($item in $Value) {
                $null = $items.Add([string]$item)
            }
        }
        return ,$items
    }
    return $Value.ToString()
}

function Get-RunnerErrorRecord {
    param($ErrorRecord)
    $exception = $ErrorRecord.Exception
    if (($exception -is [System.Management.Automation.ActionPreferenceStopException]) -and ($null -ne $exception.ErrorRecord)) {
        return $exception.ErrorRecord
    }
    $ErrorRecord
}

function New-RunnerError {
    param($Index, $Cmdlet, [string]$Kind, [string]$Message, [string]$Category, [string]$ErrorId)
    [ordered]@{
        index = $Index
        cmdlet = $Cmdlet
        kind = $Kind
        message = $Message
        category = $Category
        fully_qualified_error_id = $ErrorId
    }
}

function New-RunnerRecordError {
    param($Index, $Cmdlet, [string]$Kind, $Record)
    $category = [string]$Record.CategoryInfo.Category
    New-RunnerError $Index $Cmdlet $Kind $Record.Exception.Message $category ([string]$Record.FullyQualifiedErrorId)
}

function ConvertTo-RunnerAscii {
    param([string]$Text)
    $builder = New-Object -TypeName System.Text.StringBuilder -ArgumentList ($Text.Length + 64)
    foreach ($character in $Text.ToCharArray()) {
        $code = [int]$character
        if ($code -gt 127) {
            $null = $builder.Append(('\u{0:x4}' -f $code))
        }
        else {
            $null = $builder.Append($character)
        }
    }
    $builder.ToString()
}

$results = New-Object -TypeName System.Collections.ArrayList
$envelope = [ordered]@{
    runner = $RunnerVersion
    ok = $false
    computer_name = [string]$env:COMPUTERNAME
    ps_version = [string]$PSVersionTable.PSVersion
    utc_now = [System.DateTime]::UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", [System.Globalization.CultureInfo]::InvariantCulture)
    results = $results
    error = $null
}

$calls = @()
try {
    $request = ConvertFrom-Json -InputObject $RequestJson
    if ($request.runner -ne $RunnerVersion) {
        throw ('unsupported runner request version: ' + [string]$request.runner)
    }
    if ($null -ne $request.calls) {
        $calls = @($request.calls)
    }
    $position = 0
    foreach ($call in $calls) {
        $name = [string]$call.cmdlet
        if (-not (($ExchangeCmdlets -ccontains $name) -or ($LocalCmdlets -ccontains $name))) {
            $reason = 'the cmdlet is not allowed by the runner: ' + $name
            $envelope.error = New-RunnerError $position $name 'request' $reason 'PermissionDenied' 'RunnerCmdletNotAllowed'
            break
        }
        $position++
    }
}
catch {
    $reason = 'the runner request is invalid: ' + $_.Exception.Message
    $envelope.error = New-RunnerError $null $null 'request' $reason 'InvalidData' 'RunnerRequestInvalid'
}

if ($null -eq $envelope.error) {
    $position = 0
    foreach ($call in $calls) {
        $name = [string]$call.cmdlet
        if ($ExchangeCmdlets -ccontains $name) {
            if ($null -eq (Get-PSSnapin -Name $ExchangeSnapIn -ErrorAction SilentlyContinue)) {
                try {
                    Add-PSSnapin -Name $ExchangeSnapIn -ErrorAction Stop
                }
                catch {
                    $envelope.error = New-RunnerRecordError $position $name 'snapin' $_
                }
            }
            break
        }
        $position++
    }
}

if ($null -eq $envelope.error) {
    $index = 0
    foreach ($call in $calls) {
        $name = [string]$call.cmdlet
        $parameters = ConvertTo-RunnerParameters -Object $call.parameters
        try {
            $output = @(& $name @parameters -ErrorAction Stop -WarningAction SilentlyContinue)
        }
        catch {
            $envelope.error = New-RunnerRecordError $index $name 'cmdlet' (Get-RunnerErrorRecord -ErrorRecord $_)
            break
        }
        $rows = New-Object -TypeName System.Collections.ArrayList
        if ($null -ne $call.properties) {
            $wanted = @($call.properties)
            foreach ($object in $output) {
                if ($null -eq $object) { continue }
                $row = [ordered]@{}
                foreach ($propertyName in $wanted) {
                    $propertyName = [string]$propertyName
                    $value = $null
                    try {
                        $property = $object.PSObject.Properties[$propertyName]
                        if ($null -ne $property) {
                            $value = ConvertTo-RunnerValue -Value $property.Value -Depth 0
                        }
                    }
                    catch {
                        $value = $null
                    }
                    $row[$propertyName] = $value
                }
                $null = $rows.Add($row)
            }
        }
        $null = $results.Add([ordered]@{ cmdlet = $name; output = $rows })
        $index++
    }
}

$exitCode = 1
if ($null -eq $envelope.error) {
    $envelope.ok = $true
    $exitCode = 0
}
$json = ConvertTo-Json -InputObject $envelope -Depth 8 -Compress
[Console]::Out.Write((ConvertTo-RunnerAscii -Text $json))
[Console]::Out.Flush()
exit $exitCode
"""


def command_line() -> str:
    """The fixed command line: PowerShell running ``BOOTSTRAP``, short enough for cmd.exe's 8191 limit."""
    encoded = base64.b64encode(BOOTSTRAP.encode("utf-16-le")).decode("ascii")
    return "powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand " + encoded


def request_json(request: dict) -> str:
    """The request as pure-ASCII JSON: non-ASCII characters and NUL travel as \\uXXXX escapes."""
    return json.dumps(request, ensure_ascii=True, separators=(",", ":"), sort_keys=False)


def stdin_payload(request: dict) -> bytes:
    """Standard input for the command: ``RUNNER``, the separator, then the request JSON (ASCII bytes)."""
    return (RUNNER + SEPARATOR + request_json(request)).encode("ascii")


def split_stdin(payload: bytes) -> tuple[str, str]:
    """Inverse of :func:`stdin_payload` (for the simulator and tests): ``(runner_text, request_json)``."""
    text = payload.decode("ascii")
    runner, separator, request = text.partition(SEPARATOR)
    if not separator:
        raise ValueError("the payload has no runner/request separator")
    return runner, request
