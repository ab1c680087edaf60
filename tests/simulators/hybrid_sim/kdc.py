"""A real MIT Kerberos realm for the test world: Debian's krb5kdc on a free 127.0.0.1 port, all files in one directory.

The Exchange modules talk PowerShell remoting with Kerberos, so the simulated Exchange and its clients need a KDC
that behaves like one: ``kdb5_util`` makes the database, ``kadmin.local`` the principals and the keytab, ``kinit``
the ticket caches, and gssapi/pyspnego (client and acceptor) use them unchanged. krb5.conf, kdc.conf, the database,
the keytab and the logs live in the realm's directory; nothing is written to /etc and no simulated FQDN reaches DNS.

``KerberosRealm(directory).start()`` (or ``with KerberosRealm(directory) as realm``) gives a test a realm of its own;
``shared_realm()`` is the one realm of this process, with ``KRB5_CONFIG``/``KRB5_KTNAME`` set in ``os.environ`` so
gssapi here and the processes started from here (ansible-playbook) see it.
"""

from __future__ import annotations

import atexit
import os
import re
import secrets
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
from typing import Any

# Where Debian puts the MIT binaries (krb5kdc, kdb5_util, kadmin.local: /usr/sbin; kinit: /usr/bin).
BINARY_DIRECTORIES = ("/usr/sbin", "/usr/bin")
DEBIAN_PACKAGES = "krb5-kdc krb5-admin-server krb5-user"
ENCTYPES = "aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96"
# The service principals of an Exchange server: IIS (/PowerShell), the machine, and WinRM (/wsman).
HOST_SERVICES = ("HTTP", "host", "WSMAN")
START_ATTEMPTS = 8
START_TIMEOUT = 15.0
TOOL_TIMEOUT = 60.0

# Every realm whose KDC this process started: stopped at interpreter exit if the test forgot (no orphaned krb5kdc).
_running: set["KerberosRealm"] = set()
_running_lock = threading.Lock()

_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
# kadmin.local's stderr lines that are not failures.
_KADMIN_BENIGN = (
    re.compile(r"^No policy specified for .*; defaulting to no policy$"),
    re.compile(r"^WARNING: no policy specified for .*; defaulting to no policy$"),
    re.compile(r"^add_principal: Principal or policy already exists while creating "),
)


class KerberosError(RuntimeError):
    """A KDC, ``kadmin.local`` or ``kinit`` step failed; the message carries the tool's own error text."""


def _binary(name: str) -> str:
    for directory in BINARY_DIRECTORIES:
        path = os.path.join(directory, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise KerberosError(
        f"{name} not found in {' or '.join(BINARY_DIRECTORIES)}: install Debian's {DEBIAN_PACKAGES} "
        "(scripts/setup.sh does it)"
    )


def _quote(value: str) -> str:
    """One argument for kadmin.local's command reader (libss): double quotes, a quote inside doubled."""
    if any(character in value for character in "\r\n\0"):
        raise ValueError("kadmin.local arguments cannot contain line breaks or NUL")
    return '"' + value.replace('"', '""') + '"'


def _ccache_path(ccache: str) -> str:
    if ccache.startswith("FILE:"):
        ccache = ccache[len("FILE:") :]
    elif re.match(r"^[A-Za-z0-9]+:", ccache):
        raise ValueError(f"{ccache}: only FILE: ticket caches are supported")
    return os.path.abspath(ccache)


def skew_ccache(ccache: str, seconds: int) -> None:
    """Shift the KDC time offset stored in a FILE: ticket cache by ``seconds`` (clock-skew tests without faketime).

    An MIT version 4 cache starts ``05 04``, a header length, then tag 1 (length 8): the offset between the KDC's
    clock and ours, big-endian seconds (bytes 8-11 when it is the first tag) and microseconds. With
    ``kdc_timesync`` (on in the realm's krb5.conf) a client reading the cache adds it to its clock, so ``+3600``
    makes its next request an hour early or late for the KDC or the acceptor: "Clock skew too great".
    """
    path = _ccache_path(ccache)
    with open(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[:2] != b"\x05\x04":
        raise KerberosError(f"{path} is not a version 4 MIT ticket cache")
    (header_length,) = struct.unpack(">H", data[2:4])
    header, rest = data[4 : 4 + header_length], data[4 + header_length :]
    tags: list[bytes] = []
    found = False
    position = 0
    while position + 4 <= len(header):
        tag, length = struct.unpack(">HH", header[position : position + 4])
        value = header[position + 4 : position + 4 + length]
        if tag == 1 and length == 8:
            offset, microseconds = struct.unpack(">ii", value)
            value = struct.pack(">ii", offset + seconds, microseconds)
            found = True
        tags.append(struct.pack(">HH", tag, len(value)) + value)
        position += 4 + length
    if not found:
        tags.insert(0, struct.pack(">HHii", 1, 8, seconds, 0))
    new_header = b"".join(tags)
    temporary = f"{path}.skew-{os.getpid()}"
    with open(temporary, "wb") as handle:
        handle.write(b"\x05\x04" + struct.pack(">H", len(new_header)) + new_header + rest)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


# --- sockets of a port (krb5kdc binds with SO_REUSEPORT: a second KDC on the same port does NOT fail) -------------
def _port_sockets(port: int) -> list[tuple[str, str, str]]:
    """(table, TCP state, inode) of every socket whose local port is ``port``, from /proc/net (empty if absent)."""
    found = []
    for table in ("tcp", "tcp6", "udp", "udp6"):
        try:
            with open(f"/proc/net/{table}", encoding="ascii") as handle:
                lines = handle.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and int(fields[1].rsplit(":", 1)[1], 16) == port:
                found.append((table, fields[3], fields[9]))
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    directory = f"/proc/{pid}/fd"
    for fd in os.listdir(directory):
        try:
            target = os.readlink(os.path.join(directory, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _free_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1 that no socket of this host uses in any state."""
    for _attempt in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp, socket.socket(
            socket.AF_INET, socket.SOCK_DGRAM
        ) as udp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
        if not _port_sockets(port):
            return port
    raise KerberosError("no free TCP+UDP port on 127.0.0.1 for the KDC")


class KerberosRealm:
    """A KDC of its own in ``directory``: ``start()``, ``add_user()``, ``add_host()``, ``kinit()``, ``stop()``.

    ``realm`` (e.g. CONTOSO.COM) is the Kerberos realm, ``domain`` the DNS domain mapped to it (``.domain`` and
    ``domain``). ``environ()`` is what a client or an acceptor process needs. The KDC listens on 127.0.0.1 only,
    TCP and UDP, on ``kdc_port``; clients use TCP (``udp_preference_limit = 1``).
    """

    def __init__(self, directory: str, realm: str = "CONTOSO.COM", domain: str = "contoso.com") -> None:
        if not _NAME.match(realm) or not _NAME.match(domain):
            raise ValueError(f"invalid realm {realm!r} or domain {domain!r}")
        if any(character in directory for character in "\r\n\0"):
            raise ValueError("the realm's directory cannot contain line breaks or NUL")
        self.directory = os.path.abspath(directory)
        self.realm = realm
        self.domain = domain.lower()
        self.krb5_conf = os.path.join(self.directory, "krb5.conf")
        self.kdc_conf = os.path.join(self.directory, "kdc.conf")
        self.keytab = os.path.join(self.directory, "krb5.keytab")
        self.database = os.path.join(self.directory, "principal")
        self.stash = os.path.join(self.directory, "stash")
        self.kdc_log = os.path.join(self.directory, "kdc.log")
        self.kdc_port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.RLock()
        self._exported: set[str] = set()
        self._owner = 0

    # --- what clients and acceptors need ----------------------------------------------------------------------
    def environ(self) -> dict[str, str]:
        """KRB5_CONFIG (this realm's krb5.conf) and KRB5_KTNAME (its keytab) for a client or an acceptor.

        Also KRB5RCACHEDIR: an acceptor's replay cache in the realm's directory instead of /var/tmp (one per uid,
        shared by every process of the machine).
        """
        return {
            "KRB5_CONFIG": self.krb5_conf,
            "KRB5_KTNAME": "FILE:" + self.keytab,
            "KRB5RCACHEDIR": self.directory,
        }

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # --- life cycle -------------------------------------------------------------------------------------------
    def start(self) -> "KerberosRealm":
        """Create the database (first time), write krb5.conf/kdc.conf, start ``krb5kdc -n``, wait until it answers."""
        with self._lock:
            if self.running:
                return self
            for name in ("krb5kdc", "kdb5_util", "kadmin.local", "kinit"):
                _binary(name)
            os.makedirs(self.directory, exist_ok=True)
            failures = []
            for _attempt in range(START_ATTEMPTS):
                port = _free_port()
                self._write_config(port)
                if not (os.path.exists(self.database) and os.path.exists(self.stash)):
                    self._create_database()
                failure = self._launch(port)
                if failure is None:
                    return self
                failures.append(failure)
            raise KerberosError(f"krb5kdc did not start after {START_ATTEMPTS} attempts: {failures[-1]}")

    def stop(self) -> None:
        """Terminate the KDC (nothing if it is not running). The directory stays; ``start()`` reuses its database."""
        with self._lock:
            process, self._process = self._process, None
        with _running_lock:
            _running.discard(self)
        if process is not None and process.poll() is None:
            self._terminate(process)

    def __enter__(self) -> "KerberosRealm":
        return self.start()

    def __exit__(self, *_exc: Any) -> None:
        self.stop()

    # --- principals -------------------------------------------------------------------------------------------
    def add_user(self, name: str, password: str) -> str:
        """Add ``name@REALM`` with ``password`` and pre-authentication required (as AD); an existing one gets it."""
        principal = self._principal(name)
        self._kadmin(
            [
                f"addprinc +requires_preauth -pw {_quote(password)} {_quote(principal)}",
                # The principal may exist already: then this sets its new password (kadmin.local has no upsert).
                f"cpw -pw {_quote(password)} {_quote(principal)}",
                f"modprinc +requires_preauth {_quote(principal)}",
            ]
        )
        return principal

    def add_host(self, fqdn: str) -> None:
        """Add HTTP/, host/ and WSMAN/``fqdn`` with random keys and export them to ``keytab`` (once per host)."""
        fqdn = fqdn.lower()
        if not _NAME.match(fqdn):
            raise ValueError(f"invalid host name {fqdn!r}")
        principals = [f"{service}/{fqdn}@{self.realm}" for service in HOST_SERVICES]
        commands = [f"addprinc -randkey {_quote(principal)}" for principal in principals]
        with self._lock:
            if fqdn not in self._exported:
                # -norandkey (kadmin.local only): export the keys as they are; kvno and issued tickets stay valid.
                commands.append(f"ktadd -k {_quote(self.keytab)} -norandkey " + " ".join(map(_quote, principals)))
            self._kadmin(commands)
            self._exported.add(fqdn)

    def kinit(self, principal: str, password: str, ccache: str) -> str:
        """Get a TGT for ``principal`` into the FILE: ticket cache ``ccache`` (``kinit``, password on stdin).

        Returns the cache's name (``FILE:<path>``, for KRB5CCNAME). A wrong password raises, e.g. "kinit: Password
        incorrect while getting initial credentials" (pre-authentication failed).
        """
        name = "FILE:" + _ccache_path(ccache)
        result = subprocess.run(
            [_binary("kinit"), "-c", name, principal],
            input=(password + "\n").encode(),
            env=self._tool_environ(),
            capture_output=True,
            timeout=TOOL_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            message = result.stderr.decode(errors="replace").strip() or f"exit status {result.returncode}"
            raise KerberosError(f"kinit {principal} into {name} failed: {message}")
        return name

    skew_ccache = staticmethod(skew_ccache)

    # --- internals --------------------------------------------------------------------------------------------
    def _principal(self, name: str) -> str:
        if "@" in name:
            if not name.endswith("@" + self.realm):
                raise ValueError(f"{name} is not in realm {self.realm}")
            return name
        return f"{name}@{self.realm}"

    def _tool_environ(self) -> dict[str, str]:
        # LC_ALL=C: the tools' messages in English (kadmin.local's are matched, kinit's are raised).
        return dict(os.environ, **self.environ(), KRB5_KDC_PROFILE=self.kdc_conf, LC_ALL="C")

    def _write_config(self, port: int) -> None:
        directory = self.directory
        with open(self.krb5_conf, "w", encoding="utf-8") as handle:
            handle.write(f"""# Written by hybrid_sim.kdc for the test realm {self.realm} (KDC on 127.0.0.1:{port}).
[libdefaults]
    default_realm = {self.realm}
    dns_lookup_realm = false
    dns_lookup_kdc = false
    dns_uri_lookup = false
    rdns = false
    dns_canonicalize_hostname = false
    udp_preference_limit = 1
    kdc_timesync = 1
    forwardable = true
    allow_weak_crypto = false
    default_tkt_enctypes = {ENCTYPES}
    default_tgs_enctypes = {ENCTYPES}
    permitted_enctypes = {ENCTYPES}
    default_ccache_name = FILE:{directory}/krb5cc_default
    default_keytab_name = FILE:{self.keytab}
    default_client_keytab_name = FILE:{directory}/client.keytab

[realms]
    {self.realm} = {{
        kdc = 127.0.0.1:{port}
    }}

[domain_realm]
    .{self.domain} = {self.realm}
    {self.domain} = {self.realm}
""")
        with open(self.kdc_conf, "w", encoding="utf-8") as handle:
            handle.write(f"""# Written by hybrid_sim.kdc for the test realm {self.realm}.
[kdcdefaults]
    kdc_listen = 127.0.0.1:{port}
    kdc_tcp_listen = 127.0.0.1:{port}

[realms]
    {self.realm} = {{
        database_name = {self.database}
        key_stash_file = {self.stash}
        acl_file = {directory}/kadm5.acl
        admin_keytab = FILE:{directory}/kadm5.keytab
        kdc_listen = 127.0.0.1:{port}
        kdc_tcp_listen = 127.0.0.1:{port}
        master_key_type = aes256-cts-hmac-sha1-96
        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
        default_principal_flags = +preauth
        max_life = 24h 0m 0s
        max_renewable_life = 7d 0h 0m 0s
    }}

[plugins]
    kdcpreauth = {{
        disable = spake
    }}

[logging]
    kdc = FILE:{self.kdc_log}
    admin_server = FILE:{directory}/kadmin.log
    default = FILE:{directory}/krb5lib.log
""")

    def _run(self, args: list[str], stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            args, input=stdin, env=self._tool_environ(), capture_output=True, timeout=TOOL_TIMEOUT, check=False
        )

    def _create_database(self) -> None:
        result = self._run([_binary("kdb5_util"), "-r", self.realm, "create", "-s", "-P", secrets.token_urlsafe(24)])
        if result.returncode != 0:
            message = result.stderr.decode(errors="replace").strip()
            raise KerberosError(f"kdb5_util create -s for {self.realm} in {self.directory} failed: {message}")

    def _kadmin(self, commands: list[str]) -> None:
        """Run ``commands`` in ONE kadmin.local (read from stdin); its stdout echoes them (passwords): never shown."""
        with self._lock:
            result = self._run(
                [_binary("kadmin.local"), "-r", self.realm], "".join(command + "\n" for command in commands).encode()
            )
        problems = [
            line
            for line in result.stderr.decode(errors="replace").splitlines()
            if line.strip() and not any(pattern.search(line) for pattern in _KADMIN_BENIGN)
        ]
        if result.returncode != 0 or problems:
            raise KerberosError(
                f"kadmin.local ({self.realm}) failed: " + ("; ".join(problems) or f"exit status {result.returncode}")
            )

    def _log_lines(self, pid: int) -> list[str]:
        try:
            with open(self.kdc_log, encoding="utf-8", errors="replace") as handle:
                return [line.rstrip("\n") for line in handle if f"krb5kdc[{pid}]" in line]
        except OSError:
            return []

    def _launch(self, port: int) -> str | None:
        """Start krb5kdc on ``port``; None when it answers, else why it should be retried on another port."""
        with open(os.path.join(self.directory, "krb5kdc.out"), "ab") as output:
            process = subprocess.Popen(
                [_binary("krb5kdc"), "-n", "-r", self.realm],
                env=self._tool_environ(),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        ready = f"krb5kdc[{process.pid}](info): commencing operation"
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            lines = self._log_lines(process.pid)
            if any(ready in line for line in lines):
                break
            if process.poll() is not None:
                text = " | ".join(lines[-4:]) or f"exit status {process.returncode}, see {self.directory}/krb5kdc.out"
                if "Address already in use" in text:
                    return f"127.0.0.1:{port} in use: {text}"
                raise KerberosError(f"krb5kdc for {self.realm} exited: {text}")
            if time.monotonic() > deadline:
                self._terminate(process)
                raise KerberosError(f"krb5kdc for {self.realm} did not start within {START_TIMEOUT:.0f}s")
            time.sleep(0.005)
        # krb5kdc sets SO_REUSEPORT: another KDC (another test process) may hold the same port, and the kernel
        # would then share the connections between the two. Keep the port only when every socket on it is ours.
        sockets = _port_sockets(port)
        if sockets:
            ours = _socket_inodes(process.pid)
            foreign = [s for s in sockets if (s[0].startswith("udp") or s[1] == "0A") and s[2] not in ours]
            if foreign or not any(s[2] in ours for s in sockets):
                self._terminate(process)
                return f"127.0.0.1:{port} shared with another process"
        self._process = process
        self.kdc_port = port
        self._owner = os.getpid()
        with _running_lock:
            _running.add(self)
        try:
            self._probe()
        except KerberosError:
            self.stop()
            raise
        return None

    def _probe(self) -> None:
        """An AS-REQ for a principal that does not exist: the KDC of this realm answers "not found"."""
        result = self._run([_binary("kinit"), "-c", "MEMORY:probe", f"kdc-probe-{secrets.token_hex(4)}@{self.realm}"])
        message = result.stderr.decode(errors="replace").strip()
        if "not found in Kerberos database" not in message:
            raise KerberosError(f"the KDC of {self.realm} on 127.0.0.1:{self.kdc_port} does not answer: {message}")

    @staticmethod
    def _terminate(process: subprocess.Popen[bytes]) -> None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _stop_running() -> None:
    # A forked child (its own atexit) leaves its parent's KDCs alone.
    for realm in list(_running):
        if realm._owner == os.getpid():
            realm.stop()


atexit.register(_stop_running)


# --- one realm per process ------------------------------------------------------------------------------------------
_shared_lock = threading.Lock()
_shared: KerberosRealm | None = None
_shared_owner = 0


def shared_realm(base_directory: str | None = None) -> KerberosRealm:
    """The realm of this process: started on first use in a temporary directory (under ``base_directory``).

    Sets KRB5_CONFIG, KRB5_KTNAME and KRB5RCACHEDIR in ``os.environ`` (gssapi reads them when it makes a krb5
    context, so this process and every process started from it use the realm), and stops the KDC and removes the
    directory at interpreter exit. Later calls return the same realm (``base_directory`` is then ignored), set the
    variables again and restart its KDC if it was stopped. KRB5CCNAME is left alone (set it per test; without it the
    realm's krb5.conf names a cache in its directory). Thread-safe; each pytest-xdist worker, being a process, has
    its own.
    """
    global _shared, _shared_owner
    with _shared_lock:
        if _shared is not None:
            if _shared_owner == os.getpid() and not _shared.running:
                _shared.start()
            # Again on every call: a test's monkeypatch may have put back what was there before the first one.
            os.environ.update(_shared.environ())
            return _shared
        directory = tempfile.mkdtemp(prefix="hybrid-kdc-", dir=base_directory)
        realm = KerberosRealm(directory)
        try:
            realm.start()
        except BaseException:
            realm.stop()
            shutil.rmtree(directory, ignore_errors=True)
            raise
        os.environ.update(realm.environ())
        _shared, _shared_owner = realm, os.getpid()
        atexit.register(_stop_shared)
        return realm


def _stop_shared() -> None:
    # A forked child (its own atexit) must leave the parent's KDC and directory alone.
    if _shared is not None and _shared_owner == os.getpid():
        _shared.stop()
        shutil.rmtree(_shared.directory, ignore_errors=True)
