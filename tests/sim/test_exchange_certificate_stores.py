"""The simulated Exchange: reading other servers' certificate stores (-Server), a server that is down, and what a
certificate says of its signature algorithm."""

from __future__ import annotations

import base64

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from hybrid_sim.exchange.objects import output_objects
from hybrid_sim.exchange.testing import ExchangeHarness, call

PROPS = ["Thumbprint", "PublicKeySize", "SignatureAlgorithm", "RawData"]


@pytest.fixture
def org(tmp_path):
    return ExchangeHarness(str(tmp_path))


def test_another_servers_store_is_read_with_server(org):
    only_there = org.add_certificate(["EX2013"])
    there = org.ok([call("Get-ExchangeCertificate", PROPS, Server="EX2013")], server="EX2019")[0]
    here = org.ok([call("Get-ExchangeCertificate", PROPS)], server="EX2019")[0]
    assert only_there in {c["Thumbprint"] for c in there} and only_there not in {c["Thumbprint"] for c in here}


def test_a_server_that_is_down_answers_no_rpc(org):
    with org.edit() as state:
        state["exchange"]["servers"]["EX2013"]["offline"] = True
    error = org.fail([call("Get-ExchangeCertificate", PROPS, Server="EX2013")], server="EX2019")
    assert error["message"] == "A special Rpc error occurs on server EX2013: The RPC server is unavailable."
    assert org.ok([call("Get-ExchangeCertificate", PROPS, Server="EX2016")], server="EX2019")[0]


@pytest.mark.parametrize(
    "signature_hash,oid,name",
    [("sha1", "1.2.840.113549.1.1.5", "sha1RSA"), ("sha256", "1.2.840.113549.1.1.11", "sha256RSA")],
)
def test_signature_algorithm_is_the_certificates_own(org, signature_hash, oid, name):
    thumbprint = org.add_certificate(["EX2019"], key_size=1024, signature_hash=signature_hash)
    store = org.state()["exchange"]["servers"]["EX2019"]["certificates"]
    entry = next(c for c in store if c["Thumbprint"] == thumbprint)
    assert entry["SignatureAlgorithm"] == {"Value": oid, "FriendlyName": name} and entry["PublicKeySize"] == 1024
    cert = x509.load_der_x509_certificate(base64.b64decode(entry["RawData"]))
    assert cert.signature_algorithm_oid.dotted_string == oid
    # A real signature over the TBS part, by the certificate's own key.
    key, algorithm = cert.public_key(), cert.signature_hash_algorithm
    key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), algorithm)
    assert isinstance(algorithm, hashes.SHA1 if signature_hash == "sha1" else hashes.SHA256)
    (typed,) = output_objects("Get-ExchangeCertificate", [entry])
    remote = typed.properties["SignatureAlgorithm"]
    assert remote.type_names[0] == "System.Security.Cryptography.Oid"
    assert remote.properties == {"Value": oid, "FriendlyName": name}
