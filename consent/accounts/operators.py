"""Admin console users: password hashes, sign-in checks, and roles.

An owner manages every site and the console's users; an operator manages only the sites named for
them and gets 403 on every page and action of any other site, unknown sites included (so an operator
cannot tell whether a site exists). Roles are read from the database on every request: a change
applies to open sessions at once.
"""
from sqlalchemy import func, select

from consent.accounts import sessions
from consent.accounts.passwords import hash_password, password_matches
from consent.errors import Forbidden, InvalidRequest, NotFound
from consent.storage.db import storable
from consent.storage.models import Site
from consent.storage.operations import AdminUser, AdminUserSite

MIN_PASSWORD_LENGTH = 10
OWNER, OPERATOR = "owner", "operator"
ROLES = (OWNER, OPERATOR)


class LastOwner(InvalidRequest):
    """Taking the owner role from the only owner would leave nobody to manage users and create sites."""


def set_password(session, username, password, role=OWNER, site_ids=()):
    """Create `username` (an owner, or an operator of `site_ids`) or give it a new password.

    A new password ends every console session the user has. The role and sites of an existing user
    are left as they are: they change only through `set_role` (CLI `admin grant`/`revoke`, or the console).
    """
    if not 1 <= len(username) <= 64 or not username.isprintable():
        raise InvalidRequest("The user name must be 1-64 printable characters.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidRequest(f"The password must be at least {MIN_PASSWORD_LENGTH} characters.")
    password_hash = hash_password(password)
    user = find(session, username)
    if user is not None:
        sessions.end_everywhere(user)
        user.password_hash = password_hash
        return user
    user = AdminUser(username=username, password_hash=password_hash, session_generation=0)
    set_role(session, user, role, site_ids)  # checked before the new user is in the session at all
    session.add(user)
    return user


def authenticate(session, username, password):
    """The user with these credentials, or None."""
    user = find(session, username)
    return user if password_matches(user, password) else None


def by_id(session, user_id):
    """The admin user of a console session, or None."""
    return session.get(AdminUser, user_id) if isinstance(user_id, int) else None


def find(session, username):
    """The admin user called `username`, or None."""
    if not storable(username):  # no such user could have been stored (PostgreSQL refuses some text)
        return None
    return session.scalars(select(AdminUser).where(AdminUser.username == username)).first()


def by_name(session, username):
    """The admin user called `username`; NotFound otherwise."""
    user = find(session, username)
    if user is None:
        raise NotFound(f"No admin user {username!r}.")
    return user


def list_users(session):
    return session.scalars(select(AdminUser).order_by(AdminUser.username)).all()


def set_role(session, user, role, site_ids=()):
    """Make `user` an owner (every site; `site_ids` must be empty) or an operator of exactly `site_ids`."""
    if role not in ROLES:
        raise InvalidRequest(f"The role must be one of {', '.join(ROLES)}.", {"role": ["Unknown role."]})
    site_ids = sorted(set(site_ids))
    if role == OWNER and site_ids:
        raise InvalidRequest("An owner manages every site: name sites for operators only.",
                             {"sites": ["Not for owners."]})
    lookup = [site_id for site_id in site_ids if storable(site_id)]  # PostgreSQL refuses NUL even in a lookup
    known = set(session.scalars(select(Site.id).where(Site.id.in_(lookup)))) if lookup else set()
    unknown = [site_id for site_id in site_ids if site_id not in known]
    if unknown:
        raise InvalidRequest(f"No such site: {', '.join(map(repr, unknown))}.", {"sites": ["Unknown site."]})
    if user.role == OWNER and role != OWNER and _owner_count(session) <= 1:
        raise LastOwner(f"{user.username!r} is the only owner: make another user an owner first.")
    user.role = role
    kept = {scope.site_id: scope for scope in user.sites}
    user.sites = [kept.get(site_id) or AdminUserSite(site_id=site_id) for site_id in site_ids]
    return user


def grant(session, username, site_ids=(), owner=False):
    """Give an operator more sites, or make a user an owner."""
    user = by_name(session, username)
    if owner:
        return set_role(session, user, OWNER)
    if user.role == OWNER:
        raise InvalidRequest(f"{username!r} is an owner and manages every site already.")
    return set_role(session, user, OPERATOR, [*user.site_ids, *site_ids])


def revoke(session, username, site_ids=(), owner=False):
    """Take sites from an operator, or make an owner an operator (of no site until granted some)."""
    user = by_name(session, username)
    if owner:
        return set_role(session, user, OPERATOR) if user.role == OWNER else user
    if user.role == OWNER:
        raise InvalidRequest(f"{username!r} is an owner: revoke --owner first, then grant the sites to keep.")
    taken = set(site_ids)
    return set_role(session, user, OPERATOR, [site_id for site_id in user.site_ids if site_id not in taken])


def _owner_count(session):
    return session.scalar(select(func.count()).select_from(AdminUser).where(AdminUser.role == OWNER))


def may_manage(user, site_id):
    return user.role == OWNER or site_id in user.site_ids


def require_site(user, site_id):
    """Refuse (403) unless `user` manages this site. Unknown sites are refused the same way for operators."""
    if not may_manage(user, site_id):
        raise Forbidden(f"This console account does not manage site {site_id!r}.")


def require_owner(user):
    if user.role != OWNER:
        raise Forbidden("Only an owner of this console may do this.")


def visible_sites(user, all_sites):
    """The sites of `all_sites` that `user` manages."""
    return [site for site in all_sites if may_manage(user, site.id)]
