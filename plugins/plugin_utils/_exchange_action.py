# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Base action plugin of the Exchange modules (PRIVATE to the collection).

When the task's host connects with winrm or psrp, the module runs on the controller and the connection options it
lacks come from that host's connection plugin (``get_option``, so --ask-pass, password files and AWX machine
credentials work; task_vars would miss them). Options set on the task always win. Otherwise (connection local,
delegate_to localhost) the task's options pass through unchanged.
"""

from __future__ import annotations

import sys
from typing import Any, Optional

from ansible.plugins.action import ActionBase
from ansible.plugins.loader import connection_loader, get_shell_plugin

WINDOWS_CONNECTIONS = ("winrm", "psrp")
# The host variable that names a server's Exchange endpoint when it is not http://<server>/PowerShell/.
CONNECTION_URI_VAR = "exchange_connection_uri"

# Our auth names for the winrm connection's ansible_winrm_transport values.
_WINRM_TRANSPORTS = {
    "ntlm": "ntlm",
    "kerberos": "kerberos",
    "credssp": "credssp",
    "basic": "basic",
    "plaintext": "basic",
    "ssl": "basic",
    "certificate": "certificate",
}
# psrp's ansible_psrp_auth values are pypsrp's, as ours: negotiate stays negotiate.
_PSRP_AUTHS = ("negotiate", "ntlm", "kerberos", "credssp", "basic", "certificate")


def _option(connection: Any, name: str) -> Any:
    try:
        return connection.get_option(name)
    except KeyError:
        return None
    except Exception:  # an option the plugin version does not declare
        return None


def _integer(value: Any) -> Optional[int]:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def connection_options(connection: Any) -> dict[str, Any]:
    """Our module options from a winrm/psrp connection plugin (only values that are set)."""
    kind = connection.transport if isinstance(getattr(connection, "transport", None), str) else ""
    kind = kind.rsplit(".", 1)[-1]
    found: dict[str, Any] = {
        "server": _option(connection, "remote_addr"),
        "username": _option(connection, "remote_user"),
        "password": _option(connection, "remote_password"),
        "port": _option(connection, "port"),
    }
    if kind == "psrp":
        scheme = _option(connection, "protocol")
        auth = str(_option(connection, "auth") or "").lower()
        found["auth"] = auth if auth in _PSRP_AUTHS else None
        validation = _option(connection, "cert_validation")
        found["validate_certs"] = None if validation is None else str(validation).lower() != "ignore"
        found["ca_path"] = _option(connection, "ca_cert")
        found["cert_pem"] = _option(connection, "certificate_pem")
        found["cert_key_pem"] = _option(connection, "certificate_key_pem")
        found["message_encryption"] = _option(connection, "message_encryption")
        service = _option(connection, "negotiate_service")
        # The psrp plugin's default WSMAN names the WinRM service only; Exchange's endpoint lives in IIS (HTTP/<fqdn>),
        # so only a service the inventory chose replaces ours.
        found["negotiate_service"] = None if str(service or "").upper() == "WSMAN" else service
        found["negotiate_hostname_override"] = _option(connection, "negotiate_hostname_override")
        for ours in ("operation_timeout", "read_timeout", "connection_timeout"):
            found[ours] = _integer(_option(connection, ours))
    else:
        scheme = _option(connection, "scheme")
        transports = _option(connection, "transport") or []
        if isinstance(transports, str):
            transports = [transports]
        for name in transports:
            if str(name).lower() in _WINRM_TRANSPORTS:
                found["auth"] = _WINRM_TRANSPORTS[str(name).lower()]
                break
        extras = _option(connection, "_extras") or {}
        validation = extras.get("ansible_winrm_server_cert_validation")
        if validation is not None:
            found["validate_certs"] = str(validation).lower() != "ignore"
        found["ca_path"] = extras.get("ansible_winrm_ca_trust_path")
        found["cert_pem"] = extras.get("ansible_winrm_cert_pem")
        found["cert_key_pem"] = extras.get("ansible_winrm_cert_key_pem")
        found["message_encryption"] = extras.get("ansible_winrm_message_encryption")
        found["negotiate_service"] = extras.get("ansible_winrm_service")
        found["negotiate_hostname_override"] = _option(connection, "kerberos_hostname_override") or extras.get(
            "ansible_winrm_kerberos_hostname_override"
        )
        for ours, theirs in (
            ("operation_timeout", "ansible_winrm_operation_timeout_sec"),
            ("read_timeout", "ansible_winrm_read_timeout_sec"),
            ("connection_timeout", "ansible_winrm_connection_timeout"),
        ):
            found[ours] = _integer(extras.get(theirs))
    # As both plugins themselves: without a scheme, port 5985 means http and any other port https; without either,
    # the module's own default applies (https, port 5986).
    port = found["port"]
    found["scheme"] = scheme or ("http" if port == 5985 else "https" if port else None)
    if found.get("auth") == "certificate" and not found.get("cert_pem"):
        found["auth"] = None
    return {key: value for key, value in found.items() if value not in (None, "", [])}


class ExchangeActionModule(ActionBase):
    """Run ``exchange.hybrid.<module>`` on the controller, on behalf of a winrm/psrp Exchange host."""

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: Optional[str] = None, task_vars: Optional[dict] = None) -> dict:
        result = super().run(tmp, task_vars)
        del tmp
        module_args = dict(self._task.args)
        kind = str(getattr(self._connection, "transport", "") or "").rsplit(".", 1)[-1]
        if kind in WINDOWS_CONNECTIONS:
            found = connection_options(self._connection)
            uri = (task_vars or {}).get(CONNECTION_URI_VAR)
            if uri:
                found["connection_uri"] = self._templar.template(uri)
            if module_args.get("transport") is not None:
                found.pop("auth", None)  # the task's alias wins like the option itself
            for key, value in found.items():
                if module_args.get(key) is None:
                    module_args[key] = value
            self._run_locally(task_vars)
        module_name = self._task.resolved_action or self._task.action
        result.update(
            self._execute_module(
                module_name=module_name, module_args=module_args, task_vars=task_vars, wrap_async=False
            )
        )
        return result

    def _run_locally(self, task_vars: Optional[dict]) -> None:
        """Swap in a local connection so the Python module runs on the controller with this interpreter."""
        local = connection_loader.get(
            "local", self._play_context, shell=get_shell_plugin(shell_type="sh", executable="/bin/sh")
        )
        self._connection = local
        if task_vars is not None:
            # A delegated task takes its interpreter from the delegated host's vars: without this, delegating to
            # another Exchange host would start interpreter discovery on a Windows host.
            targets = [task_vars]
            delegated = (task_vars.get("ansible_delegated_vars") or {}).get(self._task.delegate_to)
            if self._task.delegate_to and isinstance(delegated, dict):
                targets.append(delegated)
            for variables in targets:
                variables["ansible_python_interpreter"] = sys.executable
                variables.pop("ansible_shell_type", None)
                variables.pop("ansible_shell_executable", None)
