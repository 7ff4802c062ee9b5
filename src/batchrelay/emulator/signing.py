"""The RSA key and self-signed certificate the emulator signs HTTP pushes with.

MNS signs each push with RSA-SHA1 (PKCS#1 v1.5) and names the certificate's URL in the
``x-mns-signing-cert-url`` header; the emulator serves the certificate itself, so receivers
verify pushes exactly as they would in production.

Two keys: a fresh 2048-bit one per start (:meth:`Signer.generate`), or the *legacy* one
(:meth:`Signer.legacy`): like the key real MNS pushes are signed with (``protocols.md``
§3.7), a 512-bit RSA key in a certificate that expired on 2016-07-01. It is fixed and
shipped as package data (the cryptography library no longer generates keys that small); it
protects nothing, it only proves a receiver accepts what MNS really sends.
"""

from __future__ import annotations

import base64
import datetime as dt
from importlib.resources import files

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

KEY_SIZE = 2048
CERT_LIFETIME = dt.timedelta(days=365)


class Signer:
    """Signs push StringToSign values; holds the matching certificate as PEM."""

    def __init__(self, key: rsa.RSAPrivateKey, certificate: x509.Certificate) -> None:
        self._key = key
        self.certificate = certificate
        self.cert_pem = certificate.public_bytes(serialization.Encoding.PEM)

    @classmethod
    def generate(cls, common_name: str = "batchrelay MNS emulator") -> Signer:
        """A new 2048-bit key and a self-signed certificate for it."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
        return cls(key, _self_signed(key, common_name))

    @classmethod
    def legacy(cls) -> Signer:
        """The fixed 512-bit key, in a certificate valid from 2015-07-01 to 2016-07-01."""
        here = files("batchrelay.emulator")
        key = serialization.load_pem_private_key(
            here.joinpath("legacy_push_key.pem").read_bytes(), password=None
        )
        if not isinstance(key, rsa.RSAPrivateKey):  # pragma: no cover - shipped file
            raise TypeError("legacy_push_key.pem does not hold an RSA key")
        certificate = x509.load_pem_x509_certificate(
            here.joinpath("legacy_push_cert.pem").read_bytes()
        )
        return cls(key, certificate)

    def sign(self, string_to_sign: str) -> str:
        """base64 of the RSA-SHA1 PKCS#1 v1.5 signature, the push ``Authorization`` value."""
        signature = self._key.sign(string_to_sign.encode(), padding.PKCS1v15(), hashes.SHA1())
        return base64.b64encode(signature).decode("ascii")


def _self_signed(key: rsa.RSAPrivateKey, common_name: str) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + CERT_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
