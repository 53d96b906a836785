"""`flask consent scanner ...`: the lists of known cookies and trackers the scanner classifies with."""
from pathlib import Path

import click
from flask.cli import AppGroup

from consent.errors import InvalidRequest
from consent.scanner import known

scanner_cli = AppGroup("scanner", help="The compliance scanner's lists of known cookies and trackers.")


@scanner_cli.command("update-database")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--list", "list_name", type=click.Choice(sorted(known.LISTS)), default="open-cookie-database",
              show_default=True, help="Which list the file replaces.")
def update_database(path, list_name):
    """Replace a list with a newer CSV of the same columns (e.g. the Open Cookie Database's latest
    open-cookie-database.csv); every row is checked before anything is replaced."""
    try:
        count = known.update_list(list_name, path)
    except ValueError as error:
        raise InvalidRequest(str(error)) from None
    click.echo(f"{list_name}: {count} entries. Keep consent/scanner/data/SOURCE.md in step (origin, commit, date).")


@scanner_cli.command("lookup")
@click.argument("names", nargs=-1, required=True)
def lookup(names):
    """What the lists say of cookie names or hosts (a name with a dot is looked up as a host)."""
    lists = known.known_cookies()
    for name in names:
        entry = lists.host(name) if "." in name else lists.cookie(name)
        if entry is None:
            click.echo(f"{name}\tunknown")
        else:
            click.echo(f"{name}\t{entry.platform}\t{entry.category}\t{entry.source}")
