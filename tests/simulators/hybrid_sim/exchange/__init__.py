"""The simulated Exchange organization behind the WS-Management server.

``initial_exchange_state(servers, organization_name, ...)`` builds the ``exchange`` section of the shared state;
``make_handler(store, server_name)`` is the command handler the WS-Management server calls for one server.
"""

from __future__ import annotations

from .handler import make_handler, run_request
from .organization import initial_exchange_state

__all__ = ["initial_exchange_state", "make_handler", "run_request"]
