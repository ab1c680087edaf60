#!/usr/bin/env bash
# Idempotent set-up shared by the demo and the test command: a project virtualenv with the pinned
# development set, and the collection made visible to Ansible as ansible_collections/exchange/hybrid.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"

# Debian packages of the test world, installed when missing: a real MIT KDC for the Kerberos tests
# (tests/simulators/hybrid_sim/kdc.py: krb5kdc from krb5-kdc, kdb5_util/kadmin.local from krb5-admin-server, kinit
# from krb5-user) and the headers python-gssapi builds against (libkrb5-dev; gssapi has no Linux wheel).
# The packages' own KDC/kadmind services do not matter: a container's policy-rc.d keeps them from starting, and
# elsewhere they fail to start (there is no /var/lib/krb5kdc database) without failing the install; the tests run
# their own KDC on a loopback port under their own krb5.conf/kdc.conf.
DEB_PACKAGES=(krb5-kdc krb5-admin-server krb5-user libkrb5-dev)
deb_missing=()
for package in "${DEB_PACKAGES[@]}"; do
  dpkg -s "$package" 2>/dev/null | grep -qx 'Status: install ok installed' || deb_missing+=("$package")
done
if [ "${#deb_missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${deb_missing[*]}" >&2
    echo "setup: install them as root: apt-get install --no-install-recommends ${deb_missing[*]}" >&2
    exit 1
  fi
  apt_log="$(mktemp "${TMPDIR:-/tmp}/exchange-hybrid-apt.XXXXXX")"
  if ! { apt-get update &&
         DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${deb_missing[@]}"; } \
       >"$apt_log" 2>&1; then
    tail -n 30 "$apt_log" >&2
    echo "setup: installing Debian's ${deb_missing[*]} failed (full log: $apt_log)" >&2
    exit 1
  fi
  rm -f "$apt_log"
fi
unset DEB_PACKAGES deb_missing package apt_log

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.requirements.sha256"
want="$(cat "$ROOT/requirements.txt" "$ROOT/requirements-dev.txt" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  log="$VENV/pip-install.log"
  if ! { "$VENV/bin/python" -m pip install --upgrade pip &&
         "$VENV/bin/python" -m pip install -r "$ROOT/requirements-dev.txt"; } >"$log" 2>&1; then
    grep -v '^WARNING: Location' "$log" | tail -n 40 >&2
    echo "setup: installing requirements-dev.txt failed (full log: $log)" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
fi

# ansible_collections/exchange/hybrid -> the repository root (a link, not a copy).
COLLECTIONS="$VENV/collections"
mkdir -p "$COLLECTIONS/ansible_collections/exchange"
ln -sfn "$ROOT" "$COLLECTIONS/ansible_collections/exchange/hybrid"

export PATH="$VENV/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$COLLECTIONS"
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
export PYTHONPATH="$ROOT/tests/simulators:$COLLECTIONS${PYTHONPATH:+:$PYTHONPATH}"
