"""Password and token hashes, the same for every kind of account (console users, auditors, API keys)."""
import hashlib
import secrets

from werkzeug.security import check_password_hash, generate_password_hash

# Checked against when an account is unknown, so a sign-in takes as long whether or not it exists.
_UNKNOWN_ACCOUNT_HASH = generate_password_hash(secrets.token_urlsafe(16))


def hash_password(password):
    return generate_password_hash(password)


def password_matches(account, password):
    """Whether `password` is `account`'s; for no account (None), as slow as for one, and False."""
    stored_hash = account.password_hash if account is not None else _UNKNOWN_ACCOUNT_HASH
    return check_password_hash(stored_hash, password or "") and account is not None


def token_hash(token):
    """SHA-256 of a random token: enough for a secret that long, and one indexed lookup finds its owner."""
    return hashlib.sha256(token.encode()).hexdigest()
