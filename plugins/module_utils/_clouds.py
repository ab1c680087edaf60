# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Microsoft cloud endpoints shared by the WinRM (AuthServer) and Graph modules.

Login and Graph hosts follow Microsoft's CSS-Exchange Get-CloudServiceEndpoint table. The AuthServer metadata
URLs for the global cloud are the documented ones (the ACS form is the one the push notification procedure
uses for ``MicrosoftSts``); the sovereign-cloud variants are not published in the
Exchange docs, so users can always override them with ``auth_metadata_url``.

``ews`` is Exchange Online's EWS URL, the ``-TargetUri`` of ``Test-OAuthConnectivity -Service EWS``: for the
global cloud https://outlook.office365.com/EWS/Exchange.asmx, as Microsoft's "Configure OAuth authentication
between Exchange and Exchange Online organizations" page and CSS-Exchange's FreeBusyChecker
(Diagnostics/FreeBusyChecker/Functions/OnPremOAuthFunctions.ps1) use it; for the other clouds the host is
Get-CloudServiceEndpoint's ExchangeOnlineEndpoint (Shared/AzureFunctions/Get-CloudServiceEndpoint.ps1) with the
same /EWS/Exchange.asmx path (the path is our assumption there: Microsoft publishes no per-cloud example).
"""

from __future__ import annotations

from typing import Optional

CLOUD_CHOICES = ["global", "usgovernment_l4", "usgovernment_l5", "china", "bleu", "delos"]

CLOUDS = {
    "global": {
        "login": "https://login.microsoftonline.com",
        "graph": "https://graph.microsoft.com",
        "acs_metadata": "https://accounts.accesscontrol.windows.net/metadata/json/1/?realm={tenant}",
        "evosts_metadata": "https://login.windows.net/{tenant}/federationmetadata/2007-06/federationmetadata.xml",
        "ews": "https://outlook.office365.com/EWS/Exchange.asmx",
        "initial_domain_suffix": "onmicrosoft.com",
    },
    "usgovernment_l4": {
        "login": "https://login.microsoftonline.us",
        "graph": "https://graph.microsoft.us",
        "acs_metadata": "https://login.microsoftonline.us/{tenant}/metadata/json/1",
        "evosts_metadata": "https://login.microsoftonline.us/{tenant}/federationmetadata/2007-06/federationmetadata.xml",
        "ews": "https://outlook.office365.us/EWS/Exchange.asmx",
        "initial_domain_suffix": "onmicrosoft.us",
    },
    "usgovernment_l5": {
        "login": "https://login.microsoftonline.us",
        "graph": "https://dod-graph.microsoft.us",
        "acs_metadata": "https://login.microsoftonline.us/{tenant}/metadata/json/1",
        "evosts_metadata": "https://login.microsoftonline.us/{tenant}/federationmetadata/2007-06/federationmetadata.xml",
        "ews": "https://outlook-dod.office365.us/EWS/Exchange.asmx",
        "initial_domain_suffix": "onmicrosoft.us",
    },
    "china": {
        "login": "https://login.partner.microsoftonline.cn",
        "graph": "https://microsoftgraph.chinacloudapi.cn",
        "acs_metadata": "https://accounts.accesscontrol.chinacloudapi.cn/metadata/json/1/?realm={tenant}",
        "evosts_metadata": "https://login.partner.microsoftonline.cn/{tenant}/federationmetadata/2007-06/federationmetadata.xml",
        "ews": "https://partner.outlook.cn/EWS/Exchange.asmx",
        "initial_domain_suffix": "partner.onmschina.cn",
    },
    # Bleu (France) and Delos (Germany): the login and Graph hosts of Get-CloudServiceEndpoint's BleuCloud and
    # DelosCloud (CSS-Exchange Shared/AzureFunctions, used by ConfigureExchangeHybridApplication.ps1 -AzureEnvironment).
    # Microsoft publishes no ACS metadata URL and no initial domain for them: an ACS AuthServer needs
    # auth_metadata_url; the evoSTS URL follows the other clouds' login-host form (an assumption).
    "bleu": {
        "login": "https://login.sovcloud-identity.fr",
        "graph": "https://graph.svc.sovcloud.fr",
        "acs_metadata": None,
        "evosts_metadata": "https://login.sovcloud-identity.fr/{tenant}/federationmetadata/2007-06/federationmetadata.xml",
        "ews": "https://outlook.sovcloud.fr/EWS/Exchange.asmx",
        "initial_domain_suffix": None,
    },
    "delos": {
        "login": "https://login.sovcloud-identity.de",
        "graph": "https://graph.svc.sovcloud.de",
        "acs_metadata": None,
        "evosts_metadata": "https://login.sovcloud-identity.de/{tenant}/federationmetadata/2007-06/federationmetadata.xml",
        "ews": "https://outlook.sovcloud.de/EWS/Exchange.asmx",
        "initial_domain_suffix": None,
    },
}

# Office 365 Exchange Online: the shared first-party service principal of the documented procedure.
EXCHANGE_ONLINE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
# full_access_as_app application role of Office 365 Exchange Online (ConfigureExchangeHybridApplication.ps1).
FULL_ACCESS_AS_APP_ROLE_ID = "dc890d15-9560-4a4c-9b7f-a736ec74ec40"
# Microsoft Graph's first-party application (CSS-Exchange Shared/GraphApiFunctions/New-ApiPermissionObject.ps1).
MICROSOFT_GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"

# The families of API permissions of the dedicated hybrid application, as ConfigureExchangeHybridApplication.ps1
# (after PR #2537, May 2026 HU) names them for -UseGraphApiOnly / -RemoveApiPermissions "EWS", "Graph": the EWS
# workflow's full_access_as_app on Office 365 Exchange Online, and the Graph workflow's application permissions
# Calendars.Read, MailboxSettings.Read, MailTips.ReadBasic.All, ProfilePhoto.Read.All on Microsoft Graph. The script
# looks the role ids up at run time; the ids here are Microsoft Graph's app role ids:
# Calendars.Read: Microsoft Graph permissions reference (microsoftgraph/microsoft-graph-docs
# concepts/permissions-reference.md, "Calendars", Application); MailboxSettings.Read: Find-MgGraphPermission output
# in learn.microsoft.com/powershell/microsoftgraph/find-mg-graph-permission and graphpermissions.merill.net;
# ProfilePhoto.Read.All: graphpermissions.merill.net/permission/ProfilePhoto.Read.All (Application identifier);
# MailTips.ReadBasic.All (added to Graph in 2025): permissions.cengizyilmaz.net/permissions/mailtips-readbasic-all
# (from Microsoft Graph's permission data, May 2026). A role id Microsoft Graph's service principal does not list is
# refused before any write (require_roles in _hybrid_application).
API_PERMISSION_FAMILIES = {
    "ews": {
        "resource_app_id": EXCHANGE_ONLINE_APP_ID,
        "resource": "Office 365 Exchange Online",
        "roles": {"full_access_as_app": FULL_ACCESS_AS_APP_ROLE_ID},
    },
    "graph": {
        "resource_app_id": MICROSOFT_GRAPH_APP_ID,
        "resource": "Microsoft Graph",
        "roles": {
            "Calendars.Read": "798ee544-9d2d-430c-a058-570e29e34338",
            "MailboxSettings.Read": "40f97065-369a-49f4-947c-6a255697ae91",
            "MailTips.ReadBasic.All": "a2c9652d-4d7f-4e4e-9d75-ac32fdc6f413",
            "ProfilePhoto.Read.All": "e24d31aa-e1ab-4c80-85fe-23018690335d",
        },
    },
}
API_PERMISSION_FAMILY_CHOICES = list(API_PERMISSION_FAMILIES)


def auth_metadata_url(cloud: str, auth_server_type: str, tenant: str) -> Optional[str]:
    """AuthMetadataUrl for an AuthServer of ``auth_server_type`` ('acs' or 'azure_ad') in ``cloud``."""
    key = "acs_metadata" if auth_server_type == "acs" else "evosts_metadata"
    template = CLOUDS[cloud][key]
    return template.format(tenant=tenant) if template else None  # None: Microsoft publishes none for this cloud
