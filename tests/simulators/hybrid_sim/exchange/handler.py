"""The simulated remote process: checks it was sent the project's runner, runs the request, answers its envelope.

Contract: docs/dev/architecture.md, "The runner protocol". The command line must carry ``BOOTSTRAP`` as
``-EncodedCommand`` and standard input must be ``RUNNER`` + four NULs + the request JSON; anything else is refused
(exit 1), so the simulator can never drift from the runner it stands in for.
"""

from __future__ import annotations

import base64
import binascii
import importlib.util
import json
import os
import re
from typing import Any, Callable, Optional

from ansible_collections.exchange.hybrid.plugins.module_utils import _cmdlet_catalog as catalog

from ..state import StateStore, iso, now
from ..wsman.command import CommandRequest, CommandResult, clixml_error
from .cmdlets import CMDLETS, WITH_SET, CmdletError, Context, apply_scheduled_rollover
from .organization import version_tuple
from .probe import MONITORING_CMDLETS

SNAPIN = "Microsoft.Exchange.Management.PowerShell.SnapIn"
SEPARATOR = "\0\0\0\0"
_ENCODED = re.compile(r"\s-EncodedCommand\s+(\S+)\s*$", re.IGNORECASE)

# The runner's own commands (not Exchange cmdlets) and their parameters: name -> (type, mandatory).
LOCAL_COMMANDS: dict[str, tuple[str, dict[str, tuple[str, bool]]]] = {
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
    ),
    "Set-RunnerFileContent": (
        "Set-RunnerFileContent",
        {"Path": ("String", True), "Base64Content": ("String", True), "CheckOnly": ("Switch", False)},
    ),
    "Get-RunnerExSetupVersion": ("Get-RunnerExSetupVersion", {}),
}
# The runner adds these to every call itself.
RUNNER_BOUND = ("ErrorAction", "WarningAction")


_TEXTS_CACHE: dict[str, Any] = {}


def _runner_texts() -> tuple[str, str]:
    """``BOOTSTRAP`` and ``RUNNER`` as the collection on disk has them now (re-read when the file changes), so a
    long-running simulator judges requests by the same texts a freshly started ansible-playbook sends."""
    from ansible_collections.exchange.hybrid.plugins.module_utils import _runner_script

    path = _runner_script.__file__
    stamp = os.stat(path).st_mtime_ns
    if _TEXTS_CACHE.get("stamp") != stamp:
        spec = importlib.util.spec_from_file_location("_hybrid_sim_runner_script", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        _TEXTS_CACHE.update(stamp=stamp, texts=(module.BOOTSTRAP, module.RUNNER))
    return _TEXTS_CACHE["texts"]


def _runner_local_commands() -> list[str]:
    """The runner's own allowlist of non-Exchange commands, read from its text so the two cannot drift."""
    match = re.search(r"\$LocalCmdlets\s*=\s*@\(([^)]*)\)", _runner_texts()[1])
    return re.findall(r"'([^']+)'", match.group(1)) if match else list(LOCAL_COMMANDS)


def exchange_type(cmdlet: str) -> str:
    """The .NET type in a FullyQualifiedErrorId. Exchange's tasks live in several namespaces; we use the one of
    the certificate and Auth cmdlets for all of them."""
    return "Microsoft.Exchange.Management.SystemConfigurationTasks." + cmdlet.replace("-", "")


def _refuse(reason: str) -> CommandResult:
    text = "The simulated Exchange server only runs the exchange.hybrid runner: %s" % reason
    return CommandResult(stdout=b"", stderr=clixml_error(text, progress=False), exit_code=1)


def _error(index: Any, cmdlet: Any, kind: str, message: str, category: str, error_id: str) -> dict[str, Any]:
    return {
        "index": index,
        "cmdlet": cmdlet,
        "kind": kind,
        "message": message,
        "category": category,
        "fully_qualified_error_id": error_id,
    }


def normalise(value: Any) -> Any:
    """The runner's value forms (architecture.md 5); stored values are mostly normalised already."""
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


def _bind_local(name: str, parameters: dict[str, Any]) -> dict[str, Any]:
    type_name, spec = LOCAL_COMMANDS[name]
    lookup = {p.lower(): p for p in spec}
    common = {p.lower(): p for p in catalog.COMMON_PARAMETERS}
    bound: dict[str, Any] = {}
    for given, value in parameters.items():
        key = str(given).lower()
        if key in lookup:
            bound[lookup[key]] = value
        elif key in common:
            bound[common[key]] = value
        else:
            raise CmdletError(
                "A parameter cannot be found that matches parameter name '%s'." % given,
                "InvalidArgument",
                "NamedParameterNotFound,%s" % type_name,
            )
    missing = [p for p, (_type_name, mandatory) in spec.items() if mandatory and p not in bound]
    if missing:
        raise CmdletError(
            "Cannot process command because of one or more missing mandatory parameters: %s." % " ".join(missing),
            "InvalidArgument",
            "MissingMandatoryParameter,%s" % type_name,
        )
    return bound


def _log_call(path: str, server: str, cmdlet: str, parameters: dict[str, Any]) -> None:
    # ensure_ascii: every string (lone surrogates, NUL, U+2019...) survives the round trip exactly.
    line = json.dumps({"server": server, "cmdlet": cmdlet, "parameters": parameters}, ensure_ascii=True, sort_keys=True)
    with open(path, "a", encoding="ascii") as handle:
        handle.write(line + "\n")


def run_request(store: StateStore, server_name: str, request_text: str) -> tuple[dict[str, Any], int]:
    """Run one request against the organization; returns (envelope, exit code)."""
    state_preview = store.read()
    server_state = state_preview["exchange"]["servers"].get(server_name)
    if server_state is None:
        raise KeyError("no server %r in the organization" % server_name)
    envelope: dict[str, Any] = {
        "runner": 1,
        "ok": False,
        "computer_name": server_name.upper(),
        "ps_version": server_state.get("ps_version") or _ps_version(server_state),
        "utc_now": iso(now(state_preview)),
        "results": [],
        "error": None,
    }

    try:
        request = json.loads(request_text)
        if not isinstance(request, dict):
            raise ValueError("Invalid JSON primitive: the request is not an object.")
        if request.get("runner") != 1:
            version = request.get("runner")
            raise ValueError("unsupported runner request version: %s" % ("" if version is None else version))
    except ValueError as exc:
        envelope["error"] = _error(
            None, None, "request", "the runner request is invalid: %s" % exc, "InvalidData", "RunnerRequestInvalid"
        )
        return envelope, 1
    calls = request.get("calls")
    calls = [] if calls is None else (calls if isinstance(calls, list) else [calls])

    allowed = set(catalog.EXCHANGE_CMDLETS) | set(_runner_local_commands())
    for position, call in enumerate(calls):
        name = call.get("cmdlet") if isinstance(call, dict) else None
        if not isinstance(name, str) or name not in allowed:  # the runner compares case-sensitively (-ccontains)
            envelope["error"] = _error(
                position,
                name,
                "request",
                "the cmdlet is not allowed by the runner: %s" % ("" if name is None else name),
                "PermissionDenied",
                "RunnerCmdletNotAllowed",
            )
            return envelope, 1

    if not server_state.get("snapin", True):
        for position, call in enumerate(calls):
            if catalog.is_exchange_cmdlet(call["cmdlet"]):
                envelope["error"] = _error(
                    position,
                    call["cmdlet"],
                    "snapin",
                    "The Windows PowerShell snap-in '%s' is not installed on this computer." % SNAPIN,
                    "InvalidArgument",
                    "AddPSSnapInRead,Microsoft.PowerShell.Commands.AddPSSnapinCommand",
                )
                return envelope, 1

    log_path = os.path.join(os.path.dirname(store.path), "calls.jsonl")
    with store.transaction() as state:
        ctx = Context(state, server_name, now(state))
        apply_scheduled_rollover(ctx)
        version = version_tuple(ctx.server["exsetup_build"])
        for index, call in enumerate(calls):
            name = call["cmdlet"]
            parameters = call.get("parameters") or {}
            if not isinstance(parameters, dict):
                parameters = {}
            type_name = exchange_type(name) if name in CMDLETS or name in MONITORING_CMDLETS else name
            try:
                for bound_by_runner in RUNNER_BOUND:
                    if any(str(k).lower() == bound_by_runner.lower() for k in parameters):
                        raise CmdletError(
                            "Cannot bind parameter because parameter '%s' is specified more than once. To provide "
                            "multiple values to parameters that can accept multiple values, use the array syntax."
                            % bound_by_runner,
                            "InvalidArgument",
                            "ParameterAlreadyBound",
                        )
                if not catalog.is_exchange_cmdlet(name) and name not in LOCAL_COMMANDS:
                    raise CmdletError(
                        "The simulated Exchange does not implement the runner's command '%s' yet." % name,
                        "NotImplemented",
                        "NotImplementedException",
                    )
                if name in LOCAL_COMMANDS:
                    type_name = LOCAL_COMMANDS[name][0]
                    bound, parameter_set = _bind_local(name, parameters), ""
                else:
                    parameter_set, bound = catalog.resolve_call(name, parameters, version)
                _log_call(log_path, server_name, name, parameters)
                function = CMDLETS.get(name) or MONITORING_CMDLETS[name]
                output = function(ctx, bound, parameter_set) if name in WITH_SET else function(ctx, bound)
            except catalog.CatalogError as exc:
                envelope["error"] = _error(
                    index, name, "cmdlet", exc.message, exc.category, "%s,%s" % (exc.error_id, type_name)
                )
                break
            except CmdletError as exc:
                error_id = exc.error_id if "," in exc.error_id else "%s,%s" % (exc.error_id, type_name)
                envelope["error"] = _error(index, name, "cmdlet", exc.message, exc.category, error_id)
                break
            properties = call.get("properties")
            rows = []
            if properties is not None:
                wanted = [str(p) for p in (properties if isinstance(properties, list) else [properties])]
                for item in output:
                    rows.append({p: normalise(item.get(p)) for p in wanted})
            envelope["results"].append({"cmdlet": name, "output": rows})
    if envelope["error"] is None:
        envelope["ok"] = True
        return envelope, 0
    return envelope, 1


def _ps_version(server: dict[str, Any]) -> str:
    # Exchange 2013 commonly runs on Windows Server 2012 R2 (WMF 4.0); 2016+ on Windows Server 2016/2019 (5.1).
    return "4.0" if server["admin_display_version"]["Minor"] == 0 else "5.1.17763.1"


def make_handler(
    store: StateStore,
    server_name: str,
    bootstrap: Optional[str] = None,
    runner: Optional[str] = None,
) -> Callable[[CommandRequest], CommandResult]:
    """The WS-Management command handler for one simulated Exchange server (``bootstrap``/``runner`` default to the
    collection's texts; tests may pass their own)."""

    def handler(request: CommandRequest) -> CommandResult:
        if bootstrap is None or runner is None:
            default_bootstrap, default_runner = _runner_texts()
        expected_bootstrap = default_bootstrap if bootstrap is None else bootstrap
        expected_runner = default_runner if runner is None else runner
        match = _ENCODED.search(" " + request.command_line)
        if not match:
            return _refuse("the command line has no -EncodedCommand")
        try:
            script = base64.b64decode(match.group(1), validate=True).decode("utf-16-le")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            return _refuse("the -EncodedCommand value is not base64 of UTF-16LE text")
        if script != expected_bootstrap:
            return _refuse("the encoded command is not the runner's BOOTSTRAP")
        try:
            text = request.stdin.decode("ascii")
        except UnicodeDecodeError:
            return _refuse("standard input is not ASCII")
        runner_text, separator, request_text = text.partition(SEPARATOR)
        if not separator:
            return _refuse("standard input has no runner/request separator")
        if runner_text != expected_runner:
            return _refuse("the script on standard input is not the runner")
        envelope, code = run_request(store, server_name, request_text)
        body = json.dumps(envelope, ensure_ascii=True, separators=(",", ":"))
        return CommandResult(stdout=body.encode("ascii"), stderr=b"", exit_code=code)

    return handler
