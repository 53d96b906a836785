"""Subject tokens: a site's backend vouches that a visitor is its user `subject_id`.

Without one, a decision names a user only because the browser says so, and anyone could consent or
withdraw in a user's name. With one, only the holder of the site's subject secret (its backend)
can bind a decision to a user. README.md, "Identifying your users", gives the format and snippets
in five languages; tests/data/subject_token_vectors.json pins it.

The token is `cst1.<kid>.<expires>.<mac>`:

- `kid`: the id of the site's subject secret that made it (1-32 of a-z 0-9);
- `expires`: Unix time in seconds, decimal, no sign or leading zero;
- `mac`: base64url without padding of HMAC-SHA256(key, message), where `key` is the UTF-8 bytes
  of the secret as shown in the console and `message` is the bytes
  `CST1` + field(kid) + field(site_id) + field(subject_id) + field(expires), with
  field(x) = the decimal count of UTF-8 bytes of x, ":", the UTF-8 bytes of x, ",".

Every field carries its own length, so no two (site, subject, expiry, key) ever encode alike,
whatever characters a subject id holds.
"""
import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

PREFIX = "cst1"
MESSAGE_TAG = b"CST1"
TOKEN_PATTERN = re.compile(r"\Acst1\.([a-z0-9]{1,32})\.([1-9][0-9]{0,11})\.([A-Za-z0-9_-]{43})\Z")


def _field(text):
    data = text.encode("utf-8")
    return str(len(data)).encode("ascii") + b":" + data + b","


def message(kid, site_id, subject_id, expires):
    """The exact bytes a subject token's MAC is computed over."""
    return MESSAGE_TAG + _field(kid) + _field(site_id) + _field(subject_id) + _field(str(int(expires)))


def mac(secret, kid, site_id, subject_id, expires):
    digest = hmac.new(secret.encode("utf-8"), message(kid, site_id, subject_id, expires), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def make_token(secret, kid, site_id, subject_id, expires):
    """What a site's backend computes (README snippets do the same in other languages)."""
    return f"{PREFIX}.{kid}.{int(expires)}.{mac(secret, kid, site_id, subject_id, expires)}"


@dataclass(frozen=True)
class ParsedToken:
    kid: str
    expires: int
    mac: str


def parse(token):
    """The token's parts, or None for anything not of the token's exact shape."""
    found = TOKEN_PATTERN.match(token) if isinstance(token, str) else None
    if found is None:
        return None
    return ParsedToken(found.group(1), int(found.group(2)), found.group(3))


def mac_matches(parsed, secret, site_id, subject_id):
    """Whether `parsed` was made with `secret` for exactly this site and subject (constant time)."""
    return hmac.compare_digest(parsed.mac, mac(secret, parsed.kid, site_id, subject_id, parsed.expires))


def new_secret():
    return "sts_" + secrets.token_urlsafe(32)


def new_kid():
    return secrets.token_hex(4)
