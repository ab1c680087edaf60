# Copyright (c) exchange.hybrid contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Membership of the exchange.hybrid.exchange action group (WinRM modules)."""

from __future__ import annotations


class ModuleDocFragment:
    # Must agree with action_groups.exchange in meta/runtime.yml (checked by a test).
    DOCUMENTATION = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/exchange.hybrid.exchange) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - exchange.hybrid.exchange
"""
