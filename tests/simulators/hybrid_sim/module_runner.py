"""One harness for running a collection module in-process against the simulators' state.

``run_module(module, args, exchange=harness)`` runs ``module.main()`` with ``args`` (plus a default connection) and
returns an ``Outcome``. Exchange: the real ``ExchangeClient`` is used (its call validation, error classification and
result shaping), with one seam replaced: where it would send a pipeline over PSRP (``_invoke``, and
``_invoke_statements`` for a batch of statements, each statement then one call), the call runs
through the simulator's own cmdlet implementations (``execute_call``, ``execute_host_call``,
``execute_host_script``) on the server the module connects to, with the caller's RBAC. So unit tests run against
the one simulated Exchange the e2e tests use, not a hand-written second one; adding a cmdlet means simulating it
once. Graph: ``graph`` (a fake client, or a factory taking the module's params) replaces ``GraphClient``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.exchange.hybrid.plugins.module_utils import _cmdlet_catalog as catalog
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange import ExchangeClient, endpoint_for

from .exchange.handler import CatalogError, command_not_found, error_target, exchange_type, execute_call, remote_error
from .exchange.cmdlets import CmdletError
from .exchange.host import execute_host_call, execute_host_script, host_type, is_host_cmdlet
from .exchange.testing import DEFAULT_USER, ExchangeHarness, normalise

COLLECTION = "ansible_collections.exchange.hybrid."
DEFAULT_ARGS = {"server": "ex01.contoso.com", "username": DEFAULT_USER, "password": "pw-canary"}


@dataclass
class Outcome:
    """What a module run ended with: ``failed``, its ``result`` and the ``calls`` it sent (in order)."""

    failed: bool
    result: dict
    calls: list = field(default_factory=list)

    @property
    def cmdlets(self) -> list[str]:
        return [entry["cmdlet"] for entry in self.calls]

    @property
    def writes(self) -> list[str]:
        """The cmdlets sent that are not reads (Get-/Test- cmdlets, the host facts, a host script's -CheckOnly)."""
        return [
            entry["cmdlet"]
            for entry in self.calls
            if not (
                entry["cmdlet"].split("-", 1)[0] in ("Get", "Test")
                or entry["cmdlet"] == "host_facts"
                or (entry.get("script") and entry["parameters"].get("CheckOnly"))
            )
        ]


class _Exit(Exception):
    def __init__(self, failed: bool, result: dict) -> None:
        super().__init__(result.get("msg"))
        self.failed = failed
        self.result = result


class _Record:
    """The parts of an ErrorRecord that the client reads (``error_record_text``)."""

    exception = None
    category = None

    def __init__(self, message: str, category: Optional[str], error_id: Optional[str], target: Optional[str]) -> None:
        self.details_message = message
        self.reason = category
        self.fq_error = error_id
        self.target_object = target


def _server_of(harness: ExchangeHarness, requested: Optional[str]) -> str:
    servers = {name.lower(): name for name in harness.state()["exchange"]["servers"]}
    short = str(requested or "").split(".", maxsplit=1)[0].lower()
    return servers.get(short, harness.first_server)


def _rows(entry: dict, rows: list) -> list[dict]:
    wanted = entry.get("properties")
    if wanted is None:
        return []
    return [{name: normalise(row.get(name)) for name in wanted} for row in rows]


def _simulated_invoke(harness: Optional[ExchangeHarness], sent: list, server: Optional[str]) -> Callable[..., Any]:
    def invoke(client: ExchangeClient, entry: dict) -> tuple[list[dict], list[Any]]:
        if harness is None:
            raise AssertionError("the module connected although it should have refused the input first: %s" % entry)
        endpoint = endpoint_for(entry)
        opened = client.__dict__.setdefault("_simulated_endpoints", set())
        if endpoint not in opened:
            opened.add(endpoint)
            client.pools_opened[endpoint] += 1
        sent.append({"cmdlet": entry["cmdlet"], "parameters": dict(entry["parameters"]), "script": bool(entry.get("script"))})
        name, parameters = entry["cmdlet"], entry["parameters"]
        target = _server_of(harness, server or client.server)
        errors: list = []
        try:
            if entry.get("script"):
                rows = execute_host_script(harness.store, target, name, parameters)
            elif catalog.is_exchange_cmdlet(name):
                rows = execute_call(harness.store, target, name, parameters, client.params.get("username") or DEFAULT_USER)
            elif is_host_cmdlet(name):
                rows, failures = execute_host_call(harness.store, target, name, parameters)
                errors = [remote_error(e, host_type(name), getattr(e, "target", None)) for e in failures]
            else:
                raise command_not_found(name)
        except (CatalogError, CmdletError) as exc:
            if entry.get("script"):
                type_name = None
            elif catalog.is_exchange_cmdlet(name):
                type_name = exchange_type(catalog.canonical_cmdlet(name))
            else:
                type_name = host_type(name) if is_host_cmdlet(name) else None
            rows, errors = [], [remote_error(exc, type_name, error_target(parameters) or name)]
        records = [_Record(e.message, e.category, e.fully_qualified_error_id, e.target) for e in errors]
        return _rows(entry, rows), records

    return invoke


def _simulated_statements(invoke: Callable[..., Any]) -> Callable[..., Any]:
    """The batched path (``_invoke_statements``): each statement runs as its own call, their rows (shaped by the
    first statement's properties, as the client does) and errors concatenated, as one pipeline's streams are."""

    def invoke_statements(client: ExchangeClient, entries: list) -> tuple[list[dict], list[Any]]:
        rows: list[dict] = []
        records: list[Any] = []
        for entry in entries:
            found, errors = invoke(client, dict(entry, properties=entries[0].get("properties")))
            rows.extend(found)
            records.extend(errors)
        return rows, records

    return invoke_statements


def _replace_graph_client(monkeypatch: Any, graph: Any) -> None:
    factory = graph if callable(graph) and not hasattr(graph, "request") else (lambda *_a, **_k: graph)
    for name, loaded in list(sys.modules.items()):
        if name.startswith(COLLECTION + "plugins.") and hasattr(loaded, "GraphClient"):
            monkeypatch.setattr(loaded, "GraphClient", factory)


def run_module(
    module: Any,
    args: dict,
    exchange: Optional[ExchangeHarness] = None,
    graph: Any = None,
    check: bool = False,
    diff: bool = False,
    server: Optional[str] = None,
    connection: Optional[dict] = None,
) -> Outcome:
    """Run ``module.main()`` with ``args``; ``exchange`` answers its Exchange calls, ``graph`` its Graph client.

    ``connection`` replaces the default Exchange connection options (Graph modules pass their own); ``server``
    picks the simulated server the module reaches (default: the one named by the ``server`` option, else the first).
    """
    sent: list = []
    with pytest.MonkeyPatch.context() as monkeypatch:
        from ansible.module_utils import _internal

        # Another test in the same worker may have loaded controller code, which sends module warnings to Display
        # instead of the result.
        monkeypatch.setattr(_internal, "is_controller", False)
        invoke = _simulated_invoke(exchange, sent, server)
        monkeypatch.setattr(ExchangeClient, "_invoke", invoke)
        monkeypatch.setattr(ExchangeClient, "_invoke_statements", _simulated_statements(invoke))
        if graph is not None:
            _replace_graph_client(monkeypatch, graph)

        def exit_json(self: Any, **kwargs: Any) -> None:
            raise _Exit(False, kwargs)

        def fail_json(self: Any, **kwargs: Any) -> None:
            raise _Exit(True, kwargs)

        monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
        monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
        full = dict(DEFAULT_ARGS if connection is None else connection)
        full.update(args)
        full["_ansible_check_mode"] = check
        full["_ansible_diff"] = diff
        with patch_module_args(full):
            try:
                module.main()
            except _Exit as ended:
                return Outcome(ended.failed, ended.result, sent)
    raise AssertionError("%s.main() returned without exit_json or fail_json" % module.__name__)
