"""The audit's findings, JSON report and HTML report from the readers' results (no simulator): results shaped as
exchange_auth_info, entra_key_credential_info, exchange_server_info and the probe return them."""

from __future__ import annotations

import copy
import json
import re

import pytest

from ansible_collections.exchange.hybrid.plugins.module_utils import _audit
from ansible_collections.exchange.hybrid.plugins.module_utils._setting_overrides import section_duplicates

CURRENT = "A" * 40
NEXT = "B" * 40
OLD = "C" * 40
NOW = "2026-11-27T00:00:00Z"
URL = "https://accounts.accesscontrol.windows.net/metadata/json/1/?realm=contoso.onmicrosoft.com"
EVOSTS_URL = "https://login.windows.net/contoso.onmicrosoft.com/federationmetadata/2007-06/federationmetadata.xml"
APP_ID = "3b1e0c52-8d5f-4c7e-9a3b-2f6d1e0a9c84"


def store(thumbprint=CURRENT, days=1000, **changes):
    """One server's store as exchange_auth_info returns it (servers[].auth_certificate)."""
    state = {"thumbprint": thumbprint, "present": True, "has_private_key": True, "private_key_exportable": True,
             "not_after": "2031-01-01T00:00:00Z", "days_remaining": days, "key_size": 2048,
             "signature_algorithm": "sha256RSA", "usable": True, "problems": []}
    state.update(changes)
    return state


def server(name, version="15.2.1748.10", ok=True, certificate=None, answered=True, **extra):
    row = {"name": name, "fqdn": name.lower() + ".contoso.com", "version": version, "roles": ["Mailbox"],
           "is_edge": False, "connected": False, "meets_push_minimum": ok, "answered": answered,
           "error": None if answered else "A special Rpc error occurs on server %s: The RPC server is unavailable."
           % name, "auth_certificate": (certificate or store()) if answered else None,
           "next_auth_certificate": None}
    row.update(extra)
    return row


def auth_info(names=("EX01", "EX02"), days=1000, next_thumb=None, effective_date="2030-06-01T00:00:00Z",
              auth=True, auth_url=URL, enabled=True, proxy=True, proxy_org="contoso.onmicrosoft.com",
              current=CURRENT, below=(), stores=None, auth_servers=None, org=("Contoso", "guid-1")):
    stores = stores or {}
    servers = [server(n, "15.0.712.24" if n in below else "15.2.1748.10", n not in below,
                      stores.get(n), connected=index == 0) for index, n in enumerate(names)]
    for row in servers:
        if stores.get(row["name"]) == "down":
            row.update(answered=False, auth_certificate=None,
                       error="A special Rpc error occurs on server %s: The RPC server is unavailable." % row["name"])
    current_view = {"thumbprint": current, "not_before": "2026-01-01T00:00:00Z", "not_after": "2031-01-01T00:00:00Z",
                    "days_remaining": days, "key_size": 2048, "signature_algorithm": "sha256RSA",
                    "expired": days <= 0} if current else None
    next_view = {"thumbprint": next_thumb, "not_before": "2026-11-01T00:00:00Z", "not_after": "2035-01-01T00:00:00Z",
                 "days_remaining": 3000, "key_size": 2048, "signature_algorithm": "sha256RSA", "expired": False,
                 "effective_date": effective_date, "effective": False} if next_thumb else None
    if auth_servers is None:
        auth_servers = [{"name": "MicrosoftSts", "type": "MicrosoftACS", "realm": "tenant-id", "enabled": enabled,
                         "auth_metadata_url": auth_url, "application_identifier": None,
                         "domain_name": []}] if auth else []
    return {
        "changed": False, "server_utc_now": NOW, "connected_server": names[0],
        "organization": {"name": org[0], "guid": org[1]},
        "auth_config": {"current": current_view, "next": next_view, "previous": None,
                        "service_name": "00000002-0000-0ff1-ce00-000000000000", "realm": ""},
        "servers": servers, "auth_servers": auth_servers, "partner_applications": [],
        "intra_organization_connectors": [], "setting_overrides": [],
        "push_proxy": {"found": True, "enabled": proxy, "organization": proxy_org if proxy else None,
                       "uri": "https://outlook.office365.com/PushNotifications"},
    }


def key(thumbprint, ours=True, expired=False):
    return {"key_id": "k-" + thumbprint[:4], "thumbprint": thumbprint, "display_name": "CN=contoso.com",
            "type": "AsymmetricX509Cert", "usage": "Verify", "start_date_time": "2026-01-01T00:00:00Z",
            "end_date_time": "2031-01-01T00:00:00Z", "expired": expired, "ours": ours}


def entra(keys=(CURRENT,), hybrid_keys=None, shared_found=True, hybrid_found=True):
    result = {"changed": False, "reference_time": NOW,
              "shared_service_principal": {"found": shared_found, "id": "sp-1",
                                           "app_id": "00000002-0000-0ff1-ce00-000000000000",
                                           "display_name": "Office 365 Exchange Online",
                                           "keys": [key(k) for k in keys]}}
    if hybrid_keys is not None:
        result["hybrid_application"] = {"found": hybrid_found, "id": "app-1", "app_id": APP_ID,
                                        "display_name": "ExchangeServerApp-guid-1",
                                        "keys": [key(k) for k in hybrid_keys],
                                        "service_principal": {"found": True, "id": "sp-2"},
                                        # What step 3 leaves: full_access_as_app requested and consented.
                                        "permissions": [{"resource_app_id": "00000002-0000-0ff1-ce00-000000000000",
                                                         "resource": "Office 365 Exchange Online", "type": "Role",
                                                         "value": "full_access_as_app",
                                                         "id": "dc890d15-9560-4a4c-9b7f-a736ec74ec40",
                                                         "consented": True}],
                                        "consent_granted": True}
    return result


def reading(hosts=("EX01", "EX02"), exchange=None, entra_result=None, probe=None, target="shared_service_principal",
            builds=None, **kwargs):
    return {"reader": hosts[0] if hosts else None, "hosts": list(hosts), "tenant_domain": "contoso.onmicrosoft.com",
            "entra_target": target, "cloud": "global", "auth_server_name": "MicrosoftSts", "auth_metadata_url": None,
            "evosts_auth_server_name": "EvoSTS", "renew_before_days": 60,
            "exchange": exchange if exchange is not None else auth_info(**kwargs),
            "entra": entra_result if entra_result is not None else entra(),
            "builds": builds if builds is not None else [{"skipped": True}],
            "probe": probe if probe is not None else {"skipped": True}}


def by_check(report, index=0):
    org = report["organizations"][index]
    found = {(None, f["check"]): f for f in org["findings"]}
    found.update({(s["name"], f["check"]): f for s in org["servers"] for f in s["findings"]})
    return found


def severities(report, index=0):
    return {key: value["severity"] for key, value in by_check(report, index).items()}


def test_healthy_organization_is_all_ok():
    report = _audit.build_report([reading()], generated_at=NOW)
    assert report["schema_version"] == _audit.SCHEMA_VERSION == 1
    assert report["summary"]["status"] == "ok", severities(report)
    assert report["summary"]["organizations"] == 1 and report["summary"]["servers"] == 2
    assert set(severities(report).values()) == {"ok"}
    assert report["summary"]["findings"] == {"ok": 8, "warning": 0, "failure": 0}
    org = report["organizations"][0]
    assert org["primary_host"] == "EX01" and org["server_utc_now"] == NOW
    assert org["entra"]["current_key"]["thumbprint"] == CURRENT
    assert org["probe"] is None and org["predicted_certificate_action"] == "none"
    assert [s["host"] for s in org["servers"]] == ["EX01", "EX02"]
    json.loads(_audit.to_json(report))  # serialisable


def test_report_keys_are_stable():
    report = _audit.build_report([reading()], generated_at=NOW)
    assert set(report) == {"schema_version", "generated_at", "generator", "settings", "summary", "organizations"}
    assert set(report["summary"]) == {"status", "organizations", "servers", "findings", "organizations_by_status",
                                      "servers_by_status"}
    # Version 1's fields, plus those added within it (server_utc_now; a server's answered).
    assert set(report["organizations"][0]) == {
        "name", "guid", "tenant_domain", "entra_target", "primary_host", "status", "counts", "auth_certificate",
        "next_certificate", "auth_config", "predicted_certificate_action", "auth_server", "evosts_auth_server",
        "entra", "push_proxy", "probe", "findings", "servers", "server_utc_now"}
    assert set(report["organizations"][0]["servers"][0]) == {
        "name", "host", "fqdn", "product", "version", "effective_version", "roles", "site", "meets_push_minimum",
        "auth_certificate", "status", "findings", "answered"}
    assert set(report["organizations"][0]["findings"][0]) == {"check", "severity", "title", "detail", "fix"}
    assert {"thumbprint", "not_before", "not_after", "days_remaining"} <= set(
        report["organizations"][0]["auth_certificate"])


@pytest.mark.parametrize("days, next_thumb, expected, action", [
    (61, None, "ok", "none"), (60, None, "warning", "staged"), (50, None, "warning", "staged"),
    (50, NEXT, "ok", "none"), (0, None, "failure", "replaced"), (-3, NEXT, "failure", "replaced"),
])
def test_certificate_expiry_window(days, next_thumb, expected, action):
    keys = (CURRENT, NEXT) if next_thumb else (CURRENT,)
    report = _audit.build_report([reading(days=days, next_thumb=next_thumb, entra_result=entra(keys))],
                                 warning_days=60)
    found = by_check(report)[(None, "auth_certificate")]
    assert found["severity"] == expected
    assert report["organizations"][0]["predicted_certificate_action"] == action
    if expected != "ok":
        assert "configure_push_notifications" in found["fix"]


def test_next_certificate_and_its_effective_date_by_the_servers_clock():
    report = _audit.build_report([reading(days=40, next_thumb=NEXT)])
    assert severities(report)[(None, "entra_next_key")] == "warning"
    assert severities(report)[(None, "next_certificate")] == "ok"
    org = report["organizations"][0]
    assert org["next_certificate"]["thumbprint"] == NEXT
    assert org["next_certificate"]["effective_date"] == "2030-06-01T00:00:00Z"
    assert org["auth_config"] == {"current": CURRENT, "next": NEXT, "previous": None,
                                  "next_effective_date": "2030-06-01T00:00:00Z"}
    # The date passed by the Exchange server's clock (NOW), not the controller's: the switch is overdue.
    overdue = _audit.build_report([reading(days=40, next_thumb=NEXT, effective_date="2026-11-20T00:00:00Z")])
    found = by_check(overdue)[(None, "next_certificate")]
    assert found["severity"] == "warning" and "overdue" in found["title"] and NOW in found["detail"]


@pytest.mark.parametrize("kwargs, check, words", [
    ({"entra_result": entra(keys=())}, "entra_key", "Key missing"),
    ({"entra_result": entra(shared_found=False)}, "entra_key", "Entra target not found"),
    ({"auth": False}, "auth_server", "AuthServer missing"),
    ({"enabled": False}, "auth_server", "disabled"),
    ({"auth_url": URL.replace("contoso", "fabrikam")}, "auth_server", "metadata URL wrong"),
    ({"proxy": False}, "push_proxy", "disabled"),
    ({"proxy_org": "fabrikam.onmicrosoft.com"}, "push_proxy", "another organization"),
    ({"probe": {"result_type": "Failed", "error": "no key", "target_server": "ex01"}}, "probe", "Probe failed"),
    ({"current": None}, "auth_certificate", "No Auth certificate"),
])
def test_each_broken_piece_is_a_failure_with_a_fix(kwargs, check, words):
    report = _audit.build_report([reading(**kwargs)], run_probe=True)
    found = by_check(report)[(None, check)]
    assert found["severity"] == "failure" and words in found["title"]
    assert found["fix"]
    assert report["summary"]["status"] == "failure"


def test_an_hcw_acs_auth_server_is_found_by_its_metadata_url():
    hcw = [{"name": "ACS - 6a4b3c2d-0000-0000-0000-000000000000", "type": "MicrosoftACS", "enabled": True,
            "auth_metadata_url": URL + "/", "realm": "r", "application_identifier": None}]
    report = _audit.build_report([reading(auth_servers=hcw)])
    assert severities(report)[(None, "auth_server")] == "ok"
    assert report["organizations"][0]["auth_server"]["name"].startswith("ACS - ")
    assert report["organizations"][0]["auth_server"]["expected_auth_metadata_url"] == URL


def test_a_reader_that_failed_under_failed_when_false_is_a_finding_for_every_host():
    # failed_when: false resets "failed": the missing result key still tells.
    failed = {"changed": False, "failed": False, "failed_when_result": False, "msg": "Access denied"}
    report = _audit.build_report([reading(exchange=failed, hosts=("EX01", "EX02"))])
    org = report["organizations"][0]
    assert org["guid"] is None and org["name"] == "(not reached)" and org["status"] == "failure"
    checks = [(s["name"], s["findings"][0]["check"]) for s in org["servers"]]
    assert checks == [("EX01", "reachable"), ("EX02", "reachable")]
    assert "Access denied" in org["servers"][0]["findings"][0]["detail"]


def test_servers_build_and_the_auth_certificate_as_healthchecker_judges_it():
    stores = {
        "EX02": store(present=False, has_private_key=None, usable=False, key_size=None, signature_algorithm=None,
                      problems=["it is not in the certificate store of this server"]),
        "EX03": store(has_private_key=False, usable=False, problems=["it has no private key"]),
        "EX04": store(days=-2, usable=False, problems=["it expired on 2026-11-25T00:00:00Z"]),
        "EX05": store(key_size=1024, usable=False, problems=["its key has 1024 bits; 2048 or more are needed"]),
        "EX06": store(signature_algorithm="sha1RSA", usable=False, problems=["it is signed with sha1RSA"]),
    }
    names = ("EX01", "EX02", "EX03", "EX04", "EX05", "EX06", "OLD")
    report = _audit.build_report([reading(hosts=names, names=names, stores=stores, below=("OLD",))])
    found = severities(report)
    assert found[("OLD", "build")] == "failure"
    assert found[("EX01", "auth_certificate_present")] == "ok"
    details = by_check(report)
    assert details[("EX02", "auth_certificate_present")]["title"] == "Auth certificate missing here"
    assert details[("EX03", "auth_certificate_present")]["title"] == "Auth certificate without private key here"
    assert details[("EX04", "auth_certificate_present")]["title"] == "Auth certificate expired here"
    assert found[("EX05", "auth_certificate_key_size")] == "failure"
    assert found[("EX06", "auth_certificate_signature")] == "warning"
    assert found[("EX06", "auth_certificate_present")] == "ok" and found[("EX05", "auth_certificate_present")] == "ok"
    rows = {s["name"]: s for s in report["organizations"][0]["servers"]}
    assert rows["EX02"]["auth_certificate"]["present"] is False
    assert "not in the certificate store" in rows["EX02"]["auth_certificate"]["reason"]
    assert CURRENT in rows["EX03"]["auth_certificate"]["reason"]
    assert rows["EX01"]["auth_certificate"] == {"thumbprint": CURRENT, "present": True, "key_size": 2048,
                                                "not_after": "2031-01-01T00:00:00Z", "days_remaining": 1000,
                                                "signature_algorithm": "sha256RSA"}
    assert rows["EX01"]["status"] == "ok" and rows["OLD"]["status"] == "ok" or rows["OLD"]["status"] == "failure"
    assert "Contoso/EX02: Auth certificate missing here" in _audit.failures(report)
    assert "Contoso/OLD: Below Exchange 2013 CU3" in _audit.failures(report)


def test_a_server_that_does_not_answer_is_a_finding_and_an_edge_server_is_not_checked():
    info = auth_info(names=("EX01", "EX02", "EDGE"), stores={"EX02": "down"})
    info["servers"][2].update(is_edge=True, answered=None, auth_certificate=None)
    report = _audit.build_report([reading(exchange=info, hosts=("EX01", "EX02"))])
    found = by_check(report)
    assert found[("EX02", "answered")]["severity"] == "failure"
    assert "RPC server is unavailable" in found[("EX02", "answered")]["detail"]
    rows = {s["name"]: s for s in report["organizations"][0]["servers"]}
    assert rows["EX02"]["answered"] is False and rows["EX02"]["auth_certificate"]["present"] is None
    assert rows["EDGE"]["auth_certificate"] == {"thumbprint": None, "present": None} and rows["EDGE"]["host"] is None
    assert ("EDGE", "auth_certificate_present") not in found
    assert found[("EDGE", "audited")]["severity"] == "ok"  # not in the inventory, read all the same
    assert _audit.failures(report) == ["Contoso/EX02: Server did not answer"]


def test_hosts_are_matched_to_servers_by_name_or_fqdn_and_a_stranger_is_a_finding():
    report = _audit.build_report([reading(hosts=("ex01.contoso.com", "EX02", "EXB1"))])
    rows = {s["name"]: s for s in report["organizations"][0]["servers"]}
    assert rows["EX01"]["host"] == "ex01.contoso.com" and rows["EX02"]["host"] == "EX02"
    assert rows["EXB1"]["findings"][0]["check"] == "organization_member"
    assert "audit_organization" in rows["EXB1"]["findings"][0]["fix"]
    assert report["summary"]["servers"] == 3


def test_two_organizations():
    second = reading(hosts=("EXB1", "EXB2"), names=("EXB1", "EXB2"), proxy=False, org=("Fabrikam", "guid-2"))
    report = _audit.build_report([reading(hosts=("EX01",), names=("EX01",)), second])
    assert [o["name"] for o in report["organizations"]] == ["Contoso", "Fabrikam"]
    assert [o["status"] for o in report["organizations"]] == ["ok", "failure"]
    assert report["organizations"][1]["primary_host"] == "EXB1"
    assert report["summary"]["organizations_by_status"] == {"ok": 1, "warning": 0, "failure": 1}
    assert report["summary"]["servers"] == 3


def test_probe_is_left_out_unless_asked():
    probe = {"result_type": "Failed", "error": "x"}
    assert (None, "probe") not in by_check(_audit.build_report([reading(probe=probe)]))
    assert severities(_audit.build_report([reading(probe={"result_type": "Succeeded", "target_server": "ex01"})],
                                          run_probe=True))[(None, "probe")] == "ok"
    with pytest.raises(ValueError):
        _audit.finding("x", "critical", "t")


def hybrid_reading(evosts_app=APP_ID, shared_keys=(), builds=None, **kwargs):
    servers = [
        {"name": "MicrosoftSts", "type": "MicrosoftACS", "enabled": True, "auth_metadata_url": URL},
        {"name": "EvoSts - x", "type": "AzureAD", "enabled": True, "auth_metadata_url": EVOSTS_URL,
         "application_identifier": evosts_app, "domain_name": ["contoso.onmicrosoft.com"]},
    ]
    if builds is None:
        builds = [{"servers": [
            {"name": "EX01", "connected": True, "supports_hybrid_application": True,
             "supports_hybrid_application_known": True, "effective_version": "15.2.1748.24", "product": "Exchange 2019"},
            {"name": "EX02", "connected": False, "supports_hybrid_application": False,
             "supports_hybrid_application_known": False}]},
            {"servers": [{"name": "EX02", "connected": True, "supports_hybrid_application": True,
                          "supports_hybrid_application_known": True, "effective_version": "15.2.1748.24"}]}]
    return reading(target="hybrid_application", auth_servers=servers, builds=builds,
                   entra_result=entra(keys=shared_keys, hybrid_keys=(CURRENT,)), **kwargs)


def test_dedicated_application_all_ok():
    report = _audit.build_report([hybrid_reading()])
    assert report["summary"]["status"] == "ok", severities(report)
    org = report["organizations"][0]
    assert org["entra"]["target"] == "hybrid_application"
    assert org["entra"]["target_name"] == "ExchangeServerApp-guid-1"
    assert org["entra"]["shared_service_principal_keys_ours"] == 0
    assert org["evosts_auth_server"]["application_identifier"] == APP_ID
    found = severities(report)
    assert found[("EX01", "hybrid_build")] == "ok" and found[("EX02", "hybrid_build")] == "ok"
    assert {s["name"]: s["effective_version"] for s in org["servers"]} == {"EX01": "15.2.1748.24",
                                                                           "EX02": "15.2.1748.24"}


def test_dedicated_application_our_keys_left_on_the_shared_service_principal():
    report = _audit.build_report([hybrid_reading(shared_keys=(CURRENT, OLD))])
    found = by_check(report)[(None, "entra_shared_key_left")]
    assert found["severity"] == "warning" and CURRENT in found["detail"] and OLD in found["detail"]
    assert "push_notifications_cleanup_shared_service_principal" in found["fix"]


def test_dedicated_application_evosts_and_the_hotfix_level():
    report = _audit.build_report([hybrid_reading(evosts_app="old-app")])
    assert severities(report)[(None, "evosts_auth_server")] == "warning"
    twice = hybrid_reading()
    twice["exchange"]["evosts_duplicates"] = [{"realm": "r", "names": ["EvoSts - x", "EvoSTS"], "keep": "EvoSts - x",
                                               "fix": "Fix: keep 'EvoSts - x' and remove the others."}]
    found = by_check(_audit.build_report([twice]))[(None, "evosts_auth_server")]
    assert found["severity"] == "failure" and "EvoSTS" in found["detail"] and found["fix"].startswith("Fix:")
    missing = hybrid_reading()
    missing["exchange"]["auth_servers"] = missing["exchange"]["auth_servers"][:1]
    assert severities(_audit.build_report([missing]))[(None, "evosts_auth_server")] == "failure"
    below = [{"servers": [{"name": "EX01", "connected": True, "supports_hybrid_application": False,
                           "supports_hybrid_application_known": True, "effective_version": "15.2.1748.10"}]}]
    found = severities(_audit.build_report([hybrid_reading(builds=below)]))
    assert found[("EX01", "hybrid_build")] == "failure"
    assert found[("EX02", "hybrid_build")] == "warning"  # its ExSetup version was not read


def _ids(page):
    return dict(re.findall(r'id="(summary-[a-z]+)"[^>]*>([^<]*)<', page))


def test_html_summary_matches_json_and_is_self_contained():
    report = _audit.build_report([reading(days=30, proxy=False)], generated_at=NOW)
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
    hostile = '<script>alert("x")</script>'
    entry = reading()
    entry["exchange"]["servers"][0]["name"] = hostile
    entry["exchange"]["organization"]["name"] = hostile
    page = _audit.render_html(_audit.build_report([copy.deepcopy(entry)]))
    assert "<script" not in page
    assert "&lt;script&gt;" in page


def override(name, parameters=("Enabled=true",)):
    return {"name": name, "component": "Global", "section": "ExchangeOnpremAsThirdPartyAppId",
            "parameters": list(parameters), "reason": "", "server": []}


def with_overrides(reading, overrides):
    """The reading as exchange_auth_info returns it: the overrides and its judgement of their duplicates."""
    rows = [{"Name": o["name"], "ComponentName": o["component"], "SectionName": o["section"],
             "Parameters": o["parameters"], "Server": o["server"]} for o in overrides]
    reading["exchange"].update(setting_overrides=overrides, setting_override_duplicates=section_duplicates(rows))
    return reading


def test_several_dedicated_application_overrides_are_a_failure_with_the_fix():
    """HealthChecker's MultipleSettingOverrides (issue 15)."""
    one = hybrid_reading()
    with_overrides(one, [override("EnableExchangeHybrid3PAppFeature")])
    assert severities(_audit.build_report([one]))[(None, "hybrid_app_override")] == "ok"

    twice = hybrid_reading()
    with_overrides(twice, [override("Hybrid3PApp", ["Enabled=false"]),
                           override("EnableExchangeHybrid3PAppFeature"),
                           dict(override("Other"), section="RouteThroughMSGraph")])
    report = _audit.build_report([twice])
    found = by_check(report)[(None, "hybrid_app_override")]
    assert found["severity"] == "failure" and report["summary"]["status"] == "failure"
    assert "'Hybrid3PApp'" in found["detail"] and "Enabled=false" in found["detail"] and "Other" not in found["detail"]
    assert "Remove-SettingOverride -Identity 'Hybrid3PApp' -Confirm:$false" in found["fix"]
    assert "EnableExchangeHybrid3PAppFeature'" not in found["fix"]  # the script's one is kept
    assert "push_notifications_remove_duplicate_setting_overrides" in found["fix"]


def test_dedicated_application_without_permissions_is_a_failure():
    reading_ = hybrid_reading()
    reading_["entra"]["hybrid_application"]["permissions"] = []
    found = by_check(_audit.build_report([reading_]))
    assert found[(None, "entra_application_permissions")]["severity"] == "failure"
    assert "full_access_as_app" in found[(None, "entra_application_permissions")]["detail"]
