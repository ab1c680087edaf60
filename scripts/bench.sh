#!/usr/bin/env bash
# The benchmark: set up, then run bench/run.py against the simulators with the latency model (WS-Man round trip
# 30 ms; runspace-pool open 3 s on the Exchange endpoint, an Exchange session, and 0.5 s on the default endpoint, both
# assumptions stated in bench/README.md; health service readiness 45 s; Graph 80 ms). Prints a table, writes
# bench/results.json and exits 1 when a target is missed. Options pass through (bench/run.py --help), e.g.
# --variant shell-per-call (the planted slow client, a runspace pool per cmdlet call, which must miss target 1).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/setup.sh
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
exec python bench/run.py "$@"
