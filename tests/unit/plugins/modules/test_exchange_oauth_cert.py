# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""exchange_oauth_cert against the simulator's Exchange (hybrid_sim.module_runner): act, read back, assert, run
again for idempotence, run in check mode."""

from __future__ import annotations

import datetime as dt

import pytest

from hybrid_sim.exchange import certificates as certs
from hybrid_sim.exchange.testing import ExchangeHarness
from hybrid_sim.module_runner import run_module
from hybrid_sim.state import now, parse_iso

from ansible_collections.exchange.hybrid.plugins.modules import exchange_oauth_cert as mod

SERVER = "EX2019"
EXPORT = "C:\\Certs\\oauth.cer"
LIFETIME_DAYS = 5 * 365 + 1  # the simulator's self-signed certificates live five years


@pytest.fixture
def fresh(tmp_path):
    """An organization whose AuthConfig names no certificate yet."""
    return ExchangeHarness(str(tmp_path), auth_certificate=False)


def run(harness, args=None, **kwargs):
    return run_module(mod, dict(args or {}), exchange=harness, server=SERVER, **kwargs)


def auth(harness):
    return harness.state()["exchange"]["auth_config"]


def store(harness, server=SERVER):
    return harness.state()["exchange"]["servers"][server]["certificates"]


def make_current(harness, thumbprint):
    with harness.edit() as state:
        state["exchange"]["auth_config"]["CurrentCertificateThumbprint"] = thumbprint


def ours(harness, days_left, **kwargs):
    """A certificate of ours on the connected server that has ``days_left`` days to live."""
    return harness.add_certificate([SERVER], issued_days_ago=LIFETIME_DAYS - days_left, **kwargs)


def test_creates_assigns_then_idempotent(fresh):
    out = run(fresh, {"export_path": EXPORT}, diff=True)
    r = out.result
    assert not out.failed and r["changed"] and r["created"] and r["action"] == "assigned"
    new = next(c for c in out.calls if c["cmdlet"] == "New-ExchangeCertificate")["parameters"]
    assert new["Services"] == "Federation" and new["KeySize"] == 2048 and new["PrivateKeyExportable"] is True
    assert new["DomainName"] == ["contoso.com"]
    assert auth(fresh)["CurrentCertificateThumbprint"] == r["thumbprint"] == r["auth_config"]["current"]
    created = next(c for c in store(fresh) if c["Thumbprint"] == r["thumbprint"])
    assert r["certificate"] == created["RawData"]
    assert fresh.state()["exchange"]["servers"][SERVER]["files"][EXPORT] == created["RawData"]
    assert r["diff"]["before"]["auth_config"]["current"] is None
    assert r["diff"]["after"]["certificate"]["thumbprint"] == r["thumbprint"]

    again = run(fresh, {"export_path": EXPORT})
    assert not again.result["changed"] and again.result["thumbprint"] == r["thumbprint"]
    assert again.writes == ["write_file"] and again.result["export"] == {"path": EXPORT, "changed": False}
    assert len([c for c in store(fresh) if c["FriendlyName"] == "Exchange S2S OAuth"]) == 1

    checked = run(fresh, {"export_path": EXPORT}, check=True)
    assert not checked.result["changed"] and not checked.writes


def test_check_mode_writes_nothing(fresh):
    before = fresh.state()
    out = run(fresh, {"export_path": "C:\\x.cer"}, check=True, diff=True)
    assert out.result["changed"] and out.result["created"] and out.result["thumbprint"] is None
    assert fresh.state() == before and not out.writes
    assert "diff" in out.result


def test_reuses_valid_and_skips_bad_certificates(fresh):
    ours(fresh, -3)  # expired
    ours(fresh, 900, key_size=1024)
    ours(fresh, 900, private_key_exportable=False)
    ours(fresh, 1200, friendly_name="Other")
    good = ours(fresh, 400)
    out = run(fresh)
    assert out.result["thumbprint"] == good and not out.result["created"]
    assert auth(fresh)["CurrentCertificateThumbprint"] == good
    assert "New-ExchangeCertificate" not in out.cmdlets


def test_adopt_thumbprint_normalised(fresh):
    thumbprint = ours(fresh, 300, friendly_name="anything")
    spaced = " ".join(thumbprint[i : i + 2] for i in range(0, 40, 2)).lower()
    out = run(fresh, {"thumbprint": spaced})
    assert out.result["thumbprint"] == thumbprint and out.result["action"] == "assigned"
    assert auth(fresh)["CurrentCertificateThumbprint"] == thumbprint
    assert not run(fresh, {"thumbprint": spaced}).result["changed"]


def test_adopt_missing_thumbprint_fails_naming_server(fresh):
    before = fresh.state()
    out = run(fresh, {"thumbprint": "A" * 40})
    assert out.failed and "ex01.contoso.com" in out.result["msg"] and "not in the certificate store" in out.result["msg"]
    assert fresh.state() == before and not out.writes


@pytest.mark.parametrize(
    "args,needle",
    [
        ({"key_size": 1024}, "key_size 1024"),
        ({"thumbprint": "not-a-thumbprint"}, "thumbprint"),
        ({"domain_name": "not a domain"}, "domain_name"),
        ({"export_path": "relative\\path.cer"}, "export_path"),
        ({"friendly_name": "  "}, "friendly_name"),
    ],
)
def test_bad_input_refused_before_connecting(args, needle):
    out = run_module(mod, args)  # no Exchange: connecting would fail the test
    assert out.failed and needle in out.result["msg"]
    assert "pw-canary" not in str(out.result)


def test_stages_next_certificate_inside_renewal_window(fresh):
    current = ours(fresh, 50)
    make_current(fresh, current)
    out = run(fresh)
    r = out.result
    assert r["action"] == "staged" and r["created"] and r["thumbprint"] == current
    config = auth(fresh)
    assert config["CurrentCertificateThumbprint"] == current
    assert r["next_certificate"]["thumbprint"] == config["NextCertificateThumbprint"] == r["auth_config"]["next"]
    expected = now(fresh.state()) + dt.timedelta(days=30)  # 30 days ahead, as Microsoft's script stages it
    assert abs((parse_iso(config["NextCertificateEffectiveDate"]) - expected).total_seconds()) < 120
    again = run(fresh)
    assert not again.result["changed"] and again.result["next_certificate"] and not again.writes


def test_replaces_expired_current_now(fresh):
    old = ours(fresh, -2)
    make_current(fresh, old)
    out = run(fresh)
    sets = [c["parameters"] for c in out.calls if c["cmdlet"] == "Set-AuthConfig"]
    assert [sorted(p) for p in sets] == [
        ["Force", "NewCertificateEffectiveDate", "NewCertificateThumbprint"],
        ["PublishCertificate"],
        ["ClearPreviousCertificate"],
    ]
    config = auth(fresh)
    assert out.result["action"] == "replaced" and config["CurrentCertificateThumbprint"] != old
    assert out.result["thumbprint"] == config["CurrentCertificateThumbprint"] and out.result["days_remaining"] > 60
    assert not run(fresh).result["changed"]


def test_keeps_a_valid_current_certificate_and_others_in_the_store(tmp_path):
    harness = ExchangeHarness(str(tmp_path))  # setup's Auth certificate is current
    setup = auth(harness)["CurrentCertificateThumbprint"]
    good = ours(harness, 700)
    out = run(harness, check=True)
    assert out.result["changed"] and out.result["action"] == "assigned" and not out.writes
    done = run(harness)
    assert done.result["thumbprint"] == good == auth(harness)["CurrentCertificateThumbprint"]
    assert {setup, good} <= {c["Thumbprint"] for c in store(harness)}  # nothing removed


def test_staging_days():
    assert [mod.staging_days(d) for d in (59, 31, 30, 20, 4, 3, 2, 1, 0)] == [30, 30, 4, 4, 2, 2, 0, 0, 0]


def test_simulated_lifetime_matches():
    issued = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    _der, start, end, _serial = certs.make_certificate(issued, "CN=x", [], reuse_key="t")
    assert abs((end - start).days - LIFETIME_DAYS) <= 1


def test_rotate_now_stages_a_new_certificate_once(fresh):
    current = ours(fresh, 900)
    spare = ours(fresh, 1000)  # an unused certificate of ours: a forced renewal never reuses it
    make_current(fresh, current)
    checked = run(fresh, {"rotate_now": True, "rotate_effective_in_days": 7}, check=True, diff=True)
    assert checked.result["changed"] and checked.result["action"] == "staged" and not checked.writes
    assert checked.result["created"]

    out = run(fresh, {"rotate_now": True, "rotate_effective_in_days": 7})
    r = out.result
    assert r["action"] == "staged" and r["created"] and r["thumbprint"] == current
    config = auth(fresh)
    staged = config["NextCertificateThumbprint"]
    assert staged not in (None, current, spare) and r["next_certificate"]["thumbprint"] == staged
    expected = now(fresh.state()) + dt.timedelta(days=7)
    assert abs((parse_iso(config["NextCertificateEffectiveDate"]) - expected).total_seconds()) < 120
    count = len(store(fresh))

    again = run(fresh, {"rotate_now": True, "rotate_effective_in_days": 7})
    assert not again.result["changed"] and not again.writes and len(store(fresh)) == count
    assert again.result["next_certificate"]["thumbprint"] == staged


def test_rotate_now_refuses_an_effective_date_after_expiry(fresh):
    make_current(fresh, ours(fresh, 10))
    before = fresh.state()
    out = run(fresh, {"rotate_now": True, "rotate_effective_in_days": 30})
    assert out.failed and "rotate_effective_in_days 30" in out.result["msg"] and "expires in" in out.result["msg"]
    assert fresh.state() == before and not out.writes


# ------------------------------------------------------------------------------------------------- lifetime_days


def test_lifetime_days_creates_with_the_host_script_then_idempotent(fresh):
    checked = run(fresh, {"lifetime_days": 400}, check=True, diff=True)
    assert checked.result["changed"] and checked.result["created"] and not checked.writes
    predicted = checked.result["diff"]["after"]["new_certificate"]
    assert predicted["days_remaining"] == 400 and predicted["thumbprint"] == "(new certificate)"

    out = run(fresh, {"lifetime_days": 400}, diff=True)
    r = out.result
    assert not out.failed and r["changed"] and r["created"] and r["action"] == "assigned"
    assert "New-ExchangeCertificate" not in out.cmdlets
    made = next(c for c in out.calls if c["cmdlet"] == "new_auth_certificate")
    assert made["script"] and made["parameters"] == {
        "DomainName": "contoso.com",
        "FriendlyName": "Exchange S2S OAuth",
        "KeySize": 2048,
        "LifetimeDays": 400,
    }
    # Read back on the Exchange endpoint before AuthConfig changes.
    read_back = out.cmdlets.index("Get-ExchangeCertificate", out.cmdlets.index("new_auth_certificate"))
    assert read_back < out.cmdlets.index("Set-AuthConfig")
    created = next(c for c in store(fresh) if c["Thumbprint"] == r["thumbprint"])
    assert (parse_iso(created["NotAfter"]) - parse_iso(created["NotBefore"])) == dt.timedelta(days=400)
    assert created["Subject"] == "CN=contoso.com" and created["CertificateDomains"] == ["contoso.com"]
    assert created["FriendlyName"] == "Exchange S2S OAuth" and created["PrivateKeyExportable"] is True
    assert r["not_after"] == created["NotAfter"] and r["days_remaining"] in (399, 400)
    assert auth(fresh)["CurrentCertificateThumbprint"] == r["thumbprint"]
    assert r["diff"]["after"]["new_certificate"]["thumbprint"] == r["thumbprint"]

    again = run(fresh, {"lifetime_days": 400})
    assert not again.result["changed"] and not again.writes and again.result["thumbprint"] == r["thumbprint"]


def test_lifetime_days_keeps_an_existing_usable_certificate(fresh):
    good = ours(fresh, 1200)
    out = run(fresh, {"lifetime_days": 90})
    assert out.result["thumbprint"] == good and not out.result["created"]
    assert "new_auth_certificate" not in out.cmdlets


def test_lifetime_days_rotate_now_stages_a_certificate_of_that_lifetime(fresh):
    current = ours(fresh, 900)
    make_current(fresh, current)
    out = run(fresh, {"lifetime_days": 200, "rotate_now": True, "rotate_effective_in_days": 7})
    staged = auth(fresh)["NextCertificateThumbprint"]
    assert out.result["action"] == "staged" and staged not in (None, current)
    cert = next(c for c in store(fresh) if c["Thumbprint"] == staged)
    assert parse_iso(cert["NotAfter"]) - parse_iso(cert["NotBefore"]) == dt.timedelta(days=200)
    assert not run(fresh, {"lifetime_days": 200, "rotate_now": True, "rotate_effective_in_days": 7}).writes


def test_lifetime_days_on_an_old_framework_fails_with_the_fallback(fresh):
    with fresh.edit() as state:
        for server in state["exchange"]["servers"].values():
            server["dotnet_framework"] = "4.6.2"
    before = fresh.state()
    out = run(fresh, {"lifetime_days": 365})
    msg = out.result["msg"]
    assert out.failed and "4.7.2" in msg and "leave lifetime_days unset" in msg and "365 days" in msg
    assert fresh.state()["exchange"]["auth_config"] == before["exchange"]["auth_config"]
    assert "Set-AuthConfig" not in out.cmdlets


@pytest.mark.parametrize(
    "args,needle",
    [
        ({"lifetime_days": 0}, "lifetime_days must be from 1 to 3650"),
        ({"lifetime_days": 3651}, "lifetime_days must be from 1 to 3650"),
        ({"lifetime_days": 60}, "more than renew_before_days (60)"),
        ({"lifetime_days": 10, "renew_before_days": 20}, "more than renew_before_days (20)"),
    ],
)
def test_lifetime_days_bounds_refused_before_connecting(args, needle):
    out = run_module(mod, args)
    assert out.failed and needle in out.result["msg"] and not out.calls
