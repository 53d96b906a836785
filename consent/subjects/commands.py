"""`flask consent subject-secret ...`: the secrets a site's backend signs subject tokens with."""
import time

import click
from flask.cli import AppGroup

from consent.sites import configs
from consent.storage import db
from consent.subjects import identity, tokens

subject_secret_cli = AppGroup("subject-secret", help="Subject secrets, which a site's backend signs tokens with.")


@subject_secret_cli.command("list")
@click.option("--site", "site_id", required=True)
def list_subject_secrets(site_id):
    """One line per secret that still verifies: key id, secret, created, when it stops working."""
    session = db.get_session()
    configs.get_site(session, site_id)
    for secret in identity.list_secrets(session, site_id):
        until = f"until {secret.retires_at:%Y-%m-%d %H:%M} UTC" if secret.retires_at else "in use"
        click.echo(f"{secret.kid}\t{secret.secret}\t{secret.created_at:%Y-%m-%d}\t{until}")


@subject_secret_cli.command("rotate")
@click.option("--site", "site_id", required=True)
@click.option("--overlap-hours", default=168, show_default=True, type=click.IntRange(0, 24 * 90),
              help="How long the old secrets keep verifying (0: they stop at once, after a leak).")
def rotate_subject_secret(site_id, overlap_hours):
    """Make a new subject secret and print it; the old ones retire after the overlap."""
    with db.write_transaction() as session:
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
    secret = identity.current_secret(session, configs.get_site(session, site_id).id)
    click.echo(tokens.make_token(secret.secret, secret.kid, site_id, subject_id, time.time() + expires_in))
