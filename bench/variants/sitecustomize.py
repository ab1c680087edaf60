# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planted benchmark variant: only bench/run.py puts this directory on PYTHONPATH (``--variant shell-per-call``).

With EXCHANGE_HYBRID_BENCH_VARIANT=shell-per-call, every module process that imports the collection's Exchange client
gets an ``ExchangeClient.run`` that runs each call of a batch alone and closes the client's runspace pools after it,
so every cmdlet call opens its own session (a runspace pool on the Exchange endpoint, with its cost of loading the
Exchange cmdlets, or on the default endpoint): the design the benchmark's first target exists to catch. The calls'
results and errors stay what the batch would give (a failing call's index and the results before it are the batch's).
Nothing changes without the variable.
"""

from __future__ import annotations

import importlib.abc
import os
import sys

TARGET = "ansible_collections.exchange.hybrid.plugins.module_utils._exchange"
VARIANT = os.environ.get("EXCHANGE_HYBRID_BENCH_VARIANT", "")


def _patch(module):
    client = getattr(module, "ExchangeClient", None)
    if client is None or getattr(client, "_bench_variant", None):
        return
    batch_run = client.run
    # The client module's own name for the error (it imports it from _errors), as the module being patched sees it.
    command_error = getattr(module, "ExchangeCommandError", None)
    if command_error is None:
        from ansible_collections.exchange.hybrid.plugins.module_utils._errors import (  # pylint: disable=import-outside-toplevel
            ExchangeCommandError as command_error,
        )

    def run_one_pool_per_call(self, calls):
        outputs = []
        for position, entry in enumerate(calls):
            try:
                outputs.extend(batch_run(self, [entry]))
            except command_error as err:
                # As the batch reports it: the failing call's place in the whole batch, the results before it.
                err.index = position + (err.index or 0)
                err.results = outputs + list(err.results or [])
                if isinstance(err.details, dict) and "index" in err.details:
                    err.details["index"] = err.index
                raise
            finally:
                # The next call opens new pools: one session per cmdlet call.
                self.close()
        return outputs

    client.run = run_one_pool_per_call
    client._bench_variant = VARIANT  # pylint: disable=protected-access


class _Loader(importlib.abc.Loader):
    def __init__(self, inner):
        self.inner = inner

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module):
        self.inner.exec_module(module)
        _patch(module)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != TARGET:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _Loader(spec.loader)
                return spec
        return None


if VARIANT == "shell-per-call":
    sys.meta_path.insert(0, _Finder())
