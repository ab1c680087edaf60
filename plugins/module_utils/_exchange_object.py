# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one loop of a module that manages an Exchange object, as microsoft.ad's ``Invoke-AnsibleADObject`` is for AD.

A module declares its object (``ExchangeObject``): the read calls, how to find the object among what they return,
its plain ``view``, the ``Property`` map (view key -> option, cmdlet parameter, comparison), the calls that create,
update and remove it, and hooks for its special cases. ``run_exchange_object(module, declaration)`` then owns the
loop: refuse bad input before connecting, read, the wanted state, compare, check mode, write, the re-read that
proves the write, diff (``before``/``after``, both views) and the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ansible_collections.exchange.hybrid.plugins.module_utils._errors import (
    ExchangeCommandError,
    ExchangeError,
    fail_from_error,
)
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange_module import client_for, run_reads

# -- comparisons: how two values of one property are the same


def same_value(current: Any, wanted: Any) -> bool:
    return current == wanted


def same_text(current: Any, wanted: Any) -> bool:
    """Case-insensitive; None and "" are the same (Exchange reports an unset string either way)."""
    return str(current or "").casefold() == str(wanted or "").casefold()


def same_bool(current: Any, wanted: Any) -> bool:
    return bool(current) == bool(wanted)


def same_uri(current: Any, wanted: Any) -> bool:
    """Case-insensitive, ignoring a trailing slash."""
    return str(current or "").rstrip("/").casefold() == str(wanted or "").rstrip("/").casefold()


def same_set(current: Any, wanted: Any) -> bool:
    """A multi-valued property: the same strings in any order, ignoring case."""
    return {str(v).casefold() for v in current or []} == {str(v).casefold() for v in wanted or []}


@dataclass(frozen=True)
class Property:
    """One property of the object: its key in the view (and the result), the module option that asks for it
    (default: the key; ``None`` when a hook derives it), the New-/Set- parameter that writes it, its comparison."""

    key: str
    parameter: Optional[str] = None
    option: Optional[str] = ""
    compare: Callable[[Any, Any], bool] = same_value

    @property
    def option_name(self) -> Optional[str]:
        return self.key if self.option == "" else self.option


class Refused(Exception):
    """A hook refuses to go on (a finding, a conflict, a build that lacks a parameter): nothing was changed."""

    def __init__(self, msg: str, **fields: Any) -> None:
        super().__init__(msg)
        self.msg = msg
        self.fields = fields


@dataclass
class Run:
    """What the hooks of one module run see and may add to."""

    module: Any
    declaration: "ExchangeObject"
    client: Any = None
    outputs: list = field(default_factory=list)  # the read calls' outputs, in order
    exsetup: Optional[str] = None  # ExSetup's file version, with ``host_facts``
    found: Optional[dict] = None  # the object's row, None when it does not exist
    before: Any = None  # view(found)
    wanted: Optional[dict] = None  # the wanted values of the managed properties; None: the object must not exist
    after: Any = None  # the view after the run (predicted until the re-read)
    changes: list = field(default_factory=list)  # the view keys whose values change
    action: str = "none"  # none, created, updated, removed
    extra_writes: list = field(default_factory=list)  # calls after the object's own writes (hooks add them)
    result: dict = field(default_factory=dict)  # the module's own result keys
    data: dict = field(default_factory=dict)  # the declaration's own working values

    @property
    def params(self) -> dict:
        return self.module.params

    def given(self) -> dict:
        """The wanted values as the options give them: every property whose option is set."""
        wanted = {}
        for prop in self.declaration.properties:
            name = prop.option_name
            if name is not None and self.params.get(name) is not None:
                wanted[prop.key] = self.params[name]
        return wanted

    def parameters(self, keys: Optional[list] = None) -> dict:
        """The cmdlet parameters that write ``keys`` (default: the changed ones) with their values after the run."""
        chosen = self.changes if keys is None else keys
        return {
            prop.parameter: self.after[prop.key]
            for prop in self.declaration.properties
            if prop.parameter and prop.key in chosen
        }

    def new_parameters(self) -> dict:
        """The parameters for creating the object: every wanted property that has a value."""
        keys = [key for key, value in (self.wanted or {}).items() if value is not None and value != []]
        return self.parameters(keys)


Hook = Callable[[Run], Any]


@dataclass
class ExchangeObject:
    """The declaration of an Exchange object type.

    ``reads(run)`` are the read calls; the first returns the objects (the re-read sends it again).
    ``locate(run, rows)`` is the object's row among them. ``view(row)`` is the one plain view (``row`` None:
    the object does not exist). ``failure(run, stage, error)`` completes "Failed to <...>" (stage ``read`` or
    ``write``; the error is None when the re-read disproves the write). ``new``/``update``/``remove`` return the
    calls that create, change or remove the object (``update`` only when a property changes). The other hooks
    default to nothing special.
    """

    properties: list
    reads: Hook
    locate: Callable[[Run, list], Optional[dict]]
    view: Callable[[Optional[dict]], Any]
    failure: Callable[[Run, str, Optional[ExchangeError]], str]
    new: Hook
    update: Hook
    remove: Optional[Hook] = None
    validate: Optional[Callable[[dict], Optional[str]]] = None  # a message refuses the input before connecting
    host_facts: bool = False  # also read the server's clock and ExSetup version (run.exsetup)
    find: Optional[Hook] = None  # the object's row among several (adoption); default locate(outputs[0])
    desired: Optional[Hook] = None  # the wanted values (run.wanted); default run.given(); may raise Refused
    new_view: Optional[Hook] = None  # the view of the object about to be created; default the wanted values
    planned: Optional[Hook] = None  # after the plan, before any write: warnings, result keys for check mode
    follow_ups: Optional[Hook] = None  # calls after the proving re-read whose failure does not undo the change
    followed_up: Optional[Callable[[Run, int, Optional[ExchangeError]], None]] = None  # (run, done, error)
    mismatch: Optional[Callable[[Run, Any], str]] = None  # the message when the re-read disproves the write
    result_key: Optional[str] = None  # the view under this result key; None: its keys at the top of the result
    absent_diff: Any = None  # how diff shows an object that does not exist

    def same(self, key: str, current: Any, wanted: Any) -> bool:
        """Whether ``current`` already is ``wanted``, by the property's comparison."""
        prop = next((p for p in self.properties if p.key == key), None)
        return (prop.compare if prop else same_value)(current, wanted)


def _fail(run: Run, msg: str, **fields: Any) -> None:
    merged = dict(run.result)
    merged.update(fields)
    run.module.fail_json(msg=msg, **merged)


def _set_view(run: Run, value: Any) -> None:
    decl = run.declaration
    if decl.result_key is not None:
        run.result[decl.result_key] = value
    elif value is not None:
        run.result.update(value)
    if run.module._diff:
        run.result["diff"] = {
            "before": decl.absent_diff if run.before is None else run.before,
            "after": decl.absent_diff if value is None else value,
        }


def _plan(run: Run) -> list:
    """The wanted state against the current one: after, changes, action and the write calls."""
    decl = run.declaration
    if run.wanted is None:
        run.after = None
        if run.found is None:
            return []
        run.action = "removed"
        return list(decl.remove(run)) + run.extra_writes
    creating = run.before is None
    base = decl.new_view(run) if (creating and decl.new_view) else (dict(run.wanted) if creating else run.before)
    run.after = dict(base)
    run.changes = []
    for key, value in run.wanted.items():
        if creating or not decl.same(key, run.before.get(key), value):
            run.changes.append(key)
            run.after[key] = value
    if creating:
        run.action = "created"
        writes = list(decl.new(run))
    elif run.changes:
        run.action = "updated"
        writes = list(decl.update(run))
    else:
        writes = []
    return writes + run.extra_writes


def _disproved(run: Run, actual: Any) -> bool:
    if run.after is None or actual is None:
        return (run.after is None) != (actual is None)
    return any(not run.declaration.same(key, actual.get(key), run.after[key]) for key in run.wanted or {})


def run_exchange_object(module: Any, declaration: ExchangeObject) -> None:
    """Run the loop for ``declaration``; ends the module with exit_json or fail_json."""
    decl = declaration
    if decl.validate is not None:
        problem = decl.validate(module.params)
        if problem:
            module.fail_json(msg=problem)
    run = Run(module, decl)
    stage = "read"
    try:
        run.client = client_for(module)
        reads = list(decl.reads(run))
        if decl.host_facts:
            run.outputs, run.exsetup = run_reads(run.client, reads)
        else:
            run.outputs = run.client.run(reads)
        run.found = decl.find(run) if decl.find else decl.locate(run, run.outputs[0])
        run.before = decl.view(run.found)
        run.wanted = decl.desired(run) if decl.desired else run.given()
        writes = _plan(run)
        run.result["changed"] = bool(writes)
        _set_view(run, run.after)
        if decl.planned:
            decl.planned(run)
        if not writes or module.check_mode:
            module.exit_json(**run.result)

        stage = "write"
        follow_ups = list(decl.follow_ups(run)) if decl.follow_ups else []
        proof = len(writes)
        outputs: list = []
        error: Optional[ExchangeError] = None
        try:
            outputs = run.client.run(writes + [reads[0]] + follow_ups)
        except ExchangeCommandError as exc:
            if exc.index is None or exc.index <= proof:
                done = writes[: exc.index] if exc.index is not None else []
                run.result["writes_done"] = [entry["cmdlet"] for entry in done]
                raise
            error, outputs = exc, list(exc.results)
        actual = decl.view(decl.locate(run, outputs[proof]))
        if decl.followed_up:
            decl.followed_up(run, len(outputs) - proof - 1, error)
        if _disproved(run, actual):
            if decl.mismatch:
                _fail(run, decl.mismatch(run, actual))
            _fail(
                run,
                "Failed to %s: %s ran, but it reads back as %r"
                % (decl.failure(run, "write", None), ", ".join(entry["cmdlet"] for entry in writes), actual),
            )
        _set_view(run, actual)
        module.exit_json(**run.result)
    except Refused as exc:
        _fail(run, exc.msg, **exc.fields)
    except ExchangeError as exc:
        fail_from_error(module, exc, decl.failure(run, stage, exc), **run.result)
