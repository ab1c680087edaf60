# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Key credentials of an Entra object (application or service principal) through Microsoft Graph.

- read: only a single-object GET with ``$select=keyCredentials`` returns the key data (graph-facts 1.2);
- plan: adds and removes by certificate thumbprint (``thumbprint_of_key``);
- write: Graph's PATCH replaces the whole collection (graph-facts 1.3), so every kept key is sent back with its
  data, and the update is verified by reading again; a dropped connection is resolved by that re-read, never by
  sending the PATCH twice;
- ``key_view``: the one reshaping of a Graph keyCredential into a result (never key material).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.exchange.hybrid.plugins.module_utils._certificates import PublicCertificate, thumbprint_of_key
from ansible_collections.exchange.hybrid.plugins.module_utils._errors import GraphConnectionError, GraphError
from ansible_collections.exchange.hybrid.plugins.module_utils._graph import GraphClient
from ansible_collections.exchange.hybrid.plugins.module_utils._values import format_utc, parse_utc

KEY_FIELDS = ("customKeyIdentifier", "displayName", "endDateTime", "key", "keyId", "startDateTime", "type", "usage")
MAX_KEY_DISPLAY_NAME = 90
# Graph application permissions: any of these lets a run read keys; writing needs one of WRITE_APPS.
READ_APPS = {"Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
WRITE_APPS = {"Application.ReadWrite.All", "Directory.ReadWrite.All"}
# A key is removed by only_if_expired_at only when it expired at least this long before that time.
EXPIRY_MARGIN = dt.timedelta(days=1)


class EntraRefusal(GraphError):
    """The module refuses a step because of what it found in Entra (not an HTTP failure).

    ``result()`` returns the extra keys as they are (for example the keys Graph lists), without ``graph_error``.
    """

    def __init__(self, msg: str, **extra: Any) -> None:
        super().__init__(msg)
        self.extra = extra

    def result(self) -> dict[str, Any]:
        return dict(self.extra)


# --- small helpers ---------------------------------------------------------------------------------------------


def parse_utc_option(value: str | None, option: str) -> dt.datetime | None:
    """An option holding a UTC time in ISO 8601 (a time without offset is read as UTC); ValueError names the fix."""
    if value is None:
        return None
    moment = parse_utc(value)
    if moment is None:
        raise ValueError(
            f"{option} must be a UTC time in ISO 8601, such as 2026-12-01T12:00:00Z (got {str(value)[:40]!r})."
        )
    return moment


def is_expired(entry: dict[str, Any], at: dt.datetime) -> bool:
    end = parse_utc(entry.get("endDateTime"))
    return end is not None and end <= at


def key_view(entry: dict[str, Any]) -> dict[str, Any]:
    """A key credential as results show it: no key material."""
    return {
        "key_id": entry.get("keyId"),
        "thumbprint": thumbprint_of_key(entry),
        "display_name": entry.get("displayName"),
        "start_date_time": entry.get("startDateTime"),
        "end_date_time": entry.get("endDateTime"),
        "type": entry.get("type"),
        "usage": entry.get("usage"),
    }


def diff_view(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "thumbprint": thumbprint_of_key(entry),
        "display_name": entry.get("displayName"),
        "end_date_time": entry.get("endDateTime"),
    }


def _identity(entry: dict[str, Any]) -> tuple[Any, str | None]:
    return entry.get("keyId"), thumbprint_of_key(entry)


# --- Graph calls -----------------------------------------------------------------------------------------------


def read_keys(client: GraphClient, path: str, label: str, replication: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Every key of the object at ``path`` (``applications/<id>``, ``servicePrincipals/<id>``), with its data."""
    answer = client.get(
        path, f"read the keys of {label}", params={"$select": "id,keyCredentials"}, permission="Application.Read.All",
        replication=replication,
    )
    return list(answer.get("keyCredentials") or [])


def patch_keys(client: GraphClient, path: str, label: str, keys: list[dict[str, Any]],
               replication: tuple[str, ...] = ()) -> None:
    body = {"keyCredentials": [{f: e.get(f) for f in KEY_FIELDS if e.get(f) is not None} for e in keys]}
    client.request("PATCH", path, f"update the keyCredentials of {label}", body=body,
                   permission="Application.ReadWrite.All", replication=replication)


# --- plan and write --------------------------------------------------------------------------------------------


def new_key(cert: PublicCertificate, display_name: str | None = None) -> dict[str, Any]:
    """The keyCredential of an Exchange Auth certificate (type AsymmetricX509Cert, usage Verify)."""
    name = display_name or cert.subject or f"Exchange Server Auth Certificate {cert.thumbprint}"
    return {
        "customKeyIdentifier": cert.thumbprint,
        "displayName": name[:MAX_KEY_DISPLAY_NAME],
        "endDateTime": format_utc(cert.not_after),
        "key": cert.base64,
        "keyId": str(uuid.uuid4()),
        "startDateTime": format_utc(cert.not_before),
        "type": "AsymmetricX509Cert",
        "usage": "Verify",
    }


@dataclass
class KeyPlan:
    kept: list[dict[str, Any]] = field(default_factory=list)
    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    # Why a key of ours stays although state is absent (only_if_expired_at); None otherwise.
    reason: str | None = None

    @property
    def changes(self) -> bool:
        return bool(self.added or self.removed)

    @property
    def after(self) -> list[dict[str, Any]]:
        return self.kept + self.added


def plan_keys(
    keys: list[dict[str, Any]],
    thumbprint: str,
    present: bool,
    cert: PublicCertificate | None = None,
    display_name: str | None = None,
    prune_expired_at: dt.datetime | None = None,
    only_if_expired_at: dt.datetime | None = None,
) -> KeyPlan:
    """What to keep, add and remove so that the key of ``thumbprint`` is present (or absent).

    ``prune_expired_at``: also remove every key expired at that time, whoever added it. ``only_if_expired_at``
    (removal only): remove a key of ours only if it expired at least ``EXPIRY_MARGIN`` before that time.
    """
    plan = KeyPlan()
    kept_ours: list[dict[str, Any]] = []
    for entry in keys:
        mine = thumbprint_of_key(entry) == thumbprint
        if not present and mine and _removable(entry, only_if_expired_at):
            plan.removed.append(entry)
        elif prune_expired_at is not None and is_expired(entry, prune_expired_at):
            plan.removed.append(entry)
        else:
            plan.kept.append(entry)
            if mine:
                kept_ours.append(entry)
    if present and not kept_ours and cert is not None:
        plan.added.append(new_key(cert, display_name))
    if only_if_expired_at is not None and not present:
        plan.reason = _expiry_reason(thumbprint, plan.removed, kept_ours, only_if_expired_at)
    return plan


def _removable(entry: dict[str, Any], only_if_expired_at: dt.datetime | None) -> bool:
    if only_if_expired_at is None:
        return True
    end = parse_utc(entry.get("endDateTime"))
    return end is not None and end <= only_if_expired_at - EXPIRY_MARGIN


def _expiry_reason(thumbprint: str, removed: list[dict[str, Any]], kept: list[dict[str, Any]], at: dt.datetime) -> str:
    if kept:
        ends = ", ".join(sorted(str(k.get("endDateTime")) for k in kept))
        return (f"The key of {thumbprint} is kept: its end date ({ends}) is not at least one day before "
                f"only_if_expired_at ({format_utc(at)}), so it may still be valid.")
    if removed:
        ends = ", ".join(sorted(str(k.get("endDateTime")) for k in removed))
        return f"The key of {thumbprint} expired ({ends}) at least one day before only_if_expired_at ({format_utc(at)})."
    return f"There is no key of {thumbprint}."


def write_keys(client: GraphClient, path: str, label: str, plan: KeyPlan, action: str,
               replication: tuple[str, ...] = ()) -> tuple[list[dict[str, Any]], list[str]]:
    """PATCH the planned keys and verify by reading again; returns (keys after, warnings).

    ``action`` (``add``/``remove``) names the write in a missing-permission message.
    """
    for entry in plan.kept:
        if not entry.get("key"):
            raise EntraRefusal(
                f"Graph returned no key data for key {entry.get('keyId')} of {label}; refusing to write, because "
                "the update would drop that key."
            )
    client.require_permissions({"Application.ReadWrite.All": WRITE_APPS}, f"{action} the key on {label}")
    dropped = None
    try:
        # a 404 (a new object not replicated yet) writes nothing, so waiting and sending again is safe
        patch_keys(client, path, label, plan.after, replication)
    except GraphConnectionError as error:
        dropped = error
    after = read_keys(client, path, label, replication)
    actual = {_identity(k) for k in after}
    applied = {_identity(k) for k in plan.after} <= actual and not ({_identity(k) for k in plan.removed} & actual)
    warnings: list[str] = []
    if dropped is not None:
        if not applied:
            untouched = {_identity(k) for k in plan.kept + plan.removed} <= actual
            state = "nothing was changed" if untouched else "the keys are now in an unexpected state"
            raise EntraRefusal(
                f"{dropped.msg} Re-reading the keys shows the update was not applied ({state}); rerun the task.",
                keys=[key_view(k) for k in after],
            )
        warnings.append(f"The connection dropped during the update of {label}; re-reading shows Graph applied it.")
    elif not applied:
        raise EntraRefusal(
            f"Failed to verify the keyCredentials of {label}: after the update Graph does not list the expected keys.",
            keys=[key_view(k) for k in after],
        )
    return after, warnings
