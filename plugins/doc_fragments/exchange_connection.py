# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection options shared by every WinRM module (mirror of _exchange.WINRM_ARGUMENT_SPEC)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  server:
    description:
      - Host name or address of the Exchange server to connect to over WinRM.
      - Required, unless the task targets a host whose connection is C(winrm) or C(psrp); the action plugin then
        takes it from the host's connection (C(ansible_host) or the inventory name).
    type: str
    required: true
  port:
    description:
      - WinRM port.
      - Defaults to C(5986) with O(scheme=https) and C(5985) with O(scheme=http).
      - From a C(winrm)/C(psrp) host, the connection's port.
    type: int
  scheme:
    description:
      - V(https) (WinRM over TLS) or V(http) (NTLM, Kerberos and CredSSP then encrypt each message).
    type: str
    choices: [https, http]
    default: https
  username:
    description:
      - User for the WinRM connection, for example C(CONTOSO\exadmin) or C(exadmin@contoso.com). It needs the
        Exchange role groups of the task (Organization Management for OAuth and push settings).
      - If not set, the environment variable E(EXCHANGE_USERNAME) is used.
      - From a C(winrm)/C(psrp) host, the connection's user (C(ansible_user)).
    type: str
  password:
    description:
      - Password of O(username).
      - If not set, the environment variable E(EXCHANGE_PASSWORD) is used.
      - From a C(winrm)/C(psrp) host, the connection's password, so C(--ask-pass), password files and AWX machine
        credentials work.
    type: str
  transport:
    description:
      - WinRM authentication.
      - V(basic) over O(scheme=http) is refused unless O(allow_unencrypted_basic=true).
      - V(kerberos) needs the pykerberos extra of pywinrm and a ticket; V(credssp) needs requests-credssp;
        V(certificate) needs O(cert_pem) and O(cert_key_pem).
    type: str
    choices: [ntlm, kerberos, credssp, basic, certificate]
    default: ntlm
  validate_certs:
    description:
      - Validate the server's TLS certificate with O(scheme=https).
      - Only set V(false) for test servers.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file with the CA certificate(s) that issued the server's certificate.
      - Used even when E(REQUESTS_CA_BUNDLE) or E(CURL_CA_BUNDLE) is set. Without it, those variables or the
        default CA store are used.
    type: path
  cert_pem:
    description:
      - Client certificate (PEM) for O(transport=certificate).
    type: path
  cert_key_pem:
    description:
      - Private key (PEM) of O(cert_pem).
    type: path
  message_encryption:
    description:
      - WS-Management message encryption. V(auto) encrypts over http and relies on TLS over https.
    type: str
    choices: [auto, always, never]
    default: auto
  operation_timeout:
    description:
      - WS-Management operation timeout in seconds; must be lower than O(read_timeout).
    type: int
    default: 20
  read_timeout:
    description:
      - HTTP read timeout in seconds.
    type: int
    default: 30
  allow_unencrypted_basic:
    description:
      - Allow O(transport=basic) over O(scheme=http), which sends the password readable on the network.
    type: bool
    default: false
requirements:
  - pywinrm >= 0.5.0 on the controller
notes:
  - The module runs on the controller and sends one fixed PowerShell runner to the server; option values travel
    as JSON data on standard input and are never placed in PowerShell code.
  - Each run opens one WinRM shell and closes it, also when something fails.
"""
