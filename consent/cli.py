"""`flask consent ...`: the operator's scriptable commands."""
import time
from pathlib import Path

import click
from flask.cli import AppGroup

from consent.accounts import api_keys, auditors, operators
from consent.errors import ConsentError
from consent.ledger import checkpoints, signing
from consent.sites import configs, webhooks
from consent.storage import db
from consent.subjects import identity, tokens

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
    parsed, source = [], None
    try:
        for source in files:
            parsed.append(configs.parse_yaml(source.read_text(encoding="utf-8")))
        with db.write_transaction() as session:
            for source, config in zip(files, parsed, strict=True):  # noqa: B007 - named in the error below
                configs.import_site(session, config)
    except ConsentError as error:
        details = f"\n{error.errors}" if error.errors else ""
        raise click.ClickException(f"{source}: {error.detail}{details}") from error
    for config in parsed:
        click.echo(f"imported site {config['id']} (policy {config['policy']['version']})")


@site_cli.command("export")
@click.argument("site_id")
def export_site(site_id):
    """Print a site's configuration as YAML, in the shape `site import` takes."""
    try:
        click.echo(configs.dump_yaml(configs.export_site(db.get_session(), site_id)), nl=False)
    except ConsentError as error:
        raise click.ClickException(error.detail) from error


@site_cli.command("list")
def list_sites():
    """One line per site: id, policy version, allowed origins."""
    for site in configs.list_sites(db.get_session()):
        click.echo(f"{site.id}\tpolicy {site.current_policy_version}\t{' '.join(site.allowed_origins)}")


apikey_cli = AppGroup("apikey", help="API keys of site backends.")
webhooks_cli = AppGroup("webhooks", help="Webhook deliveries.")
subject_secret_cli = AppGroup("subject-secret", help="Subject secrets, which a site's backend signs tokens with.")
consent_cli.add_command(apikey_cli)
consent_cli.add_command(operators.admin_cli)
consent_cli.add_command(webhooks_cli)
consent_cli.add_command(subject_secret_cli)


@apikey_cli.command("create")
@click.option("--site", "site_id", required=True)
@click.option("--label", default="cli", show_default=True)
def create_apikey(site_id, label):
    """Create an API key for a site's backend and print it, once."""
    with db.storing() as session:
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
    with db.storing() as session:
        api_keys.revoke_key(session, site_id, prefix)
    click.echo(f"revoked {prefix}")


@subject_secret_cli.command("list")
@click.option("--site", "site_id", required=True)
def list_subject_secrets(site_id):
    """One line per secret that still verifies: key id, secret, created, when it stops working."""
    session = db.get_session()
    try:
        configs.get_site(session, site_id)
    except ConsentError as error:
        raise click.ClickException(error.detail) from error
    for secret in identity.list_secrets(session, site_id):
        until = f"until {secret.retires_at:%Y-%m-%d %H:%M} UTC" if secret.retires_at else "in use"
        click.echo(f"{secret.kid}\t{secret.secret}\t{secret.created_at:%Y-%m-%d}\t{until}")


@subject_secret_cli.command("rotate")
@click.option("--site", "site_id", required=True)
@click.option("--overlap-hours", default=168, show_default=True, type=click.IntRange(0, 24 * 90),
              help="How long the old secrets keep verifying (0: they stop at once, after a leak).")
def rotate_subject_secret(site_id, overlap_hours):
    """Make a new subject secret and print it; the old ones retire after the overlap."""
    with db.storing() as session:
        configs.get_site(session, site_id)
        secret = identity.rotate_secret(session, site_id, overlap_hours * 3600)
    click.echo(f"{secret.kid}\t{secret.secret}\t(old secrets verify for {overlap_hours} more hours)")


@subject_secret_cli.command("token")
@click.option("--site", "site_id", required=True)
@click.option("--expires-in", default=3600, show_default=True, type=click.IntRange(1, 30 * 24 * 3600),
              help="Seconds the token stays valid.")
@click.argument("subject_id")
def make_subject_token(site_id, expires_in, subject_id):
    """Print a subject token for one of the site's users, as its backend would make one (for trying things out)."""
    session = db.get_session()
    try:
        secret = identity.current_secret(session, configs.get_site(session, site_id).id)
    except ConsentError as error:
        raise click.ClickException(error.detail) from error
    click.echo(tokens.make_token(secret.secret, secret.kid, site_id, subject_id, time.time() + expires_in))


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
