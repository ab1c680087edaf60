# Copyright (c) exchange.hybrid contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Attribute documentation shared by the collection's modules (internal to exchange.hybrid)."""

from __future__ import annotations


class ModuleDocFragment:
    # Write modules: extends_documentation_fragment: [exchange.hybrid.attributes]
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: controller
    details:
      - The module runs on the Ansible controller (or in an execution environment). It reaches Exchange over
        WinRM and Microsoft 365 over HTTPS; no Python runs on the Exchange servers.
"""

    # Read-only modules use this INSTEAD of the base fragment (fragments merge key by key and the first one wins):
    # extends_documentation_fragment: [exchange.hybrid.attributes.info_module]
    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      - This action does not modify state.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: N/A
    details:
      - This action does not modify state.
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: controller
    details:
      - The module runs on the Ansible controller (or in an execution environment). It reaches Exchange over
        WinRM and Microsoft 365 over HTTPS; no Python runs on the Exchange servers.
"""

    # Modules backed by an action plugin (the WinRM modules):
    # extends_documentation_fragment: [exchange.hybrid.attributes, exchange.hybrid.attributes.action_plugin]
    ACTION_PLUGIN = r"""
options: {}
attributes:
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
    details:
      - When the task targets a host whose connection is C(winrm) or C(psrp), the action plugin takes the server,
        port, scheme, user, password, auth, Kerberos SPN and certificate validation from that host's connection (and
        the Exchange endpoint from its C(exchange_connection_uri) variable) and runs
        the module on the controller.
"""
