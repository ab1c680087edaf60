"""A test certificate authority (trustme) and the TLS server certificate both simulators present."""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass

import trustme


@dataclass
class TestPKI:
    ca_path: str
    cert_path: str
    key_path: str

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_path, self.key_path)
        return context


def create_pki(directory: str) -> TestPKI:
    """Write ca.pem, server.pem and server.key for 127.0.0.1 and localhost into ``directory`` (reused if present)."""
    paths = TestPKI(
        ca_path=os.path.join(directory, "ca.pem"),
        cert_path=os.path.join(directory, "server.pem"),
        key_path=os.path.join(directory, "server.key"),
    )
    if all(os.path.exists(p) for p in (paths.ca_path, paths.cert_path, paths.key_path)):
        return paths
    os.makedirs(directory, exist_ok=True)
    authority = trustme.CA(organization_name="exchange.hybrid test CA")
    leaf = authority.issue_cert("127.0.0.1", "localhost")
    authority.cert_pem.write_to_path(paths.ca_path)
    leaf.cert_chain_pems[0].write_to_path(paths.cert_path)
    leaf.private_key_pem.write_to_path(paths.key_path)
    return paths
