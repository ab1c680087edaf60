"""tenant_info against a fake Graph client layer."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.exchange.hybrid.plugins.module_utils._errors import GraphError
from ansible_collections.exchange.hybrid.plugins.modules import tenant_info

TID = "6a4b3c2d-1e0f-4a5b-8c7d-9e8f7a6b5c4d"
CONFIG = {
    "issuer": f"https://login.microsoftonline.com/{TID}/v2.0",
    "token_endpoint": f"https://login.microsoftonline.com/{TID}/oauth2/v2.0/token",
    "tenant_region_scope": "EU",
    "cloud_instance_name": "microsoftonline.com",
}
ORG = {
    "id": TID,
    "displayName": "Contoso",
    "verifiedDomains": [
        {"name": "contoso.onmicrosoft.com", "isDefault": False, "isInitial": True, "type": "Managed", "capabilities": "Email"},
        {"name": "contoso.com", "isDefault": True, "isInitial": False, "type": "Managed", "capabilities": "Email"},
    ],
}


class FakeClient:
    def __init__(self, params, fail=None):
        self.params = params
        self.tenant = params["tenant"]
        self.cloud = params["cloud"]
        self.login_url = "https://login.microsoftonline.com"
        self.graph_url = "https://graph.microsoft.com"
        self.warnings = []
        self.calls = []
        self.fail = fail

    def openid_configuration(self):
        self.calls.append("openid")
        if self.fail == "tenant":
            raise GraphError(
                "Failed to find tenant 'x' in cloud 'global' (https://login.microsoftonline.com): invalid_tenant: AADSTS90002: Tenant 'x' not found.",
                status=400,
                code="AADSTS90002",
            )
        return dict(CONFIG)

    def get_all(self, path, what, params=None, permission=None):
        self.calls.append(path)
        assert permission == "Organization.Read.All"
        if self.fail == "403":
            raise GraphError(
                f"Failed to {what}: Authorization_RequestDenied: Insufficient privileges to complete the operation. "
                "(request-id r). The application needs the Microsoft Graph application permission Organization.Read.All "
                "with admin consent",
                status=403,
            )
        return [ORG]


def run(monkeypatch, capsys, fail=None, **args):
    clients = []

    def factory(params):
        clients.append(FakeClient(params, fail))
        return clients[-1]

    monkeypatch.setattr(tenant_info, "GraphClient", factory)
    with patch_module_args(dict({"tenant": "contoso.onmicrosoft.com"}, **args)):
        with pytest.raises(SystemExit):
            tenant_info.main()
    return json.loads(capsys.readouterr().out), clients[0]


def test_without_credentials_only_the_openid_configuration(monkeypatch, capsys):
    result, client = run(monkeypatch, capsys)
    assert client.calls == ["openid"]
    assert result["tenant_id"] == TID and result["changed"] is False and result["cloud"] == "global"
    assert result["tenant_region_scope"] == "EU" and "verified_domains" not in result


def test_with_credentials_the_verified_domains(monkeypatch, capsys):
    result, client = run(monkeypatch, capsys, client_id="c", client_secret="secret-canary-9")
    assert client.calls == ["openid", "organization"]
    assert result["display_name"] == "Contoso"
    assert result["default_domain"] == "contoso.com" and result["initial_domain"] == "contoso.onmicrosoft.com"
    assert result["verified_domains"][0] == {
        "name": "contoso.onmicrosoft.com",
        "is_default": False,
        "is_initial": True,
        "type": "Managed",
        "capabilities": "Email",
    }
    assert "secret-canary-9" not in json.dumps(result)


def test_unknown_tenant_fails_clearly(monkeypatch, capsys):
    result, _client = run(monkeypatch, capsys, fail="tenant")
    assert result["failed"] and "AADSTS90002" in result["msg"]
    assert result["graph_error"]["code"] == "AADSTS90002"


def test_missing_organization_permission_is_named(monkeypatch, capsys):
    result, _client = run(monkeypatch, capsys, fail="403", access_token="a.b.c")
    assert result["failed"] and "Organization.Read.All" in result["msg"]


def test_tenant_id_from_issuer_when_token_endpoint_has_none():
    assert tenant_info.tenant_id_from({"issuer": f"https://sts.windows.net/{TID.upper()}/"}) == TID
    assert tenant_info.tenant_id_from({"token_endpoint": "https://x/common/oauth2/token"}) is None


def test_check_mode_is_supported(monkeypatch, capsys):
    result, _client = run(monkeypatch, capsys, _ansible_check_mode=True)
    assert result["tenant_id"] == TID
