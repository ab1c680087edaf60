"""The simulated Exchange organization behind the simulated PSRP endpoints.

``initial_exchange_state(servers, organization_name, ..., rbac=None)`` builds the ``exchange`` section of the shared
state (servers as dicts or ``simulation.ServerSpec``). Per server, the WS-Management/PSRP server calls two pipeline
handlers (contract: ``wsman/pipeline.py``): ``make_exchange_handler(store, server_name)`` for the Microsoft.Exchange
configuration (NoLanguage, RBAC-filtered cmdlets, typed objects: ``handler``, ``rbac``, ``objects``) and
``make_host_handler(store, server_name)`` for the default Microsoft.PowerShell configuration (Get-Service,
Restart-Service and the collection's fixed host scripts only: ``host``). ``execute_call(store, server_name, cmdlet,
parameters)`` runs one Exchange cmdlet; ``testing.ExchangeHarness`` drives all of it directly in tests.

What is modelled, and from where:

- Every call is bound by the project's cmdlet catalog (``_cmdlet_catalog.resolve_call``) for the server's ExSetup
  build, so unknown parameters, mixed parameter sets, missing mandatory parameters, bad enum values and parameters
  the build lacks (``-DomainName`` before 2016 CU18/2019 CU7, ``-ApplicationIdentifier`` before the April 2025 HU)
  fail with PowerShell's texts.
- Documented semantics (office-docs-powershell, exchange-facts.md): ``$null`` Identity returns all objects;
  New-ExchangeCertificate defaults (IMAP, POP, SMTP; 2048 bits; "Microsoft Exchange"; five years; real RSA
  certificates); assigning SMTP without ``-Force`` prompts, which an unattended caller cannot
  answer (an error); Set-AuthConfig's four exclusive sets, staged rollover performed when the simulated clock passes the
  effective date (the AuthAdmin servicelet) and deployment of the Auth certificate to every server;
  New-AuthServer deriving type, issuer and realm from the ACS or Entra metadata URL; the OnPrem-Proxy push app.
- Inferred (no Microsoft page): Get-PushNotificationApp returns the OnPrem-Proxy object Enable-PushNotificationProxy
  prints (-Identity, -DomainController); the push proxy cmdlets do not exist before Exchange 2013 CU3.
- Modelled texts (Exchange's exact wording is not documented): certificate-not-found/no-private-key errors of
  Set-AuthConfig, "nothing staged" for -PublishCertificate, the health manager's not-ready error, the probe's
  Error/Exception texts (they name the first missing piece, see ``probe``).
"""

from __future__ import annotations

from .handler import execute_call, make_exchange_handler
from .host import execute_host_call, execute_host_script, make_host_handler
from .organization import initial_exchange_state
from .rbac import ORGANIZATION_MANAGEMENT, VIEW_ONLY_ORGANIZATION_MANAGEMENT

__all__ = [
    "ORGANIZATION_MANAGEMENT",
    "VIEW_ONLY_ORGANIZATION_MANAGEMENT",
    "execute_call",
    "execute_host_call",
    "execute_host_script",
    "initial_exchange_state",
    "make_exchange_handler",
    "make_host_handler",
]
