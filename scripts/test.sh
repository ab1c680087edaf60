#!/usr/bin/env bash
# The test command: set up, then run every quality gate. .ci/run calls exactly this.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/setup.sh
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
python -m pytest -p no:cacheprovider tests
