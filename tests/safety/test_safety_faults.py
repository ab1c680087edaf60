"""Faults (issue 8): WinRM and Graph failures injected in the simulators. For each: the task fails with an
actionable message or retries within bounds, no WinRM shell stays open, the state is unchanged or the intended
one, and a rerun converges. Sleeps are replaced (backoff and Retry-After are counted, not waited)."""

from __future__ import annotations

import json

import pytest

from ansible_collections.exchange.hybrid.plugins.module_utils import _exchange, _graph, _runner_script
from ansible_collections.exchange.hybrid.plugins.modules import exchange_setting_override, msol_sp_credential
from defects import fault_blind
from safety_harness import drive, graph_args, winrm_args

FAMILY = "faults"


@pytest.fixture(name="slept")
def fixture_slept(monkeypatch):
    """Record sleeps instead of sleeping (WinRM backoff, Graph Retry-After)."""
    slept: list[float] = []
    monkeypatch.setattr(_exchange.ExchangeClient.__init__, "__defaults__", (None, slept.append))
    defaults = list(_graph.GraphClient.__init__.__defaults__)
    defaults[0] = slept.append
    monkeypatch.setattr(_graph.GraphClient.__init__, "__defaults__", tuple(defaults))
    return slept


# ---------------------------------------------------------------- WinRM

OVERRIDE = {
    "component": "Global",
    "section": "ExchangeOnpremAsThirdPartyAppId",
    "parameters": ["Enabled=true"],
    "reason": "safety faults",
    "refresh_variant_configuration": False,
}


def overrides(sim) -> list:
    return json.loads(json.dumps(sim.read_state()["exchange"]["setting_overrides"]))


def converge_after(sim, args, first):
    """State unchanged or the intended one after ``first``, no shell open, and a rerun converges."""
    assert not sim.open_shells(), "a WinRM shell stayed open: %s" % sim.open_shells()
    after_first = overrides(sim)
    second = drive(exchange_setting_override, args, sim)
    assert not second.failed, "the rerun failed: %r" % second
    intended = overrides(sim)
    third = drive(exchange_setting_override, args, sim)
    assert not third.failed and not third.result.get("changed"), "a second rerun still changes: %r" % third
    assert after_first in (intended, first.before), "the fault left a state that is neither unchanged nor intended"
    assert not sim.open_shells()


WINRM_FAULTS = [
    # (case, action, kind, count, expect ok?, words the message must hold when it fails)
    ("401 on Create", "Create", "http401", 1, False, ["credentials", "401"]),
    ("500 WS-Man fault on Command", "Command", "http500", 1, False, ["fault", "internal error"]),
    ("shell quota on Create (retried with backoff)", "Create", "shell_quota", 2, True, []),
    ("operation quota on Command (retried with backoff)", "Command", "operation_quota", 2, True, []),
    ("shell quota that does not clear", "Create", "shell_quota", 50, False, ["maximum number of shells", "quota"]),
    ("TimedOut on Receive (long poll, polled again)", "Receive", "timed_out", 2, True, []),
    ("connection reset at Create", "Create", "reset", 1, True, []),
    ("connection reset at Command", "Command", "reset", 1, True, []),
    ("connection reset at Send", "Send", "reset", 1, None, ["reset", "Send"]),
    ("connection reset at Receive", "Receive", "reset", 1, None, ["reset", "Receive"]),
    ("connection reset at Signal", "Signal", "reset", 1, True, []),
    ("connection reset at Delete", "Delete", "reset", 1, True, []),
]


@pytest.mark.parametrize(
    "name,action,kind,count,expect_ok,words",
    WINRM_FAULTS,
    ids=[f[0] if isinstance(f, tuple) else f.id for f in WINRM_FAULTS],
)
def test_winrm_fault(make_sim, cases, slept, name, action, kind, count, expect_ok, words):
    sim = make_sim(servers=[__import__("hybrid_sim.simulation", fromlist=["x"]).DEFAULT_SERVERS[2]])
    sim.allow_open_shells = True  # asserted by converge_after; shells closed below so a failure does not cascade
    args = winrm_args(sim, name="SafetyFault", **OVERRIDE)
    try:
        _winrm_fault_case(sim, cases, slept, args, name, action, kind, count, expect_ok, words)
    finally:
        sim.server("EX2019").close_all_shells()


def _winrm_fault_case(sim, cases, slept, args, name, action, kind, count, expect_ok, words):
    with cases.case("WinRM " + name):
        before = overrides(sim)
        sim.inject("EX2019", action, kind, count=count)
        first = drive(exchange_setting_override, args, sim)
        first.before = before
        sim.clear_faults()
        if expect_ok is True:
            assert not first.failed, "a transient fault was not retried: %r" % first
        elif expect_ok is False:
            assert first.failed, "the fault was not reported: %r" % first
        if first.failed:
            assert all(w.lower() in first.msg.lower() for w in words), "message not actionable: %r" % first.msg
            assert sim.password not in first.msg
        assert len(slept) < _exchange.MAX_ATTEMPTS and sum(slept) <= _exchange.MAX_ATTEMPTS * _exchange.BACKOFF_MAX
        converge_after(sim, args, first)


def test_winrm_server_slower_than_read_timeout(make_sim, cases, slept):
    sim = make_sim(servers=[__import__("hybrid_sim.simulation", fromlist=["x"]).DEFAULT_SERVERS[2]])
    args = winrm_args(sim, name="SafetySlow", operation_timeout=1, read_timeout=2, **OVERRIDE)
    with cases.case("WinRM server slower than read_timeout"):
        before = overrides(sim)
        sim.inject("EX2019", "Create", "slow", count=1, seconds=4)
        first = drive(exchange_setting_override, args, sim)
        first.before = before
        sim.clear_faults()
        assert first.failed and "read_timeout" in first.msg, first
        converge_after(sim, args, first)


def _fail_cmdlet(sim, cmdlet):
    """Make ``cmdlet`` fail inside the next batch that contains it (an unknown parameter, as PowerShell reports)."""
    server = sim.server("EX2019")
    inner = server.handler
    state = {"done": False}

    def handler(request):
        runner, request_json = _runner_script.split_stdin(request.stdin)
        body = json.loads(request_json)
        if not state["done"] and any(c["cmdlet"] == cmdlet for c in body["calls"][1:]):
            state["done"] = True
            for entry in body["calls"]:
                if entry["cmdlet"] == cmdlet:
                    entry["parameters"]["SafetyInjectedFailure"] = True
            stdin = (runner + _runner_script.SEPARATOR + _runner_script.request_json(body)).encode("ascii")
            request = type(request)(request.server_name, request.username, request.command_line, stdin)
        return inner(request)

    handler.seen = getattr(inner, "seen", [])
    server.handler = handler


def test_cmdlet_failing_mid_batch(make_sim, cases, slept):
    sim = make_sim(servers=[__import__("hybrid_sim.simulation", fromlist=["x"]).DEFAULT_SERVERS[2]])
    args = winrm_args(sim, name="SafetyMidBatch", **OVERRIDE)
    with cases.case("cmdlet failing in the middle of a batch: reported with cmdlet and position, rerun converges"):
        before = overrides(sim)
        _fail_cmdlet(sim, "Get-SettingOverride")  # the re-read after New-SettingOverride (index 1)
        first = drive(exchange_setting_override, args, sim)
        first.before = before
        assert first.failed and "Get-SettingOverride" in first.msg, first
        assert first.result.get("error", {}).get("index") == 1, first.result.get("error")
        assert not any(c.get("cmdlet") == "New-SettingOverride" for c in first.calls[2:]), "the batch went on"
        converge_after(sim, args, first)


def test_planted_fault_defects_are_caught(make_sim, cases, slept):
    sim = make_sim(servers=[__import__("hybrid_sim.simulation", fromlist=["x"]).DEFAULT_SERVERS[2]])
    sim.allow_open_shells = True  # the planted defect leaks shells on purpose
    args = winrm_args(sim, name="SafetyPlanted", **OVERRIDE)
    with cases.defect("client that never closes its shell"):
        with fault_blind.shell_never_closed():
            first = drive(exchange_setting_override, args, sim)
        first.before = []
        try:
            converge_after(sim, args, first)
        finally:
            sim.server("EX2019").close_all_shells()
    with cases.defect("client that does not retry a quota fault"):
        with fault_blind.no_retry():
            sim.inject("EX2019", "Create", "shell_quota", count=1)
            outcome = drive(exchange_setting_override, dict(args, name="SafetyPlanted2"), sim)
            sim.clear_faults()
        assert not outcome.failed, "a transient fault was not retried: %r" % outcome


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
