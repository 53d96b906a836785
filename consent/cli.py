"""`flask consent ...`: the operator's scriptable commands."""
from pathlib import Path

import click
from flask.cli import AppGroup

from consent import auditors, checkpoints, db, signing, sites
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


def init_app(app):
    app.cli.add_command(consent_cli)
