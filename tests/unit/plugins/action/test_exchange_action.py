# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import importlib
from unittest import mock

import pytest
from ansible.module_utils import _internal


@pytest.fixture(autouse=True)
def base():
    """Import the controller-side plugin code per test and undo its process-wide switch afterwards: importing
    ansible.plugins marks the process as the controller, which changes how module-side warnings are collected for
    the module unit tests that run later in the same process."""
    was = _internal.is_controller
    yield importlib.import_module("ansible_collections.exchange.hybrid.plugins.plugin_utils._exchange_action")
    _internal.is_controller = was


class FakeConnection:
    def __init__(self, transport, options):
        self.transport = transport
        self._options = options

    def get_option(self, name):
        if name not in self._options:
            raise KeyError(name)
        return self._options[name]


WINRM = {
    "remote_addr": "ex01.contoso.com",
    "remote_user": "CONTOSO\\exadmin",
    "remote_password": "from-ask-pass",
    "port": 5986,
    "scheme": "https",
    "transport": ["ntlm"],
    "_extras": {
        "ansible_winrm_server_cert_validation": "ignore",
        "ansible_winrm_ca_trust_path": "/ca.pem",
        "ansible_winrm_message_encryption": "always",
        "ansible_winrm_read_timeout_sec": "40",
        "ansible_winrm_kerberos_hostname_override": "ex01.contoso.com",
    },
}


def test_winrm_options_mapped(base):
    found = base.connection_options(FakeConnection("ansible.builtin.winrm", WINRM))
    assert found == {
        "server": "ex01.contoso.com",
        "username": "CONTOSO\\exadmin",
        "password": "from-ask-pass",
        "port": 5986,
        "scheme": "https",
        "auth": "ntlm",
        "validate_certs": False,
        "ca_path": "/ca.pem",
        "message_encryption": "always",
        "read_timeout": 40,
        "negotiate_hostname_override": "ex01.contoso.com",
    }


def test_winrm_scheme_from_port_and_plaintext_is_basic(base):
    options = dict(WINRM, scheme=None, port=5985, transport=["plaintext"], _extras={})
    found = base.connection_options(FakeConnection("winrm", options))
    assert found["scheme"] == "http" and found["auth"] == "basic" and "validate_certs" not in found


def test_psrp_options_mapped(base):
    options = {
        "remote_addr": "ex02",
        "remote_user": "u",
        "remote_password": "p",
        "port": 5986,
        "protocol": "https",
        "auth": "negotiate",
        "cert_validation": "validate",
        "ca_cert": "/ca.pem",
        "message_encryption": "auto",
        "operation_timeout": 20,
        "read_timeout": 30,
        "negotiate_service": "HTTP",
        "negotiate_hostname_override": "ex02.contoso.com",
    }
    found = base.connection_options(FakeConnection("ansible.builtin.psrp", options))
    # A psrp host's negotiate stays negotiate: Exchange's endpoint would refuse NTLM, so never pick it silently.
    assert found["auth"] == "negotiate" and found["negotiate_hostname_override"] == "ex02.contoso.com"
    assert found["negotiate_service"] == "HTTP" and found["validate_certs"] is True and found["ca_path"] == "/ca.pem"
    assert found["scheme"] == "https" and found["server"] == "ex02"


def _action(base, connection, args):
    task = mock.MagicMock()
    task.args = args
    task.resolved_action = "exchange.hybrid.exchange_server_info"
    task.async_val = 0
    action = base.ExchangeActionModule(task, connection, mock.MagicMock(), None, None, mock.MagicMock())
    return action


def test_task_options_win_and_module_runs_locally(base):
    action = _action(base, FakeConnection("winrm", WINRM), {"server": "explicit.contoso.com", "password": None})
    captured = {}

    def execute(module_name, module_args, task_vars, wrap_async):
        captured.update(module_name=module_name, module_args=module_args, task_vars=task_vars)
        return {"changed": False}

    local = mock.MagicMock()
    with mock.patch.object(base.ActionBase, "run", return_value={}), mock.patch.object(
        base.connection_loader, "get", return_value=local
    ), mock.patch.object(action, "_execute_module", side_effect=execute):
        action.run(task_vars={"ansible_shell_type": "powershell"})
    args = captured["module_args"]
    assert args["server"] == "explicit.contoso.com" and args["password"] == "from-ask-pass"
    assert (
        captured["task_vars"]["ansible_python_interpreter"].endswith("python")
        or "python" in captured["task_vars"]["ansible_python_interpreter"]
    )
    assert "ansible_shell_type" not in captured["task_vars"] and action._connection is local


def test_local_connection_passes_task_options_through(base):
    action = _action(base, FakeConnection("ansible.builtin.local", {}), {"server": "ex01", "username": "u"})
    captured = {}
    with mock.patch.object(base.ActionBase, "run", return_value={}), mock.patch.object(
        action, "_execute_module", side_effect=lambda **kw: captured.update(kw) or {}
    ):
        action.run(task_vars={})
    assert captured["module_args"] == {"server": "ex01", "username": "u"}


def test_delegated_task_runs_with_the_controller_interpreter(base):
    """Delegating to another Exchange host must not start interpreter discovery on that (Windows) host."""
    action = _action(base, FakeConnection("winrm", WINRM), {})
    action._task.delegate_to = "EX2019"
    delegated = {"ansible_shell_type": "powershell", "ansible_connection": "winrm"}
    task_vars = {"ansible_delegated_vars": {"EX2019": delegated}}
    with mock.patch.object(base.ActionBase, "run", return_value={}), mock.patch.object(
        base.connection_loader, "get", return_value=mock.MagicMock()
    ), mock.patch.object(action, "_execute_module", return_value={}):
        action.run(task_vars=task_vars)
    assert delegated["ansible_python_interpreter"] == base.sys.executable
    assert "ansible_shell_type" not in delegated


def test_exchange_endpoint_from_the_host_variable_and_transport_alias(base):
    action = _action(base, FakeConnection("winrm", WINRM), {"transport": "kerberos"})
    action._templar = mock.MagicMock()
    action._templar.template.side_effect = lambda value: value
    captured = {}
    with mock.patch.object(base.ActionBase, "run", return_value={}), mock.patch.object(
        base.connection_loader, "get", return_value=mock.MagicMock()
    ), mock.patch.object(action, "_execute_module", side_effect=lambda **kw: captured.update(kw) or {}):
        action.run(task_vars={"exchange_connection_uri": "http://ex01.contoso.com/PowerShell/"})
    args = captured["module_args"]
    assert args["connection_uri"] == "http://ex01.contoso.com/PowerShell/"
    # The task's transport (alias of auth) wins over the host's ansible_winrm_transport.
    assert args["transport"] == "kerberos" and "auth" not in args


def test_psrp_defaults_do_not_override_ours(base):
    options = {"remote_addr": "ex02", "port": 5985, "protocol": None, "negotiate_service": "WSMAN", "auth": "kerberos"}
    found = base.connection_options(FakeConnection("psrp", options))
    # WSMAN is the psrp plugin's default for the WinRM service; the Exchange endpoint needs HTTP/<fqdn>.
    assert "negotiate_service" not in found and found["scheme"] == "http"
