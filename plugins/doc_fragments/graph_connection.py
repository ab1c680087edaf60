# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection options shared by every Microsoft Graph module (mirror of _graph.GRAPH_ARGUMENT_SPEC)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  tenant:
    description:
      - The Microsoft Entra tenant, as a verified domain (for example C(contoso.onmicrosoft.com)) or the tenant id
        (a GUID).
      - If not set, the environment variable E(AZURE_TENANT_ID) is used.
    type: str
    required: true
  client_id:
    description:
      - Application (client) id of the app registration the modules sign in as (client credentials flow).
      - Required with O(client_secret) or O(client_certificate_path).
      - If not set, the environment variable E(AZURE_CLIENT_ID) is used.
    type: str
  client_secret:
    description:
      - Client secret (its Value, not its ID) of O(client_id).
      - If not set, the environment variable E(AZURE_CLIENT_SECRET) is used.
      - Used only when neither O(access_token) nor O(client_certificate_path) is set.
    type: str
  client_certificate_path:
    description:
      - Certificate credential of O(client_id) for a signed client assertion instead of a secret.
      - A PEM file holding the private key and the certificate, or a PFX (PKCS#12) file.
      - Takes precedence over O(client_secret).
      - If not set, the environment variable E(AZURE_CLIENT_CERTIFICATE_PATH) is used.
    type: path
  client_certificate_password:
    description:
      - Password of the PFX file or of the encrypted PEM private key in O(client_certificate_path).
      - If not set, the environment variable E(AZURE_CLIENT_CERTIFICATE_PASSWORD) is used.
    type: str
  access_token:
    description:
      - A Microsoft Graph access token obtained elsewhere (for pipelines that already hold one). When set, no
        token is requested and O(client_id)/O(client_secret) are not used.
      - The token cannot be refreshed; an expired one fails the task.
    type: str
  cloud:
    description:
      - Microsoft cloud. Selects the login and Graph hosts.
      - V(global) uses C(login.microsoftonline.com) and C(graph.microsoft.com); V(usgovernment_l4) (GCC High)
        C(login.microsoftonline.us) and C(graph.microsoft.us); V(usgovernment_l5) (DoD)
        C(login.microsoftonline.us) and C(dod-graph.microsoft.us); V(china) (21Vianet)
        C(login.partner.microsoftonline.cn) and C(microsoftgraph.chinacloudapi.cn); V(bleu) (France)
        C(login.sovcloud-identity.fr) and C(graph.svc.sovcloud.fr); V(delos) (Germany) C(login.sovcloud-identity.de)
        and C(graph.svc.sovcloud.de), as Microsoft's ConfigureExchangeHybridApplication.ps1 knows them.
      - If not set, the environment variable E(EXCHANGE_HYBRID_CLOUD) is used.
    type: str
    choices: [global, usgovernment_l4, usgovernment_l5, china, bleu, delos]
    default: global
  authority_host:
    description:
      - Overrides the login host of O(cloud), as an https URL such as C(https://login.microsoftonline.com)
        (proxies, sovereign or test endpoints). When set, msal does no instance discovery.
    type: str
  graph_endpoint:
    description:
      - Overrides the Microsoft Graph host of O(cloud), as an https URL such as C(https://graph.microsoft.com).
        The token is requested for C(<graph_endpoint>/.default).
    type: str
  validate_certs:
    description:
      - Validate the TLS certificates of the login and Graph hosts. Only set V(false) for test endpoints.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file with the CA certificate(s) to trust for the login and Graph hosts.
      - Used even when E(REQUESTS_CA_BUNDLE) or E(CURL_CA_BUNDLE) is set. Without it, those variables or the
        default CA store are used.
    type: path
notes:
  - The access token is cached in a file readable only by the user running Ansible (mode 0600, in a private
    per-user directory under the system temporary directory, or in E(EXCHANGE_HYBRID_TOKEN_CACHE_DIR) when set),
    keyed by login host, tenant, client, cloud and credential, so one token serves every task of a play.
  - Graph throttling (HTTP 429) and temporary unavailability (503, 504) are retried, honouring C(Retry-After), for
    at most two minutes per request.
  - Proxies from E(HTTPS_PROXY) and E(NO_PROXY) are honoured.
requirements:
  - msal >= 1.28.0
  - requests >= 2.31.0
  - cryptography >= 42.0.0
"""
