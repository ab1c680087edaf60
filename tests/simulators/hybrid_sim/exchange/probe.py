"""PushNotifications.Proxy\\PushNotificationsEnterpriseConnectivityProbe and the minimal Managed Availability reads.

The probe succeeds only when every piece of the documented procedure truly holds, checked in this order, and
otherwise fails naming the first missing piece:
(a) the probing server holds AuthConfig's current certificate with its private key, valid now;
(b) an enabled AuthServer for the tenant's issuer with the right metadata URL;
(c) the certificate's key, unexpired, in the simulated Entra on the object the organization trusts: the shared
    Office 365 Exchange Online service principal, or - when the Global/ExchangeOnpremAsThirdPartyAppId override
    says Enabled=true, the evoSTS AuthServer names an ApplicationIdentifier and the server's build has the April
    2025 HU - the dedicated application (ConfigureExchangeHybridApplication.ps1);
(d) the push proxy is enabled for the same organization (tenant).

Test-OAuthConnectivity (below) judges by (a) to (c) (``oauth_problem``): Success when they hold, else Error with
a Detail shaped as Exchange's (a captured ``Test-OAuthConnectivity -Service EWS ... | fl *``: Task "Checking EWS
API Call Under Oauth", a Detail holding the "Exchange Outbound Oauth Log" and "Exchange Response Details" with the
WebException, ResultType Success or Error, Identity Microsoft.Exchange.Security.OAuth.ValidationResultNodeId). A key
missing in Entra shows as Entra's AADSTS700027 answer to Exchange's client assertion and a 401 from Exchange
Online; the wording of the other failures is ours (the piece the probe names).
"""

from __future__ import annotations

import uuid
from typing import Any, Optional
from urllib.parse import urlsplit

from ansible_collections.exchange.hybrid.plugins.module_utils._clouds import CLOUDS, EXCHANGE_ONLINE_APP_ID

from ..state import iso, parse_iso
from . import tenant as entra
from .cmdlets import (
    CmdletError,
    Context,
    health_not_ready,
    health_ready,
    override_applies,
    supports_hybrid_application,
)

PUSH_HEALTH_SET = "PushNotifications.Proxy"
PUSH_PROBE = "PushNotificationsEnterpriseConnectivityProbe"
PUSH_MONITOR = "PushNotificationsEnterpriseConnectivityMonitor"


class Missing(Exception):
    """The first missing piece, as the probe's Error text."""


def _tenant_for(ctx: Context) -> Optional[str]:
    app = _push_app(ctx)
    tenant_id = entra.resolve_tenant(ctx.state, app.get("Organization"))
    if tenant_id:
        return tenant_id
    for server in ctx.exchange["auth_servers"]:
        if server.get("Realm") and entra.resolve_tenant(ctx.state, server["Realm"]):
            return entra.resolve_tenant(ctx.state, server["Realm"])
    known = list(entra.tenants(ctx.state))
    return known[0] if len(known) == 1 else None


def _push_app(ctx: Context) -> dict[str, Any]:
    for app in ctx.exchange["push_notification_apps"]:
        if app["Name"] == "OnPrem-Proxy":
            return app
    return {}


def _names(ctx: Context, tenant_id: str) -> list[str]:
    return [tenant_id.lower()] + entra.domain_names(entra.tenants(ctx.state).get(tenant_id, {}))


def _acs_urls(ctx: Context, tenant_id: str) -> set[str]:
    urls = set()
    for cloud in CLOUDS.values():
        if not cloud["acs_metadata"]:
            continue  # a cloud with no published ACS metadata URL (bleu, delos)
        for name in _names(ctx, tenant_id):
            urls.add(cloud["acs_metadata"].format(tenant=name).lower())
            # The HCW's path form (facts (a)): https://accounts.accesscontrol.windows.net/<tenant>/metadata/json/1
            urls.add(cloud["acs_metadata"].split("/metadata/")[0].lower() + "/%s/metadata/json/1" % name)
    return urls


def _evosts_urls(ctx: Context, tenant_id: str) -> set[str]:
    urls = set()
    for cloud in CLOUDS.values():
        for name in _names(ctx, tenant_id):
            urls.add(cloud["evosts_metadata"].format(tenant=name).lower())
            other = cloud["evosts_metadata"].replace("login.windows.net", "login.microsoftonline.com")
            urls.add(other.format(tenant=name).lower())
    return urls


def _dedicated_app_id(ctx: Context, server: dict[str, Any]) -> Optional[str]:
    enabled = any(
        str(o.get("ComponentName", "")).lower() == "global"
        and str(o.get("SectionName", "")).lower() == "exchangeonpremasthirdpartyappid"
        and any(p.replace(" ", "").lower() == "enabled=true" for p in o.get("Parameters") or [])
        and override_applies(o, server)
        for o in ctx.exchange["setting_overrides"]
    )
    if not enabled or not supports_hybrid_application(server):
        return None
    for auth_server in ctx.exchange["auth_servers"]:
        if (
            auth_server.get("Type") == "AzureAD"
            and auth_server.get("Enabled")
            and auth_server.get("ApplicationIdentifier")
        ):
            return str(auth_server["ApplicationIdentifier"])
    return None


def _check_certificate(ctx: Context, server: dict[str, Any]) -> str:
    thumb = (ctx.exchange["auth_config"].get("CurrentCertificateThumbprint") or "").upper()
    if not thumb:
        raise Missing("the Auth certificate isn't configured: AuthConfig has no CurrentCertificateThumbprint")
    found = [c for c in server["certificates"] if c["Thumbprint"].upper() == thumb]
    if not found:
        raise Missing(
            "the Auth certificate %s (AuthConfig's current certificate) isn't in the certificate store of "
            "server %s" % (thumb, server["name"])
        )
    cert = found[0]
    if not cert["HasPrivateKey"]:
        raise Missing("the Auth certificate %s on server %s has no private key" % (thumb, server["name"]))
    if parse_iso(cert["NotAfter"]) < ctx.now:
        raise Missing("the Auth certificate %s expired on %s" % (thumb, cert["NotAfter"]))
    if parse_iso(cert["NotBefore"]) > ctx.now:
        raise Missing("the Auth certificate %s isn't valid before %s" % (thumb, cert["NotBefore"]))
    return thumb


def _check_auth_server(ctx: Context, tenant_id: Optional[str], dedicated: Optional[str]) -> None:
    if tenant_id is None:
        raise Missing(
            "no AuthServer for a Microsoft 365 tenant is configured (New-AuthServer with the tenant's "
            "authorization metadata URL)"
        )
    wanted_type = "AzureAD" if dedicated else "MicrosoftACS"
    urls = _evosts_urls(ctx, tenant_id) if dedicated else _acs_urls(ctx, tenant_id)
    candidates = [s for s in ctx.exchange["auth_servers"] if s.get("Type") == wanted_type]
    matching = [s for s in candidates if str(s.get("AuthMetadataUrl") or "").lower() in urls]
    if any(s.get("Enabled") for s in matching):
        return
    names = _names(ctx, tenant_id)
    key = "evosts_metadata" if dedicated else "acs_metadata"
    example = CLOUDS["global"][key].format(tenant=tenant_id if dedicated else (names[1:] or names)[0])
    if matching:
        raise Missing("the AuthServer %s for tenant %s is disabled" % (matching[0]["Name"], tenant_id))
    found = ", ".join("%s (%s)" % (s["Name"], s.get("AuthMetadataUrl")) for s in candidates) or "none"
    raise Missing(
        "no enabled %s AuthServer has the authorization metadata URL of tenant %s (expected for example "
        "%s; found: %s)" % (wanted_type, tenant_id, example, found)
    )


def _check_entra_key(ctx: Context, tenant_id: str, thumb: str, dedicated: Optional[str]) -> None:
    tenant = entra.tenants(ctx.state).get(tenant_id) or {}
    if dedicated:
        target = entra.find_by_app_id(tenant, "applications", dedicated)
        label = "application %s" % dedicated
        if target is None:
            raise Missing(
                "the Entra ID application %s (named by the evoSTS AuthServer's ApplicationIdentifier) "
                "doesn't exist in tenant %s" % (dedicated, tenant_id)
            )
        label = "application %s (%s)" % (
            dedicated,
            target.get("displayName") or "dedicated Exchange hybrid application",
        )
    else:
        target = entra.find_by_app_id(tenant, "servicePrincipals", EXCHANGE_ONLINE_APP_ID)
        if target is None:
            raise Missing(
                "the Entra ID service principal %s (Office 365 Exchange Online) doesn't exist in tenant %s"
                % (EXCHANGE_ONLINE_APP_ID, tenant_id)
            )
        label = "service principal %s (Office 365 Exchange Online)" % EXCHANGE_ONLINE_APP_ID
    keys = [k for k in target.get("keyCredentials") or [] if entra.key_thumbprint(k) == thumb]
    if not keys:
        raise Missing("the Auth certificate %s is not registered on the Entra ID %s" % (thumb, label))
    for key in keys:
        start, end = entra.parse_graph_date(key.get("startDateTime")), entra.parse_graph_date(key.get("endDateTime"))
        if (start is None or start <= ctx.now) and (end is None or end > ctx.now):
            return
    end = keys[0].get("endDateTime")
    raise Missing(
        "the key of the Auth certificate %s on the Entra ID %s isn't valid now (start %s, end %s)"
        % (thumb, label, keys[0].get("startDateTime"), end)
    )


def _check_proxy(ctx: Context, tenant_id: str) -> None:
    app = _push_app(ctx)
    if not app.get("Enabled"):
        raise Missing("the push notification proxy (OnPrem-Proxy) is disabled; run Enable-PushNotificationProxy")
    if entra.resolve_tenant(ctx.state, app.get("Organization")) != tenant_id:
        raise Missing(
            "the push notification proxy is enabled for organization '%s', not for tenant %s"
            % (app.get("Organization"), tenant_id)
        )


def oauth_problem(ctx: Context, server: dict[str, Any]) -> Optional[tuple[str, str]]:
    """(a) to (c), the organization's OAuth with Microsoft 365 as ``server`` uses it: None when it holds, else
    (piece, the first missing piece), piece ``certificate``, ``auth_server`` or ``entra_key``. The probe and
    Test-OAuthConnectivity both judge by this."""
    piece = "certificate"
    try:
        thumb = _check_certificate(ctx, server)
        piece = "auth_server"
        tenant_id = _tenant_for(ctx)
        dedicated = _dedicated_app_id(ctx, server)
        _check_auth_server(ctx, tenant_id, dedicated)
        piece = "entra_key"
        _check_entra_key(ctx, tenant_id or "", thumb, dedicated)
    except Missing as missing:
        return piece, str(missing)
    return None


def evaluate(ctx: Context, server: dict[str, Any]) -> Optional[str]:
    """None when every piece holds, else the first missing piece."""
    problem = oauth_problem(ctx, server)
    if problem is not None:
        return problem[1]
    try:
        _check_proxy(ctx, _tenant_for(ctx) or "")
    except Missing as missing:
        return str(missing)
    return None


def invoke_monitoring_probe(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    server = ctx.find_server(params["Server"])
    identity = str(params["Identity"])
    if identity.lower() != ("%s\\%s" % (PUSH_HEALTH_SET, PUSH_PROBE)).lower():
        raise CmdletError(
            "The probe '%s' can't be invoked on server %s. Only some probes can be run with Invoke-MonitoringProbe."
            % (identity, server["fqdn"]),
            "InvalidOperation",
            "ProbeNotInvokableException",
        )
    if not health_ready(ctx, server):
        raise health_not_ready(server)
    problem = evaluate(ctx, server)
    result = {
        "Server": server["fqdn"],
        "MachineName": server["name"],
        "ServiceName": PUSH_HEALTH_SET,
        "ResultName": "%s/%s" % (PUSH_HEALTH_SET, PUSH_PROBE),
        "ResultType": "Succeeded" if problem is None else "Failed",
        "Error": "",
        "Exception": "",
        "ExecutionStartTime": iso(ctx.now),
        "ExecutionEndTime": iso(ctx.now),
        "RetryCount": 0,
        "FailureContext": "",
        "ExecutionContext": "",
    }
    if problem is not None:
        result["Error"] = "%s failed on %s: %s." % (PUSH_PROBE, server["fqdn"], problem)
        result["Exception"] = "Microsoft.Exchange.PushNotifications.PushNotificationPermanentException: %s." % problem
    return [result]


def get_server_health(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    server = ctx.find_server(params["Identity"])
    if not health_ready(ctx, server):
        raise health_not_ready(server)
    health_set = params.get("HealthSet")
    if health_set is not None and str(health_set).lower() != PUSH_HEALTH_SET.lower():
        return []
    healthy = evaluate(ctx, server) is None
    return [
        {
            "Server": server["name"],
            "CurrentHealthSetState": "Online",
            "Name": PUSH_MONITOR,
            "TargetResource": "",
            "HealthSetName": PUSH_HEALTH_SET,
            "HealthGroupName": "ServiceComponents",
            "AlertValue": "Healthy" if healthy else "Unhealthy",
            "ServerComponent": "None",
        }
    ]


def get_health_report(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    rows = get_server_health(ctx, {"Identity": params["Identity"], "HealthSet": params.get("HealthSet")})
    return [
        {
            "Server": row["Server"],
            "State": "Online",
            "HealthSet": row["HealthSetName"],
            "AlertValue": row["AlertValue"],
            "LastTransitionTime": iso(ctx.now),
            "MonitorCount": 1,
        }
        for row in rows
    ]


def get_monitoring_item_identity(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    server = ctx.find_server(params["Server"])
    if not health_ready(ctx, server):
        raise health_not_ready(server)
    if str(params["Identity"]).lower() != PUSH_HEALTH_SET.lower():
        return []
    return [
        {"Identity": "%s\\%s" % (PUSH_HEALTH_SET, name), "ItemType": kind, "Name": name, "TargetResource": ""}
        for kind, name in (("Probe", PUSH_PROBE), ("Monitor", PUSH_MONITOR))
    ]


OAUTH_TASK = {"ews": "Checking EWS API Call Under Oauth", "autod": "Checking AutoD API Call Under Oauth",
              "generic": "Checking Generic API Call Under Oauth"}
OAUTH_RESULT_ID = "Microsoft.Exchange.Security.OAuth.ValidationResultNodeId"
# Exchange Online's hosts per cloud (the EWS URLs of _clouds.py, and the Autodiscover host Microsoft's docs use).
EXCHANGE_ONLINE_HOSTS = {urlsplit(cloud["ews"]).hostname for cloud in CLOUDS.values()} | {"autodiscover-s.outlook.com"}


def find_mailbox(ctx: Context, identity: Any) -> dict[str, Any]:
    """A mailbox by any of MailboxIdParameter's forms the state knows (name, alias, SMTP address, UPN,
    DOMAIN\\user, GUID); ManagementObjectNotFoundException's text otherwise."""
    wanted = str(identity).strip().lower()
    for mailbox in ctx.exchange.get("mailboxes") or []:
        names = {mailbox.get(key, "") for key in ("Name", "Alias", "PrimarySmtpAddress", "UserPrincipalName", "Guid")}
        names.add("%s\\%s" % (ctx.exchange["ad_domain"].split(".")[0], mailbox.get("SamAccountName", "")))
        if wanted in {str(n).lower() for n in names if n}:
            return mailbox
    raise ctx.not_found(identity)


def _oauth_detail(ctx: Context, target: str, mailbox: Optional[dict[str, Any]], failure: Optional[str]) -> str:
    lines = [
        "The configuration was last successfully loaded at %s UTC." % iso(ctx.now),
        'The token cache is being cleared because "use cached token" was set to false.',
        "Exchange Outbound Oauth Log:",
        "Client request ID: %s" % uuid.uuid4(),
        "Information:[OAuthCredentials:Authenticate] entering",
    ]
    if mailbox is not None:
        lines.append("Information:[OAuthCredentials:Authenticate] user context %s" % mailbox["PrimarySmtpAddress"])
    lines += ["", "Exchange Response Details:"]
    if failure is None:
        lines.append("HTTP response message: 200 OK (%s)" % target)
    else:
        lines += ["HTTP response message: ", "Exception:", failure]
    return "\n".join(lines)


def _oauth_failure(ctx: Context, server: dict[str, Any], target: str) -> Optional[str]:
    """The exception text Exchange would report, or None when the call succeeds."""
    host = (urlsplit(target).hostname or "").lower()
    if host not in EXCHANGE_ONLINE_HOSTS:
        return "System.Net.WebException: The remote name could not be resolved: '%s'" % host
    problem = oauth_problem(ctx, server)
    if problem is None:
        return None
    piece, text = problem
    if piece == "entra_key":
        return (
            "System.Net.WebException: The remote server returned an error: (401) Unauthorized.\n"
            'x-ms-diagnostics: 2000003;reason="AADSTS700027: Client assertion contains an invalid signature. '
            '[Reason - The key was not found.]";error_category="invalid_client" (%s)' % text
        )
    return "Microsoft.Exchange.Security.OAuth.OAuthTokenRequestFailedException: %s." % text


def oauth_connectivity_test(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    server = ctx.server
    mailbox = find_mailbox(ctx, params["Mailbox"]) if params.get("Mailbox") is not None else None
    target = str(params["TargetUri"])
    failure = _oauth_failure(ctx, server, target)
    return [
        {
            "Task": OAUTH_TASK[str(params["Service"]).lower()],
            "Detail": _oauth_detail(ctx, target, mailbox, failure),
            "ResultType": "Success" if failure is None else "Error",
            "Identity": OAUTH_RESULT_ID,
            "IsValid": True,
            "ObjectState": "New",
        }
    ]


MONITORING_CMDLETS = {
    "Invoke-MonitoringProbe": invoke_monitoring_probe,
    "Get-ServerHealth": get_server_health,
    "Get-HealthReport": get_health_report,
    "Get-MonitoringItemIdentity": get_monitoring_item_identity,
    "Test-OAuthConnectivity": oauth_connectivity_test,
}
