"""The Auth certificate lifecycle through the push_notifications role, as Microsoft's MonitorExchangeAuthCertificate.ps1
runs it (issue 15 section 3): every mailbox server picks a new current certificate up (MSExchangeServiceHost
restarted, the OWA and ECP pools recycled) once, and a forced renewal (rotate_now) stages a new certificate with its
key in Entra ID before the switch."""

from __future__ import annotations

import datetime as dt

from hybrid_sim.state import now as sim_now
from hybrid_sim.state import parse_iso

from test_role_support import CONFIGURE, role_vars
from test_rollover import assert_signing_key_in_entra, auth_config, cert_result, configure, entra_thumbprints, move_clock_to

REFRESH = "Step 3 - every mailbox server picks up the current Auth certificate"


def restarts(sim) -> dict[str, tuple[int, int, int]]:
    """Per server: MSExchangeServiceHost restarts, OWA and ECP pool recycles."""
    found = {}
    for name, server in sim.read_state()["exchange"]["servers"].items():
        pools = server["app_pools"]
        found[name] = (
            server["services"]["MSExchangeServiceHost"]["restarts"],
            pools["MSExchangeOWAAppPool"]["recycles"],
            pools["MSExchangeECPAppPool"]["recycles"],
        )
    return found


def mailbox_servers(sim) -> list[str]:
    return sorted(n for n, s in sim.read_state()["exchange"]["servers"].items() if "Mailbox" in s["roles"])


def refreshed(run) -> dict[str, list[str]]:
    return {t["host"]: t["result"]["restarted"] for t in run.results(REFRESH) if t["status"] != "skipped"}


def test_new_current_certificate_is_picked_up_once_on_every_mailbox_server(simulation, run_playbook):
    sim = simulation
    untouched = restarts(sim)
    checked = run_playbook(sim, CONFIGURE, extra_vars=role_vars(restart_health_service=False), check=True)
    assert checked.ok, checked
    assert restarts(sim) == untouched  # check mode restarts nothing

    first = configure(sim, run_playbook, verify=False)
    assert cert_result(first)["action"] == "assigned"
    done = refreshed(first)
    assert len(done) == len(mailbox_servers(sim)) > 1
    assert all(r == ["MSExchangeServiceHost", "MSExchangeOWAAppPool", "MSExchangeECPAppPool"] for r in done.values())
    after = restarts(sim)
    assert {n: after[n] for n in mailbox_servers(sim)} == {n: (1, 1, 1) for n in mailbox_servers(sim)}

    again = configure(sim, run_playbook, verify=False)
    assert again.changed == 0, again
    assert restarts(sim) == after


def test_rotate_now_stages_with_the_key_in_entra_before_the_switch_then_refreshes(simulation, run_playbook):
    sim = simulation
    configure(sim, run_playbook, verify=False)
    first = assert_signing_key_in_entra(sim)
    picked_up = restarts(sim)

    run = configure(sim, run_playbook, verify=False, certificate_rotate_now=True,
                    certificate_rotate_effective_in_days=5)
    result = cert_result(run)
    assert result["action"] == "staged" and result["created"] and result["thumbprint"] == first
    config = auth_config(sim)
    staged = config["NextCertificateThumbprint"].upper()
    assert staged != first and result["next_certificate"]["thumbprint"] == staged
    effective = parse_iso(config["NextCertificateEffectiveDate"])
    assert abs((effective - (sim_now(sim.read_state()) + dt.timedelta(days=5))).total_seconds()) < 300
    keys = entra_thumbprints(sim)
    assert staged in keys and first in keys  # the next key is in Entra before Exchange switches to it
    assert refreshed(run) == {} and restarts(sim) == picked_up  # staging changes nothing Exchange signs with

    # A rerun with rotate_now still set: the staged certificate stands, no second one.
    count = sum(len(s["certificates"]) for s in sim.read_state()["exchange"]["servers"].values())
    rerun = configure(sim, run_playbook, verify=False, certificate_rotate_now=True,
                      certificate_rotate_effective_in_days=5)
    assert rerun.changed == 0, rerun
    assert sum(len(s["certificates"]) for s in sim.read_state()["exchange"]["servers"].values()) == count

    # After the effective date Exchange signs with the staged certificate, whose key was already in Entra; the run
    # after the switch makes every mailbox server pick it up, once.
    move_clock_to(sim, effective + dt.timedelta(hours=1))
    switched = configure(sim, run_playbook, verify=False)
    assert assert_signing_key_in_entra(sim) == staged
    assert cert_result(switched)["action"] == "none"
    assert len(refreshed(switched)) == len(mailbox_servers(sim))  # every mailbox host ran it
    assert {n: restarts(sim)[n] for n in mailbox_servers(sim)} == {
        n: tuple(c + 1 for c in picked_up[n]) for n in mailbox_servers(sim)
    }
    assert switched.changed == len(mailbox_servers(sim)), switched  # the refresh only
    calm = configure(sim, run_playbook, verify=False)
    assert calm.changed == 0, calm
