"""SOAP/WS-Management envelopes: reading requests by namespace (never by prefix) and writing Windows-shaped replies."""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

NS_S = "http://www.w3.org/2003/05/soap-envelope"
NS_A = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_W = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
NS_X = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
NS_RSP = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
NS_F = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"
NS_P = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"
NS_WMI = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/MSFT_WmiError"
NS_PWSH = "http://schemas.microsoft.com/powershell"
NS_CFG = "http://schemas.microsoft.com/wbem/wsman/1/config"

ACTION_CREATE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
ACTION_DELETE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
ACTION_GET = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get"
ACTION_COMMAND = NS_RSP + "/Command"
ACTION_SEND = NS_RSP + "/Send"
ACTION_RECEIVE = NS_RSP + "/Receive"
ACTION_SIGNAL = NS_RSP + "/Signal"
ACTION_FAULT = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
SHORT_ACTIONS = {
    ACTION_CREATE: "Create",
    ACTION_DELETE: "Delete",
    ACTION_COMMAND: "Command",
    ACTION_SEND: "Send",
    ACTION_RECEIVE: "Receive",
    ACTION_SIGNAL: "Signal",
    ACTION_GET: "Get",
}
# A PSRP shell's resource URI is this prefix plus the session configuration name (Microsoft.Exchange, ...).
RESOURCE_POWERSHELL = "http://schemas.microsoft.com/powershell/"
RESOURCE_CONFIG = "http://schemas.microsoft.com/wbem/wsman/1/config"
RESOURCE_SHELL = NS_RSP
STATE_RUNNING = NS_RSP + "/CommandState/Running"
STATE_DONE = NS_RSP + "/CommandState/Done"
ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"

# wsmerror.h values Windows puts in WSManFault/@Code or MSFT_WmiError/error_Code.
CODE_TIMED_OUT = 2150858793
CODE_INVALID_SELECTORS = 2150858843
CODE_QUOTA_SHELLS = 0x803381A5
CODE_QUOTA_OPERATIONS = 0x803381A6
CODE_RESOURCE_NOT_FOUND = 2150858770
CODE_INVALID_PARAMETER = 2150858882
# Exchange's MaxConcurrency refusal: the text is Exchange's, the code is modelled (generic E_FAIL), not verified.
CODE_MAX_CONCURRENCY = 0x80004005

TEXT_TIMED_OUT = (
    "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  "
)
TEXT_SHELL_NOT_FOUND = (
    "The request for the Windows Remote Shell with ShellId {shell_id} failed because the shell was not found on the "
    "server. Possible causes are: the specified ShellId is incorrect or the shell no longer exists on the server. "
    "Provide the correct ShellId or create a new shell and retry the operation. "
)
TEXT_QUOTA_SHELLS = (
    "The WS-Management service cannot process the request. This user is allowed a maximum number of {limit} "
    "concurrent shells, which has been exceeded. Close existing shells or raise the quota for this user. "
)
TEXT_QUOTA_OPERATIONS = (
    "The WS-Management service cannot process the request. This user is allowed a maximum number of {limit} "
    "concurrent operations, which has been exceeded. Close existing operations for this user, or raise the quota "
    "for this user. "
)


TEXT_RESOURCE_NOT_FOUND = (
    "The WS-Management service cannot process the request. The resource URI ({uri}) was not found in the "
    "WS-Management catalog. The catalog contains the metadata that describes resources, or logical endpoints. "
)
TEXT_MAX_CONCURRENCY = (
    "Fail to create a runspace because you have exceeded the maximum number of connections allowed : {limit} for "
    "the policy party : MaxConcurrency. Please close existing runspace and try again."
)


class SoapError(Exception):
    """A request the server cannot read (answered with a Sender fault)."""


@dataclass
class Request:
    action: str
    message_id: str
    resource_uri: str
    shell_id: str | None
    operation_timeout: float | None
    options: dict[str, str] = field(default_factory=dict)
    body: ET.Element | None = None
    to: str = ""
    max_envelope_size: int | None = None  # the client's w:MaxEnvelopeSize in bytes

    @property
    def short_action(self) -> str:
        return SHORT_ACTIONS.get(self.action, self.action)


def _q(ns: str, tag: str) -> str:
    return "{%s}%s" % (ns, tag)


def parse_duration(text: str | None) -> float | None:
    if not text:
        return None
    match = re.fullmatch(r"\s*P(?:T(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?)?\s*", text)
    if not match:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)


def parse_request(data: bytes) -> Request:
    try:
        root = ET.fromstring(data)
    except ET.ParseError as error:
        raise SoapError("The request is not well-formed XML: %s" % error) from error
    if root.tag != _q(NS_S, "Envelope"):
        raise SoapError("The request is not a SOAP 1.2 envelope.")
    header = root.find(_q(NS_S, "Header"))
    body = root.find(_q(NS_S, "Body"))
    if header is None or body is None:
        raise SoapError("The SOAP envelope lacks a Header or a Body.")

    def text(ns: str, tag: str) -> str:
        element = header.find(_q(ns, tag))
        return (element.text or "").strip() if element is not None else ""

    shell_id = None
    for selector in header.iter(_q(NS_W, "Selector")):
        if selector.get("Name") == "ShellId":
            shell_id = (selector.text or "").strip()
    options: dict[str, str] = {}
    for option in header.iter(_q(NS_W, "Option")):
        if option.get("Name"):
            options[option.get("Name")] = (option.text or "").strip()
    message_id = text(NS_A, "MessageID")
    if not message_id:
        raise SoapError("The request has no MessageID.")
    max_envelope = text(NS_W, "MaxEnvelopeSize")
    return Request(
        action=text(NS_A, "Action"),
        message_id=message_id,
        resource_uri=text(NS_W, "ResourceURI"),
        shell_id=shell_id,
        operation_timeout=parse_duration(text(NS_W, "OperationTimeout")),
        options=options,
        body=body[0] if len(body) else None,
        to=text(NS_A, "To"),
        max_envelope_size=int(max_envelope) if max_envelope.isdigit() else None,
    )


_ENVELOPE_OPEN = (
    '<s:Envelope xml:lang="en-US" xmlns:s="%s" xmlns:a="%s" xmlns:x="%s" xmlns:w="%s" xmlns:rsp="%s" xmlns:p="%s">'
    % (NS_S, NS_A, NS_X, NS_W, NS_RSP, NS_P)
)


def envelope(action: str, relates_to: str | None, body: str) -> bytes:
    """A reply; ``relates_to`` is the request's MessageID echoed verbatim (pypsrp compares strings)."""
    header = "<a:Action>%s</a:Action><a:MessageID>uuid:%s</a:MessageID><a:To>%s</a:To>" % (
        escape(action),
        str(uuid.uuid4()).upper(),
        ANONYMOUS,
    )
    if relates_to is not None:
        header += "<a:RelatesTo>%s</a:RelatesTo>" % escape(relates_to)
    text = _ENVELOPE_OPEN + "<s:Header>" + header + "</s:Header><s:Body>" + body + "</s:Body></s:Envelope>"
    return text.encode("utf-8")


def fault(
    relates_to: str | None,
    code: str,
    subcode: str,
    reason: str,
    machine: str,
    wsman_code: int | None = None,
    wmi_code: int | None = None,
    fault_detail: str | None = None,
) -> bytes:
    """A SOAP 1.2 fault as Windows sends it: WSManFault detail, or MSFT_WmiError detail for quota errors."""
    if wmi_code is not None:
        detail = (
            '<p:MSFT_WmiError b:IsCIM_Error="true" xmlns:b="%s" xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common" '
            'xmlns:p="%s" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="p:MSFT_WmiError_Type">'
            '<p:CIMStatusCode xsi:type="cim:cimUnsignedInt">27</p:CIMStatusCode>'
            '<p:ErrorSourceFormat xsi:type="cim:cimUnsignedShort">0</p:ErrorSourceFormat>'
            '<p:ErrorType xsi:type="cim:cimUnsignedShort">0</p:ErrorType>'
            '<p:Message xsi:type="cim:cimString">%s</p:Message>'
            '<p:MessageID xsi:type="cim:cimString">HRESULT 0x%x</p:MessageID>'
            '<p:PerceivedSeverity xsi:type="cim:cimUnsignedShort">0</p:PerceivedSeverity>'
            '<p:ProbableCause xsi:type="cim:cimUnsignedShort">0</p:ProbableCause>'
            '<p:error_Category xsi:type="cim:cimUnsignedInt">30</p:error_Category>'
            '<p:error_Code xsi:type="cim:cimUnsignedInt">%d</p:error_Code>'
            '<p:error_Type xsi:type="cim:cimString">HRESULT</p:error_Type>'
            '<p:error_WindowsErrorMessage xsi:type="cim:cimString">%s</p:error_WindowsErrorMessage>'
            "</p:MSFT_WmiError>" % (NS_F, NS_WMI, escape(reason), wmi_code, wmi_code, escape(reason))
        )
    else:
        code_attr = " Code=%s" % quoteattr(str(wsman_code)) if wsman_code is not None else ""
        detail = '<f:WSManFault xmlns:f="%s"%s Machine=%s><f:Message>%s</f:Message></f:WSManFault>' % (
            NS_F,
            code_attr,
            quoteattr(machine),
            escape(reason),
        )
        if fault_detail:
            detail += "<w:FaultDetail>%s</w:FaultDetail>" % escape(fault_detail)
    body = (
        "<s:Fault><s:Code><s:Value>%s</s:Value><s:Subcode><s:Value>%s</s:Value></s:Subcode></s:Code>"
        '<s:Reason><s:Text xml:lang="en-US">%s</s:Text></s:Reason><s:Detail>%s</s:Detail></s:Fault>'
        % (escape(code), escape(subcode), escape(reason), detail)
    )
    return envelope(ACTION_FAULT, relates_to, body)


def child(element: ET.Element | None, ns: str, tag: str) -> ET.Element | None:
    return element.find(_q(ns, tag)) if element is not None else None


def children(element: ET.Element | None, ns: str, tag: str) -> list[ET.Element]:
    return element.findall(_q(ns, tag)) if element is not None else []


def is_tag(element: ET.Element | None, ns: str, tag: str) -> bool:
    return element is not None and element.tag == _q(ns, tag)
