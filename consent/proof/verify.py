"""Verify a consent receipt offline: `python -m consent.proof.verify receipt.json --jwks jwks.json`.

Needs nothing but the two files, the standard library and `cryptography`: no Flask, no database,
no network. The file may also be copied alone and run as `python verify.py ...`. It checks that the
receipt's Ed25519 JWS (RFC 7515 compact form, alg EdDSA per RFC 8037) verifies with a key of the
set, and that its payload is exactly the receipt in the file, byte for byte once canonicalized. It
then prints that payload, decoded from the JWS, so what the auditor reads is what was signed. A file
(or key set) in which an object names a key twice is refused: JSON readers disagree on which value
counts, so the text an auditor reads could say `true` where the verifier parsed `false`.

receipt.json is either the full API response ({"receipt": ..., "jws": ..., ...}) or just
{"receipt": ..., "jws": ...}. Exit status: 0 valid, 1 anything else.
"""
import argparse
import base64
import binascii
import hashlib
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class VerificationError(Exception):
    """The receipt is not proven: the message says why, in one sentence."""


def _unique_keys(pairs):
    """object_pairs_hook: an object, unless it names a key twice (at any depth, as the parser calls it for each)."""
    document = {}
    for key, value in pairs:
        if key in document:
            raise VerificationError(f"the key {key!r} appears twice in one object, so readers may disagree on "
                                    f"its value; such a file proves nothing.")
        document[key] = value
    return document


def _no_constant(name):
    raise VerificationError(f"{name} is not a JSON value.")


def strict_loads(text):
    """json.loads, refusing duplicate keys and NaN/Infinity: one text, one meaning. VerificationError otherwise."""
    return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)


# One encoder for every call: json.dumps builds a new one each time it is given options.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(document):
    """The one byte form of a document that hashes and signatures are computed over: receipts, checkpoints and
    the chain's links. The service imports it from here, so what it signs is what this file checks."""
    return _CANONICAL.encode(document)


def lanes_root(lanes):
    """The Merkle root a checkpoint of several lanes signs as its head_hash, over `lanes`: [[count, head hash]]
    of lane 0, lane 1, ... As RFC 6962 computes a tree head (section 2.1), so leaves and nodes never collide:
    a leaf is SHA-256(0x00 || the canonical JSON of [lane, count, head hash]), a node SHA-256(0x01 || left ||
    right), the left subtree holding the largest power of two of lanes smaller than their number. One lane's
    head can then be proven against a pinned root with the hashes of the others' subtrees alone."""
    def root(leaves):
        if len(leaves) == 1:
            return leaves[0]
        split = 1 << ((len(leaves) - 1).bit_length() - 1)
        return hashlib.sha256(b"\x01" + root(leaves[:split]) + root(leaves[split:])).digest()

    if not lanes:
        raise VerificationError("a checkpoint of lanes names at least one lane.")
    return root([hashlib.sha256(b"\x00" + canonical_json([lane, *head]).encode()).digest()
                 for lane, head in enumerate(lanes)]).hex()


def b64url_encode(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text):
    """Strict base64url without padding: any character outside the alphabet is an error."""
    if not isinstance(text, str) or not text.isascii() or "=" in text:
        raise VerificationError("The JWS is not base64url.")
    try:
        decoded = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except binascii.Error as error:
        raise VerificationError("The JWS is not base64url.") from error
    # Reject non-canonical encodings (stray low bits in the last character), so no two strings
    # stand for the same bytes: changing any character of a JWS must break it.
    if b64url_encode(decoded) != text:
        raise VerificationError("The JWS is not canonical base64url.")
    return decoded


def public_key_from_jwk(jwk):
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise VerificationError(f"Key {jwk.get('kid')!r} is not an Ed25519 key.")
    raw = b64url_decode(jwk.get("x", ""))
    if len(raw) != 32:
        raise VerificationError(f"Key {jwk.get('kid')!r} is not 32 bytes long.")
    return Ed25519PublicKey.from_public_bytes(raw)


def verify_jws(jws, keys_by_kid):
    """(kid, payload bytes) of a compact JWS, once its signature verifies with the key its header names.

    `keys_by_kid` maps key ids to JWKs (dicts), or to keys already read from them (public_key_from_jwk),
    which saves reading the same key again for every one of many signatures. Raises VerificationError otherwise.
    """
    if not isinstance(jws, str) or jws.count(".") != 2:
        raise VerificationError("The JWS is not in compact form (header.payload.signature).")
    header_part, payload_part, signature_part = jws.split(".")
    try:
        header = strict_loads(b64url_decode(header_part))
    except (ValueError, VerificationError) as error:
        raise VerificationError("The JWS header is not JSON.") from error
    if not isinstance(header, dict) or header.get("alg") != "EdDSA":
        raise VerificationError("The JWS is not signed with EdDSA.")
    if header.get("crit"):
        raise VerificationError("The JWS has critical header parameters this verifier does not know.")
    jwk = keys_by_kid.get(header.get("kid"))
    if jwk is None:
        raise VerificationError(f"No key {header.get('kid')!r} in the key set.")
    public_key = jwk if isinstance(jwk, Ed25519PublicKey) else public_key_from_jwk(jwk)
    try:
        public_key.verify(b64url_decode(signature_part), f"{header_part}.{payload_part}".encode("ascii"))
    except InvalidSignature as error:
        raise VerificationError(f"The signature does not verify with key {header['kid']!r}.") from error
    return header["kid"], b64url_decode(payload_part)


def keys_by_kid(jwks):
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise VerificationError('The key set is not a JWKS ({"keys": [...]}).')
    keys = {}
    for jwk in jwks["keys"]:
        if isinstance(jwk, dict):
            if jwk.get("kid") in keys:
                raise VerificationError(f"The key set lists key {jwk.get('kid')!r} twice.")
            keys[jwk.get("kid")] = jwk
    return keys


def verify_receipt(document, jwks):
    """(the signed payload, parsed; kid) if `document` ({receipt, jws, ...}) carries a JWS of exactly its
    receipt, signed by a key of `jwks`."""
    if not isinstance(document, dict) or not isinstance(document.get("receipt"), dict) or "jws" not in document:
        raise VerificationError('The file holds no {"receipt": {...}, "jws": "..."}.')
    kid, payload = verify_jws(document["jws"], keys_by_kid(jwks))
    try:
        shown = canonical_json(document["receipt"]).encode("utf-8")
    except UnicodeEncodeError as error:
        raise VerificationError("The receipt holds text that is not Unicode (a lone surrogate).") from error
    if payload != shown:
        raise VerificationError("The signature is valid, but for other content than this receipt.")
    return strict_loads(payload.decode("utf-8")), kid


def read_json(path):
    try:
        with open(path, "rb") as handle:
            return strict_loads(handle.read().decode("utf-8"))
    except VerificationError as error:
        raise VerificationError(f"{path}: {error}") from error
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise VerificationError(f"{path}: cannot read JSON ({error}).") from error


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m consent.proof.verify", description=__doc__.split("\n")[0])
    parser.add_argument("receipt", help="the receipt JSON: the API response or {receipt, jws}")
    parser.add_argument("--jwks", required=True, help="the key set, as served at /.well-known/jwks.json")
    arguments = parser.parse_args(argv)
    try:
        signed, kid = verify_receipt(read_json(arguments.receipt), read_json(arguments.jwks))
    except VerificationError as error:
        print(f"INVALID: {error}")
        return 1
    print(
        f"VALID: receipt {signed.get('consentReceiptID')} of site {signed.get('siteId')}, "
        f"policy {signed.get('policyVersion')}, consent at {signed.get('consentTimestamp')}, signed by key {kid}."
    )
    print("The signed payload, decoded from the JWS (this, and only this, is what the signature proves):")
    try:
        print(json.dumps(signed, indent=2, ensure_ascii=False))
    except UnicodeEncodeError:  # an output that cannot show every character (a legacy Windows code page)
        print(json.dumps(signed, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
