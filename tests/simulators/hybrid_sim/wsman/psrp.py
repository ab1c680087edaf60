"""The PSRP layer of the simulated WS-Management service: runspace pools and pipelines on psrpcore's server side.

``RunspacePool`` wraps one ``psrpcore.ServerRunspacePool`` (sans-IO) with what the WS-Man layer needs: a lock and a
condition for long-polling Receives, outgoing fragments routed per target (the pool or one pipeline), and a worker
thread per pipeline that runs the ``PipelineHandler``. The value conversions between psrpcore's PS types and the
handler contract's plain Python values live here too, in one place.
"""

from __future__ import annotations

import collections
import datetime as dt
import enum
import struct
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import psrpcore
from psrpcore.types import (
    ErrorCategory,
    ErrorCategoryInfo,
    ErrorRecord,
    NETException,
    PSChar,
    PSDouble,
    PSEnumBase,
    PSFlagBase,
    PSInt,
    PSInt64,
    PSInvocationState,
    PSNoteProperty,
    PSObject,
    PSRPMessageType,
    PSSecureString,
    PSType,
    PSVersion,
)

from psrpcore.types._serializer import _serialize_string

from ansible_collections.exchange.hybrid.plugins.module_utils._values import SecureText

from .pipeline import Command, PipelineHandler, PipelineRequest, PipelineResult, RemoteEnum, RemoteError, RemoteObject

FRAGMENT_HEADER = 21  # object id (8), fragment id (8), start/end flags (1), length (4)


# --- values: psrpcore -> plain Python (parameters) ---------------------------------------------------------------
def to_plain(value: Any) -> Any:
    """A deserialized PS value as the plain Python value the handler contract promises."""
    if value is None:
        return None
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, PSSecureString):
        try:
            # Still a SecureString for the cmdlet's binding (the catalog refuses a plain string there).
            return SecureText(str.__str__(value.decrypt()))
        except Exception:  # pylint: disable=broad-except
            # No session key was exchanged: hand over what there is rather than failing the pipeline.
            return str(value)
    if isinstance(value, (PSEnumBase, PSFlagBase)):
        return value.name
    if isinstance(value, PSChar):
        return chr(int(value))
    if isinstance(value, dt.datetime):
        plain = dt.datetime(
            value.year,
            value.month,
            value.day,
            value.hour,
            value.minute,
            value.second,
            value.microsecond,
            tzinfo=value.tzinfo or dt.timezone.utc,
        )
        return plain.astimezone(dt.timezone.utc)
    if isinstance(value, bytes):
        return bytes(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, (uuid.UUID, PSVersion)):
        return str(value)
    if isinstance(value, dict):
        return {to_plain(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, PSObject):
        properties = list(value.PSObject.adapted_properties) + list(value.PSObject.extended_properties)
        if properties:
            return {prop.name: to_plain(prop.get_value(value)) for prop in properties}
        return str(value)
    return str(value)


def commands_from(pipeline: Any) -> tuple[Command, ...]:
    """psrpcore's ``PowerShell.commands`` as the contract's ``Command`` tuple."""
    return tuple(
        Command(
            name=str.__str__(cmd.command_text) if isinstance(cmd.command_text, str) else str(cmd.command_text),
            is_script=bool(cmd.is_script),
            parameters=tuple(
                (str.__str__(name) if name is not None else None, to_plain(value)) for name, value in cmd.parameters
            ),
            end_of_statement=bool(cmd.end_of_statement),
        )
        for cmd in pipeline.commands
    )


# --- values: plain Python / contract -> psrpcore (output) ---------------------------------------------------------
_ENUM_LOCK = threading.Lock()
_ENUM_TYPES: dict[tuple[str, str, int], Any] = {}


def _enum_value(value: RemoteEnum) -> Any:
    # psrpcore serializes enums from enum classes: make one tiny class per (type, name, value), cached.
    key = (value.type_name, value.name, int(value.value))
    with _ENUM_LOCK:
        member = _ENUM_TYPES.get(key)
        if member is None:
            cls = PSEnumBase("SimEnum%d" % len(_ENUM_TYPES), [(value.name, int(value.value))])
            cls = PSType([value.type_name], rehydrate=False)(cls)
            member = cls[value.name]
            _ENUM_TYPES[key] = member
    return member


class _Null:
    """A top-level ``$null`` output: psrpcore would send an empty message, which pypsrp reads as ''; PowerShell sends
    ``<Nil />``. psrpcore serializes whatever ``ToPSObjectForRemoting`` returns, here None."""

    @classmethod
    def ToPSObjectForRemoting(cls, instance: Any, **kwargs: Any) -> None:  # pylint: disable=invalid-name
        return None


def to_ps(value: Any) -> Any:
    """A handler value as a psrpcore value that serializes the way Exchange's objects arrive."""
    if value is None or isinstance(value, (bool, str, bytes)):
        return value
    if isinstance(value, RemoteObject):
        obj = PSObject()
        # The full chain without "Deserialized.": a remote Exchange sends the live type names, the client adds it.
        obj.PSObject.type_names = list(value.type_names)
        for name, prop_value in value.properties.items():
            obj.PSObject.adapted_properties.append(PSNoteProperty(name, to_ps(prop_value)))
        if value.to_string is not None:
            obj.PSObject.to_string = _to_string_text(value.to_string)
        return obj
    if isinstance(value, RemoteEnum):
        return _enum_value(value)
    if isinstance(value, enum.Enum):
        return value
    if isinstance(value, int):
        # psrpcore picks Int32 unless the value is above Int32's maximum; large negatives need Int64 too.
        return PSInt64(value) if not PSInt.MinValue <= value <= PSInt.MaxValue else value
    if isinstance(value, float):
        return PSDouble(value)  # psrpcore's default for float is Single, which loses precision
    if isinstance(value, dt.datetime):
        # The contract's datetimes are aware (UTC); a naive one is taken as UTC rather than the server's local time.
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    if isinstance(value, dict):
        return {to_ps(k): to_ps(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_ps(v) for v in value]
    return str(value)


def _to_string_text(text: str) -> str:
    # PowerShell's serializer escapes <ToString> as any string (NUL and other control characters as _x0000_, a literal
    # _x as _x005F_x); psrpcore escapes <S> values but writes <ToString> as given, which makes the CLIXML invalid
    # (pypsrp cannot parse the message) for a text with a control character. Hand it the escaped text.
    return _serialize_string(text)


def error_record(error: RemoteError) -> ErrorRecord:
    exception = NETException(Message=error.message, HResult=-2146233087)
    short_type = error.exception_type.rsplit(".", 1)[-1]
    exception.PSObject.type_names = [error.exception_type] + [
        t for t in ("System.SystemException", "System.Exception", "System.Object") if t != error.exception_type
    ]
    try:
        category = ErrorCategory[error.category]
    except KeyError:
        category = ErrorCategory.NotSpecified
    info = ErrorCategoryInfo(
        Category=category,
        Reason=short_type,
        TargetName=error.target or "",
        TargetType="String" if error.target is not None else "",
    )
    record = ErrorRecord(
        Exception=exception,
        CategoryInfo=info,
        TargetObject=error.target,
        FullyQualifiedErrorId=error.fully_qualified_error_id or short_type,
    )
    record.PSObject.to_string = _to_string_text(str(record))
    return record


# --- pools and pipelines -----------------------------------------------------------------------------------------
@dataclass
class Pipeline:
    command_id: str
    pipeline_id: uuid.UUID
    psrp: psrpcore.ServerPipeline
    started: bool = False
    finished: bool = False  # the final PipelineState is queued
    forgotten: bool = False  # signalled/closed: whatever the handler still produces is dropped
    request: Optional[PipelineRequest] = None


@dataclass
class RunspacePool:
    shell_id: str
    owner: str
    configuration: str
    resource_uri: str
    created: str
    client_ip: str
    auth: str
    psrp: psrpcore.ServerRunspacePool = field(default_factory=psrpcore.ServerRunspacePool)
    lock: threading.RLock = field(default_factory=threading.RLock)
    pipelines: dict[str, Pipeline] = field(default_factory=dict)  # by CommandId, upper case
    closed: bool = False
    forgotten: set[str] = field(default_factory=set)  # CommandIds signalled/closed, upper case
    # Fragments ready to go, per target: None is the pool, else the pipeline id.
    outgoing: dict[Optional[uuid.UUID], collections.deque] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.cond = threading.Condition(self.lock)

    # -- input ------------------------------------------------------------------------------------------------
    def feed(
        self,
        data: bytes,
        pipeline_id: Optional[uuid.UUID],
        on_pipeline: Callable[[Pipeline, Any], None],
        stream_type: psrpcore.StreamType = psrpcore.StreamType.default,
    ) -> None:
        """Give client bytes (creationXml, Arguments or Send data) to psrpcore and act on the events.

        ``on_pipeline(pipeline, powershell)`` is called once a pipeline's CreatePipeline message is complete.
        """
        with self.lock:
            self.psrp.receive_data(psrpcore.PSRPPayload(data, stream_type, pipeline_id))
            while True:
                event = self.psrp.next_event()
                if event is None:
                    break
                if isinstance(event, psrpcore.CreatePipelineEvent):
                    pipe = self.pipeline_by_id(event.pipeline_id)
                    if pipe is not None and not pipe.started:
                        pipe.started = True
                        # Running without a PipelineState message: Windows sends only the final state.
                        pipe.psrp._change_state(
                            PSInvocationState.Running, emit=False
                        )  # pylint: disable=protected-access
                        on_pipeline(pipe, event.pipeline)
                elif isinstance(
                    event,
                    (psrpcore.SetMaxRunspacesEvent, psrpcore.SetMinRunspacesEvent, psrpcore.ResetRunspaceStateEvent),
                ):
                    self.psrp.runspace_availability_response(event.ci, True)
                elif isinstance(event, psrpcore.GetAvailableRunspacesEvent):
                    busy = sum(1 for p in self.pipelines.values() if p.started and not p.finished)
                    self.psrp.runspace_availability_response(event.ci, max(0, self.psrp.max_runspaces - busy))
            self.cond.notify_all()

    def add_pipeline(self, command_id: str, pipeline_id: uuid.UUID) -> Pipeline:
        with self.lock:
            # psrpcore needs the ServerPipeline to exist before the CreatePipeline message arrives.
            pipe = Pipeline(command_id, pipeline_id, psrpcore.ServerPipeline(self.psrp, pipeline_id))
            self.pipelines[command_id.upper()] = pipe
            return pipe

    def pipeline_by_id(self, pipeline_id: uuid.UUID) -> Optional[Pipeline]:
        for pipe in self.pipelines.values():
            if pipe.pipeline_id == pipeline_id:
                return pipe
        return None

    # -- output -----------------------------------------------------------------------------------------------
    def _drain(self, budget: int) -> None:
        # psrpcore keeps one send buffer and returns one target per payload; split payloads into whole fragments
        # per target so a Receive for one pipeline never carries another's data.
        while True:
            payload = self.psrp.data_to_send(budget)
            if payload is None:
                return
            queue = self.outgoing.setdefault(payload.pipeline_id, collections.deque())
            data = payload.data
            while data:
                length = struct.unpack(">I", data[17:21])[0]
                queue.append(data[: FRAGMENT_HEADER + length])
                data = data[FRAGMENT_HEADER + length :]

    def take(self, pipeline_id: Optional[uuid.UUID], budget: int) -> bytes:
        """Whole fragments for one target, at most ``budget`` bytes (at least one fragment if any is queued)."""
        with self.lock:
            self._drain(budget)
            queue = self.outgoing.get(pipeline_id)
            out = bytearray()
            while queue and (not out or len(out) + len(queue[0]) <= budget):
                out += queue.popleft()
            return bytes(out)

    def has_output(self, pipeline_id: Optional[uuid.UUID], budget: int) -> bool:
        with self.lock:
            self._drain(budget)
            return bool(self.outgoing.get(pipeline_id))

    def forget(self, pipe: Pipeline) -> None:
        """Signal/close: stop the pipeline if still running and drop it with everything it has queued."""
        with self.lock:
            if pipe.forgotten:
                return
            pipe.forgotten = True
            self.forgotten.add(pipe.command_id.upper())
            if pipe.psrp.state == PSInvocationState.Running:
                pipe.psrp.stop()
            self._drain(1 << 30)
            self.outgoing.pop(pipe.pipeline_id, None)
            self.pipelines.pop(pipe.command_id.upper(), None)
            pipe.psrp.close()
            self.cond.notify_all()

    def close(self) -> None:
        with self.lock:
            for pipe in list(self.pipelines.values()):
                self.forget(pipe)
            self.closed = True
            self.outgoing.clear()
            self.cond.notify_all()

    # -- the handler --------------------------------------------------------------------------------------------
    def run(self, pipe: Pipeline, handler: PipelineHandler, build: Callable[[], PipelineRequest]) -> None:
        """Run the handler for one pipeline (in a worker thread) and write its result to the pipeline."""
        try:
            pipe.request = build()
            result = handler(pipe.request)
            if not isinstance(result, PipelineResult):
                raise TypeError("the handler returned %r, not a PipelineResult" % (type(result).__name__,))
        except Exception as error:  # pylint: disable=broad-except
            # Visible to tests through the client: a Failed pipeline naming the exception.
            result = PipelineResult(
                failed=RemoteError(
                    "simulator handler failed: %r" % (error,),
                    category="NotSpecified",
                    fully_qualified_error_id="SimulatorHandlerFailed",
                    exception_type="System.InvalidOperationException",
                )
            )
        with self.lock:
            if pipe.forgotten or self.closed:
                return
            try:
                for value in result.output:
                    pipe.psrp.write_output(_Null() if value is None else to_ps(value))
                for error in result.errors:
                    # What ServerPipeline.write_error() does, with our record: it builds its own ErrorRecord, whose
                    # <ToString> would go out unescaped (see _to_string_text).
                    pipe.psrp.prepare_message(error_record(error), message_type=PSRPMessageType.ErrorRecord)
                if result.failed is not None:
                    # psrpcore has no public "fail": its own stop() does exactly this with a Stopped state.
                    pipe.psrp._change_state(  # pylint: disable=protected-access
                        PSInvocationState.Failed, error_record(result.failed)
                    )
                else:
                    pipe.psrp.complete()
            except Exception as error:  # pylint: disable=broad-except
                # A value psrpcore cannot serialize: fail the pipeline rather than leave the client polling.
                pipe.psrp._change_state(  # pylint: disable=protected-access
                    PSInvocationState.Failed,
                    error_record(
                        RemoteError(
                            "simulator could not serialize the handler's output: %r" % (error,),
                            fully_qualified_error_id="SimulatorSerializationFailed",
                        )
                    ),
                )
            pipe.finished = True
            self.cond.notify_all()
