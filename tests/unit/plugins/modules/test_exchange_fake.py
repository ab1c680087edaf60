# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A tiny in-memory Exchange for the WinRM modules' unit tests (the e2e tests use the real simulator)."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import os

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

NOW = dt.datetime(2026, 11, 27, 12, 0, 0, tzinfo=dt.timezone.utc)


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_cert(name="Exchange S2S OAuth", days=365, key=2048, exportable=True, private=True, start_days=-1):
    der = os.urandom(64)
    return {
        "Thumbprint": hashlib.sha1(der).hexdigest().upper(),
        "FriendlyName": name,
        "Subject": "CN=contoso.com",
        "CertificateDomains": ["contoso.com"],
        "Services": "Federation",
        "PublicKeySize": key,
        "NotBefore": iso(NOW + dt.timedelta(days=start_days)),
        "NotAfter": iso(NOW + dt.timedelta(days=days)),
        "HasPrivateKey": private,
        "PrivateKeyExportable": exportable,
        "Status": "Valid",
        "IsSelfSigned": True,
        "RawData": base64.b64encode(der).decode(),
    }


class FakeExchange:
    def __init__(self, version=(15, 2, 1748, 10), exsetup="15.2.1748.24", certs=None, auth=None, auth_servers=None):
        self.server = {
            "Name": "EX01",
            "Fqdn": "ex01.contoso.com",
            "Domain": "contoso.com",
            "Edition": "Standard",
            "AdminDisplayVersion": dict(zip(("Major", "Minor", "Build", "Revision"), version)),
            "ServerRole": "Mailbox",
            "Site": "contoso.com/Configuration/Sites/Default-First-Site-Name",
            "IsEdgeServer": False,
        }
        self.exsetup = exsetup
        self.certs = certs or []
        self.auth = auth or {
            "CurrentCertificateThumbprint": None,
            "NextCertificateThumbprint": None,
            "PreviousCertificateThumbprint": None,
            "NextCertificateEffectiveDate": None,
        }
        self.auth_servers = auth_servers or []
        self.files = {}
        self.calls = []

    def snapshot(self):
        return copy.deepcopy((self.certs, self.auth, self.auth_servers, self.files))

    def handle(self, entry):
        name, p = entry["cmdlet"], entry.get("parameters", {})
        self.calls.append(entry)
        if name == "Get-ExchangeServer":
            return [self.server]
        if name == "Get-OrganizationConfig":
            return [{"Name": "Contoso", "Guid": "0b0e0e0e-0000-0000-0000-000000000001", "Identity": "Contoso"}]
        if name == "host_facts":
            return [{"ComputerName": "EX01", "UtcNow": iso(NOW), "FileVersion": self.exsetup}]
        if name == "Get-ExchangeCertificate":
            return self.certs
        if name == "Get-AuthConfig":
            return [self.auth]
        if name == "New-ExchangeCertificate":
            cert = make_cert(p["FriendlyName"], key=p["KeySize"])
            cert["Services"] = p["Services"]
            self.certs.append(cert)
            return [cert]
        if name == "Set-AuthConfig":
            if "CertificateThumbprint" in p:
                self.auth["CurrentCertificateThumbprint"] = p["CertificateThumbprint"]
            elif "NewCertificateThumbprint" in p:
                self.auth["NextCertificateThumbprint"] = p["NewCertificateThumbprint"]
                self.auth["NextCertificateEffectiveDate"] = p["NewCertificateEffectiveDate"]
            elif p.get("PublishCertificate"):
                self.auth["PreviousCertificateThumbprint"] = self.auth["CurrentCertificateThumbprint"]
                self.auth["CurrentCertificateThumbprint"] = self.auth["NextCertificateThumbprint"]
                self.auth["NextCertificateThumbprint"] = None
                self.auth["NextCertificateEffectiveDate"] = None
            elif p.get("ClearPreviousCertificate"):
                self.auth["PreviousCertificateThumbprint"] = None
            return []
        if name == "Export-ExchangeCertificate":
            return [{"FileData": next(c["RawData"] for c in self.certs if c["Thumbprint"] == p["Thumbprint"])}]
        if name == "write_file":
            changed = self.files.get(p["Path"]) != p["Base64Content"]
            if changed and not p.get("CheckOnly"):
                self.files[p["Path"]] = p["Base64Content"]
            return [{"Path": p["Path"], "Changed": changed}]
        if name == "Get-AuthServer":
            return self.auth_servers
        if name == "New-AuthServer":
            row = {
                "Name": p["Name"],
                "Type": p.get("Type", "MicrosoftACS"),
                "AuthMetadataUrl": p["AuthMetadataUrl"],
                "Enabled": p.get("Enabled", True),
                "Realm": None,
                "IssuerIdentifier": None,
                "ApplicationIdentifier": None,
                "DomainName": p.get("DomainName", []),
                "IsDefaultAuthorizationEndpoint": False,
            }
            self.auth_servers.append(row)
            return []
        if name == "Set-AuthServer":
            row = next(r for r in self.auth_servers if r["Name"] == p["Identity"])
            row.update({k: v for k, v in p.items() if k != "Identity"})
            return []
        if name == "Remove-AuthServer":
            self.auth_servers = [r for r in self.auth_servers if r["Name"] != p["Identity"]]
            return []
        raise AssertionError("unexpected cmdlet " + name)


class FakeClient:
    def __init__(self, exchange):
        self.exchange = exchange
        self.batches = []
        self.computer_name = "EX01"
        self.server = "ex01.contoso.com"
        self.warnings = []
        self.server_utc_now = NOW

    @property
    def exchange_batches(self):
        """The batches sent to the Exchange endpoint (the host facts go to the default endpoint)."""
        return [batch for batch in self.batches if batch != ["host_facts"]]

    def run(self, calls):
        self.batches.append([c["cmdlet"] for c in calls])
        return [list(self.exchange.handle(c)) for c in calls]


class Exit(Exception):
    def __init__(self, failed, result):
        super().__init__(result.get("msg"))
        self.failed = failed
        self.result = result


def run_module(monkeypatch, module, args, exchange=None, check=False, diff=False):
    client = FakeClient(exchange) if exchange is not None else None

    def no_client(_module):
        raise AssertionError("the module connected although it should have refused the input first")

    monkeypatch.setattr(module, "client_for", (lambda _m: client) if client else no_client)

    def exit_json(self, **kwargs):
        raise Exit(False, kwargs)

    def fail_json(self, **kwargs):
        raise Exit(True, kwargs)

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
    full = {"server": "ex01.contoso.com", "username": "CONTOSO\\exadmin", "password": "pw-canary"}
    full.update(args)
    if check:
        full["_ansible_check_mode"] = True
    if diff:
        full["_ansible_diff"] = True
    with patch_module_args(full):
        with pytest.raises(Exit) as info:
            module.main()
    return info.value, client
