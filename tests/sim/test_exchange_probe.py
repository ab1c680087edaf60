"""The push proxy, setting overrides, the health service and the push probe's verdicts."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from hybrid_sim.entra import initial_entra_state
from hybrid_sim.exchange.testing import E2013_CU23, E2016_CU23_HU, E2019_CU15_HU, ExchangeHarness, call

TENANT = "6a4b3c2d-1e0f-4a5b-8c7d-9e0f1a2b3c4d"
ACS_URL = "https://accounts.accesscontrol.windows.net/metadata/json/1/?realm=contoso.onmicrosoft.com"
EVO_URL = "https://login.windows.net/%s/federationmetadata/2007-06/federationmetadata.xml" % TENANT
PROBE = "PushNotifications.Proxy\\PushNotificationsEnterpriseConnectivityProbe"
RESULT = ["ResultType", "Error", "Exception"]
EXO = "00000002-0000-0ff1-ce00-000000000000"
HYBRID_APP = "9f1b3c5d-7e8f-4a1b-9c2d-3e4f5a6b7c8d"
DAY = 86400


def key_for(cert, days_left=365, starts_days_ago=1):
    now = dt.datetime.now(dt.timezone.utc)
    return {
        "customKeyIdentifier": cert["Thumbprint"],
        "displayName": "CN=Microsoft Exchange Server Auth Certificate",
        "key": cert["RawData"],
        "keyId": "0b1c2d3e-0000-4000-8000-%012d" % days_left,
        "type": "AsymmetricX509Cert",
        "usage": "Verify",
        "startDateTime": (now - dt.timedelta(days=starts_days_ago)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "endDateTime": (now + dt.timedelta(days=days_left)).strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
    }


class Org(ExchangeHarness):
    def tenant(self, state):
        return state["entra"]["tenants"][TENANT]

    def current_cert(self, server="EX2019"):
        thumb = self.ok([call("Get-AuthConfig", ["CurrentCertificateThumbprint"])])[0][0][
            "CurrentCertificateThumbprint"
        ]
        props = ["Thumbprint", "RawData"]
        return self.ok([call("Get-ExchangeCertificate", props, Thumbprint=thumb)], server=server)[0][0]

    def add_key(self, collection, app_id, cert, **kwargs):
        with self.edit() as state:
            for item in self.tenant(state)[collection]:
                if item["appId"] == app_id:
                    item["keyCredentials"].append(key_for(cert, **kwargs))

    def probe(self, server="EX2019", target=None):
        return self.ok([call("Invoke-MonitoringProbe", RESULT, Identity=PROBE, Server=target or server)], server)[0][0]


@pytest.fixture
def org(tmp_path):
    entra = initial_entra_state(tenant_domain="contoso.onmicrosoft.com", tenant_id=TENANT)
    harness = Org(str(tmp_path), servers=[E2013_CU23, E2016_CU23_HU, E2019_CU15_HU], entra=entra)
    harness.ok([call("New-AuthServer", Name="MicrosoftSts", AuthMetadataUrl=ACS_URL)])
    return harness


@pytest.fixture
def configured(org):
    """The documented procedure done: setup's Auth certificate, ACS AuthServer, key on the shared SP, proxy on."""
    org.add_key("servicePrincipals", EXO, org.current_cert())
    org.ok([call("Enable-PushNotificationProxy", Organization="contoso.onmicrosoft.com")])
    return org


def failed(result, *words):
    assert result["ResultType"] == "Failed", result
    for word in words:
        assert word in result["Error"], result["Error"]
    return result["Error"]


def test_push_proxy_enable_disable_and_read(org):
    out = org.ok(
        [
            call(
                "Get-PushNotificationApp",
                ["Name", "DisplayName", "Enabled", "Organization", "Uri"],
                Identity="OnPrem-Proxy",
            )
        ]
    )[0]
    assert out == [
        {
            "Name": "OnPrem-Proxy",
            "DisplayName": "On Premises Proxy app",
            "Enabled": False,
            "Organization": None,
            "Uri": None,
        }
    ]
    enabled = org.ok(
        [
            call(
                "Enable-PushNotificationProxy",
                ["Enabled", "Organization", "Uri"],
                Organization="Contoso.OnMicrosoft.com",
            )
        ]
    )[0][0]
    assert enabled == {
        "Enabled": True,
        "Organization": "contoso.onmicrosoft.com",
        "Uri": "https://outlook.office365.com/PushNotifications",
    }
    org.ok([call("Disable-PushNotificationProxy", Confirm=False)])
    app = org.ok([call("Get-PushNotificationApp", ["Enabled", "Organization"])])[0][0]
    assert app == {"Enabled": False, "Organization": "contoso.onmicrosoft.com"}
    error = org.fail([call("Enable-PushNotificationProxy", Identity="OnPrem-Proxy")])
    assert error["message"] == "A parameter cannot be found that matches parameter name 'Identity'."


def test_probe_succeeds_when_everything_holds(configured):
    for server in ("EX2013", "EX2016", "EX2019"):
        assert configured.probe(server) == {"ResultType": "Succeeded", "Error": "", "Exception": ""}
    fqdn = configured.probe("EX2013", target="ex2019.contoso.com")
    assert fqdn["ResultType"] == "Succeeded"


def test_probe_needs_the_key_in_entra(org):
    org.ok([call("Enable-PushNotificationProxy", Organization="contoso.onmicrosoft.com")])
    thumb = org.current_cert()["Thumbprint"]
    message = failed(
        org.probe(), thumb, "not registered on the Entra ID service principal " + EXO, "(Office 365 Exchange Online)"
    )
    assert message.startswith("PushNotificationsEnterpriseConnectivityProbe failed on ex2019.contoso.com: ")


def test_probe_rejects_an_expired_entra_key(org):
    org.add_key("servicePrincipals", EXO, org.current_cert(), days_left=10)
    org.ok([call("Enable-PushNotificationProxy", Organization="contoso.onmicrosoft.com")])
    assert org.probe()["ResultType"] == "Succeeded"
    org.move_clock(11 * DAY)
    failed(org.probe(), "isn't valid now")


def test_probe_names_a_wrong_auth_server_url(configured):
    configured.ok(
        [
            call(
                "Set-AuthServer",
                Identity="MicrosoftSts",
                AuthMetadataUrl="https://accounts.accesscontrol.windows.net/contoso.com/metadata/json/1",
            )
        ]
    )
    assert configured.probe()["ResultType"] == "Succeeded"  # contoso.com is a verified domain of the tenant
    configured.ok(
        [call("Set-AuthServer", Identity="MicrosoftSts", AuthMetadataUrl=ACS_URL.replace("contoso", "fabrikam"))]
    )
    failed(configured.probe(), "no enabled MicrosoftACS AuthServer", "MicrosoftSts", "fabrikam", ACS_URL)


def test_probe_names_a_disabled_auth_server(configured):
    configured.ok([call("Set-AuthServer", Identity="MicrosoftSts", Enabled=False)])
    failed(configured.probe(), "AuthServer MicrosoftSts", "is disabled")


def test_probe_names_a_missing_auth_server(configured):
    configured.ok([call("Remove-AuthServer", Identity="MicrosoftSts", Confirm=False)])
    failed(configured.probe(), "no enabled MicrosoftACS AuthServer")


def test_probe_names_the_disabled_proxy(configured):
    configured.ok([call("Disable-PushNotificationProxy", Confirm=False)])
    failed(configured.probe(), "push notification proxy (OnPrem-Proxy) is disabled")


def test_probe_names_a_proxy_for_another_organization(configured):
    configured.ok([call("Enable-PushNotificationProxy", Organization="fabrikam.onmicrosoft.com")])
    failed(configured.probe(), "'fabrikam.onmicrosoft.com'")


def test_probe_needs_the_certificate_on_the_probing_server(configured):
    cert = configured.ok(
        [
            call(
                "New-ExchangeCertificate",
                ["Thumbprint", "RawData"],
                Services="Federation",
                DomainName=["contoso.com"],
                PrivateKeyExportable=True,
            )
        ],
        server="EX2016",
    )[0][0]
    configured.ok(
        [call("Set-AuthConfig", CertificateThumbprint=cert["Thumbprint"], SkipImmediateCertificateDeployment=True)],
        server="EX2016",
    )
    configured.add_key("servicePrincipals", EXO, cert)
    assert configured.probe("EX2016")["ResultType"] == "Succeeded"
    failed(configured.probe("EX2019"), cert["Thumbprint"], "isn't in the certificate store of server EX2019")
    with configured.edit() as state:
        for entry in state["exchange"]["servers"]["EX2016"]["certificates"]:
            entry["HasPrivateKey"] = False
    failed(configured.probe("EX2016"), "has no private key")


def test_probe_names_an_expired_auth_certificate(configured):
    configured.move_clock(6 * 365 * DAY)
    failed(configured.probe(), "expired on")


def test_probe_follows_a_staged_rollover(configured):
    new = configured.ok(
        [
            call(
                "New-ExchangeCertificate",
                ["Thumbprint", "RawData"],
                Services="Federation",
                DomainName=["contoso.com"],
                PrivateKeyExportable=True,
            )
        ],
        server="EX2019",
    )[0][0]
    effective = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    configured.ok(
        [
            call(
                "Set-AuthConfig",
                NewCertificateThumbprint=new["Thumbprint"],
                NewCertificateEffectiveDate=effective,
                Force=True,
            )
        ],
        server="EX2019",
    )
    configured.move_clock(31 * DAY)
    failed(configured.probe(), new["Thumbprint"], "not registered")
    configured.add_key("servicePrincipals", EXO, new, starts_days_ago=-1, days_left=400)
    assert configured.probe()["ResultType"] == "Succeeded"


def test_health_service_restart_makes_the_probe_wait(configured):
    with configured.edit() as state:
        state["exchange"]["settings"]["health_ready_delay_seconds"] = 3600
    configured.ok([call("Restart-Service", Name="MSExchangeHM")], server="EX2019")
    error = configured.fail([call("Invoke-MonitoringProbe", RESULT, Identity=PROBE, Server="EX2019")], "EX2019")
    assert "MSExchangeHM" in error["message"] and "isn't ready" in error["message"]
    assert error["category"] == "ResourceUnavailable"
    status = configured.ok([call("Get-Service", ["Name", "Status"], Name="MSExchangeHM")], "EX2019")[0]
    assert status == [{"Name": "MSExchangeHM", "Status": "Running"}]
    # Other servers' health managers are unaffected; the restarted one becomes ready once its delay has passed.
    assert configured.probe("EX2016")["ResultType"] == "Succeeded"
    with configured.edit() as state:
        state["exchange"]["servers"]["EX2019"]["services"]["MSExchangeHM"]["ready_at"] = time.time() - 1
    assert configured.probe()["ResultType"] == "Succeeded"


def test_health_reads(configured):
    health = configured.ok(
        [
            call(
                "Get-ServerHealth",
                ["HealthSetName", "AlertValue"],
                Identity="EX2019",
                HealthSet="PushNotifications.Proxy",
            )
        ],
        "EX2019",
    )[0]
    assert health == [{"HealthSetName": "PushNotifications.Proxy", "AlertValue": "Healthy"}]
    configured.ok([call("Disable-PushNotificationProxy")])
    report = configured.ok([call("Get-HealthReport", ["HealthSet", "AlertValue"], Identity="EX2019")], "EX2019")[0]
    assert report == [{"HealthSet": "PushNotifications.Proxy", "AlertValue": "Unhealthy"}]
    items = configured.ok(
        [
            call(
                "Get-MonitoringItemIdentity",
                ["Identity", "ItemType"],
                Identity="PushNotifications.Proxy",
                Server="EX2019",
            )
        ]
    )[0]
    assert {"Identity": PROBE, "ItemType": "Probe"} in items


def test_other_probes_and_servers_are_errors(configured):
    error = configured.fail(
        [call("Invoke-MonitoringProbe", Identity="OWA.Protocol\\OwaSelfTestProbe", Server="EX2019")]
    )
    assert "can't be invoked" in error["message"]
    error = configured.fail([call("Invoke-MonitoringProbe", Identity=PROBE, Server="EX9999")])
    assert "'EX9999' couldn't be found" in error["message"]
    error = configured.fail([call("Invoke-MonitoringProbe", Identity=PROBE)])
    assert error["message"].endswith("missing mandatory parameters: Server.")


def test_setting_override_lifecycle(org):
    props = ["Name", "ComponentName", "SectionName", "Parameters", "Reason", "Server"]
    created = org.ok(
        [
            call(
                "New-SettingOverride",
                props,
                Name="EnableExchangeHybrid3PAppFeature",
                Component="Global",
                Section="ExchangeOnpremAsThirdPartyAppId",
                Parameters=["Enabled=true"],
                Reason="Enable dedicated Exchange hybrid app feature",
            )
        ]
    )[0][0]
    assert created == {
        "Name": "EnableExchangeHybrid3PAppFeature",
        "ComponentName": "Global",
        "SectionName": "ExchangeOnpremAsThirdPartyAppId",
        "Parameters": ["Enabled=true"],
        "Reason": "Enable dedicated Exchange hybrid app feature",
        "Server": [],
    }
    error = org.fail(
        [
            call(
                "New-SettingOverride",
                Name="EnableExchangeHybrid3PAppFeature",
                Component="Global",
                Section="x",
                Parameters=["a=b"],
                Reason="r",
            )
        ]
    )
    assert "already exists" in error["message"]
    error = org.fail(
        [call("New-SettingOverride", Name="Bad", Component="Global", Section="x", Parameters=["novalue"], Reason="r")]
    )
    assert "novalue" in error["message"]
    error = org.fail(
        [call("New-SettingOverride", Name="NoReason", Component="Global", Section="x", Parameters=["a=b"])]
    )
    assert error["message"].endswith("missing mandatory parameters: Reason.")
    org.ok(
        [
            call("Set-SettingOverride", Identity="EnableExchangeHybrid3PAppFeature", Parameters=["Enabled=false"]),
            call(
                "Get-ExchangeDiagnosticInfo",
                Server="EX2019",
                Process="Microsoft.Exchange.Directory.TopologyService",
                Component="VariantConfiguration",
                Argument="Refresh",
            ),
        ]
    )
    state = org.state()["exchange"]
    assert state["setting_overrides"][0]["Parameters"] == ["Enabled=false"]
    assert state["variant_configuration_refreshes"][0]["server"] == "EX2019"
    org.ok([call("Remove-SettingOverride", Identity="EnableExchangeHybrid3PAppFeature", Confirm=False)])
    assert org.ok([call("Get-SettingOverride", ["Name"])]) == [[]]


@pytest.fixture
def hybrid(org):
    """The dedicated-application path: app with the key, evoSTS with ApplicationIdentifier, override, proxy."""
    cert = org.current_cert()
    with org.edit() as state:
        org.tenant(state)["applications"].append(
            {"id": "a1", "appId": HYBRID_APP, "displayName": "ExchangeServerApp-contoso", "keyCredentials": []}
        )
    org.ok(
        [
            call("New-AuthServer", Name="EvoSts - 1", AuthMetadataUrl=EVO_URL),
            call("Set-AuthServer", Identity="EvoSts - 1", ApplicationIdentifier=HYBRID_APP, DomainName=["contoso.com"]),
            call(
                "New-SettingOverride",
                Name="EnableExchangeHybrid3PAppFeature",
                Component="Global",
                Section="ExchangeOnpremAsThirdPartyAppId",
                Parameters=["Enabled=true"],
                Reason="hybrid app",
            ),
            call("Enable-PushNotificationProxy", Organization="contoso.onmicrosoft.com"),
        ],
        server="EX2019",
    )
    org.add_key("servicePrincipals", EXO, cert)
    return org, cert


def test_dedicated_application_path_checks_the_application(hybrid):
    org, cert = hybrid
    failed(
        org.probe("EX2019"), "not registered on the Entra ID application %s (ExchangeServerApp-contoso)" % HYBRID_APP
    )
    org.add_key("applications", HYBRID_APP, cert)
    assert org.probe("EX2019")["ResultType"] == "Succeeded"
    assert org.probe("EX2016")["ResultType"] == "Succeeded"


def test_servers_without_the_hotfix_keep_the_shared_service_principal(hybrid):
    org, cert = hybrid
    # Exchange 2013 (no April 2025 HU) still uses the first-party application: the key on the SP suffices.
    assert org.probe("EX2013")["ResultType"] == "Succeeded"


def test_dedicated_path_needs_the_evosts_url(hybrid):
    org, cert = hybrid
    org.add_key("applications", HYBRID_APP, cert)
    with org.edit() as state:
        for server in state["exchange"]["auth_servers"]:
            if server["Name"] == "EvoSts - 1":
                server["AuthMetadataUrl"] = "https://login.windows.net/fabrikam.com/federationmetadata/2007-06/x.xml"
    failed(org.probe("EX2019"), "no enabled AzureAD AuthServer")


def test_override_disabled_falls_back_to_the_service_principal(hybrid):
    org, cert = hybrid
    org.ok([call("Set-SettingOverride", Identity="EnableExchangeHybrid3PAppFeature", Parameters=["Enabled=false"])])
    assert org.probe("EX2019")["ResultType"] == "Succeeded"
