# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The PSRP client's own logic: options, endpoints, value mapping, error texts, retries.

Its behaviour on the wire (pools, faults, Kerberos) is proven against the simulator in tests/sim/test_psrp_client.py.
"""

from __future__ import annotations

import pytest
import requests
from pypsrp.complex_objects import GenericComplexObject
from pypsrp.exceptions import AuthenticationError, WinRMTransportError, WSManFaultError

from ansible_collections.exchange.hybrid.plugins.module_utils import (
    _errors,
    _exchange as ex,
    _exchange_connection,
    _exchange_versions,
    _retry,
    _values,
)

PASSWORD = "S3cr3t-canary-\u00e9"


def params(**changes):
    base = {name: spec.get("default") for name, spec in _exchange_connection.CONNECTION_ARGUMENT_SPEC.items()}
    base.update(server="ex01.contoso.com", username="exadmin@CONTOSO.COM", password=PASSWORD)
    base.update(changes)
    return base


def connection(**changes):
    return _exchange_connection.resolve_connection(params(**changes))


def resolve(p):
    return _exchange_connection.resolve_connection(p)


def wsman_arguments(resolved, uri):
    return _exchange_connection.wsman_arguments(resolved, uri)


def obj(types, adapted=None, extended=None, to_string=None, sets=None):
    value = GenericComplexObject()
    value.types = list(types)
    value.adapted_properties = dict(adapted or {})
    value.extended_properties = dict(extended or {})
    value.to_string = to_string
    value.property_sets = list(sets or [])
    return value


def test_default_endpoints_follow_microsoft():
    p = params()
    assert resolve(p).exchange_uri == "http://ex01.contoso.com/PowerShell/"
    assert resolve(p).host_uri == "https://ex01.contoso.com:5986/wsman"
    assert connection(scheme="http").host_uri == "http://ex01.contoso.com:5985/wsman"
    assert connection(connection_uri="https://mail.contoso.com/powershell").exchange_uri.startswith("https://mail")
    assert p["auth"] == "kerberos" and p["negotiate_service"] == "HTTP"


def test_wsman_arguments_for_the_exchange_endpoint():
    p = params(negotiate_hostname_override="ex01.contoso.com", server="127.0.0.1")
    args = wsman_arguments(resolve(p), "http://127.0.0.1:8080/PowerShell/?SerializationLevel=Full")
    assert args["server"] == "127.0.0.1" and args["port"] == 8080 and not args["ssl"]
    assert args["path"] == "PowerShell/?SerializationLevel=Full"
    assert args["auth"] == "kerberos" and args["negotiate_service"] == "HTTP"
    assert args["negotiate_hostname_override"] == "ex01.contoso.com"
    assert args["no_proxy"] is True
    assert resolve(p).spn("http://127.0.0.1:8080/PowerShell/") == "HTTP/ex01.contoso.com"


def test_ca_path_wins_over_environment_bundle(monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/bundle.pem")
    args = wsman_arguments(connection(ca_path=__file__), "https://ex01:5986/wsman")
    assert args["cert_validation"] == __file__  # a path: pypsrp then ignores the environment
    assert wsman_arguments(connection(), "https://ex01:5986/wsman")["cert_validation"] is True
    assert wsman_arguments(connection(validate_certs=False), "https://ex01:5986/wsman")["cert_validation"] is False


def test_negotiate_stays_negotiate():
    args = wsman_arguments(connection(auth="negotiate"), "https://ex01:5986/wsman")
    assert args["auth"] == "negotiate"


@pytest.mark.parametrize(
    "changes, words",
    [
        (dict(auth="basic", scheme="https"), ["basic", "http", "allow_unencrypted_basic"]),
        (dict(auth="basic", scheme="http", connection_uri="https://ex01/PowerShell/"), ["scheme http"]),
        (dict(auth="ntlm", username=None, password=None), ["username is required", "ntlm"]),
        (dict(username=None), ["password is set but username is not"]),
        (dict(connection_uri="ex01/PowerShell"), ["connection_uri", "http://ex01.contoso.com/PowerShell/"]),
        (dict(auth="certificate", scheme="https"), ["cert_pem", "cert_key_pem"]),
        (dict(read_timeout=10), ["read_timeout", "operation_timeout"]),
        (dict(username="a\nb"), ["username"]),
        (dict(ca_path="/nonexistent/ca.pem"), ["ca_path", "/nonexistent/ca.pem"]),
    ],
)
def test_bad_options_refused_naming_the_option(changes, words):
    problem = _exchange_connection.connection_problem(params(**changes))
    assert problem is not None
    for word in words:
        assert word in problem


def test_kerberos_without_credentials_is_fine():
    assert _exchange_connection.connection_problem(params(username=None, password=None)) is None
    assert _exchange_connection.connection_problem(params(auth="basic", connection_uri="https://ex01/PowerShell/")) is None


def test_endpoint_of_each_call():
    assert ex.endpoint_for(ex.call("Get-AuthConfig")) == ex.ENDPOINT_EXCHANGE
    assert ex.endpoint_for(ex.call("Restart-Service", Name="MSExchangeHM")) == ex.ENDPOINT_HOST
    assert ex.endpoint_for(ex.host_script("host_facts")) == ex.ENDPOINT_HOST
    with pytest.raises(_errors.ExchangeInputError):
        ex.call("Invoke-Expression", Command="whoami")
    with pytest.raises(_errors.ExchangeInputError):
        ex.host_script("anything")


def test_reads_and_writes():
    assert ex.is_read(ex.call("Get-AuthServer")) and ex.is_read(ex.host_script("host_facts"))
    assert ex.is_read(ex.host_script("write_file", Path="c:\\a", Base64Content="", CheckOnly=True))
    assert not ex.is_read(ex.host_script("write_file", Path="c:\\a", Base64Content=""))
    assert not ex.is_read(ex.call("Set-AuthConfig", PublishCertificate=True))


def test_plain_maps_remoting_values_in_one_place():
    version = obj(
        ["Microsoft.Exchange.Data.ServerVersion", "System.Object"],
        {"Major": 15, "Minor": 2, "Build": 1748, "Revision": 10},
        to_string="Version 15.2 (Build 1748.10)",
    )
    assert ex.plain(version) == {"Major": 15, "Minor": 2, "Build": 1748, "Revision": 10}
    enum = obj(["Microsoft.Exchange.Data.Directory.SystemConfiguration.ServerRole", "System.Enum"], to_string="Mailbox")
    assert ex.plain(enum) == "Mailbox"
    multi = obj(["Microsoft.Exchange.Data.MultiValuedProperty`1[[System.String]]"], sets=[["a.com", "b.com"]])
    assert ex.plain(multi) == ["a.com", "b.com"]
    assert ex.plain(b"\x00\x01") == "AAE="
    assert ex.plain("2026-11-27T13:00:00.1234567+01:00") == "2026-11-27T12:00:00Z"
    assert ex.plain("2026-11-27T12:00:00Z") == "2026-11-27T12:00:00Z"
    assert ex.plain("not a date 2026") == "not a date 2026"
    other = obj(["Some.Identity"], to_string="contoso.com/Configuration/Sites/Default")
    assert ex.plain(other) == "contoso.com/Configuration/Sites/Default"


def test_retry_is_bounded_and_only_for_transient():
    sleeps = []
    calls = []

    def flaky():
        calls.append(1)
        raise ValueError("transient")

    with pytest.raises(ValueError) as info:
        _retry.retry(flaky, lambda exc: True, _retry.Retry(ex.BACKOFF, attempts=4, sleep=sleeps.append))
    assert len(calls) == 4 and len(sleeps) == 3 and info.value.attempts == 4
    assert all(0 < s <= ex.BACKOFF_MAX for s in sleeps)
    calls.clear()
    with pytest.raises(ValueError):
        _retry.retry(flaky, lambda exc: False, _retry.Retry(ex.BACKOFF, attempts=4, sleep=sleeps.append))
    assert len(calls) == 1


def error_of(exc, endpoint=ex.ENDPOINT_EXCHANGE, stage="open", **changes):
    client = ex.ExchangeClient(params(**changes))
    return client._connection_error(exc, endpoint, stage, 1)  # pylint: disable=protected-access


def chained(outer, inner):
    try:
        try:
            raise inner
        except Exception as exc:
            raise outer from exc
    except Exception as exc:  # pylint: disable=broad-except
        return exc


@pytest.mark.parametrize(
    "inner, words",
    [
        (RuntimeError("Clock skew too great"), ["Clock skew too great", "synchronise"]),
        (RuntimeError("Server not found in Kerberos database"), ["HTTP/ex01.contoso.com", "FQDN"]),
        (RuntimeError("Preauthentication failed"), ["password", "exadmin@CONTOSO.COM"]),
        (RuntimeError('Cannot find KDC for realm "CONTOSO.COM"'), ["krb5.conf", "[domain_realm]"]),
    ],
)
def test_kerberos_failures_say_which(inner, words):
    error = error_of(chained(ValueError("Failed to authenticate"), inner))
    for word in words:
        assert word in error.msg
    assert PASSWORD not in error.msg


def test_no_ticket_says_kinit():
    error = error_of(RuntimeError("No Kerberos credentials available"), username=None, password=None)
    assert "kinit" in error.msg


def test_ntlm_refused_by_the_exchange_endpoint():
    exc = ValueError(
        "Server responded with the auth protocol 'Kerberos' which is incompatible with the specified auth_provider 'ntlm'"
    )
    error = error_of(exc, auth="ntlm", username="CONTOSO\\exadmin")
    assert "auth: kerberos" in error.msg and "Kerberos" in error.msg


def test_missing_endpoint_says_fqdn_and_path():
    error = error_of(WinRMTransportError("http", 404, ""))
    assert "/PowerShell/" in error.msg and "FQDN" in error.msg
    fault = WSManFaultError(
        2150858770,
        "ex01",
        "The resource URI (http://schemas.microsoft.com/powershell/Microsoft.Exchange) was "
        "not found in the WS-Management catalog.",
        None,
        None,
        None,
    )
    assert "/PowerShell/" in error_of(fault).msg


def test_throttled_names_the_limit_and_the_policy():
    fault = WSManFaultError(
        0,
        "ex01",
        "Fail to create a runspace because you have exceeded the maximum number of connections allowed : "
        "18 for the policy party : MaxConcurrency.",
        None,
        None,
        None,
    )
    client = ex.ExchangeClient(params())
    assert client._is_transient(fault)  # pylint: disable=protected-access
    error = error_of(fault)
    assert "PowerShellMaxConcurrency" in error.msg and "18" in error.msg


def test_wrong_password_and_tls():
    error = error_of(AuthenticationError("Failed to authenticate the user x with ntlm " + PASSWORD), auth="ntlm")
    assert "rejected" in error.msg and PASSWORD not in error.msg
    tls = requests.exceptions.SSLError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    error = error_of(tls, endpoint=ex.ENDPOINT_HOST)
    assert "ca_path" in error.msg and "https://ex01.contoso.com:5986/wsman" in error.msg


def test_refused_connection_names_the_ports():
    exc = requests.exceptions.ConnectionError("Connection refused")
    assert not ex.ExchangeClient(params())._is_transient(exc)  # pylint: disable=protected-access
    assert "80 or 443" in error_of(exc).msg


def test_call_refuses_non_data_values():
    with pytest.raises(_errors.ExchangeInputError):
        ex.call("Get-AuthServer", Identity={"a": 1})
    with pytest.raises(_errors.ExchangeInputError):
        ex.call("Get-AuthServer", ErrorAction="Continue")
    with pytest.raises(_errors.ExchangeInputError):
        ex.call("Get-AuthServer", **{"Bad name": 1})


def test_helpers():
    assert _exchange_versions.version_tuple({"Major": 15, "Minor": 0, "Build": 775, "Revision": 38}) == (15, 0, 775, 38)
    assert _exchange_versions.version_tuple("Version 15.0 (Build 712.24)") == (15, 0, 712, 24)
    assert _exchange_versions.meets_push_minimum((15, 0, 775, 38)) and not _exchange_versions.meets_push_minimum((15, 0, 712, 24))
    assert _values.normalize_thumbprint("\u200eab cd" + "0" * 36) == "ABCD" + "0" * 36
    with pytest.raises(_errors.ExchangeInputError) as info:
        _values.normalize_thumbprint("xyz")
    assert "thumbprint" in info.value.msg
    assert _values.is_domain_name("contoso.onmicrosoft.com") and not _values.is_domain_name("not a domain")
    assert _values.parse_utc("2026-12-27T00:00:00Z").year == 2026


def test_validate_calls_refuses_domain_name_on_2013():
    with pytest.raises(_errors.ExchangeInputError) as info:
        _exchange_versions.validate_calls(
            [ex.call("New-AuthServer", Name="a", AuthMetadataUrl="https://x", DomainName=["c.com"])],
            (15, 0, 1497, 2),
            "ex2013",
        )
    assert "DomainName" in info.value.msg and "ex2013" in info.value.msg


def test_known_server_version_refuses_calls_before_connecting():
    def no_connection(**_kwargs):
        raise AssertionError("connected")

    client = ex.ExchangeClient(params(), wsman_factory=no_connection)
    client.server_version = (15, 0, 1497, 2)
    with pytest.raises(_errors.ExchangeInputError) as info:
        client.run(
            [ex.call("Set-AuthServer", Identity="x", ApplicationIdentifier="0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")]
        )
    assert "ApplicationIdentifier" in info.value.msg


@pytest.mark.parametrize("server", ["ex01:5986", "http://ex01", "ex01/PowerShell", "ex 01", "a\nb", "$(whoami)"])
def test_server_must_be_a_host_name(server):
    problem = _exchange_connection.connection_problem(params(server=server))
    assert problem and problem.startswith("server must be the Exchange server's FQDN")


@pytest.mark.parametrize("server", ["ex01", "ex01.contoso.com", "127.0.0.1", "::1", "[fe80::1]", "EX_01.contoso.com"])
def test_host_names_and_addresses_accepted(server):
    assert _exchange_connection.connection_problem(params(server=server)) is None
