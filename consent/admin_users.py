"""Admin console users: password hashes and sign-in checks."""
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from consent.db import storable
from consent.errors import InvalidRequest
from consent.models import AdminUser

MIN_PASSWORD_LENGTH = 10
# Compared against when the user does not exist, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not a password")


def set_password(session, username, password):
    """Create `username` or give it a new password."""
    if not 1 <= len(username) <= 64 or not username.isprintable():
        raise InvalidRequest("The user name must be 1-64 printable characters.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidRequest(f"The password must be at least {MIN_PASSWORD_LENGTH} characters.")
    user = session.scalars(select(AdminUser).where(AdminUser.username == username)).first()
    if user is None:
        user = AdminUser(username=username)
        session.add(user)
    user.password_hash = generate_password_hash(password)
    return user


def authenticate(session, username, password):
    """The user with these credentials, or None."""
    user = None
    if storable(username):
        user = session.scalars(select(AdminUser).where(AdminUser.username == username)).first()
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    return user if check_password_hash(user.password_hash, password) else None
