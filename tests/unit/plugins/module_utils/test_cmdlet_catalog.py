# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest

from ansible_collections.exchange.hybrid.plugins.module_utils import _cmdlet_catalog as cat
from ansible_collections.exchange.hybrid.plugins.module_utils._cmdlet_catalog import validate_call
from ansible_collections.exchange.hybrid.plugins.module_utils._errors import CatalogError

E2013_CU3 = (15, 0, 775, 38)
E2013_CU23 = (15, 0, 1497, 2)
E2016_CU17 = (15, 1, 2044, 4)
E2016_CU18 = (15, 1, 2106, 2)
E2016_CU23 = (15, 1, 2507, 6)
E2016_CU23_HU = (15, 1, 2507, 55)
E2019_CU6 = (15, 2, 659, 4)
E2019_CU7 = (15, 2, 721, 2)
E2019_CU14_HU = (15, 2, 1544, 25)
E2019_CU15 = (15, 2, 1748, 10)
E2019_CU15_HU = (15, 2, 1748, 24)
SE_RTM = (15, 2, 2562, 17)


def error(cmdlet, parameters, version):
    with pytest.raises(CatalogError) as info:
        validate_call(cmdlet, parameters, version)
    return info.value


def test_version_from_text():
    assert cat.version_from_text("Version 15.0 (Build 775.38)") == (15, 0, 775, 38)
    assert cat.version_from_text("Version 15.2 (Build 1748.10)") == (15, 2, 1748, 10)
    assert cat.version_from_text("15.02.1748.037") == (15, 2, 1748, 37)
    with pytest.raises(ValueError):
        cat.version_from_text("Version 15.0")


def test_names():
    assert cat.is_exchange_cmdlet("New-AuthServer")
    assert cat.is_exchange_cmdlet("get-authconfig")
    assert cat.is_exchange_cmdlet("Get-PushNotificationApp")
    assert not cat.is_exchange_cmdlet("Restart-Service")
    assert not cat.is_exchange_cmdlet("Get-Service")
    assert "Remove-SettingOverride" in cat.EXCHANGE_CMDLETS
    assert "Get-ExchangeDiagnosticInfo" in cat.EXCHANGE_CMDLETS
    assert "Restart-Service" not in cat.EXCHANGE_CMDLETS


def test_product_of():
    assert [cat.product_of(v) for v in (E2013_CU3, E2016_CU23, E2019_CU15, SE_RTM)] == ["2013", "2016", "2019", "SE"]


def test_unknown_parameter():
    exc = error("New-AuthServer", {"Name": "x", "AuthMetadataUrl": "https://a", "Bogus": 1}, E2019_CU15)
    assert exc.message == "A parameter cannot be found that matches parameter name 'Bogus'."
    assert exc.error_id == "NamedParameterNotFound"
    assert exc.category == "InvalidArgument"


def test_parameter_names_are_case_insensitive_and_aliases_bind():
    assert cat.resolve_call("remove-authserver", {"identity": "x", "cf": False}, E2016_CU23) == (
        "__AllParameterSets",
        {"Identity": "x", "Confirm": False},
    )


def test_common_parameters_accepted():
    validate_call("Get-AuthConfig", {"ErrorAction": "Stop", "Verbose": True}, E2013_CU3)


def test_two_sets():
    exc = error("Set-AuthConfig", {"CertificateThumbprint": "AB", "NewCertificateThumbprint": "CD"}, E2016_CU23)
    assert exc.message == "Parameter set cannot be resolved using the specified named parameters."
    assert exc.error_id == "AmbiguousParameterSet"
    exc = error("Set-AuthConfig", {"PublishCertificate": True, "Realm": "x"}, E2016_CU23)
    assert exc.error_id == "AmbiguousParameterSet"


def test_rollover_sets_each_resolve():
    resolve = cat.resolve_call
    current = {"CertificateThumbprint": "AB", "Force": True}
    assert resolve("Set-AuthConfig", current, E2013_CU3)[0] == "CurrentCertificateParameter"
    staged = {"NewCertificateThumbprint": "AB", "NewCertificateEffectiveDate": "2026-12-27T00:00:00Z", "Force": True}
    assert resolve("Set-AuthConfig", staged, E2013_CU3)[0] == "NewCertificateParameter"
    assert resolve("Set-AuthConfig", {"PublishCertificate": True}, E2013_CU3)[0] == "PublishAuthCertificateParameter"
    clear = {"ClearPreviousCertificate": True}
    assert resolve("Set-AuthConfig", clear, E2013_CU3)[0] == "PublishAuthCertificateParameter"


def test_missing_mandatory():
    exc = error("Set-AuthServer", {"Enabled": True}, E2019_CU15)
    assert exc.message == "Cannot process command because of one or more missing mandatory parameters: Identity."
    assert exc.error_id == "MissingMandatoryParameter"
    exc = error("Invoke-MonitoringProbe", {"Identity": "PushNotifications.Proxy\\X"}, E2019_CU15)
    assert exc.message.endswith("parameters: Server.")


def test_new_auth_server_sets():
    resolve = cat.resolve_call
    assert resolve("New-AuthServer", {"Name": "a", "AuthMetadataUrl": "u"}, E2013_CU3)[0] == "AuthMetadataUrl"
    assert resolve("New-AuthServer", {"Name": "a", "AuthMetadataUrl": "u", "Type": "AzureAD"}, E2013_CU3)[0] == (
        "NativeClientAuthServer"
    )
    assert resolve("New-AuthServer", {"Name": "a", "Type": "AzureAD"}, E2013_CU3)[0] == "AppSecret"


def test_invalid_enum():
    exc = error("New-AuthServer", {"Name": "a", "AuthMetadataUrl": "u", "Type": "ACS"}, E2019_CU15)
    assert exc.message == (
        "Cannot bind parameter 'Type'. Cannot convert value \"ACS\" to type "
        '"Microsoft.Exchange.Data.Directory.SystemConfiguration.AuthServerType". Error: "Unable to match the '
        "identifier name ACS to a valid enumerator name. Specify one of the following enumerator names and try "
        'again: ADFS, AzureAD, Facebook, LinkedIn, MicrosoftACS"'
    )
    assert exc.error_id == "CannotConvertArgumentNoMessage"
    validate_call("New-AuthServer", {"Name": "a", "AuthMetadataUrl": "u", "Type": "microsoftacs"}, E2019_CU15)


def test_flags_enum():
    validate_call("New-ExchangeCertificate", {"Services": "IMAP, POP"}, E2013_CU3)
    validate_call("New-ExchangeCertificate", {"Services": ["SMTP", "Federation"]}, E2013_CU3)
    assert error("New-ExchangeCertificate", {"Services": "IMAP,Web"}, E2013_CU3).parameter == "Services"


@pytest.mark.parametrize("version", [E2013_CU3, E2013_CU23, E2016_CU17, E2019_CU6])
def test_domain_name_missing_before_cu18_cu7(version):
    exc = error("New-AuthServer", {"Name": "a", "AuthMetadataUrl": "u", "DomainName": ["contoso.com"]}, version)
    assert exc.message == "A parameter cannot be found that matches parameter name 'DomainName'."


@pytest.mark.parametrize("version", [E2016_CU18, E2016_CU23, E2019_CU7, E2019_CU15, SE_RTM])
def test_domain_name_present_from_cu18_cu7(version):
    validate_call("Set-AuthServer", {"Identity": "a", "DomainName": ["contoso.com"]}, version)


@pytest.mark.parametrize("version", [E2013_CU23, E2016_CU23, E2019_CU15, (15, 2, 1544, 24)])
def test_application_identifier_needs_april_2025_hu(version):
    exc = error("Set-AuthServer", {"Identity": "EvoSTS", "ApplicationIdentifier": "x"}, version)
    assert exc.message == "A parameter cannot be found that matches parameter name 'ApplicationIdentifier'."


@pytest.mark.parametrize("version", [E2016_CU23_HU, E2019_CU14_HU, E2019_CU15_HU, SE_RTM, (15, 2, 2562, 30)])
def test_application_identifier_with_april_2025_hu(version):
    validate_call("Set-AuthServer", {"Identity": "EvoSTS", "ApplicationIdentifier": "x"}, version)


def test_exchange_2013_only_parameters():
    validate_call("Export-ExchangeCertificate", {"Thumbprint": "AB", "FileName": "c:\\x.cer"}, E2013_CU3)
    exc = error("Export-ExchangeCertificate", {"Thumbprint": "AB", "FileName": "c"}, E2016_CU23)
    assert exc.parameter == "FileName"


def test_unknown_cmdlet_and_version_none():
    exc = error("Invoke-Expression", {"Command": "x"}, None)
    assert exc.error_id == "CommandNotFoundException"
    validate_call("Set-AuthServer", {"Identity": "EvoSTS", "ApplicationIdentifier": "x"}, None)


def test_value_types():
    assert error("New-AuthServer", {"Name": "a", "AuthMetadataUrl": "u", "Enabled": "yes"}, E2016_CU23).error_id == (
        "ParameterArgumentTransformationError"
    )
    assert error("Set-AuthConfig", {"PublishCertificate": "true"}, E2016_CU23).parameter == "PublishCertificate"
    assert error("New-ExchangeCertificate", {"KeySize": "big"}, E2016_CU23).parameter == "KeySize"
    assert error("New-AuthServer", {"Name": ["a", "b"], "AuthMetadataUrl": "u"}, E2016_CU23).error_id == (
        "CannotConvertArgument"
    )
    staged = {"NewCertificateThumbprint": "AB", "NewCertificateEffectiveDate": "tomorrow"}
    assert error("Set-AuthConfig", staged, E2016_CU23).parameter == "NewCertificateEffectiveDate"


def test_null_mandatory_and_null_identity():
    validate_call("Get-AuthServer", {"Identity": None}, E2013_CU3)
    exc = error("Remove-AuthServer", {"Identity": None}, E2013_CU3)
    assert exc.message == "Cannot bind argument to parameter 'Identity' because it is null."


def test_extra_cmdlets_carry_a_source():
    for name in ("Get-PushNotificationApp", "Remove-SettingOverride", "Get-ExchangeDiagnosticInfo"):
        assert cat.CATALOG[name]["source"]
    validate_call("Remove-SettingOverride", {"Identity": "EnableExchangeHybrid3PAppFeature", "Confirm": False}, SE_RTM)
    args = {"Process": "Microsoft.Exchange.Directory.TopologyService", "Component": "VariantConfiguration"}
    args["Argument"] = "Refresh"
    validate_call("Get-ExchangeDiagnosticInfo", args, E2019_CU15)
    validate_call("Get-PushNotificationApp", {"Identity": "OnPrem-Proxy"}, E2013_CU3)


def test_push_proxy_cmdlets_need_exchange_2013_cu3():
    exc = error("Enable-PushNotificationProxy", {"Organization": "contoso.onmicrosoft.com"}, (15, 0, 712, 24))
    assert exc.error_id == "CommandNotFoundException"
    assert exc.message.startswith("The term 'Enable-PushNotificationProxy' is not recognized")
    for version in (E2013_CU3, E2013_CU23, E2016_CU17, SE_RTM):
        validate_call("Enable-PushNotificationProxy", {"Organization": "contoso.onmicrosoft.com"}, version)
        validate_call("Get-PushNotificationApp", {}, version)
