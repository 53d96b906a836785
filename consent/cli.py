"""`flask consent ...`: the operator's scriptable commands, one group assembled here from each package's.

A command raises what the rest of the service raises; this group's one adapter turns a refusal
(ConsentError) into a command error: its sentence, its field errors if any (unless the sentences
already say them, one a line), exit status 1.
"""
import click
from flask.cli import AppGroup

from consent.accounts.commands import admin_cli, apikey_cli, auditor_cli
from consent.errors import ConsentError
from consent.ledger.commands import keys_cli, log_cli
from consent.scanner.commands import scan_command, scanner_cli
from consent.sites.commands import site_cli, webhooks_cli
from consent.stats.commands import stats_cli
from consent.storage.db import db_cli
from consent.subjects.commands import guardians_cli, subject_secret_cli


class ConsentGroup(AppGroup):
    """A command group whose commands' refusals are command errors, not tracebacks."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ConsentError as error:
            details = f"\n{error.errors}" if error.errors and not error.itemized else ""
            raise click.ClickException(f"{error.detail}{details}") from error


consent_cli = ConsentGroup("consent", help="Manage the consent service.")
for group in (db_cli, site_cli, apikey_cli, admin_cli, auditor_cli, subject_secret_cli, guardians_cli, keys_cli,
              log_cli, webhooks_cli, scanner_cli, scan_command, stats_cli):
    consent_cli.add_command(group)


def init_app(app):
    app.cli.add_command(consent_cli)
