"""Faults (issue 8, issue 13): PowerShell remoting and Graph failures injected in the simulators. For each: the task
fails with an actionable message or retries within bounds, no runspace pool stays open on either endpoint
(``sim.open_shells() == {}``), the state is unchanged or the intended one, and a rerun converges. Sleeps are replaced
(backoff and Retry-After are counted, not waited).

The PSRP faults hit the WS-Management operations pypsrp sends: Create (+ Receive) opens a runspace pool, each call is
a pipeline (Command, Send for a CreatePipeline larger than one envelope, Receive), Delete closes the pool. pypsrp
never sends Signal for a pipeline that completed, so the old "reset at Signal" case has no counterpart; faults meant
for a pipeline's Receive (not the pool's) are armed once the pipeline's Command was answered.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from ansible_collections.exchange.hybrid.plugins.module_utils import _exchange, _graph
from ansible_collections.exchange.hybrid.plugins.modules import (
    exchange_monitoring_probe,
    exchange_server_info,
    exchange_setting_override,
    msol_sp_credential,
)
from defects import fault_blind
from safety_harness import drive, exchange_args, graph_args

FAMILY = "faults"


@pytest.fixture(name="slept")
def fixture_slept(monkeypatch):
    """Record sleeps instead of sleeping (PSRP backoff, Graph Retry-After)."""
    slept: list[float] = []
    monkeypatch.setattr(_exchange.ExchangeClient.__init__, "__defaults__", (None, slept.append))
    defaults = list(_graph.GraphClient.__init__.__defaults__)
    defaults[0] = slept.append
    monkeypatch.setattr(_graph.GraphClient.__init__, "__defaults__", tuple(defaults))
    return slept


def _one_server_sim(make_sim):
    from hybrid_sim.simulation import DEFAULT_SERVERS

    return make_sim(servers=[DEFAULT_SERVERS[2]])


# ---------------------------------------------------------------- PSRP

OVERRIDE = {
    "component": "Global",
    "section": "ExchangeOnpremAsThirdPartyAppId",
    "parameters": ["Enabled=true"],
    "reason": "safety faults",
    "refresh_variant_configuration": False,
}
# The module's reads, one pipeline (Command) each: Get-SettingOverride, and for this section the DAuth guard's
# Get-PartnerApplication and Get-IntraOrganizationConnector.
READS = 3
# A reason larger than pypsrp's 512000-byte envelope: New-SettingOverride's CreatePipeline needs Send fragments.
LONG_REASON = ("R'$(x)\u2019" * 150000)[: 1024 * 1024]


def overrides(sim) -> list:
    return json.loads(json.dumps(sim.read_state()["exchange"]["setting_overrides"]))


def converge_after(sim, args, first):
    """State unchanged or the intended one after ``first``, no pool open, and a rerun converges."""
    assert sim.open_shells() == {}, "a runspace pool stayed open: %s" % sim.open_shells()
    after_first = overrides(sim)
    second = drive(exchange_setting_override, args, sim)
    assert not second.failed, "the rerun failed: %r" % second
    intended = overrides(sim)
    third = drive(exchange_setting_override, args, sim)
    assert not third.failed and not third.result.get("changed"), "a second rerun still changes: %r" % third
    assert after_first in (intended, first.before), "the fault left a state that is neither unchanged nor intended"
    assert sim.open_shells() == {}, "a runspace pool stayed open: %s" % sim.open_shells()


def arm_after(server, after_action, nth, action, kind, count=1, seconds=None):
    """Inject ``kind`` on ``action`` once the ``nth`` ``after_action`` request of the next run was answered (a fault
    for a pipeline's own Receive rather than the pool's)."""
    original = server.process
    seen = {"n": 0, "armed": False}

    def process(data, *args, **kwargs):
        status, body = original(data, *args, **kwargs)
        if seen["n"] < nth and server.requests and server.requests[-1]["action"] == after_action and status == 200:
            seen["n"] += 1
            if seen["n"] == nth:
                server.inject(action, kind, count=count, seconds=seconds)
                seen["armed"] = True
        return status, body

    server.process = process
    return seen


def faults_taken(server, injected: int, armed: dict | None = None) -> int:
    """How many of the ``injected`` faults the run consumed (0 would mean the case tested nothing)."""
    if armed is not None and not armed["armed"]:
        return 0
    return injected - sum(f["count"] for f in server.pending_faults())


def disarm(server):
    server.__dict__.pop("process", None)
    server.clear_faults()


# (case, action, kind, count, expect ok?, words the message must hold when it fails, (after action, nth) or None,
#  extra module arguments)
PSRP_FAULTS = [
    ("401 on Create", "Create", "http401", 1, False, ["credentials", "401"], None, {}),
    ("500 WS-Man fault on Command", "Command", "http500", 1, False, ["fault", "internal error"], None, {}),
    ("shell quota on Create (retried with backoff)", "Create", "shell_quota", 2, True, [], None, {}),
    ("operation quota on Command (retried with backoff)", "Command", "operation_quota", 2, True, [], None, {}),
    (
        "shell quota that does not clear",
        "Create",
        "shell_quota",
        50,
        False,
        ["maximum number of shells", "quota"],
        None,
        {},
    ),
    ("throttled (PowerShellMaxConcurrency) on Create, retried", "Create", "throttled", 2, True, [], None, {}),
    (
        "throttled that does not clear (bounded, then names the limit)",
        "Create",
        "throttled",
        50,
        False,
        ["exceeded the maximum number of connections allowed", "PowerShellMaxConcurrency"],
        None,
        {},
    ),
    (
        "TimedOut on a pipeline's Receive (long poll, polled again)",
        "Receive",
        "timed_out",
        2,
        True,
        [],
        ("Command", 1),
        {},
    ),
    ("connection reset at Create", "Create", "reset", 1, True, [], None, {}),
    ("connection reset at the pool's Receive", "Receive", "reset", 1, True, [], None, {}),
    ("connection reset at a read's Command", "Command", "reset", 1, True, [], None, {}),
    ("connection reset at a read's Receive", "Receive", "reset", 1, True, [], ("Command", 1), {}),
    (
        "connection reset at a write's Command",
        "Command",
        "reset",
        1,
        False,
        ["reset", "New-SettingOverride"],
        ("Command", READS),
        {},
    ),
    (
        "connection reset at a write's Send (1 MB value, several envelopes)",
        "Send",
        "reset",
        1,
        False,
        ["reset", "New-SettingOverride"],
        None,
        {"reason": LONG_REASON},
    ),
    (
        "connection reset at a write's Receive (the write ran)",
        "Receive",
        "reset",
        1,
        False,
        ["reset", "New-SettingOverride"],
        ("Command", READS + 1),
        {},
    ),
    ("connection reset at Delete", "Delete", "reset", 1, True, [], None, {}),
]


def _fault_id(fault):
    return fault[0] if isinstance(fault, tuple) else fault.id


@pytest.mark.parametrize(
    "name,action,kind,count,expect_ok,words,after,extra", PSRP_FAULTS, ids=[_fault_id(f) for f in PSRP_FAULTS]
)
def test_psrp_fault(make_sim, cases, slept, name, action, kind, count, expect_ok, words, after, extra):
    sim = _one_server_sim(make_sim)
    sim.allow_open_shells = True  # asserted by converge_after; pools closed below so a failure does not cascade
    args = exchange_args(sim, name="SafetyFault", **dict(OVERRIDE, **extra))
    try:
        _psrp_fault_case(sim, cases, slept, args, name, action, kind, count, expect_ok, words, after)
    finally:
        disarm(sim.server("EX2019"))
        sim.server("EX2019").close_all_shells()
        sim.host("EX2019").close_all_shells()


def _psrp_fault_case(sim, cases, slept, args, name, action, kind, count, expect_ok, words, after):
    server = sim.server("EX2019")
    with cases.case("PSRP " + name):
        before = overrides(sim)
        armed = None
        if after is None:
            sim.inject("EX2019", action, kind, count=count)
        else:
            armed = arm_after(server, after[0], after[1], action, kind, count=count)
        first = drive(exchange_setting_override, args, sim)
        first.before = before
        taken = faults_taken(server, count, armed)
        disarm(server)
        assert taken >= 1, "the injected %s on %s never happened: %r" % (kind, action, first)
        if expect_ok is True:
            assert not first.failed, "a transient fault was not retried: %r" % first
        elif expect_ok is False:
            assert first.failed, "the fault was not reported: %r" % first
        if first.failed:
            assert all(w.lower() in first.msg.lower() for w in words), "message not actionable: %r" % first.msg[:600]
            assert sim.password not in first.msg
        assert len(slept) < _exchange.MAX_ATTEMPTS, "slept %d times (at most %d attempts)" % (
            len(slept),
            _exchange.MAX_ATTEMPTS,
        )
        assert sum(slept) <= _exchange.MAX_ATTEMPTS * _exchange.BACKOFF_MAX
        converge_after(sim, args, first)


def test_psrp_server_slower_than_read_timeout(make_sim, cases, slept):
    sim = _one_server_sim(make_sim)
    args = exchange_args(sim, name="SafetySlow", operation_timeout=1, read_timeout=2, **OVERRIDE)
    with cases.case("PSRP server slower than read_timeout"):
        before = overrides(sim)
        sim.inject("EX2019", "Create", "slow", count=1, seconds=4)
        first = drive(exchange_setting_override, args, sim)
        first.before = before
        assert faults_taken(sim.server("EX2019"), 1) == 1, first
        sim.clear_faults()
        assert first.failed and "read_timeout" in first.msg, first
        converge_after(sim, args, first)


# Faults on the default endpoint: the host facts are a read of their own; the Exchange facts stand without them.
HOST_FAULTS = [
    # (case, action, kind, count, host facts read?)
    ("connection reset at Create", "Create", "reset", 1, True),
    ("shell quota on Create (retried)", "Create", "shell_quota", 2, True),
    ("connection reset at the script's Command", "Command", "reset", 1, True),
    ("500 WS-Man fault on Command (a warning; the Exchange facts stand)", "Command", "http500", 1, False),
    ("401 on Create (a warning naming the credentials)", "Create", "http401", 1, False),
]


@pytest.mark.parametrize("name,action,kind,count,read", HOST_FAULTS, ids=[f[0] for f in HOST_FAULTS])
def test_default_endpoint_fault(make_sim, cases, slept, name, action, kind, count, read):
    sim = _one_server_sim(make_sim)
    sim.allow_open_shells = True
    try:
        with cases.case("default endpoint " + name):
            sim.inject("EX2019", action, kind, count=count, endpoint="host")
            outcome = drive(exchange_server_info, exchange_args(sim), sim)
            taken = faults_taken(sim.host("EX2019"), count)
            sim.clear_faults()
            assert taken >= 1, "the injected %s on %s never happened: %r" % (kind, action, outcome)
            assert not outcome.failed, outcome
            connected = [s for s in outcome.result["servers"] if s["connected"]]
            assert connected, outcome.result["servers"]
            if read:
                assert connected[0]["exsetup_version"] and not outcome.warnings, (connected, outcome.warnings)
            else:
                assert connected[0]["exsetup_version"] is None, connected
                assert any("default WinRM endpoint" in w for w in outcome.warnings), outcome.warnings
                assert not any(sim.password in w for w in outcome.warnings)
            assert len(slept) < _exchange.MAX_ATTEMPTS
            assert sim.open_shells() == {}, "a runspace pool stayed open: %s" % sim.open_shells()
    finally:
        sim.clear_faults()
        sim.server("EX2019").close_all_shells()
        sim.host("EX2019").close_all_shells()


PROBE = {"restart_health_service": False, "timeout": 1, "poll_interval": 1, "fail_on_failure": False}


def test_probe_connection_lost(make_sim, cases, slept):
    sim = _one_server_sim(make_sim)
    sim.allow_open_shells = True
    server = sim.server("EX2019")
    try:
        with cases.case("exchange_monitoring_probe: connection reset at Invoke-MonitoringProbe's Command"):
            # Get-ExchangeServer is the first Command; the probe's Invoke-MonitoringProbe (not a read) comes next.
            armed = arm_after(server, "Command", 1, "Command", "reset")
            outcome = drive(exchange_monitoring_probe, exchange_args(sim, **PROBE), sim)
            assert faults_taken(server, 1, armed) == 1, outcome
            disarm(server)
            assert outcome.failed and "reset" in outcome.msg and "probe" in outcome.msg, outcome
            assert outcome.result.get("error", {}).get("stage") == "Invoke-MonitoringProbe", outcome.result
            assert sim.open_shells() == {}, "a runspace pool stayed open: %s" % sim.open_shells()
            rerun = drive(exchange_monitoring_probe, exchange_args(sim, **PROBE), sim)
            assert not rerun.failed, rerun
    finally:
        disarm(server)
        server.close_all_shells()
        sim.host("EX2019").close_all_shells()


def _fail_cmdlet(sim, cmdlet, after):
    """Make ``cmdlet`` fail in the first pipeline that runs it after ``after`` ran (a parameter it does not have,
    which PowerShell's binder refuses: NamedParameterNotFound), as the failing call in the middle of a run."""
    server = sim.server("EX2019")
    inner = server.handler
    state = {"after": False, "done": False}

    def handler(request):
        names = [c.name for c in request.commands]
        if after in names:
            state["after"] = True
        elif state["after"] and not state["done"] and cmdlet in names:
            state["done"] = True
            commands = tuple(
                (
                    dataclasses.replace(c, parameters=c.parameters + (("SafetyInjectedFailure", True),))
                    if c.name == cmdlet
                    else c
                )
                for c in request.commands
            )
            request = dataclasses.replace(request, commands=commands)
        return inner(request)

    handler.seen = getattr(inner, "seen", [])
    server.handler = handler
    return inner


def test_cmdlet_failing_mid_batch(make_sim, cases, slept):
    sim = _one_server_sim(make_sim)
    # With the refresh, the write batch is New-SettingOverride, Get-SettingOverride, Get-ExchangeDiagnosticInfo.
    args = exchange_args(sim, name="SafetyMidBatch", **OVERRIDE)
    args["refresh_variant_configuration"] = True
    with cases.case("cmdlet failing in the middle of a batch: reported with cmdlet and position, the batch stops"):
        before = overrides(sim)
        inner = _fail_cmdlet(sim, "Get-SettingOverride", after="New-SettingOverride")
        first = drive(exchange_setting_override, args, sim)
        sim.server("EX2019").handler = inner
        first.before = before
        assert first.failed and "Get-SettingOverride" in first.msg, first
        assert "SafetyInjectedFailure" in first.msg, first.msg
        assert first.result.get("error", {}).get("index") == 1, first.result.get("error")
        ran = [c["cmdlet"] for c in first.calls]
        assert "New-SettingOverride" in ran and "Get-ExchangeDiagnosticInfo" not in ran, "the batch went on: %s" % ran
        converge_after(sim, args, first)


def test_planted_fault_defects_are_caught(make_sim, cases, slept):
    sim = _one_server_sim(make_sim)
    sim.allow_open_shells = True  # the planted defect leaks pools on purpose
    args = exchange_args(sim, name="SafetyPlanted", **OVERRIDE)
    with cases.defect("client that never closes its runspace pool"):
        with fault_blind.pool_never_closed():
            first = drive(exchange_setting_override, args, sim)
        first.before = []
        try:
            converge_after(sim, args, first)
        finally:
            sim.server("EX2019").close_all_shells()
            sim.host("EX2019").close_all_shells()
    with cases.defect("client that does not retry a quota fault"):
        with fault_blind.no_retry():
            sim.inject("EX2019", "Create", "shell_quota", count=1)
            outcome = drive(exchange_setting_override, dict(args, name="SafetyPlanted2"), sim)
            sim.clear_faults()
        assert not outcome.failed, "a transient fault was not retried: %r" % outcome
    with cases.defect("client that does not retry Exchange's throttling"):
        with fault_blind.no_retry():
            sim.inject("EX2019", "Create", "throttled", count=1)
            outcome = drive(exchange_setting_override, dict(args, name="SafetyPlanted3"), sim)
            sim.clear_faults()
        assert not outcome.failed, "a transient fault was not retried: %r" % outcome
    with cases.case("the same runs without the defects"):
        before = overrides(sim)
        sim.inject("EX2019", "Create", "throttled", count=1)
        outcome = drive(exchange_setting_override, dict(args, name="SafetyPlanted4"), sim)
        sim.clear_faults()
        outcome.before = before
        assert not outcome.failed, outcome
        converge_after(sim, dict(args, name="SafetyPlanted4"), outcome)


# ---------------------------------------------------------------- Graph


def sp_keys(sim) -> list:
    tenant = next(iter(sim.read_state()["entra"]["tenants"].values()))
    sp = next(s for s in tenant["servicePrincipals"] if s["appId"] == "00000002-0000-0ff1-ce00-000000000000")
    return sorted(k["customKeyIdentifier"] for k in sp["keyCredentials"])


GRAPH_FAULTS = [
    # (case, method, path regex, status, count, retry_after, action, expect ok?, words)
    (
        "401 expired token on read (token refreshed once)",
        "GET",
        r"keyCredentials|servicePrincipals/",
        401,
        1,
        None,
        "respond",
        True,
        [],
    ),
    ("401 that persists", "GET", r"servicePrincipals", 401, 5, None, "respond", False, ["token was rejected"]),
    (
        "403 on PATCH names the permission",
        "PATCH",
        r"servicePrincipals",
        403,
        1,
        None,
        "respond",
        False,
        ["Application.ReadWrite.All"],
    ),
    (
        "404 on the service principal",
        "GET",
        r"servicePrincipals/",
        404,
        1,
        None,
        "respond",
        False,
        ["Request_ResourceNotFound"],
    ),
    ("429 once (Retry-After honoured)", "PATCH", r"servicePrincipals", 429, 1, 2, "respond", True, []),
    (
        "429 storm (bounded wait, then a clear failure)",
        "*",
        r"servicePrincipals",
        429,
        500,
        30,
        "respond",
        False,
        ["TooManyRequests", "gave up"],
    ),
    ("500 on PATCH", "PATCH", r"servicePrincipals", 500, 1, None, "respond", False, ["generalException"]),
    ("503 on reads (retried)", "GET", r"servicePrincipals", 503, 2, None, "respond", True, []),
    (
        "connection dropped before PATCH applied",
        "PATCH",
        r"servicePrincipals",
        None,
        1,
        None,
        "drop_before",
        False,
        ["not known whether the change was applied"],
    ),
    ("connection dropped after PATCH applied", "PATCH", r"servicePrincipals", None, 1, None, "drop_after", None, []),
    ("token endpoint down", "POST", r"oauth2/v2.0/token", 503, 50, None, "respond", False, ["token", "temporarily"]),
]


@pytest.mark.parametrize(
    "name,method,path,status,count,retry_after,action,expect_ok,words", GRAPH_FAULTS, ids=[f[0] for f in GRAPH_FAULTS]
)
def test_graph_fault(
    shared_sim,
    cases,
    slept,
    tmp_path,
    monkeypatch,
    name,
    method,
    path,
    status,
    count,
    retry_after,
    action,
    expect_ok,
    words,
):
    from hybrid_sim.entra import make_certificate

    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    monkeypatch.setenv("EXCHANGE_HYBRID_TOKEN_CACHE_DIR", str(cache))
    cert = make_certificate("Safety fault %s" % name)
    args = graph_args(shared_sim, certificate=cert.base64_der)
    entra = shared_sim.entra
    with cases.case("Graph " + name):
        before = sp_keys(shared_sim)
        tokens_before = entra.counters["token_requests"]
        if status == 401 and count == 1:
            drive(msol_sp_credential, dict(args, state="absent"), shared_sim)  # a token in the cache first
            tokens_before = entra.counters["token_requests"]
        entra.inject(method, path, status=status, count=count, retry_after=retry_after, action=action)
        first = drive(msol_sp_credential, args, shared_sim)
        entra.clear_faults()
        if expect_ok is True:
            assert not first.failed, "not retried/refreshed: %r" % first
        elif expect_ok is False:
            assert first.failed, "the fault was not reported: %r" % first
        if first.failed:
            assert all(w.lower() in first.msg.lower() for w in words), "message not actionable: %r" % first.msg
        if status == 401 and count == 1:
            assert entra.counters["token_requests"] - tokens_before == 1, "the token was not refreshed exactly once"
        assert sum(slept) <= 120.0 + 1e-6, "waited %.0f s in total" % sum(slept)
        after_first = sp_keys(shared_sim)
        intended = sorted(set(before) | {cert.thumbprint})
        assert after_first in (before, intended), "neither unchanged nor intended"
        second = drive(msol_sp_credential, args, shared_sim)
        assert not second.failed, "the rerun failed: %r" % second
        assert sp_keys(shared_sim) == intended
        third = drive(msol_sp_credential, args, shared_sim)
        assert not third.failed and not third.result.get("changed"), third
