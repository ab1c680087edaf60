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


COPY = "Step 3 - copy the Auth certificate to the servers that lack it, once"
PROBE = "Step 4 - prove it with the push notification monitoring probe"
SETUP_AUTH_CERTIFICATE = "Microsoft Exchange Server Auth Certificate"


def current_on(sim, server: str) -> list[dict]:
    state = sim.read_state()["exchange"]
    current = state["auth_config"]["CurrentCertificateThumbprint"]
    return [c for c in state["servers"][server]["certificates"] if c["Thumbprint"] == current]


def test_server_lacking_the_certificate_gets_it_and_the_probe_succeeds_there(make_simulation, run_playbook):
    from hybrid_sim.simulation import ServerSpec

    servers = [
        ServerSpec("EX2016", "Version 15.1 (Build 2507.6)", exsetup_version="15.1.2507.55"),
        ServerSpec("EX2019", "Version 15.2 (Build 1748.10)", exsetup_version="15.2.1748.24"),
    ]
    sim = make_simulation(servers=servers, exchange_options={"auth_certificate_missing_on": ["EX2019"]})
    assert current_on(sim, "EX2019") == []
    # Adopt setup's Auth certificate (current, valid), so the certificate step itself deploys nothing.
    values = dict(restart_health_service=False, certificate_friendly_name=SETUP_AUTH_CERTIFICATE, probe_servers="all")

    checked = run_playbook(sim, CONFIGURE, extra_vars=role_vars(**values), check=True)
    assert checked.ok, checked
    assert checked.result(COPY)["copies"][0]["servers"] == ["EX2019"] and current_on(sim, "EX2019") == []

    first = run_playbook(sim, CONFIGURE, extra_vars=role_vars(**values))
    assert first.ok, first
    assert cert_result(first)["action"] == "none"
    copy = first.result(COPY)
    assert copy["changed"] and copy["copies"][0]["servers"] == ["EX2019"] and copy["copies"][0]["source"] == "EX2016"
    [copied] = current_on(sim, "EX2019")
    assert copied["HasPrivateKey"]
    probes = [t for t in first.results(PROBE) if t["status"] != "skipped"]
    assert len(probes) == 2 and all(t["result"]["result_type"] == "Succeeded" for t in probes)
    # The PFX password travelled as a SecureString (encrypted with the session key): the server's log shows none.
    imports = [c for c in sim.calls() if c["cmdlet"] == "Import-ExchangeCertificate"]
    assert [c["parameters"]["Password"] for c in imports] == ["System.Security.SecureString"]

    again = run_playbook(sim, CONFIGURE, extra_vars=role_vars(**values))
    assert again.ok and again.changed == 0, again
    assert [t["status"] for t in again.results(COPY)] == ["skipped"]


def test_copy_off_stops_with_the_hint(make_simulation, run_playbook):
    sim = make_simulation(exchange_options={"auth_certificate_missing_on": ["EX2019"]})
    values = dict(restart_health_service=False, certificate_friendly_name=SETUP_AUTH_CERTIFICATE, certificate_copy=False)
    run = run_playbook(sim, CONFIGURE, extra_vars=role_vars(**values))
    assert not run.ok
    failed = [t for t in run.tasks if t["status"] == "failed"]
    assert failed[0]["task"].endswith("every Exchange server holds the Auth certificate with its private key")
    assert "push_notifications_certificate_copy: true" in failed[0]["result"]["msg"]
    assert not [c for c in sim.calls() if c["cmdlet"] == "Import-ExchangeCertificate"]


def test_certificate_lifetime_days_on_a_fresh_organization(simulation, run_playbook):
    """push_notifications_certificate_lifetime_days: the certificate is built on the first mailbox server with that
    lifetime (not New-ExchangeCertificate's 5 years), becomes current with its key in Entra, and a rerun changes
    nothing."""
    sim = simulation
    run = configure(sim, run_playbook, verify=False, certificate_lifetime_days=730)
    result = cert_result(run)
    assert result["action"] == "assigned" and result["created"]
    current = assert_signing_key_in_entra(sim)
    assert current == result["thumbprint"]
    lifetimes = {
        parse_iso(cert["NotAfter"]) - parse_iso(cert["NotBefore"])
        for server in sim.read_state()["exchange"]["servers"].values()
        for cert in server["certificates"]
        if cert["Thumbprint"].upper() == current
    }
    assert lifetimes == {dt.timedelta(days=730)}
    assert entra_thumbprints(sim)[current].startswith(result["not_after"][:10])

    again = configure(sim, run_playbook, verify=False, certificate_lifetime_days=730)
    assert again.changed == 0, again
    assert auth_config(sim)["CurrentCertificateThumbprint"].upper() == current
