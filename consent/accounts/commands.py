"""`flask consent admin|auditor|apikey ...`: console users and their roles, auditor accounts, API keys."""
import click
from flask.cli import AppGroup

from consent.accounts import api_keys
from consent.accounts.auditors import create_auditor, list_auditors, reissue_token, set_disabled
from consent.accounts.auditors import set_password as set_auditor_password
from consent.accounts.operators import OPERATOR, OWNER, ROLES, find, grant, list_users, revoke, set_password
from consent.sites import configs
from consent.storage import db

admin_cli = AppGroup("admin", help="Admin console users and their roles: create, grant, revoke, list.")
auditor_cli = AppGroup("auditor", help="Auditor accounts: create, list, disable, enable, reissue-token, set-password.")
apikey_cli = AppGroup("apikey", help="API keys of site backends.")


def _describe(user):
    return f"{user.username}\t{user.role}\t{'*' if user.role == OWNER else ' '.join(user.site_ids) or '-'}"


@admin_cli.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), default=None,
              help="owner: every site and the users; operator: only the --site ones. "
                   "Default: operator when --site is given, owner otherwise.")
@click.option("--site", "site_ids", multiple=True, help="A site the operator manages (repeatable).")
@click.password_option()
def admin_create(username, role, site_ids, password):
    """Create an admin console user, or give an existing one a new password (ending their console sessions)."""
    with db.write_transaction() as session:
        exists = find(session, username) is not None
        if exists and (role or site_ids):
            raise click.ClickException(
                f"{username!r} exists already: change roles with `admin grant` or `admin revoke`.")
        user = set_password(session, username, password, role or (OPERATOR if site_ids else OWNER), site_ids)
    if exists:
        click.echo(f"new password set for admin user {username}; their console sessions have ended")
    else:
        scope = "every site" if user.role == OWNER else ", ".join(user.site_ids) or "no site yet"
        click.echo(f"admin user {username} ({user.role}: {scope}) can sign in at /admin/")


def _role_change(name, change, site_help, owner_help, doc):
    """`admin grant` and `admin revoke`: the same options, either sites or the owner role."""

    @admin_cli.command(name, help=doc)
    @click.argument("username")
    @click.option("--site", "site_ids", multiple=True, help=site_help)
    @click.option("--owner", is_flag=True, help=owner_help)
    def command(username, site_ids, owner):
        if owner == bool(site_ids):
            raise click.UsageError("Give either --site (one or more) or --owner.")
        with db.write_transaction() as session:
            click.echo(_describe(change(session, username, site_ids, owner)))

    return command


admin_grant = _role_change("grant", grant, "A site to add to an operator's (repeatable).",
                           "Make the user an owner of every site instead.",
                           "Let an operator manage more sites, or make a user an owner.")
admin_revoke = _role_change("revoke", revoke, "A site to take from an operator (repeatable).",
                            "Make an owner an operator (of no site until granted some).",
                            "Take sites from an operator, or the owner role from a user; "
                            "open sessions lose them at once.")


@admin_cli.command("list")
def admin_list():
    """One line per admin user: name, role, and the sites of an operator ("*" for an owner's every site)."""
    for user in list_users(db.get_session()):
        click.echo(_describe(user))


@auditor_cli.command("create")
@click.option("--site", "site_ids", multiple=True, required=True, help="A site the auditor may inspect (repeatable).")
@click.option("--email", required=True)
@click.option("--password", default=None, help="Default: a random one, printed once.")
def auditor_create(site_ids, email, password):
    """Create an auditor; print its API token and password once (only their hashes are kept)."""
    with db.write_transaction() as session:
        auditor, api_token, password = create_auditor(session, email, site_ids, password)
    click.echo(f"auditor {auditor.email} for sites {', '.join(auditor.site_ids)}")
    click.echo(f"API token (send as 'Authorization: Bearer <token>'): {api_token}")
    click.echo(f"console password: {password}")
    click.echo("Neither is stored in clear text: keep them now, they cannot be shown again.")


@auditor_cli.command("list")
def auditor_list():
    """One line per auditor: email and sites, then "disabled" and since when for a disabled one."""
    for auditor in list_auditors(db.get_session()):
        state = f"\tdisabled since {auditor.disabled_at:%Y-%m-%d}" if auditor.disabled_at else ""
        click.echo(f"{auditor.email}\t{' '.join(auditor.site_ids)}{state}")


@auditor_cli.command("disable")
@click.argument("email")
def auditor_disable(email):
    """Disable an auditor: its token, password and open console sessions stop working."""
    _switch(email, disabled=True)


@auditor_cli.command("enable")
@click.argument("email")
def auditor_enable(email):
    """Enable a disabled auditor again, with its current token and password (reissue the token if it leaked)."""
    _switch(email, disabled=False)


def _switch(email, disabled):
    with db.write_transaction() as session:
        set_disabled(session, email, disabled)
    click.echo(f"{'disabled' if disabled else 'enabled'} auditor {email}")


@auditor_cli.command("set-password")
@click.argument("email")
@click.password_option()
def auditor_set_password(email, password):
    """Give an auditor a new console password; their open console sessions end."""
    with db.write_transaction() as session:
        set_auditor_password(session, email, password)
    click.echo(f"new password set for auditor {email}; their console sessions have ended")


@auditor_cli.command("reissue-token")
@click.argument("email")
def auditor_reissue_token(email):
    """Give an auditor a new API token and print it once; the old token stops working."""
    with db.write_transaction() as session:
        api_token = reissue_token(session, email)
    click.echo(f"new API token for {email} (the old one no longer works): {api_token}")
    click.echo("It is not stored in clear text: keep it now, it cannot be shown again.")


@apikey_cli.command("create")
@click.option("--site", "site_id", required=True)
@click.option("--label", default="cli", show_default=True)
def create_apikey(site_id, label):
    """Create an API key for a site's backend and print it, once."""
    with db.write_transaction() as session:
        configs.get_site(session, site_id)
        key, token = api_keys.create_key(session, site_id, label)
    click.echo(f"{key.prefix}\t{label}\nkey (shown once, keep it secret): {token}")


@apikey_cli.command("list")
@click.option("--site", "site_id", required=True)
def list_apikeys(site_id):
    """One line per key: prefix, label, created, revoked."""
    for key in api_keys.list_keys(db.get_session(), site_id):
        click.echo(f"{key.prefix}\t{key.label}\t{key.created_at:%Y-%m-%d}\t{'revoked' if key.revoked_at else 'active'}")


@apikey_cli.command("revoke")
@click.option("--site", "site_id", required=True)
@click.argument("prefix")
def revoke_apikey(site_id, prefix):
    """Revoke a key by its visible prefix (csk_xxxxxxxx)."""
    with db.write_transaction() as session:
        api_keys.revoke_key(session, site_id, prefix)
    click.echo(f"revoked {prefix}")
