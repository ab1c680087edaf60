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
    creates one with C(New-ExchangeCertificate), and makes it AuthConfig's current certificate with
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
  renew_before_days:
    description:
      - Stage a new certificate when the current one expires within this many days. V(0) turns renewal off.
    type: int
    default: 60
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
  - Exchange replicates AuthConfig to every server; the certificate with its private key must also be present on
    every Exchange server (Exchange's Auth certificate deployment copies it).
author:
  - exchange.hybrid maintainers (@exchange-hybrid)
"""

EXAMPLES = r"""
- name: Ensure the OAuth certificate (runs once, on the first Exchange host)
  exchange.hybrid.exchange_oauth_cert:
    export_path: C:\Certificates\OAuthCert.cer
  run_once: true
  register: oauth_cert

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
from typing import Any, Optional

from ansible_collections.exchange.hybrid.plugins.module_utils._errors import (
    ExchangeError,
    ExchangeInputError,
    fail_from_error,
)
from ansible_collections.exchange.hybrid.plugins.module_utils._exchange import call, host_script
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
    is_domain_name,
    normalize_thumbprint,
    parse_utc,
    same_thumbprint,
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
_WINDOWS_PATH = re.compile(r"^([A-Za-z]:\\|\\\\[^\\]+\\[^\\]+)")


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


def days_left(cert: dict, now: dt.datetime) -> Optional[int]:
    end = parse_utc(cert.get("NotAfter"))
    if end is None:
        return None
    return int((end - now).total_seconds() // 86400)


def summary(cert: Optional[dict], now: dt.datetime) -> Optional[dict]:
    if not cert:
        return None
    return {
        "thumbprint": (cert.get("Thumbprint") or "").upper() or None,
        "friendly_name": cert.get("FriendlyName"),
        "subject": cert.get("Subject"),
        "not_before": cert.get("NotBefore"),
        "not_after": cert.get("NotAfter"),
        "days_remaining": days_left(cert, now),
        "certificate": cert.get("RawData"),
    }


def auth_view(row: dict) -> dict:
    def thumb(value: Any) -> Optional[str]:
        return str(value).upper() if value else None

    return {
        "current": thumb(row.get("CurrentCertificateThumbprint")),
        "next": thumb(row.get("NextCertificateThumbprint")),
        "previous": thumb(row.get("PreviousCertificateThumbprint")),
        "next_effective_date": row.get("NextCertificateEffectiveDate") or None,
    }


def staging_days(days_remaining: int) -> int:
    """Microsoft's rotation script: 30 days ahead, shortened to 4, 2 or 0 when the current one expires sooner."""
    for days in (30, 4, 2):
        if days < days_remaining:
            return days
    return 0


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def main() -> None:
    module = exchange_module(
        dict(
            friendly_name=dict(type="str", default="Exchange S2S OAuth"),
            domain_name=dict(type="str"),
            key_size=dict(type="int", default=2048, no_log=False),
            thumbprint=dict(type="str"),
            export_path=dict(type="str"),
            renew_before_days=dict(type="int", default=60),
            state=dict(type="str", default="present", choices=["present"]),
        )
    )
    params = module.params
    try:
        check_input(params)
    except ExchangeInputError as exc:
        module.fail_json(msg=exc.msg)
    client = client_for(module)
    server = params["server"]
    result: dict[str, Any] = {"changed": False, "created": False, "action": "none"}
    stage = "read the certificates and AuthConfig of %s" % server
    try:
        (servers, certificates, auth_rows), _exsetup = run_reads(
            client,
            [
                call("Get-ExchangeServer", SERVER_PROPERTIES),
                call("Get-ExchangeCertificate", CERT_PROPERTIES),
                call("Get-AuthConfig", AUTH_PROPERTIES),
            ],
        )
        now = now_for(client)
        connected = find_connected(servers, client) or {}
        where = "%s (%s)" % (server, connected.get("Name") or client.computer_name or server)
        by_thumb = {str(c.get("Thumbprint") or "").upper(): c for c in certificates}
        auth_before = auth_view(auth_rows[0] if auth_rows else {})
        current = by_thumb.get(auth_before["current"] or "")
        key_size = params["key_size"]
        name = params["friendly_name"]
        renew = params["renew_before_days"]

        def ours(cert: Optional[dict]) -> bool:
            return bool(cert) and str(cert.get("FriendlyName") or "").lower() == name.lower()

        def usable(cert: Optional[dict], window: int = 0) -> bool:
            if not cert or auth_certificate_problems(cert, now, key_size):
                return False
            left = days_left(cert, now)
            return left is None or left > window

        target: Optional[dict] = None  # the certificate that ends up current (or staged)
        mode = "none"  # none | assign | stage | replace
        if params["thumbprint"]:
            target = by_thumb.get(params["thumbprint"])
            if target is None:
                module.fail_json(
                    msg="Failed to adopt certificate %s: it is not in the certificate store of %s; import it there "
                    "first (Import-ExchangeCertificate) or omit thumbprint" % (params["thumbprint"], where)
                )
            reasons = auth_certificate_problems(target, now)
            if reasons:
                module.fail_json(
                    msg="Failed to adopt certificate %s on %s: %s" % (params["thumbprint"], where, "; ".join(reasons))
                )
            if not same_thumbprint(auth_before["current"], params["thumbprint"]):
                mode = "assign"
        elif ours(current) and usable(current):
            target = current
            if renew and not usable(current, renew):
                staged = by_thumb.get(auth_before["next"] or "")
                if not (staged and usable(staged)):
                    mode = "stage"
                    target = None
        elif current is not None and (days_left(current, now) or 0) <= 0:
            mode = "replace"  # AuthConfig signs with an expired certificate: replace it now
        else:
            mode = "assign"

        if mode in ("assign", "stage", "replace") and target is None:
            # A reused certificate must outlive the renewal window, or the next run would renew it at once.
            candidates = [
                c
                for c in certificates
                if ours(c) and usable(c, renew) and not same_thumbprint(c.get("Thumbprint"), auth_before["current"])
            ]
            candidates.sort(key=lambda c: parse_utc(c.get("NotAfter")) or now, reverse=True)
            target = candidates[0] if candidates else None
        create = mode != "none" and target is None

        domain = (
            params["domain_name"]
            or connected.get("Domain")
            or ".".join(str(connected.get("Fqdn") or server).split(".")[1:])
        )
        if create and not is_domain_name(domain):
            module.fail_json(
                msg="Failed to choose the new certificate's DNS name on %s: the server's domain %r is not a DNS "
                "name; set domain_name" % (where, domain)
            )

        current_view = summary(current, now) or {}
        before = {
            "auth_config": auth_before,
            "certificate": {k: v for k, v in current_view.items() if k != "certificate"} or None,
        }
        predicted_auth = dict(auth_before)
        target_thumb = (target or {}).get("Thumbprint")
        target_thumb = str(target_thumb).upper() if target_thumb else None
        if mode == "assign" or mode == "replace":
            predicted_auth.update(
                current=target_thumb,
                next=None,
                next_effective_date=None,
                previous=auth_before["current"] if mode == "replace" else auth_before["previous"],
            )
        elif mode == "stage":
            left = days_left(current, now) if current else 0
            effective = now + dt.timedelta(days=staging_days(left or 0))
            predicted_auth.update(next=target_thumb, next_effective_date=iso(effective))
        changed = mode != "none"

        # Certificate bytes of what ends up current (and of the staged one).
        shown = current if mode in ("none", "stage") else target
        export_changed = False

        if module.check_mode:
            stage = "check the export file on %s" % server
            if params["export_path"]:
                der = (shown or {}).get("RawData") if shown else None
                if der:
                    rows = client.run(
                        [
                            host_script(
                                "write_file",
                                ["Path", "Changed"],
                                Path=params["export_path"],
                                Base64Content=der,
                                CheckOnly=True,
                            )
                        ]
                    )[0]
                    export_changed = bool(rows[0].get("Changed", True)) if rows else True
                else:
                    export_changed = True
            result.update(_final(shown, now, predicted_auth, target if mode == "stage" else None))
            result.update(changed=changed or export_changed, created=create, action=_action(mode))
            if params["export_path"]:
                result["export"] = {"path": params["export_path"], "changed": export_changed}
            diff_result(module, result, before, {"auth_config": predicted_auth, "certificate": _brief(result)})
            module.exit_json(**result)

        if create:
            stage = "create certificate %r on %s" % (name, server)
            created_rows = client.run(
                [
                    call(
                        "New-ExchangeCertificate",
                        CERT_PROPERTIES,
                        FriendlyName=name,
                        DomainName=[domain],
                        KeySize=key_size,
                        PrivateKeyExportable=True,
                        Services="Federation",
                        Confirm=False,
                    )
                ]
            )[0]
            if not created_rows or not created_rows[0].get("Thumbprint"):
                module.fail_json(
                    msg="Failed to create the Auth certificate on %s: New-ExchangeCertificate returned "
                    "no certificate" % where
                )
            target = created_rows[0]
            target_thumb = str(target["Thumbprint"]).upper()
            result["created"] = True

        for cert in (target, current):
            if cert and not cert.get("RawData") and cert.get("Thumbprint"):
                stage = "export certificate %s on %s" % (cert["Thumbprint"], server)
                rows = client.run(
                    [
                        call(
                            "Export-ExchangeCertificate",
                            ["FileData"],
                            Thumbprint=cert["Thumbprint"],
                            BinaryEncoded=True,
                        )
                    ]
                )[0]
                cert["RawData"] = rows[0].get("FileData") if rows else None

        writes = []
        if mode == "assign":
            writes.append(call("Set-AuthConfig", None, CertificateThumbprint=target_thumb, Force=True))
        elif mode == "stage":
            left = days_left(current, now) if current else 0
            effective = now + dt.timedelta(days=staging_days(left or 0))
            writes.append(
                call(
                    "Set-AuthConfig",
                    None,
                    NewCertificateThumbprint=target_thumb,
                    NewCertificateEffectiveDate=iso(effective),
                    Force=True,
                )
            )
        elif mode == "replace":
            writes += [
                call(
                    "Set-AuthConfig",
                    None,
                    NewCertificateThumbprint=target_thumb,
                    NewCertificateEffectiveDate=iso(now),
                    Force=True,
                ),
                call("Set-AuthConfig", None, PublishCertificate=True),
                call("Set-AuthConfig", None, ClearPreviousCertificate=True),
            ]
        shown = current if mode in ("none", "stage") else target
        if params["export_path"] and shown and shown.get("RawData"):
            writes.append(
                host_script(
                    "write_file",
                    ["Path", "Changed"],
                    Path=params["export_path"],
                    Base64Content=shown["RawData"],
                )
            )
        auth_after = auth_before
        if writes:
            stage = (
                "update AuthConfig on %s" % server
                if mode != "none"
                else "write %s on %s" % (params["export_path"], server)
            )
            outputs = client.run(writes + [call("Get-AuthConfig", AUTH_PROPERTIES)])
            auth_after = auth_view(outputs[-1][0] if outputs[-1] else {})
            if params["export_path"]:
                rows = outputs[-2]
                export_changed = bool(rows[0].get("Changed", True)) if rows else True
        staged = target if mode == "stage" else by_thumb.get(auth_after["next"] or "")
        result.update(_final(shown, now, auth_after, staged))
        result.update(changed=changed or export_changed or result["created"], action=_action(mode))
        if params["export_path"]:
            result["export"] = {"path": params["export_path"], "changed": export_changed}
        _check_der(module, result)
        for warning in client.warnings:
            module.warn(warning)
        diff_result(module, result, before, {"auth_config": auth_after, "certificate": _brief(result)})
        module.exit_json(**result)
    except ExchangeError as exc:
        fail_from_error(module, exc, stage, **result)


def _brief(result: dict) -> Optional[dict]:
    keys = ("thumbprint", "friendly_name", "subject", "not_before", "not_after", "days_remaining")
    if not result.get("thumbprint") and not result.get("created"):
        return None
    brief = {key: result.get(key) for key in keys}
    if result.get("created") and not result.get("thumbprint"):
        brief["thumbprint"] = "(new certificate)"
    return brief


def _action(mode: str) -> str:
    return {"none": "none", "assign": "assigned", "stage": "staged", "replace": "replaced"}[mode]


def _final(cert: Optional[dict], now: dt.datetime, auth: dict, staged: Optional[dict]) -> dict:
    view = summary(cert, now) or {
        "thumbprint": auth.get("current"),
        "friendly_name": None,
        "subject": None,
        "not_before": None,
        "not_after": None,
        "days_remaining": None,
        "certificate": None,
    }
    view["auth_config"] = auth
    view["next_certificate"] = summary(staged, now) if staged else None
    return view


def _check_der(module: Any, result: dict) -> None:
    """The DER must be the certificate AuthConfig names (SHA-1 of the DER is the thumbprint)."""
    der, thumb = result.get("certificate"), result.get("thumbprint")
    if not der or not thumb:
        return
    try:
        digest = hashlib.sha1(base64.b64decode(der)).hexdigest().upper()  # nosec - thumbprints are SHA-1
    except (ValueError, TypeError):
        module.warn("the certificate data returned by the server is not base64")
        return
    if digest != thumb:
        module.warn("the certificate data returned by the server does not match thumbprint %s" % thumb)


if __name__ == "__main__":
    main()
