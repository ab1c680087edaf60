#!/usr/bin/env bash
# The test command: set up, then run every quality gate. .ci/run calls exactly this.
# Every gate runs even when an earlier one failed; the command fails when any gate failed.
# Nothing here reaches the network except pip (setup, and ansible-test building its cached sanity venvs).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/setup.sh
source "$ROOT/scripts/setup.sh"
set +e
cd "$ROOT"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/exchange-hybrid-test.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
export ANSIBLE_NOCOLOR=1 PY_COLORS=0 NO_COLOR=1
TOOLS="$ROOT/tests/quality/collection_tools.py"
SUMMARY=()
FAILED=0

gate() {
  local name="$1" start=$SECONDS status
  shift
  printf '\n===== gate: %s =====\n' "$name"
  if "$@"; then status=passed; else status=FAILED; FAILED=1; fi
  SUMMARY+=("$(printf '%-34s %-6s %4ss' "$name" "$status" "$((SECONDS - start))")")
  printf -- '----- %s: %s (%ss)\n' "$name" "$status" "$((SECONDS - start))"
}

# The audit report is checked in a real browser (Debian's chromium); install it when missing.
ensure_chromium() {
  command -v chromium >/dev/null 2>&1 && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
  echo "set-up: installing Debian's chromium for the audit report's browser test"
  { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium; } \
    >"$WORK/apt.log" 2>&1 || { tail -n 20 "$WORK/apt.log"; echo "set-up: could not install chromium"; return 1; }
}

# pytest's closing counts, kept for the last line of the run.
PYTEST_COUNTS=()

run_pytest() {
  local log="$WORK/pytest-$#-$RANDOM.log" rc
  python -m pytest -p no:cacheprovider -n "${PYTEST_WORKERS:-2}" "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  PYTEST_COUNTS+=("$(grep -E '^=+ .*(passed|failed|error).* in [0-9.]+s' "$log" | tail -n 1)")
  if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: a broken test tree, treated as a failure"
    return 1
  fi
  return "$rc"
}

gate_pytest() {
  # -n 2: tests are isolated (simulators bind port 0, state in tmp dirs). --durations shows where the time goes.
  run_pytest --durations=10 --ignore=tests/safety tests
}

gate_safety() {
  # Its own run: the suite's summary table (case family, cases tried, held) is printed by tests/safety/conftest.py,
  # which pytest-xdist only loads on the controller when the folder is named on the command line.
  run_pytest tests/safety
}

# ansible-test needs the real ansible_collections/<ns>/<name> path: it runs on a copy of the tracked tree (plus
# untracked, not ignored files). Its sanity venvs (cached in ~/.ansible/test/venv) are built here, as part of the
# set-up, from the package registry, with a local stand-in for the pip bootstrap it would otherwise download.
prepare_sanity() {
  local start=$SECONDS log="$WORK/prime-venvs.log"
  python "$TOOLS" get-pip-standin >/dev/null || return 1
  SANITY_COPY="$(python "$TOOLS" copy "$ROOT" "$WORK/sanity")" || return 1
  if ! (cd "$SANITY_COPY" && ansible-test sanity --local --python 3.11 --color no --prime-venvs) >"$log" 2>&1; then
    grep -v 'WARNING: Location' "$log" | tail -n 30
    echo "set-up: preparing the ansible-test sanity venvs failed"
    return 1
  fi
  echo "set-up: ansible-test sanity venvs ready ($((SECONDS - start))s)"
}

gate_sanity() {
  [ -n "${SANITY_COPY:-}" ] || return 1
  (cd "$SANITY_COPY" && ansible-test sanity --local --python 3.11 --color no)
}

gate_lint() {
  ansible-lint --profile production --offline --nocolor
}

gate_changelog_docs() {
  antsibull-changelog lint || return 1
  # ANSIBLE_COLLECTIONS_PATH (scripts/setup.sh) holds ansible_collections/exchange/hybrid -> this tree.
  antsibull-docs lint-collection-docs --plugin-docs .
}

gate_powershell() {
  python tests/quality/ps_static_check.py "$ROOT"
}

gate_build() {
  python "$TOOLS" build-check "$ROOT" "$WORK/build"
}

SANITY_COPY=""
prepare_sanity || FAILED=1
ensure_chromium || FAILED=1

gate "pytest (unit, sim, e2e, quality)" gate_pytest
gate "safety suite" gate_safety
gate "ansible-test sanity" gate_sanity
gate "ansible-lint --profile production" gate_lint
gate "antsibull-changelog + antsibull-docs" gate_changelog_docs
gate "static PowerShell check" gate_powershell
gate "galaxy build + ansible-doc" gate_build

printf '\n===== summary =====\n'
printf '%s\n' "${SUMMARY[@]}"
# One closing line with pytest's totals over both runs, in the plain "N passed, N failed" form.
passed=0 failed=0
for counts in "${PYTEST_COUNTS[@]}"; do
  p=$(grep -oE '[0-9]+ passed' <<<"$counts" | grep -oE '[0-9]+'); passed=$((passed + ${p:-0}))
  for f in $(grep -oE '[0-9]+ (failed|errors?)' <<<"$counts" | grep -oE '^[0-9]+'); do failed=$((failed + f)); done
done
if [ "$FAILED" -ne 0 ]; then
  echo "test command: FAILED"
  echo "pytest: $passed passed, $failed failed"
  exit 1
fi
echo "test command: all gates passed"
echo "pytest: $passed passed, $failed failed"
