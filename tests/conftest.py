"""Make the collection importable as ansible_collections.exchange.hybrid and the simulators as hybrid_sim."""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, ".venv", "collections")
for path in (os.path.join(ROOT, "tests", "simulators"), COLLECTIONS):
    if path not in sys.path:
        sys.path.insert(0, path)
