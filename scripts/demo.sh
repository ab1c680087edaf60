#!/usr/bin/env bash
# The demo: set up, start the simulated Exchange organization and Entra tenant, run the main job.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/setup.sh
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
echo "demo: not implemented yet"
