# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Set-up and shared helpers of the Exchange modules: ``exchange_module()``, ``client_for()``, the host facts, the
servers' facts, the Auth certificate's checks, the diff.

PRIVATE to the collection: it can change at any time.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.exchange.hybrid.plugins.module_utils._errors import ExchangeError
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange import HAS_PYPSRP, PYPSRP_IMPORT_ERROR, ExchangeClient, host_script
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange_connection import (
    CONNECTION_ARGUMENT_SPEC,
    CONNECTION_OPTIONS,
    connection_problem,
)
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange_versions import (
    best_version,
    format_version,
    graph_flow_needs,
    graph_flow_support,
    meets_push_minimum,
    parameter_support,
    product_name,
    version_tuple,
)
from ansible_collections.exchange.hybrid.plugins.module_utils._module import HybridModule, hybrid_module
from ansible_collections.exchange.hybrid.plugins.module_utils._values import parse_utc, utc_now


def exchange_module(argument_spec: dict, **kwargs: Any) -> HybridModule:
    """A module with the connection options merged in, check mode on, pypsrp and the options checked."""
    module = hybrid_module(
        CONNECTION_ARGUMENT_SPEC, argument_spec, [] if HAS_PYPSRP else [("pypsrp", PYPSRP_IMPORT_ERROR)], **kwargs
    )
    problem = connection_problem(module.params)
    if problem:
        module.fail_json(msg=problem)
    return module


def client_for(module: AnsibleModule) -> ExchangeClient:
    """The module's Exchange client; a ``HybridModule`` closes its runspace pools when it exits."""
    client = ExchangeClient({name: module.params.get(name) for name in CONNECTION_OPTIONS})
    if isinstance(module, HybridModule):
        module.add_client(client)
    return client


def now_for(client: ExchangeClient) -> dt.datetime:
    return client.server_utc_now or utc_now()


def diff_result(module: AnsibleModule, result: dict, before: Any, after: Any) -> dict:
    if module._diff:
        result["diff"] = {"before": before, "after": after}
    return result


# ---------------------------------------------------------------- servers

SERVER_PROPERTIES = ["Name", "Fqdn", "Domain", "Edition", "AdminDisplayVersion", "ServerRole", "Site", "IsEdgeServer"]
HOST_FACTS_PROPERTIES = ["ComputerName", "UtcNow", "ExSetupPath", "FileVersion"]


def read_host_facts(client: ExchangeClient) -> Optional[str]:
    """The server's name and clock (kept on the client) and ExSetup's file version, from the default endpoint.

    A default endpoint that cannot be reached is a warning, not a failure: the Exchange facts still hold, only the
    hotfix level and the server's clock are then unknown (the controller's clock is used).
    """
    try:
        rows = client.run([host_script("host_facts", HOST_FACTS_PROPERTIES)])[0]
    except ExchangeError as exc:
        client.warnings.append(
            "could not read the ExSetup version and clock of %s from its default WinRM endpoint: %s"
            % (client.server, exc.msg)
        )
        return None
    facts = rows[0] if rows else {}
    client.computer_name = facts.get("ComputerName") or client.computer_name
    client.server_utc_now = parse_utc(facts.get("UtcNow")) or client.server_utc_now
    exsetup = facts.get("FileVersion")
    return str(exsetup) if exsetup else None


def run_reads(client: ExchangeClient, calls: list[dict]) -> tuple[list[list[dict]], Optional[str]]:
    """Run read ``calls`` on the Exchange endpoint and the host facts on the default one: (outputs, ExSetup)."""
    outputs = client.run(list(calls))
    return outputs, read_host_facts(client)


def find_connected(rows: list[dict], client: ExchangeClient) -> Optional[dict]:
    """The Get-ExchangeServer row of the server the runner ran on."""
    names = [n.lower() for n in (client.computer_name, client.server) if n]
    for row in rows:
        if str(row.get("Name") or "").lower() in names or str(row.get("Fqdn") or "").lower() in names:
            return row
    short = client.server.split(".")[0].lower()
    for row in rows:
        if str(row.get("Name") or "").lower() == short:
            return row
    return rows[0] if len(rows) == 1 else None


def server_facts(row: dict, exsetup: Optional[str] = None, connected: bool = False) -> dict:
    version = version_tuple(row.get("AdminDisplayVersion"))
    effective = best_version(row.get("AdminDisplayVersion"), exsetup if connected else None)
    roles = row.get("ServerRole")
    if isinstance(roles, str):
        roles = [r.strip() for r in roles.split(",") if r.strip()]
    site = row.get("Site")
    hybrid = parameter_support(
        "Set-AuthServer", "ApplicationIdentifier", row.get("AdminDisplayVersion"), exsetup if connected else None
    )
    graph_flow = graph_flow_support(row.get("AdminDisplayVersion"), exsetup if connected else None)
    return {
        "name": row.get("Name"),
        "fqdn": row.get("Fqdn"),
        "domain": row.get("Domain"),
        "edition": row.get("Edition"),
        "admin_display_version": ("Version %d.%d (Build %d.%d)" % version if version else None),
        "version": format_version(version),
        "build": dict(zip(("major", "minor", "build", "revision"), version)) if version else None,
        "exsetup_version": format_version(version_tuple(exsetup)) if (connected and exsetup) else None,
        "effective_version": format_version(effective),
        "product": product_name(version) if version else None,
        "roles": roles or [],
        "site": site,
        "site_name": str(site).rsplit("/", 1)[-1] if site else None,
        "is_edge": bool(row.get("IsEdgeServer")),
        "connected": connected,
        "meets_push_minimum": meets_push_minimum(version),
        "supports_hybrid_application": bool(hybrid) and not row.get("IsEdgeServer"),
        "supports_hybrid_application_known": hybrid is not None,
        "supports_graph_flow": bool(graph_flow) and not row.get("IsEdgeServer"),
        "supports_graph_flow_known": graph_flow is not None,
        "graph_flow_needs": None if graph_flow or row.get("IsEdgeServer") else graph_flow_needs(effective),
        "supports_auth_server_domain_name": bool(
            parameter_support(
                "New-AuthServer", "DomainName", row.get("AdminDisplayVersion"), exsetup if connected else None
            )
        ),
    }


MINIMUM_AUTH_KEY_SIZE = 2048


def auth_certificate_problems(cert: dict, now: dt.datetime, key_size: int = MINIMUM_AUTH_KEY_SIZE) -> list[str]:
    """Why ``cert`` (Get-ExchangeCertificate properties) cannot be the Auth certificate; empty when it can."""
    found = []
    if not cert.get("HasPrivateKey"):
        found.append("it has no private key")
    if cert.get("PrivateKeyExportable") is False:
        found.append("its private key is not exportable")
    size = cert.get("PublicKeySize")
    if isinstance(size, int) and size < key_size:
        found.append("its key has %d bits (at least %d needed)" % (size, key_size))
    end, start = parse_utc(cert.get("NotAfter")), parse_utc(cert.get("NotBefore"))
    if end is not None and end <= now:
        found.append("it expired on %s" % cert.get("NotAfter"))
    if start is not None and start > now + dt.timedelta(days=1):
        found.append("it is not valid before %s" % cert.get("NotBefore"))
    if str(cert.get("Status") or "") in ("Revoked", "Invalid", "DateInvalid"):
        found.append("its status is %s" % cert.get("Status"))
    return found
