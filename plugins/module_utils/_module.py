# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one module base of the collection: ``HybridModule``.

``exchange_module()`` (``_exchange_module.py``) and ``graph_module()`` (``_graph.py``) build on it: they merge their
connection options into the module's spec, turn check mode on and check their libraries. A client registered with
``add_client()`` is closed, and its warnings shown, whichever way the module ends.

PRIVATE to the collection: it can change at any time.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from ansible.module_utils.basic import AnsibleModule, missing_required_lib


class HybridModule(AnsibleModule):
    """An AnsibleModule that closes its clients (runspace pools, sessions) before it exits, whichever way."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.clients: list[Any] = []
        super().__init__(*args, **kwargs)

    def add_client(self, client: Any) -> Any:
        """Close ``client`` (if it can be closed) and show its ``warnings`` when the module ends."""
        self.clients.append(client)
        return client

    def _close_clients(self) -> None:
        for client in self.clients:
            close = getattr(client, "close", None)
            if close is not None:
                close()
            for warning in getattr(client, "warnings", None) or []:
                self.warn(warning)
            client.warnings = []

    def exit_json(self, **kwargs: Any) -> None:  # type: ignore[override]
        self._close_clients()
        super().exit_json(**kwargs)

    def fail_json(self, msg: str, **kwargs: Any) -> None:  # type: ignore[override]
        self._close_clients()
        super().fail_json(msg=msg, **kwargs)


def hybrid_module(
    connection_spec: dict,
    argument_spec: dict,
    missing: Sequence[tuple[str, Optional[str]]] = (),
    **kwargs: Any,
) -> HybridModule:
    """A module with ``connection_spec`` merged under ``argument_spec``, check mode on, and a failure naming the
    first of ``missing`` ((library, import traceback) pairs) that is not installed."""
    spec = dict(connection_spec)
    spec.update(argument_spec)
    kwargs.setdefault("supports_check_mode", True)
    module = HybridModule(argument_spec=spec, **kwargs)
    for library, error in missing:
        module.fail_json(msg=missing_required_lib(library), exception=error)
    return module
