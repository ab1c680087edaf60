# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Exchange modules' connection options: the argument spec, the checks before connecting, and the two endpoint
URLs of a server with pypsrp's keyword arguments for each.

PRIVATE to the collection: it can change at any time.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from typing import Any, Optional, Union
from urllib.parse import urlsplit

from ansible.module_utils.basic import env_fallback

AUTH_CHOICES = ["kerberos", "negotiate", "ntlm", "basic", "credssp", "certificate"]
CONNECTION_ARGUMENT_SPEC: dict[str, dict[str, Any]] = dict(
    server=dict(type="str", required=True),
    connection_uri=dict(type="str"),
    port=dict(type="int"),
    scheme=dict(type="str", default="https", choices=["https", "http"]),
    username=dict(type="str", fallback=(env_fallback, ["EXCHANGE_USERNAME"])),
    password=dict(type="str", no_log=True, fallback=(env_fallback, ["EXCHANGE_PASSWORD"])),
    auth=dict(type="str", default="kerberos", choices=AUTH_CHOICES, aliases=["transport"]),
    negotiate_service=dict(type="str", default="HTTP"),
    negotiate_hostname_override=dict(type="str"),
    validate_certs=dict(type="bool", default=True),
    ca_path=dict(type="path"),
    cert_pem=dict(type="path"),
    cert_key_pem=dict(type="path", no_log=False),
    message_encryption=dict(type="str", default="auto", choices=["auto", "always", "never"]),
    operation_timeout=dict(type="int", default=20),
    read_timeout=dict(type="int", default=30),
    connection_timeout=dict(type="int", default=30),
    allow_unencrypted_basic=dict(type="bool", default=False),
)
CONNECTION_OPTIONS = tuple(CONNECTION_ARGUMENT_SPEC)
# Longest user name Windows accepts for an account (UPN) is 1024 characters; NTLM carries lengths as 16-bit.
MAX_USERNAME_LENGTH = 1024
_HOST = re.compile(r"^(?=.{1,253}$)(?!-)[A-Za-z0-9_-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9_-]{1,63}(?<!-))*\.?$")


def is_host_name(value: str) -> bool:
    """A DNS host name (one label or more) or an IPv4/IPv6 address literal."""
    try:
        ipaddress.ip_address(value.strip("[]"))
        return True
    except ValueError:
        return bool(_HOST.match(value))


def connection_problem(params: dict) -> Optional[str]:
    """A reason to refuse the connection options before connecting, or None."""
    if not params.get("server"):
        return "server is required: the Exchange server's FQDN (or run the task against a winrm/psrp host)"
    if not is_host_name(str(params["server"])):
        return (
            "server must be the Exchange server's FQDN or an IP address, without scheme, port or path (got %r); "
            "set connection_uri or port for another endpoint" % str(params["server"])[:100]
        )
    auth = params.get("auth")
    scheme = params.get("scheme")
    uri = params.get("connection_uri")
    exchange_scheme = "http"
    if uri:
        parts = urlsplit(uri)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return (
                "connection_uri must be the Exchange endpoint's URL, for example http://ex01.contoso.com/PowerShell/ "
                "(got %r)" % uri[:200]
            )
        exchange_scheme = parts.scheme
    if auth == "basic" and not params.get("allow_unencrypted_basic") and "http" in (scheme, exchange_scheme):
        where = (
            "scheme http" if scheme == "http" else "connection_uri %s" % uri if uri else "the default connection_uri"
        )
        return (
            "auth basic over http (%s) would send the password readable on the network; use https, or auth "
            "kerberos (message encryption), or set allow_unencrypted_basic: true to accept the risk" % where
        )
    if auth == "certificate":
        if scheme != "https":
            return "auth certificate needs scheme https"
        if not params.get("cert_pem") or not params.get("cert_key_pem"):
            return "auth certificate needs cert_pem and cert_key_pem (the client certificate and its key)"
    elif auth != "kerberos" and not params.get("username"):
        return "username is required for auth %s (or set EXCHANGE_USERNAME)" % auth
    if params.get("password") and not params.get("username"):
        return "password is set but username is not: give both, or neither to use the Kerberos ticket cache"
    username = params.get("username") or ""
    if len(username) > MAX_USERNAME_LENGTH or any(c in username for c in "\r\n\0"):
        return (
            "username must be a Windows account name (user@domain for Kerberos, or DOMAIN\\user): at most %d "
            "characters, without line breaks or NUL" % MAX_USERNAME_LENGTH
        )
    for option in ("ca_path", "cert_pem", "cert_key_pem"):
        path = params.get(option)
        if path and not os.path.isfile(path):
            return "%s %s does not exist or is not a file on the controller" % (option, path)
    operation_timeout, read_timeout = params.get("operation_timeout"), params.get("read_timeout")
    if operation_timeout < 1 or read_timeout <= operation_timeout or params.get("connection_timeout") < 1:
        return "read_timeout (%s) must be greater than operation_timeout (%s), and every timeout positive" % (
            read_timeout,
            operation_timeout,
        )
    return None


def _bracketed(host: str) -> str:
    return "[%s]" % host if ":" in host and not host.startswith("[") else host


@dataclass(frozen=True)
class ExchangeConnection:
    """The connection options resolved once: both endpoint URLs and what every WS-Management connection uses."""

    server: str
    exchange_uri: str
    host_uri: str
    auth: str
    username: Optional[str]
    password: Optional[str] = field(repr=False)
    negotiate_service: str
    negotiate_hostname_override: Optional[str]
    # pypsrp's cert_validation: the CA file, True (the system's CAs) or False
    cert_validation: Union[str, bool]
    cert_pem: Optional[str]
    cert_key_pem: Optional[str]
    message_encryption: str
    operation_timeout: int
    read_timeout: int
    connection_timeout: int

    def spn(self, uri: str) -> str:
        """The service principal a Kerberos message to ``uri`` names."""
        return "%s/%s" % (self.negotiate_service, self.negotiate_hostname_override or urlsplit(uri).hostname)


def resolve_connection(params: dict) -> ExchangeConnection:
    """The one place that turns the options (the spec's defaults for any not given) into an ``ExchangeConnection``.

    The Exchange endpoint is ``connection_uri``, else ``http://<server>/PowerShell/`` (Kerberos encrypts over http);
    the default WinRM endpoint is ``<scheme>://<server>:<port>/wsman``, port 5986 for https and 5985 for http.
    """
    options = {name: spec.get("default") for name, spec in CONNECTION_ARGUMENT_SPEC.items()}
    options.update({name: value for name, value in params.items() if value is not None})
    server = _bracketed(str(options["server"]))
    scheme = options["scheme"]
    port = options["port"] if options["port"] is not None else 5986 if scheme == "https" else 5985
    return ExchangeConnection(
        server=str(options["server"]),
        exchange_uri=options["connection_uri"] or "http://%s/PowerShell/" % server,
        host_uri="%s://%s:%d/wsman" % (scheme, server, port),
        auth=options["auth"],
        username=options["username"],
        password=options["password"],
        negotiate_service=options["negotiate_service"],
        negotiate_hostname_override=options["negotiate_hostname_override"],
        # A path is used as is: REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE never override ca_path (pypsrp reads them only for
        # True).
        cert_validation=(options["ca_path"] or True) if options["validate_certs"] else False,
        cert_pem=options["cert_pem"],
        cert_key_pem=options["cert_key_pem"],
        message_encryption=options["message_encryption"],
        operation_timeout=options["operation_timeout"],
        read_timeout=options["read_timeout"],
        connection_timeout=options["connection_timeout"],
    )


def wsman_arguments(connection: ExchangeConnection, uri: str) -> dict:
    """Keyword arguments of pypsrp's ``WSMan`` for one endpoint URL (the password is passed, never logged)."""
    parts = urlsplit(uri)
    ssl = parts.scheme == "https"
    path = (parts.path or "/wsman").lstrip("/")
    if parts.query:
        path += "?" + parts.query
    auth = connection.auth
    arguments: dict[str, Any] = dict(
        server=parts.hostname,
        port=parts.port or (443 if ssl else 80),
        path=path,
        ssl=ssl,
        auth=auth,
        username=connection.username,
        password=connection.password,
        encryption=connection.message_encryption,
        operation_timeout=connection.operation_timeout,
        read_timeout=connection.read_timeout,
        connection_timeout=connection.connection_timeout,
        cert_validation=connection.cert_validation,
        # Proxies from the environment would reroute a server's traffic unasked.
        no_proxy=True,
    )
    if auth == "basic" and not ssl and arguments["encryption"] == "auto":
        # Basic cannot seal messages and pypsrp refuses auto over http for it; connection_problem() lets Basic over
        # http through only with allow_unencrypted_basic, which is exactly "no encryption".
        arguments["encryption"] = "never"
    if auth in ("kerberos", "negotiate", "ntlm"):
        arguments["negotiate_service"] = connection.negotiate_service
        if connection.negotiate_hostname_override:
            arguments["negotiate_hostname_override"] = connection.negotiate_hostname_override
    if auth == "certificate":
        arguments["certificate_pem"] = connection.cert_pem
        arguments["certificate_key_pem"] = connection.cert_key_pem
    return arguments
