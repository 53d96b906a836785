"""`flask consent site ...` and `flask consent webhooks ...`: site configuration files, webhook delivery."""
import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from consent.errors import ConsentError, InvalidRequest
from consent.sites import configs, purposes, webhooks
from consent.storage import db

site_cli = AppGroup("site", help="Sites: import, export, list.")
webhooks_cli = AppGroup("webhooks", help="Webhook deliveries.")


@site_cli.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_sites(files):
    """Create or update sites from YAML files; all are checked before any is stored."""
    max_bytes = current_app.config["CONSENT_MAX_SITE_FILE_BYTES"]
    parsed, problems = [], []
    for source in files:  # every file checked, every problem of each told
        try:
            parsed.append(configs.parse_yaml(configs.read_file(source, max_bytes)))
        except ConsentError as error:
            problems.append(_about(source, error.detail))
    if problems:
        raise InvalidRequest("\n".join(problems), itemized=True)
    source = None
    try:
        with db.write_transaction() as session:
            for source, config in zip(files, parsed, strict=True):  # noqa: B007 - named in the error below
                configs.import_site(session, config)
    except ConsentError as error:
        error.detail = _about(source, error.detail)
        raise
    for source, config in zip(files, parsed, strict=True):
        click.echo(f"imported site {config['id']} (policy {config['policy']['version']})")
        for sentence in purposes.advice(config):
            click.echo(f"{source}: advice: {sentence}", err=True)


def _about(source, detail):
    """Each line of a refusal's detail after the name of the file it is about, for the command's error (consent.cli)."""
    return "\n".join(f"{source}: {line}" for line in detail.splitlines())


@site_cli.command("export")
@click.argument("site_id")
def export_site(site_id):
    """Print a site's configuration as YAML, in the shape `site import` takes."""
    click.echo(configs.dump_yaml(configs.export_site(db.get_session(), site_id)), nl=False)


@site_cli.command("list")
def list_sites():
    """One line per site: id, policy version, allowed origins."""
    for site in configs.list_sites(db.get_session()):
        click.echo(f"{site.id}\tpolicy {site.current_policy_version}\t{' '.join(site.allowed_origins)}")


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
