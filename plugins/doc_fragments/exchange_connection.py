# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection options shared by every Exchange module (mirror of _exchange.CONNECTION_ARGUMENT_SPEC)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  server:
    description:
      - FQDN of the Exchange server. Kerberos needs the name its service principal is registered for, not an IP
        address or a load-balanced name (see O(negotiate_hostname_override)).
      - Required, unless the task targets a host whose connection is C(winrm) or C(psrp); the action plugin then
        takes it from the host's connection (C(ansible_host) or the inventory name).
    type: str
    required: true
  connection_uri:
    description:
      - URL of the server's Exchange endpoint, where the Exchange cmdlets run (remote PowerShell, configuration
        C(Microsoft.Exchange), in IIS).
      - Defaults to C(http://<server>/PowerShell/). Over V(http), Kerberos encrypts every message; TCP port 80 (or
        443 for an V(https) URL) must be open from the controller to each Exchange server.
      - From a C(winrm)/C(psrp) host, the host variable C(exchange_connection_uri).
    type: str
  port:
    description:
      - Port of the server's default WinRM endpoint (C(/wsman)), used only for host operations (restarting a
        service, the ExSetup file version, writing O(exchange.hybrid.exchange_oauth_cert#module:export_path)).
      - Defaults to C(5986) with O(scheme=https) and C(5985) with O(scheme=http).
      - From a C(winrm)/C(psrp) host, the connection's port.
    type: int
  scheme:
    description:
      - Scheme of the default WinRM endpoint. V(http) relies on Kerberos or NTLM message encryption.
    type: str
    choices: [https, http]
    default: https
  auth:
    description:
      - Authentication for both endpoints. V(kerberos) is what Exchange's endpoint takes (it refuses NTLM);
        V(negotiate) lets the server choose and is never turned into something else; V(ntlm), V(credssp) and
        V(certificate) work only against the default WinRM endpoint, V(basic) where an endpoint enables it.
      - V(kerberos) uses the ticket cache (C(kinit), E(KRB5CCNAME)) when O(username) and O(password) are not
        set, or gets a ticket with them (an AWX/AAP Machine credential needs no C(kinit)); C(krb5.conf) (or
        E(KRB5_CONFIG)) must know the realm.
      - V(basic) over http is refused unless O(allow_unencrypted_basic=true).
      - From a C(psrp) host, C(ansible_psrp_auth); from a C(winrm) host, C(ansible_winrm_transport).
    type: str
    choices: [kerberos, negotiate, ntlm, basic, credssp, certificate]
    default: kerberos
    aliases: [transport]
  username:
    description:
      - The account, C(exadmin@CONTOSO.COM) (Kerberos) or C(CONTOSO\exadmin). It needs the Exchange role groups of
        the task (Organization Management for OAuth and push settings) and remote PowerShell enabled.
      - Optional with O(auth=kerberos), where the ticket cache's user is used.
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
  negotiate_service:
    description:
      - Service part of the server's Kerberos service principal name (C(HTTP/<host>)).
      - From a C(psrp) host, C(ansible_psrp_negotiate_service).
    type: str
    default: HTTP
  negotiate_hostname_override:
    description:
      - Host part of the service principal name, when the name connected to is not the one the SPN is registered
        for (an alias, a load balancer, an address).
      - From a C(psrp) host, C(ansible_psrp_negotiate_hostname_override); from a C(winrm) host,
        C(ansible_winrm_kerberos_hostname_override).
    type: str
  validate_certs:
    description:
      - Validate the server's TLS certificate for V(https) endpoints.
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
      - Client certificate (PEM) for O(auth=certificate).
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
  connection_timeout:
    description:
      - HTTP connection timeout in seconds.
    type: int
    default: 30
  allow_unencrypted_basic:
    description:
      - Allow O(auth=basic) over http, which sends the password readable on the network.
    type: bool
    default: false
requirements:
  - pypsrp >= 0.9.0 and pyspnego with Kerberos (gssapi, krb5) on the controller
notes:
  - The module runs on the controller. Exchange cmdlets travel to the Exchange endpoint as commands with typed
    parameters (PowerShell remoting), never as script text, so option values cannot become code.
  - Host operations go to the server's default WinRM endpoint as cmdlets or fixed scripts whose values are bound
    as parameters.
  - Each run opens at most one runspace pool per endpoint and closes it, also when something fails.
"""
