# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fixed scripts of the host operations, sent only to a server's default WinRM endpoint (Microsoft.PowerShell).

PRIVATE to the collection. Exchange cmdlets never travel as script text: they go to the Exchange endpoint as
commands with parameters. The few host operations no cmdlet pipeline does are these fixed texts; every value
reaches them as a PSRP parameter bound by their ``param()`` block, never formatted into the text. They must run on
Windows PowerShell 3.0 through 5.1 (checked statically by tests/quality/ps_static_check.py).
"""

from __future__ import annotations

# The server's name and clock, and ExSetup.exe's file version: AdminDisplayVersion shows the CU only, ExSetup the
# hotfix update too (CSS-Exchange Shared/Get-ExSetupFileVersionInfo.ps1: Get-Command ExSetup, else the setup
# registry key's MsiInstallPath + bin\ExSetup.exe).
HOST_FACTS = r"""param()
$ErrorActionPreference = 'Stop'
$path = $null
$command = Get-Command -Name 'ExSetup.exe' -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
if ($null -ne $command) {
    $path = $command.Path
}
else {
    $setup = Get-ItemProperty -LiteralPath 'HKLM:\SOFTWARE\Microsoft\ExchangeServer\v15\Setup' -ErrorAction SilentlyContinue
    if ($null -ne $setup -and $setup.MsiInstallPath) {
        $path = Join-Path -Path $setup.MsiInstallPath -ChildPath 'bin\ExSetup.exe'
    }
}
$version = $null
if ($null -ne $path -and (Test-Path -LiteralPath $path)) {
    $version = (Get-Item -LiteralPath $path).VersionInfo.FileVersion
}
New-Object -TypeName PSObject -Property @{
    ComputerName = $env:COMPUTERNAME
    UtcNow = [DateTime]::UtcNow.ToString('yyyy-MM-ddTHH:mm:ssZ', [Globalization.CultureInfo]::InvariantCulture)
    ExSetupPath = $path
    FileVersion = $version
}
"""

# Write (or with -CheckOnly only compare) a file on the server: the Auth certificate's public part for export_path.
WRITE_FILE = r"""param(
    [Parameter(Mandatory = $true)][string]$Path,
    [Parameter(Mandatory = $true)][string]$Base64Content,
    [switch]$CheckOnly
)
$ErrorActionPreference = 'Stop'
$bytes = [Convert]::FromBase64String($Base64Content)
$changed = $true
if (Test-Path -LiteralPath $Path -PathType Leaf) {
    $existing = [IO.File]::ReadAllBytes($Path)
    $changed = [Convert]::ToBase64String($existing) -ne $Base64Content
}
if ($changed -and -not $CheckOnly) {
    [IO.File]::WriteAllBytes($Path, $bytes)
}
New-Object -TypeName PSObject -Property @{
    Path = $Path
    Changed = $changed
    Length = $bytes.Length
}
"""

# Make Exchange pick up a new current Auth certificate at once, as Microsoft's MonitorExchangeAuthCertificate.ps1 does
# after replacing it (CSS-Exchange Admin/MonitorExchangeAuthCertificate/ConfigurationAction/New-ExchangeAuthCertificate.ps1:
# Restart-Service MSExchangeServiceHost, Restart-WebAppPool MSExchangeOWAAppPool and MSExchangeECPAppPool). The server
# remembers the thumbprint it was refreshed for (a registry value of the collection's own), so a rerun restarts
# nothing; -CheckOnly only compares. A pool that cannot be recycled is reported, and the thumbprint is then not
# remembered, so the next run tries again.
AUTH_CERTIFICATE_REFRESH = r"""param(
    [Parameter(Mandatory = $true)][string]$Thumbprint,
    [switch]$CheckOnly
)
$ErrorActionPreference = 'Stop'
$key = 'HKLM:\SOFTWARE\exchange.hybrid'
$refreshedFor = $null
$item = Get-ItemProperty -LiteralPath $key -Name 'AuthCertificateRefreshedFor' -ErrorAction SilentlyContinue
if ($null -ne $item) {
    $refreshedFor = [string]$item.AuthCertificateRefreshedFor
}
$needed = $refreshedFor -ne $Thumbprint
$restarted = @()
$failed = @()
if ($needed -and -not $CheckOnly) {
    Restart-Service -Name 'MSExchangeServiceHost' -Force
    $restarted += 'MSExchangeServiceHost'
    foreach ($pool in @('MSExchangeOWAAppPool', 'MSExchangeECPAppPool')) {
        try {
            Restart-WebAppPool -Name $pool
            $restarted += $pool
        }
        catch {
            $failed += ('{0}: {1}' -f $pool, $_.Exception.Message)
        }
    }
    if ($failed.Count -eq 0) {
        if (-not (Test-Path -LiteralPath $key)) {
            New-Item -Path $key -Force | Out-Null
        }
        Set-ItemProperty -LiteralPath $key -Name 'AuthCertificateRefreshedFor' -Value $Thumbprint
    }
}
New-Object -TypeName PSObject -Property @{
    ComputerName = $env:COMPUTERNAME
    RefreshedFor = $refreshedFor
    Needed = $needed
    Restarted = $restarted
    Failed = $failed
}
"""

# A self-signed Auth certificate with a chosen lifetime, as Microsoft's MonitorExchangeAuthCertificate.ps1 makes one
# for -CustomCertificateLifetimeInDays (New-ExchangeCertificate has no lifetime parameter): CSS-Exchange
# Shared/CertificateFunctions/New-ExchangeSelfSignedCertificate.ps1 builds it with .NET's CertificateRequest (.NET
# Framework 4.7.2 and later, learn.microsoft.com/dotnet/api/system.security.cryptography.x509certificates.certificaterequest),
# an RSA key of RSACryptoServiceProvider in the machine key store (provider type 24, key number 1: "the certificate
# can't be used as Auth Certificate otherwise", New-ExchangeAuthCertificate.ps1), SHA-256 with PKCS #1 padding, key
# usage DigitalSignature and KeyEncipherment (critical), enhanced key usage Server Authentication, basic constraints
# not a CA (critical), then exported and imported again as PFX with an exportable, persisted machine key into
# LocalMachine\My. The subject, DNS name and friendly name are those the module gives New-ExchangeCertificate.
NEW_AUTH_CERTIFICATE = r"""param(
    [Parameter(Mandatory = $true)][string]$DomainName,
    [Parameter(Mandatory = $true)][string]$FriendlyName,
    [Parameter(Mandatory = $true)][int]$KeySize,
    [Parameter(Mandatory = $true)][int]$LifetimeDays
)
$ErrorActionPreference = 'Stop'
$requestType = 'System.Security.Cryptography.X509Certificates.CertificateRequest' -as [type]
if ($null -eq $requestType) {
    throw ('.NET CertificateRequest is not available on {0}: a certificate with a custom lifetime needs .NET Framework 4.7.2 or later' -f $env:COMPUTERNAME)
}
$x509 = 'System.Security.Cryptography.X509Certificates'
$subject = New-Object -TypeName "$x509.X500DistinguishedName" -ArgumentList ('CN=' + $DomainName)
$csp = New-Object -TypeName System.Security.Cryptography.CspParameters
$csp.Flags = [System.Security.Cryptography.CspProviderFlags]::UseMachineKeyStore
$csp.ProviderType = 24
$csp.KeyNumber = 1
$csp.KeyContainerName = 'exchange.hybrid_' + [guid]::NewGuid().ToString()
$rsa = New-Object -TypeName System.Security.Cryptography.RSACryptoServiceProvider -ArgumentList $KeySize, $csp
$rsa.PersistKeyInCsp = $true
$pfx = $null
try {
    $sha256 = [System.Security.Cryptography.HashAlgorithmName]::SHA256
    $pkcs1 = [System.Security.Cryptography.RSASignaturePadding]::Pkcs1
    $request = New-Object -TypeName "$x509.CertificateRequest" -ArgumentList $subject, $rsa, $sha256, $pkcs1
    $names = New-Object -TypeName "$x509.SubjectAlternativeNameBuilder"
    $names.AddDnsName($DomainName)
    $request.CertificateExtensions.Add($names.Build($true))
    $usageFlags = [System.Security.Cryptography.X509Certificates.X509KeyUsageFlags]
    $usage = $usageFlags::DigitalSignature -bor $usageFlags::KeyEncipherment
    $request.CertificateExtensions.Add((New-Object -TypeName "$x509.X509KeyUsageExtension" -ArgumentList $usage, $true))
    $oids = New-Object -TypeName System.Security.Cryptography.OidCollection
    [void]$oids.Add((New-Object -TypeName System.Security.Cryptography.Oid -ArgumentList '1.3.6.1.5.5.7.3.1'))
    $request.CertificateExtensions.Add((New-Object -TypeName "$x509.X509EnhancedKeyUsageExtension" -ArgumentList $oids, $false))
    $request.CertificateExtensions.Add((New-Object -TypeName "$x509.X509BasicConstraintsExtension" -ArgumentList $false, $false, 0, $true))
    $request.CertificateExtensions.Add((New-Object -TypeName "$x509.X509SubjectKeyIdentifierExtension" -ArgumentList $request.PublicKey, $false))
    # Whole seconds: a certificate's dates have no fractions, and the module compares them with Exchange's.
    $now = [DateTimeOffset]::UtcNow
    $notBefore = $now.AddTicks(-($now.Ticks % [TimeSpan]::TicksPerSecond))
    $notAfter = $notBefore.AddDays($LifetimeDays)
    $created = $request.CreateSelfSigned($notBefore, $notAfter)
    $pfx = $created.Export([System.Security.Cryptography.X509Certificates.X509ContentType]::Pfx)
    $storage = [System.Security.Cryptography.X509Certificates.X509KeyStorageFlags]
    $flags = $storage::Exportable -bor $storage::PersistKeySet -bor $storage::MachineKeySet
    $certificate = New-Object -TypeName "$x509.X509Certificate2" -ArgumentList $pfx, ([string]$null), $flags
    $certificate.FriendlyName = $FriendlyName
    $store = New-Object -TypeName "$x509.X509Store" -ArgumentList 'My', 'LocalMachine'
    $store.Open([System.Security.Cryptography.X509Certificates.OpenFlags]::ReadWrite)
    try {
        $store.Add($certificate)
    }
    finally {
        $store.Close()
    }
}
finally {
    if ($null -ne $pfx) {
        [Array]::Clear($pfx, 0, $pfx.Length)
    }
    $rsa.Clear()
}
New-Object -TypeName PSObject -Property @{
    ComputerName = $env:COMPUTERNAME
    Thumbprint = $certificate.Thumbprint
    Subject = $subject.Name
    NotBefore = $notBefore.UtcDateTime.ToString('yyyy-MM-ddTHH:mm:ssZ', [Globalization.CultureInfo]::InvariantCulture)
    NotAfter = $notAfter.UtcDateTime.ToString('yyyy-MM-ddTHH:mm:ssZ', [Globalization.CultureInfo]::InvariantCulture)
}
"""

# name -> text; the client sends these names' texts, the simulator's default endpoint knows exactly these.
HOST_SCRIPTS = {
    "host_facts": HOST_FACTS,
    "write_file": WRITE_FILE,
    "auth_certificate_refresh": AUTH_CERTIFICATE_REFRESH,
    "new_auth_certificate": NEW_AUTH_CERTIFICATE,
}
# Parameters each script declares in its param() block (name -> (type, mandatory)).
HOST_SCRIPT_PARAMETERS = {
    "host_facts": {},
    "write_file": {"Path": ("String", True), "Base64Content": ("String", True), "CheckOnly": ("Switch", False)},
    "auth_certificate_refresh": {"Thumbprint": ("String", True), "CheckOnly": ("Switch", False)},
    "new_auth_certificate": {
        "DomainName": ("String", True),
        "FriendlyName": ("String", True),
        "KeySize": ("Int32", True),
        "LifetimeDays": ("Int32", True),
    },
}
# Cmdlets sent as commands to the default endpoint (Windows PowerShell's own, not on the Exchange endpoint).
HOST_CMDLETS = ("Get-Service", "Restart-Service")
