"""hybrid_sim.kdc: a real MIT KDC against the real pyspnego/gssapi client and acceptor (no mocks, 127.0.0.1 only).

Most tests use ``shared_realm()`` (one KDC per process, KRB5_CONFIG/KRB5_KTNAME in os.environ), as the suite's
other users will; under pytest-xdist each worker is a process with its own realm. Ticket caches are selected per
test with monkeypatch.setenv("KRB5CCNAME"): gssapi reads the environment whenever it makes a krb5 context.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from typing import Any

import pytest
import spnego
from krb5 import Krb5Error
from spnego.exceptions import SpnegoError

from hybrid_sim import kdc
from hybrid_sim.kdc import KerberosError, KerberosRealm, shared_realm

USER = "kdc-test-admin"
PASSWORD = 'Corr3ct Horse "battery"!'
FQDN = "kdctest01.contoso.com"
UNKNOWN_FQDN = "kdctest-unknown.contoso.com"


@pytest.fixture(scope="module")
def realm() -> KerberosRealm:
    # No skip when krb5kdc is missing: start() fails saying what to install (scripts/setup.sh installs it).
    instance = shared_realm()
    instance.add_user(USER, PASSWORD)
    instance.add_host(FQDN)
    return instance


@pytest.fixture
def principal(realm: KerberosRealm) -> str:
    return USER + "@" + realm.realm


def handshake(client: Any, server: Any) -> None:
    """Kerberos with mutual authentication: AP-REQ, AP-REP, both sides complete."""
    token = client.step()
    assert token, "the client produced no AP-REQ"
    answer = server.step(token)
    assert server.complete
    if answer:
        client.step(answer)
    assert client.complete


def wrap_both_ways(client: Any, server: Any) -> None:
    sealed = client.wrap(b"client to server: Get-ExchangeServer", encrypt=True)
    assert sealed.encrypted and b"Get-ExchangeServer" not in sealed.data
    assert server.unwrap(sealed.data).data == b"client to server: Get-ExchangeServer"
    sealed = server.wrap(b"server to client: EX01", encrypt=True)
    assert sealed.encrypted and b"EX01" not in sealed.data
    assert client.unwrap(sealed.data).data == b"server to client: EX01"
    # A message sealed for the other side does not open on the sender's own context.
    with pytest.raises(SpnegoError):
        client.unwrap(client.wrap(b"loop", encrypt=True).data)


def acceptor() -> Any:
    return spnego.server(service="HTTP", protocol="kerberos")


# --- the realm itself -------------------------------------------------------------------------------------------------
def test_shared_realm_sets_the_environment_and_keeps_its_files_in_its_directory(realm: KerberosRealm) -> None:
    assert shared_realm() is realm
    assert realm.realm == "CONTOSO.COM" and realm.domain == "contoso.com"
    environ = realm.environ()
    assert environ["KRB5_CONFIG"] == realm.krb5_conf
    assert environ["KRB5_KTNAME"] == "FILE:" + realm.keytab
    for key, value in environ.items():
        assert os.environ[key] == value
    for path in (realm.krb5_conf, realm.kdc_conf, realm.keytab, realm.database, realm.stash, realm.kdc_log):
        assert os.path.dirname(path) == realm.directory and os.path.exists(path)
    with open(realm.krb5_conf, encoding="utf-8") as handle:
        lines = {" ".join(line.split()) for line in handle}
    for setting in (
        "default_realm = CONTOSO.COM",
        "rdns = false",
        "dns_canonicalize_hostname = false",
        "dns_lookup_kdc = false",
        "udp_preference_limit = 1",
        "allow_weak_crypto = false",
        "default_tkt_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96",
        f"kdc = 127.0.0.1:{realm.kdc_port}",
        ".contoso.com = CONTOSO.COM",
        "contoso.com = CONTOSO.COM",
    ):
        assert setting in lines
    assert "/etc/" not in open(realm.kdc_conf, encoding="utf-8").read()


def test_the_kdc_listens_on_127_0_0_1_only(realm: KerberosRealm) -> None:
    if not os.path.exists("/proc/net/tcp"):
        pytest.skip("no /proc/net on this system")
    sockets = kdc._port_sockets(realm.kdc_port)
    ours = kdc._socket_inodes(realm._process.pid)
    listening = [s for s in sockets if s[2] in ours]
    assert {table for table, _state, _inode in listening} == {"tcp", "udp"}  # IPv4 only, TCP and UDP
    local = {}
    for table in ("tcp", "udp"):
        with open(f"/proc/net/{table}", encoding="ascii") as handle:
            for line in handle.readlines()[1:]:
                fields = line.split()
                if fields[9] in ours:
                    local[table] = fields[1]
    port = "%04X" % realm.kdc_port
    assert local == {"tcp": "0100007F:" + port, "udp": "0100007F:" + port}
    # No other process shares the port (krb5kdc binds with SO_REUSEPORT: a clash would not fail on its own).
    assert all(s[2] in ours for s in sockets if s[0].startswith("udp") or s[1] == "0A")


SHARED_IN_A_FRESH_PROCESS = """
import json, os, subprocess, sys, threading
from hybrid_sim.kdc import shared_realm

base = sys.argv[1]
barrier = threading.Barrier(8)
seen = []


def first_use():
    barrier.wait()
    seen.append(shared_realm(base))


threads = [threading.Thread(target=first_use) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
realm = seen[0]
child = [sys.executable, "-c", "import os; print(os.environ['KRB5_CONFIG'], os.environ['KRB5_KTNAME'])"]
print(json.dumps({
    "same": all(item is realm for item in seen) and len(seen) == 8,
    "directories": sorted(os.listdir(base)),
    "directory": realm.directory,
    "pid": realm._process.pid,
    "expected": realm.krb5_conf + " FILE:" + realm.keytab,
    "child": subprocess.run(child, capture_output=True, text=True, check=True).stdout.strip(),
}))
"""


def test_shared_realm_first_use_from_threads_is_one_realm_and_is_cleaned_up_at_exit(tmp_path: Any) -> None:
    simulators = os.path.dirname(os.path.dirname(os.path.abspath(kdc.__file__)))
    environ = dict(os.environ, PYTHONPATH=simulators + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for key in ("KRB5_CONFIG", "KRB5_KTNAME", "KRB5RCACHEDIR"):
        environ.pop(key, None)
    result = subprocess.run(
        [sys.executable, "-c", SHARED_IN_A_FRESH_PROCESS, str(tmp_path)],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["same"]
    assert report["directories"] == [os.path.basename(report["directory"])]  # one realm started, not eight
    assert report["child"] == report["expected"]  # a process started from there sees the realm
    # At interpreter exit: KDC stopped (and reaped), directory removed.
    assert not os.path.exists(report["directory"])
    with pytest.raises(ProcessLookupError):
        os.kill(report["pid"], 0)


def test_shared_realm_puts_its_environment_back_and_restarts_its_kdc(
    realm: KerberosRealm, principal: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KRB5_CONFIG", str(tmp_path / "missing-krb5.conf"))
    monkeypatch.delenv("KRB5_KTNAME")
    realm.stop()
    assert shared_realm() is realm and realm.running
    assert os.environ["KRB5_CONFIG"] == realm.krb5_conf and os.environ["KRB5_KTNAME"] == "FILE:" + realm.keytab
    # The restarted KDC (maybe on another port, krb5.conf rewritten) serves the same database.
    handshake(spnego.client(principal, PASSWORD, hostname=FQDN, service="HTTP", protocol="kerberos"), acceptor())


# --- pyspnego against the KDC -----------------------------------------------------------------------------------------
def test_ticket_cache_client_against_the_keytab_acceptor(
    realm: KerberosRealm, principal: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ccache = realm.kinit(principal, PASSWORD, str(tmp_path / "ccache"))
    assert ccache == "FILE:" + str(tmp_path / "ccache")
    monkeypatch.setenv("KRB5CCNAME", ccache)
    client = spnego.client(hostname=FQDN, service="HTTP", protocol="kerberos")
    server = acceptor()
    handshake(client, server)
    assert server.client_principal == principal
    wrap_both_ways(client, server)
    # The service ticket came from the KDC into that cache.
    with open(tmp_path / "ccache", "rb") as handle:
        assert f"{FQDN}".encode() in handle.read()


def test_password_client_against_the_keytab_acceptor(
    realm: KerberosRealm, principal: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No ticket cache to fall back on: the password path must get its own TGT.
    monkeypatch.setenv("KRB5CCNAME", "FILE:" + str(tmp_path / "none"))
    client = spnego.client(principal, PASSWORD, hostname=FQDN, service="HTTP", protocol="kerberos")
    server = acceptor()
    handshake(client, server)
    assert server.client_principal == principal
    wrap_both_ways(client, server)
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize("service", ["host", "WSMAN"])
def test_every_service_of_a_host_is_in_the_keytab(realm: KerberosRealm, principal: str, service: str) -> None:
    client = spnego.client(principal, PASSWORD, hostname=FQDN, service=service, protocol="kerberos")
    server = spnego.server(service=service, protocol="kerberos")
    handshake(client, server)
    wrap_both_ways(client, server)


def test_wrong_password_is_preauthentication_failed(realm: KerberosRealm, principal: str, tmp_path: Any) -> None:
    # pyspnego gets the TGT (krb5 get_init_creds_password) when the client is made, and does not wrap krb5's error.
    with pytest.raises(Krb5Error, match="Preauthentication failed"):
        spnego.client(principal, "not-" + PASSWORD, hostname=FQDN, service="HTTP", protocol="kerberos").step()
    with pytest.raises(KerberosError, match="Password incorrect"):
        realm.kinit(principal, "not-" + PASSWORD, str(tmp_path / "ccache"))
    assert not (tmp_path / "ccache").exists()


def test_unknown_spn_is_named_in_the_error(realm: KerberosRealm, principal: str) -> None:
    client = spnego.client(principal, PASSWORD, hostname=UNKNOWN_FQDN, service="HTTP", protocol="kerberos")
    with pytest.raises(SpnegoError) as error:
        client.step()
    assert f"HTTP/{UNKNOWN_FQDN}@CONTOSO.COM not found in Kerberos database" in str(error.value)


def test_skewed_ticket_cache_is_clock_skew_too_great_from_the_kdc(
    realm: KerberosRealm, principal: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(tmp_path / "ccache")
    monkeypatch.setenv("KRB5CCNAME", realm.kinit(principal, PASSWORD, path))
    with open(path, "rb") as handle:
        before = handle.read()
    realm.skew_ccache(path, 3600)
    with open(path, "rb") as handle:
        after = handle.read()
    # Only the KDC time offset (bytes 8-11, big-endian seconds) moved.
    assert after[:4] == before[:4] == b"\x05\x04\x00\x0c"
    assert struct.unpack(">i", after[8:12])[0] - struct.unpack(">i", before[8:12])[0] == 3600
    assert after[:8] + after[12:] == before[:8] + before[12:]
    client = spnego.client(hostname=FQDN, service="HTTP", protocol="kerberos")
    with pytest.raises(SpnegoError, match="Clock skew too great"):
        client.step()
    # Back to no offset: the same cache works again.
    kdc.skew_ccache("FILE:" + path, -3600)
    handshake(spnego.client(hostname=FQDN, service="HTTP", protocol="kerberos"), acceptor())


def test_skew_after_the_service_ticket_is_refused_by_the_acceptor(
    realm: KerberosRealm, principal: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(tmp_path / "ccache")
    monkeypatch.setenv("KRB5CCNAME", realm.kinit(principal, PASSWORD, path))
    spnego.client(hostname=FQDN, service="HTTP", protocol="kerberos").step()  # HTTP/ ticket now in the cache
    realm.skew_ccache(path, 3600)
    token = spnego.client(hostname=FQDN, service="HTTP", protocol="kerberos").step()  # no KDC: cached ticket
    server = acceptor()
    with pytest.raises(Exception) as error:
        server.step(token)
    # python-gssapi keeps the acceptor's error back and pyspnego 0.12.4 then raises a bare AttributeError; the real
    # error is the gssapi context's last error (re-raised by the next look at the context, e.g. server.complete).
    reported = str(error.value) + " " + str(getattr(getattr(server, "_context", None), "_last_err", ""))
    assert "Clock skew too great" in reported


# --- idempotence -------------------------------------------------------------------------------------------------------
def test_add_user_again_changes_the_password(realm: KerberosRealm, tmp_path: Any) -> None:
    # A user of its own: the other tests (in any order, on any xdist worker) keep USER's password.
    principal = realm.add_user("kdc-test-rotating", "First-" + PASSWORD)
    realm.kinit(principal, "First-" + PASSWORD, str(tmp_path / "first"))
    assert realm.add_user("kdc-test-rotating@CONTOSO.COM", "Second-" + PASSWORD) == principal
    with pytest.raises(KerberosError, match="Password incorrect"):
        realm.kinit(principal, "First-" + PASSWORD, str(tmp_path / "old"))
    realm.kinit(principal, "Second-" + PASSWORD, str(tmp_path / "new"))
    client = spnego.client(principal, "Second-" + PASSWORD, hostname=FQDN, service="HTTP", protocol="kerberos")
    handshake(client, acceptor())
    with open(realm.kdc_log, encoding="utf-8") as handle:
        assert f"NEEDED_PREAUTH: {principal}" in handle.read()  # +requires_preauth kept


def test_add_host_again_keeps_the_keys(realm: KerberosRealm, principal: str, monkeypatch: Any, tmp_path: Any) -> None:
    monkeypatch.setenv("KRB5CCNAME", realm.kinit(principal, PASSWORD, str(tmp_path / "ccache")))
    first = spnego.client(hostname=FQDN, service="HTTP", protocol="kerberos")
    token = first.step()  # a service ticket under the current key
    size = os.path.getsize(realm.keytab)
    realm.add_host(FQDN)
    realm.add_host(FQDN.upper())
    assert os.path.getsize(realm.keytab) == size
    server = acceptor()
    server.step(token)  # the ticket issued before still opens
    assert server.complete


# --- a realm of a test's own ---------------------------------------------------------------------------------------
def test_own_realm_next_to_the_shared_one(realm: KerberosRealm, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with KerberosRealm(str(tmp_path / "fabrikam"), "FABRIKAM.TEST", "fabrikam.test") as other:
        assert other.running and other.kdc_port != realm.kdc_port
        user = other.add_user("fabadmin", "Fab-Pass-1")
        other.add_host("ex02.fabrikam.test")
        # gssapi reads KRB5_CONFIG/KRB5_KTNAME per krb5 context: switching them in this process switches realms.
        for key, value in other.environ().items():
            monkeypatch.setenv(key, value)
        client = spnego.client(user, "Fab-Pass-1", hostname="ex02.fabrikam.test", service="HTTP", protocol="kerberos")
        server = acceptor()
        handshake(client, server)
        assert server.client_principal == "fabadmin@FABRIKAM.TEST"
        wrap_both_ways(client, server)
        # The shared realm's host is unknown here.
        with pytest.raises(SpnegoError, match="not found in Kerberos database"):
            spnego.client(user, "Fab-Pass-1", hostname=FQDN, service="HTTP", protocol="kerberos").step()
    assert not other.running
    other.stop()  # idempotent
    with pytest.raises(KerberosError, match="Cannot contact any KDC"):
        other.kinit(user, "Fab-Pass-1", str(tmp_path / "after-stop"))
    monkeypatch.undo()
    # Back on the shared realm.
    client = spnego.client(USER, PASSWORD, hostname=FQDN, service="HTTP", protocol="kerberos")
    handshake(client, acceptor())


def test_a_port_clash_is_detected_and_retried(
    realm: KerberosRealm, principal: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # krb5kdc binds with SO_REUSEPORT, so a second KDC on a taken port starts "fine" and the kernel then shares the
    # connections: start() must notice the other owner and move to another port.
    free_port = kdc._free_port
    offered = iter([realm.kdc_port])
    monkeypatch.setattr(kdc, "_free_port", lambda: next(offered, None) or free_port())
    with KerberosRealm(str(tmp_path / "clash"), "CLASH.TEST", "clash.test") as other:
        assert other.kdc_port != realm.kdc_port
        other.kinit(other.add_user("clasher", "Clash-1"), "Clash-1", str(tmp_path / "clash.ccache"))
    with open(other.kdc_log, encoding="utf-8") as handle:
        assert handle.read().count("commencing operation") == 2  # the one on the taken port, then the kept one
    # Every request of the shared realm still reaches its own KDC.
    for attempt in range(10):
        realm.kinit(principal, PASSWORD, str(tmp_path / f"shared-{attempt}"))


def test_restart_reuses_the_database(tmp_path: Any) -> None:
    other = KerberosRealm(str(tmp_path / "restart"), "RESTART.TEST", "restart.test")
    try:
        other.start()
        user = other.add_user("keeper", "Keep-1")
        other.stop()
        other.start()
        assert other.running
        other.kinit(user, "Keep-1", str(tmp_path / "ccache"))
    finally:
        other.stop()


def test_missing_binaries_say_what_to_install(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kdc, "BINARY_DIRECTORIES", (str(tmp_path),))
    with pytest.raises(KerberosError, match="install Debian's krb5-kdc krb5-admin-server krb5-user"):
        KerberosRealm(str(tmp_path / "realm")).start()
    assert not (tmp_path / "realm").exists()
