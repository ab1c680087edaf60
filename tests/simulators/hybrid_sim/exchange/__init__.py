"""The simulated Exchange organization behind the WS-Management server.

``initial_exchange_state(servers, organization_name, ...)`` builds the ``exchange`` section of the shared state
(servers as dicts or ``simulation.ServerSpec``); ``make_handler(store, server_name)`` is the command handler the
WS-Management server calls for one server; ``testing.ExchangeHarness`` drives handlers directly in tests.

What is modelled, and from where:

- Every call is bound by the project's cmdlet catalog (``_cmdlet_catalog.resolve_call``) for the server's ExSetup
  build, so unknown parameters, mixed parameter sets, missing mandatory parameters, bad enum values and parameters
  the build lacks (``-DomainName`` before 2016 CU18/2019 CU7, ``-ApplicationIdentifier`` before the April 2025 HU)
  fail with PowerShell's texts.
- Documented semantics (office-docs-powershell, exchange-facts.md): ``$null`` Identity returns all objects;
  New-ExchangeCertificate defaults (IMAP, POP, SMTP; 2048 bits; "Microsoft Exchange"; five years; real RSA
  certificates); assigning SMTP without ``-Force`` prompts, which ``-NonInteractive`` PowerShell turns into an
  error; Set-AuthConfig's four exclusive sets, staged rollover performed when the simulated clock passes the
  effective date (the AuthAdmin servicelet) and deployment of the Auth certificate to every server;
  New-AuthServer deriving type, issuer and realm from the ACS or Entra metadata URL; the OnPrem-Proxy push app.
- Inferred (no Microsoft page): Get-PushNotificationApp returns the OnPrem-Proxy object Enable-PushNotificationProxy
  prints (-Identity, -DomainController); the push proxy cmdlets do not exist before Exchange 2013 CU3.
- Modelled texts (Exchange's exact wording is not documented): certificate-not-found/no-private-key errors of
  Set-AuthConfig, "nothing staged" for -PublishCertificate, the health manager's not-ready error, the probe's
  Error/Exception texts (they name the first missing piece, see ``probe``).
"""

from __future__ import annotations

from .handler import make_handler, run_request
from .organization import initial_exchange_state

__all__ = ["initial_exchange_state", "make_handler", "run_request"]
