"""Shared helpers for the push_notifications role's end-to-end tests (no tests here)."""

from __future__ import annotations

import json
from typing import Any

from hybrid_sim.simulation import ROLE_VARS

EXCHANGE_ONLINE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
CONFIGURE = "exchange.hybrid.configure_push_notifications"
VERIFY = "exchange.hybrid.verify_push_notifications"

# The simulation's mapping onto the role's variables, with a short probe poll for the tests.
SIM_VARS: dict[str, Any] = {**ROLE_VARS, "push_notifications_probe_poll_interval": 1}


def role_vars(**overrides: Any) -> dict[str, Any]:
    values = dict(SIM_VARS)
    values.update({"push_notifications_" + key: value for key, value in overrides.items()})
    return values


def state_bytes(sim) -> bytes:
    with open(sim.state_path, "rb") as handle:
        return handle.read()


def tenant(sim) -> dict[str, Any]:
    return next(iter(sim.read_state()["entra"]["tenants"].values()))


def shared_sp(sim) -> dict[str, Any]:
    return next(sp for sp in tenant(sim)["servicePrincipals"] if sp["appId"] == EXCHANGE_ONLINE_APP_ID)


def sp_key_ids(sim) -> list[str]:
    return sorted(k["keyId"] for k in shared_sp(sim).get("keyCredentials") or [])


def auth_servers(sim) -> list[dict[str, Any]]:
    return sim.read_state()["exchange"]["auth_servers"]


def probe_results(run) -> list[dict[str, Any]]:
    return [
        t["result"]
        for t in run.results("Step 4 - prove it with the push notification monitoring probe")
        if t["status"] not in ("skipped",)
    ]


def org_snapshot(sim) -> str:
    """Everything organization-wide that a failed run must leave alone (Exchange side and Entra objects)."""
    state = sim.read_state()
    entra = tenant(sim)
    return json.dumps(
        {
            "exchange": state["exchange"],
            "servicePrincipals": entra.get("servicePrincipals"),
            "applications": entra.get("applications"),
        },
        sort_keys=True,
    )
