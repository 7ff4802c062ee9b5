"""The RSA key and self-signed certificate the emulator signs HTTP pushes with.

MNS signs each push with RSA-SHA1 (PKCS#1 v1.5) and names the certificate's URL in the
``x-mns-signing-cert-url`` header; the emulator generates a fresh key at start and serves
the certificate itself, so receivers can verify pushes exactly as they would in production.
"""

from __future__ import annotations

import base64
import datetime as dt

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
