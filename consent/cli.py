"""`flask consent ...`: the operator's scriptable commands."""
import time
from pathlib import Path

import click
from flask.cli import AppGroup

from consent import admin_users, apikeys, auditors, checkpoints, db, signing, sites, webhooks
from consent.errors import ConsentError

consent_cli = AppGroup("consent", help="Manage the consent service.")
db_cli = AppGroup("db", help="Database schema.")
site_cli = AppGroup("site", help="Sites: import, export, list.")
consent_cli.add_command(db_cli)
consent_cli.add_command(site_cli)
db_cli.add_command(db.upgrade_command)
consent_cli.add_command(signing.keys_cli)
consent_cli.add_command(checkpoints.log_cli)
consent_cli.add_command(auditors.auditor_cli)


@site_cli.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_sites(files):
    """Create or update sites from YAML files; all are checked before any is stored."""
    configs, source = [], None
    try:
        for source in files:
            configs.append(sites.parse_yaml(source.read_text(encoding="utf-8")))
        with db.write_transaction() as session:
            for source, config in zip(files, configs):
                sites.import_site(session, config)
    except ConsentError as error:
        details = f"\n{error.errors}" if error.errors else ""
        raise click.ClickException(f"{source}: {error.detail}{details}") from error
    for config in configs:
        click.echo(f"imported site {config['id']} (policy {config['policy']['version']})")


@site_cli.command("export")
@click.argument("site_id")
def export_site(site_id):
    """Print a site's configuration as YAML, in the shape `site import` takes."""
    try:
        click.echo(sites.dump_yaml(sites.export_site(db.get_session(), site_id)), nl=False)
    except ConsentError as error:
        raise click.ClickException(error.detail) from error


@site_cli.command("list")
def list_sites():
    """One line per site: id, policy version, allowed origins."""
    for site in sites.list_sites(db.get_session()):
        click.echo(f"{site.id}\tpolicy {site.current_policy_version}\t{' '.join(site.allowed_origins)}")


apikey_cli = AppGroup("apikey", help="API keys of site backends.")
admin_cli = AppGroup("admin", help="Admin console users.")
webhooks_cli = AppGroup("webhooks", help="Webhook deliveries.")
consent_cli.add_command(apikey_cli)
consent_cli.add_command(admin_cli)
consent_cli.add_command(webhooks_cli)


@apikey_cli.command("create")
@click.option("--site", "site_id", required=True)
@click.option("--label", default="cli", show_default=True)
def create_apikey(site_id, label):
    """Create an API key for a site's backend and print it, once."""
    with db.storing() as session:
        sites.get_site(session, site_id)
        key, token = apikeys.create_key(session, site_id, label)
    click.echo(f"{key.prefix}\t{label}\nkey (shown once, keep it secret): {token}")


@apikey_cli.command("list")
@click.option("--site", "site_id", required=True)
def list_apikeys(site_id):
    """One line per key: prefix, label, created, revoked."""
    for key in apikeys.list_keys(db.get_session(), site_id):
        click.echo(f"{key.prefix}\t{key.label}\t{key.created_at:%Y-%m-%d}\t{'revoked' if key.revoked_at else 'active'}")


@apikey_cli.command("revoke")
@click.option("--site", "site_id", required=True)
@click.argument("prefix")
def revoke_apikey(site_id, prefix):
    """Revoke a key by its visible prefix (csk_xxxxxxxx)."""
    with db.storing() as session:
        apikeys.revoke_key(session, site_id, prefix)
    click.echo(f"revoked {prefix}")


@admin_cli.command("create")
@click.argument("username")
@click.password_option()
def create_admin(username, password):
    """Create an admin console user (or set a new password for an existing one)."""
    with db.storing() as session:
        admin_users.set_password(session, username, password)
    click.echo(f"admin user {username} can sign in at /admin/")


@webhooks_cli.command("deliver")
@click.option("--once", is_flag=True, help="Deliver what is due now and stop.")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between rounds.")
def deliver_webhooks(once, interval):
    """Send due webhook deliveries, in a loop (run it beside the web server)."""
    while True:
        delivered = webhooks.deliver_due()
        if delivered:
            click.echo(f"delivered {delivered}")
        if once:
            return
        time.sleep(interval)


def init_app(app):
    app.cli.add_command(consent_cli)
