"""The simulated host's default WinRM endpoint (PSRP configuration ``Microsoft.PowerShell``).

The collection sends only two kinds of pipelines here (plugins/module_utils/_host_scripts.py): the Windows
PowerShell cmdlets ``HOST_CMDLETS`` (Get-Service, Restart-Service) as commands, and the fixed ``HOST_SCRIPTS`` as
script text with their values as PSRP parameters. The simulator runs exactly those:

- a script whose text equals one of ``HOST_SCRIPTS`` (as the collection on disk has them now: re-read when the file
  changes, so a long-running simulator judges by the texts a freshly started ansible-playbook sends) runs its
  simulated operation, its parameters bound by ``HOST_SCRIPT_PARAMETERS`` with PowerShell's binding texts;
- any other script is refused: a simulator that ran any script would prove nothing about the client;
- an Exchange cmdlet is "not recognized": the Exchange snap-in is not loaded in a plain Windows PowerShell session,
  which is the reason the collection talks to the Exchange endpoint at all;
- Get-Service / Restart-Service behave as Windows PowerShell 5.1's (the MSExchangeHM restart with the health
  manager's readiness delay: the push probe is refused until it has passed); every restart is counted
  (``services[name]["restarts"]``);
- the ``auth_certificate_refresh`` script restarts MSExchangeServiceHost and recycles the OWA and ECP pools
  (``app_pools[name]["recycles"]``; a pool missing from the state fails as the script reports it) and keeps the
  remembered thumbprint in the server's simulated registry (``registry``);
- the ``new_auth_certificate`` script puts a real self-signed certificate of the given lifetime, key size, DNS name
  and friendly name in the server's store (exportable private key, Services None: no Exchange service enabled), so
  Get-ExchangeCertificate lists it; on a server whose ``dotnet_framework`` is older than 4.7.2 it stops with the
  script's text, as .NET's CertificateRequest is missing there.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import importlib.util
import os
import time
from types import ModuleType
from typing import Any, Mapping, Optional, Union

from ansible_collections.exchange.hybrid.plugins.module_utils import _cmdlet_catalog as catalog

from ..state import StateStore, iso, now
from ..wsman.pipeline import (
    DEFAULT_CONFIGURATION,
    PipelineHandler,
    PipelineRequest,
    PipelineResult,
    RemoteError,
)
from .cmdlets import CmdletError, Context
from .handler import (
    CatalogError,
    Pairs,
    bind_parameters,
    command_not_found,
    log_call,
    remote_error,
)
from . import certificates as certs
from .objects import PS_CUSTOM_OBJECT, output_objects, remote_object
from .organization import HEALTH_SERVICES

# Windows PowerShell 5.1's parameters of the two cmdlets (the ones the collection could plausibly send).
HOST_COMMANDS: dict[str, tuple[str, dict[str, tuple[str, bool]], tuple[str, ...]]] = {
    "Get-Service": (
        "Microsoft.PowerShell.Commands.GetServiceCommand",
        {
            "Name": ("String[]", False),
            "DisplayName": ("String[]", False),
            "ComputerName": ("String[]", False),
            "Include": ("String[]", False),
            "Exclude": ("String[]", False),
            "DependentServices": ("Switch", False),
            "RequiredServices": ("Switch", False),
        },
        ("Name",),
    ),
    "Restart-Service": (
        "Microsoft.PowerShell.Commands.RestartServiceCommand",
        {
            "Name": ("String[]", False),
            "DisplayName": ("String[]", False),
            "Include": ("String[]", False),
            "Exclude": ("String[]", False),
            "Force": ("Switch", False),
            "PassThru": ("Switch", False),
            "Confirm": ("Switch", False),
            "WhatIf": ("Switch", False),
        },
        ("Name",),
    ),
}
_HOST_BY_LOWER = {name.lower(): name for name in HOST_COMMANDS}
EXSETUP_PATH = "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\bin\\ExSetup.exe"

# ------------------------------------------------------------------------------------------------ the fixed scripts

_SCRIPTS_CACHE: dict[str, Any] = {}


def host_scripts() -> ModuleType:
    """The collection's ``_host_scripts`` module as it is on disk now (re-read when the file changes)."""
    from ansible_collections.exchange.hybrid.plugins.module_utils import _host_scripts

    path = _host_scripts.__file__
    stamp = os.stat(path).st_mtime_ns
    if _SCRIPTS_CACHE.get("stamp") != stamp or _SCRIPTS_CACHE.get("path") != path:
        spec = importlib.util.spec_from_file_location("_hybrid_sim_host_scripts", path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        _SCRIPTS_CACHE.update(stamp=stamp, path=path, module=module)
    return _SCRIPTS_CACHE["module"]


def script_name(text: str) -> Optional[str]:
    """Which of the collection's host scripts ``text`` is, exactly; None for any other text."""
    for name, known in host_scripts().HOST_SCRIPTS.items():
        if text == known:
            return name
    return None


def _script_spec(name: str) -> tuple[dict[str, tuple[str, bool]], tuple[str, ...], bool]:
    module = host_scripts()
    spec = dict(module.HOST_SCRIPT_PARAMETERS[name])
    text = module.HOST_SCRIPTS[name]
    # A script with [Parameter()]/[CmdletBinding()] is advanced: it takes the common parameters, and its
    # non-switch parameters are positional in declaration order (PositionalBinding defaults to true).
    advanced = "[Parameter(" in text or "[CmdletBinding(" in text
    positional = tuple(p for p, (kind, _mandatory) in spec.items() if kind != "Switch")
    return spec, positional, advanced


def _host_facts(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    # ExSetup.exe's FileVersion in its long form, e.g. 15.02.1748.024 (exchange-facts.md (f), LEARN-PDF option 2).
    build = ctx.server["exsetup_build"]
    version = "%d.%02d.%04d.%03d" % (build["Major"], build["Minor"], build["Build"], build["Revision"])
    return [
        {
            "ComputerName": ctx.server["name"].upper(),
            "UtcNow": iso(ctx.now),
            "ExSetupPath": EXSETUP_PATH,
            "FileVersion": version,
        }
    ]


def _write_file(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    text = str(bound["Base64Content"])
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        # $ErrorActionPreference = 'Stop' makes the method's exception terminate the script.
        raise CmdletError(
            'Exception calling "FromBase64String" with "1" argument(s): "The input is not a valid Base-64 string '
            "as it contains a non-base 64 character, more than two padding characters, or an illegal character among "
            'the padding characters. "',
            "NotSpecified",
            "FormatException",
        )
    path = str(bound["Path"])
    normalised = base64.b64encode(data).decode("ascii")
    changed = ctx.server["files"].get(path) != normalised
    if changed and not bound.get("CheckOnly"):
        ctx.server["files"][path] = normalised
    return [{"Path": path, "Changed": changed, "Length": len(data)}]


REFRESH_KEY = "HKLM:\\SOFTWARE\\exchange.hybrid"
REFRESH_POOLS = ("MSExchangeOWAAppPool", "MSExchangeECPAppPool")


def _auth_certificate_refresh(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    """Restart MSExchangeServiceHost, recycle the OWA and ECP pools, remember the thumbprint (registry value)."""
    server = ctx.server
    values = server.setdefault("registry", {}).setdefault(REFRESH_KEY, {})
    refreshed_for = values.get("AuthCertificateRefreshedFor")
    thumbprint = str(bound["Thumbprint"])
    needed = refreshed_for != thumbprint
    restarted: list[str] = []
    failed: list[str] = []
    if needed and not bound.get("CheckOnly"):
        service = server["services"].get("MSExchangeServiceHost")
        if service is None:
            raise CmdletError(
                "Cannot find any service with service name 'MSExchangeServiceHost'.",
                "ObjectNotFound",
                "NoServiceFoundForGivenName,Microsoft.PowerShell.Commands.RestartServiceCommand",
            )
        service.update(Status="Running", restarts=service.get("restarts", 0) + 1, restarted_at=iso(ctx.now))
        restarted.append("MSExchangeServiceHost")
        for name in REFRESH_POOLS:
            pool = server.setdefault("app_pools", {}).get(name)
            if pool is None:
                # The script catches Restart-WebAppPool's error and reports it; the text is IIS's for a missing pool.
                failed.append("%s: The object identifier does not represent a valid object." % name)
                continue
            pool.update(recycles=pool.get("recycles", 0) + 1, recycled_at=iso(ctx.now))
            restarted.append(name)
        if not failed:
            values["AuthCertificateRefreshedFor"] = thumbprint
    return [
        {
            "ComputerName": server["name"].upper(),
            "RefreshedFor": refreshed_for,
            "Needed": needed,
            "Restarted": restarted,
            "Failed": failed,
        }
    ]


# .NET Framework 4.7.2 introduced CertificateRequest (learn.microsoft.com/dotnet/api/
# system.security.cryptography.x509certificates.certificaterequest, "Applies to"); a server without the state key has
# 4.8, which Exchange 2019 requires.
CERTIFICATE_REQUEST_FRAMEWORK = (4, 7, 2)


def _new_auth_certificate(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    """A self-signed certificate valid from now for LifetimeDays days in LocalMachine\\My of the server."""
    server = ctx.server
    framework = str(server.get("dotnet_framework") or "4.8")
    if tuple(int(part) for part in framework.split(".")) < CERTIFICATE_REQUEST_FRAMEWORK:
        raise CmdletError(
            ".NET CertificateRequest is not available on %s: a certificate with a custom lifetime needs .NET "
            "Framework 4.7.2 or later" % server["name"].upper(),
            "OperationStopped",
            "RuntimeException",
        )
    domain, key_size, days = str(bound["DomainName"]), int(bound["KeySize"]), int(bound["LifetimeDays"])
    if key_size not in (1024, 2048, 4096) or days < 1:
        # The constructor's and AddDays' own refusals, as the script's terminating error.
        raise CmdletError(
            "The simulated .NET refuses KeySize %d or LifetimeDays %d." % (key_size, days),
            "NotSpecified",
            "CryptographicException",
        )
    der, not_before, not_after, _serial = certs.make_certificate(
        ctx.now, "CN=%s" % domain, [domain], key_size, lifetime_days=days
    )
    entry = certs.store_entry(der, server["fqdn"], str(bound["FriendlyName"]), "None", True, True)
    server["certificates"].append(entry)
    return [
        {
            "ComputerName": server["name"].upper(),
            "Thumbprint": entry["Thumbprint"],
            "Subject": entry["Subject"],
            "NotBefore": iso(not_before),
            "NotAfter": iso(not_after),
        }
    ]


SCRIPT_OPERATIONS = {
    "host_facts": _host_facts,
    "write_file": _write_file,
    "auth_certificate_refresh": _auth_certificate_refresh,
    "new_auth_certificate": _new_auth_certificate,
}


def execute_host_script(
    store: StateStore, server_name: str, name: str, parameters: Union[Mapping[str, Any], Pairs]
) -> list[dict[str, Any]]:
    """Run the host script ``name`` (a key of HOST_SCRIPTS) with its parameters; returns its objects' properties.
    Raises CatalogError (binding) or CmdletError (the script stopped); both terminate the pipeline."""
    spec, positional, advanced = _script_spec(name)
    pairs = list(parameters.items()) if isinstance(parameters, Mapping) else list(parameters)
    # A script has no command type: its binding errors' ids carry no ",<type>" suffix.
    bound, given = bind_parameters(pairs, spec, None, positional, common=advanced)
    failure: Optional[Exception] = None
    rows: list[dict[str, Any]] = []
    with store.transaction() as state:
        log_call(store, server_name, "script:%s" % name, given, DEFAULT_CONFIGURATION)
        try:
            rows = SCRIPT_OPERATIONS[name](Context(state, server_name, now(state)), bound)
        except CmdletError as exc:
            failure = exc
    if failure is not None:
        raise failure
    return rows


# --------------------------------------------------------------------------------------------------------- services


def _service_row(ctx: Context, name: str) -> dict[str, Any]:
    return {
        "Name": name,
        "ServiceName": name,
        "DisplayName": HEALTH_SERVICES.get(name, name),
        "Status": ctx.server["services"][name]["Status"],
        "StartType": "Automatic",
        "MachineName": ".",
    }


def _match_services(ctx: Context, bound: dict[str, Any], command: str) -> tuple[list[str], list[CmdletError]]:
    """Services by -Name or -DisplayName (wildcards), then -Include/-Exclude; a name without wildcards that matches
    nothing is a non-terminating error, as in Windows PowerShell."""
    services = list(ctx.server["services"])
    found: list[str] = []
    errors: list[CmdletError] = []

    def wildcard(text: str) -> bool:
        return any(ch in text for ch in "*?[")

    if bound.get("DisplayName") is not None:
        for pattern in _strings(bound["DisplayName"]):
            match = [s for s in services if fnmatch.fnmatchcase(HEALTH_SERVICES.get(s, s).lower(), pattern.lower())]
            if not match and not wildcard(pattern):
                errors.append(
                    CmdletError(
                        "Cannot find any service with display name '%s'." % pattern,
                        "ObjectNotFound",
                        "NoServiceFoundForGivenDisplayName,Microsoft.PowerShell.Commands.%s" % command,
                    )
                )
            found.extend(m for m in match if m not in found)
    else:
        for pattern in _strings(bound.get("Name")) or ["*"]:
            match = [s for s in services if fnmatch.fnmatchcase(s.lower(), pattern.lower())]
            if not match and not wildcard(pattern):
                error = CmdletError(
                    "Cannot find any service with service name '%s'." % pattern,
                    "ObjectNotFound",
                    "NoServiceFoundForGivenName,Microsoft.PowerShell.Commands.%s" % command,
                )
                error.target = pattern  # type: ignore[attr-defined]
                errors.append(error)
            found.extend(m for m in match if m not in found)
    include, exclude = _strings(bound.get("Include")), _strings(bound.get("Exclude"))
    if include:
        found = [s for s in found if any(fnmatch.fnmatchcase(s.lower(), p.lower()) for p in include)]
    found = [s for s in found if not any(fnmatch.fnmatchcase(s.lower(), p.lower()) for p in exclude)]
    return found, errors


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]


def _get_service(ctx: Context, bound: dict[str, Any]) -> tuple[list[dict[str, Any]], list[CmdletError]]:
    names, errors = _match_services(ctx, bound, "GetServiceCommand")
    return [_service_row(ctx, n) for n in names], errors


def _restart_service(ctx: Context, bound: dict[str, Any]) -> tuple[list[dict[str, Any]], list[CmdletError]]:
    names, errors = _match_services(ctx, bound, "RestartServiceCommand")
    if bound.get("WhatIf"):
        return [], errors
    delay = float(ctx.exchange.get("settings", {}).get("health_ready_delay_seconds", 0))
    for name in names:
        service = ctx.server["services"][name]
        service.update(Status="Running", restarts=service.get("restarts", 0) + 1)
        if name == "MSExchangeHM":
            # Real time, not the simulated clock: the module's poller waits for it.
            service["ready_at"] = time.time() + delay
    return ([_service_row(ctx, n) for n in names] if bound.get("PassThru") else []), errors


HOST_FUNCTIONS = {"Get-Service": _get_service, "Restart-Service": _restart_service}


def is_host_cmdlet(name: str) -> bool:
    """Get-Service/Restart-Service, as long as the collection still lists them in HOST_CMDLETS."""
    listed = {c.lower() for c in host_scripts().HOST_CMDLETS}
    return isinstance(name, str) and name.lower() in _HOST_BY_LOWER and name.lower() in listed


def execute_host_call(
    store: StateStore, server_name: str, cmdlet: str, parameters: Union[Mapping[str, Any], Pairs]
) -> tuple[list[dict[str, Any]], list[CmdletError]]:
    """Run Get-Service or Restart-Service; returns (rows, non-terminating errors). Raises CatalogError (binding)."""
    name = _HOST_BY_LOWER[cmdlet.lower()]
    type_name, spec, positional = HOST_COMMANDS[name]
    pairs = list(parameters.items()) if isinstance(parameters, Mapping) else list(parameters)
    bound, given = bind_parameters(pairs, spec, type_name, positional)
    with store.transaction() as state:
        log_call(store, server_name, name, given, DEFAULT_CONFIGURATION)
        return HOST_FUNCTIONS[name](Context(state, server_name, now(state)), bound)


def host_type(cmdlet: str) -> str:
    return HOST_COMMANDS[_HOST_BY_LOWER[cmdlet.lower()]][0]


# ---------------------------------------------------------------------------------------------------------- handler


def _refused(message: str, error_id: str, target: Optional[str] = None) -> PipelineResult:
    return PipelineResult(
        failed=RemoteError(message, "NotImplemented", error_id, target, "System.NotSupportedException")
    )


def make_host_handler(store: StateStore, server_name: str) -> PipelineHandler:
    """The PSRP pipeline handler of ``server_name``'s default endpoint (Microsoft.PowerShell)."""

    def handler(request: PipelineRequest) -> PipelineResult:
        if len(request.commands) != 1:
            return _refused(
                "The simulated host runs one command per pipeline (the collection's host cmdlets or one of its "
                "fixed host scripts); this pipeline has %d." % len(request.commands),
                "HybridSimOneCommandPerPipeline",
            )
        command = request.commands[0]
        if command.is_script:
            name = script_name(command.name)
            if name is None:
                return _refused(
                    "The simulated host runs only the exchange.hybrid collection's fixed host scripts "
                    "(plugins/module_utils/_host_scripts.py HOST_SCRIPTS); this script text is not one of them.",
                    "HybridSimScriptNotAllowed",
                )
            try:
                rows = execute_host_script(store, server_name, name, command.parameters)
            except (CatalogError, CmdletError) as exc:
                return PipelineResult(failed=remote_error(exc, None))
            return PipelineResult(output=[remote_object(PS_CUSTOM_OBJECT, row) for row in rows])
        if catalog.is_exchange_cmdlet(command.name):
            return PipelineResult(failed=remote_error(command_not_found(command.name), None, command.name))
        if not is_host_cmdlet(command.name):
            return _refused(
                "The simulated host implements only the cmdlets %s and the collection's fixed host scripts; '%s' is "
                "not simulated." % (", ".join(HOST_COMMANDS), command.name),
                "HybridSimCommandNotSimulated",
                command.name,
            )
        type_name = host_type(command.name)
        try:
            rows, errors = execute_host_call(store, server_name, command.name, command.parameters)
        except CatalogError as exc:
            return PipelineResult(failed=remote_error(exc, type_name))
        records = [remote_error(e, type_name, getattr(e, "target", None)) for e in errors]
        return PipelineResult(output=output_objects(_HOST_BY_LOWER[command.name.lower()], rows), errors=records)

    return handler


__all__ = [
    "HOST_COMMANDS",
    "execute_host_call",
    "execute_host_script",
    "host_scripts",
    "is_host_cmdlet",
    "make_host_handler",
    "script_name",
]
