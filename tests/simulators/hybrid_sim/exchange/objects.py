"""What the simulated cmdlets' rows look like through remoting: typed ``RemoteObject``s, one table for all of them.

The state keeps every value in a JSON form (ISO dates, base64 bytes, ``{"Major": ..}`` versions, enum names); a real
Exchange endpoint sends .NET objects. ``output_objects(cmdlet, rows)`` converts each row by its object type: the
type-name chain (no ``Deserialized.`` prefix: that is added by PowerShell's own client, exchange-remoting-facts.md),
every property the simulated object has (the Exchange runspace offers no way to ask for fewer besides Select-Object),
each converted by TYPE, and ``ToString``.

Sources (CSS = microsoft/CSS-Exchange test captures, Export-Clixml of objects received over Exchange remoting):

- ExchangeServer: CSS ``Admin/MonitorExchangeAuthCertificate/DataCollection/Tests/Data/GetExchangeServer.xml``
  (type chain, ToString = Name, AdminDisplayVersion ServerVersion {Major, Minor, Build, Revision,
  FilePatchLevelDescription} "Version 15.1 (Build 2507.18)", ServerRole enum Mailbox = 2, Edition enum
  ServerEditionType Enterprise = 3, Identity/Site ADObjectId, ExchangeVersion ExchangeObjectVersion).
- ExchangeCertificate: CSS ``.../GetExchangeCertificate.xml`` (type chain down to X509Certificate; ToString is
  X509Certificate's "[Subject] ..." block; RawData byte[]; the enum types CertificateStatus (Valid = 1),
  CertificateAuthorityType (RootCAType, None = 0) and AllowedServices (SMTP = 16) named in its SerializationData).
- AuthConfig: CSS ``.../GetAuthConfig.xml`` (type chain, NextCertificateEffectiveDate and WhenChanged* DateTime,
  Identity ADObjectId, ObjectClass MultiValuedProperty of strings, ExchangeVersion ExchangeObjectVersion).
- The other AD configuration objects (AuthServer, PartnerApplication, PushNotificationApp, SettingOverride, AcceptedDomain,
  IntraOrganizationConnector, OrganizationConfig) are not captured anywhere we found: their chains follow
  AuthConfig's/ExchangeServer's pattern in the namespace of the documented enum types (PS pages: AuthServerType and
  SupportedAccountType live in Microsoft.Exchange.Data.Directory.SystemConfiguration) - plausible, not verified.
- Managed Availability: Invoke-MonitoringProbe writes a ``MonitoringProbeResult``, Get-ServerHealth
  ``MonitorHealthEntry``, Get-HealthReport ``ConsolidatedHealth`` (namespace
  Microsoft.Office.Datacenter.ActiveMonitoring.Management.Common; ResultType is
  Microsoft.Office.Datacenter.WorkerTaskFramework.ResultType), as decompiled Exchange assemblies in public
  repositories show; enum ordinals there are not known to us and are modelled.
- Get-Service: System.ServiceProcess.ServiceController with ServiceControllerStatus and ServiceStartMode (.NET
  reference; those ordinals are documented).

Enum ordinals marked "inferred" follow the documented order of names; only the ones named above are seen values.
Clients should compare enums by name (``RemoteEnum.name`` / the deserialised ToString), never by value.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Optional

from ..wsman.pipeline import RemoteEnum, RemoteObject

# ------------------------------------------------------------------------------------------------------------ enums


@dataclass(frozen=True)
class EnumType:
    type_name: str
    values: Mapping[str, int]
    flags: bool = False

    def __call__(self, value: Any) -> RemoteEnum:
        if isinstance(value, RemoteEnum):
            return value
        lookup = {name.lower(): name for name in self.values}
        if not self.flags:
            name = lookup.get(str(value).strip().lower(), str(value))
            return RemoteEnum(self.type_name, name, self.values.get(name, 0))
        words = value if isinstance(value, list) else str(value).split(",")
        names = {lookup.get(str(w).strip().lower(), str(w).strip()) for w in words if str(w).strip()}
        if len(names) > 1:
            names.discard("None")
        # A flags enum's ToString lists the set names in ascending value order: "Mailbox, ClientAccess".
        ordered = sorted(names, key=lambda n: self.values.get(n, 0))
        total = sum(self.values.get(n, 0) for n in ordered)
        return RemoteEnum(self.type_name, ", ".join(ordered) if ordered else "None", total)


_TASKS = "Microsoft.Exchange.Management.SystemConfigurationTasks."
_SYSCONFIG = "Microsoft.Exchange.Data.Directory.SystemConfiguration."
_MONITORING = "Microsoft.Office.Datacenter.ActiveMonitoring.Management.Common."

# SMTP = 16 seen; the rest are the powers of two in the documented order None|IMAP|POP|UM|IIS|SMTP|Federation|... .
ALLOWED_SERVICES = EnumType(
    _TASKS + "AllowedServices",
    {"None": 0, "IMAP": 1, "POP": 2, "UM": 4, "IIS": 8, "SMTP": 16, "Federation": 32, "UMCallRouter": 64},
    flags=True,
)
# Valid = 1 seen; the rest inferred.
CERTIFICATE_STATUS = EnumType(
    _TASKS + "CertificateStatus",
    {
        "Unknown": 0,
        "Valid": 1,
        "Revoked": 2,
        "DateInvalid": 3,
        "Untrusted": 4,
        "Invalid": 5,
        "RevocationCheckFailure": 6,
        "PendingRequest": 7,
    },
)
# None = 0 seen; the rest inferred.
CERTIFICATE_AUTHORITY_TYPE = EnumType(
    _TASKS + "CertificateAuthorityType",
    {"None": 0, "ThirdParty": 1, "Enterprise": 2, "Registry": 3, "GroupPolicy": 4, "Unknown": 5},
)
# Mailbox = 2 seen; ClientAccess/UnifiedMessaging/HubTransport/Edge are Exchange 2007-2010's flag values, Cafe 2013's.
SERVER_ROLE = EnumType(
    _SYSCONFIG + "ServerRole",
    {
        "None": 0,
        "Cafe": 1,
        "Mailbox": 2,
        "ClientAccess": 4,
        "UnifiedMessaging": 16,
        "HubTransport": 32,
        "Edge": 64,
        "FrontendTransport": 16384,
    },
    flags=True,
)
# Enterprise = 3 seen; Standard inferred.
SERVER_EDITION = EnumType("Microsoft.Exchange.Data.ServerEditionType", {"Unknown": 0, "Standard": 2, "Enterprise": 3})
# The 2018 page's order Unknown|MicrosoftACS|Facebook|LinkedIn|ADFS|AzureAD (exchange-facts.md (b)).
AUTH_SERVER_TYPE = EnumType(
    _SYSCONFIG + "AuthServerType",
    {"Unknown": 0, "MicrosoftACS": 1, "Facebook": 2, "LinkedIn": 3, "ADFS": 4, "AzureAD": 5},
)
SUPPORTED_ACCOUNT_TYPE = EnumType(
    _SYSCONFIG + "SupportedAccountType", {"OrganizationalAccount": 0, "ConsumerAccount": 1}
)
RESULT_TYPE = EnumType(
    "Microsoft.Office.Datacenter.WorkerTaskFramework.ResultType",
    {"Abandoned": 1, "Timedout": 2, "Poisoned": 3, "Succeeded": 4, "Failed": 5, "Quarantined": 6, "Rejected": 7},
)
MONITOR_ALERT_STATE = EnumType(
    _MONITORING + "MonitorAlertState",
    {
        "Unknown": 0,
        "Healthy": 1,
        "Degraded": 2,
        "Unhealthy": 3,
        "Repairing": 4,
        "Disabled": 5,
        "Unavailable": 6,
        "UnInitialized": 7,
    },
)
MONITOR_SERVER_COMPONENT_STATE = EnumType(
    _MONITORING + "MonitorServerComponentState",
    {
        "Unknown": 0,
        "NotApplicable": 1,
        "Online": 2,
        "PartiallyOnline": 3,
        "Offline": 4,
        "Functional": 5,
        "Sidelined": 6,
    },
)
# .NET reference: ServiceControllerStatus and ServiceStartMode.
SERVICE_STATUS = EnumType(
    "System.ServiceProcess.ServiceControllerStatus",
    {
        "Stopped": 1,
        "StartPending": 2,
        "StopPending": 3,
        "Running": 4,
        "ContinuePending": 5,
        "PausePending": 6,
        "Paused": 7,
    },
)
SERVICE_START_MODE = EnumType(
    "System.ServiceProcess.ServiceStartMode", {"Boot": 0, "System": 1, "Automatic": 2, "Manual": 3, "Disabled": 4}
)

# ------------------------------------------------------------------------------------------------------ converters

Row = Mapping[str, Any]
Converter = Callable[[Any, Row], Any]

SERVER_VERSION_TYPES = ["Microsoft.Exchange.Data.ServerVersion", "System.Object"]
OBJECT_VERSION_TYPES = ["Microsoft.Exchange.Data.ExchangeObjectVersion", "System.Object"]
AD_OBJECT_ID_TYPES = [
    "Microsoft.Exchange.Data.Directory.ADObjectId",
    "Microsoft.Exchange.Data.ObjectId",
    "System.Object",
]
# AuthServer.DomainName items have a .Domain (CSS ConfigureExchangeHybridApplication.ps1 reads
# $acsAuthServer.DomainName.Domain); the item type name is inferred.
DOMAIN_TYPES = ["Microsoft.Exchange.Data.SmtpDomainWithSubdomains", "System.Object"]


def date_value(value: Any, row: Optional[Row] = None) -> dt.datetime:
    """``2026-11-27T17:00:00Z`` (the state's form) -> an aware UTC datetime."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    moment = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def bytes_value(value: Any, row: Optional[Row] = None) -> bytes:
    return value if isinstance(value, bytes) else base64.b64decode(str(value))


def server_version(value: Any, row: Optional[Row] = None) -> RemoteObject:
    parts = {k: int(value[k]) for k in ("Major", "Minor", "Build", "Revision")}
    text = "Version %d.%d (Build %d.%d)" % (parts["Major"], parts["Minor"], parts["Build"], parts["Revision"])
    return RemoteObject(list(SERVER_VERSION_TYPES), {**parts, "FilePatchLevelDescription": None}, text)


def object_version(value: Any, row: Optional[Row] = None) -> RemoteObject:
    """``0.20 (15.0.0.0)`` -> ExchangeObjectVersion {Major, Minor, ExchangeBuild} (CSS GetAuthConfig.xml)."""
    text = str(value)
    head, _sep, build = text.partition(" (")
    major, _dot, minor = head.partition(".")
    properties = {"Major": int(major or 0), "Minor": int(minor or 0), "ExchangeBuild": build.rstrip(")")}
    return RemoteObject(list(OBJECT_VERSION_TYPES), properties, text)


def _dn_of_canonical(path: str) -> str:
    """``contoso.com/Configuration/Sites/Default-First-Site-Name`` -> ``CN=Default-First-Site-Name,CN=Sites,
    CN=Configuration,DC=contoso,DC=com`` (an ADObjectId's ToString is the canonical name)."""
    domain, *rest = path.split("/")
    return ",".join(["CN=%s" % part for part in reversed(rest)] + ["DC=%s" % part for part in domain.split(".")])


def ad_object_id(value: Any, row: Optional[Row] = None) -> RemoteObject:
    """An object's own Identity/Id: ToString = its name, DistinguishedName and ObjectGuid from the row."""
    text, row = str(value), row or {}
    properties = {
        "Name": row.get("Name", text),
        "DistinguishedName": row.get("DistinguishedName") or row.get("distinguished_name"),
        "ObjectGuid": row.get("Guid"),
        "IsDeleted": False,
    }
    return RemoteObject(list(AD_OBJECT_ID_TYPES), properties, text)


def site_id(value: Any, row: Optional[Row] = None) -> RemoteObject:
    text = str(value)
    properties = {"Name": text.rsplit("/", 1)[-1], "DistinguishedName": _dn_of_canonical(text), "IsDeleted": False}
    return RemoteObject(list(AD_OBJECT_ID_TYPES), properties, text)


def domain_list(value: Any, row: Optional[Row] = None) -> list[RemoteObject]:
    items = value if isinstance(value, list) else [value]
    return [
        RemoteObject(list(DOMAIN_TYPES), {"Domain": str(d), "IncludeSubDomains": False, "Address": str(d)}, str(d))
        for d in items
    ]


OID_TYPES = ["System.Security.Cryptography.Oid", "System.Object"]


def oid_value(value: Any, row: Optional[Row] = None) -> RemoteObject:
    """X509Certificate2.SignatureAlgorithm: an Oid {Value, FriendlyName}. Oid does not override ToString, so its
    text is the type name (.NET reference); how deep remoting serializes it is not captured anywhere we found
    (assumption: its two properties travel), so clients should not rely on it: the DER in RawData says the same."""
    value = value if isinstance(value, dict) else {"Value": None, "FriendlyName": str(value)}
    properties = {"Value": value.get("Value"), "FriendlyName": value.get("FriendlyName")}
    return RemoteObject(list(OID_TYPES), properties, OID_TYPES[0])


def enum(kind: EnumType) -> Converter:
    return lambda value, row: kind(value)


def _x509_text(row: Row) -> str:
    """X509Certificate.ToString(): the "[Subject]" block as the CSS capture shows it (the servers run in UTC)."""

    def when(key: str) -> str:
        return date_value(row[key]).strftime("%m/%d/%Y %H:%M:%S")

    parts = [
        ("Subject", row.get("Subject")),
        ("Issuer", row.get("Issuer")),
        ("Serial Number", row.get("SerialNumber")),
        ("Not Before", when("NotBefore")),
        ("Not After", when("NotAfter")),
        ("Thumbprint", row.get("Thumbprint")),
    ]
    return "\r\n".join("[%s]\r\n  %s\r\n" % (label, text) for label, text in parts)


# ----------------------------------------------------------------------------------------------------- object types


@dataclass(frozen=True)
class ObjectType:
    type_names: tuple[str, ...]
    properties: Mapping[str, Converter] = field(default_factory=dict)  # property -> converter; others pass as is
    to_string: Optional[Callable[[Row], Optional[str]]] = None


def _name(row: Row) -> Optional[str]:
    return None if row.get("Name") is None else str(row["Name"])


_AD_CONFIG = (
    _SYSCONFIG + "ADConfigurationObject",
    "Microsoft.Exchange.Data.Directory.ADObject",
    "Microsoft.Exchange.Data.Directory.ADRawEntry",
    "Microsoft.Exchange.Data.ConfigurableObject",
    "System.Object",
)
_AD_PRESENTATION = (
    "Microsoft.Exchange.Data.Directory.Management.ADPresentationObject",
    "Microsoft.Exchange.Data.Directory.ADObject",
    "Microsoft.Exchange.Data.Directory.ADRawEntry",
    "Microsoft.Exchange.Data.ConfigurableObject",
    "System.Object",
)
_DATES = ("WhenChanged", "WhenCreated", "WhenChangedUTC", "WhenCreatedUTC")
_AD_PROPERTIES: dict[str, Converter] = {
    "Identity": ad_object_id,
    "Id": ad_object_id,
    "ExchangeVersion": object_version,
    **{d: date_value for d in _DATES},
}

EXCHANGE_SERVER = ObjectType(
    ("Microsoft.Exchange.Data.Directory.Management.ExchangeServer",) + _AD_PRESENTATION,
    {
        **_AD_PROPERTIES,
        "AdminDisplayVersion": server_version,
        "ServerRole": enum(SERVER_ROLE),
        "Edition": enum(SERVER_EDITION),
        "Site": site_id,
    },
    _name,
)
EXCHANGE_CERTIFICATE = ObjectType(
    (
        _TASKS + "ExchangeCertificate",
        "System.Security.Cryptography.X509Certificates.X509Certificate2",
        "System.Security.Cryptography.X509Certificates.X509Certificate",
        "System.Object",
    ),
    {
        # The certificate's Identity is the text ServerFQDN\Thumbprint, not an AD id.
        "NotBefore": date_value,
        "NotAfter": date_value,
        "RawData": bytes_value,
        "Services": enum(ALLOWED_SERVICES),
        "Status": enum(CERTIFICATE_STATUS),
        "RootCAType": enum(CERTIFICATE_AUTHORITY_TYPE),
        "SignatureAlgorithm": oid_value,
    },
    _x509_text,
)
AUTH_CONFIG = ObjectType(
    (_SYSCONFIG + "AuthConfig",) + _AD_CONFIG, {**_AD_PROPERTIES, "NextCertificateEffectiveDate": date_value}, _name
)
AUTH_SERVER = ObjectType(
    (_SYSCONFIG + "AuthServer",) + _AD_CONFIG,
    {**_AD_PROPERTIES, "Type": enum(AUTH_SERVER_TYPE), "DomainName": domain_list},
    _name,
)
PARTNER_APPLICATION = ObjectType(
    (_SYSCONFIG + "PartnerApplication",) + _AD_CONFIG,
    {**_AD_PROPERTIES, "AccountType": enum(SUPPORTED_ACCOUNT_TYPE)},
    _name,
)
PUSH_NOTIFICATION_APP = ObjectType((_SYSCONFIG + "PushNotificationApp",) + _AD_CONFIG, dict(_AD_PROPERTIES), _name)
SETTING_OVERRIDE = ObjectType((_SYSCONFIG + "SettingOverride",) + _AD_CONFIG, dict(_AD_PROPERTIES), _name)
INTRA_ORGANIZATION_CONNECTOR = ObjectType(
    (_SYSCONFIG + "IntraOrganizationConnector",) + _AD_CONFIG, dict(_AD_PROPERTIES), _name
)
# AcceptedDomain's DomainName is an SmtpDomainWithSubdomains, DomainType the AcceptedDomainType enum (Authoritative,
# ExternalRelay, InternalRelay: the Set-AcceptedDomain page's order; ordinals inferred).
ACCEPTED_DOMAIN_TYPE = EnumType(
    "Microsoft.Exchange.Data.Directory.SystemConfiguration.AcceptedDomainType",
    {"Authoritative": 0, "ExternalRelay": 1, "InternalRelay": 2},
)
ACCEPTED_DOMAIN = ObjectType(
    (_SYSCONFIG + "AcceptedDomain",) + _AD_CONFIG,
    {
        **_AD_PROPERTIES,
        "DomainName": lambda value, row: domain_list(value)[0],
        "DomainType": enum(ACCEPTED_DOMAIN_TYPE),
    },
    _name,
)
ORGANIZATION_CONFIG = ObjectType(
    ("Microsoft.Exchange.Data.Directory.Management.OrganizationConfig",) + _AD_PRESENTATION,
    # The organization's AdminDisplayVersion is an object version ("0.20 (15.1.0.0)", exchange-facts.md), not a build.
    {**_AD_PROPERTIES, "AdminDisplayVersion": object_version},
    _name,
)
# Export-ExchangeCertificate's output object holding .FileData (exchange-facts.md (a)); type name plausible.
BINARY_FILE_DATA = ObjectType(
    ("Microsoft.Exchange.Data.BinaryFileDataObject", "Microsoft.Exchange.Data.ConfigurableObject", "System.Object"),
    {"FileData": bytes_value},
)
# Type name plausible.
DIAGNOSTIC_INFO = ObjectType(
    (_TASKS + "ExchangeDiagnosticInfoResult", "Microsoft.Exchange.Data.ConfigurableObject", "System.Object")
)
# Test-OAuthConnectivity: a ValidationResultNode (its Identity's type, Microsoft.Exchange.Security.OAuth
# .ValidationResultNodeId, in a captured "| fl *"); the chain is plausible, ResultType is written as its name.
OAUTH_VALIDATION_RESULT = ObjectType(
    ("Microsoft.Exchange.Security.OAuth.ValidationResultNode", "Microsoft.Exchange.Data.ConfigurableObject", "System.Object")
)
MONITORING_PROBE_RESULT = ObjectType(
    (_MONITORING + "MonitoringProbeResult", "Microsoft.Exchange.Data.ConfigurableObject", "System.Object"),
    {"ResultType": enum(RESULT_TYPE), "ExecutionStartTime": date_value, "ExecutionEndTime": date_value},
)
MONITOR_HEALTH_ENTRY = ObjectType(
    (_MONITORING + "MonitorHealthEntry", "Microsoft.Exchange.Data.ConfigurableObject", "System.Object"),
    {"AlertValue": enum(MONITOR_ALERT_STATE), "CurrentHealthSetState": enum(MONITOR_SERVER_COMPONENT_STATE)},
)
CONSOLIDATED_HEALTH = ObjectType(
    (_MONITORING + "ConsolidatedHealth", "Microsoft.Exchange.Data.ConfigurableObject", "System.Object"),
    {
        "AlertValue": enum(MONITOR_ALERT_STATE),
        "State": enum(MONITOR_SERVER_COMPONENT_STATE),
        "LastTransitionTime": date_value,
    },
)
# Type name plausible.
MONITORING_ITEM_IDENTITY = ObjectType(
    (_MONITORING + "MonitoringItemIdentity", "Microsoft.Exchange.Data.ConfigurableObject", "System.Object")
)
SERVICE_CONTROLLER = ObjectType(
    (
        "System.ServiceProcess.ServiceController",
        "System.ComponentModel.Component",
        "System.MarshalByRefObject",
        "System.Object",
    ),
    {"Status": enum(SERVICE_STATUS), "StartType": enum(SERVICE_START_MODE)},
    lambda row: "System.ServiceProcess.ServiceController",
)
# New-Object PSObject -Property @{...} in the host scripts.
PS_CUSTOM_OBJECT = ObjectType(("System.Management.Automation.PSCustomObject", "System.Object"))

# cmdlet -> the type of every object it writes.
CMDLET_OBJECTS: dict[str, ObjectType] = {
    "Get-ExchangeServer": EXCHANGE_SERVER,
    "Get-OrganizationConfig": ORGANIZATION_CONFIG,
    "Get-AcceptedDomain": ACCEPTED_DOMAIN,
    "Get-IntraOrganizationConnector": INTRA_ORGANIZATION_CONNECTOR,
    "Get-PartnerApplication": PARTNER_APPLICATION,
    "Get-ExchangeCertificate": EXCHANGE_CERTIFICATE,
    "New-ExchangeCertificate": EXCHANGE_CERTIFICATE,
    "Export-ExchangeCertificate": BINARY_FILE_DATA,
    "Get-AuthConfig": AUTH_CONFIG,
    "Get-AuthServer": AUTH_SERVER,
    "New-AuthServer": AUTH_SERVER,
    "Get-PushNotificationApp": PUSH_NOTIFICATION_APP,
    "Enable-PushNotificationProxy": PUSH_NOTIFICATION_APP,
    "Disable-PushNotificationProxy": PUSH_NOTIFICATION_APP,
    "Get-SettingOverride": SETTING_OVERRIDE,
    "New-SettingOverride": SETTING_OVERRIDE,
    "Get-ExchangeDiagnosticInfo": DIAGNOSTIC_INFO,
    "Invoke-MonitoringProbe": MONITORING_PROBE_RESULT,
    "Test-OAuthConnectivity": OAUTH_VALIDATION_RESULT,
    "Get-ServerHealth": MONITOR_HEALTH_ENTRY,
    "Get-HealthReport": CONSOLIDATED_HEALTH,
    "Get-MonitoringItemIdentity": MONITORING_ITEM_IDENTITY,
    "Get-Service": SERVICE_CONTROLLER,
    "Restart-Service": SERVICE_CONTROLLER,
}


def remote_object(kind: ObjectType, row: Row) -> RemoteObject:
    properties: dict[str, Any] = {}
    for name, value in row.items():
        converter = kind.properties.get(name)
        if value is None:
            properties[name] = None
        elif converter is not None:
            properties[name] = converter(value, row)
        elif isinstance(value, tuple):
            properties[name] = list(value)
        elif isinstance(value, list):
            properties[name] = list(value)  # a MultiValuedProperty: a fresh list, never the state's own
        else:
            properties[name] = value
    return RemoteObject(list(kind.type_names), properties, kind.to_string(row) if kind.to_string else None)


def output_objects(cmdlet: str, rows: Iterable[Row]) -> list[RemoteObject]:
    """The cmdlet's rows as the objects the Exchange endpoint writes (a cmdlet without a table entry writes
    PSCustomObjects, so a new cmdlet never fails here - but give it a row in CMDLET_OBJECTS)."""
    kind = CMDLET_OBJECTS.get(cmdlet, PS_CUSTOM_OBJECT)
    return [remote_object(kind, row) for row in rows]
