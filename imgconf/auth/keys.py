"""Client signing keys for private_key_jwt (RS384 / ES384): load from PEM or JWKS, or make one.

Private keys only ever live in memory here; nothing in this module writes them anywhere. The public
half is what a server registers (a JWKS), identified by ``kid``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from imgconf import secret_registry

SUPPORTED_ALGS = ("RS384", "ES384")
_KTY = {"RS384": "RSA", "ES384": "EC"}
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi")  # RFC 7518 §6.2.2, §6.3.2
_warned_permissions: set[str] = set()


class KeyFileError(ValueError):
    """A key file that cannot be used; the message names the file, never the key material."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str  # RS384 | ES384
    private_key: Any  # a cryptography private key object

    def __post_init__(self) -> None:
        # The private numbers, as a JWK spells them, are secrets of this run wherever they appear.
        algorithm = RSAAlgorithm if isinstance(self.private_key, rsa.RSAPrivateKey) else ECAlgorithm
        try:
            private = json.loads(algorithm.to_jwk(self.private_key))
        except Exception:  # noqa: BLE001 - not a key this module can sign with; _alg_for reports that
            return
        for member in _PRIVATE_MEMBERS:
            secret_registry.register(private.get(member))

    @classmethod
    def generate(cls, alg: str = "ES384", kid: str | None = None) -> SigningKey:
        """An ephemeral key pair (run time or tests only; it is never written to disk)."""
        private: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
        if alg == "ES384":
            private = ec.generate_private_key(ec.SECP384R1())
        elif alg == "RS384":
            private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            raise KeyFileError(f"unsupported signing algorithm {alg!r} (use {' or '.join(SUPPORTED_ALGS)})")
        key = cls(kid="", alg=alg, private_key=private)
        return cls(kid=kid or key.thumbprint(), alg=alg, private_key=private)

    def public_jwk(self) -> dict[str, Any]:
        public = self.private_key.public_key()
        algorithm = RSAAlgorithm if self.alg == "RS384" else ECAlgorithm
        jwk = json.loads(algorithm.to_jwk(public))
        jwk.update({"kid": self.kid, "alg": self.alg, "use": "sig", "key_ops": ["verify"]})
        return jwk

    def thumbprint(self) -> str:
        """RFC 7638 JWK thumbprint of the public key (a stable default ``kid``)."""
        jwk = json.loads((RSAAlgorithm if self.alg == "RS384" else ECAlgorithm).to_jwk(self.private_key.public_key()))
        members = ("e", "kty", "n") if jwk["kty"] == "RSA" else ("crv", "kty", "x", "y")
        canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
        return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()

    def __repr__(self) -> str:  # never print key material
        return f"SigningKey(kid={self.kid!r}, alg={self.alg!r})"


def jwks(keys: list[SigningKey] | tuple[SigningKey, ...]) -> dict[str, Any]:
    """The public JWKS a server registers for this client."""
    return {"keys": [k.public_jwk() for k in keys]}


def _alg_for(private: Any, wanted: str | None, source: str) -> str:
    alg = "RS384" if isinstance(private, rsa.RSAPrivateKey) else "ES384" if isinstance(private, ec.EllipticCurvePrivateKey) else None
    if alg is None:
        raise KeyFileError(f"{source}: only RSA and EC (P-384) private keys can sign RS384/ES384 assertions")
    if isinstance(private, ec.EllipticCurvePrivateKey) and private.curve.name != "secp384r1":
        raise KeyFileError(f"{source}: ES384 needs a P-384 key, this one is {private.curve.name}")
    if wanted and wanted != alg:
        raise KeyFileError(f"{source}: alg {wanted} does not fit a {_KTY[alg]} key (use {alg})")
    return alg


def keys_from_pem(data: bytes, *, source: str, kid: str | None = None, alg: str | None = None) -> list[SigningKey]:
    try:
        private = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{source}: not an unencrypted PEM private key ({type(exc).__name__})") from None
    key_alg = _alg_for(private, alg, source)
    key = SigningKey(kid="", alg=key_alg, private_key=private)
    return [SigningKey(kid=kid or key.thumbprint(), alg=key_alg, private_key=private)]


def keys_from_jwks(data: bytes, *, source: str, kid: str | None = None, alg: str | None = None) -> list[SigningKey]:
    try:
        doc = json.loads(data)
    except ValueError:
        raise KeyFileError(f"{source}: not JSON") from None
    entries = doc.get("keys") if isinstance(doc, dict) and "keys" in doc else [doc]
    keys: list[SigningKey] = []
    for i, jwk in enumerate(entries or []):
        if not isinstance(jwk, dict) or "d" not in jwk:
            continue  # public keys cannot sign
        if kid and jwk.get("kid") != kid:
            continue
        try:
            private = (RSAAlgorithm if jwk.get("kty") == "RSA" else ECAlgorithm).from_jwk(json.dumps(jwk))
        except Exception as exc:  # noqa: BLE001 - PyJWT raises InvalidKeyError, ValueError or a cryptography error
            raise KeyFileError(f"{source}: key {i} is not a usable private JWK ({type(exc).__name__})") from None
        key_alg = _alg_for(private, alg or jwk.get("alg"), f"{source} key {i}")
        if not jwk.get("kid"):
            raise KeyFileError(f"{source}: key {i} has no kid (SMART-011 requires one)")
        keys.append(SigningKey(kid=jwk["kid"], alg=key_alg, private_key=private))
    if not keys:
        wanted = f" with kid {kid!r}" if kid else ""
        raise KeyFileError(f"{source}: no private key{wanted} in the JWKS")
    return keys


def load_keys(data: bytes, *, source: str, kid: str | None = None, alg: str | None = None) -> list[SigningKey]:
    """Keys from PEM or (private) JWKS bytes; ``source`` names the file or variable in messages."""
    if b"-----BEGIN" in data:
        secret_registry.register_pem(data.decode("utf-8", errors="replace"))
        return keys_from_pem(data, source=source, kid=kid, alg=alg)
    return keys_from_jwks(data, source=source, kid=kid, alg=alg)


def load_key_file(path: Path, *, kid: str | None = None, alg: str | None = None) -> list[SigningKey]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read key file ({exc.strerror})") from None
    warn_if_readable_by_others(Path(path))
    return load_keys(data, source=str(path), kid=kid, alg=alg)


def warn_if_readable_by_others(path: Path) -> None:
    """Once per file and process tree, on stderr: a private key that group or others can read."""
    if os.name != "posix" or os.environ.get("PYTEST_XDIST_WORKER") or str(path) in _warned_permissions:
        return
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        _warned_permissions.add(str(path))
        print(f"imgconf: warning: private key file {path} is readable by group or others "
              f"(mode {stat.filemode(mode)}); chmod 600 it", file=sys.stderr)


def private_pem(key: SigningKey) -> bytes:
    """PEM of a key (tests write keys into temporary directories with it)."""
    return key.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
