"""push_notifications_report: writes the JSON and HTML reports (only when they differ), nothing in check mode."""

from __future__ import annotations

import json
import os

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.exchange.hybrid.plugins.modules import push_notifications_report

# One organization as the role's audit entry point hands it over: read through EX01 (exchange_auth_info), which
# reports a server below Exchange 2013 CU3.
ORGANIZATIONS = [{
    "reader": "EX01",
    "hosts": ["EX01"],
    "tenant_domain": "contoso.onmicrosoft.com",
    "entra_target": "shared_service_principal",
    "exchange": {"server_utc_now": "2026-11-27T00:00:00Z", "organization": {"name": "Contoso", "guid": "g-1"},
                 "auth_config": {"current": None, "next": None, "previous": None},
                 "servers": [{"name": "EX01", "version": "15.0.712.24", "meets_push_minimum": False,
                              "answered": True, "auth_certificate": None}],
                 "auth_servers": [], "push_proxy": {"found": True, "enabled": False}},
    "entra": {"skipped": True},
}]


def run(capsys, **args):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            push_notifications_report.main()
    return json.loads(capsys.readouterr().out)


def test_writes_both_reports_then_reports_no_change(tmp_path, capsys):
    paths = {"json_path": str(tmp_path / "a.json"), "html_path": str(tmp_path / "a.html")}
    result = run(capsys, organizations=ORGANIZATIONS, generated_at="2026-11-27T00:00:00Z", **paths)
    assert result["changed"] is True
    assert result["summary"]["status"] == "failure"
    assert any("Below Exchange 2013 CU3" in line for line in result["failures"])
    with open(paths["json_path"], encoding="utf-8") as handle:
        assert json.load(handle) == result["report"]
    assert os.path.getsize(paths["html_path"]) > 1000
    again = run(capsys, organizations=ORGANIZATIONS, generated_at="2026-11-27T00:00:00Z", **paths)
    assert again["changed"] is False


def test_check_mode_writes_nothing(tmp_path, capsys):
    path = tmp_path / "a.json"
    result = run(capsys, organizations=ORGANIZATIONS, json_path=str(path), _ansible_check_mode=True)
    assert result["changed"] is False and not path.exists()
    assert result["report"]["schema_version"] == 1


def test_missing_directory_and_negative_window_are_refused(tmp_path, capsys):
    result = run(capsys, organizations=ORGANIZATIONS, html_path=str(tmp_path / "nope" / "a.html"))
    assert result["failed"] and "html_path" in result["msg"] and "does not exist" in result["msg"]
    result = run(capsys, organizations=ORGANIZATIONS, warning_days=-1)
    assert result["failed"] and "warning_days" in result["msg"]


def test_an_organization_that_was_not_read_is_a_finding_not_a_failure(capsys):
    unread = [dict(ORGANIZATIONS[0], exchange={"failed": False, "msg": "connection refused"}, hosts=["EX01", "EX02"])]
    result = run(capsys, organizations=unread)
    assert "failed" not in result and result["summary"]["status"] == "failure"
    assert result["failures"] == ["(not reached)/EX01: Not audited", "(not reached)/EX02: Not audited"]
