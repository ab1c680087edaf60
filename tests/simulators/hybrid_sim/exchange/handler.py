"""The simulated Exchange endpoint (PSRP configuration ``Microsoft.Exchange``) and the one-call core under it.

``execute_call(store, server_name, cmdlet, parameters)`` runs one Exchange cmdlet against the organization in one
state transaction: the AuthAdmin servicelet's scheduled rollover, the catalog's binding for the server's ExSetup
build (PowerShell's texts for unknown/missing/conflicting parameters and cmdlets the build lacks), ``calls.jsonl``,
then the simulated cmdlet; a failing cmdlet leaves the state as it was.

``make_exchange_handler(store, server_name)`` is what the WS-Management server calls for pipelines on that
endpoint. It behaves like Exchange's remote runspace (exchange-remoting-facts.md):

- NoLanguage: any script command fails the pipeline with ParseException ``ScriptsNotAllowed`` (pypsrp #103; the
  CategoryInfo ``ParserError: (<text>:String) [], ParseException`` as Windows prints it for a NoLanguage session).
- RBAC (``rbac.py``): a cmdlet the caller's role groups do not grant does not exist; like any unknown command it
  fails the pipeline with CommandNotFoundException (pypsrp #29). Besides the granted cmdlets the runspace has the
  seven commands of PowerShell's restricted remote-server session (``InitialSessionState.CreateRestricted(
  SessionCapabilities.RemoteServer)``): Get-Command, Select-Object, Measure-Object, Get-FormatData, Out-Default,
  Exit-PSSession, Get-Help - small working versions here (Get-Command lists what this caller may run).
- Parameter binding errors fail the pipeline (PowerShell binds before it runs anything); a cmdlet's own failure is
  a record on the ERROR STREAM and the pipeline completes (Exchange's remote errors are non-terminating as the
  client sees them), FullyQualifiedErrorId ``<id>,<the cmdlet's .NET type>``, target = the Identity when given.
- Output: every row as a typed ``RemoteObject`` (``objects.py``).
- Statements (``PowerShell.AddStatement()``, sent as ``ExtraCmds``): each runs as its own pipeline, in order, with
  the checks above; their output and error records share the streams; a terminating error (an unknown command, a
  binding error) ends the invocation after the statements before it ran. A script in any statement refuses the
  whole invocation before anything runs.
"""

from __future__ import annotations

import copy
import datetime as dt
import fnmatch
import hashlib
import json
import os
from typing import Any, Iterable, Mapping, Optional, Sequence

from ansible_collections.exchange.hybrid.plugins.module_utils import _cmdlet_catalog as catalog
from ansible_collections.exchange.hybrid.plugins.module_utils._errors import CatalogError
from ansible_collections.exchange.hybrid.plugins.module_utils._values import SecureText

from ..state import StateStore, now
from ..wsman.pipeline import (
    EXCHANGE_CONFIGURATION,
    Command,
    PipelineHandler,
    PipelineRequest,
    PipelineResult,
    RemoteEnum,
    RemoteError,
    RemoteObject,
)
from . import rbac
from .cmdlets import CMDLETS, WITH_SET, CmdletError, Context, apply_scheduled_rollover
from .objects import output_objects
from .organization import version_tuple
from .probe import MONITORING_CMDLETS

Pairs = Sequence[tuple[Optional[str], Any]]
Spec = Mapping[str, tuple[str, bool]]  # parameter -> (type, mandatory)

# ------------------------------------------------------------------------------------------------ PowerShell's texts


def exchange_type(cmdlet: str) -> str:
    """The .NET type in a FullyQualifiedErrorId. Exchange's tasks live in several namespaces; we use the one of
    the certificate and Auth cmdlets for all of them."""
    return "Microsoft.Exchange.Management.SystemConfigurationTasks." + cmdlet.replace("-", "")


def command_not_found(name: str) -> CatalogError:
    # The same text as the catalog's for a cmdlet the build lacks: to the caller, not granted = not there.
    return CatalogError(
        "The term '%s' is not recognized as the name of a cmdlet, function, script file, or operable program. "
        "Check the spelling of the name, or if a path was included, verify that the path is correct and try "
        "again." % name,
        "ObjectNotFound",
        "CommandNotFoundException",
        None,
    )


def scripts_not_allowed(text: str) -> RemoteError:
    return RemoteError(
        "The syntax is not supported by this runspace. This can occur if the runspace is in no-language mode.",
        "ParserError",
        "ScriptsNotAllowed",
        text,
        "System.Management.Automation.ParseException",
    )


def _argument_text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(_argument_text(v) for v in value)
    return "" if value is None else str(value)


def _binding_error(message: str, error_id: str, type_name: Optional[str], category: str = "InvalidArgument") -> Any:
    # error_id carries its ",<type>" suffix already, so remote_error leaves it alone; a script has no type name.
    return CatalogError(message, category, error_id + ("," + type_name if type_name else ""))


_EXCEPTION_TYPES = {
    "CommandNotFoundException": "System.Management.Automation.CommandNotFoundException",
    "ManagementObjectNotFoundException": "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException",
    "ADObjectAlreadyExistsException": "Microsoft.Exchange.Data.Directory.ADObjectAlreadyExistsException",
    "NoServiceFoundForGivenName": "Microsoft.PowerShell.Commands.ServiceCommandException",
    "FormatException": "System.Management.Automation.MethodInvocationException",
}


def _exception_type(error_id: str) -> str:
    head = error_id.split(",", 1)[0]
    if head in _EXCEPTION_TYPES:
        return _EXCEPTION_TYPES[head]
    if "." in head:
        return head  # the id is already a type name (System.Management.Automation.PSInvalidOperationException)
    if head in ("ArgumentException", "ArgumentOutOfRangeException", "InvalidOperationException"):
        return "System." + head
    if head in ("InvalidCastException", "NotImplementedException"):
        return "System." + head
    return "Microsoft.Exchange.Management.SystemConfigurationTasks." + head  # plausible for Exchange's own errors


def error_target(parameters: Mapping[str, Any]) -> Optional[str]:
    """The ErrorRecord's TargetObject: the object the call named, when it named one."""
    for key, value in parameters.items():
        if str(key).lower() in ("identity", "thumbprint") and value is not None:
            return _argument_text(value)
    return None


def remote_error(exc: Exception, type_name: Optional[str], target: Optional[str] = None) -> RemoteError:
    """A CmdletError or CatalogError as the ErrorRecord PowerShell writes (FullyQualifiedErrorId "<id>,<type>")."""
    message = getattr(exc, "message", str(exc))
    category = getattr(exc, "category", "NotSpecified")
    error_id = getattr(exc, "error_id", "") or "RuntimeException"
    if isinstance(exc, CatalogError):
        if error_id == "CommandNotFoundException":
            # PowerShell's own id for an unknown command carries no type: "FullyQualifiedErrorId :
            # CommandNotFoundException"; the target is the name.
            return RemoteError(message, category, error_id, target, _EXCEPTION_TYPES[error_id])
        exception_type = "System.Management.Automation.ParameterBindingException"
        target = None
    else:
        exception_type = _exception_type(error_id)
    if "," not in error_id and type_name:
        error_id = "%s,%s" % (error_id, type_name)
    return RemoteError(message, category, error_id, target, exception_type)


# ------------------------------------------------------------------------------------------------------ calls.jsonl


def loggable(value: Any) -> Any:
    """A parameter value for calls.jsonl: JSON types as they are (every str exactly as received; ``ensure_ascii``
    keeps lone surrogates, NUL and U+2019 intact), datetime -> ISO text, enum -> its name; a SecureString as
    PowerShell prints one, bytes (a PFX among them) by length and SHA-256 only: the log holds no secret."""
    if isinstance(value, SecureText):
        return "System.Security.SecureString"
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return "byte[%d] sha256:%s" % (len(value), hashlib.sha256(bytes(value)).hexdigest())
    if isinstance(value, RemoteEnum):
        return value.name
    if isinstance(value, RemoteObject):
        return value.to_string if value.to_string is not None else value.type_names[0]
    if isinstance(value, (list, tuple)):
        return [loggable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): loggable(v) for k, v in value.items()}
    return str(value)


def calls_path(store: StateStore) -> str:
    return os.path.join(os.path.dirname(store.path), "calls.jsonl")


def log_call(store: StateStore, server: str, cmdlet: str, parameters: Mapping[str, Any], endpoint: str) -> None:
    entry = {
        "server": server,
        "cmdlet": cmdlet,
        "parameters": {str(k): loggable(v) for k, v in parameters.items()},
        "endpoint": endpoint,
    }
    line = json.dumps(entry, ensure_ascii=True, sort_keys=True)
    with open(calls_path(store), "a", encoding="ascii") as handle:
        handle.write(line + "\n")


# ---------------------------------------------------------------------------------------------------------- binding


def bind_parameters(
    pairs: Pairs,
    spec: Spec,
    type_name: Optional[str],
    positional: Sequence[str] = (),
    common: bool = True,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Bind (name, value) pairs as PowerShell's binder would for a command declaring ``spec``; returns (bound under
    canonical names, the parameters as given - a positional argument under the parameter it bound to). Texts as
    PowerShell 5.1 prints them; a switch sent without a value (``AddParameter(name)``) is present."""
    lookup = {p.lower(): p for p in spec}
    commons = {p.lower(): p for p in catalog.COMMON_PARAMETERS} if common else {}
    bound: dict[str, Any] = {}
    given: dict[str, Any] = {}
    for name, value in pairs:
        if name is None:
            free = [p for p in positional if p not in bound]
            if not free:
                raise _binding_error(
                    "A positional parameter cannot be found that accepts argument '%s'." % _argument_text(value),
                    "PositionalParameterNotFound",
                    type_name,
                )
            canonical, label = free[0], free[0]
        else:
            key = str(name).lower()
            canonical = lookup.get(key) or commons.get(key)
            label = str(name)
            if canonical is None:
                raise _binding_error(
                    "A parameter cannot be found that matches parameter name '%s'." % name,
                    "NamedParameterNotFound",
                    type_name,
                )
        if canonical in bound:
            raise _binding_error(
                "Cannot bind parameter because parameter '%s' is specified more than once. To provide multiple values "
                "to parameters that can accept multiple values, use the array syntax." % canonical,
                "ParameterAlreadyBound",
                type_name,
            )
        given[label] = value  # as received: calls.jsonl shows what the client sent
        kind = spec.get(canonical, ("Object", False))[0]
        if kind == "Switch" and value is None:
            value = True
        _check_type(canonical, kind, value, type_name)
        bound[canonical] = value
    missing = [p for p, (_kind, mandatory) in spec.items() if mandatory and p not in bound]
    if missing:
        raise _binding_error(
            "Cannot process command because of one or more missing mandatory parameters: %s." % " ".join(missing),
            "MissingMandatoryParameter",
            type_name,
        )
    for parameter, (_kind, mandatory) in spec.items():
        if mandatory and bound.get(parameter) is None:
            raise _binding_error(
                "Cannot bind argument to parameter '%s' because it is null." % parameter,
                "ParameterArgumentValidationErrorNullNotAllowed",
                type_name,
                "InvalidData",
            )
    return bound, given


def _check_type(name: str, kind: str, value: Any, type_name: Optional[str]) -> None:
    if value is None:
        return
    if kind == "Switch" and not isinstance(value, bool):
        raise _binding_error(
            "Cannot process argument transformation on parameter '%s'. Cannot convert the \"%s\" value of type "
            '"%s" to type "System.Management.Automation.SwitchParameter".' % (name, value, type(value).__name__),
            "ParameterArgumentTransformationError",
            type_name,
            "InvalidData",
        )
    if kind == "Int32" and (
        isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().lstrip("+-").isdigit()
    ):
        raise _binding_error(
            'Cannot bind parameter \'%s\'. Cannot convert value "%s" to type "System.Int32". Error: "Input string '
            'was not in a correct format."' % (name, value),
            "CannotConvertArgumentNoMessage",
            type_name,
        )
    if kind == "String" and isinstance(value, (list, tuple, dict)):
        raise _binding_error(
            "Cannot convert 'System.Object[]' to the type 'System.String' required by parameter '%s'. Specified "
            "method is not supported." % name,
            "CannotConvertArgument",
            type_name,
        )


def _switches(cmdlet: str) -> set[str]:
    entry = catalog.CATALOG[cmdlet]
    names: set[str] = set()
    for parameter in entry["parameters"]:
        spec = catalog.parameter_spec(cmdlet, parameter)
        if spec["switch"]:
            names.add(parameter.lower())
            names.update(a.lower() for a in spec.get("aliases", []))
    return names


def _bindable(value: Any) -> Any:
    """PSRP values in the forms the catalog's binder and the simulated cmdlets take (the state keeps JSON forms):
    a DateTime as ISO text, an enum as its name, any other object as its ToString, as PowerShell would coerce."""
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
        return moment.isoformat()
    if isinstance(value, RemoteEnum):
        return value.name
    if isinstance(value, RemoteObject):
        return value.to_string if value.to_string is not None else ""
    if isinstance(value, tuple):
        return [_bindable(v) for v in value]
    if isinstance(value, list):
        return [_bindable(v) for v in value]
    return value


def exchange_parameters(command: Command, cmdlet: str) -> dict[str, Any]:
    """An Exchange command's parameters as a dict, refusing what a dict cannot carry: positional arguments (the
    catalog records no positions, so the simulator does not guess them; name every parameter) and a name sent twice."""
    named: dict[str, Any] = {}
    for name, value in command.parameters:
        if name is None:
            raise _binding_error(
                "A positional parameter cannot be found that accepts argument '%s'." % _argument_text(value),
                "PositionalParameterNotFound",
                exchange_type(cmdlet),
            )
        if name in named:
            raise _binding_error(
                "Cannot bind parameter because parameter '%s' is specified more than once. To provide multiple values "
                "to parameters that can accept multiple values, use the array syntax." % name,
                "ParameterAlreadyBound",
                exchange_type(cmdlet),
            )
        named[name] = value
    return named


# ---------------------------------------------------------------------------------------------------- one Exchange call


def execute_call(
    store: StateStore,
    server_name: str,
    cmdlet: str,
    parameters: Mapping[str, Any],
    username: Optional[str] = None,
) -> list[dict[str, Any]]:
    """Run one Exchange cmdlet on ``server_name`` in one state transaction; returns its rows (JSON-form dicts).

    ``username`` (the remote caller) subjects the call to RBAC; None skips it (direct harness calls). Raises
    CatalogError (the command is unknown to the caller or the build, or binding failed: nothing ran, nothing was
    logged) or CmdletError (the cmdlet failed: it was logged, its changes are undone)."""
    failure: Optional[Exception] = None
    rows: list[dict[str, Any]] = []
    with store.transaction() as state:
        ctx = Context(state, server_name, now(state))
        apply_scheduled_rollover(ctx)
        try:
            if not catalog.is_exchange_cmdlet(cmdlet):
                raise command_not_found(cmdlet)
            name = catalog.canonical_cmdlet(cmdlet)
            if username is not None and not rbac.is_granted(ctx.exchange, username, name):
                raise command_not_found(cmdlet)
            switches = _switches(name)
            bindable = {
                key: True if value is None and str(key).lower() in switches else _bindable(value)
                for key, value in parameters.items()
            }
            parameter_set, bound = catalog.resolve_call(name, bindable, version_tuple(ctx.server["exsetup_build"]))
            log_call(store, server_name, name, parameters, EXCHANGE_CONFIGURATION)
            function = CMDLETS.get(name) or MONITORING_CMDLETS[name]
            # A reader changes nothing, so it needs no copy to undo (a copy of a 50-server state per store read).
            before = None if name.split("-", 1)[0] in ("Get", "Test") else copy.deepcopy(state)
            try:
                rows = function(ctx, bound, parameter_set) if name in WITH_SET else function(ctx, bound)
            except CmdletError:
                # A cmdlet is atomic: what it changed before failing is undone (the rollover above stays).
                if before is not None:
                    state.clear()
                    state.update(before)
                raise
        except (CatalogError, CmdletError) as exc:
            failure = exc
    if failure is not None:
        raise failure
    return rows


# ------------------------------------------------------------------------------------------ the restricted runspace

CORE_TYPES = {
    "Get-Command": "Microsoft.PowerShell.Commands.GetCommandCommand",
    "Select-Object": "Microsoft.PowerShell.Commands.SelectObjectCommand",
    "Measure-Object": "Microsoft.PowerShell.Commands.MeasureObjectCommand",
    "Get-FormatData": "Microsoft.PowerShell.Commands.GetFormatDataCommand",
    "Out-Default": "Microsoft.PowerShell.Commands.OutDefaultCommand",
    "Exit-PSSession": "Microsoft.PowerShell.Commands.ExitPSSessionCommand",
    "Get-Help": "Microsoft.PowerShell.Commands.GetHelpCommand",
}
# The parameters the small versions here understand: (spec, positional order).
CORE_PARAMETERS: dict[str, tuple[dict[str, tuple[str, bool]], tuple[str, ...]]] = {
    "Get-Command": ({"Name": ("String[]", False)}, ("Name",)),
    "Select-Object": (
        {"Property": ("Object[]", False), "First": ("Int32", False), "ExpandProperty": ("String", False)},
        ("Property",),
    ),
    "Measure-Object": ({}, ()),
    "Get-FormatData": ({"TypeName": ("String[]", False)}, ("TypeName",)),
    "Out-Default": ({}, ()),
    "Exit-PSSession": ({}, ()),
    "Get-Help": ({"Name": ("String", False), "Full": ("Switch", False)}, ("Name",)),
}
_CORE_BY_LOWER = {name.lower(): name for name in CORE_TYPES}
_COMMAND_INFO = ["System.Management.Automation.CommandInfo", "System.Object"]


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]


def _exists_on(name: str, version: tuple[int, int, int, int]) -> bool:
    try:
        catalog.resolve_call(name, {}, version)
    except CatalogError as exc:
        return exc.error_id != "CommandNotFoundException"
    return True


def visible_commands(exchange: dict[str, Any], username: str, server_name: str) -> list[str]:
    """What Get-Command lists for this caller on this server: the core commands and the granted Exchange cmdlets the
    server's build has."""
    version = version_tuple(exchange["servers"][server_name]["exsetup_build"])
    granted = [c for c in catalog.EXCHANGE_CMDLETS if rbac.is_granted(exchange, username, c) and _exists_on(c, version)]
    return sorted(list(CORE_TYPES) + granted, key=str.lower)


def _get_command(names: list[str], bound: dict[str, Any]) -> tuple[list[Any], list[RemoteError]]:
    output: list[Any] = []
    errors: list[RemoteError] = []
    for pattern in _strings(bound.get("Name")) or ["*"]:
        matches = [n for n in names if fnmatch.fnmatchcase(n.lower(), pattern.lower())]
        if not matches and not any(ch in pattern for ch in "*?["):
            exc = command_not_found(pattern)
            errors.append(
                RemoteError(
                    exc.message,
                    exc.category,
                    "CommandNotFoundException,Microsoft.PowerShell.Commands.GetCommandCommand",
                    pattern,
                    "System.Management.Automation.CommandNotFoundException",
                )
            )
        for name in matches:
            # The restricted session's core commands are proxy functions; Exchange's cmdlets are cmdlets.
            core = name in CORE_TYPES
            kind = RemoteEnum(
                "System.Management.Automation.CommandTypes", "Function" if core else "Cmdlet", 2 if core else 8
            )
            type_names = [
                "System.Management.Automation.%s" % ("FunctionInfo" if core else "CmdletInfo")
            ] + _COMMAND_INFO
            output.append(RemoteObject(type_names, {"Name": name, "CommandType": kind}, name))
    return output, errors


def _property(item: Any, name: str) -> Any:
    if isinstance(item, RemoteObject):
        for key, value in item.properties.items():
            if key.lower() == name.lower():
                return value
    return None


def _select(items: list[Any], bound: dict[str, Any]) -> list[Any]:
    if bound.get("First") is not None:
        items = items[: int(bound["First"])]
    if bound.get("ExpandProperty") is not None:
        expanded: list[Any] = []
        for item in items:
            value = _property(item, str(bound["ExpandProperty"]))
            expanded.extend(value if isinstance(value, list) else [value])
        return expanded
    patterns = _strings(bound.get("Property"))
    if not patterns:
        return items
    selected = []
    for item in items:
        names = list(item.properties) if isinstance(item, RemoteObject) else []
        properties: dict[str, Any] = {}
        for pattern in patterns:
            if any(ch in pattern for ch in "*?["):
                for name in names:
                    if fnmatch.fnmatchcase(name.lower(), pattern.lower()):
                        properties[name] = _property(item, name)
            else:
                properties[pattern] = _property(item, pattern)
        first = item.type_names[0] if isinstance(item, RemoteObject) and item.type_names else "System.Object"
        type_names = ["Selected." + first, "System.Management.Automation.PSCustomObject", "System.Object"]
        selected.append(RemoteObject(type_names, properties))
    return selected


def _measure(items: list[Any]) -> list[Any]:
    properties = {"Count": len(items), "Average": None, "Sum": None, "Maximum": None, "Minimum": None, "Property": None}
    type_names = [
        "Microsoft.PowerShell.Commands.GenericMeasureInfo",
        "Microsoft.PowerShell.Commands.MeasureInfo",
        "System.Object",
    ]
    return [RemoteObject(type_names, properties, "Microsoft.PowerShell.Commands.GenericMeasureInfo")]


def _failed(
    exc: Exception, type_name: Optional[str], target: Optional[str] = None, errors: Iterable[RemoteError] = ()
) -> PipelineResult:
    return PipelineResult(errors=list(errors), failed=remote_error(exc, type_name, target))


def make_exchange_handler(store: StateStore, server_name: str) -> PipelineHandler:
    """The PSRP pipeline handler of ``server_name``'s Microsoft.Exchange endpoint."""

    def handler(request: PipelineRequest) -> PipelineResult:
        for command in request.commands:
            if command.is_script:
                return PipelineResult(failed=scripts_not_allowed(command.name))
        # Statements (ExtraCmds) run one after another, each its own pipeline: errors on the error stream do not
        # stop the next one, a terminating error ends the invocation with what ran before it.
        output: list[Any] = []
        errors: list[RemoteError] = []
        # The caller's grants as the invocation starts (Exchange fixes a session's cmdlets when it opens it).
        exchange = store.read()["exchange"]
        for commands in request.statements():
            result = run_statement(commands, request.username, exchange)
            output.extend(result.output)
            errors.extend(result.errors)
            if result.failed is not None:
                return PipelineResult(output=output, errors=errors, failed=result.failed)
        return PipelineResult(output=output, errors=errors)

    def run_statement(commands: Sequence[Command], user: str, exchange: dict[str, Any]) -> PipelineResult:
        # PowerShell resolves and binds the whole pipeline before anything runs.
        plan: list[tuple[str, str, Any]] = []
        for position, command in enumerate(commands):
            name = command.name
            if catalog.is_exchange_cmdlet(name) and rbac.is_granted(exchange, user, catalog.canonical_cmdlet(name)):
                canonical = catalog.canonical_cmdlet(name)
                if position > 0:
                    return PipelineResult(
                        failed=RemoteError(
                            "The simulated Exchange endpoint does not model pipeline input to Exchange cmdlets: send "
                            "'%s' as the first command of its own pipeline." % canonical,
                            "NotImplemented",
                            "HybridSimPipelineInputNotModelled",
                            canonical,
                            "System.NotImplementedException",
                        )
                    )
                try:
                    plan.append(("exchange", canonical, exchange_parameters(command, canonical)))
                except CatalogError as exc:
                    return _failed(exc, exchange_type(canonical))
            elif name.lower() in _CORE_BY_LOWER:
                canonical = _CORE_BY_LOWER[name.lower()]
                spec, positional = CORE_PARAMETERS[canonical]
                try:
                    plan.append(
                        (
                            "core",
                            canonical,
                            bind_parameters(command.parameters, spec, CORE_TYPES[canonical], positional),
                        )
                    )
                except CatalogError as exc:
                    return _failed(exc, CORE_TYPES[canonical])
            else:
                return _failed(command_not_found(name), None, name)

        items: list[Any] = []
        errors: list[RemoteError] = []
        for kind, name, parameters in plan:
            if kind == "exchange":
                try:
                    rows = execute_call(store, server_name, name, parameters, username=user)
                except CatalogError as exc:
                    return _failed(exc, exchange_type(name), name, errors)
                except CmdletError as exc:
                    errors.append(remote_error(exc, exchange_type(name), error_target(parameters)))
                    rows = []
                items = output_objects(name, rows)
                continue
            bound, given = parameters
            log_call(store, server_name, name, given, EXCHANGE_CONFIGURATION)
            if name == "Get-Command":
                items, more = _get_command(visible_commands(store.read()["exchange"], user, server_name), bound)
                errors.extend(more)
            elif name == "Select-Object":
                items = _select(items, bound)
            elif name == "Measure-Object":
                items = _measure(items)
            else:  # Out-Default consumes its input; Get-FormatData, Get-Help and Exit-PSSession write nothing here.
                items = []
        return PipelineResult(output=items, errors=errors)

    return handler
