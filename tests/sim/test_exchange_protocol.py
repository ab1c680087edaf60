"""The simulated Exchange's handler: runner checks, the envelope, validation errors, batch semantics, calls.jsonl."""

from __future__ import annotations

import base64
import json

import pytest

from ansible_collections.exchange.hybrid.plugins.module_utils import _runner_script as runner
from hybrid_sim.exchange.handler import make_handler
from hybrid_sim.exchange.testing import E2013_CU23, E2016_CU23, E2016_CU23_HU, E2019_CU15_HU, ExchangeHarness, call
from hybrid_sim.wsman.command import CommandRequest

HOSTILE = [
    "'; Remove-Item C:\\ -Recurse -Force; '",
    '"; $(Stop-Computer) "',
    "`$env:PASSWORD`n",
    "line1\r\nline2\n\r",
    "\u2018curly\u2019 \u201cquotes\u201d \u201e",
    "nul\x00byte and \x1b escape",
    "\u00e9\u00e8 \u4e2d\u6587 \U0001f600",
    "@{a=1}; & calc.exe; #",
    "\0\0\0\0",
]


@pytest.fixture
def org(tmp_path):
    return ExchangeHarness(str(tmp_path), servers=[E2013_CU23, E2016_CU23, E2019_CU15_HU])


def test_envelope_of_a_successful_request(org):
    code, envelope = org.run(
        [
            call("Get-ExchangeServer", ["Name", "Fqdn", "AdminDisplayVersion", "Missing"]),
            call("Get-AuthConfig", ["CurrentCertificateThumbprint", "NextCertificateEffectiveDate"]),
        ],
        server="EX2016",
    )
    assert code == 0
    assert list(envelope) == ["runner", "ok", "computer_name", "ps_version", "utc_now", "results", "error"]
    assert envelope["ok"] is True and envelope["error"] is None and envelope["computer_name"] == "EX2016"
    servers = envelope["results"][0]["output"]
    assert [s["Name"] for s in servers] == ["EX2013", "EX2016", "EX2019"]
    assert servers[0]["AdminDisplayVersion"] == {"Major": 15, "Minor": 0, "Build": 1497, "Revision": 2}
    assert servers[0]["Missing"] is None
    assert envelope["results"][1]["cmdlet"] == "Get-AuthConfig"
    assert len(envelope["results"][1]["output"][0]["CurrentCertificateThumbprint"]) == 40


def test_stdout_is_one_ascii_json_document(org):
    result = org.request(
        {
            "runner": 1,
            "calls": [
                call(
                    "New-SettingOverride",
                    ["Reason"],
                    Name="n",
                    Component="c",
                    Section="s",
                    Parameters=["a=b"],
                    Reason="\u00e9\u2019",
                )
            ],
        },
        "EX2016",
    )
    text = result.stdout.decode("ascii")
    assert "\\u00e9\\u2019" in text and json.loads(text)["results"][0]["output"][0]["Reason"] == "\u00e9\u2019"


def test_properties_omitted_drop_output_and_empty_list_keeps_rows(org):
    outputs = org.ok([call("Get-ExchangeServer"), call("Get-ExchangeServer", [])])
    assert outputs == [[], [{}, {}, {}]]


@pytest.mark.parametrize(
    "command_line",
    [
        "powershell.exe -NoProfile -Command Get-Process",
        "powershell.exe -EncodedCommand " + base64.b64encode("Get-Process".encode("utf-16-le")).decode(),
        "powershell.exe -EncodedCommand not-base64!",
    ],
)
def test_a_command_line_that_is_not_the_bootstrap_is_refused(org, command_line):
    result = org.request({"runner": 1, "calls": []}, "EX2016", command_line=command_line)
    assert result.exit_code == 1 and result.stdout == b""
    assert b"only runs the exchange.hybrid runner" in result.stderr


@pytest.mark.parametrize(
    "stdin",
    [
        b"Get-Process",
        ("Remove-Item C:\\ -Recurse" + "\0\0\0\0" + '{"runner":1,"calls":[]}').encode(),
        (runner.RUNNER + " " + "\0\0\0\0" + '{"runner":1,"calls":[]}').encode(),
        "caf\u00e9".encode("utf-8"),
    ],
)
def test_stdin_that_is_not_the_runner_is_refused(org, stdin):
    result = org.request({}, "EX2016", stdin=stdin)
    assert result.exit_code == 1 and b"only runs the exchange.hybrid runner" in result.stderr
    assert org.calls() == []


def test_the_texts_can_be_replaced_for_tests(org):
    handler = make_handler(org.store, "EX2016", bootstrap="BOOT", runner="RUN")
    line = "powershell.exe -EncodedCommand " + base64.b64encode("BOOT".encode("utf-16-le")).decode()
    result = handler(CommandRequest("EX2016", "u", line, b'RUN\0\0\0\0{"runner":1,"calls":[]}'))
    assert result.exit_code == 0 and json.loads(result.stdout)["ok"] is True


def test_bad_json_and_wrong_version_are_request_errors(org):
    result = org.request({}, "EX2016", stdin=(runner.RUNNER + "\0\0\0\0" + "{not json").encode())
    error = json.loads(result.stdout)["error"]
    assert result.exit_code == 1 and error["kind"] == "request" and error["index"] is None
    assert error["message"].startswith("the runner request is invalid: ")
    result = org.request({"runner": 2, "calls": []}, "EX2016")
    assert (
        json.loads(result.stdout)["error"]["message"]
        == "the runner request is invalid: unsupported runner request version: 2"
    )


@pytest.mark.parametrize("name", ["Invoke-Expression", "get-authconfig", "Set-Variable"])
def test_cmdlets_outside_the_allowlist_are_refused_before_anything_runs(org, name):
    error = org.fail([call("Enable-PushNotificationProxy", Organization="x.example"), call(name)])
    assert error == {
        "index": 1,
        "cmdlet": name,
        "kind": "request",
        "message": "the cmdlet is not allowed by the runner: %s" % name,
        "category": "PermissionDenied",
        "fully_qualified_error_id": "RunnerCmdletNotAllowed",
    }
    assert org.state()["exchange"]["push_notification_apps"][0]["Enabled"] is False


def test_missing_snapin(org):
    with org.edit() as state:
        state["exchange"]["servers"]["EX2016"]["snapin"] = False
    error = org.fail([call("Get-Service", ["Name"], Name="MSExchangeHM"), call("Get-AuthConfig")], server="EX2016")
    assert error["kind"] == "snapin" and error["index"] == 1
    assert "Microsoft.Exchange.Management.PowerShell.SnapIn" in error["message"]


def test_a_failing_call_stops_the_batch_and_earlier_effects_stay(org):
    code, envelope = org.run(
        [
            call("Enable-PushNotificationProxy", Organization="Contoso.onmicrosoft.com"),
            call("New-AuthServer", Name="x", AuthMetadataUrl="https://a.example/x", Bogus=1),
            call("Disable-PushNotificationProxy"),
        ],
        server="EX2016",
    )
    assert code == 1 and len(envelope["results"]) == 1
    assert envelope["error"]["index"] == 1 and envelope["error"]["kind"] == "cmdlet"
    app = org.state()["exchange"]["push_notification_apps"][0]
    assert app["Enabled"] is True and app["Organization"] == "contoso.onmicrosoft.com"


def test_unknown_parameter(org):
    error = org.fail([call("New-AuthServer", Name="x", AuthMetadataUrl="https://a", Bogus=True)], server="EX2019")
    assert error["message"] == "A parameter cannot be found that matches parameter name 'Bogus'."
    assert error["category"] == "InvalidArgument"
    assert error["fully_qualified_error_id"] == (
        "NamedParameterNotFound,Microsoft.Exchange.Management.SystemConfigurationTasks.NewAuthServer"
    )


def test_parameters_from_two_sets(org):
    error = org.fail([call("Set-AuthConfig", CertificateThumbprint="AB", PublishCertificate=True)], server="EX2019")
    assert error["message"] == "Parameter set cannot be resolved using the specified named parameters."
    assert error["fully_qualified_error_id"].startswith("AmbiguousParameterSet,")


def test_domain_name_on_2013(org):
    request = call("New-AuthServer", Name="x", AuthMetadataUrl="https://a", DomainName=["contoso.com"])
    error = org.fail([request], server="EX2013")
    assert error["message"] == "A parameter cannot be found that matches parameter name 'DomainName'."


def test_application_identifier_needs_the_hotfix_update(tmp_path):
    org = ExchangeHarness(str(tmp_path), servers=[E2013_CU23, E2016_CU23, {**E2016_CU23_HU, "name": "EX2016HU"}])
    org.ok([call("New-AuthServer", Name="EvoSTS", Type="AzureAD")], server="EX2016HU")
    request = call("Set-AuthServer", Identity="EvoSTS", ApplicationIdentifier="11111111-2222-3333-4444-555555555555")
    for server in ("EX2013", "EX2016"):
        error = org.fail([request], server=server)
        assert error["message"] == "A parameter cannot be found that matches parameter name 'ApplicationIdentifier'."
    org.ok([request], server="EX2016HU")
    assert (
        org.state()["exchange"]["auth_servers"][0]["ApplicationIdentifier"]
        == request["parameters"]["ApplicationIdentifier"]
    )


def test_invalid_type(org):
    error = org.fail([call("New-AuthServer", Name="x", AuthMetadataUrl="https://a", Type="ACS")])
    assert error["message"].startswith('Cannot bind parameter \'Type\'. Cannot convert value "ACS" to type "')
    assert "ADFS, AzureAD, Facebook, LinkedIn, MicrosoftACS" in error["message"]


def test_missing_mandatory_and_null(org):
    error = org.fail([call("Remove-AuthServer")])
    assert error["message"] == "Cannot process command because of one or more missing mandatory parameters: Identity."
    error = org.fail([call("Remove-AuthServer", Identity=None)])
    assert error["message"] == "Cannot bind argument to parameter 'Identity' because it is null."


def test_error_action_is_already_bound_by_the_runner(org):
    error = org.fail([call("Get-AuthConfig", ErrorAction="SilentlyContinue")])
    assert error["fully_qualified_error_id"].startswith("ParameterAlreadyBound,")


def test_calls_jsonl_keeps_hostile_strings_exactly(org):
    calls = []
    for index, text in enumerate(HOSTILE):
        calls.append(
            call(
                "New-SettingOverride",
                Name="n%d %s" % (index, text),
                Component="Global",
                Section=text,
                Parameters=["Key=%s" % text],
                Reason=text,
            )
        )
    org.ok(calls, server="EX2019")
    logged = org.calls()
    assert [c["cmdlet"] for c in logged] == ["New-SettingOverride"] * len(HOSTILE)
    assert [c["parameters"] for c in logged] == [c["parameters"] for c in calls]
    assert all(c["server"] == "EX2019" for c in logged)
    stored = org.ok([call("Get-SettingOverride", ["Name", "Reason", "SectionName", "Parameters"])])[0]
    assert [s["Reason"] for s in stored] == HOSTILE
    assert [s["Parameters"] for s in stored] == [["Key=%s" % t] for t in HOSTILE]


def test_services(org):
    assert org.ok([call("Get-Service", ["Name", "Status"], Name="MSExchangeHM")]) == [
        [{"Name": "MSExchangeHM", "Status": "Running"}]
    ]
    error = org.fail([call("Get-Service", Name="NoSuchService")])
    assert error["message"] == "Cannot find any service with service name 'NoSuchService'."
    assert (
        error["fully_qualified_error_id"]
        == "NoServiceFoundForGivenName,Microsoft.PowerShell.Commands.GetServiceCommand"
    )
    error = org.fail([call("Restart-Service", Name="MSExchangeHM", Bogus=1)])
    assert (
        error["fully_qualified_error_id"]
        == "NamedParameterNotFound,Microsoft.PowerShell.Commands.RestartServiceCommand"
    )


def test_set_runner_file_content(org):
    content = base64.b64encode(b"\x00\x01cert").decode()
    out = org.ok(
        [
            call(
                "Set-RunnerFileContent",
                ["Path", "Changed", "Length"],
                Path="C:\\OAuthConfig\\OAuthCert.cer",
                Base64Content=content,
            )
        ],
        server="EX2016",
    )
    assert out == [[{"Path": "C:\\OAuthConfig\\OAuthCert.cer", "Changed": True, "Length": 6}]]
    assert org.state()["exchange"]["servers"]["EX2016"]["files"] == {"C:\\OAuthConfig\\OAuthCert.cer": content}
    again = org.ok(
        [call("Set-RunnerFileContent", ["Changed"], Path="C:\\OAuthConfig\\OAuthCert.cer", Base64Content=content)],
        server="EX2016",
    )
    assert again == [[{"Changed": False}]]
    error = org.fail([call("Set-RunnerFileContent", Path="C:\\x", Base64Content="%%%")], server="EX2016")
    assert "not a valid Base-64 string" in error["message"]
    error = org.fail([call("Set-RunnerFileContent", Path="C:\\x")], server="EX2016")
    assert error["fully_qualified_error_id"] == "MissingMandatoryParameter,Set-RunnerFileContent"


def test_exchange_2013_cu2_has_no_push_proxy_cmdlets(tmp_path):
    org = ExchangeHarness(str(tmp_path), servers=[{"name": "EX01", "version": "Version 15.0 (Build 712.24)"}])
    error = org.fail([call("Enable-PushNotificationProxy", Organization="contoso.onmicrosoft.com")])
    assert error["message"].startswith(
        "The term 'Enable-PushNotificationProxy' is not recognized as the name of a cmdlet"
    )
    assert error["category"] == "ObjectNotFound"
    assert org.ok([call("Get-ExchangeServer", ["AdminDisplayVersion"])]) == [
        [{"AdminDisplayVersion": {"Major": 15, "Minor": 0, "Build": 712, "Revision": 24}}]
    ]


def test_exsetup_version_and_server_clock(tmp_path):
    org = ExchangeHarness(str(tmp_path), servers=[E2016_CU23_HU, E2013_CU23])
    out = org.ok([call("Get-RunnerExSetupVersion", ["ComputerName", "FileVersion"])], server="EX2016")
    assert out == [[{"ComputerName": "EX2016", "FileVersion": "15.01.2507.055"}]]
    assert org.ok([call("Get-RunnerExSetupVersion", ["FileVersion"])], server="EX2013") == [
        [{"FileVersion": "15.00.1497.002"}]
    ]
    before = org.run([], server="EX2016")[1]["utc_now"]
    org.move_clock(400 * 86400)
    after = org.run([], server="EX2016")[1]["utc_now"]
    assert after[:4] > before[:4] and after.endswith("Z")
