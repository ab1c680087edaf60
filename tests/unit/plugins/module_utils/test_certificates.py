from __future__ import annotations

import base64
import datetime as dt
import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from ansible_collections.exchange.hybrid.plugins.module_utils._certificates import (
    load_certificate,
    load_certificate_file,
    load_client_credential,
    thumbprint_of_key,
)
from ansible_collections.exchange.hybrid.plugins.module_utils._errors import CertificateError
from hybrid_sim.entra import make_certificate

CERT = make_certificate(days=365)


def _key_pem() -> str:
    return CERT.key_pem


def test_pem_base64_and_binary_der_give_the_same_certificate(tmp_path):
    from_pem = load_certificate(CERT.cert_pem)
    from_b64 = load_certificate(CERT.base64_der)
    path = tmp_path / "auth.cer"
    path.write_bytes(CERT.der)
    from_file = load_certificate_file(str(path))
    assert from_pem.der == from_b64.der == from_file.der == CERT.der
    assert from_pem.thumbprint == hashlib.sha1(CERT.der).hexdigest().upper() == CERT.thumbprint
    assert from_pem.not_after == CERT.not_after
    assert from_pem.not_before == CERT.not_before
    assert from_pem.base64 == CERT.base64_der
    assert "Microsoft Exchange Server Auth Certificate" in from_pem.subject


def test_base64_with_line_breaks_is_accepted():
    wrapped = "\n".join(CERT.base64_der[i : i + 64] for i in range(0, len(CERT.base64_der), 64))
    assert load_certificate(wrapped).der == CERT.der


def test_expiry():
    old = make_certificate(days=10, start=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc))
    assert load_certificate(old.cert_pem).is_expired()
    assert not load_certificate(CERT.cert_pem).is_expired()


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(_key_pem, id="pkcs8-pem"),
        pytest.param(lambda: CERT.cert_pem + _key_pem(), id="cert-and-key-pem"),
        pytest.param(
            lambda: base64.b64encode(
                serialization.load_pem_private_key(_key_pem().encode(), None).private_bytes(
                    serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            ).decode(),
            id="pkcs8-der-base64",
        ),
        pytest.param(
            lambda: base64.b64encode(
                pkcs12.serialize_key_and_certificates(
                    b"x",
                    serialization.load_pem_private_key(_key_pem().encode(), None),
                    None,
                    None,
                    serialization.BestAvailableEncryption(b"pw"),
                )
            ).decode(),
            id="pfx-base64",
        ),
    ],
)
def test_private_keys_are_refused_without_echo(value):
    text = value()
    with pytest.raises(CertificateError) as caught:
        load_certificate(text)
    message = caught.value.msg
    assert "private key" in message
    body = "".join(_key_pem().splitlines()[1:-1])
    for chunk in (body[:24], body[100:124], text[-40:-4]):
        assert chunk not in message


@pytest.mark.parametrize("value", ["hello world", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", "", "QUJD"])
def test_garbage_is_refused_without_echo(value):
    with pytest.raises(CertificateError) as caught:
        load_certificate(value, option="certificate")
    assert caught.value.msg.startswith("certificate ")
    if value:
        assert "hello world" not in caught.value.msg


def test_thumbprint_of_key_entries():
    assert thumbprint_of_key({"key": CERT.base64_der, "customKeyIdentifier": "custom"}) == CERT.thumbprint
    assert thumbprint_of_key({"key": None, "customKeyIdentifier": CERT.thumbprint.lower()}) == CERT.thumbprint
    raw = base64.b64encode(bytes.fromhex(CERT.thumbprint)).decode()
    assert thumbprint_of_key({"key": None, "customKeyIdentifier": raw}) == CERT.thumbprint
    assert thumbprint_of_key({"key": None, "customKeyIdentifier": None}) is None
    assert thumbprint_of_key({"customKeyIdentifier": "bm90IGEgdGh1bWI="}) is None


def test_client_credential_from_pem_and_pfx(tmp_path):
    pem = tmp_path / "client.pem"
    pem.write_text(CERT.key_pem + CERT.cert_pem)
    from_pem = load_client_credential(str(pem), None)
    assert from_pem["thumbprint"] == CERT.thumbprint
    key = serialization.load_pem_private_key(CERT.key_pem.encode(), None)
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(CERT.cert_pem.encode())
    pfx = tmp_path / "client.pfx"
    pfx.write_bytes(pkcs12.serialize_key_and_certificates(b"c", key, cert, None, serialization.BestAvailableEncryption(b"s3cret")))
    assert load_client_credential(str(pfx), "s3cret")["thumbprint"] == CERT.thumbprint
    with pytest.raises(CertificateError) as caught:
        load_client_credential(str(pfx), "Wr0ngPassw0rd")
    assert "client_certificate_password" in caught.value.msg and "Wr0ngPassw0rd" not in caught.value.msg
    only_cert = tmp_path / "only.pem"
    only_cert.write_text(CERT.cert_pem)
    with pytest.raises(CertificateError):
        load_client_credential(str(only_cert), None)
    with pytest.raises(CertificateError):
        load_client_credential(str(tmp_path / "missing.pem"), None)
