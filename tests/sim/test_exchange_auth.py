"""The simulated Exchange: certificates, AuthConfig (direct set, staged rollover, clock), AuthServers."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re

import pytest
from cryptography import x509

from hybrid_sim.entra import initial_entra_state
from hybrid_sim.exchange.testing import E2013_CU23, E2016_CU23_HU, E2019_CU15_HU, ExchangeHarness, call
from hybrid_sim.state import parse_iso

CERT_PROPS = [
    "Thumbprint",
    "FriendlyName",
    "Subject",
    "CertificateDomains",
    "Services",
    "PublicKeySize",
    "NotBefore",
    "NotAfter",
    "HasPrivateKey",
    "PrivateKeyExportable",
    "Status",
    "RawData",
    "IsSelfSigned",
    "Identity",
]
CONFIG_PROPS = [
    "CurrentCertificateThumbprint",
    "PreviousCertificateThumbprint",
    "NextCertificateThumbprint",
    "NextCertificateEffectiveDate",
    "ServiceName",
    "Realm",
]
DAY = 86400


@pytest.fixture
def entra():
    return initial_entra_state(
        tenant_domain="contoso.onmicrosoft.com", tenant_id="6a4b3c2d-1e0f-4a5b-8c7d-9e0f1a2b3c4d"
    )


@pytest.fixture
def org(tmp_path, entra):
    return ExchangeHarness(str(tmp_path), servers=[E2013_CU23, E2016_CU23_HU, E2019_CU15_HU], entra=entra)


def oauth_certificate(org, server="EX2016", **extra):
    parameters = {
        "FriendlyName": "Exchange S2S OAuth",
        "DomainName": ["contoso.com"],
        "Services": "Federation",
        "KeySize": 2048,
        "PrivateKeyExportable": True,
        **extra,
    }
    return org.ok([call("New-ExchangeCertificate", CERT_PROPS, **parameters)], server=server)[0][0]


def store(org, server):
    return {c["Thumbprint"]: c for c in org.ok([call("Get-ExchangeCertificate", CERT_PROPS)], server=server)[0]}


def auth_config(org, server="EX2016"):
    return org.ok([call("Get-AuthConfig", CONFIG_PROPS)], server=server)[0][0]


def test_fresh_organization_has_setup_certificates(org):
    config = auth_config(org)
    assert config["ServiceName"] == "00000002-0000-0ff1-ce00-000000000000" and config["Realm"] == ""
    for server in ("EX2013", "EX2016", "EX2019"):
        certificates = store(org, server)
        auth = certificates[config["CurrentCertificateThumbprint"]]
        assert auth["Subject"] == "CN=Microsoft Exchange Server Auth Certificate" and auth["HasPrivateKey"] is True
        assert any(c["FriendlyName"] == "Microsoft Exchange" for c in certificates.values())


def test_new_certificate_is_real_and_documented(org):
    cert = oauth_certificate(org, SubjectKeyIdentifier="0123456789abcdef0123456789abcdef")
    der = base64.b64decode(cert["RawData"])
    parsed = x509.load_der_x509_certificate(der)
    assert cert["Thumbprint"] == hashlib.sha1(der).hexdigest().upper()
    assert parsed.public_key().key_size == cert["PublicKeySize"] == 2048
    san = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == cert["CertificateDomains"] == ["contoso.com"]
    ski = parsed.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert ski.hex() == "0123456789abcdef0123456789abcdef"
    assert cert["Subject"] == "CN=contoso.com" and cert["IsSelfSigned"] is True
    assert cert["Services"] == "Federation" and cert["FriendlyName"] == "Exchange S2S OAuth"
    assert cert["HasPrivateKey"] is True and cert["PrivateKeyExportable"] is True and cert["Status"] == "Valid"
    assert cert["Identity"] == "ex2016.contoso.com\\" + cert["Thumbprint"]
    lifetime = parse_iso(cert["NotAfter"]) - parse_iso(cert["NotBefore"])
    assert dt.timedelta(days=5 * 365) <= lifetime <= dt.timedelta(days=5 * 365 + 2)
    # Only the server that made it has it (no Auth deployment yet).
    assert cert["Thumbprint"] in store(org, "EX2016") and cert["Thumbprint"] not in store(org, "EX2019")


def test_new_certificate_defaults(org):
    cert = org.ok([call("New-ExchangeCertificate", CERT_PROPS, Force=True)], server="EX2019")[0][0]
    assert cert["Services"] == "IMAP, POP, SMTP" and cert["FriendlyName"] == "Microsoft Exchange"
    assert cert["PublicKeySize"] == 2048 and cert["PrivateKeyExportable"] is False
    assert cert["CertificateDomains"] == ["EX2019", "ex2019.contoso.com"]


def test_default_smtp_service_prompts_without_force(org):
    error = org.fail([call("New-ExchangeCertificate", FriendlyName="x")], server="EX2019")
    assert (
        error["message"]
        == "Windows PowerShell is in NonInteractive mode. Read and Prompt functionality is not available."
    )


def test_auth_certificate_as_microsofts_script_makes_it(org):
    cert = org.ok(
        [
            call(
                "New-ExchangeCertificate",
                CERT_PROPS,
                KeySize=2048,
                PrivateKeyExportable=True,
                SubjectName="cn=Microsoft Exchange Server Auth Certificate",
                FriendlyName="Microsoft Exchange Server Auth Certificate - 20261127",
                DomainName=[],
                Force=True,
            )
        ],
        server="EX2019",
    )[0][0]
    assert cert["Subject"] == "CN=Microsoft Exchange Server Auth Certificate" and cert["CertificateDomains"] == []


def test_key_size_4096_and_invalid_subject(org):
    assert oauth_certificate(org, KeySize=4096)["PublicKeySize"] == 4096
    error = org.fail([call("New-ExchangeCertificate", SubjectName="not a dn", Services="Federation")])
    assert "isn't valid" in error["message"]


def test_set_current_certificate_deploys_to_every_server(org):
    cert = oauth_certificate(org)
    org.ok([call("Set-AuthConfig", CertificateThumbprint=cert["Thumbprint"].lower())], server="EX2016")
    config = auth_config(org)
    assert config["CurrentCertificateThumbprint"] == cert["Thumbprint"]
    for server in ("EX2013", "EX2019"):
        copy = store(org, server)[cert["Thumbprint"]]
        assert copy["HasPrivateKey"] is True and copy["RawData"] == cert["RawData"]


def test_skip_immediate_deployment(org):
    cert = oauth_certificate(org)
    org.ok(
        [call("Set-AuthConfig", CertificateThumbprint=cert["Thumbprint"], SkipImmediateCertificateDeployment=True)],
        server="EX2016",
    )
    assert cert["Thumbprint"] not in store(org, "EX2019")


def test_set_auth_config_refuses_unknown_and_keyless_certificates(org):
    error = org.fail([call("Set-AuthConfig", CertificateThumbprint="AB" * 20)], server="EX2016")
    assert "AB" * 20 in error["message"] and "was not found on server EX2016" in error["message"]
    cert = oauth_certificate(org)
    with org.edit() as state:
        for entry in state["exchange"]["servers"]["EX2016"]["certificates"]:
            if entry["Thumbprint"] == cert["Thumbprint"]:
                entry["HasPrivateKey"] = False
    error = org.fail([call("Set-AuthConfig", CertificateThumbprint=cert["Thumbprint"])], server="EX2016")
    assert "doesn't have a private key" in error["message"]
    # Another server without the certificate cannot assign it either.
    error = org.fail([call("Set-AuthConfig", CertificateThumbprint=cert["Thumbprint"])], server="EX2019")
    assert "was not found on server EX2019" in error["message"]
    assert auth_config(org)["CurrentCertificateThumbprint"] != cert["Thumbprint"]


def test_rollover_parameter_sets_exclude_each_other(org):
    cert = oauth_certificate(org)
    for parameters in (
        {"CertificateThumbprint": cert["Thumbprint"], "NewCertificateThumbprint": cert["Thumbprint"]},
        {"NewCertificateThumbprint": cert["Thumbprint"], "PublishCertificate": True},
        {"PublishCertificate": True, "Realm": "x"},
    ):
        error = org.fail([call("Set-AuthConfig", **parameters)], server="EX2016")
        assert error["message"] == "Parameter set cannot be resolved using the specified named parameters."


def test_staged_rollover_happens_when_the_clock_passes_the_effective_date(org):
    old = auth_config(org)["CurrentCertificateThumbprint"]
    cert = oauth_certificate(org)
    effective = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    org.ok(
        [
            call(
                "Set-AuthConfig",
                NewCertificateThumbprint=cert["Thumbprint"],
                NewCertificateEffectiveDate=effective,
                Force=True,
            )
        ],
        server="EX2016",
    )
    config = auth_config(org)
    assert config["NextCertificateThumbprint"] == cert["Thumbprint"]
    assert config["NextCertificateEffectiveDate"] == effective and config["CurrentCertificateThumbprint"] == old
    assert cert["Thumbprint"] in store(org, "EX2013")  # staged certificates are deployed too
    org.move_clock(29 * DAY)
    assert auth_config(org)["CurrentCertificateThumbprint"] == old
    org.move_clock(2 * DAY)
    config = auth_config(org, server="EX2019")
    assert config["CurrentCertificateThumbprint"] == cert["Thumbprint"]
    assert config["PreviousCertificateThumbprint"] == old
    assert config["NextCertificateThumbprint"] is None and config["NextCertificateEffectiveDate"] is None


def test_immediate_replacement_in_three_calls(org):
    old = auth_config(org)["CurrentCertificateThumbprint"]
    cert = oauth_certificate(org)
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    org.ok(
        [
            call(
                "Set-AuthConfig",
                NewCertificateThumbprint=cert["Thumbprint"],
                NewCertificateEffectiveDate=now,
                Force=True,
            ),
            call("Set-AuthConfig", PublishCertificate=True),
            call("Get-AuthConfig", CONFIG_PROPS),
            call("Set-AuthConfig", ClearPreviousCertificate=True),
        ],
        server="EX2016",
    )
    config = auth_config(org)
    assert (
        config["CurrentCertificateThumbprint"] == cert["Thumbprint"] and config["PreviousCertificateThumbprint"] is None
    )
    assert old not in (config["NextCertificateThumbprint"], config["CurrentCertificateThumbprint"])


def test_publish_without_a_staged_certificate_fails(org):
    error = org.fail([call("Set-AuthConfig", PublishCertificate=True)])
    assert "next certificate" in error["message"]


def test_certificate_status_follows_the_clock(org):
    cert = oauth_certificate(org)
    org.move_clock(6 * 365 * DAY)
    assert store(org, "EX2016")[cert["Thumbprint"]]["Status"] == "DateInvalid"
    error = org.fail([call("Set-AuthConfig", CertificateThumbprint=cert["Thumbprint"])], server="EX2016")
    assert "expired" in error["message"]


def test_get_certificate_by_identity_thumbprint_and_server(org):
    cert = oauth_certificate(org)
    everything = org.ok([call("Get-ExchangeCertificate", ["Thumbprint"], Identity=None)], server="EX2016")[0]
    assert len(everything) == 3
    by_identity = org.ok([call("Get-ExchangeCertificate", ["Thumbprint"], Identity=cert["Identity"])], server="EX2013")
    assert by_identity == [[{"Thumbprint": cert["Thumbprint"]}]]
    remote = org.ok(
        [call("Get-ExchangeCertificate", ["Thumbprint"], Thumbprint=cert["Thumbprint"], Server="EX2016")],
        server="EX2019",
    )
    assert remote == [[{"Thumbprint": cert["Thumbprint"]}]]
    error = org.fail([call("Get-ExchangeCertificate", Thumbprint=cert["Thumbprint"])], server="EX2019")
    assert "was not found on server EX2019" in error["message"]
    error = org.fail([call("Get-ExchangeCertificate", Identity=cert["Identity"], Server="EX2016")])
    assert error["fully_qualified_error_id"].startswith("AmbiguousParameterSet,")


def test_enable_export_remove_certificate(org):
    cert = oauth_certificate(org)
    org.ok([call("Enable-ExchangeCertificate", Thumbprint=cert["Thumbprint"], Services="IIS")], server="EX2016")
    assert store(org, "EX2016")[cert["Thumbprint"]]["Services"] == "IIS, Federation"
    exported = org.ok(
        [call("Export-ExchangeCertificate", ["FileData"], Thumbprint=cert["Thumbprint"])], server="EX2016"
    )
    assert exported == [[{"FileData": cert["RawData"]}]]
    org.ok(
        [
            call(
                "Export-ExchangeCertificate",
                Thumbprint=cert["Thumbprint"],
                FileName="C:\\OAuthConfig\\OAuthCert.cer",
                Server="EX2016",
            )
        ],
        server="EX2013",
    )
    assert org.state()["exchange"]["servers"]["EX2016"]["files"]["C:\\OAuthConfig\\OAuthCert.cer"] == cert["RawData"]
    org.ok([call("Remove-ExchangeCertificate", Thumbprint=cert["Thumbprint"], Confirm=False)], server="EX2016")
    assert cert["Thumbprint"] not in store(org, "EX2016")


AUTH_PROPS = [
    "Name",
    "Type",
    "AuthMetadataUrl",
    "IssuerIdentifier",
    "Realm",
    "Enabled",
    "DomainName",
    "ApplicationIdentifier",
    "TokenIssuingEndpoint",
    "IsDefaultAuthorizationEndpoint",
]
TENANT = "6a4b3c2d-1e0f-4a5b-8c7d-9e0f1a2b3c4d"
ACS_URL = "https://accounts.accesscontrol.windows.net/metadata/json/1/?realm=contoso.onmicrosoft.com"
EVO_URL = "https://login.windows.net/contoso.onmicrosoft.com/federationmetadata/2007-06/federationmetadata.xml"


def test_new_auth_server_from_the_documented_acs_url(org):
    created = org.ok([call("New-AuthServer", AUTH_PROPS, Name="MicrosoftSts", AuthMetadataUrl=ACS_URL)])[0][0]
    assert created == {
        "Name": "MicrosoftSts",
        "Type": "MicrosoftACS",
        "AuthMetadataUrl": ACS_URL,
        "IssuerIdentifier": "00000001-0000-0000-c000-000000000000",
        "Realm": TENANT,
        "Enabled": True,
        "DomainName": [],
        "ApplicationIdentifier": None,
        "TokenIssuingEndpoint": "https://accounts.accesscontrol.windows.net/%s/tokens/OAuth/2" % TENANT,
        "IsDefaultAuthorizationEndpoint": False,
    }


def test_new_auth_server_evosts_and_explicit_type(org):
    created = org.ok(
        [
            call(
                "New-AuthServer",
                AUTH_PROPS,
                Name="EvoSts - 1",
                Type="azuread",
                AuthMetadataUrl=EVO_URL,
                DomainName=["contoso.com"],
            )
        ],
        server="EX2019",
    )[0][0]
    assert created["Type"] == "AzureAD" and created["Realm"] == TENANT
    assert created["IssuerIdentifier"] == "https://sts.windows.net/%s/" % TENANT
    assert created["DomainName"] == ["contoso.com"]
    derived = org.ok([call("New-AuthServer", ["Type"], Name="evoSTS", AuthMetadataUrl=EVO_URL)])[0][0]
    assert derived["Type"] == "AzureAD"


def test_auth_server_duplicates_are_refused_and_unknown_tenants_get_no_realm(org):
    org.ok([call("New-AuthServer", Name="MicrosoftSts", AuthMetadataUrl=ACS_URL)])
    error = org.fail([call("New-AuthServer", Name="microsoftsts", AuthMetadataUrl=ACS_URL)])
    assert "already exists" in error["message"] and "CN=microsoftsts,CN=Auth Servers" in error["message"]
    other = org.ok(
        [
            call(
                "New-AuthServer",
                ["Type", "Realm"],
                Name="Other",
                AuthMetadataUrl=ACS_URL.replace("contoso", "fabrikam"),
            )
        ]
    )[0][0]
    assert other == {"Type": "MicrosoftACS", "Realm": ""}  # a tenant the simulated Entra does not know
    assert [s["Name"] for s in org.state()["exchange"]["auth_servers"]] == ["MicrosoftSts", "Other"]


def test_set_and_remove_auth_server(org):
    wrong = ACS_URL.replace("json/1/", "json/2/")
    error = org.fail([call("New-AuthServer", Name="MicrosoftSts", AuthMetadataUrl=wrong)])
    assert "Couldn't retrieve the authorization metadata" in error["message"]
    path_form = "https://accounts.accesscontrol.windows.net/%s/metadata/json/1" % TENANT
    org.ok([call("New-AuthServer", Name="MicrosoftSts", AuthMetadataUrl=path_form)])
    org.ok(
        [
            call("Set-AuthServer", Identity="MicrosoftSts", AuthMetadataUrl=ACS_URL),
            call("Set-AuthServer", Identity="MicrosoftSts", Enabled=False),
        ]
    )
    got = org.ok([call("Get-AuthServer", AUTH_PROPS, Identity="MicrosoftSts")])[0][0]
    assert got["AuthMetadataUrl"] == ACS_URL and got["Enabled"] is False and got["Type"] == "MicrosoftACS"
    error = org.fail([call("Get-AuthServer", Identity="Nope")])
    assert error["message"].startswith("The operation couldn't be performed because object 'Nope' couldn't be found")
    assert org.ok([call("Get-AuthServer", ["Name"], Identity=None)]) == [[{"Name": "MicrosoftSts"}]]
    error = org.fail([call("Set-AuthServer", Identity="MicrosoftSts", Type="AzureAD")])
    assert error["message"] == "A parameter cannot be found that matches parameter name 'Type'."
    org.ok([call("Remove-AuthServer", Identity="MicrosoftSts", Confirm=False)])
    assert org.state()["exchange"]["auth_servers"] == []


def test_partner_application_and_connector(org):
    apps = org.ok([call("Get-PartnerApplication", ["Name", "ApplicationIdentifier", "Realm", "Enabled"])])[0]
    assert apps == [
        {
            "Name": "Exchange Online",
            "ApplicationIdentifier": "00000002-0000-0ff1-ce00-000000000000",
            "Realm": "",
            "Enabled": True,
        }
    ]
    connectors = org.ok([call("Get-IntraOrganizationConnector", ["Enabled", "DiscoveryEndpoint"])])[0]
    assert connectors[0]["Enabled"] is True
    org_config = org.ok([call("Get-OrganizationConfig", ["Name", "Guid"])])[0][0]
    assert org_config["Name"] == "Contoso" and len(org_config["Guid"]) == 36


def test_hcw_seed_has_hcws_auth_servers_connector_and_partner_application(tmp_path, entra):
    org = ExchangeHarness(str(tmp_path), servers=[E2019_CU15_HU], entra=entra, hcw=True, tenant_id=TENANT)
    rows = org.ok([call("Get-AuthServer", AUTH_PROPS)])[0]
    by_type = {row["Type"]: row for row in rows}
    assert sorted(by_type) == ["AzureAD", "MicrosoftACS"] and len(rows) == 2
    evo, acs = by_type["AzureAD"], by_type["MicrosoftACS"]
    assert re.match(r"^EvoSts - [0-9a-f-]{36}$", evo["Name"]) and re.match(r"^ACS - [0-9a-f-]{36}$", acs["Name"])
    assert evo["Realm"] == acs["Realm"] == TENANT and evo["DomainName"] == acs["DomainName"] == ["contoso.com"]
    assert evo["IssuerIdentifier"] == "https://sts.windows.net/%s/" % TENANT
    assert acs["IssuerIdentifier"] == "00000001-0000-0000-c000-000000000000"
    # The seeded metadata URLs are ones the simulator itself derives the same objects from.
    org.ok([call("Set-AuthServer", Identity=evo["Name"], RefreshAuthMetadata=True)])
    refreshed = org.ok([call("Get-AuthServer", ["Type", "Realm", "IssuerIdentifier"], Identity=evo["Name"])])[0][0]
    assert refreshed == {"Type": "AzureAD", "Realm": TENANT, "IssuerIdentifier": evo["IssuerIdentifier"]}
    assert org.ok([call("Get-IntraOrganizationConnector", ["Enabled"])])[0] == [{"Enabled": True}]
    assert org.ok([call("Get-PartnerApplication", ["Name", "Enabled"])])[0] == [
        {"Name": "Exchange Online", "Enabled": True}
    ]


def test_duplicate_evosts_seed(tmp_path, entra):
    org = ExchangeHarness(str(tmp_path), servers=[E2019_CU15_HU], entra=entra, duplicate_evosts=True, tenant_id=TENANT)
    rows = org.ok([call("Get-AuthServer", ["Name", "Type", "Realm"])])[0]
    azure = [row for row in rows if row["Type"] == "AzureAD"]
    assert len(azure) == 2 and {row["Realm"] for row in azure} == {TENANT}
    assert sorted(row["Name"].split(" - ")[0] for row in azure) == ["EvoSTS", "EvoSts"]
