"""The simulated cmdlets: each takes the bound parameters and returns the output objects (dicts of properties).

Semantics follow Microsoft's documentation (PS = office-docs-powershell pages; facts = exchange-facts.md). Texts
of errors Microsoft does not document are modelled to read like Exchange's and name what is wrong.
"""

from __future__ import annotations

import base64
import datetime as dt
import fnmatch
import hashlib
import time
import uuid
from typing import Any, Callable, Optional
from urllib.parse import parse_qs, urlparse

from ansible_collections.exchange.hybrid.plugins.module_utils._cmdlet_catalog import parameter_available

from ..state import iso, parse_iso
from . import certificates as certs
from . import tenant as entra
from .organization import DEFAULT_PUSH_URI, version_tuple

ACS_ISSUER = "00000001-0000-0000-c000-000000000000"


class CmdletError(Exception):
    """A terminating error of one cmdlet: ``error_id`` is the FullyQualifiedErrorId prefix."""

    def __init__(self, message: str, category: str = "NotSpecified", error_id: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.category = category
        self.error_id = error_id


class Context:
    def __init__(self, state: dict[str, Any], server_name: str, now: dt.datetime) -> None:
        self.state = state
        self.exchange = state["exchange"]
        self.now = now
        self.server = self.find_server(server_name)

    @property
    def dc(self) -> str:
        return self.exchange.get("domain_controller", "DC01")

    def not_found(self, identity: Any) -> CmdletError:
        # ManagementObjectNotFoundException's text.
        return CmdletError(
            "The operation couldn't be performed because object '%s' couldn't be found on '%s'." % (identity, self.dc),
            "NotSpecified",
            "ManagementObjectNotFoundException",
        )

    def already_exists(self, dn: str) -> CmdletError:
        return CmdletError(
            "Active Directory operation failed on %s. The object '%s' already exists." % (self.dc, dn),
            "NotSpecified",
            "ADObjectAlreadyExistsException",
        )

    def find_server(self, identity: Any) -> dict[str, Any]:
        wanted = str(identity).lower()
        for server in self.exchange["servers"].values():
            if wanted in (server["name"].lower(), server["fqdn"].lower(), server["guid"].lower()):
                return server
        raise self.not_found(identity)

    def servers(self) -> list[dict[str, Any]]:
        return sorted(self.exchange["servers"].values(), key=lambda s: s["name"].lower())


def _by_identity(items: list[dict[str, Any]], identity: Any) -> list[dict[str, Any]]:
    wanted = str(identity).lower()
    return [
        i
        for i in items
        if wanted
        in (
            str(i.get("Name", "")).lower(),
            str(i.get("Guid", "")).lower(),
            str(i.get("Identity", "")).lower(),
            str(i.get("DistinguishedName", "")).lower(),
        )
    ]


def _one(ctx: Context, items: list[dict[str, Any]], identity: Any) -> dict[str, Any]:
    found = _by_identity(items, identity)
    if not found:
        raise ctx.not_found(identity)
    return found[0]


def _get(ctx: Context, items: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    # PS (every Get-* with -Identity): a $null Identity returns all objects, as if none was given.
    if params.get("Identity") is None:
        return list(items)
    return [_one(ctx, items, params["Identity"])]


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _bool(value: Any, default: bool = True) -> bool:
    return default if value is None else bool(value)


def _date(value: str) -> dt.datetime:
    text = value.strip().replace("Z", "+00:00")
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        # A DateTime without zone is local time on the server; the simulated servers run in UTC.
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment


# ---------------------------------------------------------------------------------------------- servers, organization


def get_exchange_server(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    servers = ctx.servers()
    if params.get("Identity") is not None:
        servers = [ctx.find_server(params["Identity"])]
    if params.get("Domain") is not None:
        servers = [s for s in servers if s["domain"].lower() == str(params["Domain"]).lower()]
    return [server_object(ctx, s) for s in servers]


def server_object(ctx: Context, server: dict[str, Any]) -> dict[str, Any]:
    roles = server["roles"]
    version = server["admin_display_version"]
    return {
        "Name": server["name"],
        "Identity": server["name"],
        "Fqdn": server["fqdn"],
        "Domain": server["domain"],
        "Edition": server["edition"],
        "AdminDisplayVersion": dict(version),
        "ServerRole": ", ".join(roles),
        "Site": server["site"],
        "IsMailboxServer": "Mailbox" in roles,
        "IsClientAccessServer": "ClientAccess" in roles or ("Mailbox" in roles and version["Minor"] >= 1),
        "IsHubTransportServer": "Mailbox" in roles,
        "IsEdgeServer": "Edge" in roles,
        "IsE14OrLater": True,
        "IsE15OrLater": version["Major"] >= 15,
        "Guid": server["guid"],
        "DistinguishedName": server["distinguished_name"],
        "ExchangeVersion": "0.1 (8.0.535.0)",
    }


def get_organization_config(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(ctx.exchange["organization"])]


def get_intra_organization_connector(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(i) for i in _get(ctx, ctx.exchange["intra_organization_connectors"], params)]


def get_accepted_domain(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(i) for i in _get(ctx, ctx.exchange.get("accepted_domains", []), params)]


def get_partner_application(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(i) for i in _get(ctx, ctx.exchange["partner_applications"], params)]


def set_partner_application(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    app = _one(ctx, ctx.exchange["partner_applications"], params["Identity"])
    for key in (
        "Enabled",
        "Name",
        "ApplicationIdentifier",
        "Realm",
        "AuthMetadataUrl",
        "AccountType",
        "AcceptSecurityIdentifierInformation",
        "LinkedAccount",
    ):
        if key in params:
            app[key] = params[key]
    if "ActAsPermissions" in params:
        app["ActAsPermissions"] = _strings(params["ActAsPermissions"])
    if "Name" in params:
        app["Identity"] = params["Name"]
    return []


# ------------------------------------------------------------------------------------------------------ certificates


def _store_server(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("Server") is not None:
        server = ctx.find_server(params["Server"])
    else:
        identity = params.get("Identity")
        if identity is not None and "\\" in str(identity):
            server = ctx.find_server(str(identity).split("\\", 1)[0])
        else:
            server = ctx.server
    if server is not ctx.server and server.get("offline"):
        raise _rpc_unavailable(server)
    return server


def _rpc_unavailable(server: dict[str, Any]) -> CmdletError:
    """Another server's certificate store is read over RPC from the server running the cmdlet. The prefix is
    Exchange's ("A special Rpc error occurs on server <name>: ...", learn.microsoft.com "Can't remove a certificate
    that's installed in Exchange Server"); the cause is Windows' RPC_S_SERVER_UNAVAILABLE text. That a server that
    is down answers exactly so, and the error id, are assumptions."""
    return CmdletError(
        "A special Rpc error occurs on server %s: The RPC server is unavailable." % server["name"],
        "InvalidOperation",
        "InvalidOperationException",
    )


def _thumb_of(params: dict[str, Any]) -> Optional[str]:
    if params.get("Thumbprint") is not None:
        return str(params["Thumbprint"]).strip().upper()
    if params.get("Identity") is not None:
        return str(params["Identity"]).rsplit("\\", maxsplit=1)[-1].strip().upper()
    return None


def _certificate(ctx: Context, server: dict[str, Any], thumb: str) -> dict[str, Any]:
    for cert in server["certificates"]:
        if cert["Thumbprint"].upper() == thumb:
            return cert
    raise CmdletError(
        "The certificate with thumbprint %s was not found on server %s." % (thumb, server["name"]),
        "NotSpecified",
        "ObjectNotFoundException",
    )


def certificate_object(ctx: Context, cert: dict[str, Any]) -> dict[str, Any]:
    out = dict(cert)
    not_before, not_after = parse_iso(cert["NotBefore"]), parse_iso(cert["NotAfter"])
    out["Status"] = "Valid" if not_before <= ctx.now <= not_after else "DateInvalid"
    return out


def get_exchange_certificate(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    server = _store_server(ctx, params)
    thumb = _thumb_of(params)
    certs_ = server["certificates"]
    if thumb:
        certs_ = [_certificate(ctx, server, thumb)]
    domains = _strings(params.get("DomainName"))
    if domains:
        wanted = {d.lower() for d in domains}
        certs_ = [c for c in certs_ if wanted & {d.lower() for d in c["CertificateDomains"]}]
    # Identity is ServerFQDN\Thumbprint of the store read (exchange-facts.md), whatever the row was stored with.
    return [dict(certificate_object(ctx, c), Identity="%s\\%s" % (server["fqdn"], c["Thumbprint"])) for c in certs_]


def _smtp_prompt(ctx: Context, services: list[str], params: dict[str, Any]) -> None:
    # Assigning SMTP asks "Overwrite the existing default SMTP certificate?" (facts: -Force skips the prompt); an
    # unattended caller cannot answer, so the prompt is an error (the text is non-interactive PowerShell's).
    if "SMTP" in services and not params.get("Force"):
        raise CmdletError(
            "Windows PowerShell is in NonInteractive mode. Read and Prompt functionality is not available.",
            "InvalidOperation",
            "System.Management.Automation.PSInvalidOperationException",
        )


def new_exchange_certificate(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    server = ctx.find_server(params["Server"]) if params.get("Server") is not None else ctx.server
    if params.get("GenerateRequest"):
        raise CmdletError(
            "The simulated Exchange does not model certificate requests (-GenerateRequest).",
            "NotImplemented",
            "NotImplementedException",
        )
    # PS New-ExchangeCertificate.md: Services default IMAP, POP, SMTP; KeySize 2048; FriendlyName "Microsoft Exchange".
    services = (
        certs.normalise_services(params["Services"]) if params.get("Services") is not None else ["IMAP", "POP", "SMTP"]
    )
    _smtp_prompt(ctx, services, params)
    key_size = int(params.get("KeySize") or 2048)
    if key_size not in (1024, 2048, 4096):
        raise CmdletError(
            "The value of KeySize must be 1024, 2048 or 4096.", "InvalidArgument", "ArgumentOutOfRangeException"
        )
    if "DomainName" in params:
        domains = _strings(params["DomainName"])
    elif params.get("SubjectName"):
        domains = []
    else:
        domains = [server["name"], server["fqdn"]]
    if params.get("IncludeServerFQDN"):
        domains.append(server["fqdn"])
    if params.get("IncludeServerNetBIOSName"):
        domains.append(server["name"])
    if params.get("IncludeAutoDiscover") or params.get("IncludeAcceptedDomains"):
        domains.append("autodiscover.%s" % ctx.exchange["ad_domain"])
    domains = list(dict.fromkeys(d for d in domains if d))
    subject = params.get("SubjectName") or "CN=%s" % (domains[0] if domains else server["name"])
    ski = params.get("SubjectKeyIdentifier")
    if ski is not None:
        ski = str(ski).replace("-", "")
        try:
            bytes.fromhex(ski)
        except ValueError:
            raise CmdletError(
                "The SubjectKeyIdentifier '%s' isn't valid." % params["SubjectKeyIdentifier"],
                "InvalidArgument",
                "ArgumentException",
            )
    try:
        der = certs.make_certificate(ctx.now, str(subject), domains, key_size, ski)[0]
    except certs.SubjectError:
        raise CmdletError("The subject name '%s' isn't valid." % subject, "InvalidArgument", "ArgumentException")
    except ValueError as exc:  # e.g. a domain name the certificate library refuses
        raise CmdletError(str(exc), "InvalidArgument", "ArgumentException")
    entry = certs.store_entry(
        der,
        server["fqdn"],
        params.get("FriendlyName") or "Microsoft Exchange",
        certs.services_text(services),
        True,
        _bool(params.get("PrivateKeyExportable"), False),
    )
    server["certificates"].append(entry)
    return [certificate_object(ctx, entry)]


def enable_exchange_certificate(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    server = _store_server(ctx, params)
    cert = _certificate(ctx, server, _thumb_of(params) or "")
    added = certs.normalise_services(params["Services"])
    _smtp_prompt(ctx, added, params)
    current = certs.normalise_services(cert["Services"])
    merged = certs.normalise_services(current + added)
    cert["Services"] = certs.services_text(merged)
    return []


def export_exchange_certificate(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    server = _store_server(ctx, params)
    cert = _certificate(ctx, server, _thumb_of(params) or "")
    if params.get("Password") is not None:
        # A PKCS #12 file with the private key (PS Export-ExchangeCertificate.md: the certificate's
        # PrivateKeyExportable must be True, and -Password includes the private key).
        if not cert["HasPrivateKey"] or not cert["PrivateKeyExportable"]:
            raise CmdletError(
                "The private key of certificate %s on server %s can't be exported: it %s."
                % (cert["Thumbprint"], server["name"], "isn't exportable" if cert["HasPrivateKey"] else "is missing"),
                "InvalidOperation",
                "CertificateKeyNotExportableException",
            )
        data = certs.pfx(base64.b64decode(cert["RawData"]), str(params["Password"]), cert["FriendlyName"])
        # The simulated stores keep no private keys: what an export included is remembered by the file's digest.
        ctx.exchange.setdefault("exported_pfx", {})[hashlib.sha256(data).hexdigest()] = {"HasPrivateKey": True}
        return [{"FileData": base64.b64encode(data).decode("ascii"), "Thumbprint": cert["Thumbprint"]}]
    if params.get("FileName"):
        server["files"][str(params["FileName"])] = cert["RawData"]
    return [{"FileData": cert["RawData"], "Thumbprint": cert["Thumbprint"]}]


def import_exchange_certificate(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    """-FileData with a PKCS #12 file and its -Password (or a DER certificate without one) into -Server's store."""
    server = _store_server(ctx, params)
    data = params.get("FileData")
    if data is None:
        raise CmdletError(
            "The simulated Exchange imports -FileData only.", "NotImplemented", "NotImplementedException"
        )
    data = bytes(data) if not isinstance(data, str) else base64.b64decode(data)
    password = params.get("Password")
    try:
        der, friendly_name = certs.read_pfx(data, None if password is None else str(password))
    except ValueError:
        # Windows' text for a PKCS #12 file whose password does not match (CryptographicException).
        raise CmdletError(
            "The specified network password is not correct.", "InvalidData", "CryptographicException"
        )
    thumb = certs.thumbprint(der)
    if any(c["Thumbprint"].upper() == thumb for c in server["certificates"]):
        raise CmdletError(
            "The certificate with thumbprint %s already exists on server %s." % (thumb, server["name"]),
            "ResourceExists",
            "CertificateAlreadyExistsException",
        )
    exported = ctx.exchange.get("exported_pfx", {}).get(hashlib.sha256(data).hexdigest(), {})
    entry = certs.store_entry(
        der,
        server["fqdn"],
        params.get("FriendlyName") or friendly_name or "Microsoft Exchange",
        "None",
        bool(exported.get("HasPrivateKey")),
        _bool(params.get("PrivateKeyExportable"), False),
    )
    server["certificates"].append(entry)
    return [certificate_object(ctx, entry)]


def remove_exchange_certificate(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    server = _store_server(ctx, params)
    cert = _certificate(ctx, server, _thumb_of(params) or "")
    server["certificates"].remove(cert)
    return []


# ------------------------------------------------------------------------------------------------------ AuthConfig


def _auth_config(ctx: Context) -> dict[str, Any]:
    return ctx.exchange["auth_config"]


def deploy_auth_certificate(ctx: Context, source: dict[str, Any], thumb: str) -> None:
    """The AuthAdmin servicelet deploys the Auth certificate, with its private key, to every server (facts (c))."""
    cert = _certificate(ctx, source, thumb)
    for server in ctx.servers():
        if any(c["Thumbprint"].upper() == thumb for c in server["certificates"]):
            continue
        copy_ = dict(cert)
        copy_["Identity"] = "%s\\%s" % (server["fqdn"], cert["Thumbprint"])
        copy_["HasPrivateKey"] = True
        server["certificates"].append(copy_)


def _holder(ctx: Context, thumb: str) -> Optional[dict[str, Any]]:
    for server in [ctx.server] + ctx.servers():
        for cert in server["certificates"]:
            if cert["Thumbprint"].upper() == thumb and cert["HasPrivateKey"]:
                return server
    return None


# The AuthAdmin servicelet works on a schedule, not on every cmdlet: Microsoft's immediate replacement (stage with
# -NewCertificateEffectiveDate (Get-Date), then -PublishCertificate in the next call; CSS New-ExchangeAuthCertificate.ps1)
# relies on the switch not having happened in between. Its interval is not documented; modelled as one hour.
AUTH_SERVICELET_DELAY_SECONDS = 3600.0


def apply_scheduled_rollover(ctx: Context) -> None:
    """The AuthAdmin servicelet switches to the staged certificate once its effective date has passed by its
    interval (``settings.auth_servicelet_delay_seconds``)."""
    config = _auth_config(ctx)
    nxt, when = config.get("NextCertificateThumbprint"), config.get("NextCertificateEffectiveDate")
    delay = float(ctx.exchange.get("settings", {}).get("auth_servicelet_delay_seconds", AUTH_SERVICELET_DELAY_SECONDS))
    if nxt and when and parse_iso(when) + dt.timedelta(seconds=delay) <= ctx.now:
        _publish(ctx, config)


def _publish(ctx: Context, config: dict[str, Any]) -> None:
    nxt = config["NextCertificateThumbprint"].upper()
    config["PreviousCertificateThumbprint"] = config.get("CurrentCertificateThumbprint")
    config["CurrentCertificateThumbprint"] = nxt
    config["NextCertificateThumbprint"] = None
    config["NextCertificateEffectiveDate"] = None
    holder = _holder(ctx, nxt)
    if holder is not None:
        deploy_auth_certificate(ctx, holder, nxt)


def get_auth_config(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(_auth_config(ctx))]


def _usable_auth_certificate(ctx: Context, params: dict[str, Any], thumb: str) -> dict[str, Any]:
    server = ctx.find_server(params["Server"]) if params.get("Server") is not None else ctx.server
    found = [c for c in server["certificates"] if c["Thumbprint"].upper() == thumb]
    if not found:
        raise CmdletError(
            "The certificate with thumbprint %s was not found on server %s. Install it on this server or run the "
            "command on a server that has it." % (thumb, server["name"]),
            "InvalidArgument",
            "CertificateNotFoundException",
        )
    if not found[0]["HasPrivateKey"]:
        raise CmdletError(
            "The certificate with thumbprint %s on server %s doesn't have a private key. The Auth certificate must "
            "have a private key." % (thumb, server["name"]),
            "InvalidArgument",
            "CertificateNoPrivateKeyException",
        )
    if parse_iso(found[0]["NotAfter"]) < ctx.now:
        raise CmdletError(
            "The certificate with thumbprint %s expired on %s." % (thumb, found[0]["NotAfter"]),
            "InvalidArgument",
            "CertificateExpiredException",
        )
    return server


def set_auth_config(ctx: Context, params: dict[str, Any], parameter_set: str) -> list[dict[str, Any]]:
    config = _auth_config(ctx)
    deploy = not params.get("SkipImmediateCertificateDeployment")
    if parameter_set == "CurrentCertificateParameter":
        thumb = str(params["CertificateThumbprint"]).strip().upper()
        server = _usable_auth_certificate(ctx, params, thumb)
        config["CurrentCertificateThumbprint"] = thumb
        if deploy:
            deploy_auth_certificate(ctx, server, thumb)
    elif parameter_set == "NewCertificateParameter":
        if params.get("NewCertificateThumbprint") is not None:
            thumb = str(params["NewCertificateThumbprint"]).strip().upper()
            server = _usable_auth_certificate(ctx, params, thumb)
            config["NextCertificateThumbprint"] = thumb
            if deploy:
                deploy_auth_certificate(ctx, server, thumb)
        if params.get("NewCertificateEffectiveDate") is not None:
            config["NextCertificateEffectiveDate"] = iso(_date(str(params["NewCertificateEffectiveDate"])))
    elif parameter_set == "PublishAuthCertificateParameter":
        if params.get("PublishCertificate"):
            # PS Set-AuthConfig.md Example 2: "You must have installed a certificate marked as the next certificate."
            if not config.get("NextCertificateThumbprint"):
                raise CmdletError(
                    "The next certificate isn't configured, so there's nothing to publish. Use "
                    "-NewCertificateThumbprint to configure the next certificate first.",
                    "InvalidOperation",
                    "InvalidOperationException",
                )
            _publish(ctx, config)
        if params.get("ClearPreviousCertificate"):
            config["PreviousCertificateThumbprint"] = None
    elif parameter_set == "AuthConfigSettings":
        for key in ("Realm", "ServiceName"):
            if key in params:
                config[key] = params[key] if params[key] is not None else ""
    return []


# ------------------------------------------------------------------------------------------------------ AuthServer


def auth_metadata(ctx: Context, url: str) -> dict[str, Any]:
    """What New-AuthServer reads from the metadata document: type, issuer, realm and endpoints.

    ACS (``accounts.accesscontrol.windows.net/metadata/json/1/?realm=<domain>`` as the push-proxy article uses it, or
    ``.../<tenant id>/metadata/json/1`` as the HCW does) gives MicrosoftACS; Entra's federation metadata
    (``login.windows.net/<tenant>/federationmetadata/2007-06/federationmetadata.xml``) gives AzureAD (facts (a)).
    """
    parsed = urlparse(url)
    host = (parsed.hostname or "").lower()
    path = parsed.path.rstrip("/").lower()
    segments = [s for s in parsed.path.split("/") if s]
    named: Optional[str] = None
    kind: Optional[str] = None
    if path.endswith("/metadata/json/1"):
        kind = "MicrosoftACS"
        realm = parse_qs(parsed.query).get("realm")
        named = realm[0] if realm else (segments[0] if len(segments) == 4 else None)
    elif path.endswith("/federationmetadata/2007-06/federationmetadata.xml") and len(segments) == 4:
        kind = "AzureAD"
        named = segments[0]
    if kind is None or parsed.scheme != "https" or not host:
        raise CmdletError(
            "Couldn't retrieve the authorization metadata from '%s': the remote name couldn't be resolved or the "
            "document isn't an authorization metadata document." % url,
            "NotSpecified",
            "AuthMetadataClientException",
        )
    # Realm = the tenant id when the simulated Entra knows the tenant (by id or domain); a tenant it does not know
    # (another organization's) still answers, so the object is created with an empty realm and the probe names it.
    tenant_id = entra.resolve_tenant(ctx.state, named)
    if tenant_id is None:
        tenant_id = named if named and entra.is_guid(named) else ""
    base = "%s://%s" % (parsed.scheme, parsed.netloc)
    if kind == "MicrosoftACS":
        return {
            "Type": kind,
            "IssuerIdentifier": ACS_ISSUER,
            "Realm": tenant_id,
            "TokenIssuingEndpoint": "%s/%s/tokens/OAuth/2" % (base, tenant_id),
            "AuthorizationEndpoint": None,
        }
    return {
        "Type": kind,
        "IssuerIdentifier": "https://sts.windows.net/%s/" % tenant_id,
        "Realm": tenant_id,
        "TokenIssuingEndpoint": "%s/%s/oauth2/token" % (base, tenant_id),
        "AuthorizationEndpoint": "%s/%s/oauth2/authorize" % (base, tenant_id),
    }


def _canonical_enum(value: Any, names: list[str]) -> str:
    for name in names:
        if name.lower() == str(value).lower():
            return name
    return str(value)


def get_auth_server(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(i) for i in _get(ctx, ctx.exchange["auth_servers"], params)]


def new_auth_server(ctx: Context, params: dict[str, Any], parameter_set: str) -> list[dict[str, Any]]:
    name = str(params["Name"])
    org_dn = ctx.exchange["organization"]["DistinguishedName"]
    dn = "CN=%s,CN=Auth Servers,CN=Auth Configuration,%s" % (name, org_dn)
    if _by_identity(ctx.exchange["auth_servers"], name):
        raise ctx.already_exists(dn)
    server: dict[str, Any] = {
        "Name": name,
        "Identity": name,
        "Id": name,
        "Guid": str(uuid.uuid4()),
        "DistinguishedName": dn,
        "Type": None,
        "AuthMetadataUrl": None,
        "IssuerIdentifier": None,
        "Realm": None,
        "TokenIssuingEndpoint": None,
        "AuthorizationEndpoint": None,
        "ApplicationIdentifier": params.get("ApplicationIdentifier"),
        "DomainName": _strings(params.get("DomainName")),
        "GraphBaseUrl": params.get("GraphBaseUrl"),
        "Enabled": _bool(params.get("Enabled"), True),
        "IsDefaultAuthorizationEndpoint": False,
        "TrustAnySSLCertificate": bool(params.get("TrustAnySSLCertificate")),
    }
    if params.get("AuthMetadataUrl") is not None:
        server["AuthMetadataUrl"] = str(params["AuthMetadataUrl"])
        server.update(auth_metadata(ctx, server["AuthMetadataUrl"]))
    if params.get("Type") is not None:
        server["Type"] = _canonical_enum(params["Type"], ["ADFS", "AzureAD", "Facebook", "LinkedIn", "MicrosoftACS"])
    ctx.exchange["auth_servers"].append(server)
    return [dict(server)]


def set_auth_server(ctx: Context, params: dict[str, Any], parameter_set: str) -> list[dict[str, Any]]:
    server = _one(ctx, ctx.exchange["auth_servers"], params["Identity"])
    if params.get("Name") is not None and str(params["Name"]) != server["Name"]:
        others = [s for s in _by_identity(ctx.exchange["auth_servers"], params["Name"]) if s is not server]
        if others:
            raise ctx.already_exists(others[0]["DistinguishedName"])
        server["Name"] = server["Identity"] = server["Id"] = str(params["Name"])
    if params.get("AuthMetadataUrl") is not None or params.get("RefreshAuthMetadata"):
        url = str(params.get("AuthMetadataUrl") or server.get("AuthMetadataUrl") or "")
        derived = auth_metadata(ctx, url)
        derived.pop("Type")  # the type is fixed at creation (Set-AuthServer has no -Type)
        server["AuthMetadataUrl"] = url
        server.update(derived)
    for key in ("Enabled", "IsDefaultAuthorizationEndpoint", "ApplicationIdentifier", "GraphBaseUrl"):
        if key in params:
            server[key] = params[key]
    if "DomainName" in params:
        server["DomainName"] = _strings(params["DomainName"])
    if "TrustAnySSLCertificate" in params:
        server["TrustAnySSLCertificate"] = bool(params["TrustAnySSLCertificate"])
    return []


def remove_auth_server(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    server = _one(ctx, ctx.exchange["auth_servers"], params["Identity"])
    ctx.exchange["auth_servers"].remove(server)
    return []


# ---------------------------------------------------------------------------------------------------- push proxy


def _push_app(ctx: Context) -> dict[str, Any]:
    return _one(ctx, ctx.exchange["push_notification_apps"], "OnPrem-Proxy")


def get_push_notification_app(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(i) for i in _get(ctx, ctx.exchange["push_notification_apps"], params)]


def enable_push_notification_proxy(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    # PS Enable-PushNotificationProxy.md: -Organization, -Uri (default https://outlook.office365.com/PushNotifications);
    # the article's output shows the organization lower-cased.
    app = _push_app(ctx)
    if params.get("Organization") is not None:
        app["Organization"] = str(params["Organization"]).lower()
    if params.get("Uri") is not None:
        app["Uri"] = str(params["Uri"])
    elif not app.get("Uri"):
        app["Uri"] = DEFAULT_PUSH_URI
    app["Enabled"] = True
    return [dict(app)]


def disable_push_notification_proxy(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    app = _push_app(ctx)
    app["Enabled"] = False
    return [dict(app)]


# ------------------------------------------------------------------------------------------------ setting overrides


def _override_parameters(value: Any) -> list[str]:
    items = _strings(value)
    for item in items:
        key, sep, _value = item.partition("=")
        if not sep or not key.strip():
            raise CmdletError(
                "The parameter '%s' isn't valid. Use the syntax <name>=<value>." % item,
                "InvalidArgument",
                "ArgumentException",
            )
    return items


def _version_text(value: Any) -> Optional[str]:
    if value is None:
        return None
    parts = str(value).strip().split(".")
    try:
        return ".".join(str(int(p)) for p in parts)  # PS: leading zeros are accepted but stripped
    except ValueError:
        raise CmdletError(
            'Cannot convert value "%s" to type "System.Version".' % value, "InvalidArgument", "InvalidCastException"
        )


def get_setting_override(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(i) for i in _get(ctx, ctx.exchange["setting_overrides"], params)]


def new_setting_override(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    name = str(params["Name"])
    dn = "CN=%s,CN=Setting Overrides,CN=Global Settings,%s" % (name, ctx.exchange["organization"]["DistinguishedName"])
    if _by_identity(ctx.exchange["setting_overrides"], name):
        raise ctx.already_exists(dn)
    override = {
        "Name": name,
        "Identity": name,
        "Guid": str(uuid.uuid4()),
        "DistinguishedName": dn,
        "Reason": params.get("Reason"),
        "ComponentName": params.get("Component"),
        "SectionName": params.get("Section"),
        "Parameters": _override_parameters(params.get("Parameters")),
        "Server": _strings(params.get("Server")),
        "MinVersion": _version_text(params.get("MinVersion")),
        "MaxVersion": _version_text(params.get("MaxVersion")),
        "WhenCreatedUTC": iso(ctx.now),
    }
    ctx.exchange["setting_overrides"].append(override)
    return [dict(override)]


def set_setting_override(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    override = _one(ctx, ctx.exchange["setting_overrides"], params["Identity"])
    if "Parameters" in params:
        override["Parameters"] = _override_parameters(params["Parameters"])
    if "Reason" in params:
        override["Reason"] = params["Reason"]
    if "Server" in params:
        override["Server"] = _strings(params["Server"])
    for key in ("MinVersion", "MaxVersion"):
        if key in params:
            override[key] = _version_text(params[key])
    return []


def remove_setting_override(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    override = _one(ctx, ctx.exchange["setting_overrides"], params["Identity"])
    ctx.exchange["setting_overrides"].remove(override)
    return []


def override_applies(override: dict[str, Any], server: dict[str, Any]) -> bool:
    if override.get("Server"):
        if not any(fnmatch.fnmatch(server["name"].lower(), pattern.lower()) for pattern in override["Server"]):
            return False
    version = version_tuple(server["exsetup_build"])
    for key, compare in (("MinVersion", lambda v, m: v >= m), ("MaxVersion", lambda v, m: v <= m)):
        if override.get(key):
            limit = tuple(int(p) for p in override[key].split("."))
            if not compare(version[: len(limit)], limit):
                return False
    return True


def get_exchange_diagnostic_info(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    server = ctx.find_server(params["Server"]) if params.get("Server") is not None else ctx.server
    process, component, argument = params.get("Process"), params.get("Component"), params.get("Argument")
    if (
        str(process or "").lower() == "microsoft.exchange.directory.topologyservice"
        and str(component or "").lower() == "variantconfiguration"
        and str(argument or "").lower() == "refresh"
    ):
        # ConfigureExchangeHybridApplication.ps1 refreshes the variant configuration so a new override applies now.
        ctx.exchange["variant_configuration_refreshes"].append({"server": server["name"], "time": iso(ctx.now)})
        result = "<Diagnostics><Components><VariantConfiguration><Refresh>Success</Refresh></VariantConfiguration>"
        result += "</Components></Diagnostics>"
    else:
        result = "<Diagnostics><Server>%s</Server></Diagnostics>" % server["name"]
    return [{"Server": server["name"], "Result": result}]


# ------------------------------------------------------------------------------------------------------ health


def health_ready(ctx: Context, server: dict[str, Any]) -> bool:
    service = server["services"]["MSExchangeHM"]
    return service["Status"] == "Running" and time.time() >= service.get("ready_at", 0)


def health_not_ready(server: dict[str, Any]) -> CmdletError:
    return CmdletError(
        "The Microsoft Exchange Health Manager service (MSExchangeHM) on server %s isn't ready: it is not running or "
        "is still loading its probe definitions. Wait until the service has started and run the command again."
        % server["fqdn"],
        "ResourceUnavailable",
        "HealthManagerNotReadyException",
    )


Cmdlet = Callable[..., list]
# Cmdlets that also need the resolved parameter set name.
WITH_SET = {"Set-AuthConfig", "New-AuthServer", "Set-AuthServer"}
CMDLETS: dict[str, Cmdlet] = {
    "Get-ExchangeServer": get_exchange_server,
    "Get-OrganizationConfig": get_organization_config,
    "Get-AcceptedDomain": get_accepted_domain,
    "Get-IntraOrganizationConnector": get_intra_organization_connector,
    "Get-PartnerApplication": get_partner_application,
    "Set-PartnerApplication": set_partner_application,
    "Get-ExchangeCertificate": get_exchange_certificate,
    "New-ExchangeCertificate": new_exchange_certificate,
    "Enable-ExchangeCertificate": enable_exchange_certificate,
    "Export-ExchangeCertificate": export_exchange_certificate,
    "Import-ExchangeCertificate": import_exchange_certificate,
    "Remove-ExchangeCertificate": remove_exchange_certificate,
    "Get-AuthConfig": get_auth_config,
    "Set-AuthConfig": set_auth_config,
    "Get-AuthServer": get_auth_server,
    "New-AuthServer": new_auth_server,
    "Set-AuthServer": set_auth_server,
    "Remove-AuthServer": remove_auth_server,
    "Get-PushNotificationApp": get_push_notification_app,
    "Enable-PushNotificationProxy": enable_push_notification_proxy,
    "Disable-PushNotificationProxy": disable_push_notification_proxy,
    "Get-SettingOverride": get_setting_override,
    "New-SettingOverride": new_setting_override,
    "Set-SettingOverride": set_setting_override,
    "Remove-SettingOverride": remove_setting_override,
    "Get-ExchangeDiagnosticInfo": get_exchange_diagnostic_info,
}


def supports_hybrid_application(server: dict[str, Any]) -> bool:
    """April 2025 HU or later (by the ExSetup build): the same limit as -ApplicationIdentifier."""
    return parameter_available("Set-AuthServer", "ApplicationIdentifier", version_tuple(server["exsetup_build"]))
