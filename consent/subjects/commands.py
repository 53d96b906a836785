"""`flask consent subject-secret ...`: the secrets a site's backend signs subject tokens with;
`flask consent guardians ...`: the site's minor users still waiting for a guardian's decision."""
import time

import click
from flask.cli import AppGroup

from consent.sites import configs
from consent.storage import db
from consent.subjects import guardians, identity, tokens

subject_secret_cli = AppGroup("subject-secret", help="Subject secrets, which a site's backend signs tokens with.")
guardians_cli = AppGroup("guardians", help="Minor users and their guardians' decisions.")


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


@guardians_cli.command("pending")
@click.option("--site", "site_id", required=True)
@click.option("--limit", type=click.IntRange(1), default=None, help="At most this many users (default: all).")
def list_pending_guardians(site_id, limit):
    """One line per user whose latest decision is a minor's own, awaiting a guardian, oldest first:
    user id, pseudonym, decided at, receipt id. Erased users are left out."""
    session = db.get_session()
    site = configs.get_site(session, site_id)
    after, shown = 0, 0
    while after is not None and (limit is None or shown < limit):
        page_size = min(500, limit - shown) if limit is not None else 500
        entries, after = guardians.pending_guardians(session, site.id, after, page_size)
        for entry in entries:
            click.echo(f"{entry['subject_id']}\t{entry['subject_ref']}\t{entry['decided_at']}\t{entry['receipt_id']}")
        shown += len(entries)
