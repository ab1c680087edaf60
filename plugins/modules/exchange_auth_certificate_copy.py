#!/usr/bin/python
# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: exchange_auth_certificate_copy
short_description: Copy the Auth certificate, with its private key, to every Exchange server that lacks it
version_added: 0.1.0
description:
  - OAuth breaks on a server that lacks AuthConfig's current Auth certificate or its private key. Exchange's
    AuthAdmin servicelet normally deploys it; when it did not (replication across Active Directory sites, a server
    added later), Microsoft's MonitorExchangeAuthCertificate.ps1 copies it instead of creating a new one (CSS-Exchange
    issue 1662), exported with its private key from a server that holds it and imported where it is missing. This
    module does the same through one Exchange session, on the server it connects to.
  - Reads AuthConfig and every server's certificate store (C(Get-ExchangeCertificate -Server)); for each certificate
    to copy, C(Export-ExchangeCertificate -Server <holder> -Thumbprint <t> -BinaryEncoded -Password <p>) and
    C(Import-ExchangeCertificate -Server <s> -FileData <pfx> -Password <p> -PrivateKeyExportable $true) on each server
    that lacks it; a server that holds the certificate without its private key first loses that copy
    (C(Remove-ExchangeCertificate), the same thumbprint). Then the stores are read again.
  - The PFX password is generated for each run (Python's C(secrets)), travels only as a SecureString parameter
    (encrypted with the PowerShell session's key), and is never returned or logged; the PFX bytes travel only as
    the C(-FileData) parameter and are never written to disk.
  - Idempotent. When every server that answered holds the certificate with its private key, nothing is written.
options:
  include_next:
    description:
      - Also copy AuthConfig's staged next certificate (as Microsoft's Export-ExchangeAuthCertificate does), so the
        switch on its effective date finds it on every server.
    type: bool
    default: true
notes:
  - Edge Transport servers are left out (their stores are not read). A server that does not answer is reported
    in RV(unreachable) and left as it is.
  - The holder is the first server (the connected one first) whose copy has an exportable private key; without
    one the module fails and says so, before anything is written.
  - In check mode nothing is exported or imported; RV(copies) says what would be.
seealso:
  - module: exchange.hybrid.exchange_auth_info
  - module: exchange.hybrid.exchange_oauth_cert
  - name: Import-ExchangeCertificate
    description: Microsoft's cmdlet reference.
    link: https://learn.microsoft.com/powershell/module/exchangepowershell/import-exchangecertificate
  - name: Export-ExchangeCertificate
    description: Microsoft's cmdlet reference (an exportable private key is required, -Password includes it).
    link: https://learn.microsoft.com/powershell/module/exchangepowershell/export-exchangecertificate
author:
  - exchange.hybrid contributors (@exchange-hybrid)
extends_documentation_fragment:
  - exchange.hybrid.exchange_connection
  - exchange.hybrid.attributes
  - exchange.hybrid.attributes.action_plugin
  - exchange.hybrid.actiongroup_exchange
"""

EXAMPLES = r"""
- name: Every Exchange server holds the Auth certificate with its private key
  exchange.hybrid.exchange_auth_certificate_copy:
  run_once: true
  register: copied

- name: Only the current certificate
  exchange.hybrid.exchange_auth_certificate_copy:
    include_next: false
  run_once: true
"""

RETURN = r"""
copies:
  description: One entry per certificate copied (or, in check mode, to copy); empty when nothing was needed.
  returned: success
  type: list
  elements: dict
  contains:
    thumbprint:
      description: The certificate.
      type: str
    role:
      description: V(current) or V(next), as AuthConfig names it.
      type: str
    source:
      description: The server it was exported from.
      type: str
    servers:
      description: The servers it was imported to.
      type: list
      elements: str
    replaced:
      description: Of those, the servers whose copy without a private key was removed first.
      type: list
      elements: str
servers:
  description: Per server that answered, whether it holds each certificate with its private key, after the run
    (predicted in check mode).
  returned: success
  type: dict
  sample: {"EX01": {"current": true, "next": null}, "EX02": {"current": true, "next": null}}
unreachable:
  description: Servers whose certificate store could not be read, with Exchange's error.
  returned: success
  type: list
  elements: dict
"""

import base64
import secrets
from dataclasses import dataclass, field
from typing import Any, Optional

from ansible_collections.exchange.hybrid.plugins.module_utils._auth_certificates import read_stores, store_state
from ansible_collections.exchange.hybrid.plugins.module_utils._errors import ExchangeError, fail_from_error
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange import call
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange_module import (
    SERVER_PROPERTIES,
    client_for,
    diff_result,
    exchange_module,
    find_connected,
    now_for,
    run_reads,
)
from ansible_collections.exchange.hybrid.plugins.module_utils._values import SecureText, thumbprint_key

ARGUMENT_SPEC = dict(include_next=dict(type="bool", default=True))
AUTH_PROPERTIES = ["CurrentCertificateThumbprint", "NextCertificateThumbprint"]


class Refused(Exception):
    """Nothing can be copied as asked: the module fails with ``msg`` before anything is written."""

    def __init__(self, msg: str) -> None:
        super().__init__(msg)
        self.msg = msg


@dataclass
class Copy:
    thumbprint: str
    role: str
    source: str
    servers: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)

    def view(self) -> dict:
        return dict(
            thumbprint=self.thumbprint, role=self.role, source=self.source, servers=self.servers, replaced=self.replaced
        )


@dataclass
class Stores:
    """AuthConfig's certificates and what each server's store holds of them."""

    wanted: dict[str, str]  # role -> thumbprint
    states: dict[str, dict[str, dict]]  # server -> role -> store_state()
    unreachable: list[dict]

    def holds(self) -> dict[str, dict[str, Optional[bool]]]:
        return {
            name: {role: held(roles[role]) if role in roles else None for role in ("current", "next")}
            for name, roles in self.states.items()
        }


def held(state: dict) -> bool:
    return bool(state["present"] and state["has_private_key"])


def read(client: Any, include_next: bool) -> Stores:
    (servers, auth_rows), _exsetup = run_reads(
        client, [call("Get-ExchangeServer", SERVER_PROPERTIES), call("Get-AuthConfig", AUTH_PROPERTIES)]
    )
    auth = auth_rows[0] if auth_rows else {}
    wanted = {"current": thumbprint_key(auth.get("CurrentCertificateThumbprint"))}
    if include_next:
        wanted["next"] = thumbprint_key(auth.get("NextCertificateThumbprint"))
    wanted = {role: thumb for role, thumb in wanted.items() if thumb}
    connected = find_connected(servers, client)
    # The connected server first: it is the preferred source.
    order = [row for row in sorted(servers, key=lambda row: row is not connected) if not row.get("IsEdgeServer")]
    now = now_for(client)
    states: dict[str, dict[str, dict]] = {}
    unreachable = []
    for row, (certificates, error) in zip(order, read_stores(client, order)):
        if certificates is None:
            unreachable.append({"name": row["Name"], "error": error})
            continue
        states[row["Name"]] = {role: store_state(thumb, certificates, now) for role, thumb in wanted.items()}
    return Stores(wanted, states, unreachable)


def plan(stores: Stores) -> list[Copy]:
    copies = []
    for role, thumb in stores.wanted.items():
        lacking = [name for name, roles in stores.states.items() if not held(roles[role])]
        if not lacking:
            continue
        source = next(
            (name for name, roles in stores.states.items() if held(roles[role]) and roles[role]["private_key_exportable"]),
            None,
        )
        if source is None:
            raise Refused(
                "Failed to copy the %s Auth certificate %s to %s: no server holds it with an exportable private key "
                "(Export-ExchangeCertificate needs PrivateKeyExportable true); create a new Auth certificate "
                "(exchange_oauth_cert) instead" % (role, thumb, ", ".join(lacking))
            )
        copy = Copy(thumb, role, source, lacking)
        copy.replaced = [name for name in lacking if stores.states[name][role]["present"]]
        copies.append(copy)
    return copies


def apply(client: Any, copies: list[Copy], progress: dict) -> None:
    """Per certificate: export it once with a password of this run, then import it where it is missing."""
    for copy in copies:
        password = SecureText(secrets.token_urlsafe(32))
        [rows] = client.run(
            [
                call(
                    "Export-ExchangeCertificate",
                    ["FileData"],
                    Server=copy.source,
                    Thumbprint=copy.thumbprint,
                    BinaryEncoded=True,
                    Password=password,
                )
            ]
        )
        data = base64.b64decode(rows[0]["FileData"]) if rows and rows[0].get("FileData") else None
        if not data:
            raise Refused("Failed to export the Auth certificate %s from %s: Exchange returned no file data"
                          % (copy.thumbprint, copy.source))
        calls = []
        for name in copy.servers:
            if name in copy.replaced:
                calls.append(call("Remove-ExchangeCertificate", None, Server=name, Thumbprint=copy.thumbprint, Confirm=False))
            calls.append(
                call("Import-ExchangeCertificate", None, Server=name, FileData=data, Password=password, PrivateKeyExportable=True)
            )
        progress["changed"] = True  # a removal or an import may have run before a failure
        client.run(calls)


def run(module: Any, progress: dict) -> dict:
    client = client_for(module)
    include_next = module.params["include_next"]
    before = read(client, include_next)
    copies = plan(before)
    after = before.holds()
    if copies and not module.check_mode:
        apply(client, copies, progress)
        after = read(client, include_next).holds()
    elif copies:
        for copy in copies:
            for name in copy.servers:
                after[name][copy.role] = True
    for gone in before.unreachable:
        module.warn("the certificate store of %s could not be read: %s" % (gone["name"], gone["error"]))
    result = dict(
        changed=bool(copies),
        copies=[copy.view() for copy in copies],
        servers=after,
        unreachable=before.unreachable,
    )
    return diff_result(module, result, {"servers": before.holds()}, {"servers": after})


def main() -> None:
    module = exchange_module(ARGUMENT_SPEC)
    progress = {"changed": False}
    try:
        module.exit_json(**run(module, progress))
    except Refused as refused:
        module.fail_json(msg=refused.msg, **progress)
    except ExchangeError as exc:
        fail_from_error(module, exc, "copy the Auth certificate through %s" % module.params["server"], **progress)


if __name__ == "__main__":
    main()
