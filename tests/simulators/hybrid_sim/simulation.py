"""One simulated Exchange organization and Entra tenant, all in threads of this process.

``Simulation(directory, servers=[ServerSpec(...)], tenant_domain=...)``: ``start()`` writes the test PKI,
``state.json``, ``inventory.yml`` and ``endpoints.json`` into ``directory``, makes sure the Kerberos realm knows the
admin and every server (``HTTP/<fqdn>``), and starts two WS-Management/PSRP servers per Exchange server: its Exchange
endpoint (``/PowerShell``, Microsoft.Exchange, Kerberos over HTTP with message encryption, as IIS serves it) and its
default WinRM endpoint (``/wsman``, Microsoft.PowerShell, HTTPS and HTTP, Negotiate/Kerberos/Basic), plus the
Entra/Graph server; ``stop()`` closes everything.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable

import yaml

from .pki import create_pki
from .state import StateStore
from .wsman import WSManServer
from .wsman.pipeline import DEFAULT_CONFIGURATION, EXCHANGE_CONFIGURATION, PipelineHandler

DEFAULT_USERNAME = "CONTOSO\\exadmin"
# A test-only password; tests grep output for it to prove it never leaks.
DEFAULT_PASSWORD = "Sim-Exch@ngePassw0rd!"
DEFAULT_TENANT_DOMAIN = "contoso.onmicrosoft.com"

# The inventory carries the simulation's own variable names; the push_notifications role reads push_notifications_*.
# This is the one mapping (written as role-vars.yml for `-e @role-vars.yml`), as an admin would set in group_vars.
ROLE_VARS: dict[str, str] = {
    "push_notifications_tenant_domain": "{{ hybrid_tenant_domain }}",
    "push_notifications_graph_tenant": "{{ hybrid_tenant_id }}",
    "push_notifications_graph_client_id": "{{ hybrid_graph_client_id }}",
    "push_notifications_graph_client_secret": "{{ hybrid_graph_client_secret }}",
    "push_notifications_graph_authority_host": "{{ hybrid_graph_base_url }}",
    "push_notifications_graph_endpoint": "{{ hybrid_graph_base_url }}",
    "push_notifications_graph_ca_path": "{{ exchange_sim_ca_path }}",
}


@dataclass
class ServerSpec:
    """An Exchange server. ``version_text`` is AdminDisplayVersion as Exchange prints it (CU level only);
    ``exsetup_version`` is ExSetup.exe's file version (shows the HU/SU level), defaulting to the CU build."""

    name: str
    version_text: str
    roles: tuple[str, ...] | None = None  # None: the engine's default for the version
    site: str | None = None  # None: <ad domain>/Configuration/Sites/Default-First-Site-Name
    exsetup_version: str | None = None
    domain: str = "contoso.com"

    @property
    def fqdn(self) -> str:
        return "%s.%s" % (self.name.lower(), self.domain)


# Exchange SE before and after the May 2026 hotfix update (the Graph workflow's minimum, 15.2.2562.41): AdminDisplayVersion
# shows the RTM build (2562.17), ExSetup the update.
SE_FEB26SU = ServerSpec("EXSE1", "Version 15.2 (Build 2562.17)", exsetup_version="15.2.2562.37")
SE_MAY26HU = ServerSpec("EXSE2", "Version 15.2 (Build 2562.17)", exsetup_version="15.2.2562.41")

DEFAULT_SERVERS = (
    # Exchange 2013 CU23.
    ServerSpec("EX2013", "Version 15.0 (Build 1497.2)", exsetup_version="15.0.1497.2"),
    # Exchange 2016 CU23 with the April 2025 HU: AdminDisplayVersion shows the CU (2507.6), ExSetup the HU.
    ServerSpec("EX2016", "Version 15.1 (Build 2507.6)", exsetup_version="15.1.2507.55"),
    # Exchange 2019 CU15 with the April 2025 HU.
    ServerSpec("EX2019", "Version 15.2 (Build 1748.10)", exsetup_version="15.2.1748.24"),
)


def _dotted(text: str) -> tuple[int, int, int, int]:
    parts = text.strip().split(".")
    if len(parts) != 4 or not all(p.isdigit() for p in parts):
        raise ValueError(
            "VERSION must look like 15.2.1748.10, 15.2.1748.10/15.2.1748.24 (AdminDisplayVersion/ExSetup) or "
            "'Version 15.2 (Build 1748.10)', got %r" % text
        )
    major, minor, build, revision = (int(p) for p in parts)
    return major, minor, build, revision


def parse_server_argument(text: str) -> ServerSpec:
    """``NAME=VERSION`` for the CLI. VERSION: ``15.2.1748.10`` (one build for both AdminDisplayVersion and ExSetup),
    ``15.2.1748.10/15.2.1748.24`` (AdminDisplayVersion = CU build / ExSetup = HU build), or a full
    ``Version 15.2 (Build 1748.10)``."""
    name, sep, version = text.partition("=")
    if not sep or not name.strip() or not version.strip():
        raise ValueError("expected NAME=VERSION, e.g. EX01=15.2.1748.24, got %r" % text)
    version = version.strip()
    if version.lower().startswith("version"):
        return ServerSpec(name.strip(), version)
    cu_text, _slash, exsetup_text = version.partition("/")
    cu = _dotted(cu_text)
    exsetup = _dotted(exsetup_text) if exsetup_text else cu
    return ServerSpec(
        name.strip(),
        "Version %d.%d (Build %d.%d)" % cu,
        exsetup_version="%d.%d.%d.%d" % exsetup,
    )


@dataclass
class _Running:
    servers: dict[str, WSManServer] = field(default_factory=dict)  # Exchange endpoints
    hosts: dict[str, WSManServer] = field(default_factory=dict)  # default WinRM endpoints
    entra: Any = None


class Simulation:
    """A simulated organization + tenant. Use as a context manager or call ``start()``/``stop()``.

    ``handler_factory(store, server_name, configuration) -> PipelineHandler`` replaces the Exchange simulator
    (tests of the remoting layer); ``entra=False`` runs without the Entra/Graph server.
    ``exchange_options``/``entra_options`` are passed to ``initial_exchange_state``/``initial_entra_state``.
    ``realm`` is a ``hybrid_sim.kdc.KerberosRealm`` (default: this process's shared realm).
    ``latency_process`` is slept once per runspace-pool open on the Exchange endpoint (loading the Exchange cmdlets
    into the session); ``exchange_basic_auth`` also serves the Exchange endpoint over HTTPS with Basic.
    """

    def __init__(
        self,
        directory: str,
        servers: Iterable[ServerSpec] | None = None,
        tenant_domain: str = DEFAULT_TENANT_DOMAIN,
        organization_name: str = "Contoso",
        username: str = DEFAULT_USERNAME,
        password: str = DEFAULT_PASSWORD,
        allow_unencrypted: bool = False,
        latency_rtt: float = 0.0,
        latency_process: float = 0.0,
        latency_graph: float = 0.0,
        max_shells_per_user: int = 30,
        max_concurrency_per_user: int | None = 18,
        exchange_basic_auth: bool = False,
        realm: Any = None,
        handler_factory: Callable[[StateStore, str, str], PipelineHandler] | None = None,
        entra: bool = True,
        exchange_options: dict[str, Any] | None = None,
        entra_options: dict[str, Any] | None = None,
        group_vars: dict[str, Any] | None = None,
    ) -> None:
        self.directory = os.path.abspath(directory)
        self.specs = list(servers if servers is not None else DEFAULT_SERVERS)
        names = [s.name for s in self.specs]
        if len(set(n.lower() for n in names)) != len(names):
            raise ValueError("server names must be unique: %s" % names)
        self.tenant_domain = tenant_domain
        self.organization_name = organization_name
        self.username = username
        self.password = password
        self.allow_unencrypted = allow_unencrypted
        self.latency_rtt = latency_rtt
        self.latency_process = latency_process
        self.latency_graph = latency_graph
        self.max_shells_per_user = max_shells_per_user
        self.max_concurrency_per_user = max_concurrency_per_user
        self.exchange_basic_auth = exchange_basic_auth
        self.realm = realm
        self.handler_factory = handler_factory
        self.with_entra = entra
        self.exchange_options = dict(exchange_options or {})
        self.entra_options = dict(entra_options or {})
        self.extra_group_vars = dict(group_vars or {})
        self.state_path = os.path.join(self.directory, "state.json")
        self.inventory_path = os.path.join(self.directory, "inventory.yml")
        self.endpoints_path = os.path.join(self.directory, "endpoints.json")
        self.role_vars_path = os.path.join(self.directory, "role-vars.yml")
        self.store = StateStore(self.state_path)
        self.pki: Any = None
        self.tenant_id: str | None = None
        self._running: _Running | None = None
        # Tests that leak shells on purpose (fault injection) set this so the fixture does not fail them.
        self.allow_open_shells = False

    # -- lifecycle ------------------------------------------------------------------------------------------------
    def start(self) -> "Simulation":
        if self._running is not None:
            return self
        os.makedirs(self.directory, exist_ok=True)
        self.pki = create_pki(self.directory)
        self._prepare_realm()
        self.store.write(self._initial_state())
        running = _Running()
        self._running = running
        users = {self.username: self.password}
        try:
            for spec in self.specs:
                exchange = WSManServer(
                    spec.name,
                    self._handler(spec.name, EXCHANGE_CONFIGURATION),
                    users,
                    pki=self.pki if self.exchange_basic_auth else None,
                    http=True,
                    path="/PowerShell",
                    configurations=(EXCHANGE_CONFIGURATION,),
                    auth_methods=("kerberos", "basic") if self.exchange_basic_auth else ("kerberos",),
                    kerberos_service="HTTP",
                    max_shells_per_user=self.max_shells_per_user,
                    max_concurrency_per_user=self.max_concurrency_per_user,
                    latency_rtt=self.latency_rtt,
                    latency_pool_open=self.latency_process,
                )
                running.servers[spec.name] = exchange.start()
                host = WSManServer(
                    spec.name,
                    self._handler(spec.name, DEFAULT_CONFIGURATION),
                    users,
                    pki=self.pki,
                    http=True,
                    path="/wsman",
                    configurations=(DEFAULT_CONFIGURATION,),
                    allow_unencrypted=self.allow_unencrypted,
                    max_shells_per_user=self.max_shells_per_user,
                    latency_rtt=self.latency_rtt,
                )
                running.hosts[spec.name] = host.start()
            if self.with_entra:
                from .entra import EntraServer  # pylint: disable=import-outside-toplevel

                running.entra = EntraServer(self.store, self.pki, latency=self.latency_graph)
                running.entra.start()
            self._write_files()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        running, self._running = self._running, None
        if running is None:
            return
        endpoints = list(running.servers.values()) + list(running.hosts.values())
        stoppers = [threading.Thread(target=server.stop, daemon=True) for server in endpoints]
        if running.entra is not None:
            stoppers.append(threading.Thread(target=running.entra.stop, daemon=True))
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join(timeout=10)

    def __enter__(self) -> "Simulation":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- accessors ------------------------------------------------------------------------------------------------
    @property
    def servers(self) -> dict[str, WSManServer]:
        """The Exchange endpoints (``/PowerShell``), by server name."""
        if self._running is None:
            raise RuntimeError("the simulation is not running")
        return self._running.servers

    @property
    def hosts(self) -> dict[str, WSManServer]:
        """The default WinRM endpoints (``/wsman``), by server name."""
        if self._running is None:
            raise RuntimeError("the simulation is not running")
        return self._running.hosts

    def server(self, name: str) -> WSManServer:
        """The Exchange endpoint of ``name``."""
        return _by_name(self.servers, name)

    def host(self, name: str) -> WSManServer:
        """The default WinRM endpoint of ``name``."""
        return _by_name(self.hosts, name)

    def spec(self, name: str) -> ServerSpec:
        for spec in self.specs:
            if spec.name.lower() == name.lower():
                return spec
        raise KeyError(name)

    @property
    def kerberos_username(self) -> str:
        """The admin as a Kerberos principal (user@REALM), what a Kerberos inventory sets as ansible_user."""
        user = self.username.split("\\", 1)[-1]
        return "%s@%s" % (user, self.realm.realm) if self.realm is not None else user

    def exchange_uri(self, name: str) -> str:
        server = self.server(name)
        if self.exchange_basic_auth:
            return "https://127.0.0.1:%d/PowerShell/" % server.https_port
        return "http://127.0.0.1:%d/PowerShell/" % server.http_port

    def connection_params(self, name: str, **changes: Any) -> dict[str, Any]:
        """Module options that reach ``name`` as a Kerberos inventory host does (for in-process module runs)."""
        spec = self.spec(name)
        params: dict[str, Any] = {
            "server": "127.0.0.1",
            "connection_uri": self.exchange_uri(name),
            "port": self.host(name).https_port,
            "scheme": "https",
            "auth": "kerberos",
            "username": self.kerberos_username,
            "password": self.password,
            "negotiate_hostname_override": spec.fqdn,
            "ca_path": self.pki.ca_path,
        }
        params.update(changes)
        return params

    @property
    def entra(self) -> Any:
        return self._running.entra if self._running else None

    @property
    def ca_path(self) -> str:
        return self.pki.ca_path

    def open_shells(self) -> dict[str, list[dict[str, Any]]]:
        """Every runspace pool still open, by endpoint (``EX01`` for the Exchange endpoint, ``EX01/wsman`` for the
        default one); endpoints without open pools are left out."""
        if self._running is None:
            return {}
        found = {name: server.open_shells() for name, server in self._running.servers.items()}
        found.update({name + "/wsman": server.open_shells() for name, server in self._running.hosts.items()})
        return {name: shells for name, shells in found.items() if shells}

    def inject(
        self,
        server: str,
        action: str,
        kind: str,
        count: int = 1,
        seconds: float | None = None,
        endpoint: str = "exchange",
    ) -> None:
        """Fault injection on one server (``*`` for all), on its ``exchange`` or ``host`` endpoint (or ``*`` for
        both); see ``WSManServer.inject``."""
        if endpoint not in ("exchange", "host", "*"):
            raise ValueError("endpoint must be exchange, host or *, got %r" % endpoint)
        pools = []
        if endpoint in ("exchange", "*"):
            pools.append(self.servers)
        if endpoint in ("host", "*"):
            pools.append(self.hosts)
        for endpoints in pools:
            targets = endpoints.values() if server == "*" else [_by_name(endpoints, server)]
            for target in targets:
                target.inject(action, kind, count=count, seconds=seconds)

    def clear_faults(self) -> None:
        for server in list(self.servers.values()) + list(self.hosts.values()):
            server.clear_faults()

    def read_state(self) -> dict[str, Any]:
        return self.store.read()

    def calls(self) -> list[dict[str, Any]]:
        """The cmdlets the Exchange simulator executed (``calls.jsonl``), oldest first."""
        path = os.path.join(self.directory, "calls.jsonl")
        if not os.path.exists(path):
            return []
        with open(path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]

    def writes(self) -> list[dict[str, Any]]:
        """The executed commands that change something (not Get-/Test-, not the host facts, not a CheckOnly write)."""
        return [c for c in self.calls() if not is_read_call(c)]

    # -- internals ------------------------------------------------------------------------------------------------
    def _prepare_realm(self) -> None:
        if self.realm is None:
            from .kdc import shared_realm  # pylint: disable=import-outside-toplevel

            self.realm = shared_realm()
        self.realm.add_user(self.username.split("\\", 1)[-1], self.password)
        for spec in self.specs:
            self.realm.add_host(spec.fqdn)

    def _handler(self, server_name: str, configuration: str) -> PipelineHandler:
        if self.handler_factory is not None:
            return self.handler_factory(self.store, server_name, configuration)
        from .exchange import make_exchange_handler, make_host_handler  # pylint: disable=import-outside-toplevel

        if configuration == EXCHANGE_CONFIGURATION:
            return make_exchange_handler(self.store, server_name)
        return make_host_handler(self.store, server_name)

    def _initial_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"clock_offset_seconds": 0, "exchange": {}, "entra": {}}
        if self.handler_factory is None:
            from .exchange import initial_exchange_state  # pylint: disable=import-outside-toplevel

            specs = []
            for spec in self.specs:
                entry: dict[str, Any] = {"name": spec.name, "version": spec.version_text, "fqdn": spec.fqdn}
                if spec.exsetup_version:
                    entry["exsetup_build"] = spec.exsetup_version
                if spec.roles:
                    entry["roles"] = list(spec.roles)
                if spec.site:
                    entry["site"] = spec.site
                specs.append(entry)
            options = {"tenant_domain": self.tenant_domain}
            options.update(self.exchange_options)
            state["exchange"] = initial_exchange_state(specs, organization_name=self.organization_name, **options)
        if self.with_entra:
            from .entra import initial_entra_state  # pylint: disable=import-outside-toplevel

            state["entra"] = initial_entra_state(tenant_domain=self.tenant_domain, **self.entra_options)
            self.tenant_id = next(iter(state["entra"].get("tenants", {})), None)
        return state

    def _entra_details(self) -> dict[str, Any]:
        if not self.with_entra:
            return {}
        from .entra import seed  # pylint: disable=import-outside-toplevel

        details = {
            "tenant_id": self.tenant_id,
            "client_id": self.entra_options.get("client_id", seed.DEFAULT_CLIENT_ID),
            "client_secret": self.entra_options.get("client_secret", seed.DEFAULT_CLIENT_SECRET),
        }
        entra = self.entra
        if entra is not None:
            # One server plays both the login host and the Graph host.
            details.update(
                {"base_url": entra.base_url, "authority_host": entra.base_url, "graph_endpoint": entra.base_url}
            )
        return details

    def endpoints(self) -> dict[str, Any]:
        servers = {}
        for spec in self.specs:
            host = self.hosts[spec.name]
            servers[spec.name] = {
                "spec": asdict(spec),
                "fqdn": spec.fqdn,
                "exchange_uri": self.exchange_uri(spec.name),
                "https_port": host.https_port,
                "http_port": host.http_port,
                "https_url": host.https_url,
                "http_url": host.http_url,
            }
        return {
            "directory": self.directory,
            "pid": os.getpid(),
            "ca_path": self.pki.ca_path,
            "state_path": self.state_path,
            "inventory_path": self.inventory_path,
            "username": self.username,
            "kerberos_username": self.kerberos_username,
            "password": self.password,
            "krb5_config": self.realm.krb5_conf if self.realm is not None else None,
            "realm": self.realm.realm if self.realm is not None else None,
            "tenant_domain": self.tenant_domain,
            "organization_name": self.organization_name,
            "servers": servers,
            "latency_rtt": self.latency_rtt,
            "latency_process": self.latency_process,
            "latency_graph": self.latency_graph,
            "allow_unencrypted": self.allow_unencrypted,
            "entra": self._entra_details(),
        }

    def inventory(self) -> dict[str, Any]:
        hosts = {}
        for spec in self.specs:
            host = self.hosts[spec.name]
            # A Kerberos psrp host as an admin writes it; the simulated FQDN reaches 127.0.0.1 through the SPN
            # hostname override instead of DNS, so no /etc/hosts entry is needed.
            hosts[spec.name] = {
                "ansible_host": "127.0.0.1",
                "ansible_port": host.https_port,
                "ansible_connection": "psrp",
                "ansible_psrp_protocol": "https",
                "ansible_psrp_auth": "kerberos",
                "ansible_psrp_ca_cert": self.pki.ca_path,
                "ansible_psrp_negotiate_hostname_override": spec.fqdn,
                "ansible_user": self.kerberos_username,
                "ansible_password": self.password,
                "exchange_connection_uri": self.exchange_uri(spec.name),
                "exchange_sim_http_port": host.http_port,
            }
        group_vars: dict[str, Any] = {
            "exchange_sim_ca_path": self.pki.ca_path,
            "exchange_sim_state_path": self.state_path,
            "hybrid_tenant_domain": self.tenant_domain,
        }
        entra = self._entra_details()
        if entra:
            group_vars.update(
                {
                    "hybrid_tenant_id": entra.get("tenant_id"),
                    "hybrid_graph_client_id": entra.get("client_id"),
                    "hybrid_graph_client_secret": entra.get("client_secret"),
                }
            )
            if "base_url" in entra:
                group_vars["hybrid_graph_base_url"] = entra["base_url"]
                group_vars["hybrid_graph_authority_host"] = entra["authority_host"]
                group_vars["hybrid_graph_endpoint"] = entra["graph_endpoint"]
        group_vars.update(self.extra_group_vars)
        return {"all": {"children": {"exchange": {"hosts": hosts, "vars": group_vars}}}}

    def _write_files(self) -> None:
        _write_private(self.inventory_path, yaml.safe_dump(self.inventory(), sort_keys=False, default_flow_style=False))
        _write_private(self.endpoints_path, json.dumps(self.endpoints(), indent=1) + "\n")
        _write_private(self.role_vars_path, yaml.safe_dump(ROLE_VARS, sort_keys=False, default_flow_style=False))


def is_read_call(entry: dict[str, Any]) -> bool:
    """Whether a ``calls.jsonl`` entry only reads."""
    name = str(entry.get("cmdlet") or "")
    if name == "script:write_file":
        return bool((entry.get("parameters") or {}).get("CheckOnly"))
    return name == "script:host_facts" or name.split("-", 1)[0] in ("Get", "Test", "Select", "Measure")


def _by_name(endpoints: dict[str, WSManServer], name: str) -> WSManServer:
    for key, value in endpoints.items():
        if key.lower() == name.lower():
            return value
    raise KeyError(name)


def _write_private(path: str, text: str) -> None:
    # The files hold the simulation's (test-only) credentials: owner-only, like a real inventory with secrets.
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(path + ".tmp", path)
