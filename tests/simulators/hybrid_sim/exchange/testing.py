"""A small harness for driving one simulated organization directly (no WS-Management/PSRP in between).

``run(calls)`` executes a batch of ``call(...)`` dicts one after the other (each call in its own state transaction,
through ``execute_call``/``execute_host_call``, as the PSRP endpoints run them) and answers with a small envelope in
the state's JSON value forms, so tests can assert on plain values; the batch stops at the first failing call, whose
effects are undone while the earlier calls' stay. ``exchange(...)``/``host(...)`` drive the real PSRP handlers
with ``PipelineRequest``s and return their ``PipelineResult``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from typing import Any, Iterable, Optional

from ansible_collections.exchange.hybrid.plugins.module_utils import _cmdlet_catalog as catalog

from ..state import StateStore, iso, now
from ..wsman.pipeline import (
    DEFAULT_CONFIGURATION,
    EXCHANGE_CONFIGURATION,
    Command,
    PipelineRequest,
    PipelineResult,
)
from . import certificates as certs
from .cmdlets import CmdletError
from .handler import (
    CatalogError,
    command_not_found,
    error_target,
    exchange_type,
    execute_call,
    make_exchange_handler,
    remote_error,
)
from .host import execute_host_call, host_type, is_host_cmdlet, make_host_handler
from .organization import initial_exchange_state

E2013_CU23 = {"name": "EX2013", "version": "Version 15.0 (Build 1497.2)"}
E2016_CU23 = {"name": "EX2016", "version": "Version 15.1 (Build 2507.6)"}
E2016_CU23_HU = {"name": "EX2016", "version": "Version 15.1 (Build 2507.6)", "exsetup_build": "15.1.2507.55"}
E2019_CU15_HU = {"name": "EX2019", "version": "Version 15.2 (Build 1748.10)", "exsetup_build": "15.2.1748.24"}
DEFAULT_USER = "CONTOSO\\exadmin"


def normalise(value: Any) -> Any:
    """Rows in the state's JSON forms (stored values mostly are already): bytes -> base64, a ServerVersion dict ->
    its four ints, any other object -> str."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        if set(value) == {"Major", "Minor", "Build", "Revision"}:
            return {k: int(value[k]) for k in ("Major", "Minor", "Build", "Revision")}
        return str(value)
    if isinstance(value, (list, tuple)):
        return [normalise(v) for v in value]
    return str(value)


class ExchangeHarness:
    """``state.json`` (+ ``calls.jsonl``) in ``directory``; ``run(calls, server)`` returns (exit code, envelope)."""

    def __init__(
        self,
        directory: str,
        servers: Iterable[Any] = (E2013_CU23, E2016_CU23_HU, E2019_CU15_HU),
        entra: Optional[dict[str, Any]] = None,
        **options: Any,
    ) -> None:
        self.path = os.path.join(directory, "state.json")
        self.store = StateStore(self.path)
        state = {
            "clock_offset_seconds": 0,
            "exchange": initial_exchange_state(servers, **options),
            "entra": entra or {},
        }
        self.store.write(state)
        self.calls_path = os.path.join(directory, "calls.jsonl")

    def run(self, calls: list[dict[str, Any]], server: Optional[str] = None) -> tuple[int, dict[str, Any]]:
        """Run ``calls`` in order, stopping at the first failure. Envelope: ``{"ok", "computer_name", "utc_now",
        "results": [{"cmdlet", "output"}], "error": {"index", "cmdlet", "kind": "cmdlet", "message", "category",
        "fully_qualified_error_id"} | None}``; ``output`` holds the rows reduced to the call's ``properties`` (none
        when the call names none)."""
        server = server or self.first_server
        state = self.state()
        envelope: dict[str, Any] = {
            "ok": False,
            "computer_name": server.upper(),
            "utc_now": iso(now(state)),
            "results": [],
            "error": None,
        }
        for index, entry in enumerate(calls):
            name = entry["cmdlet"]
            parameters = entry.get("parameters") or {}
            record = None
            rows: list[dict[str, Any]] = []
            try:
                if catalog.is_exchange_cmdlet(name):
                    rows = execute_call(self.store, server, name, parameters)
                elif is_host_cmdlet(name):
                    rows, errors = execute_host_call(self.store, server, name, parameters)
                    if errors:
                        record = remote_error(errors[0], host_type(name), getattr(errors[0], "target", None))
                else:
                    raise command_not_found(name)
            except (CatalogError, CmdletError) as exc:
                if catalog.is_exchange_cmdlet(name):
                    type_name: Optional[str] = exchange_type(catalog.canonical_cmdlet(name))
                else:
                    type_name = host_type(name) if is_host_cmdlet(name) else None
                record = remote_error(exc, type_name, error_target(parameters) or name)
            if record is not None:
                envelope["error"] = {
                    "index": index,
                    "cmdlet": name,
                    "kind": "cmdlet",
                    "message": record.message,
                    "category": record.category,
                    "fully_qualified_error_id": record.fully_qualified_error_id,
                }
                return 1, envelope
            properties = entry.get("properties")
            output = []
            if properties is not None:
                wanted = [str(p) for p in (properties if isinstance(properties, list) else [properties])]
                output = [{p: normalise(row.get(p)) for p in wanted} for row in rows]
            envelope["results"].append({"cmdlet": name, "output": output})
        envelope["ok"] = True
        return 0, envelope

    def ok(self, calls: list[dict[str, Any]], server: Optional[str] = None) -> list[list[dict[str, Any]]]:
        """Run and insist on success; returns each call's output."""
        code, envelope = self.run(calls, server)
        assert code == 0 and envelope["ok"], envelope["error"]
        return [r["output"] for r in envelope["results"]]

    def fail(self, calls: list[dict[str, Any]], server: Optional[str] = None) -> dict[str, Any]:
        """Run and insist on failure; returns the envelope's error."""
        code, envelope = self.run(calls, server)
        assert code == 1 and not envelope["ok"], envelope
        return envelope["error"]

    # -- the PSRP handlers ----------------------------------------------------------------------------------------
    def exchange(self, *commands: Command, server: Optional[str] = None, user: str = DEFAULT_USER) -> PipelineResult:
        """One pipeline on the server's Microsoft.Exchange endpoint."""
        server = server or self.first_server
        request = PipelineRequest(server, EXCHANGE_CONFIGURATION, user, tuple(commands))
        return make_exchange_handler(self.store, server)(request)

    def host(self, *commands: Command, server: Optional[str] = None, user: str = DEFAULT_USER) -> PipelineResult:
        """One pipeline on the server's default endpoint (Microsoft.PowerShell)."""
        server = server or self.first_server
        request = PipelineRequest(server, DEFAULT_CONFIGURATION, user, tuple(commands))
        return make_host_handler(self.store, server)(request)

    @property
    def first_server(self) -> str:
        return sorted(self.state()["exchange"]["servers"])[0]

    def state(self) -> dict[str, Any]:
        return self.store.read()

    def edit(self) -> Any:
        return self.store.transaction()

    def edit_auth_config(self, **values: Any) -> None:
        """Set AuthConfig's properties (``CurrentCertificateThumbprint=...``) as an administrator could."""
        with self.store.transaction() as state:
            state["exchange"]["auth_config"].update(values)

    def edit_store(self, server: str, thumbprint: str, remove: bool = False, **values: Any) -> None:
        """Change (or, with ``remove``, delete) the certificate ``thumbprint`` in ``server``'s store."""
        with self.store.transaction() as state:
            store = state["exchange"]["servers"][server]["certificates"]
            cert = next(c for c in store if c["Thumbprint"] == thumbprint)
            if remove:
                store.remove(cert)
            cert.update(values)

    def move_clock(self, seconds: float) -> None:
        with self.store.transaction() as state:
            state["clock_offset_seconds"] = state.get("clock_offset_seconds", 0) + seconds

    def add_certificate(
        self,
        servers: Iterable[str],
        friendly_name: str = "Exchange S2S OAuth",
        issued_days_ago: float = 1,
        years: int = certs.SELF_SIGNED_YEARS,
        key_size: int = 2048,
        signature_hash: str = "sha256",
        has_private_key: bool = True,
        private_key_exportable: bool = True,
        services: str = "Federation",
    ) -> str:
        """Put one new self-signed certificate into the stores of ``servers``; returns its thumbprint."""
        with self.store.transaction() as state:
            issued = now(state) - dt.timedelta(days=issued_days_ago)
            der = certs.make_certificate(
                issued, "CN=contoso.com", ["contoso.com"], key_size, years=years, signature_hash=signature_hash
            )[0]
            for name in servers:
                server = state["exchange"]["servers"][name]
                server["certificates"].append(
                    certs.store_entry(
                        der, server["fqdn"], friendly_name, services, has_private_key, private_key_exportable
                    )
                )
        return certs.thumbprint(der)

    def calls(self) -> list[dict[str, Any]]:
        if not os.path.exists(self.calls_path):
            return []
        with open(self.calls_path, encoding="ascii") as handle:
            return [json.loads(line) for line in handle if line.strip()]


def call(cmdlet: str, properties: Optional[list[str]] = None, **parameters: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"cmdlet": cmdlet, "parameters": parameters}
    if properties is not None:
        entry["properties"] = properties
    return entry


def command(name: str, *arguments: Any, **parameters: Any) -> Command:
    """A PSRP command: ``command("Get-AuthServer", Identity="x")``; positional ``arguments`` first."""
    pairs = [(None, a) for a in arguments] + list(parameters.items())
    return Command(name, False, tuple(pairs))


def script(text: str, *arguments: Any, **parameters: Any) -> Command:
    """A PSRP script command (``add_script``): the text, positional ``arguments`` first, then named parameters."""
    pairs = [(None, a) for a in arguments] + list(parameters.items())
    return Command(text, True, tuple(pairs))
