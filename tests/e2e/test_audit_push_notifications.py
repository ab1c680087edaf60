"""The audit playbook (exchange.hybrid.audit_push_notifications) against simulated organizations: the right findings
in JSON and HTML for a healthy, a half-configured and a broken organization, each organization read through one
Exchange session, a server that does not answer as a finding, and no write anywhere (Exchange or Entra ID)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re

from hybrid_sim.simulation import DEFAULT_SERVERS, ServerSpec, is_read_call
from hybrid_sim.state import parse_iso

from test_role_support import CONFIGURE, role_vars, state_bytes

AUDIT = "exchange.hybrid.audit_push_notifications"
ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
PLAYBOOK = os.path.join(ROOT, "playbooks", "audit_push_notifications.yml")
AUDIT_TASKS = os.path.join(ROOT, "roles", "push_notifications", "tasks", "audit.yml")
# The modules the audit may run: readers, the probe (a read, when asked) and the report (controller files).
AUDIT_MODULES = {
    "exchange.hybrid.exchange_auth_info", "exchange.hybrid.entra_key_credential_info",
    "exchange.hybrid.exchange_server_info", "exchange.hybrid.exchange_monitoring_probe",
    "exchange.hybrid.push_notifications_report",
}
# The only tasks allowed out of check mode: the report (controller files) and the probe (a read, when asked).
LEAVE_CHECK_MODE = {
    "Audit - write the JSON and HTML reports on the controller",
    "Audit - run the push notification probe (audit_run_probe), without restarting the health service",
}


def audit(sim, run_playbook, check=False, **extra):
    """Run the audit (without --check unless asked: the playbook must not write either way); return the run and
    the JSON report, with the HTML text under ``_html``."""
    out = os.path.join(sim.directory, "reports")
    os.makedirs(out, exist_ok=True)
    values = role_vars()
    values.update({"audit_report_dir": out})
    values.update(extra)
    run = run_playbook(sim, AUDIT, extra_vars=values, check=check)
    path = os.path.join(out, "push-notifications-audit.json")
    report = None
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            report = json.load(handle)
        with open(os.path.join(out, "push-notifications-audit.html"), encoding="utf-8") as handle:
            report["_html"] = handle.read()
    return run, report


# Reads: what is_read_call counts (Get-/Test-, the host facts of the default endpoint), Export-ExchangeCertificate
# (public part, returned as data) and the probe (asked for).
READS = ("Export-ExchangeCertificate", "Invoke-MonitoringProbe")


def writes(sim, since=0):
    return [c for c in sim.calls()[since:] if not is_read_call(c) and not c["cmdlet"].startswith(READS)]


def findings(report, severity=None):
    """(server or None, check, severity) for every finding of the (single) organization."""
    org = report["organizations"][0]
    found = [(None, f["check"], f["severity"]) for f in org["findings"]]
    found += [(s["name"], f["check"], f["severity"]) for s in org["servers"] for f in s["findings"]]
    return [f for f in found if severity is None or f[2] == severity]


def html_number(page, element_id):
    match = re.search(r'id="%s"[^>]*>([^<]*)<' % re.escape(element_id), page)
    assert match, element_id
    return match.group(1)


def set_clock_days_before_expiry(sim, days):
    """Move the simulated clock to ``days`` before the current Auth certificate expires."""
    with sim.store.transaction() as state:
        ex = state["exchange"]
        thumb = ex["auth_config"]["CurrentCertificateThumbprint"]
        cert = next(c for s in ex["servers"].values() for c in s["certificates"] if c["Thumbprint"] == thumb)
        target = parse_iso(cert["NotAfter"]) - dt.timedelta(days=days, hours=1)
        state["clock_offset_seconds"] = int((target - dt.datetime.now(dt.timezone.utc)).total_seconds())


def _load(path):
    import yaml  # pylint: disable=import-outside-toplevel

    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def test_playbook_forces_check_mode_and_runs_only_readers():
    plays = _load(PLAYBOOK)
    for play in plays:
        assert play.get("check_mode") is True, play.get("name")
    assert plays[1]["hosts"] == "audit_readers"
    assert [t.get("ansible.builtin.import_role", {}).get("tasks_from") for t in plays[1]["tasks"]] == ["audit"]
    (block,) = _load(AUDIT_TASKS)
    assert block["module_defaults"] == {"group/exchange.hybrid.graph": "{{ push_notifications_graph_defaults }}"}
    tasks = block["block"]
    for task in tasks:
        if "check_mode" in task:
            assert task["name"] in LEAVE_CHECK_MODE and task["check_mode"] is False, task["name"]
        assert "block" not in task and "include_tasks" not in str(task), task["name"]  # nothing hidden
        modules = [key for key in task if key.startswith("exchange.hybrid.")]
        assert set(modules) <= AUDIT_MODULES, task["name"]
    assert {t["name"] for t in tasks if t.get("check_mode") is False} == LEAVE_CHECK_MODE
    probe = next(t for t in tasks if "exchange.hybrid.exchange_monitoring_probe" in t)
    assert probe["exchange.hybrid.exchange_monitoring_probe"]["restart_health_service"] is False
    assert "audit_run_probe" in probe["when"]


def graph_writes(sim, since=0):
    return [r for r in sim.entra.requests[since:] if r["kind"] == "graph" and r["method"] != "GET"]


def session_opens(sim):
    """Accepted runspace-pool opens so far, per endpoint kind and server."""
    opens = {}
    for kind, endpoints in (("exchange", sim.servers), ("host", sim.hosts)):
        opens[kind] = {name: sum(1 for r in server.requests if r["action"] == "Create" and r["status"] == 200)
                       for name, server in endpoints.items()}
    return opens


def opened_since(before, after):
    return {kind: {name: count - before[kind].get(name, 0) for name, count in after[kind].items()
                   if count - before[kind].get(name, 0)} for kind in after}


def test_healthy_organization_all_ok_and_nothing_written(simulation, run_playbook):
    configure = run_playbook(simulation, CONFIGURE, extra_vars=role_vars())
    assert configure.ok, configure
    calls_before = len(simulation.calls())
    graph_before = len(simulation.entra.requests)
    before = state_bytes(simulation)
    run, report = audit(simulation, run_playbook, audit_run_probe=True, audit_fail_on_failure=True)
    assert run.ok, run
    assert state_bytes(simulation) == before
    assert not writes(simulation, calls_before)
    assert not graph_writes(simulation, graph_before)

    assert report["schema_version"] == 1
    summary = report["summary"]
    assert summary["status"] == "ok", findings(report)
    assert summary["organizations"] == 1 and summary["servers"] == 3
    assert summary["findings"]["warning"] == 0 and summary["findings"]["failure"] == 0
    org = report["organizations"][0]
    assert org["name"] == "Contoso" and org["tenant_domain"] == "contoso.onmicrosoft.com"
    assert org["primary_host"] == "EX2013" and org["server_utc_now"]
    assert org["auth_certificate"]["days_remaining"] > 1000
    assert org["entra"]["current_key"]["thumbprint"] == org["auth_certificate"]["thumbprint"]
    assert org["entra"]["target"] == "shared_service_principal"
    assert org["push_proxy"]["enabled"] is True
    assert org["probe"]["result_type"] == "Succeeded"
    assert {s["name"] for s in org["servers"]} == {"EX2013", "EX2016", "EX2019"}
    assert all(s["auth_certificate"]["present"] for s in org["servers"])
    checks = {f[1] for f in findings(report)}
    assert {"auth_certificate", "auth_server", "entra_key", "push_proxy", "probe", "build",
            "auth_certificate_present"} <= checks
    page = report["_html"]
    assert html_number(page, "summary-failure") == "0" and html_number(page, "summary-ok") == str(
        summary["findings"]["ok"])


def test_half_configured_organization_warnings_and_failures(simulation, run_playbook):
    # Steps 1-3 only (no push proxy), and the Auth certificate 50 days before expiry with nothing staged.
    configure = run_playbook(simulation, CONFIGURE, extra_vars=role_vars(), args=["--tags", "tenant,oauth"])
    assert configure.ok, configure
    set_clock_days_before_expiry(simulation, 50)
    before = state_bytes(simulation)
    run, report = audit(simulation, run_playbook)
    assert run.ok, run
    assert state_bytes(simulation) == before
    org = report["organizations"][0]
    assert 48 <= org["auth_certificate"]["days_remaining"] <= 50
    assert (None, "auth_certificate", "warning") in findings(report)
    assert (None, "push_proxy", "failure") in findings(report)
    assert (None, "auth_server", "ok") in findings(report)
    assert (None, "entra_key", "ok") in findings(report)
    assert org["probe"] is None  # not asked
    assert report["summary"]["status"] == "failure"
    assert report["summary"]["findings"]["warning"] == 1 and report["summary"]["findings"]["failure"] == 1
    assert org["predicted_certificate_action"] == "staged"
    page = report["_html"]
    assert "Auth certificate expires in" in page and "Push proxy disabled" in page
    assert 'data-days-remaining="%d"' % org["auth_certificate"]["days_remaining"] in page


def test_broken_organization_failures_named_and_fail_on_failure(make_simulation, run_playbook):
    servers = list(DEFAULT_SERVERS) + [ServerSpec("EX2013CU2", "Version 15.0 (Build 712.24)")]
    sim = make_simulation(servers=servers)
    # Never configured (no AuthServer, proxy off, no key in Entra), and EX2019 lost the Auth certificate.
    with sim.store.transaction() as state:
        ex = state["exchange"]
        thumb = ex["auth_config"]["CurrentCertificateThumbprint"]
        ex2019 = ex["servers"]["EX2019"]
        ex2019["certificates"] = [c for c in ex2019["certificates"] if c["Thumbprint"] != thumb]
    before = state_bytes(sim)
    run, report = audit(sim, run_playbook, check=True, audit_fail_on_failure=True, audit_run_probe=True)
    assert not run.ok  # audit_fail_on_failure
    failed = [t for t in run.tasks if t["status"] == "failed"]
    assert failed and failed[-1]["task"].endswith("Audit - fail on failures (audit_fail_on_failure)")
    assert state_bytes(sim) == before
    assert not writes(sim)

    found = findings(report, "failure")
    assert ("EX2013CU2", "build", "failure") in found
    assert ("EX2019", "auth_certificate_present", "failure") in found
    assert (None, "auth_server", "failure") in found
    assert (None, "entra_key", "failure") in found
    assert (None, "push_proxy", "failure") in found
    assert (None, "probe", "failure") in found
    assert ("EX2016", "auth_certificate_present", "ok") in findings(report)
    org = report["organizations"][0]
    assert org["status"] == "failure"
    assert org["counts"]["failure"] == len(found) == report["summary"]["findings"]["failure"]
    for item in [f for f in org["findings"] if f["severity"] != "ok"]:
        assert item["fix"], item
    assert "EX2013CU2" in failed[-1]["result"]["msg"]
    page = report["_html"]
    assert html_number(page, "summary-failure") == str(len(found))
    assert 'data-server="EX2013CU2"' in page and "Below Exchange 2013 CU3" in page


def test_one_organization_of_three_servers_is_read_through_one_exchange_session(simulation, run_playbook):
    configure = run_playbook(simulation, CONFIGURE, extra_vars=role_vars())
    assert configure.ok, configure
    opens = session_opens(simulation)
    calls_before = len(simulation.calls())
    run, report = audit(simulation, run_playbook)
    assert run.ok, run
    # One Exchange session on the reader and none on the other servers; on the default endpoint only the reader's
    # clock (exchange_auth_info's server_utc_now): the shared service principal needs no hotfix level.
    assert opened_since(opens, session_opens(simulation)) == {"exchange": {"EX2013": 1}, "host": {"EX2013": 1}}
    assert {c["server"] for c in simulation.calls()[calls_before:]} == {"EX2013"}
    assert not writes(simulation, calls_before)
    org = report["organizations"][0]
    assert {s["name"]: s["host"] for s in org["servers"]} == {"EX2013": "EX2013", "EX2016": "EX2016",
                                                              "EX2019": "EX2019"}
    assert all(s["auth_certificate"]["present"] for s in org["servers"])
    assert report["summary"]["status"] == "ok", findings(report, "failure")
    reads = run.results("Audit - read the organization through one Exchange session on this server")
    assert [t["host"] for t in reads] == ["EX2013"]


def test_a_server_that_does_not_answer_is_a_finding_and_the_run_succeeds(simulation, run_playbook):
    configure = run_playbook(simulation, CONFIGURE, extra_vars=role_vars())
    assert configure.ok, configure
    with simulation.store.transaction() as state:
        state["exchange"]["servers"]["EX2019"]["offline"] = True
    simulation.inject("EX2019", "*", "reset", count=1000, endpoint="*")  # nothing reaches it directly either
    before = state_bytes(simulation)
    run, report = audit(simulation, run_playbook)
    assert run.ok, run
    assert state_bytes(simulation) == before
    found = findings(report, "failure")
    assert found == [("EX2019", "answered", "failure")], found
    row = next(s for s in report["organizations"][0]["servers"] if s["name"] == "EX2019")
    assert row["answered"] is False and "RPC server is unavailable" in row["findings"][-1]["detail"]


def test_the_reader_does_not_answer_the_next_host_reads_the_organization(simulation, run_playbook):
    configure = run_playbook(simulation, CONFIGURE, extra_vars=role_vars())
    assert configure.ok, configure
    with simulation.store.transaction() as state:
        state["exchange"]["servers"]["EX2013"]["offline"] = True
    simulation.inject("EX2013", "*", "http500", count=1000, endpoint="*")
    run, report = audit(simulation, run_playbook)
    assert run.ok, run
    org = report["organizations"][0]
    assert org["name"] == "Contoso" and org["primary_host"] == "EX2016", str(run)
    assert findings(report, "failure") == [("EX2013", "answered", "failure")]


def test_two_organizations_in_one_inventory(make_simulation, run_playbook):
    """A fleet: two organizations (two tenants), one inventory; each read through one session on its first host."""
    first = make_simulation(servers=[ServerSpec("EXA1", "Version 15.2 (Build 1748.10)", exsetup_version="15.2.1748.24")])
    second = make_simulation(
        servers=[ServerSpec("EXB1", "Version 15.1 (Build 2507.6)", exsetup_version="15.1.2507.55"),
                 ServerSpec("EXB2", "Version 15.1 (Build 2507.6)", exsetup_version="15.1.2507.55")],
        organization_name="Fabrikam",
        tenant_domain="fabrikam.onmicrosoft.com",
    )
    configure = run_playbook(first, CONFIGURE, extra_vars=role_vars())
    assert configure.ok, configure
    import yaml  # pylint: disable=import-outside-toplevel

    groups = {}
    for name, sim in (("org_a", first), ("org_b", second)):
        with open(sim.inventory_path, encoding="utf-8") as handle:
            groups[name] = yaml.safe_load(handle)["all"]["children"]["exchange"]
    inventory = os.path.join(first.directory, "fleet.yml")
    with open(inventory, "w", encoding="utf-8") as handle:
        yaml.safe_dump({"all": {"children": {"exchange": {"children": groups}}}}, handle)
    before = (state_bytes(first), state_bytes(second))
    opens = (session_opens(first), session_opens(second))
    graph_before = (len(first.entra.requests), len(second.entra.requests))
    out = os.path.join(first.directory, "reports")
    os.makedirs(out)
    values = role_vars()
    values["audit_report_dir"] = out
    run = run_playbook(first, AUDIT, extra_vars=values, inventory=inventory)
    assert run.ok, run
    assert (state_bytes(first), state_bytes(second)) == before
    assert opened_since(opens[0], session_opens(first)) == {"exchange": {"EXA1": 1}, "host": {"EXA1": 1}}
    assert opened_since(opens[1], session_opens(second)) == {"exchange": {"EXB1": 1}, "host": {"EXB1": 1}}
    assert not graph_writes(first, graph_before[0]) and not graph_writes(second, graph_before[1])
    with open(os.path.join(out, "push-notifications-audit.json"), encoding="utf-8") as handle:
        report = json.load(handle)
    orgs = {o["name"]: o for o in report["organizations"]}
    assert set(orgs) == {"Contoso", "Fabrikam"}
    assert orgs["Contoso"]["status"] == "ok"
    assert orgs["Fabrikam"]["status"] == "failure"
    assert orgs["Fabrikam"]["primary_host"] == "EXB1"
    assert orgs["Fabrikam"]["tenant_domain"] == "fabrikam.onmicrosoft.com"
    assert {s["name"] for s in orgs["Fabrikam"]["servers"]} == {"EXB1", "EXB2"}
    assert report["summary"]["organizations"] == 2 and report["summary"]["servers"] == 3


def test_dedicated_application_target(make_simulation, run_playbook):
    """With push_notifications_entra_target=hybrid_application the key is looked for on the dedicated application."""
    servers = [s for s in DEFAULT_SERVERS if s.name != "EX2013"]  # the hybrid path needs the April 2025 HU
    sim = make_simulation(servers=servers)
    hybrid = role_vars(entra_target="hybrid_application", restart_health_service=False)
    configure = run_playbook(sim, CONFIGURE, extra_vars=hybrid)
    assert configure.ok, configure
    before = state_bytes(sim)
    run, report = audit(sim, run_playbook, push_notifications_entra_target="hybrid_application")
    assert run.ok, run
    assert state_bytes(sim) == before
    org = report["organizations"][0]
    assert org["entra"]["target"] == "hybrid_application"
    assert org["entra"]["target_name"].startswith("ExchangeServerApp-")
    assert org["entra"]["current_key"]["thumbprint"] == org["auth_certificate"]["thumbprint"]
    assert (None, "evosts_auth_server", "ok") in findings(report)
    assert org["evosts_auth_server"]["type"] == "AzureAD"
    assert {(s[0], s[2]) for s in findings(report) if s[1] == "hybrid_build"} == {("EX2016", "ok"), ("EX2019", "ok")}
    assert (None, "entra_shared_key_left", "ok") in findings(report)
    assert report["summary"]["status"] == "ok", findings(report, "failure")


def test_dedicated_application_permissions_consent_and_expired_keys(make_simulation, run_playbook):
    """The audit reads the dedicated application's permissions (EWS, Graph), its admin consent and its expired keys:
    each gap is its own finding, with the fix."""
    servers = [s for s in DEFAULT_SERVERS if s.name != "EX2013"]
    sim = make_simulation(servers=servers)
    hybrid = role_vars(entra_target="hybrid_application", restart_health_service=False)
    assert run_playbook(sim, CONFIGURE, extra_vars=hybrid).ok
    values = {"push_notifications_entra_target": "hybrid_application"}
    run, report = audit(sim, run_playbook, **values)
    assert run.ok, run
    healthy = findings(report)
    assert (None, "entra_application_permissions", "ok") in healthy
    assert (None, "entra_application_consent", "ok") in healthy
    assert not [f for f in healthy if f[1] == "entra_application_expired_keys"]
    assert "full_access_as_app" in json.dumps(report["organizations"][0]["findings"])

    def edit_application(change):
        with sim.store.transaction() as state:
            for tenant in state["entra"]["tenants"].values():
                [app] = [a for a in tenant["applications"] if a["displayName"].startswith("ExchangeServerApp-")]
                change(tenant, app)

    # An expired key that is not ours (another certificate's, from the shared service principal): a warning.
    def add_expired(tenant, app):
        ours = {k["key"] for k in app["keyCredentials"]}
        [shared] = [s for s in tenant["servicePrincipals"] if s["appId"] == "00000002-0000-0ff1-ce00-000000000000"]
        key = dict(next(k for k in shared["keyCredentials"] if k["key"] not in ours))
        key.update(keyId="0d7f1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b", endDateTime="2021-01-01T00:00:00Z")
        app["keyCredentials"].append(key)
    edit_application(add_expired)
    run, report = audit(sim, run_playbook, **values)
    assert run.ok, run
    assert (None, "entra_application_expired_keys", "warning") in findings(report)

    # Admin consent withdrawn: the app role assignments of its service principal gone.
    def withdraw_consent(tenant, app):
        [sp] = [s for s in tenant["servicePrincipals"] if s["appId"] == app["appId"]]
        tenant["appRoleAssignments"] = [a for a in tenant["appRoleAssignments"] if a.get("principalId") != sp["id"]]
    edit_application(withdraw_consent)
    run, report = audit(sim, run_playbook, **values)
    assert (None, "entra_application_consent", "failure") in findings(report)
    consent = [f for f in report["organizations"][0]["findings"] if f["check"] == "entra_application_consent"][0]
    assert "full_access_as_app" in consent["detail"] and CONFIGURE in consent["fix"]

    # full_access_as_app no longer requested.
    edit_application(lambda tenant, app: app.update(requiredResourceAccess=[]))
    run, report = audit(sim, run_playbook, **values)
    assert (None, "entra_application_permissions", "failure") in findings(report)
    assert report["summary"]["status"] == "failure"
