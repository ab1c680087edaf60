"""Exchange's role-based access control, as far as the simulated Exchange endpoint needs it.

Exchange builds every remote runspace from the caller's management roles: a cmdlet none of them grants does not
exist in that runspace, so calling it fails like any unknown command (pypsrp #29: ``Group-Object`` "is not
recognized"; exchange-remoting-facts.md, "The Microsoft.Exchange endpoint"). Modelled: two built-in role groups,
granting whole cmdlets (no per-parameter scopes, no RemotePowerShellEnabled switch):

- ``Organization Management``: every cmdlet of the collection's catalog (CSS-Exchange's scripts require it).
- ``View-Only Organization Management``: only the reading cmdlets (``Get-*``, ``Test-*``).

State: ``state["exchange"]["rbac"] = {"contoso\\\\viewer": ["View-Only Organization Management"], ...}`` keyed by the
canonical user (lower-case ``DOMAIN\\user``); a user not listed is a member of ``Organization Management`` only, so
organizations that never mention RBAC behave as before. A role group the simulator does not know grants nothing.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Optional

ORGANIZATION_MANAGEMENT = "Organization Management"
VIEW_ONLY_ORGANIZATION_MANAGEMENT = "View-Only Organization Management"
DEFAULT_ROLE_GROUPS = (ORGANIZATION_MANAGEMENT,)
READING_VERBS = ("get", "test")


def _all(cmdlet: str) -> bool:
    return True


def _reading(cmdlet: str) -> bool:
    return cmdlet.split("-", 1)[0].lower() in READING_VERBS


# role group -> which catalog cmdlets it grants
ROLE_GROUPS: dict[str, Callable[[str], bool]] = {
    ORGANIZATION_MANAGEMENT: _all,
    VIEW_ONLY_ORGANIZATION_MANAGEMENT: _reading,
}


def canonical_user(username: str) -> str:
    """``CONTOSO\\ExAdmin`` -> ``contoso\\exadmin`` (Windows account names compare case-insensitively)."""
    return str(username).strip().lower()


def rbac_state(rbac: Optional[Mapping[str, Iterable[str]]]) -> dict[str, list[str]]:
    """The ``rbac`` section from a ``{user: [role group, ...]}`` mapping; unknown role groups are refused here so a
    typo in a test cannot silently grant nothing."""
    table: dict[str, list[str]] = {}
    for user, groups in (rbac or {}).items():
        names = [groups] if isinstance(groups, str) else list(groups)
        unknown = [g for g in names if g not in ROLE_GROUPS]
        if unknown:
            raise ValueError("unknown role group(s) %s for %s; known: %s" % (unknown, user, sorted(ROLE_GROUPS)))
        table[canonical_user(user)] = names
    return table


def role_groups(exchange: dict[str, Any], username: str) -> list[str]:
    table = {canonical_user(k): v for k, v in (exchange.get("rbac") or {}).items()}
    return list(table.get(canonical_user(username), DEFAULT_ROLE_GROUPS))


def is_granted(exchange: dict[str, Any], username: str, cmdlet: str) -> bool:
    """Whether ``username``'s role groups grant the catalog cmdlet ``cmdlet`` (canonical spelling)."""
    return any(ROLE_GROUPS.get(group, lambda _name: False)(cmdlet) for group in role_groups(exchange, username))
