"""The audit's findings, JSON report and HTML report from gathered results (no simulator)."""

from __future__ import annotations

import copy
import json
import re

import pytest

from ansible_collections.exchange.hybrid.plugins.module_utils import _audit

CURRENT = "A" * 40
NEXT = "B" * 40
URL = "https://accounts.accesscontrol.windows.net/metadata/json/1/?realm=contoso.onmicrosoft.com"


def server(name, version="15.2.1748.24", ok=True, connected=False):
    return {"name": name, "fqdn": name.lower() + ".contoso.com", "version": version, "effective_version": version,
            "product": "Exchange 2019", "roles": ["Mailbox"], "site_name": "Default", "meets_push_minimum": ok,
            "connected": connected}


def info(names, connected, org_guid="guid-1", org_name="Contoso", below=()):
    return {"changed": False, "organization": {"name": org_name, "guid": org_guid},
            "servers": [server(n, "15.0.712.24" if n in below else "15.2.1748.24", n not in below, n == connected)
                        for n in names]}


def cert_ok(days=1000):
    """exchange_server_info's auth_certificate for a server holding the current certificate with its key."""
    return {"thumbprint": CURRENT, "present": True, "has_private_key": True, "private_key_exportable": True,
            "public_key_size": 2048, "not_before": "2026-01-01T00:00:00Z", "not_after": "2031-01-01T00:00:00Z",
            "days_remaining": days, "usable": True, "problems": []}


def org_results(days=1000, next_thumb=None, keys=(CURRENT,), auth=True, auth_url=URL, enabled=True,
                proxy=True, proxy_org="contoso.onmicrosoft.com", probe=None):
    auth_config = {"current": CURRENT, "next": next_thumb, "previous": None,
                   "next_effective_date": "2030-06-01T00:00:00Z" if next_thumb else None}
    certificate = {"thumbprint": CURRENT, "subject": "CN=contoso.com", "friendly_name": "Exchange S2S OAuth",
                   "not_before": "2026-01-01T00:00:00Z", "not_after": "2031-01-01T00:00:00Z",
                   "days_remaining": days}
    return {
        "oauth_cert": {"changed": False, "action": "none", "auth_config": auth_config,
                       "next_certificate": {"thumbprint": next_thumb, "not_after": "2035-01-01T00:00:00Z",
                                            "days_remaining": 3000} if next_thumb else None,
                       "diff": {"before": {"auth_config": auth_config, "certificate": certificate}}},
        "auth_server": {"changed": not (auth and auth_url == URL and enabled), "auth_metadata_url": URL,
                        "auth_server": {},
                        "diff": {"before": {"name": "MicrosoftSts", "type": "MicrosoftACS",
                                            "auth_metadata_url": auth_url, "enabled": enabled} if auth else None}},
        "push_proxy": {"changed": not proxy, "enabled": proxy,
                       "diff": {"before": {"enabled": proxy, "organization": proxy_org if proxy else None,
                                           "uri": "https://outlook.office365.com/PushNotifications"}}},
        "entra": {"changed": False, "target": {"type": "shared_service_principal", "object_type": "servicePrincipal",
                                               "display_name": "Office 365 Exchange Online", "object_id": "sp-1"},
                  "keys": [],
                  "diff": {"before": {"keys": [{"thumbprint": k, "end_date_time": "2031-01-01T00:00:00Z"}
                                               for k in keys]}}},
        "probe": probe if probe is not None else {"skipped": True},
    }


def hosts(names=("EX01", "EX02"), org=None, certs=None, below=(), **kwargs):
    org = org if org is not None else org_results(**kwargs)
    certs = certs or {}
    entries = []
    for index, name in enumerate(names):
        entries.append({
            "host": name, "tenant_domain": "contoso.onmicrosoft.com", "entra_target": "shared_service_principal",
            "info": dict(info(names, name, below=below), auth_certificate=certs.get(name, cert_ok())),
            "organization": org if index == 0 else None,
        })
    return entries


def by_check(report):
    org = report["organizations"][0]
    found = {(None, f["check"]): f for f in org["findings"]}
    found.update({(s["name"], f["check"]): f for s in org["servers"] for f in s["findings"]})
    return found


def severities(report):
    return {key: value["severity"] for key, value in by_check(report).items()}


def test_healthy_organization_is_all_ok():
    report = _audit.build_report(hosts(), generated_at="2026-11-27T00:00:00Z")
    assert report["schema_version"] == _audit.SCHEMA_VERSION == 1
    assert report["summary"]["status"] == "ok"
    assert report["summary"]["organizations"] == 1 and report["summary"]["servers"] == 2
    assert set(severities(report).values()) == {"ok"}
    assert report["summary"]["findings"] == {"ok": 8, "warning": 0, "failure": 0}
    org = report["organizations"][0]
    assert org["primary_host"] == "EX01"
    assert org["entra"]["current_key"]["thumbprint"] == CURRENT
    assert org["probe"] is None
    json.loads(_audit.to_json(report))  # serialisable


def test_report_keys_are_stable():
    report = _audit.build_report(hosts(), generated_at="2026-11-27T00:00:00Z")
    assert set(report) == {"schema_version", "generated_at", "generator", "settings", "summary", "organizations"}
    assert set(report["summary"]) == {"status", "organizations", "servers", "findings", "organizations_by_status",
                                      "servers_by_status"}
    assert set(report["organizations"][0]) == {
        "name", "guid", "tenant_domain", "entra_target", "primary_host", "status", "counts", "auth_certificate",
        "next_certificate", "auth_config", "predicted_certificate_action", "auth_server", "evosts_auth_server",
        "entra", "push_proxy", "probe", "findings", "servers"}
    assert set(report["organizations"][0]["servers"][0]) == {
        "name", "host", "fqdn", "product", "version", "effective_version", "roles", "site", "meets_push_minimum",
        "auth_certificate", "status", "findings"}
    assert set(report["organizations"][0]["findings"][0]) == {"check", "severity", "title", "detail", "fix"}


@pytest.mark.parametrize("days, next_thumb, expected", [
    (61, None, "ok"), (60, None, "warning"), (50, None, "warning"), (50, NEXT, "ok"), (0, None, "failure"),
    (-3, NEXT, "failure"),
])
def test_certificate_expiry_window(days, next_thumb, expected):
    keys = (CURRENT, NEXT) if next_thumb else (CURRENT,)
    report = _audit.build_report(hosts(days=days, next_thumb=next_thumb, keys=keys), warning_days=60)
    finding = by_check(report)[(None, "auth_certificate")]
    assert finding["severity"] == expected
    if expected != "ok":
        assert "configure_push_notifications" in finding["fix"]


def test_next_certificate_key_missing_in_entra_is_a_warning():
    report = _audit.build_report(hosts(days=40, next_thumb=NEXT, keys=(CURRENT,)))
    assert severities(report)[(None, "entra_next_key")] == "warning"
    assert report["organizations"][0]["next_certificate"]["thumbprint"] == NEXT
    assert report["organizations"][0]["next_certificate"]["effective_date"] == "2030-06-01T00:00:00Z"


@pytest.mark.parametrize("kwargs, check, words", [
    ({"keys": ()}, "entra_key", "Key missing"),
    ({"auth": False}, "auth_server", "AuthServer missing"),
    ({"enabled": False}, "auth_server", "disabled"),
    ({"auth_url": URL.replace("contoso", "fabrikam")}, "auth_server", "metadata URL wrong"),
    ({"proxy": False}, "push_proxy", "disabled"),
    ({"proxy_org": "fabrikam.onmicrosoft.com"}, "push_proxy", "another organization"),
    ({"probe": {"result_type": "Failed", "error": "no key", "target_server": "ex01"}}, "probe", "Probe failed"),
])
def test_each_broken_piece_is_a_failure_with_a_fix(kwargs, check, words):
    report = _audit.build_report(hosts(**kwargs), run_probe=True)
    finding = by_check(report)[(None, check)]
    assert finding["severity"] == "failure" and words in finding["title"]
    assert finding["fix"]
    assert report["summary"]["status"] == "failure"
    assert report["organizations"][0]["counts"]["failure"] == 1


def test_a_task_that_failed_under_failed_when_false_is_a_failure():
    # failed_when: false resets "failed": the missing result key still tells.
    org = org_results()
    org["auth_server"] = {"changed": False, "failed": False, "failed_when_result": False, "msg": "Access denied"}
    report = _audit.build_report(hosts(org=org))
    finding = by_check(report)[(None, "auth_server")]
    assert finding["severity"] == "failure" and finding["detail"] == "Access denied"


def test_servers_build_and_certificate_presence():
    certs = {"EX02": {"thumbprint": CURRENT, "present": False, "has_private_key": None, "usable": False,
                      "problems": ["it is not in the certificate store of this server"]}}
    report = _audit.build_report(hosts(names=("EX01", "EX02", "OLD"), certs=certs, below=("OLD",)))
    found = severities(report)
    assert found[("OLD", "build")] == "failure"
    assert found[("EX02", "auth_certificate_present")] == "failure"
    assert found[("EX01", "auth_certificate_present")] == "ok"
    rows = {s["name"]: s for s in report["organizations"][0]["servers"]}
    assert rows["EX02"]["auth_certificate"]["present"] is False
    assert "not in the certificate store" in rows["EX02"]["auth_certificate"]["reason"]
    assert rows["EX01"]["status"] == "ok" and rows["OLD"]["status"] == "failure"
    assert report["summary"]["servers_by_status"] == {"ok": 1, "warning": 0, "failure": 2}
    assert _audit.failures(report) == ["Contoso/EX02: Auth certificate unusable here",
                                       "Contoso/OLD: Below Exchange 2013 CU3"]


def test_certificate_without_private_key_and_a_server_that_could_not_read_it():
    certs = {"EX02": dict(cert_ok(), has_private_key=False, usable=False, problems=["it has no private key"]),
             "EDGE": None}
    report = _audit.build_report(hosts(names=("EX01", "EX02", "EDGE"), certs=certs))
    rows = {s["name"]: s for s in report["organizations"][0]["servers"]}
    assert rows["EX02"]["auth_certificate"]["present"] is False and rows["EX02"]["status"] == "failure"
    assert "no private key" in rows["EX02"]["auth_certificate"]["reason"]
    assert CURRENT in rows["EX02"]["findings"][-1]["detail"]
    assert rows["EDGE"]["auth_certificate"] == {"thumbprint": CURRENT, "present": None}
    assert ("EDGE", "auth_certificate_present") not in severities(report)
    assert rows["EX01"]["auth_certificate"] == {"thumbprint": CURRENT, "present": True,
                                                "not_after": "2031-01-01T00:00:00Z", "days_remaining": 1000}


def test_a_server_outside_the_inventory_is_a_warning_and_an_unreachable_host_a_failure():
    entries = hosts(names=("EX01",))
    entries[0]["info"]["servers"].append(server("EX09"))
    entries.append({"host": "EX05", "info": {"failed": True, "msg": "the host could not be reached"}})
    report = _audit.build_report(entries)
    assert severities(report)[("EX09", "audited")] == "warning"
    assert len(report["organizations"]) == 2
    lost = report["organizations"][1]
    assert lost["guid"] is None and lost["status"] == "failure"
    assert lost["servers"][0]["findings"][0]["detail"] == "the host could not be reached"
    assert report["summary"]["servers"] == 3


def test_two_organizations_are_grouped_by_guid():
    first = hosts(names=("EX01",))
    second = hosts(names=("EXB1", "EXB2"), proxy=False)
    for entry in second:
        entry["info"]["organization"] = {"name": "Fabrikam", "guid": "guid-2"}
    report = _audit.build_report(first + second)
    names = [o["name"] for o in report["organizations"]]
    assert names == ["Contoso", "Fabrikam"]
    assert [o["status"] for o in report["organizations"]] == ["ok", "failure"]
    assert report["organizations"][1]["primary_host"] == "EXB1"
    assert report["summary"]["organizations_by_status"] == {"ok": 1, "warning": 0, "failure": 1}


def test_probe_is_left_out_unless_asked():
    probe = {"result_type": "Failed", "error": "x"}
    assert (None, "probe") not in by_check(_audit.build_report(hosts(probe=probe)))
    assert severities(_audit.build_report(hosts(probe={"result_type": "Succeeded", "target_server": "ex01"}),
                                          run_probe=True))[(None, "probe")] == "ok"


def test_no_current_certificate_and_unknown_severity():
    org = org_results()
    org["oauth_cert"]["diff"]["before"]["auth_config"]["current"] = None
    org["oauth_cert"]["diff"]["before"]["certificate"] = None
    report = _audit.build_report(hosts(org=org))
    assert by_check(report)[(None, "auth_certificate")]["title"] == "No Auth certificate"
    with pytest.raises(ValueError):
        _audit.finding("x", "critical", "t")


def _ids(page):
    return dict(re.findall(r'id="(summary-[a-z]+)"[^>]*>([^<]*)<', page))


def test_html_summary_matches_json_and_is_self_contained():
    report = _audit.build_report(hosts(days=30, proxy=False), generated_at="2026-11-27T00:00:00Z")
    page = _audit.render_html(report)
    ids = _ids(page)
    assert ids["summary-organizations"] == "1" and ids["summary-servers"] == "2"
    for severity in _audit.SEVERITIES:
        assert ids["summary-" + severity] == str(report["summary"]["findings"][severity])
    assert ids["summary-status"] == "failure"
    assert "<script" not in page and "<link" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert 'data-days-remaining="30"' in page
    assert 'class="used warning"' in page  # the expiry bar in the warning colour


def test_html_escapes_every_value():
    entries = hosts()
    hostile = '<script>alert("x")</script>'
    entries[0]["info"]["servers"][0]["name"] = hostile
    entries[0]["info"]["organization"]["name"] = hostile
    for entry in entries:
        entry["info"]["organization"]["name"] = hostile
    report = _audit.build_report(copy.deepcopy(entries))
    page = _audit.render_html(report)
    assert "<script" not in page
    assert "&lt;script&gt;" in page


def test_evosts_auth_server_of_the_dedicated_application():
    org = org_results()
    org["evosts_auth_server"] = {"changed": True, "auth_metadata_url": URL, "auth_server": {},
                                 "diff": {"before": {"name": "EvoSTS", "type": "AzureAD", "auth_metadata_url": URL,
                                                     "enabled": True, "application_identifier": "old-app"}}}
    report = _audit.build_report(hosts(org=org))
    finding = by_check(report)[(None, "evosts_auth_server")]
    assert finding["severity"] == "warning" and "evoSTS AuthServer differs" == finding["title"]
    assert report["organizations"][0]["evosts_auth_server"]["application_identifier"] == "old-app"
    org["evosts_auth_server"]["diff"]["before"] = None
    assert severities(_audit.build_report(hosts(org=org)))[(None, "evosts_auth_server")] == "failure"
