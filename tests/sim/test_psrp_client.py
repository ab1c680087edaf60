"""The collection's real PowerShell remoting client (``_exchange.ExchangeClient``) against a running Simulation.

Every test builds the client's parameters the way a module run does (the argument spec's defaults, then the options
a Kerberos inventory host gives: ``sim.connection_params``) and talks to the simulated endpoints on 127.0.0.1 over
real pypsrp, pyspnego/gssapi and the process's MIT KDC. What is proven, in order: Kerberos (password and ticket
cache, encrypted), no script text on Microsoft.Exchange, the RBAC refusal, throttling, the Kerberos and endpoint
messages, no runspace pool left open after any fault, hostile values byte for byte, no password in messages or
pypsrp's debug log, one pool per endpoint per client, and the host facts.

Simulations: ``sim`` (module scope) for tests that only read; ``fresh_sim`` (per test) for tests that change the
organization or its clock; ``fault_sim`` (module scope, a user of its own whose password is a canary) for the fault
matrix, whose writes carry names of their own so the cases cannot see each other. No test measures wall time.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import itertools
import json
import logging
import os
from typing import Any, Callable, Iterator

import pytest
from pypsrp.powershell import PowerShell

from ansible_collections.exchange.hybrid.plugins.module_utils import (
    _exchange,
    _exchange_connection,
    _exchange_module,
    _exchange_versions,
    _values,
)
from ansible_collections.exchange.hybrid.plugins.module_utils._errors import (
    ExchangeCommandError,
    ExchangeConnectionError,
    ExchangeError,
)
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange import (
    ExchangeClient,
    MAX_ATTEMPTS,
    call,
    host_script,
)
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange_module import read_host_facts
from hybrid_sim.simulation import ServerSpec, Simulation
from hybrid_sim.wsman.pipeline import DEFAULT_CONFIGURATION, EXCHANGE_CONFIGURATION

SERVER = "EX01"
SPEC = ServerSpec(SERVER, "Version 15.2 (Build 1748.10)", exsetup_version="15.2.1748.24")
FQDN = SPEC.fqdn  # ex01.contoso.com
USER = "CONTOSO\\exadmin"
# The fault matrix's own account: its password is the canary no message or log may show. A user of its own, so
# that the shared realm's password of exadmin (used by every other Simulation of this process) never changes.
CANARY_USER = "CONTOSO\\psrpcanary"
CANARY = "Canary-Pw-7Qz!x9#Lm"
VIEW_ONLY = "View-Only Organization Management"
ACS = "https://accounts.accesscontrol.windows.net/metadata/json/1/?realm=contoso.onmicrosoft.com"
READS = [
    call("Get-ExchangeServer", ["Name", "AdminDisplayVersion"]),
    call("Get-AuthConfig", ["CurrentCertificateThumbprint", "ServiceName"]),
]
HOSTILE = [
    "'; Remove-Item C:\\ -Recurse -Force; '",
    '"; $(Stop-Computer -Force) "',
    "@(Get-Process) @{a=1}; & calc.exe",
    "${env:PASSWORD} $env:COMPUTERNAME",
    "`$(whoami)`n `` `0 `",
    "cr\rlf\ncrlf\r\n",
    "nul\x00byte",
    "\u2018single\u2019 \u201cdouble\u201d \u201c$(calc)\u201d",
    "J\u00fcrgen Gr\u00f6\u00dfe \u2014 \u6771\u4eac \U0001f600",
    "0123456789abcdef" * 6400,  # 100 KiB
]
_NAMES = itertools.count()


# --- simulations and clients -----------------------------------------------------------------------------------------
def _simulation(directory: str, **kwargs: Any) -> Simulation:
    kwargs.setdefault("servers", [SPEC])
    kwargs.setdefault("entra", False)
    return Simulation(directory, **kwargs)


@pytest.fixture(scope="module")
def sim(tmp_path_factory: Any) -> Iterator[Simulation]:
    with _simulation(str(tmp_path_factory.mktemp("psrp-read"))) as running:
        yield running


@pytest.fixture
def fresh_sim(tmp_path: Any) -> Iterator[Simulation]:
    with _simulation(str(tmp_path / "sim")) as running:
        yield running
        assert running.open_shells() == {}


@pytest.fixture(scope="module")
def fault_sim(tmp_path_factory: Any) -> Iterator[Simulation]:
    with _simulation(str(tmp_path_factory.mktemp("psrp-faults")), username=CANARY_USER, password=CANARY) as running:
        yield running


@pytest.fixture(autouse=True)
def _clean(request: Any) -> Iterator[None]:
    """Module-scoped simulations start every test without faults, and a failing test leaves no pool to the next."""
    shared = [request.getfixturevalue(n) for n in ("sim", "fault_sim") if n in request.fixturenames]
    for running in shared:
        running.clear_faults()
    yield
    for running in shared:
        running.clear_faults()
        for endpoint in list(running.servers.values()) + list(running.hosts.values()):
            endpoint.close_all_shells()


def params_for(sim: Simulation, **changes: Any) -> dict[str, Any]:
    """What a module run hands the client: the argument spec's defaults, then the Kerberos host's options."""
    params = {name: spec.get("default") for name, spec in _exchange_connection.CONNECTION_ARGUMENT_SPEC.items()}
    params.update(sim.connection_params(SERVER, **changes))
    return params


def make_client(sim: Simulation, **changes: Any) -> ExchangeClient:
    """The real client; its backoff sleeps are recorded in ``client.sleeps`` instead of slept."""
    sleeps: list[float] = []
    client = ExchangeClient(params_for(sim, **changes), sleep=sleeps.append)
    client.sleeps = sleeps  # type: ignore[attr-defined]
    return client


def since(endpoint: Any, mark: int, action: str | None = None) -> list[dict[str, Any]]:
    return [r for r in endpoint.requests[mark:] if action is None or r["action"] == action]


def new_calls(sim: Simulation, mark: int) -> list[dict[str, Any]]:
    return sim.calls()[mark:]


def failure(action: Callable[[], Any], kind: type = ExchangeError) -> Any:
    with pytest.raises(kind) as info:
        action()
    return info.value


def run_and_close(client: ExchangeClient, calls: list[dict]) -> list[list[dict]]:
    try:
        return client.run(calls)
    finally:
        client.close()


def override(name: str, reason: str = "r", **extra: Any) -> dict:
    return call(
        "New-SettingOverride", Name=name, Component="Global", Section="S", Parameters=["K=V"], Reason=reason, **extra
    )


def unique(prefix: str) -> str:
    return "%s-%d" % (prefix, next(_NAMES))


@contextlib.contextmanager
def recording(sim: Simulation) -> Iterator[list[tuple[str, str, bool]]]:
    """Every command as the two endpoints' pipeline handlers receive it: (configuration, name, is_script)."""
    seen: list[tuple[str, str, bool]] = []
    endpoints = [sim.server(SERVER), sim.host(SERVER)]
    originals = [endpoint.handler for endpoint in endpoints]

    def wrap(original: Any) -> Any:
        def handler(request: Any) -> Any:
            seen.extend((request.configuration, command.name, command.is_script) for command in request.commands)
            return original(request)

        return handler

    for endpoint in endpoints:
        endpoint.handler = wrap(endpoint.handler)
    try:
        yield seen
    finally:
        for endpoint, original in zip(endpoints, originals):
            endpoint.handler = original


def kdc_log(sim: Simulation) -> str:
    with open(sim.realm.kdc_log, encoding="utf-8", errors="replace") as handle:
        return handle.read()


# --- Kerberos -------------------------------------------------------------------------------------------------------
def assert_kerberos_encrypted(sim: Simulation, exchange_mark: int, host_mark: int) -> None:
    log = since(sim.server(SERVER), exchange_mark)
    assert {"Create", "Command", "Receive", "Delete"} <= {r["action"] for r in log}
    assert {(r["auth"], r["encrypted"], r["scheme"], r["configuration"], r["user"], r["status"]) for r in log} == {
        ("kerberos", True, "http", EXCHANGE_CONFIGURATION, USER, 200)
    }
    # The default endpoint: Kerberos inside Negotiate over HTTPS (TLS, so no message encryption).
    host_log = since(sim.host(SERVER), host_mark)
    assert host_log and {(r["auth"], r["scheme"], r["configuration"], r["user"]) for r in host_log} == {
        ("kerberos", "https", DEFAULT_CONFIGURATION, USER)
    }


def test_kerberos_from_username_and_password(sim: Simulation) -> None:
    exchange_mark, host_mark = len(sim.server(SERVER).requests), len(sim.host(SERVER).requests)
    client = make_client(sim)
    assert (client.params["auth"], client.params["username"]) == ("kerberos", "exadmin@CONTOSO.COM")
    assert _exchange_connection.connection_problem(client.params) is None
    rows = client.run(READS)
    assert rows[0] == [
        {"Name": SERVER, "AdminDisplayVersion": {"Major": 15, "Minor": 2, "Build": 1748, "Revision": 10}}
    ]
    assert read_host_facts(client) == "15.02.1748.024"
    (pool,) = sim.open_shells()[SERVER]
    assert (pool["owner"], pool["auth"], pool["configuration"]) == (USER, "kerberos", EXCHANGE_CONFIGURATION)
    client.close()
    assert sim.open_shells() == {}
    assert_kerberos_encrypted(sim, exchange_mark, host_mark)


def test_kerberos_from_a_ticket_cache(sim: Simulation, tmp_path: Any, monkeypatch: Any) -> None:
    ccache = sim.realm.kinit(sim.kerberos_username, sim.password, str(tmp_path / "ccache"))
    monkeypatch.setenv("KRB5CCNAME", ccache)
    with open(ccache[len("FILE:") :], "rb") as handle:
        assert b"HTTP" not in handle.read()  # only the TGT so far
    exchange_mark, host_mark = len(sim.server(SERVER).requests), len(sim.host(SERVER).requests)
    client = make_client(sim, username=None, password=None)
    assert _exchange_connection.connection_problem(client.params) is None
    client.run(READS)
    assert read_host_facts(client) == "15.02.1748.024"
    assert sim.open_shells()[SERVER][0]["owner"] == USER  # the cache's principal, mapped to the Windows account
    client.close()
    assert sim.open_shells() == {}
    assert_kerberos_encrypted(sim, exchange_mark, host_mark)
    with open(ccache[len("FILE:") :], "rb") as handle:
        assert FQDN.encode() in handle.read()  # the service ticket came from (and went into) this cache


# --- no script on Microsoft.Exchange --------------------------------------------------------------------------------
def test_no_script_ever_reaches_the_exchange_endpoint(fresh_sim: Simulation) -> None:
    name = unique("no-script")
    client = make_client(fresh_sim)
    with recording(fresh_sim) as seen:
        client.run(READS + [call("Get-ExchangeCertificate", ["Thumbprint"]), override(name)])
        read_host_facts(client)
        client.run([call("Get-Service", ["Name", "Status"], Name="MSExchangeHM"), call("Get-AuthServer", ["Name"])])
        client.close()
    # On the wire: Microsoft.Exchange got commands only; the one script went to Microsoft.PowerShell.
    exchange = [(name_, script) for configuration, name_, script in seen if configuration == EXCHANGE_CONFIGURATION]
    host = [(name_[:6], script) for configuration, name_, script in seen if configuration == DEFAULT_CONFIGURATION]
    assert exchange == [
        ("Get-ExchangeServer", False),
        ("Get-AuthConfig", False),
        ("Get-ExchangeCertificate", False),
        ("New-SettingOverride", False),
        ("Get-AuthServer", False),
    ]
    assert host == [("param(", True), ("Get-Se", False)]
    # And as the simulated cmdlets recorded them.
    logged = [(c["endpoint"], c["cmdlet"]) for c in fresh_sim.calls()]
    assert logged == [
        (EXCHANGE_CONFIGURATION, "Get-ExchangeServer"),
        (EXCHANGE_CONFIGURATION, "Get-AuthConfig"),
        (EXCHANGE_CONFIGURATION, "Get-ExchangeCertificate"),
        (EXCHANGE_CONFIGURATION, "New-SettingOverride"),
        (DEFAULT_CONFIGURATION, "script:host_facts"),
        (DEFAULT_CONFIGURATION, "Get-Service"),
        (EXCHANGE_CONFIGURATION, "Get-AuthServer"),
    ]
    assert [c["cmdlet"] for c in fresh_sim.writes()] == ["New-SettingOverride"]


class _ScriptInsteadOfCmdlet(PowerShell):
    """A planted client: every command goes as script text (add_script) instead of add_cmdlet."""

    def add_cmdlet(self, cmdlet: str, use_local_scope: Any = None) -> Any:  # type: ignore[override]
        return self.add_script(cmdlet, use_local_scope)


def test_a_planted_client_sending_script_text_gets_the_no_language_refusal(sim: Simulation, monkeypatch: Any) -> None:
    monkeypatch.setattr(_exchange, "PowerShell", _ScriptInsteadOfCmdlet)
    mark = len(sim.calls())
    client = make_client(sim)
    with recording(sim) as seen:
        error = failure(lambda: run_and_close(client, [call("Get-AuthConfig", ["Realm"])]), ExchangeCommandError)
    assert seen == [(EXCHANGE_CONFIGURATION, "Get-AuthConfig", True)]  # it really went as a script
    assert error.kind == "language" and error.cmdlet == "Get-AuthConfig"
    assert error.error_id == "ScriptsNotAllowed" and error.category == "ParserError"
    assert "The syntax is not supported by this runspace" in error.msg
    assert new_calls(sim, mark) == []  # nothing ran
    assert sim.open_shells() == {}


# --- RBAC -----------------------------------------------------------------------------------------------------------
def test_a_view_only_user_can_get_but_not_set(tmp_path: Any) -> None:
    rbac = {"contoso\\exadmin": [VIEW_ONLY]}
    with _simulation(str(tmp_path / "sim"), exchange_options={"rbac": rbac}) as running:
        client = make_client(running)
        ((config,),) = client.run([call("Get-AuthConfig", ["CurrentCertificateThumbprint"])])
        thumbprint = config["CurrentCertificateThumbprint"]
        assert thumbprint
        error = failure(
            lambda: client.run(
                [call("Set-AuthConfig", CertificateThumbprint=thumbprint, SkipImmediateCertificateDeployment=True)]
            ),
            ExchangeCommandError,
        )
        client.close()
        assert error.kind == "rbac" and error.cmdlet == "Set-AuthConfig"
        assert "Set-AuthConfig" in error.msg and "Organization Management" in error.msg
        assert "is not recognized" in error.msg  # Exchange's own words, kept
        assert [c["cmdlet"] for c in running.calls()] == ["Get-AuthConfig"]
        assert running.open_shells() == {}


# --- throttling -----------------------------------------------------------------------------------------------------
def test_throttling_is_retried_with_backoff_and_then_succeeds(sim: Simulation) -> None:
    endpoint = sim.server(SERVER)
    mark = len(endpoint.requests)
    sim.inject(SERVER, "Create", "throttled", count=2)
    client = make_client(sim)
    rows = run_and_close(client, READS)
    assert rows[0][0]["Name"] == SERVER
    assert [r["status"] for r in since(endpoint, mark, "Create")] == [500, 500, 200]
    assert len(client.sleeps) == 2 and all(0 < s <= _exchange.BACKOFF_MAX for s in client.sleeps)
    assert endpoint.pending_faults() == [] and sim.open_shells() == {}


@pytest.mark.parametrize(
    "batch",
    # A read is retried after a transient fault, but never a pool open that already gave up: 5 Creates, not 5 x 5.
    ["read", "write"],
)
def test_persistent_throttling_fails_after_bounded_retries_naming_the_limit(sim: Simulation, batch: str) -> None:
    endpoint = sim.server(SERVER)
    mark, calls_mark = len(endpoint.requests), len(sim.calls())
    sim.inject(SERVER, "Create", "throttled", count=2 * MAX_ATTEMPTS)
    client = make_client(sim)
    calls = READS if batch == "read" else [override(unique("throttled"))]
    error = failure(lambda: run_and_close(client, calls), ExchangeConnectionError)
    assert "PowerShellMaxConcurrency" in error.msg and "limit 18" in error.msg
    assert "after %d attempts" % MAX_ATTEMPTS in error.msg and error.details["throttled"] is True
    assert len(since(endpoint, mark, "Create")) == MAX_ATTEMPTS
    assert len(client.sleeps) == MAX_ATTEMPTS - 1
    assert new_calls(sim, calls_mark) == [] and sim.open_shells() == {}


def test_the_concurrency_limit_refuses_a_second_client(tmp_path: Any) -> None:
    with _simulation(str(tmp_path / "sim"), max_concurrency_per_user=1) as running:
        endpoint = running.server(SERVER)
        holder = make_client(running)
        holder.run([call("Get-AuthConfig", ["Realm"])])  # its pool stays open: the user's one slot
        assert len(running.open_shells()[SERVER]) == 1
        second = make_client(running)
        mark = len(endpoint.requests)
        error = failure(lambda: second.run([override("over-the-limit")]), ExchangeConnectionError)
        assert "PowerShellMaxConcurrency" in error.msg and "limit 1" in error.msg
        assert "after %d attempts" % MAX_ATTEMPTS in error.msg
        creates = since(endpoint, mark, "Create")
        assert [r["status"] for r in creates] == [500] * MAX_ATTEMPTS
        assert len(second.sleeps) == MAX_ATTEMPTS - 1
        failure(lambda: second.run([call("Get-AuthConfig", ["Realm"])]), ExchangeConnectionError)  # reads too
        second.close()
        holder.close()
        assert running.open_shells() == {}
        assert running.writes() == []
        # The slot is free again once the holder closed its pool.
        assert run_and_close(make_client(running), [call("Get-AuthConfig", ["Realm"])]) == [[{"Realm": ""}]]
        assert running.open_shells() == {}


# --- Kerberos messages ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("service_ticket_cached", [True, False], ids=["acceptor-refuses", "kdc-refuses"])
def test_clock_skew(sim: Simulation, tmp_path: Any, monkeypatch: Any, service_ticket_cached: bool) -> None:
    ccache = sim.realm.kinit(sim.kerberos_username, sim.password, str(tmp_path / "ccache"))
    monkeypatch.setenv("KRB5CCNAME", ccache)
    if service_ticket_cached:
        run_and_close(make_client(sim, username=None, password=None), [call("Get-AuthConfig", ["Realm"])])
    sim.realm.skew_ccache(ccache, 3600)  # the controller now believes it is an hour later
    before = len(kdc_log(sim))
    mark = len(sim.server(SERVER).requests)
    client = make_client(sim, username=None, password=None)
    error = failure(lambda: run_and_close(client, READS), ExchangeConnectionError)
    assert "Clock skew too great" in error.msg and "synchronise" in error.msg
    asked = kdc_log(sim)[before:]
    if service_ticket_cached:
        # The KDC is not asked again: the acceptor's KRB-ERROR token in the 401 is what names the skew.
        assert "TGS_REQ" not in asked
    else:
        assert "Clock skew too great" in asked and "HTTP/%s" % FQDN in asked  # the KDC refused the TGS-REQ
    assert since(sim.server(SERVER), mark) == [] and sim.open_shells() == {}


def test_spn_not_found_names_the_spn_tried(sim: Simulation) -> None:
    client = make_client(sim, negotiate_hostname_override="mail.contoso.com")  # a load-balanced name, no SPN
    error = failure(lambda: run_and_close(client, READS), ExchangeConnectionError)
    assert "HTTP/mail.contoso.com" in error.msg and "Server not found in Kerberos database" in error.msg
    assert "negotiate_hostname_override" in error.msg


@pytest.mark.parametrize("cache", ["missing", "empty"])
def test_no_ticket_says_kinit(sim: Simulation, tmp_path: Any, monkeypatch: Any, cache: str) -> None:
    path = tmp_path / "ccache"
    if cache == "empty":
        path.write_bytes(b"")
    monkeypatch.setenv("KRB5CCNAME", "FILE:%s" % path)
    client = make_client(sim, username=None, password=None)
    error = failure(lambda: run_and_close(client, READS), ExchangeConnectionError)
    assert "no Kerberos ticket" in error.msg and "kinit" in error.msg


def test_wrong_password_says_the_kdc_rejected_it(sim: Simulation) -> None:
    wrong = "Wr0ng-Canary-Pw-31"
    mark = len(sim.server(SERVER).requests)
    client = make_client(sim, password=wrong)
    error = failure(lambda: run_and_close(client, READS), ExchangeConnectionError)
    assert "the KDC rejected the password" in error.msg and "exadmin@CONTOSO.COM" in error.msg
    assert wrong not in error.msg + json.dumps(error.details)
    assert since(sim.server(SERVER), mark) == []


def test_ntlm_to_the_exchange_endpoint_says_use_kerberos(sim: Simulation) -> None:
    mark = len(sim.server(SERVER).requests)
    client = make_client(sim, auth="ntlm", username=USER)
    error = failure(lambda: run_and_close(client, READS), ExchangeConnectionError)
    assert "auth: kerberos" in error.msg and "offers Kerberos" in error.msg
    assert since(sim.server(SERVER), mark) == [] and sim.open_shells() == {}


# --- endpoints that are not there -----------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/wsman", "/Exchange/", "/PowerShell-Proxy/"])
def test_a_wrong_path_on_the_exchange_server_names_powershell_and_fqdn(sim: Simulation, path: str) -> None:
    uri = "http://127.0.0.1:%d%s" % (sim.server(SERVER).http_port, path)
    error = failure(lambda: run_and_close(make_client(sim, connection_uri=uri), READS), ExchangeConnectionError)
    assert "HTTP 404" in error.msg and "/PowerShell/" in error.msg and "FQDN" in error.msg and uri in error.msg


def test_the_exchange_configuration_on_the_default_endpoint_is_resource_uri_not_found(sim: Simulation) -> None:
    host = sim.host(SERVER)
    mark = len(host.requests)
    client = make_client(sim, connection_uri=host.https_url + "/")
    error = failure(lambda: run_and_close(client, READS), ExchangeConnectionError)
    assert "resource URI not found" in error.msg and "/PowerShell/" in error.msg and "FQDN" in error.msg
    assert [(r["action"], r["status"], r["configuration"]) for r in since(host, mark)] == [
        ("Create", 500, EXCHANGE_CONFIGURATION)
    ]
    assert sim.open_shells() == {}


# --- faults ---------------------------------------------------------------------------------------------------------
def test_the_client_uses_only_these_wsman_actions(sim: Simulation) -> None:
    """The fault matrix below covers what pypsrp sends for the client: Send only for a pipeline larger than an
    envelope, never Signal (the client does not stop or close pipelines; Delete of the pool ends them)."""
    endpoint = sim.server(SERVER)
    mark = len(endpoint.requests)
    client = make_client(sim)
    client.run(READS)
    client.run(READS)
    read_host_facts(client)
    client.close()
    assert {r["action"] for r in since(endpoint, mark)} == {"Create", "Receive", "Command", "Delete"}
    mark = len(endpoint.requests)
    client = make_client(sim)
    error = failure(lambda: run_and_close(client, [call("Get-SettingOverride", ["Name"], Identity="x" * 700_000)]))
    assert isinstance(error, ExchangeCommandError) and "couldn't be found" in error.msg
    assert {r["action"] for r in since(endpoint, mark)} == {"Create", "Receive", "Command", "Send", "Delete"}


FAULT_CASES = list(
    itertools.product(("Create", "Receive", "Command", "Send", "Delete"), ("reset", "http500", "timed_out"))
)


@pytest.mark.parametrize("action, kind", FAULT_CASES)
def test_no_runspace_left_open_after_a_fault(fault_sim: Simulation, action: str, kind: str) -> None:
    """One fault on the Exchange endpoint, in three runs: a read batch; a write batch on a new client (the fault hits
    the pool's open); a write batch after a read opened the pool (the fault hits the write's own pipeline)."""
    endpoint = fault_sim.server(SERVER)
    for phase in ("read", "write", "write-after-open"):
        name = unique("fault-%s-%s-%s" % (action, kind, phase))
        # Send only carries the rest of a CreatePipeline larger than an envelope (500 KiB).
        write = [override(name, reason="r" * 700_000 if action == "Send" else "r")]
        client = make_client(fault_sim)
        if phase == "write-after-open":
            assert client.run(READS)[0][0]["Name"] == SERVER
        mark = len(endpoint.requests)
        fault_sim.inject(SERVER, action, kind)
        error: ExchangeError | None = None
        try:
            rows = client.run(READS if phase == "read" else write)
        except ExchangeError as exc:
            error = exc
        finally:
            client.close()
        pending = endpoint.pending_faults()
        fault_sim.clear_faults()
        leaked = fault_sim.open_shells()
        written = sum(1 for c in fault_sim.calls() if (c.get("parameters") or {}).get("Name") == name)
        where = "%s %s, %s: %s" % (action, kind, phase, error.msg if error else "ok")

        assert leaked == {}, "%s: pools left open %s; warnings %s" % (where, leaked, client.warnings)
        used = not (action == "Create" and phase == "write-after-open") and not (action == "Send" and phase == "read")
        assert (pending == []) == used, "%s: the fault was %sconsumed" % (where, "not " if used else "")
        if error is not None:
            assert isinstance(error, ExchangeConnectionError), where
            assert CANARY not in error.msg + json.dumps(error.details) + str(error), where
        assert all(CANARY not in w for w in client.warnings), where
        if phase == "read":
            if error is None:
                assert rows[0][0]["Name"] == SERVER and rows[1][0]["ServiceName"], where
            if kind == "reset":
                assert error is None, "%s: a read is retried after a reset" % where
            continue
        assert written <= 1, "%s: the write ran %d times" % (where, written)
        if error is None:
            assert written == 1, where
        own_pipeline = action in ("Command", "Send") or (action == "Receive" and phase == "write-after-open")
        if own_pipeline and not (action == "Receive" and kind == "timed_out"):
            # The write's Command went (or may have gone) out: never sent again to make it succeed.
            assert error is not None, "%s: the write was re-sent after a fault" % where
        if phase == "write" and action in ("Create", "Receive") and error is not None:
            assert written == 0 and len(since(endpoint, mark, "Command")) == 0, where


# --- values ---------------------------------------------------------------------------------------------------------
def test_hostile_values_arrive_byte_for_byte(fresh_sim: Simulation) -> None:
    sent: list[tuple[str, dict[str, Any]]] = []
    batch = []
    for index, text in enumerate(HOSTILE):
        name = "hostile-%d %s" % (index, text)
        entries = [
            ("New-AuthServer", {"Name": "auth-%d %s" % (index, text), "AuthMetadataUrl": ACS}),
            (
                "New-SettingOverride",
                {"Name": name, "Component": "Global", "Section": text, "Parameters": ["Key=%s" % text], "Reason": text},
            ),
            (
                "Set-SettingOverride",
                {"Identity": name, "Reason": text + " (set)", "Parameters": ["Key=%s" % text, "Other=%s" % text]},
            ),
        ]
        for cmdlet, parameters in entries:
            sent.append((cmdlet, parameters))
            batch.append(call(cmdlet, **parameters))
    client = make_client(fresh_sim)
    try:
        client.run(batch)
    finally:
        client.close()
    logged = fresh_sim.calls()
    assert [(c["cmdlet"], c["parameters"]) for c in logged] == sent
    assert {(c["server"], c["endpoint"]) for c in logged} == {(SERVER, EXCHANGE_CONFIGURATION)}
    with open(os.path.join(fresh_sim.directory, "calls.jsonl"), "rb") as handle:
        assert all(byte < 0x80 for byte in handle.read())  # JSON \u escapes: nothing re-encoded on the way
    # And back out through the client, the name (the object's ToString too) included.
    properties = ["Name", "Reason", "SectionName", "Parameters"]
    reads = [
        call("Get-SettingOverride", properties, Identity="hostile-%d %s" % (index, text))
        for index, text in enumerate(HOSTILE)
    ] + [call("Get-AuthServer", ["Name"], Identity="auth-%d %s" % (index, text)) for index, text in enumerate(HOSTILE)]
    rows = run_and_close(make_client(fresh_sim), reads)
    assert rows == [
        [
            {
                "Name": "hostile-%d %s" % (index, text),
                "Reason": text + " (set)",
                "SectionName": text,
                "Parameters": ["Key=%s" % text, "Other=%s" % text],
            }
        ]
        for index, text in enumerate(HOSTILE)
    ] + [[{"Name": "auth-%d %s" % (index, text)}] for index, text in enumerate(HOSTILE)]


# --- secrets --------------------------------------------------------------------------------------------------------
def test_no_password_in_messages_or_pypsrp_debug_log(fault_sim: Simulation, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    messages: list[str] = []

    def attempt(client: ExchangeClient, calls: list[dict]) -> None:
        try:
            client.run(calls)
        except ExchangeError as exc:
            messages.extend([exc.msg, str(exc), json.dumps(exc.details, default=str)])
        finally:
            client.close()
            messages.extend(client.warnings)

    attempt(make_client(fault_sim), READS + [override(unique("secret")), host_script("host_facts", ["ComputerName"])])
    for action, kind in (("Create", "http500"), ("Create", "reset"), ("Command", "timed_out"), ("Create", "throttled")):
        fault_sim.inject(SERVER, action, kind, count=MAX_ATTEMPTS)
        attempt(make_client(fault_sim), [override(unique("secret-fault"))])
        fault_sim.clear_faults()
    attempt(make_client(fault_sim, password=CANARY + "-wrong"), READS)
    attempt(make_client(fault_sim, auth="ntlm", username=CANARY_USER), READS)  # refused: Exchange takes Kerberos
    # The default endpoint with NTLM and with Basic over HTTPS (the password in an Authorization header).
    for auth in ("ntlm", "basic"):
        client = make_client(fault_sim, auth=auth, username=CANARY_USER)
        assert read_host_facts(client) == "15.02.1748.024", client.warnings
        client.close()
        assert fault_sim.host(SERVER).requests[-1]["auth"] == auth
    fault_sim.inject(SERVER, "Create", "http401", endpoint="host")
    attempt(make_client(fault_sim, auth="basic", username=CANARY_USER), [host_script("host_facts", ["ComputerName"])])
    assert any("rejected" in m or "401" in m for m in messages)  # the faults above really failed
    assert sum(1 for m in messages if "PowerShellMaxConcurrency" in m) >= 1

    logged = caplog.text + "\n".join(str(r.args) for r in caplog.records)
    assert "Sending message on attempt" in caplog.text  # pypsrp's DEBUG messages were captured
    assert {"pypsrp", "spnego"} <= {r.name.split(".")[0] for r in caplog.records}
    basic = base64.b64encode(("%s:%s" % (CANARY_USER, CANARY)).encode()).decode()
    for text in [logged] + messages:
        assert CANARY not in text and basic not in text
    assert fault_sim.open_shells() == {}


# --- pools ----------------------------------------------------------------------------------------------------------
def test_one_pool_per_endpoint_per_client(sim: Simulation) -> None:
    exchange, host = sim.server(SERVER), sim.host(SERVER)
    exchange_mark, host_mark = len(exchange.requests), len(host.requests)
    client = make_client(sim)
    client.run([call("Get-ExchangeServer", ["Name"])])
    client.run(READS)
    read_host_facts(client)
    client.run([call("Get-Service", ["Name", "Status"], Name="MSExchangeHM"), call("Get-AuthServer", ["Name"])])
    read_host_facts(client)
    client.run([call("Get-ExchangeCertificate", ["Thumbprint"])])
    assert client.pools_opened == {"exchange": 1, "host": 1}
    assert {name: len(pools) for name, pools in sim.open_shells().items()} == {SERVER: 1, SERVER + "/wsman": 1}
    assert len(since(exchange, exchange_mark, "Create")) == 1 and len(since(host, host_mark, "Create")) == 1
    assert since(exchange, exchange_mark, "Delete") == [] and since(host, host_mark, "Delete") == []
    client.close()
    assert sim.open_shells() == {}
    assert len(since(exchange, exchange_mark, "Delete")) == 1 and len(since(host, host_mark, "Delete")) == 1
    count = len(exchange.requests) + len(host.requests)
    client.close()  # nothing left to close
    assert len(exchange.requests) + len(host.requests) == count
    assert client.warnings == []


def test_a_client_that_only_reads_exchange_opens_one_pool(sim: Simulation) -> None:
    host_mark = len(sim.host(SERVER).requests)
    client = make_client(sim)
    run_and_close(client, READS)
    assert client.pools_opened == {"exchange": 1, "host": 0}
    assert since(sim.host(SERVER), host_mark) == []


# --- host facts -----------------------------------------------------------------------------------------------------
def test_host_facts_name_clock_and_exsetup(fresh_sim: Simulation) -> None:
    offset = 200 * 86400 + 1234
    with fresh_sim.store.transaction() as state:
        state["clock_offset_seconds"] = offset
    client = make_client(fresh_sim)
    before = _values.utc_now()
    exsetup = read_host_facts(client)
    after = _values.utc_now()
    assert exsetup == "15.02.1748.024"  # ExSetup.exe's FileVersion, long form
    hotfix = (15, 2, 1748, 24)  # the HU level, which AdminDisplayVersion (15.2.1748.10) does not show
    assert _exchange_versions.version_tuple(exsetup) == hotfix
    assert _exchange_versions.best_version({"Major": 15, "Minor": 2, "Build": 1748, "Revision": 10}, exsetup) == hotfix
    assert client.computer_name == SERVER
    shift = dt.timedelta(seconds=offset)
    assert before + shift - dt.timedelta(seconds=1) <= client.server_utc_now <= after + shift + dt.timedelta(seconds=1)
    assert _exchange_module.now_for(client) == client.server_utc_now
    assert client.warnings == [] and client.pools_opened == {"exchange": 0, "host": 1}
    client.close()
    # A default endpoint that fails is a warning, not a failure: the server's clock is then unknown.
    fresh_sim.inject(SERVER, "Create", "http500", endpoint="host")
    other = make_client(fresh_sim)
    assert read_host_facts(other) is None and other.server_utc_now is None
    assert len(other.warnings) == 1 and "default WinRM endpoint" in other.warnings[0]
    other.close()
