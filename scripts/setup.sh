#!/usr/bin/env bash
# Idempotent set-up shared by the demo and the test command: a project virtualenv with the pinned
# development set, and the collection made visible to Ansible as ansible_collections/exchange/hybrid.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"

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
