"""Ed25519 signing keys and compact JWS, so anyone can verify our receipts and checkpoints offline.

Public keys live in the `signing_keys` table and are published at /.well-known/jwks.json, retired
ones included. Private keys never enter the database: each is a PEM file `<kid>.pem` in
CONSENT_KEY_DIR (default `instance/keys/`, mode 0700, files 0600). Every worker caches the
active private key and reloads it when the newest key id in the database changes (after
`flask consent keys rotate`), so rotation needs no restart.
"""
import hashlib
import json
import os
from pathlib import Path
from time import monotonic

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import current_app
from sqlalchemy import select

from consent.errors import Forbidden, SigningKeyMissing
from consent.proof.verify import VerificationError, b64url_encode, canonical_json, verify_jws
from consent.storage import db
from consent.storage.models import SigningKey, utcnow


def public_jwk(key):
    """The JWK (RFC 8037) of a stored public key."""
    return {"kty": "OKP", "crv": "Ed25519", "x": key.public_key, "kid": key.kid, "alg": "EdDSA", "use": "sig"}


def thumbprint(public_x):
    """RFC 7638 key id: SHA-256 over the required JWK members in lexicographic order."""
    members = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": public_x}, separators=(",", ":"), sort_keys=True)
    return b64url_encode(hashlib.sha256(members.encode()).digest())


def key_dir():
    directory = Path(current_app.config["CONSENT_KEY_DIR"])
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    return directory


def create_key(session):
    """Generate a key pair: the private half to its own owner-only file, the public half to the table."""
    private_key = Ed25519PrivateKey.generate()
    raw_public = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    public_x = b64url_encode(raw_public)
    kid = thumbprint(public_x)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Created owner-only before anything is written into it.
    fd = os.open(key_dir() / f"{kid}.pem", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    key = SigningKey(kid=kid, public_key=public_x, created_at=utcnow())
    session.add(key)
    session.flush()
    return key


def list_keys(session):
    """Every signing key, oldest first, retired ones included."""
    return session.scalars(select(SigningKey).order_by(SigningKey.created_at)).all()


def rotate(session):
    """Retire every active key and create the one that signs from now on."""
    for key in session.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None))):
        key.retired_at = utcnow()
    current_app.extensions.pop("consent.signing", None)  # this process switches at once, others within seconds
    return create_key(session)


def _active_kid(session):
    return session.scalars(
        select(SigningKey.kid).where(SigningKey.retired_at.is_(None)).order_by(SigningKey.created_at.desc()).limit(1)
    ).first()


def _active_private_key(session):
    """(kid, private key) of the newest active key, creating the first key if there is none.

    Cached per process in app.extensions for CONSENT_KEY_RECHECK_SECONDS, after which the newest
    key id is read again: a rotation reaches every worker within that time, and the keys it
    retires stay valid for verification. The cache is one immutable tuple replaced whole, so
    threads of one worker never see a kid paired with another key.
    """
    cached, now = current_app.extensions.get("consent.signing"), monotonic()
    if cached and now < cached[2]:
        return cached[:2]
    # Counted from before the question, so a rotation committed while it was asked is seen within the time.
    recheck_at = now + current_app.config["CONSENT_KEY_RECHECK_SECONDS"]
    kid = _active_kid(session) or _first_key(session)
    if cached and cached[0] == kid:
        current_app.extensions["consent.signing"] = (*cached[:2], recheck_at)
        return cached[:2]
    path = key_dir() / f"{kid}.pem"
    if not path.exists():
        raise SigningKeyMissing(f"The private key of the active signing key {kid} is not in {key_dir()}.")
    cached = (kid, serialization.load_pem_private_key(path.read_bytes(), password=None), recheck_at)
    current_app.extensions["consent.signing"] = cached
    return cached[:2]


def _first_key(session):
    """The kid of a first key, made under the write lock so concurrent first signers make only one."""
    with db.joined_write(session) as writer:
        return _active_kid(writer) or create_key(writer).kid


def sign(session, payload):
    """(kid, compact JWS) over the canonical JSON of `payload`, with the active key."""
    return sign_text(session, canonical_json(payload))


def sign_text(session, canonical_text):
    """sign(), for a payload already in its canonical JSON form."""
    kid, private_key = _active_private_key(session)
    header = b64url_encode(canonical_json({"alg": "EdDSA", "kid": kid}).encode())
    body = b64url_encode(canonical_text.encode("utf-8"))
    signature = b64url_encode(private_key.sign(f"{header}.{body}".encode("ascii")))
    return kid, f"{header}.{body}.{signature}"


def receipt_jws(receipt):
    """A stored receipt's JWS; None for receipts stored before Ed25519 signing existed."""
    return receipt.ed25519.jws if receipt.ed25519 else None


def jwks(session):
    """Every public key we ever signed with, newest first: the JWKS verifiers download."""
    keys = session.scalars(select(SigningKey).order_by(SigningKey.created_at.desc())).all()
    return {"keys": [public_jwk(key) for key in keys]}


def verified_payload(session, jws):
    """The payload bytes a JWS of ours vouches for; Forbidden if it does not verify."""
    try:
        return verify_jws(jws, {jwk["kid"]: jwk for jwk in jwks(session)["keys"]})[1]
    except VerificationError as error:
        raise Forbidden(str(error)) from error
