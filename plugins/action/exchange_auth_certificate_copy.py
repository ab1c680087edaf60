# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

from ansible_collections.exchange.hybrid.plugins.plugin_utils._exchange_action import ExchangeActionModule


class ActionModule(ExchangeActionModule):
    pass
