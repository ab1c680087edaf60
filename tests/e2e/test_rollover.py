"""Auth certificate rollover through the push_notifications role, moving the simulators' clock
(state ``clock_offset_seconds``): 70 days before expiry nothing happens; at 50 days the next certificate is staged
and its key uploaded before its effective date; after the effective date the next certificate is current; after
expiry an unrenewed certificate is replaced at once. After every step, Entra holds the key of the certificate
Exchange signs with."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

from hybrid_sim.state import now as sim_now
from hybrid_sim.state import parse_iso

from test_audit_push_notifications import audit
from test_role_support import CONFIGURE, role_vars, shared_sp, state_bytes


def configure(sim, run_playbook, **overrides):
    values = role_vars(restart_health_service=False, **overrides)
    run = run_playbook(sim, CONFIGURE, extra_vars=values)
    assert run.ok, run
    return run


def cert_result(run):
    return run.result("Step 3 - the Auth certificate, once, on the first mailbox server")


def entra_thumbprints(sim) -> dict[str, str]:
    """Thumbprint -> endDateTime of every key on the shared Exchange Online service principal (from the key data)."""
    found = {}
    for key in shared_sp(sim).get("keyCredentials") or []:
        thumb = hashlib.sha1(base64.b64decode(key["key"])).hexdigest().upper()  # nosec - certificate thumbprint
        found[thumb] = key["endDateTime"]
    return found


def auth_config(sim) -> dict:
    return sim.read_state()["exchange"]["auth_config"]


def assert_signing_key_in_entra(sim) -> str:
    """The invariant: Entra holds the key of AuthConfig's current certificate (the one Exchange signs with)."""
    current = auth_config(sim)["CurrentCertificateThumbprint"]
    assert current, "AuthConfig has no current certificate"
    assert current.upper() in entra_thumbprints(sim), "Entra lacks the key of the signing certificate %s" % current
    return current.upper()


def expiry(sim, thumb) -> dt.datetime:
    for server in sim.read_state()["exchange"]["servers"].values():
        for cert in server["certificates"]:
            if cert["Thumbprint"].upper() == thumb.upper():
                return parse_iso(cert["NotAfter"])
    raise AssertionError("certificate %s not in any store" % thumb)


def move_clock_to(sim, moment: dt.datetime) -> None:
    with sim.store.transaction() as state:
        state["clock_offset_seconds"] = int((moment - dt.datetime.now(dt.timezone.utc)).total_seconds())


REMOVE_PREVIOUS = "Step 3 - rollover - remove the previous certificate's key once it has expired by Exchange's clock"


def test_rollover_70_days_50_days_effective_date_and_old_expiry(simulation, run_playbook):
    sim = simulation
    configure(sim, run_playbook)
    first = assert_signing_key_in_entra(sim)
    end = expiry(sim, first)

    # 70 days before expiry: outside the 60-day window, nothing to do.
    move_clock_to(sim, end - dt.timedelta(days=70))
    run = configure(sim, run_playbook, verify=False)
    assert cert_result(run)["action"] == "none"
    assert run.changed == 0, run
    assert auth_config(sim)["NextCertificateThumbprint"] is None
    assert assert_signing_key_in_entra(sim) == first

    # 50 days before expiry: a next certificate is staged, its key is in Entra before its effective date.
    move_clock_to(sim, end - dt.timedelta(days=50))
    run = configure(sim, run_playbook)
    result = cert_result(run)
    assert result["action"] == "staged"
    config = auth_config(sim)
    staged = config["NextCertificateThumbprint"].upper()
    assert staged != first and result["next_certificate"]["thumbprint"] == staged
    effective = parse_iso(config["NextCertificateEffectiveDate"])
    assert dt.timedelta(days=29) < effective - sim_now(sim.read_state()) <= dt.timedelta(days=30)
    keys = entra_thumbprints(sim)
    assert staged in keys and first in keys  # both valid during the rollover
    assert assert_signing_key_in_entra(sim) == first
    # The staged certificate's key went up in the role's one key task (next_certificate), in the same run.
    (upload,) = run.results("Step 3 - the Auth certificate's key in Entra ID, once, on the controller")
    assert upload["status"] == "changed" and upload["result"]["next_key"]["thumbprint"] == staged
    # Rerun: staged already, key already there.
    run = configure(sim, run_playbook, verify=False)
    assert run.changed == 0, run
    # The audit sees the staged certificate and its key: nothing to warn about, and it writes nothing.
    before = state_bytes(sim)
    run, report = audit(sim, run_playbook)
    assert run.ok, run
    assert state_bytes(sim) == before
    org = report["organizations"][0]
    assert org["next_certificate"]["thumbprint"] == staged
    assert org["entra"]["next_key"]["thumbprint"] == staged
    assert report["summary"]["status"] == "ok", [f for f in org["findings"] if f["severity"] != "ok"]
    assert [f["severity"] for f in org["findings"] if f["check"] in ("auth_certificate", "entra_next_key")] == [
        "ok", "ok"]

    # After the effective date Exchange signs with the staged certificate; its key was already uploaded.
    move_clock_to(sim, effective + dt.timedelta(days=1))
    assert assert_signing_key_in_entra(sim) == first  # not switched until Exchange is asked
    # Asked to remove the previous key: not yet, it is valid for about 19 more days.
    run = configure(sim, run_playbook, remove_expired_previous_key=True)
    # msol_sp_credential decides it against Exchange's clock (only_if_expired_at) and says why it kept the key.
    (removal,) = run.results(REMOVE_PREVIOUS)
    assert removal["status"] == "ok" and "is kept" in removal["result"]["reason"]
    assert first in entra_thumbprints(sim)
    config = auth_config(sim)
    assert config["CurrentCertificateThumbprint"].upper() == staged
    assert config["PreviousCertificateThumbprint"].upper() == first
    assert assert_signing_key_in_entra(sim) == staged
    assert cert_result(run)["action"] == "none"
    # The only change: every mailbox server picks up the certificate that became current (issue 15), once.
    refreshed = [t for t in run.results("Step 3 - every mailbox server picks up the current Auth certificate")
                 if t["status"] == "changed"]
    assert refreshed and run.changed == len(refreshed), run
    run = configure(sim, run_playbook, verify=False)
    assert run.changed == 0, run

    # After the old certificate expired: nothing to renew; its key is removed only when asked.
    move_clock_to(sim, end + dt.timedelta(days=2))
    run = configure(sim, run_playbook, verify=False)
    assert run.changed == 0, run
    assert first in entra_thumbprints(sim)
    run = configure(sim, run_playbook, verify=False, remove_expired_previous_key=True)
    assert run.result(REMOVE_PREVIOUS)["changed"]
    keys = entra_thumbprints(sim)
    assert first not in keys and staged in keys
    assert assert_signing_key_in_entra(sim) == staged


def test_expired_certificate_is_replaced_at_once_and_its_key_uploaded(simulation, run_playbook):
    sim = simulation
    configure(sim, run_playbook)
    first = assert_signing_key_in_entra(sim)
    move_clock_to(sim, expiry(sim, first) + dt.timedelta(days=1))
    run = configure(sim, run_playbook)
    result = cert_result(run)
    assert result["action"] == "replaced"
    config = auth_config(sim)
    new = config["CurrentCertificateThumbprint"].upper()
    assert new != first and config["NextCertificateThumbprint"] is None
    assert config["PreviousCertificateThumbprint"] is None  # -ClearPreviousCertificate
    assert assert_signing_key_in_entra(sim) == new
    assert expiry(sim, new) > sim_now(sim.read_state()) + dt.timedelta(days=365)
    probes = [t["result"] for t in run.results("Step 4 - prove it with the push notification monitoring probe")
              if t["status"] != "skipped"]
    assert [p["result_type"] for p in probes] == ["Succeeded"]
    run = configure(sim, run_playbook)
    assert run.changed == 0, run
