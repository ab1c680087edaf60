#!/usr/bin/python
# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: exchange_oauth_cert
short_description: Ensure the Exchange Auth (OAuth) certificate exists and is AuthConfig's current certificate
version_added: 0.1.0
description:
  - Step 3 of the push notification procedure, on Exchange. Reuses a valid certificate of the connected server
    (RSA key of at least O(key_size) bits, exportable private key, not expired, friendly name O(friendly_name)) or
    creates one (with C(New-ExchangeCertificate), or with O(lifetime_days) on the server itself), and makes it AuthConfig's current certificate with
    C(Set-AuthConfig -CertificateThumbprint ... -Force).
  - The new certificate is created for the C(Federation) service only, so it never replaces the default SMTP
    certificate (C(New-ExchangeCertificate) would otherwise default to IMAP, POP and SMTP).
  - Returns the public certificate (base64 DER) that the Entra step uploads to Microsoft 365.
  - Renewal. When AuthConfig's current certificate is ours and expires within O(renew_before_days) days and no
    next certificate is staged, a new certificate is created and staged with C(Set-AuthConfig
    -NewCertificateThumbprint ... -NewCertificateEffectiveDate ...) (30 days ahead, sooner when the current one
    expires sooner, 4, 2 or 0 days). When the current certificate has already expired, it is replaced now with
    three separate C(Set-AuthConfig) calls (new certificate effective now, C(-PublishCertificate),
    C(-ClearPreviousCertificate)).
  - Reads in one PowerShell process; writes in at most two more (creating a certificate, then assigning it,
    because the new thumbprint is only known once it exists). Nothing is written in check mode.
options:
  friendly_name:
    description:
      - Friendly name of the certificate to reuse or create.
    type: str
    default: Exchange S2S OAuth
  domain_name:
    description:
      - DNS name put in the new certificate (C(New-ExchangeCertificate -DomainName)).
      - Defaults to the connected server's DNS domain, as the procedure's C($env:USERDNSDOMAIN).
    type: str
  key_size:
    description:
      - RSA key size of a new certificate; an existing certificate is reused only with at least this size.
      - At least 2048; C(New-ExchangeCertificate) accepts 2048 or 4096.
    type: int
    default: 2048
  thumbprint:
    description:
      - Adopt this existing certificate of the connected server instead of choosing or creating one.
      - 40 hexadecimal characters (spaces and colons are ignored).
    type: str
  export_path:
    description:
      - Also write the public certificate (DER, C(.cer)) to this absolute path on the connected server, as the
        documented procedure does. Written only when its content differs.
    type: str
  lifetime_days:
    description:
      - Lifetime in days of every certificate the module creates (first assignment, renewal, O(rotate_now)).
        Unset, C(New-ExchangeCertificate) creates it, valid for 5 years.
      - Set, a fixed host script on the connected server's default WinRM endpoint builds it as Microsoft's
        MonitorExchangeAuthCertificate.ps1 does for C(CustomCertificateLifetimeInDays), with .NET's
        C(CertificateRequest) (.NET Framework 4.7.2 or later; older servers fail with a message saying so), with
        subject C(CN=) and DNS name O(domain_name), friendly name O(friendly_name), RSA key of O(key_size) bits,
        exportable, in C(LocalMachine\My), valid from now for this many days. The module then reads it back with
        C(Get-ExchangeCertificate) and checks its end date before AuthConfig is changed.
      - From 1 to 3650, and more than O(renew_before_days) (otherwise each new certificate would be due for
        renewal at once). An existing usable certificate is kept whatever its lifetime.
    type: int
  renew_before_days:
    description:
      - Stage a new certificate when the current one expires within this many days. V(0) turns renewal off.
    type: int
    default: 60
  rotate_now:
    description:
      - Create a new certificate now and stage it as AuthConfig's next certificate, effective in
        O(rotate_effective_in_days) days by Exchange's clock, even though the current one is still valid (a forced
        renewal; CSS-Exchange issue 2250). Upload its key to the Entra target before that date
        (M(exchange.hybrid.msol_sp_credential) O(exchange.hybrid.msol_sp_credential#module:next_certificate)), or
        hybrid OAuth breaks when Exchange switches to it.
      - Idempotent. While a usable next certificate is staged, nothing more is created or staged.
      - Only when the current certificate is ours (O(friendly_name)) and usable; otherwise the module assigns or
        replaces as usual.
    type: bool
    default: false
  rotate_effective_in_days:
    description:
      - With O(rotate_now), days from now (Exchange's clock) until the staged certificate becomes current.
        V(0) makes it current as soon as Exchange's AuthAdmin servicelet runs.
      - Must be less than the current certificate's remaining days.
      - Microsoft's MonitorExchangeAuthCertificate.ps1 stages 30 days ahead.
    type: int
    default: 30
  state:
    description:
      - Only V(present) is supported; the Auth certificate is never removed by this module.
    type: str
    choices: [present]
    default: present
extends_documentation_fragment:
  - exchange.hybrid.exchange_connection
  - exchange.hybrid.attributes
  - exchange.hybrid.attributes.action_plugin
  - exchange.hybrid.actiongroup_exchange
notes:
  - Lifetime. C(New-ExchangeCertificate) has no lifetime parameter (Microsoft's reference for it lists none), and a
    self-signed certificate it creates is valid for 5 years. For another lifetime (O(lifetime_days)) the module
    builds the certificate as Microsoft's MonitorExchangeAuthCertificate.ps1 does, with .NET on the server (a fixed
    host script on the default endpoint, never Exchange cmdlets as script text). Such a certificate has no Exchange
    service enabled (C(Services) C(None)); the Auth certificate needs none.
  - Exchange replicates AuthConfig to every server; the certificate with its private key must also be present on
    every Exchange server (Exchange's Auth certificate deployment copies it; where it did not,
    M(exchange.hybrid.exchange_auth_certificate_copy) does).
  - After a new certificate became current, M(exchange.hybrid.exchange_auth_certificate_refresh) makes each server
    pick it up at once.
author:
  - exchange.hybrid maintainers (@exchange-hybrid)
"""

EXAMPLES = r"""
- name: Ensure the OAuth certificate (runs once, on the first Exchange host)
  exchange.hybrid.exchange_oauth_cert:
    export_path: C:\Certificates\OAuthCert.cer
  run_once: true
  register: oauth_cert

- name: Ensure the OAuth certificate; any certificate it creates is valid for one year
  exchange.hybrid.exchange_oauth_cert:
    lifetime_days: 365
  run_once: true

- name: Adopt an existing certificate
  exchange.hybrid.exchange_oauth_cert:
    thumbprint: "{{ existing_thumbprint }}"
  run_once: true
"""

RETURN = r"""
thumbprint:
  description: Thumbprint of AuthConfig's current certificate after the run (null in check mode when it would be created).
  returned: success
  type: str
  sample: 7A39541F8DF58D4821967DD8F899B27410F7C081
friendly_name:
  description: Friendly name of that certificate.
  returned: success
  type: str
subject:
  description: Subject of that certificate.
  returned: success
  type: str
  sample: CN=contoso.com
not_before:
  description: Start of validity (UTC, ISO 8601).
  returned: success
  type: str
not_after:
  description: End of validity (UTC, ISO 8601).
  returned: success
  type: str
days_remaining:
  description: Whole days until RV(not_after), by the server's clock when it reports one.
  returned: success
  type: int
certificate:
  description: The public certificate, base64 DER (no private key), for the Entra step.
  returned: success
  type: str
created:
  description: Whether a certificate was (or in check mode would be) created.
  returned: success
  type: bool
action:
  description: >-
    What was done to AuthConfig: V(none), V(assigned) (made current at once), V(staged) (next certificate with an
    effective date) or V(replaced) (expired current certificate replaced now).
  returned: success
  type: str
auth_config:
  description: AuthConfig's certificates after the run (predicted in check mode).
  returned: success
  type: dict
  contains:
    current:
      description: CurrentCertificateThumbprint.
      type: str
    next:
      description: NextCertificateThumbprint.
      type: str
    previous:
      description: PreviousCertificateThumbprint.
      type: str
    next_effective_date:
      description: NextCertificateEffectiveDate (UTC, ISO 8601).
      type: str
next_certificate:
  description: The staged next certificate (null when none), with the same fields as the top level.
  returned: success
  type: dict
export:
  description: The export file on the server, when O(export_path) is set.
  returned: when O(export_path) is set
  type: dict
  contains:
    path:
      description: The path.
      type: str
    changed:
      description: Whether it was (or would be) written.
      type: bool
"""

import base64
import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ansible_collections.exchange.hybrid.plugins.module_utils._auth_certificates import days_remaining
from ansible_collections.exchange.hybrid.plugins.module_utils._errors import (
    ExchangeError,
    ExchangeInputError,
    fail_from_error,
)
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange import ExchangeClient, call, host_script
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange_module import (
    SERVER_PROPERTIES,
    auth_certificate_problems,
    client_for,
    diff_result,
    exchange_module,
    find_connected,
    now_for,
    run_reads,
)
from ansible_collections.exchange.hybrid.plugins.module_utils._values import (
    format_utc,
    is_domain_name,
    normalize_thumbprint,
    parse_utc,
    same_thumbprint,
    thumbprint_key,
)

ARGUMENT_SPEC = dict(
    friendly_name=dict(type="str", default="Exchange S2S OAuth"),
    domain_name=dict(type="str"),
    key_size=dict(type="int", default=2048, no_log=False),
    thumbprint=dict(type="str"),
    export_path=dict(type="str"),
    lifetime_days=dict(type="int"),
    renew_before_days=dict(type="int", default=60),
    rotate_now=dict(type="bool", default=False),
    rotate_effective_in_days=dict(type="int", default=30),
    state=dict(type="str", default="present", choices=["present"]),
)
CERT_PROPERTIES = [
    "Thumbprint",
    "FriendlyName",
    "Subject",
    "CertificateDomains",
    "Services",
    "PublicKeySize",
    "NotBefore",
    "NotAfter",
    "HasPrivateKey",
    "PrivateKeyExportable",
    "Status",
    "IsSelfSigned",
    "RawData",
]
AUTH_PROPERTIES = [
    "CurrentCertificateThumbprint",
    "NextCertificateThumbprint",
    "PreviousCertificateThumbprint",
    "NextCertificateEffectiveDate",
]
# A sanity bound of the collection's own (twice New-ExchangeCertificate's 5 years); Microsoft's script sets none.
MAX_LIFETIME_DAYS = 3650
ACTIONS = {"none": "none", "assign": "assigned", "stage": "staged", "replace": "replaced"}
_WINDOWS_PATH = re.compile(r"^([A-Za-z]:\\|\\\\[^\\]+\\[^\\]+)")


class Refused(Exception):
    """The certificate asked for cannot be used: the module fails with ``msg`` before anything is written, or
    ``created`` after a new certificate could not be read back."""

    def __init__(self, msg: str, created: bool = False) -> None:
        super().__init__(msg)
        self.msg = msg
        self.created = created


class StepFailed(Exception):
    """An Exchange call failed while doing ``what`` (the failure reads "Failed to <what>: <cause>")."""

    def __init__(self, what: str, error: ExchangeError) -> None:
        super().__init__(what)
        self.what = what
        self.error = error


def step(what: str, action: Callable[..., Any], *args: Any) -> Any:
    try:
        return action(*args)
    except ExchangeError as exc:
        raise StepFailed(what, exc) from exc


@dataclass
class Found:
    """What the reads found: the connected server's certificates, AuthConfig, and the server's clock."""

    server: str
    where: str  # "ex01.contoso.com (EX01)", for messages
    connected: dict
    certificates: list[dict]
    auth: dict  # auth_view() of Get-AuthConfig
    now: dt.datetime

    def by_thumbprint(self, thumbprint: Optional[str]) -> Optional[dict]:
        return next((c for c in self.certificates if same_thumbprint(c.get("Thumbprint"), thumbprint)), None)

    @property
    def current(self) -> Optional[dict]:
        return self.by_thumbprint(self.auth["current"])


@dataclass
class Plan:
    """What to do to AuthConfig: ``mode`` none | assign | stage | replace, with ``target`` (the certificate that
    becomes current or staged; None while it is still to be created)."""

    mode: str
    target: Optional[dict] = None
    create: bool = False
    domain: Optional[str] = None
    effective: Optional[dt.datetime] = None  # the date a staged or replacing certificate takes effect


@dataclass
class Outcome:
    """Where AuthConfig ends (or, in check mode, would end)."""

    auth: dict
    shown: Optional[dict]  # the certificate whose bytes the result carries: the current one afterwards
    staged: Optional[dict]
    created: bool = False
    export_changed: bool = False
    warnings: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------------- input


def check_input(params: dict) -> None:
    size = params["key_size"]
    if size < 2048:
        raise ExchangeInputError(
            "key_size %d is refused: the Auth certificate needs an RSA key of at least 2048 bits "
            "(New-ExchangeCertificate accepts 2048 or 4096)" % size
        )
    if size not in (2048, 4096):
        raise ExchangeInputError("key_size must be 2048 or 4096 (New-ExchangeCertificate's values), got %d" % size)
    if params.get("thumbprint") is not None:
        params["thumbprint"] = normalize_thumbprint(params["thumbprint"], "thumbprint")
    if params.get("domain_name") is not None and not is_domain_name(params["domain_name"]):
        raise ExchangeInputError(
            "domain_name must be a DNS name such as contoso.com (letters, digits, hyphens and dots), got %r"
            % params["domain_name"]
        )
    if params.get("friendly_name") is not None and not params["friendly_name"].strip():
        raise ExchangeInputError("friendly_name must not be empty")
    path = params.get("export_path")
    if path is not None:
        if any(ch in path for ch in "\0\r\n") or not _WINDOWS_PATH.match(path):
            raise ExchangeInputError(
                "export_path must be an absolute Windows path on the server, such as C:\\Certificates\\OAuth.cer "
                "(no CR, LF or NUL)"
            )
    if params["renew_before_days"] < 0:
        raise ExchangeInputError("renew_before_days must be 0 or more")
    if params["rotate_effective_in_days"] < 0:
        raise ExchangeInputError("rotate_effective_in_days must be 0 or more")
    lifetime = params.get("lifetime_days")
    if lifetime is not None:
        if not 1 <= lifetime <= MAX_LIFETIME_DAYS:
            raise ExchangeInputError(
                "lifetime_days must be from 1 to %d, got %d; leave it unset for New-ExchangeCertificate's 5 years"
                % (MAX_LIFETIME_DAYS, lifetime)
            )
        if lifetime <= params["renew_before_days"]:
            raise ExchangeInputError(
                "lifetime_days %d is refused: it must be more than renew_before_days (%d), or every new certificate "
                "would be due for renewal at once; raise lifetime_days or lower renew_before_days"
                % (lifetime, params["renew_before_days"])
            )


# --------------------------------------------------------------------------------------------------- values


def days_left(cert: dict, now: dt.datetime) -> Optional[int]:
    return days_remaining(cert.get("NotAfter"), now)


def summary(cert: Optional[dict], now: dt.datetime) -> Optional[dict]:
    if not cert:
        return None
    return {
        "thumbprint": thumbprint_of(cert),
        "friendly_name": cert.get("FriendlyName"),
        "subject": cert.get("Subject"),
        "not_before": cert.get("NotBefore"),
        "not_after": cert.get("NotAfter"),
        "days_remaining": days_left(cert, now),
        "certificate": cert.get("RawData"),
    }


def auth_view(row: dict) -> dict:
    return {
        "current": thumbprint_key(row.get("CurrentCertificateThumbprint")),
        "next": thumbprint_key(row.get("NextCertificateThumbprint")),
        "previous": thumbprint_key(row.get("PreviousCertificateThumbprint")),
        "next_effective_date": row.get("NextCertificateEffectiveDate") or None,
    }


def staging_days(days_remaining: int) -> int:
    """Microsoft's rotation script: 30 days ahead, shortened to 4, 2 or 0 when the current one expires sooner."""
    for days in (30, 4, 2):
        if days < days_remaining:
            return days
    return 0


def thumbprint_of(cert: Optional[dict]) -> Optional[str]:
    return thumbprint_key((cert or {}).get("Thumbprint"))


# ---------------------------------------------------------------------------------------------------- find


def find(client: ExchangeClient, server: str) -> Found:
    """The connected server's certificates and AuthConfig, in one PowerShell process, and the server's clock."""
    (servers, certificates, auth_rows), _exsetup = run_reads(
        client,
        [
            call("Get-ExchangeServer", SERVER_PROPERTIES),
            call("Get-ExchangeCertificate", CERT_PROPERTIES),
            call("Get-AuthConfig", AUTH_PROPERTIES),
        ],
    )
    connected = find_connected(servers, client) or {}
    return Found(
        server=server,
        where="%s (%s)" % (server, connected.get("Name") or client.computer_name or server),
        connected=connected,
        certificates=certificates,
        auth=auth_view(auth_rows[0] if auth_rows else {}),
        now=now_for(client),
    )


# -------------------------------------------------------------------------------------------------- choose


def choose(params: dict, found: Found) -> Plan:
    """Which certificate ends up current (or staged), and whether one must be created first."""
    if params["thumbprint"]:
        plan = adopt(params["thumbprint"], found)
    else:
        plan = keep_or_renew(params, found)
    if plan.mode != "none" and plan.target is None and not plan.create:
        plan.target = reusable(params, found)
        plan.create = plan.target is None
    if plan.create:
        plan.domain = new_certificate_domain(params, found)
    if plan.mode == "stage":
        plan.effective = found.now + dt.timedelta(days=effective_in_days(params, found))
    elif plan.mode == "replace":
        plan.effective = found.now
    return plan


def adopt(thumbprint: str, found: Found) -> Plan:
    target = found.by_thumbprint(thumbprint)
    if target is None:
        raise Refused(
            "Failed to adopt certificate %s: it is not in the certificate store of %s; import it there "
            "first (Import-ExchangeCertificate) or omit thumbprint" % (thumbprint, found.where)
        )
    reasons = auth_certificate_problems(target, found.now)
    if reasons:
        raise Refused("Failed to adopt certificate %s on %s: %s" % (thumbprint, found.where, "; ".join(reasons)))
    return Plan("none" if same_thumbprint(found.auth["current"], thumbprint) else "assign", target)


def is_ours(params: dict, cert: Optional[dict]) -> bool:
    return bool(cert) and str(cert.get("FriendlyName") or "").lower() == params["friendly_name"].lower()


def is_usable(params: dict, cert: Optional[dict], now: dt.datetime, window: int = 0) -> bool:
    """A valid certificate of at least ``key_size`` bits that outlives ``window`` days."""
    if not cert or auth_certificate_problems(cert, now, params["key_size"]):
        return False
    left = days_left(cert, now)
    return left is None or left > window


def keep_or_renew(params: dict, found: Found) -> Plan:
    current, now, renew = found.current, found.now, params["renew_before_days"]
    if is_ours(params, current) and is_usable(params, current, now):
        if params["rotate_now"] or (renew and not is_usable(params, current, now, renew)):
            staged = found.by_thumbprint(found.auth["next"])
            if not is_usable(params, staged, now):
                # A forced renewal is a new certificate, never one left over in the store.
                return Plan("stage", create=params["rotate_now"])
        return Plan("none", current)
    if current is not None and (days_left(current, now) or 0) <= 0:
        return Plan("replace")  # AuthConfig signs with an expired certificate: replace it now
    return Plan("assign")


def effective_in_days(params: dict, found: Found) -> int:
    """Days until a staged certificate takes effect: the user's with rotate_now, else Microsoft's staging_days."""
    left = days_left(found.current or {}, found.now) or 0
    if not params["rotate_now"]:
        return staging_days(left)
    days = params["rotate_effective_in_days"]
    if days >= left:
        raise Refused(
            "rotate_effective_in_days %d is refused: the current Auth certificate expires in %d days by the clock "
            "of %s, before the new one would take effect; choose fewer days" % (days, left, found.where)
        )
    return days


def reusable(params: dict, found: Found) -> Optional[dict]:
    """Our longest-lived valid certificate other than the current one; it must outlive the renewal window, or the
    next run would renew it at once."""
    renew = params["renew_before_days"]
    candidates = [
        c
        for c in found.certificates
        if is_ours(params, c)
        and is_usable(params, c, found.now, renew)
        and not same_thumbprint(c.get("Thumbprint"), found.auth["current"])
    ]
    candidates.sort(key=lambda c: parse_utc(c.get("NotAfter")) or found.now, reverse=True)
    return candidates[0] if candidates else None


def new_certificate_domain(params: dict, found: Found) -> str:
    connected = found.connected
    domain = (
        params["domain_name"]
        or connected.get("Domain")
        or ".".join(str(connected.get("Fqdn") or found.server).split(".")[1:])
    )
    if not is_domain_name(domain):
        raise Refused(
            "Failed to choose the new certificate's DNS name on %s: the server's domain %r is not a DNS "
            "name; set domain_name" % (found.where, domain)
        )
    return domain


def predicted_auth(found: Found, plan: Plan) -> dict:
    """AuthConfig once ``plan`` has run."""
    auth = dict(found.auth)
    target = thumbprint_of(plan.target)
    if plan.mode in ("assign", "replace"):
        auth.update(
            current=target,
            next=None,
            next_effective_date=None,
            previous=found.auth["current"] if plan.mode == "replace" else found.auth["previous"],
        )
    elif plan.mode == "stage":
        auth.update(next=target, next_effective_date=format_utc(plan.effective or found.now))
    return auth


def shown_certificate(found: Found, plan: Plan) -> Optional[dict]:
    """The certificate that is current afterwards (staging leaves the current one current)."""
    return found.current if plan.mode in ("none", "stage") else plan.target


# ------------------------------------------------------------------------------------------ create, assign/stage


def create(client: ExchangeClient, params: dict, plan: Plan, found: Found) -> dict:
    if params.get("lifetime_days") is not None:
        return create_with_lifetime(client, params, plan, found)
    rows = client.run(
        [
            call(
                "New-ExchangeCertificate",
                CERT_PROPERTIES,
                FriendlyName=params["friendly_name"],
                DomainName=[plan.domain],
                KeySize=params["key_size"],
                PrivateKeyExportable=True,
                Services="Federation",
                Confirm=False,
            )
        ]
    )[0]
    if not rows or not rows[0].get("Thumbprint"):
        raise Refused(
            "Failed to create the Auth certificate on %s: New-ExchangeCertificate returned no certificate" % found.where
        )
    return rows[0]


def create_with_lifetime(client: ExchangeClient, params: dict, plan: Plan, found: Found) -> dict:
    """The new_auth_certificate host script on the default endpoint, then Get-ExchangeCertificate on the Exchange
    endpoint: Exchange must list the certificate, with the end date the script gave it."""
    hint = "leave lifetime_days unset to use New-ExchangeCertificate's 5 years"
    try:
        made = client.run(
            [
                host_script(
                    "new_auth_certificate",
                    ["Thumbprint", "NotBefore", "NotAfter"],
                    DomainName=plan.domain,
                    FriendlyName=params["friendly_name"],
                    KeySize=params["key_size"],
                    LifetimeDays=params["lifetime_days"],
                )
            ]
        )[0]
    except ExchangeError as exc:
        raise Refused(
            "Failed to create the Auth certificate with a lifetime of %d days on %s: %s; %s"
            % (params["lifetime_days"], found.where, exc.msg, hint)
        ) from exc
    thumbprint = thumbprint_key(made[0].get("Thumbprint")) if made else None
    if not thumbprint:
        raise Refused("Failed to create the Auth certificate on %s: the host script returned no thumbprint" % found.where)
    try:
        rows = client.run([call("Get-ExchangeCertificate", CERT_PROPERTIES, Thumbprint=thumbprint)])[0]
    except ExchangeError as exc:
        raise Refused(
            "Failed to read back the new Auth certificate %s on %s: %s" % (thumbprint, found.where, exc.msg), created=True
        ) from exc
    cert = next((row for row in rows if same_thumbprint(row.get("Thumbprint"), thumbprint)), None)
    if cert is None:
        raise Refused(
            "Failed to read back the new Auth certificate %s on %s: Get-ExchangeCertificate does not list it"
            % (thumbprint, found.where),
            created=True,
        )
    wanted, listed = parse_utc(made[0].get("NotAfter")), parse_utc(cert.get("NotAfter"))
    if wanted is None or listed is None or abs((listed - wanted).total_seconds()) > 1:
        raise Refused(
            "Failed to read back the new Auth certificate %s on %s: Exchange lists its end as %s, the host script "
            "made it %s" % (thumbprint, found.where, cert.get("NotAfter"), made[0].get("NotAfter")),
            created=True,
        )
    return cert


def auth_config_writes(plan: Plan) -> list[dict]:
    """Set-AuthConfig as Microsoft's procedures run it: assign at once, stage with an effective date, or replace an
    expired certificate now in three separate calls (stage effective now, publish, clear the previous one)."""
    target = thumbprint_of(plan.target)
    if plan.mode == "assign":
        return [call("Set-AuthConfig", None, CertificateThumbprint=target, Force=True)]
    if plan.mode == "stage":
        return [
            call(
                "Set-AuthConfig",
                None,
                NewCertificateThumbprint=target,
                NewCertificateEffectiveDate=format_utc(plan.effective),
                Force=True,
            )
        ]
    if plan.mode == "replace":
        return [
            call(
                "Set-AuthConfig",
                None,
                NewCertificateThumbprint=target,
                NewCertificateEffectiveDate=format_utc(plan.effective),
                Force=True,
            ),
            call("Set-AuthConfig", None, PublishCertificate=True),
            call("Set-AuthConfig", None, ClearPreviousCertificate=True),
        ]
    return []


# ---------------------------------------------------------------------------------------------------- export


def fill_certificate_bytes(client: ExchangeClient, cert: Optional[dict]) -> None:
    """Export-ExchangeCertificate when a store listing came without RawData."""
    if cert and not cert.get("RawData") and cert.get("Thumbprint"):
        rows = client.run(
            [call("Export-ExchangeCertificate", ["FileData"], Thumbprint=cert["Thumbprint"], BinaryEncoded=True)]
        )[0]
        cert["RawData"] = rows[0].get("FileData") if rows else None


def export_file(params: dict, cert: Optional[dict], check_only: bool) -> Optional[dict]:
    """The write_file host script for ``export_path`` (None without a path or certificate bytes)."""
    der = (cert or {}).get("RawData")
    if not params["export_path"] or not der:
        return None
    extra = {"CheckOnly": True} if check_only else {}
    return host_script("write_file", ["Path", "Changed"], Path=params["export_path"], Base64Content=der, **extra)


def file_changed(rows: list[dict]) -> bool:
    return bool(rows[0].get("Changed", True)) if rows else True


# ------------------------------------------------------------------------------------------------ check / apply


def predict(client: ExchangeClient, params: dict, found: Found, plan: Plan) -> Outcome:
    """Check mode: AuthConfig as it would end; only the export file is compared (write_file -CheckOnly)."""
    shown = shown_certificate(found, plan)
    auth = predicted_auth(found, plan)
    outcome = Outcome(auth, shown, staged_certificate(found, plan, auth), created=plan.create)
    if params["export_path"]:
        check = export_file(params, shown, check_only=True)
        what = "check the export file on %s" % found.server
        outcome.export_changed = file_changed(step(what, client.run, [check])[0]) if check else True
    return outcome


def apply(client: ExchangeClient, params: dict, found: Found, plan: Plan, progress: dict) -> Outcome:
    """Create (when needed), then assign or stage, write the export file, and read AuthConfig back."""
    if plan.create:
        what = "create certificate %r on %s" % (params["friendly_name"], found.server)
        plan.target = step(what, create, client, params, plan, found)
        progress["created"] = True
    for cert in (plan.target, found.current):
        if cert and cert.get("Thumbprint"):
            what = "export certificate %s on %s" % (cert["Thumbprint"], found.server)
            step(what, fill_certificate_bytes, client, cert)
    shown = shown_certificate(found, plan)
    writes = auth_config_writes(plan)
    export = export_file(params, shown, check_only=False)
    outcome = Outcome(found.auth, shown, None, created=plan.create)
    if writes or export:
        if writes:
            what = "update AuthConfig on %s" % found.server
        else:
            what = "write %s on %s" % (params["export_path"], found.server)
        calls = writes + ([export] if export else []) + [call("Get-AuthConfig", AUTH_PROPERTIES)]
        outputs = step(what, client.run, calls)
        outcome.auth = auth_view(outputs[-1][0] if outputs[-1] else {})
        if export:
            outcome.export_changed = file_changed(outputs[-2])
    outcome.staged = staged_certificate(found, plan, outcome.auth)
    outcome.warnings = der_warnings(summary(shown, found.now) or {})
    return outcome


def staged_certificate(found: Found, plan: Plan, auth: dict) -> Optional[dict]:
    return plan.target if plan.mode == "stage" else found.by_thumbprint(auth["next"])


# ---------------------------------------------------------------------------------------------------- result


def result_of(found: Found, plan: Plan, outcome: Outcome, params: dict) -> dict:
    view = summary(outcome.shown, found.now) or {
        "thumbprint": outcome.auth.get("current"),
        "friendly_name": None,
        "subject": None,
        "not_before": None,
        "not_after": None,
        "days_remaining": None,
        "certificate": None,
    }
    result = dict(
        view,
        auth_config=outcome.auth,
        next_certificate=summary(outcome.staged, found.now) if outcome.staged else None,
        changed=plan.mode != "none" or outcome.export_changed or outcome.created,
        created=outcome.created,
        action=ACTIONS[plan.mode],
    )
    if params["export_path"]:
        result["export"] = {"path": params["export_path"], "changed": outcome.export_changed}
    return result


def diff_view(found: Found) -> dict:
    current = summary(found.current, found.now) or {}
    return {
        "auth_config": found.auth,
        "certificate": {k: v for k, v in current.items() if k != "certificate"} or None,
    }


def brief(result: dict) -> Optional[dict]:
    keys = ("thumbprint", "friendly_name", "subject", "not_before", "not_after", "days_remaining")
    if not result.get("thumbprint") and not result.get("created"):
        return None
    shown = {key: result.get(key) for key in keys}
    if result.get("created") and not result.get("thumbprint"):
        shown["thumbprint"] = "(new certificate)"
    return shown


def der_warnings(view: dict) -> list[str]:
    """The DER must be the certificate AuthConfig names (SHA-1 of the DER is the thumbprint)."""
    der, thumb = view.get("certificate"), view.get("thumbprint")
    if not der or not thumb:
        return []
    try:
        digest = hashlib.sha1(base64.b64decode(der)).hexdigest().upper()  # nosec - thumbprints are SHA-1
    except (ValueError, TypeError):
        return ["the certificate data returned by the server is not base64"]
    if digest != thumb:
        return ["the certificate data returned by the server does not match thumbprint %s" % thumb]
    return []


# ------------------------------------------------------------------------------------------------------ main


def ensure(module: Any, client: ExchangeClient, progress: dict) -> dict:
    params = module.params
    found = step("read the certificates and AuthConfig of %s" % params["server"], find, client, params["server"])
    plan = choose(params, found)
    if module.check_mode:
        outcome = predict(client, params, found, plan)
    else:
        outcome = apply(client, params, found, plan, progress)
    for warning in outcome.warnings:
        module.warn(warning)
    result = result_of(found, plan, outcome, params)
    after = {"auth_config": outcome.auth, "certificate": brief(result)}
    if plan.create and params.get("lifetime_days") is not None:
        after["new_certificate"] = new_certificate_view(found, plan, params["lifetime_days"])
    return diff_result(module, result, diff_view(found), after)


def new_certificate_view(found: Found, plan: Plan, lifetime_days: int) -> dict:
    """The certificate made with lifetime_days: as read back, or (check mode) as predicted by the server's clock."""
    if plan.target is not None:
        made = summary(plan.target, found.now) or {}
        return {key: made.get(key) for key in ("thumbprint", "not_before", "not_after", "days_remaining")}
    return {
        "thumbprint": "(new certificate)",
        "not_before": format_utc(found.now),
        "not_after": format_utc(found.now + dt.timedelta(days=lifetime_days)),
        "days_remaining": lifetime_days,
    }


def main() -> None:
    module = exchange_module(ARGUMENT_SPEC)
    try:
        check_input(module.params)
    except ExchangeInputError as exc:
        module.fail_json(msg=exc.msg)
    progress: dict[str, Any] = {"changed": False, "created": False, "action": "none"}
    try:
        module.exit_json(**ensure(module, client_for(module), progress))
    except Refused as refused:
        module.fail_json(msg=refused.msg, **({"changed": True, "created": True} if refused.created else {}))
    except StepFailed as failed:
        fail_from_error(module, failed.error, failed.what, **progress)


if __name__ == "__main__":
    main()
