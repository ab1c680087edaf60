#!/usr/bin/env bash
# The demo: set up, start the simulated Exchange organization (Exchange 2013 CU23, 2016 CU23, 2019 CU15) and
# Entra tenant with their Kerberos realm, run the four steps, run them again (nothing changes), verify, and stop what
# it started.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/setup.sh
source "$ROOT/scripts/setup.sh"
cd "$ROOT"

SIM_DIR="$(mktemp -d "${TMPDIR:-/tmp}/exchange-hybrid-demo.XXXXXX")"
stop_simulators() {
  python -m hybrid_sim down --dir "$SIM_DIR" >/dev/null 2>&1 || true
  rm -rf "$SIM_DIR"
}
trap stop_simulators EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Starting the simulated Exchange organization and Microsoft 365 tenant on 127.0.0.1"
python -m hybrid_sim up --dir "$SIM_DIR" --detach \
  --server "EX2013=Version 15.0 (Build 1497.2)" \
  --server "EX2016=15.1.2507.6/15.1.2507.55" \
  --server "EX2019=15.2.1748.10/15.2.1748.24" >/dev/null
python -m hybrid_sim status --dir "$SIM_DIR" >/dev/null
echo "Exchange servers: EX2013 (2013 CU23), EX2016 (2016 CU23 Apr25HU), EX2019 (2019 CU15 Apr25HU); inventory: $SIM_DIR/inventory.yml"
# The simulation's own Kerberos realm (a real MIT KDC on 127.0.0.1): the modules get their tickets from it with the
# inventory's user and password, as they would from a domain controller with an AWX Machine credential.
export KRB5_CONFIG="$SIM_DIR/kdc/krb5.conf"
echo "Kerberos: realm $(python -c 'import json,sys; print(json.load(open(sys.argv[1]))["realm"])' "$SIM_DIR/endpoints.json"), KRB5_CONFIG=$KRB5_CONFIG"

export ANSIBLE_DEPRECATION_WARNINGS=false ANSIBLE_RETRY_FILES_ENABLED=false ANSIBLE_DISPLAY_SKIPPED_HOSTS=false
playbook() {
  ansible-playbook -i "$SIM_DIR/inventory.yml" -e "@$SIM_DIR/role-vars.yml" "$@"
}
recap() { sed -n '/^PLAY RECAP/,$p' "$1"; }

say "1/3 Configure push notifications (the four steps)"
playbook exchange.hybrid.configure_push_notifications | tee "$SIM_DIR/run1.log"
if grep -Eq 'failed=[1-9]|unreachable=[1-9]' "$SIM_DIR/run1.log"; then exit 1; fi

say "2/3 Run it again: nothing should change"
playbook exchange.hybrid.configure_push_notifications >"$SIM_DIR/run2.log"
recap "$SIM_DIR/run2.log"
changed="$(sed -n '/^PLAY RECAP/,$p' "$SIM_DIR/run2.log" | grep -o 'changed=[0-9]*' | awk -F= '{s += $2} END {print s + 0}')"
echo "changed=$changed on the second run"
[ "$changed" = "0" ]

say "3/3 Verify: restart the health service, wait until it answers, run the probe"
playbook exchange.hybrid.verify_push_notifications >"$SIM_DIR/verify.log"
recap "$SIM_DIR/verify.log"
grep -o 'PushNotificationsEnterpriseConnectivityProbe on [^"]*' "$SIM_DIR/verify.log" | head -n 1
echo
echo "Done: push notifications are configured and the probe succeeds. The simulators stop now."
