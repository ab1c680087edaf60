"""The simulated PSRP endpoints, driven with PipelineRequests (no network): Exchange's NoLanguage, RBAC-filtered
runspace with typed objects and error-stream cmdlet errors, the default endpoint's host cmdlets and fixed host
scripts, and calls.jsonl keeping every received string exactly."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import time

import pytest

from ansible_collections.exchange.hybrid.plugins.module_utils import _host_scripts
from ansible_collections.exchange.hybrid.plugins.module_utils._host_scripts import HOST_SCRIPTS
from hybrid_sim.exchange import VIEW_ONLY_ORGANIZATION_MANAGEMENT, initial_exchange_state
from hybrid_sim.exchange.testing import (
    E2013_CU23,
    E2016_CU23_HU,
    E2019_CU15_HU,
    ExchangeHarness,
    call,
    command,
    script,
)
from hybrid_sim.wsman.pipeline import Command, RemoteEnum, RemoteObject

NOT_RECOGNIZED = (
    "The term '%s' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the "
    "spelling of the name, or if a path was included, verify that the path is correct and try again."
)
NO_LANGUAGE = "The syntax is not supported by this runspace. This can occur if the runspace is in no-language mode."
TASKS = "Microsoft.Exchange.Management.SystemConfigurationTasks."
VIEWER = "CONTOSO\\viewer"
HOSTILE = [
    "'; Remove-Item C:\\ -Recurse -Force; '",
    '"; $(Stop-Computer) "',
    "`$env:PASSWORD`n",
    "line1\r\nline2\n\r",
    "\u2018curly\u2019 \u201cquotes\u201d \u201e",
    "nul\x00byte and \x1b escape",
    "\u00e9\u00e8 \u4e2d\u6587 \U0001f600",
    "@{a=1}; & calc.exe; #",
    "lone \ud800 surrogate",
    "  leading and trailing  ",
]


@pytest.fixture
def org(tmp_path):
    return ExchangeHarness(
        str(tmp_path),
        servers=[E2013_CU23, E2016_CU23_HU, E2019_CU15_HU],
        rbac={VIEWER: [VIEW_ONLY_ORGANIZATION_MANAGEMENT]},
    )


def only(result):
    assert result.failed is None and result.errors == [], result
    return result.output


# ------------------------------------------------------------------------------------------- the Exchange endpoint


@pytest.mark.parametrize(
    "commands",
    [
        [script("Get-AuthConfig")],
        [script("& { Set-AuthConfig -Realm x }")],
        [command("Get-AuthConfig"), script("$input | ForEach-Object { $_ }")],
    ],
)
def test_no_language_refuses_every_script(org, commands):
    before = org.state()
    result = org.exchange(*commands, server="EX2019")
    assert result.output == [] and result.errors == []
    failed = result.failed
    assert failed.message == NO_LANGUAGE
    assert failed.category == "ParserError" and failed.fully_qualified_error_id == "ScriptsNotAllowed"
    assert failed.exception_type == "System.Management.Automation.ParseException"
    assert failed.target == next(c.name for c in commands if c.is_script)
    assert org.calls() == [] and org.state() == before


@pytest.mark.parametrize(
    "name", ["Invoke-Expression", "Add-PSSnapin", "Get-Service", "Restart-Service", "Group-Object"]
)
def test_commands_outside_the_runspace_are_not_recognized(org, name):
    result = org.exchange(command(name, Name="x"), server="EX2019")
    assert result.failed.message == NOT_RECOGNIZED % name
    assert result.failed.category == "ObjectNotFound"
    assert result.failed.fully_qualified_error_id == "CommandNotFoundException"
    assert result.failed.target == name and org.calls() == []


def test_a_view_only_user_can_get_but_not_set(org):
    config = only(org.exchange(command("Get-AuthConfig"), server="EX2019", user=VIEWER))
    assert config[0].properties["Realm"] == ""
    for user in (VIEWER, "contoso\\VIEWER"):  # account names compare case-insensitively
        result = org.exchange(command("Set-AuthConfig", Realm="evil"), server="EX2019", user=user)
        assert result.failed.message == NOT_RECOGNIZED % "Set-AuthConfig"
        assert result.failed.fully_qualified_error_id == "CommandNotFoundException"
    assert org.state()["exchange"]["auth_config"]["Realm"] == ""
    assert [c["cmdlet"] for c in org.calls()] == ["Get-AuthConfig"]
    # Users not listed are Organization Management: the same call runs for them.
    only(org.exchange(command("Set-AuthConfig", Realm="contoso.com"), server="EX2019"))
    assert org.state()["exchange"]["auth_config"]["Realm"] == "contoso.com"


def test_get_command_lists_what_the_caller_may_run(org):
    def names(user, server="EX2019", **parameters):
        return [o.to_string for o in only(org.exchange(command("Get-Command", **parameters), server=server, user=user))]

    viewer = names(VIEWER)
    assert "Get-AuthConfig" in viewer and "Select-Object" in viewer and "Get-Command" in viewer
    assert not [n for n in viewer if n.split("-")[0] in ("Set", "New", "Remove", "Enable", "Disable", "Invoke")]
    assert "Set-AuthConfig" in names("CONTOSO\\exadmin") and "Invoke-MonitoringProbe" in names("CONTOSO\\exadmin")
    assert names(VIEWER, Name="*-AuthServer") == ["Get-AuthServer"]
    listed = only(org.exchange(command("Get-Command", Name="Get-AuthServer"), server="EX2019"))[0]
    assert listed.properties["CommandType"] == RemoteEnum("System.Management.Automation.CommandTypes", "Cmdlet", 8)
    result = org.exchange(
        command("Get-Command", Name=["Get-AuthConfig", "Set-AuthConfig"]), server="EX2019", user=VIEWER
    )
    assert [o.to_string for o in result.output] == ["Get-AuthConfig"]
    assert result.failed is None and result.errors[0].message == NOT_RECOGNIZED % "Set-AuthConfig"
    assert result.errors[0].fully_qualified_error_id == (
        "CommandNotFoundException,Microsoft.PowerShell.Commands.GetCommandCommand"
    )


def test_rbac_state_shape(tmp_path):
    state = initial_exchange_state([E2019_CU15_HU], rbac={"CONTOSO\\Viewer": ["View-Only Organization Management"]})
    assert state["rbac"] == {"contoso\\viewer": ["View-Only Organization Management"]}
    assert initial_exchange_state([E2019_CU15_HU])["rbac"] == {}
    with pytest.raises(ValueError, match="unknown role group"):
        initial_exchange_state([E2019_CU15_HU], rbac={"CONTOSO\\x": ["Organisation Management"]})


def test_exchange_server_is_a_typed_object(org):
    servers = only(org.exchange(command("Get-ExchangeServer"), server="EX2016"))
    assert [s.to_string for s in servers] == ["EX2013", "EX2016", "EX2019"]
    ex2019 = servers[2]
    assert ex2019.type_names[0] == "Microsoft.Exchange.Data.Directory.Management.ExchangeServer"
    assert (
        ex2019.type_names[-1] == "System.Object" and "Microsoft.Exchange.Data.Directory.ADObject" in ex2019.type_names
    )
    version = ex2019.properties["AdminDisplayVersion"]
    assert isinstance(version, RemoteObject) and version.to_string == "Version 15.2 (Build 1748.10)"
    assert version.type_names == ["Microsoft.Exchange.Data.ServerVersion", "System.Object"]
    assert {k: version.properties[k] for k in ("Major", "Minor", "Build", "Revision")} == {
        "Major": 15,
        "Minor": 2,
        "Build": 1748,
        "Revision": 10,
    }
    role = servers[0].properties["ServerRole"]
    assert role == RemoteEnum(
        "Microsoft.Exchange.Data.Directory.SystemConfiguration.ServerRole", "Mailbox, ClientAccess", 6
    )
    identity = ex2019.properties["Identity"]
    assert identity.to_string == "EX2019" and identity.properties["DistinguishedName"].startswith("CN=EX2019,")
    assert ex2019.properties["Fqdn"] == "ex2019.contoso.com" and ex2019.properties["IsE15OrLater"] is True


def test_certificates_are_typed_objects(org):
    certificates = only(org.exchange(command("Get-ExchangeCertificate"), server="EX2019"))
    stored = {c["Thumbprint"]: c for c in org.state()["exchange"]["servers"]["EX2019"]["certificates"]}
    assert len(certificates) == len(stored) == 2
    for cert in certificates:
        properties = cert.properties
        assert cert.type_names[0] == TASKS + "ExchangeCertificate"
        assert "System.Security.Cryptography.X509Certificates.X509Certificate2" in cert.type_names
        raw = properties["RawData"]
        assert isinstance(raw, bytes) and base64.b64encode(raw).decode() == stored[properties["Thumbprint"]]["RawData"]
        assert hashlib.sha1(raw).hexdigest().upper() == properties["Thumbprint"]
        not_after = properties["NotAfter"]
        assert isinstance(not_after, dt.datetime) and not_after.utcoffset() == dt.timedelta(0)
        assert not_after > properties["NotBefore"] > dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
        assert properties["Status"] == RemoteEnum(TASKS + "CertificateStatus", "Valid", 1)
        assert isinstance(properties["CertificateDomains"], list)
        assert cert.to_string.startswith("[Subject]\r\n  %s\r\n\r\n[Issuer]" % properties["Subject"])
    setup = next(c for c in certificates if c.properties["FriendlyName"] == "Microsoft Exchange")
    assert setup.properties["Services"] == RemoteEnum(TASKS + "AllowedServices", "IMAP, POP, IIS, SMTP", 1 + 2 + 8 + 16)
    assert setup.properties["CertificateDomains"] == ["EX2019", "ex2019.contoso.com"]
    exported = only(
        org.exchange(command("Export-ExchangeCertificate", Thumbprint=setup.properties["Thumbprint"]), server="EX2019")
    )[0]
    assert exported.properties["FileData"] == setup.properties["RawData"]


def test_datetime_parameters_switches_without_value_and_immediate_replacement(org):
    new = only(
        org.exchange(
            command(
                "New-ExchangeCertificate", Services="Federation", DomainName=["contoso.com"], PrivateKeyExportable=True
            ),
            server="EX2019",
        )
    )[0]
    thumb = new.properties["Thumbprint"]
    assert new.properties["Services"].name == "Federation"
    effective = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    # -Force sent as AddParameter("Force") (no value): PowerShell binds a present switch.
    staged = org.exchange(
        command("Set-AuthConfig", NewCertificateThumbprint=thumb, NewCertificateEffectiveDate=effective, Force=None),
        server="EX2019",
    )
    assert only(staged) == []
    config = only(org.exchange(command("Get-AuthConfig"), server="EX2019"))[0]
    assert config.properties["NextCertificateThumbprint"] == thumb
    assert config.properties["NextCertificateEffectiveDate"] == effective
    assert config.type_names[0] == "Microsoft.Exchange.Data.Directory.SystemConfiguration.AuthConfig"
    # Microsoft's immediate replacement: publish in the next call, before the AuthAdmin servicelet's next run.
    only(org.exchange(command("Set-AuthConfig", PublishCertificate=None), server="EX2019"))
    only(org.exchange(command("Set-AuthConfig", ClearPreviousCertificate=True), server="EX2019"))
    config = only(org.exchange(command("Get-AuthConfig"), server="EX2019"))[0].properties
    assert config["CurrentCertificateThumbprint"] == thumb and config["PreviousCertificateThumbprint"] is None
    assert config["NextCertificateEffectiveDate"] is None
    logged = org.calls()[1]
    assert logged["parameters"] == {
        "NewCertificateThumbprint": thumb,
        "NewCertificateEffectiveDate": effective.isoformat(),
        "Force": None,
    }


def test_lists_enums_and_nested_objects(org):
    created = only(
        org.exchange(
            command(
                "New-SettingOverride",
                Name="EnableExchangeHybrid3PAppFeature",
                Component="Global",
                Section="ExchangeOnpremAsThirdPartyAppId",
                Parameters=["Enabled=true"],
                Reason="hybrid app",
            ),
            server="EX2019",
        )
    )[0]
    assert created.properties["Parameters"] == ["Enabled=true"] and created.properties["Server"] == []
    assert isinstance(created.properties["WhenCreatedUTC"], dt.datetime)
    assert created.properties["Identity"].to_string == "EnableExchangeHybrid3PAppFeature"
    url = "https://login.windows.net/contoso.com/federationmetadata/2007-06/federationmetadata.xml"
    only(org.exchange(command("New-AuthServer", Name="EvoSts - 1", AuthMetadataUrl=url), server="EX2019"))
    only(
        org.exchange(
            command("Set-AuthServer", Identity="EvoSts - 1", DomainName=["contoso.com", "fabrikam.com"]),
            server="EX2019",
        )
    )
    server = only(org.exchange(command("Get-AuthServer", Identity="EvoSts - 1"), server="EX2019"))[0]
    assert server.properties["Type"] == RemoteEnum(
        "Microsoft.Exchange.Data.Directory.SystemConfiguration.AuthServerType", "AzureAD", 5
    )
    # $authServer.DomainName.Domain (CSS ConfigureExchangeHybridApplication.ps1): items with a .Domain.
    assert [d.properties["Domain"] for d in server.properties["DomainName"]] == ["contoso.com", "fabrikam.com"]
    assert [d.to_string for d in server.properties["DomainName"]] == ["contoso.com", "fabrikam.com"]


def test_cmdlet_errors_arrive_on_the_error_stream(org):
    result = org.exchange(command("Get-AuthServer", Identity="Nope"), server="EX2019")
    assert result.failed is None and result.output == []
    (error,) = result.errors
    assert (
        error.message
        == "The operation couldn't be performed because object 'Nope' couldn't be found on 'DC01.contoso.com'."
    )
    assert error.fully_qualified_error_id == "ManagementObjectNotFoundException," + TASKS + "GetAuthServer"
    assert error.target == "Nope" and error.category == "NotSpecified"
    # A failing cmdlet is atomic: nothing it did stays.
    before = org.state()["exchange"]["auth_servers"]
    result = org.exchange(
        command("New-AuthServer", Name="bad", AuthMetadataUrl="https://contoso.example/not-metadata"), server="EX2019"
    )
    assert result.errors[0].fully_qualified_error_id.startswith("AuthMetadataClientException,")
    assert org.state()["exchange"]["auth_servers"] == before


@pytest.mark.parametrize(
    "cmd, server, message, error_id",
    [
        (
            command("New-AuthServer", Name="x", AuthMetadataUrl="https://a", Bogus=True),
            "EX2019",
            "A parameter cannot be found that matches parameter name 'Bogus'.",
            "NamedParameterNotFound," + TASKS + "NewAuthServer",
        ),
        (
            command("Get-AuthServer", "MicrosoftSts"),
            "EX2019",
            "A positional parameter cannot be found that accepts argument 'MicrosoftSts'.",
            "PositionalParameterNotFound," + TASKS + "GetAuthServer",
        ),
        (
            command("Set-AuthConfig", CertificateThumbprint="AB", PublishCertificate=True),
            "EX2019",
            "Parameter set cannot be resolved using the specified named parameters.",
            "AmbiguousParameterSet," + TASKS + "SetAuthConfig",
        ),
        (
            command("New-AuthServer", Name="x", AuthMetadataUrl="https://a", DomainName=["contoso.com"]),
            "EX2013",
            "A parameter cannot be found that matches parameter name 'DomainName'.",
            "NamedParameterNotFound," + TASKS + "NewAuthServer",
        ),
        (
            command("Remove-AuthServer"),
            "EX2019",
            "Cannot process command because of one or more missing mandatory parameters: Identity.",
            "MissingMandatoryParameter," + TASKS + "RemoveAuthServer",
        ),
    ],
)
def test_binding_errors_fail_the_pipeline_before_anything_runs(org, cmd, server, message, error_id):
    result = org.exchange(cmd, server=server)
    assert result.failed.message == message and result.failed.fully_qualified_error_id == error_id
    assert result.failed.exception_type == "System.Management.Automation.ParameterBindingException"
    assert org.calls() == []


def test_a_name_sent_twice_is_refused(org):
    duplicate = Command("Get-AuthServer", False, (("Identity", "a"), ("Identity", "b")))
    result = org.exchange(duplicate, server="EX2019")
    assert result.failed.fully_qualified_error_id == "ParameterAlreadyBound," + TASKS + "GetAuthServer"


def test_the_build_decides_which_cmdlets_exist(tmp_path):
    org = ExchangeHarness(str(tmp_path), servers=[{"name": "EX01", "version": "Version 15.0 (Build 712.24)"}])
    result = org.exchange(command("Enable-PushNotificationProxy", Organization="contoso.onmicrosoft.com"))
    assert result.failed.message == NOT_RECOGNIZED % "Enable-PushNotificationProxy"
    names = [o.to_string for o in only(org.exchange(command("Get-Command", Name="*PushNotification*")))]
    assert names == ["Get-PushNotificationApp"] or names == []


def test_hostile_values_are_stored_and_logged_byte_for_byte(org):
    sent = []
    for index, text in enumerate(HOSTILE):
        parameters = {
            "Name": "n%d %s" % (index, text),
            "Component": "Global",
            "Section": text,
            "Parameters": ["Key=%s" % text],
            "Reason": text,
        }
        sent.append(parameters)
        only(org.exchange(command("New-SettingOverride", **parameters), server="EX2019"))
    logged = org.calls()
    assert [c["cmdlet"] for c in logged] == ["New-SettingOverride"] * len(HOSTILE)
    assert [c["parameters"] for c in logged] == sent
    assert {(c["server"], c["endpoint"]) for c in logged} == {("EX2019", "Microsoft.Exchange")}
    with open(org.calls_path, "rb") as handle:
        assert all(b < 0x80 for b in handle.read())  # ASCII with \u escapes: nothing re-encoded on the way
    stored = only(org.exchange(command("Get-SettingOverride"), server="EX2016"))
    assert [o.properties["Reason"] for o in stored] == HOSTILE
    assert [o.properties["SectionName"] for o in stored] == HOSTILE
    assert [o.properties["Parameters"] for o in stored] == [["Key=%s" % t] for t in HOSTILE]


def test_names_are_case_insensitive_and_logged_canonically(org):
    only(org.exchange(command("get-authconfig", domaincontroller="dc01.contoso.com"), server="EX2019"))
    assert org.calls()[0]["cmdlet"] == "Get-AuthConfig"
    assert org.calls()[0]["parameters"] == {"domaincontroller": "dc01.contoso.com"}


def test_core_commands_select_and_measure(org):
    selected = only(
        org.exchange(
            command("Get-ExchangeServer"), command("Select-Object", ["Name", "AdminDisplayVersion"]), server="EX2019"
        )
    )
    assert [list(o.properties) for o in selected] == [["Name", "AdminDisplayVersion"]] * 3
    assert selected[0].type_names[0] == "Selected.Microsoft.Exchange.Data.Directory.Management.ExchangeServer"
    assert selected[0].properties["AdminDisplayVersion"].to_string == "Version 15.0 (Build 1497.2)"
    expanded = only(
        org.exchange(command("Get-ExchangeServer"), command("Select-Object", ExpandProperty="Fqdn"), server="EX2019")
    )
    assert expanded == ["ex2013.contoso.com", "ex2016.contoso.com", "ex2019.contoso.com"]
    measured = only(org.exchange(command("Get-ExchangeCertificate"), command("Measure-Object"), server="EX2019"))
    assert measured[0].properties["Count"] == 2
    assert only(org.exchange(command("Get-AuthConfig"), command("Out-Default"), server="EX2019")) == []
    result = org.exchange(command("Get-AuthConfig"), command("Get-AuthServer"), server="EX2019")
    assert result.failed.category == "NotImplemented" and org.calls()[-1]["cmdlet"] == "Out-Default"


# ----------------------------------------------------------------------------------------------- the default endpoint


@pytest.mark.parametrize(
    "text",
    [
        "Get-Process",
        HOST_SCRIPTS["host_facts"] + " ",
        HOST_SCRIPTS["write_file"].replace("$ErrorActionPreference = 'Stop'", "Remove-Item C:\\ -Recurse"),
        "",
    ],
)
def test_the_host_runs_only_the_collections_scripts(org, text):
    result = org.host(script(text), server="EX2019")
    assert result.output == [] and result.failed.fully_qualified_error_id == "HybridSimScriptNotAllowed"
    assert "runs only the exchange.hybrid collection's fixed host scripts" in result.failed.message
    assert org.calls() == []


@pytest.mark.parametrize("name", ["Get-ExchangeCertificate", "Set-AuthConfig", "get-authconfig"])
def test_exchange_cmdlets_are_not_recognized_on_the_default_endpoint(org, name):
    result = org.host(command(name), server="EX2019")
    assert result.failed.message == NOT_RECOGNIZED % name
    assert (
        result.failed.category == "ObjectNotFound"
        and result.failed.fully_qualified_error_id == "CommandNotFoundException"
    )
    assert org.calls() == []


def test_other_cmdlets_are_not_simulated_on_the_default_endpoint(org):
    result = org.host(command("Invoke-Expression", Command="calc.exe"), server="EX2019")
    assert result.failed.fully_qualified_error_id == "HybridSimCommandNotSimulated"
    result = org.host(command("Get-Service"), command("Restart-Service"), server="EX2019")
    assert result.failed.fully_qualified_error_id == "HybridSimOneCommandPerPipeline"


def test_host_facts(org):
    (facts,) = only(org.host(script(HOST_SCRIPTS["host_facts"]), server="EX2016"))
    assert facts.type_names == ["System.Management.Automation.PSCustomObject", "System.Object"]
    assert facts.properties["ComputerName"] == "EX2016" and facts.properties["FileVersion"] == "15.01.2507.055"
    assert facts.properties["ExSetupPath"].endswith("\\bin\\ExSetup.exe")
    before = dt.datetime.strptime(facts.properties["UtcNow"], "%Y-%m-%dT%H:%M:%SZ")
    org.move_clock(400 * 86400)
    (later,) = only(org.host(script(HOST_SCRIPTS["host_facts"]), server="EX2013"))
    assert later.properties["FileVersion"] == "15.00.1497.002"
    assert dt.datetime.strptime(later.properties["UtcNow"], "%Y-%m-%dT%H:%M:%SZ") - before >= dt.timedelta(days=399)
    assert [(c["cmdlet"], c["endpoint"]) for c in org.calls()] == [("script:host_facts", "Microsoft.PowerShell")] * 2
    result = org.host(script(HOST_SCRIPTS["host_facts"], ErrorAction="Stop"), server="EX2016")
    assert result.failed.message == "A parameter cannot be found that matches parameter name 'ErrorAction'."


def test_write_file(org):
    path = "C:\\OAuthConfig\\OAuthCert.cer"
    content = base64.b64encode(b"\x00\x01cert").decode()
    (out,) = only(org.host(script(HOST_SCRIPTS["write_file"], Path=path, Base64Content=content), server="EX2016"))
    assert out.properties == {"Path": path, "Changed": True, "Length": 6}
    assert org.state()["exchange"]["servers"]["EX2016"]["files"] == {path: content}
    (again,) = only(org.host(script(HOST_SCRIPTS["write_file"], Path=path, Base64Content=content), server="EX2016"))
    assert again.properties["Changed"] is False
    other = base64.b64encode(b"new").decode()
    check = script(HOST_SCRIPTS["write_file"], path, other, CheckOnly=None)  # positional, as param() declares them
    (checked,) = only(org.host(check, server="EX2016"))
    assert (
        checked.properties["Changed"] is True and org.state()["exchange"]["servers"]["EX2016"]["files"][path] == content
    )
    assert org.calls()[-1]["parameters"] == {"Path": path, "Base64Content": other, "CheckOnly": None}
    bad = org.host(script(HOST_SCRIPTS["write_file"], Path="C:\\x", Base64Content="%%%"), server="EX2016")
    assert (
        "not a valid Base-64 string" in bad.failed.message and bad.failed.fully_qualified_error_id == "FormatException"
    )
    missing = org.host(script(HOST_SCRIPTS["write_file"], Path="C:\\x"), server="EX2016")
    assert (
        missing.failed.message
        == "Cannot process command because of one or more missing mandatory parameters: Base64Content."
    )
    assert missing.failed.fully_qualified_error_id == "MissingMandatoryParameter"
    unknown = org.host(
        script(HOST_SCRIPTS["write_file"], Path="C:\\x", Base64Content=content, Force=True), server="EX2016"
    )
    assert unknown.failed.message == "A parameter cannot be found that matches parameter name 'Force'."
    assert "C:\\x" not in org.state()["exchange"]["servers"]["EX2016"]["files"]


def test_host_scripts_are_judged_by_the_collections_current_text(org, tmp_path, monkeypatch):
    changed = tmp_path / "_host_scripts.py"
    source = open(_host_scripts.__file__, encoding="utf-8").read()
    changed.write_text(source.replace("$env:COMPUTERNAME", "$env:COMPUTERNAME.ToUpper()"), encoding="utf-8")
    monkeypatch.setattr(_host_scripts, "__file__", str(changed))
    new_text = HOST_SCRIPTS["host_facts"].replace("$env:COMPUTERNAME", "$env:COMPUTERNAME.ToUpper()")
    assert only(org.host(script(new_text), server="EX2019"))[0].properties["ComputerName"] == "EX2019"
    old = org.host(script(HOST_SCRIPTS["host_facts"]), server="EX2019")
    assert old.failed.fully_qualified_error_id == "HybridSimScriptNotAllowed"


def test_services_and_the_health_manager_restart(org):
    with org.edit() as state:
        state["exchange"]["settings"]["health_ready_delay_seconds"] = 3600
    (service,) = only(org.host(command("Get-Service", "MSExchangeHM"), server="EX2019"))
    assert service.type_names[0] == "System.ServiceProcess.ServiceController"
    assert service.properties["Status"] == RemoteEnum("System.ServiceProcess.ServiceControllerStatus", "Running", 4)
    assert only(org.host(command("Restart-Service", Name="MSExchangeHM", Force=None), server="EX2019")) == []
    probe = command(
        "Invoke-MonitoringProbe",
        Identity="PushNotifications.Proxy\\PushNotificationsEnterpriseConnectivityProbe",
        Server="EX2019",
    )
    waiting = org.exchange(probe, server="EX2019")
    assert waiting.failed is None and "isn't ready" in waiting.errors[0].message
    assert waiting.errors[0].category == "ResourceUnavailable"
    with org.edit() as state:
        state["exchange"]["servers"]["EX2019"]["services"]["MSExchangeHM"]["ready_at"] = time.time() - 1
    (result,) = only(org.exchange(probe, server="EX2019"))
    assert result.properties["ResultType"].name == "Failed" and isinstance(
        result.properties["ExecutionStartTime"], dt.datetime
    )
    missing = org.host(command("Get-Service", Name=["MSExchangeHM", "NoSuchService"]), server="EX2019")
    assert [o.properties["Name"] for o in missing.output] == ["MSExchangeHM"] and missing.failed is None
    assert missing.errors[0].message == "Cannot find any service with service name 'NoSuchService'."
    assert missing.errors[0].fully_qualified_error_id == (
        "NoServiceFoundForGivenName,Microsoft.PowerShell.Commands.GetServiceCommand"
    )
    bogus = org.host(command("Restart-Service", Name="MSExchangeHM", Bogus=1), server="EX2019")
    assert (
        bogus.failed.fully_qualified_error_id
        == "NamedParameterNotFound,Microsoft.PowerShell.Commands.RestartServiceCommand"
    )
    assert [c["cmdlet"] for c in org.calls() if c["endpoint"] == "Microsoft.PowerShell"] == [
        "Get-Service",
        "Restart-Service",
        "Get-Service",
    ]


# -------------------------------------------------------------------------------------------------- the harness


def test_harness_envelope_batches_and_errors(org):
    code, envelope = org.run(
        [
            call("Enable-PushNotificationProxy", Organization="Contoso.onmicrosoft.com"),
            call("New-AuthServer", Name="x", AuthMetadataUrl="https://a.example/x", Bogus=1),
            call("Disable-PushNotificationProxy"),
        ],
        server="EX2016",
    )
    assert code == 1 and envelope["ok"] is False and len(envelope["results"]) == 1
    assert envelope["error"] == {
        "index": 1,
        "cmdlet": "New-AuthServer",
        "kind": "cmdlet",
        "message": "A parameter cannot be found that matches parameter name 'Bogus'.",
        "category": "InvalidArgument",
        "fully_qualified_error_id": "NamedParameterNotFound," + TASKS + "NewAuthServer",
    }
    app = org.state()["exchange"]["push_notification_apps"][0]
    assert app["Enabled"] is True and app["Organization"] == "contoso.onmicrosoft.com"
    error = org.fail([call("Invoke-Expression", Command="x")])
    assert error["message"] == NOT_RECOGNIZED % "Invoke-Expression" and error["kind"] == "cmdlet"
    assert org.ok([call("Get-ExchangeServer", ["AdminDisplayVersion", "Missing"])], server="EX2019")[0][0] == {
        "AdminDisplayVersion": {"Major": 15, "Minor": 0, "Build": 1497, "Revision": 2},
        "Missing": None,
    }
    assert json.loads(json.dumps(envelope)) == envelope
